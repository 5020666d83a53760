//! The TicketSQL that RT's clients send to `/REST/2.0/tickets`: conditions on `id`,
//! `Queue`, `Status`, `Subject`, `Requestor` and `Owner`, joined by `AND` / `OR` and
//! grouped by parentheses. Anything else is refused with RT's own 400.
//!
//! A query is evaluated against canonical tickets. The conditions that a canonical
//! [`Query`] can say exactly (a department, states, a requester's email, an owner) are
//! pushed down to the upstream, so a plain `Queue = 'Support' AND Status = 'open'`
//! pages at the upstream; the rest is checked here on the tickets the pushed-down part
//! finds.

use super::wire::{self, Queues};
use ticketgate_model::{Query, Reference, State, Ticket};

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Cond(Cond),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Id,
    Queue,
    Status,
    Subject,
    Requestor,
    Owner,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Like,
    NotLike,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    pub field: Field,
    pub op: Op,
    pub value: String,
}

/// Fields RT knows that this gateway does not search: refused by name, not as unknown.
const RT_FIELDS: &[&str] = &[
    "effectiveid",
    "type",
    "creator",
    "lastupdatedby",
    "created",
    "started",
    "resolved",
    "told",
    "lastupdated",
    "starts",
    "due",
    "updated",
    "content",
    "contenttype",
    "filename",
    "timeworked",
    "timeleft",
    "timeestimated",
    "priority",
    "initialpriority",
    "finalpriority",
    "cc",
    "admincc",
    "watcher",
    "linkedto",
    "linkedfrom",
    "memberof",
    "hasmember",
    "dependson",
    "dependedonby",
    "refersto",
    "referredtoby",
    "sla",
    "lifecycle",
];

/// Parse a query. The messages are RT's (`Unknown field: …`, `Wrong query, …`).
pub fn parse(input: &str) -> Result<Expr, String> {
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Err("No query string supplied".to_owned());
    }
    let mut p = Parser {
        tokens,
        pos: 0,
        input,
    };
    let expr = p.or()?;
    if p.pos < p.tokens.len() {
        return Err(format!("Wrong query, expecting a AGGREGATOR in '{input}'"));
    }
    Ok(expr)
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Word(String),
    Quoted(String),
    Op(String),
}

fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            '\'' | '"' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(format!(
                                "Incomplete query, unterminated quote in '{input}'"
                            ));
                        }
                        Some('\\') if chars.get(i + 1).is_some() => {
                            s.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&q) if q == quote => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token::Quoted(s));
            }
            '=' | '!' | '<' | '>' => {
                let mut op = String::from(c);
                if let Some(&n) = chars.get(i + 1)
                    && (n == '=' || (c == '<' && n == '>'))
                {
                    op.push(n);
                }
                if op == "!" {
                    return Err(format!("Wrong query, expecting a OPERATOR in '{input}'"));
                }
                i += op.chars().count();
                out.push(Token::Op(op));
            }
            _ => {
                let mut s = String::new();
                while let Some(&ch) = chars.get(i) {
                    if ch.is_whitespace()
                        || matches!(ch, '(' | ')' | '=' | '!' | '<' | '>' | '\'' | '"')
                    {
                        break;
                    }
                    s.push(ch);
                    i += 1;
                }
                out.push(Token::Word(s));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    input: &'a str,
}

