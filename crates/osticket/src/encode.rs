//! Canonical [`NewTicket`] → the `tickets.json` body the client face sends to osTicket.
//!
//! Core fields go as the core API names them (`name`, `email`, `phone` with its `X`
//! extension, `subject`, `message`, `alert`, `autorespond`, `ip`, `priority`, `source`,
//! `topicId`, `notes`, `attachments` as one-key data-URL objects). The plugin's extras
//! (`format`, `departmentId`, `parentTicketNumber`, `duedate`) are sent too: a stock
//! osTicket logs them as unexpected and ignores them, the plugin reads them. Custom
//! fields go as top-level form fields, under their own names.

use crate::wire::phone_with_ext;
use serde_json::{Map, Value, json};
use ticketgate_model::{BodyFormat, Error, NewTicket, Reference, data_url};

/// Field names the encoder writes itself; a custom field by one of these names would
/// overwrite a core field, so it is refused.
const RESERVED: &[&str] = &[
    "name",
    "email",
    "phone",
    "subject",
    "message",
    "alert",
    "autorespond",
    "ip",
    "priority",
    "source",
    "topicId",
    "notes",
    "attachments",
    "format",
    "departmentId",
    "parentTicketNumber",
    "duedate",
    "type",
];

/// The JSON body of `POST /api/tickets.json` for a canonical ticket.
pub fn encode_create(t: &NewTicket) -> Result<Value, Error> {
    let mut m = Map::new();
    let r = &t.requester;
    let name = r
        .name
        .clone()
        .or_else(|| r.username.clone())
        .or_else(|| {
            r.email
                .as_deref()
                .and_then(|e| e.split('@').next())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    m.insert("name".into(), json!(name));
    if let Some(email) = &r.email {
        m.insert("email".into(), json!(email));
    }
    if let Some(phone) = phone_with_ext(r.phone.as_deref(), r.phone_ext.as_deref()) {
        m.insert("phone".into(), json!(phone));
    }
    m.insert("subject".into(), json!(t.subject));
    let message = message_field(t.body.format, &t.body.content);
    m.insert("message".into(), json!(message));
    if t.body.format == BodyFormat::Markdown {
        m.insert("format".into(), json!("markdown"));
    }
    if let Some(a) = t.alert {
        m.insert("alert".into(), json!(a));
    }
    if let Some(a) = t.autorespond {
        m.insert("autorespond".into(), json!(a));
    }
    if let Some(ip) = &t.client_ip {
        m.insert("ip".into(), json!(ip));
    }
    if let Some(p) = &t.priority {
        m.insert("priority".into(), id_or_name(p));
    }
    m.insert("source".into(), json!(api_source(t.source)));
    if let Some(topic) = &t.topic {
        match topic.id.as_deref().and_then(|id| id.parse::<u64>().ok()) {
            Some(id) => {
                m.insert("topicId".into(), json!(id));
            }
            None => {
                return Err(Error::bad_input(format!(
                    "osTicket takes a help topic by its numeric id, not {:?}",
                    topic.label()
                ))
                .field("topic"));
            }
        }
    }
    if let Some(note) = &t.note {
        m.insert("notes".into(), json!(note));
    }
    if let Some(d) = &t.department {
        m.insert("departmentId".into(), id_or_name(d));
    }
    if let Some(p) = &t.parent {
        m.insert("parentTicketNumber".into(), json!(p));
    }
    if let Some(due) = &t.due_at {
        m.insert(
            "duedate".into(),
            json!(due.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        );
    }
    if !t.attachments.is_empty() {
        let files: Vec<Value> = t
            .attachments
            .iter()
            .map(|a| {
                let mut one = Map::new();
                // Only the bare media type: osTicket decodes `;base64` only when it is
                // the sole parameter (see `message_field`).
                let essence = a.media_type.split(';').next().unwrap_or("").trim();
                // A media type that is not `type/subtype` in token characters (a client
                // sent `applica,ion/pdf`) would end the data URL's header early and
                // corrupt the file: such a file goes as plain bytes.
                let essence = if is_media_type(essence) {
                    essence
                } else {
                    "application/octet-stream"
                };
                one.insert(a.name.clone(), json!(data_url::encode(essence, &a.bytes)));
                Value::Object(one)
            })
            .collect();
        m.insert("attachments".into(), Value::Array(files));
    }
    for (k, v) in &t.custom_fields {
        if RESERVED.contains(&k.as_str()) {
            return Err(Error::bad_input(format!(
                "custom field {k:?} collides with an osTicket field of the same name"
            ))
            .field(format!("custom_fields.{k}")));
        }
        m.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(m))
}

/// The `message` value osTicket's API decodes back to exactly this body.
///
/// `type/subtype`, each an RFC 2045 token: what a data URL's header can carry.
fn is_media_type(s: &str) -> bool {
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
    };
    matches!(s.split_once('/'), Some((ty, sub)) if token(ty) && token(sub))
}

/// osTicket reads a `message` that starts with `data:` (exactly: case and all) as an
/// RFC 2397 data URL (`include/class.api.php`, `ApiJsonDataParser::fixup`, then
/// `include/class.format.php`, `Format::parseRfc2397`): the media type decides HTML or
/// text and everything after the first comma is the body, taken as it is — no
/// URL-decoding, and `;base64` is only honoured when it is the sole parameter (with a
/// charset before it, the base64 text itself becomes the body). So HTML goes as
/// `data:text/html;charset=utf-8,<the html>`, and a text body is wrapped the same way
/// (as `text/plain`) only when it would otherwise be taken for a data URL; any other
/// text goes as it is, as every osTicket client sends it.
pub fn message_field(format: BodyFormat, content: &str) -> String {
    match format {
        BodyFormat::Html => format!("data:text/html;charset=utf-8,{content}"),
        BodyFormat::Text | BodyFormat::Markdown if content.starts_with("data:") => {
            format!("data:text/plain;charset=utf-8,{content}")
        }
        BodyFormat::Text | BodyFormat::Markdown => content.to_owned(),
    }
}

/// The `source` osTicket's API takes. osTicket makes the ticket's *origin* out of its
/// `source` (`include/api.tickets.php`, `createTicket`: `Ticket::create($data, $errors,
/// $data['source'])`), and the origin `Email` demands the id of one of its own system
/// mailboxes (`include/class.ticket.php`, `create`: `emailId` required, "Unknown system
/// email") that no API client can know; `Phone`, `Web` and `Other` are refused or need a
/// help topic. So everything reaches osTicket as `API`, mail included: the ticket lands
/// with its subject, body, sender and attachments, and osTicket shows its source as API.
fn api_source(_source: ticketgate_model::Source) -> &'static str {
    "API"
}

/// A numeric id as a JSON number, else the name (the plugin takes either).
fn id_or_name(r: &Reference) -> Value {
    match r.id.as_deref().and_then(|id| id.parse::<u64>().ok()) {
        Some(id) => json!(id),
        None => json!(r.label()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `osticket_json` fuzz target: a client's media type with a comma made
    /// the data URL end early, so the file osTicket got was not the file sent.
    #[test]
    fn a_broken_media_type_cannot_corrupt_an_attachment() {
        let raw = br#"{"name": "Cal", "email": "cal@example.com", "subject": "files", "message": "see",
            "attachments": [{"name": "report.pdf", "type": "applica,ion/pdf", "data": "JVBERi0xLjQK"}]}"#;
        let t = crate::decode_json(raw).unwrap();
        let sent = t.attachments[0].bytes.clone();
        let encoded = serde_json::to_vec(&encode_create(&t).unwrap()).unwrap();
        let again = crate::decode_json(&encoded).unwrap();
        assert_eq!(again.attachments[0].name, "report.pdf");
        assert_eq!(again.attachments[0].bytes, sent);
        for (ty, ok) in [
            ("application/pdf", true),
            ("text/plain", true),
            ("applica,ion/pdf", false),
            ("image", false),
            ("a b/c", false),
            ("/x", false),
        ] {
            assert_eq!(is_media_type(ty), ok, "{ty}");
        }
    }

    /// Found by the `osticket_json` fuzz target: a message that merely looks like a data
    /// URL with escapes (`%E9`) went out as text inside a data URL and came back as
    /// invalid UTF-8. osTicket takes a data URL's text literally, and so does ticketgate.
    #[test]
    fn a_message_that_looks_like_an_escaped_data_url_survives_the_round_trip() {
        let raw = br#"{"name": "Latin Lou", "email": "lou@example.com", "subject": "Latin-1 body", "message":" data:text/plain;charset=iso-8859/1,Ren%E9 caf%E9"}"#;
        let t = crate::decode_json(raw).unwrap();
        let sent = serde_json::to_vec(&encode_create(&t).unwrap()).unwrap();
        let again = crate::decode_json(&sent).unwrap();
        assert_eq!(again.body.content, t.body.content);
        assert_eq!(
            crate::decode_json(
                br#"{"name": "L", "email": "l@example.com", "subject": "s", "message": "data:text/plain;charset=utf-8,Tray%202"}"#
            )
            .unwrap()
            .body
            .content,
            "Tray%202"
        );
    }

    #[test]
    fn message_field_is_what_osticket_decodes() {
        assert_eq!(
            message_field(BodyFormat::Html, "<p>50% off, a+b</p>"),
            "data:text/html;charset=utf-8,<p>50% off, a+b</p>"
        );
        assert_eq!(
            message_field(BodyFormat::Text, "plain, text"),
            "plain, text"
        );
        assert_eq!(
            message_field(BodyFormat::Text, "data:keep me"),
            "data:text/plain;charset=utf-8,data:keep me"
        );
        // osTicket's test is exact: these are not data URLs to it.
        assert_eq!(message_field(BodyFormat::Text, " data:x"), " data:x");
        assert_eq!(message_field(BodyFormat::Text, "Data:x"), "Data:x");
    }
}
