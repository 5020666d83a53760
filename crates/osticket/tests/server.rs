//! The server face against the seeds: the documented requests verbatim, bad input, keys.

mod common;

use common::{KEY_ALL, KEY_CREATE, TestCx, call, face, face_with, json, text};
use std::fs;
use std::path::Path;
use ticketgate_model::{Helpdesk, Ingested, State};
use ticketgate_osticket::ServerConfig;

const SEED_CORE: &str = "/work/shared/seeds/004_b4709dcf4e030ef8.txt";

fn golden(name: &str) -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/create")
            .join(name),
    )
    .expect("golden input exists")
}

const JSON: (&str, &str) = ("Content-Type", "application/json");
const KEY: (&str, &str) = ("X-API-Key", KEY_ALL);

async fn create_json(cx: &TestCx, body: &str) -> (String, String) {
    let f = face();
    let r = call(
        &f,
        cx,
        "POST",
        "/tickets.json",
        &[KEY, JSON],
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", text(&r));
    let number = text(&r);
    let t = cx
        .store
        .get_by_number(&number)
        .await
        .expect("created ticket");
    (t.id, number)
}

#[tokio::test]
async fn seed_xml_example_creates_a_ticket_and_answers_its_number() {
    let cx = TestCx::new();
    let f = face();
    let r = call(
        &f,
        &cx,
        "POST",
        "/tickets.xml",
        &[KEY],
        &golden("seed_example_xml.xml"),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", text(&r));
    assert_eq!(
        r.headers()["content-type"],
        "text/html; charset=UTF-8",
        "osTicket labels the bare number as HTML"
    );
    let number = text(&r);
    assert!(number.bytes().all(|b| b.is_ascii_digit()), "{number}");
    let t = cx.store.get_by_number(&number).await.unwrap();
    assert_eq!(t.subject, "Testing API");
    assert_eq!(t.requester.phone.as_deref(), Some("318-555-8634"));
    assert_eq!(t.requester.phone_ext.as_deref(), Some("123"));
    assert_eq!(t.client_ip.as_deref(), Some("123.211.233.122"));
    assert_eq!(t.attachments.len(), 2);
    assert_eq!(t.attachments[1].media_type, "image/gif");
    assert!(t.attachments[1].bytes.starts_with(b"GIF87a"));
    assert_eq!(
        t.attachments[0].bytes,
        b"File content is here and is automatically trimmed"
    );
}

#[tokio::test]
async fn seed_json_example_verbatim_is_malformed_json() {
    // The seed's JSON example ends its attachment list with a comma, which the seed
    // itself says JSON forbids: osTicket answers 400 and so does ticketgate.
    let cx = TestCx::new();
    let seed = fs::read_to_string(SEED_CORE).unwrap();
    let start = seed.find("{\n    \"alert\": true").unwrap();
    let body = &seed[start..start + seed[start..].find("\n}\n").unwrap() + 2];
    let r = call(
        &face(),
        &cx,
        "POST",
        "/tickets.json",
        &[KEY, JSON],
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(text(&r), "Syntax error, malformed JSON");
    assert_eq!(cx.count().await, 0);

    let fixed = body.replace(
        "{\"image.png\": \"...\"},\n    ]",
        "{\"image.png\": \"...\"}\n    ]",
    );
    let r = call(
        &face(),
        &cx,
        "POST",
        "/tickets.json",
        &[KEY, JSON],
        fixed.as_bytes(),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", text(&r));
    let t = cx.store.get_by_number(&text(&r)).await.unwrap();
    assert_eq!(t.body.content, "MESSAGE <b>HERE</b>");
    assert_eq!(t.body.format, ticketgate_model::BodyFormat::Html);
    assert_eq!(t.attachments[0].bytes, b"content");
}

#[tokio::test]
async fn seed_email_example_goes_to_mail_ingestion() {
    let cx = TestCx::new();
    let seed = fs::read_to_string(SEED_CORE).unwrap();
    let start = seed.find("MIME-Version: 1.0").unwrap();
    let end = seed.find("Local piping").unwrap();
    let mail = &seed.as_bytes()[start..end];
    let f = face();
    // Without mail ingestion behind, the gateway says so (501), in plain text.
    let r = call(&f, &cx, "POST", "/tickets.email", &[KEY], mail).await;
    assert_eq!(r.status(), 501);
    assert!(text(&r).contains("not supported"), "{}", text(&r));

    let t = cx
        .store
        .create(ticketgate_osticket::decode_json(br#"{"name":"Peter Rotich","email":"peter@osticket.com","subject":"Testing","message":"Testing testing."}"#).unwrap())
        .await
        .unwrap();
    *cx.next_email.lock().unwrap() = Some(Ingested::Created(t.clone()));
    let r = call(&f, &cx, "POST", "/tickets.email", &[KEY], mail).await;
    assert_eq!((r.status().as_u16(), text(&r)), (201, t.number.clone()));

    *cx.next_email.lock().unwrap() = Some(Ingested::Duplicate {
        ticket_id: t.id.clone(),
        number: Some(t.number.clone()),
    });
    let r = call(&f, &cx, "POST", "/tickets.email", &[KEY], mail).await;
    assert_eq!((r.status().as_u16(), text(&r)), (201, t.number.clone()));

    *cx.next_email.lock().unwrap() = Some(Ingested::Queued {
        tracking_id: "q-1".into(),
    });
    let r = call(&f, &cx, "POST", "/tickets.email", &[KEY], mail).await;
    assert_eq!((r.status().as_u16(), text(&r)), (202, "q-1".to_owned()));

    *cx.next_email.lock().unwrap() = Some(Ingested::Ignored {
        reason: "auto-reply".into(),
    });
    let r = call(&f, &cx, "POST", "/tickets.email", &[KEY], mail).await;
    assert_eq!(r.status(), 403);
    assert_eq!(text(&r), "Ticket denied: auto-reply");

    let r = call(&f, &cx, "POST", "/tickets.email", &[KEY], b"  \n").await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn every_refused_golden_input_is_a_400_and_writes_nothing() {
    let cx = TestCx::new();
    let f = face();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/create");
    let mut seen = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".error.txt") else {
            continue;
        };
        let (input, route) = if dir.join(format!("{stem}.xml")).exists() {
            (format!("{stem}.xml"), "/tickets.xml")
        } else {
            (format!("{stem}.json"), "/tickets.json")
        };
        let expected = fs::read_to_string(&path).unwrap();
        let r = call(&f, &cx, "POST", route, &[KEY], &golden(&input)).await;
        assert_eq!(r.status(), 400, "{input}: {}", text(&r));
        assert_eq!(text(&r), expected.trim_end_matches('\n'), "{input}");
        seen += 1;
    }
    assert!(seen >= 15, "only {seen} refused inputs");
    assert_eq!(cx.count().await, 0, "a refused create wrote a ticket");
}

#[tokio::test]
async fn billion_laughs_is_refused_quickly_and_writes_nothing() {
    let cx = TestCx::new();
    let started = std::time::Instant::now();
    let r = call(
        &face(),
        &cx,
        "POST",
        "/tickets.xml",
        &[KEY],
        &golden("billion_laughs.xml"),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(text(&r).starts_with("XML error:"), "{}", text(&r));
    assert!(text(&r).contains("DTD"), "{}", text(&r));
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(cx.count().await, 0);
}

#[tokio::test]
async fn bad_base64_in_xml_drops_the_file_and_still_creates() {
    let cx = TestCx::new();
    let r = call(
        &face(),
        &cx,
        "POST",
        "/tickets.xml",
        &[KEY],
        &golden("bad_base64_dropped.xml"),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", text(&r));
    let t = cx.store.get_by_number(&text(&r)).await.unwrap();
    assert_eq!(t.attachments.len(), 1);
    assert_eq!(t.attachments[0].name, "good.txt");
}

#[tokio::test]
async fn keys_and_permissions() {
    let cx = TestCx::new();
    let f = face();
    let body = golden("plain_message.json");
    let r = call(&f, &cx, "POST", "/tickets.json", &[], &body).await;
    assert_eq!(
        (r.status().as_u16(), text(&r)),
        (401, "Valid API key required".to_owned())
    );
    let r = call(
        &f,
        &cx,
        "POST",
        "/tickets.json",
        &[("X-API-Key", "wrong")],
        &body,
    )
    .await;
    assert_eq!(r.status(), 401);
    let r = call(
        &f,
        &cx,
        "POST",
        "/tickets.json",
        &[("X-API-Key", KEY_CREATE)],
        &body,
    )
    .await;
    assert_eq!(r.status(), 201);
    let number = text(&r);
    let r = call(
        &f,
        &cx,
        "GET",
        &format!("/tickets-get.php/{number}.json"),
        &[("X-API-Key", KEY_CREATE)],
        b"",
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        json(&r)["error"],
        "API key not authorized for this operation"
    );
    let r = call(&f, &cx, "GET", "/tickets-search.php", &[], b"").await;
    assert_eq!(r.status(), 401);
    assert!(json(&r)["error"].is_string());
    let r = call(
        &f,
        &cx,
        "POST",
        "/tickets-subtickets-create.php",
        &[("X-API-Key", KEY_CREATE), JSON],
        br#"{"parent_id": 1, "child_id": 2}"#,
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        json(&r)["error"],
        "API key not authorized for subticket operations"
    );
}

#[tokio::test]
async fn formats_methods_and_unknown_routes() {
    let cx = TestCx::new();
    let f = face();
    // What the real osTicket 1.18.1 answers (tests/live_osticket_diff.rs).
    let r = call(&f, &cx, "POST", "/tickets.yaml", &[KEY], b"x").await;
    assert_eq!(
        (r.status().as_u16(), text(&r)),
        (400, "URL not supported".to_owned())
    );
    let r = call(&f, &cx, "GET", "/tickets.json", &[KEY], b"").await;
    assert_eq!(
        (r.status().as_u16(), text(&r)),
        (400, "URL not supported".to_owned())
    );
    let r = call(&f, &cx, "GET", "/nothing-here", &[KEY], b"").await;
    assert_eq!(r.status(), 400);
    let r = call(&f, &cx, "GET", "/tickets-get.php/1.yaml", &[KEY], b"").await;
    assert_eq!(r.status(), 400);
    let r = call(&f, &cx, "POST", "/tickets-get.php/1.json", &[KEY], b"").await;
    assert_eq!(r.status(), 405);
    let r = call(&f, &cx, "GET", "/tickets-get.php/..%2F1.json", &[KEY], b"").await;
    assert_eq!(r.status(), 400);
    // The `http.php` spelling of the same route, for installs without URL rewriting.
    let r = call(
        &f,
        &cx,
        "POST",
        "/http.php/tickets.json",
        &[KEY],
        &golden("plain_message.json"),
    )
    .await;
    assert_eq!(r.status(), 201);
    // Errors raised by the gateway itself, in osTicket's words.
    let e = ticketgate_model::Error::rate_limited(std::time::Duration::from_millis(1500));
    let r = ticketgate_model::ServerFace::error_response(f.as_ref(), &e);
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    let e = ticketgate_model::Error::new(ticketgate_model::ErrorKind::PayloadTooLarge, "big");
    assert_eq!(
        ticketgate_model::ServerFace::error_response(f.as_ref(), &e).status(),
        413
    );
}

/// The plugin seed's curl examples, request for request.
#[tokio::test]
async fn plugin_seed_curl_examples() {
    let cx = TestCx::new();
    let f = face();

    // Create: basic, markdown with department and priority names.
    let (_, john) = create_json(
        &cx,
        r#"{
"name": "John Doe",
"email": "john@example.com",
"subject": "Login Issue",
"message": "I cannot access my account",
"phone": "+1 555-1234"
}"#,
    )
    .await;
    let (jane_id, jane) = create_json(
        &cx,
        r###"{
"name": "Jane Smith",
"email": "jane@example.com",
"subject": "Bug Report: Payment Failed",
"message": "## Problem\n\nPayment fails with error:\n\n```\nERROR: Card declined\n```\n\n**Steps to reproduce:**\n1. Add item to cart\n2. Go to checkout\n3. Enter card details\n4. Click Pay\n\n**Expected:** Payment succeeds\n**Actual:** Error message",
"format": "markdown",
"departmentId": "Billing",
"priority": "High"
}"###,
    )
    .await;
    let t = cx.store.get(&jane_id).await.unwrap();
    assert_eq!(t.body.format, ticketgate_model::BodyFormat::Markdown);
    assert_eq!(t.department.unwrap().name.as_deref(), Some("Billing"));
    assert_eq!(t.priority.unwrap().name.as_deref(), Some("High"));

    // The subtask example names a department ("Development") and a parent (181752) the
    // embedded helpdesk does not have: a validation failure, and nothing written.
    let before = cx.count().await;
    let r = call(
        &f,
        &cx,
        "POST",
        "/tickets.json",
        &[KEY, JSON],
        br#"{
"name": "Developer",
"email": "dev@example.com",
"subject": "Subtask: Database Migration",
"message": "Migrate production database to new server",
"parentTicketId": "181752",
"departmentId": "Development",
"duedate": "2025-11-30"
}"#,
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(
        text(&r).starts_with("Unable to create new ticket: validation errors:\ndepartmentId: "),
        "{}",
        text(&r)
    );
    assert_eq!(cx.count().await, before);
    // With a parent that exists, by its number, the link is made at creation.
    let body = format!(
        r#"{{"name": "Developer", "email": "dev@example.com", "subject": "Subtask", "message": "m", "parentTicketId": "{jane}", "departmentId": "IT", "duedate": "2025-11-30"}}"#
    );
    let (child_id, _) = create_json(&cx, &body).await;
    assert_eq!(
        cx.store.parent(&child_id).await.unwrap().map(|p| p.id),
        Some(jane_id.clone())
    );

    // Get: by number, by id, as XML; an unknown number.
    let r = call(&f, &cx, "GET", "/tickets-get.php/ABC123.json", &[KEY], b"").await;
    assert_eq!(r.status(), 404);
    assert_eq!(json(&r), serde_json::json!({"error": "Ticket not found"}));
    let r = call(
        &f,
        &cx,
        "GET",
        &format!("/tickets-get.php/{john}.json"),
        &[KEY],
        b"",
    )
    .await;
    assert_eq!(r.status(), 200);
    let v = json(&r);
    assert_eq!(v["number"], john.as_str());
    assert_eq!(v["phone"], "+1 555-1234");
    assert_eq!(v["thread"][0]["type"], "message");
    assert_eq!(v["thread"][0]["body"], "I cannot access my account");
    assert_eq!(v["source"], "API");
    let r = call(
        &f,
        &cx,
        "GET",
        &format!("/tickets-get.php/{jane_id}.json"),
        &[KEY],
        b"",
    )
    .await;
    assert_eq!(json(&r)["number"], jane.as_str());
    let r = call(
        &f,
        &cx,
        "GET",
        &format!("/tickets-get.php/{john}.xml"),
        &[KEY],
        b"",
    )
    .await;
    assert_eq!(r.status(), 200);
    let x = text(&r);
    assert!(
        x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ticket><ticket_id>"),
        "{x}"
    );
    assert!(x.contains(&format!("<number>{john}</number>")), "{x}");
    assert!(
        x.contains("<thread><entry><id>0</id><type>message</type>"),
        "{x}"
    );

    // Update: status by name; department and priority names; the full example, whose
    // staff ("admin") and SLA ("Premium Support") the embedded helpdesk does not have.
    let r = call(
        &f,
        &cx,
        "PATCH",
        &format!("/tickets-update.php/{jane}.json"),
        &[KEY, JSON],
        br#"{
"statusId": "Resolved"
}"#,
    )
    .await;
    assert_eq!(r.status(), 200, "{}", text(&r));
    let v = json(&r);
    assert_eq!(v["success"], true);
    assert_eq!(v["updated_fields"], serde_json::json!(["status"]));
    assert_eq!(
        cx.store.get(&jane_id).await.unwrap().status.state,
        State::Resolved
    );
    let r = call(
        &f,
        &cx,
        "PATCH",
        &format!("/tickets-update.php/{john}.json"),
        &[KEY, JSON],
        br#"{
"departmentId": "Billing",
"priority": "High"
}"#,
    )
    .await;
    assert_eq!(
        json(&r)["updated_fields"],
        serde_json::json!(["department", "priority"])
    );
    let r = call(
        &f,
        &cx,
        "PATCH",
        &format!("/tickets-update.php/{john}.json"),
        &[KEY, JSON],
        br#"{
"statusId": "Open",
"priority": "Urgent",
"duedate": "2025-11-15",
"staffId": "admin",
"slaId": "Premium Support",
"note": "Escalated to premium support"
}"#,
    )
    .await;
    assert_eq!(r.status(), 400, "{}", text(&r));
    assert!(
        json(&r)["error"].as_str().unwrap().contains("unknown"),
        "{}",
        text(&r)
    );
    let r = call(
        &f,
        &cx,
        "PATCH",
        &format!("/tickets-update.php/{john}.json"),
        &[KEY, JSON],
        br#"{"statusId": "Open", "priority": "Urgent", "duedate": "2025-11-15", "staffId": "Sam Support", "slaId": "Priority SLA", "note": "Escalated"}"#,
    )
    .await;
    assert_eq!(r.status(), 200, "{}", text(&r));
    assert_eq!(
        json(&r)["updated_fields"],
        serde_json::json!(["status", "sla", "staff", "priority", "duedate", "note"])
    );
    let t = cx.store.get_by_number(&john).await.unwrap();
    assert_eq!(t.assignee.unwrap().name.as_deref(), Some("Sam Support"));
    assert_eq!(t.priority.unwrap().name.as_deref(), Some("Emergency"));
    assert!(t.entries.iter().any(|e| e.body.content == "Escalated"));
    let r = call(
        &f,
        &cx,
        "PATCH",
        &format!("/tickets-update.php/{john}.json"),
        &[KEY, JSON],
        br#"{"statusId": "InvalidStatus"}"#,
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = call(
        &f,
        &cx,
        "PATCH",
        &format!("/tickets-update.php/{john}.json"),
        &[KEY, JSON],
        br#"{"duedate": "someday"}"#,
    )
    .await;
    assert_eq!(json(&r)["error"], "Invalid due date format");

    // Search, each documented query.
    for q in [
        "?query=login",
        "?status=Open",
        "?query=payment&status=Open&departmentId=5&limit=50",
        "?status=Open&limit=20&offset=0",
        "?status=Open&limit=20&offset=20",
        "?status=Open&limit=20&offset=40",
        "?status=Open&sortBy=priority&sortOrder=desc",
        "?status=Open&limit=100",
    ] {
        let r = call(
            &f,
            &cx,
            "GET",
            &format!("/tickets-search.php{q}"),
            &[KEY],
            b"",
        )
        .await;
        assert_eq!(r.status(), 200, "{q}: {}", text(&r));
        let v = json(&r);
        assert_eq!(
            v["count"].as_u64().unwrap(),
            v["tickets"].as_array().unwrap().len() as u64
        );
    }
    let r = call(
        &f,
        &cx,
        "GET",
        "/tickets-search.php?query=login",
        &[KEY],
        b"",
    )
    .await;
    let v = json(&r);
    assert_eq!(
        (v["count"].as_u64(), v["total"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(v["tickets"][0]["number"], john.as_str());
    assert_eq!(v["tickets"][0]["user"]["email"], "john@example.com");
    let r = call(
        &f,
        &cx,
        "GET",
        "/tickets-search.php?status=Open&limit=101",
        &[KEY],
        b"",
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(json(&r)["error"], "Invalid limit parameter (max: 100)");

    // Stats and statuses.
    for q in [
        "",
        "?departmentId=5",
        "?dateRange=month",
        "?startDate=2025-01-01&endDate=2025-03-31",
        "?staffId=3&dateRange=month",
    ] {
        let r = call(
            &f,
            &cx,
            "GET",
            &format!("/tickets-stats.php{q}"),
            &[KEY],
            b"",
        )
        .await;
        assert_eq!(r.status(), 200, "{q}: {}", text(&r));
    }
    let v = json(&call(&f, &cx, "GET", "/tickets-stats.php", &[KEY], b"").await);
    assert_eq!(v["global"]["total"], 3);
    assert_eq!(v["global"]["resolved"], 1);
    assert_eq!(v["date_range"]["label"], "All time");
    let v = json(
        &call(
            &f,
            &cx,
            "GET",
            "/tickets-stats.php?startDate=2025-01-01&endDate=2025-03-31",
            &[KEY],
            b"",
        )
        .await,
    );
    assert_eq!(v["global"]["total"], 0);
    let r = call(&f, &cx, "GET", "/tickets-statuses.php", &[KEY], b"").await;
    let v = json(&r);
    let names: Vec<&str> = v["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Open") && names.contains(&"Resolved"),
        "{names:?}"
    );
    assert_eq!(v["statuses"][4]["state"], "closed");

    // Subtickets with the seed's ids, which do not exist here.
    let r = call(
        &f,
        &cx,
        "GET",
        "/tickets-subtickets-parent.php/200.json",
        &[KEY],
        b"",
    )
    .await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["error"].clone()),
        (404, "Child ticket not found".into())
    );
    let r = call(
        &f,
        &cx,
        "GET",
        "/tickets-subtickets-list.php/100.json",
        &[KEY],
        b"",
    )
    .await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["error"].clone()),
        (404, "Parent ticket not found".into())
    );
    let r = call(
        &f,
        &cx,
        "POST",
        "/tickets-subtickets-create.php",
        &[KEY, JSON],
        br#"{
"parent_id": 100,
"child_id": 200
}"#,
    )
    .await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["error"].clone()),
        (404, "Parent ticket not found".into())
    );
    let r = call(
        &f,
        &cx,
        "DELETE",
        "/tickets-subtickets-unlink.php",
        &[KEY, JSON],
        br#"{
"child_id": 200
}"#,
    )
    .await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["error"].clone()),
        (404, "Child ticket not found".into())
    );

    // Delete: unknown, then by number (for good).
    let r = call(
        &f,
        &cx,
        "DELETE",
        "/tickets-delete.php/ABC123.json",
        &[KEY],
        b"",
    )
    .await;
    assert_eq!(r.status(), 404);
    let before = cx.count().await;
    let r = call(
        &f,
        &cx,
        "DELETE",
        &format!("/tickets-delete.php/{john}.json"),
        &[KEY],
        b"",
    )
    .await;
    assert_eq!(r.status(), 200, "{}", text(&r));
    assert_eq!(json(&r)["message"], "Ticket deleted successfully");
    assert_eq!(cx.count().await, before - 1);
    assert!(cx.store.get_by_number(&john).await.is_err());
}

