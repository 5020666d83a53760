//! The embedded helpdesk: every canonical operation, for real, on SQLite.
//!
//! A ticket row keeps the canonical ticket as a JSON document (`doc`) beside the
//! columns that search, sort and statistics need; thread entries, attachments and
//! subticket links live in their own tables. Every operation is one transaction, so
//! a failure (a bad reference, a full disk) never leaves a half-written ticket.

mod search;
mod seed;

use crate::db::{Db, Durability, sql_error};
use crate::time;
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use ticketgate_model::{
    Assignment, Attachment, Body, Capabilities, Closure, Contact, DeleteMode, Document, EntryKind,
    Error, Helpdesk, LookupItem, LookupKind, NewEntry, NewTask, NewTicket, Page, Priority,
    PriorityLevel, Query, Reference, Resolution, Result, State, Stats, StatsQuery, Status, Task,
    TaskState, ThreadEntry, Ticket, TicketPatch,
};

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE lookups (
    kind  TEXT NOT NULL,
    id    TEXT NOT NULL,
    name  TEXT NOT NULL,
    state TEXT,
    level TEXT,
    parent TEXT,
    PRIMARY KEY (kind, id)
);
CREATE TABLE tickets (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    number             TEXT NOT NULL UNIQUE,
    subject            TEXT NOT NULL,
    body               TEXT NOT NULL,
    state              TEXT NOT NULL,
    status_id          TEXT, status_name     TEXT,
    priority_id        TEXT, priority_name   TEXT, priority_rank INTEGER,
    department_id      TEXT, department_name TEXT,
    category_id        TEXT, category_name   TEXT,
    topic_id           TEXT, topic_name      TEXT,
    assignee_id        TEXT, assignee_name   TEXT,
    grp_id             TEXT, grp_name        TEXT,
    requester_email    TEXT,
    requester_username TEXT,
    type               TEXT,
    source             TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    due_at             TEXT,
    parent_id          INTEGER REFERENCES tickets(id) ON DELETE SET NULL,
    doc                TEXT NOT NULL
);
CREATE INDEX tickets_state   ON tickets(state, created_at);
CREATE INDEX tickets_created ON tickets(created_at);
CREATE INDEX tickets_email   ON tickets(requester_email COLLATE NOCASE);
CREATE INDEX tickets_parent  ON tickets(parent_id);
CREATE TABLE entries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id  INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX entries_ticket ON entries(ticket_id, id);
CREATE TABLE attachments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id  INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    entry_id   INTEGER REFERENCES entries(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    media_type TEXT NOT NULL,
    inline     INTEGER NOT NULL DEFAULT 0,
    content_id TEXT,
    bytes      BLOB NOT NULL
);
CREATE INDEX attachments_ticket ON attachments(ticket_id, entry_id);
"#,
    // 2: the keys of creates delivered with one (`create_idempotent`), so a delivery
    // repeated after a lost answer finds the ticket instead of making a second one.
    r#"
CREATE TABLE create_keys (
    key        TEXT PRIMARY KEY,
    ticket_id  INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
"#,
    // 3: each body stored once (the text in its column, no longer also in the
    // document); a full-text index for searches, one row per ticket over its number,
    // subject, body and entries, holding no copy of the text (contentless) and kept in
    // step by triggers; and whether creation times so far never decrease with the id
    // (from now on they cannot: see `insert_row`), which lets a search newest-first
    // walk the index in id order.
    r#"
UPDATE tickets SET doc = json_remove(doc, '$.body.content')
    WHERE json_type(doc, '$.body.content') IS NOT NULL;
UPDATE entries SET doc = json_remove(doc, '$.body.content')
    WHERE json_type(doc, '$.body.content') IS NOT NULL;
CREATE VIRTUAL TABLE tickets_fts USING fts5(
    number, subject, body, entries,
    content = '', contentless_delete = 1, tokenize = 'trigram case_sensitive 0 remove_diacritics 1'
);
INSERT INTO tickets_fts(rowid, number, subject, body, entries)
    SELECT t.id, t.number, t.subject, t.body,
        (SELECT group_concat(e.body, char(10)) FROM
            (SELECT body FROM entries WHERE ticket_id = t.id ORDER BY id) e)
    FROM tickets t;
CREATE TRIGGER tickets_fts_insert AFTER INSERT ON tickets BEGIN
    INSERT INTO tickets_fts(rowid, number, subject, body, entries)
        VALUES (new.id, new.number, new.subject, new.body, NULL);
END;
CREATE TRIGGER tickets_fts_update AFTER UPDATE OF number, subject, body ON tickets
    WHEN old.number IS NOT new.number OR old.subject IS NOT new.subject
        OR old.body IS NOT new.body BEGIN
    INSERT OR REPLACE INTO tickets_fts(rowid, number, subject, body, entries)
        SELECT new.id, new.number, new.subject, new.body,
            (SELECT group_concat(e.body, char(10)) FROM
                (SELECT body FROM entries WHERE ticket_id = new.id ORDER BY id) e);
END;
CREATE TRIGGER tickets_fts_delete AFTER DELETE ON tickets BEGIN
    DELETE FROM tickets_fts WHERE rowid = old.id;
END;
CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
    INSERT OR REPLACE INTO tickets_fts(rowid, number, subject, body, entries)
        SELECT t.id, t.number, t.subject, t.body,
            (SELECT group_concat(e.body, char(10)) FROM
                (SELECT body FROM entries WHERE ticket_id = t.id ORDER BY id) e)
        FROM tickets t WHERE t.id = new.ticket_id;
END;
CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
    INSERT OR REPLACE INTO tickets_fts(rowid, number, subject, body, entries)
        SELECT t.id, t.number, t.subject, t.body,
            (SELECT group_concat(e.body, char(10)) FROM
                (SELECT body FROM entries WHERE ticket_id = t.id ORDER BY id) e)
        FROM tickets t WHERE t.id = old.ticket_id;
END;
CREATE TABLE meta (key TEXT PRIMARY KEY, value);
INSERT INTO meta(key, value) SELECT 'created_follows_id', NOT EXISTS (
    SELECT 1 FROM (SELECT created_at < lag(created_at) OVER (ORDER BY id) AS back FROM tickets)
    WHERE back);
"#,
    // 4: documents. A file may be kept on its own (no ticket yet: an ITSM-NG client
    // uploads a document, then links it), so `ticket_id` may be null; a document has
    // a title beside its file name, and a creation time. SQLite cannot relax a NOT
    // NULL in place: the table is rebuilt, ids and the id sequence kept.
    r#"
CREATE TABLE attachments_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id  INTEGER REFERENCES tickets(id) ON DELETE CASCADE,
    entry_id   INTEGER REFERENCES entries(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    media_type TEXT NOT NULL,
    inline     INTEGER NOT NULL DEFAULT 0,
    content_id TEXT,
    bytes      BLOB NOT NULL,
    title      TEXT,
    created_at TEXT
);
INSERT INTO attachments_new(id, ticket_id, entry_id, name, media_type, inline, content_id, bytes)
    SELECT id, ticket_id, entry_id, name, media_type, inline, content_id, bytes FROM attachments;
INSERT INTO sqlite_sequence(name, seq)
    SELECT 'attachments_new', seq FROM sqlite_sequence WHERE name = 'attachments'
    AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'attachments_new');
UPDATE sqlite_sequence SET seq = max(seq, coalesce(
    (SELECT seq FROM sqlite_sequence WHERE name = 'attachments'), 0))
    WHERE name = 'attachments_new';
DROP TABLE attachments;
ALTER TABLE attachments_new RENAME TO attachments;
CREATE INDEX attachments_ticket ON attachments(ticket_id, entry_id);
"#,
    // 5: tasks, the planned or done work on a ticket (state, time spent, assignee).
    r#"
