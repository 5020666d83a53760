//! TicketsApi request models → canonical operations. Pure functions over a decoded
//! [`Form`], so each is tested with golden files and no server.
//!
//! Field names and messages follow ASP.NET model validation (`The Title field is
//! required.`); a missing required field, a non-number in a number field or an id
//! that does not match the path is a 400 naming the field, before anything is written.

use crate::form::{Form, base_name, extension};
use crate::wire::{parse_date, parse_ticket_type, split_addresses};
use serde_json::Value;
use ticketgate_model::ops::MAX_SEARCH_LIMIT;
use ticketgate_model::{
    Attachment, Body, Closure, Contact, EntryKind, Error, NewEntry, NewTicket, Query, Reference,
    Requester, Resolution, Source, State, Ticket, TicketPatch,
};

/// The longest title TicketsApi accepts.
pub const MAX_TITLE_CHARS: usize = 255;

/// The fixed page size of `POST list` (tickets by username).
pub const USERNAME_PAGE_SIZE: u32 = 25;

/// Which uploaded files are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedExtensions {
    any: bool,
    list: Vec<String>,
}

impl AllowedExtensions {
    pub fn new(configured: &[String]) -> Self {
        let list: Vec<String> = configured
            .iter()
            .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .collect();
        Self {
            any: list.iter().any(|e| e == "*"),
            list,
        }
    }

    pub fn allows(&self, file_name: &str) -> bool {
        self.any || extension(file_name).is_some_and(|ext| self.list.contains(&ext))
    }
}

/// The uploads of a form, split into the files kept and the names skipped.
pub fn uploads(form: &Form, allowed: &AllowedExtensions) -> (Vec<Attachment>, Vec<String>) {
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    for f in &form.files {
        let name = base_name(&f.file_name);
        if name.is_empty() && f.data.is_empty() {
            // A browser's empty file input.
            continue;
        }
        if name.is_empty() || !allowed.allows(name) {
            skipped.push(name.to_owned());
            continue;
        }
        kept.push(Attachment {
            id: None,
            name: name.to_owned(),
            media_type: f.content_type.clone(),
            bytes: f.data.to_vec(),
            inline: false,
            content_id: None,
        });
    }
    (kept, skipped)
}

fn required<'a>(form: &'a Form, field: &str) -> Result<&'a str, Error> {
    form.get(field)
        .ok_or_else(|| Error::bad_input(format!("The {field} field is required.")).field(field))
}

/// An optional integer id; `0` means "not set", as ASP.NET binds an absent `int`.
fn int_id(form: &Form, field: &str) -> Result<Option<String>, Error> {
    match form.get(field) {
        None => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(0) => Ok(None),
            Ok(n) if n > 0 => Ok(Some(n.to_string())),
            _ => Err(
                Error::bad_input(format!("The value '{v}' is not valid for {field}.")).field(field),
            ),
        },
    }
}

fn required_int_id(form: &Form, field: &str) -> Result<String, Error> {
    int_id(form, field)?
        .ok_or_else(|| Error::bad_input(format!("The {field} field is required.")).field(field))
}

fn id_ref(form: &Form, field: &str) -> Result<Option<Reference>, Error> {
    Ok(int_id(form, field)?.map(Reference::id))
}

/// A 1–5 scale id (urgency, impact) as the canonical model keeps it.
fn scale(form: &Form, field: &str) -> Result<Option<u8>, Error> {
    match int_id(form, field)? {
        None => Ok(None),
        Some(v) => match v.parse::<u8>() {
            Ok(n @ 1..=5) => Ok(Some(n)),
            _ => Err(Error::bad_input(format!("{field} must be between 1 and 5.")).field(field)),
        },
    }
}

fn boolean(form: &Form, field: &str) -> Result<bool, Error> {
    match form.get(field) {
        None => Ok(false),
        Some(v) => ticketgate_model::serde_util::lenient_bool::parse(v).ok_or_else(|| {
            Error::bad_input(format!("The value '{v}' is not valid for {field}.")).field(field)
        }),
    }
}

