//! Lists and the search engine: `GET /Ticket` (range, sort, order, Content-Range,
//! 206), `search/Ticket` (criteria, forcedisplay, option-id columns), and dropdown
//! lists.

use super::items::{Dropdown, dropdown_rows};
use super::{Call, Outcome, Reply};
use crate::errors::{ApiError, Stage};
use crate::mapping::{self, TICKET_COLUMNS};
use crate::search::{self, LIST_LIMIT, parse_range};
use serde_json::{Value, json};
use ticketgate_model::ops::MAX_SEARCH_LIMIT;
use ticketgate_model::{ErrorKind, Permission, Query, SortField, SortOrder, State};

/// PHP's `max_input_vars` on a stock server, shown in `Accept-Range`.
pub const MAX_INPUT_VARS: u32 = 1000;

/// The window a range asks for, bounded by what one canonical search returns.
fn window(start: u64, end: u64) -> (u32, u32) {
    let limit = end.saturating_sub(start).saturating_add(1);
    let limit = u32::try_from(limit.min(u64::from(MAX_SEARCH_LIMIT))).unwrap_or(MAX_SEARCH_LIMIT);
    (u32::try_from(start).unwrap_or(u32::MAX), limit)
}

/// Content-Range end: the last row that exists in the window.
fn range_end(start: u64, end: u64, limit: u32, total: u64) -> u64 {
    end.min(total.saturating_sub(1))
        .min(start.saturating_add(u64::from(limit)).saturating_sub(1))
}

/// A sub-list's `range`: GLPI's default window is the first 1000 rows.
pub fn parse_range_param(v: Option<&Value>) -> Result<(u64, u64), ApiError> {
    Ok(parse_range(v)?.unwrap_or((0, u64::from(MAX_INPUT_VARS) - 1)))
}

fn column_sort(column: &str) -> SortField {
    match column {
        "name" => SortField::Subject,
        "date" | "date_creation" => SortField::Created,
        "date_mod" => SortField::Updated,
        "priority" => SortField::Priority,
        "status" => SortField::Status,
        "time_to_resolve" => SortField::Due,
        _ => SortField::Number,
    }
}

pub async fn list_tickets(call: &Call<'_>) -> Outcome {
    let p = &call.params;
    let (start, end) = parse_range(p.get("range"))?.unwrap_or((0, LIST_LIMIT));
    let sort = p.text("sort").unwrap_or_else(|| "id".to_owned());
    if !TICKET_COLUMNS.contains(&sort.as_str()) {
        return Err(ApiError::bad_request(
            "sort param is not a field of glpi_tickets",
        ));
    }
    let order = match p.text("order").map(|o| o.to_ascii_uppercase()).as_deref() {
        None | Some("ASC") => SortOrder::Asc,
        Some("DESC") => SortOrder::Desc,
        Some(_) => return Err(ApiError::bad_request("order must be DESC or ASC")),
    };
    let (consumer, _) = call.consumer(Permission::Search).await?;
    let (offset, limit) = window(start, end);
    let deleted = call.flag("is_deleted", false);
    let text = p
        .get("searchText")
        .and_then(|s| s.get("name").or_else(|| s.get("content")))
        .and_then(mapping::as_text)
        .filter(|t| !t.trim().is_empty());
    let q = Query {
        text,
        states: if deleted {
            vec![State::Deleted]
        } else {
            vec![]
        },
        include_deleted: deleted,
        sort: column_sort(&sort),
        order,
        offset,
        limit,
        ..Query::default()
    };
    let page = call
        .cx
        .helpdesk(&consumer)
        .search(&q)
        .await
        .map_err(|e| ApiError::from_canonical(&e, Stage::Read))?;
    let total = page.total;
    if start > total {
        return Err(ApiError::range_exceed_total(total));
    }
    let expand = call.flag("expand_dropdowns", false);
    let hateoas = call.flag("get_hateoas", true);
    let only_id = call.flag("only_id", false);
    let rows: Vec<Value> = page
        .items
        .iter()
        .map(|t| {
            if only_id {
                return json!({"id": mapping::id_value(&t.id)});
            }
            let mut row = mapping::ticket_row(t, expand);
            if hateoas {
                row.insert("links".into(), mapping::ticket_links(t, &call.api_url));
            }
            Value::Object(row)
        })
        .collect();
    Ok(ranged(
        Reply::json(0, Value::Array(rows)),
        "Ticket",
        start,
        end,
        limit,
        total,
    ))
}

/// Status, Accept-Range and Content-Range of a list answer.
fn ranged(mut reply: Reply, itemtype: &str, start: u64, end: u64, limit: u32, total: u64) -> Reply {
    reply.status = 200;
    reply = reply.header("accept-range", format!("{itemtype} {MAX_INPUT_VARS}"));
    if total > 0 {
        let last = range_end(start, end, limit, total);
        reply = reply.header("content-range", format!("{start}-{last}/{total}"));
        if last.saturating_add(1).saturating_sub(start) < total {
            reply.status = 206;
        }
    }
    reply
}

