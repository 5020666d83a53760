//! Hostile traffic at the edge, end to end: bodies refused before they are read,
//! the global budget of buffered body bytes, the admin listener under the global
//! limit, client addresses behind trusted proxies with every dialect's failed
//! authentications counted, and retention keeping the data directory bounded.

mod support;

use serde_json::json;
use std::time::{Duration, Instant};
use support::{Gateway, TEST_CONSUMERS, canonical_config, client, problem, serving_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Resident memory of a process, in bytes (Linux).
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// What one hostile client got: the status it was answered with (if any came), and
/// how many body bytes it managed to push before the gateway cut it off.
#[derive(Debug)]
struct Attack {
    status: Option<u16>,
    pushed: usize,
}

/// Send `head` declaring a large body, then push the body slowly (64 KiB every 20 ms)
/// for up to `for_how_long`, counting what the connection takes.
async fn slow_body(addr: &str, head: String, for_how_long: Duration) -> Attack {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes())
        .await
        .expect("the head is sent");
    // The refusal comes from the head alone, before any body byte is sent.
    let mut buf = vec![0u8; 4096];
    let status = match tokio::time::timeout(Duration::from_millis(1500), s.read(&mut buf)).await {
        Ok(Ok(n)) if n > 12 => std::str::from_utf8(&buf[9..12])
            .ok()
            .and_then(|c| c.parse().ok()),
        _ => None,
    };
    let chunk = vec![b'x'; 64 * 1024];
    let mut pushed = 0;
    let until = Instant::now() + for_how_long;
    while Instant::now() < until {
        match tokio::time::timeout(Duration::from_millis(200), s.write_all(&chunk)).await {
            Ok(Ok(())) => pushed += chunk.len(),
            // Cut off (reset) or no longer read at all: either way, not buffered.
            Ok(Err(_)) | Err(_) => break,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Attack { status, pushed }
}

fn post_head(path: &str, auth: &str, declared: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\n{auth}\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    )
}

#[tokio::test]
async fn unauthenticated_bodies_are_refused_from_the_head_and_never_buffered() {
    // Failed authentications are not the point here: let them all through the
    // per-address limiter so each is refused for its credentials.
    let g = Gateway::start(&serving_config(
        "[rate_limits]\nfailed_auth = { per_second = 10000.0, burst = 100000 }\n",
    ));
    let pid = g.child.id();
    let c = client();
    let create = |subject: &str| {
        c.post(g.url("/v1/tickets"))
            .header("Authorization", support::DEMO_BEARER)
            .json(
                &json!({"subject": subject, "body": "b", "requester": {"email": "a@example.com"}}),
            )
            .send()
    };
    assert_eq!(create("warm-up").await.unwrap().status(), 201);
    let before = rss(pid);

    const DECLARED: usize = 20 * 1024 * 1024;
    // Every dialect's credential, wrong; and a real key without the permission.
    let heads = [
        ("/v1/tickets", "Authorization: Bearer wrong-key", 401),
        ("/api/tickets.json", "X-API-Key: wrong-key", 401),
        (
            "/apirest.php/Ticket",
            "Session-Token: 0123456789abcdef0123456789abcdef01234567",
            401,
        ),
        (
            "/api/TicketsApi/new",
            "Authorization: Bearer not.a.jwt",
            401,
        ),
        ("/v1/tickets", "Authorization: Bearer reader-key", 403),
        ("/api/tickets.json", "X-API-Key: reader-key", 403),
    ];
    let attackers: Vec<_> = (0..48)
        .map(|i| {
            let (path, auth, expected) = heads[i % heads.len()];
            let addr = g.addr.clone();
            let head = post_head(path, auth, DECLARED);
            tokio::spawn(async move {
                (
                    path,
                    expected,
                    slow_body(&addr, head, Duration::from_secs(3)).await,
                )
            })
        })
        .collect();

    // An authenticated client is served meanwhile, promptly.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..5 {
        let started = Instant::now();
        let r = create(&format!("during the attack {i}")).await.unwrap();
        assert_eq!(r.status(), 201);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "a create took {:?} during the attack",
            started.elapsed()
        );
    }

    let mut total_pushed = 0;
    for a in attackers {
        let (path, expected, attack) = a.await.unwrap();
        assert_eq!(attack.status, Some(expected), "{path}: {attack:?}");
        // The connection is closed after the refusal: what the client pushes ends
        // in the kernel's buffers at most, never in the gateway.
        assert!(
            attack.pushed <= 4 * 1024 * 1024,
            "{path}: {} bytes pushed after the refusal",
            attack.pushed
        );
        total_pushed += attack.pushed;
    }
    let grown = rss(pid).saturating_sub(before);
    eprintln!(
        "48 clients declared {} MiB; they pushed {} KiB in all; the gateway grew by {} KiB",
        48 * DECLARED / (1024 * 1024),
        total_pushed / 1024,
        grown / 1024
    );
    assert!(
        grown < 64 * 1024 * 1024,
        "the gateway grew by {grown} bytes under the attack"
    );
}

