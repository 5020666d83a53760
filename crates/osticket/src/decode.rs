//! osTicket create bodies (`tickets.json`, `tickets.xml`) → canonical [`NewTicket`].
//!
//! Both formats are first brought to one shape — a map of top-level fields, the
//! message's media type, and the attachments — and then read by one function, so a
//! field means the same whichever format carried it. The rules are osTicket's
//! (`ApiJsonDataParser::fixup`, `ApiXmlDataParser::fixup`, the ticket and user form
//! validation) plus the API Endpoints plugin's extra create fields.
//!
//! Errors carry the exact text ticketgate answers with, in osTicket's words:
//! `Syntax error, malformed JSON`, `XML error: …`, or
//! `Unable to create new ticket: validation errors:` followed by `field: message` lines.

pub mod lax_xml;
pub mod multipart;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::net::IpAddr;
use ticketgate_model::data_url;
use ticketgate_model::ops::looks_like_email;
use ticketgate_model::{
    Attachment, Body, BodyFormat, Error, ErrorKind, NewTicket, Reference, Source,
};

/// The two create formats that carry fields (the third, `tickets.email`, is a raw mail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateFormat {
    Json,
    Xml,
}

/// The first line of every validation failure, as osTicket words it.
pub const VALIDATION_HEADER: &str = "Unable to create new ticket: validation errors:";

/// Decode a create body of the given format.
pub fn decode_create(format: CreateFormat, body: &[u8]) -> Result<NewTicket, Error> {
    match format {
        CreateFormat::Json => decode_json(body),
        CreateFormat::Xml => decode_xml(body),
    }
}

/// Decode a create body as the server face receives it: a `tickets.json` request sent
/// as `multipart/form-data` (the plugin's `curl -F` form, with files) is read as a form.
pub fn decode_request(
    format: CreateFormat,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<NewTicket, Error> {
    match (format, content_type.and_then(multipart::boundary)) {
        (CreateFormat::Json, Some(boundary)) => decode_multipart(body, &boundary),
        _ => decode_create(format, body),
    }
}

/// Decode a `multipart/form-data` create with the given boundary.
pub fn decode_multipart(body: &[u8], boundary: &str) -> Result<NewTicket, Error> {
    let form = multipart::parse(body, boundary)?;
    let raw = RawTicket {
        fields: form.fields,
        message_type: None,
        attachments: form.files,
        xml: false,
    };
    finish(raw, Errors::default())
}

/// Decode a `tickets.json` body.
pub fn decode_json(body: &[u8]) -> Result<NewTicket, Error> {
    let text = std::str::from_utf8(body).map_err(|_| {
        Error::bad_input("Malformed UTF-8 characters, possibly incorrectly encoded")
    })?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let msg = if e.is_eof() || e.is_syntax() {
            "Syntax error, malformed JSON"
        } else {
            "Malformed JSON"
        };
        Error::bad_input(msg)
    })?;
    let Value::Object(map) = value else {
        return Err(Error::bad_input(
            "Unexpected data received in API request: a JSON object is expected",
        ));
    };
    let mut errors = Errors::default();
    let mut attachments = Vec::new();
    if let Some(list) = map.get("attachments") {
        attachments = json_attachments(list, &mut errors);
    }
    let raw = RawTicket {
        fields: map,
        message_type: None,
        attachments,
        xml: false,
    };
    finish(raw, errors)
}

/// Decode a `tickets.xml` body (any declared encoding ticketgate knows; no DTD).
pub fn decode_xml(body: &[u8]) -> Result<NewTicket, Error> {
    let root = lax_xml::parse(body).map_err(|e| {
        let kind = if e.too_large {
            ErrorKind::PayloadTooLarge
        } else {
            ErrorKind::BadInput
        };
        Error::new(kind, format!("XML error: {}", e.message))
    })?;
    let mut fields = RepeatedNames::default();
    let mut message_type = None;
    let mut attachments = Vec::new();
    let errors = Errors::default();
    for (k, v) in &root.attrs {
        fields.insert(k, Value::String(v.clone()));
    }
    for child in &root.children {
        match child.name.as_str() {
            "attachments" => attachments.extend(xml_attachments(child)),
            "message" => {
                message_type = child.attr("type").map(str::to_owned);
                fields.insert("message", Value::String(child.text.clone()));
            }
            "phone" => {
                let mut phone = child.text.clone();
                if let Some(ext) = child.attr("ext").filter(|e| !e.is_empty()) {
                    phone = format!("{phone}X{ext}");
                }
                fields.insert("phone", Value::String(phone));
            }
            name => fields.insert(name, xml_value(child)),
        }
    }
    let raw = RawTicket {
        fields: fields.map,
        message_type,
        attachments,
        xml: true,
    };
    finish(raw, errors)
}

