//! The client face: the canonical [`Helpdesk`] over a real TicketsApi.
//!
//! TicketsApi takes numeric ids, so names in canonical references are resolved
//! through its `metadata` look-ups (cached, refreshed once on a miss); a name that
//! matches nothing is a 400 naming the field and the value. Tokens are either a fixed
//! bearer token or minted here (HS256 / RS256) and renewed before they expire.

mod search;

use crate::config::ClientConfig;
use crate::jwt::{self, MintClaims, SigningKeyRef};
use crate::wire::{self, Metadata, TicketApiModel};
use async_trait::async_trait;
use rsa::RsaPrivateKey;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use ticketgate_model::{
    Assignment, Attachment, Capabilities, Closure, DeleteMode, EntryKind, Error, ErrorKind,
    Helpdesk, LookupItem, LookupKind, NewEntry, NewTicket, Operation, Page, PriorityLevel, Query,
    Reference, Resolution, Result, Source, State, ThreadEntry, Ticket, TicketPatch, UpstreamAnswer,
    UpstreamHint, classify_upstream, upstream_unreadable,
};
use ticketgate_upstream::client::{Form, Part, Request, StatusCode, header};
use ticketgate_upstream::{Client, Failure};
use tokio::sync::Mutex;

/// The largest error body read from the upstream.
const MAX_ERROR_BODY: usize = 16 * 1024;

enum Credentials {
    Fixed(String),
    Hs256(Vec<u8>),
    Rs256(Box<RsaPrivateKey>),
}

struct CachedToken {
    token: String,
    /// `exp`, in seconds since the epoch.
    expires: f64,
}

struct CachedMetadata {
    fetched: Instant,
    metadata: Arc<Metadata>,
}

/// The canonical helpdesk over a TicketsApi upstream.
pub struct TicketsApiClient {
    http: Client,
    config: ClientConfig,
    credentials: Credentials,
    token: Mutex<Option<CachedToken>>,
    metadata: Mutex<Option<CachedMetadata>>,
}

impl std::fmt::Debug for TicketsApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketsApiClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn transport_error(e: &Failure) -> Error {
    if e.is_timeout() {
        // Either the connect timeout or the call's deadline: TicketsApi's words for both.
        return Error::upstream_unavailable("TicketsApi did not answer in time")
            .with_upstream_status(504);
    }
    e.into_error("TicketsApi", 0)
}