fn date(form: &Form, field: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, Error> {
    match form.get(field) {
        None => Ok(None),
        Some(v) => parse_date(v).map(Some).ok_or_else(|| {
            Error::bad_input(format!("The value '{v}' is not valid for {field}.")).field(field)
        }),
    }
}

fn title(form: &Form) -> Result<String, Error> {
    let t = required(form, "Title")?;
    if t.chars().count() > MAX_TITLE_CHARS {
        return Err(Error::bad_input(format!(
            "The field Title must be a string with a maximum length of {MAX_TITLE_CHARS}."
        ))
        .field("Title"));
    }
    Ok(t.to_owned())
}

/// The path id and the body's id must agree when the body carries one.
pub fn check_path_id(form: &Form, field: &str, path_id: &str) -> Result<(), Error> {
    match form.get(field) {
        Some(v) if v != path_id => Err(Error::bad_input(format!(
            "{field} {v} does not match the ticket id {path_id} in the path."
        ))
        .field(field)),
        _ => Ok(()),
    }
}

fn custom(form: &Form, field: &str, out: &mut std::collections::BTreeMap<String, Value>) {
    if let Some(v) = form.get(field) {
        out.insert(field.to_owned(), Value::String(v.to_owned()));
    }
}

fn cc(form: &Form, field: &str) -> Result<Vec<Contact>, Error> {
    let mut out = Vec::new();
    if let Some(v) = form.get(field) {
        for addr in split_addresses(v) {
            if !ticketgate_model::ops::looks_like_email(&addr) {
                return Err(Error::bad_input(format!(
                    "{addr:?} in {field} is not an email address."
                ))
                .field(field));
            }
            out.push(Contact {
                name: None,
                email: Some(addr),
            });
        }
    }
    Ok(out)
}

/// `POST register` (TicketCreateViewModel) → a new ticket from the manual source.
pub fn register(form: &Form, allowed: &AllowedExtensions) -> Result<NewTicket, Error> {
    let subject = title(form)?;
    let description = required(form, "Description")?.to_owned();
    let creator = required(form, "CreatorId")?.to_owned();
    let site = required_int_id(form, "SiteId")?;
    let department = required_int_id(form, "DepartmentId")?;
    let status = required_int_id(form, "TicketStatusId")?;
    let kind = required(form, "TicketType")?;
    let ticket_type = parse_ticket_type(kind).ok_or_else(|| {
        Error::bad_input(format!("The value '{kind}' is not valid for TicketType."))
            .field("TicketType")
    })?;
    let mut custom_fields = std::collections::BTreeMap::new();
    for f in ["Guid", "ItemId", "ServiceId"] {
        custom(form, f, &mut custom_fields);
    }
    let tags: Vec<Value> = form
        .all("SelectedTags")
        .into_iter()
        .map(|t| {
            t.parse::<i64>().map(Value::from).map_err(|_| {
                Error::bad_input(format!("The value '{t}' is not valid for SelectedTags."))
                    .field("SelectedTags")
            })
        })
        .collect::<Result<_, _>>()?;
    if !tags.is_empty() {
        custom_fields.insert("SelectedTags".to_owned(), Value::Array(tags));
    }
    let (attachments, _skipped) = uploads(form, allowed);
    Ok(NewTicket {
        subject,
        body: Body::text(description),
        requester: Requester {
            id: Some(creator),
            ..Requester::default()
        },
        cc: cc(form, "Cc")?,
        status: Some(Reference::id(status)),
        priority: id_ref(form, "TicketPriorityId")?,
        urgency: scale(form, "UrgencyId")?,
        impact: scale(form, "ImpactId")?,
        ticket_type: Some(ticket_type),
        category: id_ref(form, "TicketCategoryId")?,
        topic: id_ref(form, "TicketSubCategoryId")?,
        department: Some(Reference::id(department)),
        group: id_ref(form, "GroupId")?,
        team: id_ref(form, "TierLevelId")?,
        assignee: form.get("AssignedUser").map(Reference::id),
        location: Some(Reference::id(site)),
        entity: id_ref(form, "ClientId")?,
        sla: id_ref(form, "SLAId")?,
        due_at: date(form, "DueDate")?,
        source: Source::Web,
        attachments,
        custom_fields,
        ..NewTicket::default()
    })
}

/// `POST new` (ICreateTicketVM) → a new ticket from the API source.
pub fn integration_ticket(form: &Form, allowed: &AllowedExtensions) -> Result<NewTicket, Error> {
    let subject = title(form)?;
    let description = required(form, "Description")?.to_owned();
    let username = required(form, "Requester")?.to_owned();
    let email = form.get("Email").map(str::to_owned);
    if let Some(e) = &email
        && !ticketgate_model::ops::looks_like_email(e)
    {
        return Err(Error::bad_input(format!("{e:?} is not an email address.")).field("Email"));
    }
    let (attachments, _skipped) = uploads(form, allowed);
    Ok(NewTicket {
        subject,
        body: Body::text(description),
        requester: Requester {
            username: Some(username),
            email,
            ..Requester::default()
        },
        status: id_ref(form, "TicketStatusId")?,
        priority: id_ref(form, "TicketPriorityId")?,
        category: id_ref(form, "TicketCategoryId")?,
        department: id_ref(form, "DepartmentId")?,
        group: id_ref(form, "GroupId")?,
        team: id_ref(form, "TierLevelId")?,
        location: id_ref(form, "SiteId")?,
        entity: id_ref(form, "ClientId")?,
        source: Source::Api,
        attachments,
        ..NewTicket::default()
    })
}

fn differs(current: &Option<Reference>, new: &Option<Reference>) -> bool {
    match (current, new) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(c), Some(n)) => c.id != n.id,
    }
}

