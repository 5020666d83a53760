//! The 17 endpoints: one function each, dispatched on method and path.

use super::TicketsApiServer;
use super::requests::{self, ListPlan};
use crate::form::{self, Form};
use crate::wire::{self, Metadata};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use serde::Serialize;
use ticketgate_model::{
    Assignment, Consumer, CreateOptions, Created, DeleteMode, Error, ErrorKind, GatewayContext,
    Helpdesk, LookupItem, LookupKind, NewTicket, Permission, Reference, State, Ticket,
};

/// What a route needs, from the head alone: the canonical permission and the token's
/// `Tickets.*` claim, the same as the arms of [`dispatch`] ask `caller` for. `None`:
/// no such route.
pub fn need(method: &Method, path: &str) -> Option<(Permission, Option<&'static str>)> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    Some(match (method, segments.as_slice()) {
        (&Method::POST, [] | ["list"]) => (Permission::Search, None),
        (&Method::POST, ["register"]) => (Permission::Create, Some("Tickets.Create")),
        (&Method::POST, ["new"]) => (Permission::Create, None),
        (&Method::GET, ["appmetadata" | "metadata"] | ["metadata", _] | [_]) => {
            (Permission::Read, None)
        }
        (&Method::POST, ["read", _]) => (Permission::Read, None),
        (&Method::DELETE, [_]) => (Permission::Delete, Some("Tickets.Delete")),
        (&Method::POST, ["update", _]) => (Permission::Update, Some("Tickets.Update")),
        (&Method::POST, ["forward", _]) => (Permission::Update, Some("Tickets.Forward")),
        (&Method::POST, ["reply", _]) => (Permission::Update, Some("Tickets.Reply")),
        (&Method::POST, ["close", _]) => (Permission::Update, Some("Tickets.Close")),
        (&Method::POST, ["resolve", _]) => (Permission::Update, Some("Tickets.Resolve")),
        (&Method::POST, ["pickup", _]) => (Permission::Update, Some("Tickets.Pickup")),
        (&Method::POST, ["reqreply" | "addfiles", _]) => (Permission::Update, None),
        _ => return None,
    })
}