pub async fn search_tickets(call: &Call<'_>) -> Outcome {
    let spec = search::search_spec(&call.params.values)?;
    let (consumer, _) = call.consumer(Permission::Search).await?;
    let helpdesk = call.cx.helpdesk(&consumer);
    // GLPI's default search window is [0, list_limit] but shows list_limit rows.
    let explicit_range = call.params.get("range").is_some();
    let (offset, mut limit) = window(spec.start, spec.end);
    if !explicit_range {
        limit = u32::try_from(LIST_LIMIT).unwrap_or(15);
    }
    let (items, total) = match &spec.id {
        _ if spec.matches_nothing => (vec![], 0),
        Some(id) => match helpdesk.get(id).await {
            Ok(t) if matches_states(&t, &spec.query) => (vec![t], 1),
            Ok(_) => (vec![], 0),
            Err(e) if e.kind == ErrorKind::NotFound => (vec![], 0),
            Err(e) => return Err(ApiError::from_canonical(&e, Stage::Read)),
        },
        None => {
            let q = Query {
                offset,
                limit,
                ..spec.query.clone()
            };
            let page = helpdesk
                .search(&q)
                .await
                .map_err(|e| ApiError::from_canonical(&e, Stage::Read))?;
            (page.items, page.total)
        }
    };
    if spec.start > total {
        return Err(ApiError::range_exceed_total(total));
    }
    let plain: Vec<(String, serde_json::Map<String, Value>)> = items
        .iter()
        .map(|t| (t.id.clone(), search::search_row(t, &spec.columns)))
        .collect();
    // `withindexes`: PHP arrays keyed by item id, which JSON writes as an object.
    let shape = |rows: Vec<(String, Value)>| -> Value {
        if spec.with_indexes {
            Value::Object(rows.into_iter().collect())
        } else {
            Value::Array(rows.into_iter().map(|(_, r)| r).collect())
        }
    };
    let rows = shape(
        plain
            .iter()
            .map(|(id, row)| {
                let row = if spec.uid_cols {
                    search::by_uid(row.clone(), &spec.columns)
                } else {
                    row.clone()
                };
                (id.clone(), Value::Object(row))
            })
            .collect(),
    );
    let html = spec.give_items.then(|| {
        shape(
            plain
                .into_iter()
                .map(|(id, row)| (id, Value::Object(row)))
                .collect(),
        )
    });
    let count = items.len() as u64;
    let last = range_end(spec.start, spec.end, limit, total);
    // GLPI 10 answers the sort and order as lists (one per sort column), and an
    // empty result as the range `start-(start-1)`: `0--1/0`.
    let mut body = json!({
        "totalcount": total,
        "count": count,
        "sort": [if spec.sort_is_number { json!(spec.sort.to_string()) } else { json!(0) }],
        "order": [spec.order],
    });
    if count > 0 {
        body["data"] = rows;
    }
    if let Some(html) = html {
        body["data_html"] = if count > 0 { html } else { json!([]) };
    }
    let body_range = if total == 0 {
        format!("{}-{}/0", spec.start, i128::from(spec.start) - 1)
    } else {
        format!("{}-{last}/{total}", spec.start)
    };
    body["content-range"] = json!(body_range);
    let mut reply = Reply::json(if count >= total { 200 } else { 206 }, body)
        .header("accept-range", format!("Ticket {MAX_INPUT_VARS}"));
    let mut order: Vec<String> = ["totalcount", "count", "sort", "order", "data", "data_html"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    if !spec.uid_cols {
        order.extend(spec.columns.iter().map(u32::to_string));
    }
    order.push("content-range".into());
    reply.key_order = Some(order);
    if total > 0 {
        reply = reply.header("content-range", format!("{}-{last}/{total}", spec.start));
    }
    Ok(reply)
}

fn matches_states(t: &ticketgate_model::Ticket, q: &Query) -> bool {
    if q.states.is_empty() {
        q.include_deleted || t.status.state != State::Deleted
    } else {
        q.states.contains(&t.status.state)
    }
}

pub async fn list_dropdown(call: &Call<'_>, d: Dropdown) -> Outcome {
    let (start, end) = parse_range(call.params.get("range"))?.unwrap_or((0, LIST_LIMIT));
    let (consumer, _) = call.consumer(Permission::Read).await?;
    let mut rows = dropdown_rows(call, &consumer, d).await?;
    if let Some(needle) = call
        .params
        .get("searchText")
        .and_then(|s| s.get("name"))
        .and_then(mapping::as_text)
        .map(|s| s.to_lowercase())
    {
        rows.retain(|r| {
            r.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.to_lowercase().contains(&needle))
        });
    }
    let total = rows.len() as u64;
    if start > total {
        return Err(ApiError::range_exceed_total(total));
    }
    let (offset, limit) = window(start, end);
    let page: Vec<Value> = rows
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    Ok(ranged(
        Reply::json(0, Value::Array(page)),
        d.itemtype(),
        start,
        end,
        limit,
        total,
    ))
}

