//! ITSM-NG end to end: two real gateways on loopback. Gateway A serves every dialect
//! over its embedded store; gateway B's default upstream is of kind `itsmng` pointing
//! at A's `apirest.php`, and B mounts every dialect too. What B does is checked
//! through A.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::{
    Gateway, assert_example_checks, assert_rate_limited, canonical_total, client,
    forwarding_config, fresh_client, get_json, in_a, new_ticket, ok_json, problem, serving_config,
    v1,
};

const DEMO: &str = "Bearer demo-key";

fn upstream(a_addr: &str) -> String {
    format!(
        "kind = \"itsmng\"\nurl = \"http://{a_addr}/apirest.php\"\nuser_token = \"demo-user-token\"\nconnect_timeout_ms = 1000\nrequest_timeout_ms = 5000"
    )
}

fn edge(a: &Gateway, extra: &str) -> Gateway {
    Gateway::start(&forwarding_config(&upstream(&a.addr), extra))
}

/// An ITSM-NG error body: `["ERROR_…", "message"]`.
async fn itsm_error(resp: reqwest::Response, status: u16) -> (String, String) {
    let got = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(got, status, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    let code = v[0]
        .as_str()
        .unwrap_or_else(|| panic!("not an ITSM-NG error: {text}"));
    assert!(code.starts_with("ERROR"), "{text}");
    assert!(v[1].is_string(), "{text}");
    (code.to_owned(), v[1].as_str().unwrap().to_owned())
}

async fn init_session(g: &Gateway, user_token: &str) -> String {
    let resp = client()
        .get(g.url("/apirest.php/initSession"))
        .header("Content-Type", "application/json")
        .header("Authorization", format!("user_token {user_token}"))
        .send()
        .await
        .unwrap();
    let v = ok_json(resp, 200).await;
    v["session_token"]
        .as_str()
        .expect("a session token")
        .to_owned()
}

#[tokio::test]
async fn every_canonical_operation_through_b_lands_in_a() {
    let a = Gateway::start(&serving_config(""));
    let b = edge(&a, "");
    use reqwest::Method as M;

    let mut body = new_ticket("Itsm printer jams");
    body["category"] = json!("Hardware");
    body["urgency"] = json!(4);
    let t = ok_json(v1(&b, M::POST, "/tickets", Some(body)).await, 201).await;
    let id = t["id"].as_str().unwrap().to_owned();
    let t_a = in_a(&a, &id).await;
    assert_eq!(t_a["subject"], "Itsm printer jams");
    assert_eq!(t_a["category"]["name"], "Hardware", "{t_a}");
    assert_eq!(t_a["body"]["content"], "the details of it");

    let got = ok_json(v1(&b, M::GET, &format!("/tickets/{id}"), None).await, 200).await;
    assert_eq!(got["subject"], "Itsm printer jams");
    // ITSM-NG has no display number apart from the id.
    assert_eq!(got["id"], t_a["id"]);

    for i in 0..3 {
        ok_json(
            v1(
                &b,
                M::POST,
                "/tickets",
                Some(new_ticket(&format!("Itsm other {i}"))),
            )
            .await,
            201,
        )
        .await;
    }
    let page = ok_json(
        v1(&b, M::GET, "/tickets?q=itsm&limit=2&sort=number", None).await,
        200,
    )
    .await;
    assert_eq!(page["total"], 4, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(canonical_total(&a, "q=itsm").await, 4);
    let page = ok_json(
        v1(&b, M::GET, "/tickets?q=printer&category=Hardware", None).await,
        200,
    )
    .await;
    assert_eq!(page["total"], 1, "{page}");

    let t = ok_json(
        v1(
            &b,
            M::PATCH,
            &format!("/tickets/{id}"),
            Some(json!({"subject": "Itsm printer jams daily", "impact": 4})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(t["subject"], "Itsm printer jams daily");
    assert_eq!(in_a(&a, &id).await["subject"], "Itsm printer jams daily");

    for (kind, text) in [("response", "Try tray 1"), ("note", "Known model issue")] {
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
    }
    let t_a = in_a(&a, &id).await;
    let entries = t_a["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["kind"] == "response" && e["body"]["content"] == "Try tray 1"),
        "{entries:?}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["kind"] == "note" && e["body"]["content"] == "Known model issue"),
        "{entries:?}"
    );

    let t = ok_json(
        v1(
            &b,
            M::POST,
            &format!("/tickets/{id}/assign"),
            Some(json!({"assignee": "Sam Support", "group": "Second Line"})),
        )
        .await,
        200,
    )
    .await;
    assert!(t["assignee"].is_object(), "{t}");
    let t_a = in_a(&a, &id).await;
    assert_eq!(t_a["assignee"]["name"], "Sam Support", "{t_a}");
    assert_eq!(t_a["group"]["name"], "Second Line", "{t_a}");

    let resp = v1(
        &b,
        M::POST,
        &format!("/tickets/{id}/attachments"),
        Some(json!({"attachments": [{"name": "log.txt", "content_type": "text/plain", "data": "aGVsbG8gd29ybGQ="}]})),
    )
    .await;
    let att = ok_json(resp, 201).await;
    assert_eq!(att["attachments"][0]["name"], "log.txt", "{att}");
    let t_a = in_a(&a, &id).await;
    assert!(
        t_a["attachments"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x["name"] == "log.txt")),
        "{t_a}"
    );

    // No subtickets and no statistics in ITSM-NG's API: the canonical 501.
    let other = page_first_id(&b, "q=other").await;
    problem(
        v1(
            &b,
            M::POST,
            &format!("/tickets/{id}/children"),
            Some(json!({"child": other})),
        )
        .await,
        501,
    )
    .await;
    problem(
        v1(&b, M::GET, &format!("/tickets/{id}/children"), None).await,
        501,
    )
    .await;
    problem(
        v1(&b, M::GET, &format!("/tickets/{id}/parent"), None).await,
        501,
    )
    .await;
    problem(
        v1(
            &b,
            M::DELETE,
            &format!("/tickets/{id}/children/{other}"),
            None,
        )
        .await,
        501,
    )
    .await;
    problem(v1(&b, M::GET, "/stats", None).await, 501).await;
    let (s, _) = get_json(&a, &format!("/v1/tickets/{other}/parent")).await;
    assert_eq!(s, 404, "nothing linked in A");

    // Look-ups through the dropdowns.
    let cats = ok_json(v1(&b, M::GET, "/lookups/categories", None).await, 200).await;
    assert!(
        cats["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "Hardware"),
        "{cats}"
    );
    let agents = ok_json(v1(&b, M::GET, "/lookups/agents", None).await, 200).await;
    assert!(!agents["items"].as_array().unwrap().is_empty(), "{agents}");

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
    let t_a = in_a(&a, &id).await;
    assert_eq!(t_a["status"]["state"], "resolved");
    assert!(
        t_a["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["body"]["content"] == "Replaced the roller"),
        "{t_a}"
    );
    ok_json(
        v1(&b, M::POST, &format!("/tickets/{id}/close"), None).await,
        200,
    )
    .await;
    assert_eq!(in_a(&a, &id).await["status"]["state"], "closed");

    let resp = v1(&b, M::DELETE, &format!("/tickets/{id}"), None).await;
    assert_eq!(resp.status(), 204);
    assert_eq!(in_a(&a, &id).await["status"]["state"], "deleted");
    let resp = v1(&b, M::DELETE, &format!("/tickets/{id}?purge=true"), None).await;
    assert_eq!(resp.status(), 204);
    let (s, _) = get_json(&a, &format!("/v1/tickets/{id}")).await;
    assert_eq!(s, 404, "purged in A");
    problem(v1(&b, M::GET, &format!("/tickets/{id}"), None).await, 404).await;
    assert_eq!(canonical_total(&a, "include_deleted=true").await, 3);
}

async fn page_first_id(g: &Gateway, query: &str) -> String {
    let (s, page) = get_json(g, &format!("/v1/tickets?{query}")).await;
    assert_eq!(s, 200, "{page}");
    page["items"][0]["id"].as_str().unwrap().to_owned()
}

/// An ITSM-NG client talking to B's `apirest.php`; B forwards to A in ITSM-NG.
#[tokio::test]
async fn b_itsmng_face_forwards_to_a() {
    let a = Gateway::start(&serving_config(""));
    let b = edge(&a, "");
    let c = client();
    let session = init_session(&b, "demo-user-token").await;
    let call = |m: reqwest::Method, path: &str| {
        c.request(m, b.url(&format!("/apirest.php/{path}")))
            .header("Session-Token", &session)
    };
    let resp = call(reqwest::Method::POST, "Ticket/")
        .json(&json!({"input": {"name": "Face ticket", "content": "face content", "urgency": 4, "impact": 3, "type": 1, "itilcategories_id": 2}}))
        .send()
        .await
        .unwrap();
    let v = ok_json(resp, 201).await;
    let id = v["id"].to_string();
    let id = id.trim_matches('"').to_owned();
    let t_a = in_a(&a, &id).await;
    assert_eq!(t_a["subject"], "Face ticket");
    assert_eq!(t_a["category"]["name"], "Software", "{t_a}");

    let v = ok_json(
        call(reqwest::Method::GET, &format!("Ticket/{id}"))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(v["name"], "Face ticket");
    assert_eq!(v["urgency"], 4);

    let resp = call(reqwest::Method::PUT, &format!("Ticket/{id}"))
        .json(&json!({"input": {"name": "Face ticket renamed", "status": 2}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let t_a = in_a(&a, &id).await;
    assert_eq!(t_a["subject"], "Face ticket renamed");

    let resp = call(reqwest::Method::POST, "ITILFollowup/")
        .json(&json!({"input": {"items_id": id.parse::<u64>().unwrap(), "itemtype": "Ticket", "content": "face followup", "is_private": false}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    assert!(
        in_a(&a, &id).await["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["body"]["content"] == "face followup")
    );

    let resp = call(reqwest::Method::GET, "search/Ticket/?criteria[0][field]=1&criteria[0][searchtype]=contains&criteria[0][value]=renamed&range=0-50").send().await.unwrap();
    let v = ok_json(resp, 200).await;
    assert_eq!(v["totalcount"], 1, "{v}");

    let resp = call(
        reqwest::Method::DELETE,
        &format!("Ticket/{id}?force_purge=true"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let (s, _) = get_json(&a, &format!("/v1/tickets/{id}")).await;
    assert_eq!(s, 404);

    let resp = call(reqwest::Method::GET, "killSession")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (code, _) = itsm_error(
        call(reqwest::Method::GET, "Ticket/1").send().await.unwrap(),
        401,
    )
    .await;
    assert_eq!(code, "ERROR_SESSION_TOKEN_INVALID");
}

/// The Ticket resource's curl examples against B (the session token and ticket ids
/// replaced by real ones; the shipped config needs no App-Token).
#[tokio::test]
async fn seed_curl_examples_against_b() {
    let a = Gateway::start(&serving_config(""));
    let b = edge(&a, "");
    let c = client();
    let url = b.url("/apirest.php");
    // The quick start logs in with Basic credentials, which a stock install (and the
    // shipped config) refuses.
    let resp = c
        .get(format!("{url}/initSession"))
        .header("Content-Type", "application/json")
        .header("Authorization", "Basic dXNlcm5hbWU6cGFzc3dvcmQ=")
        .send()
        .await
        .unwrap();
    let (code, _) = itsm_error(resp, 400).await;
    assert_eq!(code, "ERROR_LOGIN_WITH_CREDENTIALS_DISABLED");
    let token = init_session(&b, "demo-user-token").await;

    let resp = c
        .post(format!("{url}/Ticket/"))
        .header("Content-Type", "application/json")
        .header("Session-Token", &token)
        .body("{\n    \"input\": {\n      \"name\": \"Printer not working\",\n      \"content\": \"The office printer on floor 2 is not responding\",\n      \"urgency\": 3,\n      \"impact\": 3,\n      \"type\": 1,\n      \"entities_id\": 0\n    }\n  }")
        .send()
        .await
        .unwrap();
    let v = ok_json(resp, 201).await;
    assert_eq!(v["message"], "", "{v}");
    let id = v["id"].as_u64().expect("a numeric id");
    let t_a = in_a(&a, &id.to_string()).await;
    assert_eq!(t_a["subject"], "Printer not working");

    let v = ok_json(
        c.get(format!("{url}/Ticket/{id}"))
            .header("Content-Type", "application/json")
            .header("Session-Token", &token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(v["id"], id);
    assert_eq!(v["status"], 1);
    assert_eq!(v["priority"], 3);

    let resp = c
        .post(format!("{url}/ITILFollowup/"))
        .header("Content-Type", "application/json")
        .header("Session-Token", &token)
        .body(format!("{{\n    \"input\": {{\n      \"items_id\": {id},\n      \"itemtype\": \"Ticket\",\n      \"content\": \"Investigating the issue with the printer.\",\n      \"is_private\": false\n    }}\n  }}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());

    let resp = c
        .put(format!("{url}/Ticket/{id}"))
        .header("Content-Type", "application/json")
        .header("Session-Token", &token)
        .body("{\n    \"input\": {\n      \"status\": 5,\n      \"solution\": \"Printer was offline. Reconnected and working now.\"\n    }\n  }")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let t_a = in_a(&a, &id.to_string()).await;
    assert_eq!(t_a["status"]["state"], "resolved", "{t_a}");

    // Searches.
    let second = ok_json(
        c.post(format!("{url}/Ticket/"))
            .header("Session-Token", &token)
            .json(&json!({"input": {"name": "Second", "content": "c", "status": 2}}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await["id"]
        .as_u64()
        .unwrap();
    let _ = second;
    for (q, total) in [
        (
            "criteria[0][field]=12&criteria[0][searchtype]=equals&criteria[0][value]=2&range=0-50",
            1,
        ),
        (
            "criteria[0][field]=12&criteria[0][searchtype]=contains&criteria[0][value]=1,2,3,4",
            1,
        ),
        (
            "criteria[0][field]=5&criteria[0][searchtype]=equals&criteria[0][value]=42",
            0,
        ),
    ] {
        let resp = c
            .get(format!("{url}/search/Ticket/?{q}"))
            .header("Content-Type", "application/json")
            .header("Session-Token", &token)
            .send()
            .await
            .unwrap();
        let v = ok_json(resp, 200).await;
        assert_eq!(v["totalcount"], total, "{q}: {v}");
    }

    // The multipart create with an upload manifest.
    let form = reqwest::multipart::Form::new()
        .part(
            "uploadManifest",
            reqwest::multipart::Part::text(r#"{"input": {"name": "Issue with screenshot", "content": "See attached", "_filename": ["screenshot.png"]}}"#)
                .mime_str("application/json")
                .unwrap(),
        )
        .part(
            "filename[0]",
            reqwest::multipart::Part::bytes(b"\x89PNG\r\n\x1a\nfake".to_vec())
                .file_name("screenshot.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let resp = c
        .post(format!("{url}/Ticket/"))
        .header("Session-Token", &token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let v = ok_json(resp, 201).await;
    let shot = v["id"].as_u64().unwrap().to_string();
    let t_a = in_a(&a, &shot).await;
    assert_eq!(t_a["attachments"][0]["name"], "screenshot.png", "{t_a}");

    // Delete to the trash, then for good.
    let resp = c
        .delete(format!("{url}/Ticket/{id}?force_purge=false"))
        .header("Content-Type", "application/json")
        .header("Session-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    assert_eq!(
        in_a(&a, &id.to_string()).await["status"]["state"],
        "deleted"
    );

    let resp = c
        .get(format!("{url}/killSession"))
        .header("Content-Type", "application/json")
        .header("Session-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// A's sessions die twice while B keeps calling: once when A restarts (its sessions
/// are in memory), once when B's session sits idle past A's `session_idle_secs`.
/// B re-opens its session and no call fails.
#[tokio::test]
async fn session_expiry_in_a_is_survived_by_b() {
    let tmp = tempfile::tempdir().unwrap();
    let a_config = serving_config("").replace(
        "require_app_token = false",
        "require_app_token = false\nsession_idle_secs = 1",
    );
    let mut a = Gateway::start_in(tmp.path(), &a_config);
    let a_addr = a.addr.clone();
    let b = edge(&a, "");
    use reqwest::Method as M;
    let t = ok_json(
        v1(&b, M::POST, "/tickets", Some(new_ticket("Session one"))).await,
        201,
    )
    .await;
    let id = t["id"].as_str().unwrap().to_owned();

    // Restart A on the same address: every session token B holds is now unknown.
    a.stop();
    let _a = Gateway::start_listen(tmp.path(), &a_config, &a_addr);
    let got = ok_json(v1(&b, M::GET, &format!("/tickets/{id}"), None).await, 200).await;
    assert_eq!(got["subject"], "Session one");

    // Idle past A's session lifetime, then keep working.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ok_json(
        v1(
            &b,
            M::POST,
            &format!("/tickets/{id}/entries"),
            Some(json!({"kind": "note", "body": "after idle"})),
        )
        .await,
        201,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let t = ok_json(
        v1(&b, M::POST, "/tickets", Some(new_ticket("Session two"))).await,
        201,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let page = ok_json(v1(&b, M::GET, "/tickets?q=session", None).await, 200).await;
    assert_eq!(page["total"], 2, "{page}");
    assert!(t["id"].is_string());
}

#[tokio::test]
async fn auth_permission_and_quota_errors_in_itsmng_shape() {
    let a = Gateway::start(&serving_config(""));
    let b = edge(&a, "");
    let c = client();

    // A bad user token.
    let resp = c
        .get(b.url("/apirest.php/initSession"))
        .header("Authorization", "user_token not-a-token")
        .send()
        .await
        .unwrap();
    let (code, _) = itsm_error(resp, 401).await;
    assert_eq!(code, "ERROR_GLPI_LOGIN_USER_TOKEN");
    // No session / a made-up session.
    let (code, _) = itsm_error(
        c.get(b.url("/apirest.php/Ticket/1")).send().await.unwrap(),
        400,
    )
    .await;
    assert_eq!(code, "ERROR_SESSION_TOKEN_MISSING");
    let resp = c
        .get(b.url("/apirest.php/Ticket/1"))
        .header("Session-Token", "0123456789abcdef")
        .send()
        .await
        .unwrap();
    let (code, _) = itsm_error(resp, 401).await;
    assert_eq!(code, "ERROR_SESSION_TOKEN_INVALID");
    problem(
        c.get(b.url("/v1/tickets"))
            .header("Authorization", "Bearer wrong")
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;

    // A read-only consumer may open a session and read, not create: a refused add is
    // ITSM-NG's 400 ERROR_GLPI_ADD with the rights message.
    let reader = init_session(&b, "reader-user-token").await;
    let resp = c
        .post(b.url("/apirest.php/Ticket/"))
        .header("Session-Token", &reader)
        .json(&json!({"input": {"name": "nope", "content": "nope"}}))
        .send()
        .await
        .unwrap();
    let (code, message) = itsm_error(resp, 400).await;
    assert_eq!(code, "ERROR_GLPI_ADD");
    assert_eq!(message, "You don't have permission to perform this action.");
    // A consumer that may not read: 403 ERROR_RIGHT_MISSING.
    let creator = init_session(&b, "creator-user-token").await;
    let resp = c
        .get(b.url("/apirest.php/Ticket/1"))
        .header("Session-Token", &creator)
        .send()
        .await
        .unwrap();
    let (code, _) = itsm_error(resp, 403).await;
    assert_eq!(code, "ERROR_RIGHT_MISSING");

    // A burst beyond the quota: 429, Retry-After and the RateLimit headers.
    let burst = init_session(&b, "burst-user-token").await;
    let mut limited = None;
    for _ in 0..6 {
        let resp = c
            .get(b.url("/apirest.php/search/Ticket/"))
            .header("Session-Token", &burst)
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
    itsm_error(resp, 429).await;
    assert_eq!(canonical_total(&a, "include_deleted=true").await, 0);
}

#[tokio::test]
async fn bad_input_is_refused_in_itsmng_shape_and_writes_nothing() {
    let a = Gateway::start(&serving_config(""));
    let b = edge(&a, "[limits]\nbody_bytes = 65536\nupload_bytes = 65536\n");
    // Oversize bodies are refused unread and the connection dropped: no reuse.
    let c = fresh_client();
    let token = init_session(&b, "demo-user-token").await;
    let post = |ct: &str, body: Vec<u8>| {
        c.post(b.url("/apirest.php/Ticket/"))
            .header("Session-Token", &token)
            .header("Content-Type", ct.to_owned())
            .body(body)
            .send()
    };
    for (ct, body) in [
        ("application/json", b"{\"input\": {\"name\": ".to_vec()),
        ("application/json", br#"{"input": "not an object"}"#.to_vec()),
        ("application/json", br#"{"input": {"name": ["x"], "content": {"a": 1}}}"#.to_vec()),
        ("application/json", br#"{"input": {"name": "x", "content": "y", "urgency": "very"}}"#.to_vec()),
        ("multipart/form-data; boundary=XYZ", b"--XYZ\r\nContent-Disposition: form-data; name=\"uploadManifest\"\r\n\r\n{\"input\"".to_vec()),
        ("multipart/form-data; boundary=XYZ", b"--XYZ\r\nContent-Disposition: form-data; name=\"uploadManifest\"\r\n\r\nnot json\r\n--XYZ--\r\n".to_vec()),
    ] {
        let resp = post(ct, body.clone()).await.unwrap();
        let status = resp.status().as_u16();
        assert_eq!(status / 100, 4, "{}", String::from_utf8_lossy(&body));
        itsm_error(resp, status).await;
    }
    let big = json!({"input": {"name": "big", "content": "x".repeat(100_000)}});
    let resp = post("application/json", serde_json::to_vec(&big).unwrap())
        .await
        .unwrap();
    let (code, _) = itsm_error(resp, 413).await;
    assert!(code.starts_with("ERROR"), "{code}");
    let resp = c
        .post(b.url("/v1/tickets"))
        .header("Authorization", DEMO)
        .header("Content-Type", "application/json")
        .body("{\"subject\": ")
        .send()
        .await
        .unwrap();
    problem(resp, 400).await;
    assert_eq!(
        canonical_total(&a, "include_deleted=true").await,
        0,
        "nothing in A"
    );
    assert_eq!(
        canonical_total(&b, "include_deleted=true").await,
        0,
        "nothing via B"
    );
}

#[test]
fn example_config_passes_check() {
    let env = [
        ("ITSMNG_URL", "https://help.example.com/apirest.php"),
        (
            "ITSMNG_USER_TOKEN",
            "q56hqkniwot8wntb3z1qarka5atf365taaa2uyjrn",
        ),
    ];
    assert_example_checks("upstream-itsmng.toml", &env);
}

/// Everything gateway A answered through its ITSM-NG face, whatever the status.
async fn itsmng_requests(a: &Gateway) -> u64 {
    support::metric_sum(a, "ticketgate_requests_total{dialect=\"itsmng\"").await
}

/// `Prefer: return=minimal` (RFC 7240): B answers the id and number and does not read
/// the ticket back from ITSM-NG: one request (the requester's GLPI user is
/// remembered from the first create), not the create and the four reads of the whole
/// ticket after it. `return=representation` and no preference answer it whole.
#[tokio::test]
async fn prefer_return_minimal_creates_without_reading_back() {
    let a = Gateway::start(&serving_config(""));
    let b = edge(&a, "");
    let create = |prefer: Option<&'static str>| {
        let mut r = client()
            .post(b.url("/v1/tickets"))
            .header("Authorization", DEMO)
            .json(&new_ticket("Prefer minimal"));
        if let Some(p) = prefer {
            r = r.header("Prefer", p);
        }
        r.send()
    };
    // The first create opens B's session with A and looks the requester's user up;
    // later ones reuse both.
    ok_json(create(None).await.unwrap(), 201).await;

    let before = itsmng_requests(&a).await;
    let resp = create(Some("respond-async, return=minimal; x=1"))
        .await
        .unwrap();
    assert_eq!(resp.headers()["preference-applied"], "return=minimal");
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let minimal = ok_json(resp, 201).await;
    let minimal_calls = itsmng_requests(&a).await - before;
    assert_eq!(
        minimal_calls, 1,
        "a minimal create is one request to ITSM-NG"
    );
    let fields: Vec<&String> = minimal.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["id", "number"], "{minimal}");
    let id = minimal["id"].as_str().unwrap();
    assert!(location.ends_with(&format!("/tickets/{id}")), "{location}");
    // The ticket is there, whole.
    let t_a = in_a(&a, id).await;
    assert_eq!(t_a["subject"], "Prefer minimal");

    for prefer in [Some("return=representation"), None] {
        let before = itsmng_requests(&a).await;
        let resp = create(prefer).await.unwrap();
        match prefer {
            Some(_) => assert_eq!(
                resp.headers()["preference-applied"],
                "return=representation"
            ),
            None => assert!(resp.headers().get("preference-applied").is_none()),
        }
        let full = ok_json(resp, 201).await;
        assert_eq!(
            itsmng_requests(&a).await - before,
            minimal_calls + 4,
            "the row, actors, groups and follow-ups read back"
        );
        assert_eq!(full["subject"], "Prefer minimal");
        assert_eq!(full["body"]["content"], "the details of it", "{full}");
    }
}

/// osTicket's core API answers the new number alone, so an osTicket client's create
/// through B is not read back from ITSM-NG either.
#[tokio::test]
async fn an_osticket_create_is_not_read_back() {
    let a = Gateway::start(&serving_config(""));
    let b = edge(&a, "");
    let create = || {
        client()
            .post(b.url("/api/tickets.json"))
            .header("X-API-Key", "demo-key")
            .json(&json!({
                "name": "Ann Example",
                "email": "ann@example.com",
                "subject": "From osTicket",
                "message": "the details"
            }))
            .send()
    };
    create().await.unwrap().error_for_status().unwrap();
    let before = itsmng_requests(&a).await;
    let resp = create().await.unwrap();
    assert_eq!(resp.status(), 201);
    let number = resp.text().await.unwrap();
    assert_eq!(
        itsmng_requests(&a).await - before,
        1,
        "the create alone: no look-up of a known requester, no read back"
    );
    let t_a = in_a(&a, number.trim()).await;
    assert_eq!(t_a["subject"], "From osTicket");
}
