//! osTicket end to end: two real gateways on loopback. Gateway A serves every dialect
//! over its embedded store; gateway B's default upstream is of kind `osticket`
//! pointing at A's osTicket face (plugin or core mode), and B mounts every dialect
//! too. What B does is checked through A.

mod support;

use serde_json::{Value, json};
use support::{
    Gateway, assert_example_checks, assert_rate_limited, canonical_total, check_config, client,
    forwarding_config, fresh_client, get_json, new_ticket, ok_json, problem, serving_config, v1,
};

const DEMO: &str = "Bearer demo-key";
const KEY: &str = "demo-key";

fn edge(a: &Gateway, mode: &str, extra: &str) -> Gateway {
    let upstream = format!(
        "kind = \"osticket\"\nurl = \"http://{}\"\napi_key = \"demo-key\"\nmode = \"{mode}\"\nconnect_timeout_ms = 1000\nrequest_timeout_ms = 5000",
        a.addr
    );
    Gateway::start(&forwarding_config(&upstream, extra))
}

/// The ticket in A with this display number.
async fn in_a_by_number(a: &Gateway, number: &str) -> Value {
    let (s, page) = get_json(
        a,
        &format!("/v1/tickets?number={number}&include_deleted=true"),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(page["total"], 1, "number {number} in A: {page}");
    let id = page["items"][0]["id"].as_str().unwrap().to_owned();
    let (s, t) = get_json(a, &format!("/v1/tickets/{id}")).await;
    assert_eq!(s, 200);
    t
}

#[tokio::test]
async fn plugin_mode_every_canonical_operation_through_b_lands_in_a() {
    let a = Gateway::start(&serving_config(""));
    let b = edge(&a, "plugin", "");
    use reqwest::Method as M;

    // Create with a department and a priority.
    let mut body = new_ticket("Zebra printer jams");
    body["department"] = json!("Billing");
    body["priority"] = json!("high");
    let t = ok_json(v1(&b, M::POST, "/tickets", Some(body)).await, 201).await;
    let id = t["id"].as_str().unwrap().to_owned();
    let number = t["number"].as_str().unwrap().to_owned();
    let in_a = in_a_by_number(&a, &number).await;
    assert_eq!(id, number, "in plugin mode B's id is the ticket number");
    assert_eq!(in_a["subject"], "Zebra printer jams");
    assert_eq!(in_a["department"]["name"], "Billing");
    assert_eq!(in_a["priority"]["level"], "high");
    assert_eq!(in_a["requester"]["email"], "ann@example.com");

    // Get, and get through the number-looking id.
    let got = ok_json(v1(&b, M::GET, &format!("/tickets/{id}"), None).await, 200).await;
    assert_eq!(got["number"], number.as_str());
    assert_eq!(got["body"]["content"], "the details of it");

    // Search with a filter and a total.
    for i in 0..3 {
        ok_json(
            v1(
                &b,
                M::POST,
                "/tickets",
                Some(new_ticket(&format!("Zebra crossing {i}"))),
            )
            .await,
            201,
        )
        .await;
    }
    let page = ok_json(
        v1(
            &b,
            M::GET,
            "/tickets?q=zebra&limit=2&sort=number&order=asc",
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(page["total"], 4, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(canonical_total(&a, "q=zebra").await, 4);
    let page = ok_json(
        v1(&b, M::GET, "/tickets?q=zebra&department=Billing", None).await,
        200,
    )
    .await;
    assert_eq!(page["total"], 1, "{page}");
    // A filter the plugin cannot express is the canonical 501.
    problem(
        v1(&b, M::GET, "/tickets?category=Hardware", None).await,
        501,
    )
    .await;

    // Update.
    let t = ok_json(
        v1(
            &b,
            M::PATCH,
            &format!("/tickets/{id}"),
            Some(json!({"department": "IT"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(t["department"]["name"], "IT");
    let in_a = in_a_by_number(&a, &number).await;
    assert_eq!(in_a["department"]["name"], "IT");
    // Fields the plugin cannot update (priority is no update field there): 501,
    // nothing changed.
    for patch in [json!({"subject": "renamed"}), json!({"priority": "low"})] {
        problem(
            v1(&b, M::PATCH, &format!("/tickets/{id}"), Some(patch)).await,
            501,
        )
        .await;
    }
    assert_eq!(
        in_a_by_number(&a, &number).await["priority"]["level"],
        "high"
    );
    assert_eq!(
        in_a_by_number(&a, &number).await["subject"],
        "Zebra printer jams"
    );

    // A note goes through; a public reply is not something the plugin can do.
    ok_json(
        v1(
            &b,
            M::POST,
            &format!("/tickets/{id}/entries"),
            Some(json!({"kind": "note", "body": "Known model issue"})),
        )
        .await,
        201,
    )
    .await;
    problem(
        v1(
            &b,
            M::POST,
            &format!("/tickets/{id}/entries"),
            Some(json!({"kind": "response", "body": "Try tray 1"})),
        )
        .await,
        501,
    )
    .await;
    let in_a = in_a_by_number(&a, &number).await;
    let entries = in_a["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["kind"] == "note" && e["body"]["content"] == "Known model issue"),
        "{entries:?}"
    );
    assert!(!entries.iter().any(|e| e["body"]["content"] == "Try tray 1"));

    // Assign to an agent; a group is not something the plugin can do.
    let t = ok_json(
        v1(
            &b,
            M::POST,
            &format!("/tickets/{id}/assign"),
            Some(json!({"assignee": {"id": "1"}})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(t["assignee"]["name"], "Sam Support");
    assert_eq!(in_a_by_number(&a, &number).await["assignee"]["id"], "1");
    problem(
        v1(
            &b,
            M::POST,
            &format!("/tickets/{id}/assign"),
            Some(json!({"group": 2})),
        )
        .await,
        501,
    )
    .await;

    // Attach: not supported by the plugin.
    problem(
        v1(
            &b,
            M::POST,
            &format!("/tickets/{id}/attachments"),
            Some(json!({"attachments": [{"name": "a.txt", "content_type": "text/plain", "data": "aGVsbG8="}]})),
        )
        .await,
        501,
    )
    .await;

    // Subtickets.
    let child = ok_json(
        v1(&b, M::POST, "/tickets", Some(new_ticket("Zebra child"))).await,
        201,
    )
    .await;
    let child_id = child["id"].as_str().unwrap().to_owned();
    let resp = v1(
        &b,
        M::POST,
        &format!("/tickets/{id}/children"),
        Some(json!({"child": child_id})),
    )
    .await;
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());
    let a_id = in_a_by_number(&a, &number).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, a_children) = get_json(&a, &format!("/v1/tickets/{a_id}/children")).await;
    assert_eq!(
        a_children["items"][0]["number"],
        child_id.as_str(),
        "{a_children}"
    );
    let kids = ok_json(
        v1(&b, M::GET, &format!("/tickets/{id}/children"), None).await,
        200,
    )
    .await;
    assert_eq!(kids["items"].as_array().unwrap().len(), 1);
    // The real plugin's parent and unlink endpoints crash: not offered.
    problem(
        v1(&b, M::GET, &format!("/tickets/{child_id}/parent"), None).await,
        501,
    )
    .await;
    problem(
        v1(
            &b,
            M::DELETE,
            &format!("/tickets/{id}/children/{child_id}"),
            None,
        )
        .await,
        501,
    )
    .await;

    // Stats and look-ups.
    let stats = ok_json(v1(&b, M::GET, "/stats", None).await, 200).await;
    let (_, a_stats) = get_json(&a, "/v1/stats").await;
    assert_eq!(stats["total"], a_stats["total"], "{stats} vs {a_stats}");
    let statuses = ok_json(v1(&b, M::GET, "/lookups/statuses", None).await, 200).await;
    assert!(
        statuses["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "Resolved"),
        "{statuses}"
    );
    problem(v1(&b, M::GET, "/lookups/departments", None).await, 501).await;

    // Resolve, close.
    let t = ok_json(
        v1(
            &b,
            M::POST,
            &format!("/tickets/{id}/resolve"),
            Some(json!({"body": "Replaced the roller"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(t["status"]["state"], "resolved");
    assert_eq!(
        in_a_by_number(&a, &number).await["status"]["state"],
        "resolved"
    );
    ok_json(
        v1(&b, M::POST, &format!("/tickets/{id}/close"), None).await,
        200,
    )
    .await;
    assert_eq!(
        in_a_by_number(&a, &number).await["status"]["state"],
        "closed"
    );

    // No soft delete through the plugin (osTicket has no trash there); a purge.
    problem(
        v1(&b, M::DELETE, &format!("/tickets/{id}"), None).await,
        501,
    )
    .await;
    let resp = v1(&b, M::DELETE, &format!("/tickets/{id}?purge=true"), None).await;
    assert_eq!(resp.status(), 204);
    let (s, _) = get_json(&a, &format!("/v1/tickets/{a_id}")).await;
    assert_eq!(s, 404, "purged in A");
    problem(v1(&b, M::GET, &format!("/tickets/{id}"), None).await, 404).await;

    // Capabilities say what the upstream can do.
    let caps = ok_json(v1(&b, M::GET, "/capabilities", None).await, 200).await;
    let ops: Vec<&str> = caps["operations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(ops.contains(&"link") && !ops.contains(&"attach"), "{caps}");
}

#[tokio::test]
async fn core_mode_creates_and_answers_501_for_everything_else() {
    let a = Gateway::start(&serving_config(""));
    let b = edge(&a, "core", "");
    use reqwest::Method as M;
    let t = ok_json(
        v1(
            &b,
            M::POST,
            "/tickets",
            Some(new_ticket("Core mode ticket")),
        )
        .await,
        201,
    )
    .await;
    let number = t["number"].as_str().unwrap().to_owned();
    assert_eq!(
        t["id"],
        number.as_str(),
        "in core mode the id is the number"
    );
    let in_a = in_a_by_number(&a, &number).await;
    assert_eq!(in_a["subject"], "Core mode ticket");
    assert_eq!(in_a["body"]["content"], "the details of it");

    let id = &number;
    for (method, path, body) in [
        (M::GET, format!("/tickets/{id}"), None),
        (M::GET, "/tickets?q=core".to_owned(), None),
        (
            M::PATCH,
            format!("/tickets/{id}"),
            Some(json!({"priority": "low"})),
        ),
        (
            M::POST,
            format!("/tickets/{id}/entries"),
            Some(json!({"kind": "note", "body": "n"})),
        ),
        (M::POST, format!("/tickets/{id}/resolve"), None),
        (M::POST, format!("/tickets/{id}/close"), None),
        (
            M::POST,
            format!("/tickets/{id}/assign"),
            Some(json!({"assignee": {"id": "1"}})),
        ),
        (
            M::POST,
            format!("/tickets/{id}/children"),
            Some(json!({"child": "1"})),
        ),
        (M::GET, format!("/tickets/{id}/children"), None),
        (M::GET, format!("/tickets/{id}/parent"), None),
        (M::GET, "/stats".to_owned(), None),
        (M::GET, "/lookups/statuses".to_owned(), None),
        (M::DELETE, format!("/tickets/{id}"), None),
        (M::DELETE, format!("/tickets/{id}?purge=true"), None),
    ] {
        let resp = v1(&b, method.clone(), &path, body).await;
        let p = problem(resp, 501).await;
        assert!(
            p["detail"].as_str().unwrap().contains("osticket") || p["detail"].is_string(),
            "{method} {path}: {p}"
        );
    }
    // Nothing above changed A's ticket.
    let in_a = in_a_by_number(&a, &number).await;
    assert_eq!(in_a["status"]["state"], "new");
    assert_eq!(in_a["entries"].as_array().map_or(0, Vec::len), 0);

    // The osTicket face of B still creates (the core API is all a core osTicket has).
    let resp = client()
        .post(b.url("/api/tickets.json"))
        .header("X-API-Key", KEY)
        .json(&json!({"name": "Bo", "email": "bo@example.com", "subject": "Core via face", "message": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let n = resp.text().await.unwrap();
    assert_eq!(
        in_a_by_number(&a, n.trim()).await["subject"],
        "Core via face"
    );
    let resp = client()
        .get(b.url(&format!("/api/tickets-get.php/{n}.json")))
        .header("X-API-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 501);
    let body: Value = resp.json().await.unwrap();
    assert!(body["message"].is_string(), "{body}");
}

/// An osTicket client talking to B's osTicket face; B forwards to A in osTicket.
#[tokio::test]
async fn b_osticket_face_forwards_to_a() {
    let a = Gateway::start(&serving_config(""));
    let b = edge(&a, "plugin", "");
    let c = client();
    let create = |subject: &str| {
        c.post(b.url("/api/tickets.json"))
            .header("X-API-Key", KEY)
            .json(&json!({"name": "Ann", "email": "ann@example.com", "subject": subject, "message": "face body", "priority": "High", "departmentId": "Support"}))
            .send()
    };
    let resp = create("Face parent").await.unwrap();
    assert_eq!(resp.status(), 201);
    let parent_no = resp.text().await.unwrap().trim().to_owned();
    let parent = in_a_by_number(&a, &parent_no).await;
    assert_eq!(parent["subject"], "Face parent");
    assert_eq!(parent["department"]["name"], "Support");
    let resp = create("Face child").await.unwrap();
    let child_no = resp.text().await.unwrap().trim().to_owned();
    let child = in_a_by_number(&a, &child_no).await;

    // XML create too.
    let resp = c
        .post(b.url("/api/tickets.xml"))
        .header("X-API-Key", KEY)
        .header("Content-Type", "application/xml")
        .body(r#"<?xml version="1.0" encoding="UTF-8"?><ticket alert="true" autorespond="true" source="API"><name>Xavier</name><email>x@example.com</email><subject>Face XML</subject><message type="text/plain"><![CDATA[xml & body]]></message></ticket>"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let xml_no = resp.text().await.unwrap().trim().to_owned();
    assert_eq!(
        in_a_by_number(&a, &xml_no).await["body"]["content"],
        "xml & body"
    );

    // Get (JSON and XML).
    let resp = c
        .get(b.url(&format!("/api/tickets-get.php/{parent_no}.json")))
        .header("X-API-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["subject"], "Face parent", "{v}");
    let resp = c
        .get(b.url(&format!("/api/tickets-get.php/{parent_no}.xml")))
        .header("X-API-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Face parent"));

    // Update with a note.
    let resp = c
        .patch(b.url(&format!("/api/tickets-update.php/{parent_no}.json")))
        .header("X-API-Key", KEY)
        .json(&json!({"priority": "Low", "staffId": 2, "note": "face note"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.text().await.unwrap(),
        parent_no,
        "the number, as plain text"
    );
    let in_a = in_a_by_number(&a, &parent_no).await;
    assert_eq!(
        in_a["priority"]["level"], "high",
        "priority is no update field"
    );
    assert_eq!(in_a["assignee"]["name"], "Robin Ops");
    assert!(
        in_a["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["body"]["content"] == "face note")
    );

    // Search: a bare array, as the plugin answers.
    let resp = c
        .get(b.url("/api/tickets-search.php?query=Face&limit=2"))
        .header("X-API-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");

    // Subtickets.
    let resp = c
        .post(b.url(&format!(
            "/api/tickets-subtickets-create.php/{parent_no}.json"
        )))
        .header("X-API-Key", KEY)
        .json(&json!({"childId": child_no}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let (_, p) = get_json(
        &a,
        &format!("/v1/tickets/{}/parent", child["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(p["number"], parent_no.as_str(), "linked in A");
    let resp = c
        .get(b.url(&format!(
            "/api/tickets-subtickets-list.php/{parent_no}.json"
        )))
        .header("X-API-Key", KEY)
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["children"].as_array().map(Vec::len), Some(1), "{v}");
    // Unlinking needs the parent read back, which a plugin-mode upstream cannot do.
    let resp = c
        .delete(b.url(&format!(
            "/api/tickets-subtickets-unlink.php/{child_no}.json"
        )))
        .header("X-API-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 501, "{}", resp.text().await.unwrap());

    // Stats and statuses.
    let resp = c
        .get(b.url("/api/tickets-stats.php"))
        .header("X-API-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["total"], 3, "{v}");
    let resp = c
        .get(b.url("/api/tickets-statuses.php"))
        .header("X-API-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Delete for good.
    let resp = c
        .delete(b.url(&format!("/api/tickets-delete.php/{child_no}.json")))
        .header("X-API-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let (s, _) = get_json(
        &a,
        &format!("/v1/tickets/{}", child["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(canonical_total(&a, "include_deleted=true").await, 2);
}

/// The curl examples of the plugin's document, as written (the key and the ticket
/// numbers replaced by real ones), against B in the shipped-config style.
#[tokio::test]
async fn seed_curl_examples_against_b() {
    let a = Gateway::start(&serving_config(""));
    let b = edge(&a, "plugin", "");
    let c = client();
    let post = |body: &'static str| {
        c.post(b.url("/api/tickets.json"))
            .header("X-API-Key", KEY)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let resp = post("{\n\"name\": \"John Doe\",\n\"email\": \"john@example.com\",\n\"subject\": \"Login Issue\",\n\"message\": \"I cannot access my account\",\n\"phone\": \"+1 555-1234\"\n}").await.unwrap();
    assert_eq!(resp.status(), 201);
    let login_no = resp.text().await.unwrap().trim().to_owned();
    let t = in_a_by_number(&a, &login_no).await;
    assert_eq!(t["requester"]["name"], "John Doe");
    assert_eq!(t["requester"]["phone"], "+1 555-1234");

    let resp = post("{\n\"name\": \"Jane Smith\",\n\"email\": \"jane@example.com\",\n\"subject\": \"Bug Report: Payment Failed\",\n\"message\": \"## Problem\\n\\nPayment fails with error:\\n\\n```\\nERROR: Card declined\\n```\\n\\n**Steps to reproduce:**\\n1. Add item to cart\\n2. Go to checkout\\n3. Enter card details\\n4. Click Pay\\n\\n**Expected:** Payment succeeds\\n**Actual:** Error message\",\n\"format\": \"markdown\",\n\"departmentId\": \"Billing\",\n\"priority\": \"High\"\n}").await.unwrap();
    assert_eq!(resp.status(), 201);
    let pay_no = resp.text().await.unwrap().trim().to_owned();
    let t = in_a_by_number(&a, &pay_no).await;
    assert_eq!(t["department"]["name"], "Billing");
    assert_eq!(t["priority"]["level"], "high");

    // "Development" is not a department of the embedded store: osTicket's 400, nothing written.
    let before = canonical_total(&a, "include_deleted=true").await;
    let resp = post("{\n\"name\": \"Developer\",\n\"email\": \"dev@example.com\",\n\"subject\": \"Subtask: Database Migration\",\n\"message\": \"Migrate production database to new server\",\n\"parentTicketId\": \"181752\",\n\"departmentId\": \"Development\",\n\"duedate\": \"2025-11-30\"\n}").await.unwrap();
    assert_eq!(resp.status().as_u16() / 100, 4, "{:?}", resp.status());
    assert_eq!(canonical_total(&a, "include_deleted=true").await, before);

    // The multipart example (the file part made in memory).
    let form = reqwest::multipart::Form::new()
        .text("name", "John Doe")
        .text("email", "john@example.com")
        .text("subject", "Invoice Request")
        .text("message", "Please see attached invoice")
        .part(
            "attachments[]",
            reqwest::multipart::Part::bytes(b"%PDF-1.4 test".to_vec())
                .file_name("invoice.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        )
        .text("departmentId", "Billing");
    let resp = c
        .post(b.url("/api/tickets.json"))
        .header("X-API-Key", KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let inv_no = resp.text().await.unwrap().trim().to_owned();
    let t = in_a_by_number(&a, &inv_no).await;
    assert_eq!(t["attachments"][0]["name"], "invoice.pdf", "{t}");

    let get = |path: String| c.get(b.url(&path)).header("X-API-Key", KEY).send();
    let resp = get(format!("/api/tickets-get.php/{login_no}.json"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = get(format!("/api/tickets-get.php/{login_no}.xml"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Login Issue"));
    let resp = get("/api/tickets-get.php/ABC123.json".to_owned())
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v, json!({"error": true, "message": "Ticket not found"}));

    let patch = |body: &'static str| {
        c.patch(b.url(&format!("/api/tickets-update.php/{login_no}.json")))
            .header("X-API-Key", KEY)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let resp = patch("{\n\"statusId\": \"Resolved\"\n}").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        in_a_by_number(&a, &login_no).await["status"]["state"],
        "resolved"
    );
    let resp = patch("{\n\"departmentId\": \"Billing\",\n\"priority\": \"High\"\n}")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let t = in_a_by_number(&a, &login_no).await;
    assert_eq!(t["department"]["name"], "Billing");
    // `john.doe` is not an agent of the embedded store: refused, nothing changed.
    let resp =
        patch("{\n\"staffId\": \"john.doe\",\n\"note\": \"Assigned to John for follow-up\"\n}")
            .await
            .unwrap();
    assert_eq!(resp.status().as_u16() / 100, 4);
    assert!(in_a_by_number(&a, &login_no).await["assignee"].is_null());

    for q in [
        "query=login",
        "status=Open",
        "query=payment&status=Open&departmentId=5&limit=50",
        "status=Open&limit=20&offset=0",
        "status=Open&limit=20&offset=20",
        "status=Open&sortBy=priority&sortOrder=desc",
        "status=Open&limit=100",
    ] {
        let resp = get(format!("/api/tickets-search.php?{q}")).await.unwrap();
        assert_eq!(resp.status(), 200, "{q}");
        let v: Value = resp.json().await.unwrap();
        assert!(v.is_array(), "{q}: {v}");
    }
    let v: Value = get("/api/tickets-search.php?query=login".to_owned())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    let v: Value = get("/api/tickets-search.php?status=Open".to_owned())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v.as_array().map(Vec::len),
        Some(2),
        "payment and invoice are open: {v}"
    );

    for q in [
        "",
        "?departmentId=5",
        "?dateRange=month",
        "?startDate=2025-01-01&endDate=2025-03-31",
        "?staffId=3&dateRange=month",
    ] {
        let resp = get(format!("/api/tickets-stats.php{q}")).await.unwrap();
        assert_eq!(resp.status(), 200, "stats{q}");
    }
    let v: Value = get("/api/tickets-statuses.php".to_owned())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v.as_array().is_some_and(|s| !s.is_empty()), "{v}");

    // Subtickets at the real plugin's URLs: linked and listed through B; reading a
    // parent back is what a plugin-mode upstream cannot do (the real endpoint crashes).
    let resp = c
        .post(b.url(&format!("/api/tickets-subtickets-create.php/{pay_no}.json")))
        .header("X-API-Key", KEY)
        .header("Content-Type", "application/json")
        .body(format!("{{\n\"childId\": \"{inv_no}\"\n}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(
        in_a_by_number(&a, &inv_no).await["parent"],
        in_a_by_number(&a, &pay_no).await["id"],
        "linked in A"
    );
    let v: Value = get(format!("/api/tickets-subtickets-list.php/{pay_no}.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["children"][0]["number"], inv_no.as_str(), "{v}");
    let resp = get(format!("/api/tickets-subtickets-parent.php/{inv_no}.json"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 501);

    let resp = c
        .delete(b.url(&format!("/api/tickets-delete.php/{login_no}.json")))
        .header("X-API-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (s, _) = get_json(&a, &format!("/v1/tickets?number={login_no}")).await;
    assert_eq!(s, 200);
    assert_eq!(
        canonical_total(&a, &format!("number={login_no}&include_deleted=true")).await,
        0
    );
}

/// The core API document's payload examples, sent as printed, to a B whose upstream
/// is a stock osTicket (core mode).
#[tokio::test]
async fn core_seed_payload_examples_against_b() {
    let a = Gateway::start(&serving_config(""));
    let b = edge(&a, "core", "");
    let c = client();
    let send = |ext: &str, ct: &str, body: &'static str| {
        c.post(b.url(&format!("/api/tickets.{ext}")))
            .header("X-API-Key", KEY)
            .header("Content-Type", ct.to_owned())
            .body(body)
            .send()
    };
    let resp = send("xml", "application/xml", SEED_XML).await.unwrap();
    assert_eq!(resp.status(), 201);
    let n = resp.text().await.unwrap();
    let t = in_a_by_number(&a, n.trim()).await;
    assert_eq!(t["subject"], "Testing API");
    assert_eq!(t["requester"]["email"], "api@osticket.com");
    assert_eq!(t["body"]["content"], "Message content here");
    let names: Vec<&str> = t["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    assert_eq!(names, ["file.txt", "image.gif"], "{t}");

    // The JSON example as printed has a comma after the last attachment (and "..."
    // for the image): osTicket's parser refuses it, and so does ticketgate.
    let before = canonical_total(&a, "include_deleted=true").await;
    let resp = send("json", "application/json", SEED_JSON).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(canonical_total(&a, "include_deleted=true").await, before);

    let resp = send("email", "message/rfc822", SEED_EMAIL).await.unwrap();
    let status = resp.status();
    let n = resp.text().await.unwrap();
    assert_eq!(status, 201, "{n}");
    let t = in_a_by_number(&a, n.trim()).await;
    assert_eq!(t["subject"], "Testing");
    assert_eq!(t["requester"]["email"], "peter@osticket.com");
    assert_eq!(t["attachments"][0]["name"], "file.txt", "{t}");
}

const SEED_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ticket alert="true" autorespond="true" source="API">
    <name>Angry User</name>
    <email>api@osticket.com</email>
    <subject>Testing API</subject>
    <phone>318-555-8634X123</phone>
    <message type="text/plain"><![CDATA[Message content here]]></message>
    <attachments>
        <file name="file.txt" type="text/plain"><![CDATA[
            File content is here and is automatically trimmed
        ]]></file>
        <file name="image.gif" type="image/gif" encoding="base64">
            R0lGODdhMAAwAPAAAAAAAP///ywAAAAAMAAwAAAC8IyPqcvt3wCcDkiLc7C0qwy
            GHhSWpjQu5yqmCYsapyuvUUlvONmOZtfzgFzByTB10QgxOR0TqBQejhRNzOfkVJ
            +5YiUqrXF5Y5lKh/DeuNcP5yLWGsEbtLiOSpa/TPg7JpJHxyendzWTBfX0cxOnK
            PjgBzi4diinWGdkF8kjdfnycQZXZeYGejmJlZeGl9i2icVqaNVailT6F5iJ90m6
            mvuTS4OK05M0vDk0Q4XUtwvKOzrcd3iq9uisF81M1OIcR7lEewwcLp7tuNNkM3u
            Nna3F2JQFo97Vriy/Xl4/f1cf5VWzXyym7PHhhx4dbgYKAAA7
        </file>
    </attachments>
    <ip>123.211.233.122</ip>
</ticket>"#;

const SEED_JSON: &str = r#"{
    "alert": true,
    "autorespond": true,
    "source": "API",
    "name": "Angry User",
    "email": "api@osticket.com",
    "phone": "3185558634X123",
    "subject": "Testing API",
    "ip": "123.211.233.122",
    "message": "data:text/html,MESSAGE <b>HERE</b>",
    "attachments": [
        {"file.txt": "data:text/plain;charset=utf-8,content"},
        {"image.png": "..."},
    ]
}"#;

const SEED_EMAIL: &str = r#"MIME-Version: 1.0
Received: by 10.194.9.167 with HTTP; Thu, 7 Feb 2013 09:01:04 -0800 (PST)
Date: Thu, 7 Feb 2013 11:01:04 -0600
Delivered-To: support@osticket.com
Message-ID: <CAL4KyrgKmpYxdX+6u3HyHZ3qN5K0mU2_sdfoVu6rT8cUNn+52w@osticket.com>
Subject: Testing
From: Peter Rotich <peter@osticket.com>
To: support@osticket.com
Content-Type: multipart/mixed; boundary=047d7bfcfaf263782204d52563a5

--047d7bfcfaf263782204d52563a5
Content-Type: multipart/alternative; boundary=047d7bfcfaf263781204d52563a3

--047d7bfcfaf263781204d52563a3
Content-Type: text/plain; charset=ISO-8859-1

Testing testing.

--
Peter Rotich
http://www.osticket.com

--047d7bfcfaf263781204d52563a3
Content-Type: text/html; charset=ISO-8859-1
Content-Transfer-Encoding: quoted-printable

<div dir=3D"ltr">Testing testing.<br clear=3D"all"><div><br></div>-- <br>Pe=
ter Rotich<br>
<a href=3D"http://www.osticket.com" target=3D"_blank">http://www.osticket.=
com</a>
 </div>

--047d7bfcfaf263781204d52563a3--
--047d7bfcfaf263782204d52563a5
Content-Type: text/plain; charset=US-ASCII; name="file.txt"
Content-Disposition: attachment; filename="file.txt"
Content-Transfer-Encoding: base64
X-Attachment-Id: f_hcw5kqf60

Sm9lIGRhZGR5cyBjb250ZW50Cg==
--047d7bfcfaf263782204d52563a5--
"#;

#[tokio::test]
async fn auth_permission_and_quota_errors_in_osticket_shape() {
    let a = Gateway::start(&serving_config(""));
    let b = edge(&a, "plugin", "");
    let c = client();
    let body = json!({"name": "Ann", "email": "ann@example.com", "subject": "s", "message": "m"});

    // Bad key: the core API's bare text, the plugin's JSON.
    let resp = c
        .post(b.url("/api/tickets.json"))
        .header("X-API-Key", "wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(resp.text().await.unwrap(), "Valid API key required");
    let resp = c
        .get(b.url("/api/tickets-search.php?query=x"))
        .header("X-API-Key", "wrong")
        .send()
        .await
        .unwrap();
    // The plugin's endpoints leave an unknown key to osTicket: the same bare text.
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.text().await.unwrap(), "Valid API key required");
    // Canonical on the same gateway: problem+json.
    let resp = c
        .get(b.url("/v1/tickets"))
        .header("Authorization", "Bearer wrong")
        .send()
        .await
        .unwrap();
    problem(resp, 401).await;

    // A read-only key: 403 on create (text), the plugin's 401 on delete (JSON).
    let resp = c
        .post(b.url("/api/tickets.json"))
        .header("X-API-Key", "reader-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.text().await.unwrap(), "API key not authorized");
    let resp = c
        .delete(b.url("/api/tickets-delete.php/123456.json"))
        .header("X-API-Key", "reader-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v["message"], "API key not authorized to delete tickets",
        "{v}"
    );

    // A burst beyond the quota: 429 with Retry-After and the RateLimit headers.
    let mut last = None;
    for _ in 0..4 {
        let resp = c
            .get(b.url("/api/tickets-search.php?query=x"))
            .header("X-API-Key", "burst-key")
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            last = Some(resp);
            break;
        }
        assert_eq!(resp.status(), 200);
    }
    let resp = last.expect("the burst ends in a 429");
    assert_rate_limited(&resp);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], true, "{v}");
    assert!(v["message"].is_string(), "{v}");
    let mut last = None;
    for _ in 0..4 {
        let resp = c
            .post(b.url("/api/tickets.json"))
            .header("X-API-Key", "burst-key")
            .json(&body)
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            last = Some(resp);
            break;
        }
        assert_eq!(resp.status(), 201);
    }
    let resp = last.expect("the create burst ends in a 429");
    assert_rate_limited(&resp);
    assert_eq!(resp.text().await.unwrap(), "Rate limit exceeded");
    // Nothing beyond the two allowed creates reached A.
    assert_eq!(canonical_total(&a, "include_deleted=true").await, 2);
}

#[tokio::test]
async fn bad_input_is_refused_in_osticket_shape_and_writes_nothing() {
    let a = Gateway::start(&serving_config(""));
    let b = edge(
        &a,
        "plugin",
        "[limits]\nbody_bytes = 65536\nupload_bytes = 65536\n",
    );
    // Oversize bodies are refused unread and the connection dropped: no reuse.
    let c = fresh_client();
    let post = |path: &str, ct: &str, body: Vec<u8>| {
        c.post(b.url(path))
            .header("X-API-Key", KEY)
            .header("Content-Type", ct.to_owned())
            .body(body)
            .send()
    };
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        ("/api/tickets.json", "application/json", b"{\"name\": \"Ann\", \"email\": ".to_vec(), 400),
        ("/api/tickets.json", "application/json", br#"{"name": "Ann", "email": "ann@example.com", "subject": 12, "message": ["m"]}"#.to_vec(), 400),
        ("/api/tickets.json", "application/json", br#"{"name": "Ann", "email": "not an address", "subject": "s", "message": "m"}"#.to_vec(), 400),
        ("/api/tickets.xml", "application/xml", b"<ticket><name>Ann</name><subject>s</ticket>".to_vec(), 400),
        ("/api/tickets.xml", "application/xml", b"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e \"x\">]><ticket><name>&e;</name></ticket>".to_vec(), 400),
        ("/api/tickets.json", "multipart/form-data; boundary=XYZ", b"--XYZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nAnn\r\n--XY".to_vec(), 400),
    ];
    for (path, ct, body, status) in cases {
        let resp = post(path, ct, body.clone()).await.unwrap();
        let got = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_eq!(
            got,
            status,
            "{path} {}: {text}",
            String::from_utf8_lossy(&body)
        );
        assert!(!text.is_empty());
    }
    // Oversize: 413 in osTicket's words.
    let big = json!({"name": "Ann", "email": "ann@example.com", "subject": "big", "message": "x".repeat(100_000)});
    let resp = post(
        "/api/tickets.json",
        "application/json",
        serde_json::to_vec(&big).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.text().await.unwrap(), "Request body too large");
    let resp = c
        .patch(b.url("/api/tickets-update.php/123456.json"))
        .header("X-API-Key", KEY)
        .header("Content-Type", "application/json")
        .body(format!("{{\"note\": \"{}\"}}", "x".repeat(100_000)))
        .send()
        .await
        .unwrap();
    // The gateway refuses the body before the face runs, still in the plugin's shape.
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.headers()["connection"], "close");
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["message"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    // Wrong types on the plugin: a JSON error.
    let resp = c
        .patch(b.url("/api/tickets-update.php/123456.json"))
        .header("X-API-Key", KEY)
        .body("[1, 2]")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(v["message"].is_string(), "{v}");
    // Through B's canonical API too.
    let resp = c
        .post(b.url("/v1/tickets"))
        .header("Authorization", DEMO)
        .header("Content-Type", "application/json")
        .body("{\"subject\": ")
        .send()
        .await
        .unwrap();
    problem(resp, 400).await;
    let resp = c
        .post(b.url("/v1/tickets"))
        .header("Authorization", DEMO)
        .json(&json!({"subject": 5, "body": "b", "requester": {"email": "a@example.com"}}))
        .send()
        .await
        .unwrap();
    problem(resp, 400).await;

    assert_eq!(
        canonical_total(&a, "include_deleted=true").await,
        0,
        "nothing written in A"
    );
}

#[test]
fn example_config_passes_check() {
    let env = [
        ("OSTICKET_URL", "https://help.example.com"),
        ("OSTICKET_API_KEY", "0123456789ABCDEF"),
        ("OSTICKET_MODE", "plugin"),
    ];
    let path = assert_example_checks("upstream-osticket.toml", &env);

    // The example reads OSTICKET_MODE, "core" when it is unset; a mode that is neither
    // is refused.
    let (ok, out) = check_config(&path, &env[..2]);
    assert!(ok, "OSTICKET_MODE unset: {out}");
    let (ok, out) = check_config(&path, &[env[0], env[1], ("OSTICKET_MODE", "plugn")]);
    assert!(!ok, "a misspelt mode is refused: {out}");
}