#[tokio::test]
async fn subticket_rules() {
    let cx = TestCx::new();
    let f = face();
    let body = |s: &str| {
        format!(r#"{{"name":"N","email":"n@example.com","subject":"{s}","message":"m"}}"#)
    };
    let (a, _) = create_json(&cx, &body("A")).await;
    let (b, _) = create_json(&cx, &body("B")).await;
    let (c, _) = create_json(&cx, &body("C")).await;
    let link = |p: &str, ch: &str| format!(r#"{{"parent_id": {p}, "child_id": "{ch}"}}"#);
    let post = |b: String| {
        let f = f.clone();
        let cx = cx.clone();
        async move {
            call(
                &f,
                &cx,
                "POST",
                "/tickets-subtickets-create.php",
                &[KEY, JSON],
                b.as_bytes(),
            )
            .await
        }
    };

    let r = post(link(&a, &a)).await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["error"].clone()),
        (400, "Parent and child ticket cannot be the same".into())
    );
    let r = post(r#"{"parent_id": "x", "child_id": 2}"#.to_owned()).await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["error"].clone()),
        (400, "Invalid parent_id or child_id".into())
    );
    let r = post(link(&a, &b)).await;
    assert_eq!(r.status(), 201, "{}", text(&r));
    let v = json(&r);
    assert_eq!(v["parent"]["ticket_id"].to_string(), a);
    assert_eq!(v["child"]["subject"], "B");
    assert_eq!(cx.store.parent(&b).await.unwrap().unwrap().id, a);
    let r = post(link(&c, &b)).await;
    assert_eq!(r.status(), 409);
    assert!(
        json(&r)["error"]
            .as_str()
            .unwrap()
            .starts_with("Child ticket already has a parent (Ticket #")
    );
    let r = post(link(&b, &c)).await;
    assert_eq!(r.status(), 201);
    // a → b → c: making a a child of c would close a loop.
    let r = post(link(&c, &a)).await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        json(&r)["error"],
        "Circular dependency detected: Cannot make parent a child of its descendant"
    );

    let r = call(
        &f,
        &cx,
        "GET",
        &format!("/tickets-subtickets-parent.php/{b}.json"),
        &[KEY],
        b"",
    )
    .await;
    assert_eq!(json(&r)["parent"]["ticket_id"].to_string(), a);
    let r = call(
        &f,
        &cx,
        "GET",
        &format!("/tickets-subtickets-parent.php/{a}.json"),
        &[KEY],
        b"",
    )
    .await;
    assert_eq!(json(&r), serde_json::json!({"parent": null}));
    let r = call(
        &f,
        &cx,
        "GET",
        &format!("/tickets-subtickets-list.php/{a}.xml"),
        &[KEY],
        b"",
    )
    .await;
    assert!(
        text(&r).contains("<children><ticket><ticket_id>"),
        "{}",
        text(&r)
    );
    let r = call(
        &f,
        &cx,
        "GET",
        "/tickets-subtickets-list.php/abc.json",
        &[KEY],
        b"",
    )
    .await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["error"].clone()),
        (400, "Invalid ticket ID".into())
    );

    let unlink = |ch: &str| format!(r#"{{"child_id": {ch}}}"#);
    let r = call(
        &f,
        &cx,
        "DELETE",
        "/tickets-subtickets-unlink.php",
        &[KEY, JSON],
        unlink(&b).as_bytes(),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", text(&r));
    assert_eq!(json(&r)["former_parent"]["ticket_id"].to_string(), a);
    assert!(cx.store.parent(&b).await.unwrap().is_none());
    let r = call(
        &f,
        &cx,
        "DELETE",
        "/tickets-subtickets-unlink.php",
        &[KEY, JSON],
        unlink(&b).as_bytes(),
    )
    .await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["error"].clone()),
        (404, "Ticket has no parent relationship".into())
    );
}

