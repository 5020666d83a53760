//! The client face: canonical operations against a real osTicket over HTTP.
//!
//! In `core` mode only create exists (osTicket's own API creates and nothing else);
//! every other operation keeps the trait's default and answers "not supported" (501).
//! In `plugin` mode the API Endpoints plugin's endpoints carry the rest:
//! get / get by number, update, delete (purge; a soft delete sets the `Deleted`
//! status), search, statistics, the status list, and the subticket links. The plugin
//! has no reply endpoint: `add_entry` writes internal notes only (through the update
//! endpoint's `note`), and a resolution or closing text also becomes a note.
//!
//! Ids: the canonical `id` is osTicket's internal ticket id where the plugin reports
//! it, and `number` its display number. The plugin takes either where a ticket is
//! named, looking the value up as a number first. In core mode the internal id is never
//! seen, so a created ticket's `id` is its number.

use crate::decode::split_phone;
use crate::encode::encode_create;
use crate::wire::{
    ChildrenResponse, CreateResponse, ParentResponse, SearchItem, SearchResponse, StatsResponse,
    StatusesResponse, TicketBrief, TicketView, UpdateResponse, body_format, parse_time,
};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::fmt;
use ticketgate_model::{
    Assignment, Body, Capabilities, Closure, Contact, DeleteMode, EntryKind, Error, ErrorKind,
    Helpdesk, LookupItem, LookupKind, NewEntry, NewTicket, Operation, Page, Priority,
    PriorityLevel, Query, Reference, Requester, Resolution, SortField, SortOrder, Source, State,
    Stats, StatsQuery, Status, ThreadEntry, Ticket, TicketPatch,
};

/// Which API the osTicket behind offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// osTicket's own API: create only.
    Core,
    /// osTicket with the API Endpoints plugin (and the Subticket Manager plugin).
    #[default]
    Plugin,
}

/// How to reach one osTicket.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// osTicket's base URL, e.g. `https://help.example.com/osticket`; endpoints are
    /// `{url}/api/tickets.json` and so on.
    pub url: String,
    /// The API key sent as `X-API-Key`. Never logged.
    pub api_key: String,
    /// `core` (create only) or `plugin` (the API Endpoints plugin is installed).
    pub mode: Mode,
    /// How long to wait for a connection, in milliseconds.
    pub connect_timeout_ms: u64,
    /// How long to wait for a whole request, in milliseconds.
    pub request_timeout_ms: u64,
    /// The largest answer read; a larger one is a 502 (see `ticketgate_upstream`).
    pub max_response_bytes: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            api_key: String::new(),
            mode: Mode::Plugin,
            connect_timeout_ms: 3_000,
            request_timeout_ms: 10_000,
            max_response_bytes: ticketgate_upstream::DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("url", &self.url)
            .field("api_key", &"<redacted>")
            .field("mode", &self.mode)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

/// The longest upstream error text carried into a gateway error.
const MAX_UPSTREAM_MESSAGE: usize = 300;
/// The plugin's page size bound.
const MAX_LIMIT: u32 = 100;

/// A [`Helpdesk`] over a real osTicket.
pub struct OsticketClient {
    http: reqwest::Client,
    base: String,
    api_key: String,
    mode: Mode,
    request_timeout_ms: u64,
    max_response_bytes: usize,
}

