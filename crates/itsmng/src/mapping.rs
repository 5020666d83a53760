//! Pure translations between ITSM-NG's Ticket fields and the canonical model, both
//! ways: statuses, types, the urgency×impact priority matrix, request sources, dates,
//! dropdown ids, whole ticket rows, create/update inputs, followups and actors.
//!
//! Nothing here does I/O, so the golden tests call these directly; the server face
//! and the client face are the only callers otherwise.

mod inputs;
mod rows;

pub use inputs::*;
pub use rows::*;

use chrono::{NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value, json};
use ticketgate_model::{
    Attachment, Body, BodyFormat, Contact, DeleteMode, EntryKind, Error, NewEntry, NewTicket,
    Priority, PriorityLevel, Reference, Requester, Resolution, Source, State, Status, ThreadEntry,
    Ticket, TicketPatch, TicketType,
};

/// ITSM-NG's stock urgency×impact matrix (`install/empty_data.php`), `[urgency-1][impact-1]`.
pub const PRIORITY_MATRIX: [[u8; 5]; 5] = [
    [1, 1, 2, 2, 2],
    [1, 2, 2, 3, 3],
    [2, 2, 3, 4, 4],
    [2, 3, 4, 4, 5],
    [2, 3, 4, 5, 5],
];

/// The date format of every ITSM-NG datetime field.
pub const DATE_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// The name of the root entity of a stock install.
pub const ROOT_ENTITY: &str = "Root entity";

/// What a dropdown with no value expands to with `expand_dropdowns=true`.
pub const EMPTY_DROPDOWN: &str = "&nbsp;";

/// The priority ITSM-NG computes; a missing urgency or impact counts as medium (3).
pub fn compute_priority(urgency: Option<u8>, impact: Option<u8>) -> u8 {
    let u = urgency.unwrap_or(3);
    let i = impact.unwrap_or(3);
    match (usize::from(u).checked_sub(1), usize::from(i).checked_sub(1)) {
        (Some(u), Some(i)) if u < 5 && i < 5 => PRIORITY_MATRIX[u][i],
        // The server's fallback for a cell missing from the matrix.
        _ => ((f64::from(u) + f64::from(i)) / 2.0).round() as u8,
    }
}

/// The vendor name of a Ticket status.
pub fn status_name(status: i64) -> &'static str {
    match status {
        1 => "New",
        2 => "Processing (assigned)",
        3 => "Processing (planned)",
        4 => "Pending",
        5 => "Solved",
        6 => "Closed",
        _ => "Unknown",
    }
}

/// A Ticket status (1–6) as a canonical state.
pub fn status_to_state(status: i64) -> Option<State> {
    Some(match status {
        1 => State::New,
        2 | 3 => State::Open,
        4 => State::Pending,
        5 => State::Resolved,
        6 => State::Closed,
        _ => return None,
    })
}

/// A Ticket status as a canonical [`Status`] carrying the vendor's id and name.
pub fn status_of(status: i64) -> Option<Status> {
    Some(Status {
        state: status_to_state(status)?,
        name: Some(status_name(status).to_owned()),
        id: Some(status.to_string()),
    })
}

/// A canonical state as a Ticket status. Archived and deleted tickets read as closed
/// (a deleted one also has `is_deleted: 1`).
pub fn state_to_status(state: State) -> i64 {
    match state {
        State::New => 1,
        State::Open => 2,
        State::Pending => 4,
        State::Resolved => 5,
        State::Closed | State::Archived | State::Deleted => 6,
    }
}

/// The reference a server face hands the helpdesk for a vendor status: the canonical
/// state's name, which every helpdesk resolves.
pub fn status_reference(status: i64) -> Option<Reference> {
    status_to_state(status).map(|s| Reference::name(s.as_str()))
}

pub fn type_to_canonical(t: i64) -> Option<TicketType> {
    match t {
        1 => Some(TicketType::Incident),
        2 => Some(TicketType::Request),
        _ => None,
    }
}

/// ITSM-NG tickets are incidents or requests; a question is a request, every other
/// canonical type an incident.
pub fn type_to_vendor(t: TicketType) -> i64 {
    match t {
        TicketType::Request | TicketType::Question => 2,
        TicketType::Incident | TicketType::Problem | TicketType::Change => 1,
    }
}

/// The stock request types: 1 Helpdesk (what API creates default to), 2 E-Mail,
/// 3 Phone, 4 Direct, 5 Written, 6 Other.
pub fn requesttype_to_source(id: i64) -> Source {
    match id {
        2 => Source::Email,
        3 => Source::Phone,
        4..=6 => Source::Other,
        _ => Source::Api,
    }
}

