//! Upstreams: building each configured helpdesk, and shielding it.
//!
//! Every upstream sits behind a [`Shielded`] wrapper, itself a [`Helpdesk`]: a
//! concurrency cap with a bounded wait queue, an optional GCRA rate toward the
//! upstream (bursts are smoothed by waiting, not passed through), a deadline per call,
//! and a circuit breaker that opens after consecutive failures and lets one probe
//! through to close. Every refusal is `UpstreamUnavailable` and retryable, so a create
//! refused here is handed to the outbox like one the upstream itself could not take.

use crate::config::{Protection, UpstreamConfig, UpstreamKind};
use crate::metrics::Metrics;
use async_trait::async_trait;
use governor::{DefaultDirectRateLimiter, RateLimiter};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ticketgate_model::{
    Assignment, Attachment, Capabilities, Closure, DeleteMode, Document, Error, Helpdesk,
    LookupItem, LookupKind, NewEntry, NewTask, NewTicket, Page, Query, Resolution, Result, Stats,
    StatsQuery, Task, ThreadEntry, Ticket, TicketPatch,
};
use ticketgate_store::EmbeddedHelpdesk;
use tokio::sync::Semaphore;

/// Build the helpdesk an upstream entry describes.
pub fn build(name: &str, config: &UpstreamConfig, data_dir: &Path) -> Result<Built> {
    match &config.kind {
        UpstreamKind::Embedded { durability, path } => {
            let durability = match durability.as_deref() {
                Some("normal") => ticketgate_store::db::Durability::Normal,
                _ => ticketgate_store::db::Durability::Full,
            };
            let file = data_dir.join(path.as_deref().unwrap_or("helpdesk.sqlite"));
            let store = EmbeddedHelpdesk::open_with(&file, durability)?;
            Ok(Built {
                helpdesk: Arc::new(store.clone()),
                embedded: Some(store),
                name: name.to_owned(),
            })
        }
        UpstreamKind::Ticketgate(remote) => {
            remote_built(name, Arc::new(remote::RemoteGateway::new(name, remote)?))
        }
        UpstreamKind::Vendor { config, .. } => remote_built(name, config.build(name)?),
    }
}

fn remote_built(name: &str, helpdesk: Arc<dyn Helpdesk>) -> Result<Built> {
    Ok(Built {
        name: name.to_owned(),
        helpdesk,
        embedded: None,
    })
}

/// A freshly built upstream, before shielding.
pub struct Built {
    pub name: String,
    pub helpdesk: Arc<dyn Helpdesk>,
    /// Set for the embedded store, which `/readyz` can probe directly.
    pub embedded: Option<EmbeddedHelpdesk>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Circuit {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe is in flight; everyone else is refused until it answers.
    HalfOpen,
}

/// An upstream behind its concurrency cap, rate, deadline and circuit breaker.
pub struct Shielded {
    name: String,
    inner: Arc<dyn Helpdesk>,
    protection: Protection,
    slots: Semaphore,
    waiting: AtomicUsize,
    rate: Option<DefaultDirectRateLimiter>,
    circuit: Mutex<Circuit>,
    metrics: Arc<Metrics>,
}

impl Shielded {
    pub fn new(
        name: &str,
        inner: Arc<dyn Helpdesk>,
        protection: Protection,
        metrics: Arc<Metrics>,
    ) -> Self {
        metrics.circuit(name, false);
        Self {
            name: name.to_owned(),
            inner,
            slots: Semaphore::new(protection.concurrency),
            waiting: AtomicUsize::new(0),
            rate: protection
                .rate
                .map(|r| RateLimiter::direct(crate::ratelimit::quota(r))),
            circuit: Mutex::new(Circuit::Closed { failures: 0 }),
            protection,
            metrics,
        }
    }

    pub fn circuit_open(&self) -> bool {
        matches!(*self.lock_circuit(), Circuit::Open { until } if until > Instant::now())
    }

    fn lock_circuit(&self) -> std::sync::MutexGuard<'_, Circuit> {
        self.circuit.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn refuse(&self, why: &str, reason: &'static str, retry_after: Duration) -> Error {
        self.metrics.upstream_refused(&self.name, reason);
        Error::upstream_unavailable(format!("upstream {} {why}", self.name))
            .retry_after(retry_after)
    }

