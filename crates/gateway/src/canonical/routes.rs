//! The canonical routes: one function per operation, dispatched on method and path.

use super::{CanonicalFace, Format, credential, respond};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use ticketgate_model::{
    Assignment, Attachment, Closure, CreateOptions, Created, DeleteMode, Error, GatewayContext,
    Ingested, LookupKind, NewEntry, NewTask, NewTicket, Permission, Query, Reference, Resolution,
    SortField, SortOrder, State, StatsQuery, TicketPatch,
};

/// The OpenAPI 3.1 description of these routes, served at `GET {prefix}/openapi.json`;
/// `tests/openapi.rs` checks that it and the routes agree.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The longest `Idempotency-Key` accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The permission a route needs, read from the head alone (`None`: no such route), so
/// the credential is checked before the body is read. Kept beside [`dispatch`], whose
/// arms name the same permissions.
pub fn permission(method: &Method, path: &str) -> Option<Permission> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    Some(match (method.clone(), segments.as_slice()) {
        (Method::POST, ["tickets"]) => Permission::Create,
        (Method::GET, ["tickets"]) => Permission::Search,
        (Method::GET, ["tickets", _])
        | (Method::GET, ["tickets", _, "children" | "parent" | "tasks"])
        | (Method::GET, ["lookups", _])
        | (Method::GET, ["capabilities"]) => Permission::Read,
        (Method::PATCH, ["tickets", _])
        | (
            Method::POST,
            [
                "tickets",
                _,
                "entries" | "resolve" | "close" | "assign" | "attachments" | "tasks",
            ],
        ) => Permission::Update,
        (Method::DELETE, ["tickets", _]) => Permission::Delete,
        (Method::POST, ["tickets", _, "children"])
        | (Method::DELETE, ["tickets", _, "children", _]) => Permission::Subtickets,
        (Method::GET, ["stats"]) => Permission::Stats,
        _ => return None,
    })
}

