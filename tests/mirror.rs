//! Cutover without downtime: `[routing.mirror]`.
//!
//! Gateway A serves every dialect over its embedded store `local` and `new`, a second
//! real ticketgate process B with a store of its own, reached over loopback. With
//! `primary = "local"`, `secondary = "new"`: writes through the canonical and
//! osTicket dialects land in both stores, reads come from the primary, a secondary
//! that is down never fails a client and what it missed is counted and caught up by
//! `ticketgate migrate`. Then the primary is switched (a restart, and back again by a
//! SIGHUP reload) and every id the clients hold keeps naming its ticket.

mod support;

use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::{
    ALL_DIALECTS, DEMO_BEARER, DIALECT_CONSUMERS, Gateway, binary, canonical_config, client,
    json_of, metric, search_items,
};

fn mirror_config(b: &str, primary: &str, secondary: &str) -> String {
    format!(
        "{ALL_DIALECTS}
[upstreams.local]
kind = \"embedded\"
durability = \"normal\"

[upstreams.new]
kind = \"ticketgate\"
url = \"http://{b}/v1\"
bearer_key = \"demo-key\"
protection = {{ failure_threshold = 1000 }}

[routing]
default = \"local\"

[routing.mirror]
primary = \"{primary}\"
secondary = \"{secondary}\"
{DIALECT_CONSUMERS}"
    )
}

async fn create(g: &Gateway, subject: &str) -> Value {
    let body = json!({
        "subject": subject,
        "body": format!("{subject}, in detail"),
        "requester": {"name": "Ann", "email": "ann@example.com"},
    });
    json_of(
        client()
            .post(g.url("/v1/tickets"))
            .header("Authorization", DEMO_BEARER)
            .json(&body)
            .send()
            .await
            .expect("create answers"),
        201,
    )
    .await
}

async fn get(g: &Gateway, id: &str) -> Value {
    json_of(
        client()
            .get(g.url(&format!("/v1/tickets/{id}")))
            .header("Authorization", DEMO_BEARER)
            .send()
            .await
            .expect("get answers"),
        200,
    )
    .await
}

async fn patch(g: &Gateway, id: &str, body: Value) -> Value {
    json_of(
        client()
            .patch(g.url(&format!("/v1/tickets/{id}")))
            .header("Authorization", DEMO_BEARER)
            .json(&body)
            .send()
            .await
            .expect("update answers"),
        200,
    )
    .await
}

/// B's own ticket whose subject is `subject`, read from B's API.
async fn on_b(b: &Gateway, subject: &str) -> Value {
    let items = search_items(b, subject).await;
    let found: Vec<&Value> = items.iter().filter(|t| t["subject"] == subject).collect();
    assert_eq!(found.len(), 1, "one ticket {subject:?} on B: {items:?}");
    get(b, found[0]["id"].as_str().expect("an id")).await
}