impl fmt::Debug for OsticketClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OsticketClient")
            .field("base", &self.base)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl OsticketClient {
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let base = config.url.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.len() < 10 {
            return Err(
                Error::bad_input("osTicket url must be an http:// or https:// URL").field("url"),
            );
        }
        if config.api_key.trim().is_empty() {
            return Err(Error::bad_input("osTicket api_key is required").field("api_key"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_millis(config.connect_timeout_ms))
            .timeout(std::time::Duration::from_millis(config.request_timeout_ms))
            .build()
            .map_err(|e| Error::internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            api_key: config.api_key.trim().to_owned(),
            mode: config.mode,
            request_timeout_ms: config.request_timeout_ms,
            max_response_bytes: config.max_response_bytes,
        })
    }

    fn url(&self, endpoint: &str) -> String {
        format!("{}/api/{endpoint}", self.base)
    }

    /// One request; a transport failure or a non-2xx status becomes a canonical error.
    async fn send(
        &self,
        method: reqwest::Method,
        endpoint: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(u16, Bytes), Error> {
        let mut req = self
            .http
            .request(method, self.url(endpoint))
            .header("X-API-Key", &self.api_key);
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| self.transport_error(&e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(std::time::Duration::from_secs);
        let bytes = ticketgate_upstream::read_body(resp, self.max_response_bytes)
            .await
            .map_err(|e| e.into_error("osTicket", |t| self.transport_error(t)))?;
        if (200..300).contains(&status) {
            return Ok((status, bytes));
        }
        Err(status_error(status, &bytes, retry_after))
    }

    fn transport_error(&self, e: &reqwest::Error) -> Error {
        if e.is_timeout() {
            Error::upstream_unavailable(format!(
                "osTicket did not answer within {} ms",
                self.request_timeout_ms
            ))
            .with_upstream_status(504)
        } else if e.is_connect() {
            Error::upstream_unavailable("cannot connect to osTicket")
        } else {
            Error::upstream_unavailable("the exchange with osTicket failed")
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        endpoint: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<T, Error> {
        let (_, bytes) = self.send(method, endpoint, query, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::upstream_unavailable(format!(
                "osTicket sent a response ticketgate cannot read: {e}"
            ))
            .retryable(false)
        })
    }

    fn plugin_only(&self, op: Operation) -> Result<(), Error> {
        match self.mode {
            Mode::Plugin => Ok(()),
            Mode::Core => Err(Error::unsupported(self.name(), op.as_str())),
        }
    }

    /// PATCH the plugin's update endpoint with already-mapped fields.
    async fn patch(&self, key: &str, fields: Map<String, Value>) -> Result<UpdateResponse, Error> {
        let key = path_key(key)?;
        self.json(
            reqwest::Method::PATCH,
            &format!("tickets-update.php/{key}.json"),
            &[],
            Some(&Value::Object(fields)),
        )
        .await
    }

    async fn fetch(&self, key: &str) -> Result<Ticket, Error> {
        self.plugin_only(Operation::Get)?;
        let key = path_key(key)?;
        let view: TicketView = self
            .json(
                reqwest::Method::GET,
                &format!("tickets-get.php/{key}.json"),
                &[],
                None,
            )
            .await?;
        Ok(ticket_from_view(view))
    }

    fn brief_ticket(&self, b: &TicketBrief) -> Ticket {
        let mut t = empty_ticket(&b.ticket_id.to_string(), &b.number);
        t.subject = b.subject.clone().unwrap_or_default();
        if let Some(s) = &b.status {
            t.status = status_from_name(s);
        }
        t.department = b.department.as_deref().map(Reference::name);
        t.assignee = b.assigned.as_deref().map(Reference::name);
        if let Some(c) = b.created.as_deref().and_then(parse_time) {
            t.created_at = c;
        }
        if let Some(u) = b.updated.as_deref().and_then(parse_time) {
            t.updated_at = u;
        }
        t
    }
}

/// A number or id that is safe inside a URL path.
fn path_key(key: &str) -> Result<&str, Error> {
    let k = key.trim();
    if !k.is_empty()
        && k.len() <= 64
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(k)
    } else {
        Err(Error::not_found(format!("ticket {key:?} not found")))
    }
}

/// A numeric id for the subticket endpoints, which take nothing else.
fn numeric_id(key: &str) -> Result<u64, Error> {
    key.trim().parse::<u64>().map_err(|_| {
        Error::not_found(format!(
            "ticket {key:?} not found: osTicket ids are numbers"
        ))
    })
}

/// The canonical error for an osTicket answer that is not a success.
fn status_error(status: u16, body: &[u8], retry_after: Option<std::time::Duration>) -> Error {
    let text = String::from_utf8_lossy(body);
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| text.trim().to_owned());
    let message: String = message.chars().take(MAX_UPSTREAM_MESSAGE).collect();
    let e = match status {
        401 | 403 => Error::upstream_rejected(format!(
            "osTicket refused the gateway's API key ({status}): {message}"
        )),
        400 | 404 | 409 | 422 => Error::upstream_rejected(message),
        429 => Error::upstream_unavailable(format!("osTicket is rate limiting: {message}")),
        501 => Error::new(
            ErrorKind::Unsupported,
            format!("not supported by this osTicket: {message}"),
        ),
        500..=599 => Error::upstream_unavailable(format!("osTicket failed ({status}): {message}")),
        _ => Error::upstream_rejected(format!("osTicket answered {status}: {message}")),
    };
    let e = e.with_upstream_status(status);
    match retry_after {
        Some(after) if e.retryable => e.retry_after(after),
        _ => e,
    }
}

fn empty_ticket(id: &str, number: &str) -> Ticket {
    let now = Utc::now();
    Ticket {
        id: if id.is_empty() {
            number.to_owned()
        } else {
            id.to_owned()
        },
        number: number.to_owned(),
        subject: String::new(),
        body: Body::default(),
        requester: Requester::default(),
        cc: Vec::new(),
        status: Status::new(State::Open),
        priority: None,
        urgency: None,
        impact: None,
        ticket_type: None,
        category: None,
        topic: None,
        department: None,
        group: None,
        team: None,
        assignee: None,
        location: None,
        entity: None,
        sla: None,
        due_at: None,
        created_at: now,
        updated_at: now,
        solved_at: None,
        closed_at: None,
        source: Source::Api,
        client_ip: None,
        attachments: Vec::new(),
        entries: Vec::new(),
        parent: None,
        children: Vec::new(),
        custom_fields: Default::default(),
        email: None,
    }
}

/// An osTicket status name → the canonical state, keeping the name.
pub fn status_from_name(name: &str) -> Status {
    let lower = name.trim().to_ascii_lowercase();
    let state = match lower.as_str() {
        "new" => State::New,
        "open" | "reopened" | "answered" => State::Open,
        "pending" | "on hold" | "onhold" | "waiting" => State::Pending,
        "resolved" | "solved" => State::Resolved,
        "closed" => State::Closed,
        "archived" => State::Archived,
        "deleted" => State::Deleted,
        other => other.parse().unwrap_or(State::Open),
    };
    Status {
        state,
        name: Some(name.trim().to_owned()),
        id: None,
    }
}

fn priority_from_name(name: &str) -> Priority {
    Priority {
        level: name.parse().unwrap_or(PriorityLevel::Normal),
        name: Some(name.to_owned()),
        id: None,
    }
}

/// The plugin's ticket → canonical. The first `message` entry is the ticket's body.
pub fn ticket_from_view(v: TicketView) -> Ticket {
    let mut t = empty_ticket(&v.ticket_id.to_string(), &v.number);
    t.subject = v.subject;
    let (phone, phone_ext) = match v.phone.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(p) => {
            let (n, x) = split_phone(p);
            (Some(n), x)
        }
        None => (None, None),
    };
    t.requester = Requester {
        name: v.name,
        email: v.email,
        phone,
        phone_ext,
        ..Requester::default()
    };
    if let Some(s) = &v.status {
        t.status = status_from_name(s);
    }
    t.priority = v.priority.as_deref().map(priority_from_name);
    t.department = v.department.as_deref().map(Reference::name);
    t.topic = v.topic.as_deref().map(Reference::name);
    t.sla = v.sla.as_deref().map(Reference::name);
    t.assignee = v.staff.assigned.as_deref().map(Reference::name);
    t.team = v.staff.team.as_deref().map(Reference::name);
    if let Some(c) = v.created.as_deref().and_then(parse_time) {
        t.created_at = c;
    }
    t.updated_at = v
        .updated
        .as_deref()
        .and_then(parse_time)
        .unwrap_or(t.created_at);
    t.due_at = v.duedate.as_deref().and_then(parse_time);
    t.source = v
        .source
        .as_deref()
        .map(Source::parse_lenient)
        .unwrap_or_default();
    t.client_ip = v.ip;
    let mut body_taken = false;
    for e in v.thread {
        let kind = match e.kind.as_str() {
            "response" => EntryKind::Response,
            "note" => EntryKind::Note,
            _ => EntryKind::Message,
        };
        let body = Body {
            format: body_format(&e.format),
            content: e.body,
        };
        if !body_taken && kind == EntryKind::Message {
            t.body = body;
            body_taken = true;
            continue;
        }
        t.entries.push(ThreadEntry {
            id: e.id.to_string(),
            kind,
            author: e.poster.map(|p| Contact {
                name: Some(p),
                email: None,
            }),
            body,
            created_at: e
                .created
                .as_deref()
                .and_then(parse_time)
                .unwrap_or(t.created_at),
            attachments: Vec::new(),
            email: None,
        });
    }
    t.attachments = v
        .attachments
        .iter()
        .filter_map(|a| a.to_attachment())
        .collect();
    match t.status.state {
        State::Resolved => t.solved_at = Some(t.updated_at),
        State::Closed => {
            t.solved_at = Some(t.updated_at);
            t.closed_at = Some(t.updated_at);
        }
        _ => {}
    }
    t
}

