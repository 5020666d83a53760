//! The Request Tracker server face, mounted at RT's `/REST` (configurable, e.g.
//! `/rt/REST` for an RT whose WebPath was `/rt`):
//!
//! - `/REST/2.0/…`: RT 5's REST 2.0 — tickets (create, get, update, delete,
//!   correspond, comment, take / untake / steal, history, attachments), transactions,
//!   attachments, ticket search in TicketSQL, queues and users — authenticated with
//!   `Authorization: token …` (a consumer's `rt_token`), answering with RT's statuses,
//!   `Location` headers, `_hyperlinks` and `{"message": …}` errors.
//! - `/REST/1.0/NoAuth/mail-gateway`: RT's mail gateway, as `rt-mailgate` calls it.
//!   RT's gateway takes no credential; here it acts as one configured consumer
//!   (`mail_consumer`) and only for callers in `mail_networks` (loopback by default),
//!   and mail goes the same way as `ticketgate pipe`.

mod form;
mod mailgate;
mod rest;
pub mod ticketsql;
pub mod wire;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use serde::Deserialize;
use ticketgate_model::{
    Admission, BodyClass, Cidr, Credential, Error, ErrorKind, GatewayContext, Permission,
    ServerFace,
};

/// `[dialects.rt]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Where RT's `/REST` is mounted: REST 2.0 is under `{prefix}/2.0/`, the mail gateway
    /// at `{prefix}/1.0/NoAuth/mail-gateway`.
    pub prefix: String,
    /// The queue of tickets in no department (RT's stock `General`). Every other queue
    /// is one of the helpdesk's departments, by name or id.
    pub default_queue: String,
    /// RT's `$rtname`: a reply whose subject carries `[rtname #N]` threads onto ticket N.
    pub rtname: String,
    /// The consumer mail through the mail gateway acts as. Unset: no mail gateway.
    pub mail_consumer: Option<String>,
    /// Who may call the mail gateway (CIDRs), besides the consumer's own `networks`.
    pub mail_networks: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            prefix: "/REST".to_owned(),
            default_queue: "General".to_owned(),
            rtname: "example.com".to_owned(),
            mail_consumer: None,
            mail_networks: vec!["127.0.0.0/8".to_owned(), "::1/128".to_owned()],
        }
    }
}

impl ServerConfig {
    /// The errors name the key, without the `dialects.rt.` in front.
    pub fn validate(&self) -> Result<(), String> {
        if self.default_queue.trim().is_empty() {
            return Err("default_queue must not be empty".into());
        }
        if self.rtname.trim().is_empty() {
            return Err("rtname must not be empty".into());
        }
        for n in &self.mail_networks {
            n.parse::<Cidr>()
                .map_err(|e| format!("mail_networks: {e}"))?;
        }
        Ok(())
    }
}

/// The RT dialect's server face.
pub struct RtServer {
    config: ServerConfig,
    mail_networks: Vec<Cidr>,
}

impl RtServer {
    pub fn new(config: ServerConfig) -> Self {
        let mail_networks = config
            .mail_networks
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        Self {
            config,
            mail_networks,
        }
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }
}

/// Where a request under the mount goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Area {
    /// `/2.0/…`, with the rest of the path split at `/`.
    Rest(Vec<String>),
    MailGateway,
    Other,
}

fn area(path: &str) -> Area {
    // `rt-mailgate --url http://host/` asks for `//REST/…`: empty segments are skipped.
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["2.0", rest @ ..] => Area::Rest(rest.iter().map(|s| (*s).to_owned()).collect()),
        ["1.0", "NoAuth", "mail-gateway"] => Area::MailGateway,
        _ => Area::Other,
    }
}

