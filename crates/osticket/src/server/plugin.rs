//! The API Endpoints plugin's endpoints (create is the core route's), answered the way
//! the real plugin v2.3.4 answers them on osTicket 1.18.1.
//!
//! Each endpoint checks, in the plugin's order: the path (`/{number}.json|xml`, or
//! nothing for search, stats and statuses: `400 {"error":true,"message":"Invalid URL
//! format…"}`), the method (`405 … Use GET`), the JSON body where there is one, then the
//! key and its permission. Successes are JSON (or XML by the extension), except update
//! and delete, which answer the ticket number as `text/plain`. Errors are always
//! `application/json` `{"error": true, "message": "…"}`; a missing or unknown key is
//! osTicket's own `401 text/html` "Valid API key required", a key without the
//! permission the plugin's `401` "API key not authorized to …".
//!
//! Not imitated, on purpose (see the README): the create route's missing key check
//! (that one is the core route's, and checks keys), the unroutable
//! `PATCH /api/tickets/{n}.json` (osTicket's `400 URL not supported` stays), the
//! subticket endpoints' PHP crash (ticketgate answers what their source means to
//! answer), partial updates (every field is checked before anything is changed), and a
//! `topicId` that is accepted but never saved (ticketgate saves it).

use super::{OsticketServer, authorize, query_pairs, with_retry_after};
use crate::decode::parse_due_date;
use crate::wire::{
    ChildrenResponse, LinkResponse, ParentResponse, PersonName, SearchItem, StaffStats,
    StatsResponse, StatusView, TicketBrief, TicketView, UnlinkResponse, WireId, osticket_state,
    to_plugin_xml,
};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use ticketgate_model::{
    Consumer, DeleteMode, Error, ErrorKind, GatewayContext, Helpdesk, LookupItem, LookupKind,
    Permission, Query, Reference, SortField, SortOrder, State, Ticket, TicketPatch,
};

/// The plugin's page size: 20 by default, at most 100.
const MAX_LIMIT: u32 = 100;
const DEFAULT_LIMIT: u32 = 20;
/// The most tickets the statistics walk through (the plugin counts every ticket).
const MAX_STATS_TICKETS: u32 = 100_000;
/// The most subtickets listed with a fetched ticket.
const MAX_CHILDREN: usize = 1_000;

const JSON: &str = "application/json; charset=UTF-8";
const XML: &str = "application/xml; charset=UTF-8";
const TEXT: &str = "text/plain; charset=UTF-8";

/// What a URL asks for: JSON or XML by the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Json,
    Xml,
}

/// An endpoint's URL shape: a ticket number with an extension, or nothing after the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Number(&'static str),
    Bare,
}

fn shape(endpoint: &str) -> Option<(Shape, &'static [Method])> {
    Some(match endpoint {
        "tickets-get.php" => (
            Shape::Number("tickets-get.php/{ticket_number}"),
            &[Method::GET],
        ),
        "tickets-update.php" => (
            Shape::Number("tickets-update.php/{ticket_number}"),
            &[Method::PATCH, Method::PUT],
        ),
        "tickets-delete.php" => (
            Shape::Number("tickets-delete.php/{ticket_number}"),
            &[Method::DELETE],
        ),
        "tickets-subtickets-parent.php" => (
            Shape::Number("tickets-subtickets-parent.php/{child_ticket_number}"),
            &[Method::GET],
        ),
        "tickets-subtickets-list.php" => (
            Shape::Number("tickets-subtickets-list.php/{parent_ticket_number}"),
            &[Method::GET],
        ),
        "tickets-subtickets-create.php" => (
            Shape::Number("tickets-subtickets-create.php/{parent_ticket_number}"),
            &[Method::POST],
        ),
        "tickets-subtickets-unlink.php" => (
            Shape::Number("tickets-subtickets-unlink.php/{child_ticket_number}"),
            &[Method::DELETE],
        ),
        "tickets-search.php" | "tickets-stats.php" | "tickets-statuses.php" => {
            (Shape::Bare, &[Method::GET])
        }
        _ => return None,
    })
}

