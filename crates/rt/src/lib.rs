//! ticketgate's Request Tracker (RT 5) dialect.
//!
//! - [`client`]: the client face, canonical operations against a real RT over its
//!   REST 2.0 API (`[upstreams.NAME] kind = "rt"`).
//! - [`server`]: the server face, RT's REST 2.0 and mail gateway answered by ticketgate.

pub mod client;
pub mod server;

pub use client::{ClientConfig, RtClient};
pub mod vendor;