    /// Let a call through the breaker, or refuse it. Returns whether it is the probe.
    fn admit(&self) -> Result<bool> {
        let mut c = self.lock_circuit();
        match *c {
            Circuit::Closed { .. } => Ok(false),
            Circuit::Open { until } if until > Instant::now() => Err(self.refuse(
                "is failing; its circuit is open",
                "circuit_open",
                until - Instant::now(),
            )),
            Circuit::Open { .. } => {
                *c = Circuit::HalfOpen;
                Ok(true)
            }
            Circuit::HalfOpen => Err(self.refuse(
                "is being probed after failures",
                "probing",
                Duration::from_millis(self.protection.open_ms),
            )),
        }
    }

    fn record(&self, failed: bool, probe: bool) {
        let mut c = self.lock_circuit();
        let open = Circuit::Open {
            until: Instant::now() + Duration::from_millis(self.protection.open_ms),
        };
        let was_closed = matches!(*c, Circuit::Closed { .. });
        *c = match (*c, failed) {
            (_, false) => Circuit::Closed { failures: 0 },
            (Circuit::HalfOpen, true) => open,
            (_, true) if probe => open,
            (Circuit::Closed { failures }, true)
                if failures + 1 >= self.protection.failure_threshold =>
            {
                tracing::warn!(upstream = %self.name, "circuit opened after {} consecutive failures", failures + 1);
                open
            }
            (Circuit::Closed { failures }, true) => Circuit::Closed {
                failures: failures + 1,
            },
            (other, true) => other,
        };
        let closed = matches!(*c, Circuit::Closed { .. });
        if closed != was_closed {
            if closed {
                tracing::info!(upstream = %self.name, "circuit closed: the probe succeeded");
            }
            self.metrics.circuit(&self.name, !closed);
        }
    }

    async fn call<T, F>(&self, op: &'static str, f: F) -> Result<T>
    where
        F: Future<Output = Result<T>> + Send,
    {
        let probe = self.admit()?;
        // A probe that ends without an outcome (refused below, or its caller hung up
        // half-way) hands the probe to the next caller instead of leaving the circuit
        // half-open, refusing everyone, for ever.
        let mut probe_guard = ProbeGuard {
            circuit: &self.circuit,
            armed: probe,
        };
        let started = Instant::now();
        let queue_timeout = Duration::from_millis(self.protection.queue_timeout_ms);
        let permit = match self.slots.try_acquire() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.protection.queue {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(self.refuse(
                        "is at its concurrency limit and its queue is full",
                        "queue_full",
                        queue_timeout,
                    ));
                }
                // Leaves the queue however the wait ends, a caller that hangs up included.
                let in_queue = Waiting(&self.waiting);
                let got = tokio::time::timeout(queue_timeout, self.slots.acquire()).await;
                drop(in_queue);
                match got {
                    Ok(Ok(p)) => p,
                    _ => {
                        return Err(self.refuse(
                            "is busy: no slot freed in time",
                            "queue_timeout",
                            queue_timeout,
                        ));
                    }
                }
            }
        };
        if let Some(rate) = &self.rate {
            let left = queue_timeout.saturating_sub(started.elapsed());
            if tokio::time::timeout(left, rate.until_ready())
                .await
                .is_err()
            {
                drop(permit);
                return Err(self.refuse("is at its rate limit", "rate", queue_timeout));
            }
        }
        let deadline = Duration::from_millis(self.protection.call_timeout_ms);
        let result = match tokio::time::timeout(deadline, f).await {
            Ok(r) => r,
            Err(_) => Err(Error::upstream_unavailable(format!(
                "upstream {} did not answer within {} ms",
                self.name, self.protection.call_timeout_ms
            ))
            .with_upstream_status(504)),
        };
        drop(permit);
        // Only the upstream's own failures count against it: a 404 or a validation
        // error is a healthy upstream answering.
        let failed =
            matches!(&result, Err(e) if e.kind == ticketgate_model::ErrorKind::UpstreamUnavailable);
        probe_guard.armed = false;
        self.record(failed, probe);
        self.metrics
            .upstream_call(&self.name, op, started.elapsed(), failed);
        result
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.protection
            .concurrency
            .saturating_sub(self.slots.available_permits())
    }

    /// The most calls in flight at once.
    pub fn concurrency(&self) -> usize {
        self.protection.concurrency
    }

    /// `closed`, `open` or `half-open`.
    pub fn circuit_state(&self) -> &'static str {
        match *self.lock_circuit() {
            Circuit::Closed { .. } => "closed",
            Circuit::Open { until } if until > Instant::now() => "open",
            // Open with its time up: the next call probes.
            Circuit::Open { .. } | Circuit::HalfOpen => "half-open",
        }
    }

    /// Callers waiting for a slot now.
    pub fn queued(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}