impl TicketsApiClient {
    pub fn new(config: ClientConfig) -> Result<Self> {
        let url = config.url.trim().trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::bad_input("url must be an http:// or https:// URL").field("url"));
        }
        let credentials = match (
            &config.token,
            &config.hs256_secret,
            &config.rs256_private_key_pem,
        ) {
            (Some(t), _, _) if !t.trim().is_empty() => Credentials::Fixed(t.trim().to_owned()),
            (_, Some(s), _) if !s.is_empty() => Credentials::Hs256(s.as_bytes().to_vec()),
            (_, _, Some(pem)) => {
                Credentials::Rs256(Box::new(jwt::parse_private_key_pem(pem).map_err(|e| {
                    Error::bad_input(format!("rs256_private_key_pem: {e}"))
                        .field("rs256_private_key_pem")
                })?))
            }
            _ => {
                return Err(
                    Error::bad_input("set token, hs256_secret or rs256_private_key_pem")
                        .field("token"),
                );
            }
        };
        if config.subject.trim().is_empty() {
            return Err(Error::bad_input("subject must not be empty").field("subject"));
        }
        let base = format!("{url}/api/TicketsApi");
        let settings = ticketgate_upstream::Settings::new(
            &base,
            config.connect_timeout_ms,
            config.request_timeout_ms,
        )
        .tls(config.tls.as_ref());
        let http = Client::new(&settings).map_err(|e| match e {
            ticketgate_upstream::client::BuildError::Tls(m) => Error::bad_input(m).field("tls"),
            _ => Error::bad_input("url must be an http:// or https:// URL").field("url"),
        })?;
        Ok(Self {
            http,
            credentials,
            token: Mutex::new(None),
            metadata: Mutex::new(None),
            config,
        })
    }

    /// The bearer token to send: fixed, or a cached minted one with enough life left.
    async fn bearer(&self, renew: bool) -> String {
        let key = match &self.credentials {
            Credentials::Fixed(t) => return t.clone(),
            Credentials::Hs256(s) => SigningKeyRef::Hs256(s),
            Credentials::Rs256(k) => SigningKeyRef::Rs256(k),
        };
        let mut cached = self.token.lock().await;
        let ttl = self.config.token_ttl_secs.max(1);
        // Renew when a quarter of the lifetime (at most 30 s) is left.
        let margin = (ttl as f64 / 4.0).min(30.0);
        let now = unix_now();
        if !renew
            && let Some(c) = cached.as_ref()
            && now + margin < c.expires
        {
            return c.token.clone();
        }
        let iat = now as i64;
        let exp = iat.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
        let perms: Vec<&str> = self.config.permissions.iter().map(String::as_str).collect();
        let token = jwt::mint(
            key,
            &MintClaims {
                sub: &self.config.subject,
                iat,
                nbf: iat,
                exp,
                iss: self.config.issuer.as_deref(),
                aud: self.config.audience.as_deref(),
                permissions: &perms,
            },
            &self.config.permission_claim,
        );
        *cached = Some(CachedToken {
            token: token.clone(),
            expires: exp as f64,
        });
        token
    }

    /// Send a request built by `build`; a 401 on a minted token renews it once.
    async fn send<F>(&self, build: F) -> Result<ticketgate_upstream::Response>
    where
        F: Fn(&Client) -> Request<'_>,
    {
        let mut renew = false;
        loop {
            let token = self.bearer(renew).await;
            let resp = build(&self.http)
                .bearer_auth(token)
                .send()
                .await
                .map_err(|e| transport_error(&e))?;
            if resp.status() == StatusCode::UNAUTHORIZED
                && !renew
                && !matches!(self.credentials, Credentials::Fixed(_))
            {
                renew = true;
                continue;
            }
            if resp.status().is_success() {
                return Ok(resp);
            }
            return Err(upstream_error(resp).await);
        }
    }

    /// The answer's body, through the one bounded reader every client face shares.
    async fn read_body(&self, resp: ticketgate_upstream::Response) -> Result<bytes::Bytes> {
        ticketgate_upstream::read_body(resp, self.config.max_response_bytes)
            .await
            .map_err(|e| e.into_error("TicketsApi", transport_error))
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        resp: ticketgate_upstream::Response,
    ) -> Result<T> {
        let bytes = self.read_body(resp).await?;
        serde_json::from_slice(&bytes).map_err(|e| upstream_unreadable("TicketsApi", e))
    }

    async fn get_model(&self, id: &str) -> Result<TicketApiModel> {
        let url = format!("/{}", path_id(id)?);
        let resp = self.send(|c| c.get(&url)).await?;
        self.json(resp).await
    }

    /// `metadata`, cached for `lookup_cache_secs`; `refresh` forces a new fetch
    /// unless the cached one is under a second old.
    pub async fn metadata(&self, refresh: bool) -> Result<Arc<Metadata>> {
        let mut cached = self.metadata.lock().await;
        if let Some(c) = cached.as_ref() {
            let age = c.fetched.elapsed();
            let fresh = if refresh {
                age < Duration::from_secs(1)
            } else {
                age < Duration::from_secs(self.config.lookup_cache_secs)
            };
            if fresh {
                return Ok(c.metadata.clone());
            }
        }
        let url = "/metadata";
        let resp = self.send(|c| c.get(url)).await?;
        let m: Metadata = self.json(resp).await?;
        let m = Arc::new(m);
        *cached = Some(CachedMetadata {
            fetched: Instant::now(),
            metadata: m.clone(),
        });
        Ok(m)
    }

    /// Mark a ticket read by ticketgate's user (`POST read/{id}`).
    pub async fn mark_read(&self, id: &str) -> Result<()> {
        let url = format!("/read/{}", path_id(id)?);
        self.send(|c| c.post(&url)).await?;
        Ok(())
    }

    /// `appmetadata`: the global look-ups, uncached.
    pub async fn app_metadata(&self) -> Result<Metadata> {
        let url = "/appmetadata";
        let resp = self.send(|c| c.get(url)).await?;
        self.json(resp).await
    }

    /// Forward a ticket by mail to a third party (`POST forward/{id}`); TicketsApi
    /// logs it on the ticket. No canonical operation maps here: it is TicketsApi's own.
    pub async fn forward(
        &self,
        id: &str,
        send_to: &str,
        cc: &[String],
        title: &str,
        message: &str,
        files: &[Attachment],
    ) -> Result<()> {
        let pid = path_id(id)?.to_owned();
        let mut fields = vec![
            ("Id", pid.clone()),
            ("Title", title.to_owned()),
            ("SendTo", send_to.to_owned()),
            ("Message", message.to_owned()),
        ];
        if !cc.is_empty() {
            fields.push(("CcTo", cc.join(";")));
        }
        self.post_form(&format!("/forward/{pid}"), &pairs_of(fields), files)
            .await?;
        Ok(())
    }

    /// Resolve a canonical reference to a TicketsApi id through the look-ups.
    async fn resolve(&self, kind: RefKind, r: &Reference) -> Result<String> {
        let m = self.metadata(false).await?;
        if let Some(id) = kind.find(&m, r) {
            return Ok(id);
        }
        let m = self.metadata(true).await?;
        kind.find(&m, r).ok_or_else(|| {
            let known = kind.names(&m);
            Error::bad_input(format!(
                "unknown {} {:?} (known: {})",
                kind.field(),
                r.label(),
                known.join(", ")
            ))
            .field(kind.field())
        })
    }

    async fn resolve_opt(&self, kind: RefKind, r: &Option<Reference>) -> Result<Option<String>> {
        match r.as_ref().filter(|r| !r.is_empty()) {
            Some(r) => self.resolve(kind, r).await.map(Some),
            None => Ok(None),
        }
    }

    async fn register_pairs(&self, n: &NewTicket) -> Result<Vec<(String, String)>> {
        let creator = n.requester.id.clone().unwrap_or_default();
        let site = self
            .resolve_opt(RefKind::Site, &n.location)
            .await?
            .ok_or_else(|| {
                Error::bad_input("TicketsApi needs a location (its SiteId) for this ticket")
                    .field("location")
            })?;
        let department = self
            .resolve_opt(RefKind::Department, &n.department)
            .await?
            .ok_or_else(|| {
                Error::bad_input("TicketsApi needs a department (its DepartmentId)")
                    .field("department")
            })?;
        let status = match &n.status {
            Some(r) => self.resolve(RefKind::Status, r).await?,
            None => default_status(&*self.metadata(false).await?)?,
        };
        let mut f = vec![
            ("Title", n.subject.clone()),
            ("Description", n.body.content.clone()),
            ("CreatorId", creator),
            ("SiteId", site),
            ("DepartmentId", department),
            ("TicketStatusId", status),
            (
                "TicketType",
                wire::vendor_ticket_type(n.ticket_type.unwrap_or_default()).to_owned(),
            ),
        ];
        let cc: Vec<&str> = n.cc.iter().filter_map(|c| c.email.as_deref()).collect();
        if !cc.is_empty() {
            f.push(("Cc", cc.join(";")));
        }
        for (field, kind, r) in [
            ("TicketCategoryId", RefKind::Category, &n.category),
            ("TicketSubCategoryId", RefKind::SubCategory, &n.topic),
            ("TierLevelId", RefKind::Level, &n.team),
            ("GroupId", RefKind::Group, &n.group),
            ("ClientId", RefKind::Client, &n.entity),
            ("TicketPriorityId", RefKind::Priority, &n.priority),
            ("AssignedUser", RefKind::Technician, &n.assignee),
        ] {
            if let Some(id) = self.resolve_opt(kind, r).await? {
                f.push((field, id));
            }
        }
        if let Some(sla) = n.sla.as_ref().and_then(|s| s.id.clone()) {
            f.push(("SLAId", sla));
        }
        if let Some(d) = &n.due_at {
            f.push(("DueDate", wire::format_date(d)));
        }
        for (field, v) in [("UrgencyId", n.urgency), ("ImpactId", n.impact)] {
            if let Some(v) = v {
                f.push((field, v.to_string()));
            }
        }
        for name in ["Guid", "ItemId", "ServiceId"] {
            if let Some(v) = n.custom_fields.get(name).and_then(|v| v.as_str()) {
                f.push((name, v.to_owned()));
            }
        }
        Ok(pairs_of(f))
    }

    async fn new_pairs(&self, n: &NewTicket) -> Result<Vec<(String, String)>> {
        let r = &n.requester;
        let requester = r
            .username
            .clone()
            .or_else(|| r.email.clone())
            .or_else(|| r.name.clone())
            .ok_or_else(|| {
                Error::bad_input("TicketsApi needs the requester's username or email")
                    .field("requester")
            })?;
        let mut f = vec![
            ("Title", n.subject.clone()),
            ("Description", n.body.content.clone()),
            ("Requester", requester),
        ];
        if let Some(e) = &r.email {
            f.push(("Email", e.clone()));
        }
        for (field, kind, r) in [
            ("TierLevelId", RefKind::Level, &n.team),
            ("GroupId", RefKind::Group, &n.group),
            ("SiteId", RefKind::Site, &n.location),
            ("DepartmentId", RefKind::Department, &n.department),
            ("ClientId", RefKind::Client, &n.entity),
            ("TicketStatusId", RefKind::Status, &n.status),
            ("TicketPriorityId", RefKind::Priority, &n.priority),
            ("TicketCategoryId", RefKind::Category, &n.category),
        ] {
            if let Some(id) = self.resolve_opt(kind, r).await? {
                f.push((field, id));
            }
        }
        Ok(pairs_of(f))
    }

    /// TicketUpdateModel binds whole: every field is sent, the current value where
    /// the patch leaves it alone.
    async fn update_pairs(
        &self,
        id: &str,
        current: &TicketApiModel,
        patch: &TicketPatch,
    ) -> Result<Vec<(String, String)>> {
        let cur = |w: &Option<wire::WireId>| w.as_ref().map(wire::WireId::as_canonical);
        let mut f: Vec<(&'static str, String)> = vec![("Id", id.to_owned())];
        let creator = match &patch.requester {
            Some(r) => r.id.clone(),
            None => current
                .creator_id
                .clone()
                .or_else(|| current.creator.as_ref().and_then(|c| c.id.clone())),
        };
        let creator = creator.ok_or_else(|| {
            Error::bad_input(format!("ticket {id} has no requester id (CreatorId)"))
                .field("requester")
        })?;
        f.push(("CreatorId", creator));
        let refs: [(&'static str, RefKind, &Option<Reference>, Option<String>); 9] = [
            (
                "TicketCategoryId",
                RefKind::Category,
                &patch.category,
                cur(&current.ticket_category_id),
            ),
            (
                "TicketSubCategoryId",
                RefKind::SubCategory,
                &patch.topic,
                cur(&current.ticket_sub_category_id),
            ),
            (
                "TierLevelId",
                RefKind::Level,
                &patch.team,
                cur(&current.tier_level_id),
            ),
            (
                "ClientId",
                RefKind::Client,
                &patch.entity,
                cur(&current.client_id),
            ),
            (
                "SiteId",
                RefKind::Site,
                &patch.location,
                cur(&current.site_id),
            ),
            (
                "DepartmentId",
                RefKind::Department,
                &patch.department,
                cur(&current.department_id),
            ),
            (
                "GroupId",
                RefKind::Group,
                &patch.group,
                cur(&current.group_id),
            ),
            (
                "TicketStatusId",
                RefKind::Status,
                &patch.status,
                cur(&current.ticket_status_id)
                    .or_else(|| current.status.as_ref().map(|s| s.id.as_canonical())),
            ),
            (
                "TicketPriorityId",
                RefKind::Priority,
                &patch.priority,
                cur(&current.ticket_priority_id)
                    .or_else(|| current.priority.as_ref().map(|p| p.id.as_canonical())),
            ),
        ];
        for (field, kind, new, old) in refs {
            let value = match self.resolve_opt(kind, new).await? {
                Some(v) => Some(v),
                None => old,
            };
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                f.push((field, v));
            }
        }
        let assignee = match self
            .resolve_opt(RefKind::Technician, &patch.assignee)
            .await?
        {
            Some(a) => Some(a),
            None => current.assigned_user.clone(),
        };
        if let Some(a) = assignee {
            f.push(("AssignedUser", a));
        }
        if let Some(sla) = patch
            .sla
            .as_ref()
            .and_then(|s| s.id.clone())
            .or_else(|| cur(&current.sla_id))
        {
            f.push(("SLAId", sla));
        }
        let kind = patch
            .ticket_type
            .map(|t| wire::vendor_ticket_type(t).to_owned())
            .or_else(|| current.ticket_type.clone());
        if let Some(k) = kind {
            f.push(("TicketType", k));
        }
        let due = patch
            .due_at
            .as_ref()
            .map(wire::format_date)
            .or_else(|| current.due_date.clone());
        if let Some(d) = due {
            f.push(("DueDate", d));
        }
        for (field, new, old) in [
            ("UrgencyId", patch.urgency, current.urgency_id),
            ("ImpactId", patch.impact, current.impact_id),
        ] {
            if let Some(v) = new.or(old) {
                f.push((field, v.to_string()));
            }
        }
        for name in ["ItemId", "ServiceId", "TemplateId"] {
            let v = patch
                .custom_fields
                .get(name)
                .or_else(|| current.custom_fields.get(name))
                .and_then(|v| v.as_str());
            if let Some(v) = v {
                f.push((name, v.to_owned()));
            }
        }
        Ok(pairs_of(f))
    }

    /// POST a multipart form built by `form` (rebuilt on a retry) with `files` as Uploads.
    async fn post_form(
        &self,
        path: &str,
        form: &[(String, String)],
        files: &[Attachment],
    ) -> Result<ticketgate_upstream::Response> {
        self.send(|c| c.post(path).multipart(build_form(form, files)))
            .await
    }

    fn me(&self) -> Reference {
        Reference::guess(&self.config.subject)
    }
}

