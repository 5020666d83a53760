//! RT's mail gateway, `POST /REST/1.0/NoAuth/mail-gateway`, as `rt-mailgate` calls it:
//! a `multipart/form-data` form with `queue`, `action` (`correspond` or `comment`),
//! `message` (the raw mail) and, with `--extension ticket`, `ticket`.
//!
//! The mail takes the same path as `ticketgate pipe` (threading, loop and noise
//! protection, deduplication, the outbox when the helpdesk is down); the form steers
//! it: `ticket` (or RT's subject tag `[rtname #N]`) names the ticket a reply is for,
//! the queue is the department a new ticket opens in, and `comment` adds a reply as a
//! private note.
//!
//! The answer is RT's, read by `rt-mailgate`: `ok` (exit 0: delivered, queued, a
//! duplicate, or machine mail discarded), `not ok - …` (exit 0: the message itself is
//! refused, and retrying it cannot help) and `temporary failure - …` (exit 75: the
//! mail server keeps it and retries). Anything but a 2xx answer also makes it exit 75.

use super::form;
use super::{RtServer, wire::Queues};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use ticketgate_model::{
    Credential, Error, ErrorKind, GatewayContext, Ingested, LookupKind, MailHints, Permission,
};

/// The field of a denied sender's refusal (the gateway's `email::SENDER_FIELD`).
const SENDER_FIELD: &str = "from";

fn text(status: StatusCode, body: String) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// One line, whatever the error said.
fn line(e: &Error) -> String {
    e.message
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether retrying the same message can never help: the sender's own mistakes (an
/// unreadable message, no text, too large, a denied sender) and a ticket the helpdesk
/// refuses as invalid. The rest — the helpdesk down without an outbox, full storage, a
/// refused credential, a quota — is held for a retry.
fn permanent(e: &Error) -> bool {
    match e.kind {
        ErrorKind::BadInput | ErrorKind::PayloadTooLarge | ErrorKind::UnsupportedMediaType => true,
        ErrorKind::Forbidden => e.field.as_deref() == Some(SENDER_FIELD),
        _ if e.retryable => false,
        ErrorKind::UpstreamRejected | ErrorKind::NotFound | ErrorKind::Conflict => {
            e.http_status() < 500
        }
        _ => false,
    }
}

/// The answer to a message that was not delivered.
fn failure(e: &Error) -> Response<Bytes> {
    let body = if permanent(e) {
        format!("not ok - {}\n", line(e))
    } else {
        format!("temporary failure - {}\n", line(e))
    };
    text(StatusCode::OK, body)
}

/// A refusal from the head phase or the gateway's edge (no mail consumer, a caller
/// outside `mail_networks`, a body over `limits.email_bytes`, a deadline).
pub(super) fn refusal(e: &Error) -> Response<Bytes> {
    match e.kind {
        // Not the mail server's to fix by waiting: an operator must allow the address
        // or configure the consumer. Held (75) meanwhile, so nothing is lost.
        ErrorKind::Forbidden | ErrorKind::Unauthorized => text(
            StatusCode::FORBIDDEN,
            format!("temporary failure - {}\n", line(e)),
        ),
        _ => failure(e),
    }
}

pub(super) async fn handle(
    server: &RtServer,
    request: Request<Bytes>,
    cx: &dyn GatewayContext,
) -> Response<Bytes> {
    match deliver(server, request, cx).await {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(error = %e, "mail gateway: message not delivered");
            failure(&e)
        }
    }
}

