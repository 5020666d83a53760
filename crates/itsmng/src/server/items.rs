//! Itemtype routes: Ticket CRUD (single and batch), its sub-items, ITILFollowup,
//! ITILSolution, Document uploads, actors (Ticket_User, Group_Ticket) and the
//! dropdowns (ITILCategory, Location, User, Group, Entity, RequestType, SLA).

use super::{Call, Outcome, Reply, listing};
use crate::errors::{ApiError, Stage};
use crate::mapping::{self, ActorChange, SessionDefaults, as_i64, id_value};
use crate::params::list;
use http::Method;
use serde_json::{Map, Value, json};
use ticketgate_model::{
    Attachment, Closure, Consumer, CreateOptions, Created, Error, ErrorKind, Helpdesk, LookupItem,
    LookupKind, Permission, State, Ticket, TicketPatch,
};

/// The dropdown itemtypes the face serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropdown {
    ItilCategory,
    Location,
    User,
    Group,
    Entity,
    RequestType,
    Sla,
}

impl Dropdown {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "itilcategory" => Dropdown::ItilCategory,
            "location" => Dropdown::Location,
            "user" => Dropdown::User,
            "group" => Dropdown::Group,
            "entity" => Dropdown::Entity,
            "requesttype" => Dropdown::RequestType,
            "sla" => Dropdown::Sla,
            _ => return None,
        })
    }

    pub fn itemtype(self) -> &'static str {
        match self {
            Dropdown::ItilCategory => "ITILCategory",
            Dropdown::Location => "Location",
            Dropdown::User => "User",
            Dropdown::Group => "Group",
            Dropdown::Entity => "Entity",
            Dropdown::RequestType => "RequestType",
            Dropdown::Sla => "SLA",
        }
    }

    /// The canonical look-up behind it; entity and request type are fixed lists.
    pub fn lookup_kind(self) -> Option<LookupKind> {
        match self {
            Dropdown::ItilCategory => Some(LookupKind::Categories),
            Dropdown::Location => Some(LookupKind::Locations),
            Dropdown::User => Some(LookupKind::Agents),
            Dropdown::Group => Some(LookupKind::Groups),
            Dropdown::Sla => Some(LookupKind::Slas),
            Dropdown::Entity | Dropdown::RequestType => None,
        }
    }
}

/// Other itemtypes of a real install: known, but not served by the gateway.
const KNOWN_ITEMTYPES: &[&str] = &[
    "computer",
    "monitor",
    "printer",
    "phone",
    "networkequipment",
    "problem",
    "change",
    "profile",
    "manufacturer",
    "software",
    "tickettask",
    "ticketvalidation",
];

pub async fn dispatch(call: &Call<'_>, resource: &str, rest: &[&str]) -> Outcome {
    let lower = resource.to_ascii_lowercase();
    let m = call.method.clone();
    match (lower.as_str(), rest) {
        ("ticket", []) => match m {
            Method::POST => create_tickets(call).await,
            Method::PUT | Method::PATCH => update_tickets(call, None).await,
            Method::DELETE => delete_tickets(call, None).await,
            _ => listing::list_tickets(call).await,
        },
        ("ticket", [id]) => match m {
            Method::POST => Err(ApiError::bad_request("Bad Request")),
            Method::PUT | Method::PATCH => update_tickets(call, Some(id)).await,
            Method::DELETE => delete_tickets(call, Some(id)).await,
            _ => get_ticket(call, id).await,
        },
        ("ticket", [id, sub, ..]) => ticket_subitems(call, id, sub).await,
        ("itilfollowup", []) if m == Method::POST => add_each(call, AddKind::Followup).await,
        ("itilsolution", []) if m == Method::POST => add_each(call, AddKind::Solution).await,
        ("document", []) if m == Method::POST => add_document(call).await,
        ("document", [id]) if m == Method::GET => get_document(call, id).await,
        ("document_item", []) if m == Method::POST => add_each(call, AddKind::DocumentItem).await,
        ("tickettask", []) if m == Method::POST => add_each(call, AddKind::Task).await,
        ("ticket_user", []) if m == Method::POST => {
            add_each(call, AddKind::Actor { group: false }).await
        }
        ("group_ticket", []) if m == Method::POST => {
            add_each(call, AddKind::Actor { group: true }).await
        }
        (
            "itilfollowup" | "itilsolution" | "document" | "document_item" | "ticket_user"
            | "group_ticket",
            _,
        ) => Err(ApiError::unsupported(format!(
            "{} {resource} is not supported by ticketgate",
            call.method
        ))),
        _ => match Dropdown::parse(resource) {
            Some(d) if m == Method::GET => match rest {
                [] => listing::list_dropdown(call, d).await,
                [id] => get_dropdown(call, d, id).await,
                _ => Err(ApiError::itemtype_not_found()),
            },
            Some(d) => Err(ApiError::unsupported(format!(
                "{} {} is not supported by ticketgate",
                call.method,
                d.itemtype()
            ))),
            None if KNOWN_ITEMTYPES.contains(&lower.as_str()) => Err(ApiError::unsupported(
                format!("the {resource} itemtype is not served by ticketgate"),
            )),
            None => Err(ApiError::resource_not_found()),
        },
    }
}

/// Whether a canonical error belongs to one item (reported in its result entry)
/// rather than to the whole request.
fn is_item_failure(e: &Error) -> bool {
    matches!(
        e.kind,
        ErrorKind::BadInput
            | ErrorKind::Conflict
            | ErrorKind::NotFound
            | ErrorKind::UpstreamRejected
            | ErrorKind::UnsupportedMediaType
            | ErrorKind::PayloadTooLarge
    )
}