fn migrate(config: &Path, data: &Path) -> (i32, String) {
    let out = Command::new(binary())
        .args(["migrate", "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .args(["--from", "local", "--to", "new"])
        .output()
        .expect("ticketgate migrate runs");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn writes_land_in_both_reads_come_from_the_primary_and_the_switch_keeps_every_id() {
    let bdir = tempfile::tempdir().unwrap();
    let mut b = Gateway::start_in(bdir.path(), &canonical_config(""));
    let b_addr = b.addr.clone();
    let adir = tempfile::tempdir().unwrap();
    let mut a = Gateway::start_in(adir.path(), &mirror_config(&b_addr, "local", "new"));

    // A canonical create lands in the primary (its own ids) and on B.
    let printer = create(&a, "Printer jams").await;
    let printer_id = printer["id"].as_str().unwrap().to_owned();
    assert_eq!(printer_id, "1", "the primary's own id: {printer}");
    on_b(&b, "Printer jams").await;

    // An osTicket create lands in both too.
    let resp = client()
        .post(a.url("/api/tickets.json"))
        .header("X-API-Key", "demo-key")
        .json(&json!({"name": "Bo", "email": "bo@example.com", "subject": "Badge broken", "message": "data:text/plain,It beeps"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let badge_number = resp.text().await.unwrap().trim().to_owned();
    on_b(&b, "Badge broken").await;

    // An update and a reply through A land on B's copy.
    patch(&a, &printer_id, json!({"subject": "Printer jams daily"})).await;
    let reply = client()
        .post(a.url(&format!("/v1/tickets/{printer_id}/entries")))
        .header("Authorization", DEMO_BEARER)
        .json(&json!({"kind": "response", "body": "Replace the roller"}))
        .send()
        .await
        .unwrap();
    json_of(reply, 201).await;
    let copy = on_b(&b, "Printer jams daily").await;
    assert!(
        copy["entries"].to_string().contains("Replace the roller"),
        "the reply is on B's copy: {copy}"
    );
    let copy_id = copy["id"].as_str().unwrap().to_owned();
    assert_eq!(
        metric(
            &a,
            "ticketgate_mirror_writes_total{operation=\"create\",outcome=\"mirrored\"}"
        )
        .await,
        2
    );
    assert_eq!(
        metric(
            &a,
            "ticketgate_mirror_writes_total{operation=\"update\",outcome=\"mirrored\"}"
        )
        .await,
        1
    );

    // Reads come from the primary: a change made on B alone is not what A answers,
    // and the next mirrored write finds the two apart, and counts it.
    patch(&b, &copy_id, json!({"subject": "Changed on B alone"})).await;
    let read = get(&a, &printer_id).await;
    assert_eq!(read["subject"], "Printer jams daily", "{read}");
    patch(&a, &printer_id, json!({"priority": "high"})).await;
    assert_eq!(
        metric(&a, "ticketgate_mirror_mismatches_total{field=\"subject\"}").await,
        1
    );

    // The secondary down: clients still succeed; the misses are counted.
    b.stop();
    let updated = patch(&a, &printer_id, json!({"subject": "Printer fixed"})).await;
    assert_eq!(updated["subject"], "Printer fixed");
    let scanner = create(&a, "Scanner offline").await;
    let scanner_id = scanner["id"].as_str().unwrap().to_owned();
    assert_eq!(get(&a, &scanner_id).await["subject"], "Scanner offline");
    assert_eq!(
        metric(
            &a,
            "ticketgate_mirror_writes_total{operation=\"update\",outcome=\"failed\"}"
        )
        .await,
        1
    );
    assert_eq!(
        metric(
            &a,
            "ticketgate_mirror_writes_total{operation=\"create\",outcome=\"failed\"}"
        )
        .await,
        1
    );

    // B back; `ticketgate migrate` catches it up (A stopped, as migrations are run).
    let mut b = Gateway::start_listen(bdir.path(), &canonical_config(""), &b_addr);
    a.stop();
    let (code, out) = migrate(&a.config, &adir.path().join("data"));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("copied 2"),
        "the missed update and create: {out}"
    );
    assert_eq!(on_b(&b, "Printer fixed").await["id"], copy_id.as_str());
    on_b(&b, "Scanner offline").await;

    // Switch the primary (a restart): every id clients hold is served from B.
    let a = Gateway::start_in(adir.path(), &mirror_config(&b_addr, "new", "local"));
    patch(
        &b,
        &copy_id,
        json!({"subject": "Printer fixed (checked on B)"}),
    )
    .await;
    assert_eq!(
        get(&a, &printer_id).await["subject"],
        "Printer fixed (checked on B)",
        "the old id reads the new primary"
    );
    let read = get(&a, &scanner_id).await;
    assert_eq!(read["subject"], "Scanner offline");
    assert_eq!(read["id"], scanner_id.as_str(), "the id the client knows");
    let ost = json_of(
        client()
            .get(a.url(&format!("/api/tickets-get.php/{badge_number}.json")))
            .header("X-API-Key", "demo-key")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert!(ost.to_string().contains("Badge broken"), "{ost}");
    // A write through the old id lands on B, and is mirrored back onto local.
    patch(&a, &printer_id, json!({"subject": "Printer replaced"})).await;
    on_b(&b, "Printer replaced").await;

    // And back by a reload: local is the primary again, and has the mirrored write.
    std::fs::write(&a.config, mirror_config(&b_addr, "local", "new")).unwrap();
    let _ = Command::new("kill")
        .arg("-HUP")
        .arg(a.child.id().to_string())
        .status();
    patch(&b, &copy_id, json!({"subject": "Only on B"})).await;
    let mut subject = Value::Null;
    for _ in 0..50 {
        subject = get(&a, &printer_id).await["subject"].clone();
        if subject == "Printer replaced" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        subject, "Printer replaced",
        "after the reload, local answers"
    );
    b.stop();
}
