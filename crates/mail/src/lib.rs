//! RFC 5322 / MIME mail → the canonical ticket model, for `ticketgate pipe` and the
//! gateway's mail ingestion. Pure: no I/O and no store; the gateway does the threading
//! look-ups, dedup storage and creates with what [`parse`] returns.
//!
//! - [`parse`] (here): bounds, headers, bodies, attachments, threading keys, digest and
//!   dedup key, subject tag, noise (loop) detection and the sender policy.
//! - [`MailConfig`]: the `[mail]` settings the gateway embeds in its TOML config.
//! - `clean`: control characters and escape sequences out of bodies and subjects; binary
//!   junk is no text.
//! - `html`: the small HTML → text conversion used for HTML-only mail.
//! - `quote`: trimming the quoted tail of replies (`reply_text`).
//! - `repair`: mending broken mail before it is parsed (blank lines before the
//!   headers, a multipart whose boundary never comes).
//! - `noise`: auto-replies, bounces, lists and daemons that must never open a ticket.
//! - [`tag_subject`]: writes the `[#number]` tag into the subject of mail the gateway sends.
//!
//! Parsing is done by `mail-parser` (with its `full_encoding` charsets); all text is
//! UTF-8 with LF line endings, so a message gives the same result whether it arrives with
//! CRLF or LF. The requester is the From address (Sender when From has none); Reply-To is
//! returned separately for the gateway to answer to. Tests: `tests/corpus` (golden
//! `.eml` → `.json`, `UPDATE_GOLDEN=1` rewrites), `tests/wild.rs` (real-world classes, on
//! messages of the repository's `tests/mail-corpus`), `tests/fuzz.rs`, `tests/large.rs`.

pub mod clean;
mod html;
mod noise;
mod quote;
mod repair;

pub use html::html_to_text;
pub use noise::{Noise, SenderPolicy};
pub use quote::trim_quoted;

use mail_parser::{Address, HeaderName, HeaderValue, Message, MessagePart, MimeHeaders, PartType};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use ticketgate_model::ops::MAX_SUBJECT_CHARS;
use ticketgate_model::ticket::Timestamp;
use ticketgate_model::{
    Attachment, Body, Contact, EmailKeys, EntryKind, NewEntry, NewTicket, Requester, Source,
};

/// The `[mail]` settings.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// The subject tag that carries a ticket number, `{number}` standing for the number
    /// (default `[#{number}]`). Used both to find the ticket a reply belongs to (matched
    /// case-insensitively) and to tag the subjects of mail the gateway sends.
    pub subject_tag: String,
    /// When the mail has an HTML part, keep it as the ticket body (format `html`) instead
    /// of plain text (default false). Reply entries are always plain text.
    pub keep_html: bool,
    /// Strip the quoted tail of replies (`On … wrote:`, `> …`, Outlook's header block)
    /// from the text that is added to an existing ticket (default true).
    pub trim_quoted: bool,
    /// Treat mail carrying a `List-Id` header as mailing-list traffic that never opens a
    /// ticket (default true).
    pub list_is_noise: bool,
    /// Senders refused: full addresses or `@domain`, case-insensitive.
    pub deny_senders: Vec<String>,
    /// When not empty, only these senders (addresses or `@domain`) are accepted (default
    /// empty: everyone). `deny_senders` wins over `allow_senders`.
    pub allow_senders: Vec<String>,
    /// Largest message accepted, in bytes (default 26 MiB).
    pub max_bytes: usize,
    /// Most MIME parts accepted in one message, nested messages included (default 200).
    pub max_parts: usize,
    /// Deepest nesting of multiparts and attached messages accepted (default 10).
    pub max_depth: usize,
    /// Most header fields accepted in any one part (default 500).
    pub max_headers: usize,
    /// Add a reply to its ticket even when the sender is neither the requester nor a
    /// cc of that ticket (default false: such a message opens a new ticket, so nobody
    /// can write into a stranger's ticket by quoting its number).
    pub replies_from_anyone: bool,
    /// The helpdesk's own addresses (the ones customers write to), never stored as a cc
    /// of a mailed ticket. The envelope recipient a mail server hands `ticketgate pipe`
    /// counts as one too.
    pub own_addresses: Vec<String>,
    /// What to do with mail whose From carries no usable address (missing, empty, or an
    /// unseparated list such as `From: a@x b@y`): `fallback` (default) opens the ticket
    /// from the first usable address of Sender, Reply-To, then Return-Path; `refuse`
    /// refuses it. Mail with no usable address anywhere is always refused.
    pub missing_from: MissingFrom,
}

/// The `mail.missing_from` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MissingFrom {
    /// The requester comes from Sender, Reply-To or Return-Path.
    #[default]
    Fallback,
    /// The message is refused (exit 65 from `pipe`).
    Refuse,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            subject_tag: "[#{number}]".to_owned(),
            keep_html: false,
            trim_quoted: true,
            list_is_noise: true,
            deny_senders: Vec::new(),
            allow_senders: Vec::new(),
            max_bytes: 26 * 1024 * 1024,
            max_parts: 200,
            max_depth: 10,
            replies_from_anyone: false,
            max_headers: 500,
            own_addresses: Vec::new(),
            missing_from: MissingFrom::Fallback,
        }
    }
}