/// The `input` parameter as a list of items, and whether it was a single object.
fn inputs(call: &Call<'_>) -> Result<(Vec<Map<String, Value>>, bool), ApiError> {
    let input = call.params.get("input").ok_or_else(ApiError::bad_array)?;
    match input {
        Value::Object(o)
            if !o.is_empty() && o.keys().all(|k| k.bytes().all(|b| b.is_ascii_digit())) =>
        {
            Ok((objects(input)?, false))
        }
        Value::Object(o) => Ok((vec![o.clone()], true)),
        Value::Array(_) => Ok((objects(input)?, false)),
        _ => Err(ApiError::bad_array()),
    }
}

fn objects(v: &Value) -> Result<Vec<Map<String, Value>>, ApiError> {
    list(v)
        .into_iter()
        .map(|i| i.as_object().cloned().ok_or_else(ApiError::bad_array))
        .collect()
}

/// The message of an item refused for want of the right.
const NO_RIGHT: &str = "You don't have permission to perform this action.";

/// An add by a consumer without the right: every item fails.
fn denied_add(call: &Call<'_>, itemtype: &str) -> Outcome {
    let (items, single) = inputs(call)?;
    let results = items
        .iter()
        .map(|_| json!({"id": false, "message": NO_RIGHT}))
        .collect();
    add_reply(call, itemtype, results, single)
}

/// An update or delete by a consumer without the right: every item fails.
fn denied_change(
    call: &Call<'_>,
    path_id: Option<&str>,
    code: &'static str,
    partial: &'static str,
) -> Outcome {
    let (items, single) = match path_id {
        Some(id) if call.method == Method::DELETE => {
            let mut m = Map::new();
            m.insert("id".into(), json!(id));
            (vec![m], true)
        }
        _ => {
            let (mut items, single) = inputs(call)?;
            if let (Some(id), true, Some(first)) = (path_id, single, items.first_mut()) {
                first.entry("id").or_insert_with(|| json!(id));
            }
            (items, single)
        }
    };
    let results = items
        .iter()
        .map(|i| match item_id(i) {
            Some(id) => entry(&id, false, NO_RIGHT),
            None => json!([]),
        })
        .collect();
    change_reply(results, single, code, partial)
}

/// The answer to an add: single 201 + Location, batch 201 + link, 207 partial, 400.
fn add_reply(call: &Call<'_>, itemtype: &str, results: Vec<Value>, single: bool) -> Outcome {
    let ok = |r: &Value| !matches!(r.get("id"), Some(Value::Bool(false)) | None);
    let href = |r: &Value| {
        let id = r.get("id").and_then(mapping::as_text).unwrap_or_default();
        format!("{}/{itemtype}/{id}", call.api_url)
    };
    if single {
        let r = results.into_iter().next().unwrap_or(Value::Null);
        if r.get("queued").is_some() {
            return Ok(Reply::json(202, r));
        }
        if ok(&r) {
            let location = href(&r);
            return Ok(Reply::json(201, r).header("location", location));
        }
        let message = r.get("message").cloned().unwrap_or(Value::Null);
        return Err(ApiError::with_value("ERROR_GLPI_ADD", 400, message));
    }
    let failed = results.iter().filter(|r| !ok(r)).count();
    if results.is_empty() || failed == results.len() {
        return Err(ApiError::with_value(
            "ERROR_GLPI_ADD",
            400,
            Value::Array(results),
        ));
    }
    if failed > 0 {
        return Err(ApiError::with_value(
            "ERROR_GLPI_PARTIAL_ADD",
            207,
            Value::Array(results),
        ));
    }
    let links: Vec<String> = results.iter().map(href).collect();
    Ok(Reply::json(201, Value::Array(results)).header("link", links.join(",")))
}

/// The answer to an update or delete: the per-item entries `{"<id>": bool, "message"}`.
fn change_reply(
    results: Vec<Value>,
    single: bool,
    code: &'static str,
    partial: &'static str,
) -> Outcome {
    let ok = |r: &Value| {
        r.as_object().is_some_and(|o| {
            o.iter()
                .any(|(k, v)| k != "message" && v == &Value::Bool(true))
        })
    };
    if single {
        return match results.into_iter().next() {
            Some(r) if ok(&r) => Ok(Reply::json(200, json!([r]))),
            Some(r) => Err(ApiError::with_value(
                code,
                400,
                r.get("message").cloned().unwrap_or(Value::Null),
            )),
            None => Err(ApiError::with_value(code, 400, Value::Null)),
        };
    }
    let failed = results.iter().filter(|r| !ok(r)).count();
    if results.is_empty() || failed == results.len() {
        Err(ApiError::with_value(code, 400, Value::Array(results)))
    } else if failed > 0 {
        Err(ApiError::with_value(partial, 207, Value::Array(results)))
    } else {
        Ok(Reply::json(200, Value::Array(results)))
    }
}

fn files_as_attachments(call: &Call<'_>) -> Vec<Attachment> {
    call.params
        .files
        .iter()
        .map(|f| Attachment {
            id: None,
            name: f.filename.clone(),
            media_type: f.media_type.clone(),
            bytes: f.bytes.clone(),
            inline: false,
            content_id: None,
        })
        .collect()
}