/// The plugin seed's `curl -F` create, as curl encodes it.
fn curl_form(department: &str) -> (String, Vec<u8>) {
    let boundary = "------------------------d74496d66958873e";
    let mut body = Vec::new();
    for (name, value) in [
        ("name", "John Doe"),
        ("email", "john@example.com"),
        ("subject", "Invoice Request"),
        ("message", "Please see attached invoice"),
    ] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"attachments[]\"; filename=\"invoice.pdf\"\r\n\
             Content-Type: application/pdf\r\n\r\n%PDF-1.4 invoice\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"departmentId\"\r\n\r\n{department}\r\n--{boundary}--\r\n"
        )
        .as_bytes(),
    );
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn plugin_multipart_create_with_a_file() {
    let cx = TestCx::new();
    let f = face();
    // Verbatim, the seed routes to an "Accounting" department the embedded helpdesk lacks.
    let (ct, body) = curl_form("Accounting");
    let r = call(
        &f,
        &cx,
        "POST",
        "/tickets.json",
        &[KEY, ("Content-Type", &ct)],
        &body,
    )
    .await;
    assert_eq!(r.status(), 400, "{}", text(&r));
    assert!(text(&r).contains("departmentId: "), "{}", text(&r));
    assert_eq!(cx.count().await, 0);
    let (ct, body) = curl_form("Billing");
    let r = call(
        &f,
        &cx,
        "POST",
        "/tickets.json",
        &[KEY, ("Content-Type", &ct)],
        &body,
    )
    .await;
    assert_eq!(r.status(), 201, "{}", text(&r));
    let t = cx.store.get_by_number(&text(&r)).await.unwrap();
    assert_eq!(t.subject, "Invoice Request");
    assert_eq!(t.attachments.len(), 1);
    assert_eq!(t.attachments[0].name, "invoice.pdf");
    assert_eq!(t.attachments[0].media_type, "application/pdf");
    assert_eq!(t.attachments[0].bytes, b"%PDF-1.4 invoice");
}

