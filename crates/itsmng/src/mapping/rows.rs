//! Ticket rows both ways: the row, links, followups and actors the server face
//! answers with, and the same read back by the client face.

use super::*;

/// A canonical ticket as the row `GET /Ticket/:id` answers (without `links`).
pub fn ticket_row(t: &Ticket, expand_dropdowns: bool) -> Map<String, Value> {
    let deleted = t.status.state == State::Deleted;
    let requester_fk = t
        .requester
        .id
        .as_deref()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0);
    let requesttype = source_to_requesttype(t.source);
    let entity = if expand_dropdowns {
        match t.entity.as_ref() {
            Some(r) if ref_fk(Some(r)) != 0 => dropdown(Some(r), true),
            Some(Reference { name: Some(n), .. }) => Value::String(n.clone()),
            _ => Value::String(ROOT_ENTITY.to_owned()),
        }
    } else {
        Value::from(ref_fk(t.entity.as_ref()))
    };
    let recipient = if expand_dropdowns {
        let name = t
            .requester
            .name
            .clone()
            .or_else(|| t.requester.username.clone())
            .unwrap_or_else(|| EMPTY_DROPDOWN.to_owned());
        Value::String(name)
    } else {
        Value::from(requester_fk)
    };
    let mut m = Map::new();
    let mut put = |k: &str, v: Value| {
        m.insert(k.to_owned(), v);
    };
    put("id", id_value(&t.id));
    put("entities_id", entity);
    put("name", Value::String(t.subject.clone()));
    put("date", date_value(Some(&t.created_at)));
    put("closedate", date_value(t.closed_at.as_ref()));
    put("solvedate", date_value(t.solved_at.as_ref()));
    // When a technician first took the ticket up: the canonical model does not say.
    put("takeintoaccountdate", Value::Null);
    put("date_mod", date_value(Some(&t.updated_at)));
    put(
        "users_id_lastupdater",
        if expand_dropdowns {
            Value::String(EMPTY_DROPDOWN.to_owned())
        } else {
            Value::from(0)
        },
    );
    put("status", Value::from(state_to_status(t.status.state)));
    put("users_id_recipient", recipient);
    put(
        "requesttypes_id",
        if expand_dropdowns {
            Value::String(requesttype_name(requesttype).to_owned())
        } else {
            Value::from(requesttype)
        },
    );
    put(
        "content",
        Value::String(encode_stored_html(&t.body.content)),
    );
    put("urgency", Value::from(t.urgency.unwrap_or(3)));
    put("impact", Value::from(t.impact.unwrap_or(3)));
    put("priority", Value::from(vendor_priority(t)));
    put(
        "itilcategories_id",
        dropdown(t.category.as_ref(), expand_dropdowns),
    );
    put(
        "type",
        Value::from(type_to_vendor(t.ticket_type.unwrap_or_default())),
    );
    put("global_validation", Value::from(1));
    put("slas_id_ttr", dropdown(t.sla.as_ref(), expand_dropdowns));
    put("slas_id_tto", Value::from(0));
    put("slalevels_id_ttr", Value::from(0));
    put("time_to_resolve", date_value(t.due_at.as_ref()));
    put("time_to_own", Value::Null);
    put("begin_waiting_date", Value::Null);
    put("sla_waiting_duration", Value::from(0));
    put("ola_waiting_duration", Value::from(0));
    put("olas_id_tto", Value::from(0));
    put("olas_id_ttr", Value::from(0));
    put("olalevels_id_ttr", Value::from(0));
    put("ola_tto_begin_date", Value::Null);
    put("ola_ttr_begin_date", Value::Null);
    put("internal_time_to_resolve", Value::Null);
    put("internal_time_to_own", Value::Null);
    put("waiting_duration", Value::from(0));
    put("close_delay_stat", Value::from(0));
    put("solve_delay_stat", Value::from(0));
    put("takeintoaccount_delay_stat", Value::from(0));
    put("actiontime", Value::from(0));
    put("is_deleted", Value::from(i64::from(deleted)));
    put(
        "locations_id",
        dropdown(t.location.as_ref(), expand_dropdowns),
    );
    put("validation_percent", Value::from(0));
    put("date_creation", date_value(Some(&t.created_at)));
    m
}