/// What GLPI answers for each uploaded file: its stored name (a unique prefix and the
/// file's name), size, type, where it can be fetched, and its display name.
fn upload_result(call: &Call<'_>, document: Option<&str>) -> Value {
    let files: Vec<Value> = call
        .params
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let prefix = upload_prefix(i);
            let name = format!("{prefix}{}", f.filename);
            let url = match document {
                Some(id) => format!("{}/Document/{id}?alt=media", call.api_url),
                None => format!("{}/Ticket", call.api_url),
            };
            json!({
                "name": name,
                "size": f.bytes.len(),
                "type": f.media_type,
                "url": url,
                "deleteUrl": format!("{}?filenam={name}", call.api_url),
                "deleteType": "DELETE",
                "prefix": prefix,
                "display": f.filename,
                "filesize": file_size(f.bytes.len()),
                "id": format!("docfilename{}", u32::from_le_bytes(random4())),
            })
        })
        .collect();
    json!({"filename": files})
}

fn random4() -> [u8; 4] {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    b
}

/// The shape of PHP's `uniqid('', true)`, which GLPI prefixes uploads with: 13 hex
/// digits of the time, then a digit (here the file's place), a dot and 8 digits.
fn upload_prefix(i: usize) -> String {
    let now = chrono::Utc::now();
    let micros = now.timestamp_micros().unsigned_abs();
    format!(
        "{:08x}{:05x}{}.{:08}",
        micros / 1_000_000,
        micros % 1_000_000,
        i % 10,
        u32::from_le_bytes(random4()) % 100_000_000
    )
}

/// GLPI's `Toolbox::getSize`: the size in its unit (`o`, `Kio`…), two decimals at most.
pub fn file_size(bytes: usize) -> String {
    let mut size = bytes as f64;
    let mut unit = "o";
    for next in ["Kio", "Mio", "Gio", "Tio"] {
        if size > 1024.0 {
            size /= 1024.0;
            unit = next;
        } else {
            break;
        }
    }
    let rounded = (size * 100.0).round() / 100.0;
    format!("{rounded} {unit}")
}

async fn create_tickets(call: &Call<'_>) -> Outcome {
    let Some((consumer, session)) = call.writer(Permission::Create).await? else {
        return denied_add(call, "Ticket");
    };
    let (items, single) = inputs(call)?;
    let defaults = SessionDefaults {
        user: consumer.name.to_string(),
        entity: session.entity,
    };
    let mut results = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if i > 0
            && let Err(e) = call.authorize_item(&session, Permission::Create).await
        {
            results.push(json!({"id": false, "message": e.message}));
            continue;
        }
        let mut ticket = match mapping::new_ticket_from_input(item, &defaults) {
            Ok(t) => t,
            Err(message) => {
                results.push(json!({"id": false, "message": message}));
                continue;
            }
        };
        if single {
            ticket.attachments = files_as_attachments(call);
        }
        if let Some(cat) = ticket.category.take() {
            ticket.category = known_category(call, &consumer, cat).await;
        }
        let options = CreateOptions {
            idempotency_key: None,
            may_queue: false,
            // Answered with the id alone.
            brief: true,
        };
        match call.cx.create(&consumer, ticket, options).await {
            Ok(Created::Ticket(t) | Created::Replayed(t)) => {
                let mut r = json!({"id": id_value(&t.id), "message": ""});
                if single && !call.params.files.is_empty() {
                    r["upload_result"] = upload_result(call, None);
                }
                results.push(r);
            }
            Ok(Created::Queued { tracking_id }) => results.push(json!({
                "id": tracking_id,
                "message": "accepted: queued for delivery to the helpdesk",
                "queued": true
            })),
            Err(e) if is_item_failure(&e) => {
                results.push(json!({"id": false, "message": e.message}));
            }
            Err(e) => return Err(ApiError::from_canonical(&e, Stage::Add)),
        }
    }
    add_reply(call, "Ticket", results, single)
}

/// GLPI takes any `itilcategories_id` without checking it (an unknown one leaves
/// the ticket pointing at nothing). The helpdesk behind may check it, so an id its
/// categories do not have is left out rather than failing the create; when the
/// categories cannot be listed, the id is passed on as given.
async fn known_category(
    call: &Call<'_>,
    consumer: &Consumer,
    cat: ticketgate_model::Reference,
) -> Option<ticketgate_model::Reference> {
    match call
        .cx
        .helpdesk(consumer)
        .lookup(LookupKind::Categories)
        .await
    {
        Ok(items) if !items.iter().any(|i| Some(&i.id) == cat.id.as_ref()) => {
            tracing::debug!(category = ?cat.id, "itsmng: unknown itilcategories_id left out");
            None
        }
        _ => Some(cat),
    }
}

/// `getMultipleItems?items[0][itemtype]=…&items[0][items_id]=…`: each item as its
/// own `GET` answers it, in order; the first that fails fails the whole request, as
/// on GLPI.
pub async fn get_multiple(call: &Call<'_>) -> Outcome {
    let items = match call.params.get("items") {
        Some(v @ (Value::Array(_) | Value::Object(_))) => list(v),
        _ => return Err(ApiError::bad_array()),
    };
    let mut rows = Vec::with_capacity(items.len());
    for item in items {
        let itemtype = item.get("itemtype").and_then(mapping::as_text);
        let id = item.get("items_id").and_then(mapping::as_text);
        let (Some(itemtype), Some(id)) = (itemtype, id) else {
            return Err(ApiError::bad_array());
        };
        let reply = match itemtype.to_ascii_lowercase().as_str() {
            "ticket" => get_ticket(call, &id).await?,
            "document" => {
                let (consumer, _) = call.consumer(Permission::Read).await?;
                let doc = call
                    .cx
                    .helpdesk(&consumer)
                    .document(&id)
                    .await
                    .map_err(|e| ApiError::from_canonical(&e, Stage::Read))?;
                document_reply(call, &doc)
            }
            t => match Dropdown::parse(t) {
                Some(d) => get_dropdown(call, d, &id).await?,
                None => {
                    return Err(ApiError::unsupported(format!(
                        "getMultipleItems of {itemtype} is not supported by ticketgate"
                    )));
                }
            },
        };
        rows.push(reply.body.unwrap_or(Value::Null));
    }
    Ok(Reply::json(200, Value::Array(rows)))
}