/// A map built the way osTicket's older XML parser builds one: a repeated name is kept
/// as `name`, `name1`, `name2`… Probing from 1 for every repeat made a document of n
/// equal names cost n² look-ups (40 000 `<a/>` held a worker for minutes); each name
/// remembers where its probing stopped, so the whole map costs linear time.
#[derive(Default)]
pub(crate) struct RepeatedNames {
    map: Map<String, Value>,
    next: HashMap<String, usize>,
}

impl RepeatedNames {
    pub(crate) fn insert(&mut self, name: &str, value: Value) {
        if !self.map.contains_key(name) {
            self.map.insert(name.to_owned(), value);
            return;
        }
        let next = self.next.entry(name.to_owned()).or_insert(1);
        let mut key = format!("{name}{next}");
        while self.map.contains_key(&key) {
            *next += 1;
            key = format!("{name}{next}");
        }
        *next += 1;
        self.map.insert(key, value);
    }
}

/// An element with only text collapses to its text; one with children becomes a map.
fn xml_value(el: &lax_xml::Element) -> Value {
    if el.children.is_empty() && el.attrs.is_empty() {
        return Value::String(el.text.clone());
    }
    if el.children.is_empty() && !el.text.is_empty() {
        // Attributes on a text element (a custom field's metadata) do not change its value.
        return Value::String(el.text.clone());
    }
    let mut map = RepeatedNames::default();
    for (k, v) in &el.attrs {
        map.insert(k, Value::String(v.clone()));
    }
    for c in &el.children {
        map.insert(&c.name, xml_value(c));
    }
    Value::Object(map.map)
}

/// `<attachments><file name type encoding>content</file>…</attachments>`. A file whose
/// base64 does not decode is dropped and the ticket still created, as osTicket does.
fn xml_attachments(el: &lax_xml::Element) -> Vec<Attachment> {
    let mut out = Vec::new();
    for f in &el.children {
        let name = f
            .attr("name")
            .map(str::to_owned)
            .or_else(|| child_text(f, "name"))
            .unwrap_or_default();
        let name = file_name(&name);
        let media_type = f
            .attr("type")
            .map(str::to_owned)
            .or_else(|| child_text(f, "type"))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "text/plain".to_owned());
        let encoding = f
            .attr("encoding")
            .map(str::to_owned)
            .or_else(|| child_text(f, "encoding"))
            .unwrap_or_default();
        let content = if f.children.is_empty() {
            f.text.clone()
        } else {
            child_text(f, "data").unwrap_or_default()
        };
        let bytes = if encoding.eq_ignore_ascii_case("base64") {
            match decode_base64(&content) {
                Some(b) => b,
                None => {
                    tracing::warn!(file = %name, "osTicket XML attachment with invalid base64 dropped");
                    continue;
                }
            }
        } else {
            content.into_bytes()
        };
        out.push(Attachment {
            name,
            media_type: media_type.to_ascii_lowercase(),
            bytes,
            ..Attachment::default()
        });
    }
    out
}

/// The name a file is kept under. osTicket accepts a file without a name (its
/// `FileUploadField::isValidFileType` in `include/class.forms.php` lets every name through
/// while all file types are allowed, the default) and stores it nameless; every other
/// upstream needs one, so such a file is kept as `attachment`, from XML and JSON alike.
fn file_name(name: &str) -> String {
    match name.trim() {
        "" => "attachment".to_owned(),
        _ => name.to_owned(),
    }
}

fn child_text(el: &lax_xml::Element, name: &str) -> Option<String> {
    el.children
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.text.clone())
}

/// Strict base64 after dropping whitespace (wrapped lines are the norm in XML).
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact.as_bytes()).ok()
}