pub async fn dispatch(
    face: &TicketsApiServer,
    path: &str,
    req: Request<Bytes>,
    cx: &dyn GatewayContext,
) -> Result<Response<Bytes>, Error> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let method = req.method().clone();
    match (&method, segments.as_slice()) {
        (&Method::POST, []) => {
            let (consumer, token) = face.caller(&req, cx, Permission::Search, None).await?;
            let only_private =
                token.has_claim_value(&face.config.jwt.permission_claim, "Tickets.OnlyPrivate");
            let form = decode(face, &req)?;
            let plan = requests::list_plan(&form, &token.subject, only_private)?;
            let items = run_plan(cx.helpdesk(&consumer).as_ref(), &plan).await?;
            let rows: Vec<wire::TicketListModel> = items.iter().map(wire::list_model).collect();
            json(StatusCode::OK, &rows)
        }
        (&Method::POST, ["register"]) => {
            let (consumer, _) = face
                .caller(&req, cx, Permission::Create, Some("Tickets.Create"))
                .await?;
            let form = decode(face, &req)?;
            let mut ticket = requests::register(&form, &face.allowed)?;
            // TicketsApi generates the external GUID when the client sends none.
            ticket
                .custom_fields
                .entry("Guid".to_owned())
                .or_insert_with(|| serde_json::Value::String(new_guid(&ticket.subject)));
            create(face, cx, &consumer, ticket).await
        }
        (&Method::POST, ["new"]) => {
            let (consumer, _) = face.caller(&req, cx, Permission::Create, None).await?;
            let form = decode(face, &req)?;
            let ticket = requests::integration_ticket(&form, &face.allowed)?;
            create(face, cx, &consumer, ticket).await
        }
        (&Method::POST, ["list"]) => {
            let (consumer, _) = face.caller(&req, cx, Permission::Search, None).await?;
            let form = decode(face, &req)?;
            let q = requests::username_query(&form)?;
            let page = cx.helpdesk(&consumer).search(&q).await?;
            let rows: Vec<wire::TicketApiModel> =
                page.items.iter().map(wire::ticket_model).collect();
            json(StatusCode::OK, &rows)
        }
        (&Method::GET, ["appmetadata"]) => {
            let (consumer, _) = face.caller(&req, cx, Permission::Read, None).await?;
            let m = metadata(cx.helpdesk(&consumer).as_ref(), None, false).await?;
            json(StatusCode::OK, &m)
        }
        (&Method::GET, ["metadata"]) => {
            let (consumer, _) = face.caller(&req, cx, Permission::Read, None).await?;
            let m = metadata(cx.helpdesk(&consumer).as_ref(), None, true).await?;
            json(StatusCode::OK, &m)
        }
        (&Method::GET, ["metadata", id]) => {
            let (consumer, _) = face.caller(&req, cx, Permission::Read, None).await?;
            let hd = cx.helpdesk(&consumer);
            // TicketsApi answers 400 when the ticket's context cannot be loaded.
            let t = hd.get(id).await.map_err(not_found_is_400)?;
            let m = metadata(hd.as_ref(), Some(&t), true).await?;
            json(StatusCode::OK, &m)
        }
        (&Method::GET, [id]) => {
            let (consumer, _) = face.caller(&req, cx, Permission::Read, None).await?;
            let t = cx.helpdesk(&consumer).get(id).await?;
            json(StatusCode::OK, &wire::ticket_model(&t))
        }
        (&Method::DELETE, [id]) => {
            let (consumer, _) = face
                .caller(&req, cx, Permission::Delete, Some("Tickets.Delete"))
                .await?;
            let hd = cx.helpdesk(&consumer);
            hd.get(id).await?;
            hd.delete(id, DeleteMode::Soft).await?;
            let t = hd.get(id).await?;
            json(StatusCode::OK, &wire::ticket_model(&t))
        }
        (&Method::POST, ["update", id]) => {
            let (consumer, _) = face
                .caller(&req, cx, Permission::Update, Some("Tickets.Update"))
                .await?;
            let form = decode(face, &req)?;
            let hd = cx.helpdesk(&consumer);
            let current = hd.get(id).await.map_err(not_found_is_400)?;
            let patch = requests::update_patch(&form, id, &current)?;
            if !patch.is_empty() {
                hd.update(id, patch).await?;
            }
            Ok(empty(StatusCode::NO_CONTENT))
        }
        (&Method::POST, ["forward", id]) => {
            let (consumer, token) = face
                .caller(&req, cx, Permission::Update, Some("Tickets.Forward"))
                .await?;
            let form = decode(face, &req)?;
            let entry = requests::forward_entry(&form, id, &author(&token), &face.allowed)?;
            let hd = cx.helpdesk(&consumer);
            hd.get(id).await.map_err(not_found_is_400)?;
            let e = hd.add_entry(id, entry).await.map_err(not_found_is_400)?;
            json(StatusCode::OK, &wire::conversation_model(&e))
        }
        (&Method::POST, ["reply", id]) => {
            let (consumer, token) = face
                .caller(&req, cx, Permission::Update, Some("Tickets.Reply"))
                .await?;
            let form = decode(face, &req)?;
            let entry = requests::reply_entry(&form, id, &author(&token), &face.allowed)?;
            let hd = cx.helpdesk(&consumer);
            hd.get(id).await.map_err(not_found_is_400)?;
            let e = hd.add_entry(id, entry).await.map_err(not_found_is_400)?;
            json(StatusCode::OK, &wire::conversation_model(&e))
        }
        (&Method::POST, ["reqreply", id]) => {
            let (consumer, _) = face.caller(&req, cx, Permission::Update, None).await?;
            let form = decode(face, &req)?;
            let hd = cx.helpdesk(&consumer);
            let t = hd.get(id).await.map_err(not_found_is_400)?;
            let entry = requests::requester_reply_entry(&form, id, &t, &face.allowed)?;
            let e = hd.add_entry(id, entry).await.map_err(not_found_is_400)?;
            json(StatusCode::OK, &wire::conversation_model(&e))
        }
        (&Method::POST, ["close", id]) => {
            let (consumer, _) = face
                .caller(&req, cx, Permission::Update, Some("Tickets.Close"))
                .await?;
            let form = decode(face, &req)?;
            let closure = requests::closure(&form, id)?;
            let (files, _) = requests::uploads(&form, &face.allowed);
            let hd = cx.helpdesk(&consumer);
            let t = hd.get(id).await?;
            if t.status.state == State::Closed {
                return json(
                    StatusCode::OK,
                    &Message {
                        message: "Ticket is already closed.",
                    },
                );
            }
            if !files.is_empty() {
                hd.attach(id, files).await?;
            }
            hd.close(id, closure).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        (&Method::POST, ["resolve", id]) => {
            let (consumer, _) = face
                .caller(&req, cx, Permission::Update, Some("Tickets.Resolve"))
                .await?;
            let form = decode(face, &req)?;
            let resolution = requests::resolution(&form, id)?;
            let hd = cx.helpdesk(&consumer);
            hd.get(id).await.map_err(not_found_is_400)?;
            let t = hd.resolve(id, resolution).await?;
            json(StatusCode::OK, &wire::ticket_model(&t))
        }
        (&Method::POST, ["pickup", id]) => {
            let (consumer, token) = face
                .caller(&req, cx, Permission::Update, Some("Tickets.Pickup"))
                .await?;
            let hd = cx.helpdesk(&consumer);
            let t = hd.get(id).await?;
            let me = Reference::guess(&token.subject);
            let mine = t.assignee.as_ref().is_some_and(|a| {
                me.matches(
                    a.id.as_deref().unwrap_or(""),
                    a.name.as_deref().unwrap_or(""),
                )
            });
            let t = if mine {
                t
            } else {
                hd.assign(
                    id,
                    Assignment {
                        assignee: Some(me),
                        ..Assignment::default()
                    },
                )
                .await?
            };
            json(StatusCode::OK, &wire::ticket_model(&t))
        }
        (&Method::POST, ["read", id]) => {
            let (consumer, _) = face.caller(&req, cx, Permission::Read, None).await?;
            // The canonical model keeps no per-user read marks: checking the ticket
            // exists is all there is to do.
            cx.helpdesk(&consumer).get(id).await?;
            Ok(empty(StatusCode::OK))
        }
        (&Method::POST, ["addfiles", id]) => {
            let (consumer, _) = face.caller(&req, cx, Permission::Update, None).await?;
            let form = decode(face, &req)?;
            if form.files.is_empty() {
                return Err(Error::bad_input("The Uploads field is required.").field("Uploads"));
            }
            let (files, skipped) = requests::uploads(&form, &face.allowed);
            if files.is_empty() {
                return Err(Error::bad_input(format!(
                    "None of the uploaded files has an allowed file type (skipped: {}).",
                    skipped.join(", ")
                ))
                .field("Uploads"));
            }
            let hd = cx.helpdesk(&consumer);
            hd.get(id).await?;
            let stored = hd.attach(id, files).await?;
            let out: Vec<wire::AttachmentModel> = stored
                .iter()
                .map(|a| wire::AttachmentModel {
                    id: a.id.clone(),
                    file_name: a.name.clone(),
                    content_type: a.media_type.clone(),
                    size: u64::try_from(a.bytes.len()).unwrap_or(u64::MAX),
                })
                .collect();
            json(StatusCode::OK, &out)
        }
        // ASP.NET answers a known route with the wrong verb with a bare 405.
        (_, segs) if known_path(segs) => Ok(empty(StatusCode::METHOD_NOT_ALLOWED)),
        _ => Err(Error::not_found(format!(
            "no TicketsApi endpoint at {}{path}",
            face.prefix()
        ))),
    }
}

