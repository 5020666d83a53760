//! Prometheus metrics, kept in plain counters and rendered in the text format.
//!
//! Labels are from small fixed sets (dialect, status code, upstream, operation,
//! reason), so the maps stay small; no label ever carries a credential or an id.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.buckets[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    rate_limited: BTreeMap<String, u64>,
    upstream_calls: BTreeMap<(String, &'static str, &'static str), u64>,
    upstream_latency: BTreeMap<String, Histogram>,
    upstream_refused: BTreeMap<(String, &'static str), u64>,
    /// Per upstream: whether its circuit is open (or half-open, being probed).
    circuits: BTreeMap<String, bool>,
    outbox_deliveries: u64,
    outbox_failures: u64,
    outbox_dead: u64,
    mail: BTreeMap<String, u64>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Figures read at scrape time from the durable state.
pub struct OutboxGauges {
    pub pending: u64,
    pub dead: u64,
    pub oldest_age_secs: f64,
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn request(&self, dialect: &str, status: u16, elapsed: Duration) {
        self.with(|m| {
            *m.requests.entry((dialect.to_owned(), status)).or_default() += 1;
            m.latency
                .entry(dialect.to_owned())
                .or_default()
                .observe(elapsed.as_secs_f64());
            if status == 429 {
                *m.rate_limited.entry(dialect.to_owned()).or_default() += 1;
            }
        });
    }

    pub fn upstream_call(&self, upstream: &str, op: &'static str, elapsed: Duration, failed: bool) {
        self.with(|m| {
            let outcome = if failed { "error" } else { "ok" };
            *m.upstream_calls
                .entry((upstream.to_owned(), op, outcome))
                .or_default() += 1;
            m.upstream_latency
                .entry(upstream.to_owned())
                .or_default()
                .observe(elapsed.as_secs_f64());
        });
    }

    /// A call refused to protect an upstream; `reason` is one of `queue_full`,
    /// `queue_timeout`, `rate`, `circuit_open`, `probing`.
    pub fn upstream_refused(&self, upstream: &str, reason: &'static str) {
        self.with(|m| {
            *m.upstream_refused
                .entry((upstream.to_owned(), reason))
                .or_default() += 1
        });
    }

    /// An upstream's circuit opened (`true`) or closed (`false`).
    pub fn circuit(&self, upstream: &str, open: bool) {
        self.with(|m| {
            m.circuits.insert(upstream.to_owned(), open);
        });
    }

    pub fn outbox_delivered(&self) {
        self.with(|m| m.outbox_deliveries += 1);
    }

    pub fn outbox_failed(&self, dead: bool) {
        self.with(|m| {
            m.outbox_failures += 1;
            if dead {
                m.outbox_dead += 1;
            }
        });
    }

    /// A mail outcome: `created`, `replied`, `duplicate`, `queued` or `ignored:<reason>`.
    pub fn mail(&self, outcome: &str) {
        self.with(|m| *m.mail.entry(outcome.to_owned()).or_default() += 1);
    }

    pub fn render(&self, outbox: Option<OutboxGauges>) -> String {
        let mut out = String::with_capacity(4096);
        self.with(|m| {
            counter_header(&mut out, "ticketgate_requests_total", "Requests answered, by dialect and status.");
            for ((d, s), n) in &m.requests {
                let _ = writeln!(out, "ticketgate_requests_total{{dialect=\"{d}\",status=\"{s}\"}} {n}");
            }
            histogram(&mut out, "ticketgate_request_duration_seconds", "Request latency by dialect.", "dialect", &m.latency);
            counter_header(&mut out, "ticketgate_rate_limited_total", "Requests refused by a rate limit.");
            for (d, n) in &m.rate_limited {
                let _ = writeln!(out, "ticketgate_rate_limited_total{{dialect=\"{d}\"}} {n}");
            }
            counter_header(&mut out, "ticketgate_upstream_calls_total", "Calls to upstream helpdesks.");
            for ((u, op, outcome), n) in &m.upstream_calls {
                let _ = writeln!(
                    out,
                    "ticketgate_upstream_calls_total{{upstream=\"{u}\",operation=\"{op}\",outcome=\"{outcome}\"}} {n}"
                );
            }
            histogram(&mut out, "ticketgate_upstream_duration_seconds", "Upstream call latency.", "upstream", &m.upstream_latency);
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
            counter_header(&mut out, "ticketgate_mail_total", "Mail messages by outcome.");
            for (o, n) in &m.mail {
                let _ = writeln!(out, "ticketgate_mail_total{{outcome=\"{o}\"}} {n}");
            }
        });
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

fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    map: &BTreeMap<String, Histogram>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (key, h) in map {
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{label}=\"{key}\",le=\"{b}\"}} {}",
                h.buckets[i]
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{label}=\"{key}\",le=\"+Inf\"}} {}",
            h.count
        );
        let _ = writeln!(out, "{name}_sum{{{label}=\"{key}\"}} {:.6}", h.sum);
        let _ = writeln!(out, "{name}_count{{{label}=\"{key}\"}} {}", h.count);
    }
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
}
