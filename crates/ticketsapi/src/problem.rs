//! Errors as ASP.NET Core writes them: `application/problem+json` ProblemDetails, with
//! an `errors` map of field → messages for validation failures. Every canonical
//! [`Error`] becomes a response here, and nowhere else.

use bytes::Bytes;
use http::{Response, StatusCode, header};
use serde::Serialize;
use std::collections::BTreeMap;
use ticketgate_model::{Error, ErrorKind};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProblemDetails {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, Vec<String>>,
}

/// The RFC 9110 section ASP.NET links for each status.
fn type_uri(status: u16) -> &'static str {
    match status {
        400 => "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        401 => "https://tools.ietf.org/html/rfc9110#section-15.5.2",
        403 => "https://tools.ietf.org/html/rfc9110#section-15.5.4",
        404 => "https://tools.ietf.org/html/rfc9110#section-15.5.5",
        409 => "https://tools.ietf.org/html/rfc9110#section-15.5.10",
        413 => "https://tools.ietf.org/html/rfc9110#section-15.5.14",
        415 => "https://tools.ietf.org/html/rfc9110#section-15.5.16",
        429 => "https://tools.ietf.org/html/rfc6585#section-4",
        501 => "https://tools.ietf.org/html/rfc9110#section-15.6.2",
        502 => "https://tools.ietf.org/html/rfc9110#section-15.6.3",
        503 => "https://tools.ietf.org/html/rfc9110#section-15.6.4",
        504 => "https://tools.ietf.org/html/rfc9110#section-15.6.5",
        _ => "https://tools.ietf.org/html/rfc9110#section-15.6.1",
    }
}

/// The TicketsApi form field a canonical field name stands for.
pub fn vendor_field(canonical: &str) -> String {
    match canonical {
        "subject" => "Title",
        "body" => "Description",
        "requester" | "requester.id" => "CreatorId",
        "requester.email" => "Email",
        "requester.username" => "Requester",
        "status" => "TicketStatusId",
        "priority" => "TicketPriorityId",
        "category" => "TicketCategoryId",
        "topic" => "TicketSubCategoryId",
        "department" => "DepartmentId",
        "location" => "SiteId",
        "group" => "GroupId",
        "team" => "TierLevelId",
        "entity" => "ClientId",
        "assignee" => "AssignedUser",
        "sla" => "SLAId",
        "urgency" => "UrgencyId",
        "impact" => "ImpactId",
        "due_at" => "DueDate",
        "type" => "TicketType",
        "attachments" => "Uploads",
        "cc" => "Cc",
        other => return other.to_owned(),
    }
    .to_owned()
}

/// The status a TicketsApi client gets for an error.
pub fn status_of(e: &Error) -> u16 {
    match e.kind {
        ErrorKind::BadInput => 400,
        // TicketsApi reports business-rule violations as plain 400s.
        ErrorKind::Conflict => 400,
        ErrorKind::Unauthorized => 401,
        ErrorKind::Forbidden => 403,
        ErrorKind::NotFound => 404,
        ErrorKind::PayloadTooLarge => 413,
        ErrorKind::UnsupportedMediaType => 415,
        ErrorKind::RateLimited => 429,
        ErrorKind::Unsupported => 501,
        ErrorKind::UpstreamUnavailable => match e.upstream_status {
            Some(504) => 504,
            _ => 503,
        },
        ErrorKind::StorageUnavailable => 503,
        ErrorKind::UpstreamRejected => e.http_status(),
        ErrorKind::Internal => 500,
    }
}

/// An error as a ProblemDetails response.
pub fn error_response(e: &Error) -> Response<Bytes> {
    let status = status_of(e);
    let mut errors = BTreeMap::new();
    let (title, detail) = if status == 400 {
        let field = e.field.as_deref().map(vendor_field).unwrap_or_default();
        errors.insert(field, vec![e.message.clone()]);
        ("One or more validation errors occurred.".to_owned(), None)
    } else {
        (
            StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error")
                .to_owned(),
            Some(e.message.clone()),
        )
    };
    let body = ProblemDetails {
        kind: type_uri(status),
        title,
        status,
        detail,
        errors,
    };
    let mut builder = Response::builder().status(status).header(
        header::CONTENT_TYPE,
        "application/problem+json; charset=utf-8",
    );
    if status == 401 {
        // ASP.NET's JwtBearer handler names the failure in the challenge.
        let desc: String = e
            .message
            .chars()
            .map(|c| match c {
                '"' | '\\' => '\'',
                c if c == ' ' || c.is_ascii_graphic() => c,
                _ => '?',
            })
            .collect();
        builder = builder.header(
            header::WWW_AUTHENTICATE,
            format!("Bearer error=\"invalid_token\", error_description=\"{desc}\""),
        );
    }
    if matches!(status, 429 | 503) {
        let secs = e.retry_after.map(|d| d.as_secs().max(1)).unwrap_or(5);
        builder = builder.header(header::RETRY_AFTER, secs.to_string());
    }
    let json = serde_json::to_vec(&body).unwrap_or_default();
    builder.body(Bytes::from(json)).unwrap_or_else(|_| {
        let mut r = Response::new(Bytes::new());
        *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        r
    })
}
