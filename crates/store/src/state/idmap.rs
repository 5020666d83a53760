//! The id map: which upstream owns an id or number the gateway handed out.
//!
//! Ids live in namespaces, one per *home* upstream (the upstream a consumer is served
//! by when no routing rule says otherwise). In its own namespace a home upstream's ids
//! pass through unchanged, so the ids clients already hold keep working. A ticket of
//! any other upstream gets a gateway id of its own, `base + n` (`n` from one sequence),
//! far above any id a home upstream hands out, so ids never collide. A migrated ticket
//! keeps the ids its clients knew: their rows are pointed at the copy.
//!
//! The map lives in the gateway's state, on either backend. On PostgreSQL every
//! instance sharing the database reads and writes the same map, and numbers come from
//! one identity column (`id_alloc.gid`), so two instances never hand out the same
//! number, and an id one instance handed out resolves on every other.

use super::postgres::{PgState, pg_error};
use super::{Backend, GatewayState, SqliteState};
use crate::db::sql_error;
use crate::time;
use chrono::Utc;
use rusqlite::{OptionalExtension, params};
use ticketgate_model::Result;

/// Where an id or number the gateway handed out really lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedId {
    pub upstream: String,
    pub upstream_id: String,
}

/// What clients of one namespace call a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayIds {
    pub id: String,
    pub number: Option<String>,
}

/// One ticket's outcome in a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyRecord {
    pub source_id: String,
    /// `copied`, `failed` or `skipped`.
    pub outcome: String,
    pub target_id: Option<String>,
    pub reason: Option<String>,
}

/// `kind` of a map row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Id,
    Number,
}

impl IdKind {
    fn as_str(self) -> &'static str {
        match self {
            IdKind::Id => "id",
            IdKind::Number => "number",
        }
    }
}

impl GatewayState {
    /// The upstream owning `key` (an id or a number) in `home`'s namespace, if mapped.
    pub async fn id_lookup(&self, home: &str, kind: IdKind, key: &str) -> Result<Option<MappedId>> {
        match &self.backend {
            Backend::Sqlite(s) => s.id_lookup(home, kind, key).await,
            Backend::Postgres(p) => p.id_lookup(home, kind, key).await,
        }
    }

    /// What `home`'s clients call the ticket `upstream_id` of `upstream`, if mapped.
    pub async fn id_reverse(
        &self,
        home: &str,
        upstream: &str,
        upstream_id: &str,
    ) -> Result<Option<GatewayIds>> {
        match &self.backend {
            Backend::Sqlite(s) => s.id_reverse(home, upstream, upstream_id).await,
            Backend::Postgres(p) => p.id_reverse(home, upstream, upstream_id).await,
        }
    }

    /// Give the ticket `upstream_id` of `upstream` a gateway id in `home`'s namespace
    /// (the one it already has, if any): `base + n`, used as its id and its number.
    pub async fn id_assign(
        &self,
        home: &str,
        upstream: &str,
        upstream_id: &str,
        base: u64,
    ) -> Result<GatewayIds> {
        match &self.backend {
            Backend::Sqlite(s) => s.id_assign(home, upstream, upstream_id, base).await,
            Backend::Postgres(p) => p.id_assign(home, upstream, upstream_id, base).await,
        }
    }

    /// A ticket moved from `from`/`from_id` to `to`/`to_id`: every id and number that
    /// named the old one now names the copy, in every namespace, and in `from`'s own
    /// namespace (where its ids passed through) the old id and number are added.
    pub async fn id_moved(
        &self,
        from: &str,
        from_id: &str,
        from_number: &str,
        to: &str,
        to_id: &str,
    ) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(s) => s.id_moved(from, from_id, from_number, to, to_id).await,
            Backend::Postgres(p) => p.id_moved(from, from_id, from_number, to, to_id).await,
        }
    }

    /// What earlier runs of a migration from `from` to `to` did, by source id.
    pub async fn copied(&self, from: &str, to: &str) -> Result<Vec<CopyRecord>> {
        match &self.backend {
            Backend::Sqlite(s) => s.copied(from, to).await,
            Backend::Postgres(p) => p.copied(from, to).await,
        }
    }

    /// The copy of `upstream`'s ticket `id` on `other`, or the ticket of `other` it is
    /// a copy of: a pair made by a migration or by the mirror, in either direction (any
    /// outcome that has a copy: `copied`, `partial`, or `failed` part-way).
    pub async fn copy_pair(&self, upstream: &str, id: &str, other: &str) -> Result<Option<String>> {
        match &self.backend {
            Backend::Sqlite(s) => s.copy_pair(upstream, id, other).await,
            Backend::Postgres(p) => p.copy_pair(upstream, id, other).await,
        }
    }

    /// Record one ticket's outcome in a migration (committed before this returns).
    pub async fn record_copy(&self, from: &str, to: &str, record: CopyRecord) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(s) => s.record_copy(from, to, record).await,
            Backend::Postgres(p) => p.record_copy(from, to, record).await,
        }
    }
}

