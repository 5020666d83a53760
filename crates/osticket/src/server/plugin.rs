//! The API Endpoints plugin's eleven endpoints (create is the core route's).

use super::{
    OsticketServer, OutFormat, authorize, plugin_response, query_pairs, status_of, with_retry_after,
};
use crate::decode::parse_due_date;
use crate::wire::{
    ChildrenResponse, DateRange, DeleteResponse, DepartmentStats, GlobalStats, LinkResponse,
    ParentResponse, PriorityCount, SearchItem, SearchResponse, StaffStats, StatsResponse,
    StatusCount, StatusView, StatusesResponse, TicketBrief, TicketView, UnlinkResponse,
    UpdateResponse, WireId,
};
use bytes::Bytes;
use chrono::{Duration, NaiveDate, Utc};
use http::{Method, Request, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use std::sync::Arc;
use ticketgate_model::{
    Consumer, DeleteMode, Error, ErrorKind, GatewayContext, Helpdesk, LookupItem, LookupKind,
    Permission, Query, Reference, SortField, SortOrder, State, StatsQuery, Ticket, TicketPatch,
};

/// The plugin's page size bound.
const MAX_LIMIT: u32 = 100;
const DEFAULT_LIMIT: u32 = 20;
/// The deepest parent chain walked when checking a link for a cycle.
const MAX_CHAIN: usize = 1_000;

pub(super) async fn handle(
    _face: &OsticketServer,
    endpoint: &str,
    arg: Option<&str>,
    req: Request<Bytes>,
    cx: &dyn GatewayContext,
) -> Response<Bytes> {
    // The ticket argument and the format come from `{number}.{json|xml}`.
    let (key, format) = match arg {
        Some(a) => match a.rsplit_once('.') {
            Some((k, "json")) => (Some(k), OutFormat::Json),
            Some((k, "xml")) => (Some(k), OutFormat::Xml),
            _ => {
                return error(
                    OutFormat::Json,
                    &Error::bad_input("Unsupported format: use .json or .xml"),
                );
            }
        },
        None => (None, OutFormat::Json),
    };
    let method = req.method().clone();
    let result = match (endpoint, method, key) {
        ("tickets-get.php", Method::GET, Some(k)) => get(req, cx, k, format).await,
        ("tickets-update.php", Method::PATCH, Some(k)) => update(req, cx, k, format).await,
        ("tickets-delete.php", Method::DELETE, Some(k)) => delete(req, cx, k, format).await,
        ("tickets-search.php", Method::GET, None) => search(req, cx).await,
        ("tickets-stats.php", Method::GET, None) => stats(req, cx).await,
        ("tickets-statuses.php", Method::GET, None) => statuses(req, cx).await,
        ("tickets-subtickets-parent.php", Method::GET, Some(k)) => parent(req, cx, k, format).await,
        ("tickets-subtickets-list.php", Method::GET, Some(k)) => children(req, cx, k, format).await,
        ("tickets-subtickets-create.php", Method::POST, None) => link(req, cx).await,
        ("tickets-subtickets-unlink.php", Method::DELETE, None) => unlink(req, cx).await,
        (
            "tickets-get.php"
            | "tickets-update.php"
            | "tickets-delete.php"
            | "tickets-subtickets-parent.php"
            | "tickets-subtickets-list.php",
            _,
            None,
        ) => Err(Error::bad_input("Invalid ticket number")),
        (
            "tickets-get.php"
            | "tickets-update.php"
            | "tickets-delete.php"
            | "tickets-search.php"
            | "tickets-stats.php"
            | "tickets-statuses.php"
            | "tickets-subtickets-parent.php"
            | "tickets-subtickets-list.php"
            | "tickets-subtickets-create.php"
            | "tickets-subtickets-unlink.php",
            m,
            _,
        ) => {
            return with_status(
                error(format, &Error::bad_input(format!("Method {m} not allowed"))),
                405,
            );
        }
        _ => Err(Error::not_found("Unknown API endpoint")),
    };
    result.unwrap_or_else(|e| error(format, &e))
}

fn with_status(mut r: Response<Bytes>, status: u16) -> Response<Bytes> {
    if let Ok(s) = http::StatusCode::from_u16(status) {
        *r.status_mut() = s;
    }
    r
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

/// `{"error": "…"}` with the plugin's status for the error's kind.
pub(super) fn error(format: OutFormat, e: &Error) -> Response<Bytes> {
    let message = match e.kind {
        ErrorKind::Unauthorized => "API key required or invalid",
        // The gateway's own reason may name a network or a permission: not for the caller.
        ErrorKind::Forbidden if e.message.starts_with("API key not authorized") => &e.message,
        ErrorKind::Forbidden => "API key not authorized for this operation",
        ErrorKind::RateLimited => "Rate limit exceeded",
        ErrorKind::Internal => "Internal server error",
        _ => e.message.as_str(),
    };
    with_retry_after(
        plugin_response(status_of(e), format, &ErrorBody { error: message }),
        e,
    )
}

fn helpdesk(cx: &dyn GatewayContext, c: &Consumer) -> Arc<dyn Helpdesk> {
    cx.helpdesk(c)
}

/// A number or an id as osTicket's plugin takes it: word characters only.
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_not_found(e: &Error) -> bool {
    e.kind == ErrorKind::NotFound
        || (e.kind == ErrorKind::UpstreamRejected && e.upstream_status == Some(404))
}

/// The plugin looks a key up as a ticket number first, then as an id.
async fn find(h: &dyn Helpdesk, key: &str) -> Result<Ticket, Error> {
    if !valid_key(key) {
        return Err(Error::bad_input("Invalid ticket number"));
    }
    match h.get_by_number(key).await {
        Ok(t) => return Ok(t),
        Err(e) if is_not_found(&e) || e.kind == ErrorKind::Unsupported => {}
        Err(e) => return Err(e),
    }
    match h.get(key).await {
        Ok(t) => Ok(t),
        Err(e) if is_not_found(&e) => Err(Error::not_found("Ticket not found")),
        Err(e) => Err(e),
    }
}

async fn get(
    req: Request<Bytes>,
    cx: &dyn GatewayContext,
    key: &str,
    format: OutFormat,
) -> Result<Response<Bytes>, Error> {
    let consumer = authorize(cx, req.headers(), Permission::Read)?;
    let t = find(helpdesk(cx, &consumer).as_ref(), key).await?;
    let view = TicketView::from_ticket(&t);
    Ok(match format {
        OutFormat::Json => plugin_response(200, format, &view),
        OutFormat::Xml => xml_response(200, "ticket", &view),
    })
}

/// The plugin's XML for a ticket has `<ticket>` as its root.
fn xml_response<T: Serialize>(status: u16, root: &str, value: &T) -> Response<Bytes> {
    let body = crate::wire::to_xml(root, value);
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/xml; charset=UTF-8")
        .body(Bytes::from(body))
        .expect("a static header on a valid status is a valid response")
}

fn json_object(req: &Request<Bytes>) -> Result<Map<String, Value>, Error> {
    if req.body().iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(req.body()) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::bad_input("Request body must be a JSON object")),
        Err(_) => Err(Error::bad_input("Invalid JSON in request body")),
    }
}

