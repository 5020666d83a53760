//! The gateway's own durable state: the outbox, idempotency records, the tracking-id
//! map (a queued item's `q-…` id and the ticket it became) and the email Message-ID map.
//!
//! The outbox is what makes "acknowledged" mean "kept": a create (or a reply) that the
//! upstream cannot take now is committed here before the client hears anything, and a
//! delivery worker sends it later. The row records each attempt before it is sent, so
//! a crash mid-send is visible after a restart.
//!
//! Two backends behind one [`GatewayState`]:
//! - SQLite (`gateway.sqlite` in the data directory, `synchronous=FULL`), the default:
//!   one gateway process per data directory.
//! - PostgreSQL ([`postgres`]): any number of gateways share one database; each
//!   delivers what it claims with `SELECT … FOR UPDATE SKIP LOCKED` under a lease.

use crate::db::{Db, Durability, sql_error};
use crate::time;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use ticketgate_model::{Error, Result};

pub mod idmap;
pub mod postgres;

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    tracking_id     TEXT NOT NULL UNIQUE,
    upstream        TEXT NOT NULL,
    kind            TEXT NOT NULL,
    target          TEXT,
    consumer        TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    ticket_id       TEXT,
    number          TEXT
);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);
CREATE TABLE idempotency (
    consumer     TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    upstream     TEXT,
    ticket_id    TEXT,
    number       TEXT,
    tracking_id  TEXT,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (consumer, key)
);
CREATE TABLE mail_map (
    message_id  TEXT PRIMARY KEY,
    upstream    TEXT NOT NULL,
    ticket_id   TEXT,
    number      TEXT,
    tracking_id TEXT,
    created_at  TEXT NOT NULL
);
"#,
    // 2: the key sent upstream with every delivery attempt of one create, so an upstream
    // that recognises repeated deliveries creates it once even after a lost answer.
    "ALTER TABLE outbox ADD COLUMN delivery_key TEXT;",
    // 3: the id of the request that queued an item, sent upstream with each delivery.
    "ALTER TABLE outbox ADD COLUMN request_id TEXT;",
    // 4: the id map (which upstream owns an id the gateway handed out) and the record
    // of what a migration between upstreams has copied, so a killed run resumes.
    r#"
CREATE TABLE id_map (
    home        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    upstream    TEXT NOT NULL,
    upstream_id TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (home, kind, key)
);
CREATE INDEX id_map_target ON id_map(home, upstream, upstream_id, kind);
CREATE TABLE id_alloc (
    gid         INTEGER PRIMARY KEY AUTOINCREMENT,
    home        TEXT NOT NULL,
    upstream    TEXT NOT NULL,
    upstream_id TEXT NOT NULL,
    UNIQUE (home, upstream, upstream_id)
);
CREATE TABLE copied (
    from_upstream TEXT NOT NULL,
    to_upstream   TEXT NOT NULL,
    source_id     TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    target_id     TEXT,
    reason        TEXT,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (from_upstream, to_upstream, source_id)
);
"#,
    // 5: the retention pass deletes mail keys by age without reading them all, and a
    // mirrored write finds its pair in `copied` by the target's id (as PostgreSQL's).
    r#"
CREATE INDEX mail_map_created ON mail_map(created_at);
CREATE INDEX copied_target ON copied(to_upstream, target_id, from_upstream);
"#,
];

/// A delivery to queue.
#[derive(Debug, Clone)]
pub struct Enqueue {
    pub upstream: String,
    pub kind: OutboxKind,
    /// For entries: the ticket (an upstream id, or the tracking id of a queued create).
    pub target: Option<String>,
    pub consumer: String,
    /// The canonical JSON of the `NewTicket` or `NewEntry`.
    pub payload: String,
    /// The client's idempotency key and request fingerprint, recorded in the same
    /// transaction so a retried request finds this item.
    pub idempotency: Option<(String, String)>,
    /// The key already used upstream by a direct attempt that failed; later
    /// deliveries reuse it. None: the tracking id is the key.
    pub delivery_key: Option<String>,
    /// The id of the request that queued it (its `X-Request-Id`), sent upstream with
    /// every delivery attempt so the upstream's logs and the gateway's agree.
    pub request_id: Option<String>,
}

