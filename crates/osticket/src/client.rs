//! The client face: canonical operations against a real osTicket over HTTP.
//!
//! In `core` mode only create exists (osTicket's own API creates and nothing else);
//! every other operation keeps the trait's default and answers "not supported" (501).
//! In `plugin` mode the API Endpoints plugin (v2.3.4, checked against the real one on
//! osTicket 1.18.1) carries the rest, each operation through the endpoint that really
//! works there:
//! - get and get by number: `tickets-get.php/{n}.json`; subtickets from its `children`;
//! - update, internal notes, resolve, close, assign and link: `tickets-update.php`
//!   (PATCH), which answers the ticket number as plain text; the ticket is then read
//!   back, and a read-back that fails never turns an applied change into an error;
//! - purge: `tickets-delete.php`; search: `tickets-search.php` (subject text, one
//!   status, one department, three sort orders; a bare array without a total);
//!   statistics: `tickets-stats.php`; statuses: `tickets-statuses.php`. The search
//!   total is counted by reading ahead (exact up to 1 000 tickets past the page).
//!
//! What the plugin cannot do is a 501 "not supported by this upstream", never a silent
//! no-op: public replies, attachments after create, a soft delete (osTicket ignores a
//! "Deleted" status set through the plugin), priority, topic and team changes (not
//! update fields, or accepted and never saved), parent and unlink (its subticket
//! endpoints die of PHP memory exhaustion on 1.18.1), statistics for a period.
//!
//! Ids: in plugin mode the canonical `id` is the ticket number, because the update
//! endpoint finds tickets by number only. In core mode the internal id is never seen
//! either, so a created ticket's `id` is its number there too.

use crate::encode::encode_create;
use crate::wire::{
    CreateResponse, PersonName, SearchItem, StatsResponse, StatusView, TicketView, WireId,
    body_format, entry_kind, parse_time,
};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::fmt;
use ticketgate_model::{
    Assignment, Body, BodyFormat, Capabilities, Closure, Contact, DeleteMode, EntryKind, Error,
    Helpdesk, LookupItem, LookupKind, NewEntry, NewTicket, Operation, Page, Priority,
    PriorityLevel, Query, Reference, Requester, Resolution, SortField, SortOrder, Source, State,
    Stats, StatsQuery, Status, ThreadEntry, Ticket, TicketPatch, UpstreamAnswer, UpstreamHint,
    classify_upstream, upstream_unreadable,
};
use ticketgate_upstream::client::Method;

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
    /// TLS toward this upstream: a private CA and a client certificate (see
    /// `ticketgate_upstream::tls`); none means the system roots and no client certificate.
    pub tls: Option<ticketgate_upstream::tls::ClientTls>,
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
            tls: None,
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
            .field("tls", &self.tls)
            .finish()
    }
}

/// A client that could not be built: a bad URL or TLS settings, named by their key.
fn build_error(e: &ticketgate_upstream::client::BuildError) -> Error {
    use ticketgate_upstream::client::BuildError;
    match e {
        BuildError::Url(_) => {
            Error::bad_input("osTicket url must be an http:// or https:// URL").field("url")
        }
        BuildError::Tls(m) => Error::bad_input(m.clone()).field("tls"),
        BuildError::Header(m) => Error::bad_input(m.clone()),
    }
}

/// The longest upstream error text carried into a gateway error.
const MAX_UPSTREAM_MESSAGE: usize = 300;
/// The plugin's page size bound.
const MAX_LIMIT: u32 = 100;
/// How many pages of 100 a search reads ahead to count its total.
const COUNT_AHEAD_PAGES: usize = 10;
/// The most subtickets read for one ticket.
const MAX_CHILDREN: usize = 100;

