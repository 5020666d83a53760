//! Request inputs both ways: what a vendor client sends (create, update, followup,
//! solution, actor, delete) as canonical operations, and what the client face sends.

use super::*;

fn small(input: &Map<String, Value>, key: &str) -> Result<Option<u8>, String> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match as_i64(v) {
            Some(n) if (1..=5).contains(&n) => Ok(Some(n as u8)),
            _ => Err(format!("{key} must be between 1 and 5")),
        },
    }
}

fn fk_ref(input: &Map<String, Value>, key: &str) -> Result<Option<Reference>, String> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match as_i64(v) {
            Some(0) => Ok(None),
            Some(n) if n > 0 => Ok(Some(Reference::id(n.to_string()))),
            _ => Err(format!("{key} must be an id")),
        },
    }
}

/// The first id of an actor field, given as a scalar or an array.
fn first_actor(input: &Map<String, Value>, key: &str) -> Option<i64> {
    match input.get(key)? {
        Value::Array(a) => a.iter().find_map(as_i64),
        v => as_i64(v),
    }
}

/// The `alternative_email`s of an actor's `_notif` field.
fn actor_emails(input: &Map<String, Value>, key: &str) -> Vec<String> {
    let Some(notif) = input.get(key) else {
        return vec![];
    };
    match notif.get("alternative_email") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::Object(o)) => o
            .values()
            .filter_map(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) if !s.trim().is_empty() => vec![s.clone()],
        _ => vec![],
    }
}

fn date_field(
    input: &Map<String, Value>,
    key: &str,
) -> Result<Option<chrono::DateTime<Utc>>, String> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() || s == "NULL" => Ok(None),
        Some(Value::String(s)) if is_vendor_date(s) => Ok(parse_date(s)),
        Some(_) => Err("Incorrect value for date field.".to_owned()),
    }
}

/// A Ticket create `input` object as a canonical new ticket. The error is the
/// message the add fails with.
pub fn new_ticket_from_input(
    input: &Map<String, Value>,
    session: &SessionDefaults,
) -> Result<NewTicket, String> {
    let content = input.get("content").and_then(as_text).unwrap_or_default();
    let mut subject = input.get("name").and_then(as_text).unwrap_or_default();
    if subject.trim().is_empty() {
        subject = strip_tags(&content).chars().take(70).collect();
    }
    if subject.trim().is_empty() {
        return Err("Title or description is mandatory".to_owned());
    }
    // The creation date may be given, but must be well formed.
    date_field(input, "date")?;
    let urgency = small(input, "urgency")?;
    let impact = small(input, "impact")?;
    let priority = match input.get("priority").map(as_i64) {
        None | Some(None) => compute_priority(urgency, impact),
        Some(Some(p)) if (1..=6).contains(&p) => p as u8,
        Some(Some(_)) => return Err("priority must be between 1 and 6".to_owned()),
    };
    let ticket_type = match input.get("type") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            as_i64(v)
                .and_then(type_to_canonical)
                .ok_or("type must be 1 (incident) or 2 (request)")?,
        ),
    };
    let assignee = first_actor(input, "_users_id_assign")
        .filter(|n| *n > 0)
        .map(|n| Reference::id(n.to_string()));
    let group = first_actor(input, "_groups_id_assign")
        .filter(|n| *n > 0)
        .map(|n| Reference::id(n.to_string()));
    let mut status = match input.get("status") {
        None | Some(Value::Null) => 1,
        Some(v) => as_i64(v)
            .filter(|s| (1..=6).contains(s))
            .ok_or("status must be between 1 and 6")?,
    };
    if status == 1 && (assignee.is_some() || group.is_some()) {
        status = 2;
    }
    let mut requester = Requester::default();
    match first_actor(input, "_users_id_requester") {
        Some(n) if n > 0 => requester.id = Some(n.to_string()),
        Some(_) => {}
        None => {
            requester.username = Some(session.user.clone());
            requester.name = Some(session.user.clone());
        }
    }
    requester.email = actor_emails(input, "_users_id_requester_notif")
        .into_iter()
        .next();
    if requester == Requester::default() {
        // An anonymous requester with no email: the session's user stands in.
        requester.username = Some(session.user.clone());
        requester.name = Some(session.user.clone());
    }
    let cc = actor_emails(input, "_users_id_observer_notif")
        .into_iter()
        .map(|e| Contact {
            name: None,
            email: Some(e),
        })
        .collect();
    let entity = match input.get("entities_id") {
        None | Some(Value::Null) => Reference::id(session.entity.to_string()),
        Some(v) => Reference::id(
            as_i64(v)
                .filter(|n| *n >= 0)
                .ok_or("entities_id must be an id")?
                .to_string(),
        ),
    };
    let note = input
        .get("_followup")
        .and_then(|f| f.get("content"))
        .and_then(as_text)
        .filter(|s| !s.trim().is_empty());
    let source = input
        .get("requesttypes_id")
        .and_then(as_i64)
        .map_or(Source::Api, requesttype_to_source);
    Ok(NewTicket {
        subject,
        body: body_of(&content),
        requester,
        cc,
        status: status_reference(status),
        priority: PriorityLevel::from_rank(priority).map(|l| Reference::name(l.as_str())),
        urgency,
        impact,
        ticket_type,
        category: fk_ref(input, "itilcategories_id")?,
        group,
        assignee,
        location: fk_ref(input, "locations_id")?,
        entity: Some(entity),
        sla: fk_ref(input, "slas_id_ttr")?,
        due_at: date_field(input, "time_to_resolve")?,
        source,
        note,
        ..NewTicket::default()
    })
}

