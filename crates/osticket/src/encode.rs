//! Canonical [`NewTicket`] → the `tickets.json` body the client face sends to osTicket.
//!
//! Core fields go as the core API names them (`name`, `email`, `phone` with its `X`
//! extension, `subject`, `message`, `alert`, `autorespond`, `ip`, `priority`, `source`,
//! `topicId`, `notes`, `attachments` as one-key data-URL objects). The plugin's extras
//! (`format`, `departmentId`, `parentTicketNumber`, `duedate`) are sent too: a stock
//! osTicket logs them as unexpected and ignores them, the plugin reads them. Custom
//! fields go as top-level form fields, under their own names.

use crate::wire::{phone_with_ext, source_name};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
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
    let message = match t.body.format {
        // osTicket reads HTML from a data URL's media type; base64 keeps any byte safe.
        BodyFormat::Html => format!(
            "data:text/html;charset=utf-8;base64,{}",
            STANDARD.encode(t.body.content.as_bytes())
        ),
        BodyFormat::Text | BodyFormat::Markdown => t.body.content.clone(),
    };
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
    m.insert("source".into(), json!(source_name(t.source)));
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
                one.insert(
                    a.name.clone(),
                    json!(data_url::encode(&a.media_type, &a.bytes)),
                );
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

/// A numeric id as a JSON number, else the name (the plugin takes either).
fn id_or_name(r: &Reference) -> Value {
    match r.id.as_deref().and_then(|id| id.parse::<u64>().ok()) {
        Some(id) => json!(id),
        None => json!(r.label()),
    }
}