/// A [`Helpdesk`] over a real osTicket.
pub struct OsticketClient {
    http: ticketgate_upstream::Client,
    base: String,
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
        let base = base_url(&config.url);
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.len() < 10 {
            return Err(
                Error::bad_input("osTicket url must be an http:// or https:// URL").field("url"),
            );
        }
        if config.api_key.trim().is_empty() {
            return Err(Error::bad_input("osTicket api_key is required").field("api_key"));
        }
        let api = format!("{base}/api");
        let settings = ticketgate_upstream::Settings::new(
            &api,
            config.connect_timeout_ms,
            config.request_timeout_ms,
        )
        .tls(config.tls.as_ref());
        let http = ticketgate_upstream::Client::new(&settings)
            .map_err(|e| build_error(&e))?
            .with_header("x-api-key", config.api_key.trim(), true)
            .map_err(|_| {
                Error::bad_input("osTicket api_key holds characters HTTP cannot carry")
                    .field("api_key")
            })?;
        Ok(Self {
            http,
            base,
            mode: config.mode,
            request_timeout_ms: config.request_timeout_ms,
            max_response_bytes: config.max_response_bytes,
        })
    }

    /// An endpoint's full URL, for messages.
    fn url(&self, endpoint: &str) -> String {
        format!("{}/api/{endpoint}", self.base)
    }

    /// One request; a transport failure or a non-2xx status becomes a canonical error.
    async fn send(
        &self,
        method: Method,
        endpoint: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(u16, Bytes), Error> {
        let mut req = self.http.request(method, endpoint);
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| self.transport_error(&e))?;
        let status = resp.status().as_u16();
        let retry_after = resp.retry_after();
        let bytes = ticketgate_upstream::read_body(resp, self.max_response_bytes)
            .await
            .map_err(|e| e.into_error("osTicket", |t| self.transport_error(t)))?;
        if (200..300).contains(&status) {
            return Ok((status, bytes));
        }
        Err(status_error(status, &bytes, retry_after))
    }

    fn transport_error(&self, e: &ticketgate_upstream::Failure) -> Error {
        e.into_error("osTicket", self.request_timeout_ms)
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        endpoint: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<T, Error> {
        let (_, bytes) = self.send(method, endpoint, query, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| upstream_unreadable("osTicket", e))
    }

    fn plugin_only(&self, op: Operation) -> Result<(), Error> {
        match self.mode {
            Mode::Plugin => Ok(()),
            Mode::Core => Err(Error::unsupported(self.name(), op.as_str())),
        }
    }

    /// PATCH the plugin's update endpoint (which finds tickets by number only) and
    /// answer the number it reports: the plugin answers `200 text/plain` with the
    /// ticket number (older ticketgate faces answered JSON with `number`).
    async fn patch(&self, number: &str, fields: Map<String, Value>) -> Result<String, Error> {
        let key = path_key(number)?;
        let (_, bytes) = self
            .send(
                Method::PATCH,
                &format!("tickets-update.php/{key}.json"),
                &[],
                Some(&Value::Object(fields)),
            )
            .await?;
        Ok(reported_number(&bytes).unwrap_or_else(|| key.to_owned()))
    }

    /// The ticket after a change the plugin has acknowledged. The change happened, so a
    /// failing read-back is not reported as a failure: the answer is then the ticket as
    /// far as it is known (its number, and the state the change set, if any).
    async fn after_change(&self, number: &str, state: Option<State>) -> Ticket {
        match self.fetch(number).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(
                    number,
                    error = %e.message,
                    "osTicket applied a change but the ticket could not be read back"
                );
                let mut t = empty_ticket(number, number);
                if let Some(s) = state {
                    t.status = Status::new(s);
                }
                t
            }
        }
    }

    /// `GET tickets-get.php/{key}.json`: the plugin looks the key up as a number, then
    /// as an internal id. Subtickets are listed by internal id; each is read once to
    /// learn its number, which is its canonical id here.
    async fn fetch(&self, key: &str) -> Result<Ticket, Error> {
        self.plugin_only(Operation::Get)?;
        let view = self.view(key).await?;
        let children: Vec<String> = view.children.iter().map(ToString::to_string).collect();
        let mut t = ticket_from_view(view);
        for child in children.iter().take(MAX_CHILDREN) {
            match self.view(child).await {
                Ok(c) => t.children.push(c.number),
                Err(e) => {
                    tracing::warn!(child = %child, error = %e.message, "subticket not readable")
                }
            }
        }
        Ok(t)
    }

    async fn view(&self, key: &str) -> Result<TicketView, Error> {
        let key = path_key(key)?;
        self.json(
            Method::GET,
            &format!("tickets-get.php/{key}.json"),
            &[],
            None,
        )
        .await
    }

    /// One page of `tickets-search.php`, which answers a bare array.
    async fn search_page(&self, params: &[(&str, String)]) -> Result<Vec<SearchItem>, Error> {
        self.json(Method::GET, "tickets-search.php", params, None)
            .await
    }
}

