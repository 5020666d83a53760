//! The one upstream HTTP client every client face uses.
//!
//! One [`Client`] per upstream: a pooled `hyper_util` client (HTTP/1.1, and h2 where
//! the upstream offers it over ALPN) with rustls TLS built from the upstream's
//! [`ClientTls`](crate::tls::ClientTls) settings. What does not change from call to
//! call is built once, at construction: the base URI (scheme, authority and path
//! prefix) and the constant headers (credentials, `App-Token`, …). Each call:
//!
//! - has **one deadline** (`request_timeout_ms`) covering the head and the body: the
//!   [`Response`] carries it, and [`crate::read_body`] / [`crate::read_prefix`] stop
//!   at it;
//! - carries `X-Request-Id` when a request id is in scope ([`crate::request_id`]);
//! - fails, when no answer came, with a [`Failure`] of one classification
//!   ([`FailureKind`]): connection refused or unreachable, deadline, TLS, broken
//!   exchange. [`Failure::into_error`] maps it to the canonical error in the vendor's
//!   words (temporary, except a request that could not be built).

use crate::tls::ClientTls;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde::Serialize;
use std::fmt;
use std::time::Duration;
use ticketgate_model::{Error, UpstreamTransport, upstream_transport_error};
use tokio::time::Instant;

pub use crate::multipart::{Form, Part};
pub use http::{Method, StatusCode, header};

type Pool =
    hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// How to build one upstream's client.
#[derive(Debug, Clone)]
pub struct Settings<'a> {
    /// The base URL every path is appended to (`https://help.example.com/api`); a
    /// trailing `/` is dropped.
    pub base: &'a str,
    /// How long to wait for a connection, in milliseconds.
    pub connect_timeout_ms: u64,
    /// The deadline of a whole call (head and body), in milliseconds.
    pub request_timeout_ms: u64,
    /// TLS settings; none means the system's roots and no client certificate.
    pub tls: Option<&'a ClientTls>,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
}

impl<'a> Settings<'a> {
    /// The settings every client face starts from (90 s idle connections).
    pub fn new(base: &'a str, connect_timeout_ms: u64, request_timeout_ms: u64) -> Self {
        Self {
            base,
            connect_timeout_ms,
            request_timeout_ms,
            tls: None,
            pool_idle_timeout: Duration::from_secs(90),
        }
    }

    pub fn tls(mut self, tls: Option<&'a ClientTls>) -> Self {
        self.tls = tls;
        self
    }

    pub fn pool_idle_timeout(mut self, idle: Duration) -> Self {
        self.pool_idle_timeout = idle;
        self
    }
}