/// JSON attachments: one-key objects `{"file.txt": "data:…"}` or `{name, data, type, encoding}`.
fn json_attachments(list: &Value, errors: &mut Errors) -> Vec<Attachment> {
    let items: Vec<Value> = match list {
        Value::Array(items) => items.clone(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let mut one = Map::new();
                one.insert(k.clone(), v.clone());
                Value::Object(one)
            })
            .collect(),
        Value::Null => return Vec::new(),
        _ => {
            errors.push("attachments", "A list of files is expected");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for item in &items {
        let Value::Object(obj) = item else {
            errors.push("attachments", "Each attachment must be an object");
            continue;
        };
        if obj.contains_key("data") || obj.contains_key("name") && obj.len() > 1 {
            if let Some(a) = canonical_attachment(obj, errors) {
                out.push(a);
            }
            continue;
        }
        let mut entries = obj.iter();
        match (entries.next(), entries.next()) {
            (Some((name, Value::String(data))), None) => {
                if let Some(a) = attachment_from_data(name, data, None, None, errors) {
                    out.push(a);
                }
            }
            (Some((name, _)), None) => errors.push(
                "attachments",
                format!("{name}: file content must be a string"),
            ),
            _ => errors.push(
                "attachments",
                "Each attachment must be {\"name\": \"data\"} or have name and data",
            ),
        }
    }
    out
}

fn canonical_attachment(obj: &Map<String, Value>, errors: &mut Errors) -> Option<Attachment> {
    for key in obj.keys() {
        if !matches!(key.as_str(), "name" | "data" | "type" | "encoding" | "size") {
            // osTicket logs this and carries on; so does ticketgate.
            tracing::warn!(field = %format!("attachments.{key}"), "Unexpected data received in API request");
        }
    }
    let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
    let name = text("name").unwrap_or_default();
    let Some(data) = text("data") else {
        errors.push("attachments", format!("{name}: file content is required"));
        return None;
    };
    attachment_from_data(
        &name,
        &data,
        text("type").as_deref(),
        text("encoding").as_deref(),
        errors,
    )
}

/// The content of one file: a data URL, base64 when `encoding` says so, or plain text.
fn attachment_from_data(
    name: &str,
    data: &str,
    media_type: Option<&str>,
    encoding: Option<&str>,
    errors: &mut Errors,
) -> Option<Attachment> {
    let name = file_name(name);
    let (media_type, bytes) = if is_data_url(data) {
        match data_url::parse(data) {
            Ok(d) => {
                let bytes = match d.charset.as_deref() {
                    Some(cs) if d.media_type.starts_with("text/") => {
                        match decode_charset(&d.bytes, Some(cs)) {
                            Some(s) => s.into_bytes(),
                            None => d.bytes,
                        }
                    }
                    _ => d.bytes,
                };
                (media_type.map(str::to_owned).unwrap_or(d.media_type), bytes)
            }
            Err(_) => {
                errors.push(
                    "attachments",
                    format!("{name}: Incorrectly encoded base64 data"),
                );
                return None;
            }
        }
    } else if encoding.is_some_and(|e| e.eq_ignore_ascii_case("base64")) {
        match decode_base64(data) {
            Some(b) => (media_type.unwrap_or("text/plain").to_owned(), b),
            None => {
                errors.push(
                    "attachments",
                    format!("{name}: Incorrectly encoded base64 data"),
                );
                return None;
            }
        }
    } else {
        (
            media_type.unwrap_or("text/plain").to_owned(),
            data.as_bytes().to_vec(),
        )
    };
    Some(Attachment {
        name,
        media_type: media_type.to_ascii_lowercase(),
        bytes,
        ..Attachment::default()
    })
}

/// True when `s` starts with `data:`, exactly: osTicket's test (`substr($data, 0, 5)
/// != "data:"` in `Format::parseRfc2397`) is case-sensitive, so `Data:x` or `DATA:x`
/// is text to it, and to ticketgate. `data_url::parse` is only ever called after this
/// said yes.
pub(crate) fn is_data_url(s: &str) -> bool {
    s.starts_with("data:")
}

/// Whether [`decode_charset`] reads this charset at all.
fn known_charset(charset: Option<&str>) -> bool {
    decode_charset(b"", charset).is_some()
}

/// Text in a declared charset, as UTF-8; `None` for a charset ticketgate cannot read
/// or bytes that are not valid in it.
pub fn decode_charset(bytes: &[u8], charset: Option<&str>) -> Option<String> {
    let cs = charset.unwrap_or("utf-8").trim().to_ascii_lowercase();
    match cs.as_str() {
        "utf-8" | "utf8" | "us-ascii" | "ascii" => String::from_utf8(bytes.to_vec()).ok(),
        "iso-8859-1" | "latin1" | "latin-1" | "iso_8859-1" | "l1" => {
            Some(bytes.iter().map(|&b| char::from(b)).collect())
        }
        "windows-1252" | "cp1252" => Some(bytes.iter().map(|&b| lax_xml::cp1252(b)).collect()),
        _ => None,
    }
}

/// Validation failures, gathered so a caller sees every one at once.
#[derive(Default)]
struct Errors(Vec<(String, String)>);

impl Errors {
    fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push((field.to_owned(), message.into()));
    }

    fn has(&self, field: &str) -> bool {
        self.0.iter().any(|(f, _)| f == field)
    }

    fn into_result(self) -> Result<(), Error> {
        let Some((first, _)) = self.0.first() else {
            return Ok(());
        };
        let field = first.clone();
        let lines: Vec<String> = self.0.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        Err(
            Error::bad_input(format!("{VALIDATION_HEADER}\n{}", lines.join("\n")))
                .field(canonical_field(&field)),
        )
    }
}

