//! How the server behaves as a process: h2c, configuration reload, graceful stop.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::{Gateway, canonical_config, client};

#[tokio::test]
async fn http2_with_prior_knowledge_works() {
    let g = Gateway::start(&canonical_config(""));
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = h2
        .post(g.url("/v1/tickets"))
        .header("Authorization", "Bearer demo-key")
        .json(&json!({"subject": "Over h2c", "requester": {"email": "a@example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn sighup_reloads_keys_and_a_bad_file_keeps_the_running_config() {
    let mut g = Gateway::start(&canonical_config(""));
    let c = client();
    let list = |key: &'static str| {
        c.get(g.url("/v1/tickets"))
            .header("Authorization", format!("Bearer {key}"))
            .send()
    };
    assert_eq!(list("demo-key").await.unwrap().status(), 200);
    assert_eq!(list("rotated-key").await.unwrap().status(), 401);

    // Rotate the key: the file changes, then SIGHUP.
    std::fs::write(
        &g.config,
        canonical_config("").replace("\"demo-key\"", "\"rotated-key\""),
    )
    .unwrap();
    hup(&g);
    wait_until(|| async { list("rotated-key").await.unwrap().status() == 200 }).await;
    assert_eq!(list("demo-key").await.unwrap().status(), 401);

    // A broken file is refused; the running configuration stays.
    std::fs::write(&g.config, "this is = not [valid toml").unwrap();
    hup(&g);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(list("rotated-key").await.unwrap().status(), 200);
    assert!(g.stop().success());
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_nothing_acknowledged_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let config = canonical_config("");
    let mut g = Gateway::start_in(tmp.path(), &config);
    let c = client();
    // Creates in flight while the stop signal arrives.
    let url = g.url("/v1/tickets");
    let mut sends = Vec::new();
    for i in 0..40 {
        let c = c.clone();
        let url = url.clone();
        sends.push(tokio::spawn(async move {
            c.post(url)
                .header("Authorization", "Bearer demo-key")
                .json(&json!({"subject": format!("In flight {i}"), "requester": {"email": "a@example.com"}}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(g.stop().success(), "exit status 0 after SIGTERM");
    let mut acknowledged = 0;
    for s in sends {
        if let Ok(Ok(201)) = s.await {
            acknowledged += 1;
        }
    }
    let g = Gateway::start_in(tmp.path(), &config);
    let page: Value = c
        .get(g.url("/v1/tickets?limit=100"))
        .header("Authorization", "Bearer demo-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        page["total"].as_u64().unwrap() >= acknowledged,
        "every 201 is still there after the restart"
    );
}

fn hup(g: &Gateway) {
    let ok = std::process::Command::new("kill")
        .arg("-HUP")
        .arg(g.child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

async fn wait_until<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not reached in 5 s");
}

/// One HTTP/1.1 response read off a raw connection: status and body (by
/// `Content-Length`), leaving whatever follows in `pending`.
fn read_response(s: &mut std::net::TcpStream, pending: &mut Vec<u8>) -> (u16, String, String) {
    use std::io::Read as _;
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).expect("a response");
        assert!(
            n > 0,
            "the connection closed before a response: {pending:?}"
        );
        pending.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&pending[..head_end]).into_owned();
    let status: u16 = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    while pending.len() < head_end + length {
        let n = s.read(&mut chunk).expect("a body");
        assert!(n > 0, "the connection closed inside a body");
        pending.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&pending[head_end..head_end + length]).into_owned();
    pending.drain(..head_end + length);
    (status, head, body)
}

/// Between requests a keep-alive connection is parked (the gateway keeps the socket
/// and none of hyper's buffers): the client must not be able to tell. One connection
/// carries plain requests, a body, requests pipelined in one write (also right behind
/// a body, and one split mid-head across the moment its predecessor's answer is
/// written), a refusal whose small body is drained, and still answers; then, idle,
/// it is closed after `header_read_timeout_ms`.
#[test]
fn a_parked_keep_alive_connection_serves_every_kind_of_request() {
    use std::io::{Read as _, Write as _};
    use std::time::Instant;
    let g = Gateway::start(&canonical_config(
        "[server]\nheader_read_timeout_ms = 1500\n",
    ));
    let mut s = std::net::TcpStream::connect(&g.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut pending = Vec::new();
    let health = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let create = |subject: &str| {
        let body = json!({"subject": subject, "requester": {"email": "a@example.com"}}).to_string();
        format!(
            "POST /v1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer demo-key\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };

    // Plain requests, one after the other, parked in between.
    for _ in 0..3 {
        s.write_all(health).unwrap();
        let (status, _, body) = read_response(&mut s, &mut pending);
        assert_eq!((status, body.as_str()), (200, "ok\n"));
        std::thread::sleep(Duration::from_millis(30));
    }
    // A body, then a request pipelined right behind it in the same write.
    s.write_all(
        format!(
            "{}{}",
            create("Parked one"),
            "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let (status, _, body) = read_response(&mut s, &mut pending);
    assert_eq!(status, 201, "{body}");
    let created: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(created["subject"], "Parked one");
    let (status, _, _) = read_response(&mut s, &mut pending);
    assert_eq!(status, 200);
    // Three pipelined in one write.
    s.write_all(&[&health[..], &health[..], &health[..]].concat())
        .unwrap();
    for _ in 0..3 {
        assert_eq!(read_response(&mut s, &mut pending).0, 200);
    }
    // A request, plus the first half of the next head in the same write; the rest
    // of that head comes after the first answer was written.
    let get = format!(
        "GET /v1/tickets/{} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer demo-key\r\n\r\n",
        created["id"].as_str().unwrap()
    );
    let (first_half, second_half) = get.split_at(20);
    s.write_all(&[&health[..], first_half.as_bytes()].concat())
        .unwrap();
    assert_eq!(read_response(&mut s, &mut pending).0, 200);
    std::thread::sleep(Duration::from_millis(100));
    s.write_all(second_half.as_bytes()).unwrap();
    let (status, _, body) = read_response(&mut s, &mut pending);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Parked one"), "{body}");
    // A refusal before the body is read: a small body is drained, the connection stays.
    let refused = create("Not mine").replace("demo-key", "wrong-key");
    s.write_all(refused.as_bytes()).unwrap();
    let (status, head, _) = read_response(&mut s, &mut pending);
    assert_eq!(status, 401);
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    s.write_all(create("After a refusal").as_bytes()).unwrap();
    assert_eq!(read_response(&mut s, &mut pending).0, 201);
    assert!(pending.is_empty(), "nothing more was answered: {pending:?}");
    // Parked now, and counted so: this connection, while the one asking is served.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (open, parked) = rt.block_on(async {
        (
            support::metric(&g, "ticketgate_connections_open ").await,
            support::metric(&g, "ticketgate_connections_parked ").await,
        )
    });
    assert_eq!(parked, 1, "parked connections");
    assert!(open >= 2, "open connections: {open}");

    // Idle: closed after the head deadline, not before, and not never.
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(rest.is_empty(), "{rest:?}");
    assert!(
        waited >= Duration::from_millis(1200) && waited < Duration::from_secs(8),
        "an idle connection was closed after {waited:?}"
    );
}