fn ticket_from_item(i: SearchItem) -> Ticket {
    let mut t = empty_ticket(&i.ticket_id.to_string(), &i.number);
    t.subject = i.subject;
    if let Some(s) = &i.status {
        t.status = status_from_name(s);
    }
    t.priority = i.priority.as_deref().map(priority_from_name);
    t.department = i.department.as_deref().map(Reference::name);
    if let Some(c) = i.created.as_deref().and_then(parse_time) {
        t.created_at = c;
    }
    t.updated_at = i
        .updated
        .as_deref()
        .and_then(parse_time)
        .unwrap_or(t.created_at);
    t.due_at = i.duedate.as_deref().and_then(parse_time);
    t.requester = Requester {
        name: i.user.name,
        email: i.user.email,
        ..Requester::default()
    };
    t.assignee = i.staff.assigned.as_deref().map(Reference::name);
    t
}

/// A numeric id as a JSON number, else the name: the plugin takes either.
fn id_or_name(r: &Reference) -> Value {
    match r.id.as_deref().and_then(|id| id.parse::<u64>().ok()) {
        Some(id) => json!(id),
        None => json!(r.label()),
    }
}

fn state_name(state: State) -> &'static str {
    match state {
        State::New | State::Open => "Open",
        State::Pending => "Pending",
        State::Resolved => "Resolved",
        State::Closed => "Closed",
        State::Archived => "Archived",
        State::Deleted => "Deleted",
    }
}

