//! Golden files: each endpoint's request model → canonical operation, canonical
//! ticket → TicketsApi response models, TicketsApi models → canonical ticket, and
//! errors → ProblemDetails.
//!
//! Inputs and expected outputs live under `tests/golden/`. A mismatch writes the
//! output to `<name>.expected.failed` beside the expected file.
//! `UPDATE_GOLDEN=1 cargo test -p ticketgate-ticketsapi --test golden` rewrites the
//! expected files: read the diff before keeping it.
//!
//! `.form` inputs are one `Name=value` per line (`#` starts a comment); a line
//! `@Uploads=name;media-type;content` is an uploaded file; `_only_private=true` on a
//! list form stands for a token with `Tickets.OnlyPrivate`.

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use ticketgate_model::{Error, Ticket};
use ticketgate_ticketsapi::form::{Form, Upload};
use ticketgate_ticketsapi::server::{self, AllowedExtensions};
use ticketgate_ticketsapi::{problem, wire};

/// The path id every request case uses, and the caller's subject.
const PATH_ID: &str = "42";
const ME: &str = "agent-7";

fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(sub)
}

fn check(expected: &Path, actual: &str) {
    let actual = format!("{actual}\n");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(expected, &actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(expected)
        .unwrap_or_else(|_| panic!("missing golden file {}", expected.display()));
    let failed = expected.with_extension("failed");
    if want != actual {
        std::fs::write(&failed, &actual).unwrap();
        panic!(
            "{} differs from the output (written to {})",
            expected.display(),
            failed.display()
        );
    }
    let _ = std::fs::remove_file(failed);
}

fn pretty<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

fn outcome<T: Serialize>(r: Result<T, Error>) -> String {
    pretty(&match r {
        Ok(v) => json!({ "ok": v }),
        Err(e) => json!({ "error": {
            "kind": e.kind.as_str(),
            "field": e.field,
            "message": e.message,
        }}),
    })
}

fn parse_form(text: &str) -> (Form, bool) {
    let mut form = Form::default();
    let mut only_private = false;
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (k, v) = line.split_once('=').expect("Name=value");
        if let Some(field) = k.strip_prefix('@') {
            let mut it = v.splitn(3, ';');
            form.files.push(Upload {
                field: field.to_owned(),
                file_name: it.next().unwrap().to_owned(),
                content_type: it.next().unwrap().to_owned(),
                data: Bytes::from(it.next().unwrap_or("").to_owned()),
            });
        } else if k == "_only_private" {
            only_private = v == "true";
        } else {
            form.fields.push((k.to_owned(), v.to_owned()));
        }
    }
    (form, only_private)
}