#[tokio::test]
async fn idempotency_keys_queueing_and_the_plugin_answer() {
    let cx = TestCx::new();
    let body = golden("plain_message.json");
    let f = face();
    let r = call(
        &f,
        &cx,
        "POST",
        "/tickets.json",
        &[KEY, ("Idempotency-Key", "abc-1")],
        &body,
    )
    .await;
    assert_eq!(r.status(), 201);
    let options = cx.last_options.lock().unwrap().clone().unwrap();
    assert_eq!(options.idempotency_key.as_deref(), Some("abc-1"));
    assert!(
        !options.may_queue,
        "stock osTicket clients cannot read a 202"
    );
    let long = "k".repeat(300);
    let r = call(
        &f,
        &cx,
        "POST",
        "/tickets.json",
        &[KEY, ("Idempotency-Key", &long)],
        &body,
    )
    .await;
    assert_eq!(r.status(), 400);

    let queued = face_with(ServerConfig {
        queue_creates: true,
        ..ServerConfig::default()
    });
    cx.queue_next
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let r = call(&queued, &cx, "POST", "/tickets.json", &[KEY], &body).await;
    assert_eq!(
        (r.status().as_u16(), text(&r)),
        (202, "q-test-1".to_owned())
    );

    let plugin = face_with(ServerConfig {
        plugin_create_response: true,
        ..ServerConfig::default()
    });
    let r = call(&plugin, &cx, "POST", "/tickets.json", &[KEY], &body).await;
    assert_eq!(r.status(), 201);
    let v = json(&r);
    assert_eq!(v["message"], "Ticket created successfully");
    let t = cx
        .store
        .get_by_number(v["number"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(v["ticket_id"].to_string(), t.id);
}

#[test]
fn server_config_reads_like_the_gateway_writes_it() {
    let c: ServerConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(c.prefix, "/api");
    assert!(!c.queue_creates && !c.plugin_create_response);
    let c: ServerConfig =
        serde_json::from_str(r#"{"prefix": "/osticket/api", "queue_creates": true}"#).unwrap();
    assert_eq!(c.prefix, "/osticket/api");
    assert!(serde_json::from_str::<ServerConfig>(r#"{"prefx": "/x"}"#).is_err());
}

#[tokio::test]
async fn unknown_fields_follow_osticket() {
    let cx = TestCx::new();
    let f = face();
    // Create: a structure no form field takes is logged and ignored, as osTicket does;
    // plain values are form fields and pass through.
    let r = call(
        &f,
        &cx,
        "POST",
        "/tickets.json",
        &[KEY],
        &golden("nested_unknown.json"),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", text(&r));
    let t = cx.store.get_by_number(&text(&r)).await.unwrap();
    assert!(t.custom_fields.is_empty());
    let r = call(
        &f,
        &cx,
        "POST",
        "/tickets.json",
        &[KEY],
        &golden("custom_fields.json"),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", text(&r));
    let t = cx.store.get_by_number(&text(&r)).await.unwrap();
    assert_eq!(t.custom_fields["company"], "ACME");
    assert_eq!(
        t.custom_fields["choices"],
        serde_json::json!(["red", "blue"])
    );
    // Update: an unknown field is refused, and nothing changes.
    let before = cx.store.get(&t.id).await.unwrap();
    let r = call(
        &f,
        &cx,
        "PATCH",
        &format!("/tickets-update.php/{}.json", t.number),
        &[KEY, JSON],
        br#"{"statusId": "Resolved", "colour": "red"}"#,
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(json(&r)["error"], "Unknown field: colour");
    assert_eq!(cx.store.get(&t.id).await.unwrap(), before);
    let r = call(
        &f,
        &cx,
        "PATCH",
        &format!("/tickets-update.php/{}.json", t.number),
        &[KEY, JSON],
        b"{not json",
    )
    .await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["error"].clone()),
        (400, "Invalid JSON in request body".into())
    );
    let r = call(
        &f,
        &cx,
        "PATCH",
        &format!("/tickets-update.php/{}.json", t.number),
        &[KEY, JSON],
        b"{}",
    )
    .await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["error"].clone()),
        (400, "No valid fields to update".into())
    );
}
