//! The server face: ticketgate answering as osTicket.
//!
//! Routes (paths after the mount prefix; `/http.php/…` works too, as when osTicket's
//! URL rewriting is off):
//! - core API: `POST /tickets.json`, `/tickets.xml`, `/tickets.email` → `201` with the
//!   ticket number as a bare text body (`202` with a tracking id when the create was
//!   queued in the outbox, only if [`ServerConfig::queue_creates`] is set). Errors are
//!   bare text, as osTicket sends them.
//! - the API Endpoints plugin: `tickets-get.php`, `tickets-update.php`,
//!   `tickets-search.php`, `tickets-delete.php`, `tickets-stats.php`,
//!   `tickets-statuses.php` and the four `tickets-subtickets-*.php`; JSON or XML by the
//!   URL's extension where the real plugin offers both, update and delete answering the
//!   ticket number as plain text, errors as `{"error": true, "message": "…"}` (see
//!   `server/plugin.rs`). Any other URL is osTicket's `400 URL not supported`.
//!
//! Keys are checked by the gateway through [`GatewayContext::authorize`]: this face
//! only extracts `X-API-Key` and names the permission each route needs (create, read,
//! update, search, delete, stats for stats and statuses, subtickets for all four
//! subticket endpoints).
//!
//! Where ticketgate knowingly differs from the products:
//! - a key without the needed permission gets `403 API key not authorized` on the core
//!   routes too (stock osTicket answers 401 there; the plugin answers 403);
//! - a create is answered with the bare number, as osTicket does, not with the
//!   plugin's JSON, unless [`ServerConfig::plugin_create_response`] is set; a queued
//!   create is `202` with the tracking id (only with [`ServerConfig::queue_creates`]);
//! - a mail the gateway will not turn into a ticket (auto-reply, bounce, denied sender)
//!   is `403 Ticket denied: <reason>`, osTicket's answer for a refused ticket;
//! - no `Connection: Close` header: the gateway keeps connections alive;
//! - unknown create fields: plain values pass through as custom fields (osTicket
//!   matches them against its forms), structures are logged and ignored; an unknown
//!   field in an update is refused (`400 Unknown field: …`) so a typo never silently
//!   does nothing;
//! - an update naming a staff member the helpdesk does not know is refused (the plugin
//!   unassigns the ticket instead);
//! - search `status=Open` means every active ticket (new, open, pending), because
//!   osTicket has no separate "new" status;
//! - stats `departmentId` / `staffId` narrow the matching breakdown list only (the
//!   canonical statistics have no such window), and the per-agent answer and response
//!   times the plugin reports are not available;
//! - a request body sent as `multipart/form-data` to `tickets.json` is read as a form
//!   with file parts (the plugin's `curl -F` example); stock osTicket reads JSON only.

mod core_api;
mod plugin;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use serde::{Deserialize, Serialize};
use ticketgate_model::{
    Admission, BodyClass, Credential, Error, ErrorKind, GatewayContext, Permission, ServerFace,
};

/// The server face's settings, as embedded in the gateway's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// The path the dialect is mounted at; osTicket clients call `{prefix}/tickets.json`.
    pub prefix: String,
    /// Let a create that the upstream cannot take right now be queued in the outbox and
    /// answered `202 Accepted` with the tracking id as the body. Stock osTicket clients
    /// only know `201`, so this is off by default: they get a `503` and retry instead.
    pub queue_creates: bool,
    /// Answer creates with the API Endpoints plugin's JSON
    /// (`{"ticket_id", "number", "subject", "message"}`) instead of osTicket's bare
    /// ticket number. Off by default: the core API's answer is what most clients parse.
    pub plugin_create_response: bool,
    /// With `queue_creates`: how long a queued create may hold its client waiting for
    /// delivery (default 0). Delivered in time, the client gets osTicket's `201` and
    /// the number; otherwise the `202` with the tracking id.
    pub queue_wait_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            prefix: "/api".to_owned(),
            queue_creates: false,
            plugin_create_response: false,
            queue_wait_ms: 0,
        }
    }
}