/// Why a [`Client`] could not be built. The text names the setting (`url`, `tls`,
/// a header's name), never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// The base URL is not an absolute http(s) URL.
    Url(String),
    /// The TLS settings are unusable (a file missing, not PEM, …).
    Tls(String),
    /// A constant header's value cannot be sent (a control character, …).
    Header(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Url(m) | BuildError::Tls(m) | BuildError::Header(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for BuildError {}

/// One upstream's client: its connection pool, base URI and constant headers.
#[derive(Clone)]
pub struct Client {
    pool: Pool,
    scheme: Scheme,
    authority: Authority,
    /// The base URL's path, without a trailing `/` (may be empty).
    prefix: String,
    headers: HeaderMap,
    timeout: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("scheme", &self.scheme)
            .field("authority", &self.authority)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Characters percent-encoded in a path (the URL standard's path set; `%` is kept).
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');
/// Characters percent-encoded in a query written into a path.
const QUERY: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'<').add(b'>').add(b'\'');

impl Client {
    /// Build the client: parse the base URL, load the TLS settings and set up the pool.
    pub fn new(settings: &Settings<'_>) -> Result<Self, BuildError> {
        let base = settings.base.trim().trim_end_matches('/');
        let bad_url = || BuildError::Url(format!("{base:?} is not an http:// or https:// URL"));
        let uri: Uri = base.parse().map_err(|_| bad_url())?;
        let scheme = uri.scheme().cloned().ok_or_else(bad_url)?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(bad_url());
        }
        let authority = uri.authority().cloned().ok_or_else(bad_url)?;
        if authority.host().is_empty() || authority.as_str().contains('@') {
            return Err(bad_url());
        }
        let prefix = uri.path().trim_end_matches('/').to_owned();
        let tls = crate::tls::client_config(settings.tls).map_err(BuildError::Tls)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_millis(settings.connect_timeout_ms)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let pool = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(settings.pool_idle_timeout)
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .timer(hyper_util::rt::TokioTimer::new())
            .build(connector);
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        Ok(Self {
            pool,
            scheme,
            authority,
            prefix,
            headers,
            timeout: Duration::from_millis(settings.request_timeout_ms),
        })
    }

    /// Add a header sent on every call (credentials, `App-Token`, `Accept`…), replacing
    /// one of that name. `sensitive` keeps the value out of any debug output.
    pub fn with_header(
        mut self,
        name: &'static str,
        value: &str,
        sensitive: bool,
    ) -> Result<Self, BuildError> {
        let name = HeaderName::from_static(name);
        let mut v = HeaderValue::from_str(value).map_err(|_| {
            BuildError::Header(format!(
                "the value of the {name} header holds characters HTTP cannot carry"
            ))
        })?;
        v.set_sensitive(sensitive);
        self.headers.insert(name, v);
        Ok(self)
    }

    /// HTTP basic credentials sent on every call.
    pub fn with_basic_auth(self, user: &str, password: Option<&str>) -> Result<Self, BuildError> {
        let value = basic_auth(user, password);
        self.with_header("authorization", &value, true)
    }

    /// The deadline of one call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A request to `path` under the base URL (`path` may carry a query already).
    pub fn request(&self, method: Method, path: &str) -> Request<'_> {
        let path = path.split_once('#').map_or(path, |(p, _)| p);
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let mut target = String::with_capacity(self.prefix.len() + path.len() + 1);
        target.push_str(&self.prefix);
        if !path.is_empty() && !path.starts_with('/') {
            target.push('/');
        }
        target.extend(utf8_percent_encode(path, PATH));
        if target.is_empty() {
            target.push('/');
        }
        let query = query.map(|q| utf8_percent_encode(q, QUERY).to_string());
        Request {
            client: self,
            method,
            target,
            query,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            error: None,
        }
    }

    pub fn get(&self, path: &str) -> Request<'_> {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> Request<'_> {
        self.request(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> Request<'_> {
        self.request(Method::PUT, path)
    }

    pub fn patch(&self, path: &str) -> Request<'_> {
        self.request(Method::PATCH, path)
    }

    pub fn delete(&self, path: &str) -> Request<'_> {
        self.request(Method::DELETE, path)
    }
}

/// `Basic base64(user:password)`, the value of an `Authorization` header.
pub fn basic_auth(user: &str, password: Option<&str>) -> String {
    use base64::Engine as _;
    let pair = format!("{user}:{}", password.unwrap_or_default());
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// One call under construction. A mistake while building it (a header value HTTP
/// cannot carry, a body that does not serialize) is reported by [`Request::send`].
#[must_use = "a request does nothing until it is sent"]
pub struct Request<'a> {
    client: &'a Client,
    method: Method,
    target: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    error: Option<String>,
}

