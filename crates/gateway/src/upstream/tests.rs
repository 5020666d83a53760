use super::*;
use std::sync::atomic::AtomicBool;

/// A helpdesk that fails while `down` is set and records concurrency.
struct Flaky {
    down: AtomicBool,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    delay: Duration,
}

#[async_trait]
impl Helpdesk for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::all()
    }
    async fn create(&self, _: NewTicket) -> Result<Ticket> {
        Err(Error::internal("unused"))
    }
    async fn lookup(&self, _: LookupKind) -> Result<Vec<LookupItem>> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            Err(Error::upstream_unavailable("down"))
        } else {
            Ok(vec![])
        }
    }
}

fn flaky(delay_ms: u64) -> Arc<Flaky> {
    Arc::new(Flaky {
        down: AtomicBool::new(false),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
        delay: Duration::from_millis(delay_ms),
    })
}

#[tokio::test]
async fn concurrency_is_capped_and_the_queue_is_bounded() {
    let f = flaky(30);
    let protection = Protection {
        concurrency: 2,
        queue: 3,
        queue_timeout_ms: 2_000,
        ..Protection::default()
    };
    let s = Arc::new(Shielded::new(
        "up",
        f.clone(),
        protection,
        Arc::new(Metrics::default()),
    ));
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.lookup(LookupKind::Statuses).await })
        })
        .collect();
    let mut ok = 0;
    let mut refused = 0;
    for c in calls {
        match c.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(e.retryable && e.retry_after.is_some());
                refused += 1;
            }
        }
    }
    assert_eq!(f.max_in_flight.load(Ordering::SeqCst), 2);
    assert_eq!(
        (ok, refused),
        (5, 5),
        "2 running + 3 queued pass, the rest are refused"
    );
}

#[tokio::test]
async fn circuit_opens_after_failures_and_closes_after_a_good_probe() {
    let f = flaky(0);
    let protection = Protection {
        failure_threshold: 3,
        open_ms: 50,
        ..Protection::default()
    };
    let metrics = Arc::new(Metrics::default());
    let s = Shielded::new("up", f.clone(), protection, metrics.clone());
    let gauge = |open: u8| format!("ticketgate_upstream_circuit_open{{upstream=\"up\"}} {open}");
    assert!(metrics.render(None).contains(&gauge(0)));
    f.down.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        assert!(s.lookup(LookupKind::Statuses).await.is_err());
    }
    assert!(s.circuit_open());
    assert!(metrics.render(None).contains(&gauge(1)));
    let e = s.lookup(LookupKind::Statuses).await.unwrap_err();
    assert!(e.message.contains("circuit is open"), "{e}");
    assert!(
        metrics.render(None).contains(
            "ticketgate_upstream_refused_total{upstream=\"up\",reason=\"circuit_open\"} 1"
        )
    );
    f.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(60)).await;
    s.lookup(LookupKind::Statuses).await.unwrap();
    assert!(!s.circuit_open());
    assert!(metrics.render(None).contains(&gauge(0)));
    s.lookup(LookupKind::Statuses).await.unwrap();
}

#[tokio::test]
async fn a_rate_toward_the_upstream_is_smoothed_not_refused() {
    let f = flaky(0);
    let protection = Protection {
        rate: Some(crate::config::Rate {
            per_second: 50.0,
            burst: 1,
        }),
        ..Protection::default()
    };
    let s = Shielded::new("up", f, protection, Arc::new(Metrics::default()));
    let started = Instant::now();
    for _ in 0..6 {
        s.lookup(LookupKind::Statuses).await.unwrap();
    }
    // 6 calls at 50/s with a burst of 1 take at least 5 intervals of 20 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(95),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_caller_that_gives_up_while_queued_frees_its_place() {
    let f = flaky(200);
    let protection = Protection {
        concurrency: 1,
        queue: 1,
        queue_timeout_ms: 2_000,
        ..Protection::default()
    };
    let s = Arc::new(Shielded::new(
        "up",
        f.clone(),
        protection,
        Arc::new(Metrics::default()),
    ));
    let running = {
        let s = s.clone();
        tokio::spawn(async move { s.lookup(LookupKind::Statuses).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Queued, then gone: its client hung up.
    let gave_up =
        tokio::time::timeout(Duration::from_millis(20), s.lookup(LookupKind::Statuses)).await;
    assert!(gave_up.is_err(), "it was still waiting");
    assert_eq!(s.queued(), 0);
    // So the queue has room for the next caller, who is served after the first.
    s.lookup(LookupKind::Statuses).await.unwrap();
    running.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_probe_whose_caller_hangs_up_lets_the_next_caller_probe() {
    let f = flaky(150);
    let protection = Protection {
        failure_threshold: 1,
        open_ms: 20,
        ..Protection::default()
    };
    let s = Shielded::new("up", f.clone(), protection, Arc::new(Metrics::default()));
    f.down.store(true, Ordering::SeqCst);
    assert!(s.lookup(LookupKind::Statuses).await.is_err());
    assert!(s.circuit_open());
    tokio::time::sleep(Duration::from_millis(30)).await;
    // The probe's caller goes away before the upstream answers.
    let cut = tokio::time::timeout(Duration::from_millis(20), s.lookup(LookupKind::Statuses)).await;
    assert!(cut.is_err());
    // The circuit is not left half-open: the next caller is the probe, and reaches
    // the (recovered) upstream.
    f.down.store(false, Ordering::SeqCst);
    s.lookup(LookupKind::Statuses).await.unwrap();
    assert!(!s.circuit_open());
    s.lookup(LookupKind::Statuses).await.unwrap();
}

#[tokio::test]
async fn a_probe_refused_by_a_full_queue_does_not_wedge_the_circuit() {
    let f = flaky(100);
    let protection = Protection {
        concurrency: 1,
        queue: 0,
        failure_threshold: 1,
        open_ms: 20,
        ..Protection::default()
    };
    let s = Arc::new(Shielded::new(
        "up",
        f.clone(),
        protection,
        Arc::new(Metrics::default()),
    ));
    // A call admitted while closed holds the only slot…
    let holder = {
        let s = s.clone();
        tokio::spawn(async move { s.lookup(LookupKind::Statuses).await })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    // …while failures elsewhere open the circuit (forced here).
    *s.lock_circuit() = Circuit::Open {
        until: Instant::now(),
    };
    // The probe finds no slot and no queue: refused, and the circuit stays probe-able.
    let e = s.lookup(LookupKind::Statuses).await.unwrap_err();
    assert!(e.message.contains("queue is full"), "{e}");
    assert_ne!(*s.lock_circuit(), Circuit::HalfOpen);
    holder.await.unwrap().unwrap();
    s.lookup(LookupKind::Statuses).await.unwrap();
}
