//! Email ingestion: MIME in, a ticket or a reply out, loops and duplicates refused.
//!
//! One path for every way mail arrives (`ticketgate pipe`, osTicket's `tickets.email`,
//! the canonical API's `message/rfc822`):
//! 1. parse (the mail crate), within the configured bounds;
//! 2. noise — auto-replies, bounces, list traffic, mail daemons — is ignored and
//!    counted, never answered, so no mail loop can start here; a denied sender is
//!    refused, and so is a message with no text a person wrote (no body left after
//!    cleaning, no subject, no attachment); the helpdesk's own addresses are dropped
//!    from the cc;
//! 3. a message delivered before (same Message-ID, or same digest) is a duplicate;
//! 4. threading: the ticket number in the subject tag, then In-Reply-To / References
//!    against the Message-IDs the gateway has seen. A reply from the requester or a cc
//!    becomes a thread entry (reopening a resolved ticket); anyone else opens a new
//!    ticket unless `mail.replies_from_anyone`;
//! 5. otherwise a create, keyed by the message so a redelivery cannot make a second
//!    ticket. When the upstream cannot take it now, the create or the reply is queued
//!    in the durable outbox.

use crate::gateway::Gateway;
use std::sync::Arc;
use ticketgate_mail::{MailError, Noise, ParsedMail, SenderPolicy};
use ticketgate_model::{
    Consumer, CreateOptions, Created, Error, ErrorKind, Helpdesk, Ingested, Result, Ticket,
};
use ticketgate_store::{Enqueue, MailRecord, OutboxKind};

use crate::upstream::Shielded;

/// The `field` of the error that refuses a denied sender.
pub const SENDER_FIELD: &str = "from";

/// `may_queue`: whether what the upstream cannot take now goes to the outbox
/// ([`Ingested::Queued`]) or is refused with the retryable error (and kept nowhere).
pub async fn ingest(
    gateway: &Gateway,
    consumer: &Consumer,
    raw: &[u8],
    may_queue: bool,
) -> Result<Ingested> {
    ingest_for(gateway, consumer, raw, &[], may_queue).await
}

/// [`ingest`] for a message a mail server delivered to `recipients` (the envelope
/// recipients: the helpdesk's own addresses, like `mail.own_addresses`).
pub async fn ingest_for(
    gateway: &Gateway,
    consumer: &Consumer,
    raw: &[u8],
    recipients: &[String],
    may_queue: bool,
) -> Result<Ingested> {
    let config = gateway.config();
    let mut parsed = ticketgate_mail::parse(raw, &config.mail).map_err(mail_error)?;
    if let Some(noise) = &parsed.noise {
        let reason = noise.reason();
        tracing::info!(consumer = %consumer.name, message_id = parsed.message_id.as_deref().unwrap_or(""), %reason, "mail ignored");
        gateway
            .metrics
            .mail(&format!("ignored:{}", noise_label(noise)));
        return Ok(Ingested::Ignored { reason });
    }
    if let SenderPolicy::Denied { reason } = &parsed.sender {
        tracing::info!(consumer = %consumer.name, %reason, "mail sender refused");
        gateway.metrics.mail("refused:sender");
        // The reason names the configured list entry: it stays in the log. The sender
        // learns only that this address is refused. `field` marks the refusal as the
        // sender's, so `pipe` bounces it rather than hold it as a configuration fault.
        let sender = parsed_sender(&parsed).unwrap_or("this sender");
        return Err(
            Error::forbidden(format!("this helpdesk does not accept mail from {sender}"))
                .field(SENDER_FIELD),
        );
    }
    if !has_written_text(&parsed) {
        tracing::info!(consumer = %consumer.name, message_id = parsed.message_id.as_deref().unwrap_or(""), "mail without text refused");
        gateway.metrics.mail("refused:no_text");
        return Err(Error::bad_input(
            "the message has no text to open a ticket with (no readable body, subject or attachment)",
        ));
    }
    drop_own_addresses(&mut parsed, &config.mail.own_addresses, recipients);
    if let Some(seen) = gateway
        .state
        .mail_lookup(vec![parsed.dedup_key.clone()])
        .await?
    {
        gateway.metrics.mail("duplicate");
        let (mut ticket_id, mut number) = (seen.ticket_id, seen.number);
        if ticket_id.is_none()
            && let Some(tracking) = &seen.tracking_id
            && let Some(item) = gateway.state.item(tracking).await?
        {
            // Delivered since it was queued: answer the ticket, not the tracking id.
            ticket_id = item.ticket_id;
            number = number.or(item.number);
        }
        return Ok(Ingested::Duplicate {
            ticket_id: ticket_id
                .or(seen.tracking_id)
                .unwrap_or_else(|| "unknown".to_owned()),
            number,
        });
    }
    let upstream = gateway.upstream_for(consumer);
    let replies_from_anyone = config.mail.replies_from_anyone;
    match find_thread(gateway, &upstream, &parsed).await? {
        Thread::Ticket(ticket)
            if replies_from_anyone || is_participant(&ticket, parsed_sender(&parsed)) =>
        {
            reply(gateway, consumer, &upstream, &parsed, *ticket, may_queue).await
        }
        Thread::Ticket(ticket) => {
            tracing::info!(
                ticket = ticket.number,
                "reply from someone not on the ticket: opening a new ticket"
            );
            create(gateway, consumer, &upstream, parsed, may_queue).await
        }
        Thread::Unreachable(target) if may_queue => {
            queue_reply(gateway, consumer, &upstream, &parsed, target).await
        }
        Thread::Unreachable(target) => Err(Error::upstream_unavailable(format!(
            "the ticket this message answers ({target}) cannot be reached now"
        ))),
        Thread::None => create(gateway, consumer, &upstream, parsed, may_queue).await,
    }
}