/// The columns of a Ticket row, for `sort` validation on `GET /Ticket`.
pub const TICKET_COLUMNS: &[&str] = &[
    "id",
    "entities_id",
    "name",
    "date",
    "closedate",
    "solvedate",
    "takeintoaccountdate",
    "date_mod",
    "users_id_lastupdater",
    "status",
    "users_id_recipient",
    "requesttypes_id",
    "content",
    "urgency",
    "impact",
    "priority",
    "itilcategories_id",
    "type",
    "global_validation",
    "slas_id_ttr",
    "slas_id_tto",
    "slalevels_id_ttr",
    "time_to_resolve",
    "time_to_own",
    "begin_waiting_date",
    "sla_waiting_duration",
    "ola_waiting_duration",
    "olas_id_tto",
    "olas_id_ttr",
    "olalevels_id_ttr",
    "ola_tto_begin_date",
    "ola_ttr_begin_date",
    "internal_time_to_resolve",
    "internal_time_to_own",
    "waiting_duration",
    "close_delay_stat",
    "solve_delay_stat",
    "takeintoaccount_delay_stat",
    "actiontime",
    "is_deleted",
    "locations_id",
    "validation_percent",
    "date_creation",
];

/// The columns of a followup row, in table order.
pub const FOLLOWUP_COLUMNS: &[&str] = &[
    "id",
    "itemtype",
    "items_id",
    "date",
    "users_id",
    "users_id_editor",
    "content",
    "is_private",
    "requesttypes_id",
    "date_mod",
    "date_creation",
    "timeline_position",
    "sourceitems_id",
    "sourceof_items_id",
];

/// HATEOAS links of a ticket row: its foreign keys, then the child itemtypes.
pub fn ticket_links(t: &Ticket, api_url: &str) -> Value {
    let base = api_url.trim_end_matches('/');
    let mut links = vec![json!({
        "rel": "Entity",
        "href": format!("{base}/Entity/{}", ref_fk(t.entity.as_ref()))
    })];
    let requester = t
        .requester
        .id
        .as_deref()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0);
    let fks = [
        ("User", requester),
        ("RequestType", source_to_requesttype(t.source)),
        ("ITILCategory", ref_fk(t.category.as_ref())),
        ("SLA", ref_fk(t.sla.as_ref())),
        ("Location", ref_fk(t.location.as_ref())),
    ];
    for (rel, id) in fks {
        if id > 0 {
            links.push(json!({"rel": rel, "href": format!("{base}/{rel}/{id}")}));
        }
    }
    for rel in [
        "Document_Item",
        "Ticket_User",
        "Group_Ticket",
        "ITILSolution",
        "ITILFollowup",
    ] {
        links.push(json!({"rel": rel, "href": format!("{base}/Ticket/{}/{rel}/", t.id)}));
    }
    Value::Array(links)
}

/// A followup row (`GET /Ticket/:id/ITILFollowup`) for a canonical thread entry.
pub fn followup_row(ticket_id: &str, e: &ThreadEntry) -> Map<String, Value> {
    let date = format_date(&e.created_at);
    let mut m = Map::new();
    m.insert("id".into(), id_value(&e.id));
    m.insert("itemtype".into(), json!("Ticket"));
    m.insert("items_id".into(), id_value(ticket_id));
    m.insert("date".into(), json!(date));
    m.insert("users_id".into(), json!(0));
    m.insert("users_id_editor".into(), json!(0));
    m.insert("content".into(), json!(encode_stored_html(&e.body.content)));
    m.insert(
        "is_private".into(),
        json!(i64::from(e.kind == EntryKind::Note)),
    );
    m.insert("requesttypes_id".into(), json!(1));
    m.insert("date_mod".into(), json!(date));
    m.insert("date_creation".into(), json!(date));
    m.insert(
        "timeline_position".into(),
        json!(if e.kind == EntryKind::Message {
            TIMELINE_LEFT
        } else {
            TIMELINE_RIGHT
        }),
    );
    m.insert("sourceitems_id".into(), json!(0));
    m.insert("sourceof_items_id".into(), json!(0));
    m
}

/// A followup row read back by the client face as a canonical thread entry.
pub fn entry_from_followup(row: &Value) -> Option<ThreadEntry> {
    let id = row.get("id").and_then(as_text)?;
    let content = row
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let private = row.get("is_private").is_some_and(as_bool);
    let left = row.get("timeline_position").and_then(as_i64) == Some(TIMELINE_LEFT);
    let created_at = row
        .get("date")
        .and_then(Value::as_str)
        .and_then(parse_date)
        .unwrap_or_else(Utc::now);
    Some(ThreadEntry {
        id,
        kind: if private {
            EntryKind::Note
        } else if left {
            EntryKind::Message
        } else {
            EntryKind::Response
        },
        author: None,
        body: body_of(&decode_stored_html(content)),
        created_at,
        attachments: vec![],
        email: None,
    })
}