/// One caller's place in the wait queue.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Armed while a probe has no outcome; dropped armed, it lets the next caller probe.
struct ProbeGuard<'a> {
    circuit: &'a Mutex<Circuit>,
    armed: bool,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut c = self.circuit.lock().unwrap_or_else(|p| p.into_inner());
            if *c == Circuit::HalfOpen {
                *c = Circuit::Open {
                    until: Instant::now(),
                };
            }
        }
    }
}

#[async_trait]
impl Helpdesk for Shielded {
    fn name(&self) -> &str {
        &self.name
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn create(&self, t: NewTicket) -> Result<Ticket> {
        self.call("create", self.inner.create(t)).await
    }
    async fn create_idempotent(&self, t: NewTicket, key: &str) -> Result<Ticket> {
        self.call("create", self.inner.create_idempotent(t, key))
            .await
    }
    async fn create_brief(&self, t: NewTicket, key: &str) -> Result<Ticket> {
        self.call("create", self.inner.create_brief(t, key)).await
    }
    async fn get(&self, id: &str) -> Result<Ticket> {
        self.call("get", self.inner.get(id)).await
    }
    async fn get_by_number(&self, number: &str) -> Result<Ticket> {
        self.call("get", self.inner.get_by_number(number)).await
    }
    async fn update(&self, id: &str, p: TicketPatch) -> Result<Ticket> {
        self.call("update", self.inner.update(id, p)).await
    }
    async fn delete(&self, id: &str, mode: DeleteMode) -> Result<()> {
        self.call("delete", self.inner.delete(id, mode)).await
    }
    async fn search(&self, q: &Query) -> Result<Page<Ticket>> {
        self.call("search", self.inner.search(q)).await
    }
    async fn add_entry(&self, id: &str, e: NewEntry) -> Result<ThreadEntry> {
        self.call("add_entry", self.inner.add_entry(id, e)).await
    }
    async fn resolve(&self, id: &str, r: Resolution) -> Result<Ticket> {
        self.call("resolve", self.inner.resolve(id, r)).await
    }
    async fn close(&self, id: &str, c: Closure) -> Result<Ticket> {
        self.call("close", self.inner.close(id, c)).await
    }
    async fn assign(&self, id: &str, a: Assignment) -> Result<Ticket> {
        self.call("assign", self.inner.assign(id, a)).await
    }
    async fn attach(&self, id: &str, files: Vec<Attachment>) -> Result<Vec<Attachment>> {
        self.call("attach", self.inner.attach(id, files)).await
    }
    async fn link(&self, parent: &str, child: &str) -> Result<()> {
        self.call("link", self.inner.link(parent, child)).await
    }
    async fn tasks(&self, id: &str) -> Result<Vec<Task>> {
        self.call("get", self.inner.tasks(id)).await
    }
    async fn add_task(&self, id: &str, task: NewTask) -> Result<Task> {
        self.call("add_entry", self.inner.add_task(id, task)).await
    }
    async fn add_document(
        &self,
        title: &str,
        file: Attachment,
        ticket: Option<&str>,
    ) -> Result<Document> {
        self.call("attach", self.inner.add_document(title, file, ticket))
            .await
    }
    async fn document(&self, id: &str) -> Result<Document> {
        self.call("get", self.inner.document(id)).await
    }
    async fn link_document(&self, id: &str, ticket: &str) -> Result<Document> {
        self.call("attach", self.inner.link_document(id, ticket))
            .await
    }
    async fn unlink(&self, parent: &str, child: &str) -> Result<()> {
        self.call("unlink", self.inner.unlink(parent, child)).await
    }
    async fn parent(&self, id: &str) -> Result<Option<Ticket>> {
        self.call("parent", self.inner.parent(id)).await
    }
    async fn children(&self, id: &str) -> Result<Vec<Ticket>> {
        self.call("children", self.inner.children(id)).await
    }
    async fn stats(&self, q: &StatsQuery) -> Result<Stats> {
        self.call("stats", self.inner.stats(q)).await
    }
    async fn lookup(&self, kind: LookupKind) -> Result<Vec<LookupItem>> {
        self.call("lookup", self.inner.lookup(kind)).await
    }
    async fn probe(&self) -> Result<String> {
        self.call("probe", self.inner.probe()).await
    }
    async fn shutdown(&self) {
        self.inner.shutdown().await
    }
}

pub mod remote;
#[cfg(test)]
mod tests;
