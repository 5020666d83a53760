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
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
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
    // The plugin refuses a key without the permission with 401 and its own words.
    assert_eq!(r.status(), 401);
    assert_eq!(
        json(&r)["message"],
        "API key not authorized to read tickets"
    );
    // No key at all: osTicket's own answer.
    let r = call(&f, &cx, "GET", "/tickets-search.php", &[], b"").await;
    assert_eq!(
        (r.status().as_u16(), text(&r)),
        (401, "Valid API key required".to_owned())
    );
    let r = call(
        &f,
        &cx,
        "POST",
        "/tickets-subtickets-create.php/1.json",
        &[("X-API-Key", KEY_CREATE), JSON],
        br#"{"childId": 2}"#,
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        json(&r)["message"],
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
    assert_eq!(
        (r.status().as_u16(), text(&r)),
        (400, "URL not supported".to_owned())
    );
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

/// The plugin's endpoints as the real plugin v2.3.4 answers them on osTicket 1.18.1
/// (observed answers: `../shared/fixtures/osticket-plugin-observed.md`; the live
/// differential in `tests/live_osticket_plugin.rs` compares the two side by side).
#[tokio::test]
async fn plugin_endpoints_answer_like_the_real_plugin() {
    let cx = TestCx::new();
    let f = face();
    let body = |s: &str, extra: &str| {
        format!(
            r#"{{"name":"Ann Example","email":"ann@example.com","subject":"{s}","message":"Tray 2 jams"{extra}}}"#
        )
    };
    let (a_id, a) = create_json(&cx, &body("Printer A", "")).await;
    let (_, b) = create_json(&cx, &body("Printer B", r#","departmentId":"Sales""#)).await;
    let get = |path: String| {
        let f = f.clone();
        let cx = cx.clone();
        async move { call(&f, &cx, "GET", &path, &[KEY], b"").await }
    };
    let send = |method: &'static str, path: String, body: &'static [u8]| {
        let f = f.clone();
        let cx = cx.clone();
        async move { call(&f, &cx, method, &path, &[KEY, JSON], body).await }
    };

    // Get: the plugin's keys, osTicket's objects for names and addresses, `M` entries.
    let r = get(format!("/tickets-get.php/{a}.json")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/json; charset=UTF-8"
    );
    let v = json(&r);
    for k in [
        "id",
        "number",
        "subject",
        "statusId",
        "status",
        "priorityId",
        "priority",
        "departmentId",
        "department",
        "topicId",
        "topic",
        "userId",
        "user",
        "staffId",
        "staff",
        "teamId",
        "team",
        "slaId",
        "sla",
        "created",
        "updated",
        "duedate",
        "closed",
        "isOverdue",
        "isAnswered",
        "source",
        "ip",
        "children",
        "thread",
    ] {
        assert!(v.get(k).is_some(), "{k} missing: {v}");
    }
    assert_eq!(v["number"], a.as_str());
    assert_eq!(v["user"]["name"]["name"], "Ann Example");
    assert_eq!(v["user"]["email"]["email"], "ann@example.com");
    assert_eq!(v["staff"], serde_json::Value::Null);
    assert_eq!(v["isOverdue"], 0);
    assert_eq!(v["thread"][0]["type"], "M");
    assert_eq!(v["thread"][0]["body"]["body"], "Tray 2 jams");
    // By internal id too (the plugin looks numbers up first).
    assert_eq!(
        json(&get(format!("/tickets-get.php/{a_id}.json")).await)["number"],
        a.as_str()
    );
    let r = get(format!("/tickets-get.php/{a}.xml")).await;
    assert_eq!(
        r.headers()["content-type"],
        "application/xml; charset=UTF-8"
    );
    let x = text(&r);
    assert!(
        x.starts_with("<?xml version=\"1.0\"?>\n<response><id>"),
        "{x}"
    );
    assert!(
        x.contains("<user><name>Ann Example</name><email>ann@example.com</email></user>"),
        "{x}"
    );
    assert!(x.contains("<thread><item><id>"), "{x}");
    let r = get("/tickets-get.php/999999.json".to_owned()).await;
    assert_eq!(
        (r.status().as_u16(), text(&r)),
        (
            404,
            r#"{"error":true,"message":"Ticket not found"}"#.to_owned()
        )
    );
    let r = get(format!("/tickets-get.php/{a}")).await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        json(&r)["message"],
        "Invalid URL format. Expected: /api/tickets-get.php/{ticket_number}.json"
    );
    let r = send("POST", format!("/tickets-get.php/{a}.json"), b"{}").await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["message"].clone()),
        (405, "Method Not Allowed. Use GET".into())
    );

    // Update: names or ids, the ticket number as plain text; fields the plugin does not
    // update are ignored; unknown names are 404s and change nothing.
    let r = send(
        "PATCH",
        format!("/tickets-update.php/{a}.json"),
        br#"{"departmentId": "Billing", "statusId": "Resolved", "slaId": "Priority SLA", "staffId": 2, "dueDate": "2030-01-31", "note": "internal **note**", "noteTitle": "Probe", "priority": "High"}"#,
    )
    .await;
    assert_eq!(r.status(), 200, "{}", text(&r));
    assert_eq!(r.headers()["content-type"], "text/plain; charset=UTF-8");
    assert_eq!(text(&r), a);
    let t = cx.store.get(&a_id).await.unwrap();
    assert_eq!(t.department.unwrap().name.as_deref(), Some("Billing"));
    assert_eq!(t.status.state, State::Resolved);
    assert_eq!(t.sla.unwrap().name.as_deref(), Some("Priority SLA"));
    assert_eq!(t.assignee.unwrap().name.as_deref(), Some("Robin Ops"));
    assert!(t.due_at.is_some());
    assert!(
        t.entries
            .iter()
            .any(|e| e.body.content == "internal **note**")
    );
    assert_eq!(t.priority, None, "priority is not an update field");
    let r = send(
        "PUT",
        format!("/tickets-update.php/{b}.json"),
        br#"{"parentTicketNumber": "PARENT"}"#,
    )
    .await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["message"].clone()),
        (404, "Parent ticket not found".into())
    );
    let before = cx.store.get_by_number(&b).await.unwrap();
    for (body, status, message) in [
        (
            &br#"{"departmentId": "Nowhere", "statusId": "Open"}"#[..],
            404,
            "Department 'Nowhere' not found",
        ),
        (br#"{"statusId": "Bogus"}"#, 404, "Status 'Bogus' not found"),
        (br#"{"departmentId": 99}"#, 404, "Department not found"),
        (
            br#"{"dueDate": "not-a-date"}"#,
            400,
            "Invalid date format for dueDate. Expected ISO 8601 format (e.g., \"2025-01-31\" or \"2025-01-31T17:30:00\")",
        ),
        (br#"{}"#, 400, "No data provided in JSON body"),
        (br#"{"statusId":"#, 400, "Invalid JSON: Syntax error"),
    ] {
        let r = send("PATCH", format!("/tickets-update.php/{b}.json"), body).await;
        assert_eq!(
            (r.status().as_u16(), json(&r)["message"].clone()),
            (status, message.into())
        );
    }
    assert_eq!(
        cx.store.get_by_number(&b).await.unwrap(),
        before,
        "nothing half-applied"
    );
    let r = send(
        "PATCH",
        format!("/tickets-update.php/{a_id}.json"),
        br#"{"statusId": "Open"}"#,
    )
    .await;
    assert_eq!(r.status(), 404, "the update endpoint takes numbers only");
    let r = get(format!("/tickets-update.php/{a}.json")).await;
    assert_eq!(json(&r)["message"], "Method Not Allowed. Use PATCH, PUT");
    // The parent by number, as `parentTicketNumber`.
    let body_b = format!(r#"{{"parentTicketNumber": "{a}"}}"#);
    let r = call(
        &f,
        &cx,
        "PATCH",
        &format!("/tickets-update.php/{b}.json"),
        &[KEY, JSON],
        body_b.as_bytes(),
    )
    .await;
    assert_eq!(text(&r), b);
    let children = json(&get(format!("/tickets-get.php/{a}.json")).await)["children"].clone();
    let b_id = cx.store.get_by_number(&b).await.unwrap().id;
    assert_eq!(children, serde_json::json!([b_id.parse::<u64>().unwrap()]));

    // Search: a bare array; unknown filters and sorts ignored, limits clamped.
    let r = get("/tickets-search.php?query=Printer%20B".to_owned()).await;
    assert_eq!(r.status(), 200);
    let v = json(&r);
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["number"], b.as_str());
    assert!(
        v[0].get("dueDate").is_some() && v[0].get("isAnswered").is_some(),
        "{v}"
    );
    for (q, n) in [
        ("status=Resolved", 1),
        ("status=bogus", 2),
        ("department=Sales", 1),
        ("department=Nowhere", 2),
        ("limit=1&offset=1", 1),
        ("limit=0", 2),
        ("limit=1000", 2),
        ("sort=bogus", 2),
    ] {
        let v = json(&get(format!("/tickets-search.php?{q}")).await);
        assert_eq!(v.as_array().map(Vec::len), Some(n), "{q}: {v}");
    }
    let v = json(&get("/tickets-search.php?sort=number".to_owned()).await);
    let mut numbers = [a.clone(), b.clone()];
    numbers.sort();
    assert_eq!(v[0]["number"], numbers[0].as_str());
    for path in [
        "/tickets-search.php.xml",
        "/tickets-stats.php.json",
        "/tickets/1.json",
    ] {
        let r = call(&f, &cx, "PATCH", path, &[KEY, JSON], b"{}").await;
        assert_eq!(
            (r.status().as_u16(), text(&r)),
            (400, "URL not supported".to_owned()),
            "{path}"
        );
    }
    let r = get("/tickets-search.php/.json".to_owned()).await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["message"].clone()),
        (400, "Invalid URL format".into())
    );

    // Stats and statuses.
    let v = json(&get("/tickets-stats.php".to_owned()).await);
    assert_eq!(
        (
            v["total"].as_u64(),
            v["open"].as_u64(),
            v["closed"].as_u64()
        ),
        (Some(2), Some(1), Some(1)),
        "{v}"
    );
    assert_eq!(v["by_department"]["Billing"]["closed"], 1, "{v}");
    assert_eq!(v["by_staff"][0]["staff_name"]["name"], "Robin Ops", "{v}");
    assert_eq!(
        v["by_staff"][0]["departments"]["Billing"]["closed"], 1,
        "{v}"
    );
    let v = json(&get("/tickets-statuses.php".to_owned()).await);
    let resolved = v
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Resolved")
        .unwrap();
    assert_eq!(resolved["state"], "closed");
    assert_eq!(resolved.as_object().unwrap().len(), 3, "{resolved}");

    // Delete: the number as plain text, then gone.
    let r = call(
        &f,
        &cx,
        "DELETE",
        &format!("/tickets-delete.php/{b}.json"),
        &[KEY],
        b"",
    )
    .await;
    assert_eq!((r.status().as_u16(), text(&r)), (200, b.clone()));
    let r = call(
        &f,
        &cx,
        "DELETE",
        &format!("/tickets-delete.php/{b}.json"),
        &[KEY],
        b"",
    )
    .await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["message"].clone()),
        (404, "Ticket not found".into())
    );
    let r = get(format!("/tickets-delete.php/{a}.json")).await;
    assert_eq!(json(&r)["message"], "Method Not Allowed. Use DELETE");
}

