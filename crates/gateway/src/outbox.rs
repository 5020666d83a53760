//! The delivery worker: sends what the outbox holds, in order, with backoff.
//!
//! Order is owed per ticket, not per upstream: a reply is never delivered before its
//! own ticket, nor before an earlier reply to the same ticket, but one ticket's item
//! that is waiting (not due yet, failing, dead) never holds back another ticket's.
//! Within one pass, a temporary failure (the upstream unreachable, overloaded) stops
//! that upstream's remaining items until the next pass, so a down upstream is not
//! called once per queued item.
//!
//! A failed attempt is retried after an exponential backoff with jitter. A permanent
//! failure (the one classification: the error is not retryable — the upstream refused
//! the ticket as invalid, refused the gateway's credentials) dead-letters the item at
//! once; a temporary one after `max_attempts`. Either way the reason is kept
//! (`ticketgate outbox show`), counted (`ticketgate_outbox_dead_letters_total`), and
//! `ticketgate outbox retry` puts the item back in line.

use crate::gateway::Gateway;
use chrono::Utc;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use ticketgate_model::{ErrorKind, Helpdesk, NewEntry, NewTicket};
use ticketgate_store::{OutboxItem, OutboxKind, OutboxState};
use tokio::sync::watch;

/// Run until `shutdown` turns true.
pub async fn run(gateway: Arc<Gateway>, shutdown: watch::Receiver<bool>) {
    if gateway.state.is_shared() {
        run_shared(gateway, shutdown).await
    } else {
        run_alone(gateway, shutdown).await
    }
}

/// Items claimed at once by one gateway sharing its state.
const CLAIM_BATCH: u32 = 32;