#[async_trait]
impl Helpdesk for OsticketClient {
    fn name(&self) -> &str {
        match self.mode {
            Mode::Core => "osticket-core",
            Mode::Plugin => "osticket",
        }
    }

    fn capabilities(&self) -> Capabilities {
        match self.mode {
            Mode::Core => Capabilities::of(&[Operation::Create]),
            // No Attach: the plugin cannot add files to an existing ticket. AddEntry is
            // internal notes only.
            Mode::Plugin => Capabilities::all().without(Operation::Attach),
        }
    }

    async fn create(&self, ticket: NewTicket) -> Result<Ticket, Error> {
        ticket.validate()?;
        let body = encode_create(&ticket)?;
        let (_, bytes) = self
            .send(reqwest::Method::POST, "tickets.json", &[], Some(&body))
            .await?;
        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
        // osTicket answers the bare number; the plugin may answer its JSON.
        let (id, number) = match serde_json::from_str::<CreateResponse>(&text) {
            Ok(r) if text.starts_with('{') => (r.ticket_id.to_string(), r.number),
            _ => (String::new(), text),
        };
        if number.is_empty() {
            return Err(Error::upstream_unavailable(
                "osTicket created a ticket but sent no ticket number",
            )
            .retryable(false));
        }
        if self.mode == Mode::Plugin
            && let Ok(t) = self.fetch(&number).await
        {
            return Ok(t);
        }
        let mut t = empty_ticket(&id, &number);
        t.subject = ticket.subject;
        t.body = ticket.body;
        t.requester = ticket.requester;
        t.priority = ticket.priority.map(|p| priority_from_name(p.label()));
        t.topic = ticket.topic;
        t.department = ticket.department;
        t.due_at = ticket.due_at;
        t.source = ticket.source;
        t.client_ip = ticket.client_ip;
        t.attachments = ticket.attachments;
        t.parent = ticket.parent;
        t.custom_fields = ticket.custom_fields;
        Ok(t)
    }

