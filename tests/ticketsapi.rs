//! TicketsApi end to end: two real gateways on loopback. Gateway A serves every
//! dialect over its embedded store; gateway B's default upstream is of kind
//! `ticketsapi` pointing at A (B mints HS256 tokens with A's secret), and B mounts
//! every dialect too. What B does is checked through A.

mod support;

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use std::time::Duration;
use support::{
    Gateway, assert_example_checks, assert_rate_limited, canonical_total, client,
    forwarding_config, fresh_client, get_json, in_a, new_ticket, ok_json, problem, serving_config,
    v1,
};
use ticketgate::dialects::ticketsapi::{ALL_TICKET_PERMISSIONS, mint_hs256};

const SECRET: &[u8] = b"demo-jwt-secret";

fn edge(a: &Gateway, client_extra: &str, extra: &str) -> Gateway {
    let upstream = format!(
        "kind = \"ticketsapi\"\nurl = \"http://{}\"\nhs256_secret = \"demo-jwt-secret\"\nsubject = \"demo\"\nconnect_timeout_ms = 1000\nrequest_timeout_ms = 5000\n{client_extra}",
        a.addr
    );
    Gateway::start(&forwarding_config(&upstream, extra))
}

/// A bearer token of `subject` with every permission claim but OnlyPrivate.
fn token(subject: &str) -> String {
    let grants: Vec<&str> = ALL_TICKET_PERMISSIONS
        .into_iter()
        .filter(|p| *p != "Tickets.OnlyPrivate")
        .collect();
    format!(
        "Bearer {}",
        mint_hs256(SECRET, subject, &grants, Duration::from_secs(600))
    )
}

