//! Bad input everywhere: every route of every dialect, fed malformed and hostile
//! bodies with valid credentials, answers a client error in its dialect — never a 500,
//! never a dropped connection — and writes nothing.

mod support;

use std::time::Duration;
use support::{ALL_DIALECTS, Gateway, canonical_total};

const FUZZER: &str = r#"
[[consumers]]
name = "demo"
bearer_key = "demo-key"
osticket_key = "demo-key"
itsmng_user_token = "demo-user-token"
jwt_subject = "demo"
permissions = ["create", "read", "update", "search", "delete", "stats", "subtickets"]
networks = ["127.0.0.0/8"]
quota.create = { per_second = 100000.0, burst = 100000 }
quota.read = { per_second = 100000.0, burst = 100000 }
quota.write = { per_second = 100000.0, burst = 100000 }
quota.search = { per_second = 100000.0, burst = 100000 }
"#;

/// A small deterministic generator, so a failure names a reproducible body.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() & 0xff) as u8).collect()
    }
}

fn bodies() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("open brace".into(), b"{".to_vec()),
        ("array".into(), b"[1, 2, 3]".to_vec()),
        ("null".into(), b"null".to_vec()),
        ("string".into(), b"\"just a string\"".to_vec()),
        ("wrong types".into(), br#"{"subject": 5, "name": [], "email": {}, "message": false, "input": "x", "title": 7, "body": 1e999, "requester": "ann"}"#.to_vec()),
        ("huge number".into(), br#"{"subject": "x", "urgency": 99999999999999999999999, "priority": -1}"#.to_vec()),
        ("deep nesting".into(), format!("{}{}", "[".repeat(50_000), "]".repeat(50_000)).into_bytes()),
        ("deep xml".into(), format!("<ticket>{}{}</ticket>", "<a>".repeat(20_000), "</a>".repeat(20_000)).into_bytes()),
        ("entity bomb".into(), br#"<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><ticket subject="&c;"/>"#.to_vec()),
        ("bad utf-8".into(), b"{\"subject\": \"\xff\xfe\xfd\"}".to_vec()),
        ("nul bytes".into(), b"{\"subject\": \"a\x00b\"}\x00".to_vec()),
        ("not a mail".into(), b"\x00\x01\x02 From nowhere\r\n\r\n".to_vec()),
        ("bad multipart".into(), b"--nope\r\nContent-Disposition: form-data; name=\"Title\"\r\n\r\nx\r\n--other--".to_vec()),
        ("bad data url".into(), br#"{"name": "A", "email": "a@example.com", "subject": "s", "message": "data:text/plain;base64,!!!not-base64!!!"}"#.to_vec()),
    ];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for i in 0..6 {
        let n = 1 + (rng.next() % 4096) as usize;
        out.push((format!("random #{i}"), rng.bytes(n)));
    }
    out
}

#[tokio::test]
async fn no_route_of_any_dialect_answers_500_to_bad_input() {
    // One consumer with every credential and quotas no test burst reaches: a 429 here
    // would hide what the route does with the body.
    let g = Gateway::start(&format!(
        "{ALL_DIALECTS}\n[upstreams.embedded]\nkind = \"embedded\"\ndurability = \"normal\"\n{FUZZER}"
    ));
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let token = format!(
        "Bearer {}",
        ticketgate::dialects::ticketsapi::mint_hs256(
            b"demo-jwt-secret",
            "demo",
            &[
                "Tickets.Create",
                "Tickets.Update",
                "Tickets.Reply",
                "Tickets.Close",
                "Tickets.Resolve",
                "Tickets.Delete",
                "Tickets.Forward",
                "Tickets.Pickup",
            ],
            Duration::from_secs(600),
        )
    );
    // An ITSM-NG session to post with.
    let session: serde_json::Value = c
        .get(g.url("/apirest.php/initSession"))
        .header("Authorization", "user_token demo-user-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = session["session_token"].as_str().unwrap().to_owned();

    let bearer = ("Authorization", "Bearer demo-key".to_owned());
    let apikey = ("X-API-Key", "demo-key".to_owned());
    let itsm = ("Session-Token", session);
    let jwt = ("Authorization", token);
    let routes: Vec<(&str, &str, (&str, String), &str)> = vec![
        ("POST", "/v1/tickets", bearer.clone(), "application/json"),
        ("POST", "/v1/tickets", bearer.clone(), "application/xml"),
        ("POST", "/v1/tickets", bearer.clone(), "message/rfc822"),
        ("PATCH", "/v1/tickets/1", bearer.clone(), "application/json"),
        (
            "POST",
            "/v1/tickets/1/entries",
            bearer.clone(),
            "application/json",
        ),
        (
            "POST",
            "/v1/tickets/1/assign",
            bearer.clone(),
            "application/json",
        ),
        (
            "POST",
            "/v1/tickets/1/attachments",
            bearer.clone(),
            "application/json",
        ),
        (
            "POST",
            "/v1/tickets/1/children",
            bearer.clone(),
            "application/json",
        ),
        (
            "POST",
            "/api/tickets.json",
            apikey.clone(),
            "application/json",
        ),
        (
            "POST",
            "/api/tickets.xml",
            apikey.clone(),
            "application/xml",
        ),
        (
            "POST",
            "/api/tickets.email",
            apikey.clone(),
            "message/rfc822",
        ),
        (
            "PATCH",
            "/api/tickets-update.php/100001.json",
            apikey.clone(),
            "application/json",
        ),
        (
            "POST",
            "/apirest.php/Ticket",
            itsm.clone(),
            "application/json",
        ),
        (
            "PUT",
            "/apirest.php/Ticket/1",
            itsm.clone(),
            "application/json",
        ),
        (
            "POST",
            "/apirest.php/ITILFollowup",
            itsm.clone(),
            "application/json",
        ),
        (
            "POST",
            "/apirest.php/Document",
            itsm.clone(),
            "multipart/form-data; boundary=nope",
        ),
        ("POST", "/api/TicketsApi", jwt.clone(), "application/json"),
        (
            "POST",
            "/api/TicketsApi/register",
            jwt.clone(),
            "multipart/form-data; boundary=nope",
        ),
        (
            "POST",
            "/api/TicketsApi/register",
            jwt.clone(),
            "application/json",
        ),
        (
            "PUT",
            "/api/TicketsApi/update/1",
            jwt.clone(),
            "application/json",
        ),
        (
            "POST",
            "/api/TicketsApi/reply/1",
            jwt.clone(),
            "multipart/form-data; boundary=nope",
        ),
    ];
    let mut failures = Vec::new();
    let mut tried = 0;
    for (method, path, (header, value), content_type) in &routes {
        let mut reached_the_face = false;
        for (label, body) in bodies() {
            tried += 1;
            let resp = c
                .request(
                    reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                    g.url(path),
                )
                .header(*header, value.as_str())
                .header("Content-Type", *content_type)
                .body(body)
                .send()
                .await;
            match resp {
                Ok(r) if r.status().as_u16() < 500 => {
                    // Past authentication and quotas: the body itself was judged.
                    reached_the_face |= !matches!(r.status().as_u16(), 401 | 403 | 429);
                }
                Ok(r) => failures.push(format!(
                    "{method} {path} [{content_type}] with {label}: {}",
                    r.status()
                )),
                Err(e) => failures.push(format!(
                    "{method} {path} [{content_type}] with {label}: {e}"
                )),
            }
        }
        if !reached_the_face {
            failures.push(format!(
                "{method} {path}: every request was refused before its body was read"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {tried} bad requests were not answered as client errors:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(canonical_total(&g, "").await, 0, "bad input wrote nothing");
}
