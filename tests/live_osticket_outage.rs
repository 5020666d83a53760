//! The real osTicket stopped mid-run, in its own test file because it takes the shared
//! instance away: creates are acknowledged and queued while it is down (canonical 202,
//! `pipe` exit 0), and each is delivered exactly once when it is back, counted in
//! osTicket's own `ost_ticket`. One poisoned item among them — a create osTicket will
//! always refuse — is dead-lettered at once with its reason, counted in the metrics,
//! and holds back no other ticket.
//!
//! The vendor is brought back up however the test ends.

mod support;

use serde_json::json;
use std::time::{Duration, Instant};
use support::live::{self, Vendor};
use support::osticket_db::{
    OsticketDb, core_upstream_config, mail_with_attachment, outbox, pipe, unique,
};
use support::{Gateway, client, ok_json};

/// Brings the osTicket back up when dropped, even when the test panics.
struct BringBackUp;

impl Drop for BringBackUp {
    fn drop(&mut self) {
        let _ = live::vendor(Vendor::OsTicketCore);
    }
}

#[tokio::test]
async fn creates_queued_while_osticket_is_down_are_delivered_once_when_it_is_back() {
    let Some(env) = live::vendor(Vendor::OsTicketCore) else {
        return;
    };
    let db = OsticketDb::new(&env);
    let g = Gateway::start(&core_upstream_config(
        &env,
        "[outbox]\ninitial_backoff_ms = 200\nmax_backoff_ms = 1000\npoll_ms = 200\n",
    ));
    let c = client();

    let _back_up = BringBackUp;
    let down = Vendor::OsTicketCore
        .down_command()
        .expect("the live scripts are here")
        .status()
        .expect("down.sh runs");
    assert!(down.success(), "down.sh failed");

    // The poisoned item first, so any per-upstream ordering would hold the rest.
    let poisoned_subject = unique("outage poisoned");
    let resp = c
        .post(g.url("/v1/tickets"))
        .header("Authorization", "Bearer demo-key")
        .json(
            &json!({"subject": poisoned_subject, "body": "b", "due_at": "2001-01-01T00:00:00Z",
                      "requester": {"name": "Pat", "email": "pat@example.com"}}),
        )
        .send()
        .await
        .unwrap();
    let poisoned = ok_json(resp, 202).await["tracking_id"]
        .as_str()
        .expect("a tracking id")
        .to_owned();

    let mut subjects = Vec::new();
    for i in 0..3 {
        let subject = unique(&format!("outage canonical {i}"));
        let resp = c
            .post(g.url("/v1/tickets"))
            .header("Authorization", "Bearer demo-key")
            .json(&json!({"subject": subject, "body": format!("queued {i}"),
                          "requester": {"name": "Quinn", "email": "quinn@example.com"}}))
            .send()
            .await
            .unwrap();
        let v = ok_json(resp, 202).await;
        assert!(
            v["tracking_id"]
                .as_str()
                .is_some_and(|t| t.starts_with("q-")),
            "{v}"
        );
        subjects.push(subject);
    }
    let subject = unique("outage pipe");
    let mail = mail_with_attachment("Rae", "rae@example.com", &subject, "piped", "a.bin", b"AB");
    let (code, out, err) = pipe(&g.dir, &mail);
    assert_eq!(
        code, 0,
        "durably queued is delivered, to a mail server: {out}{err}"
    );
    assert!(out.contains("queued"), "{out}");
    subjects.push(subject);

    // osTicket's own faces have no 202: on the shipped configuration (no
    // `queue_creates`) a create or a mail the upstream cannot take is a retryable 503,
    // and nothing is kept.
    let refused_subject = unique("outage refused");
    let mail = mail_with_attachment(
        "Sol",
        "sol@example.com",
        &refused_subject,
        "b",
        "a.bin",
        b"x",
    );
    for (path, body) in [
        ("/api/tickets.email", mail),
        (
            "/api/tickets.json",
            json!({"name": "Sol", "email": "sol@example.com", "subject": refused_subject,
                   "message": "m"})
            .to_string()
            .into_bytes(),
        ),
    ] {
        let resp = c
            .post(g.url(path))
            .header("X-API-Key", "demo-key")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 503, "{path}");
        assert!(resp.headers().contains_key("retry-after"), "{path}");
    }
    let (_, pending) = outbox(&g.dir, &["list", "--state", "pending"]);
    assert!(
        pending
            .trim_end()
            .ends_with(&format!("{} item(s)", subjects.len() + 1)),
        "only the acknowledged creates are queued: {pending}"
    );

    // Back up: every queued create lands, once.
    live::vendor(Vendor::OsTicketCore).expect("osTicket comes back");
    let start = Instant::now();
    loop {
        let counts: Vec<usize> = subjects
            .iter()
            .map(|s| db.tickets_with_subject(s).len())
            .collect();
        if counts.iter().all(|&n| n >= 1) {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let (_, list) = outbox(&g.dir, &["list"]);
            panic!("not all delivered after 60 s: {counts:?}\n{list}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // A while longer: nothing is delivered twice.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for s in &subjects {
        let found = db.tickets_with_subject(s);
        assert_eq!(found.len(), 1, "{s} exactly once");
    }
    assert!(db.tickets_with_subject(&poisoned_subject).is_empty());
    assert!(db.tickets_with_subject(&refused_subject).is_empty());

    // The poisoned item: dead, at once, saying why; counted.
    let (code, shown) = outbox(&g.dir, &["show", &poisoned]);
    assert_eq!(code, 0, "{shown}");
    let item: serde_json::Value = serde_json::from_str(&shown).expect("outbox show is JSON");
    assert_eq!(item["state"], "dead", "{shown}");
    let why = item["last_error"].as_str().unwrap_or("");
    assert!(why.contains("permanent failure"), "{why}");
    assert!(
        why.contains("Due date must be in the future"),
        "osTicket's reason: {why}"
    );
    let (_, pending) = outbox(&g.dir, &["list", "--state", "pending"]);
    assert!(pending.trim_end().ends_with("0 item(s)"), "{pending}");
    let metrics = c
        .get(g.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ticketgate_outbox_dead_letters_total 1"),
        "{metrics}"
    );
}
