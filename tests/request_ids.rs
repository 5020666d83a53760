//! Request ids end to end, over real sockets: gateway B (the real binary) forwards to
//! gateway A through a recording relay in this test, with one upstream of each client
//! kind (a chained ticketgate, osTicket with the plugin, ITSM-NG, TicketsApi). Every
//! call the relay sees must carry the `X-Request-Id` of the request that caused it —
//! the client's own when it is a safe one, the generated one otherwise — and the
//! same id must come back on the answer (errors too, in every dialect) and stand in
//! the access log. A create queued while the upstream is down is delivered later with
//! the id of the request that queued it.

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{ALL_DIALECTS, Gateway, client, serving_config};
use tokio::net::TcpListener;

/// One call the relay saw: method, path and the `X-Request-Id` it carried.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    request_id: Option<String>,
}

/// A relay in front of gateway A that records every call, or answers 503 while down.
struct Relay {
    addr: String,
    seen: Mutex<Vec<Seen>>,
    down: AtomicBool,
}

impl Relay {
    async fn start(target: String) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Arc::new(Self {
            addr: listener.local_addr().unwrap().to_string(),
            seen: Mutex::new(Vec::new()),
            down: AtomicBool::new(false),
        });
        let r = relay.clone();
        let forward = reqwest::Client::new();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (r, forward, target) = (r.clone(), forward.clone(), target.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (r, forward, target) = (r.clone(), forward.clone(), target.clone());
                        async move {
                            Ok::<_, std::convert::Infallible>(r.relay(req, &forward, &target).await)
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        relay
    }

    async fn relay(
        &self,
        req: Request<Incoming>,
        forward: &reqwest::Client,
        target: &str,
    ) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        self.seen.lock().unwrap().push(Seen {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            request_id: parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        });
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if self.down.load(Ordering::SeqCst) {
            return Response::builder()
                .status(503)
                .header("content-type", "text/plain")
                .body(Full::new(Bytes::from_static(b"down for maintenance")))
                .unwrap();
        }
        let url = format!(
            "http://{target}{}",
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
        );
        let mut out = forward.request(parts.method.clone(), url).body(body);
        for (k, v) in &parts.headers {
            if k != "host" && k != "content-length" {
                out = out.header(k, v);
            }
        }
        let answer = out.send().await.expect("gateway A answers");
        let mut resp = Response::builder().status(answer.status().as_u16());
        for (k, v) in answer.headers() {
            if k != "transfer-encoding" && k != "content-length" && k != "connection" {
                resp = resp.header(k, v);
            }
        }
        let bytes = answer.bytes().await.unwrap_or_default();
        resp.body(Full::new(bytes)).unwrap()
    }

    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

/// Gateway B: every dialect mounted, one upstream of each client kind behind the
/// relay, and a consumer routed to each.
fn gateway_b(relay: &str) -> String {
    format!(
        r#"{ALL_DIALECTS}
[upstreams.chained]
kind = "ticketgate"
url = "http://{relay}/v1"
bearer_key = "demo-key"

[upstreams.ost]
kind = "osticket"
url = "http://{relay}"
api_key = "demo-key"
mode = "plugin"

[upstreams.itsm]
kind = "itsmng"
url = "http://{relay}/apirest.php"
user_token = "demo-user-token"

[upstreams.tapi]
kind = "ticketsapi"
url = "http://{relay}"
hs256_secret = "demo-jwt-secret"
subject = "demo"

[routing]
default = "chained"

[outbox]
poll_ms = 100
initial_backoff_ms = 100
max_backoff_ms = 200

[[consumers]]
name = "via-chained"
bearer_key = "key-chained"
osticket_key = "ost-key-chained"
itsmng_user_token = "token-chained"
jwt_subject = "demo"
upstream = "chained"
permissions = ["create", "read", "update", "search"]

[[consumers]]
name = "via-ost"
bearer_key = "key-ost"
upstream = "ost"
permissions = ["create", "read", "update", "search"]

[[consumers]]
name = "via-itsm"
bearer_key = "key-itsm"
upstream = "itsm"
permissions = ["create", "read", "update", "search"]

[[consumers]]
name = "via-tapi"
bearer_key = "key-tapi"
upstream = "tapi"
permissions = ["create", "read", "update", "search"]
"#
    )
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Every call the relay saw carried `id`, and there was at least one.
fn assert_all_carry(seen: &[Seen], id: &str, what: &str) {
    assert!(!seen.is_empty(), "{what}: no upstream call was seen");
    for call in seen {
        assert_eq!(
            call.request_id.as_deref(),
            Some(id),
            "{what}: {} {} carried the wrong request id",
            call.method,
            call.path
        );
    }
}

#[tokio::test]
async fn request_ids_reach_every_upstream_kind_the_answer_and_the_access_log() {
    let a = Gateway::start(&serving_config(""));
    let relay = Relay::start(a.addr.clone()).await;
    let b = Gateway::start_logged(&gateway_b(&relay.addr));
    let c = client();

    // 1. A create and a read through each client kind, with the client's own id.
    for kind in ["chained", "ost", "itsm", "tapi"] {
        relay.take();
        let id = format!("rid-{kind}-create");
        let resp = c
            .post(b.url("/v1/tickets"))
            .bearer_auth(format!("key-{kind}"))
            .header("X-Request-Id", &id)
            .json(&json!({"subject": format!("ids via {kind}"), "body": "b", "requester": {"name": "Ann", "email": "ann@example.com"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "create via {kind}");
        assert_eq!(header(&resp, "x-request-id").as_deref(), Some(id.as_str()));
        let ticket: serde_json::Value = resp.json().await.unwrap();
        let seen = relay.take();
        assert_all_carry(&seen, &id, &format!("create via {kind}"));
        println!(
            "create via {kind}: {} upstream call(s), each with {id}",
            seen.len()
        );

        let id = format!("rid-{kind}-get");
        let resp = c
            .get(b.url(&format!("/v1/tickets/{}", ticket["id"].as_str().unwrap())))
            .bearer_auth(format!("key-{kind}"))
            .header("X-Request-Id", &id)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "get via {kind}");
        assert_eq!(header(&resp, "x-request-id").as_deref(), Some(id.as_str()));
        assert_all_carry(&relay.take(), &id, &format!("get via {kind}"));
    }

    // 2. No id, or one that is not safe to pass on: a generated one, the same on the
    // answer and upstream.
    let long = "x".repeat(129);
    for asked in [
        None,
        Some("has space"),
        Some("quote\"d"),
        Some(long.as_str()),
    ] {
        relay.take();
        let mut req = c
            .get(b.url("/v1/tickets?limit=1"))
            .bearer_auth("key-chained");
        if let Some(v) = asked {
            req = req.header("X-Request-Id", v);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let got = header(&resp, "x-request-id").expect("an id is always returned");
        assert!(got.starts_with("tg-"), "a generated id, not {got:?}");
        assert_ne!(Some(got.as_str()), asked);
        assert_all_carry(&relay.take(), &got, &format!("search with {asked:?}"));
    }

    // 3. Errors carry the id in every dialect, whether or not an upstream was called.
    let cases = [
        c.get(b.url("/v1/tickets/1"))
            .header("X-Request-Id", "err-canonical"),
        c.post(b.url("/api/tickets.json"))
            .header("X-API-Key", "wrong")
            .header("X-Request-Id", "err-osticket"),
        c.get(b.url("/apirest.php/Ticket/1"))
            .header("Session-Token", "nope")
            .header("X-Request-Id", "err-itsmng"),
        c.post(b.url("/api/TicketsApi"))
            .bearer_auth("not-a-jwt")
            .header("X-Request-Id", "err-ticketsapi"),
        c.get(b.url("/nowhere"))
            .header("X-Request-Id", "err-unmounted"),
    ];
    for req in cases {
        let resp = req.send().await.unwrap();
        let sent = resp.url().path().to_owned();
        assert!(resp.status().is_client_error(), "{sent}: {}", resp.status());
        let id = header(&resp, "x-request-id").unwrap_or_default();
        assert!(
            id.starts_with("err-"),
            "{sent} answered without its id: {id:?}"
        );
    }
    let missing = c
        .get(b.url("/v1/tickets/999999"))
        .bearer_auth("key-chained")
        .header("X-Request-Id", "err-upstream-404")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        header(&missing, "x-request-id").as_deref(),
        Some("err-upstream-404")
    );
    assert_all_carry(&relay.take(), "err-upstream-404", "a 404 from upstream");

    // 4. A create queued while the upstream is down is delivered with the id of the
    // request that queued it.
    relay.down.store(true, Ordering::SeqCst);
    let resp = c
        .post(b.url("/v1/tickets"))
        .bearer_auth("key-chained")
        .header("X-Request-Id", "rid-queued-create")
        .json(&json!({"subject": "queued with its id", "body": "b", "requester": {"email": "ann@example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "queued while the upstream is down");
    assert_eq!(
        header(&resp, "x-request-id").as_deref(),
        Some("rid-queued-create")
    );
    relay.down.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    let delivered = loop {
        let seen = relay.seen.lock().unwrap().clone();
        if let Some(call) = seen
            .iter()
            .find(|s| s.method == "POST" && s.path == "/v1/tickets")
        {
            break call.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the queued create was never delivered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        delivered.request_id.as_deref(),
        Some("rid-queued-create"),
        "the delivery carries the queuing request's id"
    );
    assert_all_carry(&relay.take(), "rid-queued-create", "outbox delivery");

    // 5. The access log names each request by its id.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = b.log();
        let missing: Vec<&str> = [
            "rid-chained-create",
            "rid-ost-create",
            "rid-itsm-create",
            "rid-tapi-get",
            "err-osticket",
            "rid-queued-create",
        ]
        .into_iter()
        .filter(|id| {
            !log.lines().any(|l| {
                l.contains("request") && l.contains(&format!("request_id=\"{id}\""))
                    || l.contains(&format!("request_id={id}"))
            })
        })
        .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the access log lacks {missing:?}:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Gateway A, called through the relay, kept B's ids as its own.
    drop(a);
}