async fn get_ticket(call: &Call<'_>, id: &str) -> Outcome {
    let (consumer, _) = call.consumer(Permission::Read).await?;
    let t = call
        .cx
        .helpdesk(&consumer)
        .get(id)
        .await
        .map_err(|e| ApiError::from_canonical(&e, Stage::Read))?;
    let mut row = mapping::ticket_row(&t, call.flag("expand_dropdowns", false));
    if call.flag("with_documents", false) {
        row.insert("_documents".into(), documents(&t));
    }
    if call.flag("with_logs", false) {
        // The gateway keeps no field history of its own.
        row.insert("_logs".into(), json!([]));
    }
    if call.flag("get_hateoas", true) {
        row.insert("links".into(), mapping::ticket_links(&t, &call.api_url));
    }
    let last_modified = httpdate(&t.updated_at);
    Ok(Reply::json(200, Value::Object(row)).header("last-modified", last_modified))
}

fn httpdate(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn documents(t: &Ticket) -> Value {
    Value::Array(
        t.attachments
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let id = a.id.clone().unwrap_or_else(|| (i + 1).to_string());
                json!({
                    "id": id_value(&id),
                    "name": a.name,
                    "filename": a.name,
                    "mime": a.media_type,
                    "items_id": id_value(&t.id),
                    "itemtype": "Ticket",
                })
            })
            .collect(),
    )
}

async fn ticket_subitems(call: &Call<'_>, id: &str, sub: &str) -> Outcome {
    let lower = sub.to_ascii_lowercase();
    if call.method == Method::POST && lower == "itilfollowup" {
        // The real server does not inject the parent: input carries itemtype/items_id.
        return add_each(call, AddKind::Followup).await;
    }
    if call.method == Method::POST && lower == "tickettask" {
        return add_each(call, AddKind::Task).await;
    }
    if call.method != Method::GET {
        return Err(ApiError::unsupported(format!(
            "{} /Ticket/{id}/{sub} is not supported by ticketgate",
            call.method
        )));
    }
    let (itemtype, table, rows): (&str, &str, Vec<Value>) = match lower.as_str() {
        "itilfollowup" | "ticket_user" | "document_item" | "itilsolution" | "group_ticket"
        | "tickettask" => {
            let (consumer, _) = call.consumer(Permission::Read).await?;
            let t = call
                .cx
                .helpdesk(&consumer)
                .get(id)
                .await
                .map_err(|e| ApiError::from_canonical(&e, Stage::Read))?;
            let hateoas = call.flag("get_hateoas", true);
            let ticket_link = |mut row: Map<String, Value>| {
                if hateoas {
                    row.insert(
                        "links".into(),
                        json!([{"rel": "Ticket", "href": format!("{}/Ticket/{}", call.api_url, t.id)}]),
                    );
                }
                Value::Object(row)
            };
            match lower.as_str() {
                "itilfollowup" => (
                    "ITILFollowup",
                    "glpi_itilfollowups",
                    t.entries
                        .iter()
                        .map(|e| ticket_link(mapping::followup_row(&t.id, e)))
                        .collect(),
                ),
                "itilsolution" => (
                    "ITILSolution",
                    "glpi_itilsolutions",
                    mapping::solution_rows(&t)
                        .into_iter()
                        .map(ticket_link)
                        .collect(),
                ),
                "group_ticket" => (
                    "Group_Ticket",
                    "glpi_groups_tickets",
                    mapping::group_rows(&t),
                ),
                // A helpdesk that keeps no tasks has none to list.
                "tickettask" => {
                    let tasks = match call.cx.helpdesk(&consumer).tasks(&t.id).await {
                        Ok(tasks) => tasks,
                        Err(e) if e.kind == ErrorKind::Unsupported => vec![],
                        Err(e) => return Err(ApiError::from_canonical(&e, Stage::Read)),
                    };
                    (
                        "TicketTask",
                        "glpi_tickettasks",
                        tasks
                            .iter()
                            .map(|task| ticket_link(mapping::task_row(task)))
                            .collect(),
                    )
                }
                "ticket_user" => ("Ticket_User", "glpi_tickets_users", mapping::actor_rows(&t)),
                _ => (
                    "Document_Item",
                    "glpi_documents_items",
                    mapping::document_item_rows(&t, hateoas.then_some(call.api_url.as_str())),
                ),
            }
        }
        // GLPI lists a ticket's documents through Document_Item; `/Ticket/N/Document`
        // answers an empty list, with no Content-Range.
        "document" => {
            call.consumer(Permission::Read).await?;
            return Ok(Reply::json(200, json!([])));
        }
        "ticketvalidation" | "item_ticket" => {
            return Err(ApiError::unsupported(format!(
                "listing {sub} of a ticket is not supported by ticketgate"
            )));
        }
        _ => return Err(ApiError::itemtype_not_found()),
    };
    sub_list(call, itemtype, table, rows)
}

