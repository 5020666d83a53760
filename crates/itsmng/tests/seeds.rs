//! The curl examples of the seed documents, sent verbatim (method, headers, path,
//! query, body) to the server face; only the host is ours.

mod common;

use common::*;
use serde_json::json;
use ticketgate_itsmng::ServerConfig;
use ticketgate_model::{Body, Helpdesk, NewTicket, Requester, State};

async fn with_tickets(rig: &Rig, n: usize) {
    for i in 1..=n {
        rig.helpdesk
            .create(NewTicket {
                subject: format!("Seeded {i}"),
                body: Body::text("seeded"),
                requester: Requester {
                    email: Some("ann@example.com".into()),
                    ..Requester::default()
                },
                ..NewTicket::default()
            })
            .await
            .unwrap();
    }
}

/// The REST API overview: quick start (Basic login with an app token, an asset,
/// killSession) and its error example.
#[tokio::test]
async fn rest_api_overview_examples() {
    let rig = rig_with(ServerConfig {
        // The examples send `App-Token: your_app_token`: a known token.
        app_tokens: vec!["your_app_token".into()],
        allow_credentials_login: true,
        ..ServerConfig::default()
    })
    .await;
    let url = rig.url();
    // 1. Initialize session
    let a = send(
        http()
            .get(format!("{url}/initSession"))
            .header("Content-Type", "application/json")
            .header("Authorization", "Basic dXNlcm5hbWU6cGFzc3dvcmQ=")
            .header("App-Token", "your_app_token"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let token = a.json()["session_token"].as_str().unwrap().to_owned();
    // 2. Get a computer: assets are not served by ticketgate.
    let a = send(
        http()
            .get(format!("{url}/Computer/71"))
            .header("Content-Type", "application/json")
            .header("Session-Token", &token)
            .header("App-Token", "your_app_token"),
    )
    .await;
    assert_eq!(a.status, 501);
    let a = send(
        http()
            .get(format!("{url}/Computer/71?expand_dropdowns=true"))
            .header("Content-Type", "application/json")
            .header("Session-Token", &token),
    )
    .await;
    assert_eq!(a.status, 501);
    // 3. Kill session
    let a = send(
        http()
            .get(format!("{url}/killSession"))
            .header("Content-Type", "application/json")
            .header("Session-Token", &token)
            .header("App-Token", "your_app_token"),
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (200, ""));
    // The error example: a call without a session token.
    let a = send(http().get(format!("{url}/Ticket/1"))).await;
    assert_eq!(
        a.json(),
        json!([
            "ERROR_SESSION_TOKEN_MISSING",
            format!(
                "parameter session_token is missing or empty; view documentation in your browser at {url}/#ERROR_SESSION_TOKEN_MISSING"
            )
        ])
    );
}

/// The Ticket resource: get, create, update, followup, search, upload, delete.
#[tokio::test]
async fn ticket_resource_examples() {
    let rig = rig_with(ServerConfig {
        app_tokens: vec!["your_app_token".into()],
        ..ServerConfig::default()
    })
    .await;
    let url = rig.url();
    with_tickets(&rig, 123).await;
    let token = session(&rig).await;

    let a = send(
        http()
            .get(format!("{url}/Ticket/123"))
            .header("Content-Type", "application/json")
            .header("Session-Token", &token)
            .header("App-Token", "your_app_token"),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["id"], 123);

    let a = send(
        http()
            .post(format!("{url}/Ticket/"))
            .header("Content-Type", "application/json")
            .header("Session-Token", &token)
            .header("App-Token", "your_app_token")
            .body(
                r#"{
    "input": {
      "name": "Printer not working",
      "content": "The office printer on floor 2 is not responding",
      "urgency": 3,
      "impact": 3,
      "type": 1,
      "entities_id": 0
    }
  }"#,
            ),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.json(), json!({"id": 124, "message": ""}));
    let t = rig.helpdesk.get("124").await.unwrap();
    assert_eq!(t.subject, "Printer not working");
    assert_eq!(t.priority.unwrap().level.rank(), 3);

    let a = send(
        http()
            .post(format!("{url}/ITILFollowup/"))
            .header("Content-Type", "application/json")
            .header("Session-Token", &token)
            .header("App-Token", "your_app_token")
            .body(
                r#"{
    "input": {
      "items_id": 123,
      "itemtype": "Ticket",
      "content": "Investigating the issue with the printer.",
      "is_private": false
    }
  }"#,
            ),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let t = rig.helpdesk.get("123").await.unwrap();
    assert_eq!(
        t.entries[0].body.content,
        "Investigating the issue with the printer."
    );

    let a = send(
        http()
            .put(format!("{url}/Ticket/123"))
            .header("Content-Type", "application/json")
            .header("Session-Token", &token)
            .header("App-Token", "your_app_token")
            .body(
                r#"{
    "input": {
      "status": 5,
      "solution": "Printer was offline. Reconnected and working now."
    }
  }"#,
            ),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json(), json!([{"123": true, "message": ""}]));
    assert_eq!(
        rig.helpdesk.get("123").await.unwrap().status.state,
        State::Resolved
    );
    // Make one ticket "processing" for the status search.
    let a = send(
        http()
            .put(format!("{url}/Ticket/7"))
            .header("Session-Token", &token)
            .json(&json!({"input": {"_users_id_assign": 1, "status": 2}})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);

    let a = send(
        http()
            .get(format!("{url}/search/Ticket/?criteria[0][field]=12&criteria[0][searchtype]=equals&criteria[0][value]=2&range=0-50"))
            .header("Content-Type", "application/json")
            .header("Session-Token", &token)
            .header("App-Token", "your_app_token"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let v = a.json();
    assert_eq!(v["totalcount"], 1);
    assert_eq!(v["data"][0]["2"], 7);
    assert_eq!(v["data"][0]["12"], 2);

    let a = send(
        http()
            .get(format!("{url}/search/Ticket/?criteria[0][field]=12&criteria[0][searchtype]=contains&criteria[0][value]=1,2,3,4"))
            .header("Session-Token", &token),
    )
    .await;
    // 124 tickets, one solved.
    assert_eq!(a.json()["totalcount"], 123);

    let a = send(
        http()
            .get(format!("{url}/search/Ticket/?criteria[0][field]=5&criteria[0][searchtype]=equals&criteria[0][value]=42"))
            .header("Session-Token", &token),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["totalcount"], 0);
    assert!(a.json().get("data").is_none());

    let form = reqwest::multipart::Form::new()
        .part(
            "uploadManifest",
            reqwest::multipart::Part::text(
                r#"{"input": {"name": "Issue with screenshot", "content": "See attached", "_filename": ["screenshot.png"]}}"#,
            )
            .mime_str("application/json")
            .unwrap(),
        )
        .part(
            "filename[0]",
            reqwest::multipart::Part::bytes(b"\x89PNG screenshot".to_vec()).file_name("screenshot.png"),
        );
    let a = send(
        http()
            .post(format!("{url}/Ticket/"))
            .header("Session-Token", &token)
            .multipart(form),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.json()["id"].as_i64().unwrap().to_string();
    let t = rig.helpdesk.get(&id).await.unwrap();
    assert_eq!(t.subject, "Issue with screenshot");
    assert_eq!(t.attachments[0].name, "screenshot.png");

    let a = send(
        http()
            .delete(format!("{url}/Ticket/123?force_purge=false"))
            .header("Content-Type", "application/json")
            .header("Session-Token", &token)
            .header("App-Token", "your_app_token"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json(), json!([{"123": true, "message": ""}]));
    assert_eq!(
        rig.helpdesk.get("123").await.unwrap().status.state,
        State::Deleted
    );
}

/// Status 2 on a new ticket with nobody assigned is ignored, as on the real server.
#[tokio::test]
async fn processing_without_assignee_is_ignored() {
    let rig = rig_with(ServerConfig {
        app_tokens: vec!["your_app_token".into()],
        ..ServerConfig::default()
    })
    .await;
    with_tickets(&rig, 1).await;
    let token = session(&rig).await;
    let a = send(
        http()
            .put(format!("{}/Ticket/1", rig.url()))
            .header("Session-Token", &token)
            .json(&json!({"input": {"status": 2}})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        rig.helpdesk.get("1").await.unwrap().status.state,
        State::New
    );
}
