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
//! 4. threading: the ticket a dialect's mail gateway names (RT's `ticket` field), the
//!    ticket number in the subject tag, then In-Reply-To / References
//!    against the Message-IDs the gateway has seen. A reply from the requester or a cc
//!    becomes a thread entry (reopening a resolved ticket); anyone else opens a new
//!    ticket unless `mail.replies_from_anyone`;
//! 5. otherwise a create, keyed by the message so a redelivery cannot make a second
//!    ticket. When the upstream cannot take it now, the create or the reply is queued
//!    in the durable outbox.
//!
//! Every outcome carries a [`Decision`]: the rule that decided it and why, logged at
//! info and printed by `ticketgate pipe --explain`.

use crate::gateway::Gateway;
use crate::routing::RouteHints;
use std::sync::Arc;
use ticketgate_mail::{MailError, Noise, ParsedMail, SenderPolicy};
use ticketgate_model::{
    Consumer, CreateOptions, Created, Error, ErrorKind, Helpdesk, Ingested, MailHints, Result,
    Ticket,
};
use ticketgate_store::{Enqueue, MailRecord, OutboxKind};

use crate::upstream::Shielded;

/// Which rule decided what became of a message, and the facts it went on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// A stable name: `unreadable`, `no-sender`, `noise/<kind>`, `sender-policy`,
    /// `duplicate`, `reply/subject-tag`, `reply/references`, `new/stranger-reply`,
    /// `new/no-thread`.
    pub rule: &'static str,
    /// One line of detail: the noise reason, the ticket number, the header the sender
    /// was taken from.
    pub detail: String,
}

impl Decision {
    fn new(rule: &'static str, detail: impl Into<String>) -> Self {
        Self {
            rule,
            detail: detail.into(),
        }
    }
}

/// The `field` of the error that refuses a denied sender.
pub const SENDER_FIELD: &str = "from";

/// `may_queue`: whether what the upstream cannot take now goes to the outbox
/// ([`Ingested::Queued`]) or is refused with the retryable error (and kept nowhere).
/// `route`: what the routing rules may read of the request the message came in (its
/// dialect and headers; nothing for `pipe`).
pub async fn ingest(
    gateway: &Gateway,
    consumer: &Consumer,
    raw: &[u8],
    may_queue: bool,
    route: &RouteHints,
) -> Result<Ingested> {
    ingest_explained_with(
        gateway,
        consumer,
        raw,
        &[],
        may_queue,
        &MailHints::default(),
        route,
    )
    .await
    .0
}

/// [`ingest`] steered by what a dialect's mail gateway knows beside the message (RT's
/// ticket, queue and action).
pub async fn ingest_hinted(
    gateway: &Gateway,
    consumer: &Consumer,
    raw: &[u8],
    may_queue: bool,
    hints: &MailHints,
    route: &RouteHints,
) -> Result<Ingested> {
    ingest_explained_with(gateway, consumer, raw, &[], may_queue, hints, route)
        .await
        .0
}

/// [`ingest`] for a message a mail server delivered to `recipients` (the envelope
/// recipients: the helpdesk's own addresses, like `mail.own_addresses`), with the rule
/// that decided the outcome (also logged at info).
pub async fn ingest_explained(
    gateway: &Gateway,
    consumer: &Consumer,
    raw: &[u8],
    recipients: &[String],
    may_queue: bool,
) -> (Result<Ingested>, Decision) {
    ingest_explained_with(
        gateway,
        consumer,
        raw,
        recipients,
        may_queue,
        &MailHints::default(),
        &RouteHints::default(),
    )
    .await
}