/// One row of `GET /Ticket/:id/Ticket_User` per actor of a ticket: requester (1),
/// assignee (2), observers (3). An actor known only by email is ITSM-NG's anonymous
/// actor: `users_id` 0 with an `alternative_email`.
pub fn actor_rows(t: &Ticket) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut push = |users_id: i64, kind: i64, email: Option<&str>| {
        rows.push(json!({
            "id": rows.len() + 1,
            "tickets_id": id_value(&t.id),
            "users_id": users_id,
            "type": kind,
            "use_notification": i64::from(email.is_some()),
            "alternative_email": email.unwrap_or(""),
        }));
    };
    let requester = t
        .requester
        .id
        .as_deref()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    push(requester, 1, t.requester.email.as_deref());
    if let Some(a) = &t.assignee {
        push(ref_fk(Some(a)), 2, None);
    }
    for c in &t.cc {
        push(0, 3, c.email.as_deref());
    }
    rows
}

/// Requester, assignee and observers of a ticket from its `Ticket_User` rows.
pub fn apply_actor_rows(t: &mut Ticket, rows: &[Value]) {
    for row in rows {
        let users_id = row.get("users_id").and_then(as_i64).unwrap_or(0);
        let email = row
            .get("alternative_email")
            .and_then(Value::as_str)
            .filter(|e| !e.trim().is_empty())
            .map(str::to_owned);
        match row.get("type").and_then(as_i64) {
            Some(1) => {
                if users_id > 0 {
                    t.requester.id = Some(users_id.to_string());
                }
                if email.is_some() {
                    t.requester.email = email;
                }
            }
            Some(2) if users_id > 0 => t.assignee = Some(Reference::id(users_id.to_string())),
            Some(3) => t.cc.push(Contact {
                name: (users_id > 0).then(|| users_id.to_string()),
                email,
            }),
            _ => {}
        }
    }
}

/// A Ticket row (as `GET /Ticket/:id` answers it) as a canonical ticket. Actors and
/// followups come from other calls (see [`apply_actor_rows`], [`entry_from_followup`]).
pub fn ticket_from_row(row: &Value) -> Result<Ticket, Error> {
    let bad = |what: &str| Error::upstream_rejected(format!("ITSM-NG ticket row: {what}"));
    let obj = row.as_object().ok_or_else(|| bad("not an object"))?;
    let id = obj
        .get("id")
        .and_then(as_text)
        .ok_or_else(|| bad("no id"))?;
    let int = |k: &str| obj.get(k).and_then(as_i64);
    let date = |k: &str| obj.get(k).and_then(Value::as_str).and_then(parse_date);
    let fk = |k: &str| {
        int(k)
            .filter(|n| *n > 0)
            .map(|n| Reference::id(n.to_string()))
    };
    let status_id = int("status").unwrap_or(1);
    let mut status = status_of(status_id).unwrap_or_else(|| Status {
        state: State::Open,
        name: None,
        id: Some(status_id.to_string()),
    });
    if int("is_deleted").unwrap_or(0) != 0 {
        status.state = State::Deleted;
    }
    let created_at = date("date")
        .or_else(|| date("date_creation"))
        .unwrap_or_else(Utc::now);
    let priority = int("priority")
        .and_then(|p| u8::try_from(p).ok())
        .and_then(PriorityLevel::from_rank)
        .map(|level| Priority {
            level,
            name: None,
            id: Some(level.rank().to_string()),
        });
    let small = |k: &str| int(k).and_then(|n| u8::try_from(n).ok());
    let recipient = int("users_id_recipient").filter(|n| *n > 0);
    Ok(Ticket {
        number: id.clone(),
        id,
        subject: obj.get("name").and_then(as_text).unwrap_or_default(),
        body: body_of(&decode_stored_html(
            obj.get("content").and_then(Value::as_str).unwrap_or(""),
        )),
        requester: Requester {
            id: recipient.map(|n| n.to_string()),
            ..Requester::default()
        },
        cc: vec![],
        status,
        priority,
        urgency: small("urgency"),
        impact: small("impact"),
        ticket_type: int("type").and_then(type_to_canonical),
        category: fk("itilcategories_id"),
        topic: None,
        department: None,
        group: None,
        team: None,
        assignee: None,
        location: fk("locations_id"),
        entity: int("entities_id").map(|n| Reference::id(n.to_string())),
        sla: fk("slas_id_ttr"),
        due_at: date("time_to_resolve"),
        updated_at: date("date_mod").unwrap_or(created_at),
        created_at,
        solved_at: date("solvedate"),
        closed_at: date("closedate"),
        source: int("requesttypes_id").map_or(Source::Api, requesttype_to_source),
        client_ip: None,
        attachments: vec![],
        entries: vec![],
        parent: None,
        children: vec![],
        custom_fields: Default::default(),
        email: None,
    })
}

