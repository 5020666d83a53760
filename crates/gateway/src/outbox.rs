//! The delivery worker: sends what the outbox holds, in order, with backoff.
//!
//! Each upstream's items are delivered one at a time, strictly in the order clients
//! were acknowledged (so a reply always follows its ticket): an item that is not due
//! yet, or whose attempt failed, holds back every later item of the same upstream.
//! A failed attempt is retried after an exponential backoff with jitter; after
//! `max_attempts`, or on an error that no retry can fix (the upstream refused the
//! ticket as invalid), the item is dead-lettered with its last error, for
//! `ticketgate outbox list / retry`, and no longer holds the others back.

use crate::gateway::Gateway;
use chrono::Utc;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use ticketgate_model::{Helpdesk, NewEntry, NewTicket};
use ticketgate_store::{OutboxItem, OutboxKind, OutboxState};
use tokio::sync::watch;

/// Run until `shutdown` turns true.
pub async fn run(gateway: Arc<Gateway>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let poll = Duration::from_millis(gateway.config().outbox.poll_ms);
        match gateway.state.pending(256).await {
            Ok(items) => {
                let now = Utc::now();
                let mut held: HashSet<String> = HashSet::new();
                for item in items {
                    if *shutdown.borrow() {
                        return;
                    }
                    if held.contains(&item.upstream) {
                        continue;
                    }
                    if item.next_attempt_at > now || !deliver(&gateway, &item).await {
                        held.insert(item.upstream);
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "outbox cannot be read"),
        }
        tokio::select! {
            _ = gateway.outbox_wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One attempt; true when the item no longer holds its upstream's queue back
/// (delivered, or dead-lettered).
async fn deliver(gateway: &Gateway, item: &OutboxItem) -> bool {
    let config = gateway.config().outbox.clone();
    let upstream = gateway.upstream_named(&item.upstream);
    let mut target = item.target.clone().unwrap_or_default();
    if item.kind == OutboxKind::Entry && target.starts_with("q-") {
        // Queued behind a create: use the ticket it became, or follow it into the
        // dead letters if it never will.
        match gateway.state.item(&target).await {
            Ok(Some(create)) if create.state == OutboxState::Delivered => {
                target = create.ticket_id.unwrap_or_default();
            }
            Ok(Some(create)) if create.state == OutboxState::Pending => {
                let _ = gateway
                    .state
                    .failed(
                        item.seq,
                        "waiting for its ticket to be delivered",
                        Some(Utc::now() + chrono::Duration::seconds(1)),
                    )
                    .await;
                return false;
            }
            _ => {
                gateway.metrics.outbox_failed(true);
                let _ = gateway
                    .state
                    .failed(
                        item.seq,
                        &format!("its ticket {target} was never delivered"),
                        None,
                    )
                    .await;
                return true;
            }
        }
    }
    if let Err(e) = gateway.state.begin_attempt(item.seq).await {
        tracing::error!(error = %e, "cannot record an outbox attempt; not sending");
        return false;
    }
    let attempt = item.attempts + 1;
    let result = match item.kind {
        OutboxKind::Create => match serde_json::from_str::<NewTicket>(&item.payload) {
            Ok(t) => upstream
                .create_idempotent(t, &item.delivery_key)
                .await
                .map(|t| (t.id, Some(t.number))),
            Err(e) => Err(ticketgate_model::Error::internal(format!(
                "unreadable queued ticket: {e}"
            ))),
        },
        OutboxKind::Entry => match serde_json::from_str::<NewEntry>(&item.payload) {
            Ok(e) => upstream.add_entry(&target, e).await.map(|_| (target, None)),
            Err(e) => Err(ticketgate_model::Error::internal(format!(
                "unreadable queued entry: {e}"
            ))),
        },
    };
    match result {
        Ok((id, number)) => {
            gateway.metrics.outbox_delivered();
            tracing::info!(
                tracking_id = item.tracking_id,
                ticket = id,
                attempt,
                "outbox item delivered"
            );
            if let Err(e) = gateway
                .state
                .delivered(item.seq, &id, number.as_deref())
                .await
            {
                tracing::error!(error = %e, tracking_id = item.tracking_id, "delivered but not recorded");
            }
            true
        }
        Err(e) => {
            let dead = !e.retryable || attempt >= config.max_attempts;
            let next = (!dead).then(|| Utc::now() + backoff(&config, attempt, e.retry_after));
            gateway.metrics.outbox_failed(dead);
            if dead {
                tracing::warn!(tracking_id = item.tracking_id, attempt, error = %e, "outbox item dead-lettered");
            } else {
                tracing::info!(tracking_id = item.tracking_id, attempt, error = %e, "outbox delivery failed; will retry");
            }
            if let Err(se) = gateway.state.failed(item.seq, &e.message, next).await {
                tracing::error!(error = %se, "cannot record an outbox failure");
            }
            dead
        }
    }
}

/// Exponential backoff from `initial_backoff_ms`, capped, with ±25% jitter so that
/// many queued items do not hit a recovering upstream in one wave. An upstream's own
/// `Retry-After` is honoured when it asks for longer.
fn backoff(
    config: &crate::config::OutboxConfig,
    attempt: u32,
    retry_after: Option<Duration>,
) -> chrono::Duration {
    let exp = config
        .initial_backoff_ms
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
    let base = exp.min(config.max_backoff_ms) as f64;
    let jitter = 0.75 + 0.5 * (f64::from(Utc::now().timestamp_subsec_nanos() % 10_000) / 10_000.0);
    let mut ms = (base * jitter) as u64;
    if let Some(after) = retry_after {
        ms = ms.max(after.as_millis() as u64);
    }
    chrono::Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let c = crate::config::OutboxConfig {
            initial_backoff_ms: 100,
            max_backoff_ms: 1_000,
            ..Default::default()
        };
        let ms = |a, r| backoff(&c, a, r).num_milliseconds();
        assert!((75..=125).contains(&ms(1, None)));
        assert!((150..=250).contains(&ms(2, None)));
        assert!((750..=1250).contains(&ms(30, None)));
        assert!(ms(1, Some(Duration::from_secs(5))) >= 5_000);
    }
}
