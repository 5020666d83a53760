//! ticketgate in front of the REAL osTicket 1.18.1 (core API), judged by what osTicket
//! stored in its own database.
//!
//! One gateway (the real binary) with an `osticket` upstream in core mode, its URL
//! given with osTicket's `/api/` suffix. A create through every face — canonical JSON
//! and XML, osTicket JSON, XML and email, `ticketgate pipe`, the ITSM-NG face and the
//! TicketsApi face — must land in `ost_ticket` with its subject, body (text and HTML),
//! requester name and email, phone, and attachments exactly as sent. An invalid create
//! is refused in the caller's dialect and nothing is queued. `check --probe` checks the
//! URL and the key.
//!
//! The instance is shared with other tests: each ticket is found by a unique subject.

mod support;

use base64::Engine as _;
use serde_json::json;
use std::process::Command;
use support::live::{self, Vendor};
use support::osticket_db::{
    OsticketDb, StoredTicket, core_upstream_config, mail_with_attachment, outbox, pipe, unique,
};
use support::{Gateway, client, ok_json, problem};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A file that is not text, so nothing along the way can "fix" it.
fn file_bytes(seed: u8) -> Vec<u8> {
    (0u16..300)
        .map(|i| (i as u8).wrapping_mul(seed) ^ 0xA5)
        .collect()
}

fn assert_attachment(t: &StoredTicket, name: &str, bytes: &[u8]) {
    let found = t
        .attachments
        .iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("{name} attached in osTicket: {:?}", t.attachments));
    assert_eq!(found.2, bytes, "{name}: the bytes as sent");
}