enum Thread {
    /// The ticket this message answers.
    Ticket(Box<Ticket>),
    /// A ticket known from the Message-ID map (an upstream id, or the tracking id of
    /// a queued create) whose upstream cannot be asked now.
    Unreachable(String),
    None,
}

/// (a) the subject tag, then (b) In-Reply-To / References.
async fn find_thread(
    gateway: &Gateway,
    upstream: &Arc<Shielded>,
    parsed: &ParsedMail,
) -> Result<Thread> {
    if let Some(number) = &parsed.subject_number {
        match upstream.get_by_number(number).await {
            Ok(t) => return Ok(Thread::Ticket(Box::new(t))),
            Err(e) if e.kind == ErrorKind::NotFound || e.upstream_status == Some(404) => {}
            Err(e) if e.kind == ErrorKind::Unsupported => {}
            // The number cannot be checked now: the mail server keeps the message and
            // retries, rather than this reply opening a ticket of its own.
            Err(e)
                if e.retryable && parsed.in_reply_to.is_empty() && parsed.references.is_empty() =>
            {
                return Err(e);
            }
            Err(e) if e.retryable => {}
            Err(e) => return Err(e),
        }
    }
    let ids: Vec<String> = parsed
        .in_reply_to
        .iter()
        .chain(parsed.references.iter().rev())
        .cloned()
        .collect();
    if ids.is_empty() {
        return Ok(Thread::None);
    }
    let Some(record) = gateway.state.mail_lookup(ids).await? else {
        return Ok(Thread::None);
    };
    let target = match (record.ticket_id, record.tracking_id) {
        (Some(id), _) => id,
        (None, Some(tracking)) => return Ok(Thread::Unreachable(tracking)),
        (None, None) => return Ok(Thread::None),
    };
    match upstream.get(&target).await {
        Ok(t) => Ok(Thread::Ticket(Box::new(t))),
        Err(e) if e.retryable => Ok(Thread::Unreachable(target)),
        // Deleted upstream since: a fresh ticket.
        Err(e) if e.kind == ErrorKind::NotFound || e.upstream_status == Some(404) => {
            Ok(Thread::None)
        }
        Err(e) => Err(e),
    }
}

/// Text a person wrote: a body left after cleaning, a real subject, or an attachment.
/// Binary junk a mail server wrapped in headers has none of them.
fn has_written_text(parsed: &ParsedMail) -> bool {
    let ticket = &parsed.ticket;
    !ticket.body.content.trim().is_empty()
        || !ticket.attachments.is_empty()
        || (ticket.subject != ticketgate_mail::clean::NO_SUBJECT
            && ticket.subject.chars().any(char::is_alphanumeric))
}

/// The helpdesk's own addresses are where the customer wrote to, not people to copy:
/// stored as cc they would be mailed every answer (a loop) and could write into the
/// ticket as a participant.
fn drop_own_addresses(parsed: &mut ParsedMail, configured: &[String], recipients: &[String]) {
    let own = |email: &str| {
        configured
            .iter()
            .chain(recipients)
            .any(|o| o.trim().eq_ignore_ascii_case(email))
    };
    parsed
        .ticket
        .cc
        .retain(|c| !c.email.as_deref().is_some_and(own));
}

fn parsed_sender(parsed: &ParsedMail) -> Option<&str> {
    parsed
        .from
        .as_ref()
        .and_then(|c| c.email.as_deref())
        .or(parsed.ticket.requester.email.as_deref())
}

fn is_participant(ticket: &Ticket, sender: Option<&str>) -> bool {
    let Some(sender) = sender else { return false };
    let same = |e: Option<&str>| e.is_some_and(|e| e.eq_ignore_ascii_case(sender));
    same(ticket.requester.email.as_deref()) || ticket.cc.iter().any(|c| same(c.email.as_deref()))
}

