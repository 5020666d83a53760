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
    pub fn storage_unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::StorageUnavailable, message)
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
            (ErrorKind::UpstreamRejected, Some(_)) => 502,
            (ErrorKind::UpstreamUnavailable, Some(504)) => 504,
            (ErrorKind::UpstreamUnavailable, None) if self.retry_after.is_some() => 503,
            _ => self.kind.http_status(),
        }
    }
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

    #[test]
    fn upstream_client_errors_keep_their_status() {
        let e = Error::upstream_rejected("gone").with_upstream_status(404);
        assert_eq!(e.http_status(), 404);
        let e = Error::upstream_rejected("bad gateway key").with_upstream_status(401);
        assert_eq!(e.http_status(), 502);
    }
}
