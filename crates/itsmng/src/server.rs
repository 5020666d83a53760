//! The server face: `apirest.php` as the real ITSM-NG answers it, over whatever
//! helpdesk the gateway routes the session's consumer to.
//!
//! Order of checks per request, as on the real server: parameters (a GET with a body,
//! bad JSON), then the app token, then the session token, then the endpoint. Session
//! endpoints live here; Ticket and dropdown items in `items`, lists and the search
//! engine in `listing`.

mod head;
mod items;
mod listing;
mod sessions;

use crate::errors::ApiError;
use crate::params::{self, Params};
use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use ticketgate_model::dialect::BodyClass;
use ticketgate_model::{
    Admission, Consumer, Credential, Error, ErrorKind, GatewayContext, Permission, ServerFace,
};

use sessions::Session;

/// Configuration of the ITSM-NG server face (`[dialects.itsmng]` in gateway.toml).
#[derive(Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// The path the face is mounted at; also the tail of the API URL in links.
    pub prefix: String,
    /// App tokens of the API clients. When non-empty, a presented `App-Token` must be
    /// one of these; when empty, the gateway checks each consumer's own app token.
    pub app_tokens: Vec<String>,
    /// Refuse calls without an `App-Token` (a stock install has a client without one,
    /// so it does not require it).
    pub require_app_token: bool,
    /// Allow `initSession` with login and password (Basic or `login`/`password`).
    /// Off by default, as on a stock install (`enable_api_login_credentials = 0`).
    pub allow_credentials_login: bool,
    /// Seconds a session may stay unused before its token is invalid.
    pub session_idle_secs: u64,
    /// The API's own URL for links, `Location` and error documentation
    /// (`https://help.example.com/apirest.php`); default: from the Host header.
    pub url_base: Option<String>,
    /// The consumers' own app tokens (`itsmng_app_token`), filled in by the gateway:
    /// with `app_tokens` they are every token an API client may present. Any other
    /// `App-Token` is refused with `ERROR_WRONG_APP_TOKEN_PARAMETER`, as GLPI refuses
    /// an unknown one even when a client without a token exists.
    #[serde(skip)]
    pub consumer_app_tokens: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            prefix: "/apirest.php".to_owned(),
            app_tokens: Vec::new(),
            require_app_token: false,
            allow_credentials_login: false,
            session_idle_secs: 3600,
            url_base: None,
            consumer_app_tokens: Vec::new(),
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("prefix", &self.prefix)
            .field(
                "app_tokens",
                &format_args!("<{} redacted>", self.app_tokens.len()),
            )
            .field("require_app_token", &self.require_app_token)
            .field("allow_credentials_login", &self.allow_credentials_login)
            .field("session_idle_secs", &self.session_idle_secs)
            .field("url_base", &self.url_base)
            .field(
                "consumer_app_tokens",
                &format_args!("<{} redacted>", self.consumer_app_tokens.len()),
            )
            .finish()
    }
}

/// The ITSM-NG server face. Cloning shares the sessions.
#[derive(Clone)]
pub struct ItsmngServer {
    inner: Arc<Inner>,
}

struct Inner {
    config: ServerConfig,
    sessions: sessions::Sessions,
}

impl ItsmngServer {
    pub fn new(config: ServerConfig) -> Self {
        let idle = Duration::from_secs(config.session_idle_secs);
        Self {
            inner: Arc::new(Inner {
                config,
                sessions: sessions::Sessions::new(idle),
            }),
        }
    }

    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// How many sessions `initSession` has opened since start.
    pub fn sessions_opened(&self) -> u64 {
        self.inner.sessions.opened()
    }

    /// How many sessions are live now.
    pub fn live_sessions(&self) -> usize {
        self.inner.sessions.live()
    }

    /// End every session now, as an idle timeout would (operators; tests).
    pub fn expire_sessions(&self) {
        self.inner.sessions.expire_all();
    }

