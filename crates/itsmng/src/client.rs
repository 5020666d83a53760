//! The client face: canonical operations against a real `apirest.php`.
//!
//! One API session serves every call; it is opened on first use by exactly one
//! caller (the others wait on the same lock), and re-opened once, transparently,
//! when the server says the token is invalid (`ERROR_SESSION_TOKEN_INVALID`). Names
//! of categories, locations, users and groups are resolved to ids through the
//! dropdown itemtypes, with a cache.

use crate::errors::{parse_error_body, to_canonical};
use crate::mapping::{self, as_text};
use crate::search;
use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use ticketgate_model::{
    Assignment, Attachment, Capabilities, Closure, DeleteMode, Document, EntryKind, Error,
    ErrorKind, Helpdesk, LookupItem, LookupKind, NewEntry, NewTask, NewTicket, Operation, Page,
    PriorityLevel, Query, Reference, Resolution, Task, ThreadEntry, Ticket, TicketPatch,
    UpstreamAnswer, classify_upstream, upstream_unreadable,
};
use ticketgate_upstream::client::{Form, Method, Part, StatusCode};

/// Configuration of an ITSM-NG upstream.
#[derive(Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// The `apirest.php` URL itself, e.g. `https://help.example.com/apirest.php`.
    pub url: String,
    /// The API user's personal token (preferred: works on a stock install).
    pub user_token: Option<String>,
    /// Login and password, when the instance allows credential logins.
    pub login: Option<String>,
    pub password: Option<String>,
    /// The API client's app token, when the instance requires one.
    pub app_token: Option<String>,
    pub connect_timeout_ms: u64,
    pub request_timeout_ms: u64,
    /// Read a created ticket back from ITSM-NG (three more calls) so the answer shows
    /// what the upstream made of it — its rules may set status, priority or actors —
    /// (default true). When false the answer is built from what was sent and the new
    /// id: a reverse proxy whose clients only need the number (osTicket's create
    /// answers nothing else) saves three round trips per create.
    pub read_back_creates: bool,
    /// Give a requester known by email a GLPI user of their own (found by that email,
    /// else created with their name and phone), so the name and the phone reach
    /// GLPI (default true). When false the requester is GLPI's email-only actor,
    /// which keeps the address and nothing else.
    pub requester_users: bool,
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
            user_token: None,
            login: None,
            password: None,
            app_token: None,
            connect_timeout_ms: 3_000,
            request_timeout_ms: 10_000,
            read_back_creates: true,
            requester_users: true,
            max_response_bytes: ticketgate_upstream::DEFAULT_MAX_RESPONSE_BYTES,
            tls: None,
        }
    }
}

/// The ticket a create made, from the input that was sent and the id ITSM-NG gave it
/// (the `read_back_creates = false` answer).
fn as_sent(
    mut input: serde_json::Map<String, serde_json::Value>,
    id: &str,
    sent: NewTicket,
) -> Result<Ticket, Error> {
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
    input.insert("id".into(), serde_json::json!(id));
    input.entry("status").or_insert(serde_json::json!(1));
    // ITSM-NG derives the priority from urgency × impact when none is given.
    let level = |k: &str| {
        input
            .get(k)
            .and_then(serde_json::Value::as_u64)
            .and_then(|v| u8::try_from(v).ok())
    };
    let priority = mapping::compute_priority(level("urgency"), level("impact"));
    input
        .entry("priority")
        .or_insert(serde_json::json!(priority));
    input.insert("date".into(), serde_json::json!(now));
    input.insert("date_mod".into(), serde_json::json!(now));
    let mut t = mapping::ticket_from_row(&serde_json::Value::Object(input))?;
    t.requester = sent.requester;
    t.cc = sent.cc;
    t.attachments = sent.attachments;
    Ok(t)
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |o: &Option<String>| if o.is_some() { "<redacted>" } else { "None" };
        f.debug_struct("ClientConfig")
            .field("url", &self.url)
            .field("user_token", &redact(&self.user_token))
            .field("login", &self.login)
            .field("password", &redact(&self.password))
            .field("app_token", &redact(&self.app_token))
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("read_back_creates", &self.read_back_creates)
            .field("requester_users", &self.requester_users)
            .finish()
    }
}

/// The session every call shares; `generation` counts openings, so a caller that saw
/// a stale token only drops that one, never a fresher one another caller opened.
struct Session {
    token: String,
    generation: u64,
}

/// A request body, rebuilt for the retry after a session re-open.
enum Payload<'a> {
    None,
    Json(&'a Value),
    Upload {
        manifest: &'a Value,
        files: &'a [Attachment],
    },
}

/// ITSM-NG over `apirest.php`.
pub struct ItsmngClient {
    config: ClientConfig,
    http: ticketgate_upstream::Client,
    /// The `Authorization` value `initSession` sends (user token or basic).
    init_auth: String,
    /// The current session, read without a lock by every call.
    session: ArcSwapOption<Session>,
    /// Held only while a session is opened (single flight): the last generation.
    opening: tokio::sync::Mutex<u64>,
    lookups: std::sync::Mutex<HashMap<LookupKind, Vec<LookupItem>>>,
    /// Requester email (lower case) → the GLPI user found or made for it, and when.
    requesters: std::sync::Mutex<HashMap<String, (Option<String>, std::time::Instant)>>,
    sessions_opened: AtomicU64,
}

