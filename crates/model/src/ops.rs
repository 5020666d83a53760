//! Inputs and outputs of the [`Helpdesk`](crate::Helpdesk) operations.
//!
//! The canonical API decodes these straight from request bodies, so the types that
//! arrive from clients refuse unknown fields: a typo in a field name is a 400 with
//! the field named, not a silently dropped value.

use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::serde_util::lenient_u8;
use crate::status::{PriorityLevel, State};
use crate::ticket::{
    Attachment, Body, Contact, CustomFields, EmailKeys, EntryKind, Requester, Source, TicketType,
    Timestamp,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bounds that every helpdesk enforces the same way, so a dialect cannot be used to
/// smuggle an oversize field past another.
pub const MAX_SUBJECT_CHARS: usize = 1_000;
pub const MAX_SEARCH_LIMIT: u32 = 1_000;

/// A ticket to create.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    pub subject: String,
    #[serde(default)]
    pub body: Body,
    pub requester: Requester,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<Contact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Reference>,
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
    #[serde(default)]
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// A private note recorded with the ticket (osTicket's `notes`, ITSM-NG's `_followup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_fields: CustomFields,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailKeys>,
    /// Whether the helpdesk should alert its staff / auto-respond to the requester.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autorespond: Option<bool>,
}

impl NewTicket {
    /// The checks every helpdesk applies before writing anything.
    pub fn validate(&self) -> Result<()> {
        if self.subject.trim().is_empty() {
            return Err(Error::bad_input("subject is required").field("subject"));
        }
        if self.subject.chars().count() > MAX_SUBJECT_CHARS {
            return Err(Error::bad_input(format!(
                "subject is longer than {MAX_SUBJECT_CHARS} characters"
            ))
            .field("subject"));
        }
        let r = &self.requester;
        let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        if !(present(&r.email) || present(&r.name) || present(&r.username) || present(&r.id)) {
            return Err(
                Error::bad_input("requester needs an email, a name or a username")
                    .field("requester"),
            );
        }
        if let Some(email) = r.email.as_deref().filter(|e| !e.trim().is_empty())
            && !looks_like_email(email)
        {
            return Err(Error::bad_input(format!(
                "requester.email {email:?} is not an email address"
            ))
            .field("requester.email"));
        }
        for (name, v) in [("urgency", self.urgency), ("impact", self.impact)] {
            if let Some(v) = v
                && !(1..=5).contains(&v)
            {
                return Err(Error::bad_input(format!("{name} must be between 1 and 5")).field(name));
            }
        }
        for a in &self.attachments {
            if a.name.trim().is_empty() {
                return Err(Error::bad_input("every attachment needs a name").field("attachments"));
            }
        }
        Ok(())
    }
}

/// A deliberately small check: one `@` with something on both sides and no spaces.
/// Real deliverability is the helpdesk's business; this catches swapped fields.
pub fn looks_like_email(s: &str) -> bool {
    let s = s.trim();
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !s.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// A partial update: only the fields present change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TicketPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Reference>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<Requester>,
    /// A private note recorded with the change (the osTicket plugin's `note`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_fields: CustomFields,
}

impl TicketPatch {
    pub fn is_empty(&self) -> bool {
        self == &TicketPatch::default()
    }

    /// The canonical names of the fields this patch changes, in a stable order
    /// (osTicket's plugin answers with `updated_fields`).
    pub fn changed_fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut add = |present: bool, name: &'static str| {
            if present {
                out.push(name);
            }
        };
        add(self.subject.is_some(), "subject");
        add(self.body.is_some(), "body");
        add(self.status.is_some(), "status");
        add(self.priority.is_some(), "priority");
        add(self.urgency.is_some(), "urgency");
        add(self.impact.is_some(), "impact");
        add(self.ticket_type.is_some(), "type");
        add(self.category.is_some(), "category");
        add(self.topic.is_some(), "topic");
        add(self.department.is_some(), "department");
        add(self.group.is_some(), "group");
        add(self.team.is_some(), "team");
        add(self.assignee.is_some(), "assignee");
        add(self.location.is_some(), "location");
        add(self.entity.is_some(), "entity");
        add(self.sla.is_some(), "sla");
        add(self.due_at.is_some(), "due_at");
        add(self.requester.is_some(), "requester");
        add(self.note.is_some(), "note");
        add(!self.custom_fields.is_empty(), "custom_fields");
        out
    }

    pub fn validate(&self) -> Result<()> {
        if let Some(s) = &self.subject
            && s.trim().is_empty()
        {
            return Err(Error::bad_input("subject cannot be empty").field("subject"));
        }
        for (name, v) in [("urgency", self.urgency), ("impact", self.impact)] {
            if let Some(v) = v
                && !(1..=5).contains(&v)
            {
                return Err(Error::bad_input(format!("{name} must be between 1 and 5")).field(name));
            }
        }
        Ok(())
    }
}

/// How a ticket is removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteMode {
    /// Moved to the trash: still readable with its `deleted` state, restorable.
    #[default]
    Soft,
    /// Gone for good, with its entries and attachments.
    Purge,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortField {
    #[default]
    Created,
    Updated,
    Due,
    Number,
    Subject,
    Priority,
    Status,
    /// Best match of a text search first, in either order (ties and searches without
    /// text: newest first). Helpdesks that cannot rank sort these newest first.
    Relevance,
}

