//! The API Endpoints plugin's response bodies, shared by both faces: the server face
//! writes them, the client face reads them.
//!
//! Shapes are what the real plugin (v2.3.4 on osTicket 1.18.1) answers, field for field
//! (`lib/Services/TicketService.php`, `controllers/SubticketApiController.php`; compared
//! with the live plugin by `tests/live_osticket_plugin.rs`). Absent values are `null`,
//! as the plugin sends them; osTicket's objects (a person's name, an email address, a
//! thread entry's body) keep their JSON form, and the reading side takes either that
//! form or a bare string. ticketgate adds one field the plugin lacks: `attachments` on a
//! fetched ticket (name, type and a base64 data URL), so files survive a round trip
//! through a chain of gateways; plugin clients ignore it.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use ticketgate_model::{
    Attachment, BodyFormat, EntryKind, Reference, Source, State, Ticket, data_url,
};

/// The plugin's time format: `2025-11-08 10:30:00` (ticketgate writes UTC).
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

pub fn format_time(t: &DateTime<Utc>) -> String {
    t.format(TIME_FORMAT).to_string()
}

/// Reads the plugin's time format (taken as UTC), RFC 3339, or a bare date.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(s.trim(), TIME_FORMAT)
        .map(|t| t.and_utc())
        .ok()
        .or_else(|| crate::decode::parse_due_date(s))
}

/// A ticket id: a JSON number when it is one (osTicket's internal ids are), else a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WireId {
    Number(u64),
    Text(String),
}

impl WireId {
    pub fn new(id: &str) -> Self {
        match id.parse::<u64>() {
            Ok(n) if !id.starts_with('0') || id == "0" => WireId::Number(n),
            _ => WireId::Text(id.to_owned()),
        }
    }
}

impl Default for WireId {
    fn default() -> Self {
        WireId::Text(String::new())
    }
}

impl fmt::Display for WireId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireId::Number(n) => write!(f, "{n}"),
            WireId::Text(s) => f.write_str(s),
        }
    }
}

/// A JSON value that may be a string, a number or null, read as a string (`null` → empty).
/// The plugin's PHP sends whatever type the database column had.
fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    })
}

/// A yes/no the plugin sends as `0`/`1` (PHP's ints), and some builds as a boolean.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flag(pub bool);

impl Serialize for Flag {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(u8::from(self.0))
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Flag(match Value::deserialize(d)? {
            Value::Bool(b) => b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Value::String(s) => !matches!(s.trim(), "" | "0" | "false"),
            _ => false,
        }))
    }
}

/// A person's name as osTicket serialises its `PersonsName` object:
/// `{"format", "parts": {...}, "name"}`. In the plugin's XML it is the bare name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PersonName {
    Full {
        format: String,
        parts: BTreeMap<String, String>,
        name: String,
    },
    Plain(String),
}

impl PersonName {
    /// The structured form, split the way osTicket splits a name it is given.
    pub fn full(name: &str, format: &str, with_extra_parts: bool) -> Self {
        let name = name.trim();
        let (first, last) = match name.rsplit_once(' ') {
            Some((f, l)) => (f.trim(), l.trim()),
            None => (name, ""),
        };
        let mut parts = BTreeMap::new();
        parts.insert("first".to_owned(), first.to_owned());
        parts.insert("last".to_owned(), last.to_owned());
        if with_extra_parts {
            for k in ["salutation", "middle", "suffix"] {
                parts.insert(k.to_owned(), String::new());
            }
        }
        PersonName::Full {
            format: format.to_owned(),
            parts,
            name: name.to_owned(),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            PersonName::Full { name, .. } | PersonName::Plain(name) => name,
        }
    }

    fn plain(&self) -> Self {
        PersonName::Plain(self.name().to_owned())
    }
}

impl<'de> Deserialize<'de> for PersonName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Object(m) => {
                let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                let parts = m
                    .get("parts")
                    .and_then(Value::as_object)
                    .map(|p| {
                        p.iter()
                            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default();
                PersonName::Full {
                    format: text("format"),
                    parts,
                    name: text("name"),
                }
            }
            Value::String(s) => PersonName::Plain(s),
            _ => PersonName::Plain(String::new()),
        })
    }
}

