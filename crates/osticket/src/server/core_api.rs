//! The core API: `POST tickets.json`, `tickets.xml`, `tickets.email`.

use super::{OsticketServer, authorize, status_of, text_response, with_retry_after};
use crate::decode::{CreateFormat, VALIDATION_HEADER, decode_request};
use crate::wire::{CreateResponse, WireId};
use bytes::Bytes;
use http::{Method, Request, Response};
use ticketgate_model::{
    CreateOptions, Created, Error, ErrorKind, GatewayContext, Ingested, LookupKind, Permission,
    Reference, Ticket,
};

/// The `Retry-After` of a 503 when the upstream named no time of its own.
const UNAVAILABLE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// The longest `Idempotency-Key` taken; a longer one is a client mistake.
const MAX_IDEMPOTENCY_KEY: usize = 255;

pub(super) async fn handle(
    face: &OsticketServer,
    ext: &str,
    req: Request<Bytes>,
    cx: &dyn GatewayContext,
) -> Response<Bytes> {
    // osTicket routes only `POST tickets.(xml|json|email)` (`api/http.php`, `url_post`):
    // any other method or extension is "no such URL" to it, answered before the key is
    // looked at (`include/class.dispatcher.php`: 400 `URL not supported`). Clients that
    // probe with a GET see the same here.
    let format = match ext {
        "json" => Some(CreateFormat::Json),
        "xml" => Some(CreateFormat::Xml),
        "email" => None,
        _ => return url_not_supported(),
    };
    if req.method() != Method::POST {
        return url_not_supported();
    }
    let result = match format {
        Some(format) => create(face, format, req, cx).await,
        None => email(face, req, cx).await,
    };
    result.unwrap_or_else(|e| error_response(&e))
}

async fn create(
    face: &OsticketServer,
    format: CreateFormat,
    req: Request<Bytes>,
    cx: &dyn GatewayContext,
) -> Result<Response<Bytes>, Error> {
    let consumer = authorize(cx, req.headers(), Permission::Create).await?;
    let idempotency_key = idempotency_key(&req)?;
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let mut ticket = decode_request(format, content_type, req.body())?;
    // Checked here too, so a create the outbox would hold is refused now, not later.
    ticket.validate().map_err(as_validation)?;
    if let Some(parent) = ticket.parent.clone() {
        ticket.parent = Some(parent_id(cx, &consumer, &parent).await?);
    }
    if let Some(topic) = ticket.topic.take() {
        ticket.topic = known(cx, &consumer, LookupKind::Topics, topic).await;
    }
    if let Some(priority) = ticket.priority.take() {
        ticket.priority = known(cx, &consumer, LookupKind::Priorities, priority).await;
    }
    let options = CreateOptions {
        idempotency_key,
        may_queue: face.config.queue_creates,
        // osTicket answers the number alone: nothing is read back.
        brief: true,
    };
    let created = cx
        .create(&consumer, ticket, options)
        .await
        .map_err(as_validation)?;
    Ok(match created {
        Created::Ticket(t) | Created::Replayed(t) => created_response(face, &t),
        // Only reachable with `queue_creates`: wait for delivery up to the bound, else
        // the client that opted in reads the tracking id.
        Created::Queued { tracking_id } => {
            let wait = std::time::Duration::from_millis(face.config.queue_wait_ms);
            match cx.await_delivery(&tracking_id, wait).await {
                Ok(Some(t)) if !wait.is_zero() => created_response(face, &t),
                _ => text_response(202, &tracking_id),
            }
        }
    })
}

/// The plugin's `parentTicketId` is a number or an id: a number is looked up first.
async fn parent_id(
    cx: &dyn GatewayContext,
    consumer: &ticketgate_model::Consumer,
    parent: &str,
) -> Result<String, Error> {
    let h = cx.helpdesk(consumer);
    match h.get_by_number(parent).await {
        Ok(t) => Ok(t.id),
        Err(e) if matches!(e.kind, ErrorKind::NotFound | ErrorKind::Unsupported) => {
            Ok(parent.to_owned())
        }
        Err(e) if e.kind == ErrorKind::UpstreamRejected && e.upstream_status == Some(404) => {
            Ok(parent.to_owned())
        }
        Err(e) => Err(e),
    }
}

/// A help topic or a priority as osTicket treats it on create: kept when the helpdesk
/// knows it, dropped (the ticket is still created, with the default) when it does not
/// (`include/class.ticket.php`, `create`: `Topic::lookup` and the priority look-up
/// fail silently; verified against the live osTicket, tests/live_osticket_diff.rs).
/// An upstream that cannot list them (or not now) gets the value as sent and decides
/// itself: the look-up never stands between a client and its create.
async fn known(
    cx: &dyn GatewayContext,
    consumer: &ticketgate_model::Consumer,
    kind: LookupKind,
    wanted: Reference,
) -> Option<Reference> {
    match cx.helpdesk(consumer).lookup(kind).await {
        Ok(items) => {
            let id = wanted.id.as_deref();
            let name = wanted.name.as_deref();
            let found = items.iter().any(|i| {
                id.is_some_and(|id| i.id == id)
                    || name.is_some_and(|n| i.name.eq_ignore_ascii_case(n))
            });
            if !found {
                tracing::info!(
                    kind = kind.as_str(),
                    value = wanted.label(),
                    "unknown value ignored, as osTicket does"
                );
            }
            found.then_some(wanted)
        }
        Err(_) => Some(wanted),
    }
}