/// The canonical dotted name of an osTicket field, for [`Error::field`].
fn canonical_field(field: &str) -> String {
    match field {
        "name" => "requester.name",
        "email" => "requester.email",
        "phone" => "requester.phone",
        "message" => "body",
        "ip" => "client_ip",
        "topicId" => "topic",
        "departmentId" => "department",
        "priority" | "priorityId" => "priority",
        "duedate" => "due_at",
        "parentTicketId" | "parentTicketNumber" => "parent",
        other => return other.to_owned(),
    }
    .to_owned()
}

struct RawTicket {
    fields: Map<String, Value>,
    /// `<message type="…">` in XML.
    message_type: Option<String>,
    attachments: Vec<Attachment>,
    xml: bool,
}

/// The fields osTicket's create reads itself; everything else is a form field, passed
/// through as a canonical custom field when it is a value or a list of values, and
/// ignored with a warning (as osTicket does) when it is a structure.
const KNOWN: &[&str] = &[
    "name",
    "email",
    "subject",
    "message",
    "type",
    "alert",
    "autorespond",
    "ip",
    "priority",
    "priorityId",
    "source",
    "topicId",
    "phone",
    "notes",
    "attachments",
    "format",
    "departmentId",
    "deptId",
    "parentTicketId",
    "parentTicketNumber",
    "duedate",
];

