//! The osTicket dialect of ticketgate, both faces.
//!
//! - Server face ([`OsticketServer`], config [`ServerConfig`]): ticketgate answering as
//!   osTicket — the core API (`tickets.json`, `tickets.xml`, `tickets.email`) and the
//!   API Endpoints plugin's eleven endpoints — over whatever helpdesk the gateway routes to.
//! - Client face ([`OsticketClient`], config [`ClientConfig`]): the canonical
//!   [`Helpdesk`](ticketgate_model::Helpdesk) operations performed against a real
//!   osTicket, with the core API only (create) or with the plugin (everything it has).
//!
//! # Layout
//! - [`decode`]: osTicket create bodies → `NewTicket`: JSON, lax XML (`decode/lax_xml.rs`)
//!   and the plugin's multipart form (`decode/multipart.rs`).
//! - [`encode`]: `NewTicket` → the `tickets.json` body the client face sends.
//! - [`wire`]: the plugin's response shapes, written by the server and read by the client.
//! - [`server`]: routing, keys and errors; `server/core_api.rs` (creates, email) and
//!   `server/plugin.rs` (get, update, search, delete, stats, statuses, subtickets).
//! - [`client`]: the client face over the shared upstream client kit (`ticketgate_upstream`).

pub mod client;
pub mod decode;
pub mod encode;
pub mod server;
pub mod wire;

pub use client::{ClientConfig, Mode, OsticketClient};
pub use decode::{CreateFormat, decode_create, decode_json, decode_request, decode_xml};
pub use encode::encode_create;
pub use server::{OsticketServer, ServerConfig};
pub mod vendor;