CREATE TABLE tasks (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id     INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    body          TEXT NOT NULL,
    state         TEXT NOT NULL,
    duration_secs INTEGER NOT NULL DEFAULT 0,
    assignee_id   TEXT,
    assignee_name TEXT,
    private       INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
);
CREATE INDEX tasks_ticket ON tasks(ticket_id, id);
"#,
    // 6: the full-text index is brought up to date once per group commit instead of
    // once per write. FTS5 writes what it holds to disk at every savepoint, and each
    // write of a batch runs in a savepoint of its own, so every create made a segment
    // of its own (then merged with the others). The triggers now note which tickets
    // changed; the writer indexes them all just before the batch commits (see
    // `index_pending`), in the same transaction. Deletions still go at once.
    r#"
CREATE TABLE fts_pending (ticket_id INTEGER PRIMARY KEY);
DROP TRIGGER tickets_fts_insert;
DROP TRIGGER tickets_fts_update;
DROP TRIGGER tickets_fts_delete;
DROP TRIGGER entries_fts_insert;
DROP TRIGGER entries_fts_delete;
CREATE TRIGGER tickets_fts_insert AFTER INSERT ON tickets BEGIN
    INSERT OR IGNORE INTO fts_pending(ticket_id) VALUES (new.id);
END;
CREATE TRIGGER tickets_fts_update AFTER UPDATE OF number, subject, body ON tickets
    WHEN old.number IS NOT new.number OR old.subject IS NOT new.subject
        OR old.body IS NOT new.body BEGIN
    INSERT OR IGNORE INTO fts_pending(ticket_id) VALUES (new.id);
END;
CREATE TRIGGER tickets_fts_delete AFTER DELETE ON tickets BEGIN
    DELETE FROM fts_pending WHERE ticket_id = old.id;
    DELETE FROM tickets_fts WHERE rowid = old.id;
END;
CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
    INSERT OR IGNORE INTO fts_pending(ticket_id) VALUES (new.ticket_id);
END;
CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
    INSERT OR IGNORE INTO fts_pending(ticket_id) VALUES (old.ticket_id);
END;
"#,
];

/// Index the tickets the batch's writes changed (noted in `fts_pending` by the
/// triggers of migration 6): run by the writer before each group commit, in its
/// transaction, so a committed ticket is always searchable as committed.
fn index_pending(c: &rusqlite::Connection) -> rusqlite::Result<()> {
    let pending: bool = c
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM fts_pending)")?
        .query_row([], |r| r.get(0))?;
    if !pending {
        return Ok(());
    }
    c.prepare_cached(
        "INSERT OR REPLACE INTO tickets_fts(rowid, number, subject, body, entries) \
         SELECT t.id, t.number, t.subject, t.body, \
             (SELECT group_concat(e.body, char(10)) FROM \
                 (SELECT body FROM entries WHERE ticket_id = t.id ORDER BY id) e) \
         FROM fts_pending p JOIN tickets t ON t.id = p.ticket_id",
    )?
    .execute([])?;
    c.prepare_cached("DELETE FROM fts_pending")?.execute([])?;
    Ok(())
}

/// Display numbers start here, so they are six digits like a stock osTicket's.
const FIRST_NUMBER: i64 = 100_000;

/// The deepest subticket chain walked when checking a link for cycles.
const MAX_LINK_DEPTH: usize = 1_000;

/// Read-only connections beside the writer.
const READERS: usize = 4;

/// The embedded helpdesk, on `helpdesk.sqlite` in the data directory.
#[derive(Clone)]
pub struct EmbeddedHelpdesk {
    db: Db,
    /// Creation times never decrease with the id (true of every database made or
    /// migrated by this version whose clock never went back before): newest-first is
    /// then id order.
    created_follows_id: bool,
}

impl EmbeddedHelpdesk {
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, Durability::Full)
    }

    pub fn open_with(path: &Path, durability: Durability) -> Result<Self> {
        let db = Db::open(path, durability, MIGRATIONS)?
            .before_each_commit(std::sync::Arc::new(index_pending));
        db.call_blocking(seed_lookups)?;
        // Gets, searches and stats read beside the writer.
        let db = db.with_readers(READERS)?;
        let created_follows_id = db.call_blocking(|c| {
            c.query_row(
                "SELECT value FROM meta WHERE key = 'created_follows_id'",
                [],
                |r| r.get::<_, bool>(0),
            )
            .optional()
            .map_err(sql_error)
        })?;
        Ok(Self {
            db,
            created_follows_id: created_follows_id.unwrap_or(false),
        })
    }

    pub fn path(&self) -> &Path {
        self.db.path()
    }

    /// Make sure each name is a known agent, so a caller who picks a ticket up as
    /// itself (a TicketsApi token's `sub`, a consumer's name) can be assigned. Names
    /// already known, by name, are left alone; new ones get the next free id.
    pub fn ensure_agents<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Result<()> {
        let names: Vec<String> = names
            .into_iter()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
        self.db.call_blocking(move |conn| {
            let tx = conn.transaction().map_err(sql_error)?;
            for name in &names {
                let known: i64 = cached_row(&tx,
                        "SELECT count(*) FROM lookups WHERE kind = 'agents' AND name = ?1 COLLATE NOCASE",
                        [name],
                        |r| r.get(0),
                    )
                    .map_err(sql_error)?;
                if known == 0 {
                    cached_exec(&tx,
                        "INSERT INTO lookups(kind, id, name) SELECT 'agents', \
                         CAST(COALESCE(MAX(CAST(id AS INTEGER)), 0) + 1 AS TEXT), ?1 \
                         FROM lookups WHERE kind = 'agents'",
                        [name],
                    )
                    .map_err(sql_error)?;
                }
            }
            tx.commit().map_err(sql_error)
        })
    }

    /// A cheap write-and-read probe for `/readyz`.
    /// Forget the delivery keys of creates made before `before`: a delivery repeated
    /// later than that is not expected (the outbox gives up long before), so the keys
    /// would only grow the file. Returns how many went.
    pub async fn prune_create_keys(&self, before: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        let before = time::to_db(&before);
        self.db
            .write(move |c| {
                cached_exec(
                    c,
                    "DELETE FROM create_keys WHERE created_at < ?1",
                    [&before],
                )
                .map(|n| n as u64)
                .map_err(sql_error)
            })
            .await
    }

    /// A cheap read probe for `/readyz`, on a read-only connection.
    pub async fn probe(&self) -> Result<()> {
        self.db
            .read(|c| {
                c.query_row("SELECT count(*) FROM lookups", [], |r| r.get::<_, i64>(0))
                    .map_err(sql_error)?;
                Ok(())
            })
            .await
    }
}

fn seed_lookups(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction().map_err(sql_error)?;
    let present: i64 =
        cached_row(&tx, "SELECT count(*) FROM lookups", [], |r| r.get(0)).map_err(sql_error)?;
    if present == 0 {
        for row in seed::SEED {
            cached_exec(
                &tx,
                "INSERT INTO lookups(kind, id, name, state, level) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    row.kind.as_str(),
                    row.id.to_string(),
                    row.name,
                    row.state.map(State::as_str),
                    row.level.map(PriorityLevel::as_str),
                ],
            )
            .map_err(sql_error)?;
        }
    }
    tx.commit().map_err(sql_error)
}

#[async_trait]
impl Helpdesk for EmbeddedHelpdesk {
    fn name(&self) -> &str {
        "embedded"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::all()
    }

    async fn create(&self, ticket: NewTicket) -> Result<Ticket> {
        ticket.validate()?;
        self.db.write(move |tx| insert_ticket(tx, ticket)).await
    }