/// A ticket's solution as `GET /Ticket/:id/ITILSolution` lists it. ticketgate keeps a
/// solution as the public response written when the ticket was resolved, so the row
/// is that response; status 2 (waiting for approval) while resolved, 3 (accepted)
/// once closed. A ticket closed without a solution has none, as on GLPI.
pub fn solution_rows(t: &Ticket) -> Vec<Map<String, Value>> {
    let Some(solved) = t.solved_at else {
        return vec![];
    };
    let window = chrono::Duration::seconds(2);
    let Some(e) = t.entries.iter().rev().find(|e| {
        e.kind == EntryKind::Response
            && e.created_at <= solved + window
            && e.created_at >= solved - window
    }) else {
        return vec![];
    };
    let date = format_date(&e.created_at);
    let closed = t.status.state == State::Closed;
    let mut m = Map::new();
    m.insert("id".into(), id_value(&e.id));
    m.insert("itemtype".into(), json!("Ticket"));
    m.insert("items_id".into(), id_value(&t.id));
    m.insert("solutiontypes_id".into(), json!(0));
    m.insert("solutiontype_name".into(), Value::Null);
    m.insert("content".into(), json!(encode_stored_html(&e.body.content)));
    m.insert("date_creation".into(), json!(date));
    m.insert("date_mod".into(), json!(date));
    m.insert(
        "date_approval".into(),
        if closed {
            date_value(t.closed_at.as_ref())
        } else {
            Value::Null
        },
    );
    m.insert("users_id".into(), json!(0));
    m.insert("user_name".into(), Value::Null);
    m.insert("users_id_editor".into(), json!(0));
    m.insert("users_id_approval".into(), json!(0));
    m.insert("user_name_approval".into(), Value::Null);
    m.insert("status".into(), json!(if closed { 3 } else { 2 }));
    m.insert("itilfollowups_id".into(), Value::Null);
    vec![m]
}

/// The `GET /Ticket/:id/Group_Ticket` rows: the assigned group (type 2).
pub fn group_rows(t: &Ticket) -> Vec<Value> {
    t.group
        .iter()
        .filter(|g| ref_fk(Some(g)) > 0)
        .enumerate()
        .map(|(i, g)| {
            json!({"id": i + 1, "tickets_id": id_value(&t.id), "groups_id": ref_fk(Some(g)), "type": 2})
        })
        .collect()
}

/// A document's row as `GET /Document/:id` answers it (without `links`): GLPI's
/// columns, its `sha1sum` and the `filepath` GLPI would file it under
/// (`EXT/<first two hex digits>/<the other 38>.EXT`).
pub fn document_row(d: &ticketgate_model::Document) -> Map<String, Value> {
    let sha1 = sha1_smol::Sha1::from(&d.file.bytes).digest().to_string();
    let ext = d
        .file
        .name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_uppercase())
        .filter(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "BIN".to_owned());
    let date = format_date(&d.created_at);
    let mut m = Map::new();
    m.insert("id".into(), id_value(&d.id));
    m.insert("entities_id".into(), json!(0));
    m.insert("is_recursive".into(), json!(0));
    m.insert("name".into(), json!(d.title));
    m.insert("filename".into(), json!(d.file.name));
    m.insert(
        "filepath".into(),
        json!(format!("{ext}/{}/{}.{ext}", &sha1[..2], &sha1[2..])),
    );
    m.insert("documentcategories_id".into(), json!(0));
    m.insert("mime".into(), json!(d.file.media_type));
    m.insert("date_mod".into(), json!(date));
    m.insert("comment".into(), Value::Null);
    m.insert("is_deleted".into(), json!(0));
    m.insert("link".into(), Value::Null);
    m.insert("users_id".into(), json!(0));
    m.insert("tickets_id".into(), json!(0));
    m.insert("sha1sum".into(), json!(sha1));
    m.insert("is_blacklisted".into(), json!(0));
    // GLPI's tag is a random `Rule::getUuid()`; this one is derived from the file.
    m.insert(
        "tag".into(),
        json!(format!("{}-{}-{}", &sha1[..8], &sha1[8..16], &sha1[16..39])),
    );
    m.insert("date_creation".into(), json!(date));
    m
}