pub async fn dispatch(
    face: &CanonicalFace,
    path: &str,
    req: Request<Bytes>,
    cx: &dyn GatewayContext,
    format: Format,
) -> Result<Response<Bytes>, Error> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let method = req.method().clone();
    let cred = credential(req.headers());
    let need = |p: Permission| cx.authorize(&cred, p);
    match (method.clone(), segments.as_slice()) {
        // The API's own description is public, like the documentation it is.
        (Method::GET, ["openapi.json"]) => {
            // The document names `/v1` as its server; a face mounted elsewhere says so.
            let doc = if face.prefix == "/v1" {
                Bytes::from_static(OPENAPI.as_bytes())
            } else {
                let server = serde_json::to_string(&face.prefix).expect("a string serialises");
                Bytes::from(OPENAPI.replacen("\"url\": \"/v1\"", &format!("\"url\": {server}"), 1))
            };
            Ok(Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CACHE_CONTROL, "public, max-age=3600")
                .body(doc)
                .expect("a static response is valid"))
        }
        (Method::POST, ["tickets"]) => {
            create(face, req, cx, format, need(Permission::Create).await?).await
        }
        (Method::GET, ["tickets"]) => {
            let consumer = need(Permission::Search).await?;
            let (q, cursor) = search_query(req.uri().query().unwrap_or(""))?;
            let (page, spread, next_cursor) =
                cx.search_paged(&consumer, &q, cursor.as_deref()).await?;
            match spread {
                None => respond(StatusCode::OK, format, "page", &page),
                Some(spread) => respond(
                    StatusCode::OK,
                    format,
                    "page",
                    &SpreadPage {
                        partial: !spread.unavailable.is_empty(),
                        items: &page.items,
                        total: page.total,
                        total_exact: page.total_exact,
                        limit: page.limit,
                        offset: page.offset,
                        upstreams: spread,
                        next_cursor,
                    },
                ),
            }
        }
        (Method::GET, ["tickets", id]) => {
            let consumer = need(Permission::Read).await?;
            if id.starts_with("q-") {
                return tracked(face, cx, &consumer, id, format).await;
            }
            let t = cx.helpdesk(&consumer).get(id).await?;
            respond(StatusCode::OK, format, "ticket", &t)
        }
        (Method::PATCH, ["tickets", id]) => {
            let consumer = need(Permission::Update).await?;
            let patch: TicketPatch = decode(&req)?;
            let t = cx.helpdesk(&consumer).update(id, patch).await?;
            respond(StatusCode::OK, format, "ticket", &t)
        }
        (Method::DELETE, ["tickets", id]) => {
            let consumer = need(Permission::Delete).await?;
            let purge = query_pairs(req.uri().query().unwrap_or(""))
                .any(|(k, v)| k == "purge" && matches!(v.as_str(), "true" | "1" | "yes"));
            let mode = if purge {
                DeleteMode::Purge
            } else {
                DeleteMode::Soft
            };
            cx.helpdesk(&consumer).delete(id, mode).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        (Method::POST, ["tickets", id, "entries"]) => {
            let consumer = need(Permission::Update).await?;
            let entry: NewEntry = decode(&req)?;
            let e = cx.helpdesk(&consumer).add_entry(id, entry).await?;
            respond(StatusCode::CREATED, format, "entry", &e)
        }
        (Method::POST, ["tickets", id, "resolve"]) => {
            let consumer = need(Permission::Update).await?;
            let r: Resolution = decode_or_default(&req)?;
            let t = cx.helpdesk(&consumer).resolve(id, r).await?;
            respond(StatusCode::OK, format, "ticket", &t)
        }
        (Method::POST, ["tickets", id, "close"]) => {
            let consumer = need(Permission::Update).await?;
            let c: Closure = decode_or_default(&req)?;
            let t = cx.helpdesk(&consumer).close(id, c).await?;
            respond(StatusCode::OK, format, "ticket", &t)
        }
        (Method::POST, ["tickets", id, "assign"]) => {
            let consumer = need(Permission::Update).await?;
            let a: Assignment = decode(&req)?;
            let t = cx.helpdesk(&consumer).assign(id, a).await?;
            respond(StatusCode::OK, format, "ticket", &t)
        }
        (Method::POST, ["tickets", id, "attachments"]) => {
            let consumer = need(Permission::Update).await?;
            let files: Attachments = decode(&req)?;
            let stored = cx.helpdesk(&consumer).attach(id, files.attachments).await?;
            respond(
                StatusCode::CREATED,
                format,
                "attachments",
                &Attachments {
                    attachments: stored,
                },
            )
        }
        (Method::GET, ["tickets", id, "tasks"]) => {
            let consumer = need(Permission::Read).await?;
            let tasks = cx.helpdesk(&consumer).tasks(id).await?;
            respond(StatusCode::OK, format, "tasks", &Items { items: tasks })
        }
        (Method::POST, ["tickets", id, "tasks"]) => {
            let consumer = need(Permission::Update).await?;
            let task: NewTask = decode(&req)?;
            let t = cx.helpdesk(&consumer).add_task(id, task).await?;
            respond(StatusCode::CREATED, format, "task", &t)
        }
        (Method::GET, ["tickets", id, "children"]) => {
            let consumer = need(Permission::Read).await?;
            let children = cx.helpdesk(&consumer).children(id).await?;
            respond(
                StatusCode::OK,
                format,
                "tickets",
                &Items { items: children },
            )
        }
        (Method::POST, ["tickets", id, "children"]) => {
            let consumer = need(Permission::Subtickets).await?;
            let link: Link = decode(&req)?;
            cx.helpdesk(&consumer).link(id, &link.child).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        (Method::DELETE, ["tickets", id, "children", child]) => {
            let consumer = need(Permission::Subtickets).await?;
            cx.helpdesk(&consumer).unlink(id, child).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        (Method::GET, ["tickets", id, "parent"]) => {
            let consumer = need(Permission::Read).await?;
            match cx.helpdesk(&consumer).parent(id).await? {
                Some(p) => respond(StatusCode::OK, format, "ticket", &p),
                None => Err(Error::not_found(format!("ticket {id} has no parent"))),
            }
        }
        (Method::GET, ["stats"]) => {
            let consumer = need(Permission::Stats).await?;
            let q = stats_query(req.uri().query().unwrap_or(""))?;
            let s = cx.helpdesk(&consumer).stats(&q).await?;
            respond(StatusCode::OK, format, "stats", &s)
        }
        (Method::GET, ["lookups", kind]) => {
            let consumer = need(Permission::Read).await?;
            let kind = LookupKind::parse(kind).ok_or_else(|| {
                Error::not_found(format!(
                    "no look-up named {kind:?} (known: {})",
                    LookupKind::ALL.map(LookupKind::as_str).join(", ")
                ))
            })?;
            let items = cx.helpdesk(&consumer).lookup(kind).await?;
            respond(StatusCode::OK, format, "lookup", &Items { items })
        }
        (Method::GET, ["capabilities"]) => {
            let consumer = need(Permission::Read).await?;
            let h = cx.helpdesk(&consumer);
            let ops: Vec<&str> = h.capabilities().iter().map(|o| o.as_str()).collect();
            respond(
                StatusCode::OK,
                format,
                "capabilities",
                &Capabilities {
                    upstream: h.name(),
                    operations: ops,
                    upstreams: cx
                        .upstream_capabilities()
                        .into_iter()
                        .map(|(name, caps)| UpstreamCapabilities {
                            operations: caps.iter().map(|o| o.as_str()).collect(),
                            name,
                        })
                        .collect(),
                },
            )
        }
        (
            _,
            ["tickets"]
            | ["tickets", _]
            | ["tickets", _, _]
            | ["tickets", _, _, _]
            | ["stats"]
            | ["lookups", _]
            | ["capabilities"]
            | ["openapi.json"],
        ) => Ok(super::problem::problem_with_status(
            &Error::bad_input(format!("method {method} is not allowed on {path}")),
            405,
        )),
        _ => Err(Error::not_found(format!("no such resource: {path}"))),
    }
}

#[derive(Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Attachments {
    attachments: Vec<Attachment>,
}

