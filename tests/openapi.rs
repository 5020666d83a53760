//! The canonical API's OpenAPI 3.1 document and the routes agree: every documented
//! operation is routed (never the router's own 404/405), every undocumented method on
//! a documented path is a 405, and every status an operation answers is one the
//! document lists. Then schemathesis (PyPI) drives the running gateway from the
//! served document: no 5xx, no answer that breaks the document.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use support::{DEMO_BEARER, Gateway, client, new_ticket, ok_json, serving_config, v1};

async fn document(g: &Gateway) -> Value {
    // Public, like the documentation it is: no credential.
    let resp = client()
        .get(g.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    doc
}

/// A body that decodes for each operation, so the answer shows routing, not decoding.
fn body_for(op: &str, child: &str) -> Option<Value> {
    Some(match op {
        "createTicket" => new_ticket("OpenAPI route check"),
        "updateTicket" => json!({"subject": "renamed"}),
        "addEntry" => json!({"kind": "note", "body": "a note"}),
        "resolveTicket" => json!({"body": "fixed"}),
        "closeTicket" => json!({"note": "done"}),
        "assignTicket" => json!({"group": "Level 1"}),
        "attachFiles" => {
            json!({"attachments": [{"name": "a.txt", "media_type": "text/plain", "bytes": "aGk="}]})
        }
        "linkChild" => json!({"child": child}),
        _ => return None,
    })
}

#[tokio::test]
async fn the_document_and_the_routes_agree() {
    let g = Gateway::start(&serving_config(""));
    let doc = document(&g).await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 12, "{}", paths.len());

    let parent = ok_json(
        v1(&g, Method::POST, "/tickets", Some(new_ticket("parent"))).await,
        201,
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Operations run in document order; destructive ones last so ids stay valid.
    let mut ops = Vec::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            ops.push((path.clone(), method.to_uppercase(), op.clone()));
        }
    }
    ops.sort_by_key(|(_, m, op)| (m == "DELETE", op["operationId"] == "unlinkChild"));
    let mut child_linked = false;
    for (path, method, op) in &ops {
        let op_id = op["operationId"].as_str().unwrap();
        let child = ok_json(
            v1(&g, Method::POST, "/tickets", Some(new_ticket("child"))).await,
            201,
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        if op_id == "unlinkChild" || op_id == "getParent" {
            let r = v1(
                &g,
                Method::POST,
                &format!("/tickets/{parent}/children"),
                Some(json!({"child": child})),
            )
            .await;
            assert_eq!(r.status(), 204);
            child_linked = true;
        }
        let (id, ch) = if op_id == "getParent" {
            (child.as_str(), parent.as_str())
        } else {
            (parent.as_str(), child.as_str())
        };
        let concrete = path
            .replace("{id}", id)
            .replace("{child}", ch)
            .replace("{kind}", "statuses");
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let resp = v1(&g, m, &concrete, body_for(op_id, ch)).await;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_ne!(
            status, 405,
            "{method} {path}: routed as not allowed: {text}"
        );
        assert!(
            !text.contains("no such resource"),
            "{method} {path}: not routed: {text}"
        );
        assert!(
            op["responses"].get(status.to_string()).is_some(),
            "{method} {path} answered {status}, which the document does not list: {text}"
        );
        assert!(status < 500, "{method} {path}: {status} {text}");
    }
    assert!(child_linked);

    // Methods the document does not list on its paths are 405s, in problem+json.
    for (path, item) in paths {
        if path == "/openapi.json" {
            continue;
        }
        for method in ["GET", "POST", "PATCH", "PUT", "DELETE"] {
            if item.get(method.to_lowercase()).is_some() {
                continue;
            }
            let concrete = path
                .replace("{id}", &parent)
                .replace("{child}", "1")
                .replace("{kind}", "statuses");
            let resp = v1(
                &g,
                Method::from_bytes(method.as_bytes()).unwrap(),
                &concrete,
                Some(json!({})),
            )
            .await;
            assert_eq!(resp.status(), 405, "{method} {path}");
        }
    }
    // And a path it does not list is a 404.
    for path in ["/nothing", "/tickets/1/2/3/4", "/lookups"] {
        let resp = v1(&g, Method::GET, path, None).await;
        assert_eq!(resp.status(), 404, "{path}");
    }

    // A head over `server.max_header_bytes` is refused by the HTTP layer before any
    // route runs (schemathesis found this with a long query): every operation lists it.
    let long = format!("/v1/tickets?q={}", "x".repeat(20 * 1024));
    let resp = client()
        .get(g.url(&long))
        .header("authorization", DEMO_BEARER)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 431);
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["responses"].get("431").is_some(),
                "{method} {path} does not list 431"
            );
        }
    }
}