/// Why a message was refused outright.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("message is {size} bytes, larger than the {max} bytes accepted")]
    TooLarge { size: usize, max: usize },
    #[error("message has more than {max} MIME parts ({parts} seen)")]
    TooManyParts { parts: usize, max: usize },
    #[error("message nests MIME parts {depth} deep, deeper than the {max} accepted")]
    TooDeep { depth: usize, max: usize },
    #[error("message has {headers} header fields in one part, more than the {max} accepted")]
    TooManyHeaders { headers: usize, max: usize },
    #[error("message cannot be parsed: {0}")]
    Unparseable(String),
    #[error(
        "message has no usable sender address (From, and per mail.missing_from Sender, Reply-To, Return-Path)"
    )]
    NoSender,
}

/// A parsed mail, ready for the gateway to thread, dedup and create or append.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedMail {
    /// The ticket this mail opens when it is not a reply: subject, body, requester (the
    /// From address), cc (To and Cc without the sender), source `email`, attachments and
    /// the email keys.
    pub ticket: NewTicket,
    /// The From address (the requester / the author of a reply); with
    /// `missing_from = "fallback"`, the address that stood in for it. `None` only for
    /// noise, which needs no requester.
    pub from: Option<Contact>,
    /// The header the requester was taken from: `From`, `Sender`, `Reply-To` or
    /// `Return-Path` (empty for noise without any sender).
    pub sender_header: &'static str,
    /// The first Reply-To address, when there is one: the gateway may send its answers
    /// there. It never replaces the requester (the From address): Reply-To is set by lists
    /// and forms and is no proof of who wrote.
    pub reply_to: Option<String>,
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// The Date header in UTC (the model's `NewTicket` has no creation time to put it in).
    pub date: Option<Timestamp>,
    /// SHA-256 (hex) of the raw message with CRLF line endings normalised to LF.
    pub digest: String,
    /// `mid:<message-id>`, or `sha256:<digest>` when the message has no Message-ID.
    pub dedup_key: String,
    /// The ticket number found in the subject tag.
    pub subject_number: Option<String>,
    /// The body text, without its quoted tail when `trim_quoted` is set.
    pub reply_text: String,
    /// Set when this mail must never open a ticket nor be added to one.
    pub noise: Option<Noise>,
    pub sender: SenderPolicy,
}

impl ParsedMail {
    /// The thread entry this mail adds to an existing ticket: a `message` with the
    /// trimmed reply text, authored by the sender, with the attachments and email keys.
    pub fn to_entry(&self) -> NewEntry {
        NewEntry {
            kind: EntryKind::Message,
            body: Body::text(self.reply_text.clone()),
            author: self.from.clone(),
            attachments: self.ticket.attachments.clone(),
            email: self.ticket.email.clone(),
            reopen: false,
        }
    }
}

/// Parses one raw RFC 5322 message.
///
/// Noise and the sender policy are reported in the result, not as errors: the gateway
/// decides what to log and drop. Never panics.
pub fn parse(raw: &[u8], config: &MailConfig) -> Result<ParsedMail, MailError> {
    if raw.len() > config.max_bytes {
        return Err(MailError::TooLarge {
            size: raw.len(),
            max: config.max_bytes,
        });
    }
    precheck_containers(raw, config)?;
    // mail-parser promises not to panic; this is a last line of defence so one hostile
    // message can never take the pipe or the gateway down.
    std::panic::catch_unwind(|| parse_inner(raw, config)).unwrap_or_else(|_| {
        Err(MailError::Unparseable(
            "internal error while decoding the MIME structure".to_owned(),
        ))
    })
}

/// Counts multipart and message/* content types before parsing, so a message that nests
/// hundreds of thousands of parts is refused before any structure is built for it.
fn precheck_containers(raw: &[u8], config: &MailConfig) -> Result<(), MailError> {
    const NEEDLE: &[u8] = b"content-type:";
    let mut containers = 0usize;
    let mut at_line_start = true;
    let mut i = 0;
    while i < raw.len() {
        if at_line_start
            && raw.len() - i >= NEEDLE.len()
            && raw[i..i + NEEDLE.len()].eq_ignore_ascii_case(NEEDLE)
        {
            let rest = &raw[i + NEEDLE.len()..];
            let value: Vec<u8> = rest
                .iter()
                .skip_while(|b| b.is_ascii_whitespace())
                .take(10)
                .map(u8::to_ascii_lowercase)
                .collect();
            if value.starts_with(b"multipart/") || value.starts_with(b"message/") {
                containers += 1;
            }
        }
        at_line_start = raw[i] == b'\n';
        i += 1;
    }
    if containers > config.max_parts {
        return Err(MailError::TooManyParts {
            parts: containers,
            max: config.max_parts,
        });
    }
    Ok(())
}