async fn ingest_explained_with(
    gateway: &Gateway,
    consumer: &Consumer,
    raw: &[u8],
    recipients: &[String],
    may_queue: bool,
    hints: &MailHints,
    route: &RouteHints,
) -> (Result<Ingested>, Decision) {
    let mut decision = Decision::default();
    let mail = Mail {
        gateway,
        consumer,
        home: gateway.upstream_for(consumer),
        may_queue,
        route,
    };
    let result = decide(&mail, raw, recipients, hints, &mut decision).await;
    let outcome = match &result {
        Ok(Ingested::Created(_)) => "ticket",
        Ok(Ingested::Replied { .. }) => "reply",
        Ok(Ingested::Duplicate { .. }) => "duplicate",
        Ok(Ingested::Queued { .. }) => "queued",
        Ok(Ingested::Ignored { .. }) => "refused",
        Err(e) if e.retryable => "deferred",
        Err(_) => "refused",
    };
    if decision.rule.is_empty() {
        // Failed before a rule applied (storage, upstream): the error says why.
        decision = Decision::new(
            "error",
            result
                .as_ref()
                .err()
                .map(ToString::to_string)
                .unwrap_or_default(),
        );
    }
    tracing::info!(
        consumer = %consumer.name,
        outcome,
        rule = decision.rule,
        detail = %decision.detail,
        "mail decision"
    );
    (result, decision)
}

/// One message's ingestion: who sent it in, their own upstream, how it may be answered.
struct Mail<'a> {
    gateway: &'a Gateway,
    consumer: &'a Consumer,
    /// The consumer's own upstream: whose namespace answers are given in.
    home: Arc<Shielded>,
    may_queue: bool,
    route: &'a RouteHints,
}

impl Mail<'_> {
    /// The upstream a remembered ticket lives in (its record's), or home when that
    /// upstream is no longer configured.
    fn upstream(&self, name: &str) -> Arc<Shielded> {
        match self.gateway.upstreams.get(name) {
            Some(u) => u.clone(),
            None => self.home.clone(),
        }
    }

    /// A ticket of `owner` as the consumer's clients know it.
    async fn present(&self, owner: &Shielded, t: Ticket) -> Result<Ticket> {
        self.gateway
            .present(self.home.name(), owner.name(), t)
            .await
    }
}

