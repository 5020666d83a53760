//! Mail that must never open a ticket (auto-replies, bounces, reports, list traffic,
//! daemons), and the allow / deny sender policy.
//!
//! The standard markers come first (RFC 3834 `Auto-Submitted`, RFC 6522 reports with
//! their RFC 3464 / RFC 5965 / RFC 8098 report types, `List-Id`, an empty
//! `Return-Path`). Much machine mail carries none of them, so the vendor markers follow:
//! mail-daemon spellings, vendor vacation and bounce headers, list-server notices, and
//! bounce texts by mail-server family. Those markers are facts catalogued by the
//! bounce-parsing literature — the sisimai project's per-MTA decoders
//! (`lib/sisimai/lhost/*.rb`, `rfc3834.rb`, `arf.rb` in sisimai/rb-sisimai) — written
//! down here in our own tables. A subject or body text alone is weak evidence (people
//! write "delivery failure" about parcels), so a text marker counts only together with a
//! second sign: another text marker, a returned message attached, or a machine sender.

use crate::MailConfig;
use mail_parser::{Message, MessagePart, MimeHeaders, PartType};

/// Why a mail must never open a ticket nor be added to one: answering it would start a
/// mail loop or spam a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Noise {
    /// `Auto-Submitted` with a value other than `no` (RFC 3834); the value.
    AutoSubmitted(String),
    /// A vendor auto-reply header or an auto-reply subject; what matched.
    AutoReply(String),
    /// `Precedence: bulk | junk | list | auto_reply`; the value.
    Precedence(String),
    /// A `List-Id` header (when `list_is_noise`).
    MailingList,
    /// A list server's own notice or list traffic without `List-Id` (when
    /// `list_is_noise`); what matched.
    ListServer(String),
    /// `Return-Path: <>`: a bounce or another machine-generated notice.
    EmptyReturnPath,
    /// From a mail daemon (`mailer-daemon@`, `postmaster@`, `post_master@`…); what matched.
    DaemonSender(String),
    /// A delivery status notification (`multipart/report; report-type=delivery-status`).
    DeliveryReport,
    /// An abuse or authentication-failure report (RFC 5965 ARF, DMARC forensic
    /// reports, the Hotmail and SES complaint formats).
    FeedbackReport,
    /// A read receipt (`report-type=disposition-notification`, RFC 8098).
    ReadReceipt,
    /// Another machine report (`multipart/report` of another or no type); the type.
    Report(String),
    /// A bounce or notice without a report structure, known by its markers; which ones.
    Bounce(String),
}

impl Noise {
    /// One line, for logs and for `pipe`'s stderr.
    pub fn reason(&self) -> String {
        match self {
            Noise::AutoSubmitted(v) => format!("auto-submitted mail (Auto-Submitted: {v})"),
            Noise::AutoReply(h) => format!("auto-reply ({h})"),
            Noise::Precedence(v) => format!("bulk mail (Precedence: {v})"),
            Noise::MailingList => "mailing-list mail (List-Id)".to_owned(),
            Noise::ListServer(m) => format!("mailing-list server notice ({m})"),
            Noise::EmptyReturnPath => "bounce or notice (empty Return-Path)".to_owned(),
            Noise::DaemonSender(a) => format!("mail from a mail daemon ({a})"),
            Noise::DeliveryReport => "delivery status notification (bounce)".to_owned(),
            Noise::FeedbackReport => "abuse or authentication-failure report".to_owned(),
            Noise::ReadReceipt => "read receipt (disposition notification)".to_owned(),
            Noise::Report(t) => format!("machine report (multipart/report; report-type={t})"),
            Noise::Bounce(m) => format!("bounce or notice ({m})"),
        }
    }

    /// The rule's stable name, for `pipe --explain`, logs and metrics.
    pub fn rule(&self) -> &'static str {
        match self {
            Noise::AutoSubmitted(_) => "noise/auto-submitted",
            Noise::AutoReply(_) => "noise/auto-reply",
            Noise::Precedence(_) => "noise/bulk",
            Noise::MailingList => "noise/list",
            Noise::ListServer(_) => "noise/list-server",
            Noise::EmptyReturnPath => "noise/empty-return-path",
            Noise::DaemonSender(_) => "noise/daemon",
            Noise::DeliveryReport => "noise/delivery-report",
            Noise::FeedbackReport => "noise/feedback-report",
            Noise::ReadReceipt => "noise/read-receipt",
            Noise::Report(_) => "noise/report",
            Noise::Bounce(_) => "noise/bounce",
        }
    }
}

impl std::fmt::Display for Noise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason())
    }
}

