//! Mail as it arrives in the wild: one test per class of real-world mail the parser once
//! got wrong, each on the real message that shows it (from the repository's real-world
//! corpus, `tests/mail-corpus`, see its SOURCES.md) and, where the corpus has no such
//! message, on a small message written to show it.

use std::path::Path;
use ticketgate_mail::{MailConfig, MailError, MissingFrom, Noise, ParsedMail, parse};

fn corpus(path: &str) -> Vec<u8> {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/mail-corpus")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn parsed(raw: &[u8]) -> ParsedMail {
    parse(raw, &MailConfig::default()).expect("the message parses")
}

fn noise(raw: &[u8]) -> Option<Noise> {
    parsed(raw).noise
}

#[test]
fn reports_that_are_not_delivery_reports_are_noise() {
    // RFC 5965 abuse report.
    assert_eq!(
        noise(&corpus("sisimai/bsd/arf-01.eml")),
        Some(Noise::FeedbackReport)
    );
    // Hotmail's complaint format: multipart/mixed, no report type.
    assert!(matches!(
        noise(&corpus("sisimai/bsd/arf-22.eml")),
        Some(Noise::Bounce(_))
    ));
    // RFC 8098 read receipt (the corpus has none).
    let receipt = b"From: Bob <bob@example.com>\nTo: help@example.org\nSubject: Read: Printer\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=disposition-notification; boundary=r\n\n--r\nContent-Type: text/plain\n\nYour message was displayed.\n--r\nContent-Type: message/disposition-notification\n\nFinal-Recipient: rfc822; bob@example.com\nDisposition: manual-action/MDN-sent-manually; displayed\n--r--\n";
    assert_eq!(noise(receipt), Some(Noise::ReadReceipt));
    // A "Delivery Status Notification" without any report structure.
    let dsn = b"From: Mail Delivery Subsystem <mailer-daemon@googlemail.example>\nTo: ann@example.com\nSubject: Delivery Status Notification (Failure)\n\nDelivery to the following recipient failed permanently:\n\n  nobody@example.net\n";
    assert!(noise(dsn).is_some());
}

#[test]
fn bounces_and_auto_replies_without_the_standard_headers_are_noise() {
    let post_master = noise(&corpus("sisimai/bsd/lhost-verizon-02.eml"));
    assert!(
        matches!(&post_master, Some(Noise::DaemonSender(a)) if a.contains("post_master")),
        "{post_master:?}"
    );
    let vacation = noise(&corpus("sisimai/bsd/rfc3834-03.eml"));
    assert!(
        matches!(&vacation, Some(Noise::AutoReply(h)) if h.contains("X-Apple-Action")),
        "{vacation:?}"
    );
    // fml's notice to a non-member: no List-Id.
    assert!(matches!(
        noise(&corpus("sisimai/bsd/lhost-fml-02.eml")),
        Some(Noise::ListServer(_))
    ));
    // A Japanese carrier's bounce (KDDI, "mail error notice"), no DSN.
    assert!(matches!(
        noise(&corpus("sisimai/bsd/lhost-kddi-01.eml")),
        Some(Noise::Bounce(_))
    ));
    // A daemon that gives no address at all still is a daemon, not a "no sender" error.
    assert!(noise(&corpus("sisimai/bsd/lhost-dragonfly-01.eml")).is_some());
}

#[test]
fn people_writing_about_deliveries_are_not_noise() {
    let parcel = b"From: Ann <ann@example.com>\nTo: help@example.org\nSubject: Delivery failure of my order 4711\n\nThe parcel never arrived. Could you check?\n";
    assert_eq!(noise(parcel), None);
    // A person forwarding a bounce asks for help (corpus: a sendmail bounce forwarded).
    assert_eq!(
        noise(&corpus("sisimai/bsd/lhost-sendmail-14.eml")),
        None,
        "a forwarded bounce is a request"
    );
}

#[test]
fn a_line_of_spaces_before_the_headers_keeps_them() {
    let raw = b"   \nFrom: Ann <ann@example.com>\nSubject: Printer\n\nTray 2 jams.\n";
    let mail = parsed(raw);
    assert_eq!(mail.ticket.subject, "Printer");
    assert_eq!(
        mail.ticket.requester.email.as_deref(),
        Some("ann@example.com")
    );
    assert_eq!(mail.ticket.body.content, "Tray 2 jams.");
}

#[test]
fn three_attached_messages_are_three_attachments() {
    let mail = parsed(&corpus("mail-parser/thirdparty/015.eml"));
    let names: Vec<&str> = mail
        .ticket
        .attachments
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["training-mail.txt", "office-reply.txt", "shop-mail.txt"]
    );
    assert!(
        mail.ticket
            .attachments
            .iter()
            .all(|a| a.media_type == "message/rfc822")
    );
}