/// The credential of a REST 2.0 request: `Authorization: token …`, or HTTP Basic
/// with the consumer's name as the user and its `rt_token` as the password (the `rt`
/// library's `http_auth`). With Basic, the user it names is returned too: it must be
/// the consumer the token belongs to.
fn credential(headers: &http::HeaderMap) -> (Credential, Option<String>) {
    let Some((scheme, value)) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
    else {
        return (Credential::Missing, None);
    };
    let value = value.trim();
    if scheme.eq_ignore_ascii_case("token") && !value.is_empty() {
        return (token(value), None);
    }
    if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        if let Some((user, password)) = decoded.as_deref().and_then(|d| d.split_once(':'))
            && !password.is_empty()
        {
            return (token(password), Some(user.to_owned()));
        }
    }
    (Credential::Missing, None)
}

/// A consumer's `rt_token`, as presented.
fn token(value: &str) -> Credential {
    Credential::Token {
        key: crate::vendor::RT_TOKEN.name,
        value: value.to_owned(),
        also: None,
    }
}

/// The head phase: check the credential through the gateway, without a quota token.
fn check(
    cx: &dyn GatewayContext,
    headers: &http::HeaderMap,
    need: Option<Permission>,
) -> Result<ticketgate_model::Consumer, Error> {
    let (credential, user) = credential(headers);
    let consumer = cx.admit(&credential, need)?;
    owned_by(cx, user, consumer)
}

/// Check the credential through the gateway and take a token from the consumer's quota.
async fn check_and_take(
    cx: &dyn GatewayContext,
    headers: &http::HeaderMap,
    need: Permission,
) -> Result<ticketgate_model::Consumer, Error> {
    let (credential, user) = credential(headers);
    let consumer = cx.authorize(&credential, need).await?;
    owned_by(cx, user, consumer)
}

/// Basic auth names a user: it must be the consumer the token stands for.
fn owned_by(
    cx: &dyn GatewayContext,
    user: Option<String>,
    consumer: ticketgate_model::Consumer,
) -> Result<ticketgate_model::Consumer, Error> {
    if let Some(user) = user
        && !user.eq_ignore_ascii_case(&consumer.name)
    {
        cx.failed_authentication();
        return Err(Error::unauthorized("the user does not own this token"));
    }
    Ok(consumer)
}

/// RT's JSON error: `{"message": …}`. RT words a refused credential `Unauthorized`
/// and a missing resource `Not Found`.
pub fn error_response(e: &Error) -> Response<Bytes> {
    let status = match e.kind {
        ErrorKind::Unauthorized => 401,
        ErrorKind::NotFound => 404,
        _ => e.http_status(),
    };
    let message = match e.kind {
        ErrorKind::Unauthorized => "Unauthorized".to_owned(),
        ErrorKind::NotFound if e.origin != ticketgate_model::Origin::Upstream => {
            "Not Found".to_owned()
        }
        _ => e.message.clone(),
    };
    let mut r = json_response(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &serde_json::json!({ "message": message }),
        false,
    );
    if let Some(after) = e.retry_after {
        r.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(after.as_secs().max(1)),
        );
    }
    r
}

