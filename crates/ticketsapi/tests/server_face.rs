//! The server face over raw HTTP: bad tokens, missing permission claims, bad
//! multipart, disallowed files — each a clear 4xx with nothing written — and the
//! status codes and headers the seed documents.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{AGENT, READER, SECRET};
use reqwest::multipart::{Form, Part};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};
use ticketgate_model::{Helpdesk, State};
use ticketgate_ticketsapi::jwt::{self, MintClaims, SigningKeyRef};
use ticketgate_ticketsapi::{ALL_TICKET_PERMISSIONS, ServerConfig};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Claims<'a> {
    sub: &'a str,
    exp_in: i64,
    aud: Option<&'a str>,
    perms: &'a [&'a str],
}

fn hs(secret: &str, c: Claims<'_>) -> String {
    let n = now();
    jwt::mint(
        SigningKeyRef::Hs256(secret.as_bytes()),
        &MintClaims {
            sub: c.sub,
            iat: n,
            nbf: n,
            exp: n + c.exp_in,
            iss: None,
            aud: c.aud,
            permissions: c.perms,
        },
        "permission",
    )
}

/// Every permission but `Tickets.OnlyPrivate`, which narrows lists to own tickets.
const AGENT_PERMISSIONS: [&str; 8] = [
    "Tickets.Create",
    "Tickets.Update",
    "Tickets.Forward",
    "Tickets.Reply",
    "Tickets.Close",
    "Tickets.Resolve",
    "Tickets.Pickup",
    "Tickets.Delete",
];

fn agent_token() -> String {
    hs(
        SECRET,
        Claims {
            sub: AGENT,
            exp_in: 300,
            aud: None,
            perms: &AGENT_PERMISSIONS,
        },
    )
}

fn register_form() -> Form {
    Form::new()
        .text("Title", "Printer jams")
        .text("Description", "Every morning")
        .text("CreatorId", "u-1")
        .text("SiteId", "1")
        .text("DepartmentId", "1")
        .text("TicketStatusId", "1")
        .text("TicketType", "Ticket")
}

async fn problem(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status.is_client_error() {
        assert!(ct.starts_with("application/problem+json"), "{ct}");
        assert_eq!(body["status"], json!(status.as_u16()));
    }
    (status, body)
}

