//! An upstream of kind `ticketgate`: another ticketgate's canonical API (`/v1`).
//!
//! Gateways chain: an edge gateway in a branch office forwards to a central one, which
//! owns the helpdesk. The canonical API carries every operation, so this client has
//! every capability the remote one reports, and creates carry an `Idempotency-Key`,
//! so a delivery retried after a lost answer never makes a second ticket.

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;
use ticketgate_model::{
    Assignment, Attachment, Capabilities, Closure, DeleteMode, Error, Helpdesk, LookupItem,
    LookupKind, NewEntry, NewTask, NewTicket, Page, Query, Resolution, Result, Stats, StatsQuery,
    Task, ThreadEntry, Ticket, TicketPatch, UpstreamAnswer, UpstreamHint, classify_upstream,
    upstream_unreadable,
};
use ticketgate_upstream::client::{Method, Request, StatusCode, header};
use ticketgate_upstream::{Client, FailureKind, Response};

/// Where the remote gateway is and how to call it.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    /// The remote canonical API's base, prefix included: `https://central:8080/v1`.
    pub url: String,
    /// The bearer key of this gateway's consumer on the remote one.
    pub bearer_key: String,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// The largest answer read; a larger one is a 502 (see `ticketgate_upstream`).
    #[serde(default = "ticketgate_upstream::default_max_response_bytes")]
    pub max_response_bytes: usize,
    #[serde(default)]
    /// TLS toward this upstream: a private CA and a client certificate (see
    /// `ticketgate_upstream::tls`); none means the system roots and no client certificate.
    pub tls: Option<ticketgate_upstream::tls::ClientTls>,
}

fn default_connect_timeout_ms() -> u64 {
    3_000
}
fn default_request_timeout_ms() -> u64 {
    10_000
}

impl fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("url", &self.url)
            .field("bearer_key", &"<redacted>")
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("tls", &self.tls)
            .finish()
    }
}

/// The most of an error answer read: a problem document is a few hundred bytes.
const MAX_PROBLEM_BYTES: usize = 64 * 1024;

pub struct RemoteGateway {
    name: String,
    http: Client,
    max_response_bytes: usize,
}

impl RemoteGateway {
    pub fn new(name: &str, config: &RemoteConfig) -> Result<Self> {
        let settings = ticketgate_upstream::Settings::new(
            &config.url,
            config.connect_timeout_ms,
            config.request_timeout_ms,
        )
        .tls(config.tls.as_ref())
        .pool_idle_timeout(Duration::from_secs(60));
        let bad = |what: &str| Error::bad_input(format!("upstream {name}: {what}"));
        let http = Client::new(&settings)
            .map_err(|e| bad(&e.to_string()))?
            .with_header(
                "authorization",
                &format!("Bearer {}", config.bearer_key),
                true,
            )
            .map_err(|_| bad("bearer_key holds characters HTTP cannot carry"))?
            .with_header("accept", "application/json", false)
            .map_err(|e| bad(&e.to_string()))?;
        Ok(Self {
            name: name.to_owned(),
            http,
            max_response_bytes: config.max_response_bytes,
        })
    }