/// Whether the sender may open or update tickets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderPolicy {
    Allowed,
    Denied { reason: String },
}

/// Vendor auto-reply headers, and the value that makes them one (`None`: any value but
/// no / false / 0). Sources: RFC 3834 §5 (the X-headers it surveys), sisimai
/// `rfc3834.rb` (`X-Apple-Action: vacation`).
const AUTO_REPLY_HEADERS: [(&str, Option<&str>); 8] = [
    ("X-Autoreply", None),
    ("X-Autorespond", None),
    ("X-Autoresponder", None),
    ("X-Auto-Reply", None),
    ("X-Mail-Autoreply", None),
    ("X-Apple-Action", Some("vacation")),
    ("X-Autogenerated", Some("reply")),
    ("X-POST-MessageClass", Some("autoresponder")),
];

/// Subject prefixes of vacation and out-of-office replies (RFC 3834 clients, Exchange,
/// Outlook, Apple Mail, Gmail and their translations).
const AUTO_REPLY_SUBJECTS: [&str; 16] = [
    "auto:",
    "auto reply:",
    "auto-reply:",
    "autoreply:",
    "auto response:",
    "automatic reply:",
    "out of office:",
    "out of the office:",
    "out of office reply:",
    "abwesenheitsnotiz:",
    "automatische antwort:",
    "réponse automatique :",
    "réponse automatique:",
    "risposta automatica:",
    "respuesta automática:",
    "automatisch antwoord:",
];

/// Machine-generated notices identified by one header alone: Exim's failed-recipients
/// list (sisimai `lhost/exim.rb`), Exchange's embedded report (`lhost/exchange2003.rb`),
/// Amazon SNS notifications (`lhost/amazonses.rb`), Apple's unsubscribe reports
/// (`arf.rb`).
const NOTICE_HEADERS: [(&str, Option<&str>); 4] = [
    ("X-Failed-Recipients", None),
    ("X-MS-Embedded-Report", None),
    ("X-Amz-SNS-Message-Id", None),
    ("X-Apple-Unsubscribe", Some("true")),
];

/// Local parts of mail-daemon senders, with `.`, `_` and `-` removed (`post_master`,
/// `Mail.Delivery.System`, `mailer-daemon`…).
const DAEMON_LOCAL_PARTS: [&str; 7] = [
    "mailerdaemon",
    "postmaster",
    "maildeliverysystem",
    "maildeliverysubsystem",
    "mailerdeamon",
    "mdaemon",
    "smtpdaemon",
];

/// Display names mail daemons sign with (sisimai `lhost/exim.rb`, `sendmail.rb`,
/// `x3.rb`, `einsundeins.rb`, `amavis.rb`, `courier.rb`, `interscanmss.rb`, `x5.rb`).
const DAEMON_NAMES: [&str; 10] = [
    "mail delivery system",
    "mail delivery subsystem",
    "mail deliver system",
    "mail delivery service",
    "mailer-daemon",
    "mailer daemon",
    "mail administrator",
    "content-filter at",
    "courier mail server",
    "interscan",
];

/// Bounce subjects by mail-server family (sisimai `lhost/*.rb`: postfix, sendmail,
/// qmail, exim, exchange2007, office365, gmail, outlook, domino, notes, courier,
/// opensmtpd, messagingserver, mailmarshal, imailserver, dragonfly, x1–x6, kddi,
/// biglobe, ezweb, mcafee, mfilter…), lower-cased, matched anywhere in the subject.
const BOUNCE_SUBJECTS: [&str; 44] = [
    "undelivered mail returned to sender",
    "returned mail:",
    "see transcript for details",
    "postmaster notify",
    "failure notice",
    "mail delivery failed",
    "mail delivery failure",
    "delivery status notification",
    "delivery notification:",
    "delivery failure",
    "delivery_failure",
    "failure delivery",
    "failed delivery",
    "delivery report",
    "undeliverable",
    "undelivered mail",
    "non remis",
    "non_remis",
    "non recapitabile",
    "onbestelbaar",
    "não_entregue",
    "não entregue",
    "unzustellbar",
    "nicht zustellbar",
    "no se puede entregar",
    "imposible entregar",
    "message delivery has failed",
    "message you sent blocked",
    "permanent delivery failure",
    "there was an error sending your mail",
    "warning: delayed mail",
    "notice: mail delivery status",
    "mail system error - returned mail",
    "delivery status",
    "could not be delivered",
    "returned mail",
    "mail failure",
    "error(s) in forwarding or filtering",
    "smtp server: errors from",
    "message delivery failure",
    "メールエラー通知",
    "配信エラー",
    "不達",
    "返送",
];