/// A name-or-id field: a string (a name, or digits for an id) or a number.
fn reference(map: &Map<String, Value>, key: &str) -> Result<Option<Reference>, Error> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(Reference::guess(s))),
        Some(Value::Number(n)) if n.is_u64() => Ok(Some(Reference::id(n.to_string()))),
        Some(_) => Err(Error::bad_input(format!("Invalid {key}")).field(key)),
    }
}

async fn update(
    req: Request<Bytes>,
    cx: &dyn GatewayContext,
    key: &str,
    format: OutFormat,
) -> Result<Response<Bytes>, Error> {
    let consumer = authorize(cx, req.headers(), Permission::Update)?;
    let body = json_object(&req)?;
    let mut patch = TicketPatch::default();
    let mut updated = Vec::new();
    for k in body.keys() {
        let known = [
            "statusId",
            "status",
            "departmentId",
            "topicId",
            "slaId",
            "staffId",
            "teamId",
            "priority",
            "priorityId",
            "duedate",
            "note",
        ];
        if !known.contains(&k.as_str()) {
            return Err(Error::bad_input(format!("Unknown field: {k}")).field(k));
        }
    }
    let mut set = |name: &'static str, r: Option<Reference>, slot: &mut Option<Reference>| {
        if let Some(r) = r {
            *slot = Some(r);
            updated.push(name.to_owned());
        }
    };
    let status = match reference(&body, "statusId")? {
        Some(r) => Some(r),
        None => reference(&body, "status")?,
    };
    set("status", status, &mut patch.status);
    set(
        "department",
        reference(&body, "departmentId")?,
        &mut patch.department,
    );
    let topic = reference(&body, "topicId")?;
    if topic.as_ref().is_some_and(|t| t.id.is_none()) {
        return Err(
            Error::bad_input("Invalid topicId: a help topic id is a number").field("topicId"),
        );
    }
    set("topic", topic, &mut patch.topic);
    set("sla", reference(&body, "slaId")?, &mut patch.sla);
    set("staff", reference(&body, "staffId")?, &mut patch.assignee);
    set("team", reference(&body, "teamId")?, &mut patch.team);
    let priority = match reference(&body, "priority")? {
        Some(r) => Some(r),
        None => reference(&body, "priorityId")?,
    };
    set("priority", priority, &mut patch.priority);
    match body.get("duedate") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => match parse_due_date(s) {
            Some(d) => {
                patch.due_at = Some(d);
                updated.push("duedate".to_owned());
            }
            None => return Err(Error::bad_input("Invalid due date format").field("duedate")),
        },
        Some(_) => return Err(Error::bad_input("Invalid due date format").field("duedate")),
    }
    match body.get("note") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if !s.trim().is_empty() => {
            patch.note = Some(s.trim().to_owned());
            updated.push("note".to_owned());
        }
        Some(_) => return Err(Error::bad_input("Invalid note").field("note")),
    }
    if patch.is_empty() {
        return Err(Error::bad_input("No valid fields to update"));
    }
    let h = helpdesk(cx, &consumer);
    let t = find(h.as_ref(), key).await?;
    let t = h.update(&t.id, patch).await?;
    Ok(plugin_response(
        200,
        format,
        &UpdateResponse {
            success: true,
            message: "Ticket updated successfully".to_owned(),
            ticket_id: WireId::new(&t.id),
            number: t.number.clone(),
            updated_fields: updated,
        },
    ))
}

