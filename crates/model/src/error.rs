//! The one error type of ticketgate.
//!
//! Every failure, wherever it happens, is an [`Error`] with a [`ErrorKind`] (what went
//! wrong, in terms a caller can act on), an [`Origin`] (whose fault: the caller's, the
//! upstream's or ours) and a `retryable` flag. Each dialect turns a kind into its own
//! status code and body in exactly one place, so the same failure looks right to an
//! osTicket client, an ITSM-NG client and a canonical client alike.

use std::fmt;
use std::time::Duration;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is malformed or fails validation (400).
    BadInput,
    /// The body's media type is not one this route reads (415).
    UnsupportedMediaType,
    /// The body is larger than the route allows (413).
    PayloadTooLarge,
    /// No valid credential (401).
    Unauthorized,
    /// A valid credential without the permission, or from a network it is not allowed from (403).
    Forbidden,
    /// No such ticket, entry or thing (404).
    NotFound,
    /// The operation conflicts with the current state: a link that would form a cycle, a
    /// ticket that already has a parent (409).
    Conflict,
    /// A quota was exceeded (429); `retry_after` says when to come back.
    RateLimited,
    /// The configured upstream cannot do this operation at all (501).
    Unsupported,
    /// The upstream could not be reached, timed out, is failing or is shielded (502/503/504).
    UpstreamUnavailable,
    /// The upstream understood the request and refused it (mapped from its 4xx).
    UpstreamRejected,
    /// The gateway cannot keep what it would acknowledge: disk full, read-only data dir (503).
    StorageUnavailable,
    /// A bug or an impossible state: never the caller's fault (500).
    Internal,
}

impl ErrorKind {
    /// The HTTP status a dialect without its own convention uses for this kind.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::BadInput | ErrorKind::UpstreamRejected => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::RateLimited => 429,
            ErrorKind::Internal => 500,
            ErrorKind::Unsupported => 501,
            ErrorKind::UpstreamUnavailable => 502,
            ErrorKind::StorageUnavailable => 503,
        }
    }

    /// A stable machine-readable name, used in problem+json `type` URIs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadInput => "bad-input",
            ErrorKind::UnsupportedMediaType => "unsupported-media-type",
            ErrorKind::PayloadTooLarge => "payload-too-large",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not-found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::Unsupported => "unsupported-by-upstream",
            ErrorKind::UpstreamUnavailable => "upstream-unavailable",
            ErrorKind::UpstreamRejected => "upstream-rejected",
            ErrorKind::StorageUnavailable => "storage-unavailable",
            ErrorKind::Internal => "internal",
        }
    }

    /// The short title used in problem+json.
    pub fn title(self) -> &'static str {
        match self {
            ErrorKind::BadInput => "Bad input",
            ErrorKind::UnsupportedMediaType => "Unsupported media type",
            ErrorKind::PayloadTooLarge => "Payload too large",
            ErrorKind::Unauthorized => "Unauthorized",
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::NotFound => "Not found",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::RateLimited => "Too many requests",
            ErrorKind::Unsupported => "Not supported by this upstream",
            ErrorKind::UpstreamUnavailable => "Upstream unavailable",
            ErrorKind::UpstreamRejected => "Upstream rejected the request",
            ErrorKind::StorageUnavailable => "Storage unavailable",
            ErrorKind::Internal => "Internal error",
        }
    }
}

