//! RT 5's REST 2.0 shapes, built from canonical tickets: tickets, transactions,
//! attachments, queues, users, `_hyperlinks` and paged collections, as the real RT
//! 5.0.3 answers them (`../fixtures/rt-observed.md`).
//!
//! **Ids.** RT's transactions and attachments have ids of their own, and
//! `/transaction/{id}` and `/attachment/{id}` name no ticket. The canonical model has
//! a ticket's thread entries and files, so their RT ids are derived from the ticket's:
//! transaction `ticket × 10 000 + k` (k = 1 for the creation, 1 + n for the n-th thread
//! entry) and attachment `transaction × 100 + j` (j = 0 for the message text, 1 + n for
//! the n-th file). Ticket 1's creation is transaction 10001, its text attachment
//! 1000100 and its first file 1000101. Entries are only ever appended, so the ids are
//! stable.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use ticketgate_model::{
    Attachment, Body, BodyFormat, EntryKind, LookupItem, PriorityLevel, Reference, State, Ticket,
};

pub const TXN_PER_TICKET: u64 = 10_000;
pub const ATTACHMENTS_PER_TXN: u64 = 100;
/// The most RT answers per page (`per_page` above it is taken as this).
pub const MAX_PER_PAGE: u64 = 100;
pub const DEFAULT_PER_PAGE: u64 = 20;
const EPOCH: &str = "1970-01-01T00:00:00Z";

/// Absolute URLs the way RT writes them in `_url`: `http://host/REST/2.0/…`.
#[derive(Debug, Clone)]
pub struct Urls {
    /// `http://host` + mount prefix + `/2.0`.
    pub base: String,
    /// Mount prefix + `/2.0`, for the relative `Location` headers.
    pub path: String,
}

impl Urls {
    pub fn of(&self, what: &str, id: impl std::fmt::Display) -> String {
        format!("{}/{what}/{id}", self.base)
    }
    pub fn location(&self, what: &str, id: impl std::fmt::Display) -> String {
        format!("{}/{what}/{id}", self.path)
    }
    fn link(&self, kind: &str, id: impl std::fmt::Display) -> Value {
        json!({"type": kind, "id": id.to_string(), "_url": self.of(kind, id)})
    }
}

/// RT's status for a canonical state (RT's default lifecycle: new, open, stalled,
/// resolved, rejected, deleted). Closed and archived tickets show as `resolved`.
pub fn rt_status(state: State) -> &'static str {
    match state {
        State::New => "new",
        State::Open => "open",
        State::Pending => "stalled",
        State::Resolved | State::Closed | State::Archived => "resolved",
        State::Deleted => "deleted",
    }
}

/// RT's numeric priority for a canonical level, on RT's 0–100 scale (RT 5's
/// `PriorityAsString`: Low 0, Medium 50, High 100).
pub fn rt_priority(level: PriorityLevel) -> u32 {
    match level {
        PriorityLevel::VeryLow => 0,
        PriorityLevel::Low => 20,
        PriorityLevel::Normal => 50,
        PriorityLevel::High => 70,
        PriorityLevel::VeryHigh => 90,
        PriorityLevel::Major => 100,
    }
}

/// The canonical level of an RT priority: a number on the 0–100 scale, or one of
/// RT's names (Low, Medium, High) or a canonical level's name.
pub fn priority_level(v: &Value) -> Option<PriorityLevel> {
    let n = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(n) => n,
            Err(_) => return s.parse().ok(),
        },
        _ => return None,
    };
    Some(match n {
        n if n < 10.0 => PriorityLevel::VeryLow,
        n if n < 35.0 => PriorityLevel::Low,
        n if n < 60.0 => PriorityLevel::Normal,
        n if n < 80.0 => PriorityLevel::High,
        n if n < 95.0 => PriorityLevel::VeryHigh,
        _ => PriorityLevel::Major,
    })
}

/// RT's `PriorityAsString` of a number (for the "changed from" messages).
pub fn priority_as_string(n: u32) -> &'static str {
    match n {
        0..50 => "Low",
        50..100 => "Medium",
        _ => "High",
    }
}

pub fn ticket_priority(t: &Ticket) -> u32 {
    t.priority.as_ref().map_or(0, |p| rt_priority(p.level))
}

