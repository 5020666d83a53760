//! Golden files: vendor JSON in → canonical out (server face decoding, client face
//! reading), canonical in → vendor request out (server face encoding, client face
//! requests). Each `tests/golden/<case>.in.json` has its `<case>.out.json`;
//! `UPDATE_GOLDEN=1 cargo test -p ticketgate-itsmng --test golden` rewrites the outputs
//! (then read every changed file before keeping it).

use serde_json::{Value, json};
use std::path::PathBuf;
use ticketgate_itsmng::errors::{ApiError, Stage};
use ticketgate_itsmng::mapping::{self, SessionDefaults};
use ticketgate_itsmng::{lookup_items, params, search};
use ticketgate_model::{
    Assignment, Attachment, Error, ErrorKind, NewEntry, NewTicket, Query, Resolution, Ticket,
    TicketPatch,
};

const API: &str = "http://help.example.com/apirest.php";

fn obj(v: &Value) -> &serde_json::Map<String, Value> {
    v.as_object().expect("an object")
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("serializable")
}

fn run(case: &str, input: &Value) -> Value {
    let session = SessionDefaults {
        user: "alice".into(),
        entity: 0,
    };
    match case {
        // Server face: canonical → vendor.
        "ticket_row" | "ticket_row_expanded" => {
            let t: Ticket = serde_json::from_value(input.clone()).unwrap();
            let mut row = mapping::ticket_row(&t, case == "ticket_row_expanded");
            row.insert("links".into(), mapping::ticket_links(&t, API));
            Value::Object(row)
        }
        "search_row" => {
            let t: Ticket = serde_json::from_value(input.clone()).unwrap();
            Value::Object(search::search_row(
                &t,
                &[2, 1, 12, 19, 15, 3, 4, 5, 7, 18, 21, 14, 80, 83],
            ))
        }
        // Server face: vendor → canonical.
        "create_input" | "create_input_actors" => {
            match mapping::new_ticket_from_input(obj(input), &session) {
                Ok(t) => to_json(&t),
                Err(e) => json!({"error": e}),
            }
        }
        "update_input" => {
            let current: Ticket = serde_json::from_value(input["current"].clone()).unwrap();
            to_json(&mapping::patch_from_input(obj(&input["input"]), Some(&current)).unwrap())
        }
        "followup_input" => {
            let (id, e) = mapping::entry_from_followup_input(obj(input)).unwrap();
            json!({"ticket": id, "entry": to_json(&e)})
        }
        "search_spec" => {
            let s = search::search_spec(&params::parse_php_query(input.as_str().unwrap())).unwrap();
            json!({
                "query": to_json(&s.query),
                "id": s.id,
                "columns": s.columns,
                "sort": s.sort,
                "order": s.order,
                "start": s.start,
                "end": s.end,
            })
        }
        // Client face: canonical → vendor request.
        "new_ticket_input" => {
            let t: NewTicket = serde_json::from_value(input.clone()).unwrap();
            json!({"input": mapping::new_ticket_input(&t).unwrap()})
        }
        "patch_input" => {
            let p: TicketPatch = serde_json::from_value(input.clone()).unwrap();
            json!({"input": mapping::patch_input(&p).unwrap()})
        }
        "query_params" => {
            let q: Query = serde_json::from_value(input.clone()).unwrap();
            let pairs = search::query_params(&q).unwrap();
            Value::Array(pairs.into_iter().map(|(k, v)| json!([k, v])).collect())
        }
        "entry_input" => {
            let e: NewEntry = serde_json::from_value(input["entry"].clone()).unwrap();
            json!({"input": mapping::followup_input(input["ticket"].as_str().unwrap(), &e).unwrap()})
        }
        "solution_input" => {
            let r: Resolution = serde_json::from_value(input["resolution"].clone()).unwrap();
            json!({"input": mapping::solution_input(input["ticket"].as_str().unwrap(), &r).unwrap()})
        }
        "close_input" => json!({"input": mapping::close_input()}),
        "actor_input" => {
            let a: Assignment = serde_json::from_value(input["assignment"].clone()).unwrap();
            let id = input["ticket"].as_str().unwrap();
            json!([
                {"Ticket_User": {"input": mapping::actor_input(id, a.assignee.as_ref().unwrap(), false, mapping::ACTOR_ASSIGNED).unwrap()}},
                {"Group_Ticket": {"input": mapping::actor_input(id, a.group.as_ref().unwrap(), true, mapping::ACTOR_ASSIGNED).unwrap()}}
            ])
        }
        "document_input" => {
            let f: Attachment = serde_json::from_value(input["file"].clone()).unwrap();
            json!({"uploadManifest": {"input": mapping::document_input(input["ticket"].as_str().unwrap(), &f).unwrap()}, "files": ["filename[0]"]})
        }
        "delete_mode" => Value::Array(
            input
                .as_array()
                .unwrap()
                .iter()
                .map(|v| {
                    let mode = mapping::delete_mode(Some(v).filter(|v| !v.is_null()));
                    json!({"force_purge": v, "mode": to_json(&mode), "client_query": mapping::delete_query(mode)})
                })
                .collect(),
        ),
        // Server face: vendor → canonical, continued.
        "solution_from_input" => {
            let (id, r) = mapping::solution_from_input(obj(input)).unwrap();
            json!({"ticket": id, "resolution": to_json(&r)})
        }
        "actor_from_input" | "group_actor_from_input" => Value::Array(
            input
                .as_array()
                .unwrap()
                .iter()
                .map(|i| match mapping::actor_from_input(obj(i), case == "group_actor_from_input") {
                    Ok((id, mapping::ActorChange::Assign(a))) => json!({"ticket": id, "assign": to_json(&a)}),
                    Ok((id, mapping::ActorChange::Requester(r))) => json!({"ticket": id, "requester": to_json(&r)}),
                    Err(e) => json!({"error": e}),
                })
                .collect(),
        ),
        // Client face: vendor answer → canonical.
        "vendor_ticket" => to_json(&mapping::ticket_from_row(input).unwrap()),
        "vendor_search" | "vendor_search_empty" => {
            to_json(&search::page_from_search(input, 0, 15).unwrap())
        }
        "vendor_followups" => Value::Array(
            params::list(input)
                .into_iter()
                .filter_map(mapping::entry_from_followup)
                .map(|e| to_json(&e))
                .collect(),
        ),
        "vendor_actors" => {
            let mut t: Ticket = serde_json::from_value(json!({
                "id": "123", "number": "123", "subject": "s", "body": "b", "requester": {},
                "status": {"state": "new"},
                "created_at": "2024-03-02T10:30:00Z", "updated_at": "2024-03-02T10:30:00Z"
            }))
            .unwrap();
            mapping::apply_actor_rows(&mut t, input.as_array().unwrap());
            json!({"requester": to_json(&t.requester), "assignee": to_json(&t.assignee), "cc": to_json(&t.cc)})
        }
        "vendor_dropdown" => to_json(&lookup_items(input)),
        "error_bodies" => Value::Array(
            input
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    let message = e["message"].as_str().unwrap();
                    let err = match e["kind"].as_str().unwrap() {
                        "not_found" => Error::not_found(message),
                        "bad_input" => Error::bad_input(message),
                        "forbidden" => Error::forbidden(message),
                        "unauthorized" => Error::unauthorized(message),
                        "rate_limited" => Error::rate_limited(std::time::Duration::from_secs(3)),
                        "unsupported" => Error::unsupported("osticket-core", "search"),
                        "upstream_unavailable" => Error::upstream_unavailable(message),
                        _ => Error::new(ErrorKind::Internal, message),
                    };
                    let mut out = serde_json::Map::new();
                    out.insert("kind".into(), e["kind"].clone());
                    for (name, stage) in [
                        ("read", Stage::Read),
                        ("add", Stage::Add),
                        ("update", Stage::Update),
                        ("delete", Stage::Delete),
                    ] {
                        let a = ApiError::from_canonical(&err, stage);
                        out.insert(
                            name.into(),
                            json!({"status": a.status, "retry_after": a.retry_after, "body": a.body(API)}),
                        );
                    }
                    Value::Object(out)
                })
                .collect(),
        ),
        other => panic!("no golden case {other}"),
    }
}

#[test]
fn golden_files() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut cases: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".in.json").map(str::to_owned)
        })
        .collect();
    cases.sort();
    assert!(cases.len() >= 27, "golden cases went missing: {cases:?}");
    let mut failed = Vec::new();
    for case in &cases {
        let input: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{case}.in.json"))).unwrap(),
        )
        .unwrap();
        let got = serde_json::to_string_pretty(&run(case, &input)).unwrap() + "\n";
        let out = dir.join(format!("{case}.out.json"));
        if update {
            std::fs::write(&out, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&out).unwrap_or_default();
        if want != got {
            std::fs::write(dir.join(format!("{case}.failed")), &got).unwrap();
            failed.push(case.clone());
        } else {
            let _ = std::fs::remove_file(dir.join(format!("{case}.failed")));
        }
    }
    assert!(
        failed.is_empty(),
        "golden mismatches (see tests/golden/*.failed): {failed:?}"
    );
}