async fn reply(
    gateway: &Gateway,
    consumer: &Consumer,
    upstream: &Arc<Shielded>,
    parsed: &ParsedMail,
    ticket: Ticket,
    may_queue: bool,
) -> Result<Ingested> {
    let mut entry = parsed.to_entry();
    entry.reopen = true;
    match upstream.add_entry(&ticket.id, entry).await {
        Ok(e) => {
            remember(
                gateway,
                upstream,
                parsed,
                Some(&ticket.id),
                Some(&ticket.number),
                None,
            )
            .await?;
            gateway.metrics.mail("replied");
            Ok(Ingested::Replied { ticket, entry: e })
        }
        Err(e) if may_queue && e.retryable && e.kind != ErrorKind::RateLimited => {
            queue_reply(gateway, consumer, upstream, parsed, ticket.id).await
        }
        Err(e) => Err(e),
    }
}

async fn queue_reply(
    gateway: &Gateway,
    consumer: &Consumer,
    upstream: &Arc<Shielded>,
    parsed: &ParsedMail,
    target: String,
) -> Result<Ingested> {
    let mut entry = parsed.to_entry();
    entry.reopen = true;
    let payload = serde_json::to_string(&entry).map_err(|e| Error::internal(e.to_string()))?;
    let tracking_id = gateway
        .state
        .enqueue(Enqueue {
            upstream: upstream.name().to_owned(),
            kind: OutboxKind::Entry,
            target: Some(target.clone()),
            consumer: consumer.name.to_string(),
            payload,
            idempotency: None,
            delivery_key: None,
        })
        .await?;
    gateway.outbox_wake.notify_one();
    let (ticket_id, tracking) = if target.starts_with("q-") {
        (None, Some(target.as_str()))
    } else {
        (Some(target.as_str()), None)
    };
    remember(gateway, upstream, parsed, ticket_id, None, tracking).await?;
    gateway.metrics.mail("queued");
    tracing::info!(tracking_id, ticket = target, "reply queued in the outbox");
    Ok(Ingested::Queued { tracking_id })
}

async fn create(
    gateway: &Gateway,
    consumer: &Consumer,
    upstream: &Arc<Shielded>,
    mut parsed: ParsedMail,
    may_queue: bool,
) -> Result<Ingested> {
    let options = CreateOptions {
        // A redelivery of the same message replays the first outcome.
        idempotency_key: Some(format!("mail:{}", parsed.dedup_key)),
        may_queue,
    };
    // Moved out, not copied: its attachments may be megabytes.
    let ticket = std::mem::take(&mut parsed.ticket);
    match gateway.create(consumer, ticket, options).await? {
        Created::Ticket(t) | Created::Replayed(t) => {
            remember(
                gateway,
                upstream,
                &parsed,
                Some(&t.id),
                Some(&t.number),
                None,
            )
            .await?;
            gateway.metrics.mail("created");
            Ok(Ingested::Created(t))
        }
        Created::Queued { tracking_id } => {
            remember(gateway, upstream, &parsed, None, None, Some(&tracking_id)).await?;
            gateway.metrics.mail("queued");
            Ok(Ingested::Queued { tracking_id })
        }
    }
}

/// Record the message's dedup key and Message-ID against its ticket, so a redelivery
/// is a duplicate and a reply to it finds the ticket. Once a queued create is
/// delivered, the outbox fills in the ticket for its tracking id.
async fn remember(
    gateway: &Gateway,
    upstream: &Arc<Shielded>,
    parsed: &ParsedMail,
    ticket_id: Option<&str>,
    number: Option<&str>,
    tracking_id: Option<&str>,
) -> Result<()> {
    let keys = std::iter::once(parsed.dedup_key.clone()).chain(parsed.message_id.clone());
    for key in keys {
        gateway
            .state
            .mail_remember(MailRecord {
                message_id: key,
                upstream: upstream.name().to_owned(),
                ticket_id: ticket_id.map(str::to_owned),
                number: number.map(str::to_owned),
                tracking_id: tracking_id.map(str::to_owned),
            })
            .await?;
    }
    Ok(())
}

fn noise_label(noise: &Noise) -> &'static str {
    match noise {
        Noise::AutoSubmitted(_) => "auto_submitted",
        Noise::AutoReply(_) => "auto_reply",
        Noise::Precedence(_) => "bulk",
        Noise::MailingList => "list",
        Noise::EmptyReturnPath => "empty_return_path",
        Noise::DaemonSender(_) => "daemon",
        Noise::DeliveryReport => "bounce",
    }
}

fn mail_error(e: MailError) -> Error {
    let kind = match e {
        MailError::TooLarge { .. } => ErrorKind::PayloadTooLarge,
        _ => ErrorKind::BadInput,
    };
    Error::new(kind, format!("the message cannot be read: {e}"))
}