pub fn date(t: Option<&DateTime<Utc>>) -> String {
    t.map_or_else(
        || EPOCH.to_owned(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

/// The owner's user name, `Nobody` when unassigned.
pub fn owner_name(t: &Ticket) -> String {
    t.assignee
        .as_ref()
        .map(|a| a.label().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "Nobody".to_owned())
}

/// RT's queues: the helpdesk's departments, and the configured default queue for
/// tickets in no department.
#[derive(Debug, Clone)]
pub struct Queues {
    pub default: String,
    pub departments: Vec<LookupItem>,
}

/// One queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRef {
    pub id: String,
    pub name: String,
    /// The department it stands for; `None` for the default queue.
    pub department: Option<Reference>,
}

/// The id the default queue gets when no department has its name.
pub const DEFAULT_QUEUE_ID: &str = "0";

impl Queues {
    pub fn all(&self) -> Vec<QueueRef> {
        let mut out = Vec::new();
        if !self
            .departments
            .iter()
            .any(|d| d.name.eq_ignore_ascii_case(&self.default))
        {
            out.push(QueueRef {
                id: DEFAULT_QUEUE_ID.to_owned(),
                name: self.default.clone(),
                department: None,
            });
        }
        out.extend(self.departments.iter().map(|d| QueueRef {
            id: d.id.clone(),
            name: d.name.clone(),
            department: Some(Reference::both(d.id.clone(), d.name.clone())),
        }));
        out
    }

    /// The queue named (by name or id) `v`.
    pub fn find(&self, v: &str) -> Option<QueueRef> {
        let v = v.trim();
        let all = self.all();
        all.iter()
            .find(|q| q.name.eq_ignore_ascii_case(v))
            .or_else(|| all.iter().find(|q| q.id == v))
            .cloned()
    }

    /// `None`: no such queue; `Some(None)`: the default queue; else its department.
    pub fn department_of(&self, v: &str) -> Option<Option<Reference>> {
        self.find(v).map(|q| q.department)
    }

    pub fn of_ticket(&self, t: &Ticket) -> QueueRef {
        match &t.department {
            Some(d) => {
                let known = self
                    .departments
                    .iter()
                    .find(|x| d.id.as_deref() == Some(x.id.as_str()))
                    .or_else(|| {
                        self.departments.iter().find(|x| {
                            d.name
                                .as_deref()
                                .is_some_and(|n| n.eq_ignore_ascii_case(&x.name))
                        })
                    });
                match known {
                    Some(x) => QueueRef {
                        id: x.id.clone(),
                        name: x.name.clone(),
                        department: Some(Reference::both(x.id.clone(), x.name.clone())),
                    },
                    None => QueueRef {
                        id: d.id.clone().unwrap_or_else(|| d.label().to_owned()),
                        name: d.label().to_owned(),
                        department: Some(d.clone()),
                    },
                }
            }
            None => QueueRef {
                id: self
                    .find(&self.default)
                    .map_or_else(|| DEFAULT_QUEUE_ID.to_owned(), |q| q.id),
                name: self.default.clone(),
                department: None,
            },
        }
    }
}

/// Sub-fields asked for with `fields[Queue]=Name` and the like.
#[derive(Debug, Clone, Default)]
pub struct SubFields(pub Vec<(String, Vec<String>)>);

impl SubFields {
    fn of(&self, key: &str) -> Option<&[String]> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

/// A user reference, `{type, id, _url}`, expanded with the asked sub-fields.
fn user(
    urls: &Urls,
    name: &str,
    email: Option<&str>,
    real: Option<&str>,
    sub: Option<&[String]>,
) -> Value {
    let mut v = urls.link("user", name);
    if let (Some(fields), Value::Object(o)) = (sub, &mut v) {
        for f in fields {
            let value = match f.as_str() {
                "Name" => name.to_owned(),
                "EmailAddress" => email.unwrap_or("").to_owned(),
                "RealName" => real.unwrap_or("").to_owned(),
                _ => continue,
            };
            o.insert(f.clone(), Value::String(value));
        }
    }
    v
}

fn contact_user(
    urls: &Urls,
    name: Option<&str>,
    email: Option<&str>,
    sub: Option<&[String]>,
) -> Option<Value> {
    let id = email.or(name).filter(|s| !s.trim().is_empty())?;
    Some(user(urls, id, email, name, sub))
}

/// The user who opened a ticket: its requester.
fn creator(urls: &Urls, t: &Ticket, sub: Option<&[String]>) -> Value {
    let r = &t.requester;
    contact_user(urls, r.name.as_deref(), r.email.as_deref(), sub)
        .or_else(|| {
            r.username
                .as_deref()
                .map(|u| user(urls, u, None, r.name.as_deref(), sub))
        })
        .unwrap_or_else(|| user(urls, "RT_System", None, Some("The RT System itself"), sub))
}

fn queue_value(urls: &Urls, q: &QueueRef, sub: Option<&[String]>) -> Value {
    let mut v = urls.link("queue", &q.id);
    if let (Some(fields), Value::Object(o)) = (sub, &mut v) {
        for f in fields {
            match f.as_str() {
                "Name" => {
                    o.insert("Name".into(), Value::String(q.name.clone()));
                }
                "Description" => {
                    o.insert("Description".into(), Value::String(String::new()));
                }
                _ => {}
            }
        }
    }
    v
}

/// RT's default lifecycle actions from a status: (to, label, update).
fn lifecycle(status: &str) -> &'static [(&'static str, &'static str, Option<&'static str>)] {
    match status {
        "new" => &[
            ("open", "Open It", Some("Respond")),
            ("resolved", "Resolve", Some("Comment")),
            ("rejected", "Reject", Some("Respond")),
            ("deleted", "Delete", None),
        ],
        "open" => &[
            ("stalled", "Stall", Some("Comment")),
            ("resolved", "Resolve", Some("Comment")),
            ("rejected", "Reject", Some("Respond")),
        ],
        "stalled" => &[("open", "Open It", None)],
        "resolved" | "rejected" => &[("open", "Re-open", Some("Comment"))],
        "deleted" => &[("open", "Undelete", None)],
        _ => &[],
    }
}

/// The full ticket, as `GET /ticket/{id}` answers it.
pub fn ticket(urls: &Urls, queues: &Queues, t: &Ticket, sub: &SubFields) -> Value {
    let status = rt_status(t.status.state);
    let id_value =
        t.id.parse::<u64>()
            .map_or_else(|_| json!(t.id), |n| json!(n));
    let watchers = |list: Vec<Value>| Value::Array(list);
    let requestor: Vec<Value> = contact_user(
        urls,
        t.requester.name.as_deref(),
        t.requester.email.as_deref(),
        sub.of("Requestor"),
    )
    .into_iter()
    .collect();
    let cc: Vec<Value> =
        t.cc.iter()
            .filter_map(|c| contact_user(urls, c.name.as_deref(), c.email.as_deref(), sub.of("Cc")))
            .collect();
    let owner = owner_name(t);
    let mut links = vec![
        json!({"ref": "self", "type": "ticket", "id": id_value, "_url": urls.of("ticket", &t.id)}),
        json!({"ref": "history", "_url": format!("{}/history", urls.of("ticket", &t.id))}),
        json!({"ref": "correspond", "_url": format!("{}/correspond", urls.of("ticket", &t.id))}),
        json!({"ref": "comment", "_url": format!("{}/comment", urls.of("ticket", &t.id))}),
    ];
    for (to, label, update) in lifecycle(status) {
        let url = match update {
            Some("Respond") => format!("{}/correspond", urls.of("ticket", &t.id)),
            Some(_) => format!("{}/comment", urls.of("ticket", &t.id)),
            None => urls.of("ticket", &t.id),
        };
        let mut l =
            json!({"ref": "lifecycle", "label": label, "from": status, "to": to, "_url": url});
        if let (Some(u), Value::Object(o)) = (update, &mut l) {
            o.insert("update".into(), json!(u));
        }
        links.push(l);
    }
    if let Some(p) = &t.parent {
        links.push(
            json!({"ref": "parent", "type": "ticket", "id": p, "_url": urls.of("ticket", p)}),
        );
    }
    for c in &t.children {
        links
            .push(json!({"ref": "child", "type": "ticket", "id": c, "_url": urls.of("ticket", c)}));
    }
    let custom: Vec<Value> = t
        .custom_fields
        .iter()
        .map(|(name, v)| {
            let values = match v {
                Value::Array(a) => a.clone(),
                Value::Null => vec![],
                other => vec![other.clone()],
            };
            json!({"type": "customfield", "id": name, "name": name, "values": values})
        })
        .collect();
    let priority = ticket_priority(t).to_string();
    json!({
        "id": id_value,
        "EffectiveId": urls.link("ticket", &t.id),
        "Type": "ticket",
        "Subject": t.subject,
        "Status": status,
        "Queue": queue_value(urls, &queues.of_ticket(t), sub.of("Queue")),
        "Owner": user(urls, &owner, None, None, sub.of("Owner")),
        "Creator": creator(urls, t, sub.of("Creator")),
        "LastUpdatedBy": creator(urls, t, sub.of("LastUpdatedBy")),
        "Requestor": watchers(requestor),
        "Cc": watchers(cc),
        "AdminCc": [],
        "Priority": priority,
        "InitialPriority": priority,
        "FinalPriority": "0",
        "TimeEstimated": "0",
        "TimeWorked": "0",
        "TimeLeft": "0",
        "Created": date(Some(&t.created_at)),
        "LastUpdated": date(Some(&t.updated_at)),
        "Starts": EPOCH,
        "Started": EPOCH,
        "Due": date(t.due_at.as_ref()),
        "Resolved": date(t.solved_at.as_ref()),
        "Told": EPOCH,
        "CustomFields": custom,
        "_hyperlinks": links,
    })
}

/// A collection item: `{id, type, _url}` and the asked fields taken from `full`.
pub fn item(urls: &Urls, kind: &str, id: &str, full: Option<&Value>, fields: &[String]) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(id));
    o.insert("type".into(), json!(kind));
    o.insert("_url".into(), json!(urls.of(kind, id)));
    if let Some(Value::Object(full)) = full {
        for f in fields {
            if let Some(v) = full.get(f) {
                o.insert(f.clone(), v.clone());
            }
        }
    }
    Value::Object(o)
}