/// A JSON answer. RT sends `charset=utf-8` on creates and errors and `charset="utf-8"`
/// (quoted) on reads, updates and replies.
pub fn json_response(
    status: StatusCode,
    body: &serde_json::Value,
    quoted: bool,
) -> Response<Bytes> {
    let ct = if quoted {
        "application/json; charset=\"utf-8\""
    } else {
        "application/json; charset=utf-8"
    };
    let body = serde_json::to_vec(body).unwrap_or_default();
    let mut r = Response::new(Bytes::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

#[async_trait]
impl ServerFace for RtServer {
    fn dialect(&self) -> &'static str {
        "rt"
    }

    fn body_class(&self, method: &Method, path: &str) -> BodyClass {
        match area(path) {
            Area::MailGateway => BodyClass::Email,
            Area::Rest(seg) if *method == Method::POST => match seg.as_slice() {
                [t] if t == "ticket" => BodyClass::Upload,
                [t, _, action]
                    if t == "ticket" && (action == "correspond" || action == "comment") =>
                {
                    BodyClass::Upload
                }
                _ => BodyClass::Standard,
            },
            _ => BodyClass::Standard,
        }
    }

    fn admit(
        &self,
        path: &str,
        head: &mut http::request::Parts,
        cx: &dyn GatewayContext,
    ) -> Result<Admission, Response<Bytes>> {
        match area(path) {
            Area::MailGateway => self
                .mail_admit(cx)
                .map(|_| Admission::Verified)
                .map_err(|e| mailgate::refusal(&e)),
            Area::Rest(seg) => {
                let need = rest::need(&head.method, &seg);
                check(cx, &head.headers, need)
                    .map(|_| Admission::Verified)
                    .map_err(|e| error_response(&e))
            }
            Area::Other => Err(error_response(&Error::not_found("no such path"))),
        }
    }

    async fn handle(
        &self,
        path: &str,
        request: Request<Bytes>,
        cx: &dyn GatewayContext,
    ) -> Response<Bytes> {
        match area(path) {
            Area::MailGateway => mailgate::handle(self, request, cx).await,
            Area::Rest(seg) => match rest::handle(self, &seg, request, cx).await {
                Ok(r) => r,
                Err(e) => error_response(&e),
            },
            Area::Other => error_response(&Error::not_found("no such path")),
        }
    }

    fn error_response(&self, error: &Error) -> Response<Bytes> {
        error_response(error)
    }

    fn error_response_at(&self, path: &str, error: &Error) -> Response<Bytes> {
        match area(path) {
            Area::MailGateway => mailgate::refusal(error),
            _ => error_response(error),
        }
    }
}

impl RtServer {
    /// The mail gateway's caller: a configured consumer, from an allowed network.
    fn mail_admit(&self, cx: &dyn GatewayContext) -> Result<ticketgate_model::Consumer, Error> {
        let Some(name) = &self.config.mail_consumer else {
            return Err(Error::forbidden(
                "the mail gateway is not enabled (dialects.rt.mail_consumer is not set)",
            ));
        };
        if !self.mail_networks.iter().any(|n| n.contains(cx.peer())) {
            cx.failed_authentication();
            return Err(Error::forbidden(format!(
                "{} may not deliver mail here (dialects.rt.mail_networks)",
                cx.peer()
            )));
        }
        cx.admit(
            &Credential::Session {
                consumer: name.clone(),
            },
            Some(Permission::Create),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas() {
        assert_eq!(
            area("/2.0/ticket/1"),
            Area::Rest(vec!["ticket".into(), "1".into()])
        );
        assert_eq!(area("/1.0/NoAuth/mail-gateway"), Area::MailGateway);
        assert_eq!(area("//1.0/NoAuth/mail-gateway"), Area::MailGateway);
        assert_eq!(area("/1.0/ticket/1"), Area::Other);
        assert_eq!(area(""), Area::Other);
    }

    #[test]
    fn token_credentials() {
        let mut h = http::HeaderMap::new();
        assert_eq!(credential(&h), (Credential::Missing, None));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("token abc"));
        assert_eq!(credential(&h), (token("abc"), None));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(credential(&h).0, Credential::Missing);
        // demo:abc
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic ZGVtbzphYmM="),
        );
        assert_eq!(credential(&h), (token("abc"), Some("demo".into())));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!"));
        assert_eq!(credential(&h).0, Credential::Missing);
    }

    #[test]
    fn errors_in_rt_words() {
        let r = error_response(&Error::unauthorized("the credentials are not valid"));
        assert_eq!(r.status(), 401);
        assert_eq!(&r.body()[..], br#"{"message":"Unauthorized"}"#);
        let r = error_response(&Error::not_found("ticket 9 not found"));
        assert_eq!(r.status(), 404);
        assert!(String::from_utf8_lossy(r.body()).contains("Not Found"));
    }
}
