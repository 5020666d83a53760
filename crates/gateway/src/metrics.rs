//! Prometheus metrics, kept in plain counters and rendered in the text format.
//!
//! Labels are from small fixed sets (dialect, status code, upstream, operation,
//! reason), so the maps stay small; no label ever carries a credential or an id.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A latency histogram of atomic counters: observing is a few relaxed increments.
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        // Buckets are cumulative: the first that holds the value and every one after.
        if let Some(first) = BUCKETS.iter().position(|b| secs <= *b) {
            for b in &self.buckets[first..] {
                b.fetch_add(1, Relaxed);
            }
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Relaxed,
        );
    }
}

/// Values under string labels from a small set (dialects, upstreams, operations). The
/// lock is taken for writing only the first time a label is seen; every later update
/// is a shared read of the map and atomic increments, with no allocation.
pub(crate) struct Family<V> {
    map: RwLock<BTreeMap<Box<str>, V>>,
}

impl<V> Default for Family<V> {
    fn default() -> Self {
        Self {
            map: RwLock::new(BTreeMap::new()),
        }
    }
}

impl<V> Family<V> {
    pub(crate) fn with<R>(&self, key: &str, new: impl FnOnce() -> V, f: impl FnOnce(&V) -> R) -> R {
        {
            let map = self.map.read().unwrap_or_else(|p| p.into_inner());
            if let Some(v) = map.get(key) {
                return f(v);
            }
        }
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        f(map.entry(key.into()).or_insert_with(new))
    }

    pub(crate) fn each(&self, mut f: impl FnMut(&str, &V)) {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        for (k, v) in map.iter() {
            f(k, v);
        }
    }
}

/// The HTTP status codes counted one by one (100–599); anything else is counted as 0.
const STATUSES: usize = 600;

/// One dialect's requests: a counter per status code and the latency.
struct DialectStats {
    statuses: Box<[AtomicU64]>,
    latency: Histogram,
}

impl DialectStats {
    fn new() -> Self {
        Self {
            statuses: (0..STATUSES).map(|_| AtomicU64::new(0)).collect(),
            latency: Histogram::default(),
        }
    }
}

/// One upstream's calls: by operation, `[ok, error]`, and the latency.
#[derive(Default)]
struct UpstreamStats {
    calls: Family<[AtomicU64; 2]>,
    latency: Histogram,
}

/// What changes rarely (refusals, circuits, the outbox, mail): one mutex is enough.
#[derive(Default)]
struct Rare {
    upstream_refused: BTreeMap<(String, &'static str), u64>,
    /// Per upstream: whether its circuit is open (or half-open, being probed).
    circuits: BTreeMap<String, bool>,
    outbox_deliveries: u64,
    outbox_failures: u64,
    outbox_dead: u64,
    mail: BTreeMap<String, u64>,
    /// Mirrored writes by (operation, outcome), and mismatches by field.
    mirror_writes: BTreeMap<(&'static str, &'static str), u64>,
    mirror_mismatches: BTreeMap<&'static str, u64>,
}

/// The gateway's counters. A request and an upstream call, the per-request points,
/// cost atomic increments and a shared read lock; nothing on that path allocates.
#[derive(Default)]
pub struct Metrics {
    dialects: Family<DialectStats>,
    upstreams: Family<UpstreamStats>,
    rare: Mutex<Rare>,
    /// Client connections open, and those of them parked between requests.
    pub connections: Connections,
    /// The last hour minute by minute, for the status page; fed by the same points.
    pub history: crate::status::History,
}

/// Gauges of client connections (both listeners).
#[derive(Default)]
pub struct Connections {
    open: AtomicU64,
    parked: AtomicU64,
}

/// Counts one connection (or one park) for as long as it lives.
pub struct Counted<'a>(&'a AtomicU64);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

impl Connections {
    pub fn opened(&self) -> Counted<'_> {
        self.open.fetch_add(1, Relaxed);
        Counted(&self.open)
    }

    pub fn parked(&self) -> Counted<'_> {
        self.parked.fetch_add(1, Relaxed);
        Counted(&self.parked)
    }
}

/// Figures read at scrape time from the durable state.
pub struct OutboxGauges {
    pub pending: u64,
    pub dead: u64,
    pub oldest_age_secs: f64,
}