/// The subticket endpoints at the real plugin's URLs, answering what its source means to
/// answer (on osTicket 1.18.1 the real ones die of PHP memory exhaustion).
#[tokio::test]
async fn subticket_rules() {
    let cx = TestCx::new();
    let f = face();
    let body = |s: &str| {
        format!(r#"{{"name":"N","email":"n@example.com","subject":"{s}","message":"m"}}"#)
    };
    let (a_id, a) = create_json(&cx, &body("A")).await;
    let (b_id, b) = create_json(&cx, &body("B")).await;
    let (_, c) = create_json(&cx, &body("C")).await;
    let link = |parent: &str, child: String| {
        let f = f.clone();
        let cx = cx.clone();
        let path = format!("/tickets-subtickets-create.php/{parent}.json");
        async move { call(&f, &cx, "POST", &path, &[KEY, JSON], child.as_bytes()).await }
    };
    let r = link(&a, format!(r#"{{"childId": "{a}"}}"#)).await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["message"].clone()),
        (400, "Cannot link ticket to itself".into())
    );
    let r = link(&a, r#"{"x": 1}"#.to_owned()).await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["message"].clone()),
        (400, "Missing childId in request body".into())
    );
    let r = link(&a, r#"{"childId": "999999"}"#.to_owned()).await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["message"].clone()),
        (404, "Child ticket not found".into())
    );
    let r = link(&a, format!(r#"{{"childId": "{b}"}}"#)).await;
    assert_eq!(r.status(), 200, "{}", text(&r));
    let v = json(&r);
    assert_eq!(v["success"], true);
    assert_eq!(v["parent"]["number"], a.as_str());
    assert_eq!(v["child"]["subject"], "B");
    assert_eq!(cx.store.parent(&b_id).await.unwrap().unwrap().id, a_id);
    let r = link(&a, format!(r#"{{"childId": "{b}"}}"#)).await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["message"].clone()),
        (422, "Subticket relationship already exists".into())
    );
    let r = link(&c, format!(r#"{{"childId": "{b}"}}"#)).await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["message"].clone()),
        (422, "Child ticket already has a different parent".into())
    );

    let get = |path: String| {
        let f = f.clone();
        let cx = cx.clone();
        async move { call(&f, &cx, "GET", &path, &[KEY], b"").await }
    };
    let v = json(&get(format!("/tickets-subtickets-parent.php/{b}.json")).await);
    assert_eq!(v["parent"]["number"], a.as_str());
    assert_eq!(
        json(&get(format!("/tickets-subtickets-parent.php/{a}.json")).await)["parent"],
        serde_json::Value::Null
    );
    let v = json(&get(format!("/tickets-subtickets-list.php/{a}.json")).await);
    assert_eq!(v["children"][0]["number"], b.as_str());
    let r = get("/tickets-subtickets-parent.php/0.json".to_owned()).await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["message"].clone()),
        (400, "Invalid ticket number".into())
    );

    let unlink = |child: &str| {
        let f = f.clone();
        let cx = cx.clone();
        let path = format!("/tickets-subtickets-unlink.php/{child}.json");
        async move { call(&f, &cx, "DELETE", &path, &[KEY], b"").await }
    };
    let r = unlink(&b).await;
    assert_eq!(r.status(), 200, "{}", text(&r));
    assert_eq!(json(&r)["child"]["number"], b.as_str());
    assert!(cx.store.parent(&b_id).await.unwrap().is_none());
    let r = unlink(&b).await;
    assert_eq!(
        (r.status().as_u16(), json(&r)["message"].clone()),
        (404, "Child has no parent to unlink".into())
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
    // Update: an unknown field is ignored, as the plugin ignores it.
    let r = call(
        &f,
        &cx,
        "PATCH",
        &format!("/tickets-update.php/{}.json", t.number),
        &[KEY, JSON],
        br#"{"statusId": "Resolved", "colour": "red"}"#,
    )
    .await;
    assert_eq!((r.status().as_u16(), text(&r)), (200, t.number.clone()));
    assert_eq!(
        cx.store.get(&t.id).await.unwrap().status.state,
        State::Resolved
    );
    let before = cx.store.get(&t.id).await.unwrap();
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
        (r.status().as_u16(), json(&r)["message"].clone()),
        (400, "Invalid JSON: Syntax error".into())
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
        (r.status().as_u16(), json(&r)["message"].clone()),
        (400, "No data provided in JSON body".into())
    );
    assert_eq!(cx.store.get(&t.id).await.unwrap(), before);
}