    fn api_url(&self, req: &Request<Bytes>) -> String {
        self.api_url_of(req.headers(), req.uri())
    }

    fn api_url_of(&self, headers: &http::HeaderMap, uri: &http::Uri) -> String {
        if let Some(base) = &self.inner.config.url_base {
            return base.trim_end_matches('/').to_owned();
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .or_else(|| uri.authority().map(|a| a.to_string()))
            .unwrap_or_else(|| "localhost".to_owned());
        let scheme = uri.scheme_str().unwrap_or("http");
        format!(
            "{scheme}://{host}{}",
            self.inner.config.prefix.trim_end_matches('/')
        )
    }
}

/// A successful answer before encoding.
pub(crate) struct Reply {
    pub status: u16,
    /// `None`: an empty body (the server's `null` response).
    pub body: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
    /// The order object keys are written in (PHP keeps insertion order; clients
    /// that read search rows positionally expect column `2` first).
    pub key_order: Option<Vec<String>>,
    /// A body that is not JSON (a document's download): its type and bytes.
    pub raw: Option<(String, Bytes)>,
}

/// Object keys in the order the real server writes them: Ticket columns, followup
/// columns, then link and session keys; any other key after these, alphabetically.
static DEFAULT_KEY_ORDER: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    let mut keys: Vec<String> = crate::mapping::TICKET_COLUMNS
        .iter()
        .chain(crate::mapping::FOLLOWUP_COLUMNS)
        .chain(&[
            "_documents",
            "_logs",
            "links",
            "rel",
            "href",
            "session_token",
            "session",
        ])
        .map(|k| (*k).to_owned())
        .collect();
    keys.dedup();
    keys
});

/// A JSON value written with its object keys in a given order.
struct Ordered<'a> {
    value: &'a Value,
    order: &'a [String],
}

impl serde::Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.value {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort_by_key(|k| {
                    self.order
                        .iter()
                        .position(|o| o == *k)
                        .unwrap_or(usize::MAX)
                });
                let mut map = s.serialize_map(Some(keys.len()))?;
                for k in keys {
                    let value = Ordered {
                        value: &m[k],
                        order: self.order,
                    };
                    map.serialize_entry(k, &value)?;
                }
                map.end()
            }
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(&Ordered {
                        value: v,
                        order: self.order,
                    })?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            headers: Vec::new(),
            key_order: None,
            raw: None,
        }
    }

    pub fn empty() -> Self {
        Self {
            status: 200,
            body: None,
            headers: Vec::new(),
            key_order: None,
            raw: None,
        }
    }

    /// A file's bytes with their own content type.
    pub fn raw(content_type: String, bytes: Vec<u8>) -> Self {
        Self {
            status: 200,
            body: None,
            headers: Vec::new(),
            key_order: None,
            raw: Some((content_type, Bytes::from(bytes))),
        }
    }

    pub fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

pub(crate) type Outcome = Result<Reply, ApiError>;

/// The app token check, on the token a request presents (header or parameter).
fn check_app_token(cfg: &ServerConfig, presented: Option<&str>) -> Result<(), ApiError> {
    match presented.filter(|t| !t.is_empty()) {
        None if cfg.require_app_token => Err(ApiError::app_token_missing()),
        None => Ok(()),
        // Like GLPI, a token that matches no configured one is refused (400
        // ERROR_WRONG_APP_TOKEN_PARAMETER), even where none is required.
        Some(t) => {
            if cfg
                .app_tokens
                .iter()
                .chain(&cfg.consumer_app_tokens)
                .any(|k| bool::from(k.as_bytes().ct_eq(t.as_bytes())))
            {
                Ok(())
            } else {
                Err(ApiError::wrong_app_token())
            }
        }
    }
}

