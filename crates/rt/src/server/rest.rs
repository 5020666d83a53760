//! REST 2.0's endpoints over the canonical operations.

use super::form;
use super::ticketsql::{self, Context};
use super::wire::{self, Queues, SubFields, Urls};
use super::{RtServer, check_and_take, json_response};
use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use ticketgate_model::{
    Assignment, Attachment, Body, Closure, Consumer, Contact, CreateOptions, Created, DeleteMode,
    EntryKind, Error, ErrorKind, GatewayContext, Helpdesk, LookupKind, NewEntry, NewTicket,
    Permission, Query, Reference, Requester, Resolution, SortField, SortOrder, State, Ticket,
    TicketPatch,
};

/// The tickets a query that the upstream cannot evaluate whole may look through.
const MAX_SCANNED: u32 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Create,
    Get(String),
    Update(String),
    Delete(String),
    Reply { id: String, comment: bool },
    History(String),
    TicketAttachments(String),
    Take { id: String, how: Take },
    Transaction(String),
    TransactionAttachments(String),
    Attachment(String),
    Search,
    Queues,
    Queue(String),
    User(String),
    Version,
    MethodNotAllowed,
    NotFound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Take {
    Mine,
    Untake,
    Steal,
}

fn route(method: &Method, seg: &[String]) -> Route {
    let s: Vec<&str> = seg.iter().map(String::as_str).collect();
    let (get, post, put, delete) = (
        *method == Method::GET || *method == Method::HEAD,
        *method == Method::POST,
        *method == Method::PUT,
        *method == Method::DELETE,
    );
    match s.as_slice() {
        ["ticket"] if post => Route::Create,
        ["ticket"] => Route::MethodNotAllowed,
        ["ticket", id] if get => Route::Get((*id).to_owned()),
        ["ticket", id] if put => Route::Update((*id).to_owned()),
        ["ticket", id] if delete => Route::Delete((*id).to_owned()),
        ["ticket", _] => Route::MethodNotAllowed,
        ["ticket", id, a @ ("correspond" | "comment")] if post => Route::Reply {
            id: (*id).to_owned(),
            comment: *a == "comment",
        },
        ["ticket", id, "history"] if get => Route::History((*id).to_owned()),
        ["ticket", id, "attachments"] if get || post => Route::TicketAttachments((*id).to_owned()),
        ["ticket", id, a @ ("take" | "untake" | "steal")] if put || post => Route::Take {
            id: (*id).to_owned(),
            how: match *a {
                "take" => Take::Mine,
                "untake" => Take::Untake,
                _ => Take::Steal,
            },
        },
        [
            "ticket",
            _,
            "correspond" | "comment" | "history" | "attachments" | "take" | "untake" | "steal",
        ] => Route::MethodNotAllowed,
        ["transaction", id] if get => Route::Transaction((*id).to_owned()),
        ["transaction", id, "attachments"] if get || post => {
            Route::TransactionAttachments((*id).to_owned())
        }
        ["attachment", id] if get => Route::Attachment((*id).to_owned()),
        ["tickets"] if get || post => Route::Search,
        ["queues"] | ["queues", "all"] if get || post => Route::Queues,
        ["queue", id] if get => Route::Queue((*id).to_owned()),
        ["user", id] if get => Route::User((*id).to_owned()),
        ["rt"] if get => Route::Version,
        ["transaction", ..]
        | ["attachment", _]
        | ["tickets"]
        | ["queues", ..]
        | ["queue", _]
        | ["user", _]
        | ["rt"] => Route::MethodNotAllowed,
        _ => Route::NotFound,
    }
}

impl Route {
    fn need(&self) -> Option<Permission> {
        Some(match self {
            Route::Create => Permission::Create,
            Route::Update(_) | Route::Reply { .. } | Route::Take { .. } => Permission::Update,
            Route::Delete(_) => Permission::Delete,
            Route::Search => Permission::Search,
            Route::MethodNotAllowed | Route::NotFound => return None,
            _ => Permission::Read,
        })
    }
}

/// The permission a request needs, checked from the head.
pub(super) fn need(method: &Method, seg: &[String]) -> Option<Permission> {
    route(method, seg).need()
}

/// One REST 2.0 request in progress.
struct Call<'a> {
    server: &'a RtServer,
    cx: &'a dyn GatewayContext,
    consumer: Consumer,
    helpdesk: Arc<dyn Helpdesk>,
    urls: Urls,
    params: Vec<(String, String)>,
}

