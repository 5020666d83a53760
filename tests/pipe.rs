//! Email to ticket end to end: `ticketgate pipe` as a mail server runs it (one message
//! on stdin, an exit status per sysexits), writing to the same data directory a running
//! `ticketgate serve` uses; and the same messages over HTTP.

mod support;

use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use support::{Gateway, canonical_config, client};

const DEMO: &str = "Bearer demo-key";

/// Pipe `message` into `ticketgate pipe`; returns (exit code, stdout, stderr).
fn pipe(dir: &Path, message: &str) -> (i32, String, String) {
    pipe_with(dir, message, &["--consumer", "demo"], &[])
}

/// Pipe `message` into `ticketgate pipe --config DIR/gateway.toml --data-dir DIR/data`
/// with more arguments and environment variables, as a mail server runs it: the log
/// level left at its default (info), so a log line on stderr would show.
fn pipe_with(
    dir: &Path,
    message: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut command = Command::new(support::binary());
    command.arg("pipe");
    if !args.contains(&"--config") {
        command.arg("--config").arg(dir.join("gateway.toml"));
    }
    let mut child = command
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(args)
        .env_remove("TICKETGATE_LOG")
        .env_remove("RECIPIENT")
        .env_remove("ORIGINAL_RECIPIENT")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ticketgate pipe starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(message.replace('\n', "\r\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What a mail server puts in its log or a bounce: exactly one line, ticketgate's own,
/// and no log line.
fn assert_one_clean_line(err: &str) {
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    assert!(err.starts_with("ticketgate: "), "{err:?}");
    for noise in ["INFO", "WARN", "ERROR", "ticketgate::", "\u{1b}"] {
        assert!(!err.contains(noise), "no log output on stderr: {err:?}");
    }
}

fn new_message(message_id: &str) -> String {
    format!(
        "From: Ann Example <ann@example.com>\n\
         To: support@helpdesk.example\n\
         Subject: =?UTF-8?Q?Drucker_f=C3=A4llt_aus?=\n\
         Date: Thu, 26 Nov 2026 09:00:00 +0000\n\
         Message-ID: <{message_id}>\n\
         MIME-Version: 1.0\n\
         Content-Type: text/plain; charset=utf-8\n\
         \n\
         The printer on floor 2 is offline.\n"
    )
}

async fn search(g: &Gateway) -> Vec<Value> {
    let page: Value = client()
        .get(g.url("/v1/tickets?limit=100&sort=number&order=asc"))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["items"].as_array().cloned().unwrap()
}

async fn get(g: &Gateway, id: &str) -> Value {
    client()
        .get(g.url(&format!("/v1/tickets/{id}")))
        .header("Authorization", DEMO)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn new_mail_reply_duplicate_and_auto_reply_through_the_pipe() {
    let g = Gateway::start(&canonical_config(""));

    // A new message: a ticket, written to the store the running gateway serves.
    let (code, out, err) = pipe(&g.dir, &new_message("first@mail.example"));
    assert_eq!(code, 0, "stdout {out} stderr {err}");
    assert!(out.starts_with("created ticket "), "{out}");
    let number = out.trim().rsplit(' ').next().unwrap().to_owned();
    let tickets = search(&g).await;
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["subject"], "Drucker fällt aus");
    assert_eq!(tickets[0]["number"], number.as_str());
    assert_eq!(tickets[0]["requester"]["email"], "ann@example.com");
    let id = tickets[0]["id"].as_str().unwrap().to_owned();

    // The same message again (the mail server retried): still one ticket.
    let (code, out, _) = pipe(&g.dir, &new_message("first@mail.example"));
    assert_eq!(code, 0);
    assert!(out.starts_with("already delivered"), "{out}");
    assert_eq!(search(&g).await.len(), 1);

    // A reply by In-Reply-To: a thread entry on that ticket, quoted tail trimmed.
    let reply = "From: ann@example.com\n\
                 To: support@helpdesk.example\n\
                 Subject: Re: Drucker fällt aus\n\
                 Message-ID: <second@mail.example>\n\
                 In-Reply-To: <first@mail.example>\n\
                 References: <first@mail.example>\n\
                 \n\
                 It works again, thanks.\n\
                 \n\
                 On Thu, 26 Nov 2026 at 09:00, Ann Example <ann@example.com> wrote:\n\
                 > The printer on floor 2 is offline.\n";
    let (code, out, err) = pipe(&g.dir, reply);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.starts_with("added a reply to ticket"), "{out}");
    assert_eq!(search(&g).await.len(), 1, "a reply opens no ticket");
    let t = get(&g, &id).await;
    let entries = t["entries"].as_array().expect("thread entries");
    let last = entries.last().unwrap();
    let body = last["body"]["content"].as_str().unwrap_or_default();
    assert!(body.contains("It works again"), "{last}");
    assert!(!body.contains("floor 2"), "quoted tail trimmed: {last}");

    // A reply found by the subject tag alone.
    let tagged = format!(
        "From: ann@example.com\nSubject: Re: [#{number}] printer\nMessage-ID: <third@mail.example>\n\nOne more thing.\n"
    );
    let (code, out, _) = pipe(&g.dir, &tagged);
    assert_eq!(code, 0);
    assert!(out.starts_with("added a reply"), "{out}");

    // The tag from a stranger opens a new ticket instead of writing into Ann's.
    let stranger = format!(
        "From: mallory@evil.example\nSubject: Re: [#{number}] printer\nMessage-ID: <fourth@mail.example>\n\nHijack.\n"
    );
    let (code, out, _) = pipe(&g.dir, &stranger);
    assert_eq!(code, 0);
    assert!(out.starts_with("created ticket"), "{out}");
    assert_eq!(search(&g).await.len(), 2);

    // An auto-reply: nothing created, and no bounce either (RFC 3834: automatic mail
    // is never answered): exit 0, discarded, the reason on stdout and in the log.
    let auto = "From: bob@example.com\nSubject: Out of office\nAuto-Submitted: auto-replied\nMessage-ID: <oof@mail.example>\n\nI am away.\n";
    let (code, out, err) = pipe(&g.dir, auto);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("not a ticket, discarded: "), "{out}");
    assert!(out.contains("auto"), "{out}");
    assert_eq!(err, "");
    // A bounce, by its empty Return-Path and daemon sender: discarded too.
    let bounce = "Return-Path: <>\nFrom: MAILER-DAEMON@mx.example\nSubject: Undelivered Mail\nMessage-ID: <bounce@mx.example>\n\nThe mail could not be delivered.\n";
    assert_eq!(pipe(&g.dir, bounce).0, 0);
    // Garbage that is not a message at all: bounced (65) with one line.
    let (code, _, err) = pipe(&g.dir, "\u{1}\u{2} not a mail\n");
    assert_eq!(code, 65);
    assert_one_clean_line(&err);
    assert_eq!(search(&g).await.len(), 2, "noise created nothing");

    // The same messages over HTTP: the canonical API's message/rfc822.
    let resp = client()
        .post(g.url("/v1/tickets"))
        .header("Authorization", DEMO)
        .header("Content-Type", "message/rfc822")
        .body(new_message("http@mail.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let resp = client()
        .post(g.url("/v1/tickets"))
        .header("Authorization", DEMO)
        .header("Content-Type", "message/rfc822")
        .body(auto)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422, "an auto-reply over HTTP opens nothing");
    assert_eq!(search(&g).await.len(), 3);
}

#[tokio::test]
async fn a_denied_sender_exits_77() {
    let g = Gateway::start(&canonical_config(
        "[mail]\ndeny_senders = [\"@spam.example\"]\n",
    ));
    let (code, _, err) = pipe(
        &g.dir,
        "From: x@spam.example\nSubject: hi\nMessage-ID: <s@spam.example>\n\nbuy\n",
    );
    assert_eq!(code, 77, "{err}");
    assert_one_clean_line(&err);
    // The sender learns that it is refused, not how the helpdesk's lists are made.
    assert!(
        err.contains("does not accept mail from x@spam.example"),
        "{err}"
    );
    assert!(!err.contains("deny_senders"), "{err}");
    assert!(search(&g).await.is_empty());
}

/// Binary junk a mail server wrapped in From, Date and Message-ID has no text a person
/// wrote: refused (65, a bounce with one line), no ticket. Escape sequences and control
/// characters in a real message are cleaned out of its ticket.
#[tokio::test]
async fn junk_is_refused_and_bodies_are_cleaned() {
    let g = Gateway::start(&canonical_config(""));
    let mut junk = b"From: root@mta.example\r\nDate: Thu, 26 Nov 2026 09:00:00 +0000\r\nMessage-ID: <junk@mta.example>\r\n\r\n".to_vec();
    let mut x: u32 = 7;
    for _ in 0..2000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        junk.push((x >> 16) as u8);
    }
    junk.extend_from_slice(b"\x1b[31mALERT\x1b[0m\x00\x07");
    let mut child = Command::new(support::binary())
        .args(["pipe", "--consumer", "demo", "--config"])
        .arg(g.dir.join("gateway.toml"))
        .arg("--data-dir")
        .arg(g.dir.join("data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&junk).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{err}");
    assert_one_clean_line(&err);
    assert!(err.contains("no text"), "{err}");
    assert!(search(&g).await.is_empty());

    let coloured = "From: ann@example.com\nSubject: Build \u{1b}[1mfailed\u{1b}[0m\nMessage-ID: <ansi@mail.example>\n\n\u{1b}[31mERROR\u{1b}[0m: disk full\u{7}\u{0}\non host1.\n";
    let (code, out, err) = pipe(&g.dir, coloured);
    assert_eq!(code, 0, "{out} {err}");
    let tickets = search(&g).await;
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0]["subject"], "Build failed");
    let t = get(&g, tickets[0]["id"].as_str().unwrap()).await;
    assert_eq!(t["body"]["content"], "ERROR: disk full\non host1.");
}