/// Bounce and report texts by family, lower-cased, searched in the first few kilobytes
/// of the text (sisimai `lhost/*.rb` MarkingsOf and `arf.rb` StartingOf).
const BOUNCE_TEXTS: [&str; 28] = [
    "this is the mail system at host",
    "i'm sorry to have to inform you that your message could not",
    "the original message was received at",
    "----- the following addresses had permanent fatal errors -----",
    "----- transcript of session follows -----",
    "this message was created automatically by mail delivery software",
    "a message that you sent could not be delivered to one or more of",
    "hi. this is the qmail-send program",
    "delivery has failed to these recipients or groups",
    "your message did not reach some or all of the intended recipients",
    "delivery to the following recipients failed",
    "delivery to the following recipient failed permanently",
    "the following message to <",
    "could not be delivered to one or more recipients",
    "unable to deliver message to the following",
    "your message could not be delivered",
    "your message was not delivered",
    "there was an error delivering your mail to",
    "this is an automatically generated delivery status notification",
    "delivery has been delayed",
    "smtp error from remote mail server",
    "the mail delivery system was unable to deliver",
    "this is an autogenerated email abuse complaint",
    "this is an email abuse report",
    "this is an authentication failure report",
    "this is a spf/dkim authentication-failure report",
    "message was not sent to the following recipient",
    "送信できませんでした",
];

/// Senders and headers of list servers' own notices, which often lack `List-Id`
/// (sisimai `lhost/fml.rb`; majordomo, mailman, sympa, listserv, ezmlm).
const LIST_SERVER_HEADERS: [&str; 6] = [
    "X-MLServer",
    "X-ML-Name",
    "Mailing-List",
    "X-Mailman-Version",
    "X-Mailing-List",
    "List-Post",
];
const LIST_SERVER_LOCAL_PARTS: [&str; 6] = [
    "listserv",
    "majordomo",
    "mailman",
    "sympa",
    "ezmlm",
    "listproc",
];