impl SqliteState {
    async fn id_lookup(&self, home: &str, kind: IdKind, key: &str) -> Result<Option<MappedId>> {
        let (home, key) = (home.to_owned(), key.to_owned());
        self.db
            .read_short(move |c| {
                c.prepare_cached(
                    "SELECT upstream, upstream_id FROM id_map WHERE home = ?1 AND kind = ?2 AND key = ?3",
                )
                .and_then(|mut s| {
                    s.query_row(params![home, kind.as_str(), key], |r| {
                        Ok(MappedId {
                            upstream: r.get(0)?,
                            upstream_id: r.get(1)?,
                        })
                    })
                    .optional()
                })
                .map_err(sql_error)
            })
            .await
    }

    async fn id_reverse(
        &self,
        home: &str,
        upstream: &str,
        upstream_id: &str,
    ) -> Result<Option<GatewayIds>> {
        let (home, upstream, upstream_id) =
            (home.to_owned(), upstream.to_owned(), upstream_id.to_owned());
        self.db
            .read_short(move |c| reverse(c, &home, &upstream, &upstream_id))
            .await
    }

    async fn id_assign(
        &self,
        home: &str,
        upstream: &str,
        upstream_id: &str,
        base: u64,
    ) -> Result<GatewayIds> {
        let (home, upstream, upstream_id) =
            (home.to_owned(), upstream.to_owned(), upstream_id.to_owned());
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(sql_error)?;
                if let Some(ids) = reverse(&tx, &home, &upstream, &upstream_id)? {
                    return Ok(ids);
                }
                tx.execute(
                    "INSERT OR IGNORE INTO id_alloc(home, upstream, upstream_id) VALUES (?1, ?2, ?3)",
                    params![home, upstream, upstream_id],
                )
                .map_err(sql_error)?;
                let n: i64 = tx
                    .query_row(
                        "SELECT gid FROM id_alloc WHERE home = ?1 AND upstream = ?2 AND upstream_id = ?3",
                        params![home, upstream, upstream_id],
                        |r| r.get(0),
                    )
                    .map_err(sql_error)?;
                let gid = (base + n as u64).to_string();
                let now = time::to_db(&time::now());
                for kind in [IdKind::Id, IdKind::Number] {
                    tx.execute(
                        "INSERT OR REPLACE INTO id_map(home, kind, key, upstream, upstream_id, created_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![home, kind.as_str(), gid, upstream, upstream_id, now],
                    )
                    .map_err(sql_error)?;
                }
                tx.commit().map_err(sql_error)?;
                Ok(GatewayIds {
                    id: gid.clone(),
                    number: Some(gid),
                })
            })
            .await
    }

    async fn id_moved(
        &self,
        from: &str,
        from_id: &str,
        from_number: &str,
        to: &str,
        to_id: &str,
    ) -> Result<()> {
        let (from, from_id, from_number, to, to_id) = (
            from.to_owned(),
            from_id.to_owned(),
            from_number.to_owned(),
            to.to_owned(),
            to_id.to_owned(),
        );
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(sql_error)?;
                tx.execute(
                    "UPDATE id_map SET upstream = ?3, upstream_id = ?4 WHERE upstream = ?1 AND upstream_id = ?2",
                    params![from, from_id, to, to_id],
                )
                .map_err(sql_error)?;
                let now = time::to_db(&time::now());
                for (kind, key) in [(IdKind::Id, &from_id), (IdKind::Number, &from_number)] {
                    if key.is_empty() {
                        continue;
                    }
                    tx.execute(
                        "INSERT OR IGNORE INTO id_map(home, kind, key, upstream, upstream_id, created_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![from, kind.as_str(), key, to, to_id, now],
                    )
                    .map_err(sql_error)?;
                }
                tx.commit().map_err(sql_error)
            })
            .await
    }

    async fn copied(&self, from: &str, to: &str) -> Result<Vec<CopyRecord>> {
        let (from, to) = (from.to_owned(), to.to_owned());
        self.db
            .read(move |c| {
                let mut s = c
                    .prepare(
                        "SELECT source_id, outcome, target_id, reason FROM copied \
                         WHERE from_upstream = ?1 AND to_upstream = ?2",
                    )
                    .map_err(sql_error)?;
                let rows = s
                    .query_map(params![from, to], |r| {
                        Ok(CopyRecord {
                            source_id: r.get(0)?,
                            outcome: r.get(1)?,
                            target_id: r.get(2)?,
                            reason: r.get(3)?,
                        })
                    })
                    .map_err(sql_error)?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(sql_error)
            })
            .await
    }

    async fn copy_pair(&self, upstream: &str, id: &str, other: &str) -> Result<Option<String>> {
        let (upstream, id, other) = (upstream.to_owned(), id.to_owned(), other.to_owned());
        self.db
            .read_short(move |c| {
                c.prepare_cached(
                    "SELECT target_id FROM copied WHERE from_upstream = ?1 AND source_id = ?2 AND to_upstream = ?3 \
                       AND target_id IS NOT NULL \
                     UNION ALL \
                     SELECT source_id FROM copied WHERE to_upstream = ?1 AND target_id = ?2 AND from_upstream = ?3 \
                     LIMIT 1",
                )
                .and_then(|mut s| {
                    s.query_row(params![upstream, id, other], |r| r.get::<_, String>(0))
                        .optional()
                })
                .map_err(sql_error)
            })
            .await
    }

    async fn record_copy(&self, from: &str, to: &str, record: CopyRecord) -> Result<()> {
        let (from, to) = (from.to_owned(), to.to_owned());
        self.db
            .call(move |c| {
                c.execute(
                    "INSERT OR REPLACE INTO copied(from_upstream, to_upstream, source_id, outcome, target_id, reason, updated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![
                        from,
                        to,
                        record.source_id,
                        record.outcome,
                        record.target_id,
                        record.reason,
                        time::to_db(&time::now())
                    ],
                )
                .map(|_| ())
                .map_err(sql_error)
            })
            .await
    }
}

