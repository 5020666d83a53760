//! Every row of the real server's error table, against the server face over TCP:
//! status and exact body.

mod common;

use common::*;
use serde_json::{Value, json};
use ticketgate_itsmng::ServerConfig;
use ticketgate_model::{Error, ServerFace};

fn doc(rig: &Rig, code: &str, message: &str) -> Value {
    json!([
        code,
        format!(
            "{message}; view documentation in your browser at {}/#{code}",
            rig.url()
        )
    ])
}

fn plain(code: &str, message: &str) -> Value {
    json!([code, message])
}

#[tokio::test]
async fn session_and_login_errors() {
    let rig = rig().await;
    let url = rig.url();

    let a = send(http().get(format!("{url}/initSession"))).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        doc(
            &rig,
            "ERROR_LOGIN_PARAMETERS_MISSING",
            "parameter(s) login, password or user_token are missing"
        )
    );

    let a = send(
        http()
            .get(format!("{url}/initSession"))
            .basic_auth("glpi", Some("pw")),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        plain(
            "ERROR_LOGIN_WITH_CREDENTIALS_DISABLED",
            "usage of initSession resource with credentials is disabled"
        )
    );

    let a = send(
        http()
            .get(format!("{url}/initSession"))
            .header("Authorization", "user_token nope"),
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.json(),
        plain(
            "ERROR_GLPI_LOGIN_USER_TOKEN",
            "parameter user_token seems invalid"
        )
    );

    let a = send(http().get(format!("{url}/Ticket/1"))).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        doc(
            &rig,
            "ERROR_SESSION_TOKEN_MISSING",
            "parameter session_token is missing or empty"
        )
    );

    let a = send(
        http()
            .get(format!("{url}/Ticket/1"))
            .header("Session-Token", "0123456789abcdef0123456789"),
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.json(),
        plain("ERROR_SESSION_TOKEN_INVALID", "session_token seems invalid")
    );

    // The same through the query parameter.
    let a = send(http().get(format!("{url}/Ticket/1?session_token=abc"))).await;
    assert_eq!(a.status, 401);
}

#[tokio::test]
async fn credential_login_when_enabled() {
    let rig = rig_with(ServerConfig {
        allow_credentials_login: true,
        ..ServerConfig::default()
    })
    .await;
    let url = rig.url();
    let a = send(
        http()
            .get(format!("{url}/initSession"))
            .basic_auth("glpi", Some("wrong")),
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.json(),
        plain("ERROR_GLPI_LOGIN", "Incorrect username or password")
    );
    let a = send(http().get(format!("{url}/initSession?login=glpi&password=pw"))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["session_token"].as_str().unwrap().len(), 40);
}

#[tokio::test]
async fn app_token_errors() {
    let rig = rig_with(ServerConfig {
        require_app_token: true,
        app_tokens: vec!["good-app".into()],
        ..ServerConfig::default()
    })
    .await;
    let url = rig.url();
    let a = send(
        http()
            .get(format!("{url}/initSession"))
            .header("Authorization", format!("user_token {TOKEN}")),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        doc(
            &rig,
            "ERROR_APP_TOKEN_PARAMETERS_MISSING",
            "missing parameter app_token"
        )
    );
    let a = send(
        http()
            .get(format!("{url}/initSession"))
            .header("Authorization", format!("user_token {TOKEN}"))
            .header("App-Token", "bad-app"),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        doc(
            &rig,
            "ERROR_WRONG_APP_TOKEN_PARAMETER",
            "parameter app_token seems wrong"
        )
    );
    let a = send(http().get(format!(
        "{url}/initSession?user_token={TOKEN}&app_token=good-app"
    )))
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    // The app token is checked before the session token on every call.
    let a = send(
        http()
            .get(format!("{url}/Ticket/1"))
            .header("Session-Token", "whatever"),
    )
    .await;
    assert_eq!(a.json()[0], "ERROR_APP_TOKEN_PARAMETERS_MISSING");
}

