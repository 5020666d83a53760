//! The permission matrix, end to end over the real binary with every dialect mounted:
//! every canonical `/v1` route against a consumer lacking exactly one permission
//! (403 problem+json only when it is the route's own), a consumer whose `networks`
//! exclude loopback (403 everywhere), and a representative route of each vendor
//! dialect answered in that dialect's own shape. Then quotas: 429 with `Retry-After`,
//! `RateLimit-Policy` and `RateLimit` in every dialect.

mod support;

use serde_json::{Value, json};
use support::{Gateway, client, problem};

const PERMISSIONS: [&str; 7] = [
    "create",
    "read",
    "update",
    "search",
    "delete",
    "stats",
    "subtickets",
];

/// Consumers: `all` (every permission), `no-<p>` for each permission (all but p),
/// `elsewhere` (every permission, from 192.0.2.0/24 only) and one `tight-<dialect>`
/// per dialect whose quotas allow one request per class. Each has a credential of
/// every dialect: bearer `<name>-key`, osTicket key `os-<name>`, ITSM-NG user token
/// `it-<name>`, JWT subject `<name>`.
fn config() -> String {
    let all = PERMISSIONS.map(|p| format!("{p:?}")).join(", ");
    let consumer = |name: &str, perms: &str, networks: &str, extra: &str| {
        format!(
            r#"
[[consumers]]
name = "{name}"
bearer_key = "{name}-key"
osticket_key = "os-{name}"
itsmng_user_token = "it-{name}"
jwt_subject = "{name}"
permissions = [{perms}]
networks = [{networks}]
{extra}"#
        )
    };
    let mut out = String::from(
        r#"
[rate_limits]
# Many deliberate refusals come from 127.0.0.1 here: do not block the address.
failed_auth = { per_second = 1000.0, burst = 1000 }

[dialects.canonical]
prefix = "/v1"

[dialects.osticket]
prefix = "/api"

[dialects.itsmng]
prefix = "/apirest.php"

[dialects.ticketsapi]
prefix = "/api/TicketsApi"
jwt.hs256_secret = "permissions-test-secret"

[upstreams.embedded]
kind = "embedded"
durability = "normal"
"#,
    );
    let local = "\"127.0.0.0/8\"";
    out.push_str(&consumer("all", &all, local, ""));
    for p in PERMISSIONS {
        let perms = PERMISSIONS
            .iter()
            .filter(|q| **q != p)
            .map(|q| format!("{q:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&consumer(&format!("no-{p}"), &perms, local, ""));
    }
    out.push_str(&consumer("elsewhere", &all, "\"192.0.2.0/24\"", ""));
    let tight = r#"quota.create = { per_second = 0.05, burst = 1 }
quota.read = { per_second = 0.05, burst = 1 }
quota.write = { per_second = 0.05, burst = 1 }
quota.search = { per_second = 0.05, burst = 1 }"#;
    for d in ["canonical", "osticket", "itsmng", "ticketsapi"] {
        out.push_str(&consumer(&format!("tight-{d}"), &all, local, tight));
    }
    out
}

/// A TicketsApi bearer token for a consumer, minted by `ticketgate token`.
fn jwt(g: &Gateway, consumer: &str) -> String {
    let out = std::process::Command::new(support::binary())
        .arg("token")
        .arg("--config")
        .arg(&g.config)
        .args(["--consumer", consumer])
        .output()
        .expect("ticketgate token runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn create_ticket(g: &Gateway, subject: &str) -> Value {
    let resp = client()
        .post(g.url("/v1/tickets"))
        .header("Authorization", "Bearer all-key")
        .json(&json!({"subject": subject, "body": "permission matrix",
                      "requester": {"name": "Ann", "email": "ann@example.com"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    resp.json().await.unwrap()
}

/// One canonical route: method, path, the permission it needs, a body.
struct Route {
    method: reqwest::Method,
    path: String,
    needs: &'static str,
    body: Option<Value>,
}

fn canonical_routes(id: &str, child: &str, doomed: &str) -> Vec<Route> {
    use reqwest::Method as M;
    let r = |method: M, path: String, needs: &'static str, body: Option<Value>| Route {
        method,
        path,
        needs,
        body,
    };
    let t = format!("/v1/tickets/{id}");
    vec![
        r(
            M::POST,
            "/v1/tickets".into(),
            "create",
            Some(json!({"subject": "matrix", "requester": {"email": "ann@example.com"}})),
        ),
        r(M::GET, "/v1/tickets".into(), "search", None),
        r(M::GET, t.clone(), "read", None),
        r(
            M::PATCH,
            t.clone(),
            "update",
            Some(json!({"subject": "renamed"})),
        ),
        r(M::DELETE, format!("/v1/tickets/{doomed}"), "delete", None),
        r(
            M::POST,
            format!("{t}/entries"),
            "update",
            Some(json!({"body": "a note"})),
        ),
        r(M::POST, format!("{t}/resolve"), "update", Some(json!({}))),
        r(M::POST, format!("{t}/close"), "update", Some(json!({}))),
        r(
            M::POST,
            format!("{t}/assign"),
            "update",
            Some(json!({"assignee": {"name": "agent"}})),
        ),
        r(
            M::POST,
            format!("{t}/attachments"),
            "update",
            Some(json!({"attachments": []})),
        ),
        r(M::GET, format!("{t}/children"), "read", None),
        r(
            M::POST,
            format!("{t}/children"),
            "subtickets",
            Some(json!({"child": child})),
        ),
        r(
            M::DELETE,
            format!("{t}/children/{child}"),
            "subtickets",
            None,
        ),
        r(M::GET, format!("{t}/parent"), "read", None),
        r(M::GET, "/v1/stats".into(), "stats", None),
        r(M::GET, "/v1/lookups/statuses".into(), "read", None),
        r(M::GET, "/v1/capabilities".into(), "read", None),
    ]
}

async fn call(g: &Gateway, route: &Route, key: &str) -> reqwest::Response {
    let mut req = client()
        .request(route.method.clone(), g.url(&route.path))
        .header("Authorization", format!("Bearer {key}"));
    if let Some(b) = &route.body {
        req = req.json(b);
    }
    req.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_canonical_route_refuses_exactly_the_consumers_lacking_its_permission() {
    let g = Gateway::start(&config());
    let id = create_ticket(&g, "parent").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let child = create_ticket(&g, "child").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let doomed = create_ticket(&g, "doomed").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let routes = canonical_routes(&id, &child, &doomed);
    // Every permission is needed by some route.
    for p in PERMISSIONS {
        assert!(routes.iter().any(|r| r.needs == p), "{p}");
    }
    for route in &routes {
        let what = format!("{} {}", route.method, route.path);
        // The one consumer lacking this route's permission: 403 problem+json.
        let resp = call(&g, route, &format!("no-{}-key", route.needs)).await;
        let p = problem(resp, 403).await;
        assert_eq!(
            p["type"], "https://ticketgate.dev/problems/forbidden",
            "{what}"
        );
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("lacks the {} permission", route.needs)),
            "{what}: {p}"
        );
        // From a network its credentials may not be used from: 403 too.
        let resp = call(&g, route, "elsewhere-key").await;
        let p = problem(resp, 403).await;
        assert_eq!(p["field"], "network", "{what}: {p}");
        // Every other consumer, and the one with all permissions, gets past the check.
        for other in PERMISSIONS.iter().filter(|p| **p != route.needs) {
            let status = call(&g, route, &format!("no-{other}-key")).await.status();
            assert!(
                ![401, 403, 429].contains(&status.as_u16()),
                "{what} as no-{other}: {status}"
            );
        }
        let status = call(&g, route, "all-key").await.status();
        assert!(
            ![401, 403, 429].contains(&status.as_u16()),
            "{what} as all: {status}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn osticket_answers_a_missing_permission_as_osticket_does() {
    let g = Gateway::start(&config());
    let number = create_ticket(&g, "for osTicket").await["number"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = client();
    let create = |key: &str| {
        c.post(g.url("/api/tickets.json"))
            .header("X-API-Key", key)
            .json(&json!({"name": "Ann", "email": "ann@example.com",
                          "subject": "Printer", "message": "It jams."}))
    };
    let search = |key: &str| {
        c.get(g.url("/api/tickets-search.php?query=osTicket"))
            .header("X-API-Key", key)
    };
    let delete = |key: &str| {
        c.delete(g.url(&format!("/api/tickets-delete.php/{number}.json")))
            .header("X-API-Key", key)
    };
    // Core API: bare text.
    for key in ["os-no-create", "os-elsewhere"] {
        let r = create(key).send().await.unwrap();
        assert_eq!(r.status(), 403, "{key}");
        assert_eq!(r.headers()["content-type"], "text/html; charset=UTF-8");
        assert_eq!(r.text().await.unwrap(), "API key not authorized");
    }
    // The plugin's endpoints: its 401 `{"error": true, "message": …}` for a missing
    // permission; a key used from elsewhere is osTicket's own unknown-key answer
    // (osTicket binds a key to an address).
    for (name, req, message) in [
        (
            "search as no-search",
            search("os-no-search"),
            "API key not authorized to search tickets",
        ),
        (
            "delete as no-delete",
            delete("os-no-delete"),
            "API key not authorized to delete tickets",
        ),
    ] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{name}");
        assert_eq!(
            r.headers()["content-type"],
            "application/json; charset=UTF-8",
            "{name}"
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body, json!({"error": true, "message": message}), "{name}");
    }
    for (name, req) in [
        ("search from elsewhere", search("os-elsewhere")),
        ("delete from elsewhere", delete("os-elsewhere")),
    ] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{name}");
        assert_eq!(r.text().await.unwrap(), "Valid API key required", "{name}");
    }
    // The same routes with the permission pass.
    assert_eq!(create("os-no-delete").send().await.unwrap().status(), 201);
    assert_eq!(search("os-no-delete").send().await.unwrap().status(), 200);
    assert_eq!(delete("os-no-create").send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn itsmng_answers_a_missing_permission_as_itsmng_does() {
    let g = Gateway::start(&config());
    let id = create_ticket(&g, "for ITSM-NG").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = client();
    let session = |consumer: &str| {
        let req = c
            .get(g.url("/apirest.php/initSession"))
            .header("Authorization", format!("user_token it-{consumer}"));
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            v["session_token"].as_str().unwrap().to_owned()
        }
    };
    let error = |r: reqwest::Response, status: u16| async move {
        assert_eq!(r.status().as_u16(), status);
        r.json::<Value>().await.unwrap()
    };
    let no_right = "You don't have permission to perform this action.";

    let s = session("no-read").await;
    let r = c
        .get(g.url(&format!("/apirest.php/Ticket/{id}")))
        .header("Session-Token", &s)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error(r, 403).await,
        json!(["ERROR_RIGHT_MISSING", no_right])
    );

    let s = session("no-create").await;
    let r = c
        .post(g.url("/apirest.php/Ticket"))
        .header("Session-Token", &s)
        .json(&json!({"input": {"name": "Printer", "content": "It jams."}}))
        .send()
        .await
        .unwrap();
    assert_eq!(error(r, 400).await, json!(["ERROR_GLPI_ADD", no_right]));

    let s = session("no-delete").await;
    let r = c
        .delete(g.url(&format!("/apirest.php/Ticket/{id}")))
        .header("Session-Token", &s)
        .send()
        .await
        .unwrap();
    assert_eq!(error(r, 400).await, json!(["ERROR_GLPI_DELETE", no_right]));

    // From a network the consumer may not call from, no session is opened at all.
    let r = c
        .get(g.url("/apirest.php/initSession"))
        .header("Authorization", "user_token it-elsewhere")
        .send()
        .await
        .unwrap();
    let body = error(r, 400).await;
    assert_eq!(body[0], "ERROR_NOT_ALLOWED_IP");
    assert!(body[1].as_str().unwrap().contains("127.0.0.1"), "{body}");

    // With the permission, the same calls pass.
    let s = session("no-delete").await;
    let r = c
        .get(g.url(&format!("/apirest.php/Ticket/{id}")))
        .header("Session-Token", &s)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(g.url("/apirest.php/Ticket"))
        .header("Session-Token", &s)
        .json(&json!({"input": {"name": "Printer", "content": "It jams."}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let s = session("no-create").await;
    let r = c
        .delete(g.url(&format!("/apirest.php/Ticket/{id}")))
        .header("Session-Token", &s)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

fn register_form() -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("Title", "Printer jams")
        .text("Description", "Every morning.")
        .text("CreatorId", "ann")
        .text("SiteId", "1")
        .text("DepartmentId", "1")
        .text("TicketStatusId", "1")
        .text("TicketType", "Incident")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticketsapi_answers_a_missing_permission_as_aspnet_does() {
    let g = Gateway::start(&config());
    let id = create_ticket(&g, "for TicketsApi").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = client();
    let register = |token: &str| {
        c.post(g.url("/api/TicketsApi/register"))
            .bearer_auth(token)
            .multipart(register_form())
    };
    let list = |token: &str| {
        c.post(g.url("/api/TicketsApi/list"))
            .bearer_auth(token)
            .form(&[("Username", "ann")])
    };
    let delete = |token: &str| {
        c.delete(g.url(&format!("/api/TicketsApi/{id}")))
            .bearer_auth(token)
    };
    let elsewhere = jwt(&g, "elsewhere");
    for (name, req) in [
        ("register as no-create", register(&jwt(&g, "no-create"))),
        ("register from elsewhere", register(&elsewhere)),
        ("list as no-search", list(&jwt(&g, "no-search"))),
        ("list from elsewhere", list(&elsewhere)),
        ("delete as no-delete", delete(&jwt(&g, "no-delete"))),
        ("delete from elsewhere", delete(&elsewhere)),
    ] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 403, "{name}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json; charset=utf-8",
            "{name}"
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["type"], "https://tools.ietf.org/html/rfc9110#section-15.5.4",
            "{name}"
        );
        assert_eq!(body["title"], "Forbidden", "{name}");
        assert_eq!(body["status"], 403, "{name}");
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
    // With the permission, the same calls get past the check.
    let no_delete = jwt(&g, "no-delete");
    let r = register(&no_delete).send().await.unwrap();
    assert!(![401, 403, 429].contains(&r.status().as_u16()), "{r:?}");
    assert_eq!(list(&no_delete).send().await.unwrap().status(), 200);
    assert_eq!(
        delete(&jwt(&g, "no-create")).send().await.unwrap().status(),
        200
    );
}

/// A 429 with `Retry-After` and both IETF headers naming the class's policy.
fn assert_rate_limited(r: &reqwest::Response, policy: &str, what: &str) {
    assert_eq!(r.status(), 429, "{what}");
    let h = r.headers();
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "{what}: Retry-After {retry}");
    assert_eq!(
        h["ratelimit-policy"],
        format!("\"{policy}\";q=1;w=20").as_str(),
        "{what}"
    );
    let limit = h["ratelimit"].to_str().unwrap();
    assert!(
        limit.starts_with(&format!("\"{policy}\";r=0;t=")),
        "{what}: {limit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dialect_answers_an_exhausted_quota_with_429_and_the_ietf_headers() {
    let g = Gateway::start(&config());
    let t = create_ticket(&g, "quota").await;
    let id = t["id"].as_str().unwrap().to_owned();
    let c = client();

    // Canonical: problem+json.
    let read = || {
        c.get(g.url(&format!("/v1/tickets/{id}")))
            .header("Authorization", "Bearer tight-canonical-key")
    };
    let first = read().send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["ratelimit-policy"], "\"read\";q=1;w=20");
    let r = read().send().await.unwrap();
    assert_rate_limited(&r, "read", "canonical");
    problem(r, 429).await;

    // osTicket: the core API's bare text.
    let create = || {
        c.post(g.url("/api/tickets.json"))
            .header("X-API-Key", "os-tight-osticket")
            .json(&json!({"name": "Ann", "email": "ann@example.com",
                          "subject": "Printer", "message": "It jams."}))
    };
    assert_eq!(create().send().await.unwrap().status(), 201);
    let r = create().send().await.unwrap();
    assert_rate_limited(&r, "create", "osTicket");
    assert_eq!(r.text().await.unwrap(), "Rate limit exceeded");

    // ITSM-NG: `["ERROR", …]`; opening the session costs no quota.
    let r = c
        .get(g.url("/apirest.php/initSession"))
        .header("Authorization", "user_token it-tight-itsmng")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let s: Value = r.json().await.unwrap();
    let s = s["session_token"].as_str().unwrap().to_owned();
    let get = || {
        c.get(g.url(&format!("/apirest.php/Ticket/{id}")))
            .header("Session-Token", &s)
    };
    assert_eq!(get().send().await.unwrap().status(), 200);
    let r = get().send().await.unwrap();
    assert_rate_limited(&r, "read", "ITSM-NG");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body[0], "ERROR", "{body}");

    // TicketsApi: ASP.NET ProblemDetails.
    let token = jwt(&g, "tight-ticketsapi");
    let get = || {
        c.get(g.url(&format!("/api/TicketsApi/{id}")))
            .bearer_auth(&token)
    };
    assert_eq!(get().send().await.unwrap().status(), 200);
    let r = get().send().await.unwrap();
    assert_rate_limited(&r, "read", "TicketsApi");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], 429);
    assert_eq!(
        body["type"],
        "https://tools.ietf.org/html/rfc6585#section-4"
    );
}
