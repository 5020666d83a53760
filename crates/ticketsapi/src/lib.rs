//! The TicketsApi dialect: a .NET helpdesk's `/api/TicketsApi` with JWT bearer auth
//! and `Tickets.*` permission claims, both faces.
//!
//! # Layout
//! - [`jwt`]: HS256 / RS256 verification and minting ([`jwt::mint_hs256`] for `ticketgate token`).
//! - [`config`]: [`ServerConfig`] / [`JwtConfig`] (server face) and [`ClientConfig`] (client face).
//! - [`form`]: request bodies as ASP.NET binds them — a bounded multipart parser, url-encoded, JSON.
//! - [`wire`]: the vendor's JSON models (TicketApiModel, TicketList, metadata) ↔ canonical.
//! - [`problem`]: ProblemDetails errors; the one place canonical errors become responses.
//! - [`server`]: [`TicketsApiServer`], the 17 endpoints over the canonical operations
//!   (`server/requests.rs`: request models → canonical, pure; `server/routes.rs`: dispatch).
//! - [`client`]: [`TicketsApiClient`], the canonical `Helpdesk` over a real TicketsApi.

pub mod client;
pub mod config;
pub mod form;
pub mod jwt;
pub mod problem;
pub mod server;
pub mod wire;

pub use client::TicketsApiClient;
pub use config::{ALL_TICKET_PERMISSIONS, ClientConfig, JwtConfig, ServerConfig};
pub use jwt::mint_hs256;
pub use server::TicketsApiServer;
pub mod vendor;