/// osTicket's HTTP API, served over whatever helpdesk the gateway routes to.
pub struct OsticketServer {
    config: ServerConfig,
}

impl OsticketServer {
    pub fn new(config: ServerConfig) -> Self {
        Self { config }
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }
}

/// A route after the prefix: the core API's create formats, or a plugin endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route<'a> {
    Create(&'a str),
    Plugin {
        endpoint: &'a str,
        arg: Option<&'a str>,
    },
    Unknown,
}

fn route(path: &str) -> Route<'_> {
    let path = path.strip_prefix("/http.php").unwrap_or(path);
    let path = path.trim_start_matches('/');
    if let Some(ext) = path.strip_prefix("tickets.") {
        return Route::Create(ext);
    }
    let (endpoint, arg) = match path.split_once('/') {
        Some((e, a)) => (e, Some(a)),
        None => (path, None),
    };
    if endpoint.starts_with("tickets-") && endpoint.ends_with(".php") {
        Route::Plugin { endpoint, arg }
    } else {
        Route::Unknown
    }
}

#[async_trait::async_trait]
impl ServerFace for OsticketServer {
    fn dialect(&self) -> &'static str {
        "osticket"
    }

    fn body_class(&self, method: &Method, path: &str) -> BodyClass {
        match (method, route(path)) {
            (&Method::POST, Route::Create("email")) => BodyClass::Email,
            (&Method::POST, Route::Create(_)) => BodyClass::Upload,
            _ => BodyClass::Standard,
        }
    }

    fn admit(
        &self,
        path: &str,
        head: &mut http::request::Parts,
        cx: &dyn GatewayContext,
    ) -> Result<Admission, Response<Bytes>> {
        // Routes `handle` refuses on their own (a wrong method or format, an unknown
        // endpoint) are answered there, on a small body.
        let Some((need, plugin_what)) = head_permission(&head.method, path) else {
            return Ok(Admission::Unverified);
        };
        match cx.admit(&credential(&head.headers), Some(need)) {
            Ok(_) => Ok(Admission::Verified),
            Err(e) if need == Permission::Subtickets => {
                Err(self.error_response_at(path, &plugin::subticket_error(e)))
            }
            // A known key without the permission, on a plugin route: the plugin's own
            // words and status for that operation, as `handle` would answer.
            Err(e)
                if !plugin_what.is_empty()
                    && e.kind == ErrorKind::Forbidden
                    && e.field.as_deref() != Some("network") =>
            {
                Err(self.error_response_at(path, &plugin::not_authorized_to(plugin_what)))
            }
            Err(e) => Err(self.error_response_at(path, &e)),
        }
    }

    async fn handle(
        &self,
        path: &str,
        request: Request<Bytes>,
        cx: &dyn GatewayContext,
    ) -> Response<Bytes> {
        match route(path) {
            Route::Create(ext) => core_api::handle(self, ext, request, cx).await,
            Route::Plugin { endpoint, arg } => {
                plugin::handle(self, endpoint, arg, request, cx).await
            }
            Route::Unknown => core_api::url_not_supported(),
        }
    }

    fn error_response(&self, error: &Error) -> Response<Bytes> {
        core_api::error_response(error)
    }

    fn error_response_at(&self, path: &str, error: &Error) -> Response<Bytes> {
        match route(path) {
            Route::Plugin { .. } => plugin::error(error),
            _ => core_api::error_response(error),
        }
    }
}