#[tokio::test]
async fn bad_tokens_are_401_and_write_nothing() {
    let mut config = common::config(0);
    config.jwt.audience = Some("ticketgate-tests".into());
    let h = common::start(config).await;
    let http = Client::new();
    let good = |aud| {
        hs(
            SECRET,
            Claims {
                sub: AGENT,
                exp_in: 300,
                aud,
                perms: &ALL_TICKET_PERMISSIONS,
            },
        )
    };
    let private = jwt::parse_private_key_pem(&common::private_pem()).unwrap();
    let n = now();
    let rs256 = jwt::mint(
        SigningKeyRef::Rs256(&private),
        &MintClaims {
            sub: AGENT,
            iat: n,
            nbf: n,
            exp: n + 300,
            iss: None,
            aud: Some("ticketgate-tests"),
            permissions: &ALL_TICKET_PERMISSIONS,
        },
        "permission",
    );
    let unsigned = {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(
            json!({"sub": AGENT, "exp": n + 300, "aud": "ticketgate-tests",
                   "permission": ALL_TICKET_PERMISSIONS})
            .to_string(),
        );
        format!("{header}.{payload}.")
    };
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        (
            "wrong signature",
            Some(hs(
                "not-the-secret",
                Claims {
                    sub: AGENT,
                    exp_in: 300,
                    aud: Some("ticketgate-tests"),
                    perms: &ALL_TICKET_PERMISSIONS,
                },
            )),
        ),
        (
            "expired",
            Some(hs(
                SECRET,
                Claims {
                    sub: AGENT,
                    exp_in: -10,
                    aud: Some("ticketgate-tests"),
                    perms: &ALL_TICKET_PERMISSIONS,
                },
            )),
        ),
        ("wrong audience", Some(good(Some("someone-else")))),
        ("no audience", Some(good(None))),
        ("alg none", Some(unsigned)),
        ("RS256 when only HS256 is configured", Some(rs256)),
        ("garbage", Some("a.b.c".into())),
        (
            "unknown subject",
            Some(hs(
                SECRET,
                Claims {
                    sub: "stranger",
                    exp_in: 300,
                    aud: Some("ticketgate-tests"),
                    perms: &ALL_TICKET_PERMISSIONS,
                },
            )),
        ),
    ];
    for (what, token) in cases {
        let mut req = http
            .post(h.endpoint("/register"))
            .multipart(register_form());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        assert!(
            resp.headers()
                .get("www-authenticate")
                .is_some_and(|v| v.to_str().unwrap().starts_with("Bearer")),
            "{what}"
        );
        let (status, body) = problem(resp).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
    }
    assert!(h.all_tickets().await.is_empty());
    // The right audience gets in.
    let resp = http
        .post(h.endpoint("/register"))
        .bearer_auth(good(Some("ticketgate-tests")))
        .multipart(register_form())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn rs256_tokens_verify_with_the_configured_public_key() {
    let mut config = ServerConfig::default();
    config.jwt.rs256_public_key_pem = Some(common::public_pem());
    let h = common::start(config).await;
    let private = jwt::parse_private_key_pem(&common::private_pem()).unwrap();
    let n = now();
    let token = jwt::mint(
        SigningKeyRef::Rs256(&private),
        &MintClaims {
            sub: AGENT,
            iat: n,
            nbf: n,
            exp: n + 60,
            iss: None,
            aud: None,
            permissions: &["Tickets.Create"],
        },
        "permission",
    );
    let resp = Client::new()
        .post(h.endpoint("/register"))
        .bearer_auth(&token)
        .multipart(register_form())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    // HS256 is refused where only RS256 is configured.
    let resp = Client::new()
        .get(h.endpoint("/appmetadata"))
        .bearer_auth(agent_token())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(
        ticketgate_ticketsapi::TicketsApiServer::new(ServerConfig {
            jwt: ticketgate_ticketsapi::JwtConfig {
                rs256_public_key_pem: Some("-----BEGIN PUBLIC KEY-----\nnope\n".into()),
                ..Default::default()
            },
            ..ServerConfig::default()
        })
        .unwrap_err()
        .contains("jwt.rs256_public_key_pem")
    );
}