/// One page of a collection, with `next_page` / `prev_page` as RT writes them.
pub fn page(
    items: Vec<Value>,
    total: u64,
    page: u64,
    per_page: u64,
    url_of_page: &dyn Fn(u64) -> String,
) -> Value {
    let pages = total.div_ceil(per_page);
    let mut o = Map::new();
    o.insert("count".into(), json!(items.len()));
    o.insert("page".into(), json!(page));
    o.insert("pages".into(), json!(pages));
    o.insert("per_page".into(), json!(per_page));
    o.insert("total".into(), json!(total));
    if page < pages {
        o.insert("next_page".into(), json!(url_of_page(page + 1)));
    }
    if page > 1 {
        o.insert("prev_page".into(), json!(url_of_page(page - 1)));
    }
    o.insert("items".into(), Value::Array(items));
    Value::Object(o)
}

/// One of a ticket's RT transactions.
#[derive(Debug, Clone)]
pub struct Txn<'a> {
    pub id: u64,
    pub kind: &'static str,
    pub created: DateTime<Utc>,
    pub creator_name: Option<&'a str>,
    pub creator_email: Option<&'a str>,
    pub body: &'a Body,
    pub files: &'a [Attachment],
}

/// Transaction ids of ticket `ticket`: `ticket × 10 000 + k`.
pub fn txn_id(ticket: u64, k: u64) -> Option<u64> {
    ticket.checked_mul(TXN_PER_TICKET)?.checked_add(k)
}