fn token(g: &Gateway) -> String {
    let out = Command::new(support::binary())
        .args(["token", "--consumer", "demo", "--config"])
        .arg(&g.config)
        .output()
        .expect("ticketgate token runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn itsm_session(g: &Gateway) -> String {
    let resp = client()
        .get(g.url("/apirest.php/initSession"))
        .header("Authorization", "user_token demo-user-token")
        .send()
        .await
        .expect("the gateway answers");
    ok_json(resp, 200).await["session_token"]
        .as_str()
        .expect("a session token")
        .to_owned()
}

fn assert_outbox_empty(g: &Gateway) {
    let (code, out) = outbox(&g.dir, &["list"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.trim_end().ends_with("0 item(s)"),
        "nothing queued: {out}"
    );
}

#[tokio::test]
async fn creates_through_every_face_land_in_the_real_osticket() {
    let Some(env) = live::vendor(Vendor::OsTicketCore) else {
        return;
    };
    let db = OsticketDb::new(&env);
    let g = Gateway::start(&core_upstream_config(&env, ""));
    let c = client();

    // 1. Canonical JSON: text body, name, email, phone with extension, an attachment.
    let subject = unique("live canonical json");
    let file = file_bytes(3);
    let resp = c
        .post(g.url("/v1/tickets"))
        .header("Authorization", "Bearer demo-key")
        .json(&json!({
            "subject": subject,
            "body": "Tray 2 jams.\nSecond line, 50% sure; a+b",
            "requester": {"name": "Ann Canonical", "email": "ann.canonical@example.com",
                          "phone": "555-0100", "phone_ext": "12"},
            "attachments": [{"name": "dump.bin", "media_type": "application/octet-stream",
                             "bytes": B64.encode(&file)}]
        }))
        .send()
        .await
        .unwrap();
    let created = ok_json(resp, 201).await;
    let t = db.ticket(&subject);
    assert_eq!(
        created["number"], t.number,
        "the answer names osTicket's number"
    );
    assert_eq!(t.body, "Tray 2 jams.\nSecond line, 50% sure; a+b");
    assert_eq!(t.body_format, "text");
    assert_eq!(
        (t.name.as_str(), t.email.as_str()),
        ("Ann Canonical", "ann.canonical@example.com")
    );
    assert_eq!(
        t.phone, "5550100X12",
        "osTicket keeps the digits and the extension"
    );
    assert_eq!(t.source, "API");
    assert_attachment(&t, "dump.bin", &file);

    // A text body that itself starts with `data:` keeps it.
    let subject = unique("live data prefix");
    let resp = c
        .post(g.url("/v1/tickets"))
        .header("Authorization", "Bearer demo-key")
        .json(
            &json!({"subject": subject, "body": "data:,this is not a data URL",
                      "requester": {"name": "Dee", "email": "dee@example.com"}}),
        )
        .send()
        .await
        .unwrap();
    ok_json(resp, 201).await;
    assert_eq!(db.ticket(&subject).body, "data:,this is not a data URL");

    // 2. Canonical XML with an HTML body.
    let subject = unique("live canonical xml");
    let resp = c
        .post(g.url("/v1/tickets"))
        .header("Authorization", "Bearer demo-key")
        .header("Content-Type", "application/xml")
        .body(format!(
            "<ticket><subject>{subject}</subject><body format=\"html\"><![CDATA[<p>VPN <b>drops</b> every 20 min</p>]]></body>\
             <requester><name>Bob Xml</name><email>bob.xml@example.com</email></requester></ticket>"
        ))
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    let t = db.ticket(&subject);
    assert!(text.contains(&t.number), "{text}");
    assert_eq!(
        (t.name.as_str(), t.email.as_str()),
        ("Bob Xml", "bob.xml@example.com")
    );
    assert_eq!(t.body_format, "html", "an HTML body stays HTML: {}", t.body);
    assert_eq!(t.body, "<p>VPN <b>drops</b> every 20 min</p>");

    // 3. osTicket JSON: an HTML message as a data URL, a data-URL attachment.
    let subject = unique("live osticket json");
    let resp = c
        .post(g.url("/api/tickets.json"))
        .header("X-API-Key", "demo-key")
        .json(&json!({
            "name": "Cy Json", "email": "cy.json@example.com", "phone": "318-555-8634X123",
            "subject": subject,
            "message": "data:text/html;charset=utf-8,<p>Printer <i>on fire</i></p>",
            "attachments": [{"note.txt": "data:text/plain;base64,aGVsbG8gd29ybGQ="}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let number = resp.text().await.unwrap();
    let t = db.ticket(&subject);
    assert_eq!(number, t.number, "osTicket's bare number");
    assert_eq!(t.body_format, "html");
    assert_eq!(t.body, "<p>Printer <i>on fire</i></p>");
    assert_eq!(
        (t.name.as_str(), t.email.as_str()),
        ("Cy Json", "cy.json@example.com")
    );
    assert_eq!(t.phone, "3185558634X123");
    assert_attachment(&t, "note.txt", b"hello world");

    // 4. osTicket XML: attributes and elements, a base64 file.
    let subject = unique("live osticket xml");
    let xml_file = file_bytes(7);
    let resp = c
        .post(g.url("/api/tickets.xml"))
        .header("X-API-Key", "demo-key")
        .body(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <ticket alert=\"false\"><name>Di Xml</name><email>di.xml@example.com</email>\
             <phone>555-0111</phone><subject>{subject}</subject>\
             <message type=\"text/plain\"><![CDATA[Line one\nLine two & three]]></message>\
             <attachments><file name=\"x.bin\" type=\"application/octet-stream\" encoding=\"base64\">{}</file></attachments></ticket>",
            B64.encode(&xml_file)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let t = db.ticket(&subject);
    assert_eq!(resp.text().await.unwrap(), t.number);
    // osTicket keeps a text body HTML-escaped (its TextThreadEntryBody).
    assert_eq!(t.body, "Line one\nLine two &amp; three");
    assert_eq!(
        (t.name.as_str(), t.email.as_str()),
        ("Di Xml", "di.xml@example.com")
    );
    assert_eq!(t.phone, "5550111");
    assert_attachment(&t, "x.bin", &xml_file);

    // 5. osTicket email (`tickets.email`): subject, body, sender, attachment.
    let subject = unique("live osticket email");
    let mail_file = file_bytes(11);
    let mail = mail_with_attachment(
        "Eve Mail",
        "eve.mail@example.com",
        &subject,
        "Sent by mail.\nSecond line.",
        "scan.bin",
        &mail_file,
    );
    let resp = c
        .post(g.url("/api/tickets.email"))
        .header("X-API-Key", "demo-key")
        .body(mail.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let number = resp.text().await.unwrap();
    let t = db.ticket(&subject);
    assert_eq!(number, t.number);
    assert_eq!(t.body.trim_end(), "Sent by mail.\nSecond line.");
    assert_eq!(
        (t.name.as_str(), t.email.as_str()),
        ("Eve Mail", "eve.mail@example.com")
    );
    assert_attachment(&t, "scan.bin", &mail_file);
    // The same message again: one ticket, and osTicket's number, not a tracking id.
    let resp = c
        .post(g.url("/api/tickets.email"))
        .header("X-API-Key", "demo-key")
        .body(mail)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.text().await.unwrap(), t.number);
    assert_eq!(db.tickets_with_subject(&subject).len(), 1);

    // 6. `ticketgate pipe`.
    let subject = unique("live pipe");
    let pipe_file = file_bytes(13);
    let mail = mail_with_attachment(
        "Fay Pipe",
        "fay.pipe@example.com",
        &subject,
        "Piped in.",
        "log.bin",
        &pipe_file,
    );
    let (code, out, err) = pipe(&g.dir, &mail);
    assert_eq!(code, 0, "{out}{err}");
    let t = db.ticket(&subject);
    assert!(out.contains(&t.number), "pipe names the ticket: {out}");
    assert_eq!(t.body.trim_end(), "Piped in.");
    assert_eq!(
        (t.name.as_str(), t.email.as_str()),
        ("Fay Pipe", "fay.pipe@example.com")
    );
    assert_attachment(&t, "log.bin", &pipe_file);

    // 7. The ITSM-NG face.
    let subject = unique("live itsmng");
    let session = itsm_session(&g).await;
    let resp = c
        .post(g.url("/apirest.php/Ticket"))
        .header("Session-Token", &session)
        .json(&json!({"input": {
            "name": subject, "content": "Through apirest.php", "urgency": 3,
            "_users_id_requester": 0,
            "_users_id_requester_notif": {"use_notification": 1,
                                          "alternative_email": ["gus.itsm@example.com"]}
        }}))
        .send()
        .await
        .unwrap();
    let v = ok_json(resp, 201).await;
    let t = db.ticket(&subject);
    assert_eq!(v["id"].to_string().trim_matches('"'), t.number, "{v}");
    assert_eq!(t.body, "Through apirest.php");
    assert_eq!(t.email, "gus.itsm@example.com");
    assert_eq!(
        t.name, "gus.itsm",
        "no name sent: osTicket gets the address's local part"
    );

    // 8. The TicketsApi face.
    let subject = unique("live ticketsapi");
    let jwt = token(&g);
    let resp = c
        .post(g.url("/api/TicketsApi/new"))
        .header("Authorization", format!("Bearer {jwt}"))
        .json(
            &json!({"Title": subject, "Description": "Through TicketsApi",
                      "Requester": "hal", "Email": "hal.tickets@example.com"}),
        )
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert!(status == 200 || status == 201, "{status} {text}");
    let t = db.ticket(&subject);
    assert!(text.contains(&t.number), "{text}");
    assert_eq!(t.body, "Through TicketsApi");
    assert_eq!(
        (t.name.as_str(), t.email.as_str()),
        ("hal", "hal.tickets@example.com")
    );

    assert_outbox_empty(&g);
}

/// osTicket refuses a ticket (its 500 "Unable to create new ticket: …"): every face
/// refuses it at once, in its own dialect, nothing is queued, and `pipe` exits with a
/// permanent code.
#[tokio::test]
async fn an_invalid_create_is_refused_in_each_dialect_and_never_queued() {
    let Some(env) = live::vendor(Vendor::OsTicketCore) else {
        return;
    };
    let db = OsticketDb::new(&env);
    let g = Gateway::start(&core_upstream_config(&env, ""));
    let c = client();
    // Valid to ticketgate, refused by osTicket: a due date in the past
    // (include/class.ticket.php: "Due date must be in the future").
    let subject = unique("live refused canonical");
    let resp = c
        .post(g.url("/v1/tickets"))
        .header("Authorization", "Bearer demo-key")
        .json(
            &json!({"subject": subject, "body": "b", "due_at": "2001-01-01T00:00:00Z",
                      "requester": {"name": "Ivy", "email": "ivy@example.com"}}),
        )
        .send()
        .await
        .unwrap();
    let p = problem(resp, 400).await;
    assert_eq!(p["retryable"], false, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or("")
            .contains("Due date must be in the future"),
        "osTicket's reason reaches the caller: {p}"
    );

    // The osTicket face: a validation failure ticketgate itself catches (bad email)…
    let resp = c
        .post(g.url("/api/tickets.json"))
        .header("X-API-Key", "demo-key")
        .json(
            &json!({"name": "Ivy", "email": "not-an-address", "subject": unique("x"),
                      "message": "m"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // …and one only osTicket catches: its reason, as osTicket words it.
    let resp = c
        .post(g.url("/api/tickets.json"))
        .header("X-API-Key", "demo-key")
        .json(
            &json!({"name": "Ivy", "email": "ivy@example.com", "subject": unique("x"),
                      "message": "m", "duedate": "2001-01-01"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.unwrap();
    assert!(text.contains("Due date must be in the future"), "{text}");

    // The ITSM-NG face: the same refusal as ITSM-NG's own error shape.
    let session = itsm_session(&g).await;
    let resp = c
        .post(g.url("/apirest.php/Ticket"))
        .header("Session-Token", &session)
        .json(&json!({"input": {"name": unique("live refused itsm"), "content": "c",
                                "time_to_resolve": "2001-01-01 00:00:00",
                                "_users_id_requester_notif": {"alternative_email": ["ivy@example.com"]}}}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 400, "{text}");
    assert!(
        text.starts_with("[\"ERROR"),
        "ITSM-NG's error shape: {text}"
    );

    assert!(db.tickets_with_subject(&subject).is_empty());
    assert_outbox_empty(&g);
}

/// `check --probe` proves a core-mode upstream's URL and key without creating anything.
#[tokio::test]
async fn check_probe_checks_the_core_url_and_key() {
    let Some(env) = live::vendor(Vendor::OsTicketCore) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let probe = |url: &str, key: &str| {
        let mut e = env.clone();
        e.insert("OSTICKET_URL".into(), url.into());
        e.insert("OSTICKET_API_KEY".into(), key.into());
        let path = dir.path().join("probe.toml");
        std::fs::write(&path, core_upstream_config(&e, "")).unwrap();
        let out = Command::new(support::binary())
            .args(["check", "--probe", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let url = env["OSTICKET_URL"].clone();
    let key = env["OSTICKET_API_KEY"].clone();
    let (code, out) = probe(&url, &key);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("API key is accepted"), "{out}");
    let (code, out) = probe(&url, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF");
    assert_eq!(code, 69, "{out}");
    assert!(out.contains("refused the gateway's credentials"), "{out}");
    assert!(!out.contains("FFFFFFFF"), "the key is never printed: {out}");
    let (code, out) = probe(&format!("{url}/nothing-here"), &key);
    assert_eq!(code, 69, "{out}");
    assert!(out.contains("does not answer like osTicket"), "{out}");
}

/// `tickets.email` on the shipped configuration (no `queue_creates`) with the upstream
/// unreachable: osTicket's retryable 503, nothing kept. (An unreachable port stands in
/// for a down osTicket; the live outage suite stops the real one.)
#[tokio::test]
async fn tickets_email_without_queue_creates_answers_503_when_the_upstream_is_down() {
    let Some(mut env) = live::vendor(Vendor::OsTicketCore) else {
        return;
    };
    env.insert("OSTICKET_URL".into(), "http://127.0.0.1:9".into());
    let g = Gateway::start(&core_upstream_config(&env, ""));
    let subject = unique("live email 503");
    let mail = mail_with_attachment("Kim", "kim@example.com", &subject, "b", "a.bin", b"x");
    let resp = client()
        .post(g.url("/api/tickets.email"))
        .header("X-API-Key", "demo-key")
        .body(mail)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    assert_outbox_empty(&g);
}
