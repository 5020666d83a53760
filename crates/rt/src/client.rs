//! The client face: canonical operations against a real Request Tracker over its
//! REST 2.0 API (`/REST/2.0/`, built into RT 5).
//!
//! | canonical | RT REST 2.0 |
//! |-----------|-------------|
//! | create | `POST /ticket` (Queue, Subject, Content, Requestor, Cc, Owner, Priority, Due, Status, CustomFields, Attachments as base64) |
//! | get | `GET /ticket/N`, its `history` (Create, Correspond, Comment) and `attachments`, each part from `GET /attachment/N` |
//! | update | `PUT /ticket/N`, then read back: RT answers 200 even for a change it refused, so each field is checked |
//! | entries | `POST /ticket/N/correspond` (response, message), `…/comment` (note) |
//! | resolve / close | correspond (the solution) or comment (the note) with `Status: resolved` |
//! | assign / take | `PUT /ticket/N {"Owner": …}` |
//! | attach | a comment carrying the files |
//! | delete | `DELETE /ticket/N` (status `deleted`) |
//! | search | `GET /tickets?query=<TicketSQL>` (see [`sql`]) |
//! | look-ups | queues (departments), users (agents), the status and priority tables |
//! | subtickets | RT's `MemberOf` links: `PUT /ticket/N` with `AddParent` / `DeleteParent`, TicketSQL `MemberOf` / `HasMember` |
//!
//! What RT's REST 2.0 cannot do is a 501: purging (RT needs `rt-shredder`), editing the
//! first message, groups or teams as assignees, categories, topics, types, urgency,
//! impact, locations, entities, SLAs, and statistics.

mod map;
mod sql;

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt as _;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use ticketgate_model::{
    Assignment, Attachment, Body, BodyFormat, Capabilities, Closure, Contact, DeleteMode,
    EntryKind, Error, Helpdesk, LookupItem, LookupKind, NewEntry, NewTicket, Operation, Page,
    PriorityLevel, Query, Reference, Requester, Resolution, State, ThreadEntry, Ticket,
    TicketPatch, UpstreamAnswer, UpstreamHint, classify_upstream, upstream_unreadable,
};
use ticketgate_upstream::client::Method;

pub use map::{state_of, status_for};

const VENDOR: &str = "RT";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// RT's largest page.
const PER_PAGE: u32 = 100;
/// The fields a search reads of each ticket.
const SEARCH_FIELDS: &str =
    "Subject,Status,Priority,Queue,Owner,Requestor,Cc,Created,LastUpdated,Due,Resolved";
/// At most this many pages of one listing are read (10 000 transactions or parts).
const MAX_PAGES: u32 = 100;

/// Configuration of an RT upstream.
#[derive(Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// RT's base URL (`$WebBaseURL`), e.g. `https://rt.example.com`; one ending in
    /// `/REST/2.0` is taken back to the base.
    pub url: String,
    /// An RT auth token (`1-14-…`, from the user's *Auth Tokens* page): preferred.
    pub token: Option<String>,
    /// Or an RT user name and password (HTTP basic auth).
    pub login: Option<String>,
    pub password: Option<String>,
    /// The queue new tickets go to when they name no department (default `General`).
    pub queue: String,
    pub connect_timeout_ms: u64,
    pub request_timeout_ms: u64,
    /// The largest answer read; a larger one is a 502 (see `ticketgate_upstream`).
    pub max_response_bytes: usize,
    /// TLS toward RT: a private CA and a client certificate (see
    /// `ticketgate_upstream::tls`); none means the system roots and no client certificate.
    pub tls: Option<ticketgate_upstream::tls::ClientTls>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            token: None,
            login: None,
            password: None,
            queue: "General".into(),
            connect_timeout_ms: 3_000,
            request_timeout_ms: 15_000,
            max_response_bytes: ticketgate_upstream::DEFAULT_MAX_RESPONSE_BYTES,
            tls: None,
        }
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |o: &Option<String>| if o.is_some() { "<redacted>" } else { "None" };
        f.debug_struct("ClientConfig")
            .field("url", &self.url)
            .field("token", &redact(&self.token))
            .field("login", &self.login)
            .field("password", &redact(&self.password))
            .field("queue", &self.queue)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .finish()
    }
}

/// One RT answer, whatever its status.
struct Answer {
    status: u16,
    location: Option<String>,
    retry_after: Option<Duration>,
    body: Bytes,
}

/// A queue: RT's id and name.
#[derive(Debug, Clone)]
struct QueueRow {
    id: String,
    name: String,
}

/// Request Tracker over REST 2.0.
pub struct RtClient {
    config: ClientConfig,
    /// `…/REST/2.0`, no trailing slash.
    base: String,
    http: ticketgate_upstream::Client,
    queues: tokio::sync::Mutex<Option<Vec<QueueRow>>>,
}

impl std::fmt::Debug for RtClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtClient")
            .field("base", &self.base)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// RT ids are positive integers: anything else cannot be one of its tickets.
fn path_id(id: &str) -> Result<u64, Error> {
    id.trim()
        .trim_start_matches('#')
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::not_found(format!("ticket {id} not found")))
}

/// The last path segment of a `Location` (`/REST/2.0/transaction/40` → `40`).
fn location_id(location: Option<&str>) -> Option<String> {
    location?
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// An address as RT's watcher lists take it: `"Name" <email>` (RT then gives a user
/// it creates that real name), or the bare address.
fn mailbox(name: Option<&str>, email: &str) -> String {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => {
            let n: String = n
                .chars()
                .filter(|c| !c.is_control())
                .map(|c| if c == '"' { '\'' } else { c })
                .collect();
            format!("\"{}\" <{}>", n.replace('\\', ""), email.trim())
        }
        None => email.trim().to_owned(),
    }
}

fn content_type(format: BodyFormat) -> &'static str {
    match format {
        BodyFormat::Html => "text/html",
        BodyFormat::Text | BodyFormat::Markdown => "text/plain",
    }
}

fn attachments_json(files: &[Attachment]) -> Value {
    Value::Array(
        files
            .iter()
            .map(|f| {
                json!({
                    "FileName": f.name,
                    "FileType": f.media_type,
                    "FileContent": B64.encode(&f.bytes),
                })
            })
            .collect(),
    )
}

/// A canonical field RT has no place for, refused by name.
fn no_place(field: &str) -> Error {
    Error::unsupported("rt", &format!("setting {field}")).field(field)
}