/// The helpdesk's own address — the envelope recipient the mail server passes, or one
/// of `mail.own_addresses` — is where the customer wrote to, never a cc.
#[tokio::test]
async fn the_helpdesks_own_address_is_not_a_cc() {
    let g = Gateway::start(&canonical_config(
        "[mail]\nown_addresses = [\"Help@Desk.example\"]\n",
    ));
    let message = "From: ann@example.com\n\
                   To: Support <support@helpdesk.example>, help@desk.example\n\
                   Cc: Carol <carol@example.org>, alias@helpdesk.example\n\
                   Subject: Printer\n\
                   Message-ID: <cc@mail.example>\n\
                   \n\
                   It jams.\n";
    // Postfix's local(8) and Exim put the recipient in RECIPIENT; pipe(8) passes it as
    // an argument.
    let (code, out, err) = pipe_with(
        &g.dir,
        message,
        &["--consumer", "demo", "--recipient=alias@helpdesk.example"],
        &[("RECIPIENT", "support@helpdesk.example")],
    );
    assert_eq!(code, 0, "{out} {err}");
    let tickets = search(&g).await;
    let t = get(&g, tickets[0]["id"].as_str().unwrap()).await;
    let cc: Vec<&str> = t["cc"]
        .as_array()
        .expect("cc")
        .iter()
        .filter_map(|c| c["email"].as_str())
        .collect();
    assert_eq!(cc, ["carol@example.org"], "{t}");
}

