//! Upstream protection end to end: the real `ticketgate` binary (gateway B) forwards to
//! an in-test stand-in that speaks ticketgate's canonical API (an upstream of kind
//! `ticketgate`) and records when each call arrived and how many were in flight.
//! Clients burst at ten times the upstream's configured rate; the stand-in must never
//! see more than the concurrency cap, nor more calls in any window than the GCRA
//! allows; what the bounded queue cannot hold is refused at once (503 + Retry-After),
//! or queued in the outbox (202) for creates and delivered later within the rate; and
//! a failing stand-in opens the circuit, which one probe closes again.

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::Gateway;
use tokio::net::TcpListener;

const CLIENT: &str = "Bearer client-key";

/// A helpdesk speaking ticketgate's canonical API, enough for creates and gets.
struct StandIn {
    addr: String,
    /// How long each call takes.
    delay_ms: AtomicU64,
    /// Answer every call with a 500.
    failing: AtomicBool,
    /// Every call that reached it.
    calls: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    arrivals: Mutex<Vec<Instant>>,
    tickets: Mutex<Tickets>,
}

#[derive(Default)]
struct Tickets {
    by_id: HashMap<String, Value>,
    /// `Idempotency-Key` → ticket id: a create sent twice makes one ticket.
    by_key: HashMap<String, String>,
    /// Subjects in creation order.
    created: Vec<String>,
}

