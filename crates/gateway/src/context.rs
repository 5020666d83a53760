//! The per-request [`GatewayContext`] handed to a dialect's server face.

use crate::config::OnUnavailable;
use crate::gateway::Gateway;
use crate::ratelimit::RateReport;
use crate::shared::{FailureDecision, QuotaDecision};
use async_trait::async_trait;
use bytes::Bytes;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use ticketgate_model::{
    Consumer, CreateOptions, Created, Credential, Error, GatewayContext, Helpdesk, Ingested,
    MailHints, NewTicket, Permission, Result, Ticket,
};

pub struct RequestContext {
    pub gateway: Arc<Gateway>,
    pub peer: IpAddr,
    /// The quota report of this request's consumer, for the `RateLimit` headers.
    pub rate: Mutex<Option<RateReport>>,
    /// Who the request turned out to be, for the access log.
    pub consumer: Mutex<Option<Arc<str>>>,
    /// The connection's verified client certificate, if any.
    pub tls: Option<Arc<crate::tls::PeerIdentity>>,
    /// Failed authentications of this request not yet counted by the shared limiter
    /// (it counts them once the face has answered: see [`settle`](Self::settle)).
    failures: AtomicU32,
    /// A credential was accepted with no shared check of the address's block (an
    /// ITSM-NG `initSession`); the shared limiter is asked before the answer goes out.
    unchecked: AtomicBool,
    /// The request's dialect and (when a routing rule reads them) headers.
    pub route: std::sync::OnceLock<crate::routing::RouteHints>,
}

impl RequestContext {
    pub fn new(
        gateway: Arc<Gateway>,
        peer: IpAddr,
        tls: Option<Arc<crate::tls::PeerIdentity>>,
    ) -> Self {
        Self {
            gateway,
            peer,
            tls,
            rate: Mutex::new(None),
            consumer: Mutex::new(None),
            failures: AtomicU32::new(0),
            unchecked: AtomicBool::new(false),
            route: std::sync::OnceLock::new(),
        }
    }

    fn note_consumer(&self, c: &Consumer) {
        *self.consumer.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.name.clone());
    }

    /// A failed authentication: counted now by the local limiter, or after the answer
    /// by the shared one.
    fn failed(&self) {
        if self.gateway.shared.is_some() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        } else {
            self.gateway.consumers().note_failure(self.peer);
        }
    }

    /// Count this request's failed authentications in the shared limiter (one round
    /// trip, only for requests that failed to authenticate or were not checked). An
    /// address that was already blocked by the failures seen on any gateway gets the
    /// refusal this returns (429, as the local limiter refuses a blocked address before
    /// it looks at the credential); the caller answers it in the dialect.
    pub async fn settle(&self) -> Option<Error> {
        let failures = self.failures.swap(0, Ordering::Relaxed);
        let unchecked = self.unchecked.swap(false, Ordering::Relaxed);
        if failures == 0 && !unchecked {
            return None;
        }
        let shared = self.gateway.shared.as_ref()?;
        let consumers = self.gateway.consumers();
        match shared
            .note_failures(self.peer, consumers.failed_auth_rate(), failures)
            .await
        {
            Ok(FailureDecision::Counted) => None,
            Ok(FailureDecision::Blocked { wait, before }) => {
                consumers.block(self.peer, wait);
                before.then(|| Error::rate_limited(wait).field("authentication"))
            }
            Err(_) => {
                shared.fell_back();
                for _ in 0..failures {
                    consumers.note_failure(self.peer);
                }
                None
            }
        }
    }
}

#[async_trait]
impl GatewayContext for RequestContext {
    fn peer(&self) -> IpAddr {
        self.peer
    }

    fn authenticate(&self, credential: &Credential) -> Result<Consumer> {
        let consumers = self.gateway.consumers();
        let entry =
            consumers.authenticate_with(credential, self.peer, self.tls.as_deref(), &|| {
                self.failed()
            })?;
        self.note_consumer(&entry.consumer);
        if self.gateway.shared.is_some() {
            self.unchecked.store(true, Ordering::Relaxed);
        }
        Ok(entry.consumer.clone())
    }

    fn admit(&self, credential: &Credential, need: Option<Permission>) -> Result<Consumer> {
        let consumers = self.gateway.consumers();
        let entry =
            consumers.admit_with(credential, need, self.peer, self.tls.as_deref(), &|| {
                self.failed()
            })?;
        self.note_consumer(&entry.consumer);
        Ok(entry.consumer.clone())
    }

    fn failed_authentication(&self) {
        self.failed();
    }

    async fn authorize(&self, credential: &Credential, need: Permission) -> Result<Consumer> {
        let consumers = self.gateway.consumers();
        let entry = consumers.admit_with(
            credential,
            Some(need),
            self.peer,
            self.tls.as_deref(),
            &|| self.failed(),
        )?;
        self.note_consumer(&entry.consumer);
        let class = need.route_class();
        let limiter = entry.limiter(class);
        let decision = match (&self.gateway.shared, entry.shared_key(class)) {
            (Some(shared), Some(key)) => match shared.take(key, limiter.rate(), self.peer).await {
                Ok(QuotaDecision::Allowed { remaining }) => {
                    Ok(limiter.report_shared(remaining, None))
                }
                Ok(QuotaDecision::Limited { wait }) => Err((
                    Error::rate_limited(wait.max(Duration::from_millis(1))),
                    limiter.report_shared(0, Some(wait)),
                )),
                Ok(QuotaDecision::Blocked { wait }) => {
                    consumers.block(self.peer, wait);
                    return Err(Error::rate_limited(wait).field("authentication"));
                }
                Err(_) => {
                    shared.fell_back();
                    match shared.on_unavailable {
                        OnUnavailable::Local => limiter.check(),
                        OnUnavailable::Refuse => {
                            return Err(Error::upstream_unavailable(
                                "the shared rate limits cannot be checked now; retry shortly",
                            )
                            .retry_after(Duration::from_secs(1)));
                        }
                    }
                }
            },
            _ => limiter.check(),
        };
        match decision {
            Ok(report) => {
                *self.rate.lock().unwrap_or_else(|p| p.into_inner()) = Some(report);
                Ok(entry.consumer.clone())
            }
            Err((e, report)) => {
                *self.rate.lock().unwrap_or_else(|p| p.into_inner()) = Some(report);
                Err(e)
            }
        }
    }