/// How `initSession` answers a credential the gateway refused.
fn login_refusal(e: &Error, by_token: bool, peer: std::net::IpAddr) -> ApiError {
    match e.kind {
        ErrorKind::Forbidden => ApiError::not_allowed_ip(&peer.to_string()),
        ErrorKind::RateLimited
        | ErrorKind::UpstreamUnavailable
        | ErrorKind::StorageUnavailable
        | ErrorKind::Internal => ApiError::from_canonical(e, crate::errors::Stage::Read),
        _ if by_token => ApiError::glpi_login_user_token(),
        _ => ApiError::glpi_login(),
    }
}

/// One request in flight.
pub(crate) struct Call<'a> {
    pub server: &'a ItsmngServer,
    pub cx: &'a dyn GatewayContext,
    pub method: Method,
    pub params: Params,
    pub api_url: String,
    /// The `Accept` header, as sent (GLPI downloads a document for exactly
    /// `application/octet-stream`).
    pub accept: Option<String>,
}

impl Call<'_> {
    fn check_app_token(&self) -> Result<(), ApiError> {
        check_app_token(&self.server.inner.config, self.params.app_token.as_deref()).inspect_err(
            |_| {
                // A wrong or missing app token is a failed authentication too.
                self.cx.failed_authentication();
            },
        )
    }

    /// The live session of this request.
    fn session(&self) -> Result<(String, Session), ApiError> {
        self.check_app_token()?;
        let Some(token) = self.params.session_token.clone().filter(|t| !t.is_empty()) else {
            self.cx.failed_authentication();
            return Err(ApiError::session_token_missing());
        };
        let Some(s) = self.server.inner.sessions.touch(&token) else {
            self.cx.failed_authentication();
            return Err(ApiError::session_token_invalid());
        };
        Ok((token, s))
    }

    /// The session's consumer, authorised for `need` (this takes a quota token).
    pub async fn consumer(&self, need: Permission) -> Result<(Consumer, Session), ApiError> {
        let (_, s) = self.session()?;
        let cred = Credential::Session {
            consumer: s.consumer.clone(),
        };
        let c = self
            .cx
            .authorize(&cred, need)
            .await
            .map_err(|e| ApiError::from_canonical(&e, crate::errors::Stage::Read))?;
        Ok((c, s))
    }

    /// The consumer of a write. Without the permission, the real server fails each
    /// item ("You don't have permission…") rather than the request: `None`.
    pub async fn writer(&self, need: Permission) -> Result<Option<(Consumer, Session)>, ApiError> {
        let (_, s) = self.session()?;
        let cred = Credential::Session {
            consumer: s.consumer.clone(),
        };
        match self.cx.authorize(&cred, need).await {
            Ok(c) => Ok(Some((c, s))),
            Err(e) if e.kind == ErrorKind::Forbidden => Ok(None),
            Err(e) => Err(ApiError::from_canonical(&e, crate::errors::Stage::Read)),
        }
    }

    /// One more quota token for the next item of a batch: a batch of N items costs
    /// what N requests cost.
    pub async fn authorize_item(&self, session: &Session, need: Permission) -> Result<(), Error> {
        let cred = Credential::Session {
            consumer: session.consumer.clone(),
        };
        self.cx.authorize(&cred, need).await.map(|_| ())
    }

    pub fn flag(&self, key: &str, default: bool) -> bool {
        self.params.flag(key, default)
    }
}