/// `POST update/{id}` (TicketUpdateModel) → the patch of what actually changes.
/// Unset numbers (absent or 0) leave a field as it is, as TicketsApi does for the
/// status; an empty patch means "nothing to change".
pub fn update_patch(form: &Form, path_id: &str, current: &Ticket) -> Result<TicketPatch, Error> {
    check_path_id(form, "Id", path_id)?;
    let creator = required(form, "CreatorId")?;
    let mut p = TicketPatch::default();
    let refs = [
        ("TicketCategoryId", &current.category, &mut p.category),
        ("TicketSubCategoryId", &current.topic, &mut p.topic),
        ("TierLevelId", &current.team, &mut p.team),
        ("ClientId", &current.entity, &mut p.entity),
        ("SiteId", &current.location, &mut p.location),
        ("DepartmentId", &current.department, &mut p.department),
        ("GroupId", &current.group, &mut p.group),
        ("SLAId", &current.sla, &mut p.sla),
    ];
    for (field, now, slot) in refs {
        let new = id_ref(form, field)?;
        if differs(now, &new) {
            *slot = new;
        }
    }
    if let Some(status) = int_id(form, "TicketStatusId")?
        && current.status.id.as_deref() != Some(status.as_str())
    {
        p.status = Some(Reference::id(status));
    }
    if let Some(priority) = int_id(form, "TicketPriorityId")?
        && current.priority.as_ref().and_then(|p| p.id.as_deref()) != Some(priority.as_str())
    {
        p.priority = Some(Reference::id(priority));
    }
    if let Some(a) = form.get("AssignedUser")
        && current.assignee.as_ref().and_then(|r| r.id.as_deref()) != Some(a)
    {
        p.assignee = Some(Reference::id(a));
    }
    if let Some(t) = form.get("TicketType") {
        let k = parse_ticket_type(t).ok_or_else(|| {
            Error::bad_input(format!("The value '{t}' is not valid for TicketType."))
                .field("TicketType")
        })?;
        if current.ticket_type != Some(k) {
            p.ticket_type = Some(k);
        }
    }
    if let Some(d) = date(form, "DueDate")?
        && current.due_at != Some(d)
    {
        p.due_at = Some(d);
    }
    for (field, now, slot) in [
        ("UrgencyId", current.urgency, &mut p.urgency),
        ("ImpactId", current.impact, &mut p.impact),
    ] {
        let v = scale(form, field)?;
        if v.is_some() && v != now {
            *slot = v;
        }
    }
    let r = &current.requester;
    let same_requester = [&r.id, &r.username, &r.email]
        .into_iter()
        .flatten()
        .any(|v| v.eq_ignore_ascii_case(creator));
    if !same_requester {
        // A new requester replaces the old one whole: its name and email were the old one's.
        p.requester = Some(Requester {
            id: Some(creator.to_owned()),
            ..Requester::default()
        });
    }
    for f in ["ItemId", "ServiceId", "TemplateId"] {
        if let Some(v) = form.get(f)
            && current.custom_fields.get(f).and_then(Value::as_str) != Some(v)
        {
            p.custom_fields
                .insert(f.to_owned(), Value::String(v.to_owned()));
        }
    }
    Ok(p)
}