    async fn create_idempotent(&self, ticket: NewTicket, key: &str) -> Result<Ticket> {
        if key.is_empty() {
            return self.create(ticket).await;
        }
        ticket.validate()?;
        let key = key.to_owned();
        self.db
            .write(move |tx| {
                let known: Option<i64> = cached_row(tx,
                        "SELECT ticket_id FROM create_keys WHERE key = ?1",
                        [&key],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sql_error)?;
                let id = match known {
                    Some(id) => id,
                    None => {
                        let t = insert_ticket(tx, ticket)?;
                        tx.prepare_cached(
                            "INSERT INTO create_keys(key, ticket_id, created_at) VALUES (?1, ?2, ?3)",
                        )
                        .and_then(|mut s| s.execute(params![key, t.id, time::to_db(&t.created_at)]))
                        .map_err(sql_error)?;
                        return Ok(t);
                    }
                };
                let t = load_ticket(tx, id).map_err(|e| {
                    if e.kind == ticketgate_model::ErrorKind::NotFound {
                        Error::not_found(format!(
                            "the ticket created with this key (id {id}) has since been purged"
                        ))
                    } else {
                        e
                    }
                })?;
                Ok(t)
            })
            .await
    }

    async fn get(&self, id: &str) -> Result<Ticket> {
        let id = parse_id(id)?;
        self.db.read_short(move |c| load_ticket(c, id)).await
    }

    async fn update(&self, id: &str, patch: TicketPatch) -> Result<Ticket> {
        patch.validate()?;
        let id = parse_id(id)?;
        self.db
            .write(move |tx| {
                let mut t = load_row(tx, id)?;
                apply_patch(tx, &mut t, patch)?;
                save_row(tx, &t)?;
                let t = load_ticket(tx, id)?;
                Ok(t)
            })
            .await
    }

    async fn delete(&self, id: &str, mode: DeleteMode) -> Result<()> {
        let id = parse_id(id)?;
        self.db
            .write(move |tx| {
                let mut t = load_row(tx, id)?;
                match mode {
                    DeleteMode::Soft => {
                        t.status = resolve_status(tx, &Reference::name(State::Deleted.as_str()))?;
                        t.updated_at = time::now();
                        save_row(tx, &t)?;
                    }
                    DeleteMode::Purge => {
                        cached_exec(tx, "DELETE FROM tickets WHERE id = ?1", [id])
                            .map_err(sql_error)?;
                    }
                }
                Ok(())
            })
            .await
    }

    async fn search(&self, query: &Query) -> Result<Page<Ticket>> {
        let query = query.clone();
        let ordered = self.created_follows_id;
        self.db
            .read(move |c| search_tickets(c, &query, ordered))
            .await
    }

    async fn add_entry(&self, id: &str, entry: NewEntry) -> Result<ThreadEntry> {
        entry.validate()?;
        let id = parse_id(id)?;
        self.db
            .write(move |tx| {
                let mut t = load_row(tx, id)?;
                if t.status.state == State::Deleted {
                    return Err(Error::conflict(format!("ticket {} is deleted", t.number)));
                }
                let reopen = entry.reopen
                    && matches!(
                        t.status.state,
                        State::Resolved | State::Closed | State::Pending
                    );
                let e = insert_entry(
                    tx,
                    id,
                    entry.kind,
                    entry.body,
                    entry.author,
                    entry.attachments,
                    entry.email,
                )?;
                // An agent's reply leaves a new ticket new, as GLPI does (its differential
                // test checks this); Request Tracker opens it instead, so a mirror onto RT
                // counts that status difference.
                if reopen {
                    t.status = resolve_status(tx, &Reference::name(State::Open.as_str()))?;
                    t.solved_at = None;
                    t.closed_at = None;
                }
                t.updated_at = time::now();
                save_row(tx, &t)?;
                Ok(e)
            })
            .await
    }

    async fn resolve(&self, id: &str, resolution: Resolution) -> Result<Ticket> {
        let id = parse_id(id)?;
        self.db
            .write(move |tx| {
                let mut t = load_row(tx, id)?;
                refuse_if_deleted(&t)?;
                if let Some(body) = resolution.body.filter(|b| !b.content.trim().is_empty()) {
                    insert_entry(
                        tx,
                        id,
                        EntryKind::Response,
                        body,
                        resolution.author,
                        vec![],
                        None,
                    )?;
                }
                let now = time::now();
                t.status = resolve_status(tx, &Reference::name(State::Resolved.as_str()))?;
                t.solved_at = Some(now);
                t.updated_at = now;
                save_row(tx, &t)?;
                let t = load_ticket(tx, id)?;
                Ok(t)
            })
            .await
    }

    async fn close(&self, id: &str, closure: Closure) -> Result<Ticket> {
        let id = parse_id(id)?;
        self.db
            .write(move |tx| {
                let mut t = load_row(tx, id)?;
                refuse_if_deleted(&t)?;
                if let Some(note) = closure.note.filter(|n| !n.trim().is_empty()) {
                    insert_entry(
                        tx,
                        id,
                        EntryKind::Note,
                        Body::text(note),
                        None,
                        vec![],
                        None,
                    )?;
                }
                let now = time::now();
                t.status = resolve_status(tx, &Reference::name(State::Closed.as_str()))?;
                t.solved_at = t.solved_at.or(Some(now));
                t.closed_at = Some(now);
                t.updated_at = now;
                save_row(tx, &t)?;
                let t = load_ticket(tx, id)?;
                Ok(t)
            })
            .await
    }

    async fn assign(&self, id: &str, assignment: Assignment) -> Result<Ticket> {
        if assignment.assignee.is_none() && assignment.group.is_none() && assignment.team.is_none()
        {
            return Err(
                Error::bad_input("an assignment needs an assignee, a group or a team")
                    .field("assignee"),
            );
        }
        let id = parse_id(id)?;
        self.db
            .write(move |tx| {
                let mut t = load_row(tx, id)?;
                refuse_if_deleted(&t)?;
                if let Some(a) = &assignment.assignee {
                    t.assignee = Some(resolve_lookup(tx, LookupKind::Agents, a, "assignee")?);
                }
                if let Some(g) = &assignment.group {
                    t.group = Some(resolve_lookup(tx, LookupKind::Groups, g, "group")?);
                }
                if let Some(team) = assignment.team {
                    t.team = Some(team);
                }
                // Taking a ticket in hand moves it out of "new", as every vendor does.
                if t.status.state == State::New {
                    t.status = resolve_status(tx, &Reference::name(State::Open.as_str()))?;
                }
                t.updated_at = time::now();
                save_row(tx, &t)?;
                let t = load_ticket(tx, id)?;
                Ok(t)
            })
            .await
    }

    async fn attach(&self, id: &str, files: Vec<Attachment>) -> Result<Vec<Attachment>> {
        if files.is_empty() {
            return Err(Error::bad_input("no files to attach").field("attachments"));
        }
        if files.iter().any(|f| f.name.trim().is_empty()) {
            return Err(Error::bad_input("every attachment needs a name").field("attachments"));
        }
        let id = parse_id(id)?;
        self.db
            .write(move |tx| {
                let mut t = load_row(tx, id)?;
                refuse_if_deleted(&t)?;
                let stored = files
                    .into_iter()
                    .map(|f| insert_attachment(tx, Some(id), None, f))
                    .collect::<Result<Vec<_>>>()?;
                t.updated_at = time::now();
                save_row(tx, &t)?;
                Ok(stored)
            })
            .await
    }

