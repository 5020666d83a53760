//! What authentication and quotas cost on the hot path.
//!
//! Run with `cargo bench --bench limiter`. Measured:
//! - `Consumers::authorize` with a valid bearer key among 100 consumers (SHA-256 of
//!   the key, a constant-time compare with every stored digest, the network and
//!   permission checks, one GCRA token from the consumer's quota);
//! - one GCRA check of a consumer's direct limiter, and of the keyed (per address)
//!   limiter that counts failed authentications;
//! - `authenticate` with an unknown key (what a key-guessing client costs);
//! - end to end, over loopback HTTP/1.1 keep-alive against an in-process gateway:
//!   `GET /healthz` (no authentication, no quota, no upstream) against an
//!   authenticated `GET /v1/capabilities` (auth + quota, no store: the pair whose
//!   ratio is the price of auth + quotas) and `GET /v1/tickets/{id}` (auth + quota +
//!   a read from the embedded store + JSON).
//! - shared limits (`[rate_limits.shared]`, Redis): one quota decision in Redis (the
//!   GCRA script by `EVALSHA`, one loopback round trip) against the local governor
//!   decision, both awaited on the same runtime; and the same authenticated
//!   `GET /v1/capabilities` against a gateway whose quotas are shared. Redis is a
//!   `redis-server` started by the bench on a spare loopback port (or
//!   `TICKETGATE_REDIS_URL`); without either these rows are skipped, and say so. The
//!   decision timeout is raised to 2 s here, so a scheduling stall on a busy machine
//!   is measured rather than turned into a fallback.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use governor::{Quota, RateLimiter};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use ticketgate::auth::Consumers;
use ticketgate::config::Rate;
use ticketgate::ratelimit::Limiter;
use ticketgate::{Config, Gateway};
use ticketgate_model::{Body, Credential, Helpdesk, NewTicket, Permission, Requester};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// 100 consumers with quotas far above anything a bench reaches, so every check
/// takes a token and none is refused.
fn config_text() -> String {
    let mut text = String::from(
        r#"
[rate_limits]
global = { per_second = 4000000000.0, burst = 4000000000 }
failed_auth = { per_second = 4000000000.0, burst = 4000000000 }

[dialects.canonical]
prefix = "/v1"

[upstreams.embedded]
kind = "embedded"
durability = "normal"
"#,
    );
    for i in 0..100 {
        text.push_str(&format!(
            r#"
[[consumers]]
name = "c{i}"
bearer_key = "bench-key-{i:03}-0123456789abcdef"
permissions = ["create", "read", "update", "search"]
networks = ["127.0.0.0/8", "::1/128"]
quota.create = {{ per_second = 4000000000.0, burst = 4000000000 }}
quota.read = {{ per_second = 4000000000.0, burst = 4000000000 }}
quota.write = {{ per_second = 4000000000.0, burst = 4000000000 }}
quota.search = {{ per_second = 4000000000.0, burst = 4000000000 }}
"#
        ));
    }
    text
}

fn hot_path(c: &mut Criterion) {
    let config = Config::parse(&config_text(), &|_| None).expect("the bench config is valid");
    let consumers = Consumers::from_config(&config);
    let valid = Credential::Token {
        key: "bearer_key",
        value: "bench-key-057-0123456789abcdef".into(),
        also: None,
    };
    c.bench_function(
        "auth: Consumers::authorize (valid bearer key, 100 consumers)",
        |b| {
            b.iter(|| {
                let (entry, report) = consumers
                    .authorize(black_box(&valid), Permission::Read, LOCAL)
                    .map_err(|(e, _)| e)
                    .expect("authorized");
                black_box((entry.consumer.name.len(), report.remaining))
            })
        },
    );
    let unknown = Credential::Token {
        key: "bearer_key",
        value: "not-a-key-of-anyone-0123456789abcdef".into(),
        also: None,
    };
    c.bench_function("auth: Consumers::authenticate (unknown key)", |b| {
        b.iter(|| black_box(consumers.authenticate(black_box(&unknown), LOCAL).is_err()))
    });

    let limiter = Limiter::new(
        "read",
        Rate {
            per_second: 4e9,
            burst: u32::MAX,
        },
    );
    c.bench_function("quota: direct GCRA check (one consumer's class)", |b| {
        b.iter(|| black_box(limiter.check().is_ok()))
    });
    let keyed = RateLimiter::keyed(Quota::per_second(NonZeroU32::MAX));
    let addresses: Vec<IpAddr> = (0..1024u32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
        .collect();
    let mut n = 0usize;
    c.bench_function(
        "quota: keyed GCRA check (per address, 1024 addresses)",
        |b| {
            b.iter(|| {
                n = (n + 1) & 1023;
                black_box(keyed.check_key(&addresses[n]).is_ok())
            })
        },
    );
}

fn end_to_end(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut config = Config::parse(&config_text(), &|_| None).expect("the bench config is valid");
    config.server.data_dir = dir.path().to_owned();
    let gateway = Gateway::build(config).expect("the gateway builds");
    let id = rt.block_on(async {
        gateway
            .embedded
            .as_ref()
            .expect("the embedded store")
            .create(NewTicket {
                subject: "VPN drops every 20 minutes".into(),
                body: Body::text("Since Monday's client update."),
                requester: Requester {
                    email: Some("ann@example.com".into()),
                    ..Default::default()
                },
                ..Default::default()
            })
            .await
            .expect("created")
            .id
    });
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let addr = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let addr = listener.local_addr().expect("an address");
        tokio::spawn(ticketgate::serve(listener, Arc::clone(&gateway), shutdown));
        addr
    });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(4)
        .build()
        .expect("a client");
    let healthz = format!("http://{addr}/healthz");
    let ticket = format!("http://{addr}/v1/tickets/{id}");
    let capabilities = format!("http://{addr}/v1/capabilities");
    let key = "Bearer bench-key-057-0123456789abcdef";
    rt.block_on(async {
        for url in [&ticket, &capabilities] {
            let r = client.get(url).header("Authorization", key).send().await;
            assert_eq!(r.expect("answers").status(), 200);
        }
    });

    let mut group = c.benchmark_group("http (loopback, keep-alive, one request at a time)");
    group.throughput(Throughput::Elements(1));
    group.bench_function("GET /healthz (no auth, no quota)", |b| {
        b.iter(|| {
            rt.block_on(async {
                let r = client.get(&healthz).send().await.expect("answers");
                black_box(r.bytes().await.expect("a body").len())
            })
        })
    });
    group.bench_function("GET /v1/capabilities (auth + quota, no store)", |b| {
        b.iter(|| {
            rt.block_on(async {
                let r = client
                    .get(&capabilities)
                    .header("Authorization", key)
                    .send()
                    .await
                    .expect("answers");
                black_box(r.bytes().await.expect("a body").len())
            })
        })
    });
    group.bench_function(
        "GET /v1/tickets/{id} (auth + quota + embedded store + JSON)",
        |b| {
            b.iter(|| {
                rt.block_on(async {
                    let r = client
                        .get(&ticket)
                        .header("Authorization", key)
                        .send()
                        .await
                        .expect("answers");
                    black_box(r.bytes().await.expect("a body").len())
                })
            })
        },
    );
    group.finish();
    let _ = stop.send(true);
}

