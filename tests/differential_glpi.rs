//! The ITSM-NG server face against the real GLPI 10.0.12: one request sequence sent
//! to the live `apirest.php` and to ticketgate's `/apirest.php` (over its embedded
//! store), answer by answer. What is compared: the status, the error code of an
//! error, the keys of a JSON object (or of the first row of a list), `Content-Range`
//! (the header, and the body's for a search), and the values a client reads back
//! (stored content, uids, totals). What is not: ids, dates and GLPI's free-text
//! messages (`"Item successfully added: …"`, where ticketgate answers `""`); each
//! such difference is named in the README.

mod support;

use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use support::live::{self, Vendor};
use support::{Gateway, client, serving_config};

/// One side of the comparison: an `apirest.php` URL and its credentials.
struct Side {
    name: &'static str,
    url: String,
    user_token: String,
    session: String,
}

/// What one call answered.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_range: Option<String>,
    body: Value,
}

impl Side {
    async fn open(name: &'static str, url: String, user_token: String) -> Self {
        let mut side = Self {
            name,
            url,
            user_token,
            session: String::new(),
        };
        let a = side
            .call(
                Method::GET,
                "/initSession",
                &[("Authorization", &format!("user_token {}", side.user_token))],
                None,
                false,
            )
            .await;
        assert_eq!(a.status, 200, "{name}: initSession {a:?}");
        side.session = a.body["session_token"]
            .as_str()
            .expect("a session token")
            .to_owned();
        side
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
        with_session: bool,
    ) -> Answer {
        let mut req = client().request(method, format!("{}{path}", self.url));
        if with_session {
            req = req.header("Session-Token", &self.session);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status().as_u16();
        let content_range = resp
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            content_range,
            body,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, &[], None, true).await
    }

    async fn send(&self, method: Method, path: &str, body: Value) -> Answer {
        self.call(method, path, &[], Some(body), true).await
    }
}

/// The error code of an `["ERROR_…", …]` answer.
fn code(a: &Answer) -> Option<&str> {
    a.body.get(0).and_then(Value::as_str)
}

/// The keys of an object, or of the first row of a list.
fn keys(v: &Value) -> BTreeSet<String> {
    let obj = match v {
        Value::Array(rows) => rows.first().and_then(Value::as_object),
        v => v.as_object(),
    };
    obj.map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

/// Compare one step on both sides: status and error code always.
fn same_outcome(step: &str, glpi: &Answer, tg: &Answer) {
    assert_eq!(
        glpi.status, tg.status,
        "{step}: status\n  GLPI:       {glpi:?}\n  ticketgate: {tg:?}"
    );
    assert_eq!(
        code(glpi),
        code(tg),
        "{step}: error code\n  GLPI:       {glpi:?}\n  ticketgate: {tg:?}"
    );
}

fn same_keys(step: &str, glpi: &Answer, tg: &Answer, allowed_extra_in_glpi: &[&str]) {
    let g = keys(&glpi.body);
    let t = keys(&tg.body);
    let missing: Vec<&String> = g
        .difference(&t)
        .filter(|k| !allowed_extra_in_glpi.contains(&k.as_str()))
        .collect();
    let extra: Vec<&String> = t.difference(&g).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{step}: keys differ; missing in ticketgate {missing:?}, only in ticketgate {extra:?}"
    );
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}{nanos}")
}