/// A Ticket update `input` as a canonical patch. `current` is the ticket as it is,
/// for the priority the server recomputes when urgency or impact change.
pub fn patch_from_input(
    input: &Map<String, Value>,
    current: Option<&Ticket>,
) -> Result<TicketPatch, String> {
    let mut p = TicketPatch {
        subject: input.get("name").and_then(as_text),
        body: input.get("content").and_then(as_text).map(|c| body_of(&c)),
        urgency: small(input, "urgency")?,
        impact: small(input, "impact")?,
        ..TicketPatch::default()
    };
    if let Some(v) = input.get("status").filter(|v| !v.is_null()) {
        let s = as_i64(v)
            .filter(|s| (1..=6).contains(s))
            .ok_or("status must be between 1 and 6")?;
        // As the server does: "processing" on a new ticket nobody is assigned to is
        // silently ignored.
        let assigning = first_actor(input, "_users_id_assign").is_some_and(|n| n > 0)
            || first_actor(input, "_groups_id_assign").is_some_and(|n| n > 0);
        let ignored = matches!(s, 2 | 3)
            && !assigning
            && current.is_some_and(|t| {
                t.status.state == State::New && t.assignee.is_none() && t.group.is_none()
            });
        if !ignored {
            p.status = status_reference(s);
        }
    }
    if let Some(v) = input.get("type").filter(|v| !v.is_null()) {
        p.ticket_type = Some(
            as_i64(v)
                .and_then(type_to_canonical)
                .ok_or("type must be 1 (incident) or 2 (request)")?,
        );
    }
    let given_priority = match input.get("priority").filter(|v| !v.is_null()) {
        Some(v) => Some(
            as_i64(v)
                .filter(|n| (1..=6).contains(n))
                .ok_or("priority must be between 1 and 6")? as u8,
        ),
        None => None,
    };
    // As the server does: an urgency change always recomputes the priority, an
    // impact change only when no priority is given.
    let recompute = p.urgency.is_some() || (p.impact.is_some() && given_priority.is_none());
    let priority = if recompute {
        let u = p.urgency.or(current.and_then(|t| t.urgency));
        let i = p.impact.or(current.and_then(|t| t.impact));
        Some(compute_priority(u, i))
    } else {
        given_priority
    };
    p.priority = priority
        .and_then(PriorityLevel::from_rank)
        .map(|l| Reference::name(l.as_str()));
    p.category = fk_ref(input, "itilcategories_id")?;
    p.location = fk_ref(input, "locations_id")?;
    p.sla = fk_ref(input, "slas_id_ttr")?;
    if input.contains_key("entities_id") {
        p.entity = input
            .get("entities_id")
            .and_then(as_i64)
            .map(|n| Reference::id(n.to_string()));
    }
    p.due_at = date_field(input, "time_to_resolve")?;
    p.assignee = first_actor(input, "_users_id_assign")
        .filter(|n| *n > 0)
        .map(|n| Reference::id(n.to_string()));
    p.group = first_actor(input, "_groups_id_assign")
        .filter(|n| *n > 0)
        .map(|n| Reference::id(n.to_string()));
    Ok(p)
}