#[tokio::test]
async fn not_allowed_ip() {
    let rig = rig().await;
    rig.cx
        .block_network
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let a = send(
        http()
            .get(format!("{}/initSession", rig.url()))
            .header("Authorization", format!("user_token {TOKEN}")),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        plain(
            "ERROR_NOT_ALLOWED_IP",
            "There isn't an active API client matching your IP address in the configuration (127.0.0.1)"
        )
    );
}

#[tokio::test]
async fn item_and_resource_errors() {
    let rig = rig().await;
    let url = rig.url();
    let s = session(&rig).await;
    let get = |path: &str| {
        http()
            .get(format!("{url}{path}"))
            .header("Session-Token", s.clone())
    };

    let a = send(get("/Ticket/999")).await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json(), plain("ERROR_ITEM_NOT_FOUND", "Item not found"));

    let a = send(get("/NoSuchThing")).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        doc(
            &rig,
            "ERROR_RESOURCE_NOT_FOUND_NOR_COMMONDBTM",
            "resource not found or not an instance of CommonDBTM"
        )
    );

    let a = send(get("/listSearchOptions")).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        doc(&rig, "ERROR_RESOURCE_MISSING", "missing resource")
    );

    let a = send(get("/Ticket/1/NoSuchSub")).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        doc(
            &rig,
            "ERROR_ITEMTYPE_NOT_FOUND_NOR_COMMONDBTM",
            "itemtype not found or not an instance of CommonDBTM"
        )
    );

    let a = send(get("/Ticket").body("{\"a\":1}")).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        doc(
            &rig,
            "ERROR_JSON_PAYLOAD_FORBIDDEN",
            "GET Request should not have json payload (http body)"
        )
    );

    let a = send(
        http()
            .post(format!("{url}/Ticket"))
            .header("Session-Token", s.clone())
            .header("Content-Type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        plain("ERROR_JSON_PAYLOAD_INVALID", "JSON payload seems not valid")
    );

    let a = send(
        http()
            .post(format!("{url}/Ticket"))
            .header("Session-Token", s.clone())
            .json(&json!({"notinput": {}})),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        doc(
            &rig,
            "ERROR_BAD_ARRAY",
            "input parameter must be an array of objects"
        )
    );

    let form = reqwest::multipart::Form::new().text("uploadManifest", r#"{"input":{"name":"x"}}"#);
    let a = send(
        http()
            .post(format!("{url}/Ticket"))
            .header("Session-Token", s.clone())
            .multipart(form),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        plain(
            "ERROR_UPLOAD_FILE_TOO_BIG_POST_MAX_SIZE",
            "The file seems too big"
        )
    );

    let a = send(get("/Ticket?range=5-10")).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        doc(
            &rig,
            "ERROR_RANGE_EXCEED_TOTAL",
            "Provided range exceed total count of data: 0"
        )
    );
}

#[tokio::test]
async fn generic_errors() {
    let rig = rig().await;
    let url = rig.url();
    let s = session(&rig).await;
    let get = |path: &str| {
        http()
            .get(format!("{url}{path}"))
            .header("Session-Token", s.clone())
    };
    let cases = [
        (
            "/Ticket?range=a-b",
            "range must be in format : [start-end] with integers",
        ),
        (
            "/Ticket?sort=nope",
            "sort param is not a field of glpi_tickets",
        ),
        ("/Ticket?order=UP", "order must be DESC or ASC"),
        (
            "/search/Ticket?criteria[0][field]=12",
            "Malformed search criteria",
        ),
        (
            "/search/Ticket?criteria[0][field]=999&criteria[0][searchtype]=equals&criteria[0][value]=1",
            "Bad field ID in search criteria",
        ),
        (
            "/search/Ticket?criteria[0][field]=45&criteria[0][searchtype]=equals&criteria[0][value]=1",
            "Forbidden field ID in search criteria",
        ),
        ("/changeActiveEntities?entities_id=42", "Bad Request"),
    ];
    for (path, message) in cases {
        let a = send(get(path)).await;
        assert_eq!(a.status, 400, "{path}: {}", a.body);
        assert_eq!(a.json(), doc(&rig, "ERROR", message), "{path}");
    }
}

