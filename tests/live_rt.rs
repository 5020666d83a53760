//! ticketgate in front of the REAL Request Tracker 5.0.3 (`../shared/rt-live`), judged
//! by what RT stored, read back over RT's own REST 2.0 API (never through ticketgate).
//!
//! One gateway (the real binary) with an `rt` upstream. A create through every face —
//! canonical JSON and XML, osTicket JSON, XML and email, `ticketgate pipe`, the ITSM-NG
//! face and the TicketsApi face — must land in RT with its subject, body, requester
//! name and email, and attachments byte for byte; replies (a canonical entry, a mail
//! reply through `pipe`) thread onto the right RT ticket; every other canonical
//! operation does what RT says it did. The RT instance is shared: each ticket is found
//! by a unique subject.

#[allow(dead_code)]
#[path = "support/rt_live.rs"]
mod rt_live;
mod support;

use base64::Engine as _;
use reqwest::Method;
use rt_live::Rt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Command;
use support::live::{self, Vendor};
use support::osticket_db::{mail_with_attachment, outbox, pipe, unique};
use support::{
    Gateway, assert_example_checks, check_config, client, forwarding_config, ok_json, v1,
};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A file that is not text, so nothing along the way can "fix" it.
fn file_bytes(seed: u8) -> Vec<u8> {
    (0u16..300)
        .map(|i| (i as u8).wrapping_mul(seed) ^ 0xA5)
        .collect()
}

/// An address no earlier run has used: RT gives a user the name it is first filed
/// with, and an existing user keeps theirs, so the names checked here need new users.
fn addr(local: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{local}.{}.{nanos}@example.com", std::process::id())
}

/// The `[upstreams.vendor]` body for the live RT.
pub fn rt_upstream(env: &HashMap<String, String>) -> String {
    format!(
        "kind = \"rt\"\nurl = \"{}\"\ntoken = \"{}\"\nqueue = \"General\"\nconnect_timeout_ms = 1000\nrequest_timeout_ms = 15000",
        env["RT_URL"], env["RT_TOKEN"]
    )
}