/// An `ITILFollowup` add input as the ticket id and a canonical entry.
pub fn entry_from_followup_input(input: &Map<String, Value>) -> Result<(String, NewEntry), String> {
    let itemtype = input.get("itemtype").and_then(Value::as_str).unwrap_or("");
    let items_id = input.get("items_id").and_then(as_i64).unwrap_or(0);
    if !itemtype.eq_ignore_ascii_case("Ticket") || items_id <= 0 {
        return Err("Item not found".to_owned());
    }
    let content = input.get("content").and_then(as_text).unwrap_or_default();
    let reopen = input.get("add_reopen").is_some_and(as_bool);
    if content.trim().is_empty() {
        return Err("You can't add a followup without description".to_owned());
    }
    let private = input.get("is_private").is_some_and(as_bool);
    Ok((
        items_id.to_string(),
        NewEntry {
            kind: if private {
                EntryKind::Note
            } else {
                EntryKind::Response
            },
            body: body_of(&content),
            reopen,
            ..NewEntry::default()
        },
    ))
}

fn put_ref(m: &mut Map<String, Value>, key: &str, r: Option<&Reference>) -> Result<(), Error> {
    if let Some(r) = r {
        let id =
            r.id.as_deref()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    Error::bad_input(format!("{key}: {:?} is not an ITSM-NG id", r.label()))
                })?;
        m.insert(key.to_owned(), json!(id));
    }
    Ok(())
}

fn body_content(b: &Body) -> String {
    match b.format {
        BodyFormat::Html | BodyFormat::Text | BodyFormat::Markdown => b.content.clone(),
    }
}

/// A canonical new ticket as the `input` of `POST /Ticket`. References must carry
/// numeric ids (the client face resolves names first).
pub fn new_ticket_input(t: &NewTicket) -> Result<Map<String, Value>, Error> {
    let mut m = Map::new();
    m.insert("name".into(), json!(t.subject));
    m.insert("content".into(), json!(body_content(&t.body)));
    if let Some(u) = t.urgency {
        m.insert("urgency".into(), json!(u));
    }
    if let Some(i) = t.impact {
        m.insert("impact".into(), json!(i));
    }
    if let Some(p) = &t.priority {
        m.insert("priority".into(), json!(priority_rank(p)?));
    }
    if let Some(s) = &t.status {
        m.insert("status".into(), json!(status_rank(s)?));
    }
    if let Some(ty) = t.ticket_type {
        m.insert("type".into(), json!(type_to_vendor(ty)));
    }
    put_ref(&mut m, "itilcategories_id", t.category.as_ref())?;
    put_ref(&mut m, "locations_id", t.location.as_ref())?;
    put_ref(&mut m, "entities_id", t.entity.as_ref())?;
    put_ref(&mut m, "slas_id_ttr", t.sla.as_ref())?;
    if let Some(d) = &t.due_at {
        m.insert("time_to_resolve".into(), json!(format_date(d)));
    }
    m.insert(
        "requesttypes_id".into(),
        json!(source_to_requesttype(t.source)),
    );
    let requester_id = t
        .requester
        .id
        .as_deref()
        .and_then(|s| s.trim().parse::<i64>().ok());
    match (requester_id, t.requester.email.as_deref()) {
        (Some(id), email) => {
            m.insert("_users_id_requester".into(), json!(id));
            if let Some(e) = email {
                m.insert(
                    "_users_id_requester_notif".into(),
                    json!({"use_notification": [1], "alternative_email": [e]}),
                );
            }
        }
        (None, Some(e)) => {
            m.insert("_users_id_requester".into(), json!([0]));
            m.insert(
                "_users_id_requester_notif".into(),
                json!({"use_notification": [1], "alternative_email": [e]}),
            );
        }
        (None, None) => {}
    }
    let observers: Vec<&str> = t.cc.iter().filter_map(|c| c.email.as_deref()).collect();
    if !observers.is_empty() {
        m.insert("_users_id_observer".into(), json!(vec![0; observers.len()]));
        m.insert(
            "_users_id_observer_notif".into(),
            json!({"use_notification": vec![1; observers.len()], "alternative_email": observers}),
        );
    }
    if let Some(a) = &t.assignee {
        put_ref(&mut m, "_users_id_assign", Some(a))?;
    }
    if let Some(g) = &t.group {
        put_ref(&mut m, "_groups_id_assign", Some(g))?;
    }
    if let Some(note) = t.note.as_deref().filter(|n| !n.trim().is_empty()) {
        m.insert(
            "_followup".into(),
            json!({"content": note, "is_private": 1}),
        );
    }
    Ok(m)
}