/// The raw (unfolded, trimmed) value of the first root header called `name`.
fn raw_header(message: &Message<'_>, root: &MessagePart<'_>, name: &str) -> Option<String> {
    let raw = message.raw_message.as_ref();
    root.headers
        .iter()
        .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
        .map(|h| {
            let bytes = raw
                .get(h.offset_start as usize..h.offset_end as usize)
                .unwrap_or_default();
            String::from_utf8_lossy(bytes)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
}

/// The sender as written: every address and display name of From, Sender and
/// Return-Path, lower-cased (daemons often write `MAILER-DAEMON` with no domain, which
/// no address parser keeps).
fn sender_texts(message: &Message<'_>, root: &MessagePart<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for name in ["From", "Sender", "Return-Path"] {
        if let Some(v) = raw_header(message, root, name) {
            out.push(v.to_lowercase());
        }
    }
    if let Some(from) = message.from() {
        for a in from.iter() {
            out.push(a.name.as_deref().unwrap_or_default().to_lowercase());
            out.push(a.address.as_deref().unwrap_or_default().to_lowercase());
        }
    }
    out
}

/// The address-like words of the sender texts: `MAILER-DAEMON@x` and bare
/// `MAILER-DAEMON` alike.
fn local_parts(texts: &[String]) -> Vec<String> {
    texts
        .iter()
        .flat_map(|t| {
            t.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | ',' | '(' | ')'))
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn local_part(word: &str) -> &str {
    word.split('@').next().unwrap_or_default()
}

/// A local part without `.`, `_` and `-`.
fn squash(word: &str) -> String {
    local_part(word)
        .chars()
        .filter(|c| !matches!(c, '.' | '_' | '-'))
        .collect()
}

pub(crate) fn detect(message: &Message<'_>, config: &MailConfig) -> Option<Noise> {
    let root = message.parts.first()?;
    if let Some(report) = report_kind(message) {
        return Some(report);
    }
    if let Some(v) = raw_header(message, root, "Auto-Submitted") {
        let token = v
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if !token.is_empty() && token != "no" {
            return Some(Noise::AutoSubmitted(token));
        }
    }
    for (name, wanted) in AUTO_REPLY_HEADERS {
        if let Some(v) = raw_header(message, root, name) {
            let v = v.to_ascii_lowercase();
            let hit = match wanted {
                Some(w) => v.contains(w),
                None => !matches!(v.as_str(), "no" | "false" | "0" | ""),
            };
            if hit {
                return Some(Noise::AutoReply(format!("header {name}")));
            }
        }
    }
    if let Some(v) = raw_header(message, root, "Precedence") {
        let v = v.to_ascii_lowercase();
        if matches!(v.as_str(), "bulk" | "junk" | "list" | "auto_reply") {
            return Some(Noise::Precedence(v));
        }
    }
    let subject = message.subject().unwrap_or_default().trim().to_lowercase();
    if let Some(p) = AUTO_REPLY_SUBJECTS
        .iter()
        .find(|p| subject.starts_with(**p))
    {
        return Some(Noise::AutoReply(format!("subject starts with {p:?}")));
    }
    let senders = sender_texts(message, root);
    let locals = local_parts(&senders);
    if config.list_is_noise {
        if raw_header(message, root, "List-Id").is_some() {
            return Some(Noise::MailingList);
        }
        if let Some(h) = LIST_SERVER_HEADERS
            .iter()
            .find(|h| raw_header(message, root, h).is_some())
        {
            return Some(Noise::ListServer(format!("header {h}")));
        }
        if let Some(l) = locals.iter().find(|w| {
            let l = local_part(w);
            LIST_SERVER_LOCAL_PARTS.contains(&l)
                || l.starts_with("owner-")
                || l.ends_with("-owner")
                || l.ends_with("-request")
                || l.ends_with("-bounces")
        }) {
            return Some(Noise::ListServer(format!("sender {l}")));
        }
    }
    if let Some(v) = raw_header(message, root, "Return-Path") {
        let inner = v
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        if inner.is_empty() {
            return Some(Noise::EmptyReturnPath);
        }
    }
    if let Some(l) = locals
        .iter()
        .find(|l| DAEMON_LOCAL_PARTS.contains(&squash(l).as_str()))
    {
        return Some(Noise::DaemonSender(l.clone()));
    }
    if let Some(n) = DAEMON_NAMES
        .iter()
        .find(|n| senders.iter().any(|s| s.contains(**n)))
    {
        return Some(Noise::DaemonSender(format!("signed {n:?}")));
    }
    for (name, wanted) in NOTICE_HEADERS {
        if let Some(v) = raw_header(message, root, name)
            && wanted.is_none_or(|w| v.to_ascii_lowercase().contains(w))
        {
            return Some(Noise::Bounce(format!("header {name}")));
        }
    }
    bounce_markers(message, &subject, &senders)
}

/// Text markers: two signs are needed (see the module docs).
fn bounce_markers(message: &Message<'_>, subject: &str, senders: &[String]) -> Option<Noise> {
    let mut signs: Vec<String> = Vec::new();
    if let Some(m) = BOUNCE_SUBJECTS.iter().find(|m| subject.contains(**m)) {
        signs.push(format!("subject {m:?}"));
    }
    if subject.contains("complaint about message from") {
        signs.push("complaint subject".to_owned());
    }
    let text = leading_text(message, 8 * 1024);
    if let Some(m) = BOUNCE_TEXTS.iter().find(|m| text.contains(**m)) {
        signs.push(format!("text {m:?}"));
    }
    if signs.is_empty() {
        return None;
    }
    if returns_a_message(message) {
        signs.push("a returned message attached".to_owned());
    }
    let machine = [
        "no-reply@",
        "noreply@",
        "do-not-reply@",
        "donotreply@",
        "staff@hotmail.com",
        "complaints@",
    ];
    if let Some(m) = machine
        .iter()
        .find(|m| senders.iter().any(|s| s.contains(**m)))
    {
        signs.push(format!("machine sender {m}"));
    }
    // A person forwarding a bounce asks for help; the forward is theirs, not the daemon's.
    let forwarded = ["fwd:", "fw:", "wg:", "tr:"]
        .iter()
        .any(|p| subject.starts_with(p));
    (signs.len() >= 2 && !forwarded).then(|| Noise::Bounce(signs.join(", ")))
}

/// The first `limit` bytes of the message's text parts, lower-cased.
fn leading_text(message: &Message<'_>, limit: usize) -> String {
    let mut out = String::new();
    for part in &message.parts {
        if let PartType::Text(t) = &part.body {
            let take: String = t.chars().take(limit.saturating_sub(out.len())).collect();
            out.push_str(&take.to_lowercase());
            out.push('\n');
            if out.len() >= limit {
                break;
            }
        }
    }
    out
}

/// Whether the message carries back a message (or its headers), as bounces do.
fn returns_a_message(message: &Message<'_>) -> bool {
    message.parts.iter().skip(1).any(|part| {
        part.content_type().is_some_and(|ct| {
            let t = ct.ctype().to_ascii_lowercase();
            let s = ct.subtype().unwrap_or_default().to_ascii_lowercase();
            (t == "message" && (s == "rfc822" || s == "global"))
                || (t == "text" && s == "rfc822-headers")
                || (t == "message" && s == "rfc822-headers")
        })
    })
}

/// The report a message is, from its own MIME structure (a report attached to a mail
/// does not count).
fn report_kind(message: &Message<'_>) -> Option<Noise> {
    let mut found: Option<Noise> = None;
    for part in &message.parts {
        if matches!(part.body, PartType::Message(_)) {
            continue;
        }
        let Some(ct) = part.content_type() else {
            continue;
        };
        let ctype = ct.ctype().to_ascii_lowercase();
        let sub = ct.subtype().unwrap_or_default().to_ascii_lowercase();
        let kind = match (ctype.as_str(), sub.as_str()) {
            ("multipart", "report") => {
                let report_type = ct
                    .attribute("report-type")
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase();
                Some(by_report_type(&report_type))
            }
            ("message", "delivery-status" | "global-delivery-status") => {
                Some(Noise::DeliveryReport)
            }
            ("message", "feedback-report") => Some(Noise::FeedbackReport),
            ("message", "disposition-notification" | "global-disposition-notification") => {
                Some(Noise::ReadReceipt)
            }
            _ => None,
        };
        // A specific part (delivery-status…) says more than a report without a type.
        match (&found, kind) {
            (_, None) => {}
            (None, Some(k)) => found = Some(k),
            (Some(Noise::Report(_)), Some(k)) if !matches!(k, Noise::Report(_)) => found = Some(k),
            _ => {}
        }
    }
    found
}

fn by_report_type(report_type: &str) -> Noise {
    match report_type {
        "delivery-status" | "global-delivery-status" => Noise::DeliveryReport,
        "feedback-report" => Noise::FeedbackReport,
        "disposition-notification" | "global-disposition-notification" => Noise::ReadReceipt,
        "" => Noise::Report("(none)".to_owned()),
        other => Noise::Report(other.to_owned()),
    }
}

fn matches_pattern(address: &str, pattern: &str) -> bool {
    let pattern = pattern.trim().to_lowercase();
    if pattern.is_empty() {
        return false;
    }
    let address = address.trim().to_lowercase();
    if pattern.starts_with('@') {
        address.ends_with(&pattern)
    } else {
        address == pattern
    }
}

pub(crate) fn policy(from: &str, config: &MailConfig) -> SenderPolicy {
    if let Some(p) = config
        .deny_senders
        .iter()
        .find(|p| matches_pattern(from, p))
    {
        return SenderPolicy::Denied {
            reason: format!("sender {from} matches deny_senders entry {:?}", p.trim()),
        };
    }
    let allow: Vec<&String> = config
        .allow_senders
        .iter()
        .filter(|p| !p.trim().is_empty())
        .collect();
    if !allow.is_empty() && !allow.iter().any(|p| matches_pattern(from, p)) {
        return SenderPolicy::Denied {
            reason: format!("sender {from} is not in allow_senders"),
        };
    }
    SenderPolicy::Allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_policy() {
        let mut c = MailConfig {
            deny_senders: vec!["@Spam.example".into(), "bad@x.org".into()],
            ..MailConfig::default()
        };
        assert_eq!(policy("ann@example.com", &c), SenderPolicy::Allowed);
        assert!(matches!(
            policy("Joe@spam.EXAMPLE", &c),
            SenderPolicy::Denied { .. }
        ));
        assert!(matches!(
            policy("BAD@x.org", &c),
            SenderPolicy::Denied { .. }
        ));
        c.allow_senders = vec!["@example.com".into()];
        assert_eq!(policy("ann@example.com", &c), SenderPolicy::Allowed);
        assert_eq!(
            policy("ann@other.com", &c),
            SenderPolicy::Denied {
                reason: "sender ann@other.com is not in allow_senders".into()
            }
        );
    }

    #[test]
    fn reasons_are_one_line() {
        for n in [
            Noise::AutoSubmitted("auto-replied".into()),
            Noise::AutoReply("header X-Autoreply".into()),
            Noise::Precedence("bulk".into()),
            Noise::MailingList,
            Noise::EmptyReturnPath,
            Noise::DaemonSender("MAILER-DAEMON@x".into()),
            Noise::DeliveryReport,
            Noise::FeedbackReport,
            Noise::ReadReceipt,
            Noise::Report("(none)".into()),
            Noise::Bounce("subject".into()),
            Noise::ListServer("sender majordomo".into()),
        ] {
            assert!(!n.reason().contains('\n'));
            assert!(!n.reason().is_empty());
        }
    }
}