/// ASP.NET's problem details: `application/problem+json` with a status.
async fn aspnet_problem(resp: reqwest::Response, status: u16) -> Value {
    let got = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(got, status, "{text}");
    assert!(ct.starts_with("application/problem+json"), "{ct}: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["status"], status, "{v}");
    assert!(v["title"].is_string(), "{v}");
    v
}

#[tokio::test]
async fn every_canonical_operation_through_b_lands_in_a() {
    let a = Gateway::start(&serving_config(""));
    let b = edge(&a, "", "");
    use reqwest::Method as M;

    let mut body = new_ticket("Tapi printer jams");
    body["department"] = json!("Billing");
    let t = ok_json(v1(&b, M::POST, "/tickets", Some(body)).await, 201).await;
    let id = t["id"].as_str().unwrap().to_owned();
    let t_a = in_a(&a, &id).await;
    assert_eq!(t_a["subject"], "Tapi printer jams");
    assert_eq!(t_a["requester"]["email"], "ann@example.com");
    assert_eq!(t_a["department"]["name"], "Billing", "{t_a}");

    let got = ok_json(v1(&b, M::GET, &format!("/tickets/{id}"), None).await, 200).await;
    assert_eq!(got["subject"], "Tapi printer jams");

    for i in 0..3 {
        ok_json(
            v1(
                &b,
                M::POST,
                "/tickets",
                Some(new_ticket(&format!("Tapi other {i}"))),
            )
            .await,
            201,
        )
        .await;
    }
    let page = ok_json(v1(&b, M::GET, "/tickets?q=tapi&limit=2", None).await, 200).await;
    assert_eq!(page["total"], 4, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(canonical_total(&a, "q=tapi").await, 4);
    let page = ok_json(v1(&b, M::GET, "/tickets?q=printer", None).await, 200).await;
    assert_eq!(page["total"], 1, "{page}");

    let t = ok_json(
        v1(
            &b,
            M::PATCH,
            &format!("/tickets/{id}"),
            Some(json!({"priority": 4, "department": 4})),
        )
        .await,
        200,
    )
    .await;
    assert!(t["priority"].is_object(), "{t}");
    let t_a = in_a(&a, &id).await;
    assert_eq!(t_a["department"]["name"], "IT", "{t_a}");
    assert_eq!(t_a["priority"]["id"], "4", "{t_a}");

    // A reply and a requester message go through; TicketsApi has no private notes.
    for (kind, text) in [("response", "Try tray 1"), ("message", "Still jamming")] {
        ok_json(
            v1(
                &b,
                M::POST,
                &format!("/tickets/{id}/entries"),
                Some(json!({"kind": kind, "body": text})),
            )
            .await,
            201,
        )
        .await;
        assert!(
            in_a(&a, &id).await["entries"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["kind"] == kind && e["body"]["content"] == text),
            "{kind}"
        );
    }
    problem(
        v1(
            &b,
            M::POST,
            &format!("/tickets/{id}/entries"),
            Some(json!({"kind": "note", "body": "Known model issue"})),
        )
        .await,
        501,
    )
    .await;
    assert!(
        !in_a(&a, &id).await["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["body"]["content"] == "Known model issue")
    );

    let t = ok_json(
        v1(
            &b,
            M::POST,
            &format!("/tickets/{id}/assign"),
            Some(json!({"assignee": "1"})),
        )
        .await,
        200,
    )
    .await;
    assert!(t["assignee"].is_object(), "{t}");
    assert_eq!(in_a(&a, &id).await["assignee"]["name"], "Sam Support");

    let att = ok_json(
        v1(
            &b,
            M::POST,
            &format!("/tickets/{id}/attachments"),
            Some(json!({"attachments": [{"name": "log.txt", "content_type": "text/plain", "data": "aGVsbG8gd29ybGQ="}]})),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(att["attachments"][0]["name"], "log.txt", "{att}");
    assert!(
        in_a(&a, &id).await["attachments"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x["name"] == "log.txt"))
    );

    // No subtickets, statistics or purge in TicketsApi: the canonical 501.
    let other = {
        let (_, p) = get_json(&a, "/v1/tickets?q=other").await;
        p["items"][0]["id"].as_str().unwrap().to_owned()
    };
    for (method, path, body) in [
        (
            M::POST,
            format!("/tickets/{id}/children"),
            Some(json!({"child": other})),
        ),
        (M::GET, format!("/tickets/{id}/children"), None),
        (M::GET, format!("/tickets/{id}/parent"), None),
        (M::DELETE, format!("/tickets/{id}/children/{other}"), None),
        (M::GET, "/stats".to_owned(), None),
        (M::DELETE, format!("/tickets/{other}?purge=true"), None),
    ] {
        problem(v1(&b, method, &path, body).await, 501).await;
    }
    in_a(&a, &other).await;

    let lk = ok_json(v1(&b, M::GET, "/lookups/departments", None).await, 200).await;
    assert!(
        lk["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == "Billing"),
        "{lk}"
    );
    ok_json(v1(&b, M::GET, "/lookups/statuses", None).await, 200).await;

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
    assert_eq!(t["status"]["state"], "resolved", "{t}");
    assert_eq!(in_a(&a, &id).await["status"]["state"], "resolved");
    ok_json(
        v1(&b, M::POST, &format!("/tickets/{id}/close"), None).await,
        200,
    )
    .await;
    assert_eq!(in_a(&a, &id).await["status"]["state"], "closed");

    let resp = v1(&b, M::DELETE, &format!("/tickets/{id}"), None).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(in_a(&a, &id).await["status"]["state"], "deleted");
}

fn form(fields: &[(&str, &str)]) -> Form {
    let mut f = Form::new();
    for (k, v) in fields {
        f = f.text(k.to_string(), v.to_string());
    }
    f
}

/// A TicketsApi client talking to B's face, through all the endpoints the seed
/// documents; B forwards to A in TicketsApi.
#[tokio::test]
async fn b_ticketsapi_face_forwards_to_a() {
    let a = Gateway::start(&serving_config(""));
    let b = edge(&a, "", "");
    let c = client();
    let bearer = token("demo");
    let url = |p: &str| b.url(&format!("/api/TicketsApi{p}"));

    // 15. New Ticket (integration).
    let resp = c
        .post(url("/new"))
        .header("Authorization", &bearer)
        .multipart(
            form(&[
                ("Title", "Face new"),
                ("Description", "from the integration"),
                ("Requester", "ann"),
                ("Email", "ann@example.com"),
                ("DepartmentId", "3"),
            ])
            .part(
                "Uploads",
                Part::bytes(b"log line".to_vec())
                    .file_name("trace.log")
                    .mime_str("text/plain")
                    .unwrap(),
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let v: Value = resp.json().await.unwrap();
    let id = v["id"].to_string().trim_matches('"').to_owned();
    assert!(
        location.ends_with(&format!("/api/TicketsApi/{id}")),
        "{location}"
    );
    let t_a = in_a(&a, &id).await;
    assert_eq!(t_a["subject"], "Face new");
    assert_eq!(t_a["department"]["name"], "Billing", "{t_a}");
    assert_eq!(t_a["attachments"][0]["name"], "trace.log", "{t_a}");

    // 3. Register.
    let resp = c
        .post(url("/register"))
        .header("Authorization", &bearer)
        .multipart(form(&[
            ("Title", "Face registered"),
            ("Description", "registered body"),
            ("CreatorId", "1"),
            ("SiteId", "1"),
            ("DepartmentId", "1"),
            ("TicketStatusId", "2"),
            ("TicketType", "Ticket"),
        ]))
        .send()
        .await
        .unwrap();
    let reg = ok_json(resp, 201).await;
    let reg_id = reg["id"].to_string().trim_matches('"').to_owned();
    let t_a = in_a(&a, &reg_id).await;
    assert_eq!(t_a["subject"], "Face registered");
    assert_eq!(t_a["status"]["state"], "open", "{t_a}");

    // 2. Get; 1. list; 16. list by username.
    let v = ok_json(
        c.get(url(&format!("/{id}")))
            .header("Authorization", &bearer)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        v["title"].as_str().or(v["subject"].as_str()),
        Some("Face new"),
        "{v}"
    );
    let v = ok_json(
        c.post(url(""))
            .header("Authorization", &bearer)
            .json(&json!({"page": 1, "length": 10, "search": "Face", "listType": "AllTickets"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");

    // 4. Update (with the current requester, as a TicketsApi client sends it);
    // 6. reply; 10. mark read; 11. add files.
    let current = ok_json(
        c.get(url(&format!("/{id}")))
            .header("Authorization", &bearer)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let creator = current["creatorId"]
        .as_str()
        .expect("a creatorId")
        .to_owned();
    let resp = c
        .post(url(&format!("/update/{id}")))
        .header("Authorization", &bearer)
        .multipart(form(&[
            ("Id", &id),
            ("CreatorId", &creator),
            ("TicketPriorityId", "4"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());
    assert_eq!(in_a(&a, &id).await["priority"]["id"], "4");
    let resp = c
        .post(url(&format!("/reply/{id}")))
        .header("Authorization", &bearer)
        .multipart(form(&[
            ("Id", &id),
            ("Title", "Re: Face new"),
            ("SendTo", "ann@example.com"),
            ("Message", "face reply"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert!(
        in_a(&a, &id).await["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["body"]["content"] == "face reply")
    );
    let resp = c
        .post(url(&format!("/addfiles/{id}")))
        .header("Authorization", &bearer)
        .multipart(
            Form::new().part(
                "Uploads",
                Part::bytes(b"%PDF-1.4".to_vec())
                    .file_name("more.pdf")
                    .mime_str("application/pdf")
                    .unwrap(),
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert!(
        in_a(&a, &id).await["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["name"] == "more.pdf")
    );
    let resp = c
        .post(url(&format!("/read/{id}")))
        .header("Authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // 5. Forward: ticketgate records a forward as an internal note (the canonical
    // model has no forward), and TicketsApi has no notes, so through a TicketsApi
    // upstream a forward is the honest 501. 17. Requester reply; 16. list by username.
    let resp = c
        .post(url(&format!("/forward/{id}")))
        .header("Authorization", &bearer)
        .multipart(form(&[
            ("Id", &id),
            ("Title", "Fwd: Face new"),
            ("SendTo", "vendor@example.com"),
            ("Message", "face forward"),
        ]))
        .send()
        .await
        .unwrap();
    aspnet_problem(resp, 501).await;
    let resp = c
        .post(url(&format!("/reqreply/{id}")))
        .header("Authorization", &bearer)
        .multipart(form(&[
            ("Id", &id),
            ("Username", "ann@example.com"),
            ("Title", "Re: Face new"),
            ("Message", "face requester reply"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let entries = in_a(&a, &id).await["entries"].clone();
    assert!(
        entries
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "message" && e["body"]["content"] == "face requester reply"),
        "{entries}"
    );
    assert!(
        !entries
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["body"]["content"]
                .as_str()
                .is_some_and(|c| c.contains("face forward"))),
        "a refused forward leaves nothing: {entries}"
    );
    let v = ok_json(
        c.post(url("/list"))
            .header("Authorization", &bearer)
            .multipart(form(&[("username", "ann"), ("page", "1")]))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert!(v.is_array(), "{v}");

    // 9. Pick up: the caller (sub "demo") becomes the technician. A's embedded store
    // knows the agents its configured consumers stand for, so "demo" is one.
    let resp = c
        .post(url(&format!("/pickup/{id}")))
        .header("Authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(in_a(&a, &id).await["assignee"]["name"], "demo");
    // A technician nobody configured is still a validation error, nothing assigned.
    let stranger = in_a(&a, &id).await;
    let resp = v1(
        &a,
        reqwest::Method::POST,
        &format!("/tickets/{id}/assign"),
        Some(json!({"assignee": "nobody-configured"})),
    )
    .await;
    problem(resp, 400).await;
    assert_eq!(in_a(&a, &id).await["assignee"], stranger["assignee"]);

    // 13/14. Metadata.
    let v = ok_json(
        c.get(url("/appmetadata"))
            .header("Authorization", &bearer)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert!(
        v["departments"].as_array().is_some_and(|d| !d.is_empty()),
        "{v}"
    );

    // 8. Resolve; 7. close; 12. delete.
    let resp = c
        .post(url(&format!("/resolve/{id}")))
        .header("Authorization", &bearer)
        .multipart(form(&[
            ("TicketId", &id),
            ("Details", "fixed it"),
            ("SubmitBy", "1"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(in_a(&a, &id).await["status"]["state"], "resolved");
    let resp = c
        .post(url(&format!("/close/{id}")))
        .header("Authorization", &bearer)
        .multipart(form(&[
            ("TicketId", &id),
            ("CloseBy", "1"),
            ("Comments", "done"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());
    assert_eq!(in_a(&a, &id).await["status"]["state"], "closed");
    let resp = c
        .delete(url(&format!("/{reg_id}")))
        .header("Authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(in_a(&a, &reg_id).await["status"]["state"], "deleted");
    assert_eq!(canonical_total(&a, "include_deleted=true").await, 2);
}

/// B's minted tokens live two seconds and A allows no clock skew: over a run longer
/// than several lifetimes, no call fails.
#[tokio::test]
async fn token_expiry_mid_run_is_survived_by_b() {
    let a_config = serving_config("").replace(
        "jwt.hs256_secret = \"demo-jwt-secret\"",
        "jwt.hs256_secret = \"demo-jwt-secret\"\njwt.leeway_secs = 0",
    );
    assert!(a_config.contains("leeway_secs = 0"));
    let a = Gateway::start(&a_config);
    let b = edge(&a, "token_ttl_secs = 2", "");
    use reqwest::Method as M;
    let t = ok_json(
        v1(&b, M::POST, "/tickets", Some(new_ticket("Token one"))).await,
        201,
    )
    .await;
    let id = t["id"].as_str().unwrap().to_owned();
    let start = std::time::Instant::now();
    let mut calls = 0;
    while start.elapsed() < Duration::from_millis(5500) {
        ok_json(v1(&b, M::GET, &format!("/tickets/{id}"), None).await, 200).await;
        calls += 1;
        tokio::time::sleep(Duration::from_millis(450)).await;
    }
    assert!(calls >= 8, "{calls}");
    // A really refuses an expired token of B's kind (no leeway).
    let expired = mint_hs256(SECRET, "demo", &["Tickets.Create"], Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let resp = client()
        .get(a.url(&format!("/api/TicketsApi/{id}")))
        .header("Authorization", format!("Bearer {expired}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    ok_json(
        v1(
            &b,
            M::POST,
            &format!("/tickets/{id}/entries"),
            Some(json!({"kind": "response", "body": "after expiry"})),
        )
        .await,
        201,
    )
    .await;
}

#[tokio::test]
async fn auth_permission_and_quota_errors_in_ticketsapi_shape() {
    let a = Gateway::start(&serving_config(""));
    let b = edge(&a, "", "");
    let c = client();
    let url = |p: &str| b.url(&format!("/api/TicketsApi{p}"));

    // No token, a forged token: 401 with a WWW-Authenticate challenge.
    for auth in [
        None,
        Some(format!(
            "Bearer {}",
            mint_hs256(
                b"another-secret",
                "demo",
                &["Tickets.Create"],
                Duration::from_secs(60)
            )
        )),
    ] {
        let mut r = c.get(url("/1"));
        if let Some(a) = &auth {
            r = r.header("Authorization", a);
        }
        let resp = r.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        let challenge = resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
    }
    problem(
        c.get(b.url("/v1/tickets"))
            .header("Authorization", "Bearer wrong")
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;

    // A token without the endpoint's claim, and a consumer without the permission.
    let no_claim = format!(
        "Bearer {}",
        mint_hs256(SECRET, "demo", &["Tickets.Reply"], Duration::from_secs(60))
    );
    let resp = c
        .delete(url("/1"))
        .header("Authorization", &no_claim)
        .send()
        .await
        .unwrap();
    aspnet_problem(resp, 403).await;
    let resp = c
        .post(url("/new"))
        .header("Authorization", token("reader"))
        .multipart(form(&[
            ("Title", "t"),
            ("Description", "d"),
            ("Requester", "ann"),
        ]))
        .send()
        .await
        .unwrap();
    aspnet_problem(resp, 403).await;

    // A burst beyond the quota.
    let burst = token("burst");
    let mut limited = None;
    for _ in 0..6 {
        let resp = c
            .get(url("/appmetadata"))
            .header("Authorization", &burst)
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            limited = Some(resp);
            break;
        }
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    }
    let resp = limited.expect("the burst ends in a 429");
    assert_rate_limited(&resp);
    aspnet_problem(resp, 429).await;
    assert_eq!(canonical_total(&a, "include_deleted=true").await, 0);
}

#[tokio::test]
async fn bad_input_is_refused_in_ticketsapi_shape_and_writes_nothing() {
    let a = Gateway::start(&serving_config(""));
    let b = edge(
        &a,
        "",
        "[limits]\nbody_bytes = 65536\nupload_bytes = 65536\n",
    );
    // Oversize bodies are refused unread and the connection dropped: no reuse.
    let c = fresh_client();
    let bearer = token("demo");
    let url = |p: &str| b.url(&format!("/api/TicketsApi{p}"));
    let raw = |path: &str, ct: &str, body: Vec<u8>| {
        c.post(url(path))
            .header("Authorization", &bearer)
            .header("Content-Type", ct.to_owned())
            .body(body)
            .send()
    };
    for (path, ct, body) in [
        (
            "/new",
            "multipart/form-data; boundary=XYZ",
            b"--XYZ\r\nContent-Disposition: form-data; name=\"Title\"\r\n\r\nT\r\n--XY".to_vec(),
        ),
        ("/new", "multipart/form-data", b"no boundary".to_vec()),
        ("", "application/json", b"{\"page\": ".to_vec()),
        (
            "",
            "application/json",
            br#"{"page": "first", "length": 10}"#.to_vec(),
        ),
    ] {
        let resp = raw(path, ct, body.clone()).await.unwrap();
        let status = resp.status().as_u16();
        assert_eq!(status, 400, "{path} {}", String::from_utf8_lossy(&body));
        aspnet_problem(resp, 400).await;
    }
    // Wrong types and missing fields on register.
    let resp = c
        .post(url("/register"))
        .header("Authorization", &bearer)
        .multipart(form(&[
            ("Title", "t"),
            ("Description", "d"),
            ("CreatorId", "1"),
            ("SiteId", "one"),
            ("DepartmentId", "1"),
            ("TicketStatusId", "1"),
            ("TicketType", "Ticket"),
        ]))
        .send()
        .await
        .unwrap();
    let v = aspnet_problem(resp, 400).await;
    assert!(v["errors"].is_object(), "{v}");
    let resp = c
        .post(url("/new"))
        .header("Authorization", &bearer)
        .multipart(form(&[("Description", "no title"), ("Requester", "ann")]))
        .send()
        .await
        .unwrap();
    aspnet_problem(resp, 400).await;
    // Oversize.
    let big = "x".repeat(100_000);
    let resp = c
        .post(url("/new"))
        .header("Authorization", &bearer)
        .multipart(form(&[
            ("Title", "big"),
            ("Description", &big),
            ("Requester", "ann"),
        ]))
        .send()
        .await
        .unwrap();
    aspnet_problem(resp, 413).await;
    assert_eq!(
        canonical_total(&a, "include_deleted=true").await,
        0,
        "nothing in A"
    );
}

#[test]
fn example_config_passes_check() {
    let env = [
        ("TICKETSAPI_URL", "https://help.example.com"),
        (
            "TICKETSAPI_JWT_SECRET",
            "a-long-shared-secret-of-the-helpdesk",
        ),
    ];
    assert_example_checks("upstream-ticketsapi.toml", &env);
}