impl Request<'_> {
    fn fail(&mut self, why: String) {
        if self.error.is_none() {
            self.error = Some(why);
        }
    }

    /// Add a header to this call (a constant header of that name is replaced).
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        let name = name.as_ref();
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value.as_ref()),
        ) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            _ => self.fail(format!("the {name} header cannot be sent")),
        }
        self
    }

    /// `Authorization: Bearer TOKEN` for this call.
    pub fn bearer_auth(self, token: impl fmt::Display) -> Self {
        self.sensitive_header("authorization", format!("Bearer {token}"))
    }

    /// HTTP basic credentials for this call.
    pub fn basic_auth(self, user: &str, password: Option<&str>) -> Self {
        let value = basic_auth(user, password);
        self.sensitive_header("authorization", value)
    }

    /// A header holding a secret (a token, a session): kept out of debug output, and
    /// replacing any header of that name.
    pub fn sensitive_header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        let name = name.as_ref();
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value.as_ref()),
        ) {
            (Ok(n), Ok(mut v)) => {
                v.set_sensitive(true);
                self.headers.insert(n, v);
            }
            _ => self.fail(format!("the {name} header cannot be sent")),
        }
        self
    }

    /// Append query parameters (form-urlencoded, as a browser writes them); no
    /// parameters leave the URL as it is.
    pub fn query<T: Serialize + ?Sized>(mut self, query: &T) -> Self {
        match serde_urlencoded::to_string(query) {
            Ok(q) if q.is_empty() => {}
            Ok(q) => {
                self.query = Some(match self.query.take() {
                    Some(old) if !old.is_empty() => format!("{old}&{q}"),
                    _ => q,
                });
            }
            Err(e) => self.fail(format!("query: {e}")),
        }
        self
    }

    /// A JSON body (`Content-Type: application/json` unless one is set).
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(b) => {
                self.body = Bytes::from(b);
                self.default_content_type("application/json");
            }
            Err(e) => self.fail(format!("JSON body: {e}")),
        }
        self
    }

    /// A form-urlencoded body.
    pub fn form<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_urlencoded::to_string(body) {
            Ok(b) => {
                self.body = Bytes::from(b);
                self.default_content_type("application/x-www-form-urlencoded");
            }
            Err(e) => self.fail(format!("form body: {e}")),
        }
        self
    }

    /// A `multipart/form-data` body.
    pub fn multipart(mut self, form: Form) -> Self {
        let (content_type, body) = form.encode();
        match HeaderValue::from_str(&content_type) {
            Ok(v) => {
                self.headers.insert(CONTENT_TYPE, v);
                self.body = body;
            }
            Err(_) => self.fail("multipart: unusable boundary".into()),
        }
        self
    }

    /// Raw bytes as the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    fn default_content_type(&mut self, value: &'static str) {
        if !self.headers.contains_key(CONTENT_TYPE) {
            self.headers
                .insert(CONTENT_TYPE, HeaderValue::from_static(value));
        }
    }

    /// Send the call and wait for the head of the answer; the body is read (within the
    /// same deadline) with [`crate::read_body`] or [`crate::read_prefix`].
    pub async fn send(self) -> Result<Response, Failure> {
        let deadline = Instant::now() + self.client.timeout;
        if let Some(why) = self.error {
            return Err(Failure::new(FailureKind::Request, why));
        }
        let c = self.client;
        let mut pq = self.target;
        if let Some(q) = self.query.as_deref().filter(|q| !q.is_empty()) {
            pq.push('?');
            pq.push_str(q);
        }
        let pq = PathAndQuery::try_from(pq)
            .map_err(|e| Failure::new(FailureKind::Request, format!("path: {e}")))?;
        let uri = Uri::builder()
            .scheme(c.scheme.clone())
            .authority(c.authority.clone())
            .path_and_query(pq)
            .build()
            .map_err(|e| Failure::new(FailureKind::Request, format!("URI: {e}")))?;
        let mut headers = self.headers;
        for (name, value) in &c.headers {
            if !headers.contains_key(name) {
                headers.insert(name.clone(), value.clone());
            }
        }
        if let Some(id) = crate::request_id::current()
            && let Ok(v) = HeaderValue::from_str(&id)
        {
            headers.insert(crate::request_id::HEADER, v);
        }
        let mut req = http::Request::new(Full::new(self.body));
        *req.method_mut() = self.method;
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        match tokio::time::timeout_at(deadline, c.pool.request(req)).await {
            Err(_) => Err(Failure::new(
                FailureKind::Timeout,
                "no answer within the deadline".into(),
            )),
            Ok(Err(e)) => Err(Failure::from_client(&e)),
            Ok(Ok(resp)) => {
                let (parts, body) = resp.into_parts();
                Ok(Response {
                    status: parts.status,
                    headers: parts.headers,
                    body,
                    deadline,
                })
            }
        }
    }
}

