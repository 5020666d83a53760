//! Canonical searches over TicketsApi's paginated list.
//!
//! The list takes a page window, a search text (with `filterBy`) and a list-type
//! preset. A canonical query maps onto those where one fits exactly (states →
//! `PendingTickets` / `CompletedTickets`, text → Subject search, number → TicketId
//! search, a lone requester username → `POST list`). Other filters are applied here,
//! over the whole list, only while it stays within [`MAX_SCAN`] tickets; past that,
//! or for a filter the list rows cannot answer, the search is unsupported.

use super::{RefKind, TicketsApiClient};
use crate::wire::{self, TicketApiModel, TicketListModel};
use serde_json::json;
use ticketgate_model::ops::MAX_SEARCH_LIMIT;
use ticketgate_model::{
    Error, Page, Query, Reference, Result, SortField, SortOrder, State, Ticket,
};

/// The most tickets read to filter or sort a search here.
pub const MAX_SCAN: u32 = MAX_SEARCH_LIMIT;

/// Rows per list request while scanning.
const SCAN_PAGE: u32 = 200;

fn list_type(states: &[State]) -> Option<&'static str> {
    let mut s = states.to_vec();
    s.sort();
    s.dedup();
    match s.as_slice() {
        [State::Pending] => Some("PendingTickets"),
        [State::Resolved, State::Closed] => Some("CompletedTickets"),
        _ => None,
    }
}

/// A filter the list rows can be checked against, with references already resolved.
struct RowFilter {
    states: Vec<State>,
    status: Option<(String, String)>,
    priority: Option<(String, String)>,
    department: Option<String>,
    category: Option<String>,
    group: Option<String>,
    assignee: Option<String>,
    requester_email: Option<String>,
    number: Option<String>,
    ticket_type: Option<ticketgate_model::TicketType>,
    created_after: Option<chrono::DateTime<chrono::Utc>>,
    created_before: Option<chrono::DateTime<chrono::Utc>>,
}

impl RowFilter {
    fn matches(&self, t: &Ticket) -> bool {
        let eq = |a: Option<&str>, b: &str| a.is_some_and(|a| a.eq_ignore_ascii_case(b));
        let name_of = |r: &Option<Reference>| r.as_ref().and_then(|r| r.name.clone());
        (self.states.is_empty() || self.states.contains(&t.status.state))
            && self.status.as_ref().is_none_or(|(id, name)| {
                t.status.id.as_deref() == Some(id) || eq(t.status.name.as_deref(), name)
            })
            && self.priority.as_ref().is_none_or(|(id, name)| {
                t.priority
                    .as_ref()
                    .is_some_and(|p| p.id.as_deref() == Some(id) || eq(p.name.as_deref(), name))
            })
            && self
                .department
                .as_ref()
                .is_none_or(|n| eq(name_of(&t.department).as_deref(), n))
            && self
                .category
                .as_ref()
                .is_none_or(|n| eq(name_of(&t.category).as_deref(), n))
            && self
                .group
                .as_ref()
                .is_none_or(|n| eq(name_of(&t.group).as_deref(), n))
            && self.assignee.as_ref().is_none_or(|id| {
                t.assignee.as_ref().and_then(|a| a.id.as_deref()) == Some(id.as_str())
            })
            && self
                .requester_email
                .as_ref()
                .is_none_or(|e| eq(t.requester.email.as_deref(), e))
            && self.number.as_ref().is_none_or(|n| &t.number == n)
            && self.ticket_type.is_none_or(|k| t.ticket_type == Some(k))
            && self.created_after.is_none_or(|d| t.created_at >= d)
            && self.created_before.is_none_or(|d| t.created_at < d)
    }
}

async fn resolve_pair(
    c: &TicketsApiClient,
    kind: RefKind,
    r: &Reference,
) -> Result<(String, String)> {
    let id = c.resolve(kind, r).await?;
    let m = c.metadata(false).await?;
    let name = kind
        .entries(&m)
        .into_iter()
        .find(|(i, _)| *i == id)
        .map(|(_, n)| n)
        .unwrap_or_default();
    Ok((id, name))
}

