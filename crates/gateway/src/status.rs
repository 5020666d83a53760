//! The admin listener's status page (`/`) and its data (`/status.json`).
//!
//! [`History`] is a ring of one-minute buckets covering the last hour, fed by the same
//! points that feed `/metrics` (requests, rate-limit refusals, upstream calls, mail
//! decisions, outbox deliveries) plus a sample of the gauges (outbox depth, calls in
//! flight, circuits) every few seconds. It costs a mutex and a few map updates per
//! request, and at most 60 buckets of memory. The page is one HTML document with its
//! CSS and script inline (no external assets); the script fetches `/status.json`
//! every few seconds and draws each series as a small SVG chart.

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::metrics::Family;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Buckets kept: one an minute, the last hour.
pub const MINUTES: usize = 60;

/// The mail decisions charted, in order.
pub const MAIL_KINDS: [&str; 5] = ["ticket", "reply", "noise", "duplicate", "refused"];

/// One upstream during one minute.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpstreamMinute {
    pub calls: u64,
    pub failures: u64,
    pub latency_ms_sum: f64,
    pub latency_ms_max: f64,
    /// The most calls seen in flight at a sample.
    pub in_flight_max: u64,
    /// Whether the circuit was seen open at a sample.
    pub circuit_open: bool,
}

/// One minute of the gateway.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Minute {
    /// The minute's start, in seconds since the epoch.
    pub start: u64,
    pub requests: u64,
    pub server_errors: u64,
    /// Requests refused by a rate limit (429), by consumer (`-` before one is known).
    pub rate_limited: BTreeMap<String, u64>,
    pub upstreams: BTreeMap<String, UpstreamMinute>,
    /// Mail decisions, indexed as [`MAIL_KINDS`].
    pub mail: [u64; 5],
    pub delivered: u64,
    pub dead_lettered: u64,
    /// Outbox depth and dead letters, the last sample of the minute.
    pub outbox_pending: Option<u64>,
    pub outbox_dead: Option<u64>,
}

/// The last hour, minute by minute.
#[derive(Default)]
pub struct History {
    ring: Mutex<VecDeque<Minute>>,
    /// The per-request points since the last fold, counted without the lock.
    pending: Pending,
}

#[derive(Default)]
struct Pending {
    requests: AtomicU64,
    server_errors: AtomicU64,
    upstreams: Family<PendingUpstream>,
}

#[derive(Default)]
struct PendingUpstream {
    calls: AtomicU64,
    failures: AtomicU64,
    latency_us_sum: AtomicU64,
    latency_us_max: AtomicU64,
}