/// What an outbox item delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxKind {
    /// A `NewTicket`.
    Create,
    /// A `NewEntry` for the ticket in `target` (an upstream id, or the tracking id of a
    /// create queued before it: entries are delivered after their ticket).
    Entry,
}

impl OutboxKind {
    fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Create => "create",
            OutboxKind::Entry => "entry",
        }
    }
    fn parse(s: &str) -> Self {
        if s == "entry" {
            OutboxKind::Entry
        } else {
            OutboxKind::Create
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    Pending,
    Delivered,
    Dead,
}

impl OutboxState {
    fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::Dead => "dead",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "delivered" => OutboxState::Delivered,
            "dead" => OutboxState::Dead,
            _ => OutboxState::Pending,
        }
    }
}

/// One queued delivery.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxItem {
    pub seq: i64,
    pub tracking_id: String,
    pub upstream: String,
    pub kind: OutboxKind,
    pub target: Option<String>,
    pub consumer: String,
    /// The canonical JSON of the `NewTicket` or `NewEntry`.
    pub payload: String,
    pub state: OutboxState,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub ticket_id: Option<String>,
    pub number: Option<String>,
    /// The key sent upstream with each attempt (see [`Enqueue::delivery_key`]).
    pub delivery_key: String,
    /// The id of the request that queued it (see [`Enqueue::request_id`]).
    pub request_id: Option<String>,
}

/// The first outcome of a request carrying an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub fingerprint: String,
    pub upstream: Option<String>,
    pub ticket_id: Option<String>,
    pub number: Option<String>,
    pub tracking_id: Option<String>,
}

/// Outbox depth and age, for metrics and `/readyz`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OutboxSummary {
    pub pending: u64,
    pub dead: u64,
    pub delivered: u64,
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// What one pruning removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub idempotency: u64,
    pub delivered: u64,
}

/// The gateway's durable state, on SQLite or PostgreSQL. Every method means the same
/// on both; the tests in `state/tests.rs` run against both.
#[derive(Clone)]
pub struct GatewayState {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqliteState),
    Postgres(Arc<postgres::PgState>),
}

/// What applying the migrations did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationReport {
    /// The schema version found (0: none yet).
    pub from: u32,
    /// The schema version now.
    pub to: u32,
}

/// Each call is boxed: a PostgreSQL call's future is kilobytes, and the gateway's
/// request futures that await state calls would otherwise carry the largest of them
/// inline (and copy it whenever a future is moved, as spawning one does).
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match &$self.backend {
            Backend::Sqlite(s) => Box::pin(s.$method($($arg),*)).await,
            Backend::Postgres(p) => Box::pin(p.$method($($arg),*)).await,
        }
    };
}