fn parse_inner(raw: &[u8], config: &MailConfig) -> Result<ParsedMail, MailError> {
    let original = raw;
    let repaired = repair::unbounded_multiparts(repair::skip_preamble(raw));
    let raw: &[u8] = &repaired;
    // The MIME parser is outside code: should it panic on some message (it asserts
    // its own invariants in debug builds, and fuzzing found a message that breaks one),
    // the message is refused as unreadable rather than taking the caller down.
    let message = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        mail_parser::MessageParser::default().parse(raw)
    }))
    .map_err(|_| MailError::Unparseable("the MIME structure is inconsistent".to_owned()))?
    .ok_or_else(|| MailError::Unparseable("no header fields found".to_owned()))?;
    let Some(root) = message.parts.first() else {
        return Err(MailError::Unparseable("no header fields found".to_owned()));
    };
    check_bounds(&message, config, 1)?;

    let noise = noise::detect(&message, config);
    let found = sender_contact(root, config.missing_from);
    if found.is_none() && noise.is_none() {
        return Err(MailError::NoSender);
    }
    let (sender_header, from) = match found {
        Some((h, c)) => (h, Some(c)),
        None => ("", None),
    };
    let from_email = from
        .as_ref()
        .and_then(|c| c.email.clone())
        .unwrap_or_default();
    let reply_to = header_value(root, &HeaderName::ReplyTo)
        .and_then(HeaderValue::as_address)
        .and_then(|a| contacts(a).into_iter().find_map(|c| c.email));

    // The first Subject field, as mail readers show it (mail-parser keeps the last).
    let subject = clean_subject(&clean::clean_line(
        header_value(root, &HeaderName::Subject)
            .and_then(HeaderValue::as_text)
            .or_else(|| message.subject())
            .unwrap_or_default(),
    ));
    let message_id = message.message_id().and_then(clean_id);
    let in_reply_to = ids(header_value(root, &HeaderName::InReplyTo));
    let references = ids(header_value(root, &HeaderName::References));
    let date = message.date().and_then(to_timestamp);

    let mut cc = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    seen.insert(from_email.to_lowercase());
    for name in [HeaderName::To, HeaderName::Cc] {
        for header in root.headers.iter().filter(|h| h.name == name) {
            if let Some(addr) = header.value.as_address() {
                for contact in contacts(addr) {
                    let key = contact.email.clone().unwrap_or_default().to_lowercase();
                    if seen.insert(key) {
                        cc.push(contact);
                    }
                }
            }
        }
    }

    let html = body_html(&message);
    let (attachments, inline_texts) = attachments(&message, html.as_deref().unwrap_or_default());
    let mut text = body_text(&message);
    for extra in inline_texts.into_iter().filter(|t| !t.is_empty()) {
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&extra);
    }
    // Control characters and escape sequences out; a body that is mostly junk is none.
    let mut text = clean::clean_body(&text);
    if text.trim().is_empty() && !attachments.is_empty() {
        // A message that is only a file (a scanner's PDF, an exported CSV) still gets
        // a body that says what came, so the ticket reads sensibly.
        let names: Vec<&str> = attachments.iter().map(|a| a.name.as_str()).collect();
        text = format!("(The message has no text. Attached: {})", names.join(", "));
    }
    let body = match html {
        Some(html) if config.keep_html => Body::html(html),
        _ => Body::text(text.clone()),
    };
    let reply_text = if config.trim_quoted && !is_forward(&subject) {
        trim_quoted(&text)
    } else {
        text.clone()
    };

    let digest = digest(original);
    let dedup_key = match &message_id {
        Some(id) => format!("mid:{id}"),
        None => format!("sha256:{digest}"),
    };
    let subject_number = find_subject_number(&config.subject_tag, &subject);
    let sender = noise::policy(&from_email, config);

    let email = EmailKeys {
        message_id: message_id.clone(),
        in_reply_to: in_reply_to.first().cloned(),
        references: references.clone(),
    };
    let ticket = NewTicket {
        subject,
        body,
        requester: Requester {
            name: from.as_ref().and_then(|c| c.name.clone()),
            email: from.as_ref().and_then(|c| c.email.clone()),
            ..Requester::default()
        },
        cc,
        source: Source::Email,
        attachments,
        email: Some(email),
        ..NewTicket::default()
    };
    Ok(ParsedMail {
        ticket,
        from,
        sender_header,
        reply_to,
        message_id,
        in_reply_to,
        references,
        date,
        digest,
        dedup_key,
        subject_number,
        reply_text,
        noise,
        sender,
    })
}

/// Part count, header count and nesting depth, through attached messages too.
fn check_bounds(message: &Message<'_>, config: &MailConfig, depth: usize) -> Result<(), MailError> {
    let mut parts = 0usize;
    count_parts(message, config, depth, &mut parts)
}