fn finish(raw: RawTicket, mut errors: Errors) -> Result<NewTicket, Error> {
    let f = &raw.fields;
    let mut t = NewTicket {
        attachments: raw.attachments,
        ..NewTicket::default()
    };

    let name = text_field(f, "name", &mut errors);
    let email = text_field(f, "email", &mut errors);
    let subject = text_field(f, "subject", &mut errors);
    match name.as_deref().map(str::trim) {
        Some(n) if !n.is_empty() => t.requester.name = Some(n.to_owned()),
        _ if errors.has("name") => {}
        _ => errors.push("name", "Name is required"),
    }
    match email.as_deref().map(str::trim) {
        Some(e) if looks_like_email(e) => t.requester.email = Some(e.to_owned()),
        Some(e) if !e.is_empty() => errors.push("email", "Valid email address required"),
        _ if errors.has("email") => {}
        _ => errors.push("email", "Email address is required"),
    }
    match subject.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => t.subject = s.to_owned(),
        _ if errors.has("subject") => {}
        _ => errors.push("subject", "Subject is required"),
    }

    // The message: plain text, or a data URL whose media type picks the format.
    let mut format = BodyFormat::Text;
    let mut content = None;
    if let Some(m) = text_field(f, "message", &mut errors) {
        if !raw.xml && is_data_url(&m) {
            match data_url::parse(&m) {
                Ok(d) => {
                    if d.media_type == "text/html" {
                        format = BodyFormat::Html;
                    }
                    match decode_charset(&d.bytes, d.charset.as_deref()) {
                        Some(s) => content = Some(s),
                        None if known_charset(d.charset.as_deref()) => errors.push(
                            "message",
                            "Malformed UTF-8 characters, possibly incorrectly encoded",
                        ),
                        None => errors.push(
                            "message",
                            format!(
                                "Unsupported charset {}",
                                d.charset.as_deref().unwrap_or_default()
                            ),
                        ),
                    }
                }
                Err(_) => errors.push("message", "Incorrectly encoded base64 data"),
            }
        } else {
            content = Some(m);
        }
    }
    let declared_type = raw
        .message_type
        .clone()
        .or_else(|| text_field(f, "type", &mut errors));
    if let Some(ty) = declared_type.filter(|t| !t.trim().is_empty()) {
        match ty.trim().to_ascii_lowercase().as_str() {
            "text/html" | "html" => format = BodyFormat::Html,
            "text/plain" | "text" => {}
            _ => errors.push("type", "Valid values are text/html and text/plain"),
        }
    }
    if let Some(fmt) = text_field(f, "format", &mut errors) {
        match fmt.trim().to_ascii_lowercase().as_str() {
            "text" | "plain" | "" => format = BodyFormat::Text,
            "html" => format = BodyFormat::Html,
            "markdown" | "md" => format = BodyFormat::Markdown,
            _ => errors.push("format", "Valid values are text, html and markdown"),
        }
    }
    match content {
        Some(c) if !c.trim().is_empty() => {
            t.body = Body {
                format,
                content: c.trim().to_owned(),
            }
        }
        _ if !errors.has("message") => errors.push("message", "Message content is required"),
        _ => {}
    }

    for key in ["alert", "autorespond"] {
        if let Some(v) = f.get(key) {
            let b = if raw.xml {
                // osTicket's XML fixup: the string "false" (any case) is false.
                Some(match v.as_str() {
                    Some(s) => !s.trim().eq_ignore_ascii_case("false") && !s.trim().is_empty(),
                    None => true,
                })
            } else {
                json_bool(v)
            };
            match b {
                Some(b) if key == "alert" => t.alert = Some(b),
                Some(b) => t.autorespond = Some(b),
                None => errors.push(key, "Expected true or false"),
            }
        }
    }
    if let Some(ip) = text_field(f, "ip", &mut errors).filter(|s| !s.trim().is_empty()) {
        match ip.trim().parse::<IpAddr>() {
            Ok(addr) => t.client_ip = Some(addr.to_string()),
            Err(_) => errors.push("ip", "Invalid IP address"),
        }
    }
    for key in ["priority", "priorityId"] {
        if let Some(p) = text_field(f, key, &mut errors).filter(|s| !s.trim().is_empty()) {
            t.priority = Some(Reference::guess(&p));
        }
    }
    if let Some(s) = text_field(f, "source", &mut errors).filter(|s| !s.trim().is_empty()) {
        let source = Source::parse_lenient(&s);
        if source == Source::Other && !s.trim().eq_ignore_ascii_case("other") {
            errors.push("source", "Invalid source given");
        } else {
            t.source = source;
        }
    }
    if let Some(topic) = text_field(f, "topicId", &mut errors).filter(|s| !s.trim().is_empty()) {
        // osTicket looks a topic up and ignores one it does not find
        // (`include/api.tickets.php`, `Topic::lookup`): a stale or odd id never costs a
        // client its ticket. The server face drops an unknown one the same way.
        if let Ok(n) = topic.trim().parse::<u64>()
            && n > 0
        {
            t.topic = Some(Reference::id(n.to_string()));
        }
    }
    if let Some(phone) = text_field(f, "phone", &mut errors).filter(|s| !s.trim().is_empty()) {
        let (number, ext) = split_phone(&phone);
        t.requester.phone = Some(number);
        t.requester.phone_ext = ext;
    }
    if let Some(notes) = text_field(f, "notes", &mut errors).filter(|s| !s.trim().is_empty()) {
        t.note = Some(notes.trim().to_owned());
    }
    for key in ["departmentId", "deptId"] {
        if let Some(d) = text_field(f, key, &mut errors).filter(|s| !s.trim().is_empty()) {
            t.department = Some(Reference::guess(&d));
        }
    }
    // The real plugin reads `parentTicketNumber`; its README's examples say `parentTicketId`.
    for key in ["parentTicketId", "parentTicketNumber"] {
        if let Some(p) = text_field(f, key, &mut errors).filter(|s| !s.trim().is_empty()) {
            t.parent = Some(p.trim().to_owned());
        }
    }
    if let Some(d) = text_field(f, "duedate", &mut errors).filter(|s| !s.trim().is_empty()) {
        match parse_due_date(&d) {
            Some(due) => t.due_at = Some(due),
            None => errors.push("duedate", "Invalid due date format"),
        }
    }

    // Everything else is a ticket, user or help-topic form field: passed through.
    for (key, value) in f {
        if KNOWN.contains(&key.as_str()) || value.is_null() {
            continue;
        }
        let flat = match value {
            Value::Array(items) => items.iter().all(|v| !v.is_object() && !v.is_array()),
            Value::Object(_) => false,
            _ => true,
        };
        if flat {
            t.custom_fields.insert(key.clone(), value.clone());
        } else {
            // No form field takes a structure: osTicket logs the field and ignores it.
            tracing::warn!(field = %key, "Unexpected data received in API request");
        }
    }

    errors.into_result()?;
    Ok(t)
}