impl GatewayState {
    /// The SQLite state at `path` (created and migrated if needed).
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self {
            backend: Backend::Sqlite(SqliteState::open(path)?),
        })
    }

    /// The PostgreSQL state. Nothing is connected yet: the first call connects and
    /// applies the migrations ([`GatewayState::migrate`] does it at once).
    pub fn postgres(options: &postgres::PgOptions) -> Result<Self> {
        Ok(Self {
            backend: Backend::Postgres(Arc::new(postgres::PgState::new(options)?)),
        })
    }

    /// True when several gateways share this state: delivery then goes through
    /// [`GatewayState::claim`], never [`GatewayState::pending`].
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Where the state lives, for logs and `ticketgate migrate` (no credentials).
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Sqlite(s) => format!("SQLite {}", s.db.path().display()),
            Backend::Postgres(p) => p.describe(),
        }
    }

    /// Apply the schema's migrations now; says from which version to which.
    pub async fn migrate(&self) -> Result<MigrationReport> {
        match &self.backend {
            Backend::Sqlite(s) => Ok(s.migration_report()),
            Backend::Postgres(p) => p.migrate().await,
        }
    }

    /// Claim up to `limit` items for delivery by this process (shared state only; the
    /// SQLite backend has one deliverer and answers [`GatewayState::due`]). An item is
    /// claimable when it is pending, due, not leased by a live claim, and no earlier
    /// item of its ticket is still pending; the claim holds for the lease, so the items
    /// of a process killed mid-delivery come back when it runs out.
    pub async fn claim(&self, limit: u32) -> Result<Vec<OutboxItem>> {
        match &self.backend {
            Backend::Sqlite(s) => s.due(limit).await,
            Backend::Postgres(p) => p.claim(limit).await,
        }
    }

    /// Give claimed items back without an attempt (their upstream is failing).
    pub async fn release(&self, seqs: Vec<i64>) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(p) => p.release(seqs).await,
        }
    }

    pub async fn prune(
        &self,
        idempotency_before: DateTime<Utc>,
        delivered_before: DateTime<Utc>,
    ) -> Result<Pruned> {
        dispatch!(self.prune(idempotency_before, delivered_before))
    }
    pub async fn enqueue(&self, item: Enqueue) -> Result<String> {
        dispatch!(self.enqueue(item))
    }
    pub async fn due(&self, limit: u32) -> Result<Vec<OutboxItem>> {
        dispatch!(self.due(limit))
    }
    pub async fn pending(&self, limit: u32) -> Result<Vec<OutboxItem>> {
        dispatch!(self.pending(limit))
    }
    pub async fn begin_attempt(&self, seq: i64) -> Result<()> {
        dispatch!(self.begin_attempt(seq))
    }
    pub async fn delivered(&self, seq: i64, ticket_id: &str, number: Option<&str>) -> Result<()> {
        dispatch!(self.delivered(seq, ticket_id, number))
    }
    pub async fn failed(&self, seq: i64, error: &str, next: Option<DateTime<Utc>>) -> Result<()> {
        dispatch!(self.failed(seq, error, next))
    }
    pub async fn item(&self, tracking_id: &str) -> Result<Option<OutboxItem>> {
        dispatch!(self.item(tracking_id))
    }
    pub async fn list(&self, state: Option<OutboxState>, limit: u32) -> Result<Vec<OutboxItem>> {
        dispatch!(self.list(state, limit))
    }
    pub async fn retry(&self, tracking_id: &str) -> Result<bool> {
        dispatch!(self.retry(tracking_id))
    }
    pub async fn retry_all(&self) -> Result<u64> {
        dispatch!(self.retry_all())
    }
    pub async fn drop_item(&self, tracking_id: &str) -> Result<bool> {
        dispatch!(self.drop_item(tracking_id))
    }
    pub async fn summary(&self) -> Result<OutboxSummary> {
        dispatch!(self.summary())
    }
    pub async fn idempotency(
        &self,
        consumer: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>> {
        dispatch!(self.idempotency(consumer, key))
    }
    pub async fn remember_created(
        &self,
        consumer: &str,
        key: &str,
        fingerprint: &str,
        upstream: &str,
        ticket_id: &str,
        number: &str,
    ) -> Result<()> {
        dispatch!(self.remember_created(consumer, key, fingerprint, upstream, ticket_id, number))
    }
    pub async fn mail_lookup(&self, message_ids: Vec<String>) -> Result<Option<MailRecord>> {
        dispatch!(self.mail_lookup(message_ids))
    }
    /// Remember where one message landed; true when its key was new.
    pub async fn mail_remember(&self, record: MailRecord) -> Result<bool> {
        self.mail_remember_all(vec![record]).await.map(|n| n > 0)
    }
    /// Remember where a message landed under each of its keys, in one commit.
    pub async fn mail_remember_all(&self, records: Vec<MailRecord>) -> Result<usize> {
        dispatch!(self.mail_remember_all(records))
    }
    /// Forget the mail keys (Message-IDs, message digests) recorded before `before`.
    pub async fn prune_mail(&self, before: DateTime<Utc>) -> Result<u64> {
        dispatch!(self.prune_mail(before))
    }
}

/// The SQLite backend: `gateway.sqlite` in the data directory.
#[derive(Clone)]
pub struct SqliteState {
    db: Db,
    /// The schema version the file had when it was opened.
    found_version: u32,
}

impl SqliteState {
    fn migration_report(&self) -> MigrationReport {
        let to = MIGRATIONS.len() as u32;
        MigrationReport {
            from: self.found_version,
            to,
        }
    }

