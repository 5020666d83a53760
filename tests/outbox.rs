//! The durable outbox end to end: two real gateways on loopback. Gateway A serves the
//! canonical API over its embedded store; gateway B forwards to A (an upstream of kind
//! `ticketgate`) and queues what A cannot take. The delivery tests run with B's state
//! on SQLite and again on PostgreSQL (`support::state_backends`).

mod support;

use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use support::{Gateway, TEST_CONSUMERS, canonical_config, client};

const DEMO: &str = "Bearer demo-key";

/// Gateway B's configuration: the canonical API, A as its only upstream, quick retries.
fn edge_config(upstream_addr: &str, extra: &str) -> String {
    format!(
        r#"
[dialects.canonical]
prefix = "/v1"

[upstreams.central]
kind = "ticketgate"
url = "http://{upstream_addr}/v1"
bearer_key = "demo-key"
connect_timeout_ms = 500
request_timeout_ms = 1000
protection = {{ failure_threshold = 3, open_ms = 300, call_timeout_ms = 1500 }}

[routing]
default = "central"

[outbox]
initial_backoff_ms = 50
max_backoff_ms = 400
poll_ms = 50
max_attempts = 1000

{TEST_CONSUMERS}
{extra}
"#
    )
}

fn ticket(subject: &str) -> Value {
    json!({"subject": subject, "body": "queued while the helpdesk was down",
           "requester": {"name": "Ann", "email": "ann@example.com"}})
}

/// Every ticket in A, oldest first.
async fn tickets_in(a_addr: &str) -> Vec<Value> {
    let resp = client()
        .get(format!(
            "http://{a_addr}/v1/tickets?limit=1000&sort=number&order=asc"
        ))
        .header("Authorization", DEMO)
        .send()
        .await
        .expect("A answers");
    assert_eq!(resp.status(), 200);
    let page: Value = resp.json().await.unwrap();
    page["items"].as_array().cloned().unwrap_or_default()
}