fn priority_rank(r: &Reference) -> Result<u8, Error> {
    if let Some(n) = r.id.as_deref().and_then(|s| s.parse::<u8>().ok())
        && (1..=6).contains(&n)
    {
        return Ok(n);
    }
    r.name
        .as_deref()
        .and_then(|n| n.parse::<PriorityLevel>().ok())
        .map(PriorityLevel::rank)
        .ok_or_else(|| {
            Error::bad_input(format!("unknown priority {:?}", r.label())).field("priority")
        })
}

fn status_rank(r: &Reference) -> Result<i64, Error> {
    if let Some(n) = r.id.as_deref().and_then(|s| s.parse::<i64>().ok())
        && (1..=6).contains(&n)
    {
        return Ok(n);
    }
    let name = r.name.as_deref().unwrap_or("");
    if let Ok(state) = name.parse::<State>() {
        return Ok(state_to_status(state));
    }
    (1..=6)
        .find(|s| status_name(*s).eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| Error::bad_input(format!("unknown status {:?}", r.label())).field("status"))
}

/// A canonical patch as the `input` of `PUT /Ticket/:id`.
pub fn patch_input(p: &TicketPatch) -> Result<Map<String, Value>, Error> {
    let mut m = Map::new();
    if let Some(s) = &p.subject {
        m.insert("name".into(), json!(s));
    }
    if let Some(b) = &p.body {
        m.insert("content".into(), json!(body_content(b)));
    }
    if let Some(s) = &p.status {
        m.insert("status".into(), json!(status_rank(s)?));
    }
    if let Some(pr) = &p.priority {
        m.insert("priority".into(), json!(priority_rank(pr)?));
    }
    if let Some(u) = p.urgency {
        m.insert("urgency".into(), json!(u));
    }
    if let Some(i) = p.impact {
        m.insert("impact".into(), json!(i));
    }
    if let Some(ty) = p.ticket_type {
        m.insert("type".into(), json!(type_to_vendor(ty)));
    }
    put_ref(&mut m, "itilcategories_id", p.category.as_ref())?;
    put_ref(&mut m, "locations_id", p.location.as_ref())?;
    put_ref(&mut m, "entities_id", p.entity.as_ref())?;
    put_ref(&mut m, "slas_id_ttr", p.sla.as_ref())?;
    if let Some(d) = &p.due_at {
        m.insert("time_to_resolve".into(), json!(format_date(d)));
    }
    put_ref(&mut m, "_users_id_assign", p.assignee.as_ref())?;
    put_ref(&mut m, "_groups_id_assign", p.group.as_ref())?;
    Ok(m)
}

/// A canonical entry as the `input` of `POST /ITILFollowup`.
pub fn followup_input(ticket_id: &str, e: &NewEntry) -> Result<Map<String, Value>, Error> {
    let id: i64 = ticket_id
        .trim()
        .parse()
        .map_err(|_| Error::not_found(format!("ticket {ticket_id} not found")))?;
    let mut m = Map::new();
    m.insert("itemtype".into(), json!("Ticket"));
    m.insert("items_id".into(), json!(id));
    m.insert("content".into(), json!(body_content(&e.body)));
    m.insert(
        "is_private".into(),
        json!(i64::from(e.kind == EntryKind::Note)),
    );
    // GLPI's timeline puts the requester's side left and the helpdesk's right; the
    // API user is rarely an actor, so GLPI would put every followup it adds on the
    // left. Saying it keeps a message a message when it is read back.
    m.insert(
        "timeline_position".into(),
        json!(if e.kind == EntryKind::Message {
            TIMELINE_LEFT
        } else {
            TIMELINE_RIGHT
        }),
    );
    // A message is the requester writing: on GLPI that reopens a solved, closed or
    // pending ticket (`needReopen`), but only when the author is a requester, and the
    // API user is not. `add_reopen` is GLPI's own "reopen with this followup".
    if e.reopen || e.kind == EntryKind::Message {
        m.insert("add_reopen".into(), json!(1));
    }
    Ok(m)
}

fn ticket_fk(ticket_id: &str) -> Result<i64, Error> {
    ticket_id
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::not_found(format!("ticket {ticket_id} not found")))
}