pub(super) async fn handle(
    server: &RtServer,
    seg: &[String],
    request: Request<Bytes>,
    cx: &dyn GatewayContext,
) -> Result<Response<Bytes>, Error> {
    let r = route(request.method(), seg);
    let need = match (&r, r.need()) {
        (Route::NotFound, _) => return Err(Error::not_found("no such endpoint")),
        (Route::MethodNotAllowed, _) | (_, None) => {
            return Ok(json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({"message": "Method Not Allowed"}),
                false,
            ));
        }
        (_, Some(p)) => p,
    };
    let consumer = check_and_take(cx, request.headers(), need).await?;
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost")
        .to_owned();
    let path = format!("{}/2.0", server.config.prefix);
    let params = request
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let call = Call {
        server,
        cx,
        helpdesk: cx.helpdesk(&consumer),
        consumer,
        urls: Urls {
            base: format!("http://{host}{path}"),
            path,
        },
        params,
    };
    match r {
        Route::Create => call.create(request).await,
        Route::Get(id) => call.get(&id).await,
        Route::Update(id) => call.update(&id, request.body()).await,
        Route::Delete(id) => call.delete(&id).await,
        Route::Reply { id, comment } => call.reply(&id, comment, request).await,
        Route::History(id) => call.history(&id).await,
        Route::TicketAttachments(id) => call.ticket_attachments(&id, request.body()).await,
        Route::Take { id, how } => call.take(&id, how).await,
        Route::Transaction(id) => call.transaction(&id).await,
        Route::TransactionAttachments(id) => call.transaction_attachments(&id).await,
        Route::Attachment(id) => call.attachment(&id).await,
        Route::Search => call.search(request).await,
        Route::Queues => call.queues().await,
        Route::Queue(id) => call.queue(&id).await,
        Route::User(id) => call.user(&id).await,
        Route::Version => Ok(json_response(
            StatusCode::OK,
            &json!({"Version": "5.0.3", "Plugins": []}),
            true,
        )),
        Route::MethodNotAllowed | Route::NotFound => Err(Error::not_found("no such endpoint")),
    }
}

fn ok(body: &Value) -> Response<Bytes> {
    json_response(StatusCode::OK, body, true)
}

fn bad(msg: impl Into<String>) -> Error {
    Error::bad_input(msg)
}

/// A ticket id as RT writes them: digits. Anything else names no ticket.
fn ticket_id(id: &str) -> Result<&str, Error> {
    if !id.is_empty() && id.len() <= 18 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id)
    } else {
        Err(Error::not_found("no such ticket"))
    }
}

fn numeric(id: &str) -> Result<u64, Error> {
    id.parse::<u64>()
        .map_err(|_| Error::not_found("no such resource"))
}

/// A JSON object body.
fn json_object(body: &[u8]) -> Result<Map<String, Value>, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(bad("JSON object expected"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(bad("JSON object expected")),
        Err(e) => Err(bad(format!("JSON parse error: {e}"))),
    }
}

/// The JSON object and uploaded files of a create or a reply: a JSON body, or a
/// multipart form with the JSON in a `JSON` field and files in `Attachments`.
fn json_and_files(
    request: &Request<Bytes>,
) -> Result<(Map<String, Value>, Vec<Attachment>), Error> {
    let ct = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(boundary) = form::boundary(ct) else {
        return Ok((json_object(request.body())?, Vec::new()));
    };
    let parts = form::parse(request.body(), &boundary)?;
    let mut object = Map::new();
    let mut files = Vec::new();
    for p in parts {
        if p.name == "JSON" && p.filename.is_none() {
            object = json_object(&p.data)?;
        } else if p.filename.is_some() {
            files.push(Attachment {
                name: p.filename.unwrap_or_default(),
                media_type: p
                    .content_type
                    .filter(|c| !c.is_empty())
                    .unwrap_or_else(|| "application/octet-stream".to_owned()),
                bytes: p.data.to_vec(),
                ..Attachment::default()
            });
        }
    }
    Ok((object, files))
}

fn string_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Addresses given as one string (comma separated) or a list.
fn addresses(v: &Value) -> Vec<String> {
    let list: Vec<String> = match v {
        Value::Array(a) => a.iter().filter_map(string_of).collect(),
        other => string_of(other).into_iter().collect(),
    };
    list.iter()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn contact(address: &str) -> Contact {
    if address.contains('@') {
        Contact {
            name: None,
            email: Some(address.to_owned()),
        }
    } else {
        Contact {
            name: Some(address.to_owned()),
            email: None,
        }
    }
}

/// `Content` and `ContentType` as a body.
fn body_of(o: &Map<String, Value>) -> Result<Body, Error> {
    let content = o.get("Content").and_then(string_of).unwrap_or_default();
    match o
        .get("ContentType")
        .and_then(Value::as_str)
        .unwrap_or("text/plain")
    {
        "text/html" => Ok(Body::html(content)),
        "text/plain" | "" => Ok(Body::text(content)),
        other => Err(bad(format!(
            "ContentType must be text/plain or text/html, not {other}"
        ))),
    }
}

/// RT's JSON `Attachments`: `[{"FileName", "FileType", "FileContent" (base64)}]`.
fn json_attachments(o: &Map<String, Value>) -> Result<Vec<Attachment>, Error> {
    let Some(list) = o.get("Attachments") else {
        return Ok(Vec::new());
    };
    let Value::Array(list) = list else {
        return Err(bad("Attachments must be a list"));
    };
    list.iter()
        .map(|a| {
            let name = a
                .get("FileName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim();
            if name.is_empty() {
                return Err(bad("each attachment needs a FileName"));
            }
            let data = a.get("FileContent").and_then(Value::as_str).unwrap_or("");
            let cleaned: String = data.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(cleaned)
                .map_err(|_| bad(format!("FileContent of {name} is not base64")))?;
            Ok(Attachment {
                name: name.to_owned(),
                media_type: a
                    .get("FileType")
                    .and_then(Value::as_str)
                    .filter(|t| !t.trim().is_empty())
                    .unwrap_or("application/octet-stream")
                    .to_owned(),
                bytes,
                ..Attachment::default()
            })
        })
        .collect()
}

/// A date as RT takes it: ISO 8601 / RFC 3339, or `YYYY-MM-DD HH:MM:SS` (UTC).
fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
                .ok()
                .map(|n| n.and_utc())
        })
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|n| n.and_utc())
        })
}

