//! The real Request Tracker stopped mid-run, in its own test file because it takes the
//! shared instance away: creates made while RT is down are acknowledged and queued in
//! the outbox (canonical 202, osTicket `tickets.json` 202 with `queue_creates`, `pipe`
//! exit 0), and each lands in RT exactly once when it is back, counted in RT itself
//! over its REST 2.0 API.
//!
//! RT is brought back up however the test ends.

#[allow(dead_code)]
#[path = "support/rt_live.rs"]
mod rt_live;
mod support;

use rt_live::Rt;
use serde_json::json;
use std::time::{Duration, Instant};
use support::live::{self, Vendor};
use support::osticket_db::{mail_with_attachment, outbox, pipe, unique};
use support::{Gateway, client, forwarding_config, ok_json};

/// Brings RT back up when dropped, even when the test panics.
struct BringBackUp;

impl Drop for BringBackUp {
    fn drop(&mut self) {
        let _ = live::vendor(Vendor::Rt);
    }
}

#[tokio::test]
async fn creates_while_rt_is_down_are_queued_and_delivered_exactly_once() {
    let Some(env) = live::vendor(Vendor::Rt) else {
        return;
    };
    let rt = Rt::new(&env);
    let upstream = format!(
        "kind = \"rt\"\nurl = \"{}\"\ntoken = \"{}\"\nconnect_timeout_ms = 1000\nrequest_timeout_ms = 5000",
        env["RT_URL"], env["RT_TOKEN"]
    );
    let config = forwarding_config(
        &upstream,
        "[pipe]\nconsumer = \"demo\"\n[outbox]\ninitial_backoff_ms = 200\nmax_backoff_ms = 1000\npoll_ms = 200\n",
    )
    .replace(
        "[dialects.osticket]\nprefix = \"/api\"\n",
        "[dialects.osticket]\nprefix = \"/api\"\nqueue_creates = true\n",
    );
    assert!(config.contains("queue_creates = true"));
    let g = Gateway::start(&config);
    let c = client();

    // Up: a create goes straight through.
    let before = unique("rt outage before");
    ok_json(
        c.post(g.url("/v1/tickets"))
            .header("Authorization", "Bearer demo-key")
            .json(&json!({"subject": before, "body": "b", "requester": {"email": "o@example.com"}}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;

    let _back_up = BringBackUp;
    let down = Vendor::Rt
        .down_command()
        .expect("the live scripts are here")
        .status()
        .expect("down.sh runs");
    assert!(down.success(), "down.sh failed");

    let mut subjects = Vec::new();
    for i in 0..3 {
        let subject = unique(&format!("rt outage canonical {i}"));
        let v = ok_json(
            c.post(g.url("/v1/tickets"))
                .header("Authorization", "Bearer demo-key")
                .json(&json!({"subject": subject, "body": format!("queued {i}"),
                              "requester": {"name": "Quinn", "email": "quinn@example.com"}}))
                .send()
                .await
                .unwrap(),
            202,
        )
        .await;
        assert!(
            v["tracking_id"]
                .as_str()
                .is_some_and(|t| t.starts_with("q-")),
            "{v}"
        );
        subjects.push(subject);
    }
    let subject = unique("rt outage osticket");
    let resp = c
        .post(g.url("/api/tickets.json"))
        .header("X-API-Key", "demo-key")
        .json(
            &json!({"name": "Sol", "email": "sol@example.com", "subject": subject, "message": "m"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "queue_creates: accepted, queued");
    subjects.push(subject);
    let subject = unique("rt outage pipe");
    let mail = mail_with_attachment("Rae", "rae@example.com", &subject, "piped", "a.bin", b"AB");
    let (code, out, err) = pipe(&g.dir, &mail);
    assert_eq!(code, 0, "durably queued, so the mail is safe: {out}{err}");
    assert!(out.contains("queued"), "{out}");
    subjects.push(subject);
    let (_, pending) = outbox(&g.dir, &["list", "--state", "pending"]);
    assert!(
        pending
            .trim_end()
            .ends_with(&format!("{} item(s)", subjects.len())),
        "{pending}"
    );

    // Back up: every queued create lands, once.
    live::vendor(Vendor::Rt).expect("RT comes back");
    let start = Instant::now();
    loop {
        let mut counts = Vec::new();
        for s in &subjects {
            counts.push(rt.ids_with_subject(s).await.len());
        }
        assert!(
            counts.iter().all(|&n| n <= 1),
            "a queued create was delivered twice: {counts:?}"
        );
        if counts.iter().all(|&n| n == 1) {
            break;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let (_, list) = outbox(&g.dir, &["list"]);
            panic!("not all delivered after 90 s: {counts:?}\n{list}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The piped mail arrived whole, attachment included.
    let piped = rt.ticket(subjects.last().expect("the pipe subject")).await;
    assert_eq!(piped.requestor_email, "rae@example.com");
    assert_eq!(piped.file("a.bin"), b"AB");
    // A while later, still exactly once each, and nothing left in the outbox.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for s in subjects.iter().chain([&before]) {
        assert_eq!(rt.ids_with_subject(s).await.len(), 1, "{s}");
    }
    let (_, pending) = outbox(&g.dir, &["list", "--state", "pending"]);
    assert!(pending.trim_end().ends_with("0 item(s)"), "{pending}");
}