/// A ticket's sub-items as GLPI lists them: `sort` (a column of the table, else 400),
/// `order`, `range` (400 past the end), `Content-Range`, and 206 for a part.
fn sub_list(call: &Call<'_>, itemtype: &str, table: &str, mut rows: Vec<Value>) -> Outcome {
    let p = &call.params;
    let sort = p.text("sort").unwrap_or_else(|| "id".to_owned());
    if let Some(first) = rows.first()
        && first.get(&sort).is_none()
    {
        return Err(ApiError::bad_request(&format!(
            "sort param is not a field of {table}"
        )));
    }
    let desc = match p.text("order").map(|o| o.to_ascii_uppercase()).as_deref() {
        None | Some("ASC") => false,
        Some("DESC") => true,
        Some(_) => return Err(ApiError::bad_request("order must be DESC or ASC")),
    };
    rows.sort_by(|a, b| {
        let o = compare_json(a.get(&sort), b.get(&sort));
        if desc { o.reverse() } else { o }
    });
    let total = rows.len() as u64;
    let (start, end) = listing::parse_range_param(p.get("range"))?;
    if total > 0 && start >= total || total == 0 && start > 0 {
        return Err(ApiError::range_exceed_total(total));
    }
    let last = end.min(total.saturating_sub(1));
    let page: Vec<Value> = rows
        .into_iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(usize::try_from(last.saturating_sub(start) + 1).unwrap_or(0))
        .collect();
    let mut reply = Reply::json(200, Value::Array(page)).header(
        "accept-range",
        format!("{itemtype} {}", listing::MAX_INPUT_VARS),
    );
    if total > 0 {
        reply = reply.header("content-range", format!("{start}-{last}/{total}"));
        if last + 1 - start < total {
            reply.status = 206;
        }
    }
    Ok(reply)
}

/// Column values in SQL's order: numbers as numbers, the rest as text, null first.
fn compare_json(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    match (a.and_then(as_i64), b.and_then(as_i64)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => {
            let text = |v: Option<&Value>| v.and_then(mapping::as_text).unwrap_or_default();
            text(a).cmp(&text(b))
        }
    }
}

/// The ids of update/delete items: the path id, or each item's `id`.
fn item_id(item: &Map<String, Value>) -> Option<String> {
    item.get("id")
        .and_then(mapping::as_text)
        .filter(|s| !s.is_empty())
}

async fn update_tickets(call: &Call<'_>, path_id: Option<&str>) -> Outcome {
    let Some((consumer, session)) = call.writer(Permission::Update).await? else {
        return denied_change(
            call,
            path_id,
            "ERROR_GLPI_UPDATE",
            "ERROR_GLPI_PARTIAL_UPDATE",
        );
    };
    let (mut items, single) = inputs(call)?;
    if let (Some(id), true) = (path_id, single)
        && let Some(first) = items.first_mut()
        && !first.contains_key("id")
    {
        first.insert("id".into(), json!(id));
    }
    let helpdesk = call.cx.helpdesk(&consumer);
    let mut results = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(id) = item_id(item) else {
            results.push(json!([]));
            continue;
        };
        if i > 0
            && let Err(e) = call.authorize_item(&session, Permission::Update).await
        {
            results.push(entry(&id, false, &e.message));
            continue;
        }
        let current = match helpdesk.get(&id).await {
            Ok(t) => t,
            // Not-found items are left out of the results, as the server does.
            Err(e) if e.kind == ErrorKind::NotFound => continue,
            Err(e) if is_item_failure(&e) => {
                results.push(entry(&id, false, &e.message));
                continue;
            }
            Err(e) => return Err(ApiError::from_canonical(&e, Stage::Update)),
        };
        let patch = match mapping::patch_from_input(item, Some(&current)) {
            Ok(p) => p,
            Err(message) => {
                results.push(entry(&id, false, &message));
                continue;
            }
        };
        if patch.is_empty() {
            results.push(entry(&id, true, ""));
            continue;
        }
        match helpdesk.update(&id, patch).await {
            Ok(_) => results.push(entry(&id, true, "")),
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) if is_item_failure(&e) => results.push(entry(&id, false, &e.message)),
            Err(e) => return Err(ApiError::from_canonical(&e, Stage::Update)),
        }
    }
    change_reply(
        results,
        single,
        "ERROR_GLPI_UPDATE",
        "ERROR_GLPI_PARTIAL_UPDATE",
    )
}

fn entry(id: &str, ok: bool, message: &str) -> Value {
    let mut m = Map::new();
    m.insert(id.to_owned(), Value::Bool(ok));
    m.insert("message".into(), Value::String(message.to_owned()));
    Value::Object(m)
}

async fn delete_tickets(call: &Call<'_>, path_id: Option<&str>) -> Outcome {
    let Some((consumer, session)) = call.writer(Permission::Delete).await? else {
        return denied_change(
            call,
            path_id,
            "ERROR_GLPI_DELETE",
            "ERROR_GLPI_PARTIAL_DELETE",
        );
    };
    let (items, single) = match path_id {
        Some(id) => {
            let mut m = Map::new();
            m.insert("id".into(), json!(id));
            (vec![m], true)
        }
        None => inputs(call)?,
    };
    let mode = mapping::delete_mode(call.params.get("force_purge"));
    let helpdesk = call.cx.helpdesk(&consumer);
    let mut results = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(id) = item_id(item) else {
            results.push(json!([]));
            continue;
        };
        if i > 0
            && let Err(e) = call.authorize_item(&session, Permission::Delete).await
        {
            results.push(entry(&id, false, &e.message));
            continue;
        }
        match helpdesk.delete(&id, mode).await {
            Ok(()) => results.push(entry(&id, true, "")),
            Err(e) if e.kind == ErrorKind::NotFound => {
                results.push(entry(&id, false, "Item not found"));
            }
            Err(e) if is_item_failure(&e) => results.push(entry(&id, false, &e.message)),
            Err(e) => return Err(ApiError::from_canonical(&e, Stage::Delete)),
        }
    }
    change_reply(
        results,
        single,
        "ERROR_GLPI_DELETE",
        "ERROR_GLPI_PARTIAL_DELETE",
    )
}