/// `{number}.{json|xml}`: the plugin's `#^/(?P<number>[^/.]+)\.(?P<format>json|xml)$#`.
fn number_and_format(arg: Option<&str>) -> Option<(&str, Format)> {
    let (number, ext) = arg?.rsplit_once('.')?;
    if number.is_empty() || number.contains(['/', '.']) {
        return None;
    }
    match ext {
        "json" => Some((number, Format::Json)),
        "xml" => Some((number, Format::Xml)),
        _ => None,
    }
}

pub(super) async fn handle(
    _face: &OsticketServer,
    endpoint: &str,
    arg: Option<&str>,
    req: Request<Bytes>,
    cx: &dyn GatewayContext,
) -> Response<Bytes> {
    let Some((url_shape, methods)) = shape(endpoint) else {
        return super::text_response(400, "URL not supported");
    };
    let (number, format) = match url_shape {
        Shape::Number(expected) => match number_and_format(arg) {
            Some(nf) => nf,
            None => {
                return error(&Error::bad_input(format!(
                    "Invalid URL format. Expected: /api/{expected}.json"
                )));
            }
        },
        // Search, stats and statuses take nothing after the file name.
        Shape::Bare if arg.is_some() => return error(&Error::bad_input("Invalid URL format")),
        Shape::Bare => ("", Format::Json),
    };
    if !methods.contains(req.method()) {
        let names: Vec<&str> = methods.iter().map(Method::as_str).collect();
        return with_status(
            error(&Error::bad_input(format!(
                "Method Not Allowed. Use {}",
                names.join(", ")
            ))),
            405,
        );
    }
    let result = match endpoint {
        "tickets-get.php" => get(&req, cx, number, format).await,
        "tickets-update.php" => update(&req, cx, number).await,
        "tickets-delete.php" => delete(&req, cx, number).await,
        "tickets-search.php" => search(&req, cx).await,
        "tickets-stats.php" => stats(&req, cx).await,
        "tickets-statuses.php" => statuses(&req, cx).await,
        "tickets-subtickets-parent.php" => parent(&req, cx, number, format).await,
        "tickets-subtickets-list.php" => children(&req, cx, number, format).await,
        "tickets-subtickets-create.php" => link(&req, cx, number, format).await,
        _ => unlink(&req, cx, number, format).await,
    };
    result.unwrap_or_else(|e| error(&e))
}

fn with_status(mut r: Response<Bytes>, status: u16) -> Response<Bytes> {
    if let Ok(s) = StatusCode::from_u16(status) {
        *r.status_mut() = s;
    }
    r
}

fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Bytes> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .expect("a static header on a valid status is a valid response")
}

/// A success in the URL's format (`ApiBootstrap::sendSuccessResponse`).
fn success<T: Serialize>(format: Format, value: &T) -> Response<Bytes> {
    match format {
        Format::Json => respond(
            200,
            JSON,
            serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec()),
        ),
        Format::Xml => respond(200, XML, to_plugin_xml(value)),
    }
}

/// A ticket number as the plugin answers an update or a delete.
fn number_text(number: &str) -> Response<Bytes> {
    respond(200, TEXT, number.to_owned())
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: bool,
    message: &'a str,
}

/// Where a key without a permission is refused with 401 (the plugin's `PermissionChecker`)
/// rather than 403.
const NOT_AUTHORIZED_TO: &str = "API key not authorized to ";

/// An error the plugin's way (`ApiBootstrap::sendErrorResponse`): always JSON, even for
/// an `.xml` URL. A missing or unknown key, or one used from elsewhere than its address,
/// is osTicket's own bare-text 401 (osTicket binds keys to an address).
pub(super) fn error(e: &Error) -> Response<Bytes> {
    let unknown_key = e.kind == ErrorKind::Unauthorized
        || (e.kind == ErrorKind::Forbidden && e.field.as_deref() == Some("network"));
    if unknown_key {
        return with_retry_after(super::text_response(401, "Valid API key required"), e);
    }
    let (status, message) = match e.kind {
        ErrorKind::Forbidden if e.message.starts_with(NOT_AUTHORIZED_TO) => {
            (401, e.message.as_str())
        }
        // The gateway's own reason may name a network or a permission: not for the caller.
        ErrorKind::Forbidden if e.message.starts_with("API key not authorized") => {
            (403, e.message.as_str())
        }
        ErrorKind::Forbidden => (403, "API key not authorized"),
        ErrorKind::RateLimited => (429, "Rate limit exceeded"),
        ErrorKind::Internal => (500, "Internal server error"),
        _ => (e.http_status(), e.message.as_str()),
    };
    let body = serde_json::to_vec(&ErrorBody {
        error: true,
        message,
    })
    .unwrap_or_default();
    with_retry_after(respond(status, JSON, body), e)
}