/// `POST reply/{id}` (ApiReplyTicket) → a public response.
pub fn reply_entry(
    form: &Form,
    path_id: &str,
    author: &str,
    allowed: &AllowedExtensions,
) -> Result<NewEntry, Error> {
    check_path_id(form, "Id", path_id)?;
    required(form, "Id")?;
    let title = required(form, "Title")?;
    let send_to = required(form, "SendTo")?;
    email_list(send_to, "SendTo")?;
    cc(form, "CcTo")?;
    let (attachments, _) = uploads(form, allowed);
    Ok(NewEntry {
        kind: EntryKind::Response,
        body: Body::text(form.get("Message").unwrap_or(title)),
        author: Some(Contact {
            name: Some(author.to_owned()),
            email: None,
        }),
        attachments,
        email: None,
        reopen: false,
    })
}

fn email_list(v: &str, field: &str) -> Result<(), Error> {
    let list = split_addresses(v);
    if list.is_empty()
        || !list
            .iter()
            .all(|a| ticketgate_model::ops::looks_like_email(a))
    {
        return Err(
            Error::bad_input(format!("The {field} field is not a valid e-mail address."))
                .field(field),
        );
    }
    Ok(())
}

/// `POST forward/{id}` (ApiForwardTicket) → an internal note recording the forward:
/// the mail goes to a third party, not to the requester.
pub fn forward_entry(
    form: &Form,
    path_id: &str,
    author: &str,
    allowed: &AllowedExtensions,
) -> Result<NewEntry, Error> {
    check_path_id(form, "Id", path_id)?;
    required(form, "Id")?;
    let title = required(form, "Title")?;
    let send_to = required(form, "SendTo")?;
    email_list(send_to, "SendTo")?;
    let cc_to = cc(form, "CcTo")?;
    boolean(form, "HasDraft")?;
    let mut text = format!("Forwarded to {send_to}");
    if !cc_to.is_empty() {
        let list: Vec<&str> = cc_to.iter().filter_map(|c| c.email.as_deref()).collect();
        text.push_str(&format!(" (cc {})", list.join(", ")));
    }
    text.push_str(&format!(": {title}"));
    if let Some(m) = form.get("Message") {
        text.push_str("\n\n");
        text.push_str(m);
    }
    let (attachments, _) = uploads(form, allowed);
    Ok(NewEntry {
        kind: EntryKind::Note,
        body: Body::text(text),
        author: Some(Contact {
            name: Some(author.to_owned()),
            email: None,
        }),
        attachments,
        email: None,
        reopen: false,
    })
}

/// `POST reqreply/{id}` (ReqReplyTicket) → a requester message that reopens the ticket.
/// The username must be the ticket's requester.
pub fn requester_reply_entry(
    form: &Form,
    path_id: &str,
    ticket: &Ticket,
    allowed: &AllowedExtensions,
) -> Result<NewEntry, Error> {
    check_path_id(form, "Id", path_id)?;
    required(form, "Id")?;
    let username = required(form, "Username")?;
    let title = required(form, "Title")?;
    let r = &ticket.requester;
    let is_requester = [&r.username, &r.email, &r.id]
        .into_iter()
        .flatten()
        .any(|v| v.eq_ignore_ascii_case(username));
    if !is_requester {
        return Err(Error::bad_input(format!(
            "User {username} is not the requester of ticket {path_id}."
        ))
        .field("Username"));
    }
    let (attachments, _) = uploads(form, allowed);
    Ok(NewEntry {
        kind: EntryKind::Message,
        body: Body::text(form.get("Message").unwrap_or(title)),
        author: Some(Contact {
            name: r.name.clone().or_else(|| Some(username.to_owned())),
            email: r.email.clone(),
        }),
        attachments,
        email: None,
        reopen: true,
    })
}