    async fn get(&self, id: &str) -> Result<Ticket, Error> {
        self.fetch(id).await
    }

    async fn get_by_number(&self, number: &str) -> Result<Ticket, Error> {
        self.fetch(number).await
    }

    async fn update(&self, id: &str, patch: TicketPatch) -> Result<Ticket, Error> {
        self.plugin_only(Operation::Update)?;
        patch.validate()?;
        let unsupported = [
            ("subject", patch.subject.is_some()),
            ("body", patch.body.is_some()),
            ("urgency", patch.urgency.is_some()),
            ("impact", patch.impact.is_some()),
            ("type", patch.ticket_type.is_some()),
            ("category", patch.category.is_some()),
            ("group", patch.group.is_some()),
            ("location", patch.location.is_some()),
            ("entity", patch.entity.is_some()),
            ("requester", patch.requester.is_some()),
            ("custom_fields", !patch.custom_fields.is_empty()),
        ];
        if let Some((field, _)) = unsupported.iter().find(|(_, present)| *present) {
            return Err(Error::unsupported(
                self.name(),
                &format!("updating {field}"),
            ));
        }
        let mut m = Map::new();
        if let Some(s) = &patch.status {
            m.insert("statusId".into(), id_or_name(s));
        }
        if let Some(d) = &patch.department {
            m.insert("departmentId".into(), id_or_name(d));
        }
        if let Some(topic) = &patch.topic {
            let id = topic
                .id
                .as_deref()
                .and_then(|i| i.parse::<u64>().ok())
                .ok_or_else(|| {
                    Error::bad_input("osTicket takes a help topic by its numeric id").field("topic")
                })?;
            m.insert("topicId".into(), json!(id));
        }
        if let Some(s) = &patch.sla {
            m.insert("slaId".into(), id_or_name(s));
        }
        if let Some(a) = &patch.assignee {
            m.insert("staffId".into(), id_or_name(a));
        }
        if let Some(team) = &patch.team {
            m.insert("teamId".into(), id_or_name(team));
        }
        if let Some(p) = &patch.priority {
            m.insert("priority".into(), id_or_name(p));
        }
        if let Some(d) = &patch.due_at {
            m.insert(
                "duedate".into(),
                json!(d.format("%Y-%m-%d %H:%M:%S").to_string()),
            );
        }
        if let Some(n) = &patch.note {
            m.insert("note".into(), json!(n));
        }
        if m.is_empty() {
            return Err(Error::bad_input("the update changes nothing"));
        }
        let r = self.patch(id, m).await?;
        let key = r.ticket_id.to_string();
        self.fetch(if key.is_empty() { id } else { &key }).await
    }

    async fn delete(&self, id: &str, mode: DeleteMode) -> Result<(), Error> {
        self.plugin_only(match mode {
            DeleteMode::Soft => Operation::Delete,
            DeleteMode::Purge => Operation::Purge,
        })?;
        match mode {
            // The plugin's delete is for good; osTicket's "Deleted" status is the trash.
            DeleteMode::Soft => {
                let mut m = Map::new();
                m.insert("statusId".into(), json!("Deleted"));
                self.patch(id, m).await.map(|_| ())
            }
            DeleteMode::Purge => {
                let key = path_key(id)?;
                self.send(
                    reqwest::Method::DELETE,
                    &format!("tickets-delete.php/{key}.json"),
                    &[],
                    None,
                )
                .await
                .map(|_| ())
            }
        }
    }

