//! Translating a canonical [`Query`] into SQL over the `tickets` table and its text index.

use rusqlite::types::Value;
use ticketgate_model::{Query, SortField, SortOrder, State};

/// A search as SQL: what the rows come from, a WHERE clause, and their parameters.
pub struct Filter {
    /// `tickets`, or the text index's matches joined to `tickets` (the index drives,
    /// in its rowid order, so a page in id order stops after the page).
    pub from: &'static str,
    pub clause: String,
    pub params: Vec<Value>,
    /// Whether the rows come from the text index.
    pub indexed: bool,
}

/// Matches of the text index, outermost, each joined to its ticket.
const FROM_INDEX: &str = "(SELECT rowid AS fid FROM tickets_fts WHERE tickets_fts MATCH ?) m \
     CROSS JOIN tickets ON tickets.id = m.fid";

/// The same with each match's BM25 score (lower is better), for a sort by relevance.
const FROM_INDEX_RANKED: &str = "(SELECT rowid AS fid, bm25(tickets_fts, 10.0, 4.0, 2.0, 1.0) AS score \
     FROM tickets_fts WHERE tickets_fts MATCH ?) m CROSS JOIN tickets ON tickets.id = m.fid";

/// The FTS5 query for a search text: the text as a substring (any case, any accent) of
/// the subject, the body or the thread, as every vendor's "contains" search means it
/// (GLPI's `contains`, RT's `LIKE`); or, when the text is all digits, also of the ticket
/// number. The index is of trigrams, so it finds any substring of three characters or
/// more; `None` for a shorter text (or one without a letter or digit), which is scanned.
pub fn match_expression(text: &str) -> Option<String> {
    if !text.chars().any(char::is_alphanumeric) || text.chars().count() < 3 {
        return None;
    }
    // A quoted FTS5 string is taken literally, then split into trigrams by the index.
    let phrase = format!(
        "{{subject body entries}} : (\"{}\")",
        text.replace('"', "\"\"")
    );
    if text.chars().all(|c| c.is_ascii_digit()) {
        Some(format!("{phrase} OR number : \"{text}\""))
    } else {
        Some(phrase)
    }
}

impl Filter {
    pub fn from_query(q: &Query) -> Self {
        let mut f = Filter {
            from: "tickets",
            clause: String::from("1=1"),
            params: Vec::new(),
            indexed: false,
        };
        if let Some(text) = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            if let Some(expr) = match_expression(text) {
                f.from = if q.sort == SortField::Relevance {
                    FROM_INDEX_RANKED
                } else {
                    FROM_INDEX
                };
                f.indexed = true;
                f.params.push(Value::Text(expr));
            } else {
                // Shorter than a trigram, or nothing but punctuation: scan.
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

/// ORDER BY for a query; the id breaks ties so paging is stable. `created_follows_id`:
/// creation times never decrease with the id (see `insert_row`), so creation order is
/// id order, which the text index can give without sorting.
pub fn order_by(q: &Query, f: &Filter, created_follows_id: bool) -> String {
    let dir = match q.order {
        SortOrder::Asc => "ASC",
        SortOrder::Desc => "DESC",
    };
    if q.sort == SortField::Relevance && f.indexed {
        return "m.score ASC, m.fid DESC".to_owned();
    }
    let newest = q.sort == SortField::Relevance;
    let dir = if newest { "DESC" } else { dir };
    let by_id = q.sort == SortField::Number
        || (matches!(q.sort, SortField::Created | SortField::Relevance) && created_follows_id);
    if by_id {
        let id = if f.indexed { "m.fid" } else { "tickets.id" };
        return format!("{id} {dir}");
    }
    let column = match q.sort {
        SortField::Created | SortField::Relevance => "created_at",
        SortField::Updated => "updated_at",
        SortField::Due => "due_at",
        SortField::Number => "tickets.id",
        SortField::Subject => "subject COLLATE NOCASE",
        SortField::Priority => "priority_rank",
        SortField::Status => "state",
    };
    format!("{column} {dir}, tickets.id {dir}")
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
