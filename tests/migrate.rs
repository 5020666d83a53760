//! `ticketgate migrate --from A --to B` between two embedded stores, with the real
//! binary: a dry run changes nothing; a run killed half-way resumes without a
//! duplicate; every copy has its thread, attachments, status, priority, requester and
//! custom fields; and old ids and numbers asked through the gateway get the copies.

mod support;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use support::{Gateway, binary, client};

const TICKETS: usize = 30;

fn config(dir: &Path) -> String {
    format!(
        r#"
[server]
data_dir = "{}"

[dialects.canonical]
prefix = "/v1"

[dialects.osticket]
prefix = "/api"

[upstreams.local]
kind = "embedded"
durability = "normal"

[upstreams.it]
kind = "embedded"
durability = "normal"
path = "it.sqlite"

[routing]
default = "local"

[[consumers]]
name = "demo"
bearer_key = "demo-key"
osticket_key = "demo-key"
permissions = ["create", "read", "update", "search", "delete", "stats", "subtickets"]
networks = ["127.0.0.0/8"]
quota.create = {{ per_second = 1000.0, burst = 1000 }}
quota.write = {{ per_second = 1000.0, burst = 1000 }}

# Sees the `it` store with that store's own ids.
[[consumers]]
name = "itview"
bearer_key = "itview-key"
permissions = ["read", "search", "update"]
networks = ["127.0.0.0/8"]
upstream = "it"
"#,
        dir.display()
    )
}

