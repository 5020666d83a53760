//! The contract between a dialect's server face and the gateway that hosts it.
//!
//! A server face turns requests of its dialect into canonical operations and the
//! outcome back into exactly what that dialect's clients expect. It does not know
//! about keys, quotas, the outbox or which upstream is behind: it asks the
//! [`GatewayContext`] for those, so authentication, rate limiting, idempotency and
//! routing are written once, in the gateway.

use crate::access::{Consumer, Credential, Permission};
use crate::error::{Error, Result};
use crate::helpdesk::Helpdesk;
use crate::ops::NewTicket;
use crate::reference::Reference;
use crate::ticket::{ThreadEntry, Ticket};
use async_trait::async_trait;
use bytes::Bytes;
use http::{Request, Response};
use std::net::IpAddr;
use std::sync::Arc;

/// Which body-size limit applies to a request (email and uploads are larger).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyClass {
    #[default]
    Standard,
    Email,
    Upload,
}

/// What a face concluded from a request head, before the gateway reads the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The credential in the head was checked (identity, source network and, where the
    /// route names one, the permission): the body may be read up to the route's limit.
    Verified,
    /// The head carries no credential the face can check (a login form whose
    /// credentials travel in the body, a session token sent as a body parameter): the
    /// body is read only up to the gateway's small bound for unauthenticated bodies,
    /// and [`ServerFace::handle`] decides.
    Unverified,
}

/// A dialect's server face, mounted by the gateway at a path prefix.
///
/// A request goes through two phases, like a proxy's request filter before its body
/// phase: [`admit`](ServerFace::admit) sees only the head and says whether the caller
/// may send a body at all, then the gateway reads the body (bounded) and calls
/// [`handle`](ServerFace::handle). So a client without valid credentials can never make
/// the gateway buffer a large body.
#[async_trait]
pub trait ServerFace: Send + Sync + 'static {
    /// The dialect's name in logs and metrics (`osticket`, `itsmng`, …).
    fn dialect(&self) -> &'static str;

    /// Which body limit the gateway enforces before the body is read; `path` is the
    /// request path with the mount prefix removed.
    fn body_class(&self, method: &http::Method, path: &str) -> BodyClass {
        let _ = (method, path);
        BodyClass::Standard
    }

    /// The head phase: check the request's credential from its head alone, through
    /// [`GatewayContext::admit`] (or [`GatewayContext::failed_authentication`] for a
    /// credential the face verifies itself, such as a JWT or a session token). `Err` is
    /// the refusal to send, in the dialect; the body is then never read. A face may leave
    /// what it learnt in `head.extensions` for `handle`.
    ///
    /// The default admits nothing on the head's word: the body is read only up to the
    /// small unauthenticated bound.
    // The refusal is the response the face would send anyway, built only for a refused
    // request: boxing it would add an allocation to every refusal for nothing.
    #[allow(clippy::result_large_err)]
    fn admit(
        &self,
        path: &str,
        head: &mut http::request::Parts,
        cx: &dyn GatewayContext,
    ) -> std::result::Result<Admission, Response<Bytes>> {
        let _ = (path, head, cx);
        Ok(Admission::Unverified)
    }

    /// Answer one request. `path` is the request path with the mount prefix removed
    /// (always starting with `/`, or empty for the prefix itself).
    async fn handle(
        &self,
        path: &str,
        request: Request<Bytes>,
        cx: &dyn GatewayContext,
    ) -> Response<Bytes>;

    /// Encode an error raised by the gateway itself before the face ran (a body too
    /// large, a timeout, an unknown path under the prefix) in this dialect.
    fn error_response(&self, error: &Error) -> Response<Bytes>;

    /// The same, for a request to `path` (the mount prefix removed): a dialect whose
    /// error format depends on the endpoint (osTicket's core API answers bare text, its
    /// plugin endpoints `{"error": …}`) overrides this.
    fn error_response_at(&self, path: &str, error: &Error) -> Response<Bytes> {
        let _ = path;
        self.error_response(error)
    }
}

/// How a create through the gateway may be answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateOptions {
    /// A retried request with the same key gets the first outcome, never a second ticket.
    pub idempotency_key: Option<String>,
    /// Whether the caller's dialect can say "accepted, not yet created" (canonical 202).
    /// When false and the upstream cannot take the ticket now, the create fails with a
    /// retryable error instead, and nothing is queued: a client that will retry must not
    /// also find its first attempt delivered later.
    pub may_queue: bool,
    /// The caller answers only the new ticket's id and number, so the upstream need not
    /// read the ticket back ([`Helpdesk::create_brief`](crate::Helpdesk::create_brief)).
    pub brief: bool,
}

/// What a create through the gateway came to.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Created {
    /// The upstream created it now.
    Ticket(Ticket),
    /// The same idempotency key was seen before: the first outcome, replayed.
    Replayed(Ticket),
    /// The upstream could not take it now; it is durably queued in the outbox.
    Queued { tracking_id: String },
}

/// Which upstreams a search spanning several answered, and which could not.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SearchSpread {
    pub answered: Vec<String>,
    /// Upstreams that gave no answer, with the reason: the page is partial.
    pub unavailable: Vec<Unanswered>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Unanswered {
    pub name: String,
    pub reason: String,
}

/// What an email delivered to the gateway came to.
// Returned once per request and matched at once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Ingested {
    /// A new ticket.
    Created(Ticket),
    /// A reply, added to an existing ticket.
    Replied { ticket: Ticket, entry: ThreadEntry },
    /// The same message was delivered before; nothing new was written.
    Duplicate {
        ticket_id: String,
        number: Option<String>,
    },
    /// Durably queued in the outbox for later delivery.
    Queued { tracking_id: String },
    /// Not a ticket: an auto-reply, a bounce, list traffic or a denied sender.
    Ignored { reason: String },
}