pub fn source_to_requesttype(s: Source) -> i64 {
    match s {
        Source::Api | Source::Web => 1,
        Source::Email => 2,
        Source::Phone => 3,
        Source::Other => 6,
    }
}

pub fn requesttype_name(id: i64) -> &'static str {
    match id {
        1 => "Helpdesk",
        2 => "E-Mail",
        3 => "Phone",
        4 => "Direct",
        5 => "Written",
        6 => "Other",
        _ => EMPTY_DROPDOWN,
    }
}

pub fn format_date(t: &chrono::DateTime<Utc>) -> String {
    t.format(DATE_FORMAT).to_string()
}

/// Parse an ITSM-NG datetime (`YYYY-MM-DD HH:MM:SS`, taken as UTC). RFC 3339 is
/// accepted too, since ticketgate's own clients send it.
pub fn parse_date(s: &str) -> Option<chrono::DateTime<Utc>> {
    let s = s.trim();
    if let Ok(n) = NaiveDateTime::parse_from_str(s, DATE_FORMAT) {
        return Some(Utc.from_utc_datetime(&n));
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Whether `s` has exactly the shape the server demands of a date input.
pub fn is_vendor_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// An integer given as a JSON number, a numeric string or a boolean (PHP is lax).
pub fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// A truthy PHP value.
pub fn as_bool(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !matches!(s.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"),
        Value::Null => false,
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A string given as a string or a number.
pub fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_owned()),
        _ => None,
    }
}

/// A reference's id as ITSM-NG's integer foreign key; 0 when unset or not numeric.
pub fn ref_fk(r: Option<&Reference>) -> i64 {
    r.and_then(|r| r.id.as_deref())
        .and_then(|id| id.trim().parse().ok())
        .unwrap_or(0)
}

/// A canonical id as the JSON ITSM-NG clients expect: a number when it is one.
pub fn id_value(id: &str) -> Value {
    match id.parse::<i64>() {
        Ok(n) => Value::from(n),
        Err(_) => Value::String(id.to_owned()),
    }
}

fn date_value(t: Option<&chrono::DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(format_date(t)))
}

fn dropdown(r: Option<&Reference>, expand: bool) -> Value {
    let fk = ref_fk(r);
    if !expand {
        return Value::from(fk);
    }
    match r.and_then(|r| r.name.clone()) {
        Some(name) => Value::String(name),
        None if fk > 0 => Value::String(fk.to_string()),
        None => Value::String(EMPTY_DROPDOWN.to_owned()),
    }
}

/// The priority a ticket shows: its own, else what the matrix gives.
pub fn vendor_priority(t: &Ticket) -> i64 {
    t.priority.as_ref().map_or_else(
        || i64::from(compute_priority(t.urgency, t.impact)),
        |p| i64::from(p.level.rank()),
    )
}

/// Content as ITSM-NG stores it: HTML with its markup entity-encoded (`&lt;p&gt;`;
/// GLPI 10 writes numeric references, `&#60;p&#62;`). Decoded for ticketgate, which
/// carries HTML as HTML.
pub fn decode_stored_html(s: &str) -> String {
    if !s.contains("&lt;") && !s.contains("&#") {
        return s.to_owned();
    }
    s.replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&gt;", ">")
        .replace("&#62;", ">")
        .replace("&quot;", "\"")
        .replace("&#039;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

/// Text as GLPI 10 returns what it stored (`Toolbox\Sanitizer`): `&`, `<` and `>` as
/// numeric references (`<p>` → `&#60;p&#62;`), everything else unchanged. The server
/// face answers contents this way, as the real GLPI does.
pub fn encode_stored_html(s: &str) -> String {
    if !s.contains(['<', '>', '&']) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + s.len() / 4);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&#60;"),
            '>' => out.push_str("&#62;"),
            '&' => out.push_str("&#38;"),
            c => out.push(c),
        }
    }
    out
}

/// GLPI's timeline sides (`CommonITILObject::TIMELINE_LEFT` / `TIMELINE_RIGHT`): the
/// requester's side and the helpdesk's.
pub const TIMELINE_LEFT: i64 = 1;
pub const TIMELINE_RIGHT: i64 = 4;

/// ITSM-NG content is HTML when it carries markup, plain text otherwise.
pub fn body_of(content: &str) -> Body {
    if content.contains('<') && content.contains('>') {
        Body::html(content)
    } else {
        Body::text(content)
    }
}

/// The text of an HTML fragment, for a title taken from the content.
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Who a create is for and where it belongs when the input does not say: the
/// session's user and active entity.
#[derive(Debug, Clone, Default)]
pub struct SessionDefaults {
    pub user: String,
    pub entity: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_matches_the_stock_install() {
        assert_eq!(compute_priority(Some(1), Some(1)), 1);
        assert_eq!(compute_priority(Some(3), Some(3)), 3);
        assert_eq!(compute_priority(Some(5), Some(5)), 5);
        assert_eq!(compute_priority(Some(4), Some(2)), 3);
        assert_eq!(compute_priority(Some(1), Some(5)), 2);
        assert_eq!(compute_priority(None, None), 3);
    }

