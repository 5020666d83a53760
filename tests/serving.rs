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