#[derive(Serialize)]
struct Items<T> {
    items: Vec<T>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Link {
    child: String,
}

#[derive(Serialize)]
struct Capabilities<'a> {
    upstream: &'a str,
    operations: Vec<&'a str>,
    /// With several upstreams: each of them, since routing rules may send a
    /// consumer's tickets to any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    upstreams: Vec<UpstreamCapabilities>,
}

/// A page of a search across several upstreams: which answered, and whether the
/// page is partial because one could not.
#[derive(Serialize)]
struct SpreadPage<'a> {
    items: &'a [ticketgate_model::Ticket],
    total: u64,
    total_exact: bool,
    limit: u32,
    offset: u32,
    partial: bool,
    upstreams: ticketgate_model::SearchSpread,
    /// Where the next page starts (`cursor=`); null when nothing follows.
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct UpstreamCapabilities {
    name: String,
    operations: Vec<&'static str>,
}

#[derive(Serialize)]
struct Accepted<'a> {
    tracking_id: &'a str,
    state: &'a str,
    location: String,
}

async fn create(
    face: &CanonicalFace,
    req: Request<Bytes>,
    cx: &dyn GatewayContext,
    format: Format,
    consumer: ticketgate_model::Consumer,
) -> Result<Response<Bytes>, Error> {
    if content_type(req.headers()).as_deref() == Some("message/rfc822") {
        return match cx.ingest_email(&consumer, req.body().clone(), true).await? {
            Ingested::Created(t) => created(face, format, &t),
            Ingested::Replied { ticket, entry } => {
                let body = serde_json::json!({ "ticket_id": ticket.id, "number": ticket.number, "entry": entry });
                respond(StatusCode::OK, format, "reply", &body)
            }
            Ingested::Duplicate { ticket_id, number } => {
                let body = serde_json::json!({ "duplicate": true, "ticket_id": ticket_id, "number": number });
                respond(StatusCode::OK, format, "duplicate", &body)
            }
            Ingested::Queued { tracking_id } => accepted(face, format, &tracking_id),
            Ingested::Ignored { reason } => Ok(super::problem::problem_with_status(
                &Error::bad_input(format!("the message does not open a ticket: {reason}")),
                422,
            )),
        };
    }
    let key = idempotency_key(req.headers())?;
    let want = preferred_return(req.headers());
    let ticket: NewTicket = decode(&req)?;
    ticket.validate()?;
    let created = |t: &ticketgate_model::Ticket| {
        let mut r = match want {
            Some(Return::Minimal) => created_minimal(face, format, t)?,
            _ => created(face, format, t)?,
        };
        if let Some(w) = want {
            r.headers_mut().insert(
                "preference-applied",
                http::HeaderValue::from_static(w.applied()),
            );
        }
        Ok::<_, Error>(r)
    };
    match cx
        .create(
            &consumer,
            ticket,
            CreateOptions {
                idempotency_key: key,
                may_queue: true,
                brief: want == Some(Return::Minimal),
            },
        )
        .await?
    {
        Created::Ticket(t) => created(&t),
        Created::Replayed(t) => {
            let mut r = created(&t)?;
            r.headers_mut().insert(
                "idempotent-replayed",
                http::HeaderValue::from_static("true"),
            );
            Ok(r)
        }
        Created::Queued { tracking_id } => accepted(face, format, &tracking_id),
    }
}