#[tokio::test]
async fn rights_quota_and_unsupported() {
    let rig = rig().await;
    let url = rig.url();
    let a = send(
        http()
            .get(format!("{url}/initSession"))
            .header("Authorization", format!("user_token {READER_TOKEN}")),
    )
    .await;
    let reader = a.json()["session_token"].as_str().unwrap().to_owned();
    let a = send(
        http()
            .post(format!("{url}/Ticket"))
            .header("Session-Token", reader.clone())
            .json(&json!({"input": {"name": "x", "content": "y"}})),
    )
    .await;
    // Writes without the right fail per item, as on the real server.
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        plain(
            "ERROR_GLPI_ADD",
            "You don't have permission to perform this action."
        )
    );
    let a = send(
        http()
            .delete(format!("{url}/Ticket/1"))
            .header("Session-Token", reader.clone()),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        plain(
            "ERROR_GLPI_DELETE",
            "You don't have permission to perform this action."
        )
    );
    let a = send(
        http()
            .put(format!("{url}/Ticket"))
            .header("Session-Token", reader.clone())
            .json(&json!({"input": [{"id": 1, "name": "x"}]})),
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        json!(["ERROR_GLPI_UPDATE", [{"1": false, "message": "You don't have permission to perform this action."}]])
    );
    // Reads without the right: 403 ERROR_RIGHT_MISSING.
    let a = send(
        http()
            .get(format!("{url}/initSession"))
            .header("Authorization", format!("user_token {BLIND_TOKEN}")),
    )
    .await;
    let blind = a.json()["session_token"].as_str().unwrap().to_owned();
    let a = send(
        http()
            .get(format!("{url}/Ticket/1"))
            .header("Session-Token", blind),
    )
    .await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.json(),
        plain(
            "ERROR_RIGHT_MISSING",
            "You don't have permission to perform this action."
        )
    );

    let a = send(
        http()
            .get(format!("{url}/initSession"))
            .header("Authorization", format!("user_token {LIMITED_TOKEN}")),
    )
    .await;
    let limited = a.json()["session_token"].as_str().unwrap().to_owned();
    let a = send(
        http()
            .get(format!("{url}/Ticket"))
            .header("Session-Token", limited),
    )
    .await;
    assert_eq!(a.status, 429);
    assert_eq!(a.header("retry-after").as_deref(), Some("7"));
    assert_eq!(a.json(), plain("ERROR", "rate limit exceeded"));

    let s = session(&rig).await;
    let a = send(
        http()
            .get(format!("{url}/Computer/71"))
            .header("Session-Token", s),
    )
    .await;
    assert_eq!(a.status, 501);
    assert_eq!(
        a.json(),
        plain("ERROR", "the Computer itemtype is not served by ticketgate")
    );
}