#[async_trait]
impl ServerFace for ItsmngServer {
    fn dialect(&self) -> &'static str {
        "itsmng"
    }

    fn body_class(&self, method: &Method, path: &str) -> BodyClass {
        let first = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if method == Method::POST
            && matches!(first.as_str(), "ticket" | "itilfollowup" | "document")
        {
            BodyClass::Upload
        } else {
            BodyClass::Standard
        }
    }

    fn admit(
        &self,
        path: &str,
        head: &mut http::request::Parts,
        cx: &dyn GatewayContext,
    ) -> Result<Admission, Response<Bytes>> {
        head::admit(self, path, head, cx)
    }

    async fn handle(
        &self,
        path: &str,
        request: Request<Bytes>,
        cx: &dyn GatewayContext,
    ) -> Response<Bytes> {
        let api_url = self.api_url(&request);
        let method = request.method().clone();
        let has_origin = request.headers().contains_key(header::ORIGIN);
        let outcome = if method == Method::OPTIONS {
            Ok(options_reply(&request))
        } else {
            match params::parse(
                &method,
                request.uri().query(),
                request.headers(),
                request.body(),
            ) {
                Ok(params) => {
                    let call = Call {
                        server: self,
                        cx,
                        method: method.clone(),
                        params,
                        api_url: api_url.clone(),
                        accept: request
                            .headers()
                            .get(header::ACCEPT)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned),
                    };
                    dispatch(&call, path).await
                }
                Err(e) => Err(e),
            }
        };
        let mut response = match outcome {
            Ok(reply) => encode(reply),
            Err(e) => encode_error(&e, &api_url),
        };
        cors(&mut response, &method, has_origin);
        response
    }

    fn error_response(&self, error: &Error) -> Response<Bytes> {
        let api = self
            .inner
            .config
            .url_base
            .clone()
            .unwrap_or_else(|| self.inner.config.prefix.clone());
        let e = match error.kind {
            // The gateway's own answer to an unknown path under the prefix.
            ErrorKind::NotFound => ApiError::resource_not_found(),
            _ => ApiError::from_canonical(error, crate::errors::Stage::Read),
        };
        encode_error(&e, &api)
    }
}

fn options_reply(req: &Request<Bytes>) -> Reply {
    let mut r = Reply::empty();
    if req.headers().contains_key("access-control-request-method") {
        r = r.header(
            "access-control-allow-methods",
            "PUT, GET, POST, DELETE, OPTIONS".into(),
        );
    }
    if req.headers().contains_key("access-control-request-headers") {
        r = r.header(
            "access-control-allow-headers",
            "origin, content-type, accept, session-token, authorization".into(),
        );
    }
    r
}

fn cors(response: &mut Response<Bytes>, method: &Method, has_origin: bool) {
    let h = response.headers_mut();
    if has_origin {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    if method == Method::GET || method == Method::OPTIONS {
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("content-type, content-range, accept-range"),
        );
    }
}