    pub fn open(path: &Path) -> Result<Self> {
        // The outbox is the promise behind every 202: always synchronous=FULL.
        // One read-only connection, so `/readyz` and `/metrics` read beside the writer
        // instead of queueing behind the creates on it.
        let found_version = Db::schema_version(path);
        Ok(Self {
            db: Db::open(path, Durability::Full, MIGRATIONS)?.with_readers(1)?,
            found_version,
        })
    }

    /// Forget what only served to recognise a repeat: idempotency records created
    /// before `idempotency_before`, and delivered outbox items last updated before
    /// `delivered_before` (a delivered create that a pending item still names as its
    /// target is kept until that item is done). Returns how many rows of each went.
    pub async fn prune(
        &self,
        idempotency_before: DateTime<Utc>,
        delivered_before: DateTime<Utc>,
    ) -> Result<Pruned> {
        let (idem, delivered) = (
            time::to_db(&idempotency_before),
            time::to_db(&delivered_before),
        );
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(sql_error)?;
                let idempotency = tx
                    .execute("DELETE FROM idempotency WHERE created_at < ?1", [&idem])
                    .map_err(sql_error)?;
                let delivered = tx
                    .execute(
                        "DELETE FROM outbox WHERE state = 'delivered' AND updated_at < ?1 \
                         AND NOT EXISTS (SELECT 1 FROM outbox p \
                             WHERE p.state != 'delivered' AND p.target = outbox.tracking_id)",
                        [&delivered],
                    )
                    .map_err(sql_error)?;
                tx.commit().map_err(sql_error)?;
                Ok(Pruned {
                    idempotency: idempotency as u64,
                    delivered: delivered as u64,
                })
            })
            .await
    }

    /// Queue a delivery; returns the tracking id. Committed before this returns.
    pub async fn enqueue(&self, item: Enqueue) -> Result<String> {
        let Enqueue {
            upstream,
            kind,
            target,
            consumer,
            payload,
            idempotency,
            delivery_key,
            request_id,
        } = item;
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(sql_error)?;
                let now = time::to_db(&time::now());
                let tracking_id = new_tracking_id(&tx)?;
                tx.execute(
                    "INSERT INTO outbox(tracking_id, upstream, kind, target, consumer, payload, state, \
                     next_attempt_at, created_at, updated_at, delivery_key, request_id) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7, ?7, ?8, ?9)",
                    params![tracking_id, upstream, kind.as_str(), target, consumer, payload, now, delivery_key, request_id],
                )
                .map_err(sql_error)?;
                if let Some((key, fingerprint)) = idempotency {
                    tx.execute(
                        "INSERT INTO idempotency(consumer, key, fingerprint, upstream, tracking_id, created_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                         ON CONFLICT(consumer, key) DO UPDATE SET tracking_id = excluded.tracking_id",
                        params![consumer, key, fingerprint, upstream, tracking_id, now],
                    )
                    .map_err(sql_error)?;
                }
                tx.commit().map_err(sql_error)?;
                Ok(tracking_id)
            })
            .await
    }

    /// Pending items due now, oldest first, at most `limit`.
    pub async fn due(&self, limit: u32) -> Result<Vec<OutboxItem>> {
        self.db
            .call(move |c| {
                let now = time::to_db(&time::now());
                let mut stmt = c
                    .prepare_cached(&format!(
                        "SELECT {ITEM_COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?1 \
                         ORDER BY seq LIMIT ?2"
                    ))
                    .map_err(sql_error)?;
                let rows = stmt.query_map(params![now, limit], item_from_row).map_err(sql_error)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_error)
            })
            .await
    }

    /// Pending items, due or not, oldest first, at most `limit`: the worker delivers
    /// each upstream's items strictly in this order.
    pub async fn pending(&self, limit: u32) -> Result<Vec<OutboxItem>> {
        self.db
            .call(move |c| {
                let mut stmt = c
                    .prepare_cached(&format!(
                        "SELECT {ITEM_COLUMNS} FROM outbox WHERE state = 'pending' ORDER BY seq LIMIT ?1"
                    ))
                    .map_err(sql_error)?;
                let rows = stmt.query_map(params![limit], item_from_row).map_err(sql_error)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_error)
            })
            .await
    }

    /// Record that an attempt is about to be sent: after a crash, `attempts` shows it.
    pub async fn begin_attempt(&self, seq: i64) -> Result<()> {
        self.db
            .call(move |c| {
                c.execute(
                    "UPDATE outbox SET attempts = attempts + 1, updated_at = ?2 WHERE seq = ?1",
                    params![seq, time::to_db(&time::now())],
                )
                .map_err(sql_error)?;
                Ok(())
            })
            .await
    }

    /// The item was delivered as upstream ticket `ticket_id`; idempotency records and
    /// the mail map that pointed at its tracking id now point at the real ticket.
    pub async fn delivered(&self, seq: i64, ticket_id: &str, number: Option<&str>) -> Result<()> {
        let ticket_id = ticket_id.to_owned();
        let number = number.map(str::to_owned);
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(sql_error)?;
                let now = time::to_db(&time::now());
                let tracking: String = tx
                    .query_row(
                        "SELECT tracking_id FROM outbox WHERE seq = ?1",
                        [seq],
                        |r| r.get(0),
                    )
                    .map_err(sql_error)?;
                tx.execute(
                    "UPDATE outbox SET state = 'delivered', ticket_id = ?2, number = ?3, \
                     last_error = NULL, updated_at = ?4 WHERE seq = ?1",
                    params![seq, ticket_id, number, now],
                )
                .map_err(sql_error)?;
                tx.execute(
                    "UPDATE idempotency SET ticket_id = ?2, number = ?3 WHERE tracking_id = ?1",
                    params![tracking, ticket_id, number],
                )
                .map_err(sql_error)?;
                tx.execute(
                    "UPDATE mail_map SET ticket_id = ?2, number = ?3 WHERE tracking_id = ?1",
                    params![tracking, ticket_id, number],
                )
                .map_err(sql_error)?;
                // Entries queued behind this create now know their ticket.
                tx.execute(
                    "UPDATE outbox SET target = ?2 WHERE kind = 'entry' AND target = ?1",
                    params![tracking, ticket_id],
                )
                .map_err(sql_error)?;
                tx.commit().map_err(sql_error)
            })
            .await
    }

    /// The attempt failed: try again at `next`, or dead-letter it.
    pub async fn failed(&self, seq: i64, error: &str, next: Option<DateTime<Utc>>) -> Result<()> {
        let error = error.to_owned();
        self.db
            .call(move |c| {
                let now = time::to_db(&time::now());
                match next {
                    Some(at) => c.execute(
                        "UPDATE outbox SET last_error = ?2, next_attempt_at = ?3, updated_at = ?4 WHERE seq = ?1",
                        params![seq, error, time::to_db(&at), now],
                    ),
                    None => c.execute(
                        "UPDATE outbox SET state = 'dead', last_error = ?2, updated_at = ?3 WHERE seq = ?1",
                        params![seq, error, now],
                    ),
                }
                .map_err(sql_error)?;
                Ok(())
            })
            .await
    }

    /// Find an item by tracking id.
    pub async fn item(&self, tracking_id: &str) -> Result<Option<OutboxItem>> {
        let tracking_id = tracking_id.to_owned();
        self.db
            .call(move |c| {
                c.query_row(
                    &format!("SELECT {ITEM_COLUMNS} FROM outbox WHERE tracking_id = ?1"),
                    [tracking_id],
                    item_from_row,
                )
                .optional()
                .map_err(sql_error)
            })
            .await
    }

    /// Items in a state (all states when `None`), oldest first.
    pub async fn list(&self, state: Option<OutboxState>, limit: u32) -> Result<Vec<OutboxItem>> {
        self.db
            .call(move |c| {
                let mut stmt = c
                    .prepare_cached(&format!(
                        "SELECT {ITEM_COLUMNS} FROM outbox WHERE (?1 IS NULL OR state = ?1) ORDER BY seq LIMIT ?2"
                    ))
                    .map_err(sql_error)?;
                let rows = stmt
                    .query_map(params![state.map(OutboxState::as_str), limit], item_from_row)
                    .map_err(sql_error)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql_error)
            })
            .await
    }

    /// Put a dead (or pending) item back in line for delivery now.
    pub async fn retry(&self, tracking_id: &str) -> Result<bool> {
        let tracking_id = tracking_id.to_owned();
        self.db
            .call(move |c| {
                let now = time::to_db(&time::now());
                let n = c
                    .execute(
                        "UPDATE outbox SET state = 'pending', next_attempt_at = ?2, updated_at = ?2 \
                         WHERE tracking_id = ?1 AND state <> 'delivered'",
                        params![tracking_id, now],
                    )
                    .map_err(sql_error)?;
                Ok(n > 0)
            })
            .await
    }

    /// Put every dead item back in line; returns how many.
    pub async fn retry_all(&self) -> Result<u64> {
        self.db
            .call(move |c| {
                let now = time::to_db(&time::now());
                let n = c
                    .execute(
                        "UPDATE outbox SET state = 'pending', next_attempt_at = ?1, updated_at = ?1 \
                         WHERE state = 'dead'",
                        params![now],
                    )
                    .map_err(sql_error)?;
                Ok(n as u64)
            })
            .await
    }

    /// Remove an undelivered item for good.
    pub async fn drop_item(&self, tracking_id: &str) -> Result<bool> {
        let tracking_id = tracking_id.to_owned();
        self.db
            .call(move |c| {
                let n = c
                    .execute(
                        "DELETE FROM outbox WHERE tracking_id = ?1 AND state <> 'delivered'",
                        [tracking_id],
                    )
                    .map_err(sql_error)?;
                Ok(n > 0)
            })
            .await
    }

    pub async fn summary(&self) -> Result<OutboxSummary> {
        self.db
            .read(move |c| {
                let mut s = OutboxSummary::default();
                let mut stmt = c
                    .prepare_cached(
                        "SELECT state, count(*), min(created_at) FROM outbox GROUP BY state",
                    )
                    .map_err(sql_error)?;
                let rows = stmt
                    .query_map([], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, Option<String>>(2)?,
                        ))
                    })
                    .map_err(sql_error)?;
                for row in rows {
                    let (state, n, oldest) = row.map_err(sql_error)?;
                    let n = u64::try_from(n).unwrap_or(0);
                    match OutboxState::parse(&state) {
                        OutboxState::Pending => {
                            s.pending = n;
                            s.oldest_pending = oldest.as_deref().and_then(time::from_db);
                        }
                        OutboxState::Dead => s.dead = n,
                        OutboxState::Delivered => s.delivered = n,
                    }
                }
                Ok(s)
            })
            .await
    }

    /// The record for `(consumer, key)`, if a request with it was seen.
    pub async fn idempotency(
        &self,
        consumer: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>> {
        let (consumer, key) = (consumer.to_owned(), key.to_owned());
        self.db
            .call(move |c| {
                c.query_row(
                    "SELECT fingerprint, upstream, ticket_id, number, tracking_id FROM idempotency \
                     WHERE consumer = ?1 AND key = ?2",
                    params![consumer, key],
                    |r| {
                        Ok(IdempotencyRecord {
                            fingerprint: r.get(0)?,
                            upstream: r.get(1)?,
                            ticket_id: r.get(2)?,
                            number: r.get(3)?,
                            tracking_id: r.get(4)?,
                        })
                    },
                )
                .optional()
                .map_err(sql_error)
            })
            .await
    }

    /// Remember the outcome of a request with an idempotency key that was created
    /// directly upstream. A record already there (a concurrent twin) wins.
    pub async fn remember_created(
        &self,
        consumer: &str,
        key: &str,
        fingerprint: &str,
        upstream: &str,
        ticket_id: &str,
        number: &str,
    ) -> Result<()> {
        let args = [consumer, key, fingerprint, upstream, ticket_id, number].map(str::to_owned);
        // Group-committed: concurrent creates with keys share a commit (and an fsync).
        self.db
            .write(move |c| {
                c.execute(
                    "INSERT OR IGNORE INTO idempotency(consumer, key, fingerprint, upstream, ticket_id, number, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![args[0], args[1], args[2], args[3], args[4], args[5], time::to_db(&time::now())],
                )
                .map_err(sql_error)?;
                Ok(())
            })
            .await
    }

    /// Where a Message-ID landed: `(upstream, ticket id, number, tracking id)`.
    pub async fn mail_lookup(&self, message_ids: Vec<String>) -> Result<Option<MailRecord>> {
        self.db
            .call(move |c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT message_id, upstream, ticket_id, number, tracking_id FROM mail_map WHERE message_id = ?1",
                    )
                    .map_err(sql_error)?;
                for id in &message_ids {
                    let found = stmt
                        .query_row([id], |r| {
                            Ok(MailRecord {
                                message_id: r.get(0)?,
                                upstream: r.get(1)?,
                                ticket_id: r.get(2)?,
                                number: r.get(3)?,
                                tracking_id: r.get(4)?,
                            })
                        })
                        .optional()
                        .map_err(sql_error)?;
                    if found.is_some() {
                        return Ok(found);
                    }
                }
                Ok(None)
            })
            .await
    }

    /// Forget the mail keys recorded before `before`: a later redelivery of such a
    /// message is no longer known as one, and a reply to it is threaded by the ticket
    /// number in its subject (or the newer Message-IDs its References carry).
    pub async fn prune_mail(&self, before: DateTime<Utc>) -> Result<u64> {
        let before = time::to_db(&before);
        self.db
            .call(move |c| {
                c.execute("DELETE FROM mail_map WHERE created_at < ?1", [&before])
                    .map(|n| n as u64)
                    .map_err(sql_error)
            })
            .await
    }

    /// Remember that messages (by Message-ID or digest key) landed on a ticket, in one
    /// commit shared with the writes of the moment; returns how many keys were new.
    /// The first record for a key wins: a duplicate delivery never rewrites it.
    pub async fn mail_remember_all(&self, records: Vec<MailRecord>) -> Result<usize> {
        self.db
            .write(move |c| {
                let mut insert = c
                    .prepare_cached(
                        "INSERT OR IGNORE INTO mail_map(message_id, upstream, ticket_id, number, tracking_id, created_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )
                    .map_err(sql_error)?;
                let now = time::to_db(&time::now());
                let mut new = 0;
                for r in &records {
                    new += insert
                        .execute(params![
                            r.message_id,
                            r.upstream,
                            r.ticket_id,
                            r.number,
                            r.tracking_id,
                            now
                        ])
                        .map_err(sql_error)?;
                }
                Ok(new)
            })
            .await
    }
}