    async fn add_document(
        &self,
        title: &str,
        file: Attachment,
        ticket: Option<&str>,
    ) -> Result<Document> {
        if file.name.trim().is_empty() {
            return Err(Error::bad_input("a document needs a file name").field("attachments"));
        }
        let ticket = ticket.map(parse_id).transpose()?;
        let title = title.trim().to_owned();
        self.db
            .write(move |tx| {
                if let Some(id) = ticket {
                    let mut t = load_row(tx, id)?;
                    refuse_if_deleted(&t)?;
                    t.updated_at = time::now();
                    save_row(tx, &t)?;
                }
                let now = time::now();
                let stored = insert_attachment(tx, ticket, None, file)?;
                let id = stored.id.clone().unwrap_or_default();
                cached_exec(
                    tx,
                    "UPDATE attachments SET title = ?2, created_at = ?3 WHERE id = ?1",
                    params![id, title, time::to_db(&now)],
                )
                .map_err(sql_error)?;
                Ok(Document {
                    id,
                    title: if title.is_empty() {
                        stored.name.clone()
                    } else {
                        title
                    },
                    ticket: ticket.map(|t| t.to_string()),
                    file: stored,
                    created_at: now,
                })
            })
            .await
    }

    async fn document(&self, id: &str) -> Result<Document> {
        let id = parse_document_id(id)?;
        self.db.read_short(move |c| load_document(c, id)).await
    }

    async fn link_document(&self, id: &str, ticket: &str) -> Result<Document> {
        let id = parse_document_id(id)?;
        let ticket = parse_id(ticket)?;
        self.db
            .write(move |tx| {
                let doc = load_document(tx, id)?;
                let mut t = load_row(tx, ticket)?;
                match doc.ticket.as_deref() {
                    Some(linked) if linked == ticket.to_string() => {
                        return Err(Error::conflict(format!(
                            "document {id} is already linked to ticket {}",
                            t.number
                        )));
                    }
                    Some(linked) => {
                        return Err(Error::conflict(format!(
                            "document {id} is linked to ticket {linked}; a document links to one ticket"
                        )));
                    }
                    None => {}
                }
                refuse_if_deleted(&t)?;
                cached_exec(
                    tx,
                    "UPDATE attachments SET ticket_id = ?2 WHERE id = ?1",
                    params![id, ticket],
                )
                .map_err(sql_error)?;
                t.updated_at = time::now();
                save_row(tx, &t)?;
                load_document(tx, id)
            })
            .await
    }

    async fn tasks(&self, id: &str) -> Result<Vec<Task>> {
        let id = parse_id(id)?;
        self.db
            .read_short(move |c| {
                load_row(c, id)?;
                load_tasks(c, id)
            })
            .await
    }

    async fn add_task(&self, id: &str, task: NewTask) -> Result<Task> {
        if task.body.trim().is_empty() {
            return Err(Error::bad_input("a task needs a description").field("body"));
        }
        let id = parse_id(id)?;
        self.db
            .write(move |tx| {
                let mut t = load_row(tx, id)?;
                refuse_if_deleted(&t)?;
                let assignee = match &task.assignee {
                    Some(r) => Some(resolve_lookup(tx, LookupKind::Agents, r, "assignee")?),
                    None => None,
                };
                let now = time::now();
                let state = match task.state {
                    TaskState::Info => "info",
                    TaskState::Todo => "todo",
                    TaskState::Done => "done",
                };
                let task_id = tx
                    .prepare_cached(
                        "INSERT INTO tasks(ticket_id, body, state, duration_secs, assignee_id, \
                         assignee_name, private, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    )
                    .and_then(|mut s| {
                        s.insert(params![
                            id,
                            task.body,
                            state,
                            i64::try_from(task.duration_secs).unwrap_or(i64::MAX),
                            assignee.as_ref().and_then(|a| a.id.clone()),
                            assignee.as_ref().and_then(|a| a.name.clone()),
                            task.private,
                            time::to_db(&now)
                        ])
                    })
                    .map_err(sql_error)?;
                t.updated_at = now;
                save_row(tx, &t)?;
                Ok(Task {
                    id: task_id.to_string(),
                    ticket: id.to_string(),
                    body: task.body,
                    state: task.state,
                    duration_secs: task.duration_secs,
                    assignee,
                    private: task.private,
                    created_at: now,
                })
            })
            .await
    }

    async fn link(&self, parent: &str, child: &str) -> Result<()> {
        let (parent, child) = (parse_id(parent)?, parse_id(child)?);
        if parent == child {
            return Err(Error::bad_input("a ticket cannot be its own subticket"));
        }
        self.db
            .write(move |tx| {
                let p = load_row(tx, parent)?;
                let ch = load_row(tx, child)?;
                match parent_of(tx, child)? {
                    Some(existing) if existing == parent => {
                        return Err(Error::conflict(format!(
                            "ticket {} is already a subticket of {}",
                            ch.number, p.number
                        )));
                    }
                    Some(_) => {
                        return Err(Error::conflict(format!(
                            "ticket {} already has a parent",
                            ch.number
                        )));
                    }
                    None => {}
                }
                // Walking up from the new parent must not reach the child.
                let mut cursor = parent_of(tx, parent)?;
                let mut depth = 0;
                while let Some(up) = cursor {
                    if up == child || depth > MAX_LINK_DEPTH {
                        return Err(Error::conflict(format!(
                            "linking {} under {} would create a circular dependency",
                            ch.number, p.number
                        )));
                    }
                    cursor = parent_of(tx, up)?;
                    depth += 1;
                }
                cached_exec(
                    tx,
                    "UPDATE tickets SET parent_id = ?1 WHERE id = ?2",
                    [parent, child],
                )
                .map_err(sql_error)?;
                Ok(())
            })
            .await
    }

    async fn unlink(&self, parent: &str, child: &str) -> Result<()> {
        let (parent, child) = (parse_id(parent)?, parse_id(child)?);
        self.db
            .write(move |tx| {
                let p = load_row(tx, parent)?;
                let ch = load_row(tx, child)?;
                if parent_of(tx, child)? != Some(parent) {
                    return Err(Error::not_found(format!(
                        "ticket {} is not a subticket of {}",
                        ch.number, p.number
                    )));
                }
                cached_exec(
                    tx,
                    "UPDATE tickets SET parent_id = NULL WHERE id = ?1",
                    [child],
                )
                .map_err(sql_error)?;
                Ok(())
            })
            .await
    }

    async fn parent(&self, id: &str) -> Result<Option<Ticket>> {
        let id = parse_id(id)?;
        self.db
            .read(move |c| {
                load_row(c, id)?;
                match parent_of(c, id)? {
                    Some(p) => Ok(Some(load_row_with_links(c, p)?)),
                    None => Ok(None),
                }
            })
            .await
    }

    async fn children(&self, id: &str) -> Result<Vec<Ticket>> {
        let id = parse_id(id)?;
        self.db
            .read(move |c| {
                if !ticket_exists(c, id)? {
                    return Err(Error::not_found(format!("ticket {id} not found")));
                }
                let mut stmt = c
                    .prepare_cached(&format!(
                        "SELECT {ROW_COLUMNS} FROM tickets WHERE parent_id = ?1 ORDER BY id"
                    ))
                    .map_err(sql_error)?;
                let mut rows = stmt.query([id]).map_err(sql_error)?;
                let mut children = Vec::new();
                while let Some(r) = rows.next().map_err(sql_error)? {
                    children.push(ticket_from_row(r).map_err(sql_error)??);
                }
                Ok(children)
            })
            .await
    }

    async fn stats(&self, query: &StatsQuery) -> Result<Stats> {
        let query = query.clone();
        self.db.read(move |c| stats(c, &query)).await
    }

    async fn lookup(&self, kind: LookupKind) -> Result<Vec<LookupItem>> {
        self.db
            .read(move |c| {
                let mut stmt = c
                    .prepare_cached(
                        "SELECT id, name, state, level, parent FROM lookups WHERE kind = ?1 \
                         ORDER BY CAST(id AS INTEGER), id",
                    )
                    .map_err(sql_error)?;
                let rows = stmt
                    .query_map([kind.as_str()], |r| {
                        Ok(LookupItem {
                            id: r.get(0)?,
                            name: r.get(1)?,
                            state: r.get::<_, Option<String>>(2)?.and_then(|s| s.parse().ok()),
                            level: r.get::<_, Option<String>>(3)?.and_then(|s| s.parse().ok()),
                            parent: r.get(4)?,
                        })
                    })
                    .map_err(sql_error)?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(sql_error)
            })
            .await
    }
}

/// `query_row` through the connection's statement cache.
fn cached_row<T, P, F>(c: &Connection, sql: &str, params: P, f: F) -> rusqlite::Result<T>
where
    P: rusqlite::Params,
    F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
{
    c.prepare_cached(sql)?.query_row(params, f)
}

/// `execute` through the connection's statement cache.
fn cached_exec<P: rusqlite::Params>(
    c: &Connection,
    sql: &str,
    params: P,
) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(params)
}