fn created_response(face: &OsticketServer, t: &Ticket) -> Response<Bytes> {
    if face.config.plugin_create_response {
        return super::plugin_response(
            201,
            super::OutFormat::Json,
            &CreateResponse {
                ticket_id: WireId::new(&t.id),
                number: t.number.clone(),
                subject: t.subject.clone(),
                message: "Ticket created successfully".to_owned(),
            },
        );
    }
    text_response(201, &t.number)
}

/// A refusal by the helpdesk reads like osTicket's own validation failure.
fn as_validation(e: Error) -> Error {
    if e.kind != ErrorKind::BadInput || e.message.starts_with(VALIDATION_HEADER) {
        return e;
    }
    let field = e.field.clone().unwrap_or_else(|| "ticket".to_owned());
    let message = format!(
        "{VALIDATION_HEADER}\n{}: {}",
        osticket_field(&field),
        e.message
    );
    Error { message, ..e }
}

/// The osTicket name of a canonical field, for messages.
fn osticket_field(canonical: &str) -> &str {
    match canonical {
        "requester.name" => "name",
        "requester.email" | "requester" => "email",
        "requester.phone" => "phone",
        "body" => "message",
        "client_ip" => "ip",
        "topic" => "topicId",
        "department" => "departmentId",
        "due_at" => "duedate",
        "parent" => "parentTicketId",
        other => other,
    }
}

fn idempotency_key(req: &Request<Bytes>) -> Result<Option<String>, Error> {
    let Some(v) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .map_err(|_| Error::bad_input("Idempotency-Key must be visible ASCII"))?
        .trim();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(Error::bad_input(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters"
        )));
    }
    Ok(Some(key.to_owned()))
}

/// osTicket's answer to a URL it does not route.
pub(crate) fn url_not_supported() -> Response<Bytes> {
    text_response(400, "URL not supported")
}

/// `tickets.email`: the raw message goes to the gateway's mail ingestion. Queued only
/// with `queue_creates`, like every other create on this face: osTicket has no 202, so
/// without it a message the upstream cannot take now is a retryable 503 and nothing
/// is kept (the sender's mail system sends it again).
async fn email(
    face: &OsticketServer,
    req: Request<Bytes>,
    cx: &dyn GatewayContext,
) -> Result<Response<Bytes>, Error> {
    let consumer = authorize(cx, req.headers(), Permission::Create).await?;
    if req.body().iter().all(u8::is_ascii_whitespace) {
        return Err(Error::bad_input("Email message content is required"));
    }
    let body = req.into_body();
    let may_queue = face.config.queue_creates;
    Ok(match cx.ingest_email(&consumer, body, may_queue).await? {
        Ingested::Created(t) => text_response(201, &t.number),
        Ingested::Replied { ticket, .. } => text_response(201, &ticket.number),
        // A message seen before answers its ticket's number, as osTicket does; one
        // whose create is still queued (only with `queue_creates`) its tracking id.
        Ingested::Duplicate {
            number: Some(number),
            ..
        } => text_response(201, &number),
        Ingested::Duplicate {
            ticket_id,
            number: None,
        } if ticket_id.starts_with("q-") => text_response(202, &ticket_id),
        Ingested::Duplicate { ticket_id, .. } => text_response(201, &ticket_id),
        Ingested::Queued { tracking_id } => text_response(202, &tracking_id),
        // osTicket answers a mail its filters refuse with 403 "Ticket denied".
        Ingested::Ignored { reason } => text_response(403, &format!("Ticket denied: {reason}")),
    })
}

/// An error as osTicket's core API words it: a status and a bare text body.
pub(crate) fn error_response(e: &Error) -> Response<Bytes> {
    let status = status_of(e);
    let body = match e.kind {
        ErrorKind::Unauthorized => "Valid API key required".to_owned(),
        ErrorKind::Forbidden => "API key not authorized".to_owned(),
        ErrorKind::RateLimited => "Rate limit exceeded".to_owned(),
        ErrorKind::UnsupportedMediaType => "Unsupported data format".to_owned(),
        ErrorKind::PayloadTooLarge => "Request body too large".to_owned(),
        ErrorKind::Internal => "Unable to create new ticket: unknown error".to_owned(),
        _ => e.message.clone(),
    };
    // A failure that may pass is the retryable 503 osTicket clients (and the mail
    // systems behind `tickets.email`) know to try again after, whatever the upstream's
    // own status was; nothing was kept.
    if e.kind == ErrorKind::UpstreamUnavailable && e.retryable {
        let e = Error {
            retry_after: e.retry_after.or(Some(UNAVAILABLE_RETRY_AFTER)),
            ..e.clone()
        };
        return with_retry_after(text_response(503, &body), &e);
    }
    with_retry_after(text_response(status, &body), e)
}