impl Pending {
    /// Move what was counted into `m`.
    fn fold_into(&self, m: &mut Minute) {
        m.requests += self.requests.swap(0, Relaxed);
        m.server_errors += self.server_errors.swap(0, Relaxed);
        self.upstreams.each(|name, p| {
            let calls = p.calls.swap(0, Relaxed);
            if calls == 0 {
                return;
            }
            let u = m.upstreams.entry(name.to_owned()).or_default();
            u.calls += calls;
            u.failures += p.failures.swap(0, Relaxed);
            u.latency_ms_sum += p.latency_us_sum.swap(0, Relaxed) as f64 / 1000.0;
            u.latency_ms_max = u
                .latency_ms_max
                .max(p.latency_us_max.swap(0, Relaxed) as f64 / 1000.0);
        });
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl History {
    fn with<R>(&self, f: impl FnOnce(&mut Minute) -> R) -> R {
        let start = now_secs() / 60 * 60;
        let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if ring.back().is_none_or(|m| m.start != start) {
            ring.push_back(Minute {
                start,
                ..Minute::default()
            });
        }
        while ring
            .front()
            .is_some_and(|m| m.start + (MINUTES as u64) * 60 <= start)
        {
            ring.pop_front();
        }
        let minute = ring.back_mut().expect("just pushed");
        self.pending.fold_into(minute);
        f(minute)
    }

    /// A request answered; `consumer` is who it turned out to be, if anyone.
    pub fn request(&self, status: u16, consumer: Option<&str>) {
        self.pending.requests.fetch_add(1, Relaxed);
        if status >= 500 {
            self.pending.server_errors.fetch_add(1, Relaxed);
        }
        if status == 429 {
            self.with(|m| {
                *m.rate_limited
                    .entry(consumer.unwrap_or("-").to_owned())
                    .or_default() += 1;
            });
        }
    }

    pub fn upstream_call(&self, upstream: &str, elapsed: Duration, failed: bool) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.pending
            .upstreams
            .with(upstream, PendingUpstream::default, |p| {
                p.calls.fetch_add(1, Relaxed);
                if failed {
                    p.failures.fetch_add(1, Relaxed);
                }
                p.latency_us_sum.fetch_add(us, Relaxed);
                p.latency_us_max.fetch_max(us, Relaxed);
            });
    }

    /// A mail outcome as `/metrics` labels it (`created`, `replied`, `duplicate`,
    /// `queued`, `queued_reply`, `ignored:…`, `refused:…`).
    pub fn mail(&self, outcome: &str) {
        let kind = match outcome {
            "created" | "queued" => 0,
            "replied" | "queued_reply" => 1,
            "duplicate" => 3,
            o if o.starts_with("ignored") => 2,
            _ => 4,
        };
        self.with(|m| m.mail[kind] += 1);
    }

    pub fn delivered(&self) {
        self.with(|m| m.delivered += 1);
    }

    pub fn dead_lettered(&self) {
        self.with(|m| m.dead_lettered += 1);
    }

    /// A sample of the gauges.
    pub fn sample(&self, pending: u64, dead: u64, upstreams: &[(String, u64, bool)]) {
        self.with(|m| {
            m.outbox_pending = Some(pending);
            m.outbox_dead = Some(dead);
            for (name, in_flight, open) in upstreams {
                let u = m.upstreams.entry(name.clone()).or_default();
                u.in_flight_max = u.in_flight_max.max(*in_flight);
                u.circuit_open |= *open;
            }
        });
    }

    /// The last hour, oldest first, one entry per minute (empty minutes included).
    pub fn minutes(&self) -> Vec<Minute> {
        // What is pending belongs to the minute now current.
        self.with(|_| ());
        let current = now_secs() / 60 * 60;
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        (0..MINUTES as u64)
            .rev()
            .map(|back| current - back * 60)
            .map(|start| {
                ring.iter()
                    .find(|m| m.start == start)
                    .cloned()
                    .unwrap_or(Minute {
                        start,
                        ..Minute::default()
                    })
            })
            .collect()
    }
}

/// What the page shows of one upstream right now.
#[derive(Debug, Clone, Serialize)]
pub struct UpstreamNow {
    pub name: String,
    pub kind: String,
    /// `closed`, `open` or `half-open`.
    pub circuit: &'static str,
    /// `healthy`, `failing` (failures in the last five minutes, circuit closed) or
    /// `down` (circuit open).
    pub health: &'static str,
    pub in_flight: u64,
    pub queued: u64,
    pub concurrency: u64,
}

/// Build the `/status.json` document.
pub fn document(
    minutes: &[Minute],
    upstreams: Vec<UpstreamNow>,
    outbox: Option<&ticketgate_store::OutboxSummary>,
) -> serde_json::Value {
    use serde_json::json;
    let series = |f: &dyn Fn(&Minute) -> f64| -> Vec<f64> { minutes.iter().map(f).collect() };
    let mut consumers: Vec<String> = minutes
        .iter()
        .flat_map(|m| m.rate_limited.keys().cloned())
        .collect();
    consumers.sort();
    consumers.dedup();
    let upstreams: Vec<serde_json::Value> = upstreams
        .into_iter()
        .map(|mut u| {
            let name = u.name.clone();
            let of = |m: &Minute| m.upstreams.get(&name).cloned().unwrap_or_default();
            let recent_failures: u64 = minutes.iter().rev().take(5).map(|m| of(m).failures).sum();
            let recent: Vec<UpstreamMinute> = minutes.iter().rev().take(5).map(of).collect();
            let (calls, sum) = recent
                .iter()
                .fold((0u64, 0f64), |(c, s), m| (c + m.calls, s + m.latency_ms_sum));
            if u.circuit == "closed" && recent_failures > 0 {
                u.health = "failing";
            }
            json!({
                "name": u.name,
                "kind": u.kind,
                "circuit": u.circuit,
                "health": u.health,
                "in_flight": u.in_flight,
                "queued": u.queued,
                "concurrency": u.concurrency,
                "latency_ms_avg_5m": if calls > 0 { sum / calls as f64 } else { 0.0 },
                "series": {
                    "calls": series(&|m| of(m).calls as f64),
                    "failures": series(&|m| of(m).failures as f64),
                    "latency_ms": series(&|m| { let u = of(m); if u.calls > 0 { u.latency_ms_sum / u.calls as f64 } else { 0.0 } }),
                    "in_flight": series(&|m| of(m).in_flight_max as f64),
                },
            })
        })
        .collect();
    let now = chrono::Utc::now();
    json!({
        "generated_at": now.to_rfc3339(),
        "minutes": minutes.iter().map(|m| m.start).collect::<Vec<_>>(),
        "requests": {
            "total": minutes.iter().map(|m| m.requests).sum::<u64>(),
            "series": {
                "requests": series(&|m| m.requests as f64),
                "server_errors": series(&|m| m.server_errors as f64),
            },
        },
        "upstreams": upstreams,
        "outbox": {
            "pending": outbox.map(|o| o.pending),
            "dead": outbox.map(|o| o.dead),
            "oldest_pending": outbox.and_then(|o| o.oldest_pending).map(|t| t.to_rfc3339()),
            "oldest_pending_age_secs": outbox.and_then(|o| o.oldest_pending).map(|t| (now - t).num_seconds().max(0)),
            "series": {
                "pending": series(&|m| m.outbox_pending.unwrap_or(0) as f64),
                "dead": series(&|m| m.outbox_dead.unwrap_or(0) as f64),
                "delivered": series(&|m| m.delivered as f64),
                "dead_lettered": series(&|m| m.dead_lettered as f64),
            },
        },
        "rate_limited": consumers.iter().map(|c| {
            (c.clone(), json!({
                "total": minutes.iter().map(|m| m.rate_limited.get(c).copied().unwrap_or(0)).sum::<u64>(),
                "series": series(&|m| m.rate_limited.get(c).copied().unwrap_or(0) as f64),
            }))
        }).collect::<serde_json::Map<_, _>>(),
        "mail": MAIL_KINDS.iter().enumerate().map(|(i, k)| {
            ((*k).to_owned(), json!({
                "total": minutes.iter().map(|m| m.mail[i]).sum::<u64>(),
                "series": series(&|m| m.mail[i] as f64),
            }))
        }).collect::<serde_json::Map<_, _>>(),
    })
}

/// The page: inline CSS and script, nothing fetched but `/status.json`.
pub const PAGE: &str = include_str!("status/page.html");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_an_hour_of_minutes_and_counts_each_point() {
        let h = History::default();
        h.request(201, Some("demo"));
        h.request(429, Some("demo"));
        h.request(429, None);
        h.request(503, None);
        h.upstream_call("embedded", Duration::from_millis(4), false);
        h.upstream_call("embedded", Duration::from_millis(8), true);
        for outcome in [
            "created",
            "queued_reply",
            "ignored:auto_reply",
            "duplicate",
            "refused:sender",
        ] {
            h.mail(outcome);
        }
        h.sample(3, 1, &[("embedded".into(), 2, false)]);
        let minutes = h.minutes();
        assert_eq!(minutes.len(), MINUTES);
        let last = minutes.last().unwrap();
        assert_eq!(last.requests, 4);
        assert_eq!(last.server_errors, 1);
        assert_eq!(last.rate_limited.get("demo"), Some(&1));
        assert_eq!(last.rate_limited.get("-"), Some(&1));
        assert_eq!(last.mail, [1, 1, 1, 1, 1]);
        let up = &last.upstreams["embedded"];
        assert_eq!((up.calls, up.failures, up.in_flight_max), (2, 1, 2));
        assert!((up.latency_ms_sum - 12.0).abs() < 1.0);
        assert_eq!(last.outbox_pending, Some(3));
        assert!(minutes[..MINUTES - 1].iter().all(|m| m.requests == 0));
        let doc = document(&minutes, Vec::new(), None);
        assert_eq!(doc["requests"]["total"], 4);
        assert_eq!(doc["mail"]["reply"]["total"], 1);
        assert_eq!(doc["rate_limited"]["demo"]["total"], 1);
        assert_eq!(doc["minutes"].as_array().unwrap().len(), MINUTES);
    }
}