    async fn search(&self, q: &Query) -> Result<Page<Ticket>, Error> {
        self.plugin_only(Operation::Search)?;
        let unsupported = [
            ("category", q.category.is_some()),
            ("group", q.group.is_some()),
            ("requester_email", q.requester_email.is_some()),
            ("requester_username", q.requester_username.is_some()),
            ("type", q.ticket_type.is_some()),
            ("source", q.source.is_some()),
            ("created_after", q.created_after.is_some()),
            ("created_before", q.created_before.is_some()),
        ];
        if let Some((field, _)) = unsupported.iter().find(|(_, present)| *present) {
            return Err(Error::unsupported(
                self.name(),
                &format!("searching by {field}"),
            ));
        }
        let mut params: Vec<(&str, String)> = Vec::new();
        match (&q.number, &q.text) {
            (Some(n), _) => params.push(("query", n.clone())),
            (None, Some(t)) => params.push(("query", t.clone())),
            _ => {}
        }
        if let Some(s) = &q.status {
            params.push(("status", s.label().to_owned()));
        } else if !q.states.is_empty() {
            let active = q.states.iter().all(|s| s.is_active());
            if active {
                params.push(("status", "Open".to_owned()));
            } else if let [one] = q.states.as_slice() {
                params.push(("status", state_name(*one).to_owned()));
            } else {
                return Err(Error::unsupported(
                    self.name(),
                    "searching several states at once",
                ));
            }
        }
        if let Some(d) = &q.department {
            params.push((
                "departmentId",
                d.id.clone().unwrap_or_else(|| d.label().to_owned()),
            ));
        }
        if let Some(t) = &q.topic {
            let id = t.id.clone().ok_or_else(|| {
                Error::bad_input("osTicket searches help topics by id").field("topic")
            })?;
            params.push(("topicId", id));
        }
        if let Some(p) = &q.priority {
            let id = p.id.clone().ok_or_else(|| {
                Error::bad_input("osTicket searches priorities by id").field("priority")
            })?;
            params.push(("priorityId", id));
        }
        if let Some(a) = &q.assignee {
            params.push((
                "staffId",
                a.id.clone().unwrap_or_else(|| a.label().to_owned()),
            ));
        }
        let limit = q.limit.clamp(1, MAX_LIMIT);
        params.push(("limit", limit.to_string()));
        params.push(("offset", q.offset.to_string()));
        let sort = match q.sort {
            SortField::Created => "created",
            SortField::Updated => "updated",
            SortField::Due => "duedate",
            SortField::Number => "number",
            SortField::Subject => "subject",
            SortField::Priority => "priority",
            SortField::Status => "status",
        };
        params.push(("sortBy", sort.to_owned()));
        let order = match q.order {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        };
        params.push(("sortOrder", order.to_owned()));
        let r: SearchResponse = self
            .json(reqwest::Method::GET, "tickets-search.php", &params, None)
            .await?;
        let mut items: Vec<Ticket> = r.tickets.into_iter().map(ticket_from_item).collect();
        let mut total = r.total;
        if let Some(n) = &q.number {
            // The plugin's query also matches subjects and bodies: keep the exact number.
            items.retain(|t| &t.number == n);
            total = items.len() as u64;
        }
        Ok(Page {
            items,
            total,
            offset: q.offset,
            limit,
        })
    }

    async fn add_entry(&self, id: &str, entry: NewEntry) -> Result<ThreadEntry, Error> {
        self.plugin_only(Operation::AddEntry)?;
        entry.validate()?;
        if entry.kind != EntryKind::Note {
            return Err(Error::unsupported(
                self.name(),
                "public replies (the plugin writes internal notes only)",
            ));
        }
        if !entry.attachments.is_empty() {
            return Err(Error::unsupported(self.name(), "attachments on a note"));
        }
        let mut m = Map::new();
        m.insert("note".into(), json!(entry.body.content));
        let r = self.patch(id, m).await?;
        let key = r.ticket_id.to_string();
        let t = self.fetch(if key.is_empty() { id } else { &key }).await?;
        let found = t
            .entries
            .iter()
            .rev()
            .find(|e| {
                e.kind == EntryKind::Note && e.body.content.trim() == entry.body.content.trim()
            })
            .cloned();
        Ok(found.unwrap_or(ThreadEntry {
            id: String::new(),
            kind: EntryKind::Note,
            author: entry.author,
            body: entry.body,
            created_at: Utc::now(),
            attachments: Vec::new(),
            email: None,
        }))
    }