    fn helpdesk(&self, consumer: &Consumer) -> Arc<dyn Helpdesk> {
        if self.gateway.config().multi_upstream() {
            Arc::new(crate::routing::RoutedHelpdesk::new(
                self.gateway.clone(),
                consumer,
                self.hints(),
            ))
        } else {
            self.gateway.upstream_for(consumer)
        }
    }

    async fn search_spread(
        &self,
        consumer: &Consumer,
        query: &ticketgate_model::Query,
    ) -> Result<(
        ticketgate_model::Page<Ticket>,
        Option<ticketgate_model::SearchSpread>,
    )> {
        if self.gateway.config().multi_upstream() {
            crate::routing::RoutedHelpdesk::new(self.gateway.clone(), consumer, self.hints())
                .search_spread(query)
                .await
        } else {
            Ok((
                self.gateway.upstream_for(consumer).search(query).await?,
                None,
            ))
        }
    }

    async fn search_paged(
        &self,
        consumer: &Consumer,
        query: &ticketgate_model::Query,
        cursor: Option<&str>,
    ) -> Result<(
        ticketgate_model::Page<Ticket>,
        Option<ticketgate_model::SearchSpread>,
        Option<String>,
    )> {
        if self.gateway.config().multi_upstream() {
            crate::routing::RoutedHelpdesk::new(self.gateway.clone(), consumer, self.hints())
                .search_paged(query, cursor)
                .await
        } else {
            if cursor.is_some() {
                return Err(Error::bad_input(
                    "query parameter cursor: this search is answered by one upstream; page it with offset",
                )
                .field("cursor"));
            }
            Ok((
                self.gateway.upstream_for(consumer).search(query).await?,
                None,
                None,
            ))
        }
    }

    fn upstream_capabilities(&self) -> Vec<(String, ticketgate_model::Capabilities)> {
        if !self.gateway.config().multi_upstream() {
            return Vec::new();
        }
        let mut all: Vec<_> = self
            .gateway
            .upstreams
            .iter()
            .map(|(name, u)| (name.clone(), u.capabilities()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    async fn create(
        &self,
        consumer: &Consumer,
        ticket: NewTicket,
        options: CreateOptions,
    ) -> Result<Created> {
        // A client that hangs up must not cut a create in half (the ticket made
        // upstream, its idempotency record not yet written): the work runs to its end
        // on its own task whatever becomes of the request.
        let (gateway, consumer, hints) = (self.gateway.clone(), consumer.clone(), self.hints());
        detached(async move {
            gateway
                .create_routed(&consumer, ticket, options, &hints)
                .await
        })
        .await
    }

    async fn await_delivery(
        &self,
        tracking_id: &str,
        limit: std::time::Duration,
    ) -> Result<Option<Ticket>> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(t) = self.delivered(tracking_id).await? {
                return Ok(Some(t));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep_until(
                deadline.min(tokio::time::Instant::now() + std::time::Duration::from_millis(50)),
            )
            .await;
        }
    }

    async fn ingest_email(
        &self,
        consumer: &Consumer,
        raw: Bytes,
        may_queue: bool,
    ) -> Result<Ingested> {
        let (gateway, consumer, route) = (self.gateway.clone(), consumer.clone(), self.hints());
        detached(
            async move { crate::email::ingest(&gateway, &consumer, &raw, may_queue, &route).await },
        )
        .await
    }

    async fn ingest_email_hinted(
        &self,
        consumer: &Consumer,
        raw: Bytes,
        may_queue: bool,
        hints: MailHints,
    ) -> Result<Ingested> {
        let (gateway, consumer, route) = (self.gateway.clone(), consumer.clone(), self.hints());
        detached(async move {
            crate::email::ingest_hinted(&gateway, &consumer, &raw, may_queue, &hints, &route).await
        })
        .await
    }
}

impl RequestContext {
    fn hints(&self) -> crate::routing::RouteHints {
        self.route.get().cloned().unwrap_or_default()
    }

    async fn delivered(&self, tracking_id: &str) -> Result<Option<Ticket>> {
        let Some(item) = self.gateway.state.item(tracking_id).await? else {
            return Ok(None);
        };
        match (item.state, item.ticket_id) {
            (ticketgate_store::OutboxState::Delivered, Some(id)) => {
                let t = self.gateway.upstream_named(&item.upstream).get(&id).await?;
                let home = self.gateway.home_of(&item.consumer);
                Ok(Some(self.gateway.present(&home, &item.upstream, t).await?))
            }
            _ => Ok(None),
        }
    }
}

/// Run `work` on its own task, so dropping the caller does not cancel it.
async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    // The request id goes along, so the upstream calls the work makes carry it.
    let id = ticketgate_upstream::request_id::current();
    tokio::spawn(ticketgate_upstream::request_id::scope_opt(id, work))
        .await
        .unwrap_or_else(|e| Err(Error::internal(format!("the work failed: {e}"))))
}