/// Rebuild a multipart form from its text fields and files (a form is consumed by
/// sending, and a renewed token means sending again).
fn build_form(fields: &[(String, String)], files: &[Attachment]) -> Form {
    let mut form = Form::new();
    for (k, v) in fields {
        form = form.text(k.clone(), v.clone());
    }
    for f in files {
        let part = Part::bytes(f.bytes.clone())
            .file_name(f.name.clone())
            .media_type(&f.media_type)
            .unwrap_or_else(|part| part);
        form = form.part("Uploads", part);
    }
    form
}

/// Form fields as owned pairs, from which [`build_form`] rebuilds the form for each try.
fn pairs_of(form_fields: Vec<(&'static str, String)>) -> Vec<(String, String)> {
    form_fields
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// Ticket ids go into the path: only digits, letters and `-` are accepted.
fn path_id(id: &str) -> Result<&str> {
    let id = id.trim();
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        let shown: String = id.chars().take(64).collect();
        return Err(Error::not_found(format!("ticket {shown} not found")));
    }
    Ok(id)
}

fn default_status(m: &Metadata) -> Result<String> {
    let by_type = |want: State| {
        m.status
            .iter()
            .find(|s| wire::state_of_status_type(&s.status_type) == Some(want))
            .map(|s| s.id.as_canonical())
    };
    by_type(State::New)
        .or_else(|| by_type(State::Open))
        .or_else(|| m.status.first().map(|s| s.id.as_canonical()))
        .ok_or_else(|| {
            Error::upstream_rejected("TicketsApi lists no ticket statuses")
                .with_upstream_status(400)
        })
}

/// The look-up lists of `metadata`, as canonical references resolve against them.
#[derive(Debug, Clone, Copy)]
enum RefKind {
    Status,
    Priority,
    Category,
    SubCategory,
    Site,
    Department,
    Group,
    Level,
    Technician,
    Client,
}

impl RefKind {
    fn field(self) -> &'static str {
        match self {
            RefKind::Status => "status",
            RefKind::Priority => "priority",
            RefKind::Category => "category",
            RefKind::SubCategory => "topic",
            RefKind::Site => "location",
            RefKind::Department => "department",
            RefKind::Group => "group",
            RefKind::Level => "team",
            RefKind::Technician => "assignee",
            RefKind::Client => "entity",
        }
    }

    /// (id, name) of every entry of this list.
    fn entries(self, m: &Metadata) -> Vec<(String, String)> {
        let named = |v: &[wire::NamedRef]| {
            v.iter()
                .map(|x| (x.id.as_canonical(), x.name.clone()))
                .collect()
        };
        let titled = |v: &[wire::TitledRef]| {
            v.iter()
                .map(|x| (x.id.as_canonical(), x.title.clone()))
                .collect()
        };
        match self {
            RefKind::Status => m
                .status
                .iter()
                .map(|s| (s.id.as_canonical(), s.status.clone()))
                .collect(),
            RefKind::Priority => m
                .priorities
                .iter()
                .map(|p| (p.id.as_canonical(), p.priority.clone()))
                .collect(),
            RefKind::Category => named(&m.categories),
            RefKind::SubCategory => named(m.sub_categories.as_deref().unwrap_or_default()),
            RefKind::Client => named(&m.clients),
            RefKind::Site => titled(&m.sites),
            RefKind::Department => titled(&m.departments),
            RefKind::Level => titled(&m.levels),
            RefKind::Group => m
                .groups
                .iter()
                .map(|g| (g.id.as_canonical(), g.group.clone()))
                .collect(),
            RefKind::Technician => m
                .technicians
                .as_deref()
                .unwrap_or_default()
                .iter()
                .flat_map(|t| {
                    let id = t.id.clone().unwrap_or_default();
                    [t.full_name.clone(), t.user_name.clone()]
                        .into_iter()
                        .flatten()
                        .map(move |n| (id.clone(), n))
                })
                .collect(),
        }
    }

    fn names(self, m: &Metadata) -> Vec<String> {
        let mut v: Vec<String> = self.entries(m).into_iter().map(|(_, n)| n).collect();
        v.dedup();
        v
    }

    fn find(self, m: &Metadata, r: &Reference) -> Option<String> {
        let entries = self.entries(m);
        if let Some(id) = &r.id {
            return entries
                .iter()
                .find(|(i, _)| i == id)
                .map(|(i, _)| i.clone());
        }
        let name = r.name.as_deref()?.trim();
        if let Some((i, _)) = entries.iter().find(|(_, n)| n.eq_ignore_ascii_case(name)) {
            return Some(i.clone());
        }
        // Canonical state and level names work too: "resolved", "high".
        match self {
            RefKind::Status => {
                let state: State = name.parse().ok()?;
                m.status
                    .iter()
                    .find(|s| wire::state_of_status_type(&s.status_type) == Some(state))
                    .map(|s| s.id.as_canonical())
            }
            RefKind::Priority => {
                let level: PriorityLevel = name.parse().ok()?;
                m.priorities
                    .iter()
                    .find(|p| p.priority.parse::<PriorityLevel>().ok() == Some(level))
                    .map(|p| p.id.as_canonical())
            }
            _ => None,
        }
    }
}