impl Parser<'_> {
    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.and()?];
        while self.peek_keyword("OR") {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.factor()?];
        while self.peek_keyword("AND") {
            self.pos += 1;
            items.push(self.factor()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn factor(&mut self) -> Result<Expr, String> {
        let input = self.input;
        match self.tokens.get(self.pos).cloned() {
            Some(Token::Open) => {
                self.pos += 1;
                let e = self.or()?;
                match self.tokens.get(self.pos) {
                    Some(Token::Close) => {
                        self.pos += 1;
                        Ok(e)
                    }
                    _ => Err(format!("Incomplete query, 1 unclosed paren in '{input}'")),
                }
            }
            Some(Token::Word(name)) => {
                self.pos += 1;
                let op = self.op()?;
                let field = field(&name)?;
                let value = match self.tokens.get(self.pos).cloned() {
                    Some(Token::Quoted(v)) => v,
                    Some(Token::Word(v))
                        if !v.eq_ignore_ascii_case("AND") && !v.eq_ignore_ascii_case("OR") =>
                    {
                        v
                    }
                    _ => {
                        return Err(format!(
                            "Incomplete query, last element (OPERATOR) is not close paren or value in '{input}'"
                        ));
                    }
                };
                self.pos += 1;
                Ok(Expr::Cond(Cond { field, op, value }))
            }
            _ => Err(format!("Wrong query, expecting a KEYWORD in '{input}'")),
        }
    }

    fn op(&mut self) -> Result<Op, String> {
        let input = self.input;
        let op = match self.tokens.get(self.pos).cloned() {
            Some(Token::Op(o)) => match o.as_str() {
                "=" => Op::Eq,
                "!=" | "<>" => Op::Ne,
                "<" => Op::Lt,
                ">" => Op::Gt,
                "<=" => Op::Le,
                ">=" => Op::Ge,
                _ => return Err(format!("Wrong query, expecting a OPERATOR in '{input}'")),
            },
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("LIKE") => Op::Like,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("NOT") => {
                self.pos += 1;
                if self.peek_keyword("LIKE") {
                    Op::NotLike
                } else {
                    return Err(format!("Wrong query, expecting a OPERATOR in '{input}'"));
                }
            }
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("IS") => {
                return Err(format!(
                    "Unsupported operator in this gateway's TicketSQL: IS (supported: =, !=, <, >, <=, >=, LIKE, NOT LIKE) in '{input}'"
                ));
            }
            None => {
                return Err(format!(
                    "Incomplete query, last element (KEYWORD) is not close paren or value in '{input}'"
                ));
            }
            _ => return Err(format!("Wrong query, expecting a OPERATOR in '{input}'")),
        };
        self.pos += 1;
        Ok(op)
    }
}

fn field(name: &str) -> Result<Field, String> {
    let lower = name.to_ascii_lowercase();
    Ok(match lower.as_str() {
        "id" => Field::Id,
        "queue" | "queue.name" => Field::Queue,
        "status" => Field::Status,
        "subject" => Field::Subject,
        "requestor" | "requestors" | "requestor.emailaddress" | "requestors.emailaddress" => {
            Field::Requestor
        }
        "owner" | "owner.name" => Field::Owner,
        other
            if RT_FIELDS.contains(&other.split('.').next().unwrap_or(other))
                || other.starts_with("cf.")
                || other.starts_with("customfield") =>
        {
            return Err(format!(
                "Unsupported field in this gateway's TicketSQL: {name} (supported: id, Queue, Status, Subject, Requestor, Owner)"
            ));
        }
        _ => return Err(format!("Unknown field: {name}")),
    })
}

/// What a query compares against, besides the ticket itself.
pub struct Context<'a> {
    pub queues: &'a Queues,
}

impl Expr {
    /// Whether a ticket matches.
    pub fn matches(&self, t: &Ticket, cx: &Context<'_>) -> bool {
        match self {
            Expr::And(items) => items.iter().all(|e| e.matches(t, cx)),
            Expr::Or(items) => items.iter().any(|e| e.matches(t, cx)),
            Expr::Cond(c) => c.matches(t, cx),
        }
    }

    /// Whether any condition names a status (then deleted tickets are not hidden).
    pub fn mentions_status(&self) -> bool {
        match self {
            Expr::And(items) | Expr::Or(items) => items.iter().any(Expr::mentions_status),
            Expr::Cond(c) => c.field == Field::Status,
        }
    }

    /// The top-level conjuncts.
    pub fn conjuncts(&self) -> Vec<&Expr> {
        match self {
            Expr::And(items) => items.iter().collect(),
            other => vec![other],
        }
    }
}

fn text_eq(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// LIKE as RT means it: the value anywhere in the field, ignoring case (`%` and `_`
/// wildcards are taken as "anything").
fn like(field: &str, value: &str) -> bool {
    let field = field.to_lowercase();
    value
        .to_lowercase()
        .split(['%', '_'])
        .filter(|p| !p.is_empty())
        .all(|p| field.contains(p))
}

impl Cond {
    fn matches(&self, t: &Ticket, cx: &Context<'_>) -> bool {
        let v = self.value.as_str();
        match self.field {
            Field::Id => {
                let (Ok(a), Ok(b)) = (t.id.parse::<i64>(), v.trim().parse::<i64>()) else {
                    return match self.op {
                        Op::Eq => t.id == v,
                        Op::Ne => t.id != v,
                        _ => false,
                    };
                };
                match self.op {
                    Op::Eq | Op::Like => a == b,
                    Op::Ne | Op::NotLike => a != b,
                    Op::Lt => a < b,
                    Op::Gt => a > b,
                    Op::Le => a <= b,
                    Op::Ge => a >= b,
                }
            }
            Field::Queue => {
                let q = cx.queues.of_ticket(t);
                let same = text_eq(&q.name, v) || q.id == v.trim();
                self.string_op(same, &q.name)
            }
            Field::Status => {
                let s = wire::rt_status(t.status.state);
                let same = match v.trim().to_ascii_lowercase().as_str() {
                    "__active__" => t.status.state.is_active(),
                    "__inactive__" => !t.status.state.is_active(),
                    other => s == other,
                };
                self.string_op(same, s)
            }
            Field::Subject => self.string_op(text_eq(&t.subject, v), &t.subject),
            Field::Requestor => {
                let email = t.requester.email.as_deref().unwrap_or("");
                self.string_op(text_eq(email, v), email)
            }
            Field::Owner => {
                let owner = wire::owner_name(t);
                let same = text_eq(&owner, v)
                    || t.assignee
                        .as_ref()
                        .and_then(|a| a.id.as_deref())
                        .is_some_and(|id| id == v.trim());
                self.string_op(same, &owner)
            }
        }
    }

    fn string_op(&self, same: bool, field: &str) -> bool {
        match self.op {
            Op::Eq => same,
            Op::Ne => !same,
            Op::Like => like(field, &self.value),
            Op::NotLike => !like(field, &self.value),
            Op::Lt => field.to_lowercase() < self.value.to_lowercase(),
            Op::Gt => field.to_lowercase() > self.value.to_lowercase(),
            Op::Le => field.to_lowercase() <= self.value.to_lowercase(),
            Op::Ge => field.to_lowercase() >= self.value.to_lowercase(),
        }
    }
}

/// The part of a query the upstream can evaluate.
#[derive(Debug, Clone, Default)]
pub struct Pushdown {
    pub query: Query,
    /// The upstream's answer is exactly the query's answer (no check left to do here).
    pub exact: bool,
    /// No ticket can match (a status no ticket shows, such as `rejected`).
    pub impossible: bool,
    /// `id = N` among the conjuncts: only that ticket can match.
    pub single_id: Option<String>,
}

/// The canonical states a ticket shown with RT status `name` can be in.
pub fn states_of(name: &str) -> Option<Vec<State>> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "new" => vec![State::New],
        "open" => vec![State::Open],
        "stalled" => vec![State::Pending],
        "resolved" => vec![State::Resolved, State::Closed, State::Archived],
        "rejected" => vec![],
        "deleted" => vec![State::Deleted],
        "__active__" => vec![State::New, State::Open, State::Pending],
        "__inactive__" => vec![State::Resolved, State::Closed, State::Archived],
        _ => return None,
    })
}