/// The worker of a gateway that shares its state (PostgreSQL) with others: it delivers
/// only what it claimed. A claim holds only items whose earlier items of the same
/// ticket are done, so per-ticket order holds across gateways; what it cannot finish
/// (killed, or the state unreachable when the outcome is recorded) is claimed again by
/// any gateway when the lease runs out, and sent with the same delivery key.
async fn run_shared(gateway: Arc<Gateway>, mut shutdown: watch::Receiver<bool>) {
    let mut unreachable = false;
    loop {
        let poll = Duration::from_millis(gateway.config().outbox.poll_ms);
        let mut more = false;
        match gateway.state.claim(CLAIM_BATCH).await {
            Ok(items) => {
                if unreachable {
                    tracing::info!("the shared outbox is reachable again");
                    unreachable = false;
                }
                more = items.len() == CLAIM_BATCH as usize;
                let mut resting: HashSet<String> = HashSet::new();
                let mut give_back = Vec::new();
                for item in items {
                    if *shutdown.borrow() || resting.contains(&item.upstream) {
                        give_back.push(item.seq);
                        continue;
                    }
                    let id = item.request_id.as_deref().map(Arc::<str>::from);
                    let outcome =
                        ticketgate_upstream::request_id::scope_opt(id, deliver(&gateway, &item))
                            .await;
                    if outcome == Outcome::UpstreamFailing {
                        resting.insert(item.upstream);
                    }
                }
                if !resting.is_empty() {
                    more = false;
                }
                if let Err(e) = gateway.state.release(give_back).await {
                    tracing::warn!(error = %e, "claimed outbox items not released; they come back when their lease runs out");
                }
            }
            Err(e) => {
                if !unreachable {
                    tracing::error!(error = %e, "the shared outbox cannot be read; retrying");
                    unreachable = true;
                }
            }
        }
        if *shutdown.borrow() {
            return;
        }
        if more {
            continue;
        }
        tokio::select! {
            _ = gateway.outbox_wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// The worker of a gateway alone on its state (SQLite): it reads every pending item in
/// order and skips those whose ticket has an earlier item still waiting.
async fn run_alone(gateway: Arc<Gateway>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let poll = Duration::from_millis(gateway.config().outbox.poll_ms);
        match gateway.state.pending(256).await {
            Ok(items) => {
                let now = Utc::now();
                // Tickets with an earlier item still waiting, and upstreams that failed
                // temporarily in this pass.
                let mut held_tickets: HashSet<String> = HashSet::new();
                let mut resting: HashSet<String> = HashSet::new();
                for item in items {
                    if *shutdown.borrow() {
                        return;
                    }
                    let ticket = ticket_key(&item).to_owned();
                    if held_tickets.contains(&ticket) || resting.contains(&item.upstream) {
                        held_tickets.insert(ticket);
                        continue;
                    }
                    if item.next_attempt_at > now {
                        held_tickets.insert(ticket);
                        continue;
                    }
                    // The delivery's upstream calls carry the id of the request that
                    // queued it.
                    let id = item.request_id.as_deref().map(Arc::<str>::from);
                    let outcome =
                        ticketgate_upstream::request_id::scope_opt(id, deliver(&gateway, &item))
                            .await;
                    match outcome {
                        Outcome::Done => {}
                        Outcome::Waiting => {
                            held_tickets.insert(ticket);
                        }
                        Outcome::UpstreamFailing => {
                            held_tickets.insert(ticket);
                            resting.insert(item.upstream);
                        }
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

/// The ticket an item belongs to, for ordering: a create is its own ticket (its
/// tracking id); an entry belongs to its target (an upstream id, or the tracking id of
/// the create it is queued behind).
fn ticket_key(item: &OutboxItem) -> &str {
    match item.kind {
        OutboxKind::Create => &item.tracking_id,
        OutboxKind::Entry => item.target.as_deref().unwrap_or(&item.tracking_id),
    }
}

/// What one attempt did to the queue.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Delivered or dead-lettered: it holds nothing back any more.
    Done,
    /// Still pending (waiting for its ticket, or retried later): later items of the
    /// same ticket wait.
    Waiting,
    /// A temporary failure of the upstream: its other items wait for the next pass.
    UpstreamFailing,
}

/// One attempt at one item.
async fn deliver(gateway: &Gateway, item: &OutboxItem) -> Outcome {
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
                return Outcome::Waiting;
            }
            _ => {
                gateway.metrics.outbox_failed(true);
                let _ = gateway
                    .state
                    .failed(
                        item.seq,
                        &format!(
                            "dead letter: its ticket {target} was never delivered (dead or dropped)"
                        ),
                        None,
                    )
                    .await;
                return Outcome::Done;
            }
        }
    }
    if let Err(e) = gateway.state.begin_attempt(item.seq).await {
        tracing::error!(error = %e, "cannot record an outbox attempt; not sending");
        return Outcome::Waiting;
    }
    let attempt = item.attempts + 1;
    let result = match item.kind {
        OutboxKind::Create => match serde_json::from_str::<NewTicket>(&item.payload) {
            Ok(t) => upstream
                // Only the id and number are kept: no read back.
                .create_brief(t, &item.delivery_key)
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
            Outcome::Done
        }
        Err(e) => {
            let permanent = !e.retryable;
            let dead = permanent || attempt >= config.max_attempts;
            let next = (!dead).then(|| Utc::now() + backoff(&config, attempt, e.retry_after));
            gateway.metrics.outbox_failed(dead);
            let why = if permanent {
                format!(
                    "dead letter: permanent failure ({}, upstream status {}): {}",
                    e.kind.as_str(),
                    e.upstream_status
                        .map_or_else(|| "none".to_owned(), |s| s.to_string()),
                    e.message
                )
            } else if dead {
                format!(
                    "dead letter: still failing after {attempt} attempt(s): {}",
                    e.message
                )
            } else {
                e.message.clone()
            };
            if dead {
                tracing::warn!(tracking_id = item.tracking_id, attempt, error = %e, permanent, "outbox item dead-lettered");
            } else {
                tracing::info!(tracking_id = item.tracking_id, attempt, error = %e, "outbox delivery failed; will retry");
            }
            if let Err(se) = gateway.state.failed(item.seq, &why, next).await {
                tracing::error!(error = %se, "cannot record an outbox failure");
            }
            match (dead, e.kind) {
                (true, _) => Outcome::Done,
                // A refusal by the shield or the upstream itself: the upstream is in
                // trouble, not this item.
                (false, ErrorKind::UpstreamUnavailable | ErrorKind::RateLimited) => {
                    Outcome::UpstreamFailing
                }
                (false, _) => Outcome::Waiting,
            }
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
    use crate::config::{Config, Protection};
    use crate::upstream::Shielded;
    use async_trait::async_trait;
    use ticketgate_model::{Body, Capabilities, Error, Requester, Ticket};
    use ticketgate_store::{EmbeddedHelpdesk, Enqueue};

    /// The embedded store, except that it refuses every ticket whose subject starts
    /// with "poison" with the given error.
    struct Picky {
        inner: EmbeddedHelpdesk,
        poison: Error,
    }

    #[async_trait]
    impl Helpdesk for Picky {
        fn name(&self) -> &str {
            "picky"
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities::all()
        }
        async fn create(&self, t: NewTicket) -> ticketgate_model::Result<Ticket> {
            if t.subject.starts_with("poison") {
                return Err(self.poison.clone());
            }
            self.inner.create(t).await
        }
    }

    fn ticket(subject: &str) -> String {
        serde_json::to_string(&NewTicket {
            subject: subject.to_owned(),
            body: Body::text("b"),
            requester: Requester {
                email: Some("a@example.com".to_owned()),
                ..Requester::default()
            },
            ..NewTicket::default()
        })
        .expect("a ticket serialises")
    }

    /// One poisoned create queued first, three good ones after it: the good ones are
    /// delivered while the poisoned one is still failing (or dead). Returns the
    /// poisoned item as it ends.
    /// On SQLite, or on the PostgreSQL database `pg`.
    async fn poisoned_first(
        poison: Error,
        pg: Option<&ticketgate_store::ScratchDatabase>,
    ) -> (OutboxItem, Arc<Gateway>) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let state = match pg {
            Some(db) => format!(
                "[state]\nbackend = \"postgres\"\nurl = {:?}\npool_size = 4\n",
                db.url()
            ),
            None => String::new(),
        };
        let text = format!(
            "[server]\ndata_dir = {:?}\n[outbox]\ninitial_backoff_ms = 100\nmax_backoff_ms = 200\n\
             poll_ms = 50\nmax_attempts = 1000\n{state}\n[[consumers]]\nname = \"demo\"\n\
             bearer_key = \"k\"\npermissions = [\"create\"]\n",
            dir.path().display().to_string()
        );
        let config = Config::parse(&text, &|_| None).expect("a valid config");
        let mut gateway = Gateway::build(config).expect("the gateway builds");
        let g = Arc::get_mut(&mut gateway).expect("nothing else holds it yet");
        let store = EmbeddedHelpdesk::open_with(
            &dir.path().join("picky.sqlite"),
            ticketgate_store::db::Durability::Normal,
        )
        .expect("a store");
        // A breaker that never opens: this test is about ordering, not the shield.
        let protection = Protection {
            failure_threshold: 1_000_000,
            ..Protection::default()
        };
        let picky = Shielded::new(
            "embedded",
            Arc::new(Picky {
                inner: store.clone(),
                poison,
            }),
            protection,
            g.metrics.clone(),
        );
        g.upstreams.insert("embedded".to_owned(), Arc::new(picky));
        let mut poisoned = String::new();
        for subject in ["poison", "good 1", "good 2", "good 3"] {
            let id = gateway
                .state
                .enqueue(Enqueue {
                    upstream: "embedded".to_owned(),
                    kind: OutboxKind::Create,
                    target: None,
                    consumer: "demo".to_owned(),
                    payload: ticket(subject),
                    idempotency: None,
                    delivery_key: None,
                    request_id: ticketgate_upstream::request_id::current().map(|id| id.to_string()),
                })
                .await
                .expect("queued");
            if poisoned.is_empty() {
                poisoned = id;
            }
        }
        let (stop, rx) = watch::channel(false);
        let worker = tokio::spawn(run(gateway.clone(), rx));
        let started = std::time::Instant::now();
        loop {
            let delivered = gateway
                .state
                .list(Some(OutboxState::Delivered), 100)
                .await
                .expect("the outbox reads");
            if delivered.len() == 3 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the good tickets were held back behind the poisoned one"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = stop.send(true);
        let _ = worker.await;
        let query = ticketgate_model::Query {
            limit: 10,
            ..Default::default()
        };
        assert_eq!(store.search(&query).await.expect("search").total, 3);
        let item = gateway
            .state
            .item(&poisoned)
            .await
            .expect("reads")
            .expect("the poisoned item is kept");
        drop(dir);
        (item, gateway)
    }

    /// SQLite, and PostgreSQL when a server answers (see `ScratchDatabase::for_test`).
    fn backends(what: &str) -> Vec<Option<ticketgate_store::ScratchDatabase>> {
        let mut out = vec![None];
        if let Some(db) = ticketgate_store::ScratchDatabase::for_test(what) {
            out.push(Some(db));
        }
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_ticket_failing_for_now_holds_back_no_other_ticket() {
        for pg in backends("a_ticket_failing_for_now_holds_back_no_other_ticket") {
            let (item, _) = poisoned_first(
                Error::upstream_unavailable("busy with this one").with_upstream_status(503),
                pg.as_ref(),
            )
            .await;
            assert_eq!(item.state, OutboxState::Pending, "still retried: {item:?}");
            assert!(item.attempts >= 1);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_permanent_failure_is_dead_at_once_says_why_and_is_counted() {
        for pg in backends("a_permanent_failure_is_dead_at_once_says_why_and_is_counted") {
            permanent_failure(pg.as_ref()).await;
        }
    }

    async fn permanent_failure(pg: Option<&ticketgate_store::ScratchDatabase>) {
        let refusal = ticketgate_model::classify_upstream(
            "osTicket",
            &ticketgate_model::UpstreamAnswer {
                status: 500,
                hint: ticketgate_model::UpstreamHint::Refused,
                message: "Unable to create new ticket :duedate\nDue date must be in the future",
                retry_after: None,
            },
        );
        let (item, gateway) = poisoned_first(refusal, pg).await;
        assert_eq!(item.state, OutboxState::Dead);
        assert_eq!(item.attempts, 1, "dead at the first refusal");
        let why = item.last_error.unwrap_or_default();
        assert!(why.contains("permanent failure"), "{why}");
        assert!(why.contains("Due date must be in the future"), "{why}");
        assert!(
            gateway
                .metrics
                .render(None)
                .contains("ticketgate_outbox_dead_letters_total 1"),
        );
    }

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