/// A canonical resolution as the `input` of `POST /ITILSolution`.
pub fn solution_input(ticket_id: &str, r: &Resolution) -> Result<Map<String, Value>, Error> {
    let mut m = Map::new();
    m.insert("itemtype".into(), json!("Ticket"));
    m.insert("items_id".into(), json!(ticket_fk(ticket_id)?));
    if let Some(b) = r.body.as_ref().filter(|b| !b.content.trim().is_empty()) {
        m.insert("content".into(), json!(body_content(b)));
    }
    Ok(m)
}

/// An `ITILSolution` add input as the ticket id and a canonical resolution.
pub fn solution_from_input(input: &Map<String, Value>) -> Result<(String, Resolution), String> {
    let itemtype = input.get("itemtype").and_then(Value::as_str).unwrap_or("");
    let ticket = input
        .get("items_id")
        .and_then(as_i64)
        .filter(|n| *n > 0 && itemtype.eq_ignore_ascii_case("Ticket"))
        .ok_or("Item not found")?;
    let body = input
        .get("content")
        .and_then(as_text)
        .filter(|c| !c.trim().is_empty())
        .map(|c| body_of(&c));
    Ok((ticket.to_string(), Resolution { body, author: None }))
}

/// The `input` of `PUT /Ticket/:id` that closes a ticket.
pub fn close_input() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("status".into(), json!(state_to_status(State::Closed)));
    m
}

/// Actor types of `Ticket_User` / `Group_Ticket`.
pub const ACTOR_REQUESTER: i64 = 1;
pub const ACTOR_ASSIGNED: i64 = 2;

/// The `input` of `POST /Ticket_User` (or `/Group_Ticket` when `group`).
pub fn actor_input(
    ticket_id: &str,
    actor: &Reference,
    group: bool,
    kind: i64,
) -> Result<Map<String, Value>, Error> {
    let field = if group { "group" } else { "assignee" };
    let id = actor
        .id
        .as_deref()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .ok_or_else(|| {
            Error::bad_input(format!("{field} {:?} is not an ITSM-NG id", actor.label()))
                .field(field)
        })?;
    let mut m = Map::new();
    m.insert("tickets_id".into(), json!(ticket_fk(ticket_id)?));
    m.insert(
        if group { "groups_id" } else { "users_id" }.into(),
        json!(id),
    );
    m.insert("type".into(), json!(kind));
    Ok(m)
}

/// What an actor add does to a ticket.
#[derive(Debug, Clone, PartialEq)]
pub enum ActorChange {
    Assign(ticketgate_model::Assignment),
    Requester(Requester),
}

/// A `Ticket_User` / `Group_Ticket` add input as the ticket id and the change.
pub fn actor_from_input(
    input: &Map<String, Value>,
    group: bool,
) -> Result<(String, ActorChange), String> {
    let ticket = input.get("tickets_id").and_then(as_i64).unwrap_or(0);
    let actor_key = if group { "groups_id" } else { "users_id" };
    let actor = input.get(actor_key).and_then(as_i64).unwrap_or(0);
    let kind = input
        .get("type")
        .and_then(as_i64)
        .unwrap_or(ACTOR_REQUESTER);
    if ticket <= 0 || actor <= 0 {
        return Err("Item not found".to_owned());
    }
    let reference = Reference::id(actor.to_string());
    let change = match (group, kind) {
        (false, ACTOR_ASSIGNED) => ActorChange::Assign(ticketgate_model::Assignment {
            assignee: Some(reference),
            ..Default::default()
        }),
        (true, ACTOR_ASSIGNED) => ActorChange::Assign(ticketgate_model::Assignment {
            group: Some(reference),
            ..Default::default()
        }),
        (false, ACTOR_REQUESTER) => ActorChange::Requester(Requester {
            id: Some(actor.to_string()),
            ..Requester::default()
        }),
        _ => {
            return Err(
                "only requesters (type 1) and assignees (type 2) are supported by ticketgate"
                    .to_owned(),
            );
        }
    };
    Ok((ticket.to_string(), change))
}

/// The `uploadManifest` input of `POST /Document` for one file of a ticket.
pub fn document_input(ticket_id: &str, file: &Attachment) -> Result<Map<String, Value>, Error> {
    let mut m = Map::new();
    m.insert("name".into(), json!(file.name));
    m.insert("itemtype".into(), json!("Ticket"));
    m.insert("items_id".into(), json!(ticket_fk(ticket_id)?));
    m.insert("_filename".into(), json!([file.name]));
    Ok(m)
}