pub fn attachment_id(txn: u64, j: u64) -> Option<u64> {
    txn.checked_mul(ATTACHMENTS_PER_TXN)?.checked_add(j)
}

/// `(ticket, k)` of a transaction id.
pub fn split_txn(id: u64) -> Option<(u64, u64)> {
    let (t, k) = (id / TXN_PER_TICKET, id % TXN_PER_TICKET);
    (t > 0 && k > 0).then_some((t, k))
}

/// `(transaction, j)` of an attachment id.
pub fn split_attachment(id: u64) -> Option<(u64, u64)> {
    let (txn, j) = (id / ATTACHMENTS_PER_TXN, id % ATTACHMENTS_PER_TXN);
    split_txn(txn).map(|_| (txn, j))
}

/// The ticket's transactions: its creation, then one per thread entry.
pub fn transactions(t: &Ticket) -> Vec<Txn<'_>> {
    let Ok(n) = t.id.parse::<u64>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(id) = txn_id(n, 1) {
        out.push(Txn {
            id,
            kind: "Create",
            created: t.created_at,
            creator_name: t
                .requester
                .name
                .as_deref()
                .or(t.requester.username.as_deref()),
            creator_email: t.requester.email.as_deref(),
            body: &t.body,
            files: &t.attachments,
        });
    }
    for (i, e) in t.entries.iter().enumerate() {
        let Some(id) = txn_id(n, 2 + i as u64).filter(|_| i + 2 < TXN_PER_TICKET as usize) else {
            break;
        };
        out.push(Txn {
            id,
            kind: match e.kind {
                EntryKind::Note => "Comment",
                EntryKind::Response | EntryKind::Message => "Correspond",
            },
            created: e.created_at,
            creator_name: e.author.as_ref().and_then(|a| a.name.as_deref()),
            creator_email: e.author.as_ref().and_then(|a| a.email.as_deref()),
            body: &e.body,
            files: &e.attachments,
        });
    }
    out
}