/// `POST close/{id}` (ApiTicketClosure) → the closure note.
pub fn closure(form: &Form, path_id: &str) -> Result<Closure, Error> {
    check_path_id(form, "TicketId", path_id)?;
    required(form, "TicketId")?;
    required(form, "CloseBy")?;
    boolean(form, "Acknowledged")?;
    date(form, "ClosingDate")?;
    let notes: Vec<&str> = ["Comments", "ClosureComments"]
        .into_iter()
        .filter_map(|f| form.get(f))
        .collect();
    Ok(Closure {
        note: (!notes.is_empty()).then(|| notes.join("\n\n")),
    })
}

/// `POST resolve/{id}` (Resolution) → the resolution text and who submitted it.
pub fn resolution(form: &Form, path_id: &str) -> Result<Resolution, Error> {
    check_path_id(form, "TicketId", path_id)?;
    required(form, "TicketId")?;
    let details = required(form, "Details")?;
    let by = required(form, "SubmitBy")?;
    date(form, "SubmitDate")?;
    Ok(Resolution {
        body: Some(Body::text(details)),
        author: Some(Contact {
            name: Some(by.to_owned()),
            email: None,
        }),
    })
}

/// `POST list` (tickets by username) → the query for one page of 25.
pub fn username_query(form: &Form) -> Result<Query, Error> {
    let username = required(form, "username")?;
    let page = page_number(form, "page")?;
    Ok(Query {
        requester_username: Some(username.to_owned()),
        offset: (page - 1).saturating_mul(USERNAME_PAGE_SIZE),
        limit: USERNAME_PAGE_SIZE,
        ..Query::default()
    })
}

fn page_number(form: &Form, field: &str) -> Result<u32, Error> {
    match form.get(field) {
        None => Ok(1),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|p| (1..=100_000).contains(p))
            .ok_or_else(|| {
                Error::bad_input(format!("The value '{v}' is not valid for {field}.")).field(field)
            }),
    }
}

/// The canonical plan for one page of `POST /api/TicketsApi` (TicketTable): one or
/// more queries whose results are merged (newest first, without duplicates), then
/// the page window `[offset, offset + limit)` is taken.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPlan {
    pub queries: Vec<Query>,
    pub offset: u32,
    pub limit: u32,
}

/// The list types TicketsApi defines and whether the canonical model can answer them.
fn list_type_filter(list_type: &str) -> Result<(Vec<State>, bool), Error> {
    let open = vec![State::New, State::Open];
    let pending = vec![State::Pending];
    let done = vec![State::Resolved, State::Closed];
    // (states, only the caller's own tickets)
    Ok(match list_type.to_ascii_lowercase().as_str() {
        "alltickets" => (vec![], false),
        "allmytickets" => (vec![], true),
        "myopentickets" => (open, true),
        "myticketsonhold" | "mypendingtickets" => (pending, true),
        "mycompletedtickets" => (done, true),
        "ticketsonhold" | "pendingtickets" => (pending, false),
        "completedtickets" => (done, false),
        "allmygroups" | "myopenorunassigned" | "unassignedtickets" | "myoverduetickets"
        | "myticketsduetoday" | "myescalated" | "allescalated" | "myopentasks"
        | "mycompletedtasks" | "overduetickets" | "ticketsduetoday" => {
            return Err(Error::bad_input(format!(
                "listType {list_type} is not available through this gateway: it needs \
                 group membership, due-date, escalation, task or unassigned filters that the \
                 upstream helpdesk does not expose."
            ))
            .field("listType"));
        }
        _ => {
            return Err(Error::bad_input(format!(
                "The value '{list_type}' is not valid for listType."
            ))
            .field("listType"));
        }
    })
}