/// `force_purge` as PHP's FILTER_VALIDATE_BOOLEAN reads it.
pub fn delete_mode(force_purge: Option<&Value>) -> DeleteMode {
    let purge = match force_purge {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => {
            matches!(
                s.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "on" | "yes"
            )
        }
        _ => false,
    };
    if purge {
        DeleteMode::Purge
    } else {
        DeleteMode::Soft
    }
}

/// The query of `DELETE /Ticket/:id`.
pub fn delete_query(mode: DeleteMode) -> Vec<(String, String)> {
    let purge = matches!(mode, DeleteMode::Purge);
    vec![("force_purge".to_owned(), purge.to_string())]
}

/// The `input` of `POST /User` for a requester known by email: the address is the
/// login and the user's email, the name is split into first name and surname at the
/// last space, the phone keeps its extension as ` x…`.
pub fn requester_user_input(r: &Requester, email: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("name".into(), json!(email));
    m.insert("_useremails".into(), json!([email]));
    if let Some(name) = r.name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        match name.rsplit_once(' ') {
            Some((first, last)) => {
                m.insert("firstname".into(), json!(first.trim()));
                m.insert("realname".into(), json!(last.trim()));
            }
            None => {
                m.insert("realname".into(), json!(name));
            }
        }
    }
    if let Some(phone) = r.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        let phone = match r
            .phone_ext
            .as_deref()
            .map(str::trim)
            .filter(|x| !x.is_empty())
        {
            Some(ext) => format!("{phone} x{ext}"),
            None => phone.to_owned(),
        };
        m.insert("phone".into(), json!(phone));
    }
    m
}

/// Name, login and phone of a requester from their `GET /User/:id` row.
pub fn apply_user_row(r: &mut Requester, row: &Value) {
    let text = |k: &str| {
        row.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let full = [text("firstname"), text("realname")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if !full.is_empty() {
        r.name = Some(full);
    }
    if let Some(login) = text("name") {
        if r.name.is_none() {
            r.name = Some(login.clone());
        }
        r.username = Some(login);
    }
    if let Some(phone) = text("phone") {
        match phone.rsplit_once(" x") {
            Some((p, ext)) if !ext.is_empty() && ext.bytes().all(|b| b.is_ascii_digit()) => {
                r.phone = Some(p.to_owned());
                r.phone_ext = Some(ext.to_owned());
            }
            _ => r.phone = Some(phone),
        }
    }
}

/// A `TicketTask` add input (`tickets_id`, `content`, `actiontime`, `state`,
/// `users_id_tech`, `is_private`) as the ticket id and a canonical task.
pub fn task_from_input(
    input: &Map<String, Value>,
) -> Result<(String, ticketgate_model::NewTask), String> {
    let ticket = input.get("tickets_id").and_then(as_i64).unwrap_or(0);
    if ticket <= 0 {
        return Err("Item not found".to_owned());
    }
    let content = input.get("content").and_then(as_text).unwrap_or_default();
    if content.trim().is_empty() {
        return Err("You can't add a task without description".to_owned());
    }
    let state = match input.get("state") {
        None | Some(Value::Null) => ticketgate_model::TaskState::Todo,
        Some(v) => as_i64(v)
            .and_then(task_state_from_vendor)
            .ok_or_else(|| "state must be 0 (information), 1 (to do) or 2 (done)".to_owned())?,
    };
    let duration_secs = match input.get("actiontime") {
        None | Some(Value::Null) => 0,
        Some(v) => as_i64(v)
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| "actiontime must be a number of seconds".to_owned())?,
    };
    let assignee = input
        .get("users_id_tech")
        .and_then(as_i64)
        .filter(|n| *n > 0)
        .map(|n| Reference::id(n.to_string()));
    Ok((
        ticket.to_string(),
        ticketgate_model::NewTask {
            body: body_of(&content).content,
            state,
            duration_secs,
            assignee,
            private: input.get("is_private").is_some_and(as_bool),
        },
    ))
}

/// The `TicketTask` add input the client face sends for a canonical task.
pub fn task_input(
    ticket_id: &str,
    t: &ticketgate_model::NewTask,
) -> Result<Map<String, Value>, Error> {
    let mut m = Map::new();
    m.insert("tickets_id".into(), json!(ticket_fk(ticket_id)?));
    m.insert("content".into(), json!(t.body));
    m.insert("state".into(), json!(task_state_to_vendor(t.state)));
    m.insert("actiontime".into(), json!(t.duration_secs));
    m.insert("is_private".into(), json!(i64::from(t.private)));
    put_ref(&mut m, "users_id_tech", t.assignee.as_ref())?;
    Ok(m)
}