#[tokio::test]
async fn every_route_in_the_readme_is_in_the_document() {
    let g = Gateway::start(&serving_config(""));
    let doc = document(&g).await;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("## The canonical API (`/v1`)")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the README has its canonical API section");
    let mut seen = 0;
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        // Cells are separated by " | "; a `\|` inside a cell is part of it.
        let cell = line.trim_start_matches("| ").split(" | ").next().unwrap();
        let (mut method, mut last) = (String::new(), String::new());
        for route in cell.split(", ") {
            let route = route.trim_matches('`');
            // `/close` after `POST /v1/tickets/{id}/resolve` continues that route.
            let (m, path, continued) = match route.split_once(' ') {
                Some((m, p)) if m.bytes().all(|b| b.is_ascii_uppercase()) => {
                    (m.to_owned(), p, false)
                }
                _ => (method.clone(), route, true),
            };
            let path = path.split([' ', '?', '[']).next().unwrap();
            let path = path.strip_prefix("/v1").unwrap_or(path);
            let path = if let Some(rest) = path.strip_prefix('…') {
                format!("/tickets/{{id}}{rest}")
            } else if continued {
                format!("{}{path}", &last[..last.rfind('/').unwrap()])
            } else {
                path.to_owned()
            };
            let path = if path.starts_with("/lookups/") {
                "/lookups/{kind}".to_owned()
            } else {
                path
            };
            let item = &doc["paths"][&path];
            assert!(
                item.get(m.to_lowercase()).is_some(),
                "README route {m} {path} is not in the OpenAPI document"
            );
            seen += 1;
            method = m;
            last = path;
        }
    }
    assert!(seen >= 15, "only {seen} README routes found");
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_broken_answer() {
    let st = match std::env::var("TICKETGATE_SCHEMATHESIS") {
        Ok(st) => st,
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "TICKETGATE_SCHEMATHESIS is unset under CI (.ci/setup.d/60-schemathesis.sh)"
            );
            eprintln!(
                "skipped: schemathesis is not installed (source .ci/setup.d/60-schemathesis.sh)"
            );
            return;
        }
    };
    let g = Gateway::start(&serving_config(""));
    let out = tokio::task::spawn_blocking({
        let url = g.url("/v1/openapi.json");
        let base = g.url("/v1");
        move || {
            std::process::Command::new(st)
                .args(["run", &url, "--url", &base])
                .args(["--header", &format!("Authorization: {DEMO_BEARER}")])
                .args([
                    "--checks",
                    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                ])
                // The coverage phase is left out: on a loaded machine schemathesis
                // 4.32's own coverage generator fails with internal errors
                // ("Inconsistent results", a CPython AST recursion error) that say
                // nothing about the API. Fuzzing and stateful runs cover every operation.
                .args(["--phases", "examples,fuzzing,stateful"])
                .args(["--suppress-health-check", "too_slow"])
                .args(["--max-examples", "40", "--seed", "1", "--no-color"])
                .args(["--request-timeout", "10", "--workers", "2"])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "schemathesis failed:\n{stdout}\n{stderr}"
    );
}