fn parse_id(id: &str) -> Result<i64> {
    id.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::not_found(format!("ticket {id} not found")))
}

/// A ticket's tasks, oldest first.
fn load_tasks(c: &Connection, ticket: i64) -> Result<Vec<Task>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT id, body, state, duration_secs, assignee_id, assignee_name, private, created_at \
             FROM tasks WHERE ticket_id = ?1 ORDER BY id",
        )
        .map_err(sql_error)?;
    let rows = stmt
        .query_map([ticket], |r| {
            let state: String = r.get(2)?;
            let assignee_id: Option<String> = r.get(4)?;
            let assignee_name: Option<String> = r.get(5)?;
            let created: String = r.get(7)?;
            Ok(Task {
                id: r.get::<_, i64>(0)?.to_string(),
                ticket: ticket.to_string(),
                body: r.get(1)?,
                state: match state.as_str() {
                    "info" => TaskState::Info,
                    "done" => TaskState::Done,
                    _ => TaskState::Todo,
                },
                duration_secs: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                assignee: match (assignee_id, assignee_name) {
                    (None, None) => None,
                    (id, name) => Some(Reference { id, name }),
                },
                private: r.get(6)?,
                created_at: time::from_db(&created).unwrap_or_else(time::now),
            })
        })
        .map_err(sql_error)?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql_error)
}

fn parse_document_id(id: &str) -> Result<i64> {
    id.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::not_found(format!("document {id} not found")))
}

/// A document: a file kept on its own, or any attachment of a ticket or an entry.
fn load_document(c: &Connection, id: i64) -> Result<Document> {
    c.prepare_cached(
        "SELECT id, name, media_type, inline, content_id, bytes, ticket_id, title, created_at \
         FROM attachments WHERE id = ?1",
    )
    .and_then(|mut s| {
        s.query_row([id], |r| {
            let file = attachment_from_row(r)?;
            let ticket: Option<i64> = r.get(6)?;
            let title: Option<String> = r.get(7)?;
            let created: Option<String> = r.get(8)?;
            Ok((file, ticket, title, created))
        })
        .optional()
    })
    .map_err(sql_error)?
    .map(|(file, ticket, title, created)| {
        // Attachments stored before documents had a title or a time of their own:
        // the file's name, and the time of the ticket they belong to.
        let created_at = match (created.as_deref().and_then(time::from_db), ticket) {
            (Some(t), _) => t,
            (None, Some(t)) => load_row(c, t)
                .map(|t| t.created_at)
                .unwrap_or_else(|_| time::now()),
            (None, None) => time::now(),
        };
        Document {
            id: id.to_string(),
            title: title
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| file.name.clone()),
            ticket: ticket.map(|t| t.to_string()),
            file,
            created_at,
        }
    })
    .ok_or_else(|| Error::not_found(format!("document {id} not found")))
}

fn refuse_if_deleted(t: &Ticket) -> Result<()> {
    if t.status.state == State::Deleted {
        return Err(Error::conflict(format!("ticket {} is deleted", t.number)));
    }
    Ok(())
}

/// Write a new ticket; returns it as stored.
fn insert_ticket(tx: &Connection, n: NewTicket) -> Result<Ticket> {
    let now = time::now();
    let status = match &n.status {
        Some(r) => resolve_status(tx, r)?,
        None => resolve_status(tx, &Reference::name(State::New.as_str()))?,
    };
    let priority = match &n.priority {
        Some(r) => Some(resolve_priority(tx, r)?),
        None => None,
    };
    let mut t = Ticket {
        id: String::new(),
        number: String::new(),
        subject: n.subject.trim().to_owned(),
        body: n.body,
        requester: n.requester,
        cc: n.cc,
        status,
        priority,
        urgency: n.urgency,
        impact: n.impact,
        ticket_type: n.ticket_type,
        category: opt_lookup(tx, LookupKind::Categories, n.category.as_ref(), "category")?,
        topic: opt_lookup(tx, LookupKind::Topics, n.topic.as_ref(), "topic")?,
        department: opt_lookup(
            tx,
            LookupKind::Departments,
            n.department.as_ref(),
            "department",
        )?,
        group: opt_lookup(tx, LookupKind::Groups, n.group.as_ref(), "group")?,
        team: n.team,
        assignee: opt_lookup(tx, LookupKind::Agents, n.assignee.as_ref(), "assignee")?,
        location: opt_lookup(tx, LookupKind::Locations, n.location.as_ref(), "location")?,
        entity: n.entity,
        sla: opt_lookup(tx, LookupKind::Slas, n.sla.as_ref(), "sla")?,
        due_at: n.due_at,
        created_at: now,
        updated_at: now,
        solved_at: None,
        closed_at: None,
        source: n.source,
        client_ip: n.client_ip,
        attachments: Vec::new(),
        entries: Vec::new(),
        parent: None,
        children: Vec::new(),
        custom_fields: n.custom_fields,
        email: n.email,
    };
    if t.status.state == State::Resolved {
        t.solved_at = Some(now);
    }
    if t.status.state == State::Closed {
        t.solved_at = Some(now);
        t.closed_at = Some(now);
    }
    let parent = match n.parent.as_deref() {
        Some(p) => {
            let pid = parse_id(p)
                .ok()
                .filter(|pid| ticket_exists(tx, *pid).unwrap_or(false));
            Some(pid.ok_or_else(|| {
                Error::bad_input(format!("parent ticket {p} not found")).field("parent")
            })?)
        }
        None => None,
    };
    let id = insert_row(tx, &mut t)?;
    if let Some(pid) = parent {
        tx.prepare_cached("UPDATE tickets SET parent_id = ?1 WHERE id = ?2")
            .and_then(|mut s| s.execute([pid, id]))
            .map_err(sql_error)?;
        t.parent = Some(pid.to_string());
    }
    for a in n.attachments {
        t.attachments
            .push(insert_attachment(tx, Some(id), None, a)?);
    }
    if let Some(note) = n.note.filter(|s| !s.trim().is_empty()) {
        t.entries.push(insert_entry(
            tx,
            id,
            EntryKind::Note,
            Body::text(note),
            None,
            vec![],
            None,
        )?);
    }
    Ok(t)
}

