//! The ITSM-NG / GLPI `apirest.php` dialect, both faces.
//!
//! - **Server face** ([`ItsmngServer`], a [`ticketgate_model::ServerFace`]): answers
//!   `apirest.php` requests as a real ITSM-NG 1.x (GLPI 9.5 base) does — its own
//!   sessions (`initSession` … `killSession`), Ticket CRUD with batches, followups,
//!   solutions, documents (uploads with or without a ticket, rows, downloads,
//!   `Document_Item`), `GET /Ticket` ranges, `search/Ticket`, dropdowns, and every
//!   error as `["ERROR_…", "message"]` — over whatever helpdesk the gateway routes to.
//! - **Client face** ([`ItsmngClient`], a [`ticketgate_model::Helpdesk`]): performs
//!   canonical operations against a real `apirest.php` with one shared session.
//!
//! # Layout
//! - [`mapping`]: pure Ticket translations both ways (status, priority matrix, dates,
//!   rows, create/update/followup/solution/actor/document inputs).
//! - [`search`]: search options, criteria ⇄ canonical query, search rows and pages.
//! - [`params`]: request parameters as PHP reads them (brackets, JSON, multipart).
//! - [`errors`]: the error table; canonical error ⇄ ITSM-NG error, in one place.
//! - `server` (`sessions`, `items`, `listing`) and `client`: the two faces.
//!
//! # Where the server face differs from a real instance
//! The reference is GLPI 10.0.12 as observed live (`tests/differential_glpi.rs`);
//! the README lists every deliberate difference. In short:
//! - Only Ticket, its followups/solutions/documents/actors/tasks and the dropdowns
//!   (ITILCategory, Location, User, Group, Entity, RequestType, SLA) are served;
//!   other itemtypes of a real install (Computer…) answer 501 `["ERROR", …]`.
//! - Canonical failures with no ITSM-NG equivalent keep ticketgate's statuses with
//!   the generic `ERROR` code: 429 (quota, with `Retry-After`), 501 (unsupported),
//!   502/503/504 (upstream unavailable). `ERROR_SQL` stands for internal errors.
//! - `API disabled` and `ERROR_METHOD_NOT_ALLOWED` are never answered (a mounted
//!   face is enabled; an unknown verb is served as GET, the real default case).
//! - Search: criteria on options 1, 2, 3, 5, 7, 8, 9, 12, 14, 15, 21 with AND (OR
//!   only within status or title/description); other options, NOT links and
//!   `not…` search types answer 501, never a wider search. Dates are taken as UTC.
//!   `with_logs` is empty. Tasks keep no category, planned begin or end.
//!
//! # Where the client face bends GLPI's model
//! A department is the assigned GLPI group of that name; a requester known by email
//! becomes a GLPI user (`requester_users`); a `message` is a followup on the
//! requester's side of the timeline and reopens the ticket (`add_reopen`).

pub mod errors;
pub mod mapping;
pub mod params;
pub mod search;

mod client;
mod server;

pub use client::{ClientConfig, ItsmngClient, lookup_items};
pub use server::{ItsmngServer, ServerConfig};
pub mod vendor;