/// Push what can be pushed of `expr`'s top-level conjuncts into a canonical query.
pub fn pushdown(expr: &Expr, cx: &Context<'_>) -> Pushdown {
    let mut p = Pushdown {
        exact: true,
        ..Default::default()
    };
    if expr.mentions_status() {
        p.query.include_deleted = true;
    }
    for c in expr.conjuncts() {
        let Expr::Cond(c) = c else {
            p.exact = false;
            continue;
        };
        let v = c.value.trim();
        match (c.field, c.op) {
            (Field::Id, Op::Eq) if p.single_id.is_none() => {
                p.single_id = Some(v.to_owned());
                p.exact = false;
            }
            (Field::Queue, Op::Eq) if p.query.department.is_none() => {
                match cx.queues.department_of(v) {
                    Some(Some(dep)) => p.query.department = Some(dep),
                    Some(None) => p.exact = false,
                    None => p.impossible = true,
                }
            }
            (Field::Status, Op::Eq) if p.query.states.is_empty() => match states_of(v) {
                Some(states) if states.is_empty() => p.impossible = true,
                Some(states) => p.query.states = states,
                None => p.impossible = true,
            },
            (Field::Requestor, Op::Eq) if p.query.requester_email.is_none() => {
                p.query.requester_email = Some(v.to_owned());
            }
            (Field::Owner, Op::Eq)
                if p.query.assignee.is_none() && !v.eq_ignore_ascii_case("nobody") =>
            {
                p.query.assignee = Some(Reference::guess(v));
            }
            _ => p.exact = false,
        }
    }
    if p.query.include_deleted && p.query.states.is_empty() {
        // A status condition the upstream does not evaluate: deleted tickets come along
        // and are checked here.
        p.exact = false;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_clients_send() {
        let e = parse("(Queue='General') AND (Subject LIKE 'py client')").unwrap();
        assert_eq!(e.conjuncts().len(), 2);
        let e = parse("id='1' OR id='2' OR id = 3").unwrap();
        assert!(matches!(e, Expr::Or(ref v) if v.len() == 3));
        let e =
            parse("Status != \"resolved\" AND (Owner = 'Nobody' OR Requestor LIKE 'ann')").unwrap();
        assert!(matches!(e, Expr::And(_)));
        assert!(parse("Subject NOT LIKE 'x'").is_ok());
    }

    #[test]
    fn refuses_with_rt_words() {
        assert_eq!(parse("Foo='bar'").unwrap_err(), "Unknown field: Foo");
        assert!(
            parse("Subject LIKE")
                .unwrap_err()
                .starts_with("Incomplete query")
        );
        assert!(
            parse("id=1 AND (Status='new'")
                .unwrap_err()
                .contains("unclosed paren")
        );
        assert!(
            parse("garbage here")
                .unwrap_err()
                .starts_with("Wrong query")
        );
        assert!(
            parse("Created > '2020-01-01'")
                .unwrap_err()
                .starts_with("Unsupported field")
        );
        assert!(
            parse("CF.{Severity} = 'x'")
                .unwrap_err()
                .starts_with("Unsupported field")
        );
        assert!(parse("").is_err());
        assert!(parse("Subject = 'unterminated").is_err());
    }

    #[test]
    fn like_is_a_case_insensitive_substring() {
        assert!(like("Printer on FIRE", "fire"));
        assert!(like("Printer on fire", "%print%fire%"));
        assert!(!like("Printer", "scanner"));
    }
}