fn known_path(segs: &[&str]) -> bool {
    matches!(
        segs,
        [] | [_]
            | ["metadata", _]
            | [
                "update"
                    | "forward"
                    | "reply"
                    | "close"
                    | "resolve"
                    | "pickup"
                    | "read"
                    | "addfiles"
                    | "reqreply",
                _,
            ]
    )
}

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

/// A random-looking RFC 4122 version-4 GUID: SHA-256 over the time, a process-wide
/// counter and the subject. Unique, not secret — it is an external reference only.
fn new_guid(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut h = Sha256::new();
    h.update(nanos.to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    h.update(seed.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Endpoints whose seed documents "ticket not found" as a 400.
fn not_found_is_400(e: Error) -> Error {
    if e.kind == ErrorKind::NotFound {
        Error::bad_input(e.message).field("Id")
    } else {
        e
    }
}

fn author(token: &crate::jwt::VerifiedToken) -> String {
    token
        .claims
        .get("name")
        .and_then(|v| v.as_str())
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(&token.subject)
        .to_owned()
}

fn decode(face: &TicketsApiServer, req: &Request<Bytes>) -> Result<Form, Error> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    form::decode(ct, req.body(), face.limits)
}

async fn create(
    face: &TicketsApiServer,
    cx: &dyn GatewayContext,
    consumer: &Consumer,
    ticket: NewTicket,
) -> Result<Response<Bytes>, Error> {
    let created = cx
        .create(
            consumer,
            ticket,
            CreateOptions {
                idempotency_key: None,
                may_queue: false,
                // Answered with the whole ticket.
                brief: false,
            },
        )
        .await?;
    let t = match created {
        Created::Ticket(t) | Created::Replayed(t) => t,
        Created::Queued { .. } => {
            return Err(Error::upstream_unavailable(
                "the helpdesk cannot take the ticket now; try again later",
            )
            .retry_after(std::time::Duration::from_secs(30)));
        }
    };
    let location = format!("{}/{}", face.prefix(), t.id);
    let body = serde_json::to_vec(&wire::ticket_model(&t))
        .map_err(|e| Error::internal(format!("JSON encoding failed: {e}")))?;
    Response::builder()
        .status(StatusCode::CREATED)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(header::LOCATION, location)
        .body(Bytes::from(body))
        .map_err(|_| Error::internal("the ticket id cannot be put in a Location header"))
}

/// Run each query of the plan, merge newest first without duplicates, take the page.
pub async fn run_plan(hd: &dyn Helpdesk, plan: &ListPlan) -> Result<Vec<Ticket>, Error> {
    let mut all: Vec<Ticket> = Vec::new();
    for q in &plan.queries {
        let page = hd.search(q).await?;
        let mut found = page.items;
        // TicketsApi's TicketId is the id its clients see (the canonical id), which
        // may differ from the display number the canonical search matches.
        if let Some(id) = &q.number
            && !found.iter().any(|t| &t.id == id)
        {
            match hd.get(id).await {
                Ok(t) if passes(&t, q) => found.push(t),
                Ok(_) => {}
                Err(e) if matches!(e.kind, ErrorKind::NotFound | ErrorKind::BadInput) => {}
                Err(e) => return Err(e),
            }
        }
        for t in found {
            if !all.iter().any(|x| x.id == t.id) {
                all.push(t);
            }
        }
    }
    if plan.queries.len() > 1 {
        all.sort_by(|a, b| {
            b.created_at.cmp(&a.created_at).then_with(|| {
                let n = |t: &Ticket| t.id.parse::<i64>().unwrap_or(0);
                n(b).cmp(&n(a))
            })
        });
    }
    let start = usize::try_from(plan.offset).unwrap_or(usize::MAX);
    let limit = usize::try_from(plan.limit).unwrap_or(usize::MAX);
    Ok(all.into_iter().skip(start).take(limit).collect())
}

/// Whether a ticket fetched by id passes the rest of a list query (the filters a
/// list plan uses: states, requester username, assignee).
fn passes(t: &Ticket, q: &ticketgate_model::Query) -> bool {
    let state_ok = if q.states.is_empty() {
        t.status.state != State::Deleted
    } else {
        q.states.contains(&t.status.state)
    };
    let requester_ok = q.requester_username.as_deref().is_none_or(|u| {
        t.requester
            .username
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case(u))
    });
    let assignee_ok = q.assignee.as_ref().is_none_or(|want| {
        t.assignee.as_ref().is_some_and(|a| {
            want.matches(
                a.id.as_deref().unwrap_or(""),
                a.name.as_deref().unwrap_or(""),
            )
        })
    });
    state_ok && requester_ok && assignee_ok
}

async fn lookup(hd: &dyn Helpdesk, kind: LookupKind) -> Result<Vec<LookupItem>, Error> {
    match hd.lookup(kind).await {
        Ok(items) => Ok(items),
        // One list the upstream lacks leaves that list empty, not the whole answer.
        Err(e) if e.kind == ErrorKind::Unsupported => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// `metadata` (full: with sub-categories, items, technicians, requesters) or
/// `appmetadata`, from the helpdesk's look-ups; scoped to a ticket when one is given.
pub async fn metadata(
    hd: &dyn Helpdesk,
    ticket: Option<&Ticket>,
    full: bool,
) -> Result<Metadata, Error> {
    if !hd
        .capabilities()
        .supports(ticketgate_model::Operation::Lookup)
    {
        return Err(Error::unsupported(hd.name(), "lookup"));
    }
    let mut m = Metadata {
        groups: lookup(hd, LookupKind::Groups)
            .await?
            .iter()
            .map(|i| wire::GroupRef {
                id: wire::WireId::from_canonical(&i.id),
                group: i.name.clone(),
            })
            .collect(),
        levels: Vec::new(),
        priorities: lookup(hd, LookupKind::Priorities)
            .await?
            .iter()
            .map(|i| wire::PriorityRef {
                id: wire::WireId::from_canonical(&i.id),
                priority: i.name.clone(),
            })
            .collect(),
        categories: lookup(hd, LookupKind::Categories)
            .await?
            .iter()
            .map(wire::named_ref)
            .collect(),
        sub_categories: None,
        items: None,
        status: lookup(hd, LookupKind::Statuses)
            .await?
            .iter()
            .filter(|s| s.state != Some(State::Deleted))
            .map(wire::status_ref)
            .collect(),
        clients: Vec::new(),
        sites: lookup(hd, LookupKind::Locations)
            .await?
            .iter()
            .map(wire::titled_ref)
            .collect(),
        departments: lookup(hd, LookupKind::Departments)
            .await?
            .iter()
            .map(wire::titled_ref)
            .collect(),
        technicians: None,
        requesters: None,
    };
    if full {
        let scope = |parent: &Option<String>, want: Option<&Reference>| match (parent, want) {
            (Some(p), Some(w)) => w.id.as_deref() == Some(p.as_str()),
            _ => true,
        };
        let category = ticket.and_then(|t| t.category.as_ref());
        let group = ticket.and_then(|t| t.group.as_ref());
        m.sub_categories = Some(
            lookup(hd, LookupKind::Topics)
                .await?
                .iter()
                .filter(|i| scope(&i.parent, category))
                .map(wire::named_ref)
                .collect(),
        );
        m.items = Some(Vec::new());
        m.technicians = Some(
            lookup(hd, LookupKind::Agents)
                .await?
                .iter()
                .filter(|i| scope(&i.parent, group))
                .map(wire::user_ref)
                .collect(),
        );
        if ticket.is_none() {
            m.requesters = Some(Vec::new());
        }
    }
    Ok(m)
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Response<Bytes>, Error> {
    let body = serde_json::to_vec(value)
        .map_err(|e| Error::internal(format!("JSON encoding failed: {e}")))?;
    Ok(Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Bytes::from(body))
        .expect("static headers are valid"))
}

fn empty(status: StatusCode) -> Response<Bytes> {
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = status;
    r
}