async fn deliver(
    server: &RtServer,
    request: Request<Bytes>,
    cx: &dyn GatewayContext,
) -> Result<Response<Bytes>, Error> {
    let config = server.config();
    let Some(name) = &config.mail_consumer else {
        return Ok(refusal(&Error::forbidden(
            "the mail gateway is not enabled (dialects.rt.mail_consumer is not set)",
        )));
    };
    let consumer = cx
        .authorize(
            &Credential::Session {
                consumer: name.clone(),
            },
            Permission::Create,
        )
        .await?;
    let ct = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = form::boundary(ct)
        .ok_or_else(|| Error::bad_input("the mail gateway takes multipart/form-data"))?;
    let parts = form::parse(request.body(), &boundary)?;
    let field = |n: &str| {
        parts
            .iter()
            .find(|p| p.name == n)
            .map(|p| String::from_utf8_lossy(&p.data).trim().to_owned())
    };
    let message = parts
        .iter()
        .find(|p| p.name == "message")
        .map(|p| p.data.clone())
        .filter(|m| m.iter().any(|b| !b.is_ascii_whitespace()))
        .ok_or_else(|| Error::bad_input("no message"))?;
    let note = match field("action")
        .unwrap_or_else(|| "correspond".into())
        .to_ascii_lowercase()
        .as_str()
    {
        "correspond" => false,
        "comment" => true,
        // RT answers a temporary failure, so the mail server keeps the mail until the
        // transport is fixed.
        other => {
            return Err(Error::upstream_unavailable(format!(
                "unknown action {other:?} (this gateway takes correspond or comment)"
            ))
            .retryable(true));
        }
    };
    let queue_name = field("queue")
        .filter(|q| !q.is_empty())
        .unwrap_or_else(|| config.default_queue.clone());
    let helpdesk = cx.helpdesk(&consumer);
    let departments = match helpdesk.lookup(LookupKind::Departments).await {
        Ok(d) => d,
        Err(e) if e.kind == ErrorKind::Unsupported => Vec::new(),
        Err(e) => return Err(e),
    };
    let queues = Queues {
        default: config.default_queue.clone(),
        departments,
    };
    let Some(queue) = queues.find(&queue_name) else {
        return Err(
            Error::upstream_unavailable(format!("queue {queue_name:?} does not exist"))
                .retryable(true),
        );
    };
    let ticket = field("ticket")
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .or_else(|| subject_ticket(&message, &config.rtname));
    let hints = MailHints {
        ticket,
        department: queue.department,
        note,
    };
    match cx
        .ingest_email_hinted(&consumer, message, true, hints)
        .await?
    {
        Ingested::Created(t) => tracing::info!(ticket = %t.id, "mail gateway: ticket created"),
        Ingested::Replied { ticket, .. } => {
            tracing::info!(ticket = %ticket.id, "mail gateway: reply added");
        }
        Ingested::Duplicate { ticket_id, .. } => {
            tracing::info!(ticket = %ticket_id, "mail gateway: already delivered");
        }
        Ingested::Queued { tracking_id } => {
            tracing::info!(%tracking_id, "mail gateway: queued in the outbox");
        }
        Ingested::Ignored { reason } => {
            tracing::info!(%reason, "mail gateway: not a ticket, discarded");
        }
    }
    Ok(text(StatusCode::OK, "ok\n".to_owned()))
}

/// The ticket in RT's subject tag, `[rtname #N]`.
fn subject_ticket(raw: &[u8], rtname: &str) -> Option<String> {
    let parsed = mail_parser::MessageParser::new().parse_headers(raw)?;
    let subject = parsed.subject()?.to_lowercase();
    let tag = format!("[{} #", rtname.to_lowercase());
    let mut rest = subject.as_str();
    while let Some(i) = rest.find(&tag) {
        let after = &rest[i + tag.len()..];
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() && after[digits.len()..].starts_with(']') {
            return Some(digits);
        }
        rest = after;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_tags() {
        let m = b"From: a@example.com\r\nSubject: Re: [rt.example #42] Printer\r\n\r\nbody\r\n";
        assert_eq!(subject_ticket(m, "rt.example").as_deref(), Some("42"));
        assert_eq!(subject_ticket(m, "other"), None);
        let m =
            b"From: a@example.com\r\nSubject: =?utf-8?q?Re=3A_=5BRT=2Eexample_=237=5D_x?=\r\n\r\nb";
        assert_eq!(subject_ticket(m, "rt.example").as_deref(), Some("7"));
        assert_eq!(
            subject_ticket(b"Subject: [rt.example #] x\r\n\r\n", "rt.example"),
            None
        );
    }

    #[test]
    fn answers_rt_mailgate_understands() {
        let body = |r: Response<Bytes>| String::from_utf8_lossy(r.body()).into_owned();
        assert!(
            body(failure(&Error::bad_input("the message cannot be read"))).starts_with("not ok - ")
        );
        assert!(
            body(failure(
                &Error::forbidden("this helpdesk does not accept mail from x").field("from")
            ))
            .starts_with("not ok - ")
        );
        assert!(
            body(failure(&Error::storage_unavailable("disk full")))
                .starts_with("temporary failure - ")
        );
        assert!(
            body(failure(&Error::forbidden("credentials refused upstream")))
                .starts_with("temporary failure - ")
        );
        assert!(
            body(failure(&Error::rate_limited(
                std::time::Duration::from_secs(1)
            )))
            .starts_with("temporary failure - ")
        );
        let r = refusal(&Error::forbidden("10.0.0.1 may not deliver mail here"));
        assert_eq!(r.status(), 403);
        assert_eq!(
            body(r),
            "temporary failure - 10.0.0.1 may not deliver mail here\n"
        );
        assert_eq!(line(&Error::bad_input("a\nb")), "a b");
    }
}