fn priority_ref(v: &Value) -> Result<Reference, Error> {
    wire::priority_level(v)
        .map(|l| Reference::name(l.as_str()))
        .ok_or_else(|| bad(format!("Priority {v} is not a number")))
}

impl Call<'_> {
    async fn queues_now(&self) -> Result<Queues, Error> {
        let departments = match self.helpdesk.lookup(LookupKind::Departments).await {
            Ok(d) => d,
            Err(e) if e.kind == ErrorKind::Unsupported => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(Queues {
            default: self.server.config.default_queue.clone(),
            departments,
        })
    }

    fn sub_fields(&self) -> SubFields {
        SubFields(
            self.params
                .iter()
                .filter_map(|(k, v)| {
                    let inner = k.strip_prefix("fields[")?.strip_suffix(']')?;
                    Some((
                        inner.to_owned(),
                        v.split(',')
                            .map(|s| s.trim().to_owned())
                            .filter(|s| !s.is_empty())
                            .collect(),
                    ))
                })
                .collect(),
        )
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn fields(&self) -> Vec<String> {
        self.param("fields")
            .map(|f| {
                f.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `page` (from 1) and `per_page` (20 by default, at most 100).
    fn paging(&self) -> (u64, u64) {
        let page = self
            .param("page")
            .and_then(|p| p.trim().parse::<u64>().ok())
            .filter(|p| *p >= 1)
            .unwrap_or(1);
        let per_page = self
            .param("per_page")
            .and_then(|p| p.trim().parse::<u64>().ok())
            .filter(|p| *p >= 1)
            .unwrap_or(wire::DEFAULT_PER_PAGE)
            .min(wire::MAX_PER_PAGE);
        (page, per_page)
    }

    /// The URL of another page of this same request.
    fn page_url(&self, what: &str, page: u64) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.params {
            if k != "page" {
                q.append_pair(k, v);
            }
        }
        q.append_pair("page", &page.to_string());
        format!("{}/{what}?{}", self.urls.base, q.finish())
    }

    fn paged(&self, what: &str, all: Vec<Value>) -> Response<Bytes> {
        let (page, per_page) = self.paging();
        let total = all.len() as u64;
        let start = usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX);
        let items: Vec<Value> = all
            .into_iter()
            .skip(start)
            .take(per_page as usize)
            .collect();
        ok(&wire::page(items, total, page, per_page, &|p| {
            self.page_url(what, p)
        }))
    }

    async fn create(&self, request: Request<Bytes>) -> Result<Response<Bytes>, Error> {
        let (o, mut files) = json_and_files(&request)?;
        let queue_name = o
            .get("Queue")
            .and_then(string_of)
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| bad("Could not create ticket. Queue not set"))?;
        let queues = self.queues_now().await?;
        let queue = queues.find(&queue_name).ok_or_else(|| {
            Error::forbidden(format!(
                "No permission to create tickets in the queue '{queue_name}'"
            ))
        })?;
        let mut requestors = o
            .get("Requestor")
            .or_else(|| o.get("Requestors"))
            .map(addresses)
            .unwrap_or_default();
        let requester = if requestors.is_empty() {
            // RT makes the caller the requestor.
            Requester {
                username: Some(self.consumer.name.to_string()),
                ..Requester::default()
            }
        } else {
            let first = contact(&requestors.remove(0));
            Requester {
                name: first.name,
                email: first.email,
                ..Requester::default()
            }
        };
        let mut cc: Vec<Contact> = requestors.iter().map(|a| contact(a)).collect();
        cc.extend(
            o.get("Cc")
                .map(addresses)
                .unwrap_or_default()
                .iter()
                .map(|a| contact(a)),
        );
        let mut attachments = json_attachments(&o)?;
        attachments.append(&mut files);
        let subject = o
            .get("Subject")
            .and_then(string_of)
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "(no subject)".to_owned());
        let status = match o.get("Status").and_then(string_of) {
            Some(s) => Some(initial_status(&s)?),
            None => None,
        };
        let ticket = NewTicket {
            subject,
            body: body_of(&o)?,
            requester,
            cc,
            status,
            priority: o.get("Priority").map(priority_ref).transpose()?,
            department: queue.department,
            assignee: o
                .get("Owner")
                .and_then(string_of)
                .filter(|v| !v.trim().is_empty() && !v.eq_ignore_ascii_case("nobody"))
                .map(|v| Reference::guess(&v)),
            due_at: match o.get("Due").and_then(string_of) {
                Some(d) => {
                    Some(parse_date(&d).ok_or_else(|| bad(format!("Due {d:?} is not a date")))?)
                }
                None => None,
            },
            custom_fields: match o.get("CustomFields") {
                Some(Value::Object(m)) => m.clone().into_iter().collect(),
                Some(_) => return Err(bad("CustomFields must be an object")),
                None => Default::default(),
            },
            attachments,
            ..NewTicket::default()
        };
        ticket.validate()?;
        let idempotency_key = request
            .headers()
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let created = self
            .cx
            .create(
                &self.consumer,
                ticket,
                CreateOptions {
                    idempotency_key,
                    may_queue: false,
                    // Answered with the id alone.
                    brief: true,
                },
            )
            .await?;
        let t = match created {
            Created::Ticket(t) | Created::Replayed(t) => t,
            Created::Queued { .. } => {
                return Err(Error::upstream_unavailable(
                    "the helpdesk cannot take the ticket now; retry later",
                ));
            }
        };
        let mut r = json_response(
            StatusCode::CREATED,
            &json!({"id": t.id, "type": "ticket", "_url": self.urls.of("ticket", &t.id)}),
            false,
        );
        if let Ok(v) = HeaderValue::from_str(&self.urls.location("ticket", &t.id)) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        Ok(r)
    }

    async fn ticket(&self, id: &str) -> Result<Ticket, Error> {
        self.helpdesk.get(ticket_id(id)?).await
    }

    async fn get(&self, id: &str) -> Result<Response<Bytes>, Error> {
        let t = self.ticket(id).await?;
        let queues = self.queues_now().await?;
        let mut r = ok(&wire::ticket(&self.urls, &queues, &t, &self.sub_fields()));
        if let Ok(v) = HeaderValue::from_str(&wire::date(Some(&t.updated_at))) {
            r.headers_mut().insert(header::LAST_MODIFIED, v);
        }
        Ok(r)
    }

    async fn update(&self, id: &str, body: &Bytes) -> Result<Response<Bytes>, Error> {
        let o = json_object(body)?;
        let t = self.ticket(id).await?;
        let queues = self.queues_now().await?;
        let n = &t.id;
        let mut msgs: Vec<(String, String)> = Vec::new();
        let mut say =
            |field: &str, m: String| msgs.push((field.to_owned(), format!("Ticket {n}: {m}")));
        let mut patch = TicketPatch::default();
        let mut status_change = None;
        for (key, v) in &o {
            match key.as_str() {
                "Subject" => {
                    let new = string_of(v).unwrap_or_default();
                    if new == t.subject {
                        say(key, "That is already the current value".into());
                    } else {
                        say(
                            key,
                            format!("Subject changed from '{}' to '{new}'", t.subject),
                        );
                        patch.subject = Some(new);
                    }
                }
                "Priority" => {
                    let level = wire::priority_level(v)
                        .ok_or_else(|| bad(format!("Priority {v} is not a number")))?;
                    let (old, new) = (wire::ticket_priority(&t), wire::rt_priority(level));
                    say(
                        key,
                        format!(
                            "Priority changed from '{}' to '{}'",
                            wire::priority_as_string(old),
                            wire::priority_as_string(new)
                        ),
                    );
                    patch.priority = Some(Reference::name(level.as_str()));
                }
                "Queue" => {
                    let name = string_of(v).unwrap_or_default();
                    let old = queues.of_ticket(&t);
                    match queues.find(&name) {
                        None => say(key, "That queue does not exist".into()),
                        Some(q) if q.id == old.id => {
                            say(key, "That is already the current value".into());
                        }
                        Some(q) => match q.department {
                            Some(d) => {
                                say(
                                    key,
                                    format!("Queue changed from '{}' to '{}'", old.name, q.name),
                                );
                                patch.department = Some(d);
                            }
                            None => say(
                                key,
                                format!(
                                    "Queue cannot be changed to '{}': this gateway cannot take a ticket out of its department",
                                    q.name
                                ),
                            ),
                        },
                    }
                }
                "Owner" => {
                    let new = string_of(v).unwrap_or_default();
                    let old = wire::owner_name(&t);
                    if new.eq_ignore_ascii_case(&old) {
                        say(key, "That is already the current value".into());
                    } else if new.eq_ignore_ascii_case("nobody") || new.is_empty() {
                        say(key, "Owner cannot be cleared through this gateway".into());
                    } else {
                        say(key, format!("Owner changed from {old} to {new}"));
                        patch.assignee = Some(Reference::guess(&new));
                    }
                }
                "Requestor" | "Requestors" => {
                    let list = addresses(v);
                    if let Some(first) = list.first() {
                        let c = contact(first);
                        say(key, format!("Requestor set to {first}"));
                        patch.requester = Some(Requester {
                            name: c.name,
                            email: c.email,
                            ..Requester::default()
                        });
                    }
                }
                "Due" => {
                    let d = string_of(v).unwrap_or_default();
                    let new =
                        parse_date(&d).ok_or_else(|| bad(format!("Due {d:?} is not a date")))?;
                    say(
                        key,
                        format!(
                            "Due changed from '{}' to '{}'",
                            wire::date(t.due_at.as_ref()),
                            wire::date(Some(&new))
                        ),
                    );
                    patch.due_at = Some(new);
                }
                "CustomFields" => {
                    let Value::Object(m) = v else {
                        return Err(bad("CustomFields must be an object"));
                    };
                    for (name, value) in m {
                        say(
                            key,
                            format!(
                                "{name} {} added",
                                string_of(value).unwrap_or_else(|| value.to_string())
                            ),
                        );
                        patch.custom_fields.insert(name.clone(), value.clone());
                    }
                }
                "Status" => {
                    let new = string_of(v).unwrap_or_default().to_ascii_lowercase();
                    let old = wire::rt_status(t.status.state);
                    if new == old {
                        say(key, "That is already the current value".into());
                    } else if ticketsql::states_of(&new).is_none() || new.starts_with("__") {
                        say(
                            key,
                            format!("Status '{new}' isn't a valid status for this ticket"),
                        );
                    } else {
                        say(key, format!("Status changed from '{old}' to '{new}'"));
                        status_change = Some(new);
                    }
                }
                other => say(other, format!("{other}: not supported by this gateway")),
            }
        }
        if let Some(s) = &status_change
            && s == "deleted"
            && !self.consumer.permissions.has(Permission::Delete)
        {
            return Err(Error::forbidden(
                "this consumer lacks the delete permission",
            ));
        }
        if let Some(s) = status_change.as_deref()
            && let Some(state) = plain_state(s)
        {
            patch.status = Some(Reference::name(state.as_str()));
            status_change = None;
        }
        if !patch.is_empty() {
            patch.validate()?;
            self.helpdesk.update(&t.id, patch).await?;
        }
        if let Some(s) = status_change {
            self.transition(&t.id, &s).await?;
        }
        msgs.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(ok(&Value::Array(
            msgs.into_iter().map(|(_, m)| Value::String(m)).collect(),
        )))
    }

    /// Move a ticket to `resolved`, `rejected` or `deleted`.
    async fn transition(&self, id: &str, status: &str) -> Result<(), Error> {
        match status {
            "resolved" => self
                .helpdesk
                .resolve(id, Resolution::default())
                .await
                .map(drop),
            "rejected" => self.helpdesk.close(id, Closure::default()).await.map(drop),
            "deleted" => self.helpdesk.delete(id, DeleteMode::Soft).await,
            other => Err(bad(format!(
                "Status '{other}' isn't a valid status for this ticket"
            ))),
        }
    }

    async fn delete(&self, id: &str) -> Result<Response<Bytes>, Error> {
        self.helpdesk
            .delete(ticket_id(id)?, DeleteMode::Soft)
            .await?;
        let mut r = Response::new(Bytes::new());
        *r.status_mut() = StatusCode::NO_CONTENT;
        Ok(r)
    }

    async fn reply(
        &self,
        id: &str,
        comment: bool,
        request: Request<Bytes>,
    ) -> Result<Response<Bytes>, Error> {
        let id = ticket_id(id)?;
        let (o, mut files) = json_and_files(&request)?;
        let mut attachments = json_attachments(&o)?;
        attachments.append(&mut files);
        let body = body_of(&o)?;
        if body.content.trim().is_empty() && attachments.is_empty() {
            return Err(bad("No content or attachments"));
        }
        let entry = NewEntry {
            kind: if comment {
                EntryKind::Note
            } else {
                EntryKind::Response
            },
            body,
            author: Some(Contact {
                name: Some(self.consumer.name.to_string()),
                email: None,
            }),
            attachments,
            ..NewEntry::default()
        };
        entry.validate()?;
        let added = self.helpdesk.add_entry(id, entry).await?;
        let mut msgs = vec![json!(if comment {
            "Comments added"
        } else {
            "Correspondence added"
        })];
        if let Some(s) = o.get("Status").and_then(string_of) {
            let s = s.to_ascii_lowercase();
            if let Some(state) = plain_state(&s) {
                let patch = TicketPatch {
                    status: Some(Reference::name(state.as_str())),
                    ..TicketPatch::default()
                };
                self.helpdesk.update(id, patch).await?;
            } else {
                self.transition(id, &s).await?;
            }
            msgs.push(json!(format!("Status changed to '{s}'")));
        }
        // The new transaction's id: the entry's place in the thread.
        let t = self.helpdesk.get(id).await?;
        let txn = t
            .entries
            .iter()
            .position(|e| e.id == added.id)
            .and_then(|i| wire::txn_id(numeric(&t.id).ok()?, 2 + i as u64));
        let mut r = json_response(StatusCode::CREATED, &Value::Array(msgs), true);
        if let Some(txn) = txn
            && let Ok(v) = HeaderValue::from_str(&self.urls.location("transaction", txn))
        {
            r.headers_mut().insert(header::LOCATION, v);
        }
        Ok(r)
    }

    async fn history(&self, id: &str) -> Result<Response<Bytes>, Error> {
        let t = self.ticket(id).await?;
        let fields = self.fields();
        let sub = self.sub_fields();
        let items: Vec<Value> = wire::transactions(&t)
            .iter()
            .map(|x| {
                let full = wire::transaction(&self.urls, &t.id, x, &sub);
                wire::item(
                    &self.urls,
                    "transaction",
                    &x.id.to_string(),
                    Some(&full),
                    &fields,
                )
            })
            .collect();
        Ok(self.paged(&format!("ticket/{}/history", t.id), items))
    }

    async fn ticket_attachments(&self, id: &str, body: &Bytes) -> Result<Response<Bytes>, Error> {
        let t = self.ticket(id).await?;
        let filters = attachment_filters(body)?;
        let fields = self.fields();
        let mut items = Vec::new();
        for x in wire::transactions(&t) {
            for (aid, p) in wire::attachment_ids(&x) {
                if filters.iter().all(|f| f.matches(&p)) {
                    let full = wire::attachment_fields(&self.urls, &x, aid, &p);
                    items.push(wire::item(
                        &self.urls,
                        "attachment",
                        &aid.to_string(),
                        Some(&full),
                        &fields,
                    ));
                }
            }
        }
        Ok(self.paged(&format!("ticket/{}/attachments", t.id), items))
    }

    async fn take(&self, id: &str, how: Take) -> Result<Response<Bytes>, Error> {
        let t = self.ticket(id).await?;
        let me = self.consumer.name.to_string();
        let owner = wire::owner_name(&t);
        let mine = owner.eq_ignore_ascii_case(&me);
        let unowned = t.assignee.is_none();
        let message = match how {
            Take::Mine if mine => "That user already owns that ticket".to_owned(),
            Take::Mine if !unowned => "You can only take tickets that are unowned".to_owned(),
            Take::Steal if mine => "You already own this ticket".to_owned(),
            Take::Mine | Take::Steal => {
                self.helpdesk
                    .assign(
                        &t.id,
                        Assignment {
                            assignee: Some(Reference::name(me.clone())),
                            ..Assignment::default()
                        },
                    )
                    .await?;
                format!("Owner changed from {owner} to {me}")
            }
            Take::Untake if !mine => "You can only untake tickets you own".to_owned(),
            Take::Untake => {
                return Err(Error::unsupported(
                    "this gateway",
                    "untake (clearing a ticket's owner)",
                ));
            }
        };
        Ok(ok(&json!([message])))
    }

    async fn transaction_of(&self, id: &str) -> Result<(Ticket, u64), Error> {
        let txn = numeric(id)?;
        let (ticket, _) =
            wire::split_txn(txn).ok_or_else(|| Error::not_found("no such transaction"))?;
        let t = self.helpdesk.get(&ticket.to_string()).await?;
        Ok((t, txn))
    }

    async fn transaction(&self, id: &str) -> Result<Response<Bytes>, Error> {
        let (t, txn) = self.transaction_of(id).await?;
        let all = wire::transactions(&t);
        let x = all
            .iter()
            .find(|x| x.id == txn)
            .ok_or_else(|| Error::not_found("no such transaction"))?;
        Ok(ok(&wire::transaction(
            &self.urls,
            &t.id,
            x,
            &SubFields::default(),
        )))
    }

    async fn transaction_attachments(&self, id: &str) -> Result<Response<Bytes>, Error> {
        let (t, txn) = self.transaction_of(id).await?;
        let all = wire::transactions(&t);
        let x = all
            .iter()
            .find(|x| x.id == txn)
            .ok_or_else(|| Error::not_found("no such transaction"))?;
        let fields = self.fields();
        let items = wire::attachment_ids(x)
            .into_iter()
            .map(|(aid, p)| {
                let full = wire::attachment_fields(&self.urls, x, aid, &p);
                wire::item(
                    &self.urls,
                    "attachment",
                    &aid.to_string(),
                    Some(&full),
                    &fields,
                )
            })
            .collect();
        Ok(self.paged(&format!("transaction/{txn}/attachments"), items))
    }

    async fn attachment(&self, id: &str) -> Result<Response<Bytes>, Error> {
        let aid = numeric(id)?;
        let (txn, _) =
            wire::split_attachment(aid).ok_or_else(|| Error::not_found("no such attachment"))?;
        let (t, txn) = self.transaction_of(&txn.to_string()).await?;
        let all = wire::transactions(&t);
        let x = all
            .iter()
            .find(|x| x.id == txn)
            .ok_or_else(|| Error::not_found("no such attachment"))?;
        let (_, p) = wire::attachment_ids(x)
            .into_iter()
            .find(|(a, _)| *a == aid)
            .ok_or_else(|| Error::not_found("no such attachment"))?;
        Ok(ok(&wire::attachment(&self.urls, x, aid, &p)))
    }

    async fn search(&self, request: Request<Bytes>) -> Result<Response<Bytes>, Error> {
        let mut params = self.params.clone();
        if request.method() == Method::POST {
            let ct = request
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if ct.starts_with("application/json") {
                // RT 5.0.3 does not apply a JSON filter to tickets: it answers an
                // empty result, and so does this gateway.
                let (_, per_page) = self.paging();
                return Ok(ok(&wire::page(Vec::new(), 0, 1, per_page, &|_| {
                    String::new()
                })));
            }
            params.extend(form_urlencoded::parse(request.body()).into_owned());
        }
        let get = |name: &str| {
            params
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let call = Call {
            server: self.server,
            cx: self.cx,
            consumer: self.consumer.clone(),
            helpdesk: self.helpdesk.clone(),
            urls: self.urls.clone(),
            params: params.clone(),
        };
        let text = get("query").unwrap_or_default();
        let simple = get("simple").is_some_and(|s| s == "1");
        let queues = self.queues_now().await?;
        let (page, per_page) = call.paging();
        let (sort, order) = sort_of(get("orderby").as_deref(), get("order").as_deref());
        let (items, total) = if simple {
            let query = Query {
                text: Some(text.clone()).filter(|t| !t.trim().is_empty()),
                sort,
                order,
                offset: u32::try_from((page - 1) * per_page).unwrap_or(u32::MAX),
                limit: per_page as u32,
                ..Query::default()
            };
            let found = self.helpdesk.search(&query).await?;
            (found.items, found.total)
        } else {
            let expr = ticketsql::parse(&text).map_err(bad)?;
            let cx = Context { queues: &queues };
            let mut push = ticketsql::pushdown(&expr, &cx);
            push.query.sort = sort;
            push.query.order = order;
            if push.impossible {
                (Vec::new(), 0)
            } else if let Some(id) = push.single_id.clone() {
                let found = match self.helpdesk.get(&id).await {
                    Ok(t)
                        if expr.matches(&t, &cx)
                            && (expr.mentions_status() || t.status.state != State::Deleted) =>
                    {
                        vec![t]
                    }
                    Ok(_) => vec![],
                    Err(e) if e.kind == ErrorKind::NotFound || e.kind == ErrorKind::BadInput => {
                        vec![]
                    }
                    Err(e) => return Err(e),
                };
                let total = found.len() as u64;
                (
                    found
                        .into_iter()
                        .skip(((page - 1) * per_page) as usize)
                        .collect(),
                    total,
                )
            } else if push.exact {
                push.query.offset = u32::try_from((page - 1) * per_page).unwrap_or(u32::MAX);
                push.query.limit = per_page as u32;
                let found = self.helpdesk.search(&push.query).await?;
                (found.items, found.total)
            } else {
                let all = self.scan(push.query, &expr, &cx).await?;
                let total = all.len() as u64;
                let start = usize::try_from((page - 1) * per_page).unwrap_or(usize::MAX);
                (
                    all.into_iter()
                        .skip(start)
                        .take(per_page as usize)
                        .collect(),
                    total,
                )
            }
        };
        let fields = call.fields();
        let sub = call.sub_fields();
        let items: Vec<Value> = items
            .iter()
            .map(|t| {
                let full = (!fields.is_empty()).then(|| wire::ticket(&self.urls, &queues, t, &sub));
                wire::item(&self.urls, "ticket", &t.id, full.as_ref(), &fields)
            })
            .collect();
        Ok(ok(&wire::page(items, total, page, per_page, &|p| {
            call.page_url("tickets", p)
        })))
    }

    /// Every ticket the pushed-down query finds that matches the whole expression, in
    /// the query's order.
    async fn scan(
        &self,
        mut query: Query,
        expr: &ticketsql::Expr,
        cx: &Context<'_>,
    ) -> Result<Vec<Ticket>, Error> {
        let show_deleted = expr.mentions_status();
        let batch = ticketgate_model::ops::MAX_SEARCH_LIMIT.min(500);
        query.limit = batch;
        query.offset = 0;
        let mut out = Vec::new();
        loop {
            let page = self.helpdesk.search(&query).await?;
            let n = page.items.len() as u32;
            out.extend(page.items.into_iter().filter(|t| {
                (show_deleted || t.status.state != State::Deleted) && expr.matches(t, cx)
            }));
            query.offset += n;
            if n < batch || u64::from(query.offset) >= page.total {
                return Ok(out);
            }
            if query.offset >= MAX_SCANNED {
                return Err(bad(format!(
                    "this query would have the gateway look through more than {MAX_SCANNED} tickets; add a Queue, Status, Requestor or Owner condition joined by AND"
                )));
            }
        }
    }

    async fn queues(&self) -> Result<Response<Bytes>, Error> {
        let queues = self.queues_now().await?;
        let fields = self.fields();
        let items = queues
            .all()
            .iter()
            .map(|q| {
                let full = wire::queue(&self.urls, q);
                wire::item(&self.urls, "queue", &q.id, Some(&full), &fields)
            })
            .collect();
        Ok(self.paged("queues/all", items))
    }

    async fn queue(&self, id: &str) -> Result<Response<Bytes>, Error> {
        let queues = self.queues_now().await?;
        let q = queues
            .find(id)
            .ok_or_else(|| Error::not_found("no such queue"))?;
        Ok(ok(&wire::queue(&self.urls, &q)))
    }

    async fn user(&self, id: &str) -> Result<Response<Bytes>, Error> {
        let id = id.trim();
        let system = match id {
            "Nobody" => Some("Nobody in particular"),
            "RT_System" => Some("The RT System itself"),
            _ => None,
        };
        if let Some(real) = system {
            return Ok(ok(&wire::user_record(
                &self.urls,
                id,
                None,
                Some(real),
                false,
            )));
        }
        if id.eq_ignore_ascii_case(&self.consumer.name) {
            return Ok(ok(&wire::user_record(
                &self.urls,
                &self.consumer.name,
                None,
                None,
                true,
            )));
        }
        let agents = match self.helpdesk.lookup(LookupKind::Agents).await {
            Ok(a) => a,
            Err(e) if e.kind == ErrorKind::Unsupported => Vec::new(),
            Err(e) => return Err(e),
        };
        if let Some(a) = agents
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(id) || a.id == id)
        {
            return Ok(ok(&wire::user_record(
                &self.urls,
                &a.name,
                None,
                Some(&a.name),
                true,
            )));
        }
        if ticketgate_model::ops::looks_like_email(id) {
            let query = Query {
                requester_email: Some(id.to_owned()),
                include_deleted: true,
                limit: 1,
                ..Query::default()
            };
            if let Some(t) = self.helpdesk.search(&query).await?.items.first() {
                return Ok(ok(&wire::user_record(
                    &self.urls,
                    id,
                    Some(id),
                    t.requester.name.as_deref(),
                    false,
                )));
            }
        }
        Err(Error::not_found("no such user"))
    }
}