fn created(
    face: &CanonicalFace,
    format: Format,
    t: &ticketgate_model::Ticket,
) -> Result<Response<Bytes>, Error> {
    let mut r = respond(StatusCode::CREATED, format, "ticket", t)?;
    if let Ok(v) = http::HeaderValue::from_str(&format!("{}/tickets/{}", face.prefix, t.id)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// What `Prefer: return=…` (RFC 7240) asks a create to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Return {
    /// The new ticket's id and number: no read back from the upstream.
    Minimal,
    /// The whole ticket as the upstream stored it (also the default).
    Representation,
}

impl Return {
    fn applied(self) -> &'static str {
        match self {
            Return::Minimal => "return=minimal",
            Return::Representation => "return=representation",
        }
    }
}

/// The first `return` preference of the request's `Prefer` headers; an unknown value
/// or an unreadable header is no preference (RFC 7240 §2: preferences may be ignored).
fn preferred_return(headers: &HeaderMap) -> Option<Return> {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|pref| {
            // `return=minimal; param` — parameters after `;` are not ours.
            let (name, value) = pref.split(';').next()?.split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("return") {
                return None;
            }
            match value.trim().trim_matches('"') {
                v if v.eq_ignore_ascii_case("minimal") => Some(Return::Minimal),
                v if v.eq_ignore_ascii_case("representation") => Some(Return::Representation),
                _ => None,
            }
        })
}

#[derive(Serialize)]
struct CreatedRef<'a> {
    id: &'a str,
    number: &'a str,
}

