//! The ITSM-NG client face against the real GLPI 10.0.12 (`../shared/glpi-live`):
//! a gateway whose upstream is the live `apirest.php`, driven through its canonical,
//! osTicket and TicketsApi faces; what each call did is read straight from GLPI's
//! MariaDB, not from the gateway's answers.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Command;
use support::live::{self, Vendor};
use support::{Gateway, client, forwarding_config, ok_json, v1};
use ticketgate::dialects::ticketsapi::{ALL_TICKET_PERMISSIONS, mint_hs256};

/// A gateway in front of the live GLPI, every dialect mounted.
pub fn glpi_gateway(env: &HashMap<String, String>) -> Gateway {
    let upstream = format!(
        "kind = \"itsmng\"\nurl = \"{}\"\nuser_token = \"{}\"\nconnect_timeout_ms = 2000\nrequest_timeout_ms = 15000",
        env["GLPI_URL"], env["GLPI_USER_TOKEN"]
    );
    Gateway::start(&forwarding_config(&upstream, ""))
}

/// Rows of `sql` in GLPI's database, tab-separated columns.
fn db(env: &HashMap<String, String>, sql: &str) -> Vec<Vec<String>> {
    let out = Command::new("mariadb")
        .args(["--no-defaults", "-uroot", "-N", "-B", "glpi"])
        .arg(format!("--socket={}", env["GLPI_DB_SOCK"]))
        .arg("-e")
        .arg(sql)
        .output()
        .expect("the mariadb client runs");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

fn one(env: &HashMap<String, String>, sql: &str) -> String {
    let rows = db(env, sql);
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows[0][0].clone()
}

/// Make sure a dropdown item named `name` exists in GLPI (through its own API).
async fn ensure_dropdown(env: &HashMap<String, String>, itemtype: &str, table: &str, name: &str) {
    let found = db(
        env,
        &format!("SELECT id FROM {table} WHERE name = '{name}'"),
    );
    if !found.is_empty() {
        return;
    }
    let c = client();
    let token: Value = c
        .get(format!("{}/initSession", env["GLPI_URL"]))
        .header(
            "Authorization",
            format!("user_token {}", env["GLPI_USER_TOKEN"]),
        )
        .send()
        .await
        .expect("GLPI answers")
        .json()
        .await
        .expect("a session");
    let session = token["session_token"].as_str().expect("a session token");
    let resp = c
        .post(format!("{}/{itemtype}", env["GLPI_URL"]))
        .header("Session-Token", session)
        .json(&json!({"input": {"name": name, "entities_id": 0, "is_recursive": 1}}))
        .send()
        .await
        .expect("GLPI answers");
    assert_eq!(resp.status(), 201, "{itemtype} {name}");
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix} {nanos}")
}

async fn create(g: &Gateway, body: Value) -> Value {
    ok_json(v1(g, Method::POST, "/tickets", Some(body)).await, 201).await
}