/// An email address as osTicket serialises its `EmailAddress` object:
/// `{"email", "address": "\"Name\" <email>"}`. In the plugin's XML it is the bare address.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EmailView {
    Full { email: String, address: String },
    Plain(String),
}

impl EmailView {
    pub fn full(email: &str, name: Option<&str>) -> Self {
        let address = match name.filter(|n| !n.trim().is_empty()) {
            Some(n) => format!("\"{}\" <{email}>", n.trim()),
            None => email.to_owned(),
        };
        EmailView::Full {
            email: email.to_owned(),
            address,
        }
    }

    pub fn email(&self) -> &str {
        match self {
            EmailView::Full { email, .. } | EmailView::Plain(email) => email,
        }
    }
}

impl<'de> Deserialize<'de> for EmailView {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Object(m) => {
                let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                EmailView::Full {
                    email: text("email"),
                    address: text("address"),
                }
            }
            Value::String(s) => EmailView::Plain(s),
            _ => EmailView::Plain(String::new()),
        })
    }
}

/// The requester of a fetched ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserView {
    pub name: Option<PersonName>,
    pub email: Option<EmailView>,
}

/// `GET /tickets-get.php/{number}.json` (`lib/Services/TicketService.php`
/// `buildTicketResponse`). Every field is always present; absent values are `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TicketView {
    pub id: WireId,
    #[serde(deserialize_with = "lenient_string")]
    pub number: String,
    #[serde(deserialize_with = "lenient_string")]
    pub subject: String,
    pub status_id: Option<WireId>,
    pub status: Option<String>,
    pub priority_id: Option<WireId>,
    pub priority: Option<String>,
    pub department_id: Option<WireId>,
    pub department: Option<String>,
    pub topic_id: Option<WireId>,
    pub topic: Option<String>,
    pub user_id: Option<WireId>,
    pub user: Option<UserView>,
    pub staff_id: Option<WireId>,
    pub staff: Option<PersonName>,
    pub team_id: Option<WireId>,
    pub team: Option<String>,
    pub sla_id: Option<WireId>,
    pub sla: Option<String>,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub duedate: Option<String>,
    pub closed: Option<String>,
    pub is_overdue: Flag,
    pub is_answered: Flag,
    pub source: Option<String>,
    pub ip: Option<String>,
    /// Internal ids of the subtickets.
    pub children: Vec<WireId>,
    pub thread: Vec<EntryView>,
    /// ticketgate's addition (the plugin lists files per entry, without their bytes):
    /// the ticket's files as base64 data URLs, so they survive a round trip through a
    /// chain of gateways. Left out when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentView>,
}

/// One thread entry: `type` is osTicket's `M` (message), `R` (response) or `N` (note).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EntryView {
    pub id: WireId,
    #[serde(rename = "type", deserialize_with = "lenient_string")]
    pub kind: String,
    pub poster: Option<String>,
    pub timestamp: Option<String>,
    pub body: EntryBody,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff_id: Option<WireId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff: Option<PersonName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<WireId>,
}

/// osTicket's `ThreadEntryBody` as JSON; the bare text in the plugin's XML.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EntryBody {
    Full {
        body: String,
        /// `text` or `html` (ticketgate also says `markdown` for a markdown body).
        #[serde(rename = "type")]
        format: String,
        stripped_images: Vec<Value>,
        embedded_images: Vec<Value>,
        options: BodyOptions,
    },
    Plain(String),
}

impl Default for EntryBody {
    fn default() -> Self {
        EntryBody::Plain(String::new())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BodyOptions {
    #[serde(rename = "strip-embedded")]
    pub strip_embedded: bool,
    pub balanced: bool,
}

impl EntryBody {
    pub fn full(body: &str, format: &str) -> Self {
        EntryBody::Full {
            body: body.to_owned(),
            format: format.to_owned(),
            stripped_images: Vec::new(),
            embedded_images: Vec::new(),
            options: BodyOptions {
                strip_embedded: false,
                balanced: true,
            },
        }
    }

    /// The text and osTicket's type for it (`text` when the plugin did not say).
    pub fn parts(&self) -> (&str, &str) {
        match self {
            EntryBody::Full { body, format, .. } => (body, format),
            EntryBody::Plain(body) => (body, "text"),
        }
    }
}

impl<'de> Deserialize<'de> for EntryBody {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Object(m) => {
                let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                let format = text("type");
                EntryBody::full(
                    &text("body"),
                    if format.is_empty() { "text" } else { &format },
                )
            }
            Value::String(s) => EntryBody::Plain(s),
            _ => EntryBody::Plain(String::new()),
        })
    }
}

