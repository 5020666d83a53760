//! The canonical core of ticketgate: one ticket model that every helpdesk dialect
//! translates to and from, the [`Helpdesk`] trait every upstream implements, and the
//! contract between a dialect's server face and the gateway that hosts it.
//!
//! Nothing here does I/O: the crate is pure data, traits and conversions, so every
//! dialect crate and the store can depend on it without pulling in a server.
//!
//! # Layout
//! - [`ticket`]: the ticket and its parts (requester, thread entries, attachments, email keys).
//! - [`reference`]: id-or-name references to departments, categories, agents…
//! - [`status`]: canonical states and priorities, carrying the vendor's own name and id.
//! - [`ops`]: the inputs and outputs of each operation (new ticket, patch, query, page, stats…).
//! - [`helpdesk`]: the [`Helpdesk`] trait and the [`Capabilities`] an upstream declares.
//! - [`error`]: the one error type, with a kind, an origin and a `retryable` flag.
//! - [`access`]: consumers, permissions and the credentials a dialect can present.
//! - [`dialect`]: what a dialect's server face implements and what the gateway offers it.
//! - [`xml`]: the XML form of the canonical API.
//! - [`data_url`]: RFC 2397 data URLs, used by several dialects for attachments.
//! - [`net`]: IP networks in CIDR form, as configuration names them.

pub mod access;
pub mod data_url;
pub mod dialect;
pub mod error;
pub mod helpdesk;
pub mod net;
pub mod ops;
pub mod reference;
pub mod status;
pub mod ticket;
pub mod vendor;
pub mod xml;

pub mod serde_util;

pub use access::{
    Also, Consumer, ConsumerKey, Credential, KeyKind, Permission, Permissions, RouteClass,
};
pub use dialect::{
    Admission, BodyClass, CreateOptions, Created, GatewayContext, Ingested, MailHints,
    SearchSpread, ServerFace, Unanswered,
};
pub use error::{
    Error, ErrorKind, Origin, Result, UpstreamAnswer, UpstreamHint, UpstreamTransport,
    classify_upstream, upstream_transport_error, upstream_unreadable,
};
pub use helpdesk::{Capabilities, Helpdesk, Operation};
pub use net::Cidr;
pub use ops::{
    Assignment, Closure, DeleteMode, LookupItem, LookupKind, NewEntry, NewTicket, Page, Query,
    Resolution, SortField, SortOrder, Stats, StatsQuery, TicketPatch,
};
pub use reference::Reference;
pub use status::{Priority, PriorityLevel, State, Status};
pub use ticket::{
    Attachment, Body, BodyFormat, Contact, Document, EmailKeys, EntryKind, NewTask, Requester,
    Source, Task, TaskState, ThreadEntry, Ticket, TicketType,
};
pub use toml;
pub use vendor::{
    ConfigContext, DialectConfig, Invalid, MountContext, UpstreamSpec, Vendor, VendorOf,
    dialect_table, upstream_table,
};