impl PgState {
    async fn id_lookup(&self, home: &str, kind: IdKind, key: &str) -> Result<Option<MappedId>> {
        let rows = self
            .query(
                "SELECT upstream, upstream_id FROM id_map WHERE home = $1 AND kind = $2 AND key = $3",
                &[&home, &kind.as_str(), &key],
            )
            .await?;
        Ok(rows.first().map(|r| MappedId {
            upstream: r.get(0),
            upstream_id: r.get(1),
        }))
    }

    async fn id_reverse(
        &self,
        home: &str,
        upstream: &str,
        upstream_id: &str,
    ) -> Result<Option<GatewayIds>> {
        let rows = self
            .query(PG_REVERSE, &[&home, &upstream, &upstream_id])
            .await?;
        Ok(pg_reverse(&rows))
    }

    /// One transaction: the ids the ticket already has, else a number from the shared
    /// identity. Two instances assigning the same ticket at once get the same number:
    /// the second `INSERT … ON CONFLICT DO NOTHING` waits for the first to commit and
    /// then reads its row.
    async fn id_assign(
        &self,
        home: &str,
        upstream: &str,
        upstream_id: &str,
        base: u64,
    ) -> Result<GatewayIds> {
        self.timed(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(pg_error)?;
            let rows = tx
                .query(PG_REVERSE, &[&home, &upstream, &upstream_id])
                .await
                .map_err(pg_error)?;
            if let Some(ids) = pg_reverse(&rows) {
                return Ok(ids);
            }
            let inserted = tx
                .query(
                    "INSERT INTO id_alloc (home, upstream, upstream_id) VALUES ($1, $2, $3) \
                     ON CONFLICT (home, upstream, upstream_id) DO NOTHING RETURNING gid",
                    &[&home, &upstream, &upstream_id],
                )
                .await
                .map_err(pg_error)?;
            let n: i64 = match inserted.first() {
                Some(r) => r.get(0),
                None => tx
                    .query_one(
                        "SELECT gid FROM id_alloc WHERE home = $1 AND upstream = $2 AND upstream_id = $3",
                        &[&home, &upstream, &upstream_id],
                    )
                    .await
                    .map_err(pg_error)?
                    .get(0),
            };
            let gid = (base + n as u64).to_string();
            let now = Utc::now();
            for kind in [IdKind::Id, IdKind::Number] {
                tx.execute(
                    "INSERT INTO id_map (home, kind, key, upstream, upstream_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (home, kind, key) DO UPDATE \
                     SET upstream = EXCLUDED.upstream, upstream_id = EXCLUDED.upstream_id",
                    &[&home, &kind.as_str(), &gid, &upstream, &upstream_id, &now],
                )
                .await
                .map_err(pg_error)?;
            }
            tx.commit().await.map_err(pg_error)?;
            Ok(GatewayIds {
                id: gid.clone(),
                number: Some(gid),
            })
        })
        .await
    }

    async fn id_moved(
        &self,
        from: &str,
        from_id: &str,
        from_number: &str,
        to: &str,
        to_id: &str,
    ) -> Result<()> {
        self.timed(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await.map_err(pg_error)?;
            tx.execute(
                "UPDATE id_map SET upstream = $3, upstream_id = $4 WHERE upstream = $1 AND upstream_id = $2",
                &[&from, &from_id, &to, &to_id],
            )
            .await
            .map_err(pg_error)?;
            let now = Utc::now();
            for (kind, key) in [(IdKind::Id, from_id), (IdKind::Number, from_number)] {
                if key.is_empty() {
                    continue;
                }
                tx.execute(
                    "INSERT INTO id_map (home, kind, key, upstream, upstream_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (home, kind, key) DO NOTHING",
                    &[&from, &kind.as_str(), &key, &to, &to_id, &now],
                )
                .await
                .map_err(pg_error)?;
            }
            tx.commit().await.map_err(pg_error)
        })
        .await
    }

    async fn copied(&self, from: &str, to: &str) -> Result<Vec<CopyRecord>> {
        let rows = self
            .query(
                "SELECT source_id, outcome, target_id, reason FROM copied \
                 WHERE from_upstream = $1 AND to_upstream = $2",
                &[&from, &to],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| CopyRecord {
                source_id: r.get(0),
                outcome: r.get(1),
                target_id: r.get(2),
                reason: r.get(3),
            })
            .collect())
    }

    async fn copy_pair(&self, upstream: &str, id: &str, other: &str) -> Result<Option<String>> {
        let rows = self
            .query(
                "(SELECT target_id FROM copied WHERE from_upstream = $1 AND source_id = $2 \
                   AND to_upstream = $3 AND target_id IS NOT NULL) \
                 UNION ALL \
                 (SELECT source_id FROM copied WHERE to_upstream = $1 AND target_id = $2 \
                   AND from_upstream = $3) \
                 LIMIT 1",
                &[&upstream, &id, &other],
            )
            .await?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    async fn record_copy(&self, from: &str, to: &str, record: CopyRecord) -> Result<()> {
        self.execute(
            "INSERT INTO copied (from_upstream, to_upstream, source_id, outcome, target_id, reason, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (from_upstream, to_upstream, source_id) DO UPDATE \
             SET outcome = EXCLUDED.outcome, target_id = EXCLUDED.target_id, \
                 reason = EXCLUDED.reason, updated_at = EXCLUDED.updated_at",
            &[
                &from,
                &to,
                &record.source_id,
                &record.outcome,
                &record.target_id,
                &record.reason,
                &Utc::now(),
            ],
        )
        .await
        .map(|_| ())
    }
}