#[tokio::test]
async fn add_update_delete_failures_and_partials() {
    let rig = rig().await;
    let url = rig.url();
    let s = session(&rig).await;
    let req = |m: reqwest::Method, path: &str| {
        http()
            .request(m, format!("{url}{path}"))
            .header("Session-Token", s.clone())
    };
    use reqwest::Method as M;

    // Single add failure: the message string.
    let a =
        send(req(M::POST, "/Ticket").json(&json!({"input": {"name": "x", "date": "yesterday"}})))
            .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        plain("ERROR_GLPI_ADD", "Incorrect value for date field.")
    );
    // Empty batch.
    let a = send(req(M::POST, "/Ticket").json(&json!({"input": []}))).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json(), json!(["ERROR_GLPI_ADD", []]));
    // Batch, all failed: the results array.
    let a =
        send(req(M::POST, "/Ticket").json(&json!({"input": [{"urgency": 9, "name": "a"}]}))).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        json!(["ERROR_GLPI_ADD", [{"id": false, "message": "urgency must be between 1 and 5"}]])
    );
    // Batch, partly failed: 207, no link header.
    let a = send(req(M::POST, "/Ticket").json(&json!({"input": [
        {"name": "ok", "content": "fine"},
        {"name": "bad", "type": 7}
    ]})))
    .await;
    assert_eq!(a.status, 207);
    assert!(a.header("link").is_none());
    assert_eq!(
        a.json(),
        json!(["ERROR_GLPI_PARTIAL_ADD", [
            {"id": 1, "message": ""},
            {"id": false, "message": "type must be 1 (incident) or 2 (request)"}
        ]])
    );

    // Single update of a missing ticket: null message.
    let a = send(req(M::PUT, "/Ticket/999").json(&json!({"input": {"name": "n"}}))).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json(), json!(["ERROR_GLPI_UPDATE", null]));
    // Single update failure: the message.
    let a = send(req(M::PUT, "/Ticket/1").json(&json!({"input": {"status": 9}}))).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        plain("ERROR_GLPI_UPDATE", "status must be between 1 and 6")
    );
    // Batch update, partly failed.
    let a = send(req(M::PUT, "/Ticket").json(&json!({"input": [
        {"id": 1, "name": "renamed"},
        {"id": 1, "urgency": 0}
    ]})))
    .await;
    assert_eq!(a.status, 207);
    assert_eq!(
        a.json(),
        json!(["ERROR_GLPI_PARTIAL_UPDATE", [
            {"1": true, "message": ""},
            {"1": false, "message": "urgency must be between 1 and 5"}
        ]])
    );
    // Batch update, all failed.
    let a = send(req(M::PUT, "/Ticket").json(&json!({"input": [{"id": 1, "type": 3}]}))).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        json!(["ERROR_GLPI_UPDATE", [{"1": false, "message": "type must be 1 (incident) or 2 (request)"}]])
    );

    // Single delete of a missing ticket.
    let a = send(req(M::DELETE, "/Ticket/999")).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json(), plain("ERROR_GLPI_DELETE", "Item not found"));
    // Batch delete, partly failed.
    let a = send(req(M::DELETE, "/Ticket").json(&json!({"input": [{"id": 1}, {"id": 998}]}))).await;
    assert_eq!(a.status, 207);
    assert_eq!(
        a.json(),
        json!(["ERROR_GLPI_PARTIAL_DELETE", [
            {"1": true, "message": ""},
            {"998": false, "message": "Item not found"}
        ]])
    );
    // Batch delete, all failed.
    let a = send(req(M::DELETE, "/Ticket").json(&json!({"input": [{"id": 997}]}))).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json(),
        json!(["ERROR_GLPI_DELETE", [{"997": false, "message": "Item not found"}]])
    );
}

#[tokio::test]
async fn errors_raised_by_the_gateway_itself() {
    let rig = rig().await;
    let r = rig.server.error_response(&Error::internal("disk on fire"));
    assert_eq!(r.status(), 500);
    let v: Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(v, plain("ERROR_SQL", "Unexpected SQL Error : disk on fire"));
    let r = rig
        .server
        .error_response(&Error::upstream_unavailable("helpdesk down"));
    assert_eq!(r.status(), 502);
    let v: Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(v, plain("ERROR", "helpdesk down"));
    // A verb the server has no case for is served as GET (its default case), so
    // ERROR_METHOD_NOT_ALLOWED is never answered.
    let s = session(&rig).await;
    let a = send(
        http()
            .request(
                reqwest::Method::from_bytes(b"PROPFIND").unwrap(),
                format!("{}/Ticket/42", rig.url()),
            )
            .header("Session-Token", s),
    )
    .await;
    assert_eq!(a.status, 404);
}