/// The head of an answer, and its body still to be read (before the call's deadline).
#[derive(Debug)]
pub struct Response {
    status: StatusCode,
    headers: HeaderMap,
    pub(crate) body: hyper::body::Incoming,
    pub(crate) deadline: Instant,
}

impl Response {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header's value as text, if it is there and is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The declared `Content-Length`, if any.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }

    /// `Retry-After` in seconds, if the answer carries one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs)
    }
}

/// How a call failed without an answer to classify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// No connection could be made: refused, unreachable, the name unknown.
    Connect,
    /// The call's deadline (or the connect timeout) passed.
    Timeout,
    /// The TLS handshake failed: an untrusted or invalid certificate, a refused
    /// client certificate.
    Tls,
    /// The exchange broke off half-way (reset, closed, a malformed answer).
    Broken,
    /// The request could not be built (a header HTTP cannot carry…); nothing was sent.
    Request,
}

/// A call that got no (complete) answer: its kind and a description free of secrets.
#[derive(Debug, Clone)]
pub struct Failure {
    kind: FailureKind,
    detail: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for Failure {}

impl Failure {
    pub(crate) fn new(kind: FailureKind, detail: String) -> Self {
        Self { kind, detail }
    }

    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    pub fn is_timeout(&self) -> bool {
        self.kind == FailureKind::Timeout
    }

    pub fn is_connect(&self) -> bool {
        self.kind == FailureKind::Connect
    }

    pub fn is_tls(&self) -> bool {
        self.kind == FailureKind::Tls
    }

    /// Classify a failure of the pool: TLS first (a handshake fails while
    /// connecting), then a timeout anywhere in the chain, then connect, else broken.
    fn from_client(e: &hyper_util::client::legacy::Error) -> Self {
        let detail = describe(e);
        let kind = if crate::tls::is_tls_failure(e) {
            FailureKind::Tls
        } else if caused_by_timeout(e) {
            FailureKind::Timeout
        } else if e.is_connect() {
            FailureKind::Connect
        } else {
            FailureKind::Broken
        };
        Self { kind, detail }
    }

    /// A failure while reading the body of an answer.
    pub(crate) fn from_body(e: &hyper::Error) -> Self {
        let kind = if e.is_timeout() || caused_by_timeout(e) {
            FailureKind::Timeout
        } else {
            FailureKind::Broken
        };
        Self {
            kind,
            detail: describe(e),
        }
    }

    /// THE canonical error of a failed call, in `vendor`'s words: temporary
    /// (`upstream_unavailable`, retried) for a refused or broken connection and a
    /// deadline (`timeout_ms`, the configured one, is named), a clear "TLS handshake"
    /// error for a certificate problem, and a permanent internal error for a request
    /// that could not even be built.
    pub fn into_error(&self, vendor: &str, timeout_ms: u64) -> Error {
        match self.kind {
            FailureKind::Connect => upstream_transport_error(vendor, UpstreamTransport::Connect),
            FailureKind::Timeout => {
                upstream_transport_error(vendor, UpstreamTransport::Timeout(timeout_ms))
            }
            FailureKind::Broken => upstream_transport_error(vendor, UpstreamTransport::Broken),
            FailureKind::Tls => Error::upstream_unavailable(format!(
                "cannot connect to {vendor}: the TLS handshake failed ({}); see its tls settings",
                self.detail
            )),
            FailureKind::Request => Error::internal(format!(
                "the request to {vendor} could not be built: {}",
                self.detail
            )),
        }
    }
}

/// The error and its causes, one line.
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

fn caused_by_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        if let Some(h) = s.downcast_ref::<hyper::Error>()
            && h.is_timeout()
        {
            return true;
        }
        source = s.source();
    }
    false
}
