//! The gateway's durable state on PostgreSQL, shared by any number of gateways.
//!
//! Driver: `tokio-postgres` with a `deadpool-postgres` pool. Both are plain async
//! Rust on the tokio runtime the gateway already runs, prepared statements are cached
//! per connection, and nothing needs a database at build time (sqlx's checked queries
//! would, or an offline cache kept in the repository); the pool is a few hundred lines
//! whose behaviour on a dead connection (dropped, a new one made on the next call) is
//! what a restart of the server needs.
//!
//! Delivery across instances: [`PgState::claim`] picks pending, due items with
//! `SELECT … FOR UPDATE SKIP LOCKED`, so two gateways never pick the same row, and
//! leases them (`lease_until`): a gateway killed mid-delivery leaves its items leased,
//! and they come back to everyone when the lease runs out. An item is claimable only
//! when no earlier item of the same ticket is still pending (in flight included), so
//! the per-ticket order the outbox promises holds across instances. Every attempt of a
//! create carries the same delivery key, so an upstream that recognises it makes one
//! ticket even when a lease ran out under a slow delivery and a second gateway sent it
//! again.
//!
//! Failures: every error that means "the database cannot be reached or cannot write
//! now" (connection refused or lost, the server shutting down or starting, a full disk,
//! a pool that waited too long) is `storage_unavailable` (503 with `Retry-After`, and
//! `pipe` exit 75), never an acknowledgement; a pool connection that died is replaced
//! on the next call, so the gateway recovers by itself when the server is back.

use super::{
    IdempotencyRecord, MailRecord, MigrationReport, OutboxItem, OutboxKind, OutboxState,
    OutboxSummary, Pruned,
};
use crate::state::Enqueue;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use std::str::FromStr;
use std::time::Duration;
use ticketgate_model::{Error, Result};
use tokio_postgres::{NoTls, Row};

/// How to reach the database, and how hard to use it.
#[derive(Clone)]
pub struct PgOptions {
    /// A libpq-style URL or key=value string: `postgres://user:password@host:5432/db`.
    pub url: String,
    /// Connections per gateway process.
    pub pool_size: usize,
    /// How long a claimed item stays with the gateway that claimed it. Longer than
    /// the slowest delivery (the upstream's call timeout); a killed gateway's items
    /// wait this long before another one delivers them.
    pub lease: Duration,
    /// Connecting, and waiting for a free pooled connection.
    pub connect_timeout: Duration,
    /// The longest one statement (or transaction) may take before it is given up as
    /// storage unavailable.
    pub statement_timeout: Duration,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &redact(&self.url))
            .field("pool_size", &self.pool_size)
            .field("lease", &self.lease)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 16,
            lease: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(15),
        }
    }
}

/// Check a URL without connecting; the error never repeats the URL (it may hold a
/// password).
pub fn check_url(url: &str) -> std::result::Result<(), String> {
    tokio_postgres::Config::from_str(url)
        .map(|_| ())
        .map_err(|e| format!("not a PostgreSQL connection URL ({e})"))
}