    async fn resolve(&self, id: &str, resolution: Resolution) -> Result<Ticket, Error> {
        self.plugin_only(Operation::Resolve)?;
        let mut m = Map::new();
        m.insert("statusId".into(), json!("Resolved"));
        if let Some(b) = resolution.body.filter(|b| !b.content.trim().is_empty()) {
            m.insert("note".into(), json!(b.content));
        }
        let r = self.patch(id, m).await?;
        let key = r.ticket_id.to_string();
        self.fetch(if key.is_empty() { id } else { &key }).await
    }

    async fn close(&self, id: &str, closure: Closure) -> Result<Ticket, Error> {
        self.plugin_only(Operation::Close)?;
        let mut m = Map::new();
        m.insert("statusId".into(), json!("Closed"));
        if let Some(n) = closure.note.filter(|n| !n.trim().is_empty()) {
            m.insert("note".into(), json!(n));
        }
        let r = self.patch(id, m).await?;
        let key = r.ticket_id.to_string();
        self.fetch(if key.is_empty() { id } else { &key }).await
    }

    async fn assign(&self, id: &str, a: Assignment) -> Result<Ticket, Error> {
        self.plugin_only(Operation::Assign)?;
        if a.group.is_some() {
            return Err(Error::unsupported(self.name(), "assigning to a group"));
        }
        let mut m = Map::new();
        if let Some(s) = &a.assignee {
            m.insert("staffId".into(), id_or_name(s));
        }
        if let Some(team) = &a.team {
            m.insert("teamId".into(), id_or_name(team));
        }
        if m.is_empty() {
            return Err(Error::bad_input(
                "an assignment needs an assignee or a team",
            ));
        }
        let r = self.patch(id, m).await?;
        let key = r.ticket_id.to_string();
        self.fetch(if key.is_empty() { id } else { &key }).await
    }

