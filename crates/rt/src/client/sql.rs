//! Canonical searches as TicketSQL, RT's query language.
//!
//! | canonical filter            | TicketSQL |
//! |-----------------------------|-----------|
//! | `q` (text)                  | `Subject LIKE 'text'` (RT matches bodies only with full-text indexing, which a stock RT lacks) |
//! | `status` (states)           | `Status = '…'` per state, by the status table in [`super::map`] |
//! | `status` (a vendor name)    | `Status = 'name'` |
//! | nothing about status        | `Status != 'deleted'` (unless deleted are included) |
//! | `number`                    | `id = N` |
//! | `priority`                  | `Priority >= lo AND Priority <= hi` (the level's band), or `Priority = N` |
//! | `department`                | `Queue = 'name'` (or its id) |
//! | `assignee`                  | `Owner = 'name'` |
//! | `requester` (email)         | `Requestor.EmailAddress = 'address'` |
//! | `requester` (user name)     | `Requestor.Name = 'name'` |
//! | `created_after` / `_before` | `Created > '…'` / `Created < '…'` (UTC) |
//!
//! A filter RT has nothing for (category, topic, group, type, source) is a 501, never
//! ignored. Sorts map to `orderby` = `Created`, `LastUpdated`, `Due`, `id`, `Subject`,
//! `Priority`, `Status`.

use super::map;
use ticketgate_model::{Error, PriorityLevel, Query, Reference, SortField, SortOrder};

/// A TicketSQL string literal: `'…'` with `\` and `'` escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        // A line break cannot be part of a TicketSQL literal.
        out.push(if c.is_control() { ' ' } else { c });
    }
    out.push('\'');
    out
}

fn unsupported(filter: &str) -> Error {
    Error::unsupported("rt", &format!("search by {filter}"))
}

fn name_or_id(r: &Reference) -> String {
    r.name
        .as_deref()
        .or(r.id.as_deref())
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// The TicketSQL of a canonical query, and RT's sort column and order.
pub fn ticket_sql(q: &Query) -> Result<(String, &'static str, &'static str), Error> {
    for (present, name) in [
        (q.category.is_some(), "category"),
        (q.topic.is_some(), "topic"),
        (q.group.is_some(), "group"),
        (q.ticket_type.is_some(), "type"),
        (q.source.is_some(), "source"),
    ] {
        if present {
            return Err(unsupported(name));
        }
    }
    let mut clauses: Vec<String> = Vec::new();
    if let Some(text) = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        clauses.push(format!("Subject LIKE {}", quote(text)));
    }
    let mut status_given = false;
    if !q.states.is_empty() {
        status_given = true;
        let mut any: Vec<String> = q
            .states
            .iter()
            .flat_map(|s| map::statuses_matching(*s).iter())
            .map(|s| format!("Status = {}", quote(s)))
            .collect();
        any.dedup();
        clauses.push(format!("({})", any.join(" OR ")));
    }
    if let Some(s) = &q.status {
        status_given = true;
        let name = map::status_from_reference(s)?;
        clauses.push(format!("Status = {}", quote(&name)));
    }
    if !status_given && !q.include_deleted {
        clauses.push("Status != 'deleted'".to_owned());
    }
    if let Some(n) = q.number.as_deref().map(str::trim) {
        let n: u64 = n.trim_start_matches('#').parse().map_err(|_| {
            Error::bad_input(format!("an RT ticket number is a number, not {n:?}")).field("number")
        })?;
        clauses.push(format!("id = {n}"));
    }
    if let Some(p) = &q.priority {
        match p.id.as_deref().and_then(|i| i.trim().parse::<i64>().ok()) {
            Some(n) => clauses.push(format!("Priority = {n}")),
            None => {
                let number = map::priority_from_reference(p)?;
                let level: PriorityLevel = map::priority_level(number);
                let (lo, hi) = map::priority_band(level);
                let mut band = Vec::new();
                if lo > i64::MIN {
                    band.push(format!("Priority >= {lo}"));
                }
                if hi < i64::MAX {
                    band.push(format!("Priority <= {hi}"));
                }
                clauses.push(format!("({})", band.join(" AND ")));
            }
        }
    }
    if let Some(d) = &q.department {
        clauses.push(format!("Queue = {}", quote(&name_or_id(d))));
    }
    if let Some(a) = &q.assignee {
        clauses.push(format!("Owner = {}", quote(&name_or_id(a))));
    }
    if let Some(e) = q.requester_email.as_deref().map(str::trim) {
        clauses.push(format!("Requestor.EmailAddress = {}", quote(e)));
    }
    if let Some(u) = q.requester_username.as_deref().map(str::trim) {
        clauses.push(format!("Requestor.Name = {}", quote(u)));
    }
    if let Some(t) = &q.created_after {
        clauses.push(format!("Created > {}", quote(&map::rt_date(t))));
    }
    if let Some(t) = &q.created_before {
        clauses.push(format!("Created < {}", quote(&map::rt_date(t))));
    }
    let sql = if clauses.is_empty() {
        "id > 0".to_owned()
    } else {
        clauses.join(" AND ")
    };
    let orderby = match q.sort {
        // Stock RT has no text ranking: relevance sorts by creation, as in the other
        // vendors' client faces.
        SortField::Created | SortField::Relevance => "Created",
        SortField::Updated => "LastUpdated",
        SortField::Due => "Due",
        SortField::Number => "id",
        SortField::Subject => "Subject",
        SortField::Priority => "Priority",
        SortField::Status => "Status",
    };
    let order = match q.order {
        SortOrder::Asc => "ASC",
        SortOrder::Desc => "DESC",
    };
    Ok((sql, orderby, order))
}

