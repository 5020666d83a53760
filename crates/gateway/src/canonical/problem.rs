//! RFC 9457 problem details: the canonical API's one error format.

use bytes::Bytes;
use http::{Response, StatusCode, header};
use serde::Serialize;
use ticketgate_model::Error;

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    retryable: bool,
}

pub fn problem_response(e: &Error) -> Response<Bytes> {
    problem_with_status(e, e.http_status())
}

/// A problem whose status is more precise than its kind's (405, 422).
pub fn problem_with_status(e: &Error, status: u16) -> Response<Bytes> {
    let problem = Problem {
        kind: format!("https://ticketgate.dev/problems/{}", e.kind.as_str()),
        title: e.kind.title(),
        status,
        detail: &e.message,
        field: e.field.as_deref(),
        retryable: e.retryable,
    };
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut b = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/problem+json");
    if let Some(after) = e.retry_after {
        b = b.header(header::RETRY_AFTER, crate::ratelimit::ceil_secs(after));
    }
    if status == 401 {
        b = b.header(header::WWW_AUTHENTICATE, "Bearer realm=\"ticketgate\"");
    }
    b.body(Bytes::from(body)).expect("static headers are valid")
}