fn current_ticket() -> Ticket {
    let text = std::fs::read_to_string(dir("current_ticket.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn inputs(sub: &str, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no {suffix} inputs in {sub}");
    files
}

#[test]
fn request_models_to_canonical() {
    let allowed =
        AllowedExtensions::new(&ticketgate_ticketsapi::ServerConfig::default().allowed_extensions);
    let current = current_ticket();
    for input in inputs("requests", ".form") {
        let name = input.file_name().unwrap().to_string_lossy().to_string();
        let endpoint = name.split("__").next().unwrap();
        let (form, only_private) = parse_form(&std::fs::read_to_string(&input).unwrap());
        let out = match endpoint {
            "register" => outcome(server::register(&form, &allowed)),
            "new" => outcome(server::integration_ticket(&form, &allowed)),
            "update" => outcome(server::update_patch(&form, PATH_ID, &current)),
            "reply" => outcome(server::reply_entry(&form, PATH_ID, ME, &allowed)),
            "forward" => outcome(server::forward_entry(&form, PATH_ID, ME, &allowed)),
            "reqreply" => outcome(server::requester_reply_entry(
                &form, PATH_ID, &current, &allowed,
            )),
            "close" => outcome(server::closure(&form, PATH_ID)),
            "resolve" => outcome(server::resolution(&form, PATH_ID)),
            "list" => outcome(
                server::list_plan(&form, ME, only_private)
                    .map(|p| json!({"queries": p.queries, "offset": p.offset, "limit": p.limit})),
            ),
            "username" => outcome(server::username_query(&form)),
            other => panic!("unknown endpoint {other} in {name}"),
        };
        check(&input.with_extension("expected.json"), &out);
    }
}

#[test]
fn canonical_tickets_to_response_models() {
    for input in inputs("responses", ".ticket.json") {
        let t: Ticket = serde_json::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
        let base = input.to_string_lossy().replace(".ticket.json", "");
        check(
            Path::new(&format!("{base}.model.json")),
            &pretty(&wire::ticket_model(&t)),
        );
        check(
            Path::new(&format!("{base}.list.json")),
            &pretty(&wire::list_model(&t)),
        );
    }
}

#[test]
fn vendor_models_to_canonical_tickets() {
    for input in inputs("client", ".model.json") {
        let m: wire::TicketApiModel =
            serde_json::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
        let base = input.to_string_lossy().replace(".model.json", "");
        check(
            Path::new(&format!("{base}.ticket.json")),
            &pretty(&wire::ticket_from_model(m)),
        );
    }
}

#[test]
fn response_models_read_back_to_the_same_ticket() {
    // What the server face writes, the client face reads back without loss of the
    // fields TicketsApi carries.
    let t = current_ticket();
    let back = wire::ticket_from_model(
        serde_json::from_value(serde_json::to_value(wire::ticket_model(&t)).unwrap()).unwrap(),
    );
    assert_eq!(back.id, t.id);
    assert_eq!(back.subject, t.subject);
    assert_eq!(back.status, t.status);
    assert_eq!(back.priority, t.priority);
    assert_eq!(back.department, t.department);
    assert_eq!(back.location, t.location);
    assert_eq!(back.topic, t.topic);
    assert_eq!(back.assignee, t.assignee);
    assert_eq!(back.requester, {
        let mut r = t.requester.clone();
        r.phone = None;
        r
    });
    assert_eq!(back.due_at, t.due_at);
    assert_eq!(back.solved_at, t.solved_at);
    assert_eq!(back.entries.len(), t.entries.len());
    for (a, b) in back.entries.iter().zip(&t.entries) {
        assert_eq!(
            (a.kind, &a.body, a.created_at),
            (b.kind, &b.body, b.created_at)
        );
    }
    assert_eq!(back.custom_fields, t.custom_fields);
}

#[test]
fn errors_to_problem_details() {
    use ticketgate_model::ErrorKind;
    let cases = vec![
        Error::bad_input("unknown department \"77\"").field("department"),
        Error::bad_input("no field"),
        Error::unauthorized("token has expired"),
        Error::unauthorized("token algorithm \"\u{7}x\" is not accepted"),
        Error::forbidden("the token does not grant Tickets.Close"),
        Error::not_found("ticket 9 not found"),
        Error::conflict("ticket 100009 is deleted"),
        Error::new(
            ErrorKind::PayloadTooLarge,
            "a multipart part is larger than 1024 bytes",
        ),
        Error::rate_limited(Duration::from_secs(7)),
        Error::unsupported("osticket-core", "search"),
        Error::upstream_unavailable("the upstream timed out"),
        Error::upstream_rejected("bad key").with_upstream_status(401),
        Error::internal("bug"),
    ];
    let rendered: Vec<Value> = cases
        .iter()
        .map(|e| {
            let r = problem::error_response(e);
            let header = |name: &str| {
                r.headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_owned())
            };
            json!({
                "status": r.status().as_u16(),
                "content-type": header("content-type"),
                "www-authenticate": header("www-authenticate"),
                "retry-after": header("retry-after"),
                "body": serde_json::from_slice::<Value>(r.body()).unwrap(),
            })
        })
        .collect();
    check(&dir("errors.expected.json"), &pretty(&rendered));
}
