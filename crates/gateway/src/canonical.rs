//! The canonical API (`/v1`): ticketgate's own dialect, JSON or XML, over every operation.
//!
//! It is a server face like the vendor dialects, so it gets nothing they do not:
//! authentication, quotas, idempotency and the outbox come through the
//! [`GatewayContext`]. Errors are RFC 9457 `application/problem+json`.

mod problem;
mod routes;

pub use problem::problem_response;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, header};
use serde::Serialize;
use ticketgate_model::{Admission, Credential, Error, GatewayContext, ServerFace};
use ticketgate_store::GatewayState;

pub struct CanonicalFace {
    prefix: String,
    /// To answer `GET /tickets/{tracking-id}` for creates still in the outbox.
    state: GatewayState,
}

impl CanonicalFace {
    pub fn new(prefix: &str, state: GatewayState) -> Self {
        Self {
            prefix: prefix.to_owned(),
            state,
        }
    }
}

#[async_trait]
impl ServerFace for CanonicalFace {
    fn dialect(&self) -> &'static str {
        "canonical"
    }

    fn body_class(
        &self,
        method: &http::Method,
        path: &str,
    ) -> ticketgate_model::dialect::BodyClass {
        use ticketgate_model::dialect::BodyClass;
        if method == http::Method::POST && (path == "/tickets" || path.ends_with("/attachments")) {
            // Creates may carry a whole email or attachments.
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
        // An unknown route is answered by `handle` (404 or 405) on a small body.
        let Some(need) = routes::permission(&head.method, path) else {
            return Ok(Admission::Unverified);
        };
        match cx.admit(&credential(&head.headers), Some(need)) {
            Ok(_) => Ok(Admission::Verified),
            Err(e) => Err(problem_response(&e)),
        }
    }

    async fn handle(
        &self,
        path: &str,
        request: Request<Bytes>,
        cx: &dyn GatewayContext,
    ) -> Response<Bytes> {
        let format = Format::for_response(request.headers());
        match routes::dispatch(self, path, request, cx, format).await {
            Ok(response) => response,
            Err(e) => problem_response(&e),
        }
    }

    fn error_response(&self, error: &Error) -> Response<Bytes> {
        problem_response(error)
    }
}

/// The representation a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    fn for_response(headers: &HeaderMap) -> Self {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if accept.contains("application/xml") || accept.contains("text/xml") {
            Format::Xml
        } else {
            Format::Json
        }
    }
}

/// The credential of a canonical request: `Authorization: Bearer KEY`.
fn credential(headers: &HeaderMap) -> Credential {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Credential::Missing;
    };
    match value.split_once(' ') {
        Some((scheme, key)) if scheme.eq_ignore_ascii_case("bearer") && !key.trim().is_empty() => {
            Credential::Token {
                key: crate::vendors::BEARER_KEY.name,
                value: key.trim().to_owned(),
                also: None,
            }
        }
        _ => Credential::Missing,
    }
}

/// Encode a value in the requested format.
fn respond<T: Serialize>(
    status: StatusCode,
    format: Format,
    root: &str,
    value: &T,
) -> Result<Response<Bytes>, Error> {
    let (body, content_type) = match format {
        Format::Json => (
            serde_json::to_vec(value)
                .map_err(|e| Error::internal(format!("JSON encoding failed: {e}")))?,
            "application/json",
        ),
        Format::Xml => (
            ticketgate_model::xml::to_xml(root, value)?.into_bytes(),
            "application/xml",
        ),
    };
    Ok(Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Bytes::from(body))
        .expect("static headers are valid"))
}