async fn delete(
    req: Request<Bytes>,
    cx: &dyn GatewayContext,
    key: &str,
    format: OutFormat,
) -> Result<Response<Bytes>, Error> {
    let consumer = authorize(cx, req.headers(), Permission::Delete)?;
    let h = helpdesk(cx, &consumer);
    let t = find(h.as_ref(), key).await?;
    // The plugin deletes for good: thread entries and all.
    h.delete(&t.id, DeleteMode::Purge).await?;
    Ok(plugin_response(
        200,
        format,
        &DeleteResponse {
            success: true,
            message: "Ticket deleted successfully".to_owned(),
            ticket_id: WireId::new(&t.id),
            number: t.number.clone(),
        },
    ))
}

fn search_query(query: &str) -> Result<Query, Error> {
    let mut q = Query {
        limit: DEFAULT_LIMIT,
        ..Query::default()
    };
    for (k, v) in query_pairs(query) {
        let v = v.trim().to_owned();
        if v.is_empty() {
            continue;
        }
        let id = |name: &str| -> Result<Reference, Error> {
            if v.bytes().all(|b| b.is_ascii_digit()) {
                Ok(Reference::id(v.clone()))
            } else {
                Err(Error::bad_input(format!("Invalid {name} parameter")).field(name))
            }
        };
        match k.as_str() {
            "query" => q.text = Some(v.clone()),
            "status" => {
                // osTicket has no "new": its stock "Open" is every ticket still active.
                if v.eq_ignore_ascii_case("open") {
                    q.states = vec![State::New, State::Open, State::Pending];
                } else {
                    q.status = Some(Reference::guess(&v));
                }
            }
            "departmentId" => q.department = Some(Reference::guess(&v)),
            "topicId" => q.topic = Some(id("topicId")?),
            "priorityId" => q.priority = Some(id("priorityId")?),
            "staffId" => q.assignee = Some(Reference::guess(&v)),
            "limit" => {
                q.limit = v
                    .parse::<u32>()
                    .ok()
                    .filter(|l| (1..=MAX_LIMIT).contains(l))
                    .ok_or_else(|| {
                        Error::bad_input(format!("Invalid limit parameter (max: {MAX_LIMIT})"))
                            .field("limit")
                    })?;
            }
            "offset" => {
                q.offset = v
                    .parse()
                    .map_err(|_| Error::bad_input("Invalid offset parameter").field("offset"))?;
            }
            "sortBy" => {
                q.sort = SortField::parse(&v)
                    .ok_or_else(|| Error::bad_input("Invalid sortBy parameter").field("sortBy"))?;
            }
            "sortOrder" => {
                q.order = match v.to_ascii_lowercase().as_str() {
                    "asc" => SortOrder::Asc,
                    "desc" => SortOrder::Desc,
                    _ => {
                        return Err(
                            Error::bad_input("Invalid sortOrder parameter").field("sortOrder")
                        );
                    }
                };
            }
            _ => {}
        }
    }
    Ok(q)
}

