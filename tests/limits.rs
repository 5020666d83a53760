//! The shield, end to end: quotas per consumer and route class, the IETF headers,
//! slow clients, oversize bodies.

mod support;

use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::{Gateway, canonical_config, client, problem};

const QUOTAS: &str = r#"
[[consumers]]
name = "bursty"
bearer_key = "bursty-key"
permissions = ["create", "read", "search"]
networks = ["127.0.0.0/8"]
quota.create = { per_second = 1.0, burst = 10 }
quota.read = { per_second = 1.0, burst = 3 }

[[consumers]]
name = "calm"
bearer_key = "calm-key"
permissions = ["create", "read", "search"]
networks = ["127.0.0.0/8"]
quota.create = { per_second = 1.0, burst = 10 }
"#;

#[tokio::test]
async fn a_burst_gets_exactly_its_quota_and_others_are_unaffected() {
    let g = Gateway::start(&canonical_config(&format!(
        "{QUOTAS}\n[server]\nheader_read_timeout_ms = 1000\n"
    )));
    let c = client();
    let body = json!({"subject": "Burst", "requester": {"email": "a@example.com"}});
    let mut created = 0;
    let mut limited = Vec::new();
    for _ in 0..25 {
        let resp = c
            .post(g.url("/v1/tickets"))
            .header("Authorization", "Bearer bursty-key")
            .json(&body)
            .send()
            .await
            .unwrap();
        match resp.status().as_u16() {
            201 => {
                created += 1;
                assert!(
                    resp.headers()["ratelimit"]
                        .to_str()
                        .unwrap()
                        .starts_with("\"create\";r=")
                );
            }
            429 => limited.push(resp),
            s => panic!("unexpected status {s}"),
        }
    }
    // GCRA lets the burst through, plus at most one token refilled during the run.
    assert!((10..=11).contains(&created), "created {created}");
    let resp = limited.pop().unwrap();
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_eq!(resp.headers()["ratelimit-policy"], "\"create\";q=10;w=10");
    assert!(
        resp.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"create\";r=0;t=")
    );
    let p = problem(resp, 429).await;
    assert_eq!(p["retryable"], true);

    // Another consumer, and another route class of the same consumer, still pass.
    let resp = c
        .post(g.url("/v1/tickets"))
        .header("Authorization", "Bearer calm-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let resp = c
        .get(g.url("/v1/tickets/1"))
        .header("Authorization", "Bearer bursty-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["ratelimit-policy"], "\"read\";q=3;w=3");

    let page: serde_json::Value = c
        .get(g.url("/v1/tickets?limit=100"))
        .header("Authorization", "Bearer calm-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], created + 1, "every 429 wrote nothing");
}

#[tokio::test]
async fn failed_authentication_is_rate_limited_per_address() {
    let g = Gateway::start(&canonical_config(
        "[rate_limits]\nfailed_auth = { per_second = 0.1, burst = 5 }\n",
    ));
    let c = client();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = c
            .get(g.url("/v1/tickets"))
            .header("Authorization", "Bearer guess")
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(&statuses[..5], &[401; 5]);
    assert!(statuses[6..].iter().all(|s| *s == 429), "{statuses:?}");
    // Even the right key waits while the address is blocked.
    let r = c
        .get(g.url("/v1/tickets"))
        .header("Authorization", "Bearer demo-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
}

#[test]
fn a_slow_loris_connection_is_cut() {
    let g = Gateway::start(&canonical_config(
        "[server]\nheader_read_timeout_ms = 500\n",
    ));
    let mut s = TcpStream::connect(&g.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    // Half a request head, then silence.
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(4),
        "the server closed the connection after {waited:?}"
    );
    assert!(
        waited >= Duration::from_millis(400),
        "not before the timeout: {waited:?}"
    );
    // The server still serves others.
    let mut ok = TcpStream::connect(&g.addr).unwrap();
    ok.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    ok.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
}

#[test]
fn an_oversize_body_is_refused_before_it_is_read_whole() {
    let g = Gateway::start(&canonical_config(
        "[limits]\nbody_bytes = 1024\nupload_bytes = 1024\n",
    ));
    let mut s = TcpStream::connect(&g.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Declare 10 MB and send only the head: the answer must come without the body.
    s.write_all(
        b"POST /v1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer demo-key\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n",
    )
    .unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.contains("application/problem+json"));

    // Chunked, with no length declared: cut as soon as it goes over.
    let mut s = TcpStream::connect(&g.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST /v1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer demo-key\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 2048, "a".repeat(2048));
    s.write_all(chunk.as_bytes()).unwrap();
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 413"));
}

#[tokio::test]
async fn the_global_quota_covers_everyone_together_operations_endpoints_included() {
    let g = Gateway::start(&canonical_config(
        "[rate_limits]\nglobal = { per_second = 0.1, burst = 6 }\n",
    ));
    let c = client();
    let mut statuses = Vec::new();
    for key in ["demo-key", "reader-key"].iter().cycle().take(10) {
        let r = c
            .get(g.url("/v1/tickets"))
            .header("Authorization", format!("Bearer {key}"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=10).contains(&retry), "Retry-After {retry}");
            problem(r, 429).await;
        }
    }
    // GCRA: the burst, plus at most one token refilled during the run.
    let passed = statuses.iter().filter(|s| **s == 200).count();
    assert!((6..=7).contains(&passed), "{statuses:?}");
    assert!(statuses[7..].iter().all(|s| *s == 429), "{statuses:?}");
    // Health checks and scrapes are under the global limit too (on both listeners),
    // so nobody can hammer them past it.
    assert_eq!(c.get(g.url("/healthz")).send().await.unwrap().status(), 429);
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(c.get(g.admin_url(path)).send().await.unwrap().status(), 429);
    }
}

