//! The Request Tracker face's answers, byte for byte where RT's clients read them, from
//! the real binary with the shipped `gateway.toml` over the embedded store: statuses,
//! `Location` headers, content types and `{"message": …}` errors as RT 5.0.3 sends them
//! (`../shared/fixtures/rt-observed.md`), paging, TicketSQL, and the mail gateway's
//! refusals. (RT's own clients are driven in `tests/rt_clients.rs`.)

mod support;

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use std::path::Path;
use support::{Gateway, client};

const TOKEN: &str = "token demo-rt-token";

fn shipped() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway.toml"))
        .expect("the shipped gateway.toml")
}

fn rest(g: &Gateway, path: &str) -> String {
    g.url(&format!("/REST/2.0/{path}"))
}

fn content_type(r: &reqwest::Response) -> String {
    r.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

async fn create(g: &Gateway, body: Value) -> reqwest::Response {
    client()
        .post(rest(g, "ticket"))
        .header("Authorization", TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn rest2_answers_as_rt_does() {
    let g = Gateway::start(&shipped());
    let c = client();

    // No or a wrong token: 401 {"message":"Unauthorized"}, and the body is not read.
    for auth in [None, Some("token wrong"), Some("Bearer demo-key")] {
        let mut req = c.get(rest(&g, "ticket/1"));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(content_type(&r), "application/json; charset=utf-8");
        assert_eq!(r.text().await.unwrap(), r#"{"message":"Unauthorized"}"#);
    }

    // HTTP Basic: the consumer's name and its token.
    let r = c
        .get(rest(&g, "queue/General"))
        .basic_auth("demo", Some("demo-rt-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(rest(&g, "queue/General"))
        .basic_auth("root", Some("demo-rt-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the token is not root's");

    // Create: 201, a relative Location, the id as a string.
    let r = create(
        &g,
        json!({"Queue": "General", "Subject": "Printer on fire", "Content": "It is really on fire.\nPlease help.",
               "Requestor": "alice@example.com", "Priority": 5}),
    )
    .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["location"], "/REST/2.0/ticket/1");
    assert_eq!(content_type(&r), "application/json; charset=utf-8");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], "1");
    assert_eq!(v["type"], "ticket");
    assert_eq!(v["_url"], format!("http://{}/REST/2.0/ticket/1", g.addr));

    // Get: the id a number, user ids are names, unset dates the epoch.
    let r = c
        .get(rest(&g, "ticket/1?fields[Queue]=Name"))
        .header("Authorization", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(content_type(&r), "application/json; charset=\"utf-8\"");
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["id"], 1);
    assert_eq!(t["Status"], "new");
    assert_eq!(t["Owner"]["id"], "Nobody");
    assert_eq!(t["Queue"]["Name"], "General");
    assert_eq!(t["Requestor"][0]["id"], "alice@example.com");
    assert_eq!(t["Due"], "1970-01-01T00:00:00Z");
    let refs: Vec<&str> = t["_hyperlinks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ref"].as_str().unwrap())
        .collect();
    assert_eq!(&refs[..4], ["self", "history", "correspond", "comment"]);
    assert!(refs.contains(&"lifecycle"));

    // Update: a list of RT's messages, sorted by field.
    let r = c
        .put(rest(&g, "ticket/1"))
        .header("Authorization", TOKEN)
        .json(&json!({"Subject": "Printer on fire (updated)", "Status": "open", "Owner": "demo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!([
            "Ticket 1: Owner changed from Nobody to demo",
            "Ticket 1: Status changed from 'new' to 'open'",
            "Ticket 1: Subject changed from 'Printer on fire' to 'Printer on fire (updated)'"
        ])
    );

    // Correspond with RT's JSON attachments, then comment as multipart (JSON field and
    // a file part): 201 and the transaction in Location.
    let r = c
        .post(rest(&g, "ticket/1/correspond"))
        .header("Authorization", TOKEN)
        .json(&json!({"Content": "We are on it.", "ContentType": "text/plain",
                      "Attachments": [{"FileName": "note.txt", "FileType": "text/plain", "FileContent": "aGVsbG8K"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["location"], "/REST/2.0/transaction/10002");
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!(["Correspondence added"])
    );
    let form = Form::new()
        .text("JSON", r#"{"Content": "internal note"}"#)
        .part(
            "Attachments",
            Part::bytes(vec![0u8, 1, 2, 3])
                .file_name("a.bin")
                .mime_str("application/octet-stream")
                .unwrap(),
        );
    let r = c
        .post(rest(&g, "ticket/1/comment"))
        .header("Authorization", TOKEN)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["location"], "/REST/2.0/transaction/10003");
    assert_eq!(r.json::<Value>().await.unwrap(), json!(["Comments added"]));

    // History, a transaction, an attachment (base64 as Perl writes it).
    let h: Value = c
        .get(rest(&g, "ticket/1/history?fields=Type"))
        .header("Authorization", TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["total"], 3);
    assert_eq!(h["per_page"], 20);
    let types: Vec<&str> = h["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Create", "Correspond", "Comment"]);
    let a: Value = c
        .get(rest(&g, "attachment/1000301"))
        .header("Authorization", TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a["Filename"], "a.bin");
    assert_eq!(a["Content"], "AAECAw==\n");
    assert_eq!(a["TransactionId"]["id"], "10003");

    // Errors in RT's words.
    let r = c
        .get(rest(&g, "ticket/999999"))
        .header("Authorization", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), r#"{"message":"Not Found"}"#);
    let r = create(&g, json!({"Queue": "NoSuchQueue", "Subject": "x"})).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"message":"No permission to create tickets in the queue 'NoSuchQueue'"}"#
    );
    let r = c
        .post(rest(&g, "ticket"))
        .header("Authorization", TOKEN)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.json::<Value>().await.unwrap()["message"].is_string());
    for (query, start) in [
        ("Foo = 'bar'", "Unknown field: Foo"),
        ("Subject LIKE", "Incomplete query"),
        (
            "id = 1 AND (Status = 'new'",
            "Incomplete query, 1 unclosed paren",
        ),
        ("Created > '2020-01-01'", "Unsupported field"),
    ] {
        let r = c
            .get(rest(&g, "tickets"))
            .query(&[("query", query)])
            .header("Authorization", TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{query}");
        let m = r.json::<Value>().await.unwrap();
        assert!(
            m["message"].as_str().unwrap().starts_with(start),
            "{query}: {m}"
        );
    }
    let r = c
        .get(rest(&g, "ticket"))
        .header("Authorization", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn ticketsql_search_pages_like_rt() {
    let g = Gateway::start(&shipped());
    let c = client();
    for i in 0..25 {
        let queue = if i % 5 == 0 { "Support" } else { "General" };
        let r = create(
            &g,
            json!({"Queue": queue, "Subject": format!("batch {i} {}", if i % 2 == 0 { "even" } else { "odd" }),
                   "Requestor": format!("user{}@example.com", i % 3)}),
        )
        .await;
        assert_eq!(r.status(), 201);
    }
    let search = |query: &str, extra: &[(&str, &str)]| {
        let mut params = vec![("query".to_owned(), query.to_owned())];
        params.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let c = c.clone();
        let url = rest(&g, "tickets");
        async move {
            let r = c
                .get(url)
                .query(&params)
                .header("Authorization", TOKEN)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    // Pushed down to the store and paged there, ids ascending by default.
    let p = search("Queue = 'General'", &[("per_page", "7"), ("page", "2")]).await;
    assert_eq!(p["total"], 20);
    assert_eq!(p["pages"], 3);
    assert_eq!(p["count"], 7);
    assert_eq!(p["items"][0]["id"], "10");
    assert!(p["next_page"].as_str().unwrap().contains("page=3"));
    assert!(p["prev_page"].as_str().unwrap().contains("page=1"));
    // Checked here: OR, LIKE, parentheses; the requested fields come along.
    let p = search(
        "(Subject LIKE 'even' OR Queue = 'Support') AND Requestor = 'user0@example.com'",
        &[("fields", "Subject")],
    )
    .await;
    let got: Vec<(&str, &str)> = p["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["id"].as_str().unwrap(), i["Subject"].as_str().unwrap()))
        .collect();
    // i = 0, 6, 12, 15 (Support), 18, 24: requester user0 and (even or Support).
    assert_eq!(
        got,
        [
            ("1", "batch 0 even"),
            ("7", "batch 6 even"),
            ("13", "batch 12 even"),
            ("16", "batch 15 odd"),
            ("19", "batch 18 even"),
            ("25", "batch 24 even")
        ]
    );
    assert_eq!(search("id = 3 OR id = 4", &[]).await["total"], 2);
    assert_eq!(search("id > 20 AND Status = 'new'", &[]).await["total"], 5);
    assert_eq!(search("Status = 'rejected'", &[]).await["total"], 0);
    assert_eq!(
        search("Owner = 'Nobody' AND Subject NOT LIKE 'batch'", &[]).await["total"],
        0
    );
    // per_page above 100 is 100, as in RT.
    assert_eq!(
        search("Queue = 'General'", &[("per_page", "1000")]).await["per_page"],
        100
    );
}

#[tokio::test]
async fn the_mail_gateway_refuses_in_rt_mailgate_words() {
    let g = Gateway::start(&shipped());
    let url = g.url("/REST/1.0/NoAuth/mail-gateway");
    // Not a form: the message can never be read, `not ok` (rt-mailgate exits 0).
    let r = client().post(&url).body("hello").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(content_type(&r), "text/plain; charset=utf-8");
    assert!(r.text().await.unwrap().starts_with("not ok - "));
    // A form without a message.
    let r = client()
        .post(&url)
        .multipart(
            Form::new()
                .text("queue", "General")
                .text("action", "correspond"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "not ok - no message\n");
    // A good one.
    let mail =
        "From: f@example.com\r\nSubject: via form\r\nMessage-ID: <f1@example.com>\r\n\r\nhello\r\n";
    let r = client()
        .post(&url)
        .multipart(
            Form::new()
                .text("queue", "General")
                .text("action", "correspond")
                .part("message", Part::bytes(mail.as_bytes().to_vec())),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "ok\n");
}