/// A ticket's first id and first number in a namespace (the ones shown).
const PG_REVERSE: &str = "SELECT \
     (SELECT key FROM id_map WHERE home = $1 AND upstream = $2 AND upstream_id = $3 AND kind = 'id' \
      ORDER BY seq LIMIT 1), \
     (SELECT key FROM id_map WHERE home = $1 AND upstream = $2 AND upstream_id = $3 AND kind = 'number' \
      ORDER BY seq LIMIT 1)";

fn pg_reverse(rows: &[tokio_postgres::Row]) -> Option<GatewayIds> {
    let row = rows.first()?;
    let id: Option<String> = row.get(0);
    id.map(|id| GatewayIds {
        id,
        number: row.get(1),
    })
}

fn reverse(
    c: &rusqlite::Connection,
    home: &str,
    upstream: &str,
    upstream_id: &str,
) -> Result<Option<GatewayIds>> {
    let key = |kind: IdKind| {
        c.prepare_cached(
            "SELECT key FROM id_map WHERE home = ?1 AND upstream = ?2 AND upstream_id = ?3 AND kind = ?4 \
             ORDER BY rowid LIMIT 1",
        )
        .and_then(|mut s| {
            s.query_row(params![home, upstream, upstream_id, kind.as_str()], |r| {
                r.get::<_, String>(0)
            })
            .optional()
        })
        .map_err(sql_error)
    };
    Ok(match key(IdKind::Id)? {
        Some(id) => Some(GatewayIds {
            id,
            number: key(IdKind::Number)?,
        }),
        None => None,
    })
}