/// A TicketsApi error answer as a canonical error.
async fn upstream_error(resp: ticketgate_upstream::Response) -> Error {
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = ticketgate_upstream::read_prefix(resp, MAX_ERROR_BODY).await;
    let (message, field) = problem_message(&body);
    let message = format!("TicketsApi answered {status}: {message}");
    let retry_after = match status {
        429 => Some(retry_after.unwrap_or(Duration::from_secs(5))),
        _ => retry_after,
    };
    let mut e = classify_upstream(
        "TicketsApi",
        &UpstreamAnswer {
            status,
            hint: UpstreamHint::None,
            message: &message,
            retry_after,
        },
    );
    match status {
        // Permanent as classified; named for what they are, so every face says so.
        404 => {
            e = Error {
                kind: ErrorKind::NotFound,
                ..e
            }
        }
        409 => {
            e = Error {
                kind: ErrorKind::Conflict,
                ..e
            }
        }
        413 => {
            e = Error {
                kind: ErrorKind::PayloadTooLarge,
                ..e
            }
        }
        _ => {}
    }
    if let Some(f) = field {
        e = e.field(canonical_field(&f));
    }
    e
}

/// The readable part of a ProblemDetails (or any) error body, and its first field.
fn problem_message(body: &[u8]) -> (String, Option<String>) {
    #[derive(serde::Deserialize)]
    struct Problem {
        title: Option<String>,
        detail: Option<String>,
        #[serde(default)]
        errors: std::collections::BTreeMap<String, Vec<String>>,
    }
    match serde_json::from_slice::<Problem>(body) {
        Ok(p) => {
            if let Some((field, msgs)) = p.errors.iter().next() {
                let msg = msgs.first().cloned().unwrap_or_default();
                let field = (!field.is_empty()).then(|| field.clone());
                return (msg, field);
            }
            (
                p.detail
                    .or(p.title)
                    .unwrap_or_else(|| "no details".to_owned()),
                None,
            )
        }
        Err(_) => {
            let text: String = String::from_utf8_lossy(body).chars().take(300).collect();
            let text = text.trim().to_owned();
            (
                if text.is_empty() {
                    "no details".to_owned()
                } else {
                    text
                },
                None,
            )
        }
    }
}