impl Metrics {
    fn rare<R>(&self, f: impl FnOnce(&mut Rare) -> R) -> R {
        f(&mut self.rare.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn request(&self, dialect: &str, status: u16, elapsed: Duration) {
        self.dialects.with(dialect, DialectStats::new, |d| {
            let i = usize::from(status);
            d.statuses[if i < STATUSES { i } else { 0 }].fetch_add(1, Relaxed);
            d.latency.observe(elapsed);
        });
    }

    pub fn upstream_call(&self, upstream: &str, op: &'static str, elapsed: Duration, failed: bool) {
        self.upstreams.with(upstream, UpstreamStats::default, |u| {
            u.calls.with(op, Default::default, |c: &[AtomicU64; 2]| {
                c[usize::from(failed)].fetch_add(1, Relaxed)
            });
            u.latency.observe(elapsed);
        });
        self.history.upstream_call(upstream, elapsed, failed);
    }

    /// A call refused to protect an upstream; `reason` is one of `queue_full`,
    /// `queue_timeout`, `rate`, `circuit_open`, `probing`.
    pub fn upstream_refused(&self, upstream: &str, reason: &'static str) {
        self.rare(|m| {
            *m.upstream_refused
                .entry((upstream.to_owned(), reason))
                .or_default() += 1
        });
    }

    /// An upstream's circuit opened (`true`) or closed (`false`).
    pub fn circuit(&self, upstream: &str, open: bool) {
        self.rare(|m| {
            m.circuits.insert(upstream.to_owned(), open);
        });
    }

    pub fn outbox_delivered(&self) {
        self.rare(|m| m.outbox_deliveries += 1);
        self.history.delivered();
    }

    pub fn outbox_failed(&self, dead: bool) {
        self.rare(|m| {
            m.outbox_failures += 1;
            if dead {
                m.outbox_dead += 1;
            }
        });
        if dead {
            self.history.dead_lettered();
        }
    }

    /// A mail outcome: `created`, `replied`, `duplicate`, `queued` or `ignored:<reason>`.
    pub fn mail(&self, outcome: &str) {
        self.rare(|m| *m.mail.entry(outcome.to_owned()).or_default() += 1);
        self.history.mail(outcome);
    }

    /// A write mirrored to the secondary upstream: `outcome` is `mirrored`, `failed`
    /// (the secondary refused or could not be reached) or `unpaired` (the ticket has no
    /// copy on the secondary yet).
    pub fn mirror_write(&self, op: &'static str, outcome: &'static str) {
        self.rare(|m| *m.mirror_writes.entry((op, outcome)).or_default() += 1);
    }

    /// The secondary's answer differed from the primary's in `field`.
    pub fn mirror_mismatch(&self, field: &'static str) {
        self.rare(|m| *m.mirror_mismatches.entry(field).or_default() += 1);
    }

    /// A reply queued in the outbox: `queued` in `/metrics` (as a queued create is),
    /// a reply on the status page.
    pub fn mail_reply_queued(&self) {
        self.rare(|m| *m.mail.entry("queued".to_owned()).or_default() += 1);
        self.history.mail("queued_reply");
    }

    pub fn render(&self, outbox: Option<OutboxGauges>) -> String {
        let mut out = String::with_capacity(4096);
        counter_header(
            &mut out,
            "ticketgate_requests_total",
            "Requests answered, by dialect and status.",
        );
        self.dialects.each(|d, stats| {
            for (code, n) in stats.statuses.iter().enumerate() {
                let n = n.load(Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "ticketgate_requests_total{{dialect=\"{d}\",status=\"{code}\"}} {n}"
                    );
                }
            }
        });
        histogram_header(
            &mut out,
            "ticketgate_request_duration_seconds",
            "Request latency by dialect.",
        );
        self.dialects.each(|d, stats| {
            histogram(
                &mut out,
                "ticketgate_request_duration_seconds",
                "dialect",
                d,
                &stats.latency,
            );
        });
        counter_header(
            &mut out,
            "ticketgate_rate_limited_total",
            "Requests refused by a rate limit.",
        );
        self.dialects.each(|d, stats| {
            let n = stats.statuses[429].load(Relaxed);
            if n > 0 {
                let _ = writeln!(out, "ticketgate_rate_limited_total{{dialect=\"{d}\"}} {n}");
            }
        });
        counter_header(
            &mut out,
            "ticketgate_upstream_calls_total",
            "Calls to upstream helpdesks.",
        );
        self.upstreams.each(|u, stats| {
            stats.calls.each(|op, c| {
                for (outcome, n) in ["ok", "error"].iter().zip(c) {
                    let n = n.load(Relaxed);
                    if n > 0 {
                        let _ = writeln!(
                            out,
                            "ticketgate_upstream_calls_total{{upstream=\"{u}\",operation=\"{op}\",outcome=\"{outcome}\"}} {n}"
                        );
                    }
                }
            });
        });
        histogram_header(
            &mut out,
            "ticketgate_upstream_duration_seconds",
            "Upstream call latency.",
        );
        self.upstreams.each(|u, stats| {
            histogram(
                &mut out,
                "ticketgate_upstream_duration_seconds",
                "upstream",
                u,
                &stats.latency,
            );
        });
        self.rare(|m| {
            counter_header(&mut out, "ticketgate_upstream_refused_total", "Calls refused to protect an upstream, by reason (queue_full, queue_timeout, rate, circuit_open, probing).");
            for ((u, reason), n) in &m.upstream_refused {
                let _ = writeln!(out, "ticketgate_upstream_refused_total{{upstream=\"{u}\",reason=\"{reason}\"}} {n}");
            }
            let _ = writeln!(
                out,
                "# HELP ticketgate_upstream_circuit_open Whether an upstream's circuit is open or half-open (1) or closed (0).\n# TYPE ticketgate_upstream_circuit_open gauge"
            );
            for (u, open) in &m.circuits {
                let _ = writeln!(out, "ticketgate_upstream_circuit_open{{upstream=\"{u}\"}} {}", u8::from(*open));
            }
            counter_header(&mut out, "ticketgate_outbox_deliveries_total", "Outbox items delivered.");
            let _ = writeln!(out, "ticketgate_outbox_deliveries_total {}", m.outbox_deliveries);
            counter_header(&mut out, "ticketgate_outbox_failures_total", "Failed outbox delivery attempts.");
            let _ = writeln!(out, "ticketgate_outbox_failures_total {}", m.outbox_failures);
            counter_header(&mut out, "ticketgate_outbox_dead_letters_total", "Outbox items dead-lettered.");
            let _ = writeln!(out, "ticketgate_outbox_dead_letters_total {}", m.outbox_dead);
            if !m.mirror_writes.is_empty() || !m.mirror_mismatches.is_empty() {
                counter_header(&mut out, "ticketgate_mirror_writes_total", "Writes mirrored to the secondary upstream, by operation and outcome.");
                for ((op, o), n) in &m.mirror_writes {
                    let _ = writeln!(out, "ticketgate_mirror_writes_total{{operation=\"{op}\",outcome=\"{o}\"}} {n}");
                }
                counter_header(&mut out, "ticketgate_mirror_mismatches_total", "Fields in which the secondary's answer differed from the primary's.");
                for (f, n) in &m.mirror_mismatches {
                    let _ = writeln!(out, "ticketgate_mirror_mismatches_total{{field=\"{f}\"}} {n}");
                }
            }
            counter_header(&mut out, "ticketgate_mail_total", "Mail messages by outcome.");
            for (o, n) in &m.mail {
                let _ = writeln!(out, "ticketgate_mail_total{{outcome=\"{o}\"}} {n}");
            }
        });
        let _ = writeln!(
            out,
            "# HELP ticketgate_connections_open Client connections open.\n# TYPE ticketgate_connections_open gauge\nticketgate_connections_open {}",
            self.connections.open.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP ticketgate_connections_parked Client connections waiting for their next request, held without buffers.\n# TYPE ticketgate_connections_parked gauge\nticketgate_connections_parked {}",
            self.connections.parked.load(Relaxed)
        );
        if let Some(g) = outbox {
            let _ = writeln!(
                out,
                "# HELP ticketgate_outbox_depth Outbox items waiting for delivery.\n# TYPE ticketgate_outbox_depth gauge"
            );
            let _ = writeln!(out, "ticketgate_outbox_depth {}", g.pending);
            let _ = writeln!(
                out,
                "# HELP ticketgate_outbox_dead Outbox items in the dead-letter state.\n# TYPE ticketgate_outbox_dead gauge"
            );
            let _ = writeln!(out, "ticketgate_outbox_dead {}", g.dead);
            let _ = writeln!(
                out,
                "# HELP ticketgate_outbox_oldest_age_seconds Age of the oldest waiting item.\n# TYPE ticketgate_outbox_oldest_age_seconds gauge"
            );
            let _ = writeln!(
                out,
                "ticketgate_outbox_oldest_age_seconds {:.3}",
                g.oldest_age_secs
            );
        }
        out
    }
}

fn counter_header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
}