impl RtClient {
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let mut base = config.url.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(
                Error::bad_input(format!("rt url {base:?} must be RT's http(s) base URL"))
                    .field("url"),
            );
        }
        if let Some(stripped) = base.strip_suffix("/REST/2.0") {
            base = stripped.to_owned();
        }
        let has_token = config
            .token
            .as_deref()
            .is_some_and(|t| !t.trim().is_empty());
        let has_login = config.login.as_deref().is_some_and(|t| !t.is_empty())
            && config.password.as_deref().is_some_and(|t| !t.is_empty());
        if !has_token && !has_login {
            return Err(
                Error::bad_input("rt needs a token, or a login and a password").field("token"),
            );
        }
        if config.queue.trim().is_empty() {
            return Err(Error::bad_input("rt queue cannot be empty").field("queue"));
        }
        let rest = format!("{base}/REST/2.0");
        let settings = ticketgate_upstream::Settings::new(
            &rest,
            config.connect_timeout_ms,
            config.request_timeout_ms,
        )
        .tls(config.tls.as_ref());
        let http = ticketgate_upstream::Client::new(&settings).map_err(|e| match e {
            ticketgate_upstream::client::BuildError::Tls(m) => Error::bad_input(m).field("tls"),
            _ => Error::bad_input(format!("rt url {base:?} must be RT's http(s) base URL"))
                .field("url"),
        })?;
        let http = match config.token.as_deref().filter(|t| !t.trim().is_empty()) {
            Some(t) => http.with_header("authorization", &format!("token {}", t.trim()), true),
            None => http.with_basic_auth(
                config.login.as_deref().unwrap_or_default(),
                config.password.as_deref(),
            ),
        }
        .map_err(|_| {
            Error::bad_input("rt token or password holds characters HTTP cannot carry")
                .field("token")
        })?;
        Ok(Self {
            base: rest,
            config,
            http,
            queues: tokio::sync::Mutex::new(None),
        })
    }

    fn transport_error(&self, e: &ticketgate_upstream::Failure) -> Error {
        e.into_error(VENDOR, self.config.request_timeout_ms)
    }

    /// One exchange with RT, its answer whatever the status (read through the one
    /// bounded reader every client face shares).
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Answer, Error> {
        let mut req = self.http.request(method, path).query(query);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| self.transport_error(&e))?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let location = header("location");
        let retry_after = header("retry-after")
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = ticketgate_upstream::read_body(resp, self.config.max_response_bytes)
            .await
            .map_err(|e| e.into_error(VENDOR, |t| self.transport_error(t)))?;
        Ok(Answer {
            status,
            location,
            retry_after,
            body,
        })
    }

    /// A call that must succeed: its JSON and `Location`, or the classified refusal.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(Value, Option<String>), Error> {
        let a = self.send(method, path, query, body).await?;
        if !(200..300).contains(&a.status) {
            return Err(refusal(&a));
        }
        let v = if a.body.trim_ascii().is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&a.body).map_err(|e| upstream_unreadable(VENDOR, e))?
        };
        Ok((v, a.location))
    }

    async fn get_json(&self, path: &str, query: &[(&str, String)]) -> Result<Value, Error> {
        Ok(self.call(Method::GET, path, query, None).await?.0)
    }

    /// Every item of a paged RT listing (at most [`MAX_PAGES`] pages).
    async fn list_all(&self, path: &str, fields: &str) -> Result<Vec<Value>, Error> {
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let v = self
                .get_json(
                    path,
                    &[
                        ("fields", fields.to_owned()),
                        ("per_page", PER_PAGE.to_string()),
                        ("page", page.to_string()),
                    ],
                )
                .await?;
            let items = items(&v)?;
            let n = items.len();
            out.extend(items);
            let pages = v.get("pages").and_then(Value::as_f64).unwrap_or(0.0);
            if n < PER_PAGE as usize || f64::from(page) >= pages {
                break;
            }
        }
        Ok(out)
    }

    /// RT's queues (id and name), read once per client.
    async fn queue_rows(&self) -> Result<Vec<QueueRow>, Error> {
        let mut cached = self.queues.lock().await;
        if let Some(rows) = cached.as_ref() {
            return Ok(rows.clone());
        }
        let rows = self.fetch_queues().await?;
        *cached = Some(rows.clone());
        Ok(rows)
    }

    async fn fetch_queues(&self) -> Result<Vec<QueueRow>, Error> {
        Ok(self
            .list_all("/queues/all", "Name")
            .await?
            .iter()
            .filter_map(|q| {
                Some(QueueRow {
                    id: q.get("id").and_then(map::text)?,
                    name: q.get("Name").and_then(map::text).unwrap_or_default(),
                })
            })
            .collect())
    }

    /// The queue a department names, by id or case-insensitive name: unknown → 400.
    async fn queue_named(&self, r: &Reference) -> Result<QueueRow, Error> {
        let rows = self.queue_rows().await?;
        let hit = rows.iter().find(|q| r.matches(&q.id, &q.name)).or_else(|| {
            // A name that is all digits arrives as an id.
            r.id.as_deref()
                .and_then(|i| rows.iter().find(|q| q.name == i))
        });
        match hit {
            Some(q) => Ok(q.clone()),
            None => Err(Error::bad_input(format!(
                "unknown department {:?}: RT's queues are {}",
                r.label(),
                rows.iter()
                    .map(|q| q.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .field("department")),
        }
    }

    /// The queue's name for a ticket row's `Queue` reference.
    async fn queue_reference(&self, row: &Value) -> Option<Reference> {
        let id = row.get("Queue").and_then(map::ref_id)?;
        let name = self
            .queue_rows()
            .await
            .ok()
            .and_then(|rows| rows.into_iter().find(|q| q.id == id).map(|q| q.name));
        Some(match name {
            Some(n) => Reference::both(id, n),
            None => Reference::id(id),
        })
    }

    /// Custom fields RT would take for a ticket in queue `queue_id`: RT silently drops
    /// a name it does not know for the queue, so one it does not know is refused here
    /// (400, naming `custom_fields.NAME`). Names match case-insensitively, ids exactly;
    /// each is sent under RT's own name.
    async fn custom_fields_for(
        &self,
        queue_id: &str,
        fields: &ticketgate_model::ticket::CustomFields,
    ) -> Result<Value, Error> {
        let known = self
            .list_all(
                &format!("/queue/{}/customfields", segment(queue_id)),
                "Name",
            )
            .await?;
        let mut out = Map::new();
        for (name, value) in fields {
            let hit = known.iter().find_map(|cf| {
                let id = cf.get("id").and_then(map::text)?;
                let cf_name = cf.get("Name").and_then(map::text).unwrap_or_default();
                (cf_name.eq_ignore_ascii_case(name.trim()) || id == name.trim()).then_some(cf_name)
            });
            match hit {
                Some(cf_name) => {
                    out.insert(cf_name, value.clone());
                }
                None => {
                    let names: Vec<String> = known
                        .iter()
                        .filter_map(|cf| cf.get("Name").and_then(map::text))
                        .collect();
                    return Err(Error::bad_input(format!(
                        "RT has no custom field {name:?} for this queue; it has: {}",
                        if names.is_empty() {
                            "none".to_owned()
                        } else {
                            names.join(", ")
                        }
                    ))
                    .field(format!("custom_fields.{name}")));
                }
            }
        }
        Ok(Value::Object(out))
    }

    /// The `Requestor` value of a canonical requester. RT files a requestor by email
    /// (creating the user, with the name when it is new) or by an existing user name;
    /// given anything else it silently creates a ticket with no requestor, so that is
    /// refused here.
    async fn requestor(&self, r: &Requester) -> Result<String, Error> {
        if let Some(email) = r.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
            // A dialect that knows only a login (TicketsApi's `Requester`) names the
            // user by it, as osTicket does.
            let name = r.name.as_deref().or(r.username.as_deref());
            return Ok(mailbox(name, email));
        }
        for login in [r.username.as_deref(), r.id.as_deref(), r.name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        {
            let a = self
                .send(Method::GET, &format!("/user/{}", segment(login)), &[], None)
                .await?;
            match a.status {
                200 => {
                    let v: Value = serde_json::from_slice(&a.body)
                        .map_err(|e| upstream_unreadable(VENDOR, e))?;
                    if let Some(name) = v.get("Name").and_then(map::text) {
                        return Ok(name);
                    }
                }
                404 => continue,
                _ => return Err(refusal(&a)),
            }
        }
        Err(Error::bad_input(
            "RT files a requester by email address or by an existing RT user name; this requester has neither",
        )
        .field("requester.email"))
    }

    /// Name and email of an RT user (a failed read leaves what the id says).
    async fn contact_of(&self, user: &str) -> Requester {
        let mut r = Requester {
            username: Some(user.to_owned()),
            ..Requester::default()
        };
        if user.contains('@') {
            r.email = Some(user.to_owned());
        }
        if let Ok(v) = self
            .get_json(&format!("/user/{}", segment(user)), &[])
            .await
        {
            let s = |k: &str| {
                v.get(k)
                    .and_then(map::text)
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
            };
            r.email = s("EmailAddress").or(r.email);
            r.name = s("RealName");
            r.id = v.get("id").and_then(map::text);
        }
        r
    }

    /// The ticket fields every listing shares (search items and `GET /ticket/N`).
    async fn ticket_from_row(&self, row: &Value) -> Result<Ticket, Error> {
        let id = row
            .get("id")
            .and_then(map::text)
            .ok_or_else(|| upstream_unreadable(VENDOR, "a ticket without an id"))?;
        let status_name = row
            .get("Status")
            .and_then(map::text)
            .unwrap_or_else(|| "new".into());
        let status = map::status(&status_name);
        let s = |k: &str| row.get(k).and_then(map::text);
        let priority = s("Priority")
            .and_then(|p| p.trim().parse::<i64>().ok())
            .map(map::priority);
        let owner = row
            .get("Owner")
            .and_then(map::ref_id)
            .filter(|o| o != "Nobody" && !o.is_empty());
        let requestors = map::ref_ids(row.get("Requestor"));
        let requester = match requestors.first() {
            Some(u) => Requester {
                email: u.contains('@').then(|| u.clone()),
                username: Some(u.clone()),
                ..Requester::default()
            },
            None => Requester::default(),
        };
        let cc = map::ref_ids(row.get("Cc"))
            .into_iter()
            .map(|u| {
                if u.contains('@') {
                    Contact {
                        name: None,
                        email: Some(u),
                    }
                } else {
                    Contact {
                        name: Some(u),
                        email: None,
                    }
                }
            })
            .collect();
        let created = map::date(row.get("Created")).unwrap_or_default();
        let updated = map::date(row.get("LastUpdated")).unwrap_or(created);
        let resolved = map::date(row.get("Resolved"));
        Ok(Ticket {
            number: id.clone(),
            id,
            subject: s("Subject").unwrap_or_default(),
            body: Body::default(),
            requester,
            cc,
            priority,
            urgency: None,
            impact: None,
            ticket_type: None,
            category: None,
            topic: None,
            department: self.queue_reference(row).await,
            group: None,
            team: None,
            assignee: owner.map(Reference::name),
            location: None,
            entity: None,
            sla: None,
            due_at: map::date(row.get("Due")),
            created_at: created,
            updated_at: updated,
            solved_at: resolved.filter(|_| status.state == State::Resolved),
            closed_at: resolved.filter(|_| status.state == State::Closed),
            status,
            source: ticketgate_model::Source::Api,
            client_ip: None,
            attachments: Vec::new(),
            entries: Vec::new(),
            parent: None,
            children: Vec::new(),
            custom_fields: custom_fields(row.get("CustomFields")),
            email: None,
        })
    }

    /// One attachment of RT's (`GET /attachment/N`: `Content` is base64 there).
    async fn attachment_bytes(&self, id: String) -> Result<(String, Vec<u8>), Error> {
        let v = self.get_json(&format!("/attachment/{id}"), &[]).await?;
        let content = v.get("Content").and_then(Value::as_str).unwrap_or("");
        let cleaned: String = content.split_whitespace().collect();
        let bytes = B64
            .decode(cleaned.as_bytes())
            .map_err(|e| upstream_unreadable(VENDOR, format!("attachment {id}: {e}")))?;
        Ok((id, bytes))
    }

    /// Post a correspondence or comment; the new transaction's id.
    async fn post_update(
        &self,
        id: u64,
        action: &str,
        body: &Body,
        files: &[Attachment],
        status: Option<&str>,
    ) -> Result<Option<String>, Error> {
        let mut m = Map::new();
        m.insert("Content".into(), json!(body.content));
        m.insert("ContentType".into(), json!(content_type(body.format)));
        if !files.is_empty() {
            m.insert("Attachments".into(), attachments_json(files));
        }
        if let Some(s) = status {
            m.insert("Status".into(), json!(s));
        }
        let (v, location) = self
            .call(
                Method::POST,
                &format!("/ticket/{id}/{action}"),
                &[],
                Some(&Value::Object(m)),
            )
            .await?;
        check_messages(&v)?;
        Ok(location_id(location.as_deref()))
    }

    /// Tickets a TicketSQL link clause finds (a 404 when `n` itself does not exist).
    async fn linked(&self, clause: &str, n: u64) -> Result<Vec<Ticket>, Error> {
        self.get_json(&format!("/ticket/{n}"), &[]).await?;
        let v = self
            .get_json(
                "/tickets",
                &[
                    ("query", clause.to_owned()),
                    ("fields", SEARCH_FIELDS.to_owned()),
                    ("orderby", "id".to_owned()),
                    ("per_page", PER_PAGE.to_string()),
                ],
            )
            .await?;
        let mut out = Vec::new();
        for row in items_of(&v)? {
            out.push(self.ticket_from_row(&row).await?);
        }
        Ok(out)
    }

    /// `PUT /ticket/N` with `fields`, then verify each took: RT answers 200 with a
    /// list of messages even when it refused a change.
    async fn put_checked(&self, id: u64, fields: Map<String, Value>) -> Result<Ticket, Error> {
        if fields.is_empty() {
            return self.get(&id.to_string()).await;
        }
        let (v, _) = self
            .call(
                Method::PUT,
                &format!("/ticket/{id}"),
                &[],
                Some(&Value::Object(fields.clone())),
            )
            .await?;
        let messages: Vec<String> = v
            .as_array()
            .map(|a| a.iter().filter_map(map::text).collect())
            .unwrap_or_default();
        let row = self.get_json(&format!("/ticket/{id}"), &[]).await?;
        for (field, wanted) in &fields {
            if let Some(problem) = field_not_set(&row, field, wanted) {
                let said = messages
                    .iter()
                    .find(|m| !m.contains(" changed from ") && !m.starts_with("Added "))
                    .cloned()
                    .unwrap_or(problem);
                return Err(Error::upstream_rejected(said)
                    .with_upstream_status(400)
                    .field(canonical_field(field)));
            }
        }
        self.get(&id.to_string()).await
    }

    /// Create, then read the ticket back with its history (or, for a brief create,
    /// answer it as sent with its new id).
    async fn create_as(&self, ticket: NewTicket, read_back: bool) -> Result<Ticket, Error> {
        ticket.validate()?;
        for (present, field) in [
            (ticket.group.is_some(), "group"),
            (ticket.team.is_some(), "team"),
        ] {
            if present {
                return Err(no_place(field));
            }
        }
        let queue = match &ticket.department {
            Some(d) => self.queue_named(d).await?.name,
            None => self.config.queue.clone(),
        };
        let custom_fields = if ticket.custom_fields.is_empty() {
            None
        } else {
            let q = self.queue_named(&Reference::name(queue.clone())).await?;
            Some(self.custom_fields_for(&q.id, &ticket.custom_fields).await?)
        };
        let mut m = Map::new();
        m.insert("Queue".into(), json!(queue));
        m.insert("Subject".into(), json!(ticket.subject));
        m.insert("Content".into(), json!(ticket.body.content));
        m.insert(
            "ContentType".into(),
            json!(content_type(ticket.body.format)),
        );
        m.insert(
            "Requestor".into(),
            json!(self.requestor(&ticket.requester).await?),
        );
        let cc: Vec<String> = ticket
            .cc
            .iter()
            .filter_map(|c| {
                c.email
                    .as_deref()
                    .filter(|e| !e.trim().is_empty())
                    .map(|e| mailbox(c.name.as_deref(), e))
            })
            .collect();
        if !cc.is_empty() {
            m.insert("Cc".into(), json!(cc.join(", ")));
        }
        if let Some(a) = &ticket.assignee {
            m.insert("Owner".into(), json!(a.label()));
        }
        if let Some(p) = &ticket.priority {
            m.insert("Priority".into(), json!(map::priority_from_reference(p)?));
        }
        if let Some(s) = &ticket.status {
            m.insert("Status".into(), json!(map::status_from_reference(s)?));
        }
        if let Some(due) = &ticket.due_at {
            m.insert("Due".into(), json!(map::rt_date(due)));
        }
        if let Some(cf) = custom_fields {
            m.insert("CustomFields".into(), cf);
        }
        if !ticket.attachments.is_empty() {
            m.insert("Attachments".into(), attachments_json(&ticket.attachments));
        }
        if let Some(parent) = ticket.parent.as_deref() {
            // RT creates the ticket even when the parent cannot be linked: look first.
            let p = path_id(parent).map_err(|_| {
                Error::bad_input(format!("unknown parent {parent:?}")).field("parent")
            })?;
            match self
                .send(Method::GET, &format!("/ticket/{p}"), &[], None)
                .await?
            {
                a if a.status == 200 => {}
                a if a.status == 404 => {
                    return Err(
                        Error::bad_input(format!("unknown parent ticket {p}")).field("parent")
                    );
                }
                a => return Err(refusal(&a)),
            }
            m.insert("Parent".into(), json!(p));
        }
        let (v, location) = self
            .call(Method::POST, "/ticket", &[], Some(&Value::Object(m)))
            .await?;
        let id = v
            .get("id")
            .and_then(map::text)
            .or_else(|| location_id(location.as_deref()))
            .ok_or_else(|| upstream_unreadable(VENDOR, "a create that answered no id"))?;
        // RT has the ticket now. Nothing after this may fail the create: a retry of a
        // create that failed here would make a second ticket.
        if let Some(note) = ticket.note.as_deref().filter(|n| !n.trim().is_empty())
            && let Err(e) = self
                .post_update(path_id(&id)?, "comment", &Body::text(note), &[], None)
                .await
        {
            tracing::warn!(ticket = %id, error = %e.message, "rt: the create's note was not added");
        }
        if !read_back {
            return Ok(as_sent(ticket, &id, &queue));
        }
        match self.get(&id).await {
            Ok(t) => Ok(t),
            Err(e) => {
                tracing::warn!(ticket = %id, error = %e.message, "rt: created, but not read back; answering from what was sent");
                Ok(as_sent(ticket, &id, &queue))
            }
        }
    }
}

/// The outcome of a link change, from RT's messages (it answers 200 either way).
fn link_outcome(v: &Value, success: &str) -> Result<(), Error> {
    let messages: Vec<String> = v
        .as_array()
        .map(|a| a.iter().filter_map(map::text).collect())
        .unwrap_or_default();
    if messages.iter().any(|m| m.contains(success)) {
        return Ok(());
    }
    let said = messages.join("; ");
    let lower = said.to_ascii_lowercase();
    Err(
        if lower.contains("circular") || lower.contains("to itself") {
            Error::conflict(said)
        } else if lower.contains("not found") || lower.contains("couldn't resolve") {
            Error::not_found(said)
        } else {
            Error::upstream_rejected(if said.is_empty() {
                "RT did not change the link".to_owned()
            } else {
                said
            })
            .with_upstream_status(400)
        },
    )
}

/// The ticket a create made, from what was sent and the id RT gave it (when the
/// read-back failed after RT had stored it).
fn as_sent(t: NewTicket, id: &str, queue: &str) -> Ticket {
    let now = chrono::Utc::now();
    let status = t
        .status
        .as_ref()
        .and_then(|s| map::status_from_reference(s).ok())
        .unwrap_or_else(|| "new".into());
    Ticket {
        id: id.to_owned(),
        number: id.to_owned(),
        subject: t.subject,
        body: t.body,
        requester: t.requester,
        cc: t.cc,
        status: map::status(&status),
        priority: t
            .priority
            .as_ref()
            .and_then(|p| map::priority_from_reference(p).ok())
            .map(map::priority),
        urgency: None,
        impact: None,
        ticket_type: None,
        category: None,
        topic: None,
        department: Some(Reference::name(queue)),
        group: None,
        team: None,
        assignee: t.assignee,
        location: None,
        entity: None,
        sla: None,
        due_at: t.due_at,
        created_at: now,
        updated_at: now,
        solved_at: None,
        closed_at: None,
        source: t.source,
        client_ip: None,
        attachments: t.attachments,
        entries: Vec::new(),
        parent: t.parent,
        children: Vec::new(),
        custom_fields: t.custom_fields,
        email: t.email,
    }
}

/// The canonical name of an RT field, for errors.
fn canonical_field(rt: &str) -> &'static str {
    match rt {
        "Subject" => "subject",
        "Status" => "status",
        "Priority" => "priority",
        "Queue" => "department",
        "Owner" => "assignee",
        "Due" => "due_at",
        "Requestor" => "requester",
        "CustomFields" => "custom_fields",
        _ => "ticket",
    }
}

/// Why `field` of a ticket row is not `wanted` after a PUT, or `None` when it is.
fn field_not_set(row: &Value, field: &str, wanted: &Value) -> Option<String> {
    let have = row.get(field);
    let ok = match field {
        "Subject" => have.and_then(map::text).as_deref() == wanted.as_str(),
        "Status" => have.and_then(map::text).is_some_and(|s| {
            Some(s.to_ascii_lowercase()) == wanted.as_str().map(str::to_ascii_lowercase)
        }),
        "Priority" => {
            have.and_then(map::text).and_then(|s| s.parse::<i64>().ok()) == wanted.as_i64()
        }
        "Owner" => have.and_then(map::ref_id).is_some_and(|o| {
            Some(o.to_ascii_lowercase()) == wanted.as_str().map(str::to_ascii_lowercase)
        }),
        // Queue and requestor changes are names against ids: RT's own messages decide.
        _ => true,
    };
    (!ok).then(|| format!("RT did not change {field}"))
}

/// RT answers some refusals as 200/201 with a list of messages; the known failure
/// wordings become a 400.
fn check_messages(v: &Value) -> Result<(), Error> {
    let Some(list) = v.as_array() else {
        return Ok(());
    };
    for m in list.iter().filter_map(Value::as_str) {
        let lower = m.to_ascii_lowercase();
        if lower.contains("permission denied")
            || lower.contains("isn't a valid")
            || lower.contains("does not exist")
            || lower.starts_with("could not")
        {
            return Err(Error::upstream_rejected(m.to_owned()).with_upstream_status(400));
        }
    }
    Ok(())
}

/// The items of a paged listing.
fn items(v: &Value) -> Result<Vec<Value>, Error> {
    v.get("items")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| upstream_unreadable(VENDOR, "a listing without items"))
}