/// The URL with its password, if any, replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        // key=value form: drop a password=… pair.
        return url
            .split_whitespace()
            .map(|kv| {
                if kv.starts_with("password=") {
                    "password=***"
                } else {
                    kv
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!("{}{masked}{}", &url[..scheme_end + 3], &rest[at..])
        }
        None => url.to_owned(),
    }
}

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE outbox (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tracking_id     TEXT NOT NULL UNIQUE,
    upstream        TEXT NOT NULL,
    kind            TEXT NOT NULL,
    target          TEXT,
    consumer        TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    ticket_id       TEXT,
    number          TEXT,
    delivery_key    TEXT,
    -- The X-Request-Id of the request that queued the item, sent with each attempt.
    request_id      TEXT,
    lease_owner     TEXT,
    lease_until     TIMESTAMPTZ,
    -- The ticket an item belongs to, for ordering: a create is its own ticket, an
    -- entry belongs to its target (rewritten to the real id when its create lands).
    ticket_key      TEXT GENERATED ALWAYS AS
                    (CASE WHEN kind = 'create' THEN tracking_id
                          ELSE COALESCE(target, tracking_id) END) STORED
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE state = 'pending';
CREATE INDEX outbox_pending_ticket ON outbox (ticket_key, seq) WHERE state = 'pending';
CREATE INDEX outbox_target ON outbox (target) WHERE target IS NOT NULL;
CREATE INDEX outbox_state_updated ON outbox (state, updated_at);
CREATE TABLE idempotency (
    consumer     TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    upstream     TEXT,
    ticket_id    TEXT,
    number       TEXT,
    tracking_id  TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (consumer, key)
);
CREATE INDEX idempotency_tracking ON idempotency (tracking_id) WHERE tracking_id IS NOT NULL;
CREATE INDEX idempotency_created ON idempotency (created_at);
CREATE TABLE mail_map (
    message_id  TEXT PRIMARY KEY,
    upstream    TEXT NOT NULL,
    ticket_id   TEXT,
    number      TEXT,
    tracking_id TEXT,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX mail_map_tracking ON mail_map (tracking_id) WHERE tracking_id IS NOT NULL;
"#,
    // 2: the id map (which upstream owns an id the gateway handed out), the numbers it
    // allocates (one identity for every instance, so no two tickets share one) and the
    // record of what a migration between upstreams has copied (see `idmap.rs`).
    r#"
CREATE TABLE id_map (
    home        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    upstream    TEXT NOT NULL,
    upstream_id TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    -- The order rows were written in: the first id of a ticket is the one shown.
    seq         BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (home, kind, key)
);
CREATE INDEX id_map_target ON id_map (home, upstream, upstream_id, kind, seq);
CREATE INDEX id_map_upstream ON id_map (upstream, upstream_id);
CREATE TABLE id_alloc (
    gid         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (from_upstream, to_upstream, source_id)
);
CREATE INDEX copied_target ON copied (to_upstream, target_id, from_upstream);
"#,
    // 3: the retention pass deletes mail keys by age without reading them all.
    "CREATE INDEX mail_map_created ON mail_map (created_at);",
];

/// Held for the length of a migration, so gateways starting together migrate once.
const MIGRATION_LOCK: i64 = 0x7469_636b_6574_6761; // "ticketga"

const ITEM_COLUMNS: &str = "seq, tracking_id, upstream, kind, target, consumer, payload, state, \
                            attempts, next_attempt_at, last_error, created_at, ticket_id, number, \
                            delivery_key, request_id";

pub struct PgState {
    pool: Pool,
    where_: String,
    owner: String,
    lease: Duration,
    statement_timeout: Duration,
    migrated: tokio::sync::OnceCell<MigrationReport>,
}

impl PgState {
    /// A pool for `options`; nothing is connected until the first call.
    pub fn new(options: &PgOptions) -> Result<Self> {
        let mut config = tokio_postgres::Config::from_str(&options.url).map_err(|e| {
            Error::bad_input(format!(
                "state.url is not a PostgreSQL connection URL ({e})"
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        config.application_name("ticketgate");
        // A connection lost without a word (a cable, a firewall) is noticed.
        config.keepalives_idle(Duration::from_secs(30));
        let where_ = describe_config(&config);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| Error::internal(format!("cannot build the PostgreSQL pool: {e}")))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        Ok(Self {
            pool,
            where_,
            owner: format!("pid {} ({nanos:08x})", std::process::id()),
            lease: options.lease,
            statement_timeout: options.statement_timeout,
            migrated: tokio::sync::OnceCell::new(),
        })
    }

    pub fn describe(&self) -> String {
        format!("PostgreSQL {}", self.where_)
    }

    /// Apply the migrations (once per process; later calls report the first run).
    pub async fn migrate(&self) -> Result<MigrationReport> {
        self.migrated
            .get_or_try_init(|| self.timed(self.apply_migrations()))
            .await
            .copied()
    }

    async fn apply_migrations(&self) -> Result<MigrationReport> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await.map_err(pg_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(pg_error)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS ticketgate_schema (version INTEGER NOT NULL); \
             INSERT INTO ticketgate_schema (version) \
                 SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM ticketgate_schema);",
        )
        .await
        .map_err(pg_error)?;
        let found: i32 = tx
            .query_one("SELECT version FROM ticketgate_schema", &[])
            .await
            .map_err(pg_error)?
            .get(0);
        let found = u32::try_from(found).unwrap_or(0);
        let known = MIGRATIONS.len() as u32;
        if found > known {
            return Err(Error::storage_unavailable(format!(
                "the PostgreSQL schema is at version {found}, newer than this ticketgate knows ({known})"
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.batch_execute(sql).await.map_err(pg_error)?;
            tx.execute(
                "UPDATE ticketgate_schema SET version = $1",
                &[&(i as i32 + 1)],
            )
            .await
            .map_err(pg_error)?;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(MigrationReport {
            from: found,
            to: known,
        })
    }

    /// A pooled connection, the schema migrated.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Client> {
        self.migrate().await?;
        self.pool.get().await.map_err(pool_error)
    }

    /// Run `f` under the statement timeout: a server that accepts connections but
    /// does not answer is unavailable storage, not a hung request.
    pub(crate) async fn timed<T>(
        &self,
        f: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.statement_timeout, f).await {
            Ok(r) => r,
            Err(_) => Err(Error::storage_unavailable(
                "PostgreSQL did not answer in time: nothing was written",
            )),
        }
    }

    pub async fn prune_mail(&self, before: DateTime<Utc>) -> Result<u64> {
        self.timed(async {
            let c = self.client().await?;
            c.execute("DELETE FROM mail_map WHERE created_at < $1", &[&before])
                .await
                .map_err(pg_error)
        })
        .await
    }

    pub async fn prune(
        &self,
        idempotency_before: DateTime<Utc>,
        delivered_before: DateTime<Utc>,
    ) -> Result<Pruned> {
        self.timed(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(pg_error)?;
            let idempotency = tx
                .execute(
                    "DELETE FROM idempotency WHERE created_at < $1",
                    &[&idempotency_before],
                )
                .await
                .map_err(pg_error)?;
            let delivered = tx
                .execute(
                    "DELETE FROM outbox WHERE state = 'delivered' AND updated_at < $1 \
                     AND NOT EXISTS (SELECT 1 FROM outbox p \
                         WHERE p.state <> 'delivered' AND p.target = outbox.tracking_id)",
                    &[&delivered_before],
                )
                .await
                .map_err(pg_error)?;
            tx.commit().await.map_err(pg_error)?;
            Ok(Pruned {
                idempotency,
                delivered,
            })
        })
        .await
    }

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
        self.timed(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(pg_error)?;
            let now = Utc::now();
            // 16 random hex digits: a v4 UUID without its version and variant digits.
            let row = tx
                .query_one(
                    "WITH u AS (SELECT replace(gen_random_uuid()::text, '-', '') AS h) \
                     INSERT INTO outbox (tracking_id, upstream, kind, target, consumer, payload, \
                         state, next_attempt_at, created_at, updated_at, delivery_key, request_id) \
                     SELECT 'q-' || substr(h, 1, 12) || substr(h, 18, 4), $1, $2, $3, $4, $5, \
                         'pending', $6, $6, $6, $7, $8 FROM u \
                     RETURNING tracking_id",
                    &[
                        &upstream,
                        &kind.as_str(),
                        &target,
                        &consumer,
                        &payload,
                        &now,
                        &delivery_key,
                        &request_id,
                    ],
                )
                .await
                .map_err(pg_error)?;
            let tracking_id: String = row.get(0);
            if let Some((key, fingerprint)) = idempotency {
                tx.execute(
                    "INSERT INTO idempotency (consumer, key, fingerprint, upstream, tracking_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (consumer, key) DO UPDATE SET tracking_id = EXCLUDED.tracking_id",
                    &[&consumer, &key, &fingerprint, &upstream, &tracking_id, &now],
                )
                .await
                .map_err(pg_error)?;
            }
            tx.commit().await.map_err(pg_error)?;
            Ok(tracking_id)
        })
        .await
    }

    pub async fn due(&self, limit: u32) -> Result<Vec<OutboxItem>> {
        self.items(
            "WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY seq LIMIT $2",
            &[&Utc::now(), &i64::from(limit)],
        )
        .await
    }

    pub async fn pending(&self, limit: u32) -> Result<Vec<OutboxItem>> {
        self.items(
            "WHERE state = 'pending' ORDER BY seq LIMIT $1",
            &[&i64::from(limit)],
        )
        .await
    }

    /// See [`GatewayState::claim`](super::GatewayState::claim).
    pub async fn claim(&self, limit: u32) -> Result<Vec<OutboxItem>> {
        let lease = self.lease.as_secs_f64();
        let mut items = self
            .timed(async {
                let c = self.client().await?;
                let sql = format!(
                    "WITH c AS ( \
                         SELECT o.seq FROM outbox o \
                         WHERE o.state = 'pending' AND o.next_attempt_at <= $1 \
                           AND (o.lease_until IS NULL OR o.lease_until < now()) \
                           AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.state = 'pending' \
                               AND p.ticket_key = o.ticket_key AND p.seq < o.seq) \
                         ORDER BY o.seq LIMIT $2 \
                         FOR UPDATE OF o SKIP LOCKED) \
                     UPDATE outbox SET lease_owner = $3, \
                         lease_until = now() + make_interval(secs => $4) \
                     FROM c WHERE outbox.seq = c.seq \
                     RETURNING {}",
                    ITEM_COLUMNS
                        .split(", ")
                        .map(|col| format!("outbox.{}", col.trim()))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let stmt = c.prepare_cached(&sql).await.map_err(pg_error)?;
                let rows = c
                    .query(
                        &stmt,
                        &[&Utc::now(), &i64::from(limit), &self.owner, &lease],
                    )
                    .await
                    .map_err(pg_error)?;
                Ok(rows.iter().map(item_from_row).collect::<Vec<_>>())
            })
            .await?;
        items.sort_by_key(|i| i.seq);
        Ok(items)
    }

    pub async fn release(&self, seqs: Vec<i64>) -> Result<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        self.timed(async {
            let c = self.client().await?;
            c.execute(
                "UPDATE outbox SET lease_owner = NULL, lease_until = NULL \
                 WHERE seq = ANY($1) AND lease_owner = $2",
                &[&seqs, &self.owner],
            )
            .await
            .map_err(pg_error)?;
            Ok(())
        })
        .await
    }

    pub async fn begin_attempt(&self, seq: i64) -> Result<()> {
        self.execute(
            "UPDATE outbox SET attempts = attempts + 1, updated_at = $2 WHERE seq = $1",
            &[&seq, &Utc::now()],
        )
        .await
        .map(|_| ())
    }

    pub async fn delivered(&self, seq: i64, ticket_id: &str, number: Option<&str>) -> Result<()> {
        self.timed(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(pg_error)?;
            let now = Utc::now();
            let tracking: String = tx
                .query_one(
                    "UPDATE outbox SET state = 'delivered', ticket_id = $2, number = $3, \
                     last_error = NULL, updated_at = $4, lease_owner = NULL, lease_until = NULL \
                     WHERE seq = $1 RETURNING tracking_id",
                    &[&seq, &ticket_id, &number, &now],
                )
                .await
                .map_err(pg_error)?
                .get(0);
            tx.execute(
                "UPDATE idempotency SET ticket_id = $2, number = $3 WHERE tracking_id = $1",
                &[&tracking, &ticket_id, &number],
            )
            .await
            .map_err(pg_error)?;
            tx.execute(
                "UPDATE mail_map SET ticket_id = $2, number = $3 WHERE tracking_id = $1",
                &[&tracking, &ticket_id, &number],
            )
            .await
            .map_err(pg_error)?;
            // Entries queued behind this create now know their ticket.
            tx.execute(
                "UPDATE outbox SET target = $2 WHERE kind = 'entry' AND target = $1",
                &[&tracking, &ticket_id],
            )
            .await
            .map_err(pg_error)?;
            tx.commit().await.map_err(pg_error)
        })
        .await
    }

    pub async fn failed(&self, seq: i64, error: &str, next: Option<DateTime<Utc>>) -> Result<()> {
        let now = Utc::now();
        match next {
            Some(at) => {
                self.execute(
                    "UPDATE outbox SET last_error = $2, next_attempt_at = $3, updated_at = $4, \
                     lease_owner = NULL, lease_until = NULL WHERE seq = $1",
                    &[&seq, &error, &at, &now],
                )
                .await
            }
            None => {
                self.execute(
                    "UPDATE outbox SET state = 'dead', last_error = $2, updated_at = $3, \
                     lease_owner = NULL, lease_until = NULL WHERE seq = $1",
                    &[&seq, &error, &now],
                )
                .await
            }
        }
        .map(|_| ())
    }

    pub async fn item(&self, tracking_id: &str) -> Result<Option<OutboxItem>> {
        Ok(self
            .items("WHERE tracking_id = $1", &[&tracking_id])
            .await?
            .into_iter()
            .next())
    }

    pub async fn list(&self, state: Option<OutboxState>, limit: u32) -> Result<Vec<OutboxItem>> {
        let state = state.map(OutboxState::as_str);
        self.items(
            "WHERE ($1::text IS NULL OR state = $1) ORDER BY seq LIMIT $2",
            &[&state, &i64::from(limit)],
        )
        .await
    }

    pub async fn retry(&self, tracking_id: &str) -> Result<bool> {
        let n = self
            .execute(
                "UPDATE outbox SET state = 'pending', next_attempt_at = $2, updated_at = $2 \
                 WHERE tracking_id = $1 AND state <> 'delivered'",
                &[&tracking_id, &Utc::now()],
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn retry_all(&self) -> Result<u64> {
        self.execute(
            "UPDATE outbox SET state = 'pending', next_attempt_at = $1, updated_at = $1 \
             WHERE state = 'dead'",
            &[&Utc::now()],
        )
        .await
    }

    pub async fn drop_item(&self, tracking_id: &str) -> Result<bool> {
        let n = self
            .execute(
                "DELETE FROM outbox WHERE tracking_id = $1 AND state <> 'delivered'",
                &[&tracking_id],
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn summary(&self) -> Result<OutboxSummary> {
        let rows = self
            .query(
                "SELECT state, count(*), min(created_at) FROM outbox GROUP BY state",
                &[],
            )
            .await?;
        let mut s = OutboxSummary::default();
        for row in rows {
            let state: String = row.get(0);
            let n = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
            let oldest: Option<DateTime<Utc>> = row.get(2);
            match OutboxState::parse(&state) {
                OutboxState::Pending => {
                    s.pending = n;
                    s.oldest_pending = oldest;
                }
                OutboxState::Dead => s.dead = n,
                OutboxState::Delivered => s.delivered = n,
            }
        }
        Ok(s)
    }

    pub async fn idempotency(
        &self,
        consumer: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>> {
        let rows = self
            .query(
                "SELECT fingerprint, upstream, ticket_id, number, tracking_id FROM idempotency \
                 WHERE consumer = $1 AND key = $2",
                &[&consumer, &key],
            )
            .await?;
        Ok(rows.first().map(|r| IdempotencyRecord {
            fingerprint: r.get(0),
            upstream: r.get(1),
            ticket_id: r.get(2),
            number: r.get(3),
            tracking_id: r.get(4),
        }))
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
        self.execute(
            "INSERT INTO idempotency (consumer, key, fingerprint, upstream, ticket_id, number, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (consumer, key) DO NOTHING",
            &[&consumer, &key, &fingerprint, &upstream, &ticket_id, &number, &Utc::now()],
        )
        .await
        .map(|_| ())
    }

    pub async fn mail_lookup(&self, message_ids: Vec<String>) -> Result<Option<MailRecord>> {
        if message_ids.is_empty() {
            return Ok(None);
        }
        // The first of `message_ids` that is known wins, as on SQLite.
        let rows = self
            .query(
                "SELECT m.message_id, m.upstream, m.ticket_id, m.number, m.tracking_id \
                 FROM unnest($1::text[]) WITH ORDINALITY AS w(id, n) \
                 JOIN mail_map m ON m.message_id = w.id ORDER BY w.n LIMIT 1",
                &[&message_ids],
            )
            .await?;
        Ok(rows.first().map(|r| MailRecord {
            message_id: r.get(0),
            upstream: r.get(1),
            ticket_id: r.get(2),
            number: r.get(3),
            tracking_id: r.get(4),
        }))
    }

    /// One statement for every key, so they are remembered together or not at all.
    pub async fn mail_remember_all(&self, records: Vec<MailRecord>) -> Result<usize> {
        let column = |f: fn(&MailRecord) -> Option<&String>| {
            records
                .iter()
                .map(|r| f(r).cloned())
                .collect::<Vec<Option<String>>>()
        };
        let ids = column(|r| Some(&r.message_id));
        let upstreams = column(|r| Some(&r.upstream));
        let tickets = column(|r| r.ticket_id.as_ref());
        let numbers = column(|r| r.number.as_ref());
        let tracking = column(|r| r.tracking_id.as_ref());
        let n = self
            .execute(
                "INSERT INTO mail_map (message_id, upstream, ticket_id, number, tracking_id, created_at) \
                 SELECT k.id, k.upstream, k.ticket, k.number, k.tracking, $6 \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) \
                 AS k(id, upstream, ticket, number, tracking) \
                 ON CONFLICT (message_id) DO NOTHING",
                &[&ids, &upstreams, &tickets, &numbers, &tracking, &Utc::now()],
            )
            .await?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(crate) async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64> {
        self.timed(async {
            let c = self.client().await?;
            let stmt = c.prepare_cached(sql).await.map_err(pg_error)?;
            c.execute(&stmt, params).await.map_err(pg_error)
        })
        .await
    }

    pub(crate) async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        self.timed(async {
            let c = self.client().await?;
            let stmt = c.prepare_cached(sql).await.map_err(pg_error)?;
            c.query(&stmt, params).await.map_err(pg_error)
        })
        .await
    }

    async fn items(
        &self,
        tail: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<OutboxItem>> {
        let rows = self
            .query(&format!("SELECT {ITEM_COLUMNS} FROM outbox {tail}"), params)
            .await?;
        Ok(rows.iter().map(item_from_row).collect())
    }
}

fn item_from_row(r: &Row) -> OutboxItem {
    let tracking_id: String = r.get(1);
    let delivery_key: Option<String> = r.get(14);
    OutboxItem {
        seq: r.get(0),
        upstream: r.get(2),
        kind: OutboxKind::parse(r.get(3)),
        target: r.get(4),
        consumer: r.get(5),
        payload: r.get(6),
        state: OutboxState::parse(r.get(7)),
        attempts: u32::try_from(r.get::<_, i32>(8)).unwrap_or(0),
        next_attempt_at: r.get(9),
        last_error: r.get(10),
        created_at: r.get(11),
        ticket_id: r.get(12),
        number: r.get(13),
        delivery_key: delivery_key.unwrap_or_else(|| tracking_id.clone()),
        tracking_id,
        request_id: r.get(15),
    }
}

/// `host:port/dbname` of a configuration: where, never who or with what password.
fn describe_config(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    format!("{host}:{port}/{db}")
}

/// A failure of the pool: waiting too long for a connection, or making one.
fn pool_error(e: PoolError) -> Error {
    match e {
        PoolError::Backend(e) => pg_error(e),
        PoolError::Timeout(_) => {
            Error::storage_unavailable("PostgreSQL is unreachable or busy: nothing was written")
        }
        other => Error::storage_unavailable(format!(
            "PostgreSQL is unavailable ({other}): nothing was written"
        )),
    }
}

/// A failure of a statement. The server unreachable, restarting, out of space or
/// read-only is storage unavailable (retryable); a statement the server refuses for
/// another reason is an internal error.
pub(crate) fn pg_error(e: tokio_postgres::Error) -> Error {
    let Some(db) = e.as_db_error() else {
        // No answer from the server: the connection failed or was lost.
        let cause = std::error::Error::source(&e)
            .map(|s| format!("{e}: {s}"))
            .unwrap_or_else(|| e.to_string());
        return Error::storage_unavailable(format!(
            "PostgreSQL is unreachable ({cause}): nothing was written"
        ));
    };
    let code = db.code().code();
    let unavailable = code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources (disk full, out of memory, too many connections)
        || code.starts_with("57P") // admin or crash shutdown, cannot connect now
        || code == "25006" // read-only transaction (a standby)
        || code.starts_with("40"); // serialization failure, deadlock: try again
    if unavailable {
        Error::storage_unavailable(format!(
            "PostgreSQL cannot write now ({code}: {}): nothing was written",
            db.message()
        ))
    } else {
        Error::internal(format!("PostgreSQL error {code}: {}", db.message()))
    }
}

/// A database of its own, created on a PostgreSQL server and dropped (with its
/// connections) when this is dropped: for tests and benchmarks that must not share
/// state.
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// The server tests use: `TICKETGATE_POSTGRES_URL`, else the local default.
    pub fn server_url() -> String {
        std::env::var("TICKETGATE_POSTGRES_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned())
    }

    /// Create a fresh database on the server `admin_url` names (its user must be
    /// allowed to create databases).
    pub fn create(admin_url: &str) -> Result<Self> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!(
            "ticketgate_t{}_{}_{nanos:x}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let sql = format!("CREATE DATABASE {name}");
        run_admin(admin_url, sql)?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            url: with_dbname(admin_url, &name),
            name,
        })
    }

    /// A fresh database for the test `what`, or `None` (after saying the test is
    /// skipped, and why) when no server answers outside CI. Under CI (`CI` set and not
    /// `false`) a missing server fails the test instead.
    pub fn for_test(what: &str) -> Option<Self> {
        let url = Self::server_url();
        match Self::create(&url) {
            Ok(db) => Some(db),
            Err(e) => {
                let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
                let why = format!(
                    "{what}: no PostgreSQL to test against at {} ({})",
                    redact(&url),
                    e.message
                );
                if ci {
                    panic!(
                        "{why}; under CI the PostgreSQL tests must run (.ci/setup.d/40-postgres.sh)"
                    );
                }
                eprintln!(
                    "SKIPPED {why}. Set TICKETGATE_POSTGRES_URL to a server whose user may create databases to run it."
                );
                None
            }
        }
    }

    /// The URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let _ = run_admin(
            &self.admin_url,
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// One statement on the server, from any context (a runtime of its own on a thread of
/// its own, so it works inside async tests and outside any runtime alike).
fn run_admin(url: &str, sql: String) -> Result<()> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::internal(e.to_string()))?;
        rt.block_on(async move {
            let mut config = tokio_postgres::Config::from_str(&url)
                .map_err(|e| Error::bad_input(format!("not a PostgreSQL URL ({e})")))?;
            config.connect_timeout(Duration::from_secs(3));
            let (client, conn) = config.connect(NoTls).await.map_err(pg_error)?;
            let task = tokio::spawn(conn);
            let r = client.batch_execute(&sql).await.map_err(pg_error);
            drop(client);
            let _ = task.await;
            r
        })
    })
    .join()
    .map_err(|_| Error::internal("the PostgreSQL admin thread panicked"))?
}

/// `url` with its database name replaced.
fn with_dbname(url: &str, name: &str) -> String {
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let (authority, tail) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let query = tail.find('?').map(|i| &tail[i..]).unwrap_or("");
        format!("{}{authority}/{name}{query}", &url[..scheme_end + 3])
    } else {
        let kept: Vec<&str> = url
            .split_whitespace()
            .filter(|kv| !kv.starts_with("dbname="))
            .collect();
        format!("{} dbname={name}", kept.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_and_renamed() {
        assert_eq!(
            redact("postgres://tg:s3cret@db:5432/x?sslmode=disable"),
            "postgres://tg:***@db:5432/x?sslmode=disable"
        );
        assert_eq!(
            redact("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(
            redact("host=db user=tg password=s3cret"),
            "host=db user=tg password=***"
        );
        assert_eq!(
            with_dbname("postgres://postgres@127.0.0.1:5432/test", "n"),
            "postgres://postgres@127.0.0.1:5432/n"
        );
        assert_eq!(
            with_dbname("postgres://h?connect_timeout=2", "n"),
            "postgres://h/n?connect_timeout=2"
        );
        assert_eq!(with_dbname("host=h dbname=a", "n"), "host=h dbname=n");
        assert!(check_url("postgres://u:p@h:5432/d").is_ok());
        let err = check_url("postgres://u:s3cret@h:notaport/d").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