    #[test]
    fn statuses_round_trip_through_states() {
        for s in [1, 2, 4, 5, 6] {
            assert_eq!(state_to_status(status_to_state(s).unwrap()), s);
        }
        assert_eq!(status_to_state(3), Some(State::Open));
        assert_eq!(status_to_state(7), None);
    }

    #[test]
    fn dates() {
        let t = parse_date("2024-03-02 10:30:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-03-02T10:30:00+00:00");
        assert_eq!(format_date(&t), "2024-03-02 10:30:00");
        assert!(is_vendor_date("2024-03-02 10:30:00"));
        assert!(!is_vendor_date("2024-03-02T10:30:00"));
    }

    #[test]
    fn assigning_on_create_makes_it_processing() {
        let input = json!({"name": "x", "content": "y", "_users_id_assign": 2});
        let t =
            new_ticket_from_input(input.as_object().unwrap(), &SessionDefaults::default()).unwrap();
        assert_eq!(t.status, Some(Reference::name("open")));
        assert_eq!(t.assignee, Some(Reference::id("2")));
    }

    #[test]
    fn stored_html_both_ways_as_glpi_10_writes_it() {
        let html = "<p>It is <b>burning</b> & hot</p>";
        let stored = encode_stored_html(html);
        assert_eq!(
            stored,
            "&#60;p&#62;It is &#60;b&#62;burning&#60;/b&#62; &#38; hot&#60;/p&#62;"
        );
        assert_eq!(decode_stored_html(&stored), html);
        // ITSM-NG's (GLPI 9.5's) named entities read the same.
        assert_eq!(decode_stored_html("&lt;p&gt;x&lt;/p&gt;"), "<p>x</p>");
        assert_eq!(encode_stored_html("plain text"), "plain text");
    }

    #[test]
    fn a_requester_user_carries_name_and_phone_both_ways() {
        let r = Requester {
            name: Some("Carol Ann Client".into()),
            email: Some("carol@example.com".into()),
            phone: Some("555-0100".into()),
            phone_ext: Some("12".into()),
            ..Requester::default()
        };
        let input = requester_user_input(&r, "carol@example.com");
        assert_eq!(
            Value::Object(input),
            json!({"name": "carol@example.com", "_useremails": ["carol@example.com"],
                   "firstname": "Carol Ann", "realname": "Client", "phone": "555-0100 x12"})
        );
        let mut back = Requester::default();
        apply_user_row(
            &mut back,
            &json!({"name": "carol@example.com", "firstname": "Carol Ann", "realname": "Client",
                    "phone": "555-0100 x12"}),
        );
        assert_eq!(back.name.as_deref(), Some("Carol Ann Client"));
        assert_eq!(back.username.as_deref(), Some("carol@example.com"));
        assert_eq!(back.phone.as_deref(), Some("555-0100"));
        assert_eq!(back.phone_ext.as_deref(), Some("12"));
    }

    #[test]
    fn messages_sit_on_the_requesters_side_and_reopen() {
        let entry = |kind| NewEntry {
            kind,
            body: Body::text("x"),
            ..NewEntry::default()
        };
        let m = followup_input("7", &entry(EntryKind::Message)).unwrap();
        assert_eq!(m["timeline_position"], json!(TIMELINE_LEFT));
        assert_eq!(m["add_reopen"], json!(1));
        let r = followup_input("7", &entry(EntryKind::Response)).unwrap();
        assert_eq!(r["timeline_position"], json!(TIMELINE_RIGHT));
        assert!(!r.contains_key("add_reopen"));
        let row = json!({"id": 3, "content": "x", "is_private": 0, "timeline_position": 1});
        assert_eq!(entry_from_followup(&row).unwrap().kind, EntryKind::Message);
        let row = json!({"id": 3, "content": "x", "is_private": 0, "timeline_position": 4});
        assert_eq!(entry_from_followup(&row).unwrap().kind, EntryKind::Response);
        let row = json!({"id": 3, "content": "x", "is_private": 1, "timeline_position": 1});
        assert_eq!(entry_from_followup(&row).unwrap().kind, EntryKind::Note);
    }

    #[test]
    fn title_defaults_to_the_content() {
        let input = json!({"content": "<p>The printer on floor 2 is jammed</p>"});
        let t =
            new_ticket_from_input(input.as_object().unwrap(), &SessionDefaults::default()).unwrap();
        assert_eq!(t.subject, "The printer on floor 2 is jammed");
    }
}