/// A text field: strings as they are, numbers as their decimal form; anything else is a
/// type mismatch.
fn text_field(map: &Map<String, Value>, key: &str, errors: &mut Errors) -> Option<String> {
    match map.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => None,
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
            errors.push(key, "Data type mismatch: text expected");
            None
        }
    }
}

/// osTicket casts `alert` / `autorespond` to booleans.
fn json_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => Some(n.as_f64().is_some_and(|f| f != 0.0)),
        Value::String(s) => {
            Some(ticketgate_model::serde_util::lenient_bool::parse(s).unwrap_or(true))
        }
        Value::Null => Some(false),
        _ => None,
    }
}

/// `318-555-8634X123` → number and extension; osTicket upper-cases the value first, so
/// a lower-case `x` works too.
pub fn split_phone(phone: &str) -> (String, Option<String>) {
    let upper = phone.trim().to_uppercase();
    match upper.rsplit_once('X') {
        Some((number, ext))
            if !ext.trim().is_empty() && ext.trim().chars().all(|c| c.is_ascii_digit()) =>
        {
            (number.trim().to_owned(), Some(ext.trim().to_owned()))
        }
        _ => (upper, None),
    }
}

/// ISO 8601 dates and date-times (UTC unless an offset is given), or Unix epoch seconds.
pub fn parse_due_date(s: &str) -> Option<DateTime<Utc>> {
    use chrono::Datelike as _;
    // Years of four digits only: `-2024-11-30` (year -2024 to chrono) or a 12-digit
    // timestamp is no date a helpdesk can store, and no upstream could read it back.
    parse_any_due_date(s).filter(|d| (1000..=9999).contains(&d.year()))
}

