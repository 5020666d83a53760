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
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::path::Path;
use ticketgate_model::{
    Assignment, Attachment, Body, Capabilities, Closure, Contact, DeleteMode, EntryKind, Error,
    Helpdesk, LookupItem, LookupKind, NewEntry, NewTicket, Page, Priority, PriorityLevel, Query,
    Reference, Resolution, Result, State, Stats, StatsQuery, Status, ThreadEntry, Ticket,
    TicketPatch,
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
];

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
}

impl EmbeddedHelpdesk {
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, Durability::Full)
    }

    pub fn open_with(path: &Path, durability: Durability) -> Result<Self> {
        let db = Db::open(path, durability, MIGRATIONS)?;
        db.call_blocking(seed_lookups)?;
        // Gets, searches and stats read beside the writer.
        let db = db.with_readers(READERS)?;
        Ok(Self { db })
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
                let known: i64 = tx
                    .query_row(
                        "SELECT count(*) FROM lookups WHERE kind = 'agents' AND name = ?1 COLLATE NOCASE",
                        [name],
                        |r| r.get(0),
                    )
                    .map_err(sql_error)?;
                if known == 0 {
                    tx.execute(
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
            .call(move |c| {
                c.execute("DELETE FROM create_keys WHERE created_at < ?1", [&before])
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
    let present: i64 = tx
        .query_row("SELECT count(*) FROM lookups", [], |r| r.get(0))
        .map_err(sql_error)?;
    if present == 0 {
        for row in seed::SEED {
            tx.execute(
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
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(sql_error)?;
                let id = insert_ticket(&tx, ticket)?;
                let t = load_ticket(&tx, id)?;
                tx.commit().map_err(sql_error)?;
                Ok(t)
            })
            .await
    }

    async fn create_idempotent(&self, ticket: NewTicket, key: &str) -> Result<Ticket> {
        if key.is_empty() {
            return self.create(ticket).await;
        }
        ticket.validate()?;
        let key = key.to_owned();
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(sql_error)?;
                let known: Option<i64> = tx
                    .query_row(
                        "SELECT ticket_id FROM create_keys WHERE key = ?1",
                        [&key],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sql_error)?;
                let id = match known {
                    Some(id) => id,
                    None => {
                        let id = insert_ticket(&tx, ticket)?;
                        tx.execute(
                            "INSERT INTO create_keys(key, ticket_id, created_at) VALUES (?1, ?2, ?3)",
                            rusqlite::params![key, id, time::to_db(&time::now())],
                        )
                        .map_err(sql_error)?;
                        id
                    }
                };
                let t = load_ticket(&tx, id).map_err(|e| {
                    if e.kind == ticketgate_model::ErrorKind::NotFound {
                        Error::not_found(format!(
                            "the ticket created with this key (id {id}) has since been purged"
                        ))
                    } else {
                        e
                    }
                })?;
                tx.commit().map_err(sql_error)?;
                Ok(t)
            })
            .await
    }

    async fn get(&self, id: &str) -> Result<Ticket> {
        let id = parse_id(id)?;
        self.db.read(move |c| load_ticket(c, id)).await
    }

    async fn update(&self, id: &str, patch: TicketPatch) -> Result<Ticket> {
        patch.validate()?;
        let id = parse_id(id)?;
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(sql_error)?;
                let mut t = load_row(&tx, id)?;
                apply_patch(&tx, &mut t, patch)?;
                save_row(&tx, &t)?;
                let t = load_ticket(&tx, id)?;
                tx.commit().map_err(sql_error)?;
                Ok(t)
            })
            .await
    }

    async fn delete(&self, id: &str, mode: DeleteMode) -> Result<()> {
        let id = parse_id(id)?;
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(sql_error)?;
                let mut t = load_row(&tx, id)?;
                match mode {
                    DeleteMode::Soft => {
                        t.status = resolve_status(&tx, &Reference::name(State::Deleted.as_str()))?;
                        t.updated_at = time::now();
                        save_row(&tx, &t)?;
                    }
                    DeleteMode::Purge => {
                        tx.execute("DELETE FROM tickets WHERE id = ?1", [id])
                            .map_err(sql_error)?;
                    }
                }
                tx.commit().map_err(sql_error)
            })
            .await
    }

    async fn search(&self, query: &Query) -> Result<Page<Ticket>> {
        let query = query.clone();
        self.db.read(move |c| search_tickets(c, &query)).await
    }

    async fn add_entry(&self, id: &str, entry: NewEntry) -> Result<ThreadEntry> {
        entry.validate()?;
        let id = parse_id(id)?;
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(sql_error)?;
                let mut t = load_row(&tx, id)?;
                if t.status.state == State::Deleted {
                    return Err(Error::conflict(format!("ticket {} is deleted", t.number)));
                }
                let reopen = entry.reopen
                    && matches!(
                        t.status.state,
                        State::Resolved | State::Closed | State::Pending
                    );
                let entry_id = insert_entry(
                    &tx,
                    id,
                    entry.kind,
                    entry.body,
                    entry.author,
                    entry.attachments,
                    entry.email,
                )?;
                if reopen {
                    t.status = resolve_status(&tx, &Reference::name(State::Open.as_str()))?;
                    t.solved_at = None;
                    t.closed_at = None;
                }
                t.updated_at = time::now();
                save_row(&tx, &t)?;
                let e = load_entry(&tx, entry_id)?;
                tx.commit().map_err(sql_error)?;
                Ok(e)
            })
            .await
    }

    async fn resolve(&self, id: &str, resolution: Resolution) -> Result<Ticket> {
        let id = parse_id(id)?;
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(sql_error)?;
                let mut t = load_row(&tx, id)?;
                refuse_if_deleted(&t)?;
                if let Some(body) = resolution.body.filter(|b| !b.content.trim().is_empty()) {
                    insert_entry(
                        &tx,
                        id,
                        EntryKind::Response,
                        body,
                        resolution.author,
                        vec![],
                        None,
                    )?;
                }
                let now = time::now();
                t.status = resolve_status(&tx, &Reference::name(State::Resolved.as_str()))?;
                t.solved_at = Some(now);
                t.updated_at = now;
                save_row(&tx, &t)?;
                let t = load_ticket(&tx, id)?;
                tx.commit().map_err(sql_error)?;
                Ok(t)
            })
            .await
    }

    async fn close(&self, id: &str, closure: Closure) -> Result<Ticket> {
        let id = parse_id(id)?;
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(sql_error)?;
                let mut t = load_row(&tx, id)?;
                refuse_if_deleted(&t)?;
                if let Some(note) = closure.note.filter(|n| !n.trim().is_empty()) {
                    insert_entry(
                        &tx,
                        id,
                        EntryKind::Note,
                        Body::text(note),
                        None,
                        vec![],
                        None,
                    )?;
                }
                let now = time::now();
                t.status = resolve_status(&tx, &Reference::name(State::Closed.as_str()))?;
                t.solved_at = t.solved_at.or(Some(now));
                t.closed_at = Some(now);
                t.updated_at = now;
                save_row(&tx, &t)?;
                let t = load_ticket(&tx, id)?;
                tx.commit().map_err(sql_error)?;
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
            .call(move |c| {
                let tx = c.transaction().map_err(sql_error)?;
                let mut t = load_row(&tx, id)?;
                refuse_if_deleted(&t)?;
                if let Some(a) = &assignment.assignee {
                    t.assignee = Some(resolve_lookup(&tx, LookupKind::Agents, a, "assignee")?);
                }
                if let Some(g) = &assignment.group {
                    t.group = Some(resolve_lookup(&tx, LookupKind::Groups, g, "group")?);
                }
                if let Some(team) = assignment.team {
                    t.team = Some(team);
                }
                // Taking a ticket in hand moves it out of "new", as every vendor does.
                if t.status.state == State::New {
                    t.status = resolve_status(&tx, &Reference::name(State::Open.as_str()))?;
                }
                t.updated_at = time::now();
                save_row(&tx, &t)?;
                let t = load_ticket(&tx, id)?;
                tx.commit().map_err(sql_error)?;
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
            .call(move |c| {
                let tx = c.transaction().map_err(sql_error)?;
                let mut t = load_row(&tx, id)?;
                refuse_if_deleted(&t)?;
                let mut ids = Vec::with_capacity(files.len());
                for f in &files {
                    ids.push(insert_attachment(&tx, id, None, f)?);
                }
                t.updated_at = time::now();
                save_row(&tx, &t)?;
                let stored = files
                    .into_iter()
                    .zip(ids)
                    .map(|(mut f, aid)| {
                        f.id = Some(aid.to_string());
                        f
                    })
                    .collect();
                tx.commit().map_err(sql_error)?;
                Ok(stored)
            })
            .await
    }

    async fn link(&self, parent: &str, child: &str) -> Result<()> {
        let (parent, child) = (parse_id(parent)?, parse_id(child)?);
        if parent == child {
            return Err(Error::bad_input("a ticket cannot be its own subticket"));
        }
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(sql_error)?;
                let p = load_row(&tx, parent)?;
                let ch = load_row(&tx, child)?;
                match parent_of(&tx, child)? {
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
                let mut cursor = parent_of(&tx, parent)?;
                let mut depth = 0;
                while let Some(up) = cursor {
                    if up == child || depth > MAX_LINK_DEPTH {
                        return Err(Error::conflict(format!(
                            "linking {} under {} would create a circular dependency",
                            ch.number, p.number
                        )));
                    }
                    cursor = parent_of(&tx, up)?;
                    depth += 1;
                }
                tx.execute(
                    "UPDATE tickets SET parent_id = ?1 WHERE id = ?2",
                    [parent, child],
                )
                .map_err(sql_error)?;
                tx.commit().map_err(sql_error)
            })
            .await
    }

    async fn unlink(&self, parent: &str, child: &str) -> Result<()> {
        let (parent, child) = (parse_id(parent)?, parse_id(child)?);
        self.db
            .call(move |c| {
                let tx = c.transaction().map_err(sql_error)?;
                let p = load_row(&tx, parent)?;
                let ch = load_row(&tx, child)?;
                if parent_of(&tx, child)? != Some(parent) {
                    return Err(Error::not_found(format!(
                        "ticket {} is not a subticket of {}",
                        ch.number, p.number
                    )));
                }
                tx.execute("UPDATE tickets SET parent_id = NULL WHERE id = ?1", [child])
                    .map_err(sql_error)?;
                tx.commit().map_err(sql_error)
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
                load_row(c, id)?;
                let ids = child_ids(c, id)?;
                ids.into_iter()
                    .map(|cid| load_row_with_links(c, cid))
                    .collect()
            })
            .await
    }

    async fn stats(&self, query: &StatsQuery) -> Result<Stats> {
        let query = query.clone();
        self.db.read(move |c| stats(c, &query)).await
    }

    async fn lookup(&self, kind: LookupKind) -> Result<Vec<LookupItem>> {
        self.db
            .call(move |c| {
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

fn parse_id(id: &str) -> Result<i64> {
    id.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::not_found(format!("ticket {id} not found")))
}

fn refuse_if_deleted(t: &Ticket) -> Result<()> {
    if t.status.state == State::Deleted {
        return Err(Error::conflict(format!("ticket {} is deleted", t.number)));
    }
    Ok(())
}

fn insert_ticket(tx: &Transaction<'_>, n: NewTicket) -> Result<i64> {
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
            let pid = parse_id(p).map_err(|_| {
                Error::bad_input(format!("parent ticket {p} not found")).field("parent")
            })?;
            load_row(tx, pid).map_err(|_| {
                Error::bad_input(format!("parent ticket {p} not found")).field("parent")
            })?;
            Some(pid)
        }
        None => None,
    };
    tx.execute(
        "INSERT INTO tickets(number, subject, body, state, source, created_at, updated_at, doc) \
         VALUES ('', '', '', 'new', 'api', '', '', '{}')",
        [],
    )
    .map_err(sql_error)?;
    let id = tx.last_insert_rowid();
    t.id = id.to_string();
    t.number = (FIRST_NUMBER + id).to_string();
    save_row(tx, &t)?;
    if let Some(pid) = parent {
        tx.execute("UPDATE tickets SET parent_id = ?1 WHERE id = ?2", [pid, id])
            .map_err(sql_error)?;
    }
    for a in &n.attachments {
        insert_attachment(tx, id, None, a)?;
    }
    if let Some(note) = n.note.filter(|s| !s.trim().is_empty()) {
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
    Ok(id)
}

fn apply_patch(tx: &Transaction<'_>, t: &mut Ticket, p: TicketPatch) -> Result<()> {
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
        (Some(id), _) => c
            .query_row(
                "SELECT id, name FROM lookups WHERE kind = ?1 AND id = ?2",
                params![kind.as_str(), id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(sql_error)?,
        (None, Some(name)) => c
            .query_row(
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
            let (id, name): (String, String) = c
                .query_row(
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
    let state: Option<String> = c
        .query_row(
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
            let (id, name): (String, String) = c
                .query_row(
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
    let level: Option<String> = c
        .query_row(
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

/// Write the ticket's document and its indexed columns.
fn save_row(c: &Connection, t: &Ticket) -> Result<()> {
    let id = parse_id(&t.id)?;
    let mut doc = t.clone();
    doc.entries.clear();
    doc.attachments.clear();
    doc.children.clear();
    doc.parent = None;
    let doc = serde_json::to_string(&doc).map_err(|e| Error::internal(e.to_string()))?;
    let col = |r: &Option<Reference>| -> (Option<String>, Option<String>) {
        r.as_ref()
            .map(|r| (r.id.clone(), r.name.clone()))
            .unwrap_or_default()
    };
    let (dep_id, dep_name) = col(&t.department);
    let (cat_id, cat_name) = col(&t.category);
    let (top_id, top_name) = col(&t.topic);
    let (asg_id, asg_name) = col(&t.assignee);
    let (grp_id, grp_name) = col(&t.group);
    c.execute(
        "UPDATE tickets SET number = ?2, subject = ?3, body = ?4, state = ?5, status_id = ?6, \
         status_name = ?7, priority_id = ?8, priority_name = ?9, priority_rank = ?10, \
         department_id = ?11, department_name = ?12, category_id = ?13, category_name = ?14, \
         topic_id = ?15, topic_name = ?16, assignee_id = ?17, assignee_name = ?18, grp_id = ?19, \
         grp_name = ?20, requester_email = ?21, requester_username = ?22, type = ?23, \
         source = ?24, created_at = ?25, updated_at = ?26, due_at = ?27, doc = ?28 WHERE id = ?1",
        params![
            id,
            t.number,
            t.subject,
            t.body.content,
            t.status.state.as_str(),
            t.status.id,
            t.status.name,
            t.priority.as_ref().and_then(|p| p.id.clone()),
            t.priority.as_ref().and_then(|p| p.name.clone()),
            t.priority.as_ref().map(|p| p.level.rank()),
            dep_id,
            dep_name,
            cat_id,
            cat_name,
            top_id,
            top_name,
            asg_id,
            asg_name,
            grp_id,
            grp_name,
            t.requester.email,
            t.requester.username,
            t.ticket_type.map(|k| k.as_str()),
            t.source.as_str(),
            time::to_db(&t.created_at),
            time::to_db(&t.updated_at),
            t.due_at.as_ref().map(time::to_db),
            doc,
        ],
    )
    .map_err(sql_error)?;
    Ok(())
}

/// The ticket without entries and attachment bytes, with its parent and children ids.
fn load_row(c: &Connection, id: i64) -> Result<Ticket> {
    let doc: Option<String> = c
        .query_row("SELECT doc FROM tickets WHERE id = ?1", [id], |r| r.get(0))
        .optional()
        .map_err(sql_error)?;
    let doc = doc.ok_or_else(|| Error::not_found(format!("ticket {id} not found")))?;
    serde_json::from_str(&doc)
        .map_err(|e| Error::internal(format!("ticket {id} has an unreadable document: {e}")))
}

fn load_row_with_links(c: &Connection, id: i64) -> Result<Ticket> {
    let mut t = load_row(c, id)?;
    t.parent = parent_of(c, id)?.map(|p| p.to_string());
    t.children = child_ids(c, id)?
        .into_iter()
        .map(|i| i.to_string())
        .collect();
    Ok(t)
}

/// The full ticket: entries, attachments, links.
fn load_ticket(c: &Connection, id: i64) -> Result<Ticket> {
    let mut t = load_row_with_links(c, id)?;
    t.attachments = load_attachments(c, id, None)?;
    let mut stmt = c
        .prepare_cached("SELECT id FROM entries WHERE ticket_id = ?1 ORDER BY id")
        .map_err(sql_error)?;
    let entry_ids = stmt
        .query_map([id], |r| r.get::<_, i64>(0))
        .map_err(sql_error)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql_error)?;
    t.entries = entry_ids
        .into_iter()
        .map(|e| load_entry(c, e))
        .collect::<Result<_>>()?;
    Ok(t)
}

fn load_entry(c: &Connection, entry_id: i64) -> Result<ThreadEntry> {
    let (ticket_id, doc): (i64, String) = c
        .query_row(
            "SELECT ticket_id, doc FROM entries WHERE id = ?1",
            [entry_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(sql_error)?;
    let mut e: ThreadEntry = serde_json::from_str(&doc)
        .map_err(|e| Error::internal(format!("entry {entry_id} is unreadable: {e}")))?;
    e.attachments = load_attachments(c, ticket_id, Some(entry_id))?;
    Ok(e)
}

fn load_attachments(
    c: &Connection,
    ticket_id: i64,
    entry_id: Option<i64>,
) -> Result<Vec<Attachment>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT id, name, media_type, inline, content_id, bytes FROM attachments \
             WHERE ticket_id = ?1 AND entry_id IS ?2 ORDER BY id",
        )
        .map_err(sql_error)?;
    let rows = stmt
        .query_map(params![ticket_id, entry_id], |r| {
            Ok(Attachment {
                id: Some(r.get::<_, i64>(0)?.to_string()),
                name: r.get(1)?,
                media_type: r.get(2)?,
                inline: r.get(3)?,
                content_id: r.get(4)?,
                bytes: r.get(5)?,
            })
        })
        .map_err(sql_error)?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql_error)
}

fn insert_entry(
    c: &Connection,
    ticket_id: i64,
    kind: EntryKind,
    body: Body,
    author: Option<Contact>,
    attachments: Vec<Attachment>,
    email: Option<ticketgate_model::EmailKeys>,
) -> Result<i64> {
    let now = time::now();
    c.execute(
        "INSERT INTO entries(ticket_id, kind, body, created_at, doc) VALUES (?1, ?2, ?3, ?4, '{}')",
        params![ticket_id, kind.as_str(), body.content, time::to_db(&now)],
    )
    .map_err(sql_error)?;
    let entry_id = c.last_insert_rowid();
    let entry = ThreadEntry {
        id: entry_id.to_string(),
        kind,
        author,
        body,
        created_at: now,
        attachments: Vec::new(),
        email,
    };
    let doc = serde_json::to_string(&entry).map_err(|e| Error::internal(e.to_string()))?;
    c.execute(
        "UPDATE entries SET doc = ?1 WHERE id = ?2",
        params![doc, entry_id],
    )
    .map_err(sql_error)?;
    for a in &attachments {
        insert_attachment(c, ticket_id, Some(entry_id), a)?;
    }
    Ok(entry_id)
}

fn insert_attachment(
    c: &Connection,
    ticket_id: i64,
    entry_id: Option<i64>,
    a: &Attachment,
) -> Result<i64> {
    c.execute(
        "INSERT INTO attachments(ticket_id, entry_id, name, media_type, inline, content_id, bytes) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            ticket_id,
            entry_id,
            a.name.trim(),
            a.media_type,
            a.inline,
            a.content_id,
            a.bytes
        ],
    )
    .map_err(sql_error)?;
    Ok(c.last_insert_rowid())
}

fn parent_of(c: &Connection, id: i64) -> Result<Option<i64>> {
    c.query_row("SELECT parent_id FROM tickets WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .optional()
    .map_err(sql_error)
    .map(Option::flatten)
}

fn child_ids(c: &Connection, id: i64) -> Result<Vec<i64>> {
    let mut stmt = c
        .prepare_cached("SELECT id FROM tickets WHERE parent_id = ?1 ORDER BY id")
        .map_err(sql_error)?;
    stmt.query_map([id], |r| r.get(0))
        .map_err(sql_error)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql_error)
}

fn search_tickets(c: &Connection, q: &Query) -> Result<Page<Ticket>> {
    let limit = q.limit.clamp(1, ticketgate_model::ops::MAX_SEARCH_LIMIT);
    let filter = search::Filter::from_query(q);
    let total: i64 = c
        .query_row(
            &format!("SELECT count(*) FROM tickets WHERE {}", filter.clause),
            rusqlite::params_from_iter(filter.params.iter()),
            |r| r.get(0),
        )
        .map_err(sql_error)?;
    let sql = format!(
        "SELECT id FROM tickets WHERE {} ORDER BY {} LIMIT {} OFFSET {}",
        filter.clause,
        search::order_by(q),
        limit,
        q.offset
    );
    let mut stmt = c.prepare_cached(&sql).map_err(sql_error)?;
    let ids = stmt
        .query_map(rusqlite::params_from_iter(filter.params.iter()), |r| {
            r.get::<_, i64>(0)
        })
        .map_err(sql_error)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(sql_error)?;
    let items = ids
        .into_iter()
        .map(|id| load_row_with_links(c, id))
        .collect::<Result<_>>()?;
    Ok(Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
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
    let overdue: i64 = c
        .query_row(
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
