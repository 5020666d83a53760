//! Translating a canonical [`Query`] into SQL over the `tickets` table.

use rusqlite::types::Value;
use ticketgate_model::{Query, SortField, SortOrder, State};

/// A WHERE clause and its parameters, built from a query.
pub struct Filter {
    pub clause: String,
    pub params: Vec<Value>,
}

impl Filter {
    pub fn from_query(q: &Query) -> Self {
        let mut f = Filter {
            clause: String::from("1=1"),
            params: Vec::new(),
        };
        if let Some(text) = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let pattern = format!("%{}%", escape_like(text));
            f.push(
                "(subject LIKE ? ESCAPE '\\' OR body LIKE ? ESCAPE '\\' OR number = ? \
                 OR EXISTS (SELECT 1 FROM entries e WHERE e.ticket_id = tickets.id \
                 AND e.body LIKE ? ESCAPE '\\'))",
                [
                    Value::Text(pattern.clone()),
                    Value::Text(pattern.clone()),
                    Value::Text(text.to_owned()),
                    Value::Text(pattern),
                ],
            );
        }
        if !q.states.is_empty() {
            let marks = vec!["?"; q.states.len()].join(",");
            f.push(
                &format!("state IN ({marks})"),
                q.states.iter().map(|s| Value::Text(s.as_str().to_owned())),
            );
        } else if !q.include_deleted {
            f.push(
                "state <> ?",
                [Value::Text(State::Deleted.as_str().to_owned())],
            );
        }
        let refs = [
            ("status", &q.status),
            ("priority", &q.priority),
            ("department", &q.department),
            ("category", &q.category),
            ("topic", &q.topic),
            ("assignee", &q.assignee),
            ("grp", &q.group),
        ];
        for (column, reference) in refs {
            if let Some(r) = reference {
                match (&r.id, &r.name) {
                    (Some(id), _) => f.push(&format!("{column}_id = ?"), [Value::Text(id.clone())]),
                    (None, Some(name)) => f.push(
                        &format!("{column}_name = ? COLLATE NOCASE"),
                        [Value::Text(name.clone())],
                    ),
                    (None, None) => {}
                }
            }
        }
        if let Some(n) = &q.number {
            f.push("number = ?", [Value::Text(n.clone())]);
        }
        if let Some(e) = &q.requester_email {
            f.push(
                "requester_email = ? COLLATE NOCASE",
                [Value::Text(e.clone())],
            );
        }
        if let Some(u) = &q.requester_username {
            f.push(
                "requester_username = ? COLLATE NOCASE",
                [Value::Text(u.clone())],
            );
        }
        if let Some(t) = q.ticket_type {
            f.push("type = ?", [Value::Text(t.as_str().to_owned())]);
        }
        if let Some(s) = q.source {
            f.push("source = ?", [Value::Text(s.as_str().to_owned())]);
        }
        if let Some(t) = &q.created_after {
            f.push("created_at >= ?", [Value::Text(crate::time::to_db(t))]);
        }
        if let Some(t) = &q.created_before {
            f.push("created_at < ?", [Value::Text(crate::time::to_db(t))]);
        }
        f
    }

    fn push(&mut self, clause: &str, params: impl IntoIterator<Item = Value>) {
        self.clause.push_str(" AND ");
        self.clause.push_str(clause);
        self.params.extend(params);
    }
}

/// ORDER BY for a query; the id breaks ties so paging is stable.
pub fn order_by(q: &Query) -> String {
    let column = match q.sort {
        SortField::Created => "created_at",
        SortField::Updated => "updated_at",
        SortField::Due => "due_at",
        SortField::Number => "id",
        SortField::Subject => "subject COLLATE NOCASE",
        SortField::Priority => "priority_rank",
        SortField::Status => "state",
    };
    let dir = match q.order {
        SortOrder::Asc => "ASC",
        SortOrder::Desc => "DESC",
    };
    format!("{column} {dir}, id {dir}")
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