pub(crate) fn encode(reply: Reply) -> Response<Bytes> {
    let order = reply
        .key_order
        .as_deref()
        .unwrap_or(DEFAULT_KEY_ORDER.as_slice());
    let (content_type, body) = match (&reply.raw, &reply.body) {
        (Some((content_type, bytes)), _) => (content_type.as_str(), bytes.clone()),
        (None, Some(v)) => (
            "application/json; charset=UTF-8",
            Bytes::from(serde_json::to_vec(&Ordered { value: v, order }).unwrap_or_default()),
        ),
        (None, None) => ("application/json; charset=UTF-8", Bytes::new()),
    };
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK))
        .header(header::CONTENT_TYPE, content_type);
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            builder = builder.header(name, v);
        }
    }
    builder.body(body).unwrap_or_else(|_| {
        let mut r = Response::new(Bytes::new());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

pub(crate) fn encode_error(e: &ApiError, api_url: &str) -> Response<Bytes> {
    let mut reply = Reply::json(e.status, e.body(api_url));
    if let Some(secs) = e.retry_after {
        reply = reply.header("retry-after", secs.to_string());
    }
    encode(reply)
}

async fn dispatch(call: &Call<'_>, path: &str) -> Outcome {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let Some((&resource, rest)) = segments.split_first() else {
        return Ok(Reply::json(
            200,
            json!({"documentation": format!("{}/#", call.api_url), "resources": [
                "initSession", "killSession", "getMyProfiles", "getActiveProfile",
                "changeActiveProfile", "getMyEntities", "getActiveEntities",
                "changeActiveEntities", "getFullSession", "getGlpiConfig",
                "listSearchOptions/:itemtype", "search/:itemtype", ":itemtype"
            ]}),
        ));
    };
    match resource {
        "initSession" => init_session(call).await,
        "killSession" => {
            let (token, _) = call.session()?;
            call.server.inner.sessions.kill(&token);
            Ok(Reply::empty())
        }
        "getFullSession" => {
            let (c, s) = call.consumer(Permission::Read).await?;
            Ok(Reply::json(200, json!({"session": full_session(&c, &s)})))
        }
        "getMyProfiles" => {
            let (c, _) = call.consumer(Permission::Read).await?;
            let (id, name, _) = profile_of(&c);
            Ok(Reply::json(
                200,
                json!({"myprofiles": [{
                    "id": id, "name": name,
                    "entities": [{"id": 0, "name": crate::mapping::ROOT_ENTITY, "is_recursive": 1}]
                }]}),
            ))
        }
        "getActiveProfile" => {
            let (c, _) = call.consumer(Permission::Read).await?;
            let (id, name, interface) = profile_of(&c);
            Ok(Reply::json(
                200,
                json!({"active_profile": {"id": id, "name": name, "interface": interface}}),
            ))
        }
        "changeActiveProfile" => {
            let (c, _) = call.consumer(Permission::Read).await?;
            let wanted = call
                .params
                .get("profiles_id")
                .and_then(crate::mapping::as_i64)
                .ok_or_else(|| ApiError::bad_request("Bad Request"))?;
            if wanted != profile_of(&c).0 {
                return Err(ApiError::item_not_found());
            }
            Ok(Reply::empty())
        }
        "getMyEntities" => {
            call.consumer(Permission::Read).await?;
            Ok(Reply::json(
                200,
                json!({"myentities": [{"id": 0, "name": crate::mapping::ROOT_ENTITY}]}),
            ))
        }
        "getActiveEntities" => {
            let (_, s) = call.consumer(Permission::Read).await?;
            Ok(Reply::json(
                200,
                json!({"active_entity": {
                    "id": s.entity,
                    "active_entity_recursive": s.recursive,
                    "active_entities": [{"id": s.entity}]
                }}),
            ))
        }
        "changeActiveEntities" => change_active_entities(call).await,
        "getGlpiConfig" => {
            call.consumer(Permission::Read).await?;
            Ok(Reply::json(
                200,
                json!({"cfg_glpi": {
                    "list_limit": crate::search::LIST_LIMIT,
                    "list_limit_max": 50,
                    "url_base_api": call.api_url,
                    "enable_api": 1,
                    "enable_api_login_credentials": i64::from(call.server.inner.config.allow_credentials_login),
                    "enable_api_login_external_token": 1,
                    "priority_matrix": priority_matrix_cfg(),
                }}),
            ))
        }
        "listSearchOptions" => {
            call.session()?;
            match rest.first() {
                Some(t) if t.eq_ignore_ascii_case("Ticket") => {
                    call.consumer(Permission::Read).await?;
                    Ok(Reply::json(200, crate::search::list_search_options()))
                }
                Some(_) => Err(ApiError::resource_not_found()),
                None => Err(ApiError::resource_missing()),
            }
        }
        "search" => {
            call.session()?;
            match rest.first() {
                Some(t) if t.eq_ignore_ascii_case("Ticket") => listing::search_tickets(call).await,
                Some(t) if t.eq_ignore_ascii_case("User") => listing::search_users(call).await,
                Some(t) if items::Dropdown::parse(t).is_some() => Err(ApiError::unsupported(
                    format!("search on {t} is not supported by ticketgate; list it with GET /{t}"),
                )),
                Some(_) => Err(ApiError::resource_not_found()),
                None => Err(ApiError::resource_missing()),
            }
        }
        "getMultipleItems" => {
            call.session()?;
            items::get_multiple(call).await
        }
        "lostPassword" => {
            call.session()?;
            Err(ApiError::unsupported(format!(
                "{resource} is not supported by ticketgate"
            )))
        }
        _ => {
            call.session()?;
            items::dispatch(call, resource, rest).await
        }
    }
}

async fn init_session(call: &Call<'_>) -> Outcome {
    call.check_app_token()?;
    let cfg = &call.server.inner.config;
    let p = &call.params;
    let app_token = p.app_token.clone().filter(|t| !t.is_empty());
    let credentials = p.login.as_deref().is_some_and(|l| !l.is_empty())
        && p.password.as_deref().is_some_and(|l| !l.is_empty());
    let credential = match (&p.user_token, credentials) {
        (Some(user_token), _) => crate::vendor::user_token(user_token.clone(), app_token),
        (None, true) => {
            if !cfg.allow_credentials_login {
                return Err(ApiError::login_with_credentials_disabled());
            }
            crate::vendor::login(
                p.login.clone().unwrap_or_default(),
                p.password.clone().unwrap_or_default(),
                app_token,
            )
        }
        (None, false) => return Err(ApiError::login_parameters_missing()),
    };
    let by_token = matches!(credential, Credential::Token { .. });
    let consumer = call
        .cx
        .authenticate(&credential)
        .map_err(|e| login_refusal(&e, by_token, call.cx.peer()))?;
    let (profile, _, _) = profile_of(&consumer);
    let token = call
        .server
        .inner
        .sessions
        .open(&consumer.name, profile)
        .map_err(|e| {
            ApiError::from_canonical(
                &Error::internal(format!("no randomness for a session token: {e}")),
                crate::errors::Stage::Read,
            )
        })?;
    let mut body = json!({"session_token": token});
    if call.flag("get_full_session", false)
        && let Some(s) = call.server.inner.sessions.touch(&token)
    {
        body["session"] = full_session(&consumer, &s);
    }
    Ok(Reply::json(200, body))
}

async fn change_active_entities(call: &Call<'_>) -> Outcome {
    let (_, _) = call.consumer(Permission::Read).await?;
    let (token, _) = call.session()?;
    let p = &call.params;
    let recursive = match p.get("is_recursive") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad_request("Bad Request")),
    };
    let entity = match p.get("entities_id") {
        None => 0,
        Some(Value::String(s)) if s == "all" => 0,
        Some(v) => match crate::mapping::as_i64(v) {
            Some(0) => 0,
            // Only the root entity exists behind the gateway.
            _ => return Err(ApiError::bad_request("Bad Request")),
        },
    };
    call.server.inner.sessions.update(&token, |s| {
        s.entity = entity;
        s.recursive = recursive;
    });
    Ok(Reply::json(200, json!(true)))
}

