//! TicketsApi's JSON models (camelCase, as ASP.NET writes them) and their pure
//! conversions to and from the canonical model. Both faces use them: the server face
//! writes them, the client face reads them.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use ticketgate_model::{
    Attachment, Body, Contact, EntryKind, LookupItem, Priority, PriorityLevel, Reference,
    Requester, Source, State, Status, ThreadEntry, Ticket, TicketType,
};

/// A ticket id on the wire: a number when it is one (TicketsApi ids are `long`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WireId {
    Number(i64),
    Text(String),
}

impl WireId {
    pub fn from_canonical(id: &str) -> Self {
        match id.parse::<i64>() {
            Ok(n) => WireId::Number(n),
            Err(_) => WireId::Text(id.to_owned()),
        }
    }

    pub fn as_canonical(&self) -> String {
        match self {
            WireId::Number(n) => n.to_string(),
            WireId::Text(s) => s.clone(),
        }
    }
}

/// Dates as ASP.NET writes UTC `DateTime`s.
pub fn format_date(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Dates as TicketsApi clients send them: RFC 3339, a naive date-time (taken as UTC),
/// or a bare date.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// The vendor's status types; `OnHold` and `Pending` both mean canonical `pending`.
pub fn status_type(state: State) -> &'static str {
    match state {
        State::New => "New",
        State::Open => "Open",
        State::Pending => "Pending",
        State::Resolved => "Resolved",
        State::Closed => "Closed",
        State::Archived => "Archived",
        State::Deleted => "Deleted",
    }
}

pub fn state_of_status_type(s: &str) -> Option<State> {
    Some(
        match s
            .trim()
            .to_ascii_lowercase()
            .replace([' ', '_', '-'], "")
            .as_str()
        {
            "new" => State::New,
            "open" | "inprogress" | "assigned" => State::Open,
            "onhold" | "pending" | "waiting" => State::Pending,
            "resolved" | "solved" => State::Resolved,
            "closed" | "completed" => State::Closed,
            "archived" => State::Archived,
            "deleted" => State::Deleted,
            _ => return None,
        },
    )
}

/// TicketsApi's `TicketType`: `Ticket` is the everyday incident.
pub fn vendor_ticket_type(t: TicketType) -> &'static str {
    match t {
        TicketType::Incident => "Ticket",
        TicketType::Request => "Request",
        TicketType::Problem => "Problem",
        TicketType::Change => "Change",
        TicketType::Question => "Question",
    }
}

/// By name (any case) or by the enum's position, as ASP.NET model binding accepts both.
pub fn parse_ticket_type(s: &str) -> Option<TicketType> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "ticket" | "incident" | "0" => TicketType::Incident,
        "problem" | "1" => TicketType::Problem,
        "request" | "servicerequest" | "2" => TicketType::Request,
        "change" | "3" => TicketType::Change,
        "question" | "4" => TicketType::Question,
        _ => return None,
    })
}

pub fn vendor_source(s: Source) -> &'static str {
    match s {
        Source::Api => "Api",
        Source::Email => "Email",
        Source::Web => "Manual",
        Source::Phone => "Phone",
        Source::Other => "Other",
    }
}