async fn decide(
    mail: &Mail<'_>,
    raw: &[u8],
    recipients: &[String],
    hints: &MailHints,
    decision: &mut Decision,
) -> Result<Ingested> {
    let (gateway, consumer, may_queue) = (mail.gateway, mail.consumer, mail.may_queue);
    let config = gateway.config();
    let mut parsed = match ticketgate_mail::parse(raw, &config.mail) {
        Ok(p) => p,
        Err(e) => {
            let rule = match e {
                MailError::NoSender => "no-sender",
                _ => "unreadable",
            };
            *decision = Decision::new(rule, e.to_string());
            return Err(mail_error(e));
        }
    };
    if let Some(noise) = &parsed.noise {
        let reason = noise.reason();
        *decision = Decision::new(noise.rule(), reason.clone());
        tracing::info!(consumer = %consumer.name, message_id = parsed.message_id.as_deref().unwrap_or(""), %reason, "mail ignored");
        gateway
            .metrics
            .mail(&format!("ignored:{}", noise_label(noise)));
        return Ok(Ingested::Ignored { reason });
    }
    if let SenderPolicy::Denied { reason } = &parsed.sender {
        *decision = Decision::new("sender-policy", reason.clone());
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
        *decision = Decision::new("no-text", "no readable body, subject or attachment");
        tracing::info!(consumer = %consumer.name, message_id = parsed.message_id.as_deref().unwrap_or(""), "mail without text refused");
        gateway.metrics.mail("refused:no_text");
        return Err(Error::bad_input(
            "the message has no text to open a ticket with (no readable body, subject or attachment)",
        ));
    }
    drop_own_addresses(&mut parsed, &config.mail.own_addresses, recipients);
    if let Some(department) = &hints.department {
        parsed.ticket.department = Some(department.clone());
    }
    if let Some(seen) = gateway
        .state
        .mail_lookup(vec![parsed.dedup_key.clone()])
        .await?
    {
        *decision = Decision::new(
            "duplicate",
            format!("delivered before (key {})", parsed.dedup_key),
        );
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
        if let Some(id) = &ticket_id
            && let Some((gid, gnumber)) = gateway
                .gateway_id(mail.home.name(), &seen.upstream, id)
                .await?
        {
            // Routed to another upstream: the ids the consumer's clients know.
            ticket_id = Some(gid);
            number = gnumber.or(number);
        }
        return Ok(Ingested::Duplicate {
            ticket_id: ticket_id
                .or(seen.tracking_id)
                .unwrap_or_else(|| "unknown".to_owned()),
            number,
        });
    }
    let replies_from_anyone = config.mail.replies_from_anyone;
    let sender_note = match parsed.sender_header {
        "From" => String::new(),
        other => format!("; no usable From, the sender is taken from {other}"),
    };
    match find_thread(mail, &parsed, hints.ticket.as_deref()).await? {
        (Thread::Ticket(ticket, owner), how)
            if replies_from_anyone || is_participant(&ticket, parsed_sender(&parsed)) =>
        {
            *decision = Decision::new(
                how,
                format!("answers ticket {}{sender_note}", ticket.number),
            );
            reply(mail, &owner, &parsed, *ticket, hints.note).await
        }
        (Thread::Ticket(ticket, _), _) => {
            *decision = Decision::new(
                "new/stranger-reply",
                format!(
                    "answers ticket {} but the sender is neither its requester nor a cc{sender_note}",
                    ticket.number
                ),
            );
            tracing::info!(
                ticket = ticket.number,
                "reply from someone not on the ticket: opening a new ticket"
            );
            create(mail, parsed).await
        }
        (Thread::Unreachable(target, owner), how) => {
            *decision = Decision::new(
                how,
                format!("answers {target}, which cannot be reached now{sender_note}"),
            );
            if may_queue {
                queue_reply(mail, &owner, &parsed, target, hints.note).await
            } else {
                Err(Error::upstream_unavailable(format!(
                    "the ticket this message answers ({target}) cannot be reached now"
                )))
            }
        }
        (Thread::None, _) => {
            *decision = Decision::new(
                "new/no-thread",
                format!(
                    "no ticket number in the subject, no known In-Reply-To or References{sender_note}"
                ),
            );
            create(mail, parsed).await
        }
    }
}

enum Thread {
    /// The ticket this message answers, as its upstream (the second) knows it.
    Ticket(Box<Ticket>, Arc<Shielded>),
    /// A ticket known from the Message-ID map (an upstream id, or the tracking id of
    /// a queued create) whose upstream (the second) cannot be asked now.
    Unreachable(String, Arc<Shielded>),
    None,
}