fn txn_creator(urls: &Urls, x: &Txn<'_>, sub: Option<&[String]>) -> Value {
    contact_user(urls, x.creator_name, x.creator_email, sub)
        .unwrap_or_else(|| user(urls, "RT_System", None, Some("The RT System itself"), sub))
}

/// A transaction, as `GET /transaction/{id}` answers it (and, with `fields`, the
/// source of a history item's fields).
pub fn transaction(urls: &Urls, ticket_id: &str, x: &Txn<'_>, sub: &SubFields) -> Value {
    let mut links = vec![
        json!({"ref": "self", "type": "transaction", "id": x.id, "_url": urls.of("transaction", x.id)}),
    ];
    for (j, _) in attachment_ids(x) {
        links.push(json!({"ref": "attachment", "_url": urls.of("attachment", j)}));
    }
    json!({
        "id": x.id,
        "Type": x.kind,
        "Created": date(Some(&x.created)),
        "Creator": txn_creator(urls, x, sub.of("Creator")),
        "Object": urls.link("ticket", ticket_id),
        "TimeTaken": "0",
        "Description": "",
        "_hyperlinks": links,
    })
}

/// The attachments of a transaction: `(id, what)`, the message text first.
pub fn attachment_ids<'a>(x: &Txn<'a>) -> Vec<(u64, Part<'a>)> {
    let mut out = Vec::new();
    if let Some(id) = attachment_id(x.id, 0) {
        out.push((id, Part::Text(x.body)));
    }
    for (i, f) in x.files.iter().enumerate() {
        if let Some(id) =
            attachment_id(x.id, 1 + i as u64).filter(|_| i + 1 < ATTACHMENTS_PER_TXN as usize)
        {
            out.push((id, Part::File(f)));
        }
    }
    out
}

/// What an RT attachment holds: the message text or a file.
#[derive(Debug, Clone, Copy)]
pub enum Part<'a> {
    Text(&'a Body),
    File(&'a Attachment),
}

impl Part<'_> {
    pub fn filename(&self) -> &str {
        match self {
            Part::Text(_) => "",
            Part::File(f) => &f.name,
        }
    }
    pub fn content_type(&self) -> &str {
        match self {
            Part::Text(b) if b.format == BodyFormat::Html => "text/html",
            Part::Text(_) => "text/plain",
            Part::File(f) => &f.media_type,
        }
    }
    pub fn bytes(&self) -> &[u8] {
        match self {
            Part::Text(b) => b.content.as_bytes(),
            Part::File(f) => &f.bytes,
        }
    }
}