fn canonical_field(vendor: &str) -> String {
    match vendor.to_ascii_lowercase().as_str() {
        "title" => "subject",
        "description" => "body",
        "creatorid" => "requester",
        "requester" => "requester.username",
        "email" => "requester.email",
        "ticketstatusid" => "status",
        "ticketpriorityid" => "priority",
        "ticketcategoryid" => "category",
        "ticketsubcategoryid" => "topic",
        "departmentid" => "department",
        "siteid" => "location",
        "groupid" => "group",
        "tierlevelid" => "team",
        "clientid" => "entity",
        "assigneduser" => "assignee",
        "slaid" => "sla",
        "duedate" => "due_at",
        "uploads" => "attachments",
        _ => return vendor.to_owned(),
    }
    .to_owned()
}

fn id_of_created(model: &TicketApiModel) -> String {
    model.id.as_canonical()
}

#[async_trait]
impl Helpdesk for TicketsApiClient {
    fn name(&self) -> &str {
        "ticketsapi"
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
            Operation::Lookup,
        ])
    }

    async fn create(&self, ticket: NewTicket) -> Result<Ticket> {
        ticket.validate()?;
        // Mail and anonymous requesters go through the integration endpoint, which
        // finds the requester by username or email; known requesters through register.
        let integration = ticket.source == Source::Email || ticket.requester.id.is_none();
        let (path, pairs) = if integration {
            ("/new", self.new_pairs(&ticket).await?)
        } else {
            ("/register", self.register_pairs(&ticket).await?)
        };
        let resp = self.post_form(path, &pairs, &ticket.attachments).await?;
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = self.read_body(resp).await?;
        let id = match serde_json::from_slice::<TicketApiModel>(&bytes) {
            Ok(m) => id_of_created(&m),
            Err(_) => location
                .as_deref()
                .and_then(|l| l.rsplit('/').next())
                .map(str::to_owned)
                .ok_or_else(|| {
                    upstream_unreadable("TicketsApi", "a create answered without the new id")
                })?,
        };
        self.get(&id).await
    }

    async fn get(&self, id: &str) -> Result<Ticket> {
        Ok(wire::ticket_from_model(self.get_model(id).await?))
    }

    async fn update(&self, id: &str, patch: TicketPatch) -> Result<Ticket> {
        patch.validate()?;
        for (present, what) in [
            (patch.subject.is_some(), "the subject"),
            (patch.body.is_some(), "the description"),
            (patch.note.is_some(), "a note"),
            (
                patch.requester.as_ref().is_some_and(|r| r.id.is_none()),
                "the requester without its id",
            ),
        ] {
            if present {
                return Err(Error::unsupported(
                    self.name(),
                    &format!("update of {what}"),
                ));
            }
        }
        let current = self.get_model(id).await?;
        let pairs = self.update_pairs(id, &current, &patch).await?;
        self.post_form(&format!("/update/{}", path_id(id)?), &pairs, &[])
            .await?;
        self.get(id).await
    }

    async fn delete(&self, id: &str, mode: DeleteMode) -> Result<()> {
        if mode == DeleteMode::Purge {
            return Err(Error::unsupported(self.name(), "purge"));
        }
        let url = format!("/{}", path_id(id)?);
        self.send(|c| c.delete(&url)).await?;
        Ok(())
    }

    async fn search(&self, query: &Query) -> Result<Page<Ticket>> {
        search::run(self, query).await
    }

    async fn add_entry(&self, id: &str, entry: NewEntry) -> Result<ThreadEntry> {
        entry.validate()?;
        let pid = path_id(id)?.to_owned();
        let current = self.get_model(&pid).await?;
        let creator = current.creator.clone();
        let title = format!("Re: {}", current.title);
        let (path, pairs) = match entry.kind {
            EntryKind::Response => {
                let send_to = creator
                    .as_ref()
                    .and_then(|c| c.email.clone())
                    .ok_or_else(|| {
                        Error::bad_input(format!(
                            "ticket {id} has no requester email for TicketsApi to reply to"
                        ))
                        .field("requester.email")
                    })?;
                (
                    format!("/reply/{pid}"),
                    pairs_of(vec![
                        ("Id", pid.clone()),
                        ("Title", title),
                        ("SendTo", send_to),
                        ("Message", entry.body.content.clone()),
                    ]),
                )
            }
            EntryKind::Message => {
                let username = creator
                    .as_ref()
                    .and_then(|c| {
                        c.user_name
                            .clone()
                            .or_else(|| c.email.clone())
                            .or_else(|| c.id.clone())
                    })
                    .or_else(|| current.creator_id.clone())
                    .ok_or_else(|| {
                        Error::bad_input(format!("ticket {id} has no requester username"))
                            .field("requester.username")
                    })?;
                (
                    format!("/reqreply/{pid}"),
                    pairs_of(vec![
                        ("Id", pid.clone()),
                        ("Username", username),
                        ("Title", title),
                        ("Message", entry.body.content.clone()),
                    ]),
                )
            }
            EntryKind::Note => {
                return Err(Error::unsupported(self.name(), "private notes"));
            }
        };
        let resp = self.post_form(&path, &pairs, &entry.attachments).await?;
        let bytes = self.read_body(resp).await?;
        let now = chrono::Utc::now();
        Ok(
            match serde_json::from_slice::<wire::ConversationModel>(&bytes) {
                Ok(c) => ThreadEntry {
                    id: c.id.unwrap_or_default(),
                    kind: entry.kind,
                    author: entry.author.clone(),
                    body: entry.body.clone(),
                    created_at: c
                        .created_on
                        .as_deref()
                        .and_then(wire::parse_date)
                        .unwrap_or(now),
                    attachments: entry.attachments.clone(),
                    email: None,
                },
                Err(_) => ThreadEntry {
                    id: String::new(),
                    kind: entry.kind,
                    author: entry.author,
                    body: entry.body,
                    created_at: now,
                    attachments: entry.attachments,
                    email: None,
                },
            },
        )
    }

    async fn resolve(&self, id: &str, resolution: Resolution) -> Result<Ticket> {
        let pid = path_id(id)?.to_owned();
        let details = resolution
            .body
            .map(|b| b.content)
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| "Resolved.".to_owned());
        let by = resolution
            .author
            .and_then(|a| a.name.or(a.email))
            .unwrap_or_else(|| self.config.subject.clone());
        let pairs = pairs_of(vec![
            ("TicketId", pid.clone()),
            ("Details", details),
            ("SubmitBy", by),
        ]);
        self.post_form(&format!("/resolve/{pid}"), &pairs, &[])
            .await?;
        self.get(&pid).await
    }

    async fn close(&self, id: &str, closure: Closure) -> Result<Ticket> {
        let pid = path_id(id)?.to_owned();
        let mut fields = vec![
            ("TicketId", pid.clone()),
            ("CloseBy", self.config.subject.clone()),
        ];
        if let Some(n) = closure.note.filter(|n| !n.trim().is_empty()) {
            fields.push(("Comments", n));
        }
        self.post_form(&format!("/close/{pid}"), &pairs_of(fields), &[])
            .await?;
        self.get(&pid).await
    }

    async fn assign(&self, id: &str, assignment: Assignment) -> Result<Ticket> {
        let pid = path_id(id)?.to_owned();
        let me = self.me();
        let to_me = assignment.assignee.as_ref().is_some_and(|a| {
            a.id.as_deref().is_some_and(|i| me.matches(i, ""))
                || a.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&self.config.subject))
        });
        if to_me && assignment.group.is_none() && assignment.team.is_none() {
            let url = format!("/pickup/{pid}");
            self.send(|c| c.post(&url)).await?;
            return self.get(&pid).await;
        }
        if assignment.assignee.is_none() && assignment.group.is_none() && assignment.team.is_none()
        {
            return Err(
                Error::bad_input("an assignment needs an assignee, a group or a team")
                    .field("assignee"),
            );
        }
        self.update(
            &pid,
            TicketPatch {
                assignee: assignment.assignee,
                group: assignment.group,
                team: assignment.team,
                ..TicketPatch::default()
            },
        )
        .await
    }

    async fn attach(&self, id: &str, files: Vec<Attachment>) -> Result<Vec<Attachment>> {
        if files.is_empty() {
            return Err(Error::bad_input("no files to attach").field("attachments"));
        }
        let pid = path_id(id)?.to_owned();
        let resp = self
            .post_form(&format!("/addfiles/{pid}"), &[], &files)
            .await?;
        let bytes = self.read_body(resp).await?;
        match serde_json::from_slice::<Vec<wire::AttachmentModel>>(&bytes) {
            Ok(stored) if stored.len() == files.len() => Ok(files
                .into_iter()
                .zip(stored)
                .map(|(mut f, s)| {
                    f.id = s.id;
                    f
                })
                .collect()),
            _ => Ok(files),
        }
    }

    async fn lookup(&self, kind: LookupKind) -> Result<Vec<LookupItem>> {
        let m = self.metadata(false).await?;
        let item = |id: String, name: String| LookupItem {
            id,
            name,
            state: None,
            level: None,
            parent: None,
        };
        let rk = match kind {
            LookupKind::Statuses => {
                return Ok(m
                    .status
                    .iter()
                    .map(|s| LookupItem {
                        state: Some(
                            wire::state_of_status_type(&s.status_type).unwrap_or(State::Open),
                        ),
                        ..item(s.id.as_canonical(), s.status.clone())
                    })
                    .collect());
            }
            LookupKind::Priorities => {
                return Ok(m
                    .priorities
                    .iter()
                    .map(|p| LookupItem {
                        level: Some(wire::priority_level(&p.priority)),
                        ..item(p.id.as_canonical(), p.priority.clone())
                    })
                    .collect());
            }
            LookupKind::Agents => {
                return Ok(m
                    .technicians
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .map(|t| {
                        item(
                            t.id.clone().unwrap_or_default(),
                            t.full_name
                                .clone()
                                .or_else(|| t.user_name.clone())
                                .unwrap_or_default(),
                        )
                    })
                    .collect());
            }
            LookupKind::Departments => RefKind::Department,
            LookupKind::Categories => RefKind::Category,
            LookupKind::Topics => RefKind::SubCategory,
            LookupKind::Groups => RefKind::Group,
            LookupKind::Locations => RefKind::Site,
            LookupKind::Slas => return Err(Error::unsupported(self.name(), "lookup of slas")),
        };
        Ok(rk
            .entries(&m)
            .into_iter()
            .map(|(id, name)| item(id, name))
            .collect())
    }
}