/// The permission a route needs, from the head alone; `None` for a request `handle`
/// refuses whatever the key (the same routes as `core_api` and `plugin` dispatch), with
/// the words the plugin uses for a key without it ("" where the plugin has none).
fn head_permission(method: &Method, path: &str) -> Option<(Permission, &'static str)> {
    match route(path) {
        Route::Create("json" | "xml" | "email") if method == Method::POST => {
            Some((Permission::Create, ""))
        }
        Route::Plugin { endpoint, arg } => {
            // `{number}.{json|xml}`: anything else is refused by `plugin` first.
            let key = match arg {
                Some(a) if a.ends_with(".json") || a.ends_with(".xml") => true,
                Some(_) => return None,
                None => false,
            };
            Some(match (endpoint, method.clone(), key) {
                ("tickets-get.php", Method::GET, true) => (Permission::Read, "read tickets"),
                ("tickets-update.php", Method::PATCH, true) => {
                    (Permission::Update, "update tickets")
                }
                ("tickets-delete.php", Method::DELETE, true) => {
                    (Permission::Delete, "delete tickets")
                }
                ("tickets-search.php", Method::GET, false) => {
                    (Permission::Search, "search tickets")
                }
                ("tickets-stats.php" | "tickets-statuses.php", Method::GET, false) => {
                    (Permission::Stats, "read ticket statistics")
                }
                (
                    "tickets-subtickets-parent.php" | "tickets-subtickets-list.php",
                    Method::GET,
                    true,
                )
                | ("tickets-subtickets-create.php", Method::POST, false)
                | ("tickets-subtickets-unlink.php", Method::DELETE, false) => {
                    (Permission::Subtickets, "")
                }
                _ => return None,
            })
        }
        _ => None,
    }
}

/// `X-API-Key`, or nothing usable.
fn credential(headers: &HeaderMap) -> Credential {
    match headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    {
        Some(key) if !key.is_empty() => Credential::Token {
            key: crate::vendor::OSTICKET_KEY.name,
            value: key.to_owned(),
            also: None,
        },
        _ => Credential::Missing,
    }
}

/// Check the key for one permission; the error is the gateway's, mapped by the caller.
async fn authorize(
    cx: &dyn GatewayContext,
    headers: &HeaderMap,
    need: Permission,
) -> Result<ticketgate_model::Consumer, Error> {
    cx.authorize(&credential(headers), need).await
}

/// osTicket's bare-text response (`Content-Type: text/html; charset=UTF-8`, as osTicket
/// labels even a ticket number).
fn text_response(status: u16, body: &str) -> Response<Bytes> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "text/html; charset=UTF-8")
        .body(Bytes::from(body.to_owned()))
        .expect("a static header on a valid status is a valid response")
}

/// Adds `Retry-After` (whole seconds, at least 1) when the error says when to retry.
fn with_retry_after(mut response: Response<Bytes>, error: &Error) -> Response<Bytes> {
    if let Some(after) = error.retry_after {
        let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        if let Ok(v) = http::HeaderValue::from_str(&secs.max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    response
}

/// The status ticketgate answers an error with in this dialect.
fn status_of(error: &Error) -> u16 {
    match error.kind {
        ErrorKind::Unauthorized => 401,
        ErrorKind::Forbidden => 403,
        ErrorKind::RateLimited => 429,
        _ => error.http_status(),
    }
}

/// The format of a plugin-shaped create answer (the plugin's own endpoints choose theirs
/// in `server/plugin.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutFormat {
    Json,
}

/// Encode a plugin-shaped JSON response.
fn plugin_response<T: Serialize>(status: u16, format: OutFormat, value: &T) -> Response<Bytes> {
    let (body, content_type) = match format {
        OutFormat::Json => (
            serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec()),
            "application/json",
        ),
    };
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, content_type)
        .body(Bytes::from(body))
        .expect("a static header on a valid status is a valid response")
}