impl std::fmt::Debug for ItsmngClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItsmngClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// How long a requester's GLPI user is remembered. A user deleted in GLPI meanwhile
/// leaves at most this long of tickets naming the deleted id.
const REQUESTER_TTL: std::time::Duration = std::time::Duration::from_secs(300);
/// The most requesters remembered at once.
const REQUESTER_CACHE: usize = 10_000;

/// The biggest dropdown list read for name look-ups.
const LOOKUP_RANGE: &str = "0-999";

impl ItsmngClient {
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let base = config.url.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::bad_input(format!(
                "itsmng url {base:?} must be an http(s) URL to apirest.php"
            ))
            .field("url"));
        }
        let has_token = config.user_token.as_deref().is_some_and(|t| !t.is_empty());
        let has_login = config.login.as_deref().is_some_and(|t| !t.is_empty())
            && config.password.as_deref().is_some_and(|t| !t.is_empty());
        if !has_token && !has_login {
            return Err(
                Error::bad_input("itsmng needs a user_token, or a login and a password")
                    .field("user_token"),
            );
        }
        let settings = ticketgate_upstream::Settings::new(
            &base,
            config.connect_timeout_ms,
            config.request_timeout_ms,
        )
        .tls(config.tls.as_ref());
        let mut http = ticketgate_upstream::Client::new(&settings).map_err(|e| match e {
            ticketgate_upstream::client::BuildError::Tls(m) => Error::bad_input(m).field("tls"),
            other => Error::bad_input(format!(
                "itsmng url {base:?} must be an http(s) URL to apirest.php ({other})"
            ))
            .field("url"),
        })?;
        if let Some(app) = config.app_token.as_deref().filter(|a| !a.is_empty()) {
            http = http.with_header("app-token", app, true).map_err(|_| {
                Error::bad_input("itsmng app_token holds characters HTTP cannot carry")
                    .field("app_token")
            })?;
        }
        let init_auth = match (&config.user_token, &config.login) {
            (Some(t), _) if !t.is_empty() => format!("user_token {t}"),
            (_, Some(login)) => {
                ticketgate_upstream::client::basic_auth(login, config.password.as_deref())
            }
            _ => return Err(Error::internal("no ITSM-NG credentials configured")),
        };
        Ok(Self {
            config,
            http,
            init_auth,
            session: ArcSwapOption::empty(),
            opening: tokio::sync::Mutex::new(0),
            lookups: std::sync::Mutex::new(HashMap::new()),
            requesters: std::sync::Mutex::new(HashMap::new()),
            sessions_opened: AtomicU64::new(0),
        })
    }

    /// How many sessions this client has opened (1 in the steady state).
    pub fn sessions_opened(&self) -> u64 {
        self.sessions_opened.load(Ordering::Relaxed)
    }

    /// The answer's body, through the one bounded reader every client face shares.
    async fn read_body(&self, resp: ticketgate_upstream::Response) -> Result<bytes::Bytes, Error> {
        ticketgate_upstream::read_body(resp, self.config.max_response_bytes)
            .await
            .map_err(|e| e.into_error("ITSM-NG", |t| self.transport_error(t)))
    }

    fn transport_error(&self, e: &ticketgate_upstream::Failure) -> Error {
        e.into_error("ITSM-NG", self.config.request_timeout_ms)
    }

    async fn init_session(&self) -> Result<String, Error> {
        let resp = self
            .http
            .get("/initSession")
            .header("Content-Type", "application/json")
            .sensitive_header("authorization", &self.init_auth)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = resp.status();
        let body = self.read_body(resp).await?;
        let v = check(status, &body)?;
        self.sessions_opened.fetch_add(1, Ordering::Relaxed);
        v.get("session_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| upstream_unreadable("ITSM-NG", "initSession answered no session_token"))
    }

    /// The shared session token, opening it if needed (single flight).
    async fn session(&self) -> Result<Arc<Session>, Error> {
        if let Some(s) = self.session.load_full() {
            return Ok(s);
        }
        let mut generation = self.opening.lock().await;
        // Another caller may have opened it while this one waited.
        if let Some(s) = self.session.load_full() {
            return Ok(s);
        }
        let token = self.init_session().await?;
        *generation += 1;
        let s = Arc::new(Session {
            token,
            generation: *generation,
        });
        self.session.store(Some(s.clone()));
        Ok(s)
    }

    /// Drop the session `generation` if it is still the current one.
    fn invalidate(&self, generation: u64) {
        self.session.rcu(|current| match current {
            Some(s) if s.generation == generation => None,
            other => other.clone(),
        });
    }

    /// One API call with the session; re-opens the session once if it was refused.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        payload: Payload<'_>,
    ) -> Result<Value, Error> {
        let (status, body) = self.call_raw(method, path, query, payload).await?;
        check(status, &body)
    }

    /// [`Self::call`]'s status and body as they came (a document's bytes).
    async fn call_raw(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        payload: Payload<'_>,
    ) -> Result<(StatusCode, Bytes), Error> {
        let mut retried = false;
        loop {
            let session = self.session().await?;
            let mut req = self
                .http
                .request(method.clone(), path)
                .sensitive_header("session-token", &session.token)
                .query(query);
            req = match &payload {
                Payload::None => req.header("Content-Type", "application/json"),
                Payload::Json(v) => req.json(v),
                Payload::Upload { manifest, files } => req.multipart(upload_form(manifest, files)?),
            };
            let resp = req.send().await.map_err(|e| self.transport_error(&e))?;
            let status = resp.status();
            let body = self.read_body(resp).await?;
            if !retried && session_refused(status, &body) {
                retried = true;
                self.invalidate(session.generation);
                continue;
            }
            return Ok((status, body));
        }
    }

    async fn get_json(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, Error> {
        let q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.call(Method::GET, path, &q, Payload::None).await
    }

    fn cached(&self, kind: LookupKind) -> Option<Vec<LookupItem>> {
        self.lookups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&kind)
            .cloned()
    }

    async fn lookup_cached(&self, kind: LookupKind) -> Result<Vec<LookupItem>, Error> {
        if let Some(items) = self.cached(kind) {
            return Ok(items);
        }
        let items = self.fetch_lookup(kind).await?;
        self.lookups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(kind, items.clone());
        Ok(items)
    }

    async fn fetch_lookup(&self, kind: LookupKind) -> Result<Vec<LookupItem>, Error> {
        let itemtype = match kind {
            LookupKind::Statuses => return Ok(status_lookup()),
            LookupKind::Priorities => return Ok(priority_lookup()),
            LookupKind::Categories => "ITILCategory",
            LookupKind::Locations => "Location",
            LookupKind::Agents => "User",
            LookupKind::Groups => "Group",
            LookupKind::Slas => "SLA",
            LookupKind::Departments | LookupKind::Topics => {
                return Err(Error::unsupported(
                    self.name(),
                    &format!("lookup of {}", kind.as_str()),
                ));
            }
        };
        let v = self
            .get_json(
                &format!("/{itemtype}"),
                &[("range", LOOKUP_RANGE), ("get_hateoas", "false")],
            )
            .await?;
        Ok(lookup_items(&v))
    }

    /// A reference with an ITSM-NG id: ids pass, names are looked up.
    async fn resolve(
        &self,
        kind: LookupKind,
        r: &Reference,
        field: &str,
    ) -> Result<Reference, Error> {
        if r.id
            .as_deref()
            .is_some_and(|i| i.trim().parse::<i64>().is_ok())
        {
            return Ok(r.clone());
        }
        let name = r.name.as_deref().unwrap_or("").trim();
        let items = self.lookup_cached(kind).await?;
        items
            .iter()
            .find(|i| i.name.eq_ignore_ascii_case(name))
            .map(|i| Reference::both(i.id.clone(), i.name.clone()))
            .ok_or_else(|| Error::bad_input(format!("unknown {field} {name:?}")).field(field))
    }

    async fn resolve_opt(
        &self,
        kind: LookupKind,
        r: &mut Option<Reference>,
        field: &str,
    ) -> Result<(), Error> {
        if let Some(v) = r.as_ref() {
            *r = Some(self.resolve(kind, v, field).await?);
        }
        Ok(())
    }

    fn entity(r: &mut Option<Reference>) -> Result<(), Error> {
        if let Some(v) = r.as_ref()
            && v.id.as_deref().is_none_or(|i| i.parse::<i64>().is_err())
        {
            if v.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(mapping::ROOT_ENTITY))
            {
                *r = Some(Reference::both("0", mapping::ROOT_ENTITY));
            } else {
                return Err(
                    Error::bad_input(format!("unknown entity {:?}", v.label())).field("entity")
                );
            }
        }
        Ok(())
    }

    /// Load the look-ups a ticket refers to, so its references get names (each list
    /// is read once per client; a failure only leaves names out).
    async fn warm_lookups(&self, t: &Ticket) {
        let wanted = [
            (LookupKind::Categories, t.category.is_some()),
            (LookupKind::Locations, t.location.is_some()),
            (
                LookupKind::Agents,
                t.assignee.is_some() || t.requester.id.is_some(),
            ),
            (LookupKind::Groups, t.group.is_some()),
        ];
        for (kind, needed) in wanted {
            if needed && self.cached(kind).is_none() {
                let _ = self.lookup_cached(kind).await;
            }
        }
    }

    /// Names filled in from the look-up caches already loaded (never fetched here).
    fn name_references(&self, t: &mut Ticket) {
        let fill = |kind: LookupKind, r: &mut Option<Reference>| {
            if let (Some(r), Some(items)) = (r.as_mut(), self.cached(kind))
                && r.name.is_none()
                && let Some(i) = items.iter().find(|i| Some(&i.id) == r.id.as_ref())
            {
                r.name = Some(i.name.clone());
            }
        };
        fill(LookupKind::Categories, &mut t.category);
        fill(LookupKind::Locations, &mut t.location);
        fill(LookupKind::Agents, &mut t.assignee);
        fill(LookupKind::Groups, &mut t.group);
        fill(LookupKind::Slas, &mut t.sla);
        if let (Some(id), None, Some(users)) = (
            t.requester.id.as_ref(),
            t.requester.name.as_ref(),
            self.cached(LookupKind::Agents),
        ) && let Some(u) = users.iter().find(|u| &u.id == id)
        {
            t.requester.name = Some(u.name.clone());
        }
    }

    /// The GLPI user of a requester known by email, remembered for
    /// [`REQUESTER_TTL`] so a busy requester costs one look-up, not one per create.
    async fn requester_user(
        &self,
        r: &ticketgate_model::Requester,
    ) -> Result<Option<String>, Error> {
        let Some(key) = r
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_ascii_lowercase)
        else {
            return Ok(None);
        };
        let now = std::time::Instant::now();
        {
            let cache = self.requesters.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((user, at)) = cache.get(&key)
                && now.duration_since(*at) < REQUESTER_TTL
            {
                return Ok(user.clone());
            }
        }
        let user = self.find_or_make_requester_user(r).await?;
        let mut cache = self.requesters.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= REQUESTER_CACHE {
            cache.retain(|_, (_, at)| now.duration_since(*at) < REQUESTER_TTL);
            if cache.len() >= REQUESTER_CACHE {
                cache.clear();
            }
        }
        cache.insert(key, (user.clone(), now));
        Ok(user)
    }

    /// The GLPI user of a requester known by email: the user with that address, or
    /// one created with the requester's name and phone. `None` (the email-only
    /// actor) when GLPI will not make one, so a create never fails for it.
    async fn find_or_make_requester_user(
        &self,
        r: &ticketgate_model::Requester,
    ) -> Result<Option<String>, Error> {
        let Some(email) = r.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) else {
            return Ok(None);
        };
        // Option 5 is the user's emails; `^…$` anchors GLPI's LIKE search.
        let query = [
            ("criteria[0][field]", "5".to_owned()),
            ("criteria[0][searchtype]", "contains".to_owned()),
            ("criteria[0][value]", format!("^{email}$")),
            ("forcedisplay[0]", "2".to_owned()),
            ("forcedisplay[1]", "5".to_owned()),
        ];
        let q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let found = match self
            .call(Method::GET, "/search/User", &q, Payload::None)
            .await
        {
            Ok(v) => v,
            // An apirest.php that cannot search users (ITSM-NG without the right, a
            // ticketgate upstream) keeps the email-only requester.
            Err(e)
                if matches!(
                    e.kind,
                    ErrorKind::Unsupported
                        | ErrorKind::UpstreamRejected
                        | ErrorKind::BadInput
                        | ErrorKind::Forbidden
                        | ErrorKind::NotFound
                ) =>
            {
                tracing::debug!(error = %e.message, "itsmng: users cannot be searched; email-only requester");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let existing = found
            .get("data")
            .map(crate::params::list)
            .unwrap_or_default()
            .into_iter()
            .filter(|row| {
                row.get("5").is_some_and(|m| match m {
                    Value::String(s) => s
                        .split(['\n', ',', ' '])
                        .any(|e| e.eq_ignore_ascii_case(email)),
                    Value::Array(a) => a
                        .iter()
                        .filter_map(Value::as_str)
                        .any(|e| e.eq_ignore_ascii_case(email)),
                    _ => false,
                })
            })
            .find_map(|row| row.get("2").and_then(as_text));
        if existing.is_some() {
            return Ok(existing);
        }
        let input = mapping::requester_user_input(r, email);
        match self.post_item("User", input, &[]).await {
            Ok(id) => Ok(Some(id)),
            Err(e)
                if matches!(
                    e.kind,
                    ErrorKind::Unsupported
                        | ErrorKind::UpstreamRejected
                        | ErrorKind::BadInput
                        | ErrorKind::Forbidden
                ) =>
            {
                tracing::warn!(error = %e.message, "itsmng: no user for the requester; email-only actor");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Name and phone of a requester who is a GLPI user (a failed read leaves them out).
    async fn requester_details(&self, id: &str, r: &mut ticketgate_model::Requester) {
        let Ok(row) = self
            .get_json(&format!("/User/{id}"), &[("get_hateoas", "false")])
            .await
        else {
            return;
        };
        mapping::apply_user_row(r, &row);
    }

    async fn post_item(
        &self,
        itemtype: &str,
        input: Map<String, Value>,
        files: &[Attachment],
    ) -> Result<String, Error> {
        let body = json!({ "input": input });
        let payload = if files.is_empty() {
            Payload::Json(&body)
        } else {
            Payload::Upload {
                manifest: &body,
                files,
            }
        };
        let v = self
            .call(Method::POST, &format!("/{itemtype}"), &[], payload)
            .await?;
        v.get("id")
            .filter(|id| !matches!(id, Value::Bool(false)))
            .and_then(as_text)
            .ok_or_else(|| upstream_unreadable("ITSM-NG", format!("{itemtype} add answered no id")))
    }

    async fn put_ticket(&self, id: &str, input: Map<String, Value>) -> Result<(), Error> {
        let body = json!({ "input": input });
        self.call(
            Method::PUT,
            &format!("/Ticket/{}", path_id(id)?),
            &[],
            Payload::Json(&body),
        )
        .await?;
        Ok(())
    }

    /// Add the assignee and group of `a` to ticket `id`. GLPI refuses an actor the
    /// ticket already has with an empty `["ERROR_GLPI_ADD",""]`, so look first: an
    /// `assign` (`strict`) answers 409 saying so; an update, which asks for a state
    /// the ticket is already in, leaves it as it is.
    async fn add_actor(&self, id: &str, a: &Assignment, strict: bool) -> Result<(), Error> {
        let assigned = |rows: &Value, key: &str, actor: &Reference| {
            crate::params::list(rows).into_iter().any(|r| {
                r.get("type").and_then(mapping::as_i64) == Some(mapping::ACTOR_ASSIGNED)
                    && r.get(key).and_then(as_text) == actor.id
            })
        };
        let ticket = path_id(id)?;
        if let Some(user) = &a.assignee {
            let user = self.resolve(LookupKind::Agents, user, "assignee").await?;
            let rows = self
                .get_json(
                    &format!("/Ticket/{ticket}/Ticket_User"),
                    &[("get_hateoas", "false"), ("range", LOOKUP_RANGE)],
                )
                .await?;
            if !assigned(&rows, "users_id", &user) {
                let input = mapping::actor_input(id, &user, false, mapping::ACTOR_ASSIGNED)?;
                self.post_item("Ticket_User", input, &[]).await?;
            } else if strict {
                return Err(Error::conflict(format!(
                    "{} is already assigned to ticket {ticket}; nothing was changed",
                    user.label()
                ))
                .field("assignee"));
            }
        }
        if let Some(group) = &a.group {
            let group = self.resolve(LookupKind::Groups, group, "group").await?;
            let rows = self
                .get_json(
                    &format!("/Ticket/{ticket}/Group_Ticket"),
                    &[("get_hateoas", "false"), ("range", LOOKUP_RANGE)],
                )
                .await?;
            if !assigned(&rows, "groups_id", &group) {
                let input = mapping::actor_input(id, &group, true, mapping::ACTOR_ASSIGNED)?;
                self.post_item("Group_Ticket", input, &[]).await?;
            } else if strict {
                return Err(Error::conflict(format!(
                    "group {} is already assigned to ticket {ticket}; nothing was changed",
                    group.label()
                ))
                .field("group"));
            }
        }
        Ok(())
    }

    /// Create, then read the ticket back (the whole ticket as ITSM-NG stored it) or
    /// answer it as sent with its new id (`read_back_creates = false`, a brief create).
    async fn create_as(&self, mut ticket: NewTicket, read_back: bool) -> Result<Ticket, Error> {
        ticket.validate()?;
        self.resolve_opt(LookupKind::Categories, &mut ticket.category, "category")
            .await?;
        self.resolve_opt(LookupKind::Locations, &mut ticket.location, "location")
            .await?;
        self.resolve_opt(LookupKind::Agents, &mut ticket.assignee, "assignee")
            .await?;
        self.resolve_opt(LookupKind::Groups, &mut ticket.group, "group")
            .await?;
        // GLPI has no departments: the department is the GLPI group of that name,
        // assigned to the ticket (the team that handles it), beside `group` when
        // both are given. An unknown one is refused, never dropped.
        self.resolve_opt(LookupKind::Groups, &mut ticket.department, "department")
            .await?;
        let extra_group = match (ticket.group.as_ref(), ticket.department.take()) {
            (None, Some(d)) => {
                ticket.group = Some(d);
                None
            }
            (Some(g), Some(d)) if g.id != d.id => Some(d),
            _ => None,
        };
        self.resolve_opt(LookupKind::Slas, &mut ticket.sla, "sla")
            .await?;
        Self::entity(&mut ticket.entity)?;
        if self.config.requester_users
            && ticket.requester.id.is_none()
            && ticket.requester.email.is_some()
        {
            ticket.requester.id = self.requester_user(&ticket.requester).await?;
        }
        let requester = &mut ticket.requester;
        if requester.id.is_none()
            && requester.email.is_none()
            && let Some(login) = requester
                .username
                .clone()
                .or_else(|| requester.name.clone())
        {
            // A login ITSM-NG does not know (typically the name of the API user a
            // downstream client was talking to) leaves the requester unset, so the
            // upstream's own API user becomes the requester, as ITSM-NG does for a
            // create that names none; anything else (a lookup failure) is an error.
            match self
                .resolve(LookupKind::Agents, &Reference::name(login), "requester")
                .await
            {
                Ok(user) => requester.id = user.id,
                Err(e) if e.kind == ErrorKind::BadInput => {}
                Err(e) => return Err(e),
            }
        }
        let mut input = mapping::new_ticket_input(&ticket)?;
        if let Some(extra) = extra_group {
            let ids: Vec<i64> = [ticket.group.as_ref(), Some(&extra)]
                .into_iter()
                .map(mapping::ref_fk)
                .collect();
            input.insert("_groups_id_assign".into(), json!(ids));
        }
        let id = self
            .post_item("Ticket", input.clone(), &ticket.attachments)
            .await?;
        if read_back {
            return self.get(&id).await;
        }
        as_sent(input, &id, ticket)
    }
}

/// ITSM-NG ids are integers: anything else cannot be one of its tickets.
fn path_id(id: &str) -> Result<String, Error> {
    id.trim()
        .parse::<u64>()
        .map(|n| n.to_string())
        .map_err(|_| Error::not_found(format!("ticket {id} not found")))
}

fn session_refused(status: StatusCode, body: &[u8]) -> bool {
    matches!(status.as_u16(), 400 | 401)
        && parse_error_body(body).is_some_and(|(code, _)| {
            code == "ERROR_SESSION_TOKEN_INVALID" || code == "ERROR_SESSION_TOKEN_MISSING"
        })
}

/// A response as JSON, or the canonical error it says.
fn check(status: StatusCode, body: &Bytes) -> Result<Value, Error> {
    if status.is_success() && status.as_u16() != 207 {
        if body.trim_ascii().is_empty() {
            return Ok(Value::Null);
        }
        return serde_json::from_slice(body).map_err(|e| upstream_unreadable("ITSM-NG", e));
    }
    match parse_error_body(body) {
        Some((code, message)) => Err(to_canonical(status.as_u16(), &code, &message)),
        None => Err(classify_upstream(
            "ITSM-NG",
            &UpstreamAnswer {
                status: status.as_u16(),
                ..UpstreamAnswer::default()
            },
        )),
    }
}

fn upload_form(manifest: &Value, files: &[Attachment]) -> Result<Form, Error> {
    let mut manifest = manifest.clone();
    if let Some(input) = manifest.get_mut("input").and_then(Value::as_object_mut) {
        input.insert(
            "_filename".into(),
            Value::Array(files.iter().map(|f| json!(f.name)).collect()),
        );
    }
    let manifest_part = Part::text(manifest.to_string())
        .media_type("application/json")
        .map_err(|_| Error::internal("multipart: application/json refused"))?;
    let mut form = Form::new().part("uploadManifest", manifest_part);
    for (i, f) in files.iter().enumerate() {
        let part = Part::bytes(f.bytes.clone())
            .file_name(f.name.clone())
            .media_type(&f.media_type)
            .or_else(|p| p.media_type("application/octet-stream"))
            .map_err(|_| Error::internal("multipart: application/octet-stream refused"))?;
        form = form.part(format!("filename[{i}]"), part);
    }
    Ok(form)
}

/// Rows of a dropdown list as look-up items.
pub fn lookup_items(v: &Value) -> Vec<LookupItem> {
    crate::params::list(v)
        .into_iter()
        .filter_map(|row| {
            let id = row.get("id").and_then(as_text)?;
            let name = row
                .get("completename")
                .and_then(Value::as_str)
                .or_else(|| row.get("name").and_then(Value::as_str))
                .unwrap_or_default()
                .to_owned();
            Some(LookupItem {
                id,
                name,
                state: None,
                level: None,
                parent: None,
            })
        })
        .collect()
}

fn status_lookup() -> Vec<LookupItem> {
    (1..=6)
        .map(|s| LookupItem {
            id: s.to_string(),
            name: mapping::status_name(s).to_owned(),
            state: mapping::status_to_state(s),
            level: None,
            parent: None,
        })
        .collect()
}

fn priority_lookup() -> Vec<LookupItem> {
    let names = ["Very low", "Low", "Medium", "High", "Very high", "Major"];
    PriorityLevel::ALL
        .iter()
        .zip(names)
        .map(|(l, n)| LookupItem {
            id: l.rank().to_string(),
            name: n.to_owned(),
            state: None,
            level: Some(*l),
            parent: None,
        })
        .collect()
}

#[async_trait]
impl Helpdesk for ItsmngClient {
    fn name(&self) -> &str {
        "itsmng"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::of(&[
            Operation::Create,
            Operation::Get,
            Operation::Update,
            Operation::Delete,
            Operation::Purge,
            Operation::Search,
            Operation::AddEntry,
            Operation::Resolve,
            Operation::Close,
            Operation::Assign,
            Operation::Attach,
            Operation::Lookup,
        ])
    }

    async fn create(&self, ticket: NewTicket) -> Result<Ticket, Error> {
        self.create_as(ticket, self.config.read_back_creates).await
    }

    async fn create_brief(&self, ticket: NewTicket, _key: &str) -> Result<Ticket, Error> {
        self.create_as(ticket, false).await
    }

    async fn get(&self, id: &str) -> Result<Ticket, Error> {
        let id = path_id(id)?;
        let (row_path, actors_path, groups_path, followups_path) = (
            format!("/Ticket/{id}"),
            format!("/Ticket/{id}/Ticket_User"),
            format!("/Ticket/{id}/Group_Ticket"),
            format!("/Ticket/{id}/ITILFollowup"),
        );
        // The three reads are independent: made at once, a get (and so a create, which
        // reads its ticket back) costs one round trip to ITSM-NG instead of three.
        // Errors are taken in the same order as if they had been made one by one.
        let (row, actors, groups, followups) = tokio::join!(
            self.get_json(
                &row_path,
                &[("get_hateoas", "false"), ("with_documents", "true")],
            ),
            self.get_json(
                &actors_path,
                &[("get_hateoas", "false"), ("range", LOOKUP_RANGE)],
            ),
            self.get_json(
                &groups_path,
                &[("get_hateoas", "false"), ("range", LOOKUP_RANGE)],
            ),
            self.get_json(
                &followups_path,
                &[("get_hateoas", "false"), ("range", LOOKUP_RANGE)],
            ),
        );
        let row = row?;
        let mut t = mapping::ticket_from_row(&row)?;
        if let Some(docs) = row.get("_documents") {
            t.attachments = crate::params::list(docs)
                .into_iter()
                .map(|d| Attachment {
                    id: d.get("id").and_then(as_text),
                    name: d
                        .get("filename")
                        .or_else(|| d.get("name"))
                        .and_then(as_text)
                        .unwrap_or_default(),
                    media_type: d
                        .get("mime")
                        .and_then(as_text)
                        .unwrap_or_else(|| "application/octet-stream".into()),
                    ..Attachment::default()
                })
                .collect();
        }
        let actors = actors?;
        // The recipient is the writer, not necessarily the requester: actors decide.
        t.requester = Default::default();
        mapping::apply_actor_rows(
            &mut t,
            &crate::params::list(&actors)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>(),
        );
        // The assigned group (type 2); GLPI lists it apart from the users.
        if let Some(g) = crate::params::list(&groups?)
            .into_iter()
            .filter(|g| g.get("type").and_then(mapping::as_i64) == Some(mapping::ACTOR_ASSIGNED))
            .find_map(|g| g.get("groups_id").and_then(mapping::as_i64))
            .filter(|g| *g > 0)
        {
            t.group = Some(Reference::id(g.to_string()));
        }
        if let Some(uid) = t.requester.id.clone() {
            self.requester_details(&uid, &mut t.requester).await;
        }
        let followups = followups?;
        t.entries = crate::params::list(&followups)
            .into_iter()
            .filter_map(mapping::entry_from_followup)
            .collect();
        self.warm_lookups(&t).await;
        self.name_references(&mut t);
        Ok(t)
    }

    async fn update(&self, id: &str, mut patch: TicketPatch) -> Result<Ticket, Error> {
        patch.validate()?;
        if patch.is_empty() {
            return Err(Error::bad_input("the update changes nothing"));
        }
        self.resolve_opt(LookupKind::Categories, &mut patch.category, "category")
            .await?;
        self.resolve_opt(LookupKind::Locations, &mut patch.location, "location")
            .await?;
        self.resolve_opt(LookupKind::Slas, &mut patch.sla, "sla")
            .await?;
        Self::entity(&mut patch.entity)?;
        // Actors are items of their own on ITSM-NG.
        let assignment = Assignment {
            assignee: patch.assignee.take(),
            group: patch.group.take(),
            team: None,
        };
        // A department is the GLPI group of that name, as on create.
        let department = match patch.department.take() {
            Some(d) => Some(self.resolve(LookupKind::Groups, &d, "department").await?),
            None => None,
        };
        let note = patch.note.take();
        let requester = patch.requester.take();
        let input = mapping::patch_input(&patch)?;
        if !input.is_empty() {
            self.put_ticket(id, input).await?;
        }
        if assignment.assignee.is_some() || assignment.group.is_some() {
            self.add_actor(id, &assignment, false).await?;
        }
        if let Some(d) = department {
            let by_department = Assignment {
                group: Some(d),
                ..Assignment::default()
            };
            self.add_actor(id, &by_department, false).await?;
        }
        if let Some(r) = requester.and_then(|r| r.id) {
            let input =
                mapping::actor_input(id, &Reference::id(r), false, mapping::ACTOR_REQUESTER)?;
            self.post_item("Ticket_User", input, &[]).await?;
        }
        if let Some(note) = note.filter(|n| !n.trim().is_empty()) {
            let entry = NewEntry {
                kind: EntryKind::Note,
                body: ticketgate_model::Body::text(note),
                ..NewEntry::default()
            };
            self.add_entry(id, entry).await?;
        }
        self.get(id).await
    }

    async fn delete(&self, id: &str, mode: DeleteMode) -> Result<(), Error> {
        self.call(
            Method::DELETE,
            &format!("/Ticket/{}", path_id(id)?),
            &mapping::delete_query(mode),
            Payload::None,
        )
        .await?;
        Ok(())
    }

    async fn search(&self, query: &Query) -> Result<Page<Ticket>, Error> {
        let mut q = query.clone();
        self.resolve_opt(LookupKind::Categories, &mut q.category, "category")
            .await?;
        self.resolve_opt(LookupKind::Agents, &mut q.assignee, "assignee")
            .await?;
        self.resolve_opt(LookupKind::Groups, &mut q.group, "group")
            .await?;
        let params = search::query_params(&q)?;
        let v = match self
            .call(Method::GET, "/search/Ticket", &params, Payload::None)
            .await
        {
            Ok(v) => v,
            // An offset past the end is an empty page, not an error, canonically.
            Err(e)
                if e.kind == ErrorKind::UpstreamRejected
                    && e.message.starts_with("Provided range exceed total count") =>
            {
                let total = e
                    .message
                    .rsplit(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                return Ok(Page {
                    items: vec![],
                    total,
                    total_exact: true,
                    offset: q.offset,
                    limit: q.limit,
                });
            }
            Err(e) => return Err(e),
        };
        let mut page = search::page_from_search(&v, q.offset, q.limit)?;
        for t in &mut page.items {
            self.name_references(t);
        }
        Ok(page)
    }

    async fn add_entry(&self, id: &str, entry: NewEntry) -> Result<ThreadEntry, Error> {
        entry.validate()?;
        let input = mapping::followup_input(id, &entry)?;
        let entry_id = self
            .post_item("ITILFollowup", input, &entry.attachments)
            .await?;
        Ok(ThreadEntry {
            id: entry_id,
            kind: entry.kind,
            author: entry.author,
            body: entry.body,
            created_at: chrono::Utc::now(),
            attachments: entry.attachments,
            email: entry.email,
        })
    }

    async fn resolve(&self, id: &str, resolution: Resolution) -> Result<Ticket, Error> {
        let input = mapping::solution_input(id, &resolution)?;
        self.post_item("ITILSolution", input, &[]).await?;
        self.get(id).await
    }

    async fn close(&self, id: &str, closure: Closure) -> Result<Ticket, Error> {
        if let Some(note) = closure.note.filter(|n| !n.trim().is_empty()) {
            let entry = NewEntry {
                kind: EntryKind::Note,
                body: ticketgate_model::Body::text(note),
                ..NewEntry::default()
            };
            self.add_entry(id, entry).await?;
        }
        self.put_ticket(id, mapping::close_input()).await?;
        self.get(id).await
    }

    async fn assign(&self, id: &str, assignment: Assignment) -> Result<Ticket, Error> {
        if assignment.assignee.is_none() && assignment.group.is_none() {
            return Err(
                Error::bad_input("an assignment on ITSM-NG needs an assignee or a group")
                    .field("assignee"),
            );
        }
        self.add_actor(id, &assignment, true).await?;
        self.get(id).await
    }

    async fn attach(&self, id: &str, files: Vec<Attachment>) -> Result<Vec<Attachment>, Error> {
        if files.is_empty() {
            return Err(Error::bad_input("no files to attach").field("attachments"));
        }
        let mut stored = Vec::with_capacity(files.len());
        for f in files {
            let input = mapping::document_input(id, &f)?;
            let doc = self
                .post_item("Document", input, std::slice::from_ref(&f))
                .await?;
            stored.push(Attachment { id: Some(doc), ..f });
        }
        Ok(stored)
    }

    async fn tasks(&self, id: &str) -> Result<Vec<Task>, Error> {
        let n = path_id(id)?;
        let rows = self
            .get_json(
                &format!("/Ticket/{n}/TicketTask"),
                &[("get_hateoas", "false"), ("order", "ASC")],
            )
            .await?;
        Ok(crate::params::list(&rows)
            .into_iter()
            .filter_map(|r| mapping::task_from_row(&n, r))
            .collect())
    }

    async fn add_task(&self, id: &str, mut task: NewTask) -> Result<Task, Error> {
        if task.body.trim().is_empty() {
            return Err(Error::bad_input("a task needs a description").field("body"));
        }
        self.resolve_opt(LookupKind::Agents, &mut task.assignee, "assignee")
            .await?;
        let input = mapping::task_input(id, &task)?;
        let task_id = self.post_item("TicketTask", input, &[]).await?;
        Ok(Task {
            id: task_id,
            ticket: path_id(id)?,
            body: task.body,
            state: task.state,
            duration_secs: task.duration_secs,
            assignee: task.assignee,
            private: task.private,
            created_at: chrono::Utc::now(),
        })
    }

    async fn add_document(
        &self,
        title: &str,
        file: Attachment,
        ticket: Option<&str>,
    ) -> Result<Document, Error> {
        let mut input = match ticket {
            Some(t) => mapping::document_input(t, &file)?,
            None => {
                let mut m = Map::new();
                m.insert("_filename".into(), json!([file.name]));
                m
            }
        };
        input.insert("name".into(), json!(title));
        let id = self
            .post_item("Document", input, std::slice::from_ref(&file))
            .await?;
        Ok(Document {
            id: id.clone(),
            title: title.to_owned(),
            ticket: ticket.map(str::to_owned),
            file: Attachment {
                id: Some(id),
                ..file
            },
            created_at: chrono::Utc::now(),
        })
    }

    /// GLPI's document row, then its bytes (`alt=media`).
    async fn document(&self, id: &str) -> Result<Document, Error> {
        let n = id
            .trim()
            .parse::<u64>()
            .map_err(|_| Error::not_found(format!("document {id} not found")))?;
        let row = self.get_json(&format!("/Document/{n}"), &[]).await?;
        let (status, bytes) = self
            .call_raw(
                Method::GET,
                &format!("/Document/{n}"),
                &[("alt".to_owned(), "media".to_owned())],
                Payload::None,
            )
            .await?;
        if !status.is_success() {
            check(status, &bytes)?;
        }
        let text = |k: &str| row.get(k).and_then(as_text).unwrap_or_default();
        Ok(Document {
            id: n.to_string(),
            title: text("name"),
            ticket: row
                .get("tickets_id")
                .and_then(mapping::as_i64)
                .filter(|t| *t > 0)
                .map(|t| t.to_string()),
            file: Attachment {
                id: Some(n.to_string()),
                name: text("filename"),
                media_type: row
                    .get("mime")
                    .and_then(as_text)
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| "application/octet-stream".into()),
                bytes: bytes.to_vec(),
                ..Attachment::default()
            },
            created_at: row
                .get("date_creation")
                .and_then(as_text)
                .and_then(|d| mapping::parse_date(&d))
                .unwrap_or_else(chrono::Utc::now),
        })
    }

    async fn link_document(&self, id: &str, ticket: &str) -> Result<Document, Error> {
        let document: u64 = id
            .trim()
            .parse()
            .map_err(|_| Error::not_found(format!("document {id} not found")))?;
        let ticket_id: u64 = path_id(ticket)?.parse().unwrap_or_default();
        let mut input = Map::new();
        input.insert("documents_id".into(), json!(document));
        input.insert("itemtype".into(), json!("Ticket"));
        input.insert("items_id".into(), json!(ticket_id));
        self.post_item("Document_Item", input, &[]).await?;
        let mut doc = self.document(id).await?;
        doc.ticket = Some(ticket.to_owned());
        Ok(doc)
    }

    async fn lookup(&self, kind: LookupKind) -> Result<Vec<LookupItem>, Error> {
        // A listing is fresh; it also refreshes the name cache.
        let items = self.fetch_lookup(kind).await?;
        self.lookups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(kind, items.clone());
        Ok(items)
    }

    async fn shutdown(&self) {
        if let Some(session) = self.session.swap(None) {
            let token = &session.token;
            let req = self
                .http
                .get("/killSession")
                .header("Content-Type", "application/json")
                .sensitive_header("session-token", token);
            if let Err(e) = req.send().await {
                tracing::debug!(error = %self.transport_error(&e), "itsmng killSession failed");
            }
        }
    }
}