#[tokio::test]
async fn department_is_the_assigned_group_or_refused() {
    let Some(env) = live::vendor(Vendor::Glpi) else {
        return;
    };
    ensure_dropdown(&env, "Group", "glpi_groups", "tg Support").await;
    ensure_dropdown(&env, "Group", "glpi_groups", "tg Network").await;
    let g = glpi_gateway(&env);
    let group_id = one(&env, "SELECT id FROM glpi_groups WHERE name = 'tg Support'");
    let network_id = one(&env, "SELECT id FROM glpi_groups WHERE name = 'tg Network'");

    let subject = unique("live dept");
    let t = create(
        &g,
        json!({"subject": subject, "body": "b", "requester": {"email": "dept@example.com"},
               "department": "tg Support"}),
    )
    .await;
    let id = t["id"].as_str().expect("an id");
    assert_eq!(
        db(
            &env,
            &format!("SELECT groups_id, type FROM glpi_groups_tickets WHERE tickets_id = {id}")
        ),
        vec![vec![group_id.clone(), "2".to_owned()]]
    );
    // The get shows the group GLPI stored.
    assert_eq!(t["group"]["id"], group_id, "{t}");
    assert_eq!(t["group"]["name"], "tg Support", "{t}");

    // Department and group both: both are assigned groups.
    let t = create(
        &g,
        json!({"subject": unique("live dept+group"), "body": "b",
               "requester": {"email": "dept@example.com"},
               "department": "tg Support", "group": "tg Network"}),
    )
    .await;
    let id = t["id"].as_str().expect("an id");
    let mut groups: Vec<String> = db(
        &env,
        &format!("SELECT groups_id FROM glpi_groups_tickets WHERE tickets_id = {id} AND type = 2"),
    )
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    groups.sort();
    let mut want = vec![group_id.clone(), network_id];
    want.sort();
    assert_eq!(groups, want);

    // On update too: the department becomes an assigned group; asking for a group
    // the ticket already has changes nothing and is not an error.
    let t = create(
        &g,
        json!({"subject": unique("live dept update"), "body": "b",
               "requester": {"email": "dept@example.com"}}),
    )
    .await;
    let id = t["id"].as_str().expect("an id").to_owned();
    for _ in 0..2 {
        let t = ok_json(
            v1(
                &g,
                Method::PATCH,
                &format!("/tickets/{id}"),
                Some(json!({"department": "tg Support"})),
            )
            .await,
            200,
        )
        .await;
        assert_eq!(t["group"]["name"], "tg Support", "{t}");
    }
    assert_eq!(
        db(
            &env,
            &format!(
                "SELECT groups_id FROM glpi_groups_tickets WHERE tickets_id = {id} AND type = 2"
            )
        ),
        vec![vec![group_id.clone()]]
    );

    // An unknown department is a 400 naming the field, and nothing is created.
    let subject = unique("live dept unknown");
    let resp = v1(
        &g,
        Method::POST,
        "/tickets",
        Some(
            json!({"subject": subject, "body": "b", "requester": {"email": "dept@example.com"},
                     "department": "No such department"}),
        ),
    )
    .await;
    let p = ok_json(resp, 400).await;
    assert_eq!(p["field"], "department", "{p}");
    assert_eq!(
        one(
            &env,
            &format!("SELECT COUNT(*) FROM glpi_tickets WHERE name = '{subject}'")
        ),
        "0"
    );
}

#[tokio::test]
async fn requester_name_and_phone_reach_glpi() {
    let Some(env) = live::vendor(Vendor::Glpi) else {
        return;
    };
    let g = glpi_gateway(&env);
    let email = format!("{}@example.com", unique("ann").replace(' ', "."));
    let t = create(
        &g,
        json!({"subject": unique("live requester"), "body": "b",
               "requester": {"name": "Ann Example", "email": email}}),
    )
    .await;
    let id = t["id"].as_str().expect("an id");
    let row = db(
        &env,
        &format!(
            "SELECT u.firstname, u.realname, e.email FROM glpi_tickets_users tu \
             JOIN glpi_users u ON u.id = tu.users_id \
             JOIN glpi_useremails e ON e.users_id = u.id \
             WHERE tu.tickets_id = {id} AND tu.type = 1"
        ),
    );
    assert_eq!(
        row,
        vec![vec!["Ann".to_owned(), "Example".into(), email.clone()]]
    );
    assert_eq!(t["requester"]["name"], "Ann Example", "{t}");
    assert_eq!(t["requester"]["email"], email, "{t}");

    // The same address again is the same GLPI user, not a second one.
    create(
        &g,
        json!({"subject": unique("live requester again"), "body": "b",
               "requester": {"name": "Ann Example", "email": email}}),
    )
    .await;
    assert_eq!(
        one(
            &env,
            &format!("SELECT COUNT(*) FROM glpi_useremails WHERE email = '{email}'")
        ),
        "1"
    );

    // An osTicket create keeps its phone (and name).
    let carol = format!("{}@example.com", unique("carol").replace(' ', "."));
    let resp = client()
        .post(g.url("/api/tickets.json"))
        .header("X-API-Key", "demo-key")
        .json(
            &json!({"name": "Carol Client", "email": carol, "subject": unique("live osT phone"),
                      "message": "data:text/plain;charset=utf-8,Tray 2", "phone": "555-0100X12"}),
        )
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(resp.status(), 201);
    let number = resp.text().await.unwrap_or_default().trim().to_owned();
    assert_eq!(
        db(
            &env,
            &format!(
                "SELECT u.firstname, u.realname, u.phone FROM glpi_tickets_users tu \
                 JOIN glpi_users u ON u.id = tu.users_id WHERE tu.tickets_id = {number} AND tu.type = 1"
            )
        ),
        vec![vec![
            "Carol".to_owned(),
            "Client".into(),
            "555-0100 x12".into()
        ]]
    );
    let t = ok_json(
        v1(&g, Method::GET, &format!("/tickets/{number}"), None).await,
        200,
    )
    .await;
    assert_eq!(t["requester"]["phone"], "555-0100", "{t}");
    assert_eq!(t["requester"]["phone_ext"], "12", "{t}");
}

