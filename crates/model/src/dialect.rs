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

/// A dialect's server face, mounted by the gateway at a path prefix.
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

/// What the gateway offers a server face while it handles one request.
#[async_trait]
pub trait GatewayContext: Send + Sync {
    /// The client's address (after trusted proxy headers, if configured).
    fn peer(&self) -> IpAddr;

    /// Identify the consumer behind a credential, with no permission check: for
    /// dialects that open a session first (ITSM-NG `initSession`).
    fn authenticate(&self, credential: &Credential) -> Result<Consumer>;

    /// Identify the consumer, check the source network and the permission, and take
    /// one token from the consumer's quota for the permission's route class.
    fn authorize(&self, credential: &Credential, need: Permission) -> Result<Consumer>;

    /// The upstream that serves this consumer.
    fn helpdesk(&self, consumer: &Consumer) -> Arc<dyn Helpdesk>;

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