impl SortField {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "created" | "created_at" | "date" => SortField::Created,
            "updated" | "updated_at" => SortField::Updated,
            "due" | "due_at" | "duedate" => SortField::Due,
            "number" | "id" => SortField::Number,
            "subject" => SortField::Subject,
            "priority" => SortField::Priority,
            "status" => SortField::Status,
            "relevance" | "rank" => SortField::Relevance,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

/// A search: free text, filters, sort and a page window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Query {
    /// Matched against subject, body and thread entries, case-insensitively.
    pub text: Option<String>,
    /// Any of these states (empty: every state but `deleted`).
    pub states: Vec<State>,
    /// Any of these vendor status names or ids.
    pub status: Option<Reference>,
    pub number: Option<String>,
    pub priority: Option<Reference>,
    pub department: Option<Reference>,
    pub category: Option<Reference>,
    pub topic: Option<Reference>,
    pub assignee: Option<Reference>,
    pub group: Option<Reference>,
    pub requester_email: Option<String>,
    pub requester_username: Option<String>,
    pub ticket_type: Option<TicketType>,
    pub source: Option<Source>,
    pub created_after: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
    pub include_deleted: bool,
    pub sort: SortField,
    pub order: SortOrder,
    pub offset: u32,
    pub limit: u32,
}

impl Default for Query {
    fn default() -> Self {
        Self {
            text: None,
            states: Vec::new(),
            status: None,
            number: None,
            priority: None,
            department: None,
            category: None,
            topic: None,
            assignee: None,
            group: None,
            requester_email: None,
            requester_username: None,
            ticket_type: None,
            source: None,
            created_after: None,
            created_before: None,
            include_deleted: false,
            sort: SortField::Created,
            order: SortOrder::Desc,
            offset: 0,
            limit: 25,
        }
    }
}

/// One page of results and the total that matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// How many matched; a lower bound when `total_exact` is false (a backend may stop
    /// counting past a bound rather than count every match).
    pub total: u64,
    /// Whether `total` is exact.
    #[serde(default = "exact")]
    pub total_exact: bool,
    pub offset: u32,
    pub limit: u32,
}

fn exact() -> bool {
    true
}

/// A thread entry to add.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEntry {
    #[serde(default)]
    pub kind: EntryKind,
    pub body: Body,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Contact>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailKeys>,
    /// Reopen a resolved ticket when the requester writes (TicketsApi's `reqreply`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reopen: bool,
}

impl NewEntry {
    pub fn validate(&self) -> Result<()> {
        if self.body.content.trim().is_empty() && self.attachments.is_empty() {
            return Err(Error::bad_input("an entry needs a body or an attachment").field("body"));
        }
        Ok(())
    }
}

/// Resolve a ticket, optionally with the solution text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Contact>,
}

/// Close a ticket, optionally with a closing note.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Closure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Assign a ticket to an agent and/or a group ("pick up" when the agent is oneself).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<Reference>,
}

/// The window of a statistics request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatsQuery {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// Counts of tickets, globally and by dimension.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub total: u64,
    /// Active tickets (new, open or pending).
    pub open: u64,
    pub resolved: u64,
    pub closed: u64,
    pub overdue: u64,
    pub by_state: BTreeMap<String, u64>,
    pub by_status: BTreeMap<String, u64>,
    pub by_priority: BTreeMap<String, u64>,
    pub by_department: BTreeMap<String, u64>,
    pub by_assignee: BTreeMap<String, u64>,
}

/// The kinds of named things a helpdesk can list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupKind {
    Statuses,
    Priorities,
    Departments,
    Categories,
    Topics,
    Groups,
    Agents,
    Locations,
    Slas,
}

impl LookupKind {
    pub const ALL: [LookupKind; 9] = [
        LookupKind::Statuses,
        LookupKind::Priorities,
        LookupKind::Departments,
        LookupKind::Categories,
        LookupKind::Topics,
        LookupKind::Groups,
        LookupKind::Agents,
        LookupKind::Locations,
        LookupKind::Slas,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LookupKind::Statuses => "statuses",
            LookupKind::Priorities => "priorities",
            LookupKind::Departments => "departments",
            LookupKind::Categories => "categories",
            LookupKind::Topics => "topics",
            LookupKind::Groups => "groups",
            LookupKind::Agents => "agents",
            LookupKind::Locations => "locations",
            LookupKind::Slas => "slas",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One entry of a look-up list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupItem {
    pub id: String,
    pub name: String,
    /// For statuses: the canonical state. For priorities: the canonical level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<PriorityLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_create_body_decodes_and_validates() {
        let t: NewTicket = serde_json::from_str(
            r#"{"subject":"Printer","body":"It jams","requester":{"name":"Ann","email":"ann@example.com"}}"#,
        )
        .unwrap();
        assert_eq!(t.body, Body::text("It jams"));
        t.validate().unwrap();
    }

    #[test]
    fn unknown_fields_are_refused_with_their_name() {
        let err = serde_json::from_str::<NewTicket>(
            r#"{"subject":"x","requester":{"email":"a@b.c"},"priorty":"high"}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("priorty"), "{err}");
    }

    #[test]
    fn validation_names_the_field() {
        let t = NewTicket {
            subject: " ".into(),
            ..Default::default()
        };
        assert_eq!(t.validate().unwrap_err().field.as_deref(), Some("subject"));
        let t = NewTicket {
            subject: "s".into(),
            requester: Requester {
                email: Some("not-an-email".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            t.validate().unwrap_err().field.as_deref(),
            Some("requester.email")
        );
    }

    #[test]
    fn patch_lists_changed_fields() {
        let p = TicketPatch {
            status: Some(Reference::name("Open")),
            note: Some("n".into()),
            ..Default::default()
        };
        assert_eq!(p.changed_fields(), vec!["status", "note"]);
        assert!(TicketPatch::default().is_empty());
    }
}