/// `new`, `open` and `stalled` are plain status changes; `resolved`, `rejected` and
/// `deleted` are operations of their own.
fn plain_state(status: &str) -> Option<State> {
    match status {
        "new" => Some(State::New),
        "open" => Some(State::Open),
        "stalled" => Some(State::Pending),
        _ => None,
    }
}

fn initial_status(s: &str) -> Result<Reference, Error> {
    plain_state(&s.to_ascii_lowercase())
        .map(|st| Reference::name(st.as_str()))
        .ok_or_else(|| {
            bad(format!(
                "Status '{s}' isn't a valid status for a new ticket"
            ))
        })
}

/// RT's `orderby` and `order` (id ascending by default).
fn sort_of(orderby: Option<&str>, order: Option<&str>) -> (SortField, SortOrder) {
    let field = match orderby.map(|o| o.trim().to_ascii_lowercase()).as_deref() {
        Some("created") => SortField::Created,
        Some("lastupdated") => SortField::Updated,
        Some("due") => SortField::Due,
        Some("subject") => SortField::Subject,
        Some("priority") => SortField::Priority,
        Some("status") => SortField::Status,
        _ => SortField::Number,
    };
    let order = match order.map(|o| o.trim().to_ascii_uppercase()).as_deref() {
        Some("DESC") => SortOrder::Desc,
        _ => SortOrder::Asc,
    };
    (field, order)
}