#[tokio::test]
async fn missing_permissions_are_403_and_write_nothing() {
    let h = common::start(common::config(0)).await;
    let http = Client::new();
    // The token lacks Tickets.Create.
    let token = hs(
        SECRET,
        Claims {
            sub: AGENT,
            exp_in: 300,
            aud: None,
            perms: &["Tickets.Update"],
        },
    );
    let resp = http
        .post(h.endpoint("/register"))
        .bearer_auth(&token)
        .multipart(register_form())
        .send()
        .await
        .unwrap();
    let (status, body) = problem(resp).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("Tickets.Create"));
    // The token has it, but the gateway's consumer may only read.
    let token = hs(
        SECRET,
        Claims {
            sub: READER,
            exp_in: 300,
            aud: None,
            perms: &ALL_TICKET_PERMISSIONS,
        },
    );
    let resp = http
        .post(h.endpoint("/register"))
        .bearer_auth(&token)
        .multipart(register_form())
        .send()
        .await
        .unwrap();
    assert_eq!(problem(resp).await.0, StatusCode::FORBIDDEN);
    assert!(h.all_tickets().await.is_empty());
    // A token with no permission claim at all.
    let n = now();
    let single = jwt::mint(
        SigningKeyRef::Hs256(SECRET.as_bytes()),
        &MintClaims {
            sub: AGENT,
            iat: n,
            nbf: n,
            exp: n + 60,
            iss: None,
            aud: None,
            permissions: &[],
        },
        "unused",
    );
    let resp = http
        .post(h.endpoint("/register"))
        .bearer_auth(&single)
        .multipart(register_form())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn multipart_limits_and_file_types() {
    let mut config = common::config(0);
    config.max_parts = 10;
    config.max_part_bytes = 1024;
    config.max_total_bytes = 4096;
    let h = common::start(config).await;
    let http = Client::new();
    let token = agent_token();
    // A part over the limit.
    let resp = http
        .post(h.endpoint("/register"))
        .bearer_auth(&token)
        .multipart(register_form().part(
            "Uploads",
            Part::bytes(vec![b'x'; 2000]).file_name("big.txt"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(resp).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    // Too many parts.
    let mut many = register_form();
    for i in 0..5 {
        many = many.text(format!("Extra{i}"), "x");
    }
    let resp = http
        .post(h.endpoint("/register"))
        .bearer_auth(&token)
        .multipart(many)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(resp).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    // Malformed: no closing boundary.
    let resp = http
        .post(h.endpoint("/register"))
        .bearer_auth(&token)
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body("--XYZ\r\nContent-Disposition: form-data; name=\"Title\"\r\n\r\nx")
        .send()
        .await
        .unwrap();
    let (status, body) = problem(resp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Malformed: no boundary parameter.
    let resp = http
        .post(h.endpoint("/register"))
        .bearer_auth(&token)
        .header("content-type", "multipart/form-data")
        .body("whatever")
        .send()
        .await
        .unwrap();
    assert_eq!(problem(resp).await.0, StatusCode::BAD_REQUEST);
    assert!(h.all_tickets().await.is_empty());

    // A ticket to add files to.
    let resp = http
        .post(h.endpoint("/register"))
        .bearer_auth(&token)
        .multipart(register_form())
        .send()
        .await
        .unwrap();
    let created: Value = resp.json().await.unwrap();
    let id = created["id"].as_i64().unwrap();
    // Only disallowed files: a 400 naming Uploads, nothing attached.
    let resp = http
        .post(h.endpoint(&format!("/addfiles/{id}")))
        .bearer_auth(&token)
        .multipart(Form::new().part("Uploads", Part::bytes(b"MZ".to_vec()).file_name("x.exe")))
        .send()
        .await
        .unwrap();
    let (status, body) = problem(resp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["errors"]["Uploads"][0]
            .as_str()
            .unwrap()
            .contains("x.exe")
    );
    let t = h.store.get(&id.to_string()).await.unwrap();
    assert!(t.attachments.is_empty());
    // Mixed: the allowed file is kept, the other skipped silently.
    let resp = http
        .post(h.endpoint(&format!("/addfiles/{id}")))
        .bearer_auth(&token)
        .multipart(
            Form::new()
                .part("Uploads", Part::bytes(b"MZ".to_vec()).file_name("x.exe"))
                .part(
                    "Uploads",
                    Part::bytes(b"ok".to_vec()).file_name("notes.TXT"),
                ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let stored: Value = resp.json().await.unwrap();
    assert_eq!(stored.as_array().unwrap().len(), 1);
    let t = h.store.get(&id.to_string()).await.unwrap();
    let names: Vec<&str> = t.attachments.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, vec!["notes.TXT"]);
}

#[tokio::test]
async fn endpoints_answer_as_the_seed_documents() {
    let h = common::start(common::config(0)).await;
    let http = Client::new();
    let token = agent_token();
    let auth = |r: reqwest::RequestBuilder| r.bearer_auth(&token);

    // register: 201 + Location.
    let resp = auth(http.post(h.endpoint("/register")))
        .multipart(register_form().text("Cc", "boss@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = resp.json().await.unwrap();
    let id = created["id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/TicketsApi/{id}"));
    assert_eq!(created["source"], "Manual");
    assert_eq!(created["status"]["statusType"], "New");
    let guid = created["guid"].as_str().unwrap();
    assert_eq!((guid.len(), &guid[14..15]), (36, "4"), "{guid}");

    // Validation: ASP.NET-style errors map.
    let resp = auth(http.post(h.endpoint("/register")))
        .multipart(Form::new().text("Description", "d"))
        .send()
        .await
        .unwrap();
    let (status, body) = problem(resp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["title"], "One or more validation errors occurred.");
    assert!(body["errors"]["Title"].is_array(), "{body}");
    // An unknown id from the helpdesk is a 400 on the vendor's field name.
    let resp = auth(http.post(h.endpoint("/register")))
        .multipart(
            Form::new()
                .text("Title", "t")
                .text("Description", "d")
                .text("CreatorId", "u")
                .text("SiteId", "1")
                .text("DepartmentId", "77")
                .text("TicketStatusId", "1")
                .text("TicketType", "Ticket"),
        )
        .send()
        .await
        .unwrap();
    let (status, body) = problem(resp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["errors"]["DepartmentId"].is_array(), "{body}");
    assert_eq!(h.all_tickets().await.len(), 1);

    // get: 200 / 404.
    let resp = auth(http.get(h.endpoint(&format!("/{id}"))))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = auth(http.get(h.endpoint("/424242"))).send().await.unwrap();
    assert_eq!(problem(resp).await.0, StatusCode::NOT_FOUND);

    // update: 204; an id mismatch and an unknown ticket are 400s.
    let resp = auth(http.post(h.endpoint(&format!("/update/{id}"))))
        .multipart(
            Form::new()
                .text("CreatorId", "u-1")
                .text("TicketPriorityId", "4")
                .text("TicketStatusId", "2"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let t = h.store.get(&id.to_string()).await.unwrap();
    assert_eq!(t.priority.unwrap().name.as_deref(), Some("High"));
    assert_eq!(t.status.state, State::Open);
    let resp = auth(http.post(h.endpoint(&format!("/update/{id}"))))
        .multipart(Form::new().text("Id", "999").text("CreatorId", "u-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(resp).await.0, StatusCode::BAD_REQUEST);
    let resp = auth(http.post(h.endpoint("/update/424242")))
        .multipart(Form::new().text("CreatorId", "u-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(resp).await.0, StatusCode::BAD_REQUEST);

    // list: JSON TicketTable; an unanswerable list type is a clear 400.
    let resp = auth(http.post(h.endpoint("")))
        .json(&json!({"page": 1, "length": 10, "listType": "AllTickets"}))
        .send()
        .await
        .unwrap();
    let rows: Value = resp.json().await.unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["priority"], "High");
    // Tickets.OnlyPrivate narrows the list to the caller's own requests: none here.
    let private = hs(
        SECRET,
        Claims {
            sub: AGENT,
            exp_in: 300,
            aud: None,
            perms: &ALL_TICKET_PERMISSIONS,
        },
    );
    let rows: Value = http
        .post(h.endpoint(""))
        .bearer_auth(&private)
        .json(&json!({"listType": "AllTickets"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rows, json!([]));
    let resp = auth(http.post(h.endpoint("")))
        .json(&json!({"listType": "OverdueTickets"}))
        .send()
        .await
        .unwrap();
    let (status, body) = problem(resp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["errors"]["listType"].is_array());

    // forward and reply are recorded as conversations.
    let resp = auth(http.post(h.endpoint(&format!("/forward/{id}"))))
        .multipart(
            Form::new()
                .text("Id", id.to_string())
                .text("Title", "FYI")
                .text("SendTo", "vendor@example.com")
                .text("Message", "Please look"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = auth(http.post(h.endpoint(&format!("/reply/{id}"))))
        .multipart(
            Form::new()
                .text("Id", id.to_string())
                .text("Title", "Re")
                .text("SendTo", "not-an-address"),
        )
        .send()
        .await
        .unwrap();
    let (status, body) = problem(resp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["errors"]["SendTo"].is_array());
    let t = h.store.get(&id.to_string()).await.unwrap();
    assert_eq!(t.entries.len(), 1);
    assert!(
        t.entries[0]
            .body
            .content
            .starts_with("Forwarded to vendor@example.com")
    );

    // pickup: 200, assigned to the caller.
    let resp = auth(http.post(h.endpoint(&format!("/pickup/{id}"))))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let t = h.store.get(&id.to_string()).await.unwrap();
    assert_eq!(t.assignee.unwrap().id.as_deref(), Some(AGENT));

    // close: 204, then 200 "already closed"; 404 for no such ticket.
    let closure = || {
        Form::new()
            .text("TicketId", id.to_string())
            .text("CloseBy", "u-1")
            .text("Comments", "done")
    };
    let resp = auth(http.post(h.endpoint(&format!("/close/{id}"))))
        .multipart(closure())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = auth(http.post(h.endpoint(&format!("/close/{id}"))))
        .multipart(closure())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = auth(http.post(h.endpoint("/close/424242")))
        .multipart(
            Form::new()
                .text("TicketId", "424242")
                .text("CloseBy", "u-1"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(problem(resp).await.0, StatusCode::NOT_FOUND);

    // metadata / appmetadata
    let m: Value = auth(http.get(h.endpoint("/metadata")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        m["status"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["statusType"] == "Resolved")
    );
    assert!(m["technicians"].is_array() && m["requesters"].is_array());
    let m: Value = auth(http.get(h.endpoint(&format!("/metadata/{id}"))))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(m["requesters"].is_null() && m["sub_categories"].is_array());
    let m: Value = auth(http.get(h.endpoint("/appmetadata")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["sites"][0]["title"], "Headquarters");
    assert!(m["technicians"].is_null());

    // new (integration), list by username, reqreply.
    let resp = auth(http.post(h.endpoint("/new")))
        .multipart(
            Form::new()
                .text("Title", "From the portal")
                .text("Description", "d")
                .text("Requester", "ann")
                .text("Email", "ann@example.com"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let t2: Value = resp.json().await.unwrap();
    let id2 = t2["id"].as_i64().unwrap();
    assert_eq!(t2["source"], "Api");
    let rows: Value = auth(http.post(h.endpoint("/list")))
        .multipart(Form::new().text("username", "ann"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["id"], json!(id2));
    let resp = auth(http.post(h.endpoint(&format!("/reqreply/{id2}"))))
        .multipart(
            Form::new()
                .text("Id", id2.to_string())
                .text("Username", "bob")
                .text("Title", "Re"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(problem(resp).await.0, StatusCode::BAD_REQUEST);

    // resolve, read, delete.
    let resp = auth(http.post(h.endpoint(&format!("/resolve/{id2}"))))
        .multipart(
            Form::new()
                .text("TicketId", id2.to_string())
                .text("Details", "Fixed")
                .text("SubmitBy", "u-1"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let model: Value = resp.json().await.unwrap();
    assert_eq!(model["resolution"]["details"], "Fixed");
    let resp = auth(http.post(h.endpoint(&format!("/read/{id2}"))))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = auth(http.delete(h.endpoint(&format!("/{id2}"))))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let model: Value = resp.json().await.unwrap();
    assert_eq!(model["isDeleted"], true);

    // A known route with the wrong verb is a 405; an unknown one a 404.
    let resp = auth(http.get(h.endpoint("/register")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = auth(http.put(h.endpoint(&format!("/{id}"))))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let resp = auth(http.get(h.endpoint("/a/b/c"))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unavailable_upstream_is_503_with_retry_after() {
    let h = common::start_with(common::config(0), true).await;
    let http = Client::new();
    let resp = http
        .get(h.endpoint("/5"))
        .bearer_auth(agent_token())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().get("retry-after").is_some());
    let resp = http
        .post(h.endpoint("/register"))
        .bearer_auth(agent_token())
        .multipart(register_form())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn list_search_by_ticket_id_finds_the_id_clients_see() {
    let h = common::start(common::config(0)).await;
    let http = Client::new();
    let token = agent_token();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let created: Value = http
            .post(h.endpoint("/register"))
            .bearer_auth(&token)
            .multipart(register_form())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(created["id"].as_i64().unwrap());
    }
    let rows: Value = http
        .post(h.endpoint(""))
        .bearer_auth(&token)
        .json(&json!({"search": ids[1].to_string(), "filterBy": "TicketId"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["id"], json!(ids[1]));
    // Paging: newest first, two per page.
    let rows: Value = http
        .post(h.endpoint(""))
        .bearer_auth(&token)
        .json(&json!({"page": 2, "length": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["id"], json!(ids[0]));
}