/// A create's minimal answer: its id and number, and where it lives.
fn created_minimal(
    face: &CanonicalFace,
    format: Format,
    t: &ticketgate_model::Ticket,
) -> Result<Response<Bytes>, Error> {
    let mut r = respond(
        StatusCode::CREATED,
        format,
        "ticket",
        &CreatedRef {
            id: &t.id,
            number: &t.number,
        },
    )?;
    if let Ok(v) = http::HeaderValue::from_str(&format!("{}/tickets/{}", face.prefix, t.id)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

fn accepted(
    face: &CanonicalFace,
    format: Format,
    tracking_id: &str,
) -> Result<Response<Bytes>, Error> {
    let location = format!("{}/tickets/{tracking_id}", face.prefix);
    let mut r = respond(
        StatusCode::ACCEPTED,
        format,
        "accepted",
        &Accepted {
            tracking_id,
            state: "queued",
            location: location.clone(),
        },
    )?;
    if let Ok(v) = http::HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// `GET /tickets/q-…`: the ticket once delivered, the queue entry before.
async fn tracked(
    face: &CanonicalFace,
    cx: &dyn GatewayContext,
    consumer: &ticketgate_model::Consumer,
    tracking_id: &str,
    format: Format,
) -> Result<Response<Bytes>, Error> {
    let item = face
        .state
        .item(tracking_id)
        .await?
        .filter(|i| i.consumer == *consumer.name)
        .ok_or_else(|| Error::not_found(format!("ticket {tracking_id} not found")))?;
    if let Some(id) = &item.ticket_id {
        let t = cx.helpdesk(consumer).get(id).await?;
        let mut r = respond(StatusCode::OK, format, "ticket", &t)?;
        if let Ok(v) = http::HeaderValue::from_str(&format!("{}/tickets/{id}", face.prefix)) {
            r.headers_mut().insert(header::CONTENT_LOCATION, v);
        }
        return Ok(r);
    }
    #[derive(Serialize)]
    struct Queued<'a> {
        tracking_id: &'a str,
        state: ticketgate_store::OutboxState,
        attempts: u32,
        next_attempt_at: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        last_error: Option<&'a str>,
    }
    let body = Queued {
        tracking_id,
        state: item.state,
        attempts: item.attempts,
        next_attempt_at: item.next_attempt_at.to_rfc3339(),
        last_error: item.last_error.as_deref(),
    };
    respond(StatusCode::OK, format, "queued", &body)
}

fn empty(status: StatusCode) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .body(Bytes::new())
        .expect("a bare status is valid")
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Error> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .map_err(|_| {
            Error::bad_input("Idempotency-Key must be visible ASCII").field("Idempotency-Key")
        })?
        .trim()
        .trim_matches('"');
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(Error::bad_input(format!(
            "Idempotency-Key must have 1 to {MAX_IDEMPOTENCY_KEY} characters"
        ))
        .field("Idempotency-Key"));
    }
    Ok(Some(key.to_owned()))
}

/// Decode a JSON or XML body into a canonical type, by `Content-Type`.
fn decode<T: DeserializeOwned>(req: &Request<Bytes>) -> Result<T, Error> {
    let body = req.body();
    match content_type(req.headers()).as_deref() {
        None | Some("application/json") => {
            serde_json::from_slice(body).map_err(|e| Error::bad_input(format!("invalid JSON: {e}")))
        }
        Some(ct) if ct.ends_with("+json") => {
            serde_json::from_slice(body).map_err(|e| Error::bad_input(format!("invalid JSON: {e}")))
        }
        Some("application/xml" | "text/xml") => {
            let text = std::str::from_utf8(body)
                .map_err(|_| Error::bad_input("the XML body is not UTF-8"))?;
            ticketgate_model::xml::from_xml(text)
        }
        Some(other) => Err(Error::new(
            ticketgate_model::ErrorKind::UnsupportedMediaType,
            format!(
                "Content-Type {other} is not accepted here; use application/json or application/xml"
            ),
        )),
    }
}

/// An empty body means "all defaults" for operations whose input is optional.
fn decode_or_default<T: DeserializeOwned + Default>(req: &Request<Bytes>) -> Result<T, Error> {
    if req.body().iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        decode(req)
    }
}

fn query_pairs(q: &str) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