async fn search(req: Request<Bytes>, cx: &dyn GatewayContext) -> Result<Response<Bytes>, Error> {
    let consumer = authorize(cx, req.headers(), Permission::Search)?;
    let q = search_query(req.uri().query().unwrap_or(""))?;
    let page = helpdesk(cx, &consumer).search(&q).await?;
    let tickets: Vec<SearchItem> = page.items.iter().map(SearchItem::from_ticket).collect();
    Ok(plugin_response(
        200,
        OutFormat::Json,
        &SearchResponse {
            count: tickets.len() as u64,
            total: page.total,
            limit: q.limit,
            offset: q.offset,
            tickets,
        },
    ))
}

/// The window of a stats request, and its label.
/// Decoded query pairs, kept for the filters applied after the statistics are read.
type Pairs = Vec<(String, String)>;

fn stats_window(query: &str) -> Result<(StatsQuery, DateRange, Pairs), Error> {
    let pairs = query_pairs(query);
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(pk, v)| pk == k && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_owned())
    };
    let now = Utc::now();
    let mut q = StatsQuery::default();
    let mut label = "All time".to_owned();
    if let Some(range) = get("dateRange") {
        let (days, l) = match range.to_ascii_lowercase().as_str() {
            "today" => (0, "Today"),
            "week" => (7, "Last 7 days"),
            "month" => (30, "Last 30 days"),
            "year" => (365, "Last 365 days"),
            "all" => (-1, "All time"),
            _ => return Err(Error::bad_input("Invalid dateRange parameter").field("dateRange")),
        };
        label = l.to_owned();
        q.since = match days {
            -1 => None,
            0 => now.date_naive().and_hms_opt(0, 0, 0).map(|d| d.and_utc()),
            d => Some(now - Duration::days(d)),
        };
    }
    let date = |k: &str| -> Result<Option<NaiveDate>, Error> {
        match get(k) {
            None => Ok(None),
            Some(v) => NaiveDate::parse_from_str(&v, "%Y-%m-%d")
                .map(Some)
                .or_else(|_| parse_due_date(&v).map(|d| Some(d.date_naive())).ok_or(()))
                .map_err(|_| Error::bad_input(format!("Invalid {k} parameter")).field(k)),
        }
    };
    let start = date("startDate")?;
    let end = date("endDate")?;
    if start.is_some() || end.is_some() {
        label = "Custom range".to_owned();
        q.since = start
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc());
        // The end date is inclusive: the whole day counts.
        q.until = end
            .and_then(|d| d.succ_opt())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc());
    }
    let range = DateRange {
        start: q.since.map(|d| d.format("%Y-%m-%d").to_string()),
        end: Some(
            end.map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|| now.format("%Y-%m-%d").to_string()),
        ),
        label,
    };
    Ok((q, range, pairs))
}