/// `search/User` over the helpdesk's agents: criteria on the login (option 1) and
/// the id (2), GLPI's default columns (login, surname, emails, phone, location,
/// active) or `forcedisplay`, GLPI's paging. ticketgate knows an agent's login and
/// id only: the other columns are null, and a criterion on them is a 501.
pub async fn search_users(call: &Call<'_>) -> Outcome {
    const KNOWN: &[u32] = &[1, 2, 3, 5, 6, 8, 9, 11, 13, 14, 15, 20, 34, 80, 150];
    let p = &call.params;
    let mut needles: Vec<(u32, String, String)> = Vec::new();
    if let Some(c) = p.get("criteria") {
        for c in crate::params::list(c) {
            let field = c
                .get("field")
                .and_then(mapping::as_i64)
                .and_then(|n| u32::try_from(n).ok())
                .filter(|f| KNOWN.contains(f))
                .ok_or_else(|| ApiError::bad_request("Bad field ID in search criteria"))?;
            let searchtype = c
                .get("searchtype")
                .and_then(mapping::as_text)
                .unwrap_or_else(|| "contains".to_owned())
                .to_ascii_lowercase();
            let value = c
                .get("value")
                .and_then(mapping::as_text)
                .unwrap_or_default();
            if !matches!(field, 1 | 2) || !matches!(searchtype.as_str(), "contains" | "equals") {
                return Err(ApiError::unsupported(format!(
                    "search criterion {searchtype} on User field {field} is not supported by ticketgate"
                )));
            }
            needles.push((field, searchtype, value));
        }
    }
    let (consumer, _) = call.consumer(Permission::Read).await?;
    let rows = super::items::dropdown_rows(call, &consumer, Dropdown::User).await?;
    let matches = |row: &Value| {
        needles.iter().all(|(field, searchtype, value)| {
            let have = row
                .get(if *field == 1 { "name" } else { "id" })
                .and_then(mapping::as_text)
                .unwrap_or_default()
                .to_lowercase();
            let want = value.trim().to_lowercase();
            match searchtype.as_str() {
                "equals" => have == want,
                _ => {
                    let core = want.trim_start_matches('^').trim_end_matches('$');
                    match (want.starts_with('^'), want.ends_with('$')) {
                        (true, true) => have == core,
                        (true, false) => have.starts_with(core),
                        (false, true) => have.ends_with(core),
                        (false, false) => have.contains(core),
                    }
                }
            }
        })
    };
    let mut found: Vec<&Value> = rows.iter().filter(|r| matches(r)).collect();
    found.sort_by_key(|r| {
        r.get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_lowercase()
    });
    let forced: Vec<u32> = p
        .get("forcedisplay")
        .map(|f| {
            crate::params::list(f)
                .into_iter()
                .filter_map(mapping::as_i64)
                .filter_map(|n| u32::try_from(n).ok())
                .collect()
        })
        .unwrap_or_default();
    let mut columns = vec![1u32];
    let display = if forced.is_empty() {
        vec![34, 5, 6, 3, 8]
    } else {
        forced
    };
    for c in display {
        if !columns.contains(&c) {
            columns.push(c);
        }
    }
    let total = found.len() as u64;
    let (start, end) = parse_range(p.get("range"))?.unwrap_or((0, LIST_LIMIT - 1));
    if start > total {
        return Err(ApiError::range_exceed_total(total));
    }
    let (offset, limit) = window(start, end);
    let data: Vec<Value> = found
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .map(|r| {
            let mut m = serde_json::Map::new();
            for c in &columns {
                let v = match c {
                    1 => r.get("name").cloned().unwrap_or(Value::Null),
                    2 => r.get("id").cloned().unwrap_or(Value::Null),
                    8 => json!(1),
                    _ => Value::Null,
                };
                m.insert(c.to_string(), v);
            }
            Value::Object(m)
        })
        .collect();
    let count = data.len() as u64;
    let last = range_end(start, end, limit, total);
    let mut body = json!({"totalcount": total, "count": count, "sort": ["1"], "order": ["ASC"]});
    if count > 0 {
        body["data"] = Value::Array(data);
    }
    body["content-range"] = json!(if total == 0 {
        format!("{start}-{}/0", i128::from(start) - 1)
    } else {
        format!("{start}-{last}/{total}")
    });
    let mut reply = Reply::json(if count >= total { 200 } else { 206 }, body)
        .header("accept-range", format!("User {MAX_INPUT_VARS}"));
    let mut order: Vec<String> = ["totalcount", "count", "sort", "order", "data", "data_html"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    order.extend(columns.iter().map(u32::to_string));
    order.push("content-range".into());
    reply.key_order = Some(order);
    if total > 0 {
        reply = reply.header("content-range", format!("{start}-{last}/{total}"));
    }
    Ok(reply)
}