/// (a) the ticket the mail gateway named, (b) the subject tag, then (c) In-Reply-To /
/// References; with the rule that found it. Each is looked for where it lives: a
/// gateway id or number through the id map, a subject tag in the consumer's own
/// upstream and then in the upstreams the routing rules send tickets to (there, only
/// a ticket the sender takes part in counts), a Message-ID in the upstream that
/// took the message it answers.
async fn find_thread(
    mail: &Mail<'_>,
    parsed: &ParsedMail,
    named: Option<&str>,
) -> Result<(Thread, &'static str)> {
    const NAMED: &str = "reply/ticket-field";
    const TAG: &str = "reply/subject-tag";
    const REFS: &str = "reply/references";
    let gateway = mail.gateway;
    if let Some(id) = named {
        let (owner, id) = gateway.locate(mail.home.name(), id).await?;
        match owner.get(&id).await {
            Ok(t) => return Ok((Thread::Ticket(Box::new(t), owner), NAMED)),
            Err(e) if e.kind == ErrorKind::NotFound || e.upstream_status == Some(404) => {}
            Err(e) if e.retryable => return Ok((Thread::Unreachable(id, owner), NAMED)),
            Err(e) => return Err(e),
        }
    }
    if let Some(number) = &parsed.subject_number {
        if let Some((owner, id)) = gateway.locate_number(mail.home.name(), number).await? {
            match owner.get(&id).await {
                Ok(t) => return Ok((Thread::Ticket(Box::new(t), owner), TAG)),
                Err(e) if e.retryable => return Ok((Thread::Unreachable(id, owner), TAG)),
                Err(_) => {}
            }
        }
        let sender = parsed_sender(parsed);
        let at_home = match mail.home.get_by_number(number).await {
            Ok(t) => Some(t),
            Err(e) if e.kind == ErrorKind::NotFound || e.upstream_status == Some(404) => None,
            Err(e) if e.kind == ErrorKind::Unsupported => None,
            // The number cannot be checked now: the mail server keeps the message and
            // retries, rather than this reply opening a ticket of its own.
            Err(e)
                if e.retryable && parsed.in_reply_to.is_empty() && parsed.references.is_empty() =>
            {
                return Err(e);
            }
            Err(e) if e.retryable => None,
            Err(e) => return Err(e),
        };
        match at_home {
            Some(t) if is_participant(&t, sender) => {
                return Ok((Thread::Ticket(Box::new(t), mail.home.clone()), TAG));
            }
            at_home => {
                // The helpdesk a rule sent the ticket to mails its own number: look
                // there, and take a ticket only if the sender is on it (numbers of two
                // helpdesks can be alike).
                for name in gateway.routed_upstreams(mail.home.name()) {
                    let owner = mail.upstream(&name);
                    match owner.get_by_number(number).await {
                        Ok(t) if is_participant(&t, sender) => {
                            return Ok((Thread::Ticket(Box::new(t), owner), TAG));
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::debug!(upstream = name, error = %e, "subject tag not looked up there");
                        }
                    }
                }
                if let Some(t) = at_home {
                    return Ok((Thread::Ticket(Box::new(t), mail.home.clone()), TAG));
                }
            }
        }
    }
    let ids: Vec<String> = parsed
        .in_reply_to
        .iter()
        .chain(parsed.references.iter().rev())
        .cloned()
        .collect();
    if ids.is_empty() {
        return Ok((Thread::None, REFS));
    }
    let Some(record) = gateway.state.mail_lookup(ids).await? else {
        return Ok((Thread::None, REFS));
    };
    let owner = mail.upstream(&record.upstream);
    let target = match (record.ticket_id, record.tracking_id) {
        (Some(id), _) => id,
        (None, Some(tracking)) => return Ok((Thread::Unreachable(tracking, owner), REFS)),
        (None, None) => return Ok((Thread::None, REFS)),
    };
    match owner.get(&target).await {
        Ok(t) => Ok((Thread::Ticket(Box::new(t), owner), REFS)),
        Err(e) if e.retryable => Ok((Thread::Unreachable(target, owner), REFS)),
        // Deleted upstream since: a fresh ticket.
        Err(e) if e.kind == ErrorKind::NotFound || e.upstream_status == Some(404) => {
            Ok((Thread::None, REFS))
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
    mail: &Mail<'_>,
    upstream: &Arc<Shielded>,
    parsed: &ParsedMail,
    ticket: Ticket,
    note: bool,
) -> Result<Ingested> {
    let gateway = mail.gateway;
    let entry = entry_of(parsed, note);
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
            let ticket = mail.present(upstream, ticket).await?;
            Ok(Ingested::Replied { ticket, entry: e })
        }
        Err(e) if mail.may_queue && e.retryable && e.kind != ErrorKind::RateLimited => {
            queue_reply(mail, upstream, parsed, ticket.id, note).await
        }
        Err(e) => Err(e),
    }
}

