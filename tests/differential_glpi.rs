//! The ITSM-NG server face against the real GLPI 10.0.12: one request sequence sent
//! to the live `apirest.php` and to ticketgate's `/apirest.php` (over its embedded
//! store), answer by answer. What is compared: the status, the error code of an
//! error, the keys of a JSON object (or of the first row of a list), `Content-Range`
//! (the header, and the body's for a search), and the values a client reads back
//! (stored content, uids, totals). What is not: ids, dates and GLPI's free-text
//! messages (`"Item successfully added: …"`, where ticketgate answers `""`); each
//! such difference is named in the README.

mod support;

use support::clients::{python as clients_python, run as run_client};

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
    /// `Content-Type` and `Content-Disposition` (a document's download).
    content_type: Option<String>,
    disposition: Option<String>,
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
        let req = client().request(method, format!("{}{path}", self.url));
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        self.answer(req, headers, with_session).await
    }

    /// `POST /Document` as GLPI's clients upload: the manifest and one file.
    async fn upload(&self, manifest: Value, name: &str, bytes: &[u8]) -> Answer {
        let form = reqwest::multipart::Form::new()
            .text("uploadManifest", manifest.to_string())
            .part(
                "filename[0]",
                reqwest::multipart::Part::bytes(bytes.to_vec())
                    .file_name(name.to_owned())
                    .mime_str("text/plain")
                    .expect("a media type"),
            );
        let req = client()
            .post(format!("{}/Document", self.url))
            .multipart(form);
        self.answer(req, &[], true).await
    }

    async fn answer(
        &self,
        mut req: reqwest::RequestBuilder,
        headers: &[(&str, &str)],
        with_session: bool,
    ) -> Answer {
        if with_session {
            req = req.header("Session-Token", &self.session);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("the server answers");
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (content_range, content_type, disposition) = (
            header("content-range"),
            header("content-type"),
            header("content-disposition"),
        );
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            content_range,
            content_type,
            disposition,
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

/// An upload's answer: `id`, `message` and `upload_result` with GLPI's keys per file.
fn same_keys_one(a: &Answer, side: &str) {
    let keys: BTreeSet<String> = keys(&a.body);
    assert_eq!(
        keys,
        ["id", "message", "upload_result"].map(str::to_owned).into(),
        "{side}: {a:?}"
    );
    let file = keys_of(&a.body["upload_result"]["filename"][0]);
    assert_eq!(
        file,
        [
            "deleteType",
            "deleteUrl",
            "display",
            "filesize",
            "id",
            "name",
            "prefix",
            "size",
            "type",
            "url"
        ]
        .map(str::to_owned)
        .into(),
        "{side}: {a:?}"
    );
}

fn keys_of(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
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

    // Tasks: to do with a duration, done and private; listed oldest first.
    for s in sides {
        let id = ids[s.name];
        for (content, state, private) in [("Replace the fuser", 1, 0), ("Called the vendor", 2, 1)]
        {
            let a = s
                .send(
                    Method::POST,
                    "/TicketTask",
                    json!({"input": {"tickets_id": id, "content": content, "actiontime": 600, "state": state, "is_private": private}}),
                )
                .await;
            assert_eq!(a.status, 201, "{}: task {a:?}", s.name);
        }
    }
    let a_g = glpi
        .get(&format!("/Ticket/{gid}/TicketTask?order=ASC"))
        .await;
    let a_t = tg.get(&format!("/Ticket/{tid}/TicketTask?order=ASC")).await;
    same_outcome("list tasks", &a_g, &a_t);
    assert_eq!(a_g.content_range, a_t.content_range);
    same_keys("task rows", &a_g, &a_t, &[]);
    for k in [
        "content",
        "state",
        "actiontime",
        "is_private",
        "users_id_tech",
        "tickets_id",
    ] {
        let col = |a: &Answer, own: i64| -> Vec<Value> {
            a.body
                .as_array()
                .map(|rows| {
                    rows.iter()
                        .map(|r| {
                            if k == "tickets_id" {
                                json!(r[k] == own)
                            } else {
                                r[k].clone()
                            }
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        assert_eq!(col(&a_g, gid), col(&a_t, tid), "task {k}");
    }
    let a_g = glpi
        .send(
            Method::POST,
            "/TicketTask",
            json!({"input": {"tickets_id": 99999999, "content": "x"}}),
        )
        .await;
    let a_t = tg
        .send(
            Method::POST,
            "/TicketTask",
            json!({"input": {"tickets_id": 99999999, "content": "x"}}),
        )
        .await;
    same_outcome("task on an unknown ticket", &a_g, &a_t);

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

    // Documents: one of its own, its row, both downloads, linked to the ticket through
    // Document_Item; one uploaded linked to the ticket; the ticket's Document_Item list.
    let mut docs = HashMap::new();
    for s in sides {
        let a = s
            .upload(
                json!({"input": {"name": format!("{tag} notes"), "_filename": ["notes.txt"]}}),
                "notes.txt",
                b"hello from the notes\n",
            )
            .await;
        assert_eq!(a.status, 201, "{}: upload {a:?}", s.name);
        same_keys_one(&a, s.name);
        docs.insert(s.name, a.body["id"].as_i64().expect("a document id"));
    }
    let (gdoc, tdoc) = (docs["GLPI"], docs["ticketgate"]);
    let a_g = glpi.get(&format!("/Document/{gdoc}")).await;
    let a_t = tg.get(&format!("/Document/{tdoc}")).await;
    same_outcome("get Document", &a_g, &a_t);
    same_keys("document row", &a_g, &a_t, &[]);
    for k in [
        "name",
        "filename",
        "mime",
        "sha1sum",
        "filepath",
        "tickets_id",
        "is_deleted",
    ] {
        assert_eq!(a_g.body[k], a_t.body[k], "document {k}");
    }
    for (step, query, accept) in [
        ("download, Accept", "", "application/octet-stream"),
        ("download, alt=media", "?alt=media", "*/*"),
    ] {
        let a_g = glpi
            .call(
                Method::GET,
                &format!("/Document/{gdoc}{query}"),
                &[("Accept", accept)],
                None,
                true,
            )
            .await;
        let a_t = tg
            .call(
                Method::GET,
                &format!("/Document/{tdoc}{query}"),
                &[("Accept", accept)],
                None,
                true,
            )
            .await;
        same_outcome(step, &a_g, &a_t);
        assert_eq!(a_g.body, json!("hello from the notes\n"), "{step}: {a_g:?}");
        assert_eq!(a_g.body, a_t.body, "{step}");
        assert_eq!(a_g.content_type, a_t.content_type, "{step}: Content-Type");
        assert_eq!(
            a_g.disposition, a_t.disposition,
            "{step}: Content-Disposition"
        );
    }
    let a_g = glpi
        .send(
            Method::POST,
            "/Document_Item",
            json!({"input": {"documents_id": gdoc, "itemtype": "Ticket", "items_id": gid}}),
        )
        .await;
    let a_t = tg
        .send(
            Method::POST,
            "/Document_Item",
            json!({"input": {"documents_id": tdoc, "itemtype": "Ticket", "items_id": tid}}),
        )
        .await;
    same_outcome("link a document to the ticket", &a_g, &a_t);
    assert_eq!(a_g.status, 201, "{a_g:?}");
    let mut linked_names = Vec::new();
    for s in sides {
        let a = s
            .upload(
                json!({"input": {"name": "ignored", "_filename": ["log.txt"], "itemtype": "Ticket", "items_id": ids[s.name]}}),
                "log.txt",
                b"log line\n",
            )
            .await;
        assert_eq!(a.status, 201, "{}: linked upload {a:?}", s.name);
        let id = a.body["id"].as_i64().expect("a document id");
        linked_names.push(s.get(&format!("/Document/{id}")).await.body["name"].clone());
    }
    assert_eq!(
        linked_names[0], linked_names[1],
        "a linked document's title"
    );
    let a_g = glpi.get(&format!("/Ticket/{gid}/Document_Item")).await;
    let a_t = tg.get(&format!("/Ticket/{tid}/Document_Item")).await;
    same_outcome("list the ticket's Document_Item", &a_g, &a_t);
    assert_eq!(a_g.content_range, a_t.content_range);
    same_keys("Document_Item rows", &a_g, &a_t, &["users_id"]);
    let a_g = glpi.get("/Document/99999999?alt=media").await;
    let a_t = tg.get("/Document/99999999?alt=media").await;
    same_outcome("download an unknown document", &a_g, &a_t);

    // Batch create: one good, one empty object, one in an entity that does not exist.
    let batch = json!({"input": [{"name": format!("{tag} batch"), "content": "b"}, {}, {"name": "x", "content": "y", "entities_id": 999999}]});
    let a_g = glpi.send(Method::POST, "/Ticket", batch.clone()).await;
    let a_t = tg.send(Method::POST, "/Ticket", batch).await;
    same_outcome("batch create with a failing item", &a_g, &a_t);

    for s in sides {
        s.call(Method::GET, "/killSession", &[], None, true).await;
    }
}

/// One Python workflow script against one server; its JSON report.
fn run_workflow(
    python: &std::path::Path,
    script: &str,
    url: &str,
    token: &str,
    tag: &str,
) -> Value {
    run_client(python, None, script, &[url, token, tag])
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

/// The configuration the client-library workflows run against: the shipped dialects
/// over the embedded store, with one known App-Token (the PyPI `glpi` library and the
/// npm `glpi-api` refuse to run without one, and GLPI checks any token it is given).
fn app_token_config() -> String {
    serving_config("").replacen(
        "require_app_token = false",
        "require_app_token = false\napp_tokens = [\"demo-app-token\"]",
        1,
    )
}

/// `node_modules` of the npm clients `.ci/setup.d/22-glpi-npm-clients.sh` installs,
/// or `None` (with the reason) outside CI when they are not there.
fn npm_clients() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("TICKETGATE_NPM_CLIENTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/tmp/ticketgate-npm-clients".into())
        .join("node_modules");
    if dir.join("glpi-api").is_dir() && dir.join("glpi-client").is_dir() {
        return Some(dir);
    }
    let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
    assert!(
        !in_ci,
        "{} is missing under CI: .ci/setup.d/22-glpi-npm-clients.sh installs it",
        dir.display()
    );
    eprintln!("npm client-library test skipped: run .ci/setup.d/22-glpi-npm-clients.sh first");
    None
}

/// Every step whose outcome differs, but those in `known` (checked by the caller).
fn step_differences(glpi: &Value, tg: &Value, known: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let steps = glpi.as_object().expect("steps");
    assert!(!steps.is_empty(), "the workflow recorded no step");
    for (step, outcome) in steps {
        if known.contains(&step.as_str()) {
            continue;
        }
        if tg[step] != *outcome {
            out.push(format!(
                "{step}:\n    GLPI:       {outcome}\n    ticketgate: {}",
                tg[step]
            ));
        }
    }
    for step in tg.as_object().expect("steps").keys() {
        if !steps.contains_key(step) {
            out.push(format!("{step}: only on ticketgate"));
        }
    }
    out
}

/// `getActiveProfile`: GLPI answers the whole profile with its rights matrix (about
/// 120 keys); ticketgate, which has no GLPI rights matrix to show (its permissions are
/// the consumer's), answers the profile's `id`, `name` and `interface`, all of which
/// GLPI's answer has too. A deliberate difference, named in the README.
fn active_profile_differs_as_documented(glpi: &Value, tg: &Value) {
    let keys = |v: &Value| -> Vec<String> {
        v["active profile"]["value"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (g, t) = (keys(glpi), keys(tg));
    assert_eq!(t, ["id", "interface", "name"], "{}", tg["active profile"]);
    assert!(
        t.iter().all(|k| g.contains(k)) && g.contains(&"ticket".to_owned()),
        "{}",
        glpi["active profile"]
    );
}

/// PyPI `glpi` 0.4.0 (the "GLPI SDK for Python") driven through its generic client
/// against GLPI and against ticketgate: every step answers the same. The library's
/// own faults (its `%d` search placeholders, a `kill` that cannot run, lower-case
/// itemtypes where the caller writes them so) are steps too: they fail alike on
/// both, or work alike (see the script).
#[tokio::test]
async fn pypi_glpi_sdk_workflow_answers_the_same() {
    let Some(env) = live::vendor(Vendor::Glpi) else {
        return;
    };
    let Some(python) = clients_python() else {
        return;
    };
    let g = Gateway::start(&app_token_config());
    let tag = unique("sdk");
    let glpi = run_client(
        &python,
        None,
        "glpi_sdk_workflow.py",
        &[
            &env["GLPI_URL"],
            &env["GLPI_USER_TOKEN"],
            &env["GLPI_APP_TOKEN"],
            &tag,
        ],
    );
    let tg = run_client(
        &python,
        None,
        "glpi_sdk_workflow.py",
        &[
            &g.url("/apirest.php"),
            "demo-user-token",
            "demo-app-token",
            &tag,
        ],
    );
    // The library's own faults, the same on both sides.
    assert_eq!(
        glpi["search engine (the library's %d placeholders)"]["value"], "ERROR",
        "{}",
        glpi
    );
    assert_eq!(glpi["kill session"]["error"], "TypeError", "{}", glpi);
    assert_eq!(
        glpi["get ticket"]["value"]["name"],
        format!("{tag} printer")
    );
    active_profile_differs_as_documented(&glpi, &tg);
    // The library writes the itemtype as given: GLPI 10 refuses a lower-case one on a
    // case-sensitive file system; ticketgate serves itemtypes in any case (a
    // deliberate difference, named in the README).
    let lower = "search options (library's lower case)";
    assert_eq!(
        glpi[lower]["value"], "ERROR_RESOURCE_NOT_FOUND_NOR_COMMONDBTM",
        "{}",
        glpi[lower]
    );
    assert_eq!(tg[lower]["value"], "listed", "{}", tg[lower]);
    let differences = step_differences(&glpi, &tg, &["active profile", lower]);
    assert!(
        differences.is_empty(),
        "glpi (PyPI) workflow differs:\n  {}",
        differences.join("\n  ")
    );
}

/// npm `glpi-api` 1.6.1 driven through an ordinary workflow (documents included)
/// against GLPI and against ticketgate: every step answers the same.
#[tokio::test]
async fn npm_glpi_api_workflow_answers_the_same() {
    let Some(env) = live::vendor(Vendor::Glpi) else {
        return;
    };
    let Some(modules) = npm_clients() else {
        return;
    };
    let node = std::path::Path::new("node");
    let g = Gateway::start(&app_token_config());
    let tag = unique("npmapi");
    let glpi = run_client(
        node,
        Some(&modules),
        "npm_glpi_api_workflow.js",
        &[
            &env["GLPI_URL"],
            &env["GLPI_USER_TOKEN"],
            &env["GLPI_APP_TOKEN"],
            &tag,
        ],
    );
    let tg = run_client(
        node,
        Some(&modules),
        "npm_glpi_api_workflow.js",
        &[
            &g.url("/apirest.php"),
            "demo-user-token",
            "demo-app-token",
            &tag,
        ],
    );
    assert_eq!(
        glpi["download the linked document"]["value"], "log line 1\nlog line 2\n",
        "{glpi}"
    );
    active_profile_differs_as_documented(&glpi, &tg);
    let differences = step_differences(&glpi, &tg, &["active profile"]);
    assert!(
        differences.is_empty(),
        "glpi-api (npm) workflow differs:\n  {}",
        differences.join("\n  ")
    );
}

/// npm `glpi-client` 2.0.0 driven through an ordinary workflow against GLPI and
/// against ticketgate: every step answers the same.
#[tokio::test]
async fn npm_glpi_client_workflow_answers_the_same() {
    let Some(env) = live::vendor(Vendor::Glpi) else {
        return;
    };
    let Some(modules) = npm_clients() else {
        return;
    };
    let node = std::path::Path::new("node");
    let g = Gateway::start(&app_token_config());
    let tag = unique("npmclient");
    let glpi = run_client(
        node,
        Some(&modules),
        "npm_glpi_client_workflow.js",
        &[
            &env["GLPI_URL"],
            &env["GLPI_USER_TOKEN"],
            &env["GLPI_APP_TOKEN"],
            &tag,
        ],
    );
    let tg = run_client(
        node,
        Some(&modules),
        "npm_glpi_client_workflow.js",
        &[
            &g.url("/apirest.php"),
            "demo-user-token",
            "demo-app-token",
            &tag,
        ],
    );
    assert_eq!(glpi["search"]["value"][2], 3, "{glpi}");
    active_profile_differs_as_documented(&glpi, &tg);
    // The library sends a batch delete as query parameters (`input[0][id]=…`). GLPI
    // reads query items as PHP arrays where its delete loop wants objects, so it
    // skips every one and answers 200 with an empty list, deleting nothing; ticketgate
    // deletes what the caller named (a deliberate difference, named in the README:
    // never a silent success).
    let batch = "delete a batch, purged";
    assert_eq!(glpi[batch]["value"], json!([200, 0]), "{}", glpi[batch]);
    assert_eq!(tg[batch]["value"], json!([200, 2]), "{}", tg[batch]);
    let purged = "get a purged ticket";
    assert_eq!(glpi[purged]["value"][0], 200, "{}", glpi[purged]);
    assert_eq!(
        tg[purged]["error"], "404 ERROR_ITEM_NOT_FOUND",
        "{}",
        tg[purged]
    );
    let differences = step_differences(&glpi, &tg, &["active profile", batch, purged]);
    assert!(
        differences.is_empty(),
        "glpi-client (npm) workflow differs:\n  {}",
        differences.join("\n  ")
    );
}