/// Whose fault an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The caller sent something wrong.
    Downstream,
    /// The upstream helpdesk failed or refused.
    Upstream,
    /// The gateway itself.
    Internal,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub origin: Origin,
    /// Human-readable, safe to show to the caller: never contains a secret.
    pub message: String,
    /// The input field at fault, in canonical dotted form (`requester.email`).
    pub field: Option<String>,
    /// Whether sending the same request again later can succeed.
    pub retryable: bool,
    pub retry_after: Option<Duration>,
    /// The upstream's HTTP status when the error came from one.
    pub upstream_status: Option<u16>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let origin = match kind {
            ErrorKind::UpstreamUnavailable
            | ErrorKind::UpstreamRejected
            | ErrorKind::Unsupported => Origin::Upstream,
            ErrorKind::Internal | ErrorKind::StorageUnavailable => Origin::Internal,
            _ => Origin::Downstream,
        };
        let retryable = matches!(
            kind,
            ErrorKind::RateLimited | ErrorKind::UpstreamUnavailable | ErrorKind::StorageUnavailable
        );
        Self {
            kind,
            origin,
            message: message.into(),
            field: None,
            retryable,
            retry_after: None,
            upstream_status: None,
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadInput, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    pub fn upstream_unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UpstreamUnavailable, message)
    }
    pub fn upstream_rejected(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::UpstreamRejected, message)
    }
    /// The gateway's own storage cannot keep anything now (a full disk, a database
    /// restarting): nothing was written, and the caller is told when to try again.
    pub fn storage_unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::StorageUnavailable, message).retry_after(Duration::from_secs(2))
    }

    /// The upstream lacks this operation: always a 501 in the caller's dialect.
    pub fn unsupported(upstream: &str, operation: &str) -> Self {
        Self::new(
            ErrorKind::Unsupported,
            format!("{operation} is not supported by this upstream ({upstream})"),
        )
    }

    pub fn rate_limited(retry_after: Duration) -> Self {
        let mut e = Self::new(ErrorKind::RateLimited, "rate limit exceeded");
        e.retry_after = Some(retry_after);
        e
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    pub fn with_upstream_status(mut self, status: u16) -> Self {
        self.upstream_status = Some(status);
        self
    }

    pub fn with_origin(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    /// The status a dialect without its own convention answers with. An upstream's
    /// 400/404/409/422 is passed on as such, so a caller sees "not found" as 404; an
    /// upstream 401/403 means the GATEWAY's credentials were refused, which is no fault
    /// of the caller's, so it is a 502.
    pub fn http_status(&self) -> u16 {
        match (self.kind, self.upstream_status) {
            (ErrorKind::UpstreamRejected, Some(s @ (400 | 404 | 409 | 422))) => s,
            // A vendor that words its refusal of the request as a 5xx (osTicket's 500
            // "Unable to create new ticket: …") still said the request is wrong.
            (ErrorKind::UpstreamRejected, Some(500..)) => 400,
            (ErrorKind::UpstreamRejected, Some(_)) => 502,
            (ErrorKind::UpstreamUnavailable, Some(504)) => 504,
            (ErrorKind::UpstreamUnavailable, None) if self.retry_after.is_some() => 503,
            _ => self.kind.http_status(),
        }
    }
}

/// What a vendor's error body says beyond its status, as each client face reads it in
/// its own vendor's words (osTicket's text, ITSM-NG's `["ERROR_…"]`, a problem+json).
/// The body only ever sharpens the status; [`classify_upstream`] decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamHint {
    /// Nothing recognised: the status alone decides.
    #[default]
    None,
    /// The vendor refused THIS request (validation, a filter, a ban), whatever status
    /// it chose to say it with: sending it again cannot help.
    Refused,
    /// The vendor refused the gateway's credentials or rights.
    CredentialsRefused,
    /// The vendor says the thing named does not exist.
    NotFound,
    /// The vendor says: come back later (busy, in progress, maintenance).
    TryLater,
    /// The vendor failed and says a retry will not help (a chained ticketgate's
    /// non-retryable 5xx, such as an answer from its own upstream it could not read).
    Fault,
    /// The vendor cannot do this operation at all.
    Unsupported,
}

/// How a vendor answered a call that did not succeed: its status, what its body says,
/// its words for the caller (already stripped of anything secret), its `Retry-After`.
#[derive(Debug, Clone, Default)]
pub struct UpstreamAnswer<'a> {
    pub status: u16,
    pub hint: UpstreamHint,
    pub message: &'a str,
    pub retry_after: Option<Duration>,
}

/// How a call to a vendor failed before any answer could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamTransport {
    /// No connection could be made (refused, unreachable, DNS).
    Connect,
    /// No complete answer within the deadline, in milliseconds.
    Timeout(u64),
    /// The exchange broke off half-way.
    Broken,
}

/// THE classification of upstream failures, for every client face (osTicket, ITSM-NG,
/// TicketsApi, a chained ticketgate): **permanent** (`retryable == false`: the request
/// is wrong, the credentials are refused, the vendor says no — never queued, dead-lettered
/// at once when it was) or **temporary** (`retryable`: unreachable, timed out, 408, 429,
/// 5xx without a refusal in the body — queued and retried).
///
/// `vendor` names the upstream in the message ("osTicket", "ITSM-NG", …).
pub fn classify_upstream(vendor: &str, answer: &UpstreamAnswer<'_>) -> Error {
    let status = answer.status;
    let text = answer.message.trim();
    let said = if text.is_empty() {
        format!("{vendor} answered {status}")
    } else {
        text.to_owned()
    };
    let e = match (answer.hint, status) {
        (UpstreamHint::Unsupported, _) | (_, 501) => Error::new(
            ErrorKind::Unsupported,
            format!("not supported by this {vendor}: {said}"),
        ),
        (UpstreamHint::CredentialsRefused, _) | (UpstreamHint::None, 401 | 403) => {
            Error::upstream_rejected(format!(
                "{vendor} refused the gateway's credentials ({status}): {said}"
            ))
            .with_upstream_status(if status == 403 { 403 } else { 401 })
        }
        (UpstreamHint::NotFound, _) | (UpstreamHint::None, 404 | 410) => {
            Error::upstream_rejected(said).with_upstream_status(404)
        }
        (UpstreamHint::Refused, _) => Error::upstream_rejected(said).with_upstream_status(status),
        (UpstreamHint::Fault, _) => {
            Error::upstream_unavailable(format!("{vendor} failed ({status}): {said}"))
                .retryable(false)
                .with_upstream_status(502)
        }
        (UpstreamHint::TryLater, _) | (_, 408 | 429 | 500..=599) => {
            Error::upstream_unavailable(format!("{vendor} failed ({status}): {said}"))
                .with_upstream_status(status)
        }
        // Any other 4xx — and a 1xx/3xx no vendor API answers when reached at the right
        // URL (a redirect to a login page is a wrong configuration) — is permanent.
        _ => Error::upstream_rejected(said).with_upstream_status(status),
    };
    match answer.retry_after {
        Some(after) if e.retryable => e.retry_after(after),
        _ => e,
    }
}