async fn queue_reply(
    mail: &Mail<'_>,
    upstream: &Arc<Shielded>,
    parsed: &ParsedMail,
    target: String,
    note: bool,
) -> Result<Ingested> {
    let (gateway, consumer) = (mail.gateway, mail.consumer);
    let entry = entry_of(parsed, note);
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
            request_id: ticketgate_upstream::request_id::current().map(|id| id.to_string()),
        })
        .await?;
    gateway.outbox_wake.notify_one();
    let (ticket_id, tracking) = if target.starts_with("q-") {
        (None, Some(target.as_str()))
    } else {
        (Some(target.as_str()), None)
    };
    remember(gateway, upstream, parsed, ticket_id, None, tracking).await?;
    gateway.metrics.mail_reply_queued();
    tracing::info!(tracking_id, ticket = target, "reply queued in the outbox");
    Ok(Ingested::Queued { tracking_id })
}

/// The thread entry of a reply: the sender's message, which reopens a resolved ticket,
/// or (`note`) a private note, which does not.
fn entry_of(parsed: &ParsedMail, note: bool) -> ticketgate_model::NewEntry {
    let mut entry = parsed.to_entry();
    if note {
        entry.kind = ticketgate_model::EntryKind::Note;
    } else {
        entry.reopen = true;
    }
    entry
}

/// A new ticket, on the upstream the routing rules choose for it (the consumer's own
/// when none matches), remembered under the ids it has there.
async fn create(mail: &Mail<'_>, mut parsed: ParsedMail) -> Result<Ingested> {
    let gateway = mail.gateway;
    let options = CreateOptions {
        // A redelivery of the same message replays the first outcome.
        idempotency_key: Some(format!("mail:{}", parsed.dedup_key)),
        may_queue: mail.may_queue,
        // The canonical face answers a mailed ticket in full.
        brief: false,
    };
    // Moved out, not copied: its attachments may be megabytes.
    let ticket = std::mem::take(&mut parsed.ticket);
    let upstream = gateway.route_create(mail.consumer, &ticket, mail.route);
    let done = gateway
        .create_owned(mail.consumer, upstream, ticket, options)
        .await?;
    let owner = mail.upstream(&done.owner);
    match done.created {
        Created::Ticket(t) | Created::Replayed(t) => {
            let (id, number) = done
                .native
                .unwrap_or_else(|| (t.id.clone(), t.number.clone()));
            remember(gateway, &owner, &parsed, Some(&id), Some(&number), None).await?;
            gateway.metrics.mail("created");
            Ok(Ingested::Created(t))
        }
        Created::Queued { tracking_id } => {
            remember(gateway, &owner, &parsed, None, None, Some(&tracking_id)).await?;
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
    // Both keys in one commit: a redelivery finds the message by either or by neither.
    let records = std::iter::once(parsed.dedup_key.clone())
        .chain(parsed.message_id.clone())
        .map(|key| MailRecord {
            message_id: key,
            upstream: upstream.name().to_owned(),
            ticket_id: ticket_id.map(str::to_owned),
            number: number.map(str::to_owned),
            tracking_id: tracking_id.map(str::to_owned),
        })
        .collect();
    gateway.state.mail_remember_all(records).await?;
    Ok(())
}

/// The metrics label of a noise class: its rule without the `noise/` prefix, with the
/// old names kept for the classes that had them, so dashboards keep working.
fn noise_label(noise: &Noise) -> &'static str {
    match noise {
        Noise::AutoSubmitted(_) => "auto_submitted",
        Noise::AutoReply(_) => "auto_reply",
        Noise::Precedence(_) => "bulk",
        Noise::MailingList => "list",
        Noise::EmptyReturnPath => "empty_return_path",
        Noise::DaemonSender(_) => "daemon",
        Noise::DeliveryReport => "bounce",
        Noise::ListServer(_) => "list_server",
        Noise::FeedbackReport => "feedback_report",
        Noise::ReadReceipt => "read_receipt",
        Noise::Report(_) => "report",
        Noise::Bounce(_) => "bounce_text",
    }
}

fn mail_error(e: MailError) -> Error {
    let kind = match e {
        MailError::TooLarge { .. } => ErrorKind::PayloadTooLarge,
        _ => ErrorKind::BadInput,
    };
    Error::new(kind, format!("the message cannot be read: {e}"))
}