/// A look-up list, or nothing when the upstream has none (ids are then left out).
async fn lookup(h: &dyn Helpdesk, kind: LookupKind) -> Vec<LookupItem> {
    h.lookup(kind).await.unwrap_or_default()
}

fn id_of(items: &[LookupItem], name: &str) -> Option<WireId> {
    items
        .iter()
        .find(|i| i.name.eq_ignore_ascii_case(name))
        .map(|i| WireId::new(&i.id))
}

async fn stats(req: Request<Bytes>, cx: &dyn GatewayContext) -> Result<Response<Bytes>, Error> {
    let consumer = authorize(cx, req.headers(), Permission::Stats)?;
    let (q, date_range, pairs) = stats_window(req.uri().query().unwrap_or(""))?;
    let h = helpdesk(cx, &consumer);
    let s = h.stats(&q).await?;
    let departments = lookup(h.as_ref(), LookupKind::Departments).await;
    let agents = lookup(h.as_ref(), LookupKind::Agents).await;
    let statuses = lookup(h.as_ref(), LookupKind::Statuses).await;
    let priorities = lookup(h.as_ref(), LookupKind::Priorities).await;
    let filter = |k: &str| pairs.iter().find(|(pk, _)| pk == k).map(|(_, v)| v.trim());
    // The canonical statistics have no per-department or per-agent window: those
    // filters narrow the matching breakdown list.
    let keep = |key: &str, items: &[LookupItem], name: &str| {
        filter(key).is_none_or(|want| {
            want.is_empty()
                || name.eq_ignore_ascii_case(want)
                || id_of(items, name).is_some_and(|id| id.to_string() == want)
        })
    };
    let unassigned = s.by_assignee.get("(none)").copied().unwrap_or(0);
    let global = GlobalStats {
        total: s.total,
        open: s.open,
        closed: s.closed + s.resolved,
        resolved: s.resolved,
        archived: s.by_state.get("archived").copied().unwrap_or(0),
        overdue: s.overdue,
        assigned: s.total.saturating_sub(unassigned),
        unassigned,
    };
    let body = StatsResponse {
        global,
        by_department: s
            .by_department
            .iter()
            .filter(|(name, _)| name.as_str() != "(none)")
            .filter(|(name, _)| keep("departmentId", &departments, name))
            .map(|(name, n)| DepartmentStats {
                department_id: id_of(&departments, name),
                department_name: name.clone(),
                total: *n,
            })
            .collect(),
        by_staff: s
            .by_assignee
            .iter()
            .filter(|(name, _)| name.as_str() != "(none)")
            .filter(|(name, _)| keep("staffId", &agents, name))
            .map(|(name, n)| StaffStats {
                staff_id: id_of(&agents, name),
                staff_name: name.clone(),
                assigned: *n,
            })
            .collect(),
        by_status: s
            .by_status
            .iter()
            .map(|(name, n)| StatusCount {
                status_id: id_of(&statuses, name),
                status: name.clone(),
                count: *n,
            })
            .collect(),
        by_priority: s
            .by_priority
            .iter()
            .filter(|(name, _)| name.as_str() != "(none)")
            .map(|(name, n)| PriorityCount {
                priority_id: id_of(&priorities, name),
                priority: name.clone(),
                count: *n,
            })
            .collect(),
        date_range,
    };
    Ok(plugin_response(200, OutFormat::Json, &body))
}