/// The `GET /Ticket/:id/Document_Item` rows: one per document of the ticket, with
/// GLPI's columns, and links when `api_url` is given.
pub fn document_item_rows(t: &Ticket, api_url: Option<&str>) -> Vec<Value> {
    let date = format_date(&t.created_at);
    t.attachments
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let doc = a.id.clone().unwrap_or_else(|| (i + 1).to_string());
            let mut row = json!({
                "id": i + 1,
                "documents_id": id_value(&doc),
                "items_id": id_value(&t.id),
                "itemtype": "Ticket",
                "entities_id": 0,
                "is_recursive": 0,
                "date_mod": date,
                "users_id": 0,
                "timeline_position": 1,
                "date_creation": date,
                "date": Value::Null,
            });
            if let Some(api) = api_url {
                row["links"] = json!([
                    {"rel": "Document", "href": format!("{api}/Document/{doc}")},
                    {"rel": "Ticket", "href": format!("{api}/Ticket/{}", t.id)},
                    {"rel": "Entity", "href": format!("{api}/Entity/0")},
                ]);
            }
            row
        })
        .collect()
}

/// GLPI's task states: 0 information, 1 to do, 2 done.
pub fn task_state_to_vendor(s: ticketgate_model::TaskState) -> i64 {
    match s {
        ticketgate_model::TaskState::Info => 0,
        ticketgate_model::TaskState::Todo => 1,
        ticketgate_model::TaskState::Done => 2,
    }
}

pub fn task_state_from_vendor(n: i64) -> Option<ticketgate_model::TaskState> {
    Some(match n {
        0 => ticketgate_model::TaskState::Info,
        1 => ticketgate_model::TaskState::Todo,
        2 => ticketgate_model::TaskState::Done,
        _ => return None,
    })
}

/// A task row (`GET /Ticket/:id/TicketTask`), GLPI's columns, without `links`. GLPI's
/// `uuid` is random; this one is derived from the ticket and the task.
pub fn task_row(t: &ticketgate_model::Task) -> Map<String, Value> {
    let date = format_date(&t.created_at);
    let h = sha1_smol::Sha1::from(format!("task:{}:{}", t.ticket, t.id))
        .digest()
        .to_string();
    let uuid = format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    );
    let tech = t
        .assignee
        .as_ref()
        .and_then(|a| a.id.as_deref())
        .and_then(|id| id.parse::<i64>().ok())
        .unwrap_or(0);
    let mut m = Map::new();
    m.insert("id".into(), id_value(&t.id));
    m.insert("uuid".into(), json!(uuid));
    m.insert("tickets_id".into(), id_value(&t.ticket));
    m.insert("taskcategories_id".into(), json!(0));
    m.insert("date".into(), json!(date));
    m.insert("users_id".into(), json!(0));
    m.insert("users_id_editor".into(), json!(0));
    m.insert("content".into(), json!(encode_stored_html(&t.body)));
    m.insert("is_private".into(), json!(i64::from(t.private)));
    m.insert("actiontime".into(), json!(t.duration_secs));
    m.insert("begin".into(), Value::Null);
    m.insert("end".into(), Value::Null);
    m.insert("state".into(), json!(task_state_to_vendor(t.state)));
    m.insert("users_id_tech".into(), json!(tech));
    m.insert("groups_id_tech".into(), json!(0));
    m.insert("date_mod".into(), json!(date));
    m.insert("date_creation".into(), json!(date));
    m.insert("tasktemplates_id".into(), json!(0));
    m.insert("timeline_position".into(), json!(1));
    m.insert("sourceitems_id".into(), json!(0));
    m.insert("sourceof_items_id".into(), json!(0));
    m
}

/// A task row read back from the server (the client face).
pub fn task_from_row(ticket: &str, row: &Value) -> Option<ticketgate_model::Task> {
    let id = row.get("id").and_then(as_text)?;
    Some(ticketgate_model::Task {
        id,
        ticket: ticket.to_owned(),
        body: decode_stored_html(&row.get("content").and_then(as_text).unwrap_or_default()),
        state: row
            .get("state")
            .and_then(as_i64)
            .and_then(task_state_from_vendor)
            .unwrap_or_default(),
        duration_secs: row
            .get("actiontime")
            .and_then(as_i64)
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
        assignee: row
            .get("users_id_tech")
            .and_then(as_i64)
            .filter(|n| *n > 0)
            .map(|n| Reference::id(n.to_string())),
        private: row.get("is_private").is_some_and(as_bool),
        created_at: row
            .get("date_creation")
            .or_else(|| row.get("date"))
            .and_then(as_text)
            .and_then(|d| parse_date(&d))
            .unwrap_or_else(Utc::now),
    })
}