/// One hit of `GET /tickets-search.php`, which answers a bare array of them
/// (`TicketService::buildSearchResultItem`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SearchItem {
    pub id: WireId,
    #[serde(deserialize_with = "lenient_string")]
    pub number: String,
    #[serde(deserialize_with = "lenient_string")]
    pub subject: String,
    pub status_id: Option<WireId>,
    pub status: Option<String>,
    pub priority_id: Option<WireId>,
    pub priority: Option<String>,
    pub department_id: Option<WireId>,
    pub department: Option<String>,
    pub topic_id: Option<WireId>,
    pub topic: Option<String>,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub due_date: Option<String>,
    pub staff_id: Option<WireId>,
    pub staff: Option<PersonName>,
    pub team_id: Option<WireId>,
    pub team: Option<String>,
    pub sla_id: Option<WireId>,
    pub sla: Option<String>,
    pub is_overdue: Flag,
    pub is_answered: Flag,
}

/// The plugin's JSON answer to a create (ticketgate sends it only when configured to).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CreateResponse {
    pub ticket_id: WireId,
    pub number: String,
    pub subject: String,
    pub message: String,
}

/// A ticket as the subticket endpoints show it (`SubticketApiController::formatTicketData`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TicketBrief {
    pub ticket_id: WireId,
    pub number: String,
    pub subject: String,
    pub status: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ParentResponse {
    pub parent: Option<TicketBrief>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChildrenResponse {
    pub children: Vec<TicketBrief>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinkResponse {
    pub success: bool,
    pub message: String,
    pub parent: TicketBrief,
    pub child: TicketBrief,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UnlinkResponse {
    pub success: bool,
    pub message: String,
    pub child: TicketBrief,
}

/// One entry of `GET /tickets-statuses.php`, which answers a bare array of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusView {
    pub id: WireId,
    #[serde(deserialize_with = "lenient_string")]
    pub name: String,
    /// osTicket's state: `open`, `closed`, `archived` or `deleted`.
    #[serde(deserialize_with = "lenient_string")]
    pub state: String,
}

/// `GET /tickets-stats.php` (`TicketService::getTicketStats`): every ticket counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatsResponse {
    pub total: u64,
    pub open: u64,
    /// osTicket's "closed" state: resolved and closed statuses alike.
    pub closed: u64,
    pub overdue: u64,
    /// By department name. PHP encodes an empty one as `[]`, so that is read and written too.
    #[serde(with = "php_map")]
    pub by_department: BTreeMap<String, DepartmentCounts>,
    pub by_staff: Vec<StaffStats>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DepartmentCounts {
    pub total: u64,
    pub open: u64,
    pub closed: u64,
    pub overdue: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StaffDepartmentCounts {
    pub open: u64,
    pub closed: u64,
    pub overdue: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StaffStats {
    pub staff_id: Option<WireId>,
    pub staff_name: PersonName,
    pub total: u64,
    #[serde(with = "php_map")]
    pub departments: BTreeMap<String, StaffDepartmentCounts>,
}

impl Default for StaffStats {
    fn default() -> Self {
        StaffStats {
            staff_id: None,
            staff_name: PersonName::Plain(String::new()),
            total: 0,
            departments: BTreeMap::new(),
        }
    }
}

/// A PHP associative array: a JSON object, or `[]` when it is empty.
mod php_map {
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value;
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer, T: Serialize>(
        m: &BTreeMap<String, T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        if m.is_empty() {
            Vec::<()>::new().serialize(s)
        } else {
            m.serialize(s)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: DeserializeOwned>(
        d: D,
    ) -> Result<BTreeMap<String, T>, D::Error> {
        match Value::deserialize(d)? {
            Value::Object(m) => m
                .into_iter()
                .map(|(k, v)| {
                    serde_json::from_value(v)
                        .map(|v| (k, v))
                        .map_err(serde::de::Error::custom)
                })
                .collect(),
            _ => Ok(BTreeMap::new()),
        }
    }
}

/// osTicket's name for a canonical state's family.
pub fn osticket_state(state: State) -> &'static str {
    match state {
        State::New | State::Open | State::Pending => "open",
        State::Resolved | State::Closed => "closed",
        State::Archived => "archived",
        State::Deleted => "deleted",
    }
}

/// A status name as osTicket shows it: the vendor name, else the state capitalised.
pub fn status_name(t: &Ticket) -> String {
    t.status
        .name
        .clone()
        .unwrap_or_else(|| capitalise(t.status.state.as_str()))
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub fn source_name(s: Source) -> &'static str {
    match s {
        Source::Api => "API",
        Source::Email => "Email",
        Source::Web => "Web",
        Source::Phone => "Phone",
        Source::Other => "Other",
    }
}

fn priority_name(t: &Ticket) -> Option<String> {
    t.priority.as_ref().map(|p| {
        p.name
            .clone()
            .unwrap_or_else(|| capitalise(&p.level.as_str().replace('_', " ")))
    })
}

pub(crate) fn is_overdue(t: &Ticket) -> bool {
    t.status.state.is_active() && t.due_at.is_some_and(|d| d < Utc::now())
}

/// The phone as osTicket stores it: the number, then `X` and the extension.
pub fn phone_with_ext(phone: Option<&str>, ext: Option<&str>) -> Option<String> {
    match (phone, ext) {
        (Some(p), Some(x)) if !x.is_empty() => Some(format!("{p}X{x}")),
        (Some(p), _) => Some(p.to_owned()),
        (None, Some(x)) if !x.is_empty() => Some(format!("X{x}")),
        _ => None,
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttachmentView {
    pub name: String,
    #[serde(rename = "type")]
    pub media_type: String,
    /// A base64 data URL.
    pub data: String,
}

fn reference_id(r: Option<&Reference>) -> Option<WireId> {
    r.and_then(|r| r.id.as_deref()).map(WireId::new)
}

fn reference_name(r: Option<&Reference>) -> Option<String> {
    r.map(|r| r.label().to_owned())
}

/// osTicket's thread entry type letter for a canonical entry kind.
pub fn entry_type(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Message => "M",
        EntryKind::Response => "R",
        EntryKind::Note => "N",
    }
}

/// The canonical entry kind for osTicket's letter (or a spelled-out kind).
pub fn entry_kind(letter: &str) -> EntryKind {
    match letter.trim() {
        "R" | "response" => EntryKind::Response,
        "N" | "note" => EntryKind::Note,
        _ => EntryKind::Message,
    }
}

fn staff_name(t: &Ticket) -> Option<PersonName> {
    t.assignee
        .as_ref()
        .map(|a| PersonName::full(a.label(), "full", false))
}

fn is_answered(t: &Ticket) -> bool {
    t.entries.iter().any(|e| e.kind == EntryKind::Response)
}

impl TicketView {
    pub fn from_ticket(t: &Ticket, children: &[Ticket]) -> Self {
        let r = &t.requester;
        let requester_name = r
            .name
            .clone()
            .or_else(|| r.email.clone())
            .unwrap_or_default();
        // The first message is the ticket's body; the thread follows.
        let mut thread = vec![EntryView {
            id: WireId::new(&t.id),
            kind: "M".to_owned(),
            poster: Some(requester_name.clone()),
            timestamp: Some(format_time(&t.created_at)),
            body: EntryBody::full(&t.body.content, t.body.format.as_str()),
            ..EntryView::default()
        }];
        for e in &t.entries {
            thread.push(EntryView {
                id: WireId::new(&e.id),
                kind: entry_type(e.kind).to_owned(),
                poster: e
                    .author
                    .as_ref()
                    .and_then(|a| a.name.clone().or_else(|| a.email.clone()))
                    .or_else(|| Some("API".to_owned())),
                timestamp: Some(format_time(&e.created_at)),
                body: EntryBody::full(&e.body.content, e.body.format.as_str()),
                ..EntryView::default()
            });
        }
        TicketView {
            id: WireId::new(&t.id),
            number: t.number.clone(),
            subject: t.subject.clone(),
            status_id: t.status.id.as_deref().map(WireId::new),
            status: Some(status_name(t)),
            priority_id: t
                .priority
                .as_ref()
                .and_then(|p| p.id.as_deref())
                .map(WireId::new),
            priority: priority_name(t),
            department_id: reference_id(t.department.as_ref()),
            department: reference_name(t.department.as_ref()),
            topic_id: reference_id(t.topic.as_ref()),
            topic: reference_name(t.topic.as_ref()),
            user_id: None,
            user: Some(UserView {
                name: Some(PersonName::full(&requester_name, "original", true)),
                email: r
                    .email
                    .as_deref()
                    .map(|e| EmailView::full(e, r.name.as_deref())),
            }),
            staff_id: reference_id(t.assignee.as_ref()),
            staff: staff_name(t),
            team_id: reference_id(t.team.as_ref()),
            team: reference_name(t.team.as_ref()),
            sla_id: reference_id(t.sla.as_ref()),
            sla: reference_name(t.sla.as_ref()),
            created: Some(format_time(&t.created_at)),
            updated: Some(format_time(&t.updated_at)),
            duedate: t.due_at.as_ref().map(format_time),
            closed: match t.status.state {
                State::Resolved | State::Closed => Some(format_time(
                    &t.closed_at.or(t.solved_at).unwrap_or(t.updated_at),
                )),
                _ => None,
            },
            is_overdue: Flag(is_overdue(t)),
            is_answered: Flag(is_answered(t)),
            source: Some(source_name(t.source).to_owned()),
            ip: t.client_ip.clone(),
            children: children.iter().map(|c| WireId::new(&c.id)).collect(),
            thread,
            attachments: t
                .attachments
                .iter()
                .filter(|a| !a.inline)
                .map(|a| AttachmentView {
                    name: a.name.clone(),
                    media_type: a.media_type.clone(),
                    data: data_url::encode(&a.media_type, &a.bytes),
                })
                .collect(),
        }
    }

    /// The plugin's XML flattens osTicket's objects to their text (`XmlHelper`).
    pub fn for_xml(&self) -> Self {
        let mut v = self.clone();
        if let Some(u) = &mut v.user {
            u.name = u.name.as_ref().map(PersonName::plain);
            u.email = u
                .email
                .as_ref()
                .map(|e| EmailView::Plain(e.email().to_owned()));
        }
        v.staff = v.staff.as_ref().map(PersonName::plain);
        for e in &mut v.thread {
            e.body = EntryBody::Plain(e.body.parts().0.to_owned());
            e.staff = e.staff.as_ref().map(PersonName::plain);
        }
        v
    }
}

impl SearchItem {
    pub fn from_ticket(t: &Ticket) -> Self {
        SearchItem {
            id: WireId::new(&t.id),
            number: t.number.clone(),
            subject: t.subject.clone(),
            status_id: t.status.id.as_deref().map(WireId::new),
            status: Some(status_name(t)),
            priority_id: t
                .priority
                .as_ref()
                .and_then(|p| p.id.as_deref())
                .map(WireId::new),
            priority: priority_name(t),
            department_id: reference_id(t.department.as_ref()),
            department: reference_name(t.department.as_ref()),
            topic_id: reference_id(t.topic.as_ref()),
            topic: reference_name(t.topic.as_ref()),
            created: Some(format_time(&t.created_at)),
            updated: Some(format_time(&t.updated_at)),
            due_date: t.due_at.as_ref().map(format_time),
            staff_id: reference_id(t.assignee.as_ref()),
            staff: staff_name(t),
            team_id: reference_id(t.team.as_ref()),
            team: reference_name(t.team.as_ref()),
            sla_id: reference_id(t.sla.as_ref()),
            sla: reference_name(t.sla.as_ref()),
            is_overdue: Flag(is_overdue(t)),
            is_answered: Flag(is_answered(t)),
        }
    }
}

impl TicketBrief {
    pub fn of(t: &Ticket) -> Self {
        TicketBrief {
            ticket_id: WireId::new(&t.id),
            number: t.number.clone(),
            subject: t.subject.clone(),
            status: status_name(t),
        }
    }
}

impl AttachmentView {
    pub fn to_attachment(&self) -> Option<Attachment> {
        if !crate::decode::is_data_url(&self.data) {
            return None;
        }
        let d = data_url::parse(&self.data).ok()?;
        Some(Attachment {
            name: self.name.clone(),
            media_type: if self.media_type.is_empty() {
                d.media_type
            } else {
                self.media_type.clone()
            },
            bytes: d.bytes,
            ..Attachment::default()
        })
    }
}

pub fn body_format(s: &str) -> BodyFormat {
    match s.trim().to_ascii_lowercase().as_str() {
        "html" | "text/html" => BodyFormat::Html,
        "markdown" | "md" => BodyFormat::Markdown,
        _ => BodyFormat::Text,
    }
}

/// A response as the plugin writes XML (`XmlHelper::arrayToXml`): root `<response>`,
/// objects as child elements in field order, every list item as `<item>`, null as an
/// empty element, and no encoding in the declaration.
pub fn to_plugin_xml<T: Serialize>(value: &T) -> String {
    let tree = serde_json::to_string(value)
        .ok()
        .and_then(|s| serde_json::from_str::<Node>(&s).ok())
        .unwrap_or(Node::Null);
    let mut out = String::from("<?xml version=\"1.0\"?>\n");
    write_xml_items(&mut out, "response", &tree);
    out.push('\n');
    out
}

/// A JSON value that keeps its object keys in document order.
enum Node {
    Null,
    Scalar(String),
    List(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> serde::de::Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_owned()))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element()? {
            items.push(v);
        }
        Ok(Node::List(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Node>()? {
            items.push((k, v));
        }
        Ok(Node::Map(items))
    }
}

/// Every list item is `<item>`, as PHP's SimpleXML writes numeric keys.
fn write_xml_items(out: &mut String, name: &str, node: &Node) {
    match node {
        Node::Null => out.push_str(&format!("<{name}/>")),
        Node::Map(items) => {
            out.push_str(&format!("<{name}>"));
            for (k, v) in items {
                write_xml_items(out, k, v);
            }
            out.push_str(&format!("</{name}>"));
        }
        Node::List(items) => {
            out.push_str(&format!("<{name}>"));
            for v in items {
                write_xml_items(out, "item", v);
            }
            out.push_str(&format!("</{name}>"));
        }
        Node::Scalar(s) => out.push_str(&format!("<{name}>{}</{name}>", escape(s))),
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all are dropped rather than sent broken.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_numbers_when_they_can_be() {
        assert_eq!(serde_json::to_string(&WireId::new("42")).unwrap(), "42");
        assert_eq!(
            serde_json::to_string(&WireId::new("T-1")).unwrap(),
            "\"T-1\""
        );
        assert_eq!(
            serde_json::to_string(&WireId::new("007")).unwrap(),
            "\"007\""
        );
    }

    #[test]
    fn xml_is_the_plugins() {
        #[derive(Serialize)]
        struct R {
            children: Vec<u32>,
            x: Option<u8>,
            s: &'static str,
        }
        let v = R {
            children: vec![5, 8],
            x: None,
            s: "a<b",
        };
        assert_eq!(
            to_plugin_xml(&v),
            "<?xml version=\"1.0\"?>\n<response><children><item>5</item><item>8</item></children>\
             <x/><s>a&lt;b</s></response>\n"
        );
    }

    #[test]
    fn the_plugins_objects_read_as_objects_or_text() {
        let v: TicketView = serde_json::from_str(
            r#"{"id": 4, "number": "940596", "staff": null, "isOverdue": 0,
                "user": {"name": {"format": "original", "parts": {"first": "Ann"}, "name": "Ann Example"},
                         "email": {"email": "ann@example.com", "address": "x"}},
                "thread": [{"id": 1, "type": "M", "body": {"body": "hi", "type": "html"}}],
                "children": [5]}"#,
        )
        .unwrap();
        assert_eq!(v.staff, None);
        assert_eq!(
            v.user.as_ref().unwrap().name.as_ref().unwrap().name(),
            "Ann Example"
        );
        assert_eq!(v.thread[0].body.parts(), ("hi", "html"));
        let v: TicketView = serde_json::from_str(
            r#"{"number": 12, "staff": "Sam", "isOverdue": true, "thread": [{"body": "plain"}]}"#,
        )
        .unwrap();
        assert_eq!((v.number.as_str(), v.staff.unwrap().name()), ("12", "Sam"));
        assert!(v.is_overdue.0);
        assert_eq!(v.thread[0].body.parts(), ("plain", "text"));
        let s: StatsResponse =
            serde_json::from_str(r#"{"total": 1, "by_department": [], "by_staff": []}"#).unwrap();
        assert!(s.by_department.is_empty());
        assert_eq!(
            serde_json::to_value(&s).unwrap()["by_department"],
            serde_json::json!([])
        );
    }
}
