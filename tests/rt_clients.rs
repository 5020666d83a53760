//! The Request Tracker face judged by RT's own clients, over real sockets, against the
//! real binary running the shipped `gateway.toml` over the embedded store:
//!
//! - the PyPI `rt` library (3.8.1, `rt.rest2.Rt`) through a whole workflow
//!   (`tests/clients/rt_workflow.py`), then what the store holds, read through the
//!   canonical API;
//! - Debian's `rt-mailgate` (rt5-clients) delivering new mail and replies to
//!   `/REST/1.0/NoAuth/mail-gateway`, and exiting 75 (the mail server retries) when
//!   ticketgate is down or refuses for now, and 0 with `not ok` for a message that can
//!   never be delivered.
//!
//! Both come from `.ci/setup.d/31-rt-clients.sh`. Outside CI a test says it is skipped
//! when they are missing; under CI (`CI=true`) it fails.

mod support;

use base64::Engine as _;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::{Gateway, client};

const DEMO: &str = "Bearer demo-key";

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// Something `.ci/setup.d/31-rt-clients.sh` provides, or `None` outside CI.
fn provided(found: Option<PathBuf>, what: &str) -> Option<PathBuf> {
    if found.is_some() {
        return found;
    }
    assert!(
        !in_ci(),
        "{what} is missing under CI: .ci/setup.d/31-rt-clients.sh installs it"
    );
    eprintln!("RT client test skipped: {what} is missing (run .ci/setup.d/31-rt-clients.sh)");
    None
}

fn rt_python() -> Option<PathBuf> {
    let python = std::env::var_os("TICKETGATE_RT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/tmp/ticketgate-rt-clients/venv/bin/python".into());
    provided(
        python.exists().then_some(python),
        "the PyPI rt library's venv",
    )
}

fn rt_mailgate() -> Option<PathBuf> {
    let found = std::env::var_os("TICKETGATE_RT_MAILGATE")
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .or_else(|| {
            ["/usr/bin/rt-mailgate", "/usr/bin/rt-mailgate-5"]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| p.exists())
        });
    provided(found, "rt-mailgate (Debian's rt5-clients)")
}

/// The shipped configuration, as `cargo run -- serve` reads it.
fn shipped() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway.toml"))
        .expect("the shipped gateway.toml")
}

async fn ticket(g: &Gateway, id: &str) -> Value {
    let r = client()
        .get(g.url(&format!("/v1/tickets/{id}")))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "ticket {id}");
    r.json().await.unwrap()
}

