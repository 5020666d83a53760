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
    let s = Shielded::new("up", f.clone(), protection, Arc::new(Metrics::default()));
    f.down.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        assert!(s.lookup(LookupKind::Statuses).await.is_err());
    }
    assert!(s.circuit_open());
    let e = s.lookup(LookupKind::Statuses).await.unwrap_err();
    assert!(e.message.contains("circuit is open"), "{e}");
    f.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(60)).await;
    s.lookup(LookupKind::Statuses).await.unwrap();
    assert!(!s.circuit_open());
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
