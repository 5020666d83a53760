//! Retention: records that only exist to recognise a repeat are pruned on a schedule,
//! so the data directory holds what is live, not everything ever seen.
//!
//! - idempotency records (a client's `Idempotency-Key`) live `retention.idempotency_hours`
//!   (24 by default, Stripe's convention): a retry later than that is a new request;
//! - the embedded store's delivery keys live as long: the outbox stops redelivering a
//!   create long before;
//! - delivered outbox items live `retention.delivered_hours`, after which a `q-…`
//!   tracking id is no longer answered;
//! - mail keys live `retention.mail_days` (400 by default; 0 keeps them): a reply to a
//!   message older than that is threaded by the ticket number in its subject.
//!
//! SQLite reuses the pages freed, so under a steady stream of creates the files stop
//! growing once the oldest records start to be pruned.

use crate::gateway::Gateway;
use std::sync::Arc;
use tokio::sync::watch;

/// Prune now, then every `retention.prune_interval_secs`, until `shutdown`.
pub async fn run(gateway: Arc<Gateway>, mut shutdown: watch::Receiver<bool>) {
    loop {
        prune_once(&gateway).await;
        let interval = gateway.config().retention.prune_interval();
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One pruning pass. A failure is logged and retried at the next pass: nothing is
/// lost by pruning late.
pub async fn prune_once(gateway: &Gateway) {
    let retention = gateway.config().retention.clone();
    let now = chrono::Utc::now();
    let before = |d: std::time::Duration| {
        now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
    };
    match gateway
        .state
        .prune(
            before(retention.idempotency()),
            before(retention.delivered()),
        )
        .await
    {
        Ok(p) if p.idempotency + p.delivered > 0 => tracing::debug!(
            idempotency = p.idempotency,
            delivered = p.delivered,
            "pruned gateway state"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "pruning the gateway state failed"),
    }
    if let Some(keep) = retention.mail() {
        match gateway.state.prune_mail(before(keep)).await {
            Ok(n) if n > 0 => tracing::debug!(mail_keys = n, "pruned mail keys"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning the mail keys failed"),
        }
    }
    for store in &gateway.stores {
        match store
            .prune_create_keys(before(retention.idempotency()))
            .await
        {
            Ok(n) if n > 0 => tracing::debug!(create_keys = n, "pruned delivery keys"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning the delivery keys failed"),
        }
    }
}