/// Why one item of a batch add has no id.
enum ItemError {
    /// GLPI's `{"id": false, "message": …}` for this item; the batch goes on.
    Refused(String),
    /// A canonical error: this item's message when it is the item's own failure (see
    /// [`is_item_failure`]), else the end of the whole batch.
    Failed(Error),
}

impl From<Error> for ItemError {
    fn from(e: Error) -> Self {
        ItemError::Failed(e)
    }
}

/// The item types added to a ticket by `POST /ITEMTYPE`, one input or a batch.
#[derive(Debug, Clone, Copy)]
enum AddKind {
    Followup,
    Solution,
    DocumentItem,
    Task,
    /// `Group_Ticket` when `group`, else `Ticket_User`.
    Actor {
        group: bool,
    },
}

impl AddKind {
    fn itemtype(self) -> &'static str {
        match self {
            AddKind::Followup => "ITILFollowup",
            AddKind::Solution => "ITILSolution",
            AddKind::DocumentItem => "Document_Item",
            AddKind::Task => "TicketTask",
            AddKind::Actor { group: true } => "Group_Ticket",
            AddKind::Actor { group: false } => "Ticket_User",
        }
    }

    /// Add one item and say its id in GLPI's answer. `single`: the input was a lone
    /// object (the uploaded files belong to it).
    async fn add(
        self,
        call: &Call<'_>,
        helpdesk: &dyn Helpdesk,
        item: &Map<String, Value>,
        single: bool,
    ) -> Result<Value, ItemError> {
        match self {
            AddKind::Followup => add_followup(call, helpdesk, item, single).await,
            AddKind::Solution => add_solution(helpdesk, item).await,
            AddKind::DocumentItem => add_document_item(helpdesk, item).await,
            AddKind::Task => add_task(helpdesk, item).await,
            AddKind::Actor { group } => add_actor(helpdesk, item, group).await,
        }
    }
}

/// `POST /ITEMTYPE` with one input or a batch, as GLPI answers it: the caller must be
/// allowed to update (each item of a batch is authorized again, so a quota or a
/// revoked consumer stops it mid-way), each item is added in turn, and the answer
/// lists every item's id or message in order.
async fn add_each(call: &Call<'_>, kind: AddKind) -> Outcome {
    let itemtype = kind.itemtype();
    let Some((consumer, session)) = call.writer(Permission::Update).await? else {
        return denied_add(call, itemtype);
    };
    let (items, single) = inputs(call)?;
    let helpdesk = call.cx.helpdesk(&consumer);
    let mut results = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if i > 0
            && let Err(e) = call.authorize_item(&session, Permission::Update).await
        {
            results.push(json!({"id": false, "message": e.message}));
            continue;
        }
        match kind.add(call, helpdesk.as_ref(), item, single).await {
            Ok(id) => results.push(json!({"id": id, "message": ""})),
            Err(ItemError::Refused(message)) => {
                results.push(json!({"id": false, "message": message}));
            }
            Err(ItemError::Failed(e)) if is_item_failure(&e) => {
                results.push(json!({"id": false, "message": e.message}));
            }
            Err(ItemError::Failed(e)) => return Err(ApiError::from_canonical(&e, Stage::Add)),
        }
    }
    add_reply(call, itemtype, results, single)
}

/// `POST /ITILFollowup`: a reply or note on a ticket, or its closing (`add_close`).
async fn add_followup(
    call: &Call<'_>,
    helpdesk: &dyn Helpdesk,
    item: &Map<String, Value>,
    single: bool,
) -> Result<Value, ItemError> {
    if item.get("add_close").is_some_and(mapping::as_bool) {
        let ticket = item
            .get("items_id")
            .and_then(as_i64)
            .unwrap_or(0)
            .to_string();
        let note = item
            .get("content")
            .and_then(mapping::as_text)
            .filter(|c| !c.trim().is_empty());
        let t = helpdesk.close(&ticket, Closure { note }).await?;
        return Ok(id_value(t.entries.last().map_or(&t.id, |e| &e.id)));
    }
    let (ticket, mut entry) =
        mapping::entry_from_followup_input(item).map_err(ItemError::Refused)?;
    if single {
        entry.attachments = files_as_attachments(call);
    }
    Ok(id_value(&helpdesk.add_entry(&ticket, entry).await?.id))
}

/// `POST /ITILSolution`: resolve a ticket, refused as GLPI refuses a second solution.
async fn add_solution(
    helpdesk: &dyn Helpdesk,
    item: &Map<String, Value>,
) -> Result<Value, ItemError> {
    let (ticket, resolution) = mapping::solution_from_input(item).map_err(ItemError::Refused)?;
    let current = helpdesk.get(&ticket).await?;
    if matches!(current.status.state, State::Resolved | State::Closed) {
        return Err(Error::bad_input(
            "The item is already solved, did anyone pushed a solution before you ?",
        )
        .into());
    }
    let with_body = resolution.body.is_some();
    let t = helpdesk.resolve(&ticket, resolution).await?;
    Ok(match (with_body, t.entries.last()) {
        (true, Some(e)) => id_value(&e.id),
        _ => id_value(&t.id),
    })
}