/// A value as one URL path segment.
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// RT's `CustomFields` (`[{"id", "name", "values": [...]}]`) as canonical custom
/// fields: one value as a string, several as an array.
fn custom_fields(v: Option<&Value>) -> ticketgate_model::ticket::CustomFields {
    let mut out = ticketgate_model::ticket::CustomFields::new();
    for cf in v.and_then(Value::as_array).into_iter().flatten() {
        let Some(name) = cf.get("name").and_then(map::text) else {
            continue;
        };
        let values: Vec<Value> = cf
            .get("values")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        match values.len() {
            0 => {}
            1 => {
                out.insert(name, values[0].clone());
            }
            _ => {
                out.insert(name, Value::Array(values));
            }
        }
    }
    out
}

/// The canonical error of an RT answer that is not a success.
fn refusal(a: &Answer) -> Error {
    let message = map::error_message(&a.body);
    let hint = match a.status {
        400 | 422 => UpstreamHint::Refused,
        _ => UpstreamHint::None,
    };
    classify_upstream(
        VENDOR,
        &UpstreamAnswer {
            status: a.status,
            hint,
            message: &message,
            retry_after: a.retry_after,
        },
    )
}

/// The Create / Correspond / Comment transactions of a history listing, in order.
struct Transaction {
    id: String,
    kind: String,
    creator: String,
    created: chrono::DateTime<chrono::Utc>,
}