/// The key, and the permission the plugin names in its refusal.
async fn authorized(
    cx: &dyn GatewayContext,
    req: &Request<Bytes>,
    need: Permission,
    what: &str,
) -> Result<Consumer, Error> {
    authorize(cx, req.headers(), need)
        .await
        .map_err(|e| match e.kind {
            ErrorKind::Forbidden if e.field.as_deref() != Some("network") => {
                if need == Permission::Subtickets {
                    Error::forbidden("API key not authorized for subticket operations")
                } else {
                    not_authorized_to(what)
                }
            }
            _ => e,
        })
}

/// The plugin's refusal of a known key without the permission for `what` (a 401).
pub(super) fn not_authorized_to(what: &str) -> Error {
    Error::forbidden(format!("{NOT_AUTHORIZED_TO}{what}"))
}

fn helpdesk(cx: &dyn GatewayContext, c: &Consumer) -> Arc<dyn Helpdesk> {
    cx.helpdesk(c)
}

/// A number or an id as the plugin takes it: word characters only.
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

/// The plugin looks a key up as a ticket number first, then (get and delete) as an id.
async fn find(
    h: &dyn Helpdesk,
    key: &str,
    by_id_too: bool,
    missing: &str,
) -> Result<Ticket, Error> {
    if !valid_key(key) {
        return Err(Error::not_found(missing));
    }
    match h.get_by_number(key).await {
        Ok(t) => return Ok(t),
        Err(e) if is_not_found(&e) || e.kind == ErrorKind::Unsupported => {}
        Err(e) => return Err(e),
    }
    if !by_id_too {
        return Err(Error::not_found(missing));
    }
    match h.get(key).await {
        Ok(t) => Ok(t),
        Err(e) if is_not_found(&e) => Err(Error::not_found(missing)),
        Err(e) => Err(e),
    }
}

async fn get(
    req: &Request<Bytes>,
    cx: &dyn GatewayContext,
    number: &str,
    format: Format,
) -> Result<Response<Bytes>, Error> {
    let consumer = authorized(cx, req, Permission::Read, "read tickets").await?;
    let h = helpdesk(cx, &consumer);
    let t = find(h.as_ref(), number, true, "Ticket not found").await?;
    // Subtickets are part of the answer; an upstream without them has none to show.
    let mut kids = h.children(&t.id).await.unwrap_or_default();
    kids.truncate(MAX_CHILDREN);
    let view = TicketView::from_ticket(&t, &kids);
    Ok(match format {
        Format::Json => success(format, &view),
        Format::Xml => success(format, &view.for_xml()),
    })
}

/// The body of an update or a link (`ApiBootstrap::parseJsonBody(required: true)`).
fn json_body(req: &Request<Bytes>) -> Result<Map<String, Value>, Error> {
    let body = req.body();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::bad_input("No data provided"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) if m.is_empty() => {
            Err(Error::bad_input("No data provided in JSON body"))
        }
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null | Value::Bool(false)) => {
            Err(Error::bad_input("No data provided in JSON body"))
        }
        Ok(Value::Array(a)) if a.is_empty() => {
            Err(Error::bad_input("No data provided in JSON body"))
        }
        Ok(_) => Err(Error::bad_input("Request body must be a JSON object")),
        Err(_) => Err(Error::bad_input("Invalid JSON: Syntax error")),
    }
}