#[tokio::test]
async fn unknown_keys_do_not_spend_a_consumers_quota() {
    let g = Gateway::start(&canonical_config(QUOTAS));
    let c = client();
    // Strangers guessing keys (fewer than the failed-auth burst)…
    for i in 0..10 {
        let r = c
            .get(g.url("/v1/tickets/1"))
            .header("Authorization", format!("Bearer bursty-guess-{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert!(
            r.headers().get("ratelimit").is_none(),
            "no quota is reported to a stranger"
        );
    }
    // …leave bursty's read quota (burst 3) whole.
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = c
            .get(g.url("/v1/tickets/1"))
            .header("Authorization", "Bearer bursty-key")
            .send()
            .await
            .unwrap();
        assert_ne!(r.status(), 429);
        remaining.push(r.headers()["ratelimit"].to_str().unwrap().to_owned());
    }
    assert_eq!(
        remaining,
        ["\"read\";r=2;t=0", "\"read\";r=1;t=0", "\"read\";r=0;t=0"]
    );
}

/// Past `server.max_in_flight`, a request is shed at once with 503 and `Retry-After`
/// in its dialect, instead of waiting behind the others.
#[tokio::test]
async fn requests_beyond_the_in_flight_cap_are_shed_at_once() {
    // An upstream that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let g = Gateway::start(&format!(
        "[server]\nmax_in_flight = 2\n\
         [dialects.canonical]\nprefix = \"/v1\"\n\
         [upstreams.slow]\nkind = \"ticketgate\"\nurl = \"http://{silent_addr}/v1\"\nbearer_key = \"k\"\n\
         request_timeout_ms = 3000\n\
         [routing]\ndefault = \"slow\"\n{}",
        support::TEST_CONSUMERS
    ));
    let c = client();
    let hang = |c: reqwest::Client, url: String| async move {
        c.get(url)
            .header("Authorization", "Bearer demo-key")
            .send()
            .await
            .map(|r| r.status().as_u16())
    };
    let first = tokio::spawn(hang(c.clone(), g.url("/v1/tickets/1")));
    let second = tokio::spawn(hang(c.clone(), g.url("/v1/tickets/2")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let resp = c
        .get(g.url("/v1/tickets/3"))
        .header("Authorization", "Bearer demo-key")
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(1000));
    assert_eq!(resp.headers()["retry-after"], "1");
    let p = problem(resp, 503).await;
    assert!(p["detail"].as_str().unwrap().contains("in flight"), "{p}");
    let slow = first.await.unwrap().unwrap();
    assert!(
        slow >= 500,
        "the held requests end with the upstream's timeout: {slow}"
    );
    second.await.unwrap().unwrap();
    // Once they are done, requests flow again.
    let resp = c.get(g.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}