fn count_parts(
    message: &Message<'_>,
    config: &MailConfig,
    depth: usize,
    parts: &mut usize,
) -> Result<(), MailError> {
    if depth > config.max_depth {
        return Err(MailError::TooDeep {
            depth,
            max: config.max_depth,
        });
    }
    *parts += message.parts.len();
    if *parts > config.max_parts {
        return Err(MailError::TooManyParts {
            parts: *parts,
            max: config.max_parts,
        });
    }
    for part in &message.parts {
        if part.headers.len() > config.max_headers {
            return Err(MailError::TooManyHeaders {
                headers: part.headers.len(),
                max: config.max_headers,
            });
        }
    }
    // Multipart nesting inside this message: walk from the root part down, iteratively.
    let mut stack = vec![(0u32, depth)];
    let mut visited = 0usize;
    while let Some((id, d)) = stack.pop() {
        visited += 1;
        if visited > message.parts.len() {
            // A part listed twice: mail-parser never builds that, but never loop on it.
            break;
        }
        if d > config.max_depth {
            return Err(MailError::TooDeep {
                depth: d,
                max: config.max_depth,
            });
        }
        let Some(part) = message.parts.get(id as usize) else {
            continue;
        };
        match &part.body {
            PartType::Multipart(children) => {
                stack.extend(children.iter().map(|c| (*c, d + 1)));
            }
            PartType::Message(nested) => count_parts(nested, config, d + 1, parts)?,
            _ => {}
        }
    }
    Ok(())
}

fn header_value<'a, 'x>(
    part: &'a MessagePart<'x>,
    name: &HeaderName<'_>,
) -> Option<&'a HeaderValue<'x>> {
    part.headers
        .iter()
        .find(|h| &h.name == name)
        .map(|h| &h.value)
}

fn contacts(address: &Address<'_>) -> Vec<Contact> {
    let list: Vec<&mail_parser::Addr<'_>> = match address {
        Address::List(list) => list.iter().collect(),
        Address::Group(groups) => groups.iter().flat_map(|g| g.addresses.iter()).collect(),
    };
    list.into_iter()
        .filter_map(|a| {
            let email = a
                .address
                .as_deref()
                .map(str::trim)
                .filter(|e| usable_address(e))?;
            let name = a
                .name
                .as_deref()
                .map(|n| n.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case(email));
            Some(Contact {
                name,
                email: Some(email.to_owned()),
            })
        })
        .collect()
}

fn usable_address(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// The requester and the header it came from: From; when From carries no usable
/// address and `missing_from` allows, Sender, Reply-To, then Return-Path.
fn sender_contact(
    root: &MessagePart<'_>,
    missing_from: MissingFrom,
) -> Option<(&'static str, Contact)> {
    let order: &[(&'static str, HeaderName<'static>)] = match missing_from {
        MissingFrom::Refuse => &[("From", HeaderName::From)],
        MissingFrom::Fallback => &[
            ("From", HeaderName::From),
            ("Sender", HeaderName::Sender),
            ("Reply-To", HeaderName::ReplyTo),
            ("Return-Path", HeaderName::ReturnPath),
        ],
    };
    order.iter().find_map(|(label, name)| {
        let found = root
            .headers
            .iter()
            .filter(|h| &h.name == name)
            .find_map(|h| match &h.value {
                HeaderValue::Address(a) => contacts(a).into_iter().next().or_else(|| {
                    // `From: a@x b@y` (no comma): the first address, as mail readers
                    // show it, when falling back is allowed at all.
                    (missing_from == MissingFrom::Fallback)
                        .then(|| unseparated_first(a))
                        .flatten()
                }),
                // Return-Path is read as text by mail-parser: `<addr>`.
                HeaderValue::Text(t) => bare_contact(t),
                HeaderValue::TextList(list) => list.iter().find_map(|t| bare_contact(t)),
                _ => None,
            });
        found.map(|c| (*label, c))
    })
}

/// The first usable address in an address list written without separators.
fn unseparated_first(address: &Address<'_>) -> Option<Contact> {
    let list: Vec<&mail_parser::Addr<'_>> = match address {
        Address::List(list) => list.iter().collect(),
        Address::Group(groups) => groups.iter().flat_map(|g| g.addresses.iter()).collect(),
    };
    list.iter()
        .flat_map(|a| [a.address.as_deref(), a.name.as_deref()])
        .flatten()
        .flat_map(|t| t.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '<' | '>')))
        .find_map(bare_contact)
}

/// A contact from a bare `<addr>` or `addr`.
fn bare_contact(text: &str) -> Option<Contact> {
    let email = text
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    usable_address(email).then(|| Contact {
        name: None,
        email: Some(email.to_owned()),
    })
}

fn clean_subject(subject: &str) -> String {
    let s = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.is_empty() {
        return "(no subject)".to_owned();
    }
    s.chars().take(MAX_SUBJECT_CHARS).collect()
}

fn clean_id(id: &str) -> Option<String> {
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!id.is_empty() && !id.contains(char::is_whitespace)).then(|| id.to_owned())
}

fn ids(value: Option<&HeaderValue<'_>>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| {
        for piece in s.split_whitespace() {
            if let Some(id) = clean_id(piece)
                && !out.contains(&id)
            {
                out.push(id);
            }
        }
    };
    match value {
        Some(HeaderValue::Text(t)) => push(t),
        Some(HeaderValue::TextList(list)) => list.iter().for_each(|t| push(t)),
        _ => {}
    }
    out
}