/// What a dialect's mail gateway knows about a message beyond its bytes (RT's
/// `rt-mailgate` names the ticket, the queue and the action beside the message).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailHints {
    /// The ticket the message is for (RT's `ticket` field or subject tag), tried before
    /// the usual threading; a ticket that does not exist is ignored.
    pub ticket: Option<String>,
    /// The department a ticket the message opens goes to (RT's queue).
    pub department: Option<Reference>,
    /// A reply is added as a private note rather than a message (RT's `comment`).
    pub note: bool,
}

/// What the gateway offers a server face while it handles one request.
#[async_trait]
pub trait GatewayContext: Send + Sync {
    /// The client's address (after trusted proxy headers, if configured).
    fn peer(&self) -> IpAddr;

    /// Identify the consumer behind a credential, with no permission check: for
    /// dialects that open a session first (ITSM-NG `initSession`).
    fn authenticate(&self, credential: &Credential) -> Result<Consumer>;

    /// The head phase's check: identify the consumer, check the source network and,
    /// when `need` is given, the permission, without taking a quota token (the face's
    /// `authorize` takes it once the body is read). A failure is counted against the
    /// client's address like any failed authentication.
    fn admit(&self, credential: &Credential, need: Option<Permission>) -> Result<Consumer> {
        let consumer = self.authenticate(credential)?;
        match need {
            Some(p) if !consumer.permissions.has(p) => Err(Error::forbidden(format!(
                "this consumer lacks the {} permission",
                p.as_str()
            ))),
            _ => Ok(consumer),
        }
    }

    /// Count an authentication failure the face found itself (a JWT that does not
    /// verify, an unknown session token), so every dialect's failures feed the same
    /// per-address limiter that blocks an address after too many.
    fn failed_authentication(&self) {}

    /// Identify the consumer, check the source network and the permission, and take
    /// one token from the consumer's quota for the permission's route class. Async
    /// because the quota may be shared between gateways (one round trip to Redis).
    async fn authorize(&self, credential: &Credential, need: Permission) -> Result<Consumer>;

    /// The upstream that serves this consumer.
    fn helpdesk(&self, consumer: &Consumer) -> Arc<dyn Helpdesk>;

    /// Every upstream behind the gateway and what it can do, when there is more than
    /// one (routing rules may send a consumer's tickets to any of them); else empty.
    fn upstream_capabilities(&self) -> Vec<(String, crate::Capabilities)> {
        Vec::new()
    }

    /// A search, and which upstreams answered it when it spanned several (None: one
    /// upstream answered it all).
    async fn search_spread(
        &self,
        consumer: &Consumer,
        query: &crate::ops::Query,
    ) -> Result<(crate::ops::Page<Ticket>, Option<SearchSpread>)> {
        Ok((self.helpdesk(consumer).search(query).await?, None))
    }

    /// A search continued from `cursor` (a `next_cursor` an earlier page carried), or
    /// from `query.offset` without one, and the cursor of the page after it (None
    /// when there is no more, or the search is one upstream's).
    async fn search_paged(
        &self,
        consumer: &Consumer,
        query: &crate::ops::Query,
        cursor: Option<&str>,
    ) -> Result<(
        crate::ops::Page<Ticket>,
        Option<SearchSpread>,
        Option<String>,
    )> {
        if cursor.is_some() {
            return Err(Error::bad_input(
                "query parameter cursor: this search is answered by one upstream; page it with offset",
            )
            .field("cursor"));
        }
        let (page, spread) = self.search_spread(consumer, query).await?;
        Ok((page, spread, None))
    }

    /// Create through the gateway: idempotency, and the durable outbox when the
    /// upstream cannot take the ticket now.
    async fn create(
        &self,
        consumer: &Consumer,
        ticket: NewTicket,
        options: CreateOptions,
    ) -> Result<Created>;

    /// Deliver one raw RFC 5322 message: threading, deduplication, loop protection.
    /// `may_queue`: whether a message the upstream cannot take now may be kept in the
    /// outbox ([`Ingested::Queued`]) rather than refused with a retryable error.
    async fn ingest_email(
        &self,
        consumer: &Consumer,
        raw: Bytes,
        may_queue: bool,
    ) -> Result<Ingested>;

    /// [`ingest_email`](GatewayContext::ingest_email) with what the dialect knows beside
    /// the message: the same path (threading, deduplication, loop protection, the
    /// outbox), steered by `hints`. A context that cannot honour hints refuses them
    /// rather than drop them.
    async fn ingest_email_hinted(
        &self,
        consumer: &Consumer,
        raw: Bytes,
        may_queue: bool,
        hints: MailHints,
    ) -> Result<Ingested> {
        if hints == MailHints::default() {
            self.ingest_email(consumer, raw, may_queue).await
        } else {
            Err(crate::error::Error::internal(
                "this gateway cannot steer mail by ticket, queue or action",
            ))
        }
    }

    /// Wait up to `limit` for a create queued in the outbox to be delivered: its ticket
    /// if it was, `None` if it is still queued (for dialects with no "accepted" answer,
    /// which would rather hold the client a moment than answer without a number).
    async fn await_delivery(
        &self,
        tracking_id: &str,
        limit: std::time::Duration,
    ) -> Result<Option<Ticket>> {
        let _ = (tracking_id, limit);
        Ok(None)
    }
}