/// Every dialect mounted over the live RT; `pipe` acts as the demo consumer.
fn rt_gateway(env: &HashMap<String, String>) -> Gateway {
    Gateway::start(&forwarding_config(
        &rt_upstream(env),
        "[pipe]\nconsumer = \"demo\"\n",
    ))
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

fn assert_outbox_empty(g: &Gateway) {
    let (code, out) = outbox(&g.dir, &["list"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.trim_end().ends_with("0 item(s)"),
        "nothing queued: {out}"
    );
}

#[tokio::test]
async fn creates_through_every_face_land_in_rt() {
    let Some(env) = live::vendor(Vendor::Rt) else {
        return;
    };
    let rt = Rt::new(&env);
    let g = rt_gateway(&env);
    let c = client();
    let [
        ann_addr,
        bob_addr,
        cy_addr,
        di_addr,
        eve_addr,
        fay_addr,
        gus_addr,
        hal_addr,
    ] = ["ann", "bob", "cy", "di", "eve", "fay", "gus", "hal"].map(addr);

    // 1. Canonical JSON: a text body, name, email, two cc, a binary attachment.
    let subject = unique("rt canonical json");
    let file = file_bytes(3);
    let resp = c
        .post(g.url("/v1/tickets"))
        .header("Authorization", "Bearer demo-key")
        .json(&json!({
            "subject": subject,
            "body": "Tray 2 jams.\nSecond line, 50% sure; a+b é",
            "requester": {"name": "Ann Canonical", "email": ann_addr},
            "cc": [{"email": "cc.one@example.com"}, {"name": "Cc Two", "email": "cc.two@example.com"}],
            "attachments": [{"name": "dump.bin", "media_type": "application/octet-stream",
                             "bytes": B64.encode(&file)}]
        }))
        .send()
        .await
        .unwrap();
    let created = ok_json(resp, 201).await;
    let t = rt.ticket(&subject).await;
    assert_eq!(created["id"], t.id.to_string(), "the answer names RT's id");
    assert_eq!(created["number"], t.id.to_string());
    assert_eq!(t.body, "Tray 2 jams.\nSecond line, 50% sure; a+b é");
    assert_eq!(t.body_type, "text/plain");
    assert_eq!(
        (t.requestor_name.as_str(), t.requestor_email.as_str()),
        ("Ann Canonical", ann_addr.as_str())
    );
    let mut cc = t.cc.clone();
    cc.sort();
    assert_eq!(cc, ["cc.one@example.com", "cc.two@example.com"]);
    assert_eq!(t.file("dump.bin"), file.as_slice());
    assert_eq!(t.queue, "General");
    assert_eq!(t.status, "new");
    // The answer is RT's ticket read back, the file included.
    assert_eq!(created["body"]["content"], t.body, "{created}");
    assert_eq!(
        created["attachments"][0]["bytes"],
        B64.encode(&file),
        "{created}"
    );

    // 2. Canonical XML with an HTML body.
    let subject = unique("rt canonical xml");
    let resp = c
        .post(g.url("/v1/tickets"))
        .header("Authorization", "Bearer demo-key")
        .header("Content-Type", "application/xml")
        .body(format!(
            "<ticket><subject>{subject}</subject><body format=\"html\"><![CDATA[<p>VPN <b>drops</b> every 20 min</p>]]></body>\
             <requester><name>Bob Xml</name><email>{bob_addr}</email></requester></ticket>"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let t = rt.ticket(&subject).await;
    assert_eq!(
        (t.requestor_name.as_str(), t.requestor_email.as_str()),
        ("Bob Xml", bob_addr.as_str())
    );
    assert_eq!(t.body_type, "text/html", "an HTML body stays HTML");
    assert_eq!(t.body, "<p>VPN <b>drops</b> every 20 min</p>");

    // 3. osTicket JSON: a data-URL message and attachment; osTicket's bare number back.
    let subject = unique("rt osticket json");
    let resp = c
        .post(g.url("/api/tickets.json"))
        .header("X-API-Key", "demo-key")
        .json(&json!({
            "name": "Cy Json", "email": cy_addr,
            "subject": subject,
            "message": "data:text/plain;charset=utf-8,Printer on fire",
            "attachments": [{"note.txt": "data:text/plain;base64,aGVsbG8gd29ybGQ="}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let number = resp.text().await.unwrap();
    let t = rt.ticket(&subject).await;
    assert_eq!(number, t.id.to_string(), "the bare number is RT's id");
    assert_eq!(t.body, "Printer on fire");
    assert_eq!(
        (t.requestor_name.as_str(), t.requestor_email.as_str()),
        ("Cy Json", cy_addr.as_str())
    );
    assert_eq!(t.file("note.txt"), b"hello world");

    // 4. osTicket XML: a base64 file.
    let subject = unique("rt osticket xml");
    let xml_file = file_bytes(7);
    let resp = c
        .post(g.url("/api/tickets.xml"))
        .header("X-API-Key", "demo-key")
        .body(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <ticket><name>Di Xml</name><email>{di_addr}</email>\
             <subject>{subject}</subject>\
             <message type=\"text/plain\"><![CDATA[Line one\nLine two & three]]></message>\
             <attachments><file name=\"x.bin\" type=\"application/octet-stream\" encoding=\"base64\">{}</file></attachments></ticket>",
            B64.encode(&xml_file)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let t = rt.ticket(&subject).await;
    assert_eq!(resp.text().await.unwrap(), t.id.to_string());
    assert_eq!(
        t.body, "Line one\nLine two & three",
        "RT keeps text as text"
    );
    assert_eq!(
        (t.requestor_name.as_str(), t.requestor_email.as_str()),
        ("Di Xml", di_addr.as_str())
    );
    assert_eq!(t.file("x.bin"), xml_file.as_slice());

    // 5. osTicket email (`tickets.email`).
    let subject = unique("rt osticket email");
    let mail_file = file_bytes(11);
    let mail = mail_with_attachment(
        "Eve Mail",
        &eve_addr,
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
    let t = rt.ticket(&subject).await;
    assert_eq!(number, t.id.to_string());
    assert_eq!(t.body.trim_end(), "Sent by mail.\nSecond line.");
    assert_eq!(
        (t.requestor_name.as_str(), t.requestor_email.as_str()),
        ("Eve Mail", eve_addr.as_str())
    );
    assert_eq!(t.file("scan.bin"), mail_file.as_slice());
    // The same message again is the same ticket.
    let resp = c
        .post(g.url("/api/tickets.email"))
        .header("X-API-Key", "demo-key")
        .body(mail)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.text().await.unwrap(), t.id.to_string());
    assert_eq!(rt.ids_with_subject(&subject).await.len(), 1);

    // 6. `ticketgate pipe`.
    let subject = unique("rt pipe");
    let pipe_file = file_bytes(13);
    let mail = mail_with_attachment(
        "Fay Pipe",
        &fay_addr,
        &subject,
        "Piped in.",
        "log.bin",
        &pipe_file,
    );
    let (code, out, err) = pipe(&g.dir, &mail);
    assert_eq!(code, 0, "{out}{err}");
    let t = rt.ticket(&subject).await;
    assert!(
        out.contains(&t.id.to_string()),
        "pipe names the ticket: {out}"
    );
    assert_eq!(t.body.trim_end(), "Piped in.");
    assert_eq!(
        (t.requestor_name.as_str(), t.requestor_email.as_str()),
        ("Fay Pipe", fay_addr.as_str())
    );
    assert_eq!(t.file("log.bin"), pipe_file.as_slice());

    // 7. The ITSM-NG face, with a Document upload in the same request.
    let subject = unique("rt itsmng");
    let session = ok_json(
        c.get(g.url("/apirest.php/initSession"))
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
    let itsm_file = file_bytes(17);
    let manifest = json!({"input": {
        "name": subject, "content": "Through apirest.php", "urgency": 3,
        "_users_id_requester": 0,
        "_users_id_requester_notif": {"use_notification": 1, "alternative_email": [gus_addr]}
    }});
    let resp = c
        .post(g.url("/apirest.php/Ticket"))
        .header("Session-Token", &session)
        .multipart(
            reqwest::multipart::Form::new()
                .part(
                    "uploadManifest",
                    reqwest::multipart::Part::text(manifest.to_string())
                        .mime_str("application/json")
                        .unwrap(),
                )
                .part(
                    "filename[0]",
                    reqwest::multipart::Part::bytes(itsm_file.clone())
                        .file_name("glpi.bin")
                        .mime_str("application/octet-stream")
                        .unwrap(),
                ),
        )
        .send()
        .await
        .unwrap();
    let v = ok_json(resp, 201).await;
    let t = rt.ticket(&subject).await;
    assert_eq!(
        v["id"].to_string().trim_matches('"'),
        t.id.to_string(),
        "{v}"
    );
    assert_eq!(t.body, "Through apirest.php");
    assert_eq!(t.requestor_email, gus_addr);
    assert_eq!(t.file("glpi.bin"), itsm_file.as_slice());

    // 8. The TicketsApi face.
    let subject = unique("rt ticketsapi");
    let jwt = token(&g);
    let upload = file_bytes(19);
    let resp = c
        .post(g.url("/api/TicketsApi/new"))
        .header("Authorization", format!("Bearer {jwt}"))
        .multipart(
            reqwest::multipart::Form::new()
                .text("Title", subject.clone())
                .text("Description", "Through TicketsApi")
                .text("Requester", "Hal Tickets")
                .text("Email", hal_addr.clone())
                .part(
                    "Uploads",
                    reqwest::multipart::Part::bytes(upload.clone())
                        .file_name("report.pdf")
                        .mime_str("application/pdf")
                        .unwrap(),
                ),
        )
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert!(status == 200 || status == 201, "{status} {text}");
    let t = rt.ticket(&subject).await;
    assert!(text.contains(&t.id.to_string()), "{text}");
    assert_eq!(t.body, "Through TicketsApi");
    assert_eq!(
        (t.requestor_name.as_str(), t.requestor_email.as_str()),
        ("Hal Tickets", hal_addr.as_str())
    );
    assert_eq!(t.file("report.pdf"), upload.as_slice());

    assert_outbox_empty(&g);
}

#[tokio::test]
async fn replies_thread_onto_the_right_rt_ticket() {
    let Some(env) = live::vendor(Vendor::Rt) else {
        return;
    };
    let rt = Rt::new(&env);
    let g = rt_gateway(&env);

    // A canonical ticket and a second one beside it: entries go to the first only.
    let subject = unique("rt thread");
    let t = ok_json(
        v1(
            &g,
            Method::POST,
            "/tickets",
            Some(json!({"subject": subject, "body": "first",
                        "requester": {"name": "Rita Requester", "email": "rita@example.com"}})),
        )
        .await,
        201,
    )
    .await;
    let id = t["id"].as_str().expect("an id").to_owned();
    let other = unique("rt thread other");
    ok_json(
        v1(
            &g,
            Method::POST,
            "/tickets",
            Some(
                json!({"subject": other, "body": "x", "requester": {"email": "rita@example.com"}}),
            ),
        )
        .await,
        201,
    )
    .await;
    for (kind, body) in [("response", "we look"), ("note", "internal only")] {
        let e = ok_json(
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
        assert!(
            e["id"].as_str().is_some_and(|i| !i.is_empty()),
            "the entry is RT's transaction: {e}"
        );
    }
    let stored = rt.stored(id.parse().unwrap()).await;
    let updates: Vec<(&str, &str)> = stored
        .updates
        .iter()
        .map(|u| (u.kind.as_str(), u.text.trim_end()))
        .collect();
    assert_eq!(
        updates,
        [("Correspond", "we look"), ("Comment", "internal only")]
    );
    assert!(rt.ticket(&other).await.updates.is_empty());

    // A mail ticket through pipe, then the requester's reply to the answer: it lands
    // on the same RT ticket as correspondence.
    let subject = unique("rt mail thread");
    let first = format!(
        "From: Mo Mail <mo.mail@example.com>\r\nTo: help@example.com\r\nSubject: {subject}\r\n\
         Message-ID: <{}@live.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMy laptop is slow.\r\n",
        subject.replace(' ', ".")
    );
    let (code, out, err) = pipe(&g.dir, first.as_bytes());
    assert_eq!(code, 0, "{out}{err}");
    let ticket = rt.ticket(&subject).await;
    let reply = format!(
        "From: Mo Mail <mo.mail@example.com>\r\nTo: help@example.com\r\nSubject: Re: {subject}\r\n\
         Message-ID: <re.{}@live.example>\r\nIn-Reply-To: <{}@live.example>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nStill slow after the reboot.\r\n\r\n\
         On Tue, help wrote:\r\n> did you reboot?\r\n",
        subject.replace(' ', "."),
        subject.replace(' ', ".")
    );
    let (code, out, err) = pipe(&g.dir, reply.as_bytes());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&ticket.id.to_string()), "{out}");
    let stored = rt.stored(ticket.id).await;
    assert_eq!(stored.updates.len(), 1, "{:?}", stored.updates);
    assert_eq!(stored.updates[0].kind, "Correspond");
    assert_eq!(
        stored.updates[0].text.trim_end(),
        "Still slow after the reboot.",
        "the quoted tail is trimmed"
    );
    assert_eq!(
        rt.ids_with_subject(&format!("Re: {subject}")).await,
        Vec::<u64>::new(),
        "no second ticket"
    );

    // ticketgate reads the thread back from RT: the first message is the body, the
    // entries follow with their kinds (RT records the API user as the writer, so a
    // correspondence through REST reads back as a response).
    let t = ok_json(
        v1(&g, Method::GET, &format!("/tickets/{id}"), None).await,
        200,
    )
    .await;
    assert_eq!(t["body"]["content"], "first", "{t}");
    let kinds: Vec<&str> = t["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["response", "note"], "{t}");
}

#[tokio::test]
async fn every_canonical_operation_against_rt() {
    let Some(env) = live::vendor(Vendor::Rt) else {
        return;
    };
    let rt = Rt::new(&env);
    rt_live::ensure_custom_field("tg Asset tag");
    let g = rt_gateway(&env);
    let subject = unique("rt ops");
    let opal = addr("opal");
    let t = ok_json(
        v1(
            &g,
            Method::POST,
            "/tickets",
            Some(json!({"subject": subject, "body": "It is burning",
                        "requester": {"name": "Opal Ops", "email": opal},
                        "priority": "high", "department": "General",
                        "due_at": "2031-01-02T03:04:05Z",
                        "custom_fields": {"tg asset tag": "AT-42"}})),
        )
        .await,
        201,
    )
    .await;
    let id = t["id"].as_str().expect("an id").to_owned();
    let n: u64 = id.parse().unwrap();
    assert_eq!(t["priority"]["level"], "high", "{t}");
    assert_eq!(t["department"]["name"], "General", "{t}");
    assert_eq!(t["due_at"], "2031-01-02T03:04:05Z", "{t}");
    assert_eq!(t["status"]["state"], "new", "{t}");
    let s = rt.stored(n).await;
    assert_eq!(s.priority, "75");
    assert_eq!(s.custom_fields["tg Asset tag"], ["AT-42"]);
    assert_eq!(t["custom_fields"]["tg Asset tag"], "AT-42", "{t}");
    // RT drops a custom field it does not know without a word: ticketgate refuses it.
    let unknown = unique("rt unknown cf");
    let p = ok_json(
        v1(
            &g,
            Method::POST,
            "/tickets",
            Some(
                json!({"subject": unknown, "body": "b", "requester": {"email": opal},
                        "custom_fields": {"No such field": "x"}}),
            ),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(p["field"], "custom_fields.No such field", "{p}");
    assert!(rt.ids_with_subject(&unknown).await.is_empty());

    // Update: subject, status (pending is RT's stalled), priority, owner.
    let t = ok_json(
        v1(
            &g,
            Method::PATCH,
            &format!("/tickets/{id}"),
            Some(
                json!({"subject": format!("{subject} (upd)"), "status": "pending",
                        "priority": "major", "assignee": "root"}),
            ),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(t["status"]["state"], "pending", "{t}");
    assert_eq!(t["status"]["name"], "stalled", "{t}");
    assert_eq!(t["assignee"]["name"], "root", "{t}");
    let s = rt.stored(n).await;
    assert_eq!(
        (
            s.subject.as_str(),
            s.status.as_str(),
            s.priority.as_str(),
            s.owner.as_str()
        ),
        (
            format!("{subject} (upd)").as_str(),
            "stalled",
            "100",
            "root"
        )
    );
    // RT answers 200 to a change it refuses; ticketgate reads back and says 400.
    let p = ok_json(
        v1(
            &g,
            Method::PATCH,
            &format!("/tickets/{id}"),
            Some(json!({"status": "no-such-status"})),
        )
        .await,
        400,
    )
    .await;
    assert!(
        p["detail"]
            .as_str()
            .is_some_and(|d| d.contains("isn't a valid status")),
        "{p}"
    );
    assert_eq!(p["field"], "status", "{p}");
    assert_eq!(rt.stored(n).await.status, "stalled");
    let p = ok_json(
        v1(
            &g,
            Method::PATCH,
            &format!("/tickets/{id}"),
            Some(json!({"assignee": "no-such-user"})),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(p["field"], "assignee", "{p}");
    // What RT has no place for is a 501, never dropped.
    let resp = v1(
        &g,
        Method::PATCH,
        &format!("/tickets/{id}"),
        Some(json!({"category": "Hardware"})),
    )
    .await;
    assert_eq!(resp.status(), 501);

    // Search: by text, state, requester, department; a window of one; 501 for a
    // filter RT lacks.
    let tag = subject.replace("rt ops ", "");
    for q in [
        format!("q={tag}"),
        format!("q={tag}&status=pending"),
        format!("requester={opal}&limit=100"),
        format!("q={tag}&department=General"),
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
    let page = ok_json(
        v1(
            &g,
            Method::GET,
            &format!("/tickets?q={tag}&status=resolved"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(page["total"], 0, "{page}");
    // Paging, over tickets of this test only (others create tickets meanwhile).
    let batch = unique("rt page").replace(' ', "-");
    for i in 0..3 {
        ok_json(
            v1(
                &g,
                Method::POST,
                "/tickets",
                Some(json!({"subject": format!("{batch} {i}"), "body": "b",
                            "requester": {"email": opal}})),
            )
            .await,
            201,
        )
        .await;
    }
    let page = |q: String| {
        let (g, batch) = (&g, &batch);
        async move {
            ok_json(
                v1(g, Method::GET, &format!("/tickets?q={batch}&{q}"), None).await,
                200,
            )
            .await
        }
    };
    let all = page("limit=3&offset=0&sort=number&order=asc".into()).await;
    assert_eq!(all["total"], 3, "{all}");
    let second = page("limit=1&offset=1&sort=number&order=asc".into()).await;
    assert_eq!(
        second["items"][0]["subject"],
        format!("{batch} 1"),
        "{second}"
    );
    assert_eq!(
        second["items"][0]["id"], all["items"][1]["id"],
        "{all} {second}"
    );
    assert_eq!(second["total"], 3);
    let past = page("limit=5&offset=1000000".into()).await;
    assert_eq!(past["items"], json!([]), "{past}");
    assert_eq!(past["total"], 3, "a window past the end: {past}");
    let resp = v1(&g, Method::GET, "/tickets?category=Hardware", None).await;
    assert_eq!(resp.status(), 501);

    // Take (assign), attach, resolve with a solution, close with a note.
    let t = ok_json(
        v1(
            &g,
            Method::POST,
            &format!("/tickets/{id}/assign"),
            Some(json!({"assignee": "Nobody"})),
        )
        .await,
        200,
    )
    .await;
    assert!(t.get("assignee").is_none_or(Value::is_null), "{t}");
    ok_json(
        v1(
            &g,
            Method::POST,
            &format!("/tickets/{id}/assign"),
            Some(json!({"assignee": "root"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(rt.stored(n).await.owner, "root");
    let resp = v1(
        &g,
        Method::POST,
        &format!("/tickets/{id}/assign"),
        Some(json!({"group": "Support"})),
    )
    .await;
    assert_eq!(resp.status(), 501);
    ok_json(
        v1(
            &g,
            Method::POST,
            &format!("/tickets/{id}/attachments"),
            Some(json!({"attachments": [{"name": "shot.bin", "media_type": "application/octet-stream",
                                         "bytes": B64.encode(file_bytes(5))}]})),
        )
        .await,
        201,
    )
    .await;
    let s = rt.stored(n).await;
    let last = s.updates.last().expect("the attachment's comment");
    assert_eq!(last.kind, "Comment");
    assert_eq!(last.files, [("shot.bin".to_owned(), file_bytes(5))]);
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
    assert!(t["solved_at"].is_string(), "{t}");
    let s = rt.stored(n).await;
    assert_eq!(s.status, "resolved");
    let last = s.updates.last().expect("the solution");
    assert_eq!(
        (last.kind.as_str(), last.text.trim_end()),
        ("Correspond", "replaced the fuser")
    );
    // Correspondence on a resolved ticket reopens it (RT's own scrip).
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
    assert_eq!(rt.stored(n).await.status, "open");
    // Close: RT's default lifecycle ends at resolved.
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
    assert_eq!(t["status"]["name"], "resolved", "{t}");
    let s = rt.stored(n).await;
    assert_eq!(s.status, "resolved");
    assert_eq!(s.updates.last().map(|u| u.kind.as_str()), Some("Comment"));

    // The full ticket: body, the attachment, every entry with its kind.
    let t = ok_json(
        v1(&g, Method::GET, &format!("/tickets/{id}"), None).await,
        200,
    )
    .await;
    assert_eq!(t["body"]["content"], "It is burning", "{t}");
    assert_eq!(
        t["requester"]["name"], "Opal Ops",
        "the requester is RT's user: {t}"
    );
    let kinds: Vec<&str> = t["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["note", "response", "response", "note"], "{t}");
    assert_eq!(
        t["entries"][0]["attachments"][0]["bytes"],
        B64.encode(file_bytes(5)),
        "{t}"
    );

    // Look-ups.
    let queues = ok_json(v1(&g, Method::GET, "/lookups/departments", None).await, 200).await;
    assert!(queues.to_string().contains("General"), "{queues}");
    let statuses = ok_json(v1(&g, Method::GET, "/lookups/statuses", None).await, 200).await;
    assert!(statuses.to_string().contains("stalled"), "{statuses}");
    let agents = ok_json(v1(&g, Method::GET, "/lookups/agents", None).await, 200).await;
    assert!(agents.to_string().contains("root"), "{agents}");
    let resp = v1(&g, Method::GET, "/lookups/categories", None).await;
    assert_eq!(resp.status(), 501);

    // An unknown department is a 400 naming the field; nothing is created.
    let bad = unique("rt bad dept");
    let p = ok_json(
        v1(
            &g,
            Method::POST,
            "/tickets",
            Some(
                json!({"subject": bad, "body": "b", "requester": {"email": "a@example.com"},
                        "department": "No such queue"}),
            ),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(p["field"], "department", "{p}");
    // A requester RT cannot file (no email, no RT user of that name) is a 400 too:
    // RT itself would create the ticket with no requestor at all.
    let p = ok_json(
        v1(
            &g,
            Method::POST,
            "/tickets",
            Some(json!({"subject": bad, "body": "b", "requester": {"name": "Nobody Known"}})),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(p["field"], "requester.email", "{p}");
    assert!(rt.ids_with_subject(&bad).await.is_empty());

    // Delete: RT's status `deleted`; twice is still deleted; purge is a 501; an unknown
    // ticket is a 404.
    for _ in 0..2 {
        let resp = v1(&g, Method::DELETE, &format!("/tickets/{id}"), None).await;
        assert!(resp.status().is_success(), "{}", resp.status());
        assert_eq!(rt.stored(n).await.status, "deleted");
    }
    let resp = v1(
        &g,
        Method::DELETE,
        &format!("/tickets/{id}?purge=true"),
        None,
    )
    .await;
    assert_eq!(resp.status(), 501);
    let resp = v1(&g, Method::GET, "/tickets/99999999", None).await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn subtickets_are_rt_member_of_links() {
    let Some(env) = live::vendor(Vendor::Rt) else {
        return;
    };
    let rt = Rt::new(&env);
    let g = rt_gateway(&env);
    let mut ids = Vec::new();
    for label in ["parent", "child a", "child b", "other parent"] {
        let t = ok_json(
            v1(
                &g,
                Method::POST,
                "/tickets",
                Some(
                    json!({"subject": unique(&format!("rt link {label}")), "body": "b",
                            "requester": {"email": "links@example.com"}}),
                ),
            )
            .await,
            201,
        )
        .await;
        ids.push(t["id"].as_str().expect("an id").to_owned());
    }
    let [parent, a, b, other] = [0, 1, 2, 3].map(|i| ids[i].clone());
    let num = |s: &str| s.parse::<u64>().expect("RT ids are numbers");

    // A create naming its parent, and a link made afterwards.
    let c = ok_json(
        v1(
            &g,
            Method::POST,
            "/tickets",
            Some(json!({"subject": unique("rt link child c"), "body": "b",
                        "requester": {"email": "links@example.com"}, "parent": parent})),
        )
        .await,
        201,
    )
    .await;
    let c_id = c["id"].as_str().expect("an id").to_owned();
    assert_eq!(c["parent"], parent.as_str(), "{c}");
    assert_eq!(rt.parents(num(&c_id)).await, [num(&parent)]);
    for child in [&a, &b] {
        let resp = v1(
            &g,
            Method::POST,
            &format!("/tickets/{parent}/children"),
            Some(json!({"child": child})),
        )
        .await;
        assert!(resp.status().is_success(), "{}", resp.status());
        assert_eq!(rt.parents(num(child)).await, [num(&parent)]);
    }
    let kids = ok_json(
        v1(
            &g,
            Method::GET,
            &format!("/tickets/{parent}/children"),
            None,
        )
        .await,
        200,
    )
    .await;
    let mut got: Vec<String> = kids
        .as_array()
        .or_else(|| kids["children"].as_array())
        .or_else(|| kids["items"].as_array())
        .unwrap_or_else(|| panic!("a list: {kids}"))
        .iter()
        .filter_map(|k| k["id"].as_str().map(str::to_owned))
        .collect();
    got.sort();
    let mut want = vec![a.clone(), b.clone(), c_id.clone()];
    want.sort();
    assert_eq!(got, want, "{kids}");
    let up = ok_json(
        v1(&g, Method::GET, &format!("/tickets/{a}/parent"), None).await,
        200,
    )
    .await;
    assert!(
        up.to_string().contains(&format!("\"id\":\"{parent}\"")),
        "{up}"
    );

    // RT would give a ticket a second parent; the canonical model has one: 409, and
    // RT is unchanged. A cycle is RT's own refusal, also a 409.
    let resp = v1(
        &g,
        Method::POST,
        &format!("/tickets/{other}/children"),
        Some(json!({"child": a})),
    )
    .await;
    assert_eq!(resp.status(), 409);
    assert_eq!(rt.parents(num(&a)).await, [num(&parent)]);
    let resp = v1(
        &g,
        Method::POST,
        &format!("/tickets/{a}/children"),
        Some(json!({"child": parent})),
    )
    .await;
    assert_eq!(
        resp.status(),
        409,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    assert!(rt.parents(num(&parent)).await.is_empty());

    // Unlink.
    let resp = v1(
        &g,
        Method::DELETE,
        &format!("/tickets/{parent}/children/{b}"),
        None,
    )
    .await;
    assert!(resp.status().is_success(), "{}", resp.status());
    assert!(rt.parents(num(&b)).await.is_empty());
    let t = ok_json(
        v1(&g, Method::GET, &format!("/tickets/{parent}"), None).await,
        200,
    )
    .await;
    let mut children: Vec<&str> = t["children"]
        .as_array()
        .expect("children")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    children.sort();
    let mut want = vec![a.as_str(), c_id.as_str()];
    want.sort();
    assert_eq!(children, want, "{t}");
}

#[tokio::test]
async fn check_probe_tells_a_good_token_a_refused_one_and_a_wrong_url_apart() {
    let Some(env) = live::vendor(Vendor::Rt) else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    let probe = |upstream: String| {
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, forwarding_config(&upstream, "")).expect("written");
        let out = Command::new(support::binary())
            .args(["check", "--probe", "--config"])
            .arg(&path)
            .output()
            .expect("check runs");
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (code, out) = probe(rt_upstream(&env));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("queue \"General\""), "{out}");
    let (code, out) = probe(rt_upstream(&env).replace(&env["RT_TOKEN"], "1-14-0000"));
    assert_eq!(code, Some(69), "{out}");
    assert!(out.contains("credentials"), "{out}");
    assert!(!out.contains("1-14-0000"), "the token is not shown: {out}");
    let (code, out) = probe(rt_upstream(&env).replace(&env["RT_URL"], "http://127.0.0.1:9"));
    assert_eq!(code, Some(69), "{out}");
    let (code, out) = probe(rt_upstream(&env).replace("queue = \"General\"", "queue = \"Nope\""));
    assert_eq!(code, Some(69), "a queue RT does not have: {out}");
}

#[test]
fn example_config_passes_check() {
    let env = [
        ("RT_URL", "https://rt.example.com"),
        ("RT_TOKEN", "1-14-63f495db2ac24f2c64aeaac9aa0c00fb"),
    ];
    let path = assert_example_checks("upstream-rt.toml", &env);
    let (ok, out) = check_config(&path, &env);
    assert!(ok, "{out}");
}