/// TicketTable → the list plan. `me` is the caller (the token's subject): its own
/// tickets are those it requested (username) or is assigned to.
pub fn list_plan(form: &Form, me: &str, only_private: bool) -> Result<ListPlan, Error> {
    let page = page_number(form, "page")?;
    let limit = match form.get("length") {
        None => 10,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_SEARCH_LIMIT).contains(l))
            .ok_or_else(|| {
                Error::bad_input(format!(
                    "length must be a number from 1 to {MAX_SEARCH_LIMIT}."
                ))
                .field("length")
            })?,
    };
    let offset = (page - 1).saturating_mul(limit);
    let window = offset.saturating_add(limit);
    if window > MAX_SEARCH_LIMIT {
        return Err(Error::bad_input(format!(
            "page × length must stay within the first {MAX_SEARCH_LIMIT} tickets."
        ))
        .field("page"));
    }
    let (states, mine) = match form.get("listType") {
        None => (vec![], false),
        Some(t) => list_type_filter(t)?,
    };
    let base = Query {
        states,
        offset: 0,
        limit: window,
        ..Query::default()
    };
    // "Mine" and the searched fields are each alternatives (OR); their product is
    // bounded: 2 owners × 4 fields.
    let owners: Vec<Query> = if mine || only_private {
        let mut by_requester = base.clone();
        by_requester.requester_username = Some(me.to_owned());
        if only_private && !mine {
            vec![by_requester]
        } else {
            let mut by_assignee = base.clone();
            by_assignee.assignee = Some(Reference::guess(me));
            if only_private {
                vec![by_requester]
            } else {
                vec![by_requester, by_assignee]
            }
        }
    } else {
        vec![base]
    };
    let Some(search) = form.get("search") else {
        return Ok(ListPlan {
            queries: owners,
            offset,
            limit,
        });
    };
    let fields: Vec<String> = match form.get("filterBy") {
        None => vec!["subject".to_owned()],
        Some(list) => list
            .split(',')
            .map(|f| f.trim().to_ascii_lowercase())
            .filter(|f| !f.is_empty())
            .collect(),
    };
    let mut queries = Vec::new();
    for owner in &owners {
        for field in &fields {
            let mut q = owner.clone();
            match field.as_str() {
                "subject" => q.text = Some(search.to_owned()),
                "ticketid" | "id" => q.number = Some(search.to_owned()),
                "priority" => q.priority = Some(Reference::guess(search)),
                "requester" => {
                    if ticketgate_model::ops::looks_like_email(search) {
                        q.requester_email = Some(search.to_owned());
                    } else if q.requester_username.is_some() {
                        // Already limited to the caller's own requests.
                        if !q
                            .requester_username
                            .as_deref()
                            .is_some_and(|u| u.eq_ignore_ascii_case(search))
                        {
                            continue;
                        }
                    } else {
                        q.requester_username = Some(search.to_owned());
                    }
                }
                other => {
                    return Err(Error::bad_input(format!(
                        "filterBy {other} is not one of Subject, TicketId, Priority, Requester."
                    ))
                    .field("filterBy"));
                }
            }
            queries.push(q);
        }
    }
    Ok(ListPlan {
        queries,
        offset,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Form {
        Form {
            fields: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            files: vec![],
        }
    }

    #[test]
    fn register_names_the_missing_field() {
        let allowed = AllowedExtensions::new(&["txt".into()]);
        let e = register(&form(&[("Title", "x")]), &allowed).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("Description"));
        let e = register(
            &form(&[
                ("Title", "x"),
                ("Description", "d"),
                ("CreatorId", "u"),
                ("SiteId", "abc"),
            ]),
            &allowed,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("SiteId"));
    }

    #[test]
    fn unanswerable_list_types_are_a_clear_400() {
        let e = list_plan(&form(&[("listType", "OverdueTickets")]), "me", false).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("listType"));
        let p = list_plan(&form(&[("listType", "MyOpenTickets")]), "me", false).unwrap();
        assert_eq!(p.queries.len(), 2);
        let p = list_plan(&form(&[("page", "3"), ("length", "5")]), "me", true).unwrap();
        assert_eq!((p.offset, p.limit, p.queries.len()), (10, 5, 1));
        assert_eq!(p.queries[0].limit, 15);
    }

    #[test]
    fn extensions_policy() {
        let a = AllowedExtensions::new(&[".PDF".into(), "txt".into()]);
        assert!(a.allows("x.pdf") && a.allows("y.TXT") && !a.allows("z.exe") && !a.allows("pdf"));
        assert!(AllowedExtensions::new(&["*".into()]).allows("anything"));
    }
}