#[tokio::test]
async fn message_reads_back_as_message_and_reopens_a_resolved_ticket() {
    let Some(env) = live::vendor(Vendor::Glpi) else {
        return;
    };
    let g = glpi_gateway(&env);
    let t = create(
        &g,
        json!({"subject": unique("live reopen"), "body": "b",
               "requester": {"name": "Rita Requester", "email": "rita@example.com"}}),
    )
    .await;
    let id = t["id"].as_str().expect("an id").to_owned();
    for (kind, body) in [
        ("response", "we look"),
        ("note", "internal"),
        ("message", "thanks"),
    ] {
        ok_json(
            v1(
                &g,
                Method::POST,
                &format!("/tickets/{id}/entries"),
                Some(json!({"kind": kind, "body": body})),
            )
            .await,
            201,
        )
        .await;
    }
    let t = ok_json(
        v1(&g, Method::GET, &format!("/tickets/{id}"), None).await,
        200,
    )
    .await;
    let kinds: Vec<&str> = t["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["response", "note", "message"], "{t}");
    assert_eq!(
        db(
            &env,
            &format!(
                "SELECT is_private, timeline_position FROM glpi_itilfollowups \
                 WHERE itemtype = 'Ticket' AND items_id = {id} ORDER BY id"
            )
        ),
        vec![
            vec!["0".to_owned(), "4".into()],
            vec!["1".to_owned(), "4".into()],
            vec!["0".to_owned(), "1".into()],
        ]
    );

    // Resolved, then the requester writes: GLPI reopens it.
    let t = ok_json(
        v1(
            &g,
            Method::POST,
            &format!("/tickets/{id}/resolve"),
            Some(json!({"body": "replaced the fuser"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(t["status"]["state"], "resolved", "{t}");
    assert_eq!(
        one(
            &env,
            &format!("SELECT status FROM glpi_tickets WHERE id = {id}")
        ),
        "5"
    );
    ok_json(
        v1(
            &g,
            Method::POST,
            &format!("/tickets/{id}/entries"),
            Some(json!({"kind": "message", "body": "it jams again"})),
        )
        .await,
        201,
    )
    .await;
    let row = db(
        &env,
        &format!("SELECT status, solvedate IS NULL FROM glpi_tickets WHERE id = {id}"),
    );
    assert!(
        matches!(row[0][0].as_str(), "1" | "2"),
        "reopened to new or assigned: {row:?}"
    );
    assert_eq!(row[0][1], "1", "the solve date is cleared: {row:?}");
    let t = ok_json(
        v1(&g, Method::GET, &format!("/tickets/{id}"), None).await,
        200,
    )
    .await;
    assert!(
        matches!(t["status"]["state"].as_str(), Some("new" | "open")),
        "{t}"
    );

    // A response (the helpdesk writing) on a resolved ticket leaves it resolved.
    ok_json(
        v1(
            &g,
            Method::POST,
            &format!("/tickets/{id}/resolve"),
            Some(json!({"body": "really fixed"})),
        )
        .await,
        200,
    )
    .await;
    ok_json(
        v1(
            &g,
            Method::POST,
            &format!("/tickets/{id}/entries"),
            Some(json!({"kind": "response", "body": "glad to help"})),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(
        one(
            &env,
            &format!("SELECT status FROM glpi_tickets WHERE id = {id}")
        ),
        "5"
    );
}

#[tokio::test]
async fn assigning_an_assigned_group_or_agent_says_so() {
    let Some(env) = live::vendor(Vendor::Glpi) else {
        return;
    };
    ensure_dropdown(&env, "Group", "glpi_groups", "tg Support").await;
    let g = glpi_gateway(&env);
    let t = create(
        &g,
        json!({"subject": unique("live assign twice"), "body": "b",
               "requester": {"email": "assign@example.com"}, "group": "tg Support"}),
    )
    .await;
    let id = t["id"].as_str().expect("an id").to_owned();
    let resp = v1(
        &g,
        Method::POST,
        &format!("/tickets/{id}/assign"),
        Some(json!({"group": "tg Support"})),
    )
    .await;
    let p = ok_json(resp, 409).await;
    let detail = p["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("already assigned"), "{p}");
    assert_eq!(p["field"], "group", "{p}");

    ok_json(
        v1(
            &g,
            Method::POST,
            &format!("/tickets/{id}/assign"),
            Some(json!({"assignee": "glpi"})),
        )
        .await,
        200,
    )
    .await;
    let p = ok_json(
        v1(
            &g,
            Method::POST,
            &format!("/tickets/{id}/assign"),
            Some(json!({"assignee": "glpi"})),
        )
        .await,
        409,
    )
    .await;
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("already assigned")),
        "{p}"
    );
    assert_eq!(
        one(
            &env,
            &format!(
                "SELECT COUNT(*) FROM glpi_tickets_users WHERE tickets_id = {id} AND type = 2"
            )
        ),
        "1"
    );
}

#[tokio::test]
async fn every_canonical_operation_lands_in_glpi() {
    let Some(env) = live::vendor(Vendor::Glpi) else {
        return;
    };
    ensure_dropdown(&env, "ITILCategory", "glpi_itilcategories", "tg Hardware").await;
    ensure_dropdown(&env, "Location", "glpi_locations", "tg HQ").await;
    let g = glpi_gateway(&env);
    let subject = unique("live ops");
    let t = create(
        &g,
        json!({"subject": subject, "body": "<p>It is <b>burning</b></p>",
               "requester": {"email": "ops@example.com"},
               "priority": "High", "category": "tg Hardware", "location": "tg HQ",
               "urgency": 4, "type": "request",
               "attachments": [{"name": "log.txt", "media_type": "text/plain", "bytes": "bGluZTEK"}]}),
    )
    .await;
    let id = t["id"].as_str().expect("an id").to_owned();
    let row = db(
        &env,
        &format!(
            "SELECT t.priority, t.urgency, t.type, c.name, l.name FROM glpi_tickets t \
             JOIN glpi_itilcategories c ON c.id = t.itilcategories_id \
             JOIN glpi_locations l ON l.id = t.locations_id WHERE t.id = {id}"
        ),
    );
    assert_eq!(
        row,
        vec![vec![
            "4".to_owned(),
            "4".into(),
            "2".into(),
            "tg Hardware".into(),
            "tg HQ".into()
        ]]
    );
    // GLPI stores HTML entity-encoded; the gateway gives it back as HTML.
    assert_eq!(t["body"]["content"], "<p>It is <b>burning</b></p>", "{t}");
    assert_eq!(
        one(
            &env,
            &format!(
                "SELECT d.filename FROM glpi_documents_items di JOIN glpi_documents d \
                 ON d.id = di.documents_id WHERE di.itemtype = 'Ticket' AND di.items_id = {id}"
            )
        ),
        "log.txt"
    );

    // Update.
    let t = ok_json(
        v1(
            &g,
            Method::PATCH,
            &format!("/tickets/{id}"),
            Some(json!({"priority": "Very high", "subject": format!("{subject} (upd)"), "status": "Pending"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(t["status"]["state"], "pending", "{t}");
    assert_eq!(
        db(
            &env,
            &format!("SELECT priority, status, name FROM glpi_tickets WHERE id = {id}")
        ),
        vec![vec!["5".to_owned(), "4".into(), format!("{subject} (upd)")]]
    );

    // Search finds it by text, by category and by priority.
    for q in [
        format!("q={}", subject.replace(' ', "+")),
        "category=tg+Hardware&limit=100".to_owned(),
        "priority=Very+high&limit=100".to_owned(),
    ] {
        let page = ok_json(
            v1(&g, Method::GET, &format!("/tickets?{q}"), None).await,
            200,
        )
        .await;
        assert!(
            page["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|i| i["id"] == id.as_str())),
            "{q}: {page}"
        );
    }

    // Attach.
    ok_json(
        v1(
            &g,
            Method::POST,
            &format!("/tickets/{id}/attachments"),
            Some(json!({"attachments": [{"name": "shot.txt", "media_type": "text/plain", "bytes": "c2NyZWVu"}]})),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(
        one(
            &env,
            &format!(
                "SELECT COUNT(*) FROM glpi_documents_items WHERE itemtype = 'Ticket' AND items_id = {id}"
            )
        ),
        "2"
    );

    // Close with a note.
    let t = ok_json(
        v1(
            &g,
            Method::POST,
            &format!("/tickets/{id}/close"),
            Some(json!({"note": "closing"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(t["status"]["state"], "closed", "{t}");
    assert_eq!(
        db(
            &env,
            &format!("SELECT status, closedate IS NOT NULL FROM glpi_tickets WHERE id = {id}")
        ),
        vec![vec!["6".to_owned(), "1".into()]]
    );

    // Look-ups come from GLPI.
    let cats = ok_json(v1(&g, Method::GET, "/lookups/categories", None).await, 200).await;
    assert!(cats.to_string().contains("tg Hardware"), "{cats}");

    // Delete (to GLPI's trash), then purge.
    let resp = v1(&g, Method::DELETE, &format!("/tickets/{id}"), None).await;
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(
        one(
            &env,
            &format!("SELECT is_deleted FROM glpi_tickets WHERE id = {id}")
        ),
        "1"
    );
    let resp = v1(
        &g,
        Method::DELETE,
        &format!("/tickets/{id}?purge=true"),
        None,
    )
    .await;
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(
        one(
            &env,
            &format!("SELECT COUNT(*) FROM glpi_tickets WHERE id = {id}")
        ),
        "0"
    );
    let resp = v1(&g, Method::GET, &format!("/tickets/{id}"), None).await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn creates_through_every_face_land_in_glpi() {
    let Some(env) = live::vendor(Vendor::Glpi) else {
        return;
    };
    let g = glpi_gateway(&env);
    let c = client();
    let tag = unique("faces");
    let name_of = |face: &str| format!("{tag} {face}");

    // Canonical (JSON and XML).
    create(
        &g,
        json!({"subject": name_of("canonical"), "body": "c", "requester": {"email": "f@example.com"}}),
    )
    .await;
    let resp = c
        .post(g.url("/v1/tickets"))
        .header("Authorization", "Bearer demo-key")
        .header("Content-Type", "application/xml")
        .body(format!(
            "<ticket><subject>{}</subject><body>x</body><requester><email>f@example.com</email></requester></ticket>",
            name_of("canonical xml")
        ))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(
        resp.status(),
        201,
        "{}",
        resp.text().await.unwrap_or_default()
    );

    // osTicket JSON, XML and email.
    let resp = c
        .post(g.url("/api/tickets.json"))
        .header("X-API-Key", "demo-key")
        .json(&json!({"name": "Olga", "email": "olga@example.com", "subject": name_of("osticket json"),
                      "message": "json body"}))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(resp.status(), 201);
    let resp = c
        .post(g.url("/api/tickets.xml"))
        .header("X-API-Key", "demo-key")
        .header("Content-Type", "application/xml")
        .body(format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><ticket><name>Xavier</name><email>x@example.com</email><subject>{}</subject><message type="text/plain"><![CDATA[xml & body]]></message></ticket>"#,
            name_of("osticket xml")
        ))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(resp.status(), 201);
    let resp = c
        .post(g.url("/api/tickets.email"))
        .header("X-API-Key", "demo-key")
        .header("Content-Type", "message/rfc822")
        .body(format!(
            "From: Eve Mail <eve@example.com>\r\nTo: help@example.com\r\nSubject: {}\r\nMessage-ID: <{}@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nmail body\r\n",
            name_of("osticket email"),
            tag.replace(' ', ".")
        ))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(
        resp.status(),
        201,
        "{}",
        resp.text().await.unwrap_or_default()
    );

    // TicketsApi.
    let grants: Vec<&str> = ALL_TICKET_PERMISSIONS
        .into_iter()
        .filter(|p| *p != "Tickets.OnlyPrivate")
        .collect();
    let bearer = format!(
        "Bearer {}",
        mint_hs256(
            b"demo-jwt-secret",
            "demo",
            &grants,
            std::time::Duration::from_secs(600)
        )
    );
    let resp = c
        .post(g.url("/api/TicketsApi/new"))
        .header("Authorization", bearer)
        .multipart(
            reqwest::multipart::Form::new()
                .text("Title", name_of("ticketsapi"))
                .text("Description", "from the integration")
                .text("Requester", "Tom")
                .text("Email", "tom@example.com"),
        )
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(
        resp.status(),
        201,
        "{}",
        resp.text().await.unwrap_or_default()
    );

    let rows = db(
        &env,
        &format!("SELECT name FROM glpi_tickets WHERE name LIKE '{tag}%' ORDER BY id"),
    );
    let names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        names,
        [
            name_of("canonical"),
            name_of("canonical xml"),
            name_of("osticket json"),
            name_of("osticket xml"),
            name_of("osticket email"),
            name_of("ticketsapi"),
        ]
    );
    // The osTicket XML body arrives as written (GLPI stores `&` as `&#38;`).
    assert_eq!(
        one(
            &env,
            &format!(
                "SELECT content FROM glpi_tickets WHERE name = '{}'",
                name_of("osticket xml")
            )
        ),
        "xml &#38; body"
    );
}

/// Documents through a gateway in front of GLPI, over its ITSM-NG face: a document of
/// its own and one for a ticket land in GLPI (`glpi_documents`, `glpi_documents_items`),
/// and come back, row and bytes, through the gateway.
#[tokio::test]
async fn documents_pass_through_to_glpi() {
    let Some(env) = live::vendor(Vendor::Glpi) else {
        return;
    };
    let g = glpi_gateway(&env);
    let c = client();
    let api = g.url("/apirest.php");
    let session = ok_json(
        c.get(format!("{api}/initSession"))
            .header("Authorization", "user_token demo-user-token")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await["session_token"]
        .as_str()
        .expect("a session token")
        .to_owned();
    let subject = unique("glpi documents");
    let ticket = ok_json(
        c.post(format!("{api}/Ticket"))
            .header("Session-Token", &session)
            .json(&json!({"input": {"name": subject, "content": "with documents"}}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await["id"]
        .as_i64()
        .expect("a ticket id");
    let upload = |manifest: Value, name: &str, bytes: &[u8]| {
        c.post(format!("{api}/Document"))
            .header("Session-Token", &session)
            .multipart(
                reqwest::multipart::Form::new()
                    .text("uploadManifest", manifest.to_string())
                    .part(
                        "filename[0]",
                        reqwest::multipart::Part::bytes(bytes.to_vec())
                            .file_name(name.to_owned())
                            .mime_str("text/plain")
                            .unwrap(),
                    ),
            )
            .send()
    };
    let title = unique("notes");
    let own = ok_json(
        upload(
            json!({"input": {"name": title, "_filename": ["notes.txt"]}}),
            "notes.txt",
            b"the meeting notes\n",
        )
        .await
        .unwrap(),
        201,
    )
    .await["id"]
        .as_i64()
        .expect("a document id");
    assert_eq!(
        one(
            &env,
            &format!("SELECT name FROM glpi_documents WHERE id = {own}")
        ),
        title
    );
    let row = ok_json(
        c.get(format!("{api}/Document/{own}"))
            .header("Session-Token", &session)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        (row["name"].as_str(), row["filename"].as_str()),
        (Some(title.as_str()), Some("notes.txt"))
    );
    let resp = c
        .get(format!("{api}/Document/{own}?alt=media"))
        .header("Session-Token", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"the meeting notes\n");
    // Linked to the ticket through Document_Item: the link is GLPI's.
    let resp = c
        .post(format!("{api}/Document_Item"))
        .header("Session-Token", &session)
        .json(&json!({"input": {"documents_id": own, "itemtype": "Ticket", "items_id": ticket}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let for_ticket = ok_json(
        upload(
            json!({"input": {"name": "x", "_filename": ["log.txt"], "itemtype": "Ticket", "items_id": ticket}}),
            "log.txt",
            b"log line\n",
        )
        .await
        .unwrap(),
        201,
    )
    .await["id"]
        .as_i64()
        .expect("a document id");
    let linked = db(
        &env,
        &format!(
            "SELECT documents_id FROM glpi_documents_items WHERE itemtype = 'Ticket' AND items_id = {ticket} ORDER BY documents_id"
        ),
    );
    assert_eq!(
        linked,
        vec![vec![own.to_string()], vec![for_ticket.to_string()]]
    );
    // An unknown document is GLPI's 404.
    let resp = c
        .get(format!("{api}/Document/99999999?alt=media"))
        .header("Session-Token", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

/// Tasks through a gateway in front of GLPI, over its ITSM-NG face: they land in
/// `glpi_tickettasks` with their state, duration and privacy, and list back.
#[tokio::test]
async fn tasks_pass_through_to_glpi() {
    let Some(env) = live::vendor(Vendor::Glpi) else {
        return;
    };
    let g = glpi_gateway(&env);
    let c = client();
    let api = g.url("/apirest.php");
    let session = ok_json(
        c.get(format!("{api}/initSession"))
            .header("Authorization", "user_token demo-user-token")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await["session_token"]
        .as_str()
        .expect("a session token")
        .to_owned();
    let ticket = ok_json(
        c.post(format!("{api}/Ticket"))
            .header("Session-Token", &session)
            .json(&json!({"input": {"name": unique("glpi tasks"), "content": "with tasks"}}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await["id"]
        .as_i64()
        .expect("a ticket id");
    for (content, state, private) in [("Replace the fuser", 1, 0), ("Called the vendor", 2, 1)] {
        let resp = c
            .post(format!("{api}/Ticket/{ticket}/TicketTask"))
            .header("Session-Token", &session)
            .json(&json!({"input": {"tickets_id": ticket, "content": content, "actiontime": 900, "state": state, "is_private": private}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    }
    let rows = db(
        &env,
        &format!(
            "SELECT content, state, actiontime, is_private FROM glpi_tickettasks WHERE tickets_id = {ticket} ORDER BY id"
        ),
    );
    assert_eq!(
        rows,
        vec![
            vec![
                "Replace the fuser".to_owned(),
                "1".into(),
                "900".into(),
                "0".into()
            ],
            vec![
                "Called the vendor".to_owned(),
                "2".into(),
                "900".into(),
                "1".into()
            ],
        ]
    );
    let listed = ok_json(
        c.get(format!("{api}/Ticket/{ticket}/TicketTask?order=ASC"))
            .header("Session-Token", &session)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let seen: Vec<(Value, Value, Value)> = listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| {
            (
                t["content"].clone(),
                t["state"].clone(),
                t["actiontime"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (json!("Replace the fuser"), json!(1), json!(900)),
            (json!("Called the vendor"), json!(2), json!(900))
        ]
    );
}