async fn statuses(req: Request<Bytes>, cx: &dyn GatewayContext) -> Result<Response<Bytes>, Error> {
    let consumer = authorize(cx, req.headers(), Permission::Stats)?;
    let items = helpdesk(cx, &consumer).lookup(LookupKind::Statuses).await?;
    let statuses = items
        .iter()
        .map(|i| {
            let state = i.state.unwrap_or(State::Open);
            let mut props = Map::new();
            props.insert("state".to_owned(), Value::String(state.as_str().to_owned()));
            StatusView {
                id: WireId::new(&i.id),
                name: i.name.clone(),
                state: crate::wire::osticket_state(state).to_owned(),
                properties: Value::Object(props),
            }
        })
        .collect();
    Ok(plugin_response(
        200,
        OutFormat::Json,
        &StatusesResponse { statuses },
    ))
}

/// The subticket endpoints take internal ids: whole numbers only.
fn ticket_id(key: &str) -> Result<&str, Error> {
    if !key.is_empty() && key.len() <= 20 && key.bytes().all(|b| b.is_ascii_digit()) {
        Ok(key)
    } else {
        Err(Error::bad_input("Invalid ticket ID"))
    }
}

pub(super) fn subticket_error(e: Error) -> Error {
    match e.kind {
        ErrorKind::Forbidden => Error::forbidden("API key not authorized for subticket operations"),
        ErrorKind::Unsupported => Error {
            message: "Subticket plugin not available".to_owned(),
            ..e
        },
        _ => e,
    }
}

fn renamed_not_found(e: Error, message: &str) -> Error {
    if is_not_found(&e) {
        Error::not_found(message)
    } else {
        e
    }
}

async fn parent(
    req: Request<Bytes>,
    cx: &dyn GatewayContext,
    key: &str,
    format: OutFormat,
) -> Result<Response<Bytes>, Error> {
    let consumer = authorize(cx, req.headers(), Permission::Subtickets).map_err(subticket_error)?;
    let id = ticket_id(key)?;
    let p = helpdesk(cx, &consumer)
        .parent(id)
        .await
        .map_err(|e| renamed_not_found(subticket_error(e), "Child ticket not found"))?;
    Ok(plugin_response(
        200,
        format,
        &ParentResponse {
            parent: p.as_ref().map(|t| TicketBrief::long(t, false)),
        },
    ))
}

async fn children(
    req: Request<Bytes>,
    cx: &dyn GatewayContext,
    key: &str,
    format: OutFormat,
) -> Result<Response<Bytes>, Error> {
    let consumer = authorize(cx, req.headers(), Permission::Subtickets).map_err(subticket_error)?;
    let id = ticket_id(key)?;
    let list = helpdesk(cx, &consumer)
        .children(id)
        .await
        .map_err(|e| renamed_not_found(subticket_error(e), "Parent ticket not found"))?;
    Ok(plugin_response(
        200,
        format,
        &ChildrenResponse {
            children: list.iter().map(|t| TicketBrief::long(t, true)).collect(),
        },
    ))
}

/// An id field of a subticket request: a whole number, as a JSON number or string.
fn id_field(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::Number(n) if n.is_u64() && n.as_u64() != Some(0) => Some(n.to_string()),
        Value::String(s) if ticket_id(s.trim()).is_ok() && s.trim() != "0" => {
            Some(s.trim().to_owned())
        }
        _ => None,
    }
}