fn to_timestamp(dt: &mail_parser::DateTime) -> Option<Timestamp> {
    let valid = (1900..=9999).contains(&dt.year)
        && (1..=12).contains(&dt.month)
        && (1..=31).contains(&dt.day)
        && dt.hour < 24
        && dt.minute < 60
        && dt.second < 61
        && dt.tz_hour < 24
        && dt.tz_minute < 60;
    if !valid {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(
        i32::from(dt.year),
        u32::from(dt.month),
        u32::from(dt.day),
    )?;
    let time = chrono::NaiveTime::from_hms_opt(
        u32::from(dt.hour),
        u32::from(dt.minute),
        u32::from(dt.second.min(59)),
    )?;
    let offset_secs = (i64::from(dt.tz_hour) * 3600 + i64::from(dt.tz_minute) * 60)
        * if dt.tz_before_gmt { -1 } else { 1 };
    let local = chrono::NaiveDateTime::new(date, time);
    let utc = local - chrono::Duration::seconds(offset_secs);
    Some(utc.and_utc())
}

fn normalise_text(s: &str) -> String {
    let s = s.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = s.split('\n').map(str::trim_end).collect();
    lines.join("\n").trim_matches('\n').to_owned()
}

/// The text body: the text/plain parts, or the HTML parts converted to text. A message
/// whose only part is text that mail-parser could not place (a multipart without its
/// boundary, a truncated message) is read as text too.
fn body_text(message: &Message<'_>) -> String {
    let mut pieces = Vec::new();
    for id in &message.text_body {
        let Some(part) = message.parts.get(*id as usize) else {
            continue;
        };
        if is_file(part) {
            // Listed as a body by mail-parser, but named or disposed as a file: kept as
            // an attachment (see `attachments`).
            continue;
        }
        match &part.body {
            PartType::Text(t) => {
                let text = not_really_base64(message, part)
                    .map_or_else(|| undeclared_charset(message, part, t), Into::into);
                pieces.push(normalise_text(&text));
            }
            PartType::Html(h) => pieces.push(html_to_text(h)),
            _ => {}
        }
    }
    pieces.retain(|p| !p.is_empty());
    if pieces.is_empty() {
        // An empty text alternative next to a real HTML part.
        pieces = message
            .html_body
            .iter()
            .filter_map(
                |id| match message.parts.get(*id as usize).map(|p| &p.body) {
                    Some(PartType::Html(h)) => Some(html_to_text(h)),
                    _ => None,
                },
            )
            .filter(|p| !p.is_empty())
            .collect();
    }
    if pieces.is_empty()
        && let Some(text) = root_text(message)
    {
        return normalise_text(text);
    }
    pieces.join("\n\n")
}

/// The Content-IDs the HTML refers to with `cid:` (lower-cased), in one pass.
fn cid_references(html: &str) -> HashSet<String> {
    let bytes = html.as_bytes();
    let mut out = HashSet::new();
    let mut i = 0;
    while i + 4 <= bytes.len() {
        if bytes[i..i + 4].eq_ignore_ascii_case(b"cid:") {
            let start = i + 4;
            let end = bytes[start..]
                .iter()
                .position(|b| {
                    matches!(b, b'"' | b'\'' | b'>' | b')' | b';') || b.is_ascii_whitespace()
                })
                .map_or(bytes.len(), |p| start + p);
            let id = String::from_utf8_lossy(&bytes[start..end]).to_lowercase();
            if !id.is_empty() {
                out.insert(id);
            }
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// The root part's text when it is the message's only part and is text.
fn root_text<'a>(message: &'a Message<'_>) -> Option<&'a str> {
    match message.parts.as_slice() {
        [root] if !is_file(root) => match &root.body {
            PartType::Text(t) => Some(t.as_ref()),
            _ => None,
        },
        _ => None,
    }
}

/// A text part declared base64 whose body is plain text (some mailers label every part
/// base64): mail-parser decodes it into garbage; a mail reader shows the text. Read as
/// plain text when the body holds characters base64 never uses.
fn not_really_base64(message: &Message<'_>, part: &MessagePart<'_>) -> Option<String> {
    let declared = part
        .content_transfer_encoding()
        .is_some_and(|e| e.trim().eq_ignore_ascii_case("base64"));
    if !declared {
        return None;
    }
    let raw = message
        .raw_message
        .get(part.offset_body as usize..part.offset_end as usize)?;
    let foreign = raw
        .iter()
        .filter(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\r' | b'\n')))
        .count();
    // A stray space or tab is tolerated (some encoders indent); prose has many.
    if foreign <= raw.len() / 50 {
        return None;
    }
    let charset = part
        .content_type()
        .and_then(|ct| ct.attribute("charset"))
        .unwrap_or("utf-8");
    let text = match mail_parser::decoders::charsets::map::charset_decoder(charset.as_bytes()) {
        Some(decode) if std::str::from_utf8(raw).is_err() => decode(raw),
        _ => String::from_utf8_lossy(raw).into_owned(),
    };
    Some(text)
}

/// Text sent as 8-bit without a declared charset is read as Windows-1252 (what mail
/// clients that forget the charset write) when it is not valid UTF-8.
fn undeclared_charset<'t>(
    message: &Message<'_>,
    part: &MessagePart<'_>,
    decoded: &'t str,
) -> std::borrow::Cow<'t, str> {
    let declared = part
        .content_type()
        .and_then(|ct| ct.attribute("charset"))
        .is_some();
    if declared || part.encoding != mail_parser::Encoding::None || !decoded.contains('\u{fffd}') {
        return decoded.into();
    }
    let raw = message
        .raw_message
        .get(part.offset_body as usize..part.offset_end as usize)
        .unwrap_or_default();
    if std::str::from_utf8(raw).is_ok() {
        return decoded.into();
    }
    match mail_parser::decoders::charsets::map::charset_decoder(b"windows-1252") {
        Some(decode) => decode(raw).into(),
        None => decoded.into(),
    }
}

/// The HTML body when the mail has one (text parts listed as HTML alternatives do not count).
fn body_html(message: &Message<'_>) -> Option<String> {
    let mut pieces = Vec::new();
    let mut any_html = false;
    for id in &message.html_body {
        match message.parts.get(*id as usize).map(|p| &p.body) {
            Some(PartType::Html(h)) => {
                any_html = true;
                pieces.push(h.replace("\r\n", "\n").trim().to_owned());
            }
            Some(PartType::Text(t)) => {
                let escaped = t
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;");
                pieces.push(format!("<pre>{}</pre>", normalise_text(&escaped)));
            }
            _ => {}
        }
    }
    any_html.then(|| pieces.join("\n"))
}

fn is_forward(subject: &str) -> bool {
    let lower = subject.trim_start().to_lowercase();
    ["fwd:", "fw:", "wg:", "tr:", "rv:", "fwd :", "tr :"]
        .iter()
        .any(|p| lower.starts_with(p))
}

/// Every attached part: files, inline images (marked inline, with their Content-ID) and
/// attached messages (as `.eml`). A part is inline when the HTML body shows it through a
/// `cid:` reference; an inline-disposed file nothing refers to (Apple Mail sends PDFs that
/// way) stays a file.
fn attachments(message: &Message<'_>, html: &str) -> (Vec<Attachment>, Vec<String>) {
    let referenced = cid_references(html);
    let mut out = Vec::new();
    let mut inline_texts = Vec::new();
    let raw = message.raw_message.as_ref();
    for (n, id) in message.attachments.iter().enumerate() {
        let Some(part) = message.parts.get(*id as usize) else {
            continue;
        };
        if message.text_body.contains(id)
            && matches!(part.body, PartType::Text(_))
            && !is_file(part)
        {
            continue;
        }
        if *id == 0 && root_text(message).is_some() && !is_file(part) {
            // Read as the body (see `body_text`).
            continue;
        }
        if message.html_body.contains(id) && matches!(part.body, PartType::Html(_)) {
            continue;
        }
        if !is_file(part) && *id != 0 {
            // A second text part shown inline (a signature, a footer a list adds): mail
            // readers show it in the body, so the body gets it, not a nameless file.
            match &part.body {
                PartType::Text(t) if is_media(part, "text", "plain") => {
                    inline_texts.push(normalise_text(t));
                    continue;
                }
                PartType::Html(h) | PartType::Text(h) if is_media(part, "text", "html") => {
                    inline_texts.push(html_to_text(h));
                    continue;
                }
                _ => {}
            }
        }
        let media_type = media_type(part);
        let content_id = part.content_id().and_then(clean_id);
        let (bytes, default_name) = match &part.body {
            PartType::Message(nested) => {
                let bytes = if part.encoding == mail_parser::Encoding::None {
                    raw.get(part.offset_body as usize..part.offset_end as usize)
                        .unwrap_or_default()
                        .to_vec()
                } else {
                    nested.raw_message.to_vec()
                };
                let name = nested
                    .subject()
                    .map(file_safe)
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "message".to_owned());
                (normalise_newlines(&bytes), format!("{name}.eml"))
            }
            PartType::Text(t) if part.is_encoding_problem => (
                recover_base64(part, t.as_bytes()),
                format!("attachment-{}.{}", n + 1, extension(&media_type)),
            ),
            PartType::Text(t) | PartType::Html(t) => (
                normalise_newlines(t.as_bytes()),
                format!("attachment-{}.{}", n + 1, extension(&media_type)),
            ),
            // Parts sent without a transfer encoding are line-based on the wire (SMTP
            // canonicalises their line endings), so they are normalised like text.
            PartType::Binary(b) | PartType::InlineBinary(b)
                if part.encoding == mail_parser::Encoding::None =>
            {
                (
                    normalise_newlines(b),
                    format!("attachment-{}.{}", n + 1, extension(&media_type)),
                )
            }
            PartType::Binary(b) | PartType::InlineBinary(b) => (
                b.to_vec(),
                format!("attachment-{}.{}", n + 1, extension(&media_type)),
            ),
            PartType::Multipart(_) => continue,
        };
        let name = part
            .attachment_name()
            .map(decode_leftover_words)
            .as_deref()
            .map(file_safe)
            .filter(|s| !s.trim_matches('.').is_empty())
            .unwrap_or(default_name);
        let media_type = if matches!(part.body, PartType::Message(_)) && media_type == "text/plain"
        {
            "message/rfc822".to_owned()
        } else {
            media_type
        };
        let inline = content_id
            .as_deref()
            .is_some_and(|cid| referenced.contains(&cid.to_lowercase()));
        out.push(Attachment {
            id: None,
            name,
            media_type,
            bytes,
            inline,
            content_id,
        });
    }
    (out, inline_texts)
}

/// Whether a part is a file: it has a name or is disposed as an attachment.
fn is_file(part: &MessagePart<'_>) -> bool {
    part.attachment_name().is_some()
        || part
            .content_disposition()
            .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"))
}

fn is_media(part: &MessagePart<'_>, ctype: &str, subtype: &str) -> bool {
    match part.content_type() {
        Some(ct) => {
            ct.ctype().eq_ignore_ascii_case(ctype)
                && ct
                    .subtype()
                    .unwrap_or(if ct.ctype().eq_ignore_ascii_case("text") {
                        "plain"
                    } else {
                        ""
                    })
                    .eq_ignore_ascii_case(subtype)
        }
        None => ctype == "text" && subtype == "plain",
    }
}

/// A file name still holding RFC 2047 encoded words: split across two words inside a
/// quoted, folded parameter, mail-parser leaves them as they came. Decoded the way a
/// Subject is (adjacent encoded words join without the space between them).
fn decode_leftover_words(name: &str) -> String {
    if !(name.contains("=?") && name.contains("?=")) {
        return name.to_owned();
    }
    let unfolded = name.split_whitespace().collect::<Vec<_>>().join(" ");
    let header = format!("Subject: {unfolded}\n\n");
    mail_parser::MessageParser::default()
        .parse(header.as_bytes())
        .and_then(|m| m.subject().map(str::to_owned))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| name.to_owned())
}

/// A base64 part that mail-parser could not finish (a truncated message) is kept as the
/// bytes it encodes when its text is plain base64; anything else is kept as it came.
fn recover_base64(part: &MessagePart<'_>, text: &[u8]) -> Vec<u8> {
    let declared_base64 = part
        .content_transfer_encoding()
        .is_some_and(|e| e.trim().eq_ignore_ascii_case("base64"));
    let compact: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let alphabet = compact
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    if declared_base64 && alphabet && !compact.is_empty() {
        // Whole groups only: a cut-off group carries no complete byte.
        let whole = compact.len() - compact.len() % 4;
        if let Some(bytes) = mail_parser::decoders::base64::base64_decode(&compact[..whole]) {
            return bytes;
        }
    }
    normalise_newlines(text)
}

fn media_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => {
            let sub = ct
                .subtype()
                .unwrap_or(if ct.ctype().eq_ignore_ascii_case("text") {
                    "plain"
                } else {
                    "octet-stream"
                });
            format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase()
        }
        None if matches!(part.body, PartType::Message(_)) => "message/rfc822".to_owned(),
        None => "text/plain".to_owned(),
    }
}