/// Tickets whose text matches `q`, through the canonical API.
async fn search(g: &Gateway, q: &str) -> Vec<Value> {
    let r = client()
        .get(g.url("/v1/tickets"))
        .query(&[("q", q), ("limit", "100")])
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["items"].as_array().cloned().unwrap_or_default()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn the_rt_library_workflow_lands_in_the_store() {
    let Some(python) = rt_python() else { return };
    let g = Gateway::start(&shipped());
    let url = g.url("/REST/2.0/");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/rt_workflow.py");
    let tag = "rtlib-7f3a";
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .args([url.as_str(), "demo-rt-token", tag])
            .output()
            .expect("the workflow script runs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "rt_workflow.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    let ok = |name: &str| -> Value {
        let s = &steps[name];
        assert_eq!(s["ok"], true, "step {name}: {s}");
        s["value"].clone()
    };
    let id = ok("create").as_u64().expect("create answers a numeric id");
    let got = ok("get");
    assert_eq!(got["id"], id);
    assert_eq!(got["Subject"], format!("{tag} printer on fire"));
    assert_eq!(got["Status"], "new");
    assert_eq!(got["Queue"], "General");
    assert_eq!(got["Requestor"], serde_json::json!(["alice@example.com"]));
    assert_eq!(got["Cc"], serde_json::json!(["bob@example.com"]));
    assert_eq!(got["Owner"], "Nobody");
    assert_eq!(got["Priority"], "50");
    for link in ["self", "history", "correspond", "comment", "lifecycle"] {
        assert!(
            got["links"].as_array().unwrap().contains(&link.into()),
            "{link}"
        );
    }
    assert_eq!(ok("edit"), true);
    assert_eq!(
        ok("get after edit"),
        serde_json::json!({"Subject": format!("{tag} printer on fire (updated)"), "Status": "open", "Priority": "70"})
    );
    assert_eq!(ok("reply"), true);
    assert_eq!(ok("comment"), true);
    let id_s = id.to_string();
    assert_eq!(ok("search by queue"), serde_json::json!([id_s]));
    assert_eq!(ok("search raw"), serde_json::json!([id_s]));
    assert_eq!(
        ok("search with OR and fields"),
        serde_json::json!([[id_s, format!("{tag} printer on fire (updated)"), "General"]])
    );
    assert_eq!(ok("search nothing"), serde_json::json!([]));
    let history: Vec<String> = ok("history")
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["Type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(history, ["Create", "Correspond", "Comment"]);
    assert_eq!(ok("history")[0]["Creator"], "alice@example.com");
    assert_eq!(ok("transaction")["Type"], "Create");
    assert_eq!(ok("transaction")["Object"], id_s);
    let files = ok("attachments");
    assert_eq!(files["count"], 2);
    assert_eq!(files["names"], serde_json::json!(["note.txt", "photo.bin"]));
    let photo: Vec<u8> = (0..=255).collect();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(files["contents"]["photo.bin"], hex(&photo));
    assert_eq!(files["contents"]["note.txt"], hex(b"hello attachment\n"));
    assert_eq!(ok("take"), true);
    assert_eq!(
        ok("take again"),
        false,
        "a second take is refused in RT's words"
    );
    assert_eq!(ok("owner after take"), "demo");
    assert_eq!(ok("queue"), "General");
    let queues = ok("all queues");
    assert!(queues.as_array().unwrap().contains(&"General".into()));
    assert!(queues.as_array().unwrap().contains(&"Support".into()));
    assert_eq!(ok("user"), "alice@example.com");
    assert_eq!(steps["missing ticket"]["error"], "NotFoundError");
    assert_eq!(steps["bad query"]["error"], "BadRequestError");
    assert_eq!(steps["bad query"]["message"], "Unknown field: Foo");
    assert_eq!(ok("basic auth"), id);
    assert_eq!(steps["bad token"]["error"], "AuthorizationError");

    // What the store now holds.
    let t = ticket(&g, &id_s).await;
    assert_eq!(t["subject"], format!("{tag} printer on fire (updated)"));
    assert_eq!(t["status"]["state"], "open");
    assert_eq!(t["priority"]["level"], "high");
    assert_eq!(t["requester"]["email"], "alice@example.com");
    assert_eq!(t["cc"][0]["email"], "bob@example.com");
    assert_eq!(t["assignee"]["name"], "demo");
    assert_eq!(t["body"]["content"], "It is really on fire.\nPlease help.");
    assert_eq!(t["attachments"][0]["name"], "photo.bin");
    assert_eq!(t["attachments"][0]["bytes"], b64(&photo));
    let entries = t["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["kind"], "response");
    assert_eq!(entries[0]["body"]["content"], "We are on it.");
    assert_eq!(entries[0]["attachments"][0]["name"], "note.txt");
    assert_eq!(
        entries[0]["attachments"][0]["bytes"],
        b64(b"hello attachment\n")
    );
    assert_eq!(entries[1]["kind"], "note");
    assert_eq!(entries[1]["body"]["content"], "internal note: toner is low");
}

/// Run rt-mailgate as a mail server does: the message on stdin; (exit code, stderr).
/// `--debug` makes it print the gateway's answer on stderr.
fn mailgate(
    bin: &Path,
    url: &str,
    args: &[&str],
    env: &[(&str, &str)],
    message: &str,
) -> (i32, String) {
    let mut child = Command::new(bin)
        .args(["--url", url, "--debug"])
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rt-mailgate starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(message.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn blocking_mailgate(
    bin: &Path,
    url: String,
    args: &'static [&'static str],
    env: Vec<(&'static str, String)>,
    message: String,
) -> (i32, String) {
    let bin = bin.to_owned();
    tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        mailgate(&bin, &url, args, &env, &message)
    })
    .await
    .unwrap()
}

const CORRESPOND: &[&str] = &["--queue", "General", "--action", "correspond"];

#[tokio::test]
async fn rt_mailgate_delivers_new_mail_and_threads_replies() {
    let Some(bin) = rt_mailgate() else { return };
    let g = Gateway::start(&shipped());
    let base = format!("http://{}", g.addr);
    let tag = "mg-5c1d";

    // New mail opens a ticket.
    let first = format!(
        "From: Carol Jones <carol@example.com>\nTo: help@rt.example\nSubject: {tag} screen is blank\nMessage-ID: <{tag}-1@example.com>\n\nMy screen stays black after boot.\n"
    );
    let (code, err) =
        blocking_mailgate(&bin, base.clone(), CORRESPOND, vec![], first.clone()).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("\nok\n") || err.contains("ok\n"), "{err}");
    let found = search(&g, tag).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let id = found[0]["id"].as_str().unwrap().to_owned();
    let t = ticket(&g, &id).await;
    assert_eq!(t["subject"], format!("{tag} screen is blank"));
    assert_eq!(t["requester"]["email"], "carol@example.com");
    assert_eq!(t["requester"]["name"], "Carol Jones");
    assert_eq!(t["source"], "email");
    assert!(
        t["department"].is_null(),
        "the General queue is no department"
    );

    // The same message again (a mail server's retry): still one ticket.
    let (code, err) = blocking_mailgate(&bin, base.clone(), CORRESPOND, vec![], first).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(search(&g, tag).await.len(), 1);

    // A reply carrying RT's subject tag threads onto the ticket.
    let reply = format!(
        "From: carol@example.com\nSubject: Re: [rt.example #{id}] {tag} screen is blank\nMessage-ID: <{tag}-2@example.com>\n\nStill black this morning.\n"
    );
    let (code, err) = blocking_mailgate(&bin, base.clone(), CORRESPOND, vec![], reply).await;
    assert_eq!(code, 0, "{err}");
    // A reply with no tag, addressed through `--extension ticket` (EXTENSION=id, as
    // a mail server sets it for help+ID@), as a comment, to a URL with a trailing slash.
    let comment = format!(
        "From: carol@example.com\nSubject: one more thing\nMessage-ID: <{tag}-3@example.com>\n\nIt beeps twice.\n"
    );
    let (code, err) = blocking_mailgate(
        &bin,
        format!("{base}/"),
        &[
            "--queue",
            "General",
            "--action",
            "comment",
            "--extension",
            "ticket",
        ],
        vec![("EXTENSION", id.clone())],
        comment,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(search(&g, tag).await.len(), 1, "replies open no ticket");
    let t = ticket(&g, &id).await;
    let entries: Vec<(String, String)> = t["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["body"]["content"].as_str().unwrap().trim().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("message".to_owned(), "Still black this morning.".to_owned()),
            ("note".to_owned(), "It beeps twice.".to_owned()),
        ]
    );

    // A queue that is one of the helpdesk's departments.
    let support = format!(
        "From: dan@example.com\nSubject: {tag} vpn\nMessage-ID: <{tag}-4@example.com>\n\nVPN drops.\n"
    );
    let (code, err) = blocking_mailgate(
        &bin,
        base.clone(),
        &["--queue", "Support", "--action", "correspond"],
        vec![],
        support,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let vpn = search(&g, &format!("{tag} vpn")).await;
    assert_eq!(vpn.len(), 1);
    assert_eq!(vpn[0]["department"]["name"], "Support");

    // An auto-reply is accepted and dropped: no loop, no ticket.
    let auto = format!(
        "From: carol@example.com\nSubject: Out of office: {tag} screen is blank\nAuto-Submitted: auto-replied\nMessage-ID: <{tag}-5@example.com>\n\nI am away.\n"
    );
    let (code, err) = blocking_mailgate(&bin, base.clone(), CORRESPOND, vec![], auto).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("ok"), "{err}");
    assert_eq!(
        ticket(&g, &id).await["entries"].as_array().unwrap().len(),
        2
    );
    assert_eq!(search(&g, "Out of office").await.len(), 0);
}

#[tokio::test]
async fn rt_mailgate_retries_what_may_succeed_later_and_drops_what_never_will() {
    let Some(bin) = rt_mailgate() else { return };
    let mut g = Gateway::start(&shipped());
    let base = format!("http://{}", g.addr);
    let tag = "mgfail-91b2";
    let good = format!(
        "From: erin@example.com\nSubject: {tag} keyboard\nMessage-ID: <{tag}-1@example.com>\n\nKeys stick.\n"
    );

    // A queue that does not exist (a transport to fix): RT's "temporary failure", 75.
    let (code, err) = blocking_mailgate(
        &bin,
        base.clone(),
        &["--queue", "NoSuchQueue", "--action", "correspond"],
        vec![],
        good.clone(),
    )
    .await;
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("temporary failure - "), "{err}");
    // So is an action the gateway does not take.
    let (code, err) = blocking_mailgate(
        &bin,
        base.clone(),
        &["--queue", "General", "--action", "frobnicate"],
        vec![],
        good.clone(),
    )
    .await;
    assert_eq!(code, 75, "{err}");
    assert_eq!(search(&g, tag).await.len(), 0, "nothing was kept");

    // A message that can never become a ticket (no sender anywhere): `not ok`, which
    // rt-mailgate takes as final (exit 0), and nothing is stored.
    let junk = format!("Subject: {tag} junk\n\n\u{1}\u{2}binary\n");
    let (code, err) = blocking_mailgate(&bin, base.clone(), CORRESPOND, vec![], junk).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not ok - "), "{err}");
    assert_eq!(search(&g, tag).await.len(), 0);

    // ticketgate down: the mail server keeps the mail (75)…
    g.stop();
    let (code, err) = blocking_mailgate(&bin, base.clone(), CORRESPOND, vec![], good.clone()).await;
    assert_eq!(code, 75, "{err}");
    // …and delivers it once ticketgate is back.
    let dir = g.dir.clone();
    let g = Gateway::start_in(&dir, &shipped());
    let (code, err) = blocking_mailgate(
        &bin,
        format!("http://{}", g.addr),
        CORRESPOND,
        vec![],
        good.clone(),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(search(&g, tag).await.len(), 1);

    // A caller outside `mail_networks`: refused for now (403, 75), so a mail server
    // that is not yet allowed holds its mail until an operator allows it.
    let closed = shipped().replace(
        r#"mail_networks = ["127.0.0.0/8", "::1/128"]"#,
        r#"mail_networks = ["192.0.2.0/24"]"#,
    );
    assert_ne!(
        closed,
        shipped(),
        "the shipped configuration sets mail_networks"
    );
    let other = Gateway::start(&closed);
    let (code, err) = blocking_mailgate(
        &bin,
        format!("http://{}", other.addr),
        CORRESPOND,
        vec![],
        good,
    )
    .await;
    assert_eq!(code, 75, "{err}");
    assert!(err.contains("403"), "{err}");
}