async fn link(req: Request<Bytes>, cx: &dyn GatewayContext) -> Result<Response<Bytes>, Error> {
    let consumer = authorize(cx, req.headers(), Permission::Subtickets).map_err(subticket_error)?;
    let body = json_object(&req)?;
    let (Some(parent_id), Some(child_id)) =
        (id_field(&body, "parent_id"), id_field(&body, "child_id"))
    else {
        return Err(Error::bad_input("Invalid parent_id or child_id"));
    };
    if parent_id == child_id {
        return Err(Error::bad_input(
            "Parent and child ticket cannot be the same",
        ));
    }
    let h = helpdesk(cx, &consumer);
    let parent = h
        .get(&parent_id)
        .await
        .map_err(|e| renamed_not_found(subticket_error(e), "Parent ticket not found"))?;
    let child = h
        .get(&child_id)
        .await
        .map_err(|e| renamed_not_found(subticket_error(e), "Child ticket not found"))?;
    if let Some(existing) = h.parent(&child.id).await.map_err(subticket_error)? {
        return Err(Error::conflict(format!(
            "Child ticket already has a parent (Ticket #{})",
            existing.number
        )));
    }
    // Walking up from the new parent must not reach the child.
    let mut cursor = h.parent(&parent.id).await.map_err(subticket_error)?;
    let mut depth = 0;
    while let Some(up) = cursor {
        if up.id == child.id || depth > MAX_CHAIN {
            return Err(Error::conflict(
                "Circular dependency detected: Cannot make parent a child of its descendant",
            ));
        }
        cursor = h.parent(&up.id).await.map_err(subticket_error)?;
        depth += 1;
    }
    h.link(&parent.id, &child.id)
        .await
        .map_err(subticket_error)?;
    let parent = h.get(&parent.id).await.unwrap_or(parent);
    let child = h.get(&child.id).await.unwrap_or(child);
    Ok(plugin_response(
        201,
        OutFormat::Json,
        &LinkResponse {
            success: true,
            message: "Subticket relationship created successfully".to_owned(),
            parent: TicketBrief::short(&parent),
            child: TicketBrief::short(&child),
        },
    ))
}

async fn unlink(req: Request<Bytes>, cx: &dyn GatewayContext) -> Result<Response<Bytes>, Error> {
    let consumer = authorize(cx, req.headers(), Permission::Subtickets).map_err(subticket_error)?;
    let body = json_object(&req)?;
    let Some(child_id) = id_field(&body, "child_id") else {
        return Err(Error::bad_input("Invalid child_id"));
    };
    let h = helpdesk(cx, &consumer);
    let child = h
        .get(&child_id)
        .await
        .map_err(|e| renamed_not_found(subticket_error(e), "Child ticket not found"))?;
    let Some(parent) = h.parent(&child.id).await.map_err(subticket_error)? else {
        return Err(Error::not_found("Ticket has no parent relationship"));
    };
    h.unlink(&parent.id, &child.id)
        .await
        .map_err(subticket_error)?;
    let child = h.get(&child.id).await.unwrap_or(child);
    Ok(plugin_response(
        200,
        OutFormat::Json,
        &UnlinkResponse {
            success: true,
            message: "Subticket relationship removed successfully".to_owned(),
            child: TicketBrief::short(&child),
            former_parent: TicketBrief {
                ticket_id: WireId::new(&parent.id),
                number: parent.number.clone(),
                ..TicketBrief::default()
            },
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_parameters() {
        let q = search_query(
            "query=login&status=Open&limit=50&offset=20&sortBy=priority&sortOrder=asc",
        )
        .unwrap();
        assert_eq!(q.text.as_deref(), Some("login"));
        assert_eq!(q.states, vec![State::New, State::Open, State::Pending]);
        assert_eq!((q.limit, q.offset), (50, 20));
        assert_eq!((q.sort, q.order), (SortField::Priority, SortOrder::Asc));
        let e = search_query("limit=101").unwrap_err();
        assert_eq!(e.message, "Invalid limit parameter (max: 100)");
        assert!(search_query("sortOrder=sideways").is_err());
        assert!(search_query("priorityId=High").is_err());
        assert_eq!(search_query("").unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn stats_windows() {
        let (q, r, _) = stats_window("startDate=2025-01-01&endDate=2025-03-31").unwrap();
        assert_eq!(r.label, "Custom range");
        assert_eq!(
            q.until.unwrap().format("%Y-%m-%d").to_string(),
            "2025-04-01"
        );
        assert!(stats_window("dateRange=decade").is_err());
        assert_eq!(
            stats_window("dateRange=all").unwrap().0,
            StatsQuery::default()
        );
    }
}
