//! Mail that must never open a ticket (auto-replies, bounces, list traffic, daemons),
//! and the allow / deny sender policy.

use crate::MailConfig;
use mail_parser::{Message, MessagePart, MimeHeaders, PartType};

/// Why a mail must never open a ticket nor be added to one: answering it would start a
/// mail loop or spam a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Noise {
    /// `Auto-Submitted` with a value other than `no` (RFC 3834); the value.
    AutoSubmitted(String),
    /// A vendor auto-reply header (`X-Autoreply`, `X-Autorespond`…); the header name.
    AutoReply(&'static str),
    /// `Precedence: bulk | junk | list`; the value.
    Precedence(String),
    /// A `List-Id` header (when `list_is_noise`).
    MailingList,
    /// `Return-Path: <>`: a bounce or another machine-generated notice.
    EmptyReturnPath,
    /// From a mail daemon (`mailer-daemon@`, `postmaster@`); the address.
    DaemonSender(String),
    /// A delivery status notification (`multipart/report; report-type=delivery-status`).
    DeliveryReport,
}

impl Noise {
    /// One line, for logs and for `pipe`'s stderr.
    pub fn reason(&self) -> String {
        match self {
            Noise::AutoSubmitted(v) => format!("auto-submitted mail (Auto-Submitted: {v})"),
            Noise::AutoReply(h) => format!("auto-reply (header {h})"),
            Noise::Precedence(v) => format!("bulk mail (Precedence: {v})"),
            Noise::MailingList => "mailing-list mail (List-Id)".to_owned(),
            Noise::EmptyReturnPath => "bounce or notice (empty Return-Path)".to_owned(),
            Noise::DaemonSender(a) => format!("mail from a mail daemon ({a})"),
            Noise::DeliveryReport => "delivery status notification (bounce)".to_owned(),
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

const AUTO_REPLY_HEADERS: [&str; 4] = [
    "X-Autoreply",
    "X-Autorespond",
    "X-Autoresponder",
    "X-Auto-Reply",
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

pub(crate) fn detect(message: &Message<'_>, from: &str, config: &MailConfig) -> Option<Noise> {
    let root = message.parts.first()?;
    if is_delivery_report(message) {
        return Some(Noise::DeliveryReport);
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
    for name in AUTO_REPLY_HEADERS {
        if let Some(v) = raw_header(message, root, name) {
            let v = v.to_ascii_lowercase();
            if !matches!(v.as_str(), "no" | "false" | "0") {
                return Some(Noise::AutoReply(name));
            }
        }
    }
    if let Some(v) = raw_header(message, root, "Precedence") {
        let v = v.to_ascii_lowercase();
        if matches!(v.as_str(), "bulk" | "junk" | "list") {
            return Some(Noise::Precedence(v));
        }
    }
    if config.list_is_noise && raw_header(message, root, "List-Id").is_some() {
        return Some(Noise::MailingList);
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
    let local = from
        .split('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if matches!(local.as_str(), "mailer-daemon" | "postmaster") {
        return Some(Noise::DaemonSender(from.to_owned()));
    }
    None
}

fn is_delivery_report(message: &Message<'_>) -> bool {
    message.parts.iter().any(|part| {
        let Some(ct) = part.content_type() else {
            return false;
        };
        let ctype = ct.ctype();
        let sub = ct.subtype().unwrap_or_default();
        let report = ctype.eq_ignore_ascii_case("multipart")
            && sub.eq_ignore_ascii_case("report")
            && ct
                .attribute("report-type")
                .is_some_and(|r| r.eq_ignore_ascii_case("delivery-status"));
        let status = ctype.eq_ignore_ascii_case("message")
            && (sub.eq_ignore_ascii_case("delivery-status")
                || sub.eq_ignore_ascii_case("global-delivery-status"));
        // Only the outer message's own structure counts, not a DSN attached to a mail.
        (report || status) && !matches!(part.body, PartType::Message(_))
    })
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
            Noise::AutoReply("X-Autoreply"),
            Noise::Precedence("bulk".into()),
            Noise::MailingList,
            Noise::EmptyReturnPath,
            Noise::DaemonSender("MAILER-DAEMON@x".into()),
            Noise::DeliveryReport,
        ] {
            assert!(!n.reason().contains('\n'));
            assert!(!n.reason().is_empty());
        }
    }
}