    async fn link(&self, parent: &str, child: &str) -> Result<(), Error> {
        self.plugin_only(Operation::Link)?;
        let body = json!({"parent_id": numeric_id(parent)?, "child_id": numeric_id(child)?});
        self.send(
            reqwest::Method::POST,
            "tickets-subtickets-create.php",
            &[],
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    async fn unlink(&self, parent: &str, child: &str) -> Result<(), Error> {
        self.plugin_only(Operation::Unlink)?;
        let child_id = numeric_id(child)?;
        // The plugin unlinks a child from whatever parent it has: check it is this one.
        let current: ParentResponse = self
            .json(
                reqwest::Method::GET,
                &format!("tickets-subtickets-parent.php/{child_id}.json"),
                &[],
                None,
            )
            .await?;
        match current.parent {
            Some(p) if p.ticket_id.to_string() == parent.trim() || p.number == parent.trim() => {}
            _ => {
                return Err(Error::not_found(format!(
                    "ticket {child} is not a subticket of {parent}"
                )));
            }
        }
        self.send(
            reqwest::Method::DELETE,
            "tickets-subtickets-unlink.php",
            &[],
            Some(&json!({"child_id": child_id})),
        )
        .await
        .map(|_| ())
    }

    async fn parent(&self, id: &str) -> Result<Option<Ticket>, Error> {
        self.plugin_only(Operation::Parent)?;
        let id = numeric_id(id)?;
        let r: ParentResponse = self
            .json(
                reqwest::Method::GET,
                &format!("tickets-subtickets-parent.php/{id}.json"),
                &[],
                None,
            )
            .await?;
        Ok(r.parent.map(|p| self.brief_ticket(&p)))
    }

    async fn children(&self, id: &str) -> Result<Vec<Ticket>, Error> {
        self.plugin_only(Operation::Children)?;
        let id = numeric_id(id)?;
        let r: ChildrenResponse = self
            .json(
                reqwest::Method::GET,
                &format!("tickets-subtickets-list.php/{id}.json"),
                &[],
                None,
            )
            .await?;
        Ok(r.children.iter().map(|c| self.brief_ticket(c)).collect())
    }

    async fn stats(&self, q: &StatsQuery) -> Result<Stats, Error> {
        self.plugin_only(Operation::Stats)?;
        let mut params = Vec::new();
        if let Some(s) = &q.since {
            params.push(("startDate", s.format("%Y-%m-%d").to_string()));
        }
        if let Some(u) = &q.until {
            // The plugin's end date is inclusive; the canonical `until` is not.
            let last = *u - Duration::seconds(1);
            params.push(("endDate", last.format("%Y-%m-%d").to_string()));
        }
        let r: StatsResponse = self
            .json(reqwest::Method::GET, "tickets-stats.php", &params, None)
            .await?;
        let mut s = Stats {
            total: r.global.total,
            open: r.global.open,
            resolved: r.global.resolved,
            // osTicket's "closed" counts resolved tickets too.
            closed: r.global.closed.saturating_sub(r.global.resolved),
            overdue: r.global.overdue,
            ..Stats::default()
        };
        for st in &r.by_status {
            s.by_status.insert(st.status.clone(), st.count);
            *s.by_state
                .entry(status_from_name(&st.status).state.as_str().to_owned())
                .or_default() += st.count;
        }
        for p in &r.by_priority {
            s.by_priority.insert(p.priority.clone(), p.count);
        }
        for d in &r.by_department {
            s.by_department.insert(d.department_name.clone(), d.total);
        }
        for a in &r.by_staff {
            s.by_assignee.insert(a.staff_name.clone(), a.assigned);
        }
        Ok(s)
    }

    async fn lookup(&self, kind: LookupKind) -> Result<Vec<LookupItem>, Error> {
        self.plugin_only(Operation::Lookup)?;
        if kind != LookupKind::Statuses {
            return Err(Error::unsupported(
                self.name(),
                &format!("listing {} (the plugin lists statuses only)", kind.as_str()),
            ));
        }
        let r: StatusesResponse = self
            .json(reqwest::Method::GET, "tickets-statuses.php", &[], None)
            .await?;
        Ok(r.statuses
            .into_iter()
            .map(|s| {
                // ticketgate's server face tells the canonical state; a real plugin only
                // osTicket's coarse one, so the name decides there.
                let state = s
                    .properties
                    .get("state")
                    .and_then(Value::as_str)
                    .and_then(|st| st.parse::<State>().ok())
                    .unwrap_or_else(|| status_from_name(&s.name).state);
                LookupItem {
                    id: s.id.to_string(),
                    name: s.name,
                    state: Some(state),
                    level: None,
                    parent: None,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_key() {
        let c = ClientConfig {
            url: "http://h".into(),
            api_key: "s3cret-key".into(),
            ..ClientConfig::default()
        };
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn config_is_checked() {
        assert!(OsticketClient::new(ClientConfig::default()).is_err());
        let c = ClientConfig {
            url: "http://helpdesk.example".into(),
            api_key: "k".into(),
            ..ClientConfig::default()
        };
        assert!(OsticketClient::new(c).is_ok());
    }

    #[test]
    fn upstream_statuses_map_to_canonical_errors() {
        let e = status_error(401, b"Valid API key required", None);
        assert_eq!(
            (e.kind, e.http_status()),
            (ErrorKind::UpstreamRejected, 502)
        );
        let e = status_error(404, br#"{"error": "Ticket not found"}"#, None);
        assert_eq!(e.http_status(), 404);
        assert_eq!(e.message, "Ticket not found");
        let e = status_error(503, b"down", Some(std::time::Duration::from_secs(7)));
        assert!(e.retryable);
        assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(7)));
        assert_eq!(status_error(501, b"x", None).http_status(), 501);
    }

    #[test]
    fn serde_names() {
        let c: ClientConfig =
            serde_json::from_str(r#"{"url": "http://x", "mode": "core"}"#).unwrap();
        assert_eq!(c.mode, Mode::Core);
        assert!(serde_json::from_str::<ClientConfig>(r#"{"urll": "x"}"#).is_err());
    }
}