fn apply_patch(tx: &Connection, t: &mut Ticket, p: TicketPatch) -> Result<()> {
    if p.is_empty() {
        return Err(Error::bad_input("the update changes nothing"));
    }
    let now = time::now();
    if let Some(s) = p.subject {
        t.subject = s.trim().to_owned();
    }
    if let Some(b) = p.body {
        t.body = b;
    }
    if let Some(r) = &p.status {
        let before = t.status.state;
        t.status = resolve_status(tx, r)?;
        match t.status.state {
            State::Resolved if before != State::Resolved => t.solved_at = Some(now),
            State::Closed if before != State::Closed => {
                t.solved_at = t.solved_at.or(Some(now));
                t.closed_at = Some(now);
            }
            State::New | State::Open | State::Pending => {
                t.solved_at = None;
                t.closed_at = None;
            }
            _ => {}
        }
    }
    if let Some(r) = &p.priority {
        t.priority = Some(resolve_priority(tx, r)?);
    }
    if p.urgency.is_some() {
        t.urgency = p.urgency;
    }
    if p.impact.is_some() {
        t.impact = p.impact;
    }
    if p.ticket_type.is_some() {
        t.ticket_type = p.ticket_type;
    }
    let lookups = [
        (
            LookupKind::Categories,
            p.category.as_ref(),
            "category",
            &mut t.category,
        ),
        (LookupKind::Topics, p.topic.as_ref(), "topic", &mut t.topic),
        (
            LookupKind::Departments,
            p.department.as_ref(),
            "department",
            &mut t.department,
        ),
        (LookupKind::Groups, p.group.as_ref(), "group", &mut t.group),
        (
            LookupKind::Agents,
            p.assignee.as_ref(),
            "assignee",
            &mut t.assignee,
        ),
        (
            LookupKind::Locations,
            p.location.as_ref(),
            "location",
            &mut t.location,
        ),
        (LookupKind::Slas, p.sla.as_ref(), "sla", &mut t.sla),
    ];
    for (kind, reference, field, slot) in lookups {
        if let Some(r) = reference {
            *slot = Some(resolve_lookup(tx, kind, r, field)?);
        }
    }
    if p.team.is_some() {
        t.team = p.team;
    }
    if p.entity.is_some() {
        t.entity = p.entity;
    }
    if p.due_at.is_some() {
        t.due_at = p.due_at;
    }
    if let Some(r) = p.requester {
        t.requester = r;
    }
    t.custom_fields.extend(p.custom_fields);
    if let Some(note) = p.note.filter(|n| !n.trim().is_empty()) {
        let id = parse_id(&t.id)?;
        insert_entry(
            tx,
            id,
            EntryKind::Note,
            Body::text(note),
            None,
            vec![],
            None,
        )?;
    }
    t.updated_at = now;
    Ok(())
}

fn opt_lookup(
    tx: &Connection,
    kind: LookupKind,
    r: Option<&Reference>,
    field: &str,
) -> Result<Option<Reference>> {
    r.filter(|r| !r.is_empty())
        .map(|r| resolve_lookup(tx, kind, r, field))
        .transpose()
}