/// `POST /Document` (multipart: `uploadManifest` and the file): a document of its
/// own, or linked to the ticket the manifest names (`itemtype` Ticket, `items_id`),
/// then titled as GLPI titles it, `Document: Ticket - <the ticket's subject>`.
async fn add_document(call: &Call<'_>) -> Outcome {
    let Some((consumer, _)) = call.writer(Permission::Update).await? else {
        return denied_add(call, "Document");
    };
    let (items, single) = inputs(call)?;
    if !single {
        return Err(ApiError::bad_request("Input must be a single object"));
    }
    let item = items.first().cloned().unwrap_or_default();
    let itemtype = item.get("itemtype").and_then(|v| v.as_str()).unwrap_or("");
    let items_id = item.get("items_id").and_then(as_i64).filter(|n| *n > 0);
    let helpdesk = call.cx.helpdesk(&consumer);
    let Some(file) = files_as_attachments(call).into_iter().next() else {
        return add_reply(
            call,
            "Document",
            vec![json!({"id": false, "message": "No file uploaded"})],
            true,
        );
    };
    let ticket = match (items_id, itemtype) {
        (None, _) => None,
        (Some(id), t) if t.eq_ignore_ascii_case("Ticket") => Some(id.to_string()),
        (Some(_), t) => {
            let message = format!("ticketgate links documents to tickets only, not to {t}");
            return add_reply(
                call,
                "Document",
                vec![json!({"id": false, "message": message})],
                true,
            );
        }
    };
    let title = match &ticket {
        Some(id) => match helpdesk.get(id).await {
            Ok(t) => format!("Document: Ticket - {}", t.subject),
            Err(e) if is_item_failure(&e) => {
                return add_reply(
                    call,
                    "Document",
                    vec![json!({"id": false, "message": e.message})],
                    true,
                );
            }
            Err(e) => return Err(ApiError::from_canonical(&e, Stage::Add)),
        },
        None => item
            .get("name")
            .and_then(mapping::as_text)
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| file.name.clone()),
    };
    let stored = match helpdesk
        .add_document(&title, file.clone(), ticket.as_deref())
        .await
    {
        Ok(d) => Ok(d.id),
        // A helpdesk that keeps files on tickets only still takes one for a ticket.
        Err(e) if e.kind == ErrorKind::Unsupported && ticket.is_some() => helpdesk
            .attach(ticket.as_deref().unwrap_or_default(), vec![file])
            .await
            .map(|stored| {
                stored
                    .first()
                    .and_then(|a| a.id.clone())
                    .unwrap_or_default()
            }),
        Err(e) => Err(e),
    };
    let result = match stored {
        Ok(id) => json!({
            "id": id_value(&id),
            "message": "",
            "upload_result": upload_result(call, Some(&id)),
        }),
        Err(e) if is_item_failure(&e) => json!({"id": false, "message": e.message}),
        Err(e) => return Err(ApiError::from_canonical(&e, Stage::Add)),
    };
    add_reply(call, "Document", vec![result], true)
}

/// `GET /Document/N`: the document's row, or with `Accept: application/octet-stream`
/// (exactly) or `alt=media`, the file itself, as GLPI sends it.
async fn get_document(call: &Call<'_>, id: &str) -> Outcome {
    let (consumer, _) = call.consumer(Permission::Read).await?;
    let doc = call
        .cx
        .helpdesk(&consumer)
        .document(id)
        .await
        .map_err(|e| ApiError::from_canonical(&e, Stage::Read))?;
    let download = call.accept.as_deref() == Some("application/octet-stream")
        || call.params.text("alt").as_deref() == Some("media");
    if download {
        return Ok(download_reply(&doc));
    }
    Ok(document_reply(call, &doc))
}

fn document_reply(call: &Call<'_>, doc: &ticketgate_model::Document) -> Reply {
    let mut row = mapping::document_row(doc);
    if call.flag("get_hateoas", true) {
        row.insert(
            "links".into(),
            json!([
                {"rel": "Entity", "href": format!("{}/Entity/0", call.api_url)},
                {"rel": "Document_Item", "href": format!("{}/Document/{}/Document_Item/", call.api_url, doc.id)},
            ]),
        );
    }
    Reply::json(200, Value::Object(row))
}