/// A name-or-id value as the plugin takes it (a number, digits, or a name).
fn name_or_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Resolve a name or an id against the helpdesk's look-up list, as the plugin's
/// validator does: an unknown one is `404 "<Label> '<name>' not found"` (by name) or
/// `404 "<Label> not found"` (by id). An upstream without the list takes the value as is.
async fn resolve(
    h: &dyn Helpdesk,
    kind: LookupKind,
    label: &str,
    value: &str,
) -> Result<Reference, Error> {
    let by_id = value.bytes().all(|b| b.is_ascii_digit());
    let items = match h.lookup(kind).await {
        Ok(items) => items,
        Err(e) if e.kind == ErrorKind::Unsupported => {
            return Ok(if by_id {
                Reference::id(value)
            } else {
                Reference::name(value)
            });
        }
        Err(e) => return Err(e),
    };
    let found = items.iter().find(|i| {
        if by_id {
            i.id == value
        } else {
            i.name.eq_ignore_ascii_case(value)
        }
    });
    match found {
        Some(i) => Ok(Reference {
            id: Some(i.id.clone()),
            name: Some(i.name.clone()),
        }),
        None if by_id => Err(Error::not_found(format!("{label} not found"))),
        None => Err(Error::not_found(format!("{label} '{value}' not found"))),
    }
}

async fn update(
    req: &Request<Bytes>,
    cx: &dyn GatewayContext,
    number: &str,
) -> Result<Response<Bytes>, Error> {
    let body = json_body(req)?;
    let consumer = authorized(cx, req, Permission::Update, "update tickets").await?;
    let h = helpdesk(cx, &consumer);
    // The update endpoint looks tickets up by number only.
    let t = find(h.as_ref(), number, false, "Ticket not found").await?;
    let mut patch = TicketPatch::default();
    let fields: [(&str, LookupKind, &str); 5] = [
        ("departmentId", LookupKind::Departments, "Department"),
        ("topicId", LookupKind::Topics, "Help Topic"),
        ("statusId", LookupKind::Statuses, "Status"),
        ("slaId", LookupKind::Slas, "SLA"),
        ("staffId", LookupKind::Agents, "Staff member"),
    ];
    // Every field is checked before anything changes (the plugin applies them one by
    // one and can stop half-way).
    for (key, kind, label) in fields {
        let Some(value) = body.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        let Some(value) = name_or_id(value) else {
            return Err(Error::bad_input(format!("Invalid {key}")).field(key));
        };
        let r = resolve(h.as_ref(), kind, label, &value).await?;
        let slot = match key {
            "departmentId" => &mut patch.department,
            "topicId" => &mut patch.topic,
            "statusId" => &mut patch.status,
            "slaId" => &mut patch.sla,
            _ => &mut patch.assignee,
        };
        *slot = Some(r);
    }
    match body.get("dueDate") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_str().and_then(parse_due_date) {
            Some(d) => patch.due_at = Some(d),
            None => {
                return Err(Error::bad_input(
                    "Invalid date format for dueDate. Expected ISO 8601 format \
                     (e.g., \"2025-01-31\" or \"2025-01-31T17:30:00\")",
                )
                .field("dueDate"));
            }
        },
    }
    if let Some(note) = body.get("note").and_then(Value::as_str)
        && !note.trim().is_empty()
    {
        patch.note = Some(note.to_owned());
    }
    let parent = match body.get("parentTicketNumber").filter(|v| !v.is_null()) {
        None => None,
        Some(v) => {
            let key = name_or_id(v).unwrap_or_default();
            let p = find(h.as_ref(), &key, false, "Parent ticket not found").await?;
            if p.id == t.id {
                return Err(Error::bad_input("Cannot link ticket to itself"));
            }
            if h.parent(&p.id).await.ok().flatten().is_some() {
                return Err(Error::bad_input(
                    "Parent ticket cannot be a child of another ticket",
                ));
            }
            Some(p)
        }
    };
    // Fields the plugin does not update (priority, subject, …) are ignored, as it does.
    if !patch.is_empty() {
        h.update(&t.id, patch).await?;
    }
    if let Some(p) = parent {
        let current = known_parent(h.as_ref(), &t.id).await?;
        if current.as_ref().is_none_or(|c| c.id != p.id) {
            if let Some(old) = current {
                h.unlink(&old.id, &t.id).await?;
            }
            h.link(&p.id, &t.id).await?;
        }
    }
    Ok(number_text(&t.number))
}

async fn delete(
    req: &Request<Bytes>,
    cx: &dyn GatewayContext,
    number: &str,
) -> Result<Response<Bytes>, Error> {
    let consumer = authorized(cx, req, Permission::Delete, "delete tickets").await?;
    let h = helpdesk(cx, &consumer);
    let t = find(h.as_ref(), number, true, "Ticket not found").await?;
    // The plugin deletes for good: thread entries and all.
    h.delete(&t.id, DeleteMode::Purge).await?;
    Ok(number_text(&t.number))
}