/// Decode `application/x-www-form-urlencoded` pairs (a query string).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/tickets.json"), Route::Create("json"));
        assert_eq!(route("/http.php/tickets.xml"), Route::Create("xml"));
        assert_eq!(
            route("/tickets-get.php/123456.json"),
            Route::Plugin {
                endpoint: "tickets-get.php",
                arg: Some("123456.json")
            }
        );
        assert_eq!(route("/nope"), Route::Unknown);
    }

    #[test]
    fn query_strings() {
        assert_eq!(
            query_pairs("query=payment+failed&x=%41%zz&y"),
            vec![
                ("query".to_owned(), "payment failed".to_owned()),
                ("x".to_owned(), "A%zz".to_owned()),
                ("y".to_owned(), String::new())
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
    }

    fn header(r: &Response<Bytes>, name: &str) -> Option<String> {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    #[test]
    fn plugin_errors_keep_the_canonical_status() {
        use std::time::Duration;
        let cases = [
            (Error::not_found("Ticket not found"), 404),
            (Error::conflict("loop"), 409),
            (Error::bad_input("Invalid limit"), 400),
            (Error::unsupported("itsmng", "stats"), 501),
            (
                Error::upstream_rejected("gone").with_upstream_status(404),
                404,
            ),
            (
                Error::upstream_rejected("bad key").with_upstream_status(401),
                502,
            ),
            (Error::upstream_unavailable("down"), 502),
            (Error::storage_unavailable("disk full"), 503),
            (Error::unauthorized("x"), 401),
            (Error::forbidden("x"), 403),
            (Error::internal("bug"), 500),
        ];
        for (e, status) in cases {
            let r = plugin::error(&e);
            assert_eq!(r.status().as_u16(), status, "{e:?}");
            if status == 401 {
                assert_eq!(r.body().as_ref(), b"Valid API key required");
                continue;
            }
            let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
            assert_eq!(v["error"], serde_json::json!(true));
            assert!(v["message"].is_string());
        }
        let e = Error::upstream_unavailable("shielded").retry_after(Duration::from_secs(5));
        let r = plugin::error(&e);
        assert_eq!(r.status().as_u16(), 503);
        assert_eq!(header(&r, "retry-after").as_deref(), Some("5"));
        assert_eq!(r.body().as_ref(), br#"{"error":true,"message":"shielded"}"#);
        let r = plugin::error(&Error::internal("secret detail"));
        assert!(!String::from_utf8_lossy(r.body()).contains("secret"));
    }

    #[test]
    fn gateway_errors_on_plugin_routes_are_plugin_shaped() {
        let face = OsticketServer::new(ServerConfig::default());
        let e = Error::new(ErrorKind::PayloadTooLarge, "too large");
        let r = face.error_response_at("/tickets-search.php", &e);
        assert_eq!(r.status(), 413);
        assert!(r.body().starts_with(b"{\"error\""), "{:?}", r.body());
        // The plugin's errors are JSON whatever the URL's extension.
        let r = face.error_response_at("/tickets-get.php/100001.xml", &e);
        assert!(r.body().starts_with(b"{\"error\""), "{:?}", r.body());
        let r = face.error_response_at("/tickets.json", &e);
        assert!(!r.body().starts_with(b"{"), "{:?}", r.body());
    }

    #[test]
    fn core_errors_are_bare_text() {
        let r = core_api::error_response(&Error::unauthorized("unknown key abc"));
        assert_eq!(r.status().as_u16(), 401);
        assert_eq!(r.body().as_ref(), b"Valid API key required");
        let r = core_api::error_response(&Error::forbidden("10.0.0.1 not allowed"));
        assert_eq!(r.status().as_u16(), 403);
        assert_eq!(r.body().as_ref(), b"API key not authorized");
        let r = core_api::error_response(&Error::internal("stack"));
        assert_eq!(r.status().as_u16(), 500);
        assert_eq!(
            r.body().as_ref(),
            b"Unable to create new ticket: unknown error"
        );
        let r = core_api::error_response(
            &Error::upstream_unavailable("down").retry_after(std::time::Duration::from_secs(30)),
        );
        assert_eq!(r.status().as_u16(), 503);
        assert_eq!(header(&r, "retry-after").as_deref(), Some("30"));
        assert_eq!(
            header(&r, "content-type").as_deref(),
            Some("text/html; charset=UTF-8")
        );
    }
}