    /// A call to `path` under the remote API's base (with its bearer key and
    /// `Accept: application/json`, set once when the client was built).
    fn request(&self, method: Method, path: &str) -> Request<'_> {
        self.http.request(method, path)
    }

    /// Send, and turn anything but a 2xx into the canonical error it stands for.
    async fn send(&self, req: Request<'_>) -> Result<Response> {
        let resp = req.send().await.map_err(|e| {
            let what = match e.kind() {
                FailureKind::Timeout => "timed out",
                FailureKind::Tls => "failed the TLS handshake (see its tls settings)",
                FailureKind::Connect => "refused the connection",
                FailureKind::Broken | FailureKind::Request => "failed",
            };
            Error::upstream_unavailable(format!("upstream {} {what}", self.name))
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(self.error_from(resp).await)
    }

    /// The answer's body, through the one bounded reader every client face shares.
    async fn read_body(&self, resp: Response) -> Result<bytes::Bytes> {
        ticketgate_upstream::read_body(resp, self.max_response_bytes)
            .await
            .map_err(|e| {
                e.into_error(&format!("upstream {}", self.name), |e| {
                    Error::upstream_unavailable(format!("upstream {}: body lost: {e}", self.name))
                })
            })
    }

    async fn json<T: DeserializeOwned>(&self, req: Request<'_>) -> Result<T> {
        let resp = self.send(req).await?;
        let bytes = self.read_body(resp).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| upstream_unreadable(&format!("upstream {}", self.name), e))
    }

    async fn error_from(&self, resp: Response) -> Error {
        #[derive(Deserialize)]
        struct Problem {
            #[serde(rename = "type", default)]
            kind: String,
            #[serde(default)]
            detail: String,
            #[serde(default)]
            field: Option<String>,
            #[serde(default)]
            retryable: bool,
        }
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = ticketgate_upstream::read_prefix(resp, MAX_PROBLEM_BYTES).await;
        let problem: Option<Problem> = serde_json::from_slice(&body).ok();
        let detail = problem
            .as_ref()
            .map(|p| p.detail.clone())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        let message = format!("upstream {}: {detail}", self.name);
        let kind = problem
            .as_ref()
            .map(|p| p.kind.rsplit('/').next().unwrap_or(""));
        // The remote gateway classified its own failure; its problem says which.
        let hint = match kind {
            Some("unsupported-by-upstream") => UpstreamHint::Unsupported,
            _ if problem.as_ref().is_some_and(|p| p.retryable) => UpstreamHint::TryLater,
            Some("unauthorized" | "forbidden") => UpstreamHint::CredentialsRefused,
            Some("not-found") => UpstreamHint::NotFound,
            // The remote's own upstream refused the request: as permanent here as there.
            Some("bad-input" | "upstream-rejected" | "conflict") => UpstreamHint::Refused,
            // The remote's own upstream failed in a way it says no retry can fix (an
            // answer it could not read): the same verdict here.
            Some("upstream-unavailable") if problem.as_ref().is_some_and(|p| !p.retryable) => {
                UpstreamHint::Fault
            }
            _ => UpstreamHint::None,
        };
        let mut e = classify_upstream(
            &format!("upstream {}", self.name),
            &UpstreamAnswer {
                status: status.as_u16(),
                hint,
                message: &message,
                retry_after,
            },
        );
        if let Some(field) = problem.and_then(|p| p.field) {
            e = e.field(field);
        }
        e
    }
}

#[derive(Deserialize)]
struct Items<T> {
    items: Vec<T>,
}

#[derive(Serialize, Deserialize)]
struct Attachments {
    attachments: Vec<Attachment>,
}

fn segment(id: &str) -> String {
    form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

/// The wire word of a unit enum (`"created"`, `"desc"`, `"email"`).
fn word<T: Serialize>(value: &T) -> Option<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Some(s),
        _ => None,
    }
}

fn query_string(q: &Query) -> Vec<(&'static str, String)> {
    let r = |r: &ticketgate_model::Reference| {
        r.id.clone().or_else(|| r.name.clone()).unwrap_or_default()
    };
    let mut out = Vec::new();
    let mut push = |k: &'static str, v: Option<String>| {
        if let Some(v) = v {
            out.push((k, v));
        }
    };
    push("q", q.text.clone());
    if !q.states.is_empty() {
        push(
            "state",
            Some(
                q.states
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        );
    }
    push("status", q.status.as_ref().map(r));
    push("number", q.number.clone());
    push("priority", q.priority.as_ref().map(r));
    push("department", q.department.as_ref().map(r));
    push("category", q.category.as_ref().map(r));
    push("topic", q.topic.as_ref().map(r));
    push("assignee", q.assignee.as_ref().map(r));
    push("group", q.group.as_ref().map(r));
    push("requester", q.requester_email.clone());
    push("username", q.requester_username.clone());
    push("type", q.ticket_type.as_ref().and_then(word));
    push("source", q.source.as_ref().and_then(word));
    push("created_after", q.created_after.map(|t| t.to_rfc3339()));
    push("created_before", q.created_before.map(|t| t.to_rfc3339()));
    if q.include_deleted {
        push("include_deleted", Some("true".into()));
    }
    push("sort", word(&q.sort));
    push("order", word(&q.order));
    push("offset", Some(q.offset.to_string()));
    push("limit", Some(q.limit.to_string()));
    out
}