pub fn parse_source(s: &str) -> Source {
    match s.trim().to_ascii_lowercase().as_str() {
        "manual" => Source::Web,
        other => Source::parse_lenient(other),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRef {
    pub id: Option<String>,
    pub full_name: Option<String>,
    pub user_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedRef {
    pub id: WireId,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TitledRef {
    pub id: WireId,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupRef {
    pub id: WireId,
    pub group: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriorityRef {
    pub id: WireId,
    pub priority: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusRef {
    pub id: WireId,
    pub status: String,
    pub status_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolutionModel {
    pub details: Option<String>,
    pub submit_by: Option<String>,
    pub submit_date: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentModel {
    pub id: Option<String>,
    pub file_name: String,
    pub content_type: String,
    pub size: u64,
}

/// One conversation record (a reply, a forward, a requester reply, a note).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationModel {
    pub id: Option<String>,
    /// `Message` (from the requester), `Reply` (public answer) or `Note` (internal).
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    pub created_by: Option<String>,
    pub created_by_email: Option<String>,
    pub created_on: Option<String>,
    #[serde(default)]
    pub attachments: Vec<AttachmentModel>,
}

/// `TicketApiModel`: one ticket in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketApiModel {
    pub id: WireId,
    pub title: String,
    pub description: String,
    pub ticket_type: Option<String>,
    pub source: Option<String>,
    pub cc: Option<String>,
    pub guid: Option<String>,
    pub creator_id: Option<String>,
    pub creator: Option<UserRef>,
    pub assigned_user: Option<String>,
    pub assignee: Option<UserRef>,
    pub ticket_category_id: Option<WireId>,
    pub category: Option<NamedRef>,
    pub ticket_sub_category_id: Option<WireId>,
    pub sub_category: Option<NamedRef>,
    pub site_id: Option<WireId>,
    pub site: Option<TitledRef>,
    pub department_id: Option<WireId>,
    pub department: Option<TitledRef>,
    pub group_id: Option<WireId>,
    pub group: Option<GroupRef>,
    pub tier_level_id: Option<WireId>,
    pub client_id: Option<WireId>,
    #[serde(rename = "slaId")]
    pub sla_id: Option<WireId>,
    pub ticket_status_id: Option<WireId>,
    pub status: Option<StatusRef>,
    pub ticket_priority_id: Option<WireId>,
    pub priority: Option<PriorityRef>,
    pub impact_id: Option<u8>,
    pub urgency_id: Option<u8>,
    pub due_date: Option<String>,
    pub created_on: Option<String>,
    pub modified_on: Option<String>,
    pub resolved_date: Option<String>,
    pub closed_date: Option<String>,
    #[serde(default)]
    pub is_deleted: bool,
    pub deleted_on: Option<String>,
    pub resolution: Option<ResolutionModel>,
    #[serde(default)]
    pub attachments: Vec<AttachmentModel>,
    #[serde(default)]
    pub conversations: Vec<ConversationModel>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_fields: BTreeMap<String, serde_json::Value>,
}

/// `TicketList`: one row of the paginated list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketListModel {
    pub id: WireId,
    pub title: String,
    pub ticket_type: Option<String>,
    pub ticket_status_id: Option<WireId>,
    pub status: Option<String>,
    pub status_type: Option<String>,
    pub ticket_priority_id: Option<WireId>,
    pub priority: Option<String>,
    pub creator_id: Option<String>,
    pub requester: Option<String>,
    pub requester_email: Option<String>,
    pub assigned_user: Option<String>,
    pub technician: Option<String>,
    pub category: Option<String>,
    pub department: Option<String>,
    pub site: Option<String>,
    pub group: Option<String>,
    pub due_date: Option<String>,
    pub created_on: Option<String>,
    pub modified_on: Option<String>,
}

fn wire_id(r: &Option<Reference>) -> Option<WireId> {
    r.as_ref()
        .and_then(|r| r.id.as_deref())
        .map(WireId::from_canonical)
}

/// An id that the canonical side lacks is `0`, as .NET writes an unset `int`.
fn id_or_zero(id: Option<&str>) -> WireId {
    id.map(WireId::from_canonical).unwrap_or(WireId::Number(0))
}

fn named(r: &Option<Reference>) -> Option<(WireId, String)> {
    let r = r.as_ref()?;
    Some((
        id_or_zero(r.id.as_deref()),
        r.name.clone().unwrap_or_default(),
    ))
}

fn requester_display(r: &Requester) -> Option<String> {
    r.name
        .clone()
        .or_else(|| r.username.clone())
        .or_else(|| r.email.clone())
        .or_else(|| r.id.clone())
}

fn attachment_model(a: &Attachment) -> AttachmentModel {
    AttachmentModel {
        id: a.id.clone(),
        file_name: a.name.clone(),
        content_type: a.media_type.clone(),
        size: u64::try_from(a.bytes.len()).unwrap_or(u64::MAX),
    }
}

pub fn entry_kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Message => "Message",
        EntryKind::Response => "Reply",
        EntryKind::Note => "Note",
    }
}

pub fn parse_entry_kind(s: &str) -> EntryKind {
    match s.trim().to_ascii_lowercase().as_str() {
        "message" | "requesterreply" | "reqreply" => EntryKind::Message,
        "note" | "forward" | "internal" => EntryKind::Note,
        _ => EntryKind::Response,
    }
}

pub fn conversation_model(e: &ThreadEntry) -> ConversationModel {
    ConversationModel {
        id: Some(e.id.clone()),
        kind: entry_kind_name(e.kind).to_owned(),
        message: e.body.content.clone(),
        created_by: e.author.as_ref().and_then(|a| a.name.clone()),
        created_by_email: e.author.as_ref().and_then(|a| a.email.clone()),
        created_on: Some(format_date(&e.created_at)),
        attachments: e.attachments.iter().map(attachment_model).collect(),
    }
}

/// The resolution record: the answer given when the ticket was resolved.
fn resolution_model(t: &Ticket) -> Option<ResolutionModel> {
    let solved = t.solved_at?;
    let answer = t
        .entries
        .iter()
        .rev()
        .find(|e| e.kind == EntryKind::Response && e.created_at <= solved);
    Some(ResolutionModel {
        details: answer.map(|e| e.body.content.clone()),
        submit_by: answer
            .and_then(|e| e.author.as_ref())
            .and_then(|a| a.name.clone().or_else(|| a.email.clone())),
        submit_date: Some(format_date(&solved)),
    })
}

/// Canonical ticket → `TicketApiModel`.
pub fn ticket_model(t: &Ticket) -> TicketApiModel {
    let mut custom_fields = t.custom_fields.clone();
    let guid = custom_fields
        .remove("Guid")
        .and_then(|v| v.as_str().map(str::to_owned));
    let deleted = t.status.state == State::Deleted;
    TicketApiModel {
        id: WireId::from_canonical(&t.id),
        title: t.subject.clone(),
        description: t.body.content.clone(),
        ticket_type: t.ticket_type.map(|k| vendor_ticket_type(k).to_owned()),
        source: Some(vendor_source(t.source).to_owned()),
        cc: (!t.cc.is_empty()).then(|| {
            t.cc.iter()
                .filter_map(|c| c.email.clone())
                .collect::<Vec<_>>()
                .join(";")
        }),
        guid,
        creator_id: t
            .requester
            .id
            .clone()
            .or_else(|| t.requester.username.clone()),
        creator: Some(UserRef {
            id: t.requester.id.clone(),
            full_name: requester_display(&t.requester),
            user_name: t.requester.username.clone(),
            email: t.requester.email.clone(),
        }),
        assigned_user: t.assignee.as_ref().and_then(|a| a.id.clone()),
        assignee: t.assignee.as_ref().map(|a| UserRef {
            id: a.id.clone(),
            full_name: a.name.clone(),
            user_name: None,
            email: None,
        }),
        ticket_category_id: wire_id(&t.category),
        category: named(&t.category).map(|(id, name)| NamedRef { id, name }),
        ticket_sub_category_id: wire_id(&t.topic),
        sub_category: named(&t.topic).map(|(id, name)| NamedRef { id, name }),
        site_id: wire_id(&t.location),
        site: named(&t.location).map(|(id, title)| TitledRef { id, title }),
        department_id: wire_id(&t.department),
        department: named(&t.department).map(|(id, title)| TitledRef { id, title }),
        group_id: wire_id(&t.group),
        group: named(&t.group).map(|(id, group)| GroupRef { id, group }),
        tier_level_id: wire_id(&t.team),
        client_id: wire_id(&t.entity),
        sla_id: wire_id(&t.sla),
        ticket_status_id: t.status.id.as_deref().map(WireId::from_canonical),
        status: Some(StatusRef {
            id: id_or_zero(t.status.id.as_deref()),
            status: t
                .status
                .name
                .clone()
                .unwrap_or_else(|| status_type(t.status.state).to_owned()),
            status_type: status_type(t.status.state).to_owned(),
        }),
        ticket_priority_id: t
            .priority
            .as_ref()
            .and_then(|p| p.id.as_deref())
            .map(WireId::from_canonical),
        priority: t.priority.as_ref().map(|p| PriorityRef {
            id: id_or_zero(p.id.as_deref()),
            priority: p
                .name
                .clone()
                .unwrap_or_else(|| p.level.as_str().to_owned()),
        }),
        impact_id: t.impact,
        urgency_id: t.urgency,
        due_date: t.due_at.as_ref().map(format_date),
        created_on: Some(format_date(&t.created_at)),
        modified_on: Some(format_date(&t.updated_at)),
        resolved_date: t.solved_at.as_ref().map(format_date),
        closed_date: t.closed_at.as_ref().map(format_date),
        is_deleted: deleted,
        deleted_on: deleted.then(|| format_date(&t.updated_at)),
        resolution: resolution_model(t),
        attachments: t.attachments.iter().map(attachment_model).collect(),
        conversations: t.entries.iter().map(conversation_model).collect(),
        custom_fields,
    }
}

/// Canonical ticket → one `TicketList` row.
pub fn list_model(t: &Ticket) -> TicketListModel {
    TicketListModel {
        id: WireId::from_canonical(&t.id),
        title: t.subject.clone(),
        ticket_type: t.ticket_type.map(|k| vendor_ticket_type(k).to_owned()),
        ticket_status_id: t.status.id.as_deref().map(WireId::from_canonical),
        status: Some(
            t.status
                .name
                .clone()
                .unwrap_or_else(|| status_type(t.status.state).to_owned()),
        ),
        status_type: Some(status_type(t.status.state).to_owned()),
        ticket_priority_id: t
            .priority
            .as_ref()
            .and_then(|p| p.id.as_deref())
            .map(WireId::from_canonical),
        priority: t.priority.as_ref().and_then(|p| p.name.clone()),
        creator_id: t
            .requester
            .id
            .clone()
            .or_else(|| t.requester.username.clone()),
        requester: requester_display(&t.requester),
        requester_email: t.requester.email.clone(),
        assigned_user: t.assignee.as_ref().and_then(|a| a.id.clone()),
        technician: t.assignee.as_ref().and_then(|a| a.name.clone()),
        category: t.category.as_ref().and_then(|r| r.name.clone()),
        department: t.department.as_ref().and_then(|r| r.name.clone()),
        site: t.location.as_ref().and_then(|r| r.name.clone()),
        group: t.group.as_ref().and_then(|r| r.name.clone()),
        due_date: t.due_at.as_ref().map(format_date),
        created_on: Some(format_date(&t.created_at)),
        modified_on: Some(format_date(&t.updated_at)),
    }
}

fn reference(id: &Option<WireId>, name: Option<String>) -> Option<Reference> {
    match (id.as_ref().map(WireId::as_canonical), name) {
        (Some(id), Some(n)) if !n.is_empty() => Some(Reference::both(id, n)),
        (Some(id), _) if !id.is_empty() && id != "0" => Some(Reference::id(id)),
        (None, Some(n)) if !n.is_empty() => Some(Reference::name(n)),
        _ => None,
    }
}

fn date(s: &Option<String>) -> Option<DateTime<Utc>> {
    s.as_deref().and_then(parse_date)
}

/// The priority level a vendor priority name stands for (`Normal` when unknown).
pub fn priority_level(name: &str) -> PriorityLevel {
    name.parse().unwrap_or(PriorityLevel::Normal)
}

/// `TicketApiModel` → canonical ticket (the client face).
pub fn ticket_from_model(m: TicketApiModel) -> Ticket {
    let id = m.id.as_canonical();
    let state = m
        .status
        .as_ref()
        .and_then(|s| state_of_status_type(&s.status_type))
        .unwrap_or(if m.is_deleted {
            State::Deleted
        } else {
            State::Open
        });
    let status = Status {
        state,
        name: m.status.as_ref().map(|s| s.status.clone()),
        id: m
            .status
            .as_ref()
            .map(|s| s.id.as_canonical())
            .filter(|s| !s.is_empty() && s != "0")
            .or_else(|| m.ticket_status_id.as_ref().map(WireId::as_canonical))
            .filter(|s| !s.is_empty() && s != "0"),
    };
    let priority = match (&m.priority, &m.ticket_priority_id) {
        (Some(p), _) => Some(Priority {
            level: priority_level(&p.priority),
            name: Some(p.priority.clone()),
            id: Some(p.id.as_canonical()).filter(|s| !s.is_empty() && s != "0"),
        }),
        (None, Some(id)) => Some(Priority {
            level: PriorityLevel::Normal,
            name: None,
            id: Some(id.as_canonical()),
        }),
        (None, None) => None,
    };
    let creator = m.creator.clone();
    let requester = Requester {
        name: creator.as_ref().and_then(|c| c.full_name.clone()),
        email: creator.as_ref().and_then(|c| c.email.clone()),
        phone: None,
        phone_ext: None,
        username: creator.as_ref().and_then(|c| c.user_name.clone()),
        id: creator
            .as_ref()
            .and_then(|c| c.id.clone())
            .or_else(|| m.creator_id.clone()),
    };
    let assignee = match (&m.assignee, &m.assigned_user) {
        (Some(a), _) => Some(Reference {
            id: a.id.clone().or_else(|| m.assigned_user.clone()),
            name: a.full_name.clone().or_else(|| a.user_name.clone()),
        }),
        (None, Some(id)) if !id.is_empty() => Some(Reference::id(id.clone())),
        _ => None,
    };
    let mut custom_fields = m.custom_fields;
    if let Some(g) = m.guid {
        custom_fields.insert("Guid".to_owned(), serde_json::Value::String(g));
    }
    let attachment = |a: AttachmentModel| Attachment {
        id: a.id,
        name: a.file_name,
        media_type: a.content_type,
        bytes: Vec::new(),
        inline: false,
        content_id: None,
    };
    let created_at = date(&m.created_on).unwrap_or_default();
    Ticket {
        number: id.clone(),
        id,
        subject: m.title,
        body: Body::text(m.description),
        requester,
        cc: m
            .cc
            .as_deref()
            .map(split_addresses)
            .unwrap_or_default()
            .into_iter()
            .map(|e| Contact {
                name: None,
                email: Some(e),
            })
            .collect(),
        status,
        priority,
        urgency: m.urgency_id.filter(|v| (1..=5).contains(v)),
        impact: m.impact_id.filter(|v| (1..=5).contains(v)),
        ticket_type: m.ticket_type.as_deref().and_then(parse_ticket_type),
        category: reference(&m.ticket_category_id, m.category.map(|c| c.name)),
        topic: reference(&m.ticket_sub_category_id, m.sub_category.map(|c| c.name)),
        department: reference(&m.department_id, m.department.map(|d| d.title)),
        group: reference(&m.group_id, m.group.map(|g| g.group)),
        team: reference(&m.tier_level_id, None),
        assignee,
        location: reference(&m.site_id, m.site.map(|s| s.title)),
        entity: reference(&m.client_id, None),
        sla: reference(&m.sla_id, None),
        due_at: date(&m.due_date),
        created_at,
        updated_at: date(&m.modified_on).unwrap_or(created_at),
        solved_at: date(&m.resolved_date),
        closed_at: date(&m.closed_date),
        source: m.source.as_deref().map(parse_source).unwrap_or_default(),
        client_ip: None,
        attachments: m.attachments.into_iter().map(attachment).collect(),
        entries: m
            .conversations
            .into_iter()
            .map(|c| ThreadEntry {
                id: c.id.unwrap_or_default(),
                kind: parse_entry_kind(&c.kind),
                author: (c.created_by.is_some() || c.created_by_email.is_some()).then_some(
                    Contact {
                        name: c.created_by,
                        email: c.created_by_email,
                    },
                ),
                body: Body::text(c.message),
                created_at: date(&c.created_on).unwrap_or(created_at),
                attachments: c.attachments.into_iter().map(attachment).collect(),
                email: None,
            })
            .collect(),
        parent: None,
        children: Vec::new(),
        custom_fields,
        email: None,
    }
}

/// `TicketList` row → canonical ticket (without body, entries or attachments).
pub fn ticket_from_list(m: TicketListModel) -> Ticket {
    let id = m.id.as_canonical();
    let created_at = date(&m.created_on).unwrap_or_default();
    Ticket {
        number: id.clone(),
        id,
        subject: m.title,
        body: Body::default(),
        requester: Requester {
            name: m.requester,
            email: m.requester_email,
            id: m.creator_id,
            ..Requester::default()
        },
        cc: Vec::new(),
        status: Status {
            state: m
                .status_type
                .as_deref()
                .and_then(state_of_status_type)
                .unwrap_or(State::Open),
            name: m.status,
            id: m.ticket_status_id.as_ref().map(WireId::as_canonical),
        },
        priority: match (&m.priority, &m.ticket_priority_id) {
            (None, None) => None,
            (name, id) => Some(Priority {
                level: name
                    .as_deref()
                    .map(priority_level)
                    .unwrap_or(PriorityLevel::Normal),
                name: name.clone(),
                id: id.as_ref().map(WireId::as_canonical),
            }),
        },
        urgency: None,
        impact: None,
        ticket_type: m.ticket_type.as_deref().and_then(parse_ticket_type),
        category: m.category.map(Reference::name),
        topic: None,
        department: m.department.map(Reference::name),
        group: m.group.map(Reference::name),
        team: None,
        assignee: match (m.assigned_user, m.technician) {
            (None, None) => None,
            (id, name) => Some(Reference { id, name }),
        },
        location: m.site.map(Reference::name),
        entity: None,
        sla: None,
        due_at: date(&m.due_date),
        created_at,
        updated_at: date(&m.modified_on).unwrap_or(created_at),
        solved_at: None,
        closed_at: None,
        source: Source::default(),
        client_ip: None,
        attachments: Vec::new(),
        entries: Vec::new(),
        parent: None,
        children: Vec::new(),
        custom_fields: BTreeMap::new(),
        email: None,
    }
}

/// `a@x; b@y, c@z` → the addresses.
pub fn split_addresses(s: &str) -> Vec<String> {
    s.split([',', ';'])
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The body of `metadata` / `appmetadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub groups: Vec<GroupRef>,
    #[serde(default)]
    pub levels: Vec<TitledRef>,
    #[serde(default)]
    pub priorities: Vec<PriorityRef>,
    #[serde(default)]
    pub categories: Vec<NamedRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_categories: Option<Vec<NamedRef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<NamedRef>>,
    #[serde(default)]
    pub status: Vec<StatusRef>,
    #[serde(default)]
    pub clients: Vec<NamedRef>,
    #[serde(default)]
    pub sites: Vec<TitledRef>,
    #[serde(default)]
    pub departments: Vec<TitledRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub technicians: Option<Vec<UserRef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requesters: Option<Vec<UserRef>>,
}

pub fn status_ref(item: &LookupItem) -> StatusRef {
    StatusRef {
        id: WireId::from_canonical(&item.id),
        status: item.name.clone(),
        status_type: status_type(item.state.unwrap_or(State::Open)).to_owned(),
    }
}

pub fn named_ref(item: &LookupItem) -> NamedRef {
    NamedRef {
        id: WireId::from_canonical(&item.id),
        name: item.name.clone(),
    }
}

pub fn titled_ref(item: &LookupItem) -> TitledRef {
    TitledRef {
        id: WireId::from_canonical(&item.id),
        title: item.name.clone(),
    }
}

pub fn user_ref(item: &LookupItem) -> UserRef {
    UserRef {
        id: Some(item.id.clone()),
        full_name: Some(item.name.clone()),
        user_name: None,
        email: None,
    }
}