#[tokio::test]
async fn the_same_sequence_answers_the_same() {
    let Some(env) = live::vendor(Vendor::Glpi) else {
        return;
    };
    let g = Gateway::start(&serving_config(""));
    let glpi = Side::open(
        "GLPI",
        env["GLPI_URL"].clone(),
        env["GLPI_USER_TOKEN"].clone(),
    )
    .await;
    let tg = Side::open(
        "ticketgate",
        g.url("/apirest.php"),
        "demo-user-token".into(),
    )
    .await;
    let sides = [&glpi, &tg];
    let tag = unique("diff");

    // Authentication errors.
    let mut answers = Vec::new();
    for s in sides {
        answers.push(
            s.call(
                Method::GET,
                "/initSession",
                &[
                    ("Authorization", &format!("user_token {}", s.user_token)),
                    ("App-Token", "no-such-app-token"),
                ],
                None,
                false,
            )
            .await,
        );
    }
    same_outcome("unknown App-Token", &answers[0], &answers[1]);
    assert_eq!(code(&answers[0]), Some("ERROR_WRONG_APP_TOKEN_PARAMETER"));
    let mut answers = Vec::new();
    for s in sides {
        answers.push(s.call(Method::GET, "/Ticket", &[], None, false).await);
    }
    same_outcome("no Session-Token", &answers[0], &answers[1]);
    let mut answers = Vec::new();
    for s in sides {
        answers.push(
            s.call(
                Method::GET,
                "/Ticket",
                &[("Session-Token", "nosuchsession0000000000000")],
                None,
                false,
            )
            .await,
        );
    }
    same_outcome("invalid Session-Token", &answers[0], &answers[1]);

    // Create with HTML content; read back entity-encoded.
    let html = "<p>It is <b>burning</b></p>";
    let mut ids = HashMap::new();
    for s in sides {
        let a = s
            .send(
                Method::POST,
                "/Ticket",
                json!({"input": {"name": format!("{tag} printer"), "content": html}}),
            )
            .await;
        assert_eq!(a.status, 201, "{}: create {a:?}", s.name);
        ids.insert(s.name, a.body["id"].as_i64().expect("a numeric id"));
    }
    let (gid, tid) = (ids["GLPI"], ids["ticketgate"]);
    let a_g = glpi.get(&format!("/Ticket/{gid}")).await;
    let a_t = tg.get(&format!("/Ticket/{tid}")).await;
    same_outcome("get Ticket", &a_g, &a_t);
    assert_eq!(a_g.body["content"], a_t.body["content"], "stored content");
    assert_eq!(
        a_t.body["content"],
        "&#60;p&#62;It is &#60;b&#62;burning&#60;/b&#62;&#60;/p&#62;"
    );

    // An unknown category is taken, as GLPI takes it.
    let a_g = glpi
        .send(Method::POST, "/Ticket", json!({"input": {"name": format!("{tag} cat"), "content": "c", "itilcategories_id": 4242}}))
        .await;
    let a_t = tg
        .send(Method::POST, "/Ticket", json!({"input": {"name": format!("{tag} cat"), "content": "c", "itilcategories_id": 4242}}))
        .await;
    same_outcome("create with an unknown itilcategories_id", &a_g, &a_t);
    same_keys("create answer", &a_g, &a_t, &[]);

    // Followups, then their listing with range, sort and order.
    for s in sides {
        let id = ids[s.name];
        for (i, private) in [(1, 0), (2, 1), (3, 0)] {
            let a = s
                .send(
                    Method::POST,
                    &format!("/Ticket/{id}/ITILFollowup"),
                    json!({"input": {"itemtype": "Ticket", "items_id": id, "content": format!("reply {i}"), "is_private": private}}),
                )
                .await;
            assert_eq!(a.status, 201, "{}: followup {a:?}", s.name);
        }
    }
    let a_g = glpi
        .get(&format!(
            "/Ticket/{gid}/ITILFollowup?range=0-1&sort=id&order=DESC"
        ))
        .await;
    let a_t = tg
        .get(&format!(
            "/Ticket/{tid}/ITILFollowup?range=0-1&sort=id&order=DESC"
        ))
        .await;
    same_outcome("followups range=0-1 DESC", &a_g, &a_t);
    assert_eq!(a_g.status, 206);
    assert_eq!(a_g.content_range, a_t.content_range);
    let contents = |a: &Answer| -> Vec<Value> {
        a.body
            .as_array()
            .map(|r| r.iter().map(|f| f["content"].clone()).collect())
            .unwrap_or_default()
    };
    assert_eq!(contents(&a_g), contents(&a_t));
    same_keys("followup rows", &a_g, &a_t, &[]);
    for (step, query, want) in [
        (
            "followups beyond the end",
            "range=10-20",
            "ERROR_RANGE_EXCEED_TOTAL",
        ),
        (
            "followups sorted by an unknown column",
            "sort=nosuchfield",
            "ERROR",
        ),
    ] {
        let a_g = glpi
            .get(&format!("/Ticket/{gid}/ITILFollowup?{query}"))
            .await;
        let a_t = tg.get(&format!("/Ticket/{tid}/ITILFollowup?{query}")).await;
        same_outcome(step, &a_g, &a_t);
        assert_eq!(code(&a_g), Some(want));
    }

    // A ticket with no tasks lists none.
    let a_g = glpi.get(&format!("/Ticket/{gid}/TicketTask")).await;
    let a_t = tg.get(&format!("/Ticket/{tid}/TicketTask")).await;
    same_outcome("tasks of a ticket without any", &a_g, &a_t);
    assert_eq!(a_g.body, a_t.body);
    assert_eq!(a_g.content_range, a_t.content_range);

    // A solution, then the list of solutions.
    for s in sides {
        let id = ids[s.name];
        let a = s
            .send(Method::POST, "/ITILSolution", json!({"input": {"itemtype": "Ticket", "items_id": id, "content": "Replaced the fuser"}}))
            .await;
        assert_eq!(a.status, 201, "{}: solution {a:?}", s.name);
    }
    let a_g = glpi.get(&format!("/Ticket/{gid}/ITILSolution")).await;
    let a_t = tg.get(&format!("/Ticket/{tid}/ITILSolution")).await;
    same_outcome("list solutions", &a_g, &a_t);
    assert_eq!(a_g.content_range, a_t.content_range);
    assert_eq!(a_g.body[0]["content"], a_t.body[0]["content"]);
    assert_eq!(a_g.body[0]["status"], a_t.body[0]["status"]);
    same_keys("solution rows", &a_g, &a_t, &[]);

    // Search options: every option ticketgate lists has GLPI's name and uid.
    let a_g = glpi.get("/listSearchOptions/Ticket").await;
    let a_t = tg.get("/listSearchOptions/Ticket").await;
    same_outcome("listSearchOptions", &a_g, &a_t);
    let options = a_t.body.as_object().expect("an object");
    for (id, o) in options {
        for key in [
            "name",
            "uid",
            "table",
            "field",
            "datatype",
            "available_searchtypes",
        ] {
            if id == "common" {
                continue;
            }
            assert_eq!(o[key], a_g.body[id][key], "option {id} {key}");
        }
    }
    assert_eq!(a_g.body["common"], a_t.body["common"]);

    // Search by title with uid columns.
    let q = format!(
        "/search/Ticket?criteria[0][field]=1&criteria[0][searchtype]=contains&criteria[0][value]={tag}%20printer&forcedisplay[0]=2&forcedisplay[1]=12&forcedisplay[2]=9&uid_cols=true"
    );
    let a_g = glpi.get(&q).await;
    let a_t = tg.get(&q).await;
    same_outcome("search by title, uid_cols", &a_g, &a_t);
    same_keys("search answer", &a_g, &a_t, &[]);
    for k in ["totalcount", "count", "sort", "order", "content-range"] {
        assert_eq!(a_g.body[k], a_t.body[k], "search {k}");
    }
    assert_eq!(
        keys(&a_g.body["data"]),
        keys(&a_t.body["data"]),
        "uid columns"
    );
    assert_eq!(
        a_g.body["data"][0]["Ticket.RequestType.name"],
        a_t.body["data"][0]["Ticket.RequestType.name"]
    );
    assert_eq!(a_g.content_range, a_t.content_range);

    // A criterion nothing meets answers nothing, without `data` or Content-Range.
    let q = "/search/Ticket?criteria[0][field]=9&criteria[0][searchtype]=contains&criteria[0][value]=zzzq";
    let a_g = glpi.get(q).await;
    let a_t = tg.get(q).await;
    same_outcome("search on request source, no match", &a_g, &a_t);
    assert_eq!(a_g.body, a_t.body);
    assert_eq!(a_g.content_range, None);
    assert_eq!(a_t.content_range, None);

    // A bad field id, unknown tickets.
    for (step, method, path) in [
        (
            "search with a bad field id",
            Method::GET,
            "/search/Ticket?criteria[0][field]=99999&criteria[0][searchtype]=contains&criteria[0][value]=x",
        ),
        ("get an unknown ticket", Method::GET, "/Ticket/99999999"),
        (
            "delete an unknown ticket",
            Method::DELETE,
            "/Ticket/99999999",
        ),
        ("unknown itemtype", Method::GET, "/NoSuchThing/1"),
    ] {
        let a_g = glpi.call(method.clone(), path, &[], None, true).await;
        let a_t = tg.call(method, path, &[], None, true).await;
        same_outcome(step, &a_g, &a_t);
    }

    // Batch create: one good, one empty object, one in an entity that does not exist.
    let batch = json!({"input": [{"name": format!("{tag} batch"), "content": "b"}, {}, {"name": "x", "content": "y", "entities_id": 999999}]});
    let a_g = glpi.send(Method::POST, "/Ticket", batch.clone()).await;
    let a_t = tg.send(Method::POST, "/Ticket", batch).await;
    same_outcome("batch create with a failing item", &a_g, &a_t);

    for s in sides {
        s.call(Method::GET, "/killSession", &[], None, true).await;
    }
}