/// The first value of each query parameter, trimmed; empty ones dropped (`parseQueryParams`).
fn params(req: &Request<Bytes>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in query_pairs(req.uri().query().unwrap_or("")) {
        let v = v.trim();
        if !v.is_empty() {
            out.entry(k).or_insert_with(|| v.to_owned());
        }
    }
    out
}

/// A name or id matched against a look-up list; nothing when it matches nothing (the
/// plugin then leaves the filter out).
async fn lookup_filter(h: &dyn Helpdesk, kind: LookupKind, value: &str) -> Option<Reference> {
    let items = h.lookup(kind).await.ok()?;
    let last = value.rsplit(" / ").next().unwrap_or(value).trim();
    items
        .iter()
        .find(|i| {
            i.id == value || i.name.eq_ignore_ascii_case(value) || i.name.eq_ignore_ascii_case(last)
        })
        .map(|i| Reference {
            id: Some(i.id.clone()),
            name: Some(i.name.clone()),
        })
}

/// The plugin's search parameters → a canonical query (`TicketService::searchTickets`).
async fn search_query(h: &dyn Helpdesk, p: &BTreeMap<String, String>) -> Query {
    let mut q = Query {
        limit: DEFAULT_LIMIT,
        ..Query::default()
    };
    if let Some(text) = p.get("query") {
        q.text = Some(text.clone());
    }
    if let Some(status) = p.get("status") {
        // osTicket's one open status is every ticket still being worked on; ticketgate's
        // store tells new, open and pending apart.
        if status.eq_ignore_ascii_case("open") {
            q.states = vec![State::New, State::Open, State::Pending];
        } else {
            q.status = lookup_filter(h, LookupKind::Statuses, status).await;
        }
    }
    if let Some(d) = p.get("department") {
        q.department = lookup_filter(h, LookupKind::Departments, d).await;
    }
    q.limit = match p.get("limit").and_then(|l| l.parse::<i64>().ok()) {
        Some(l) if l >= 1 => u32::try_from(l.min(i64::from(MAX_LIMIT))).unwrap_or(MAX_LIMIT),
        _ => DEFAULT_LIMIT,
    };
    q.offset = p
        .get("offset")
        .and_then(|o| o.parse::<i64>().ok())
        .map(|o| u32::try_from(o.max(0)).unwrap_or(u32::MAX))
        .unwrap_or(0);
    (q.sort, q.order) = match p.get("sort").map(String::as_str) {
        Some("updated") => (SortField::Updated, SortOrder::Desc),
        Some("number") => (SortField::Number, SortOrder::Asc),
        _ => (SortField::Created, SortOrder::Desc),
    };
    q
}

async fn search(req: &Request<Bytes>, cx: &dyn GatewayContext) -> Result<Response<Bytes>, Error> {
    let consumer = authorized(cx, req, Permission::Search, "search tickets").await?;
    let h = helpdesk(cx, &consumer);
    let q = search_query(h.as_ref(), &params(req)).await;
    let page = h.search(&q).await?;
    let items: Vec<SearchItem> = page.items.iter().map(SearchItem::from_ticket).collect();
    Ok(success(Format::Json, &items))
}

/// osTicket's "closed" state covers resolved and closed statuses.
fn is_closed(t: &Ticket) -> bool {
    matches!(t.status.state, State::Resolved | State::Closed)
}

