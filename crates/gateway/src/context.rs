//! The per-request [`GatewayContext`] handed to a dialect's server face.

use crate::gateway::Gateway;
use crate::ratelimit::RateReport;
use async_trait::async_trait;
use bytes::Bytes;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use ticketgate_model::{
    Consumer, CreateOptions, Created, Credential, Error, GatewayContext, Helpdesk, Ingested,
    NewTicket, Permission, Result, Ticket,
};

pub struct RequestContext {
    pub gateway: Arc<Gateway>,
    pub peer: IpAddr,
    /// The quota report of this request's consumer, for the `RateLimit` headers.
    pub rate: Mutex<Option<RateReport>>,
    /// Who the request turned out to be, for the access log.
    pub consumer: Mutex<Option<Arc<str>>>,
}

impl RequestContext {
    pub fn new(gateway: Arc<Gateway>, peer: IpAddr) -> Self {
        Self {
            gateway,
            peer,
            rate: Mutex::new(None),
            consumer: Mutex::new(None),
        }
    }

    fn note_consumer(&self, c: &Consumer) {
        *self.consumer.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.name.clone());
    }
}

#[async_trait]
impl GatewayContext for RequestContext {
    fn peer(&self) -> IpAddr {
        self.peer
    }

    fn authenticate(&self, credential: &Credential) -> Result<Consumer> {
        let consumers = self.gateway.consumers();
        let entry = consumers.authenticate(credential, self.peer)?;
        self.note_consumer(&entry.consumer);
        Ok(entry.consumer.clone())
    }

    fn admit(&self, credential: &Credential, need: Option<Permission>) -> Result<Consumer> {
        let consumers = self.gateway.consumers();
        let entry = consumers.admit(credential, need, self.peer)?;
        self.note_consumer(&entry.consumer);
        Ok(entry.consumer.clone())
    }

    fn failed_authentication(&self) {
        self.gateway.consumers().note_failure(self.peer);
    }

    fn authorize(&self, credential: &Credential, need: Permission) -> Result<Consumer> {
        let consumers = self.gateway.consumers();
        match consumers.authorize(credential, need, self.peer) {
            Ok((entry, report)) => {
                self.note_consumer(&entry.consumer);
                *self.rate.lock().unwrap_or_else(|p| p.into_inner()) = Some(report);
                Ok(entry.consumer.clone())
            }
            Err((e, report)) => {
                if report.is_some() {
                    *self.rate.lock().unwrap_or_else(|p| p.into_inner()) = report;
                }
                Err(e)
            }
        }
    }

    fn helpdesk(&self, consumer: &Consumer) -> Arc<dyn Helpdesk> {
        self.gateway.upstream_for(consumer)
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
        let (gateway, consumer) = (self.gateway.clone(), consumer.clone());
        detached(async move { gateway.create(&consumer, ticket, options).await }).await
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
        let (gateway, consumer) = (self.gateway.clone(), consumer.clone());
        detached(async move { crate::email::ingest(&gateway, &consumer, &raw, may_queue).await })
            .await
    }
}

impl RequestContext {
    async fn delivered(&self, tracking_id: &str) -> Result<Option<Ticket>> {
        let Some(item) = self.gateway.state.item(tracking_id).await? else {
            return Ok(None);
        };
        match (item.state, item.ticket_id) {
            (ticketgate_store::OutboxState::Delivered, Some(id)) => Ok(Some(
                self.gateway.upstream_named(&item.upstream).get(&id).await?,
            )),
            _ => Ok(None),
        }
    }
}

/// Run `work` on its own task, so dropping the caller does not cancel it.
async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    tokio::spawn(work)
        .await
        .unwrap_or_else(|e| Err(Error::internal(format!("the work failed: {e}"))))
}
