//! The canonical ticket and its parts.

use crate::reference::Reference;
use crate::serde_util::{base64_bytes, is_false, lenient_u8};
use crate::status::{Priority, Status};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Timestamps are RFC 3339 in UTC everywhere in the canonical API.
pub type Timestamp = DateTime<Utc>;

/// Custom form fields are passed through untouched, whatever their JSON type.
pub type CustomFields = BTreeMap<String, serde_json::Value>;

/// A helpdesk ticket in canonical form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// Opaque id; the gateway can always route it back to the upstream that owns it.
    pub id: String,
    /// The display number a human quotes (for example in an email subject tag).
    pub number: String,
    pub subject: String,
    pub body: Body,
    pub requester: Requester,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<Contact>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "lenient_u8")]
    pub urgency: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "lenient_u8")]
    pub impact: Option<u8>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub ticket_type: Option<TicketType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solved_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Timestamp>,
    #[serde(default)]
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<ThreadEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_fields: CustomFields,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailKeys>,
}

/// A text body and the format it is written in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Body {
    pub format: BodyFormat,
    pub content: String,
}

impl Body {
    pub fn text(content: impl Into<String>) -> Self {
        Self {
            format: BodyFormat::Text,
            content: content.into(),
        }
    }
    pub fn html(content: impl Into<String>) -> Self {
        Self {
            format: BodyFormat::Html,
            content: content.into(),
        }
    }
}

/// A body given as a bare string is plain text; an object names its format. In XML,
/// `<body format="html">…</body>` and `<body><format>html</format><content>…</content></body>`
/// both work.
impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BodyVisitor)
    }
}

struct BodyVisitor;

impl<'de> serde::de::Visitor<'de> for BodyVisitor {
    type Value = Body;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string or an object with format and content")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Body, E> {
        Ok(Body::text(s))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Body, E> {
        Ok(Body::default())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Body, A::Error> {
        let mut body = Body::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "format" | "@format" => body.format = map.next_value()?,
                "content" | "$text" | "$value" => body.content = map.next_value()?,
                other => {
                    return Err(serde::de::Error::unknown_field(
                        other,
                        &["format", "content"],
                    ));
                }
            }
        }
        Ok(body)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    #[default]
    Text,
    Html,
    Markdown,
}

impl BodyFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            BodyFormat::Text => "text",
            BodyFormat::Html => "html",
            BodyFormat::Markdown => "markdown",
        }
    }
}

/// The person a ticket is for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_ext: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The requester's id in the upstream helpdesk, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// Someone copied on a ticket, or the author of a thread entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketType {
    #[default]
    Incident,
    Request,
    Problem,
    Change,
    Question,
}

impl TicketType {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketType::Incident => "incident",
            TicketType::Request => "request",
            TicketType::Problem => "problem",
            TicketType::Change => "change",
            TicketType::Question => "question",
        }
    }
}

/// Where a ticket came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    #[default]
    Api,
    Email,
    Web,
    Phone,
    Other,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Email => "email",
            Source::Web => "web",
            Source::Phone => "phone",
            Source::Other => "other",
        }
    }

    /// Vendors spell sources freely ("API", "Email", "Web Portal"); unknown ones are `Other`.
    pub fn parse_lenient(s: &str) -> Self {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "api" | "" => Source::Api,
            "email" | "e-mail" | "mail" => Source::Email,
            "web" | "web portal" | "portal" | "helpdesk" => Source::Web,
            "phone" | "telephone" => Source::Phone,
            _ => Source::Other,
        }
    }
}

/// A file attached to a ticket or a thread entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Set once stored by a helpdesk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    #[serde(default = "default_media_type")]
    pub media_type: String,
    #[serde(with = "base64_bytes", default)]
    pub bytes: Vec<u8>,
    /// Shown inside the body (an email image referenced by `cid:`), not listed as a file.
    #[serde(default, skip_serializing_if = "is_false")]
    pub inline: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
}

/// A document: a file kept by the helpdesk on its own, or linked to one ticket (then
/// it is also among that ticket's attachments, under the same id). ITSM-NG / GLPI
/// clients upload one before they link it to a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub id: String,
    /// The document's title (GLPI's `name`); the file's own name is `file.name`.
    pub title: String,
    /// The ticket it is linked to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    pub file: Attachment,
    pub created_at: DateTime<Utc>,
}

/// Where a task stands: to do, done, or information only (ITIL's planned work).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    Info,
    #[default]
    Todo,
    Done,
}

/// A piece of work on a ticket: what is to be done, by whom, how long it took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    pub ticket: String,
    pub body: String,
    #[serde(default)]
    pub state: TaskState,
    /// The time spent, in seconds.
    #[serde(default)]
    pub duration_secs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<Reference>,
    /// Seen by agents only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub private: bool,
    pub created_at: DateTime<Utc>,
}

/// A task to add to a ticket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    pub body: String,
    #[serde(default)]
    pub state: TaskState,
    #[serde(default)]
    pub duration_secs: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<Reference>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub private: bool,
}

fn default_media_type() -> String {
    "application/octet-stream".to_owned()
}

/// One message in a ticket's conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadEntry {
    pub id: String,
    pub kind: EntryKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Contact>,
    pub body: Body,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailKeys>,
}

/// The three kinds of thread entry every helpdesk distinguishes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// From the requester (the first message, or a reply by mail).
    #[default]
    Message,
    /// A public answer from an agent.
    Response,
    /// A private note only agents see.
    Note,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Message => "message",
            EntryKind::Response => "response",
            EntryKind::Note => "note",
        }
    }
}

/// The email threading keys of a ticket or entry that came by mail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailKeys {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
}
