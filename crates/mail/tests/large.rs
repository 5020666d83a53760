//! Large and hostile inputs stay fast: every pass over the message is linear.

use std::time::{Duration, Instant};
use ticketgate_mail::{MailConfig, MailError, parse};

fn timed(raw: &[u8]) -> (Result<ticketgate_mail::ParsedMail, MailError>, Duration) {
    let start = Instant::now();
    let result = parse(raw, &MailConfig::default());
    (result, start.elapsed())
}

#[test]
fn large_html_and_unclosed_tags() {
    let head = "From: a@example.com\nSubject: big\nContent-Type: text/html; charset=utf-8\n\n";
    for body in [
        "<p>word &amp; <b>bold</b></p>\n".repeat(40_000),
        "<a<b".repeat(250_000),
        "<!--".repeat(250_000),
        "&#".repeat(500_000),
        "<script>".repeat(120_000),
    ] {
        let raw = format!("{head}{body}");
        let (result, took) = timed(raw.as_bytes());
        assert!(result.is_ok(), "{result:?}");
        assert!(took < Duration::from_secs(5), "took {took:?}");
    }
}

#[test]
fn large_quoted_reply_and_subject() {
    let mut raw = String::from("From: a@example.com\nSubject: ");
    raw.push_str(&"[#".repeat(100_000));
    raw.push_str("\n\n");
    raw.push_str(&"From: x\nOn a wrote:\n> q\n".repeat(50_000));
    let (result, took) = timed(raw.as_bytes());
    let mail = result.expect("parses");
    assert_eq!(mail.ticket.subject.chars().count(), 1_000);
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn many_nested_messages_are_refused_before_parsing() {
    let mut raw = String::from("From: a@example.com\n");
    raw.push_str(&"Content-Type: message/rfc822\n\nFrom: b@example.com\n".repeat(100_000));
    raw.push_str("\nbody\n");
    let (result, took) = timed(raw.as_bytes());
    assert!(
        matches!(result, Err(MailError::TooManyParts { .. })),
        "{result:?}"
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
}
