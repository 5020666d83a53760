//! The API Endpoints plugin's response bodies, shared by both faces: the server face
//! writes them, the client face reads them.
//!
//! Shapes follow the plugin's documentation. Absent values are `null`, as the plugin
//! sends them. ticketgate adds one field the plugin lacks: `attachments` on a fetched
//! ticket (name, type and a base64 data URL), so attachments survive a round trip
//! through a gateway; plugin clients ignore it.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use ticketgate_model::{Attachment, BodyFormat, EntryKind, Source, State, Ticket, data_url};

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

/// `GET /tickets-get.php/{number}.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TicketView {
    pub ticket_id: WireId,
    pub number: String,
    pub subject: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub department: Option<String>,
    pub topic: Option<String>,
    pub sla: Option<String>,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub duedate: Option<String>,
    pub isoverdue: bool,
    pub source: Option<String>,
    pub ip: Option<String>,
    pub thread: Vec<EntryView>,
    pub staff: StaffView,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentView>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EntryView {
    pub id: WireId,
    #[serde(rename = "type")]
    pub kind: String,
    pub poster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub body: String,
    pub format: String,
    pub created: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StaffView {
    pub assigned: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
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

/// One hit of `GET /tickets-search.php`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchItem {
    pub ticket_id: WireId,
    pub number: String,
    pub subject: String,
    pub status: Option<String>,
    pub priority: Option<String>,
    pub department: Option<String>,
    pub created: Option<String>,
    pub updated: Option<String>,
    pub duedate: Option<String>,
    pub isoverdue: bool,
    pub user: UserView,
    pub staff: StaffView,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserView {
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchResponse {
    pub count: u64,
    pub total: u64,
    pub limit: u32,
    pub offset: u32,
    pub tickets: Vec<SearchItem>,
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

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateResponse {
    pub success: bool,
    pub message: String,
    pub ticket_id: WireId,
    pub number: String,
    pub updated_fields: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeleteResponse {
    pub success: bool,
    pub message: String,
    pub ticket_id: WireId,
    pub number: String,
}

/// A ticket as the subticket endpoints show it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TicketBrief {
    pub ticket_id: WireId,
    pub number: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned: Option<String>,
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
    pub former_parent: TicketBrief,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusesResponse {
    pub statuses: Vec<StatusView>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusView {
    pub id: WireId,
    pub name: String,
    /// osTicket's state: `open`, `closed`, `archived` or `deleted`.
    pub state: String,
    pub properties: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatsResponse {
    pub global: GlobalStats,
    pub by_department: Vec<DepartmentStats>,
    pub by_staff: Vec<StaffStats>,
    pub by_status: Vec<StatusCount>,
    pub by_priority: Vec<PriorityCount>,
    pub date_range: DateRange,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GlobalStats {
    pub total: u64,
    pub open: u64,
    pub closed: u64,
    pub resolved: u64,
    pub archived: u64,
    pub overdue: u64,
    pub assigned: u64,
    pub unassigned: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DepartmentStats {
    pub department_id: Option<WireId>,
    pub department_name: String,
    pub total: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StaffStats {
    pub staff_id: Option<WireId>,
    pub staff_name: String,
    pub assigned: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusCount {
    pub status_id: Option<WireId>,
    pub status: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PriorityCount {
    pub priority_id: Option<WireId>,
    pub priority: String,
    pub count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DateRange {
    pub start: Option<String>,
    pub end: Option<String>,
    pub label: String,
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

fn is_overdue(t: &Ticket) -> bool {
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

impl TicketView {
    pub fn from_ticket(t: &Ticket) -> Self {
        let r = &t.requester;
        // The first message is the ticket's body; the thread follows.
        let mut thread = vec![EntryView {
            id: WireId::Number(0),
            kind: "message".to_owned(),
            poster: r.name.clone().or_else(|| r.email.clone()),
            title: None,
            body: t.body.content.clone(),
            format: t.body.format.as_str().to_owned(),
            created: Some(format_time(&t.created_at)),
        }];
        for e in &t.entries {
            thread.push(EntryView {
                id: WireId::new(&e.id),
                kind: e.kind.as_str().to_owned(),
                poster: e
                    .author
                    .as_ref()
                    .and_then(|a| a.name.clone().or_else(|| a.email.clone())),
                title: (e.kind == EntryKind::Note).then(|| "Internal Note".to_owned()),
                body: e.body.content.clone(),
                format: e.body.format.as_str().to_owned(),
                created: Some(format_time(&e.created_at)),
            });
        }
        TicketView {
            ticket_id: WireId::new(&t.id),
            number: t.number.clone(),
            subject: t.subject.clone(),
            name: r.name.clone(),
            email: r.email.clone(),
            phone: phone_with_ext(r.phone.as_deref(), r.phone_ext.as_deref()),
            status: Some(status_name(t)),
            priority: priority_name(t),
            department: t.department.as_ref().map(|d| d.label().to_owned()),
            topic: t.topic.as_ref().map(|d| d.label().to_owned()),
            sla: t.sla.as_ref().map(|d| d.label().to_owned()),
            created: Some(format_time(&t.created_at)),
            updated: Some(format_time(&t.updated_at)),
            duedate: t.due_at.as_ref().map(format_time),
            isoverdue: is_overdue(t),
            source: Some(source_name(t.source).to_owned()),
            ip: t.client_ip.clone(),
            thread,
            staff: StaffView {
                assigned: t.assignee.as_ref().map(|a| a.label().to_owned()),
                team: t.team.as_ref().map(|a| a.label().to_owned()),
            },
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
}

impl SearchItem {
    pub fn from_ticket(t: &Ticket) -> Self {
        SearchItem {
            ticket_id: WireId::new(&t.id),
            number: t.number.clone(),
            subject: t.subject.clone(),
            status: Some(status_name(t)),
            priority: priority_name(t),
            department: t.department.as_ref().map(|d| d.label().to_owned()),
            created: Some(format_time(&t.created_at)),
            updated: Some(format_time(&t.updated_at)),
            duedate: t.due_at.as_ref().map(format_time),
            isoverdue: is_overdue(t),
            user: UserView {
                name: t.requester.name.clone(),
                email: t.requester.email.clone(),
            },
            staff: StaffView {
                assigned: t.assignee.as_ref().map(|a| a.label().to_owned()),
                team: None,
            },
        }
    }
}

impl TicketBrief {
    /// The short form of the link endpoints: id, number, subject, status.
    pub fn short(t: &Ticket) -> Self {
        TicketBrief {
            ticket_id: WireId::new(&t.id),
            number: t.number.clone(),
            subject: Some(t.subject.clone()),
            status: Some(status_name(t)),
            ..TicketBrief::default()
        }
    }

    /// The form of the parent and children endpoints.
    pub fn long(t: &Ticket, with_assignee: bool) -> Self {
        TicketBrief {
            department: t.department.as_ref().map(|d| d.label().to_owned()),
            created: Some(format_time(&t.created_at)),
            updated: Some(format_time(&t.updated_at)),
            assigned: if with_assignee {
                t.assignee.as_ref().map(|a| a.label().to_owned())
            } else {
                None
            },
            ..Self::short(t)
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

/// A response as the plugin's XML: objects become child elements in field order, a
/// list repeats its item element (`thread` → `entry`, `tickets` → `ticket`, …), null is
/// an empty element.
pub fn to_xml<T: Serialize>(root: &str, value: &T) -> String {
    // Through JSON text into an order-keeping tree: serde_json's own `Value` sorts keys.
    let tree = serde_json::to_string(value)
        .ok()
        .and_then(|s| serde_json::from_str::<Node>(&s).ok())
        .unwrap_or(Node::Null);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    write_xml(&mut out, root, &tree);
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

fn item_name(list: &str) -> &'static str {
    match list {
        "thread" => "entry",
        "tickets" | "children" => "ticket",
        "statuses" | "by_status" => "status",
        "updated_fields" => "field",
        "by_department" => "department",
        "by_staff" => "staff",
        "by_priority" => "priority",
        "attachments" => "file",
        _ => "item",
    }
}

fn write_xml(out: &mut String, name: &str, node: &Node) {
    match node {
        Node::Null => out.push_str(&format!("<{name}/>")),
        Node::Map(items) => {
            out.push_str(&format!("<{name}>"));
            for (k, v) in items {
                write_xml(out, k, v);
            }
            out.push_str(&format!("</{name}>"));
        }
        Node::List(items) => {
            out.push_str(&format!("<{name}>"));
            let item = item_name(name);
            for v in items {
                write_xml(out, item, v);
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
    fn xml_lists_repeat_their_item() {
        #[derive(Serialize)]
        struct R {
            updated_fields: Vec<&'static str>,
            x: Option<u8>,
            s: &'static str,
        }
        let v = R {
            updated_fields: vec!["status", "note"],
            x: None,
            s: "a<b",
        };
        assert_eq!(
            to_xml("response", &v),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response><updated_fields><field>status</field>\
             <field>note</field></updated_fields><x/><s>a&lt;b</s></response>\n"
        );
    }
}