/// The plugin counts every ticket one by one: so does this, a page at a time.
async fn stats(req: &Request<Bytes>, cx: &dyn GatewayContext) -> Result<Response<Bytes>, Error> {
    let consumer = authorized(cx, req, Permission::Stats, "read ticket statistics").await?;
    let h = helpdesk(cx, &consumer);
    let mut out = StatsResponse::default();
    let mut staff: BTreeMap<String, StaffStats> = BTreeMap::new();
    // Newest first: the one order every helpdesk behind can page (a plugin-mode
    // osTicket sorts by -created, -updated or number only).
    let mut q = Query {
        limit: MAX_LIMIT,
        sort: SortField::Created,
        order: SortOrder::Desc,
        ..Query::default()
    };
    while q.offset < MAX_STATS_TICKETS {
        let page = h.search(&q).await?;
        let n = page.items.len();
        for t in &page.items {
            let closed = is_closed(t);
            let overdue = crate::wire::is_overdue(t);
            out.total += 1;
            if closed {
                out.closed += 1;
            } else {
                out.open += 1;
            }
            out.overdue += u64::from(overdue);
            let dept = t.department.as_ref().map(|d| d.label().to_owned());
            if let Some(d) = &dept {
                let c = out.by_department.entry(d.clone()).or_default();
                c.total += 1;
                c.open += u64::from(!closed);
                c.closed += u64::from(closed);
                c.overdue += u64::from(overdue);
            }
            if let Some(a) = &t.assignee {
                let s = staff
                    .entry(a.label().to_owned())
                    .or_insert_with(|| StaffStats {
                        staff_id: a.id.as_deref().map(WireId::new),
                        staff_name: PersonName::full(a.label(), "full", false),
                        ..StaffStats::default()
                    });
                s.total += 1;
                if let Some(d) = dept {
                    let c = s.departments.entry(d).or_default();
                    c.open += u64::from(!closed);
                    c.closed += u64::from(closed);
                    c.overdue += u64::from(overdue);
                }
            }
        }
        if n < q.limit as usize
            || (page.total_exact && u64::from(q.offset) + n as u64 >= page.total)
        {
            break;
        }
        q.offset += q.limit;
    }
    // Sorted by name, as the plugin sorts them.
    out.by_staff = staff.into_values().collect();
    Ok(success(Format::Json, &out))
}

async fn statuses(req: &Request<Bytes>, cx: &dyn GatewayContext) -> Result<Response<Bytes>, Error> {
    let consumer = authorized(cx, req, Permission::Stats, "read ticket statistics").await?;
    let items: Vec<LookupItem> = helpdesk(cx, &consumer).lookup(LookupKind::Statuses).await?;
    let list: Vec<StatusView> = items
        .iter()
        .map(|i| StatusView {
            id: WireId::new(&i.id),
            name: i.name.clone(),
            state: osticket_state(i.state.unwrap_or(State::Open)).to_owned(),
        })
        .collect();
    Ok(success(Format::Json, &list))
}

/// A ticket's parent, or none where the helpdesk cannot say (a plugin-mode osTicket
/// behind this face links subtickets but cannot read a parent back): the link is then
/// left to the helpdesk's own rules.
async fn known_parent(h: &dyn Helpdesk, id: &str) -> Result<Option<Ticket>, Error> {
    match h.parent(id).await {
        Ok(p) => Ok(p),
        Err(e) if e.kind == ErrorKind::Unsupported => Ok(None),
        Err(e) => Err(subticket_error(e)),
    }
}

/// The subticket endpoints refuse an empty number or `0` before anything else.
fn subticket_number(number: &str) -> Result<&str, Error> {
    if number.is_empty() || number == "0" {
        Err(Error::bad_input("Invalid ticket number"))
    } else {
        Ok(number)
    }
}

/// A helpdesk without subtickets is the plugin without the Subticket Manager plugin.
pub(super) fn subticket_error(e: Error) -> Error {
    match e.kind {
        ErrorKind::Unsupported => Error {
            message: "Subticket plugin not available".to_owned(),
            ..e
        },
        _ => e,
    }
}

async fn parent(
    req: &Request<Bytes>,
    cx: &dyn GatewayContext,
    number: &str,
    format: Format,
) -> Result<Response<Bytes>, Error> {
    let number = subticket_number(number)?;
    let consumer = authorized(cx, req, Permission::Subtickets, "").await?;
    let h = helpdesk(cx, &consumer);
    let child = find(h.as_ref(), number, false, "Child ticket not found").await?;
    let p = h.parent(&child.id).await.map_err(subticket_error)?;
    Ok(success(
        format,
        &ParentResponse {
            parent: p.as_ref().map(TicketBrief::of),
        },
    ))
}

async fn children(
    req: &Request<Bytes>,
    cx: &dyn GatewayContext,
    number: &str,
    format: Format,
) -> Result<Response<Bytes>, Error> {
    let number = subticket_number(number)?;
    let consumer = authorized(cx, req, Permission::Subtickets, "").await?;
    let h = helpdesk(cx, &consumer);
    let p = find(h.as_ref(), number, false, "Parent ticket not found").await?;
    let list = h.children(&p.id).await.map_err(subticket_error)?;
    Ok(success(
        format,
        &ChildrenResponse {
            children: list.iter().map(TicketBrief::of).collect(),
        },
    ))
}