fn histogram_header(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
}

fn histogram(out: &mut String, name: &str, label: &str, key: &str, h: &Histogram) {
    for (bucket, le) in h.buckets.iter().zip(BUCKETS) {
        let _ = writeln!(
            out,
            "{name}_bucket{{{label}=\"{key}\",le=\"{le}\"}} {}",
            bucket.load(Relaxed)
        );
    }
    let count = h.count.load(Relaxed);
    let _ = writeln!(
        out,
        "{name}_bucket{{{label}=\"{key}\",le=\"+Inf\"}} {count}"
    );
    let sum = h.sum_nanos.load(Relaxed) as f64 / 1e9;
    let _ = writeln!(out, "{name}_sum{{{label}=\"{key}\"}} {sum:.6}");
    let _ = writeln!(out, "{name}_count{{{label}=\"{key}\"}} {count}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.request("canonical", 201, Duration::from_millis(2));
        m.request("canonical", 429, Duration::from_micros(100));
        let text = m.render(Some(OutboxGauges {
            pending: 3,
            dead: 1,
            oldest_age_secs: 2.5,
        }));
        assert!(text.contains("ticketgate_requests_total{dialect=\"canonical\",status=\"201\"} 1"));
        assert!(text.contains("ticketgate_rate_limited_total{dialect=\"canonical\"} 1"));
        assert!(text.contains(
            "ticketgate_request_duration_seconds_bucket{dialect=\"canonical\",le=\"0.0025\"} 2"
        ));
        assert!(text.contains("ticketgate_outbox_depth 3"));
    }

    #[test]
    fn renders_upstream_protection() {
        let m = Metrics::default();
        m.circuit("central", false);
        m.upstream_refused("central", "queue_full");
        m.upstream_refused("central", "queue_full");
        m.upstream_refused("central", "circuit_open");
        m.circuit("central", true);
        let text = m.render(None);
        assert!(text.contains(
            "ticketgate_upstream_refused_total{upstream=\"central\",reason=\"queue_full\"} 2"
        ));
        assert!(text.contains(
            "ticketgate_upstream_refused_total{upstream=\"central\",reason=\"circuit_open\"} 1"
        ));
        assert!(text.contains("# TYPE ticketgate_upstream_circuit_open gauge"));
        assert!(text.contains("ticketgate_upstream_circuit_open{upstream=\"central\"} 1"));
    }

    #[test]
    fn counts_from_many_threads_are_exact() {
        let m = std::sync::Arc::new(Metrics::default());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let m = m.clone();
                std::thread::spawn(move || {
                    let dialect = if t % 2 == 0 { "canonical" } else { "osticket" };
                    for i in 0..1000u64 {
                        let status = if i % 10 == 0 { 429 } else { 200 };
                        m.request(dialect, status, Duration::from_micros(i));
                        m.history.request(status, Some("ann"));
                        m.upstream_call("central", "create", Duration::from_millis(1), i % 4 == 0);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = m.render(None);
        for d in ["canonical", "osticket"] {
            assert!(
                text.contains(&format!(
                    "ticketgate_requests_total{{dialect=\"{d}\",status=\"200\"}} 3600"
                )),
                "{text}"
            );
            assert!(
                text.contains(&format!(
                    "ticketgate_rate_limited_total{{dialect=\"{d}\"}} 400"
                )),
                "{text}"
            );
            assert!(
                text.contains(&format!(
                    "ticketgate_request_duration_seconds_count{{dialect=\"{d}\"}} 4000"
                )),
                "{text}"
            );
            // 0..1000 µs, four threads each: every one ≤ 1 ms.
            assert!(text.contains(&format!("ticketgate_request_duration_seconds_bucket{{dialect=\"{d}\",le=\"0.001\"}} 4000")), "{text}");
        }
        assert!(text.contains("ticketgate_upstream_calls_total{upstream=\"central\",operation=\"create\",outcome=\"ok\"} 6000"), "{text}");
        assert!(text.contains("ticketgate_upstream_calls_total{upstream=\"central\",operation=\"create\",outcome=\"error\"} 2000"), "{text}");
        let minutes = m.history.minutes();
        let now = minutes.last().unwrap();
        // Unless the minute turned during the test, the current minute holds them all.
        let total: u64 = minutes.iter().map(|m| m.requests).sum();
        assert_eq!(total, 8000);
        let calls: u64 = minutes
            .iter()
            .filter_map(|m| m.upstreams.get("central"))
            .map(|u| u.calls)
            .sum();
        assert_eq!(calls, 8000);
        let rate_limited: u64 = minutes.iter().flat_map(|m| m.rate_limited.values()).sum();
        assert_eq!(rate_limited, 800, "{now:?}");
    }
}