#[test]
fn a_message_that_is_only_a_file_keeps_it() {
    let csv = b"From: Ann <ann@example.com>\nSubject: Export\nMIME-Version: 1.0\nContent-Type: text/csv; name=\"export.csv\"\nContent-Disposition: attachment; filename=\"export.csv\"\n\nid,subject\n1,Printer\n";
    let mail = parsed(csv);
    assert_eq!(mail.ticket.attachments.len(), 1);
    assert_eq!(mail.ticket.attachments[0].name, "export.csv");
    assert_eq!(mail.ticket.attachments[0].bytes, b"id,subject\n1,Printer\n");
    assert_eq!(
        mail.ticket.body.content,
        "(The message has no text. Attached: export.csv)"
    );
    let gz = parsed(&corpus(
        "mikel-mail/attachment_emails/attachment_only_email.eml",
    ));
    assert_eq!(gz.ticket.attachments.len(), 1);
    assert!(gz.ticket.body.content.contains("blah.gz"));
}

#[test]
fn a_file_name_split_across_two_encoded_words_is_decoded() {
    let raw = "From: ann@example.com\nSubject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nSee the file.\n--b\nContent-Type: application/pdf;\n name=\"=?UTF-8?B?UmVjaG51bmdfTcOkcnpf?=\n =?UTF-8?B?MjAyNi5wZGY=?=\"\nContent-Disposition: attachment;\n filename=\"=?UTF-8?B?UmVjaG51bmdfTcOkcnpf?=\n =?UTF-8?B?MjAyNi5wZGY=?=\"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--b--\n";
    let mail = parsed(raw.as_bytes());
    assert_eq!(mail.ticket.attachments.len(), 1);
    assert_eq!(mail.ticket.attachments[0].name, "Rechnung_März_2026.pdf");
}

#[test]
fn broken_declarations() {
    // Declared base64, holds plain text.
    let raw = b"From: ann@example.com\nSubject: x\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\nHello, the printer on floor 2 is broken again.\n";
    assert_eq!(
        parsed(raw).ticket.body.content,
        "Hello, the printer on floor 2 is broken again."
    );
    // A real base64 body is still decoded.
    let b64 = b"From: ann@example.com\nSubject: x\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\nSGVsbG8gd29ybGQ=\n";
    assert_eq!(parsed(b64).ticket.body.content, "Hello world");
    // Two Content-Type headers: the body is not lost.
    let two = parsed(&corpus(
        "mikel-mail/error_emails/multiple_content_types.eml",
    ));
    assert!(!two.ticket.body.content.trim().is_empty());
    // Two Subject headers: the first, as mail readers show.
    let subjects = b"From: ann@example.com\nSubject: First\nSubject: Second\n\nbody\n";
    assert_eq!(parsed(subjects).ticket.subject, "First");
}

#[test]
fn missing_from_is_a_setting() {
    let no_from =
        b"Sender: Desk <desk@example.com>\nReply-To: ann@example.com\nSubject: x\n\nbody\n";
    let mail = parsed(no_from);
    assert_eq!(
        mail.ticket.requester.email.as_deref(),
        Some("desk@example.com")
    );
    assert_eq!(mail.sender_header, "Sender");
    let only_return_path = b"Return-Path: <ann@example.com>\nSubject: x\n\nbody\n";
    assert_eq!(parsed(only_return_path).sender_header, "Return-Path");

    let refuse = MailConfig {
        missing_from: MissingFrom::Refuse,
        ..MailConfig::default()
    };
    assert_eq!(parse(no_from, &refuse), Err(MailError::NoSender));
    assert_eq!(
        parse(b"Subject: x\n\nbody\n", &MailConfig::default()),
        Err(MailError::NoSender)
    );

    // `From: a@x b@y` (no comma): the first address under "fallback", refused otherwise.
    let unseparated = corpus("mikel-mail/plain_emails/raw_email_multiple_from.eml");
    assert_eq!(
        parsed(&unseparated).ticket.requester.email.as_deref(),
        Some("tim@powerupdev.com")
    );
    let config: MailConfig =
        serde_json::from_str(r#"{"missing_from": "refuse"}"#).expect("a valid setting");
    assert_eq!(config.missing_from, MissingFrom::Refuse);
    assert!(serde_json::from_str::<MailConfig>(r#"{"missing_from": "guess"}"#).is_err());
}

/// Found by the `mail` fuzz target: a forwarded message whose nested part ends inside
/// a header breaks an invariant the MIME parser asserts in debug builds. Whatever the
/// parser does with it, ticketgate answers: a ticket (release builds, where the parser
/// recovers) or an unreadable message (where it panics) — never a panic of its own.
#[test]
fn a_message_that_breaks_the_mime_parser_is_answered_not_a_panic() {
    let raw = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/seeds/mail/found-inconsistent-nested-message.eml"),
    )
    .unwrap();
    match parse(&raw, &MailConfig::default()) {
        Ok(p) => assert!(
            p.ticket.subject.contains("Phishing"),
            "{:?}",
            p.ticket.subject
        ),
        Err(e) => assert!(
            matches!(e, MailError::Unparseable(ref m) if m.contains("inconsistent")),
            "{e}"
        ),
    }
}