/// A call that got no answer to classify: always temporary.
pub fn upstream_transport_error(vendor: &str, how: UpstreamTransport) -> Error {
    match how {
        UpstreamTransport::Connect => {
            Error::upstream_unavailable(format!("cannot connect to {vendor}"))
        }
        UpstreamTransport::Timeout(ms) => {
            Error::upstream_unavailable(format!("{vendor} did not answer within {ms} ms"))
                .with_upstream_status(504)
        }
        UpstreamTransport::Broken => {
            Error::upstream_unavailable(format!("the exchange with {vendor} broke off"))
        }
    }
}

/// A vendor answered with a body the client face cannot read (not the JSON its API
/// promises, a field missing). The same in every client: a fault of the upstream (it
/// counts against its circuit, 502 to the caller) but **permanent** — sending the same
/// request again gets the same answer, and a create the vendor may already have stored
/// must not be sent twice.
pub fn upstream_unreadable(vendor: &str, detail: impl fmt::Display) -> Error {
    Error::upstream_unavailable(format!(
        "{vendor} sent a response ticketgate cannot read: {detail}"
    ))
    .retryable(false)
    .with_upstream_status(502)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::bad_input(format!("invalid JSON: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_carry_origin_and_retryability() {
        let e = Error::upstream_unavailable("down");
        assert_eq!(e.origin, Origin::Upstream);
        assert!(e.retryable);
        let e = Error::bad_input("no");
        assert_eq!(e.origin, Origin::Downstream);
        assert!(!e.retryable);
        assert_eq!(
            Error::unsupported("osticket-core", "search").http_status(),
            501
        );
    }

    fn answer(status: u16, hint: UpstreamHint) -> Error {
        classify_upstream(
            "osTicket",
            &UpstreamAnswer {
                status,
                hint,
                message: "no",
                retry_after: Some(Duration::from_secs(3)),
            },
        )
    }

    #[test]
    fn one_classification_permanent_or_temporary() {
        // Temporary: the same request later can succeed.
        for status in [408, 429, 500, 502, 503, 504] {
            let e = answer(status, UpstreamHint::None);
            assert!(e.retryable, "{status}");
            assert_eq!(e.kind, ErrorKind::UpstreamUnavailable);
            assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
        }
        assert!(answer(200, UpstreamHint::TryLater).retryable);
        let e = answer(502, UpstreamHint::Fault);
        assert!(!e.retryable);
        assert_eq!(
            (e.kind, e.http_status()),
            (ErrorKind::UpstreamUnavailable, 502)
        );
        // Permanent: the request, the credentials or the vendor's will.
        for status in [400, 401, 403, 404, 405, 409, 413, 415, 422, 302] {
            let e = answer(status, UpstreamHint::None);
            assert!(!e.retryable, "{status}");
            assert_eq!(e.retry_after, None);
        }
        let e = answer(500, UpstreamHint::Refused);
        assert!(!e.retryable);
        assert_eq!(e.kind, ErrorKind::UpstreamRejected);
        assert_eq!(
            e.http_status(),
            400,
            "a validation refusal is the caller's 400"
        );
        assert_eq!(answer(401, UpstreamHint::None).http_status(), 502);
        assert_eq!(
            answer(400, UpstreamHint::CredentialsRefused).http_status(),
            502
        );
        assert_eq!(answer(400, UpstreamHint::NotFound).http_status(), 404);
        assert_eq!(answer(501, UpstreamHint::None).http_status(), 501);
        assert!(!answer(501, UpstreamHint::None).retryable);
        assert_eq!(answer(504, UpstreamHint::None).http_status(), 504);
    }

    #[test]
    fn transport_is_temporary_and_unreadable_is_permanent() {
        for how in [
            UpstreamTransport::Connect,
            UpstreamTransport::Timeout(10),
            UpstreamTransport::Broken,
        ] {
            assert!(upstream_transport_error("ITSM-NG", how).retryable);
        }
        let e = upstream_unreadable("TicketsApi", "expected a number");
        assert!(!e.retryable);
        assert_eq!(e.kind, ErrorKind::UpstreamUnavailable);
        assert_eq!(e.http_status(), 502);
    }

    #[test]
    fn upstream_client_errors_keep_their_status() {
        let e = Error::upstream_rejected("gone").with_upstream_status(404);
        assert_eq!(e.http_status(), 404);
        let e = Error::upstream_rejected("bad gateway key").with_upstream_status(401);
        assert_eq!(e.http_status(), 502);
    }
}