/// The venv `.ci/setup.d/21-glpi-clients.sh` installs the client libraries into, or
/// `None` (with the reason) outside CI when it is not there.
fn clients_python() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("TICKETGATE_CLIENTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/tmp/ticketgate-clients".into());
    let python = dir.join("venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
    assert!(
        !in_ci,
        "{} is missing under CI: .ci/setup.d/21-glpi-clients.sh installs it",
        python.display()
    );
    eprintln!("client-library test skipped: run .ci/setup.d/21-glpi-clients.sh first");
    None
}

/// One client-library workflow script against one server; its JSON report.
fn run_workflow(
    python: &std::path::Path,
    script: &str,
    url: &str,
    token: &str,
    tag: &str,
) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let out = std::process::Command::new(python)
        .arg(&path)
        .args([url, token, tag])
        .output()
        .expect("the workflow script runs");
    assert!(
        out.status.success(),
        "{script} against {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{script}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// PyPI `glpi-api` 0.7.0 driven through an ordinary workflow against GLPI and against
/// ticketgate: every step answers the same.
#[tokio::test]
async fn pypi_glpi_api_workflow_answers_the_same() {
    let Some(env) = live::vendor(Vendor::Glpi) else {
        return;
    };
    let Some(python) = clients_python() else {
        return;
    };
    let g = Gateway::start(&serving_config(""));
    let tag = unique("wf");
    let glpi = run_workflow(
        &python,
        "glpi_api_workflow.py",
        &env["GLPI_URL"],
        &env["GLPI_USER_TOKEN"],
        &tag,
    );
    let tg = run_workflow(
        &python,
        "glpi_api_workflow.py",
        &g.url("/apirest.php"),
        "demo-user-token",
        &tag,
    );
    let steps = glpi.as_object().expect("steps");
    let mut differences = Vec::new();
    for (step, outcome) in steps {
        if tg[step] != *outcome {
            differences.push(format!(
                "{step}:\n    GLPI:       {outcome}\n    ticketgate: {}",
                tg[step]
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "glpi-api workflow differs:\n  {}",
        differences.join("\n  ")
    );
}

/// PyPI `glpi-provider` 0.3.9 driven through its own workflow against GLPI and
/// against ticketgate. The library is at fault in two places, and the gateway is not
/// bent to them: its default `locations_id` (null) is refused by GLPI 10 itself, so
/// the workflow names a location; and it writes itemtypes in lower case
/// (`/ticket/N/ITILFollowup/`, `search/ticket`), which GLPI 10 refuses with
/// `ERROR_RESOURCE_NOT_FOUND_NOR_COMMONDBTM` on a case-sensitive file system (PHP
/// finds the class only when it is already loaded), while ticketgate, like GLPI on
/// a case-insensitive one, serves them. Those steps are checked to fail on GLPI for
/// that reason and to work on ticketgate; every other step answers the same.
#[tokio::test]
async fn pypi_glpi_provider_workflow_answers_the_same() {
    let Some(env) = live::vendor(Vendor::Glpi) else {
        return;
    };
    let Some(python) = clients_python() else {
        return;
    };
    let g = Gateway::start(&serving_config(""));
    let tag = unique("gp");
    let root = |url: &str| {
        url.trim_end_matches('/')
            .trim_end_matches("/apirest.php")
            .to_owned()
    };
    let glpi = run_workflow(
        &python,
        "glpi_provider_workflow.py",
        &root(&env["GLPI_URL"]),
        &env["GLPI_USER_TOKEN"],
        &tag,
    );
    let tg = run_workflow(
        &python,
        "glpi_provider_workflow.py",
        &root(&g.url("/apirest.php")),
        "demo-user-token",
        &tag,
    );
    let lower_case_itemtype = ["add comment", "open tickets"];
    for step in lower_case_itemtype {
        assert_eq!(glpi[step]["ok"], false, "{step} on GLPI: {}", glpi[step]);
        assert_eq!(tg[step]["ok"], true, "{step} on ticketgate: {}", tg[step]);
    }
    assert!(
        glpi["open tickets"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("ERROR_RESOURCE_NOT_FOUND_NOR_COMM")),
        "{}",
        glpi["open tickets"]
    );
    // The comment is there on ticketgate, and its open tickets list the new one.
    assert_eq!(
        tg["get ticket after comment"]["value"]["followups"],
        json!(["Any news?"])
    );
    assert_eq!(
        tg["open tickets"]["value"],
        json!([{"content": tag, "status_id": 1}])
    );
    let mut differences = Vec::new();
    for (step, outcome) in glpi.as_object().expect("steps") {
        if lower_case_itemtype.contains(&step.as_str()) || step == "get ticket after comment" {
            continue;
        }
        if tg[step] != *outcome {
            differences.push(format!(
                "{step}:\n    GLPI:       {outcome}\n    ticketgate: {}",
                tg[step]
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "glpi-provider workflow differs:\n  {}",
        differences.join("\n  ")
    );
}