#[tokio::test]
async fn a_small_refused_body_is_drained_and_the_connection_kept() {
    let g = Gateway::start(&canonical_config(""));
    let c = client();
    // Refused for its key, with a small body: answered, and the same client goes on.
    let r = c
        .post(g.url("/v1/tickets"))
        .header("Authorization", "Bearer wrong-key")
        .json(&json!({"subject": "x", "requester": {"email": "a@example.com"}}))
        .send()
        .await
        .unwrap();
    problem(r, 401).await;
    let r = c
        .post(g.url("/v1/tickets"))
        .header("Authorization", support::DEMO_BEARER)
        .json(&json!({"subject": "x", "requester": {"email": "a@example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn the_buffered_body_budget_refuses_quickly_with_retry_after() {
    let g = Gateway::start(&canonical_config(
        "[limits]\nbody_bytes = 1048576\nupload_bytes = 1572864\nemail_bytes = 1572864\nbuffered_bytes = 2097152\n",
    ));
    // One authenticated client holds 1.5 MiB of the 2 MiB budget, sending slowly.
    let holder = {
        let addr = g.addr.clone();
        tokio::spawn(async move {
            slow_body(
                &addr,
                post_head("/v1/tickets", "Authorization: Bearer demo-key", 1_500_000),
                Duration::from_secs(2),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    // A second, as legitimate, that would go over: 503 in its dialect, at once.
    let c = client();
    let subject = "x".repeat(900_000);
    let started = Instant::now();
    let r = c
        .post(g.url("/v1/tickets"))
        .header("Authorization", support::DEMO_BEARER)
        .json(&json!({"subject": "big", "body": subject, "requester": {"email": "a@example.com"}}))
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let retry_after = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let p = problem(r, 503).await;
    assert_eq!(p["retryable"], true, "{p}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert!(
        elapsed < Duration::from_secs(1),
        "refused after {elapsed:?}"
    );
    // Once the holder is done (its body never completes: 408 or cut), the budget is
    // back and the same request goes through.
    let _ = holder.await.unwrap();
    let mut status = 0;
    for _ in 0..40 {
        let r = c
            .post(g.url("/v1/tickets"))
            .header("Authorization", support::DEMO_BEARER)
            .json(&json!({"subject": "big", "body": subject, "requester": {"email": "a@example.com"}}))
            .send()
            .await
            .unwrap();
        status = r.status().as_u16();
        if status == 201 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(status, 201, "the budget came back");
}

#[tokio::test]
async fn the_admin_listener_and_health_checks_are_behind_the_global_limit() {
    let g = Gateway::start(&canonical_config(
        "[rate_limits]\nglobal = { per_second = 0.2, burst = 4 }\n",
    ));
    let c = client();
    let mut statuses = Vec::new();
    for url in [
        g.admin_url("/metrics"),
        g.admin_url("/readyz"),
        g.url("/healthz"),
        g.admin_url("/healthz"),
        g.admin_url("/metrics"),
        g.url("/healthz"),
    ] {
        statuses.push(c.get(url).send().await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429]);
}

#[tokio::test]
async fn heavy_decoding_does_not_stall_other_clients() {
    // A few authenticated clients post bodies that are costly to decode (many empty
    // XML elements); everyone else must still be answered promptly, and the heavy
    // requests by their deadline.
    let g = Gateway::start(&serving_config("[server]\nrequest_timeout_ms = 3000\n"));
    let c = client();
    let mut xml = String::from(
        "<?xml version=\"1.0\"?><ticket><name>Ann</name><email>ann@example.com</email>\
         <subject>Heavy</subject><message>m</message>",
    );
    for _ in 0..20_000 {
        xml.push_str("<a/>");
    }
    xml.push_str("</ticket>");
    let heavy: Vec<_> = (0..4)
        .map(|_| {
            let (c, url, xml) = (c.clone(), g.url("/api/tickets.xml"), xml.clone());
            tokio::spawn(async move {
                let started = Instant::now();
                let r = c
                    .post(url)
                    .header("X-API-Key", "demo-key")
                    .header("Content-Type", "application/xml")
                    .body(xml)
                    .send()
                    .await;
                (r.map(|r| r.status().as_u16()), started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..10 {
        for url in [g.url("/healthz"), g.url("/v1/tickets?limit=1")] {
            let started = Instant::now();
            let r = c
                .get(url)
                .header("Authorization", support::DEMO_BEARER)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert!(
                started.elapsed() < Duration::from_millis(1000),
                "a light request took {:?} beside heavy ones",
                started.elapsed()
            );
        }
    }
    for h in heavy {
        let (status, elapsed) = h.await.unwrap();
        let status = status.expect("the heavy request is answered");
        eprintln!("a heavy request: {status} after {elapsed:?}");
        assert!(status != 500, "a heavy request got {status}");
        assert!(
            elapsed < Duration::from_millis(3000 + 1500),
            "a heavy request was answered after {elapsed:?} (status {status})"
        );
    }
}

/// A consumer usable from anywhere, for clients that appear from beyond loopback
/// through a trusted proxy.
const FAR: &str = r#"
[[consumers]]
name = "far"
bearer_key = "far-key"
permissions = ["create", "read", "search"]
"#;

const STRICT_FAILED_AUTH: &str = "[rate_limits]\nfailed_auth = { per_second = 0.01, burst = 3 }\n";

async fn get_as(c: &reqwest::Client, g: &Gateway, key: &str, forwarded_for: &str) -> u16 {
    c.get(g.url("/v1/tickets?limit=1"))
        .header("Authorization", format!("Bearer {key}"))
        .header("X-Forwarded-For", forwarded_for)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_one_attackers_failures_lock_out_only_the_attacker() {
    let g = Gateway::start(&canonical_config(&format!(
        "{FAR}\n[server]\ntrusted_proxies = [\"127.0.0.0/8\"]\n{STRICT_FAILED_AUTH}"
    )));
    let c = client();
    let attacker = "198.51.100.7";
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for i in 0..6 {
            v.push(get_as(&c, &g, &format!("guess-{i}"), attacker).await);
        }
        v
    };
    assert_eq!(&statuses[..3], [401, 401, 401], "{statuses:?}");
    assert_eq!(statuses[5], 429, "{statuses:?}");
    // The attacker, even with a right key, waits; the client next to it does not.
    assert_eq!(get_as(&c, &g, "far-key", attacker).await, 429);
    assert_eq!(get_as(&c, &g, "far-key", "198.51.100.8").await, 200);
    // The same through `Forwarded` (RFC 7239).
    let r = c
        .get(g.url("/v1/tickets?limit=1"))
        .header("Authorization", "Bearer far-key")
        .header("Forwarded", "for=\"198.51.100.7:4711\";proto=http")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    // Hops the attacker writes itself, left of what the proxy saw, change nothing:
    // the rightmost untrusted hop is the client.
    assert_eq!(
        get_as(&c, &g, "far-key", "198.51.100.8, 198.51.100.7").await,
        429
    );
    assert_eq!(
        get_as(&c, &g, "far-key", "198.51.100.7, 198.51.100.8, 127.0.0.5").await,
        200
    );
}

#[tokio::test]
async fn an_untrusted_peers_forwarded_for_is_ignored() {
    let g = Gateway::start(&canonical_config(STRICT_FAILED_AUTH));
    let c = client();
    // Rotating X-Forwarded-For buys a direct client nothing: it is counted as itself.
    for i in 0..5 {
        let _ = get_as(&c, &g, &format!("guess-{i}"), &format!("203.0.113.{i}")).await;
    }
    assert_eq!(get_as(&c, &g, "demo-key", "203.0.113.99").await, 429);
}

#[tokio::test]
async fn failed_jwts_and_session_tokens_are_counted_like_wrong_keys() {
    let g = Gateway::start(&serving_config(&format!(
        "{FAR}\n[server]\ntrusted_proxies = [\"127.0.0.0/8\"]\n{STRICT_FAILED_AUTH}"
    )));
    let c = client();
    let (jwt_guesser, session_guesser, bystander) =
        ("198.51.100.21", "198.51.100.22", "198.51.100.23");
    for i in 0..4 {
        let r = c
            .post(g.url("/api/TicketsApi/list"))
            .header(
                "Authorization",
                format!("Bearer eyJhbGciOiJIUzI1NiJ9.e30.forged{i}"),
            )
            .header("X-Forwarded-For", jwt_guesser)
            .json(&json!({"page": 1, "length": 1}))
            .send()
            .await
            .unwrap();
        assert!([401, 429].contains(&r.status().as_u16()), "{}", r.status());
        let r = c
            .get(g.url("/apirest.php/Ticket"))
            .header("Session-Token", format!("{i:040x}"))
            .header("X-Forwarded-For", session_guesser)
            .send()
            .await
            .unwrap();
        assert!([401, 429].contains(&r.status().as_u16()), "{}", r.status());
    }
    assert_eq!(get_as(&c, &g, "far-key", jwt_guesser).await, 429);
    assert_eq!(get_as(&c, &g, "far-key", session_guesser).await, 429);
    assert_eq!(get_as(&c, &g, "far-key", bystander).await, 200);
}

/// Total size of the files in a directory.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn the_data_directory_plateaus_under_a_long_run_of_creates() {
    const FAST: &str = r#"
[[consumers]]
name = "edge"
bearer_key = "edge-key"
permissions = ["create", "read"]
networks = ["127.0.0.0/8"]
quota.create = { per_second = 100000.0, burst = 100000 }
"#;
    const SHORT: &str = "[retention]\nidempotency_hours = 0.0003\ndelivered_hours = 0.0003\nprune_interval_secs = 0.25\n";
    // The central gateway remembers the edge's delivery keys too: as briefly.
    let central = Gateway::start(&format!(
        "[dialects.canonical]\nprefix = \"/v1\"\n[upstreams.embedded]\nkind = \"embedded\"\ndurability = \"normal\"\n{SHORT}\n{FAST}"
    ));
    // The edge keeps only its own state (idempotency records): tickets live upstream.
    let edge = Gateway::start(&format!(
        "[dialects.canonical]\nprefix = \"/v1\"\n\
         [upstreams.central]\nkind = \"ticketgate\"\nurl = \"http://{}/v1\"\nbearer_key = \"edge-key\"\n\
         [routing]\ndefault = \"central\"\n\
         {SHORT}\n{FAST}\n{TEST_CONSUMERS}",
        central.addr
    ));
    let data = edge.dir.join("data");
    let c = client();
    let first_key = format!("round-0-0-{}", "k".repeat(200));
    let mut sizes = Vec::new();
    for round in 0..10 {
        let work: Vec<_> = (0..8)
            .map(|w| {
                let (c, url) = (c.clone(), edge.url("/v1/tickets"));
                tokio::spawn(async move {
                    for i in 0..50 {
                        let key = format!("round-{round}-{}-{}", w * 50 + i, "k".repeat(200));
                        let r = c
                            .post(&url)
                            .header("Authorization", "Bearer edge-key")
                            .header("Idempotency-Key", key)
                            .json(&json!({"subject": format!("r{round} {w} {i}"), "body": "b",
                                          "requester": {"email": "a@example.com"}}))
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(r.status(), 201);
                    }
                })
            })
            .collect();
        for w in work {
            w.await.unwrap();
        }
        // Longer than the retention plus a pruning pass.
        tokio::time::sleep(Duration::from_millis(1600)).await;
        sizes.push(dir_bytes(&data));
    }
    eprintln!("edge data directory after each round of 400 creates: {sizes:?}");
    // The first key is forgotten: reused with another body, it is a new request
    // (a remembered key would be a 409).
    let r = c
        .post(edge.url("/v1/tickets"))
        .header("Authorization", "Bearer edge-key")
        .header("Idempotency-Key", &first_key)
        .json(&json!({"subject": "another body", "requester": {"email": "a@example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Plateau: the second half of the run adds (almost) nothing to the first.
    let mid = sizes[4];
    let last = *sizes.last().expect("ten rounds");
    assert!(
        last <= mid + 128 * 1024,
        "the data directory kept growing: {sizes:?}"
    );
}