async fn wait_for<F, Fut>(what: &str, limit: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn creates_accepted_while_the_upstream_is_down_are_delivered_once_in_order() {
    for pg in support::state_backends(
        "creates_accepted_while_the_upstream_is_down_are_delivered_once_in_order",
    ) {
        let state = pg.as_ref().map(support::postgres_state).unwrap_or_default();
        println!(
            "B's state: {}",
            if pg.is_some() { "PostgreSQL" } else { "SQLite" }
        );
        delivered_once_in_order(&state).await;
    }
}

async fn delivered_once_in_order(state: &str) {
    let mut a = Gateway::start(&canonical_config(""));
    let a_addr = a.addr.clone();
    let a_config = std::fs::read_to_string(&a.config).unwrap();
    a.stop();

    let b = Gateway::start(&edge_config(&a_addr, state));
    let c = client();
    const N: usize = 20;
    let mut tracking = Vec::new();
    for i in 0..N {
        let resp = c
            .post(b.url("/v1/tickets"))
            .header("Authorization", DEMO)
            .json(&ticket(&format!("queued {i:02}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 202, "create {i} while A is down");
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        let body: Value = resp.json().await.unwrap();
        let id = body["tracking_id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("q-"));
        assert_eq!(location, format!("/v1/tickets/{id}"));
        tracking.push(id);
    }

    // Before delivery, the tracking id shows the queued item.
    let resp = c
        .get(b.url(&format!("/v1/tickets/{}", tracking[0])))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let queued: Value = resp.json().await.unwrap();
    assert_eq!(queued["state"], "pending", "{queued}");

    // A comes back where it was.
    let _a2 = Gateway::start_listen(&a.dir, &a_config, &a_addr);
    wait_for(
        "all queued creates to reach A",
        Duration::from_secs(30),
        || {
            let a_addr = a_addr.clone();
            async move { tickets_in(&a_addr).await.len() >= N }
        },
    )
    .await;
    // Give a duplicate, if any were coming, the chance to arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let delivered = tickets_in(&a_addr).await;
    // Exactly once each. The order across tickets is not promised: the outbox owes
    // order per ticket (a reply after its own create: the claim tests in crates/store), and a create whose
    // attempt timed out on a loaded machine is retried while the next tickets go ahead.
    let mut subjects: Vec<&str> = delivered
        .iter()
        .map(|t| t["subject"].as_str().unwrap())
        .collect();
    subjects.sort_unstable();
    let expected: Vec<String> = (0..N).map(|i| format!("queued {i:02}")).collect();
    assert_eq!(subjects, expected, "exactly N tickets, each once");

    // After delivery, the tracking id resolves to the real ticket.
    for (i, id) in tracking.iter().enumerate() {
        let resp = c
            .get(b.url(&format!("/v1/tickets/{id}")))
            .header("Authorization", DEMO)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let t: Value = resp.json().await.unwrap();
        assert_eq!(t["subject"], format!("queued {i:02}"), "{t}");
        let landed = delivered
            .iter()
            .find(|d| d["subject"] == t["subject"])
            .expect("delivered");
        assert_eq!(t["id"], landed["id"]);
    }
}

/// A stand-in for a flapping network path to A: it refuses some connections, answers
/// 500 to some requests, holds some past B's timeout before forwarding them (so A
/// creates a ticket whose answer B never sees), and forwards the rest.
mod flaky {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper::service::service_fn;
    use hyper::{Request, Response};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;
    use tokio::net::TcpListener;

    pub struct Stats {
        pub refused: AtomicU64,
        pub failed: AtomicU64,
        pub delayed: AtomicU64,
        pub forwarded: AtomicU64,
    }

    /// Start in front of `target`; returns the stand-in's address.
    pub async fn start(target: String, stats: Arc<Stats>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let http = reqwest::Client::new();
        let counter = Arc::new(AtomicU64::new(0));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let n = counter.fetch_add(1, Ordering::Relaxed);
                // A deterministic mix, so every run exercises every fate.
                if n % 7 == 3 {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    drop(stream);
                    continue;
                }
                let (http, target, stats, counter) =
                    (http.clone(), target.clone(), stats.clone(), counter.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (http, target, stats) = (http.clone(), target.clone(), stats.clone());
                        let n = counter.fetch_add(1, Ordering::Relaxed);
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            if n % 5 == 1 {
                                stats.failed.fetch_add(1, Ordering::Relaxed);
                                return Ok::<_, hyper::Error>(
                                    Response::builder()
                                        .status(500)
                                        .body(Full::new(Bytes::from_static(b"flap")))
                                        .unwrap(),
                                );
                            }
                            if n % 6 == 2 {
                                stats.delayed.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(Duration::from_millis(1_300)).await;
                            } else {
                                stats.forwarded.fetch_add(1, Ordering::Relaxed);
                            }
                            let url = format!(
                                "http://{target}{}",
                                parts
                                    .uri
                                    .path_and_query()
                                    .map(|p| p.as_str())
                                    .unwrap_or("/")
                            );
                            let mut fwd = http.request(parts.method.clone(), url).body(body);
                            for (k, v) in parts.headers.iter() {
                                if k != "host" && k != "content-length" {
                                    fwd = fwd.header(k, v);
                                }
                            }
                            let resp = match fwd.send().await {
                                Ok(r) => r,
                                Err(_) => {
                                    return Ok(Response::builder()
                                        .status(502)
                                        .body(Full::new(Bytes::new()))
                                        .unwrap());
                                }
                            };
                            let mut out = Response::builder().status(resp.status().as_u16());
                            for (k, v) in resp.headers().iter() {
                                if k != "content-length" && k != "transfer-encoding" {
                                    out = out.header(k.as_str(), v.as_bytes());
                                }
                            }
                            let bytes = resp.bytes().await.unwrap_or_default();
                            Ok(out.body(Full::new(bytes)).unwrap())
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        addr
    }
}

/// Clients send creates with idempotency keys while the path to the upstream flaps
/// and gateway B is killed with SIGKILL at random moments and restarted. At the end
/// every acknowledged create exists upstream exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_test_every_acknowledged_create_exists_exactly_once() {
    crash_test("").await;
}

/// The crash test with B's state on PostgreSQL (skipped, saying so, outside CI when no
/// server answers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_test_on_postgres_every_acknowledged_create_exists_exactly_once() {
    let Some(db) = ticketgate_store::ScratchDatabase::for_test(
        "crash_test_on_postgres_every_acknowledged_create_exists_exactly_once",
    ) else {
        return;
    };
    crash_test(&support::postgres_state(&db)).await;
}

async fn crash_test(state: &str) {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    let a = Gateway::start(&canonical_config(""));
    let stats = Arc::new(flaky::Stats {
        refused: Default::default(),
        failed: Default::default(),
        delayed: Default::default(),
        forwarded: Default::default(),
    });
    let path = flaky::start(a.addr.clone(), stats.clone()).await;
    let config = edge_config(&path, state);
    let first = Gateway::start(&config);
    let b_addr = first.addr.clone();
    let b_dir = first.dir.clone();
    let mut b = Some(first);

    const KEYS: usize = 120;
    const KILLS: u32 = 5;
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    // key → how many times the client had to send it.
    let mut sends: HashMap<usize, u32> = HashMap::new();
    let mut acknowledged: HashMap<usize, u16> = HashMap::new();
    let mut kills = 0;
    let mut killed = Vec::new();
    let mut pending: Vec<usize> = Vec::new();
    let mut fresh = 0..KEYS;
    // A cheap deterministic "random" sequence for the kill moments.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next_kill = Instant::now() + Duration::from_millis(300);
    let started = Instant::now();

    while acknowledged.len() < KEYS || kills < KILLS {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "still unacknowledged after 120 s: {pending:?}"
        );
        // A wave: the keys still unacknowledged, and a few new ones.
        let mut wave = std::mem::take(&mut pending);
        wave.extend(fresh.by_ref().take(4));
        let mut set = tokio::task::JoinSet::new();
        for k in wave {
            *sends.entry(k).or_default() += 1;
            let req = c
                .post(format!("http://{b_addr}/v1/tickets"))
                .header("Authorization", DEMO)
                .header("Idempotency-Key", format!("crash-key-{k}"))
                .json(&ticket(&format!("crash {k:03}")));
            set.spawn(async move { (k, req.send().await.map(|r| r.status().as_u16())) });
        }
        if kills < KILLS && Instant::now() >= next_kill {
            // Kill while the wave is in flight: some requests die with the gateway.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            tokio::time::sleep(Duration::from_millis(seed % 40)).await;
            if let Some(mut g) = b.take() {
                g.kill9();
                // The first one owns the data dir: keep it until the end.
                killed.push(g);
            }
            kills += 1;
            next_kill = Instant::now() + Duration::from_millis(300 + seed % 700);
            b = Some(Gateway::start_listen(&b_dir, &config, &b_addr));
        }
        while let Some(Ok((k, outcome))) = set.join_next().await {
            match outcome {
                Ok(s @ 200..=202) => {
                    acknowledged.insert(k, s);
                }
                // Killed mid-request, refused while restarting, or "in progress":
                // the client retries with the same key.
                _ => pending.push(k),
            }
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
    }

    // Let B's outbox drain into A.
    let drain = Instant::now();
    while tickets_in(&a.addr).await.len() < KEYS {
        if drain.elapsed() > Duration::from_secs(30) {
            let out = std::process::Command::new(support::binary())
                .args(["outbox", "--config"])
                .arg(b_dir.join("gateway.toml"))
                .arg("--data-dir")
                .arg(b_dir.join("data"))
                .args(["list", "--limit", "1000"])
                .output()
                .unwrap();
            panic!(
                "B's outbox did not drain: {} tickets in A; outbox:\n{}{}",
                tickets_in(&a.addr).await.len(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let delivered = tickets_in(&a.addr).await;
    let mut per_subject: HashMap<String, u32> = HashMap::new();
    for t in &delivered {
        *per_subject
            .entry(t["subject"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let twice: Vec<_> = per_subject.iter().filter(|(_, n)| **n > 1).collect();
    let retried = sends.values().filter(|n| **n > 1).count();
    let queued = acknowledged.values().filter(|s| **s == 202).count();
    println!(
        "crash test: {KEYS} keys acknowledged ({queued} queued), {retried} retried by clients, \
         {kills} SIGKILLs; upstream path: {} refused, {} failed, {} delayed, {} forwarded; \
         {} tickets upstream",
        stats.refused.load(Ordering::Relaxed),
        stats.failed.load(Ordering::Relaxed),
        stats.delayed.load(Ordering::Relaxed),
        stats.forwarded.load(Ordering::Relaxed),
        delivered.len()
    );
    assert!(twice.is_empty(), "created more than once: {twice:?}");
    assert_eq!(acknowledged.len(), KEYS);
    for k in 0..KEYS {
        assert_eq!(
            per_subject.get(&format!("crash {k:03}")),
            Some(&1),
            "key {k} exists exactly once upstream"
        );
    }
    assert_eq!(delivered.len(), KEYS);
    assert!(retried > 0, "some client had to retry a key");
    assert!(
        stats.delayed.load(Ordering::Relaxed) > 0 && stats.failed.load(Ordering::Relaxed) > 0,
        "the upstream path flapped"
    );
    drop(b);
    drop(killed);
}

/// osTicket has no 202: with `queue_creates` and `queue_wait_ms`, a create the upstream
/// cannot take is queued and its client held up to the bound — answered 201 with the
/// number if delivery happens in time, else 202 with the tracking id.
#[tokio::test]
async fn an_osticket_create_waits_a_bounded_time_for_its_queued_delivery() {
    let mut a = Gateway::start(&canonical_config(""));
    let a_addr = a.addr.clone();
    let a_config = std::fs::read_to_string(&a.config).unwrap();
    a.stop();
    let b = Gateway::start(&edge_config(
        &a_addr,
        "[dialects.osticket]\nprefix = \"/api\"\nqueue_creates = true\nqueue_wait_ms = 4000\n\
         [[consumers]]\nname = \"osticket-client\"\nosticket_key = \"ost-key\"\n\
         permissions = [\"create\", \"read\"]\nnetworks = [\"127.0.0.0/8\"]\n",
    ));
    let b_url = b.url("/api/tickets.json");
    let body = json!({"name": "Ann", "email": "ann@example.com", "subject": "held", "message": "wait for me"});

    // A comes back while the client is held: 201 and the number.
    let restart = {
        let (dir, config, addr) = (a.dir.clone(), a_config.clone(), a_addr.clone());
        tokio::task::spawn_blocking(move || {
            std::thread::sleep(Duration::from_millis(700));
            Gateway::start_listen(&dir, &config, &addr)
        })
    };
    let started = Instant::now();
    let resp = client()
        .post(&b_url)
        .header("X-API-Key", "ost-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    assert!(
        text.chars().all(|c| c.is_ascii_digit()),
        "the number: {text}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "it was held"
    );
    let mut a2 = restart.await.unwrap();
    let in_a = tickets_in(&a_addr).await;
    assert_eq!(in_a.len(), 1);
    assert_eq!(in_a[0]["number"], text.as_str());

    // A stays down past the bound: 202 and the tracking id, delivered later.
    a2.stop();
    let resp = client()
        .post(&b_url)
        .header("X-API-Key", "ost-key")
        .json(
            &json!({"name": "Ann", "email": "ann@example.com", "subject": "later", "message": "m"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert!(resp.text().await.unwrap().starts_with("q-"));
}