pub async fn run(c: &TicketsApiClient, q: &Query) -> Result<Page<Ticket>> {
    let limit = q.limit.clamp(1, MAX_SEARCH_LIMIT);
    let unsupported = |what: &str| Error::unsupported("ticketsapi", &format!("search by {what}"));
    if q.topic.is_some() {
        return Err(unsupported("topic (sub-category)"));
    }
    if q.source.is_some() {
        return Err(unsupported("source"));
    }
    // A lone username has its own endpoint.
    if let Some(user) = &q.requester_username {
        let only_user = Query {
            requester_username: Some(user.clone()),
            offset: q.offset,
            limit: q.limit,
            include_deleted: q.include_deleted,
            ..Query::default()
        };
        if *q != only_user {
            return Err(unsupported(
                "requester username together with other filters",
            ));
        }
        return by_username(c, user, q.offset, limit).await;
    }
    let preset = list_type(&q.states);
    let (search, filter_by, number_here) = match (&q.text, &q.number) {
        (Some(t), n) => (Some(t.clone()), Some("Subject"), n.clone()),
        (None, Some(n)) => (Some(n.clone()), Some("TicketId"), None),
        (None, None) => (None, None, None),
    };
    let filter = RowFilter {
        states: if preset.is_some() {
            Vec::new()
        } else {
            q.states.clone()
        },
        status: match &q.status {
            Some(r) => Some(resolve_pair(c, RefKind::Status, r).await?),
            None => None,
        },
        priority: match &q.priority {
            Some(r) => Some(resolve_pair(c, RefKind::Priority, r).await?),
            None => None,
        },
        department: match &q.department {
            Some(r) => Some(resolve_pair(c, RefKind::Department, r).await?.1),
            None => None,
        },
        category: match &q.category {
            Some(r) => Some(resolve_pair(c, RefKind::Category, r).await?.1),
            None => None,
        },
        group: match &q.group {
            Some(r) => Some(resolve_pair(c, RefKind::Group, r).await?.1),
            None => None,
        },
        assignee: match &q.assignee {
            Some(r) => Some(c.resolve(RefKind::Technician, r).await?),
            None => None,
        },
        requester_email: q.requester_email.clone(),
        number: number_here,
        ticket_type: q.ticket_type,
        created_after: q.created_after,
        created_before: q.created_before,
    };
    let default_order = q.sort == SortField::Created && q.order == SortOrder::Desc;
    let needs_scan = !filter.states.is_empty()
        || filter.status.is_some()
        || filter.priority.is_some()
        || filter.department.is_some()
        || filter.category.is_some()
        || filter.group.is_some()
        || filter.assignee.is_some()
        || filter.requester_email.is_some()
        || filter.number.is_some()
        || filter.ticket_type.is_some()
        || filter.created_after.is_some()
        || filter.created_before.is_some()
        || !default_order;
    let body = |page: u32, length: u32| {
        json!({
            "page": page,
            "length": length,
            "search": search,
            "filterBy": filter_by,
            "listType": preset,
        })
    };
    if !needs_scan {
        // One request when the window is page-aligned, else the window from the start.
        let (page, length, skip) = if q.offset.is_multiple_of(limit) {
            (q.offset / limit + 1, limit, 0)
        } else {
            let window = q.offset.saturating_add(limit);
            if window > MAX_SEARCH_LIMIT {
                return Err(unsupported("an offset that is not a multiple of the limit"));
            }
            (1, window, q.offset)
        };
        let rows = list(c, &body(page, length)).await?;
        let items: Vec<Ticket> = rows
            .into_iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .map(wire::ticket_from_list)
            .collect();
        let seen = u64::from(q.offset) + u64::try_from(items.len()).unwrap_or(0);
        // The list says nothing of the rows beyond the window: a window that came
        // back short and not empty (or an empty first page) ends the list; otherwise
        // the rows are counted page by page.
        let short = u32::try_from(items.len()).unwrap_or(u32::MAX) < limit;
        let ends_here = (short && !items.is_empty()) || (items.is_empty() && q.offset == 0);
        let total = if ends_here {
            seen
        } else {
            // Rows seen in a non-empty window exist even past a capped count.
            let floor = if items.is_empty() { 0 } else { seen };
            count(c, |page| body(page, SCAN_PAGE)).await?.max(floor)
        };
        return Ok(Page {
            items,
            total,
            total_exact: true,
            offset: q.offset,
            limit,
        });
    }
    let mut all = Vec::new();
    let mut page = 1;
    loop {
        let rows = list(c, &body(page, SCAN_PAGE)).await?;
        let n = u32::try_from(rows.len()).unwrap_or(u32::MAX);
        all.extend(rows.into_iter().map(wire::ticket_from_list));
        if n < SCAN_PAGE {
            break;
        }
        if page * SCAN_PAGE >= MAX_SCAN {
            return Err(Error::unsupported(
                "ticketsapi",
                &format!("filtering or sorting more than {MAX_SCAN} tickets"),
            ));
        }
        page += 1;
    }
    all.retain(|t| filter.matches(t));
    sort(&mut all, q.sort, q.order);
    let total = u64::try_from(all.len()).unwrap_or(u64::MAX);
    let items = all
        .into_iter()
        .skip(usize::try_from(q.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    Ok(Page {
        items,
        total,
        total_exact: true,
        offset: q.offset,
        limit,
    })
}

/// The rows of a list, counted page by page; past [`MAX_SCAN`] rows the count stops
/// there (a lower bound: TicketsApi reports no totals).
async fn count(c: &TicketsApiClient, body: impl Fn(u32) -> serde_json::Value) -> Result<u64> {
    let mut total = 0u64;
    let mut page = 1;
    loop {
        let rows = list(c, &body(page)).await?;
        let n = u32::try_from(rows.len()).unwrap_or(u32::MAX);
        total += u64::from(n);
        if n < SCAN_PAGE || page * SCAN_PAGE >= MAX_SCAN {
            return Ok(total);
        }
        page += 1;
    }
}

fn sort(items: &mut [Ticket], field: SortField, order: SortOrder) {
    items.sort_by(|a, b| {
        let num = |t: &Ticket| t.id.parse::<i64>().unwrap_or(0);
        let ord = match field {
            SortField::Created | SortField::Relevance => a.created_at.cmp(&b.created_at),
            SortField::Updated => a.updated_at.cmp(&b.updated_at),
            SortField::Due => a.due_at.cmp(&b.due_at),
            SortField::Number => num(a).cmp(&num(b)),
            SortField::Subject => a.subject.to_lowercase().cmp(&b.subject.to_lowercase()),
            SortField::Priority => a
                .priority
                .as_ref()
                .map(|p| p.level)
                .cmp(&b.priority.as_ref().map(|p| p.level)),
            SortField::Status => a.status.state.cmp(&b.status.state),
        }
        .then_with(|| num(a).cmp(&num(b)));
        match order {
            SortOrder::Asc => ord,
            SortOrder::Desc => ord.reverse(),
        }
    });
}

async fn list(c: &TicketsApiClient, body: &serde_json::Value) -> Result<Vec<TicketListModel>> {
    let url = String::new();
    let resp = c.send(|h| h.post(&url).json(body)).await?;
    c.json(resp).await
}

/// `POST list`: fixed pages of 25, newest first.
async fn by_username(
    c: &TicketsApiClient,
    user: &str,
    offset: u32,
    limit: u32,
) -> Result<Page<Ticket>> {
    const SIZE: u32 = 25;
    let first = offset / SIZE + 1;
    let last = offset.saturating_add(limit - 1) / SIZE + 1;
    let mut rows: Vec<Ticket> = Vec::new();
    let url = "/list".to_owned();

    let fetch = |page: u32| {
        let fields = vec![
            ("username".to_owned(), user.to_owned()),
            ("page".to_owned(), page.to_string()),
        ];
        let url = url.clone();
        async move {
            let resp = c
                .send(|h| h.post(&url).multipart(super::build_form(&fields, &[])))
                .await?;
            c.json::<Vec<TicketApiModel>>(resp).await
        }
    };
    let mut ended = false;
    for page in first..=last {
        let got = fetch(page).await?;
        let n = got.len();
        rows.extend(got.into_iter().map(wire::ticket_from_model));
        if n < SIZE as usize {
            ended = true;
            break;
        }
    }
    // Rows before the window, the window's pages, and (the list reports no total)
    // the pages after it, counted up to MAX_SCAN rows.
    let mut total = u64::from((first - 1) * SIZE) + u64::try_from(rows.len()).unwrap_or(0);
    let mut page = last + 1;
    while !ended && page.saturating_mul(SIZE) <= MAX_SCAN {
        let n = u64::try_from(fetch(page).await?.len()).unwrap_or(0);
        total += n;
        ended = n < u64::from(SIZE);
        page += 1;
    }
    if rows.is_empty() && first > 1 {
        // Past the end: the rows before the window were not seen; count them.
        total = 0;
        let mut page = 1;
        loop {
            let n = u64::try_from(fetch(page).await?.len()).unwrap_or(0);
            total += n;
            if n < u64::from(SIZE) || page.saturating_mul(SIZE) >= MAX_SCAN {
                break;
            }
            page += 1;
        }
    }
    let skip = usize::try_from(offset - (first - 1) * SIZE).unwrap_or(0);
    let items: Vec<Ticket> = rows
        .into_iter()
        .skip(skip)
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    Ok(Page {
        items,
        total,
        total_exact: true,
        offset,
        limit,
    })
}