/// Resolve an id-or-name reference against a look-up list; an unknown one is a 400
/// that names the field and the value, and lists what would have matched.
fn resolve_lookup(
    c: &Connection,
    kind: LookupKind,
    r: &Reference,
    field: &str,
) -> Result<Reference> {
    let found: Option<(String, String)> = match (&r.id, &r.name) {
        (Some(id), _) => cached_row(
            c,
            "SELECT id, name FROM lookups WHERE kind = ?1 AND id = ?2",
            params![kind.as_str(), id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(sql_error)?,
        (None, Some(name)) => cached_row(
            c,
            "SELECT id, name FROM lookups WHERE kind = ?1 AND name = ?2 COLLATE NOCASE",
            params![kind.as_str(), name.trim()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(sql_error)?,
        (None, None) => None,
    };
    match found {
        Some((id, name)) => Ok(Reference::both(id, name)),
        None => {
            let mut stmt = c
                .prepare_cached(
                    "SELECT name FROM lookups WHERE kind = ?1 ORDER BY CAST(id AS INTEGER)",
                )
                .map_err(sql_error)?;
            let names = stmt
                .query_map([kind.as_str()], |row| row.get::<_, String>(0))
                .map_err(sql_error)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sql_error)?;
            Err(Error::bad_input(format!(
                "unknown {field} {:?} (known: {})",
                r.label(),
                names.join(", ")
            ))
            .field(field))
        }
    }
}

/// A status reference may be a vendor name or id, or a canonical state name.
fn resolve_status(c: &Connection, r: &Reference) -> Result<Status> {
    let by_state = r.name.as_deref().and_then(|n| n.parse::<State>().ok());
    let reference = match (
        resolve_lookup(c, LookupKind::Statuses, r, "status"),
        by_state,
    ) {
        (Ok(found), _) => found,
        (Err(_), Some(state)) => {
            let (id, name): (String, String) = cached_row(
                c,
                "SELECT id, name FROM lookups WHERE kind = 'statuses' AND state = ?1 \
                     ORDER BY CAST(id AS INTEGER) LIMIT 1",
                [state.as_str()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(sql_error)?;
            Reference::both(id, name)
        }
        (Err(e), None) => return Err(e),
    };
    let id = reference.id.clone().unwrap_or_default();
    let state: Option<String> = cached_row(
        c,
        "SELECT state FROM lookups WHERE kind = 'statuses' AND id = ?1",
        [&id],
        |row| row.get(0),
    )
    .map_err(sql_error)?;
    let state = state.and_then(|s| s.parse().ok()).unwrap_or(State::Open);
    Ok(Status {
        state,
        name: reference.name,
        id: reference.id,
    })
}

/// A priority reference may be a vendor name or id, or a canonical level name.
fn resolve_priority(c: &Connection, r: &Reference) -> Result<Priority> {
    let by_level = r
        .name
        .as_deref()
        .and_then(|n| n.parse::<PriorityLevel>().ok());
    let reference = match (
        resolve_lookup(c, LookupKind::Priorities, r, "priority"),
        by_level,
    ) {
        (Ok(found), _) => found,
        (Err(_), Some(level)) => {
            let (id, name): (String, String) = cached_row(
                c,
                "SELECT id, name FROM lookups WHERE kind = 'priorities' AND level = ?1 LIMIT 1",
                [level.as_str()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(sql_error)?;
            Reference::both(id, name)
        }
        (Err(e), None) => return Err(e),
    };
    let id = reference.id.clone().unwrap_or_default();
    let level: Option<String> = cached_row(
        c,
        "SELECT level FROM lookups WHERE kind = 'priorities' AND id = ?1",
        [&id],
        |row| row.get(0),
    )
    .map_err(sql_error)?;
    let level = level
        .and_then(|s| s.parse().ok())
        .unwrap_or(PriorityLevel::Normal);
    Ok(Priority {
        level,
        name: reference.name,
        id: reference.id,
    })
}

/// The ticket's document as stored: the canonical ticket without what lives in columns
/// or tables of its own (the body's text, the id and number, entries, attachments,
/// links), so each is stored once.
fn ticket_doc(t: &mut Ticket) -> Result<String> {
    let content = std::mem::take(&mut t.body.content);
    let id = std::mem::take(&mut t.id);
    let number = std::mem::take(&mut t.number);
    let entries = std::mem::take(&mut t.entries);
    let attachments = std::mem::take(&mut t.attachments);
    let children = std::mem::take(&mut t.children);
    let parent = t.parent.take();
    let doc = serde_json::to_string(&*t).map_err(|e| Error::internal(e.to_string()));
    t.body.content = content;
    t.id = id;
    t.number = number;
    t.entries = entries;
    t.attachments = attachments;
    t.children = children;
    t.parent = parent;
    doc
}

/// The indexed columns of a ticket, in the order of [`INSERT_TICKET`] and
/// [`UPDATE_TICKET`] (after the id).
fn ticket_columns(t: &Ticket, doc: String) -> [rusqlite::types::Value; 26] {
    use rusqlite::types::Value;
    let text = |s: Option<&str>| s.map_or(Value::Null, |s| Value::Text(s.to_owned()));
    let id_of = |r: &Option<Reference>| text(r.as_ref().and_then(|r| r.id.as_deref()));
    let name_of = |r: &Option<Reference>| text(r.as_ref().and_then(|r| r.name.as_deref()));
    [
        Value::Text(t.subject.clone()),
        Value::Text(t.body.content.clone()),
        Value::Text(t.status.state.as_str().to_owned()),
        text(t.status.id.as_deref()),
        text(t.status.name.as_deref()),
        text(t.priority.as_ref().and_then(|p| p.id.as_deref())),
        text(t.priority.as_ref().and_then(|p| p.name.as_deref())),
        t.priority
            .as_ref()
            .map_or(Value::Null, |p| Value::Integer(i64::from(p.level.rank()))),
        id_of(&t.department),
        name_of(&t.department),
        id_of(&t.category),
        name_of(&t.category),
        id_of(&t.topic),
        name_of(&t.topic),
        id_of(&t.assignee),
        name_of(&t.assignee),
        id_of(&t.group),
        name_of(&t.group),
        text(t.requester.email.as_deref()),
        text(t.requester.username.as_deref()),
        text(t.ticket_type.map(|k| k.as_str())),
        Value::Text(t.source.as_str().to_owned()),
        Value::Text(time::to_db(&t.created_at)),
        Value::Text(time::to_db(&t.updated_at)),
        t.due_at
            .as_ref()
            .map_or(Value::Null, |d| Value::Text(time::to_db(d))),
        Value::Text(doc),
    ]
}

const INSERT_TICKET: &str = "INSERT INTO tickets(id, number, subject, body, state, status_id, \
     status_name, priority_id, priority_name, priority_rank, department_id, department_name, \
     category_id, category_name, topic_id, topic_name, assignee_id, assignee_name, grp_id, \
     grp_name, requester_email, requester_username, type, source, created_at, updated_at, \
     due_at, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, \
     ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)";

const UPDATE_TICKET: &str = "UPDATE tickets SET subject = ?2, body = ?3, state = ?4, \
     status_id = ?5, status_name = ?6, priority_id = ?7, priority_name = ?8, \
     priority_rank = ?9, department_id = ?10, department_name = ?11, category_id = ?12, \
     category_name = ?13, topic_id = ?14, topic_name = ?15, assignee_id = ?16, \
     assignee_name = ?17, grp_id = ?18, grp_name = ?19, requester_email = ?20, \
     requester_username = ?21, type = ?22, source = ?23, created_at = ?24, updated_at = ?25, \
     due_at = ?26, doc = ?27 WHERE id = ?1";

/// Write a new ticket row; returns its id and sets the ticket's id and number.
///
/// Creation times never decrease with the id: a ticket made while the clock stands
/// behind the newest ticket's time (it was stepped back) takes that time. So creation
/// order is id order, and a newest-first search can walk an index in id order.
fn insert_row(c: &Connection, t: &mut Ticket) -> Result<i64> {
    // One writer, inside its transaction: the id AUTOINCREMENT would give next.
    let (id, newest): (i64, Option<String>) = c
        .prepare_cached(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'tickets'), 0), \
             coalesce((SELECT max(id) FROM tickets), 0)) + 1, (SELECT max(created_at) FROM tickets)",
        )
        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(sql_error)?;
    if let Some(newest) = newest.as_deref().and_then(time::from_db)
        && newest > t.created_at
    {
        t.updated_at = t.updated_at.max(newest);
        t.created_at = newest;
    }
    let number = (FIRST_NUMBER + id).to_string();
    let doc = ticket_doc(t)?;
    let cols = ticket_columns(t, doc);
    c.prepare_cached(INSERT_TICKET)
        .and_then(|mut s| {
            s.execute(rusqlite::params_from_iter(
                [
                    rusqlite::types::Value::Integer(id),
                    rusqlite::types::Value::Text(number.clone()),
                ]
                .into_iter()
                .chain(cols),
            ))
        })
        .map_err(sql_error)?;
    t.id = id.to_string();
    t.number = number;
    Ok(id)
}

/// Write the ticket's document and its indexed columns.
fn save_row(c: &Connection, t: &Ticket) -> Result<()> {
    let id = parse_id(&t.id)?;
    let mut doc = t.clone();
    let doc = ticket_doc(&mut doc)?;
    let cols = ticket_columns(t, doc);
    c.prepare_cached(UPDATE_TICKET)
        .and_then(|mut s| {
            s.execute(rusqlite::params_from_iter(
                std::iter::once(rusqlite::types::Value::Integer(id)).chain(cols),
            ))
        })
        .map_err(sql_error)?;
    Ok(())
}

/// The columns [`ticket_from_row`] reads, for a `SELECT ... FROM tickets`.
const ROW_COLUMNS: &str = "id, number, body, doc, parent_id, \
     (SELECT group_concat(ch.id) FROM tickets ch WHERE ch.parent_id = tickets.id)";

/// A ticket without entries and attachments, with its parent and children ids, from a
/// row of [`ROW_COLUMNS`].
fn ticket_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Ticket>> {
    let id: i64 = r.get(0)?;
    let doc = r.get_ref(3)?.as_str()?;
    let mut t: Ticket = match serde_json::from_str(doc) {
        Ok(t) => t,
        Err(e) => {
            return Ok(Err(Error::internal(format!(
                "ticket {id} has an unreadable document: {e}"
            ))));
        }
    };
    t.id = id.to_string();
    t.number = r.get(1)?;
    t.body.content = r.get(2)?;
    t.parent = r.get::<_, Option<i64>>(4)?.map(|p| p.to_string());
    let children: Option<String> = r.get(5)?;
    let mut children: Vec<i64> = children
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter_map(|c| c.parse().ok())
        .collect();
    children.sort_unstable();
    t.children = children.into_iter().map(|c| c.to_string()).collect();
    Ok(Ok(t))
}

/// The ticket without entries and attachment bytes (its links are not read either).
fn load_row(c: &Connection, id: i64) -> Result<Ticket> {
    let mut t = load_row_with_links(c, id)?;
    t.parent = None;
    t.children.clear();
    Ok(t)
}

fn load_row_with_links(c: &Connection, id: i64) -> Result<Ticket> {
    c.prepare_cached(&format!("SELECT {ROW_COLUMNS} FROM tickets WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], ticket_from_row).optional())
        .map_err(sql_error)?
        .ok_or_else(|| Error::not_found(format!("ticket {id} not found")))?
}

fn ticket_exists(c: &Connection, id: i64) -> Result<bool> {
    c.prepare_cached("SELECT 1 FROM tickets WHERE id = ?1")
        .and_then(|mut s| s.exists([id]))
        .map_err(sql_error)
}

/// The full ticket: entries, attachments, links, in three queries.
fn load_ticket(c: &Connection, id: i64) -> Result<Ticket> {
    let mut t = load_row_with_links(c, id)?;
    let mut stmt = c
        .prepare_cached("SELECT id, body, doc FROM entries WHERE ticket_id = ?1 ORDER BY id")
        .map_err(sql_error)?;
    let mut rows = stmt.query([id]).map_err(sql_error)?;
    let mut entry_ids = Vec::new();
    while let Some(r) = rows.next().map_err(sql_error)? {
        let entry_id: i64 = r.get(0).map_err(sql_error)?;
        let doc = r
            .get_ref(2)
            .and_then(|v| Ok(v.as_str()?))
            .map_err(sql_error)?;
        let mut e: ThreadEntry = serde_json::from_str(doc)
            .map_err(|e| Error::internal(format!("entry {entry_id} is unreadable: {e}")))?;
        e.id = entry_id.to_string();
        e.body.content = r.get(1).map_err(sql_error)?;
        e.attachments.clear();
        t.entries.push(e);
        entry_ids.push(entry_id);
    }
    drop(rows);
    let mut stmt = c
        .prepare_cached(
            "SELECT id, name, media_type, inline, content_id, bytes, entry_id FROM attachments \
             WHERE ticket_id = ?1 ORDER BY id",
        )
        .map_err(sql_error)?;
    let mut rows = stmt.query([id]).map_err(sql_error)?;
    while let Some(r) = rows.next().map_err(sql_error)? {
        let a = attachment_from_row(r).map_err(sql_error)?;
        match r.get::<_, Option<i64>>(6).map_err(sql_error)? {
            None => t.attachments.push(a),
            Some(e) => {
                if let Ok(i) = entry_ids.binary_search(&e) {
                    t.entries[i].attachments.push(a);
                }
            }
        }
    }
    Ok(t)
}

fn attachment_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Attachment> {
    Ok(Attachment {
        id: Some(r.get::<_, i64>(0)?.to_string()),
        name: r.get(1)?,
        media_type: r.get(2)?,
        inline: r.get(3)?,
        content_id: r.get(4)?,
        bytes: r.get(5)?,
    })
}

/// Write an entry and its attachments; returns it as stored.
fn insert_entry(
    c: &Connection,
    ticket_id: i64,
    kind: EntryKind,
    body: Body,
    author: Option<Contact>,
    attachments: Vec<Attachment>,
    email: Option<ticketgate_model::EmailKeys>,
) -> Result<ThreadEntry> {
    let now = time::now();
    let mut entry = ThreadEntry {
        id: String::new(),
        kind,
        author,
        body: Body {
            format: body.format,
            content: String::new(),
        },
        created_at: now,
        attachments: Vec::new(),
        email,
    };
    let doc = serde_json::to_string(&entry).map_err(|e| Error::internal(e.to_string()))?;
    let entry_id = c
        .prepare_cached(
            "INSERT INTO entries(ticket_id, kind, body, created_at, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| {
            s.insert(params![
                ticket_id,
                kind.as_str(),
                body.content,
                time::to_db(&now),
                doc
            ])
        })
        .map_err(sql_error)?;
    entry.id = entry_id.to_string();
    entry.body.content = body.content;
    for a in attachments {
        entry
            .attachments
            .push(insert_attachment(c, Some(ticket_id), Some(entry_id), a)?);
    }
    Ok(entry)
}

/// Write an attachment; returns it as stored (with its id, the name trimmed).
fn insert_attachment(
    c: &Connection,
    ticket_id: Option<i64>,
    entry_id: Option<i64>,
    mut a: Attachment,
) -> Result<Attachment> {
    a.name = a.name.trim().to_owned();
    let id = c
        .prepare_cached(
            "INSERT INTO attachments(ticket_id, entry_id, name, media_type, inline, content_id, bytes) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut s| {
            s.insert(params![
                ticket_id,
                entry_id,
                a.name,
                a.media_type,
                a.inline,
                a.content_id,
                a.bytes
            ])
        })
        .map_err(sql_error)?;
    a.id = Some(id.to_string());
    Ok(a)
}

fn parent_of(c: &Connection, id: i64) -> Result<Option<i64>> {
    c.prepare_cached("SELECT parent_id FROM tickets WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
        .map_err(sql_error)
        .map(Option::flatten)
}

/// Searches count matches exactly up to this many; past it, `total` is a lower bound
/// and `total_exact` is false, so a search matching most of a large helpdesk does not
/// pay for counting all of it.
pub const EXACT_TOTAL_BOUND: u64 = 1_000;

fn search_tickets(c: &Connection, q: &Query, created_follows_id: bool) -> Result<Page<Ticket>> {
    search_within(c, q, created_follows_id, EXACT_TOTAL_BOUND)
}

/// A search that counts exactly up to `bound` matches.
fn search_within(
    c: &Connection,
    q: &Query,
    created_follows_id: bool,
    bound: u64,
) -> Result<Page<Ticket>> {
    let limit = q.limit.clamp(1, ticketgate_model::ops::MAX_SEARCH_LIMIT);
    let filter = search::Filter::from_query(q);
    let counted: i64 = c
        .prepare_cached(&format!(
            "SELECT count(*) FROM (SELECT 1 FROM {} WHERE {} LIMIT {})",
            filter.from,
            filter.clause,
            bound + 1
        ))
        .and_then(|mut s| {
            s.query_row(rusqlite::params_from_iter(filter.params.iter()), |r| {
                r.get(0)
            })
        })
        .map_err(sql_error)?;
    let counted = u64::try_from(counted).unwrap_or(0);
    let sql = format!(
        "SELECT {ROW_COLUMNS} FROM {} WHERE {} ORDER BY {} LIMIT {} OFFSET {}",
        filter.from,
        filter.clause,
        search::order_by(q, &filter, created_follows_id),
        limit,
        q.offset
    );
    let mut items = Vec::with_capacity(limit as usize);
    if u64::from(q.offset) < counted || counted > bound {
        let mut stmt = c.prepare_cached(&sql).map_err(sql_error)?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(filter.params.iter()))
            .map_err(sql_error)?;
        while let Some(r) = rows.next().map_err(sql_error)? {
            items.push(ticket_from_row(r).map_err(sql_error)??);
        }
    }
    let (total, total_exact) = if counted <= bound {
        (counted, true)
    } else {
        // At least the bound, and at least as far as this page reaches; a page past
        // the end does not stretch it.
        let reached = if items.is_empty() {
            0
        } else {
            u64::from(q.offset) + items.len() as u64
        };
        (bound.max(reached), false)
    };
    Ok(Page {
        items,
        total,
        total_exact,
        offset: q.offset,
        limit,
    })
}

fn stats(c: &Connection, q: &StatsQuery) -> Result<Stats> {
    let since = q.since.as_ref().map(time::to_db).unwrap_or_default();
    let until = q
        .until
        .as_ref()
        .map(time::to_db)
        .unwrap_or_else(|| "9999".to_owned());
    let window = "state <> 'deleted' AND created_at >= ?1 AND created_at < ?2";
    let count = |sql: &str| -> Result<u64> {
        c.query_row(sql, params![since, until], |r| r.get::<_, i64>(0))
            .map(|n| u64::try_from(n).unwrap_or(0))
            .map_err(sql_error)
    };
    let group = |column: &str| -> Result<std::collections::BTreeMap<String, u64>> {
        let sql = format!(
            "SELECT coalesce({column}, '(none)'), count(*) FROM tickets WHERE {window} GROUP BY 1"
        );
        let mut stmt = c.prepare_cached(&sql).map_err(sql_error)?;
        let rows = stmt
            .query_map(params![since, until], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                ))
            })
            .map_err(sql_error)?;
        rows.collect::<rusqlite::Result<_>>().map_err(sql_error)
    };
    let now = time::to_db(&time::now());
    let overdue: i64 = cached_row(
        c,
        &format!(
            "SELECT count(*) FROM tickets WHERE {window} AND state IN ('new','open','pending') \
                 AND due_at IS NOT NULL AND due_at < ?3"
        ),
        params![since, until, now],
        |r| r.get(0),
    )
    .map_err(sql_error)?;
    Ok(Stats {
        total: count(&format!("SELECT count(*) FROM tickets WHERE {window}"))?,
        open: count(&format!(
            "SELECT count(*) FROM tickets WHERE {window} AND state IN ('new','open','pending')"
        ))?,
        resolved: count(&format!(
            "SELECT count(*) FROM tickets WHERE {window} AND state = 'resolved'"
        ))?,
        closed: count(&format!(
            "SELECT count(*) FROM tickets WHERE {window} AND state = 'closed'"
        ))?,
        overdue: u64::try_from(overdue).unwrap_or(0),
        by_state: group("state")?,
        by_status: group("status_name")?,
        by_priority: group("priority_name")?,
        by_department: group("department_name")?,
        by_assignee: group("assignee_name")?,
    })
}

#[cfg(test)]
mod tests;