async fn call(
    g: &Gateway,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client()
        .request(method, g.url(path))
        .header("Authorization", format!("Bearer {key}"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("the gateway answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn all(g: &Gateway, key: &str) -> Vec<Value> {
    let (status, page) = call(
        g,
        key,
        reqwest::Method::GET,
        "/v1/tickets?limit=100&sort=created",
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().cloned().unwrap_or_default()
}

/// Seed `TICKETS` tickets on `local`: each with a reply, every third resolved, every
/// fifth with an attachment; returns them as `local` serves them.
async fn seed(g: &Gateway) -> Vec<Value> {
    use reqwest::Method as M;
    let mut out = Vec::new();
    for i in 0..TICKETS {
        let mut body = json!({
            "subject": format!("Ticket number {i:02}"),
            "body": format!("Body of ticket {i:02}"),
            "requester": {"name": format!("Requester {i}"), "email": format!("r{i}@example.com")},
            "priority": "High",
            "department": "IT",
            "custom_fields": {"asset": format!("PC-{i}")},
        });
        if i % 5 == 0 {
            body["attachments"] = json!([{"name": format!("log{i}.txt"), "media_type": "text/plain", "bytes": "bGluZSAxCmxpbmUgMgo="}]);
        }
        let (status, t) = call(g, "demo-key", M::POST, "/v1/tickets", Some(body)).await;
        assert_eq!(status, 201, "{t}");
        let id = t["id"].as_str().expect("an id").to_owned();
        let (status, e) = call(
            g,
            "demo-key",
            M::POST,
            &format!("/v1/tickets/{id}/entries"),
            Some(json!({"kind": "response", "body": format!("Reply to {i:02}")})),
        )
        .await;
        assert_eq!(status, 201, "{e}");
        if i % 3 == 0 {
            let (status, r) = call(
                g,
                "demo-key",
                M::POST,
                &format!("/v1/tickets/{id}/resolve"),
                Some(json!({})),
            )
            .await;
            assert_eq!(status, 200, "{r}");
        }
        let (_, full) = call(g, "demo-key", M::GET, &format!("/v1/tickets/{id}"), None).await;
        out.push(full);
    }
    out
}

fn migrate(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(binary())
        .args(["migrate", "--config"])
        .arg(config)
        .args(args)
        .output()
        .expect("ticketgate migrate runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn replies(t: &Value) -> usize {
    t["entries"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter(|e| e["body"].to_string().contains("Reply to"))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn migrate_between_two_embedded_stores_resumes_after_a_kill_and_old_ids_follow() {
    let tmp = tempfile::tempdir().unwrap();
    // The support harness serves from `data` in the directory it is given.
    let config_text = config(&tmp.path().join("data"));
    let config_path = tmp.path().join("migrate.toml");
    std::fs::write(&config_path, &config_text).unwrap();

    let mut g = Gateway::start_in(tmp.path(), &config_text);
    let originals = seed(&g).await;
    assert!(all(&g, "itview-key").await.is_empty());
    g.stop();

    // An unknown upstream is refused, naming the ones there are.
    let (code, _, err) = migrate(&config_path, &["--from", "local", "--to", "nowhere"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("\"nowhere\"") && err.contains("it, local"),
        "{err}"
    );

    // A dry run says what it would copy and copies nothing.
    let (code, out, err) = migrate(
        &config_path,
        &["--from", "local", "--to", "it", "--dry-run"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("would copy {TICKETS}, skipped 0, failed 0")),
        "{out}"
    );
    assert!(err.is_empty(), "no progress bar without a terminal: {err}");

    // A real run, killed after a few tickets.
    let mut child = Command::new(binary())
        .args(["migrate", "--config"])
        .arg(&config_path)
        .args(["--from", "local", "--to", "it"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ticketgate migrate starts");
    let stdout = child.stdout.take().expect("its stdout");
    let mut copied_first = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line");
        if line.starts_with("copied ") {
            copied_first += 1;
            if copied_first == 4 {
                child.kill().expect("the run can be killed");
                break;
            }
        }
    }
    child.wait().unwrap();
    assert_eq!(
        copied_first, 4,
        "the first run copied a few tickets before it was killed"
    );

    // The dry run left nothing behind, and the killed run left what it copied.
    let g = Gateway::start_in(tmp.path(), &config_text);
    let half = all(&g, "itview-key").await.len();
    assert!(
        (4..TICKETS).contains(&half),
        "{half} copied before the kill"
    );
    drop(g);

    // Run again: the rest is copied, nothing twice.
    let (code, out, err) = migrate(&config_path, &["--from", "local", "--to", "it"]);
    assert_eq!(code, 0, "{out}{err}");
    let (skipped, summary) = support::migrate_summary(&out, "skipped");
    assert!(skipped >= 4, "{summary}");
    assert!(summary.ends_with("failed 0"), "{summary}");
    // And a third run has nothing left to do.
    let (code, out, _) = migrate(&config_path, &["--from", "local", "--to", "it"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("copied 0, skipped {TICKETS}, failed 0")),
        "{out}"
    );

    let g = Gateway::start_in(tmp.path(), &config_text);
    let copies = all(&g, "itview-key").await;
    assert_eq!(copies.len(), TICKETS, "one copy each");
    for original in &originals {
        let subject = original["subject"].as_str().unwrap();
        let old_id = original["id"].as_str().unwrap();
        let old_number = original["number"].as_str().unwrap();
        let matching: Vec<&Value> = copies.iter().filter(|c| c["subject"] == subject).collect();
        assert_eq!(matching.len(), 1, "{subject} copied once");
        let copy_id = matching[0]["id"].as_str().unwrap();
        let (_, copy) = call(
            &g,
            "itview-key",
            reqwest::Method::GET,
            &format!("/v1/tickets/{copy_id}"),
            None,
        )
        .await;
        assert_eq!(replies(&copy), 1, "the reply copied once: {copy}");
        assert_eq!(
            copy["status"]["state"], original["status"]["state"],
            "{copy}"
        );
        assert_eq!(copy["priority"]["name"], original["priority"]["name"]);
        assert_eq!(copy["requester"]["email"], original["requester"]["email"]);
        assert_eq!(copy["requester"]["name"], original["requester"]["name"]);
        assert_eq!(copy["department"]["name"], original["department"]["name"]);
        assert_eq!(copy["custom_fields"], original["custom_fields"]);
        let names = |t: &Value| {
            t["attachments"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|a| (a["name"].clone(), a["bytes"].clone()))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        assert_eq!(names(&copy), names(original), "attachments byte for byte");

        // Through the gateway the old id and the old number reach the copy, and show
        // the id the client knew.
        let (status, via_old) = call(
            &g,
            "demo-key",
            reqwest::Method::GET,
            &format!("/v1/tickets/{old_id}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{via_old}");
        assert_eq!(via_old["id"], old_id);
        assert_eq!(via_old["number"], old_number);
        assert_eq!(via_old["subject"], subject);
    }

    // A change through an old id lands on the copy.
    let first = &originals[1];
    let old_id = first["id"].as_str().unwrap();
    let (status, patched) = call(
        &g,
        "demo-key",
        reqwest::Method::PATCH,
        &format!("/v1/tickets/{old_id}"),
        Some(json!({"subject": "Moved and edited"})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    let copies = all(&g, "itview-key").await;
    assert!(
        copies.iter().any(|c| c["subject"] == "Moved and edited"),
        "the copy changed"
    );

    // An osTicket client's old number reaches the copy too.
    let number = originals[2]["number"].as_str().unwrap();
    let resp = client()
        .get(g.url(&format!("/api/tickets-get.php/{number}.json")))
        .header("X-API-Key", "demo-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains(originals[2]["subject"].as_str().unwrap()),
        "{body}"
    );
}