/// The search a query string asks for, and the cursor it continues, if any.
fn search_query(q: &str) -> Result<(Query, Option<String>), Error> {
    let mut out = Query::default();
    let mut cursor = None;
    for (k, v) in query_pairs(q) {
        let bad =
            |what: &str| Error::bad_input(format!("query parameter {k}: {what}")).field(k.clone());
        match k.as_str() {
            "q" | "text" => out.text = Some(v),
            "status" | "state" => {
                for part in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    match part.parse::<State>() {
                        Ok(s) => out.states.push(s),
                        Err(_) => out.status = Some(Reference::guess(part)),
                    }
                }
            }
            "number" => out.number = Some(v),
            "priority" => out.priority = Some(Reference::guess(&v)),
            "department" => out.department = Some(Reference::guess(&v)),
            "category" => out.category = Some(Reference::guess(&v)),
            "topic" => out.topic = Some(Reference::guess(&v)),
            "assignee" => out.assignee = Some(Reference::guess(&v)),
            "group" => out.group = Some(Reference::guess(&v)),
            "requester" | "requester_email" => out.requester_email = Some(v),
            "username" => out.requester_username = Some(v),
            "type" => {
                out.ticket_type = Some(
                    serde_json::from_value(serde_json::Value::String(v))
                        .map_err(|_| bad("unknown type"))?,
                )
            }
            "source" => {
                out.source = Some(
                    serde_json::from_value(serde_json::Value::String(v))
                        .map_err(|_| bad("unknown source"))?,
                )
            }
            "created_after" => {
                out.created_after = Some(time(&v).ok_or_else(|| bad("not an RFC 3339 time"))?)
            }
            "created_before" => {
                out.created_before = Some(time(&v).ok_or_else(|| bad("not an RFC 3339 time"))?)
            }
            "include_deleted" => out.include_deleted = matches!(v.as_str(), "true" | "1"),
            "limit" => {
                let n: u32 = v.parse().map_err(|_| bad("not a number"))?;
                if n == 0 || n > ticketgate_model::ops::MAX_SEARCH_LIMIT {
                    return Err(bad(&format!(
                        "must be 1 to {}",
                        ticketgate_model::ops::MAX_SEARCH_LIMIT
                    )));
                }
                out.limit = n;
            }
            "offset" => out.offset = v.parse().map_err(|_| bad("not a number"))?,
            "cursor" => cursor = Some(v),
            "sort" => {
                let (field, desc) = match v.strip_prefix('-') {
                    Some(f) => (f, true),
                    None => (v.as_str(), false),
                };
                out.sort = SortField::parse(field).ok_or_else(|| bad("unknown sort field"))?;
                if desc {
                    out.order = SortOrder::Desc;
                } else if !q.contains("order=") {
                    out.order = SortOrder::Asc;
                }
            }
            "order" => {
                out.order = match v.to_ascii_lowercase().as_str() {
                    "asc" => SortOrder::Asc,
                    "desc" => SortOrder::Desc,
                    _ => return Err(bad("must be asc or desc")),
                }
            }
            _ => return Err(bad("unknown parameter")),
        }
    }
    Ok((out, cursor))
}

fn stats_query(q: &str) -> Result<StatsQuery, Error> {
    let mut out = StatsQuery::default();
    for (k, v) in query_pairs(q) {
        let t = time(&v).ok_or_else(|| {
            Error::bad_input(format!("query parameter {k}: not an RFC 3339 time")).field(k.clone())
        });
        match k.as_str() {
            "since" => out.since = Some(t?),
            "until" => out.until = Some(t?),
            _ => {
                return Err(
                    Error::bad_input(format!("query parameter {k}: unknown parameter")).field(k),
                );
            }
        }
    }
    Ok(out)
}

fn time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefer(values: &[&str]) -> Option<Return> {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("prefer", http::HeaderValue::from_str(v).unwrap());
        }
        preferred_return(&h)
    }

    #[test]
    fn the_return_preference_is_read_as_rfc_7240_writes_it() {
        assert_eq!(prefer(&[]), None);
        assert_eq!(prefer(&["return=minimal"]), Some(Return::Minimal));
        assert_eq!(prefer(&["RETURN = \"Minimal\""]), Some(Return::Minimal));
        assert_eq!(
            prefer(&["respond-async, wait=10, return=representation; x=y"]),
            Some(Return::Representation)
        );
        // Across several headers, the first return preference counts.
        assert_eq!(
            prefer(&["wait=5", "return=minimal", "return=representation"]),
            Some(Return::Minimal)
        );
        // Unknown values and other preferences are no preference.
        assert_eq!(prefer(&["return=everything", "handling=strict"]), None);
        assert_eq!(prefer(&["return"]), None);
    }
}