/// The RT pages that cover the canonical window `[offset, offset + limit)`: the page
/// size, the first page (1-based) and how many items of it to skip.
pub fn pages(offset: u32, limit: u32) -> (u32, u32, u32) {
    let per_page = limit.clamp(1, 100);
    (per_page, offset / per_page + 1, offset % per_page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ticketgate_model::State;

    #[test]
    fn filters_become_ticket_sql() {
        let q = Query {
            text: Some("printer's tray".into()),
            states: vec![State::New, State::Pending],
            department: Some(Reference::name("General")),
            assignee: Some(Reference::name("root")),
            requester_email: Some("ann@example.com".into()),
            priority: Some(Reference::name("high")),
            number: Some("12".into()),
            sort: SortField::Updated,
            order: SortOrder::Asc,
            ..Query::default()
        };
        let (sql, by, order) = ticket_sql(&q).unwrap();
        assert_eq!(
            sql,
            "Subject LIKE 'printer\\'s tray' AND (Status = 'new' OR Status = 'stalled') AND id = 12 \
             AND (Priority >= 63 AND Priority <= 82) AND Queue = 'General' AND Owner = 'root' \
             AND Requestor.EmailAddress = 'ann@example.com'"
        );
        assert_eq!((by, order), ("LastUpdated", "ASC"));
        let (sql, _, _) = ticket_sql(&Query::default()).unwrap();
        assert_eq!(sql, "Status != 'deleted'");
        let (sql, _, _) = ticket_sql(&Query {
            include_deleted: true,
            ..Query::default()
        })
        .unwrap();
        assert_eq!(sql, "id > 0");
    }

    #[test]
    fn filters_rt_lacks_are_501_and_bad_numbers_400() {
        let e = ticket_sql(&Query {
            category: Some(Reference::name("Hardware")),
            ..Query::default()
        })
        .unwrap_err();
        assert_eq!(e.http_status(), 501);
        let e = ticket_sql(&Query {
            number: Some("abc".into()),
            ..Query::default()
        })
        .unwrap_err();
        assert_eq!(e.http_status(), 400);
    }

    #[test]
    fn quoting_cannot_end_the_literal() {
        assert_eq!(quote(r"a\' OR id > 0 --"), r"'a\\\' OR id > 0 --'");
        assert_eq!(quote("two\nlines"), "'two lines'");
    }

    #[test]
    fn windows_map_to_pages() {
        assert_eq!(pages(0, 25), (25, 1, 0));
        assert_eq!(pages(50, 25), (25, 3, 0));
        assert_eq!(pages(30, 25), (25, 2, 5));
        assert_eq!(pages(0, 1000), (100, 1, 0));
    }
}
