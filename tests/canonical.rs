//! The canonical `/v1` API end to end: the real binary, real sockets, the embedded
//! store on disk.

mod support;

use serde_json::{Value, json};
use support::{DEMO_BEARER, Gateway, canonical_config, client, problem};

const DEMO: &str = "Bearer demo-key";

async fn create(g: &Gateway, subject: &str) -> Value {
    let resp = client()
        .post(g.url("/v1/tickets"))
        .header("Authorization", DEMO)
        .json(&json!({"subject": subject, "body": "details", "requester": {"name": "Ann", "email": "ann@example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn create_get_search_update_reply_resolve_close_delete_purge() {
    let g = Gateway::start(&canonical_config(""));
    let c = client();

    // The minimal create body of the README.
    let resp = c
        .post(g.url("/v1/tickets"))
        .header("Authorization", DEMO)
        .json(&json!({"subject": "Printer jams", "body": "Tray 2", "requester": {"name": "Ann", "email": "ann@example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(resp.headers().contains_key("ratelimit"));
    let t: Value = resp.json().await.unwrap();
    let id = t["id"].as_str().expect("id is a string").to_owned();
    assert_eq!(location, format!("/v1/tickets/{id}"));
    assert_eq!(t["subject"], "Printer jams");
    assert!(t["number"].as_str().is_some_and(|n| !n.is_empty()));

    // XML in, XML out.
    let resp = c
        .post(g.url("/v1/tickets"))
        .header("Authorization", DEMO)
        .header("Content-Type", "application/xml")
        .header("Accept", "application/xml")
        .body("<ticket><subject>VPN drops</subject><body>every <![CDATA[20 min & more]]></body><requester><email>bob@example.com</email></requester><department>IT</department></ticket>")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["content-type"], "application/xml");
    let xml = resp.text().await.unwrap();
    assert!(
        xml.contains("<subject>VPN drops</subject>") && xml.contains("20 min &amp; more"),
        "{xml}"
    );
    assert!(xml.contains("<name>IT</name>"), "{xml}");

    for i in 0..5 {
        create(&g, &format!("Bulk {i}")).await;
    }

    let got: Value = c
        .get(g.url(&location))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["body"]["content"], "Tray 2");

    // Search: paging and a total.
    let page: Value = c
        .get(g.url("/v1/tickets?q=bulk&limit=2&offset=2&sort=number"))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 5);
    assert_eq!(page["total_exact"], true);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["subject"], "Bulk 2");
    assert_eq!(page["limit"], 2);
    assert_eq!(page["offset"], 2);

    // Update, reply, note, resolve, close.
    let resp = c
        .patch(g.url(&location))
        .header("Authorization", DEMO)
        .json(&json!({"priority": "high", "department": "Support"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let t: Value = resp.json().await.unwrap();
    assert_eq!(t["priority"]["level"], "high");
    for (kind, text) in [("response", "Try tray 1"), ("note", "Known model issue")] {
        let resp = c
            .post(g.url(&format!("{location}/entries")))
            .header("Authorization", DEMO)
            .json(&json!({"kind": kind, "body": text}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let t: Value = c
        .post(g.url(&format!("{location}/resolve")))
        .header("Authorization", DEMO)
        .json(&json!({"body": "Replaced the roller"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(t["status"]["state"], "resolved");
    let resp = c
        .post(g.url(&format!("{location}/close")))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let t: Value = resp.json().await.unwrap();
    assert_eq!(t["status"]["state"], "closed");
    assert_eq!(t["entries"].as_array().unwrap().len(), 3);

    // Soft delete keeps it readable as deleted; purge removes it.
    let resp = c
        .delete(g.url(&location))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let t: Value = c
        .get(g.url(&location))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(t["status"]["state"], "deleted");
    let resp = c
        .delete(g.url(&format!("{location}?purge=true")))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = c
        .get(g.url(&location))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap();
    problem(resp, 404).await;
}

#[tokio::test]
async fn assign_attach_subtickets_stats_and_lookups() {
    let g = Gateway::start(&canonical_config(""));
    let c = client();
    let parent = create(&g, "Office move").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let child = create(&g, "Move printers").await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let t: Value = c
        .post(g.url(&format!("/v1/tickets/{parent}/assign")))
        .header("Authorization", DEMO)
        .json(&json!({"assignee": "Sam Support", "group": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(t["assignee"]["id"], "1");
    assert_eq!(t["group"]["name"], "Second Line");

    let resp = c
        .post(g.url(&format!("/v1/tickets/{parent}/attachments")))
        .header("Authorization", DEMO)
        .json(&json!({"attachments": [{"name": "plan.txt", "media_type": "text/plain", "bytes": "Zmxvb3IgMw=="}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let t: Value = c
        .get(g.url(&format!("/v1/tickets/{parent}")))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(t["attachments"][0]["bytes"], "Zmxvb3IgMw==");

    let link = |p: &str, ch: &str| {
        c.post(g.url(&format!("/v1/tickets/{p}/children")))
            .header("Authorization", DEMO)
            .json(&json!({"child": ch}))
            .send()
    };
    assert_eq!(link(&parent, &child).await.unwrap().status(), 204);
    problem(link(&child, &parent).await.unwrap(), 409).await;
    let kids: Value = c
        .get(g.url(&format!("/v1/tickets/{parent}/children")))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(kids["items"][0]["id"], child.as_str());
    let p: Value = c
        .get(g.url(&format!("/v1/tickets/{child}/parent")))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p["id"], parent.as_str());
    let resp = c
        .delete(g.url(&format!("/v1/tickets/{parent}/children/{child}")))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);

    let stats: Value = c
        .get(g.url("/v1/stats"))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["total"], 2);
    assert_eq!(stats["open"], 2);
    let statuses: Value = c
        .get(g.url("/v1/lookups/statuses"))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        statuses["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "Resolved" && s["state"] == "resolved")
    );
    problem(
        c.get(g.url("/v1/lookups/colours"))
            .header("Authorization", DEMO)
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
}

#[tokio::test]
async fn auth_failures_are_problems() {
    let g = Gateway::start(&canonical_config(""));
    let c = client();
    let body = json!({"subject": "x", "requester": {"email": "a@example.com"}});
    problem(
        c.post(g.url("/v1/tickets"))
            .json(&body)
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    problem(
        c.post(g.url("/v1/tickets"))
            .header("Authorization", "Bearer wrong")
            .json(&body)
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    // A consumer without the create permission.
    let p = problem(
        c.post(g.url("/v1/tickets"))
            .header("Authorization", "Bearer reader-key")
            .json(&body)
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("create"));
    // A consumer allowed only from another network.
    problem(
        c.get(g.url("/v1/tickets"))
            .header("Authorization", "Bearer elsewhere-key")
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    // Nothing was written by any of them.
    let page: Value = c
        .get(g.url("/v1/tickets"))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 0);
}

#[tokio::test]
async fn bad_input_is_a_problem_and_writes_nothing() {
    let g = Gateway::start(&canonical_config(
        "[limits]\nbody_bytes = 4096\nupload_bytes = 4096\n",
    ));
    let c = client();
    let post = |ct: &'static str, body: Vec<u8>| {
        c.post(g.url("/v1/tickets"))
            .header("Authorization", DEMO)
            .header("Content-Type", ct)
            .body(body)
            .send()
    };
    let p = problem(
        post("application/json", b"{\"subject\": ".to_vec())
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("JSON"));
    let p = problem(
        post("application/xml", b"<ticket><subject>x</ticket>".to_vec())
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("XML"));
    let bomb = b"<?xml version=\"1.0\"?><!DOCTYPE t [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]><ticket><subject>&b;</subject></ticket>";
    problem(post("application/xml", bomb.to_vec()).await.unwrap(), 400).await;
    problem(
        post("text/csv", b"subject,body".to_vec()).await.unwrap(),
        415,
    )
    .await;
    problem(
        post("application/json", vec![b' '; 10_000]).await.unwrap(),
        413,
    )
    .await;
    // Wrong types and unknown fields name the field.
    let p = problem(
        post(
            "application/json",
            br#"{"subject": 5, "requester": {"email": "a@example.com"}}"#.to_vec(),
        )
        .await
        .unwrap(),
        400,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("invalid type"));
    let p = problem(
        post(
            "application/json",
            br#"{"subject": "s", "requester": {"email": "a@example.com"}, "colour": "red"}"#
                .to_vec(),
        )
        .await
        .unwrap(),
        400,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("colour"));
    let p = problem(
        post(
            "application/json",
            br#"{"subject": "s", "requester": {"email": "a@example.com"}, "department": "Narnia"}"#
                .to_vec(),
        )
        .await
        .unwrap(),
        400,
    )
    .await;
    assert_eq!(p["field"], "department");
    let p = problem(
        post(
            "application/json",
            br#"{"subject": "", "requester": {"email": "a@example.com"}}"#.to_vec(),
        )
        .await
        .unwrap(),
        400,
    )
    .await;
    assert_eq!(p["field"], "subject");
    problem(
        c.get(g.url("/v1/tickets?limit=abc"))
            .header("Authorization", DEMO)
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    problem(
        c.put(g.url("/v1/tickets"))
            .header("Authorization", DEMO)
            .send()
            .await
            .unwrap(),
        405,
    )
    .await;
    let page: Value = c
        .get(g.url("/v1/tickets"))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 0, "no bad request left a ticket behind");
}

/// On the SQLite state, and again with the state on PostgreSQL.
#[tokio::test]
async fn idempotency_key_replays_the_first_outcome() {
    for pg in support::state_backends("idempotency_key_replays_the_first_outcome") {
        let state = pg.as_ref().map(support::postgres_state).unwrap_or_default();
        idempotency_replay(&state).await;
    }
}

async fn idempotency_replay(state: &str) {
    let g = Gateway::start(&canonical_config(state));
    let c = client();
    let body = json!({"subject": "Once", "requester": {"email": "a@example.com"}});
    let send = |b: &Value| {
        c.post(g.url("/v1/tickets"))
            .header("Authorization", DEMO)
            .header("Idempotency-Key", "order-77")
            .json(b)
            .send()
    };
    let first: Value = send(&body).await.unwrap().json().await.unwrap();
    let resp = send(&body).await.unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["idempotent-replayed"], "true");
    let second: Value = resp.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    let other = json!({"subject": "Different", "requester": {"email": "a@example.com"}});
    problem(send(&other).await.unwrap(), 409).await;
    let page: Value = c
        .get(g.url("/v1/tickets"))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);
}

#[tokio::test]
async fn tickets_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let config = canonical_config("");
    let mut ids = Vec::new();
    {
        let mut g = Gateway::start_in(tmp.path(), &config);
        for i in 0..3 {
            ids.push(
                create(&g, &format!("Persistent {i}")).await["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        assert!(g.stop().success(), "a clean exit on SIGTERM");
    }
    let g = Gateway::start_in(tmp.path(), &config);
    for id in &ids {
        let resp = client()
            .get(g.url(&format!("/v1/tickets/{id}")))
            .header("Authorization", DEMO)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let page: Value = client()
        .get(g.url("/v1/tickets"))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 3);
}

#[tokio::test]
async fn operations_endpoints() {
    let g = Gateway::start(&canonical_config(""));
    let c = client();
    assert_eq!(c.get(g.url("/healthz")).send().await.unwrap().status(), 200);
    let ready: Value = c
        .get(g.admin_url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["ready"], true);
    create(&g, "Counted").await;
    let metrics = c
        .get(g.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ticketgate_requests_total{dialect=\"canonical\",status=\"201\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("ticketgate_outbox_depth 0"));
    problem(c.get(g.url("/nowhere")).send().await.unwrap(), 404).await;
    // The public listener answers only the cheap liveness check.
    for path in ["/metrics", "/readyz"] {
        problem(c.get(g.url(path)).send().await.unwrap(), 404).await;
    }
    // The admin listener serves nothing but operations.
    assert_eq!(
        c.get(g.admin_url("/v1/tickets"))
            .header("Authorization", DEMO_BEARER)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_is_refused() {
    let g = Gateway::start(&canonical_config(""));
    let out = std::process::Command::new(support::binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&g.config)
        .arg("--data-dir")
        .arg(g.dir.join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already in use"));
}

#[tokio::test]
async fn tasks_are_added_and_listed() {
    let g = Gateway::start(&canonical_config(""));
    let t = create(&g, "Printer jams").await;
    let id = t["id"].as_str().unwrap().to_owned();
    let c = client();
    let url = g.url(&format!("/v1/tickets/{id}/tasks"));
    let resp = c
        .post(&url)
        .header("Authorization", DEMO_BEARER)
        .json(&json!({"body": "Replace the fuser", "state": "todo", "duration_secs": 600, "private": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let task: Value = resp.json().await.unwrap();
    assert_eq!(
        (
            task["body"].clone(),
            task["state"].clone(),
            task["duration_secs"].clone(),
            task["private"].clone()
        ),
        (
            json!("Replace the fuser"),
            json!("todo"),
            json!(600),
            json!(true)
        )
    );
    assert_eq!(task["ticket"], json!(id));
    // XML in, XML out.
    let resp = c
        .post(&url)
        .header("Authorization", DEMO_BEARER)
        .header("Content-Type", "application/xml")
        .body("<task><body>Called the vendor</body><state>done</state></task>")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        201,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let resp = c
        .get(&url)
        .header("Authorization", DEMO_BEARER)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let list: Value = resp.json().await.unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(
        items
            .iter()
            .map(|t| (t["body"].clone(), t["state"].clone()))
            .collect::<Vec<_>>(),
        [
            (json!("Replace the fuser"), json!("todo")),
            (json!("Called the vendor"), json!("done"))
        ]
    );
    let resp = c
        .get(&url)
        .header("Authorization", DEMO_BEARER)
        .header("Accept", "application/xml")
        .send()
        .await
        .unwrap();
    assert!(resp.text().await.unwrap().contains("Called the vendor"));
    // Mistakes: an empty description, an unknown field or state, an unknown agent or ticket.
    for (body, status) in [
        (json!({"body": " "}), 400),
        (json!({"body": "x", "colour": "red"}), 400),
        (json!({"body": "x", "state": "someday"}), 400),
        (json!({"body": "x", "assignee": "nobody-here"}), 400),
    ] {
        let resp = c
            .post(&url)
            .header("Authorization", DEMO_BEARER)
            .json(&body)
            .send()
            .await
            .unwrap();
        problem(resp, status).await;
    }
    let resp = c
        .get(g.url("/v1/tickets/999999/tasks"))
        .header("Authorization", DEMO_BEARER)
        .send()
        .await
        .unwrap();
    problem(resp, 404).await;
    // Through an edge gateway whose upstream is this one: the tasks are this one's.
    let edge = Gateway::start(&support::forwarding_config(
        &format!(
            "kind = \"ticketgate\"\nurl = \"{}\"\nbearer_key = \"demo-key\"",
            g.url("/v1")
        ),
        "",
    ));
    let resp = c
        .post(edge.url(&format!("/v1/tickets/{id}/tasks")))
        .header("Authorization", DEMO_BEARER)
        .json(&json!({"body": "Through the edge", "duration_secs": 60}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        201,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let list: Value = c
        .get(&url)
        .header("Authorization", DEMO_BEARER)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][2]["body"], "Through the edge");
    let via_edge: Value = c
        .get(edge.url(&format!("/v1/tickets/{id}/tasks")))
        .header("Authorization", DEMO_BEARER)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(via_edge, list);
}