#[async_trait]
impl Helpdesk for RemoteGateway {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        // The remote answers 501 itself for what its own upstream lacks.
        Capabilities::all()
    }

    async fn create(&self, ticket: NewTicket) -> Result<Ticket> {
        self.create_idempotent(ticket, "").await
    }

    async fn create_idempotent(&self, ticket: NewTicket, key: &str) -> Result<Ticket> {
        let mut req = self.request(Method::POST, "/tickets").json(&ticket);
        if !key.is_empty() {
            req = req.header("idempotency-key", key);
        }
        let resp = self.send(req).await?;
        if resp.status() == StatusCode::ACCEPTED {
            // The remote queued it in its own outbox. Not created yet: retry later
            // with the same key, which the remote answers with the ticket once
            // it is delivered.
            return Err(Error::upstream_unavailable(format!(
                "upstream {} queued the ticket in its own outbox; it is not created yet",
                self.name
            ))
            .retry_after(Duration::from_secs(2)));
        }
        let bytes = self.read_body(resp).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            upstream_unreadable(&format!("upstream {}", self.name), format!("a ticket: {e}"))
                .with_upstream_status(502)
        })
    }

    async fn get(&self, id: &str) -> Result<Ticket> {
        self.json(self.request(Method::GET, &format!("/tickets/{}", segment(id))))
            .await
    }

    async fn update(&self, id: &str, patch: TicketPatch) -> Result<Ticket> {
        self.json(
            self.request(Method::PATCH, &format!("/tickets/{}", segment(id)))
                .json(&patch),
        )
        .await
    }

    async fn delete(&self, id: &str, mode: DeleteMode) -> Result<()> {
        let mut req = self.request(Method::DELETE, &format!("/tickets/{}", segment(id)));
        if mode == DeleteMode::Purge {
            req = req.query(&[("purge", "true")]);
        }
        self.send(req).await.map(drop)
    }

    async fn search(&self, query: &Query) -> Result<Page<Ticket>> {
        self.json(
            self.request(Method::GET, "/tickets")
                .query(&query_string(query)),
        )
        .await
    }

    async fn add_entry(&self, id: &str, entry: NewEntry) -> Result<ThreadEntry> {
        self.json(
            self.request(Method::POST, &format!("/tickets/{}/entries", segment(id)))
                .json(&entry),
        )
        .await
    }

    async fn resolve(&self, id: &str, resolution: Resolution) -> Result<Ticket> {
        self.json(
            self.request(Method::POST, &format!("/tickets/{}/resolve", segment(id)))
                .json(&resolution),
        )
        .await
    }

    async fn close(&self, id: &str, closure: Closure) -> Result<Ticket> {
        self.json(
            self.request(Method::POST, &format!("/tickets/{}/close", segment(id)))
                .json(&closure),
        )
        .await
    }

    async fn assign(&self, id: &str, assignment: Assignment) -> Result<Ticket> {
        self.json(
            self.request(Method::POST, &format!("/tickets/{}/assign", segment(id)))
                .json(&assignment),
        )
        .await
    }

    async fn attach(&self, id: &str, files: Vec<Attachment>) -> Result<Vec<Attachment>> {
        let out: Attachments = self
            .json(
                self.request(
                    Method::POST,
                    &format!("/tickets/{}/attachments", segment(id)),
                )
                .json(&Attachments { attachments: files }),
            )
            .await?;
        Ok(out.attachments)
    }

    async fn link(&self, parent: &str, child: &str) -> Result<()> {
        self.send(
            self.request(
                Method::POST,
                &format!("/tickets/{}/children", segment(parent)),
            )
            .json(&serde_json::json!({ "child": child })),
        )
        .await
        .map(drop)
    }

    async fn unlink(&self, parent: &str, child: &str) -> Result<()> {
        self.send(self.request(
            Method::DELETE,
            &format!("/tickets/{}/children/{}", segment(parent), segment(child)),
        ))
        .await
        .map(drop)
    }

    async fn parent(&self, id: &str) -> Result<Option<Ticket>> {
        match self
            .json(self.request(Method::GET, &format!("/tickets/{}/parent", segment(id))))
            .await
        {
            Ok(t) => Ok(Some(t)),
            // "No parent" and "no ticket" are both 404; tell them apart.
            Err(e) if e.upstream_status == Some(404) => self.get(id).await.map(|_| None),
            Err(e) => Err(e),
        }
    }

    async fn tasks(&self, id: &str) -> Result<Vec<Task>> {
        let items: Items<Task> = self
            .json(self.request(Method::GET, &format!("/tickets/{}/tasks", segment(id))))
            .await?;
        Ok(items.items)
    }

    async fn add_task(&self, id: &str, task: NewTask) -> Result<Task> {
        self.json(
            self.request(Method::POST, &format!("/tickets/{}/tasks", segment(id)))
                .json(&task),
        )
        .await
    }

    async fn children(&self, id: &str) -> Result<Vec<Ticket>> {
        let items: Items<Ticket> = self
            .json(self.request(Method::GET, &format!("/tickets/{}/children", segment(id))))
            .await?;
        Ok(items.items)
    }

    async fn stats(&self, query: &StatsQuery) -> Result<Stats> {
        let mut q = Vec::new();
        if let Some(t) = query.since {
            q.push(("since", t.to_rfc3339()));
        }
        if let Some(t) = query.until {
            q.push(("until", t.to_rfc3339()));
        }
        self.json(self.request(Method::GET, "/stats").query(&q))
            .await
    }

    async fn lookup(&self, kind: LookupKind) -> Result<Vec<LookupItem>> {
        let items: Items<LookupItem> = self
            .json(self.request(Method::GET, &format!("/lookups/{}", kind.as_str())))
            .await?;
        Ok(items.items)
    }
}
