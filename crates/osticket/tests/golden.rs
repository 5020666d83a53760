//! Golden files: osTicket create bodies in, canonical tickets out; canonical tickets in,
//! the `tickets.json` body the client face sends out.
//!
//! `tests/golden/create/NAME.{json,xml}` → `NAME.canonical.json` (decoded) or
//! `NAME.error.txt` (the exact error text ticketgate answers with).
//! `tests/golden/encode/NAME.canonical.json` → `NAME.osticket.json`.
//! Regenerate with `UPDATE_GOLDEN=1 cargo test -p ticketgate-osticket --test golden`,
//! then read every changed file: a golden file is a claim.

use std::fs;
use std::path::{Path, PathBuf};
use ticketgate_model::NewTicket;
use ticketgate_osticket::{CreateFormat, decode_create, encode_create};

fn golden_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(sub)
}

fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some()
}

/// Compare (or, when updating, write) one expected file; returns a failure description.
fn check(path: &Path, actual: &str) -> Option<String> {
    if updating() {
        fs::write(path, actual).expect("golden files are writable when updating");
        return None;
    }
    match fs::read_to_string(path) {
        Ok(expected) if expected == actual => None,
        Ok(expected) => Some(format!(
            "{}:\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        )),
        Err(_) => Some(format!("{} is missing; actual:\n{actual}", path.display())),
    }
}

#[test]
fn create_bodies_decode_to_canonical_tickets() {
    let dir = golden_dir("create");
    let mut inputs: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("the golden directory exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            (name.ends_with(".json") || name.ends_with(".xml"))
                && !name.ends_with(".canonical.json")
        })
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 40, "only {} golden inputs", inputs.len());
    let mut failures = Vec::new();
    let mut stems = std::collections::HashSet::new();
    for input in &inputs {
        let stem = input
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.rsplit_once('.'))
            .map(|(s, _)| s.to_owned())
            .expect("golden inputs have an extension");
        assert!(stems.insert(stem.clone()), "two golden inputs named {stem}");
        let format = if input.extension().is_some_and(|e| e == "xml") {
            CreateFormat::Xml
        } else {
            CreateFormat::Json
        };
        let body = fs::read(input).expect("golden input is readable");
        let ok_path = dir.join(format!("{stem}.canonical.json"));
        let err_path = dir.join(format!("{stem}.error.txt"));
        match decode_create(format, &body) {
            Ok(t) => {
                t.validate().unwrap_or_else(|e| {
                    panic!("{stem}: decoded ticket fails canonical validation: {e}")
                });
                let out = serde_json::to_string_pretty(&t).expect("tickets serialize") + "\n";
                failures.extend(check(&ok_path, &out));
                if err_path.exists() && !updating() {
                    failures.push(format!("{stem} decoded but {} exists", err_path.display()));
                }
            }
            Err(e) => {
                failures.extend(check(&err_path, &format!("{}\n", e.message)));
                if ok_path.exists() && !updating() {
                    failures.push(format!(
                        "{stem} failed ({e}) but {} exists",
                        ok_path.display()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn canonical_tickets_encode_to_osticket_bodies() {
    let dir = golden_dir("encode");
    let mut inputs: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("the golden directory exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".canonical.json"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 5, "only {} encode inputs", inputs.len());
    let mut failures = Vec::new();
    for input in &inputs {
        let text = fs::read_to_string(input).expect("golden input is readable");
        let t: NewTicket = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not a NewTicket: {e}", input.display()));
        let name = input
            .to_string_lossy()
            .replace(".canonical.json", ".osticket.json");
        let out = match encode_create(&t) {
            Ok(v) => serde_json::to_string_pretty(&v).expect("JSON values serialize") + "\n",
            Err(e) => format!("error: {}\n", e.message),
        };
        failures.extend(check(Path::new(&name), &out));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// What the client face sends decodes back, through the server face's decoder, to the
/// same ticket: the two faces agree on every field osTicket carries.
#[test]
fn encoded_bodies_decode_back_to_the_same_ticket() {
    let dir = golden_dir("encode");
    for entry in fs::read_dir(&dir).expect("the golden directory exists") {
        let path = entry.expect("readable directory entry").path();
        if !path.to_string_lossy().ends_with(".canonical.json") {
            continue;
        }
        let t: NewTicket = serde_json::from_str(&fs::read_to_string(&path).expect("readable"))
            .expect("a NewTicket");
        let Ok(body) = encode_create(&t) else {
            continue;
        };
        let back = decode_create(CreateFormat::Json, body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{}: re-decoding failed: {e}", path.display()));
        assert_eq!(back.subject, t.subject, "{}", path.display());
        assert_eq!(back.body, t.body, "{}", path.display());
        assert_eq!(
            back.requester.email,
            t.requester.email,
            "{}",
            path.display()
        );
        assert_eq!(
            back.requester.phone,
            t.requester.phone,
            "{}",
            path.display()
        );
        assert_eq!(
            back.requester.phone_ext,
            t.requester.phone_ext,
            "{}",
            path.display()
        );
        assert_eq!(back.attachments, t.attachments, "{}", path.display());
        assert_eq!(back.custom_fields, t.custom_fields, "{}", path.display());
        assert_eq!(back.due_at, t.due_at, "{}", path.display());
        assert_eq!(back.note, t.note, "{}", path.display());
    }
}