/// One MIME part of a transaction.
struct Part {
    id: String,
    transaction: String,
    filename: String,
    content_type: String,
}

#[async_trait]
impl Helpdesk for RtClient {
    fn name(&self) -> &str {
        "rt"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::of(&[
            Operation::Create,
            Operation::Get,
            Operation::Update,
            Operation::Delete,
            Operation::Search,
            Operation::AddEntry,
            Operation::Resolve,
            Operation::Close,
            Operation::Assign,
            Operation::Attach,
            Operation::Link,
            Operation::Unlink,
            Operation::Parent,
            Operation::Children,
            Operation::Lookup,
        ])
    }

    async fn create(&self, ticket: NewTicket) -> Result<Ticket, Error> {
        self.create_as(ticket, true).await
    }

    async fn create_brief(&self, ticket: NewTicket, _key: &str) -> Result<Ticket, Error> {
        self.create_as(ticket, false).await
    }

    async fn get(&self, id: &str) -> Result<Ticket, Error> {
        let n = path_id(id)?;
        let (row_path, history_path, parts_path) = (
            format!("/ticket/{n}"),
            format!("/ticket/{n}/history"),
            format!("/ticket/{n}/attachments"),
        );
        // Independent reads, made at once.
        let (row, history, parts) = tokio::join!(
            self.get_json(&row_path, &[]),
            self.list_all(&history_path, "Type,Creator,Created"),
            self.list_all(&parts_path, "Filename,ContentType,TransactionId"),
        );
        let row = row?;
        let mut t = self.ticket_from_row(&row).await?;
        let linked = |rel: &str| -> Vec<String> {
            row.get("_hyperlinks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|h| h.get("ref").and_then(Value::as_str) == Some(rel))
                .filter_map(|h| h.get("id").and_then(map::text))
                .collect()
        };
        t.parent = linked("parent").into_iter().next();
        t.children = linked("child");
        let transactions: Vec<Transaction> = history?
            .iter()
            .filter_map(|tx| {
                let kind = tx.get("Type").and_then(map::text)?;
                matches!(kind.as_str(), "Create" | "Correspond" | "Comment").then(|| Transaction {
                    id: tx.get("id").and_then(map::text).unwrap_or_default(),
                    kind,
                    creator: tx.get("Creator").and_then(map::ref_id).unwrap_or_default(),
                    created: map::date(tx.get("Created")).unwrap_or(t.created_at),
                })
            })
            .collect();
        let wanted: HashSet<&str> = transactions.iter().map(|tx| tx.id.as_str()).collect();
        let parts: Vec<Part> = parts?
            .iter()
            .filter_map(|p| {
                let transaction = p.get("TransactionId").and_then(map::ref_id)?;
                let content_type = p
                    .get("ContentType")
                    .and_then(map::text)
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let filename = p.get("Filename").and_then(map::text).unwrap_or_default();
                let is_body = filename.is_empty()
                    && (content_type == "text/plain" || content_type == "text/html");
                (wanted.contains(transaction.as_str())
                    && (is_body || !filename.is_empty())
                    && !content_type.starts_with("multipart/"))
                .then(|| Part {
                    id: p.get("id").and_then(map::text).unwrap_or_default(),
                    transaction,
                    filename,
                    content_type,
                })
            })
            .collect();
        // The requester's name and email, and each part's bytes, at once.
        let requester_id = t.requester.username.clone();
        let ids: Vec<String> = parts.iter().map(|p| p.id.clone()).collect();
        let fetches =
            futures_util::stream::iter(ids.into_iter().map(|pid| self.attachment_bytes(pid)))
                .buffered(8)
                .collect::<Vec<_>>();
        let requester = async {
            match requester_id.as_deref() {
                Some(u) => Some(self.contact_of(u).await),
                None => None,
            }
        };
        let (fetched, requester) = tokio::join!(fetches, requester);
        let mut bytes: HashMap<String, Vec<u8>> = HashMap::new();
        for f in fetched {
            let (pid, b) = f?;
            bytes.insert(pid, b);
        }
        if let Some(r) = requester {
            t.requester = r;
        }
        let requestors: HashSet<String> = map::ref_ids(row.get("Requestor"))
            .into_iter()
            .map(|u| u.to_ascii_lowercase())
            .collect();
        for tx in &transactions {
            let mine: Vec<&Part> = parts.iter().filter(|p| p.transaction == tx.id).collect();
            let text_of = |p: &Part| {
                String::from_utf8_lossy(bytes.get(&p.id).map(Vec::as_slice).unwrap_or_default())
                    .into_owned()
            };
            let body = mine
                .iter()
                .find(|p| p.filename.is_empty() && p.content_type == "text/plain")
                .map(|p| Body::text(text_of(p)))
                .or_else(|| {
                    mine.iter()
                        .find(|p| p.filename.is_empty() && p.content_type == "text/html")
                        .map(|p| Body::html(text_of(p)))
                })
                .unwrap_or_default();
            let files: Vec<Attachment> = mine
                .iter()
                .filter(|p| !p.filename.is_empty())
                .map(|p| Attachment {
                    id: Some(p.id.clone()),
                    name: p.filename.clone(),
                    media_type: if p.content_type.is_empty() {
                        "application/octet-stream".into()
                    } else {
                        p.content_type.clone()
                    },
                    bytes: bytes.remove(&p.id).unwrap_or_default(),
                    inline: false,
                    content_id: None,
                })
                .collect();
            if tx.kind == "Create" {
                t.body = body;
                t.attachments.extend(files);
                continue;
            }
            let kind = match tx.kind.as_str() {
                "Comment" => EntryKind::Note,
                _ if requestors.contains(&tx.creator.to_ascii_lowercase()) => EntryKind::Message,
                _ => EntryKind::Response,
            };
            t.entries.push(ThreadEntry {
                id: tx.id.clone(),
                kind,
                author: Some(if tx.creator.contains('@') {
                    Contact {
                        name: None,
                        email: Some(tx.creator.clone()),
                    }
                } else {
                    Contact {
                        name: Some(tx.creator.clone()),
                        email: None,
                    }
                }),
                body,
                created_at: tx.created,
                attachments: files,
                email: None,
            });
        }
        Ok(t)
    }

    async fn get_by_number(&self, number: &str) -> Result<Ticket, Error> {
        // RT's number is its id.
        self.get(number).await
    }

    async fn update(&self, id: &str, patch: TicketPatch) -> Result<Ticket, Error> {
        patch.validate()?;
        if patch.is_empty() {
            return Err(Error::bad_input("the update changes nothing"));
        }
        let n = path_id(id)?;
        for (present, field) in [
            (patch.body.is_some(), "body"),
            (patch.urgency.is_some(), "urgency"),
            (patch.impact.is_some(), "impact"),
            (patch.ticket_type.is_some(), "type"),
            (patch.category.is_some(), "category"),
            (patch.topic.is_some(), "topic"),
            (patch.group.is_some(), "group"),
            (patch.team.is_some(), "team"),
            (patch.location.is_some(), "location"),
            (patch.entity.is_some(), "entity"),
            (patch.sla.is_some(), "sla"),
        ] {
            if present {
                return Err(no_place(field));
            }
        }
        let mut m = Map::new();
        if let Some(s) = &patch.subject {
            m.insert("Subject".into(), json!(s));
        }
        if let Some(s) = &patch.status {
            m.insert("Status".into(), json!(map::status_from_reference(s)?));
        }
        if let Some(p) = &patch.priority {
            m.insert("Priority".into(), json!(map::priority_from_reference(p)?));
        }
        if let Some(d) = &patch.department {
            m.insert("Queue".into(), json!(self.queue_named(d).await?.name));
        }
        if let Some(a) = &patch.assignee {
            m.insert("Owner".into(), json!(a.label()));
        }
        if let Some(due) = &patch.due_at {
            m.insert("Due".into(), json!(map::rt_date(due)));
        }
        if let Some(r) = &patch.requester {
            m.insert("Requestor".into(), json!(self.requestor(r).await?));
        }
        if !patch.custom_fields.is_empty() {
            let queue_id = match &patch.department {
                Some(d) => self.queue_named(d).await?.id,
                None => self
                    .get_json(&format!("/ticket/{n}"), &[])
                    .await?
                    .get("Queue")
                    .and_then(map::ref_id)
                    .unwrap_or_default(),
            };
            m.insert(
                "CustomFields".into(),
                self.custom_fields_for(&queue_id, &patch.custom_fields)
                    .await?,
            );
        }
        // The note first: a change RT refuses then still has its reason recorded.
        if let Some(note) = patch.note.as_deref().filter(|n| !n.trim().is_empty()) {
            self.post_update(n, "comment", &Body::text(note), &[], None)
                .await?;
        }
        self.put_checked(n, m).await
    }

    async fn delete(&self, id: &str, mode: DeleteMode) -> Result<(), Error> {
        if mode == DeleteMode::Purge {
            return Err(Error::unsupported(
                "rt",
                "purge (RT removes tickets for good only with rt-shredder)",
            ));
        }
        let n = path_id(id)?;
        let a = self
            .send(Method::DELETE, &format!("/ticket/{n}"), &[], None)
            .await?;
        match a.status {
            200..=299 => Ok(()),
            // RT 5.0.3 answers a DELETE of a ticket already deleted with a 500: it
            // is deleted, which is what was asked.
            500 => {
                let row = self.get_json(&format!("/ticket/{n}"), &[]).await?;
                if row.get("Status").and_then(map::text).as_deref() == Some("deleted") {
                    Ok(())
                } else {
                    Err(refusal(&a))
                }
            }
            _ => Err(refusal(&a)),
        }
    }

    async fn search(&self, query: &Query) -> Result<Page<Ticket>, Error> {
        let (ticket_sql, orderby, order) = sql::ticket_sql(query)?;
        let limit = query
            .limit
            .clamp(1, ticketgate_model::ops::MAX_SEARCH_LIMIT);
        let (per_page, first, mut skip) = sql::pages(query.offset, limit);
        let mut items = Vec::new();
        let mut total;
        let mut page = first;
        loop {
            let v = self
                .get_json(
                    "/tickets",
                    &[
                        ("query", ticket_sql.clone()),
                        ("fields", SEARCH_FIELDS.to_owned()),
                        ("orderby", orderby.to_owned()),
                        ("order", order.to_owned()),
                        ("per_page", per_page.to_string()),
                        ("page", page.to_string()),
                    ],
                )
                .await?;
            total = v.get("total").and_then(Value::as_u64).unwrap_or(0);
            let rows = items_of(&v)?;
            let got = rows.len();
            for row in rows.iter().skip(skip as usize) {
                if items.len() as u32 >= limit {
                    break;
                }
                items.push(self.ticket_from_row(row).await?);
            }
            skip = 0;
            if items.len() as u32 >= limit || got < per_page as usize {
                break;
            }
            page += 1;
        }
        Ok(Page {
            items,
            total,
            total_exact: true,
            offset: query.offset,
            limit,
        })
    }

    async fn add_entry(&self, id: &str, entry: NewEntry) -> Result<ThreadEntry, Error> {
        entry.validate()?;
        let n = path_id(id)?;
        let action = match entry.kind {
            EntryKind::Note => "comment",
            EntryKind::Response | EntryKind::Message => "correspond",
        };
        let tx = self
            .post_update(n, action, &entry.body, &entry.attachments, None)
            .await?;
        Ok(ThreadEntry {
            id: tx.unwrap_or_default(),
            kind: entry.kind,
            author: entry.author,
            body: entry.body,
            created_at: chrono::Utc::now(),
            attachments: entry.attachments,
            email: entry.email,
        })
    }

    async fn resolve(&self, id: &str, resolution: Resolution) -> Result<Ticket, Error> {
        let n = path_id(id)?;
        match resolution.body.filter(|b| !b.content.trim().is_empty()) {
            Some(body) => {
                self.post_update(n, "correspond", &body, &[], Some("resolved"))
                    .await?;
                self.get(id).await
            }
            None => {
                let mut m = Map::new();
                m.insert("Status".into(), json!("resolved"));
                self.put_checked(n, m).await
            }
        }
    }

    async fn close(&self, id: &str, closure: Closure) -> Result<Ticket, Error> {
        // RT's default lifecycle ends at `resolved` (see `map`).
        let n = path_id(id)?;
        match closure.note.filter(|b| !b.trim().is_empty()) {
            Some(note) => {
                self.post_update(n, "comment", &Body::text(note), &[], Some("resolved"))
                    .await?;
                self.get(id).await
            }
            None => {
                let mut m = Map::new();
                m.insert("Status".into(), json!("resolved"));
                self.put_checked(n, m).await
            }
        }
    }

    async fn assign(&self, id: &str, assignment: Assignment) -> Result<Ticket, Error> {
        if assignment.group.is_some() {
            return Err(no_place("group"));
        }
        if assignment.team.is_some() {
            return Err(no_place("team"));
        }
        let Some(a) = assignment.assignee else {
            return Err(Error::bad_input(
                "an assignment on RT needs an assignee (an RT user name)",
            )
            .field("assignee"));
        };
        let n = path_id(id)?;
        let mut m = Map::new();
        m.insert("Owner".into(), json!(a.label()));
        self.put_checked(n, m).await
    }

    async fn attach(&self, id: &str, files: Vec<Attachment>) -> Result<Vec<Attachment>, Error> {
        if files.is_empty() {
            return Err(Error::bad_input("no files to attach").field("attachments"));
        }
        let n = path_id(id)?;
        let tx = self
            .post_update(n, "comment", &Body::text(""), &files, None)
            .await?;
        // The ids RT gave the files, from the comment's own parts.
        let mut stored = files;
        if let Some(tx) = tx
            && let Ok(parts) = self
                .list_all(&format!("/transaction/{tx}/attachments"), "Filename")
                .await
        {
            for f in &mut stored {
                f.id = parts
                    .iter()
                    .find(|p| p.get("Filename").and_then(map::text).as_deref() == Some(&f.name))
                    .and_then(|p| p.get("id").and_then(map::text));
            }
        }
        Ok(stored)
    }

    /// RT's `MemberOf` link. RT lets a ticket have several parents; the canonical
    /// model one, so a second parent is a 409, as is a cycle (RT's own refusal).
    async fn link(&self, parent: &str, child: &str) -> Result<(), Error> {
        let (p, c) = (path_id(parent)?, path_id(child)?);
        let current = self.get(&c.to_string()).await?;
        match current.parent.as_deref() {
            Some(existing) if existing == p.to_string() => return Ok(()),
            Some(existing) => {
                return Err(Error::conflict(format!(
                    "ticket {c} already has a parent (ticket {existing})"
                )));
            }
            None => {}
        }
        let (v, _) = self
            .call(
                Method::PUT,
                &format!("/ticket/{c}"),
                &[],
                Some(&json!({ "AddParent": p })),
            )
            .await?;
        link_outcome(&v, "member of")
    }

    async fn unlink(&self, parent: &str, child: &str) -> Result<(), Error> {
        let (p, c) = (path_id(parent)?, path_id(child)?);
        let (v, _) = self
            .call(
                Method::PUT,
                &format!("/ticket/{c}"),
                &[],
                Some(&json!({ "DeleteParent": p })),
            )
            .await?;
        link_outcome(&v, "no longer member of")
    }

    async fn parent(&self, id: &str) -> Result<Option<Ticket>, Error> {
        let n = path_id(id)?;
        Ok(self
            .linked(&format!("HasMember = {n}"), n)
            .await?
            .into_iter()
            .next())
    }

    async fn children(&self, id: &str) -> Result<Vec<Ticket>, Error> {
        let n = path_id(id)?;
        self.linked(&format!("MemberOf = {n}"), n).await
    }

    async fn lookup(&self, kind: LookupKind) -> Result<Vec<LookupItem>, Error> {
        match kind {
            LookupKind::Statuses => Ok(map::RT_STATUSES
                .iter()
                .map(|s| LookupItem {
                    id: (*s).to_owned(),
                    name: (*s).to_owned(),
                    state: Some(map::state_of(s)),
                    level: None,
                    parent: None,
                })
                .collect()),
            LookupKind::Priorities => Ok(PriorityLevel::ALL
                .iter()
                .filter(|l| **l != PriorityLevel::VeryLow)
                .map(|l| {
                    let n = map::priority_number(*l);
                    LookupItem {
                        id: n.to_string(),
                        name: l.as_str().to_owned(),
                        state: None,
                        level: Some(*l),
                        parent: None,
                    }
                })
                .collect()),
            LookupKind::Departments => {
                let rows = self.fetch_queues().await?;
                *self.queues.lock().await = Some(rows.clone());
                Ok(rows
                    .into_iter()
                    .map(|q| LookupItem {
                        id: q.id,
                        name: q.name,
                        state: None,
                        level: None,
                        parent: None,
                    })
                    .collect())
            }
            LookupKind::Agents => {
                // RT's REST 2.0 cannot filter users by privilege: every user the
                // token may see, by login name.
                let users = self.list_all("/users", "Name,RealName,Disabled").await?;
                Ok(users
                    .iter()
                    .filter(|u| u.get("Disabled").and_then(map::text).as_deref() != Some("1"))
                    .filter_map(|u| {
                        let name = u.get("Name").and_then(map::text)?;
                        Some(LookupItem {
                            id: name.clone(),
                            name,
                            state: None,
                            level: None,
                            parent: None,
                        })
                    })
                    .collect())
            }
            other => Err(Error::unsupported(
                "rt",
                &format!("lookup of {}", other.as_str()),
            )),
        }
    }

    /// The configured queue, read with the configured credentials: proves the URL,
    /// the token and the queue at once, and creates nothing.
    async fn probe(&self) -> Result<String, Error> {
        let v = self
            .get_json(&format!("/queue/{}", segment(&self.config.queue)), &[])
            .await?;
        let name = v.get("Name").and_then(map::text).unwrap_or_default();
        Ok(format!("ok (queue {name:?})"))
    }
}

/// The items of a search page (`"pages": 0.0` and no items when nothing matched).
fn items_of(v: &Value) -> Result<Vec<Value>, Error> {
    match v.get("items") {
        Some(Value::Array(a)) => Ok(a.clone()),
        Some(Value::Null) | None if v.get("total").and_then(Value::as_u64) == Some(0) => {
            Ok(Vec::new())
        }
        _ => items(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> ClientConfig {
        ClientConfig {
            url: url.into(),
            token: Some("1-14-abc".into()),
            ..ClientConfig::default()
        }
    }

    #[test]
    fn the_base_url_is_taken_back_from_rest_2() {
        for url in [
            "http://rt.example.com",
            "http://rt.example.com/",
            "http://rt.example.com/REST/2.0",
            "http://rt.example.com/REST/2.0/",
        ] {
            let c = RtClient::new(config(url)).unwrap();
            assert_eq!(c.base, "http://rt.example.com/REST/2.0", "{url}");
        }
        let e = RtClient::new(config("rt.example.com")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("url"));
        let e = RtClient::new(ClientConfig {
            url: "http://rt".into(),
            ..ClientConfig::default()
        })
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("token"));
        let c = RtClient::new(ClientConfig {
            url: "http://rt".into(),
            login: Some("root".into()),
            password: Some("password".into()),
            ..ClientConfig::default()
        });
        assert!(c.is_ok());
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let c = RtClient::new(ClientConfig {
            password: Some("hunter2".into()),
            login: Some("root".into()),
            ..config("http://rt")
        })
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("1-14-abc") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn mailboxes_quote_names() {
        assert_eq!(
            mailbox(Some("Doe, Jane"), "jane@example.com"),
            "\"Doe, Jane\" <jane@example.com>"
        );
        assert_eq!(
            mailbox(Some("A \"B\" C"), "a@example.com"),
            "\"A 'B' C\" <a@example.com>"
        );
        assert_eq!(mailbox(None, " a@example.com "), "a@example.com");
    }

    #[test]
    fn refusals_are_classified_once() {
        let answer = |status: u16, body: &str| Answer {
            status,
            location: None,
            retry_after: None,
            body: Bytes::from(body.to_owned()),
        };
        let e = refusal(&answer(404, r#"{"message":"Not Found"}"#));
        assert_eq!((e.http_status(), e.retryable), (404, false));
        let e = refusal(&answer(401, r#"{"message":"Unauthorized"}"#));
        assert_eq!((e.http_status(), e.retryable), (502, false));
        let e = refusal(&answer(400, r#"{"message":"Wrong query"}"#));
        assert_eq!((e.http_status(), e.retryable), (400, false));
        assert_eq!(e.message, "Wrong query");
        let e = refusal(&answer(503, ""));
        assert!(e.retryable);
        assert!(
            check_messages(&json!([
                "Ticket 1: Status 'x' isn't a valid status for this ticket."
            ]))
            .is_err()
        );
        assert!(check_messages(&json!(["Correspondence added"])).is_ok());
    }

    #[test]
    fn locations_give_ids_and_paths_are_escaped() {
        assert_eq!(
            location_id(Some("/REST/2.0/transaction/40")).as_deref(),
            Some("40")
        );
        assert_eq!(segment("ann@example.com"), "ann@example.com");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
        assert!(path_id("abc").is_err());
        assert!(path_id("0").is_err());
        assert_eq!(path_id("#12").unwrap(), 12);
    }

    /// A one-shot server answering every connection with `answer`.
    async fn server(answer: &'static str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 8192];
                    let _ = s.read(&mut buf).await;
                    let _ = s.write_all(answer.as_bytes()).await;
                });
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn answers_are_read_through_the_bounded_reader_and_classified() {
        // Larger than the bound: a 502, not retried.
        let url =
            server("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n").await;
        let c = RtClient::new(ClientConfig {
            max_response_bytes: 1000,
            ..config(&url)
        })
        .unwrap();
        let e = c.get("1").await.unwrap_err();
        assert_eq!((e.http_status(), e.retryable), (502, false), "{e:?}");
        // Not JSON where RT promises JSON: unreadable, permanent.
        let url =
            server("HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\n<html/>\r\n")
                .await;
        let e = RtClient::new(config(&url))
            .unwrap()
            .probe()
            .await
            .unwrap_err();
        assert_eq!((e.http_status(), e.retryable), (502, false), "{e:?}");
        // RT's 401: the gateway's credentials, a 502 to the caller, never retried.
        let url = server("HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 26\r\nConnection: close\r\n\r\n{\"message\":\"Unauthorized\"}").await;
        let e = RtClient::new(config(&url))
            .unwrap()
            .probe()
            .await
            .unwrap_err();
        assert_eq!((e.http_status(), e.retryable), (502, false), "{e:?}");
        assert!(e.message.contains("credentials"), "{e:?}");
        assert!(!e.message.contains("1-14-abc"), "{e:?}");
        // Nobody listening: temporary, so a create is queued.
        let e = RtClient::new(config("http://127.0.0.1:9"))
            .unwrap()
            .probe()
            .await
            .unwrap_err();
        assert!(e.retryable, "{e:?}");
    }

    #[test]
    fn custom_fields_read_as_values() {
        let cf = custom_fields(Some(&json!([
            {"id": "2", "name": "Asset tag", "values": ["AT-1"]},
            {"id": "3", "name": "Tags", "values": ["a", "b"]},
            {"id": "4", "name": "Empty", "values": []}
        ])));
        assert_eq!(cf["Asset tag"], json!("AT-1"));
        assert_eq!(cf["Tags"], json!(["a", "b"]));
        assert!(!cf.contains_key("Empty"));
    }
}
