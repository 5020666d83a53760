//! RT's values ⇄ canonical values: statuses, priorities, dates, references.
//!
//! # Statuses (RT's default lifecycle)
//!
//! | RT status  | canonical state | canonical state → RT status |
//! |------------|-----------------|-----------------------------|
//! | `new`      | `new`           | `new` → `new`               |
//! | `open`     | `open`          | `open` → `open`             |
//! | `stalled`  | `pending`       | `pending` → `stalled`       |
//! | `resolved` | `resolved`      | `resolved` → `resolved`     |
//! | `rejected` | `closed`        | `closed` → `resolved` (see below) |
//! | `deleted`  | `deleted`       | `deleted` → `deleted`       |
//!
//! RT's default lifecycle has no "closed": `resolved` is its final, inactive state, so
//! a canonical *close* resolves the ticket. `rejected` (refused, inactive) reads back as
//! closed. A status name of a custom lifecycle is passed to RT as it is, and reads back
//! as `open` when it is not one of the six.
//!
//! # Priorities
//!
//! RT's priority is a number (0–100 in practice; its default `PriorityAsString` names
//! 0 Low, 50 Medium, 100 High). Canonical levels are written as, and read back from:
//!
//! | level       | written | read from |
//! |-------------|---------|-----------|
//! | `very_low`  | 0       | —  (0 reads back as `low`, RT's own name for it) |
//! | `low`       | 0       | ≤ 24      |
//! | `normal`    | 50      | 25 – 62   |
//! | `high`      | 75      | 63 – 82   |
//! | `very_high` | 90      | 83 – 94   |
//! | `major`     | 100     | ≥ 95      |
//!
//! A priority given as a number (`"37"`) is RT's number itself. Names are the
//! canonical levels (`high` is 75), and RT's `Medium` is 50; the name a ticket's
//! priority reads back with is RT's own (`PriorityAsString`: Low, Medium, High).

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use ticketgate_model::{Error, Priority, PriorityLevel, Reference, State, Status};

/// RT's default lifecycle statuses, in its own order.
pub const RT_STATUSES: [&str; 6] = ["new", "open", "stalled", "resolved", "rejected", "deleted"];

/// The canonical state of an RT status.
pub fn state_of(status: &str) -> State {
    match status.to_ascii_lowercase().as_str() {
        "new" => State::New,
        "open" => State::Open,
        "stalled" => State::Pending,
        "resolved" => State::Resolved,
        "rejected" => State::Closed,
        "deleted" => State::Deleted,
        _ => State::Open,
    }
}

/// The RT status a canonical state is written as.
pub fn status_for(state: State) -> &'static str {
    match state {
        State::New => "new",
        State::Open => "open",
        State::Pending => "stalled",
        State::Resolved | State::Closed | State::Archived => "resolved",
        State::Deleted => "deleted",
    }
}

/// The RT statuses a search for a canonical state matches.
pub fn statuses_matching(state: State) -> &'static [&'static str] {
    match state {
        State::New => &["new"],
        State::Open => &["open"],
        State::Pending => &["stalled"],
        State::Resolved => &["resolved"],
        State::Closed | State::Archived => &["rejected"],
        State::Deleted => &["deleted"],
    }
}

/// The RT status a canonical status reference names: an RT status name (any
/// lifecycle's, passed on), or a canonical state's name.
pub fn status_from_reference(r: &Reference) -> Result<String, Error> {
    let raw = r.name.as_deref().or(r.id.as_deref()).unwrap_or("").trim();
    if raw.is_empty() {
        return Err(Error::bad_input("status is empty").field("status"));
    }
    let lower = raw.to_ascii_lowercase();
    if RT_STATUSES.contains(&lower.as_str()) {
        return Ok(lower);
    }
    match lower.parse::<State>() {
        Ok(state) => Ok(status_for(state).to_owned()),
        // A custom lifecycle's status: RT says whether it knows it.
        Err(_) => Ok(raw.to_owned()),
    }
}

pub fn status(rt: &str) -> Status {
    Status {
        state: state_of(rt),
        name: Some(rt.to_owned()),
        id: Some(rt.to_owned()),
    }
}

/// RT's number for a canonical level.
pub fn priority_number(level: PriorityLevel) -> i64 {
    match level {
        PriorityLevel::VeryLow | PriorityLevel::Low => 0,
        PriorityLevel::Normal => 50,
        PriorityLevel::High => 75,
        PriorityLevel::VeryHigh => 90,
        PriorityLevel::Major => 100,
    }
}

pub fn priority_level(n: i64) -> PriorityLevel {
    match n {
        i64::MIN..=24 => PriorityLevel::Low,
        25..=62 => PriorityLevel::Normal,
        63..=82 => PriorityLevel::High,
        83..=94 => PriorityLevel::VeryHigh,
        _ => PriorityLevel::Major,
    }
}

/// RT's default `PriorityAsString` name of a number.
pub fn priority_name(n: i64) -> &'static str {
    match n {
        i64::MIN..=49 => "Low",
        50..=99 => "Medium",
        _ => "High",
    }
}