/// One condition of RT's JSON filter on attachments:
/// `[{"field": "Filename", "operator": "IS NOT", "value": ""}]`.
struct AttachmentFilter {
    field: String,
    operator: String,
    value: String,
}

impl AttachmentFilter {
    fn matches(&self, p: &wire::Part<'_>) -> bool {
        let actual = match self.field.as_str() {
            "Filename" => p.filename(),
            _ => p.content_type(),
        };
        let same = actual.eq_ignore_ascii_case(&self.value);
        match self.operator.as_str() {
            "=" | "IS" => same,
            "!=" | "IS NOT" => !same,
            "LIKE" => actual.to_lowercase().contains(&self.value.to_lowercase()),
            "NOT LIKE" => !actual.to_lowercase().contains(&self.value.to_lowercase()),
            _ => false,
        }
    }
}

fn attachment_filters(body: &Bytes) -> Result<Vec<AttachmentFilter>, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let v: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("JSON parse error: {e}")))?;
    let Value::Array(list) = v else {
        return Err(bad("JSON array expected"));
    };
    list.iter()
        .map(|f| {
            let field = f
                .get("field")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if field != "Filename" && field != "ContentType" {
                return Err(bad(format!(
                    "Unsupported filter field: {field} (Filename or ContentType)"
                )));
            }
            let operator = f
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or("=")
                .trim()
                .to_ascii_uppercase();
            if !matches!(
                operator.as_str(),
                "=" | "IS" | "!=" | "IS NOT" | "LIKE" | "NOT LIKE"
            ) {
                return Err(bad(format!("Unsupported filter operator: {operator}")));
            }
            Ok(AttachmentFilter {
                field,
                operator,
                value: f.get("value").and_then(string_of).unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(p: &str) -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn routes_and_permissions() {
        assert_eq!(route(&Method::POST, &seg("ticket")), Route::Create);
        assert_eq!(route(&Method::GET, &seg("ticket")), Route::MethodNotAllowed);
        assert_eq!(
            need(&Method::PUT, &seg("ticket/1/take")),
            Some(Permission::Update)
        );
        assert_eq!(
            need(&Method::GET, &seg("tickets")),
            Some(Permission::Search)
        );
        assert_eq!(
            need(&Method::DELETE, &seg("ticket/1")),
            Some(Permission::Delete)
        );
        assert_eq!(need(&Method::GET, &seg("nothing/here")), None);
        assert_eq!(
            route(&Method::POST, &seg("ticket/3/comment")),
            Route::Reply {
                id: "3".into(),
                comment: true
            }
        );
    }

    #[test]
    fn bodies() {
        assert!(json_object(b"[1]").is_err());
        assert!(
            json_object(b"{")
                .unwrap_err()
                .message
                .starts_with("JSON parse error")
        );
        assert_eq!(addresses(&json!("a@x, b@y")), vec!["a@x", "b@y"]);
        assert_eq!(addresses(&json!(["a@x", "b@y,c@z"])).len(), 3);
        let o = json_object(br#"{"Attachments":[{"FileName":"a.txt","FileType":"text/plain","FileContent":"aGk="}]}"#).unwrap();
        assert_eq!(json_attachments(&o).unwrap()[0].bytes, b"hi");
        let o =
            json_object(br#"{"Attachments":[{"FileName":"a.txt","FileContent":"***"}]}"#).unwrap();
        assert!(json_attachments(&o).is_err());
        assert!(parse_date("2026-12-02 10:00:00").is_some());
        assert!(parse_date("2026-12-02T10:00:00Z").is_some());
        assert!(parse_date("tomorrow").is_none());
    }
}