/// Base64 as Perl's MIME::Base64 writes it: lines of 76 characters, each ending in a
/// line feed.
pub fn mime_base64(bytes: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(b64.len() + b64.len() / 76 + 1);
    for chunk in b64.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

fn headers_of(p: &Part<'_>) -> String {
    let len = p.bytes().len();
    match p {
        Part::Text(_) => format!(
            "Content-Type: {}; charset=\"utf-8\"\nContent-Disposition: inline\nContent-Transfer-Encoding: binary\nContent-Length: {len}",
            p.content_type()
        ),
        Part::File(f) => format!(
            "Content-Type: {}; name=\"{}\"\nContent-Disposition: attachment; filename=\"{}\"\nContent-Transfer-Encoding: base64\nContent-Length: {len}",
            f.media_type, f.name, f.name
        ),
    }
}

/// An attachment, as `GET /attachment/{id}` answers it: the content in base64.
pub fn attachment(urls: &Urls, x: &Txn<'_>, id: u64, p: &Part<'_>) -> Value {
    let mut v = json!({
        "id": id,
        "Subject": "",
        "MessageId": "",
        "Filename": p.filename(),
        "ContentType": p.content_type(),
        "Content": mime_base64(p.bytes()),
        "Headers": headers_of(p),
        "TransactionId": urls.link("transaction", x.id),
        "Creator": txn_creator(urls, x, None),
        "Created": date(Some(&x.created)),
        "_hyperlinks": [{"ref": "self", "type": "attachment", "id": id, "_url": urls.of("attachment", id)}],
    });
    if let (Part::File(_), Value::Object(o)) = (p, &mut v)
        && let Some(parent) = attachment_id(x.id, 0)
    {
        o.insert("Parent".into(), urls.link("attachment", parent));
    }
    v
}

/// The fields of an attachment in a collection (`Content` there is the raw text, as
/// RT gives it).
pub fn attachment_fields(urls: &Urls, x: &Txn<'_>, id: u64, p: &Part<'_>) -> Value {
    let mut v = attachment(urls, x, id, p);
    if let Value::Object(o) = &mut v {
        o.insert("Content".into(), json!(String::from_utf8_lossy(p.bytes())));
        o.insert("ContentLength".into(), json!(p.bytes().len().to_string()));
    }
    v
}

/// A queue, as `GET /queue/{id}` answers it.
pub fn queue(urls: &Urls, q: &QueueRef) -> Value {
    let id_value =
        q.id.parse::<u64>()
            .map_or_else(|_| json!(q.id), |n| json!(n));
    let system = user(urls, "RT_System", None, None, None);
    json!({
        "id": id_value,
        "Name": q.name,
        "Description": "",
        "CorrespondAddress": "",
        "CommentAddress": "",
        "Lifecycle": "default",
        "SortOrder": "0",
        "Disabled": "0",
        "SLADisabled": "1",
        "InitialPriority": "",
        "FinalPriority": "",
        "DefaultDueIn": "",
        "Cc": [],
        "AdminCc": [],
        "CustomFields": [],
        "TicketCustomFields": [],
        "TicketTransactionCustomFields": [],
        "Creator": system,
        "LastUpdatedBy": system,
        "Created": EPOCH,
        "LastUpdated": EPOCH,
        "_hyperlinks": [
            {"ref": "self", "type": "queue", "id": id_value, "_url": urls.of("queue", &q.id)},
            {"ref": "history", "_url": format!("{}/history", urls.of("queue", &q.id))},
            {"ref": "create", "type": "ticket", "_url": format!("{}/ticket?Queue={}", urls.base, q.id)},
        ],
    })
}

/// A user, as `GET /user/{name}` answers it. Agents are privileged; requesters known
/// by email are not.
pub fn user_record(
    urls: &Urls,
    name: &str,
    email: Option<&str>,
    real: Option<&str>,
    privileged: bool,
) -> Value {
    let system = user(urls, "RT_System", None, None, None);
    json!({
        "id": name,
        "Name": name,
        "RealName": real.unwrap_or(""),
        "EmailAddress": email.unwrap_or(""),
        "Privileged": if privileged { 1 } else { 0 },
        "Disabled": "0",
        "Gecos": "",
        "Comments": "",
        "CustomFields": [],
        "Memberships": [],
        "Creator": system,
        "LastUpdatedBy": system,
        "Created": EPOCH,
        "LastUpdated": EPOCH,
        "_hyperlinks": [
            {"ref": "self", "type": "user", "id": name, "_url": urls.of("user", name)},
            {"ref": "history", "_url": format!("{}/history", urls.of("user", name))},
            {"ref": "memberships", "_url": format!("{}/groups", urls.of("user", name))},
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let t = txn_id(7, 3).unwrap();
        assert_eq!(t, 70003);
        assert_eq!(split_txn(t), Some((7, 3)));
        let a = attachment_id(t, 2).unwrap();
        assert_eq!(split_attachment(a), Some((t, 2)));
        assert_eq!(split_txn(7), None);
        assert_eq!(split_txn(70000), None);
    }

    #[test]
    fn priorities_map_onto_levels_and_back() {
        for level in PriorityLevel::ALL {
            assert_eq!(priority_level(&json!(rt_priority(level))), Some(level));
        }
        assert_eq!(
            priority_level(&json!("Medium")),
            Some(PriorityLevel::Normal)
        );
        assert_eq!(priority_level(&json!("5")), Some(PriorityLevel::VeryLow));
        assert_eq!(priority_level(&json!(true)), None);
        assert_eq!(priority_as_string(20), "Low");
    }

    #[test]
    fn base64_lines_like_perl() {
        assert_eq!(mime_base64(&[0, 1, 2, 3, 4]), "AAECAwQ=\n");
        assert_eq!(mime_base64(&[7; 60]).lines().next().map(str::len), Some(76));
    }
}