/// A document's bytes as GLPI's `Toolbox::sendFile` sends them (behind Apache, which
/// adds the charset of a text type): images and PDFs inline, anything else as an
/// attachment, the name both plain and RFC 5987-encoded.
fn download_reply(doc: &ticketgate_model::Document) -> Reply {
    let mime = doc.file.media_type.as_str();
    let inline =
        (mime.starts_with("image/") || mime == "application/pdf") && mime != "image/svg+xml";
    let content_type = if mime.starts_with("text/") && !mime.contains("charset") {
        format!("{mime};charset=UTF-8")
    } else {
        mime.to_owned()
    };
    let name = &doc.file.name;
    let plain: String = name
        .chars()
        .map(|c| match c {
            '"' | '\\' => '_',
            c if c.is_ascii() && !c.is_ascii_control() => c,
            _ => '?',
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect();
    let disposition = format!(
        "{}filename=\"{plain}\"; filename*=utf-8''{encoded}",
        if inline { "" } else { "attachment; " }
    );
    Reply::raw(content_type, doc.file.bytes.clone())
        .header("content-disposition", disposition)
        .header("cache-control", "private".to_owned())
}

/// `POST /Document_Item` `{"documents_id", "itemtype": "Ticket", "items_id"}`: link a
/// document of its own to a ticket.
async fn add_document_item(
    helpdesk: &dyn Helpdesk,
    item: &Map<String, Value>,
) -> Result<Value, ItemError> {
    let document = item.get("documents_id").and_then(as_i64).filter(|n| *n > 0);
    let ticket = item.get("items_id").and_then(as_i64).filter(|n| *n > 0);
    let itemtype = item.get("itemtype").and_then(|v| v.as_str()).unwrap_or("");
    let (Some(document), Some(ticket), true) =
        (document, ticket, itemtype.eq_ignore_ascii_case("Ticket"))
    else {
        return Err(ItemError::Refused(
            "ticketgate links documents to tickets only: give documents_id, itemtype Ticket and items_id".into(),
        ));
    };
    let (document, ticket) = (document.to_string(), ticket.to_string());
    helpdesk.link_document(&document, &ticket).await?;
    let t = helpdesk.get(&ticket).await?;
    let pos = t
        .attachments
        .iter()
        .position(|a| a.id.as_deref() == Some(document.as_str()))
        .map_or(1, |p| p + 1);
    Ok(json!(pos))
}

/// `POST /TicketTask` `{"tickets_id", "content", "actiontime", "state",
/// "users_id_tech", "is_private"}`: a task on a ticket (batches too).
async fn add_task(helpdesk: &dyn Helpdesk, item: &Map<String, Value>) -> Result<Value, ItemError> {
    let (ticket, task) = mapping::task_from_input(item).map_err(ItemError::Refused)?;
    Ok(id_value(&helpdesk.add_task(&ticket, task).await?.id))
}

/// `POST /Ticket_User` (`type` 1 requester, 2 assignee) and `POST /Group_Ticket` (2).
async fn add_actor(
    helpdesk: &dyn Helpdesk,
    item: &Map<String, Value>,
    group: bool,
) -> Result<Value, ItemError> {
    let (id, change) = mapping::actor_from_input(item, group).map_err(ItemError::Refused)?;
    let (kind, t) = match change {
        ActorChange::Assign(a) => (mapping::ACTOR_ASSIGNED, helpdesk.assign(&id, a).await?),
        ActorChange::Requester(r) => {
            let patch = TicketPatch {
                requester: Some(r),
                ..TicketPatch::default()
            };
            (mapping::ACTOR_REQUESTER, helpdesk.update(&id, patch).await?)
        }
    };
    let pos = mapping::actor_rows(&t)
        .iter()
        .position(|r| r.get("type").and_then(as_i64) == Some(kind))
        .map_or(1, |p| p + 1);
    Ok(json!(pos))
}

/// The rows of a dropdown, whatever the helpdesk behind.
pub async fn dropdown_rows(
    call: &Call<'_>,
    consumer: &Consumer,
    d: Dropdown,
) -> Result<Vec<Value>, ApiError> {
    let items: Vec<LookupItem> = match d.lookup_kind() {
        Some(kind) => call
            .cx
            .helpdesk(consumer)
            .lookup(kind)
            .await
            .map_err(|e| ApiError::from_canonical(&e, Stage::Read))?,
        None if d == Dropdown::Entity => vec![LookupItem {
            id: "0".into(),
            name: mapping::ROOT_ENTITY.into(),
            state: None,
            level: None,
            parent: None,
        }],
        None => (1..=6)
            .map(|i| LookupItem {
                id: i.to_string(),
                name: mapping::requesttype_name(i).into(),
                state: None,
                level: None,
                parent: None,
            })
            .collect(),
    };
    let hateoas = call.flag("get_hateoas", true);
    Ok(items
        .into_iter()
        .map(|i| {
            let mut row = json!({
                "id": id_value(&i.id),
                "name": i.name,
                "completename": i.name,
                "entities_id": 0,
                "is_recursive": 1,
                "comment": null,
            });
            if d == Dropdown::User {
                row = json!({
                    "id": id_value(&i.id),
                    "name": i.name,
                    "realname": null,
                    "firstname": null,
                    "is_active": 1,
                    "entities_id": 0,
                });
            }
            if hateoas {
                row["links"] =
                    json!([{"rel": "Entity", "href": format!("{}/Entity/0", call.api_url)}]);
            }
            row
        })
        .collect())
}

async fn get_dropdown(call: &Call<'_>, d: Dropdown, id: &str) -> Outcome {
    let (consumer, _) = call.consumer(Permission::Read).await?;
    let rows = dropdown_rows(call, &consumer, d).await?;
    rows.into_iter()
        .find(|r| r.get("id").and_then(mapping::as_text).as_deref() == Some(id))
        .map(|r| Reply::json(200, r))
        .ok_or_else(ApiError::item_not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_glpi_words_them() {
        for (bytes, words) in [
            (0, "0 o"),
            (21, "21 o"),
            (1024, "1024 o"),
            (1025, "1 Kio"),
            (1536, "1.5 Kio"),
            (1_000_000, "976.56 Kio"),
            (3 * 1024 * 1024, "3 Mio"),
        ] {
            assert_eq!(file_size(bytes), words, "{bytes}");
        }
    }

    #[test]
    fn upload_prefixes_have_phps_shape() {
        let p = upload_prefix(12);
        let (head, tail) = p.split_once('.').expect("a dot");
        assert_eq!(head.len(), 14, "{p}");
        assert!(head.bytes().all(|b| b.is_ascii_hexdigit()), "{p}");
        assert_eq!(tail.len(), 8, "{p}");
        assert!(tail.bytes().all(|b| b.is_ascii_digit()), "{p}");
    }
}