/// The ticket number in an update's or delete's answer: the bare number the plugin
/// sends, or the `number` of a JSON answer.
fn reported_number(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body).trim().to_owned();
    if text.starts_with('{') {
        return serde_json::from_str::<Value>(&text)
            .ok()?
            .get("number")
            .and_then(|n| match n {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
    }
    path_key(&text).ok().map(str::to_owned)
}

/// osTicket's base URL from the configured one. The API lives under `{base}/api/`;
/// a URL given with that `/api` (or `/api/`, or `/api/http.php`) already on it — as
/// osTicket's own admin page shows it — is taken back to the base, so the client never
/// calls `/api/api/tickets.json`.
pub fn base_url(configured: &str) -> String {
    let mut base = configured.trim().trim_end_matches('/');
    for suffix in ["/api/http.php", "/api"] {
        if let Some(stripped) = base.strip_suffix(suffix) {
            base = stripped.trim_end_matches('/');
            break;
        }
    }
    base.to_owned()
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

/// The canonical error for an osTicket answer that is not a success: osTicket's words
/// read for what they say, then the one classification ([`classify_upstream`]).
///
/// osTicket's API refuses an invalid ticket with **500** and `Unable to create new
/// ticket :<field>\n<why>` (`include/api.tickets.php`, `createTicket`: `$errors['errno'] ?:
/// 500`), a filtered or banned sender with 403 `Ticket denied`: both refuse the request
/// itself. Only `Unable to create new ticket :unknown error` (no reason given) and other
/// 5xx bodies are taken as a failure that may pass.
fn status_error(status: u16, body: &[u8], retry_after: Option<std::time::Duration>) -> Error {
    let text = String::from_utf8_lossy(body);
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| {
            // osTicket's plugin: `{"error": true, "message": "…"}`.
            v.get("error")
                .and_then(Value::as_str)
                .or_else(|| v.get("message").and_then(Value::as_str))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| text.trim().to_owned());
    let message: String = message.chars().take(MAX_UPSTREAM_MESSAGE).collect();
    classify_upstream(
        "osTicket",
        &UpstreamAnswer {
            status,
            hint: osticket_hint(status, &message),
            message: &message,
            retry_after,
        },
    )
}

/// What osTicket's error text says beyond its status.
fn osticket_hint(status: u16, message: &str) -> UpstreamHint {
    let refusal = message
        .strip_prefix("Unable to create new ticket")
        .map(|rest| rest.trim_start_matches([' ', ':']).trim())
        .is_some_and(|reason| !reason.is_empty() && reason != "unknown error");
    if refusal || message.starts_with("Ticket denied") {
        UpstreamHint::Refused
    } else if status == 401 {
        UpstreamHint::CredentialsRefused
    } else {
        UpstreamHint::None
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

/// The plugin's ticket → canonical. The canonical id is the ticket number (the update
/// endpoint takes nothing else); the first `M` entry is the ticket's body.
pub fn ticket_from_view(v: TicketView) -> Ticket {
    let mut t = empty_ticket(&v.number, &v.number);
    t.subject = v.subject;
    if let Some(u) = &v.user {
        t.requester = Requester {
            name: u
                .name
                .as_ref()
                .map(|n| n.name().to_owned())
                .filter(|n| !n.is_empty()),
            email: u
                .email
                .as_ref()
                .map(|e| e.email().to_owned())
                .filter(|e| !e.is_empty()),
            ..Requester::default()
        };
    }
    t.status = status_of(v.status.as_deref(), v.status_id.as_ref());
    t.priority = named(v.priority.as_deref(), v.priority_id.as_ref()).map(|r| Priority {
        level: r
            .name
            .as_deref()
            .and_then(|n| n.parse().ok())
            .unwrap_or(PriorityLevel::Normal),
        name: r.name,
        id: r.id,
    });
    t.department = named(v.department.as_deref(), v.department_id.as_ref());
    t.topic = named(v.topic.as_deref(), v.topic_id.as_ref());
    t.sla = named(v.sla.as_deref(), v.sla_id.as_ref());
    t.assignee = named(v.staff.as_ref().map(PersonName::name), v.staff_id.as_ref());
    t.team = named(v.team.as_deref(), v.team_id.as_ref());
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
    t.client_ip = v.ip.filter(|ip| !ip.is_empty());
    let mut body_taken = false;
    for e in v.thread {
        let kind = entry_kind(&e.kind);
        let (text, format) = e.body.parts();
        let body = Body {
            format: body_format(format),
            content: text.to_owned(),
        };
        if !body_taken && kind == EntryKind::Message {
            t.body = body;
            body_taken = true;
            continue;
        }
        t.entries.push(ThreadEntry {
            id: e.id.to_string(),
            kind,
            author: e
                .staff
                .as_ref()
                .map(|s| s.name().to_owned())
                .or(e.poster)
                .map(|p| Contact {
                    name: Some(p),
                    email: None,
                }),
            body,
            created_at: e
                .timestamp
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
    let closed_at = v.closed.as_deref().and_then(parse_time);
    match t.status.state {
        State::Resolved => t.solved_at = Some(closed_at.unwrap_or(t.updated_at)),
        State::Closed => {
            t.solved_at = Some(closed_at.unwrap_or(t.updated_at));
            t.closed_at = Some(closed_at.unwrap_or(t.updated_at));
        }
        _ => {}
    }
    t
}

/// A name with its id, as the plugin reports both.
fn named(name: Option<&str>, id: Option<&WireId>) -> Option<Reference> {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    match (name, id) {
        (None, None) => None,
        (name, id) => Some(Reference {
            id: id.map(ToString::to_string),
            name: name.map(str::to_owned),
        }),
    }
}

fn status_of(name: Option<&str>, id: Option<&WireId>) -> Status {
    let mut s = status_from_name(name.unwrap_or("Open"));
    s.id = id.map(ToString::to_string);
    s
}

fn ticket_from_item(i: SearchItem) -> Ticket {
    let mut t = empty_ticket(&i.number, &i.number);
    t.subject = i.subject;
    t.status = status_of(i.status.as_deref(), i.status_id.as_ref());
    t.priority = i.priority.as_deref().map(priority_from_name);
    t.department = named(i.department.as_deref(), i.department_id.as_ref());
    t.topic = named(i.topic.as_deref(), i.topic_id.as_ref());
    t.sla = named(i.sla.as_deref(), i.sla_id.as_ref());
    t.assignee = named(i.staff.as_ref().map(PersonName::name), i.staff_id.as_ref());
    t.team = named(i.team.as_deref(), i.team_id.as_ref());
    if let Some(c) = i.created.as_deref().and_then(parse_time) {
        t.created_at = c;
    }
    t.updated_at = i
        .updated
        .as_deref()
        .and_then(parse_time)
        .unwrap_or(t.created_at);
    t.due_at = i.due_date.as_deref().and_then(parse_time);
    t
}

/// A numeric id as a JSON number, else the name: the plugin takes either.
fn id_or_name(r: &Reference) -> Value {
    match r.id.as_deref().and_then(|id| id.parse::<u64>().ok()) {
        Some(id) => json!(id),
        None => json!(r.label()),
    }
}

/// A staff member: the plugin's validator takes numeric ids only.
fn staff_id(r: &Reference, field: &str) -> Result<Value, Error> {
    r.id.as_deref()
        .or(r.name.as_deref())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|id| json!(id))
        .ok_or_else(|| {
            Error::bad_input("osTicket's plugin takes a staff member by numeric id").field(field)
        })
}

/// osTicket's stock status for a canonical state (there is one per state).
fn state_name(state: State) -> Option<&'static str> {
    match state {
        State::New | State::Open | State::Pending => Some("Open"),
        State::Resolved => Some("Resolved"),
        State::Closed => Some("Closed"),
        State::Archived => Some("Archived"),
        State::Deleted => None,
    }
}

/// The note format the plugin is told: osTicket stores `text` and `html`; the plugin
/// takes `markdown` too (its default, stored as HTML without the Markdown plugin).
fn note_format(format: BodyFormat) -> &'static str {
    match format {
        BodyFormat::Html => "html",
        BodyFormat::Markdown => "markdown",
        BodyFormat::Text => "text",
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
            // internal notes only. No Unlink, Parent: the plugin's subticket endpoints
            // fail on osTicket 1.18.1 (Link and Children go through update and get).
            Mode::Plugin => Capabilities::all()
                .without(Operation::Attach)
                .without(Operation::Unlink)
                .without(Operation::Parent),
        }
    }

    async fn create(&self, ticket: NewTicket) -> Result<Ticket, Error> {
        ticket.validate()?;
        let body = encode_create(&ticket)?;
        let (_, bytes) = self
            .send(Method::POST, "tickets.json", &[], Some(&body))
            .await?;
        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
        // osTicket answers the bare number; the plugin may answer its JSON.
        let (id, number) = match serde_json::from_str::<CreateResponse>(&text) {
            Ok(r) if text.starts_with('{') => (r.ticket_id.to_string(), r.number),
            _ => (String::new(), text),
        };
        if number.is_empty() {
            return Err(upstream_unreadable(
                "osTicket",
                "a 2xx answer to a create without a ticket number",
            ));
        }
        if self.mode == Mode::Plugin {
            // The plugin's create ignores a due date (observed on 1.18.1); its update
            // sets one. The ticket exists either way, so a failure here is only logged.
            if let Some(due) = &ticket.due_at {
                let mut m = Map::new();
                m.insert(
                    "dueDate".into(),
                    json!(due.format("%Y-%m-%dT%H:%M:%S").to_string()),
                );
                if let Err(e) = self.patch(&number, m).await {
                    tracing::warn!(
                        number = %number,
                        error = %e.message,
                        "osTicket created a ticket but did not take its due date"
                    );
                }
            }
            // Read back: the answer says what osTicket stored (a priority it did not
            // take, say), not what was sent. The ticket exists either way.
            match self.fetch(&number).await {
                Ok(t) => return Ok(t),
                Err(e) => tracing::warn!(
                    number = %number,
                    error = %e.message,
                    "osTicket created a ticket that could not be read back"
                ),
            }
        }
        let mut t = match self.mode {
            // In plugin mode the number is the canonical id.
            Mode::Plugin => empty_ticket(&number, &number),
            Mode::Core => empty_ticket(&id, &number),
        };
        t.subject = ticket.subject;
        t.body = ticket.body;
        t.requester = ticket.requester;
        // Not read back, the priority osTicket applied is unknown (it ignores names it
        // does not map): none is claimed in plugin mode.
        t.priority = ticket
            .priority
            .filter(|_| self.mode == Mode::Core)
            .map(|p| priority_from_name(p.label()));
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

    /// Core mode has nothing to read: an empty `POST tickets.json` proves the URL and
    /// the key at no cost, because osTicket checks the key before it reads the body
    /// (`include/api.tickets.php`, `create`): `400` (the empty body refused) means the
    /// key is accepted, `401` that it is not. Nothing is created either way.
    async fn probe(&self) -> Result<String, Error> {
        if self.mode == Mode::Plugin {
            let query = Query {
                limit: 1,
                ..Query::default()
            };
            return self
                .search(&query)
                .await
                .map(|page| format!("ok ({} ticket(s))", page.total));
        }
        let resp = self
            .http
            .post("tickets.json")
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = resp.status().as_u16();
        let body = ticketgate_upstream::read_body(resp, self.max_response_bytes)
            .await
            .map_err(|e| e.into_error("osTicket", |t| self.transport_error(t)))?;
        match status {
            400 => Ok("ok (osTicket core API; the API key is accepted)".to_owned()),
            401 | 403 => Err(status_error(status, &body, None)),
            _ => Err(Error::upstream_rejected(format!(
                "{} does not answer like osTicket's API (HTTP {status} to an empty \
                 tickets.json): check the url (osTicket's base URL, its API under /api)",
                self.url("tickets.json")
            ))
            .with_upstream_status(status)),
        }
    }

    async fn get_by_number(&self, number: &str) -> Result<Ticket, Error> {
        self.fetch(number).await
    }

    async fn update(&self, id: &str, patch: TicketPatch) -> Result<Ticket, Error> {
        self.plugin_only(Operation::Update)?;
        patch.validate()?;
        // What the plugin cannot change: priority and team are not update fields, and a
        // `topicId` is accepted but never saved (`ExtendedTicketApiController::update`
        // writes it where osTicket does not look): refused rather than silently lost.
        let unsupported = [
            ("subject", patch.subject.is_some()),
            ("body", patch.body.is_some()),
            ("priority", patch.priority.is_some()),
            ("topic", patch.topic.is_some()),
            ("team", patch.team.is_some()),
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
        let mut state = None;
        if let Some(s) = &patch.status {
            // Setting a "deleted" status is silently ignored by osTicket.
            if s.label().eq_ignore_ascii_case("deleted") {
                return Err(Error::unsupported(
                    self.name(),
                    "setting the Deleted status",
                ));
            }
            state = Some(status_from_name(s.label()).state);
            m.insert("statusId".into(), id_or_name(s));
        }
        if let Some(d) = &patch.department {
            m.insert("departmentId".into(), id_or_name(d));
        }
        if let Some(s) = &patch.sla {
            m.insert("slaId".into(), id_or_name(s));
        }
        if let Some(a) = &patch.assignee {
            m.insert("staffId".into(), staff_id(a, "assignee")?);
        }
        if let Some(d) = &patch.due_at {
            m.insert(
                "dueDate".into(),
                json!(d.format("%Y-%m-%dT%H:%M:%S").to_string()),
            );
        }
        if let Some(n) = &patch.note {
            m.insert("note".into(), json!(n));
            m.insert("noteFormat".into(), json!("text"));
        }
        if m.is_empty() {
            return Err(Error::bad_input("the update changes nothing"));
        }
        let number = self.patch(id, m).await?;
        Ok(self.after_change(&number, state).await)
    }

    async fn delete(&self, id: &str, mode: DeleteMode) -> Result<(), Error> {
        self.plugin_only(match mode {
            DeleteMode::Soft => Operation::Delete,
            DeleteMode::Purge => Operation::Purge,
        })?;
        match mode {
            // osTicket ignores a "Deleted" status set through the plugin (observed: the
            // update answers 200 and the ticket stays open), and the plugin's delete is
            // for good: there is no trash to move a ticket to.
            DeleteMode::Soft => Err(Error::unsupported(
                self.name(),
                "a soft delete (osTicket deletes for good: purge=true)",
            )),
            DeleteMode::Purge => {
                let key = path_key(id)?;
                self.send(
                    Method::DELETE,
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
        // The plugin's search filters by subject text, one status and one department
        // (`TicketService::searchTickets`); anything else would be silently ignored.
        let unsupported = [
            ("category", q.category.is_some()),
            ("group", q.group.is_some()),
            ("topic", q.topic.is_some()),
            ("priority", q.priority.is_some()),
            ("assignee", q.assignee.is_some()),
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
        let limit = q.limit.clamp(1, MAX_LIMIT);
        if let Some(n) = &q.number {
            // The plugin's query matches subjects only: a number is looked up directly.
            let items = match self.fetch(n).await {
                Ok(t) if q.offset == 0 => vec![t],
                Ok(_) => Vec::new(),
                Err(e) if e.http_status() == 404 => Vec::new(),
                Err(e) => return Err(e),
            };
            return Ok(Page {
                total: u64::from(q.offset == 0 && !items.is_empty()),
                total_exact: true,
                items,
                offset: q.offset,
                limit,
            });
        }
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(t) = &q.text {
            params.push(("query", t.clone()));
        }
        if let Some(s) = &q.status {
            params.push((
                "status",
                s.id.clone().unwrap_or_else(|| s.label().to_owned()),
            ));
        } else if !q.states.is_empty() {
            let names: Vec<&str> = q.states.iter().filter_map(|s| state_name(*s)).collect();
            match names.as_slice() {
                [first, rest @ ..] if rest.iter().all(|n| n == first) => {
                    params.push(("status", (*first).to_owned()));
                }
                _ => {
                    return Err(Error::unsupported(
                        self.name(),
                        "searching several statuses at once",
                    ));
                }
            }
        }
        if let Some(d) = &q.department {
            params.push((
                "department",
                d.id.clone().unwrap_or_else(|| d.label().to_owned()),
            ));
        }
        let sort = match (q.sort, q.order) {
            (SortField::Created, SortOrder::Desc) => "created",
            (SortField::Updated, SortOrder::Desc) => "updated",
            (SortField::Number, SortOrder::Asc) => "number",
            _ => {
                return Err(Error::unsupported(
                    self.name(),
                    "this sort order (the plugin sorts by -created, -updated or number)",
                ));
            }
        };
        params.push(("sort", sort.to_owned()));
        let mut page = params.clone();
        page.push(("limit", limit.to_string()));
        page.push(("offset", q.offset.to_string()));
        let items: Vec<Ticket> = self
            .search_page(&page)
            .await?
            .into_iter()
            .take(limit as usize)
            .map(ticket_from_item)
            .collect();
        // The plugin reports no total. On a last page it is exact; after a full page
        // the rest is counted a page of 100 at a time, up to COUNT_AHEAD_PAGES pages
        // (beyond that the total is a lower bound).
        let mut total = u64::from(q.offset) + items.len() as u64;
        if items.len() == limit as usize {
            for _ in 0..COUNT_AHEAD_PAGES {
                let mut ahead = params.clone();
                ahead.push(("limit", MAX_LIMIT.to_string()));
                ahead.push(("offset", total.to_string()));
                let n = self.search_page(&ahead).await?.len() as u64;
                total += n;
                if n < u64::from(MAX_LIMIT) {
                    break;
                }
            }
        }
        Ok(Page {
            items,
            total,
            total_exact: true,
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
        m.insert("noteFormat".into(), json!(note_format(entry.body.format)));
        let number = self.patch(id, m).await?;
        let t = self.after_change(&number, None).await;
        // The newest note is this one (osTicket may have reformatted its text).
        let found = t
            .entries
            .iter()
            .filter(|e| e.kind == EntryKind::Note)
            .max_by_key(|e| e.id.parse::<u64>().unwrap_or(0))
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
            m.insert("noteFormat".into(), json!(note_format(b.format)));
            m.insert("note".into(), json!(b.content));
        }
        let number = self.patch(id, m).await?;
        Ok(self.after_change(&number, Some(State::Resolved)).await)
    }

    async fn close(&self, id: &str, closure: Closure) -> Result<Ticket, Error> {
        self.plugin_only(Operation::Close)?;
        let mut m = Map::new();
        m.insert("statusId".into(), json!("Closed"));
        if let Some(n) = closure.note.filter(|n| !n.trim().is_empty()) {
            m.insert("note".into(), json!(n));
            m.insert("noteFormat".into(), json!("text"));
        }
        let number = self.patch(id, m).await?;
        Ok(self.after_change(&number, Some(State::Closed)).await)
    }

    async fn assign(&self, id: &str, a: Assignment) -> Result<Ticket, Error> {
        self.plugin_only(Operation::Assign)?;
        if a.group.is_some() {
            return Err(Error::unsupported(self.name(), "assigning to a group"));
        }
        if a.team.is_some() {
            return Err(Error::unsupported(self.name(), "assigning to a team"));
        }
        let Some(s) = &a.assignee else {
            return Err(Error::bad_input("an assignment needs an assignee"));
        };
        let mut m = Map::new();
        m.insert("staffId".into(), staff_id(s, "assignee")?);
        let number = self.patch(id, m).await?;
        Ok(self.after_change(&number, None).await)
    }

    /// Through the update endpoint's `parentTicketNumber`: the plugin's own
    /// `tickets-subtickets-create.php/{parent}.json` dies of PHP memory exhaustion on
    /// osTicket 1.18.1 (its `getApiKey` recurses), the update endpoint works.
    async fn link(&self, parent: &str, child: &str) -> Result<(), Error> {
        self.plugin_only(Operation::Link)?;
        // Canonical ids are numbers, but an internal id is accepted by get: read the
        // parent once so the plugin is given its number.
        let parent_number = self.view(parent).await?.number;
        let mut m = Map::new();
        m.insert("parentTicketNumber".into(), json!(parent_number));
        self.patch(child, m).await.map(|_| ())
    }

    async fn unlink(&self, _parent: &str, _child: &str) -> Result<(), Error> {
        self.plugin_only(Operation::Unlink)?;
        Err(Error::unsupported(
            self.name(),
            "unlinking a subticket (the plugin's unlink endpoint fails on osTicket 1.18.1, \
             and its update cannot clear a parent)",
        ))
    }

    async fn parent(&self, _id: &str) -> Result<Option<Ticket>, Error> {
        self.plugin_only(Operation::Parent)?;
        Err(Error::unsupported(
            self.name(),
            "reading a ticket's parent (the plugin's parent endpoint fails on osTicket 1.18.1, \
             and a fetched ticket does not name its parent)",
        ))
    }

    async fn children(&self, id: &str) -> Result<Vec<Ticket>, Error> {
        self.plugin_only(Operation::Children)?;
        // The fetched ticket lists its subtickets (`children`): each is read in turn.
        let view = self.view(id).await?;
        let mut out = Vec::new();
        for child in view.children.iter().take(MAX_CHILDREN) {
            out.push(self.fetch(&child.to_string()).await?);
        }
        Ok(out)
    }

    async fn stats(&self, q: &StatsQuery) -> Result<Stats, Error> {
        self.plugin_only(Operation::Stats)?;
        if q.since.is_some() || q.until.is_some() {
            return Err(Error::unsupported(
                self.name(),
                "statistics for a period (the plugin counts every ticket)",
            ));
        }
        let r: StatsResponse = self
            .json(Method::GET, "tickets-stats.php", &[], None)
            .await?;
        let mut s = Stats {
            total: r.total,
            open: r.open,
            // osTicket's "closed" state holds resolved and closed tickets alike; the
            // plugin does not tell them apart.
            closed: r.closed,
            overdue: r.overdue,
            ..Stats::default()
        };
        s.by_state.insert("open".to_owned(), r.open);
        s.by_state.insert("closed".to_owned(), r.closed);
        for (name, d) in &r.by_department {
            s.by_department.insert(name.clone(), d.total);
        }
        for a in &r.by_staff {
            s.by_assignee
                .insert(a.staff_name.name().to_owned(), a.total);
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
        let list: Vec<StatusView> = self
            .json(Method::GET, "tickets-statuses.php", &[], None)
            .await?;
        Ok(list
            .into_iter()
            .map(|s| {
                // osTicket's state is coarse ("closed" for Resolved too): the name decides
                // where it is one ticketgate knows.
                let state = match status_from_name(&s.name).state {
                    State::Open => match s.state.as_str() {
                        "closed" => State::Closed,
                        "archived" => State::Archived,
                        "deleted" => State::Deleted,
                        _ => State::Open,
                    },
                    known => known,
                };
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
    use ticketgate_model::ErrorKind;

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
    fn osticket_refusals_are_permanent_and_failures_temporary() {
        // What the real osTicket 1.18.1 answers an invalid create (tests/live_osticket.rs).
        let e = status_error(
            500,
            b"Unable to create new ticket :user\nIncomplete client information",
            None,
        );
        assert!(!e.retryable);
        assert_eq!(e.kind, ErrorKind::UpstreamRejected);
        assert_eq!(e.http_status(), 400);
        let e = status_error(403, b"Ticket denied: a@example.com", None);
        assert!(!e.retryable);
        // No reason given, or no osTicket words at all: a failure that may pass.
        assert!(status_error(500, b"Unable to create new ticket :unknown error", None).retryable);
        assert!(status_error(500, b"<html>Internal Server Error</html>", None).retryable);
        assert!(status_error(503, b"", None).retryable);
    }

    #[test]
    fn api_suffix_is_taken_back_to_the_base() {
        for url in [
            "http://h.example/osticket",
            "http://h.example/osticket/",
            "http://h.example/osticket/api",
            "http://h.example/osticket/api/",
            "http://h.example/osticket/api/http.php",
        ] {
            assert_eq!(base_url(url), "http://h.example/osticket", "{url}");
        }
    }

    #[test]
    fn serde_names() {
        let c: ClientConfig =
            serde_json::from_str(r#"{"url": "http://x", "mode": "core"}"#).unwrap();
        assert_eq!(c.mode, Mode::Core);
        assert!(serde_json::from_str::<ClientConfig>(r#"{"urll": "x"}"#).is_err());
    }
}