/// Counts a call as in flight until it ends, however it ends (B may hang up).
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl StandIn {
    async fn start(delay_ms: u64) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let s = Arc::new(Self {
            addr: listener.local_addr().unwrap().to_string(),
            delay_ms: AtomicU64::new(delay_ms),
            failing: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            arrivals: Mutex::new(Vec::new()),
            tickets: Mutex::new(Tickets::default()),
        });
        let server = s.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let s = server.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let s = s.clone();
                        async move { Ok::<_, std::convert::Infallible>(s.handle(req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        s
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let arrived = Instant::now();
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let _guard = InFlight(&self.in_flight);
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.arrivals.lock().unwrap().push(arrived);

        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        tokio::time::sleep(Duration::from_millis(self.delay_ms.load(Ordering::SeqCst))).await;
        if parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            != Some("Bearer standin-key")
        {
            return problem(401, "credentials are required");
        }
        if self.failing.load(Ordering::SeqCst) {
            return problem(500, "the stand-in is failing");
        }
        let path = parts.uri.path().to_owned();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (parts.method.as_str(), segments.as_slice()) {
            ("POST", ["v1", "tickets"]) => {
                let Ok(new) = serde_json::from_slice::<Value>(&body) else {
                    return problem(400, "invalid JSON");
                };
                let key = parts
                    .headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let mut t = self.tickets.lock().unwrap();
                if let Some(id) = key.as_ref().and_then(|k| t.by_key.get(k)) {
                    return json_response(201, &t.by_id[id]);
                }
                let ticket = canonical_ticket(t.by_id.len() + 1, &new);
                let id = ticket["id"].as_str().unwrap().to_owned();
                if let Some(k) = key {
                    t.by_key.insert(k, id.clone());
                }
                t.created
                    .push(ticket["subject"].as_str().unwrap_or("").to_owned());
                t.by_id.insert(id, ticket.clone());
                json_response(201, &ticket)
            }
            ("GET", ["v1", "tickets", id]) => match self.tickets.lock().unwrap().by_id.get(*id) {
                Some(t) => json_response(200, t),
                None => problem(404, "no such ticket"),
            },
            _ => problem(404, "not served by the stand-in"),
        }
    }

    /// Put a ticket in place without a call (so reads have something to find).
    fn seed(&self) -> String {
        let mut t = self.tickets.lock().unwrap();
        let ticket = canonical_ticket(
            t.by_id.len() + 1,
            &json!({"subject": "seeded", "requester": {"email": "ann@example.com"}}),
        );
        let id = ticket["id"].as_str().unwrap().to_owned();
        t.by_id.insert(id.clone(), ticket);
        id
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn arrivals(&self) -> Vec<Instant> {
        let mut a = self.arrivals.lock().unwrap().clone();
        a.sort();
        a
    }

    fn created(&self) -> Vec<String> {
        self.tickets.lock().unwrap().created.clone()
    }
}

/// A canonical ticket as ticketgate's `/v1` answers it (what gateway A returns in
/// tests/outbox.rs): id, number, subject, body, requester, status and timestamps.
fn canonical_ticket(n: usize, new: &Value) -> Value {
    json!({
        "id": format!("st-{n}"),
        "number": format!("{}", 1000 + n),
        "subject": new["subject"].as_str().unwrap_or(""),
        "body": {"format": "text", "content": new["body"].as_str().unwrap_or("")},
        "requester": new["requester"].clone(),
        "status": {"state": "new", "name": "New"},
        "created_at": "2026-11-26T10:00:00Z",
        "updated_at": "2026-11-26T10:00:00Z",
        "source": "api",
    })
}

fn json_response(status: u16, v: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(v.to_string())))
        .unwrap()
}

fn problem(status: u16, detail: &str) -> Response<Full<Bytes>> {
    let body = json!({"type": "https://ticketgate.dev/problems/stand-in", "title": "stand-in",
                      "status": status, "detail": detail, "retryable": false});
    Response::builder()
        .status(status)
        .header("content-type", "application/problem+json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// The shield's settings toward the stand-in.
struct Shield {
    per_second: f64,
    burst: u32,
    concurrency: usize,
    queue: usize,
    queue_timeout_ms: u64,
    failure_threshold: u32,
    open_ms: u64,
}

/// Gateway B: the canonical API, the stand-in as its only upstream, quick retries,
/// and a consumer whose own quotas are far above the burst (only the shield limits).
fn edge_config(standin: &str, s: &Shield) -> String {
    format!(
        r#"
[dialects.canonical]
prefix = "/v1"

[dialects.osticket]
prefix = "/api"

[upstreams.standin]
kind = "ticketgate"
url = "http://{standin}/v1"
bearer_key = "standin-key"
connect_timeout_ms = 1000
request_timeout_ms = 10000
protection = {{ rate = {{ per_second = {}, burst = {} }}, concurrency = {}, queue = {}, queue_timeout_ms = {}, failure_threshold = {}, open_ms = {}, call_timeout_ms = 10000 }}

[routing]
default = "standin"

[outbox]
initial_backoff_ms = 50
max_backoff_ms = 200
poll_ms = 50
max_attempts = 1000

[[consumers]]
name = "client"
bearer_key = "client-key"
osticket_key = "client-os-key"
permissions = ["create", "read", "search"]
networks = ["127.0.0.0/8"]
quota.create = {{ per_second = 100000.0, burst = 100000 }}
quota.read = {{ per_second = 100000.0, burst = 100000 }}
"#,
        s.per_second,
        s.burst,
        s.concurrency,
        s.queue,
        s.queue_timeout_ms,
        s.failure_threshold,
        s.open_ms
    )
}

/// What a client saw for one request.
#[derive(Debug)]
struct Seen {
    status: u16,
    elapsed: Duration,
    retry_after: Option<u64>,
    body: Value,
}

async fn send(req: reqwest::RequestBuilder) -> Seen {
    let started = Instant::now();
    let resp = req.send().await.expect("B answers");
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = resp.json().await.unwrap_or(Value::Null);
    Seen {
        status,
        elapsed,
        retry_after,
        body,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build()
        .unwrap()
}

/// Send `waves` waves of `per_wave` requests at once, one wave every `every`: an
/// open-loop burst that does not slow down when the gateway does.
async fn burst<F>(waves: usize, per_wave: usize, every: Duration, make: F) -> Vec<Seen>
where
    F: Fn(usize) -> reqwest::RequestBuilder,
{
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..waves {
        tokio::time::sleep_until((start + every * w as u32).into()).await;
        for i in 0..per_wave {
            tasks.push(tokio::spawn(send(make(w * per_wave + i))));
        }
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// No window of arrivals holds more calls than GCRA allows: `burst + rate × window`,
/// plus `tolerance` calls for the jitter of the trip from B to the stand-in.
fn assert_within_gcra(arrivals: &[Instant], per_second: f64, burst: u32, tolerance: f64) {
    for i in 0..arrivals.len() {
        for j in i..arrivals.len() {
            let window = (arrivals[j] - arrivals[i]).as_secs_f64();
            let calls = (j - i + 1) as f64;
            let allowed = f64::from(burst) + per_second * window + tolerance;
            assert!(
                calls <= allowed,
                "{calls} calls reached the upstream within {:.0} ms; GCRA allows {allowed:.1}",
                window * 1000.0
            );
        }
    }
}

async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_beyond_the_queue_are_refused_at_once_and_the_upstream_sees_only_its_rate() {
    let shield = Shield {
        per_second: 20.0,
        burst: 5,
        concurrency: 4,
        queue: 8,
        queue_timeout_ms: 3_000,
        failure_threshold: 1_000,
        open_ms: 1_000,
    };
    let standin = StandIn::start(100).await;
    let id = standin.seed();
    let b = Gateway::start(&edge_config(&standin.addr, &shield));
    let c = client();
    let url = b.url(&format!("/v1/tickets/{id}"));
    // 200 requests/s for 1.2 s: ten times the upstream's rate.
    let seen = burst(24, 10, Duration::from_millis(50), |_| {
        c.get(&url).header("Authorization", CLIENT)
    })
    .await;

    let ok = seen.iter().filter(|s| s.status == 200).count();
    let shed: Vec<&Seen> = seen.iter().filter(|s| s.status == 503).collect();
    let other: Vec<(u16, &Value)> = seen
        .iter()
        .filter(|s| s.status != 200 && s.status != 503)
        .map(|s| (s.status, &s.body))
        .collect();
    assert!(other.is_empty(), "only 200 or 503: {other:?}");
    for s in &seen {
        if s.status == 200 {
            assert_eq!(s.body["id"], id.as_str());
        }
    }

    let arrivals = standin.arrivals();
    let max = standin.max_in_flight.load(Ordering::SeqCst);
    println!(
        "reads: {} sent, {ok} served, {} refused; the stand-in saw {} calls, at most {max} at once",
        seen.len(),
        shed.len(),
        arrivals.len()
    );
    assert_eq!(arrivals.len(), ok, "every call that reached it was served");
    assert!(
        max <= shield.concurrency,
        "{max} calls in flight; the cap is {}",
        shield.concurrency
    );
    assert!(max >= 2, "the burst did run calls side by side ({max})");
    assert_within_gcra(&arrivals, shield.per_second, shield.burst, 2.0);
    // Enough went through that the rate, not something else, was the limit.
    assert!(ok >= 15, "only {ok} served");
    assert!(shed.len() >= seen.len() / 2, "{} shed", shed.len());

    let mut full = 0;
    for s in &shed {
        assert_eq!(s.body["status"], 503, "{:?}", s.body);
        assert_eq!(s.body["retryable"], true, "{:?}", s.body);
        assert!(
            s.retry_after.is_some_and(|r| r >= 1),
            "a 503 says when to come back: {s:?}"
        );
        let detail = s.body["detail"].as_str().unwrap_or("");
        if detail.contains("queue is full") {
            full += 1;
            // Refused at once, not after waiting out the queue timeout.
            assert!(
                s.elapsed < Duration::from_millis(1_000),
                "a refusal took {:?}",
                s.elapsed
            );
        }
    }
    assert!(
        full >= shed.len() / 2,
        "{full} of {} refused as queue full",
        shed.len()
    );
    // The operator sees the same refusals, by reason.
    let metrics = send_text(c.get(b.admin_url("/metrics"))).await;
    assert_eq!(
        metric(
            &metrics,
            "ticketgate_upstream_refused_total{upstream=\"standin\",reason=\"queue_full\"}"
        ),
        Some(full as f64)
    );
}

/// The value of one series in Prometheus text.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_the_shield_refuses_are_queued_and_delivered_later_within_the_rate() {
    let shield = Shield {
        per_second: 20.0,
        burst: 5,
        concurrency: 4,
        queue: 8,
        queue_timeout_ms: 3_000,
        failure_threshold: 1_000,
        open_ms: 1_000,
    };
    let standin = StandIn::start(50).await;
    let b = Gateway::start(&edge_config(&standin.addr, &shield));
    let c = client();
    let url = b.url("/v1/tickets");
    const N: usize = 120;
    // 200 creates/s for 0.6 s.
    let seen = burst(12, 10, Duration::from_millis(50), |i| {
        c.post(&url).header("Authorization", CLIENT).json(&json!({
            "subject": format!("burst {i:03}"),
            "body": "sent ten times faster than the helpdesk takes them",
            "requester": {"email": "ann@example.com"}
        }))
    })
    .await;
    assert_eq!(seen.len(), N);
    let created = seen.iter().filter(|s| s.status == 201).count();
    let queued: Vec<String> = seen
        .iter()
        .filter(|s| s.status == 202)
        .map(|s| s.body["tracking_id"].as_str().unwrap().to_owned())
        .collect();
    let other: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.status != 201 && s.status != 202)
        .collect();
    assert!(other.is_empty(), "only 201 or 202: {other:?}");
    assert!(
        queued.len() >= N / 2,
        "most of the burst was queued ({} of {N})",
        queued.len()
    );
    let acknowledged = Instant::now();

    wait_for(
        "the outbox to deliver every queued create",
        Duration::from_secs(40),
        || standin.created().len() >= N,
    )
    .await;
    let delivery = acknowledged.elapsed();
    // Give a duplicate, if one were coming, the chance to arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let subjects = standin.created();
    let unique: HashSet<&String> = subjects.iter().collect();
    assert_eq!(subjects.len(), N, "each create made exactly one ticket");
    assert_eq!(unique.len(), N);
    let arrivals = standin.arrivals();
    let max = standin.max_in_flight.load(Ordering::SeqCst);
    println!(
        "creates: {created} created at once, {} queued and delivered over {delivery:?}; \
         {} calls reached the stand-in, at most {max} at once",
        queued.len(),
        arrivals.len()
    );
    assert!(max <= shield.concurrency, "{max} in flight");
    // Direct creates and outbox deliveries together stay within the upstream's rate.
    assert_within_gcra(&arrivals, shield.per_second, shield.burst, 2.0);

    // A tracking id now resolves to the ticket it became.
    for tracking in queued.iter().take(3) {
        let t = send(
            c.get(b.url(&format!("/v1/tickets/{tracking}")))
                .header("Authorization", CLIENT),
        )
        .await;
        assert_eq!(t.status, 200, "{:?}", t.body);
        assert!(
            t.body["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("st-")),
            "{:?}",
            t.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_upstream_opens_the_circuit_and_one_probe_closes_it() {
    let shield = Shield {
        per_second: 1_000.0,
        burst: 1_000,
        concurrency: 8,
        queue: 8,
        queue_timeout_ms: 3_000,
        failure_threshold: 3,
        open_ms: 1_500,
    };
    let standin = StandIn::start(0).await;
    let id = standin.seed();
    let b = Gateway::start(&edge_config(&standin.addr, &shield));
    let c = client();
    let get = || {
        c.get(b.url(&format!("/v1/tickets/{id}")))
            .header("Authorization", CLIENT)
    };
    assert_eq!(send(get()).await.status, 200);

    // The stand-in fails: the first `failure_threshold` calls reach it.
    standin.failing.store(true, Ordering::SeqCst);
    let before = standin.calls();
    for _ in 0..shield.failure_threshold {
        let s = send(get()).await;
        assert_eq!(s.status, 502, "{:?}", s.body);
    }
    assert_eq!(standin.calls(), before + shield.failure_threshold as usize);

    // Open: B answers at once, without calling it.
    let open_at = Instant::now();
    let calls = standin.calls();
    let ready = send(c.get(b.admin_url("/readyz"))).await;
    assert_eq!(ready.status, 503);
    assert!(
        ready.body["problems"].to_string().contains("circuit open"),
        "{:?}",
        ready.body
    );
    for _ in 0..8 {
        let s = send(get()).await;
        assert_eq!(s.status, 503, "{:?}", s.body);
        assert!(s.retry_after.is_some_and(|r| r >= 1), "{s:?}");
        assert!(
            s.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("circuit is open")),
            "{:?}",
            s.body
        );
        assert!(s.elapsed < Duration::from_millis(500), "{:?}", s.elapsed);
    }
    assert_eq!(standin.calls(), calls, "an open circuit calls nobody");
    let circuit = "ticketgate_upstream_circuit_open{upstream=\"standin\"}";
    let metrics = send_text(c.get(b.admin_url("/metrics"))).await;
    assert_eq!(metric(&metrics, circuit), Some(1.0));
    assert_eq!(
        metric(
            &metrics,
            "ticketgate_upstream_refused_total{upstream=\"standin\",reason=\"circuit_open\"}"
        ),
        Some(8.0)
    );

    // After open_ms one probe goes through; the stand-in still fails, slowly, so the
    // others arrive while the probe is in flight and are refused.
    standin.delay_ms.store(300, Ordering::SeqCst);
    tokio::time::sleep_until((open_at + Duration::from_millis(shield.open_ms + 100)).into()).await;
    let calls = standin.calls();
    let probes: Vec<_> = (0..5).map(|_| tokio::spawn(send(get()))).collect();
    let mut statuses = Vec::new();
    for p in probes {
        statuses.push(p.await.unwrap().status);
    }
    statuses.sort();
    assert_eq!(statuses, vec![502, 503, 503, 503, 503], "one probe, failed");
    assert_eq!(standin.calls(), calls + 1, "exactly one probe reached it");
    // The failed probe opened the circuit again.
    let reopened = Instant::now();
    let s = send(get()).await;
    assert_eq!(s.status, 503);
    assert_eq!(standin.calls(), calls + 1);

    // The stand-in recovers; after open_ms the probe succeeds and calls flow again.
    standin.failing.store(false, Ordering::SeqCst);
    standin.delay_ms.store(0, Ordering::SeqCst);
    tokio::time::sleep_until((reopened + Duration::from_millis(shield.open_ms + 100)).into()).await;
    let calls = standin.calls();
    let s = send(get()).await;
    assert_eq!(s.status, 200, "the probe: {:?}", s.body);
    assert_eq!(standin.calls(), calls + 1);
    for _ in 0..10 {
        assert_eq!(send(get()).await.status, 200);
    }
    assert_eq!(
        standin.calls(),
        calls + 11,
        "closed: every call goes through"
    );
    assert_eq!(send(c.get(b.admin_url("/readyz"))).await.status, 200);
    let metrics = send_text(c.get(b.admin_url("/metrics"))).await;
    assert_eq!(metric(&metrics, circuit), Some(0.0));
}

async fn send_text(req: reqwest::RequestBuilder) -> String {
    req.send().await.unwrap().text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dialect_that_cannot_queue_answers_503_with_retry_after_at_once() {
    let shield = Shield {
        per_second: 1_000.0,
        burst: 1_000,
        concurrency: 1,
        queue: 0,
        queue_timeout_ms: 3_000,
        failure_threshold: 1_000,
        open_ms: 1_000,
    };
    let standin = StandIn::start(1_500).await;
    let b = Gateway::start(&edge_config(&standin.addr, &shield));
    let c = client();
    // osTicket clients only know 201, so the dialect does not queue by default.
    let creates: Vec<_> = (0..4)
        .map(|i| {
            let req = c
                .post(b.url("/api/tickets.json"))
                .header("X-API-Key", "client-os-key")
                .json(&json!({"name": "Ann", "email": "ann@example.com",
                              "subject": format!("Printer {i}"), "message": "It jams."}));
            tokio::spawn(async move {
                let started = Instant::now();
                let r = req.send().await.unwrap();
                let status = r.status().as_u16();
                let retry = r.headers().get("retry-after").cloned();
                (status, retry, started.elapsed(), r.text().await.unwrap())
            })
        })
        .collect();
    let mut created = 0;
    let mut refused = 0;
    for t in creates {
        let (status, retry, elapsed, body) = t.await.unwrap();
        match status {
            201 => created += 1,
            503 => {
                refused += 1;
                assert!(retry.is_some(), "a 503 says when to come back");
                assert!(body.contains("queue is full"), "{body}");
                assert!(elapsed < Duration::from_millis(500), "{elapsed:?}");
            }
            s => panic!("unexpected {s}: {body}"),
        }
    }
    assert_eq!((created, refused), (1, 3), "one slot, no queue");
    assert_eq!(
        standin.created().len(),
        1,
        "the refused creates wrote nothing"
    );
    assert_eq!(standin.max_in_flight.load(Ordering::SeqCst), 1);
}
