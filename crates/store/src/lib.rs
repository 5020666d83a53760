//! ticketgate's storage: the embedded helpdesk (the default upstream) on SQLite, and
//! the gateway's own durable state on SQLite or PostgreSQL.
//!
//! Two databases, two concerns, in the data directory:
//! - `helpdesk.sqlite` — [`EmbeddedHelpdesk`], a complete helpdesk implementing every
//!   [`Helpdesk`](ticketgate_model::Helpdesk) operation. With it the gateway runs with
//!   no external helpdesk, and "a vendor's server face over it" is a faithful stand-in
//!   of that vendor.
//! - `gateway.sqlite` — [`GatewayState`]: the durable outbox, idempotency records, the
//!   tracking-id map and the email Message-ID map. It exists whatever the upstream is.
//!   With `[state] backend = "postgres"` it lives in PostgreSQL instead, shared by
//!   several gateways ([`state::postgres`]).
//!
//! Both are opened in WAL mode with a busy timeout, so a running `ticketgate serve` and
//! a `ticketgate pipe` started by a mail server can write the same files safely.
//!
//! # Layout
//! - [`db`]: opening a database (pragmas, migrations, clear errors for corrupt files,
//!   full disks and read-only directories), running blocking SQL off the async runtime,
//!   and the group-commit writer ([`db::Db::write`]).
//! - [`embedded`]: the embedded helpdesk; `embedded/search.rs` builds search queries
//!   over the tickets and their FTS5 text index, `embedded/seed.rs` holds the seeded
//!   look-ups. `examples/seed.rs` fills a store with many tickets for load tests.
//! - [`state`]: the gateway's durable state: outbox, idempotency, maps.
//! - [`time`]: the fixed-width RFC 3339 form timestamps are stored in, so they sort as text.

pub mod db;
pub mod embedded;
pub mod state;
pub mod time;

pub use db::DataDirLock;
pub use embedded::EmbeddedHelpdesk;
pub use state::idmap::{CopyRecord, GatewayIds, IdKind, MappedId};
pub use state::postgres::{PgOptions, ScratchDatabase};
pub use state::{
    Enqueue, GatewayState, IdempotencyRecord, MailRecord, MigrationReport, OutboxItem, OutboxKind,
    OutboxState, OutboxSummary, Pruned,
};