fn extension(media_type: &str) -> &'static str {
    match media_type {
        "text/plain" => "txt",
        "text/html" => "html",
        "text/calendar" => "ics",
        "text/csv" => "csv",
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "application/pdf" => "pdf",
        "message/rfc822" => "eml",
        "message/delivery-status" => "txt",
        t if t.starts_with("text/") => "txt",
        _ => "bin",
    }
}

/// A file name with path separators and control characters removed.
fn file_safe(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.chars()
        .filter(|c| !c.is_control())
        .map(|c| {
            if matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect::<String>()
        .trim()
        .chars()
        .take(255)
        .collect()
}

fn normalise_newlines(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn digest(raw: &[u8]) -> String {
    let hash = Sha256::digest(normalise_newlines(raw));
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Splits the configured tag at `{number}`. `None` when the tag has no `{number}`.
fn tag_parts(tag: &str) -> Option<(&str, &str)> {
    tag.split_once("{number}")
}

/// The ticket number in a subject's tag, e.g. `123` in `Re: [#123] Printer`.
pub fn find_subject_number(tag: &str, subject: &str) -> Option<String> {
    let (prefix, suffix) = tag_parts(tag)?;
    if prefix.is_empty() && suffix.is_empty() {
        return None;
    }
    let lower = subject.to_lowercase();
    if lower.len() != subject.len() {
        // Lower-casing changed byte offsets; match case-sensitively instead.
        return scan_tag(subject, prefix, suffix);
    }
    scan_tag_ci(
        subject,
        &lower,
        &prefix.to_lowercase(),
        &suffix.to_lowercase(),
    )
}

fn scan_tag(subject: &str, prefix: &str, suffix: &str) -> Option<String> {
    scan_tag_ci(subject, subject, prefix, suffix)
}

fn scan_tag_ci(subject: &str, haystack: &str, prefix: &str, suffix: &str) -> Option<String> {
    let mut from = 0;
    while from <= haystack.len() {
        let start = if prefix.is_empty() {
            from
        } else {
            from + haystack.get(from..)?.find(prefix)? + prefix.len()
        };
        let number: String = subject
            .get(start..)?
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        let end = start + number.len();
        let suffix_ok =
            suffix.is_empty() || haystack.get(end..).is_some_and(|r| r.starts_with(suffix));
        if !number.is_empty() && suffix_ok && number.chars().any(|c| c.is_ascii_digit()) {
            return Some(number);
        }
        if prefix.is_empty() {
            return None;
        }
        from = start;
    }
    None
}

/// The subject of mail the gateway sends about ticket `number`: the configured tag in
/// front, unless the subject already carries the tag for this number.
pub fn tag_subject(config: &MailConfig, subject: &str, number: &str) -> String {
    let subject = subject.trim();
    if tag_parts(&config.subject_tag).is_none() {
        return subject.to_owned();
    }
    if find_subject_number(&config.subject_tag, subject).as_deref() == Some(number) {
        return subject.to_owned();
    }
    let tag = config.subject_tag.replace("{number}", number);
    if subject.is_empty() {
        tag
    } else {
        format!("{tag} {subject}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_numbers() {
        let tag = "[#{number}]";
        assert_eq!(
            find_subject_number(tag, "Re: [#123] Printer").as_deref(),
            Some("123")
        );
        assert_eq!(
            find_subject_number(tag, "[#] x [#ABC-7]").as_deref(),
            Some("ABC-7")
        );
        assert_eq!(find_subject_number(tag, "Re: Printer [#12"), None);
        assert_eq!(
            find_subject_number(tag, "Grüße [#99]").as_deref(),
            Some("99")
        );
        assert_eq!(
            find_subject_number("[Ticket#{number}]", "RE: [ticket#5] x").as_deref(),
            Some("5")
        );
        assert_eq!(find_subject_number("no placeholder", "[#5]"), None);
    }

    #[test]
    fn config_refuses_unknown_fields() {
        let c: MailConfig = serde_json::from_str(r#"{"keep_html": true}"#).expect("valid");
        assert!(c.keep_html && c.trim_quoted && c.max_parts == 200);
        let err = serde_json::from_str::<MailConfig>(r#"{"keep_htm": true}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("keep_htm"), "{err}");
    }

    #[test]
    fn tagging_is_idempotent() {
        let c = MailConfig::default();
        assert_eq!(tag_subject(&c, "Printer", "42"), "[#42] Printer");
        assert_eq!(
            tag_subject(&c, "Re: [#42] Printer", "42"),
            "Re: [#42] Printer"
        );
        assert_eq!(tag_subject(&c, "", "42"), "[#42]");
    }

    #[test]
    fn bounds_are_enforced() {
        let small = MailConfig {
            max_bytes: 10,
            ..MailConfig::default()
        };
        assert!(matches!(
            parse(b"From: a@b.c\n\nhello world", &small),
            Err(MailError::TooLarge { .. })
        ));

        let mut deep = String::from("From: a@b.c\n");
        for i in 0..12 {
            deep.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n"
            ));
        }
        deep.push_str("Content-Type: text/plain\n\nhi\n");
        assert!(matches!(
            parse(deep.as_bytes(), &MailConfig::default()),
            Err(MailError::TooDeep { .. })
        ));

        let few_parts = MailConfig {
            max_parts: 3,
            ..MailConfig::default()
        };
        let mut many = String::from("From: a@b.c\nContent-Type: multipart/mixed; boundary=x\n\n");
        for _ in 0..5 {
            many.push_str("--x\nContent-Type: text/plain\n\nhi\n");
        }
        many.push_str("--x--\n");
        assert!(matches!(
            parse(many.as_bytes(), &few_parts),
            Err(MailError::TooManyParts { .. })
        ));

        let mut headers = String::from("From: a@b.c\n");
        for i in 0..20 {
            headers.push_str(&format!("X-H{i}: v\n"));
        }
        headers.push_str("\nbody");
        let few_headers = MailConfig {
            max_headers: 10,
            ..MailConfig::default()
        };
        assert!(matches!(
            parse(headers.as_bytes(), &few_headers),
            Err(MailError::TooManyHeaders { .. })
        ));
    }

    #[test]
    fn no_sender_and_unparseable() {
        let c = MailConfig::default();
        assert_eq!(parse(b"Subject: x\n\nbody", &c), Err(MailError::NoSender));
        assert_eq!(parse(b"From: nobody\n\nbody", &c), Err(MailError::NoSender));
        assert!(matches!(parse(b"", &c), Err(MailError::Unparseable(_))));
    }

    #[test]
    fn entry_uses_reply_text() {
        let raw = b"From: Ann <ann@example.com>\nSubject: Re: [#7] x\nMessage-ID: <a@b>\n\nThanks\n\nOn Mon, Jan 1, 2024, Help <h@x> wrote:\n> old\n";
        let mail = parse(raw, &MailConfig::default()).expect("parses");
        let entry = mail.to_entry();
        assert_eq!(entry.body.content, "Thanks");
        assert_eq!(
            entry.author.and_then(|a| a.email).as_deref(),
            Some("ann@example.com")
        );
        assert_eq!(mail.subject_number.as_deref(), Some("7"));
        assert_eq!(mail.dedup_key, "mid:a@b");
        assert!(entry.email.is_some());
    }
}
