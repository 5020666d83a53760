//! Golden corpus: every `corpus/NAME.eml` is parsed (with LF and with CRLF line endings)
//! and compared with `corpus/NAME.json`. `corpus/NAME.config.json`, when present, is the
//! `MailConfig` used for that message. `UPDATE_GOLDEN=1 cargo test -p ticketgate-mail`
//! rewrites the expected files (check every change by eye).

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use ticketgate_mail::{MailConfig, SenderPolicy, parse};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
    for (i, b) in raw.iter().enumerate() {
        if *b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(*b);
    }
    out
}

/// The stable view of a parse result that the expected files hold.
fn view(raw: &[u8], config: &MailConfig) -> Value {
    match parse(raw, config) {
        Err(e) => json!({ "error": e.to_string() }),
        Ok(mail) => {
            let entry = mail.to_entry();
            if mail.noise.is_none() {
                assert!(
                    mail.ticket.validate().is_ok(),
                    "a mail that opens a ticket must give a valid ticket: {:?}",
                    mail.ticket.validate()
                );
            }
            json!({
                "ticket": serde_json::to_value(&mail.ticket).expect("NewTicket serialises"),
                "from": mail.from,
                "reply_to": mail.reply_to,
                "message_id": mail.message_id,
                "in_reply_to": mail.in_reply_to,
                "references": mail.references,
                "date": mail.date,
                "digest": mail.digest,
                "dedup_key": mail.dedup_key,
                "subject_number": mail.subject_number,
                "reply_text": mail.reply_text,
                "noise": mail.noise.map(|n| n.reason()),
                "sender": match mail.sender {
                    SenderPolicy::Allowed => json!("allowed"),
                    SenderPolicy::Denied { reason } => json!({ "denied": reason }),
                },
                "entry": {
                    "kind": entry.kind,
                    "body": entry.body,
                    "attachments": entry.attachments.len(),
                },
            })
        }
    }
}

#[test]
fn golden_corpus() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut names: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    names.sort();
    assert!(names.len() >= 40, "the corpus has {} messages", names.len());
    let mut failures = Vec::new();
    for eml in &names {
        let raw = std::fs::read(eml).expect("read eml");
        let config_path = eml.with_extension("config.json");
        let config: MailConfig = if config_path.exists() {
            let text = std::fs::read_to_string(&config_path).expect("read config");
            serde_json::from_str(&text).expect("valid MailConfig")
        } else {
            MailConfig::default()
        };
        let lf = view(&raw, &config);
        let crlf = view(&to_crlf(&raw), &config);
        let name = eml.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if lf != crlf {
            failures.push(format!(
                "{name}: LF and CRLF differ:\nLF:   {lf}\nCRLF: {crlf}"
            ));
            continue;
        }
        let expected_path = eml.with_extension("json");
        let actual = serde_json::to_string_pretty(&lf).expect("serialises") + "\n";
        if update {
            std::fs::write(&expected_path, &actual).expect("write golden");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "{name}: differs from {}:\n{actual}",
                expected_path.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