pub fn priority(n: i64) -> Priority {
    Priority {
        level: priority_level(n),
        name: Some(priority_name(n).to_owned()),
        id: Some(n.to_string()),
    }
}

/// The RT number a canonical priority reference names.
pub fn priority_from_reference(r: &Reference) -> Result<i64, Error> {
    if let Some(n) = r.id.as_deref().and_then(|i| i.trim().parse::<i64>().ok()) {
        return Ok(n);
    }
    let name = r.name.as_deref().unwrap_or("").trim();
    // Canonical level names win over RT's own `High` (100), which means `major` here.
    if name.eq_ignore_ascii_case("medium") {
        return Ok(50);
    }
    name.parse::<PriorityLevel>()
        .map(priority_number)
        .map_err(|_| {
            Error::bad_input(format!(
                "unknown priority {name:?}: RT takes a number, Low, Medium, High, or one of very_low, low, normal, high, very_high, major"
            ))
            .field("priority")
        })
}

/// The band of RT numbers a canonical level reads back from (for searches).
pub fn priority_band(level: PriorityLevel) -> (i64, i64) {
    match level {
        PriorityLevel::VeryLow | PriorityLevel::Low => (i64::MIN, 24),
        PriorityLevel::Normal => (25, 62),
        PriorityLevel::High => (63, 82),
        PriorityLevel::VeryHigh => (83, 94),
        PriorityLevel::Major => (95, i64::MAX),
    }
}

/// A JSON string or number as text.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The `id` of an RT reference object (`{"type","id","_url"}`), or a bare value.
pub fn ref_id(v: &Value) -> Option<String> {
    match v {
        Value::Object(o) => o.get("id").and_then(text),
        other => text(other),
    }
}

/// The ids of a list of RT references (a role's members).
pub fn ref_ids(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(ref_id).collect())
        .unwrap_or_default()
}

/// An RT timestamp (`2026-12-02T08:01:35Z`); RT's "not set" (`1970-01-01T00:00:00Z`) is none.
pub fn date(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let s = v.and_then(Value::as_str)?.trim();
    let t = DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").map(|n| n.and_utc()))
        .ok()?;
    (t.timestamp() > 0).then_some(t)
}

/// A timestamp as RT takes it in JSON bodies and TicketSQL (UTC).
pub fn rt_date(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The message of an RT error body (`{"message": "..."}`), without the Perl source
/// location RT sometimes appends.
pub fn error_message(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let m = match &v {
        Value::Object(o) => o.get("message").and_then(Value::as_str).unwrap_or(""),
        Value::Array(a) => a.first().and_then(Value::as_str).unwrap_or(""),
        _ => "",
    };
    let m = match m.find(" at /") {
        Some(i) => &m[..i],
        None => m,
    };
    m.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_by_the_table() {
        for (rt, state) in [
            ("new", State::New),
            ("open", State::Open),
            ("stalled", State::Pending),
            ("resolved", State::Resolved),
            ("rejected", State::Closed),
            ("deleted", State::Deleted),
        ] {
            assert_eq!(state_of(rt), state, "{rt}");
            assert!(statuses_matching(state).contains(&rt), "{rt}");
        }
        assert_eq!(status_for(State::Pending), "stalled");
        assert_eq!(status_for(State::Closed), "resolved");
        assert_eq!(
            status_from_reference(&Reference::name("Pending")).unwrap(),
            "stalled"
        );
        assert_eq!(
            status_from_reference(&Reference::name("rejected")).unwrap(),
            "rejected"
        );
        assert_eq!(
            status_from_reference(&Reference::name("triage")).unwrap(),
            "triage"
        );
    }

    #[test]
    fn priorities_round_trip_but_very_low() {
        for level in PriorityLevel::ALL {
            let back = priority_level(priority_number(level));
            if level == PriorityLevel::VeryLow {
                assert_eq!(back, PriorityLevel::Low);
            } else {
                assert_eq!(back, level);
            }
            let (lo, hi) = priority_band(back);
            assert!((lo..=hi).contains(&priority_number(level)));
        }
        assert_eq!(priority_from_reference(&Reference::id("37")).unwrap(), 37);
        assert_eq!(
            priority_from_reference(&Reference::name("Medium")).unwrap(),
            50
        );
        assert_eq!(
            priority_from_reference(&Reference::name("very high")).unwrap(),
            90
        );
        let e = priority_from_reference(&Reference::name("urgentish")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("priority"));
        assert_eq!(priority(7).name.as_deref(), Some("Low"));
    }

    #[test]
    fn unset_dates_are_none_and_messages_lose_perl_locations() {
        assert_eq!(
            date(Some(&Value::String("1970-01-01T00:00:00Z".into()))),
            None
        );
        assert!(date(Some(&Value::String("2026-12-02T08:01:35Z".into()))).is_some());
        assert_eq!(
            error_message(
                br#"{"message":"Wrong query, expecting a OPERATOR in 'x' at /usr/share/request-tracker5/lib/RT/Tickets.pm line 3208.\n"}"#
            ),
            "Wrong query, expecting a OPERATOR in 'x'"
        );
    }
}