async fn link(
    req: &Request<Bytes>,
    cx: &dyn GatewayContext,
    parent_number: &str,
    format: Format,
) -> Result<Response<Bytes>, Error> {
    let body = json_body(req)?;
    let child_number = body.get("childId").and_then(name_or_id).unwrap_or_default();
    if child_number.is_empty() || child_number == "0" {
        return Err(Error::bad_input("Missing childId in request body"));
    }
    if parent_number == "0" {
        return Err(Error::bad_input("Invalid parent ticket number"));
    }
    if parent_number == child_number {
        return Err(Error::bad_input("Cannot link ticket to itself"));
    }
    let consumer = authorized(cx, req, Permission::Subtickets, "").await?;
    let h = helpdesk(cx, &consumer);
    let parent = find(h.as_ref(), parent_number, false, "Parent ticket not found").await?;
    let child = find(h.as_ref(), &child_number, false, "Child ticket not found").await?;
    // The plugin answers these two with 422, a status no canonical error kind carries.
    let refused = match known_parent(h.as_ref(), &child.id).await? {
        Some(p) if p.id == parent.id => Some("Subticket relationship already exists"),
        Some(_) => Some("Child ticket already has a different parent"),
        None => None,
    };
    if let Some(message) = refused {
        return Ok(with_status(error(&Error::conflict(message)), 422));
    }
    h.link(&parent.id, &child.id)
        .await
        .map_err(subticket_error)?;
    Ok(success(
        format,
        &LinkResponse {
            success: true,
            message: "Subticket relationship created successfully".to_owned(),
            parent: TicketBrief::of(&parent),
            child: TicketBrief::of(&child),
        },
    ))
}

async fn unlink(
    req: &Request<Bytes>,
    cx: &dyn GatewayContext,
    number: &str,
    format: Format,
) -> Result<Response<Bytes>, Error> {
    let number = subticket_number(number)?;
    let consumer = authorized(cx, req, Permission::Subtickets, "").await?;
    let h = helpdesk(cx, &consumer);
    let child = find(h.as_ref(), number, false, "Child ticket not found").await?;
    let Some(parent) = h.parent(&child.id).await.map_err(subticket_error)? else {
        return Err(Error::not_found("Child has no parent to unlink"));
    };
    h.unlink(&parent.id, &child.id)
        .await
        .map_err(subticket_error)?;
    Ok(success(
        format,
        &UnlinkResponse {
            success: true,
            message: "Subticket relationship removed successfully".to_owned(),
            child: TicketBrief::of(&child),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_shapes() {
        assert_eq!(
            number_and_format(Some("123456.json")),
            Some(("123456", Format::Json))
        );
        assert_eq!(
            number_and_format(Some("123456.xml")),
            Some(("123456", Format::Xml))
        );
        assert_eq!(number_and_format(Some("123456")), None);
        assert_eq!(number_and_format(Some("1.2.json")), None);
        assert_eq!(number_and_format(Some(".json")), None);
        assert_eq!(number_and_format(None), None);
    }

    #[test]
    fn errors_are_the_plugins() {
        let r = error(&Error::not_found("Ticket not found"));
        assert_eq!(r.status(), 404);
        assert_eq!(
            r.body().as_ref(),
            br#"{"error":true,"message":"Ticket not found"}"#
        );
        let r = error(&Error::unauthorized("credentials are required"));
        assert_eq!(
            (r.status().as_u16(), r.body().as_ref()),
            (401, &b"Valid API key required"[..])
        );
        let r = error(&Error::forbidden("API key not authorized to read tickets"));
        assert_eq!(r.status(), 401);
        let r = error(&Error::forbidden(
            "API key not authorized for subticket operations",
        ));
        assert_eq!(r.status(), 403);
        let r = error(&Error::forbidden("elsewhere").field("network"));
        assert_eq!(r.status(), 401);
        assert_eq!(r.body().as_ref(), b"Valid API key required");
        let r = error(&Error::internal("secret detail"));
        assert!(!String::from_utf8_lossy(r.body()).contains("secret"));
    }
}