/// A Redis for the shared rows: `TICKETGATE_REDIS_URL`, or a `redis-server` of the
/// bench's own on a spare loopback port (stopped when the guard drops).
fn bench_redis() -> Option<(String, Option<std::process::Child>)> {
    if let Ok(url) = std::env::var("TICKETGATE_REDIS_URL") {
        return Some((url, None));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .ok()?
        .port();
    let child = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .ok()?;
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((format!("redis://127.0.0.1:{port}"), Some(child)));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    None
}

fn shared(c: &mut Criterion) {
    let Some((url, mut server)) = bench_redis() else {
        eprintln!("shared limits: skipped (no redis-server and no TICKETGATE_REDIS_URL)");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temp dir");
    let text = format!(
        "{}\n[rate_limits.shared]\nbackend = \"redis\"\nurl = \"{url}\"\ntimeout_ms = 2000\nkey_prefix = \"bench-{}\"\n",
        config_text(),
        std::process::id()
    );
    let mut config = Config::parse(&text, &|_| None).expect("the bench config is valid");
    config.server.data_dir = dir.path().to_owned();
    let gateway = Gateway::build(config).expect("the gateway builds");
    let shared = gateway.shared.clone().expect("shared limits configured");
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let addr = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let addr = listener.local_addr().expect("an address");
        tokio::spawn(ticketgate::serve(listener, Arc::clone(&gateway), shutdown));
        // `serve` connects to Redis before it accepts; wait for that.
        for _ in 0..200 {
            if shared.is_available() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        addr
    });
    assert!(shared.is_available(), "the bench's Redis answers");

    let rate = Rate {
        per_second: 4e9,
        burst: u32::MAX,
    };
    let limiter = Limiter::new("read", rate);
    let key = format!("bench-{}:quota:c57:read", std::process::id());
    let mut group = c.benchmark_group("quota decision (awaited on a 2-thread tokio runtime)");
    group.bench_function("local: governor GCRA", |b| {
        b.iter(|| rt.block_on(async { black_box(limiter.check().is_ok()) }))
    });
    group.bench_function("shared: Redis GCRA script (EVALSHA, loopback)", |b| {
        b.iter(|| {
            rt.block_on(async {
                black_box(shared.take(&key, rate, LOCAL).await.expect("Redis answers"))
            })
        })
    });
    group.finish();

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(4)
        .build()
        .expect("a client");
    let capabilities = format!("http://{addr}/v1/capabilities");
    let bearer = "Bearer bench-key-057-0123456789abcdef";
    let mut group = c.benchmark_group("http (loopback, keep-alive, one request at a time)");
    group.throughput(Throughput::Elements(1));
    group.bench_function("GET /v1/capabilities (auth + shared quota in Redis)", |b| {
        b.iter(|| {
            rt.block_on(async {
                let r = client
                    .get(&capabilities)
                    .header("Authorization", bearer)
                    .send()
                    .await
                    .expect("answers");
                assert_eq!(r.status(), 200);
                black_box(r.bytes().await.expect("a body").len())
            })
        })
    });
    group.finish();
    let _ = stop.send(true);
    assert!(
        shared.is_available(),
        "no decision fell back during the bench"
    );
    if let Some(server) = server.as_mut() {
        let _ = server.kill();
        let _ = server.wait();
    }
}

criterion_group!(benches, hot_path, end_to_end, shared);
criterion_main!(benches);