/// The profile a consumer's permissions amount to: (id, name, interface).
fn profile_of(c: &Consumer) -> (i64, &'static str, &'static str) {
    let p = c.permissions;
    if p.has(Permission::Delete) && p.has(Permission::Update) {
        (4, "Super-Admin", "central")
    } else if p.has(Permission::Update) {
        (6, "Technician", "central")
    } else {
        (1, "Self-Service", "helpdesk")
    }
}

fn full_session(c: &Consumer, s: &Session) -> Value {
    let (id, name, interface) = profile_of(c);
    json!({
        "glpiname": c.name.as_ref(),
        "glpifriendlyname": c.name.as_ref(),
        "glpiactive_entity": s.entity,
        "glpiactive_entity_name": crate::mapping::ROOT_ENTITY,
        "glpiactive_entity_recursive": s.recursive,
        "glpiactiveentities": [s.entity],
        "glpiactiveprofile": {"id": id, "name": name, "interface": interface},
        "glpilist_limit": crate::search::LIST_LIMIT,
        "glpilanguage": "en_GB",
    })
}

fn priority_matrix_cfg() -> Value {
    let mut m = serde_json::Map::new();
    for (u, row) in crate::mapping::PRIORITY_MATRIX.iter().enumerate() {
        let mut r = serde_json::Map::new();
        for (i, p) in row.iter().enumerate() {
            r.insert((i + 1).to_string(), json!(p));
        }
        m.insert((u + 1).to_string(), Value::Object(r));
    }
    Value::Object(m)
}