/// A configuration mistake holds the mail (75: Postfix and Exim keep it and retry)
/// instead of bouncing it to the customer, with one line for the mail server's log and
/// no secret from the file in it.
#[tokio::test]
async fn configuration_mistakes_hold_the_mail() {
    let g = Gateway::start(&canonical_config(""));
    let message = new_message("held@mail.example");

    let (code, _, err) = pipe_with(&g.dir, &message, &["--consumer", "nobody-here"], &[]);
    assert_eq!(code, 75, "a missing consumer: {err}");
    assert_one_clean_line(&err);
    assert!(err.contains("nobody-here"), "{err}");

    let (code, _, err) = pipe_with(&g.dir, &message, &[], &[]);
    assert_eq!(code, 75, "no consumer at all: {err}");
    assert_one_clean_line(&err);

    let broken = g.dir.join("broken.toml");
    std::fs::write(
        &broken,
        "[[consumers]]\nname = \"mail\"\nbearer_key = \"s3cret-value\npermissions = [\"create\"]\n",
    )
    .unwrap();
    let (code, _, err) = pipe_with(
        &g.dir,
        &message,
        &["--consumer", "mail", "--config", broken.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 75, "an invalid file: {err}");
    assert_one_clean_line(&err);
    assert!(!err.contains("s3cret"), "no line of the file: {err}");

    let missing = g.dir.join("missing.toml");
    let (code, _, err) = pipe_with(
        &g.dir,
        &message,
        &["--consumer", "demo", "--config", missing.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 75, "an unreadable file: {err}");
    assert_one_clean_line(&err);

    let reader = pipe_with(&g.dir, &message, &["--consumer", "reader"], &[]);
    assert_eq!(reader.0, 75, "a consumer without create: {}", reader.2);

    // A mistyped option in the mail server's command line is a configuration mistake too.
    let (code, _, err) = pipe_with(
        &g.dir,
        &message,
        &["--consumer", "demo", "--recipent=x"],
        &[],
    );
    assert_eq!(code, 75, "a bad option: {err}");
    assert_one_clean_line(&err);

    assert!(search(&g).await.is_empty(), "nothing was delivered");
    // Once the mistake is fixed, the retry delivers it, once.
    let (code, out, err) = pipe(&g.dir, &message);
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(search(&g).await.len(), 1);
    // The verdicts are in the pipe's log, not on stderr.
    let log = std::fs::read_to_string(g.dir.join("data/pipe.log")).expect("pipe.log");
    assert!(log.contains("configuration error"), "{log}");
    assert!(log.contains("ticket created"), "{log}");
}

/// With the upstream down, a new message is queued durably (exit 0) and delivered
/// once the upstream is back; a reply to it, piped meanwhile, follows it.
#[tokio::test]
async fn upstream_down_the_mail_is_queued_and_delivered_later() {
    let mut a = Gateway::start(&canonical_config(""));
    let a_addr = a.addr.clone();
    let a_config = std::fs::read_to_string(&a.config).unwrap();
    a.stop();

    let b_config = format!(
        "[dialects.canonical]\nprefix = \"/v1\"\n\
         [upstreams.central]\nkind = \"ticketgate\"\nurl = \"http://{a_addr}/v1\"\nbearer_key = \"demo-key\"\n\
         connect_timeout_ms = 300\n\
         [routing]\ndefault = \"central\"\n\
         [outbox]\ninitial_backoff_ms = 50\nmax_backoff_ms = 300\npoll_ms = 50\n\
         {}",
        support::TEST_CONSUMERS
    );
    let b = Gateway::start(&b_config);
    let (code, out, err) = pipe(&b.dir, &new_message("down@mail.example"));
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.starts_with("queued for delivery as q-"), "{out}");
    let reply = "From: ann@example.com\nSubject: Re: printer\nMessage-ID: <down-reply@mail.example>\nIn-Reply-To: <down@mail.example>\n\nStill broken.\n";
    let (code, out, err) = pipe(&b.dir, reply);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.starts_with("queued"), "{out}");

    let a2 = Gateway::start_listen(&a.dir, &a_config, &a_addr);
    let start = std::time::Instant::now();
    loop {
        let tickets = search(&a2).await;
        if let Some(t) = tickets.first() {
            let full = get(&a2, t["id"].as_str().unwrap()).await;
            let n = full["entries"].as_array().map(Vec::len).unwrap_or(0);
            if full.to_string().contains("Still broken") {
                assert_eq!(tickets.len(), 1, "the reply opened no ticket");
                assert!(n >= 1);
                break;
            }
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "the queued mail never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// With a `ticketgate serve` on the data directory, `pipe` hands the message to it over
/// `pipe.sock` (the serving gateway ingests and counts it); without one — stopped, a
/// socket left by a killed one, or `pipe.handoff = false` — `pipe` delivers by itself;
/// a gateway that takes the message and never answers holds it (75), and the retry is
/// delivered once.
#[tokio::test]
async fn piped_mail_is_handed_to_the_running_gateway_and_delivered_alone_without_it() {
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
    let config = canonical_config("");
    let mut g = Gateway::start(&config);
    let data = g.dir.join("data");
    let socket = data.join("pipe.sock");
    let meta = std::fs::symlink_metadata(&socket).expect("serve listens on data/pipe.sock");
    assert!(meta.file_type().is_socket());
    let dir_mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        meta.permissions().mode() & 0o777,
        dir_mode & !0o111,
        "the socket is as writable as the data directory, no more"
    );
    let created = "ticketgate_mail_total{outcome=\"created\"}";

    // Handed over: the serving gateway made the ticket, and counted it.
    let (code, out, err) = pipe(&g.dir, &new_message("handed@mail.example"));
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.starts_with("created ticket "), "{out}");
    assert_eq!(
        support::metric(&g, created).await,
        1,
        "the running gateway ingested it"
    );
    let log = std::fs::read_to_string(data.join("pipe.log")).unwrap();
    assert_eq!(
        log.matches("mail handed to the running gateway").count(),
        1,
        "{log}"
    );
    // The gateway's answer, as `pipe` reports it: the duplicate and a refusal.
    let (code, out, _) = pipe(&g.dir, &new_message("handed@mail.example"));
    assert_eq!(
        (code, out.starts_with("already delivered")),
        (0, true),
        "{out}"
    );
    let (code, _, err) = pipe(&g.dir, "\u{1}\u{2} not a mail\n");
    assert_eq!(code, 65);
    assert_one_clean_line(&err);
    let (code, _, err) = pipe_with(
        &g.dir,
        &new_message("x@mail.example"),
        &["--consumer", "reader"],
        &[],
    );
    assert_eq!(
        code, 75,
        "the gateway's verdict on a consumer that cannot create: {err}"
    );
    assert_one_clean_line(&err);

    // Turned off: the same gateway running, `pipe` delivers by itself.
    let off = g.dir.join("no-handoff.toml");
    std::fs::write(&off, format!("{config}\n[pipe]\nhandoff = false\n")).unwrap();
    let (code, out, err) = pipe_with(
        &g.dir,
        &new_message("alone@mail.example"),
        &["--consumer", "demo", "--config", off.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(
        support::metric(&g, created).await,
        1,
        "not through the running gateway"
    );
    assert_eq!(search(&g).await.len(), 2);

    // Stopped: the socket goes with it, and `pipe` delivers by itself.
    assert!(g.stop().success());
    assert!(!socket.exists(), "a stopped gateway leaves no socket");
    let (code, out, err) = pipe(&g.dir, &new_message("stopped@mail.example"));
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.starts_with("created ticket "), "{out}");

    // A socket left behind by a killed gateway: nobody answers the connection, so
    // `pipe` delivers by itself.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let (code, out, err) = pipe(&g.dir, &new_message("stale@mail.example"));
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.starts_with("created ticket "), "{out}");

    // A gateway that takes the message and goes away without answering: whether it
    // was delivered is unknown, so it is held (75), never bounced or dropped.
    std::fs::remove_file(&socket).unwrap();
    let mute = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let taker = std::thread::spawn(move || {
        use std::io::Read as _;
        let (mut conn, _) = mute.accept().unwrap();
        let mut head = [0u8; 256];
        let n = conn.read(&mut head).unwrap();
        String::from_utf8_lossy(&head[..n]).into_owned()
    });
    let (code, _, err) = pipe(&g.dir, &new_message("unanswered@mail.example"));
    assert_eq!(code, 75, "{err}");
    assert_one_clean_line(&err);
    assert!(err.contains("did not answer"), "{err}");
    let head = taker.join().unwrap();
    assert!(head.starts_with("POST /deliver HTTP/1.1"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("ticketgate-consumer: demo"),
        "{head}"
    );
    std::fs::remove_file(&socket).unwrap();

    // A new gateway on the directory takes over the socket; the mail server's retry of
    // the held message is delivered, and the messages delivered alone are known to it.
    let g = Gateway::start_in(&g.dir.clone(), &config);
    let (code, out, err) = pipe(&g.dir, &new_message("unanswered@mail.example"));
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.starts_with("created ticket "), "{out}");
    for again in [
        "alone@mail.example",
        "stopped@mail.example",
        "stale@mail.example",
    ] {
        let (code, out, _) = pipe(&g.dir, &new_message(again));
        assert_eq!(
            (code, out.starts_with("already delivered")),
            (0, true),
            "{again}: {out}"
        );
    }
    assert_eq!(support::metric(&g, created).await, 1);
    assert_eq!(
        search(&g).await.len(),
        5,
        "one ticket per message, none twice"
    );
}