fn parse_any_due_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(dt.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|dt| dt.and_utc());
    }
    if !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<i64>()
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, 0));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `osticket_json` fuzz target: a due date of year -2024 decoded, and
    /// what the client face then wrote did not.
    /// Found by the `osticket_json` fuzz target: `dAta:…` was a data URL to the decoder
    /// but text to the encoder (and to osTicket), so it did not survive the round trip.
    #[test]
    fn only_an_exact_data_scheme_makes_a_data_url() {
        let raw = br#"{"name": "L", "email": "l@example.com", "subject": "s", "message": "dAta:text/plain;charset=iso-8859/en%E9 caf%E9"}"#;
        let t = decode_json(raw).unwrap();
        assert_eq!(
            t.body.content,
            "dAta:text/plain;charset=iso-8859/en%E9 caf%E9"
        );
        let sent = serde_json::to_vec(&crate::encode_create(&t).unwrap()).unwrap();
        assert_eq!(decode_json(&sent).unwrap().body.content, t.body.content);
    }

    #[test]
    fn due_dates_have_four_digit_years() {
        assert!(parse_due_date("-2024-11-30").is_none());
        assert!(parse_due_date("999999999999").is_none());
        assert!(parse_due_date("2024-11-30").is_some());
        assert!(parse_due_date("1733000000").is_some());
    }

    /// Found by the `osticket_xml` fuzz target: XML kept a nameless file that JSON refused.
    /// osTicket takes it from both; so does ticketgate, under one name, so the ticket
    /// survives every client face (the fuzz target's round trip no longer skips it).
    #[test]
    fn a_file_without_a_name_is_kept_as_attachment_from_xml_and_json() {
        let xml = br#"<ticket><email>a@example.com</email><name>A</name><subject>s</subject>
            <message>m</message><attachments><file name="" type="text/plain">hi</file>
            <file name="  " encoding="base64">aGk=</file></attachments></ticket>"#;
        let t = decode_xml(xml).expect("osTicket takes a nameless file");
        let names: Vec<&str> = t.attachments.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["attachment", "attachment"]);
        assert_eq!(t.attachments[1].bytes, b"hi");
        t.validate()
            .expect("the ticket is valid for every upstream");

        for json in [
            r#"{"email":"a@example.com","name":"A","subject":"s","message":"m",
                "attachments":[{"": "data:text/plain,hi"}]}"#,
            r#"{"email":"a@example.com","name":"A","subject":"s","message":"m",
                "attachments":[{"name":"","data":"aGk=","encoding":"base64"}]}"#,
        ] {
            let t = decode_json(json.as_bytes()).expect("osTicket takes a nameless file");
            assert_eq!(t.attachments.len(), 1, "{json}");
            assert_eq!(t.attachments[0].name, "attachment");
            assert_eq!(t.attachments[0].bytes, b"hi");
        }
    }

    #[test]
    fn repeated_names_are_numbered_like_osticket() {
        let mut m = RepeatedNames::default();
        for (name, v) in [("a", 0), ("a", 1), ("a1", 2), ("a", 3), ("b", 4), ("a", 5)] {
            m.insert(name, Value::from(v));
        }
        let keys: Vec<(&str, i64)> = m
            .map
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_i64().unwrap()))
            .collect();
        let mut want = vec![
            ("a", 0),
            ("a1", 1),
            ("a11", 2),
            ("a2", 3),
            ("b", 4),
            ("a3", 5),
        ];
        want.sort();
        let mut got = keys;
        got.sort();
        assert_eq!(got, want);
    }

    /// Finding 1 of issue 16: 20 000 equal names took 78 s (release build) to number.
    #[test]
    fn many_repeated_elements_decode_in_linear_time() {
        let doc = format!(
            "<ticket><name>Ann</name><email>ann@example.com</email><subject>s</subject>\
             <message>m</message>{}</ticket>",
            "<a/>".repeat(lax_xml::MAX_ELEMENTS - 10)
        );
        // Timed against a document of the same size with distinct names, in the same
        // run: the quadratic numbering made the repeated names thousands of times slower.
        let distinct = format!(
            "<ticket><name>Ann</name><email>ann@example.com</email><subject>s</subject>\
             <message>m</message>{}</ticket>",
            (0..lax_xml::MAX_ELEMENTS - 10)
                .map(|i| format!("<a{}/>", i % 10))
                .collect::<String>()
        );
        let fastest = |doc: &str| {
            (0..3)
                .map(|_| {
                    let started = std::time::Instant::now();
                    let t = decode_xml(doc.as_bytes()).unwrap();
                    assert_eq!(t.subject, "s");
                    started.elapsed()
                })
                .min()
                .unwrap()
        };
        let (repeated, spread) = (fastest(&doc), fastest(&distinct));
        assert!(
            repeated < spread * 20 + std::time::Duration::from_millis(100),
            "{repeated:?} for repeated names, {spread:?} for spread ones"
        );
        let t = decode_xml(doc.as_bytes()).unwrap();
        assert_eq!(t.subject, "s");
        let over = format!("<ticket>{}</ticket>", "<a/>".repeat(40_000));
        let e = decode_xml(over.as_bytes()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::PayloadTooLarge, "{e}");
    }

    #[test]
    fn phone_extensions() {
        assert_eq!(
            split_phone("318-555-8634X123"),
            ("318-555-8634".to_owned(), Some("123".to_owned()))
        );
        assert_eq!(
            split_phone("3185558634x9"),
            ("3185558634".to_owned(), Some("9".to_owned()))
        );
        assert_eq!(split_phone("+1 555-1234"), ("+1 555-1234".to_owned(), None));
    }

    #[test]
    fn due_dates() {
        assert!(parse_due_date("2025-12-31").is_some());
        assert!(parse_due_date("2025-12-31 23:59:59").is_some());
        assert!(parse_due_date("2025-12-31T23:59:59+02:00").is_some());
        assert!(parse_due_date("soon").is_none());
    }

    #[test]
    fn missing_fields_are_all_listed() {
        let e = decode_json(br#"{"subject": "x"}"#).unwrap_err();
        assert!(e.message.starts_with(VALIDATION_HEADER), "{e}");
        assert!(e.message.contains("\nname: ") && e.message.contains("\nemail: "));
        assert!(e.message.contains("\nmessage: "));
    }
}