/// A Message-ID (or digest key) and the ticket it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailRecord {
    pub message_id: String,
    pub upstream: String,
    pub ticket_id: Option<String>,
    pub number: Option<String>,
    pub tracking_id: Option<String>,
}

const ITEM_COLUMNS: &str = "seq, tracking_id, upstream, kind, target, consumer, payload, state, attempts, \
                            next_attempt_at, last_error, created_at, ticket_id, number, delivery_key, request_id";

fn item_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxItem> {
    let ts = |s: String| time::from_db(&s).unwrap_or_else(time::now);
    Ok(OutboxItem {
        seq: r.get(0)?,
        tracking_id: r.get(1)?,
        upstream: r.get(2)?,
        kind: OutboxKind::parse(&r.get::<_, String>(3)?),
        target: r.get(4)?,
        consumer: r.get(5)?,
        payload: r.get(6)?,
        state: OutboxState::parse(&r.get::<_, String>(7)?),
        attempts: r.get(8)?,
        next_attempt_at: ts(r.get(9)?),
        last_error: r.get(10)?,
        created_at: ts(r.get(11)?),
        ticket_id: r.get(12)?,
        number: r.get(13)?,
        delivery_key: r
            .get::<_, Option<String>>(14)?
            .unwrap_or_else(|| r.get(1).unwrap_or_default()),
        request_id: r.get(15)?,
    })
}

/// Tracking ids are `q-` + 16 random hex digits: not guessable from each other, and
/// never confusable with an upstream's numeric id.
fn new_tracking_id(c: &rusqlite::Connection) -> Result<String> {
    let hex: String = c
        .query_row("SELECT lower(hex(randomblob(8)))", [], |r| r.get(0))
        .map_err(sql_error)?;
    if hex.len() != 16 {
        return Err(Error::internal("could not make a tracking id"));
    }
    Ok(format!("q-{hex}"))
}

#[cfg(test)]
mod tests;
