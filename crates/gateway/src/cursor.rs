//! The opaque cursor of a search across upstreams (`next_cursor`, `cursor=`).
//!
//! A page of a search spanning several upstreams is cut from a merge of their answers
//! by the requested sort. An offset into that merge moves when a ticket is created in
//! any upstream between two pages, so a client paging by offset can see a ticket twice
//! or miss one. The cursor is keyset pagination instead: for each upstream it keeps
//! the sort key of the last ticket the client has been shown from the merge (the
//! requested sort field, then creation, then upstream name and native id as
//! tie-breakers), and where in that upstream's own order its next ticket was found
//! (`pos`, only a hint: the next page asks from a little before it and checks that
//! the answer starts at or before the key, asking from further back when it does
//! not). Every page then holds exactly the tickets after the key, in order, whatever
//! was created, and only the tickets the key has not reached are ever shown again.
//!
//! On the wire: `v1.` + URL-safe base64 (no padding) of the JSON body followed by a
//! 16-byte HMAC-SHA-256 over it. The key is derived from the configuration's
//! consumers and their credentials, so every instance started from one configuration
//! accepts the others' cursors and a client cannot make one up. The body names the
//! search it continues (a digest of the consumer and the query, less `offset` and
//! `limit`): a cursor given with another query or by another consumer is refused.

use crate::config::Config;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use ticketgate_model::{Error, PriorityLevel, Query, Result, SortField, SortOrder, State, Ticket};

type Timestamp = chrono::DateTime<chrono::Utc>;

const VERSION: &str = "v1";
const MAC_BYTES: usize = 16;
/// A cursor longer than this is not one the gateway made.
const MAX_CURSOR_CHARS: usize = 8 * 1024;

/// The value a ticket is sorted by, as `compare` orders it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Primary {
    Time(Option<Timestamp>),
    Number(String),
    Text(String),
    Level(Option<PriorityLevel>),
    State(State),
}

impl Primary {
    fn of(t: &Ticket, sort: SortField) -> Self {
        match sort {
            SortField::Created | SortField::Relevance => Primary::Time(Some(t.created_at)),
            SortField::Updated => Primary::Time(Some(t.updated_at)),
            SortField::Due => Primary::Time(t.due_at),
            SortField::Number => Primary::Number(t.number.clone()),
            SortField::Subject => Primary::Text(t.subject.to_lowercase()),
            SortField::Priority => Primary::Level(t.priority.as_ref().map(|p| p.level)),
            SortField::Status => Primary::State(t.status.state),
        }
    }

    /// Ascending order; values of different kinds (a cursor of another sort, refused
    /// before it gets here) compare equal.
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Primary::Time(a), Primary::Time(b)) => a.cmp(b),
            (Primary::Number(a), Primary::Number(b)) => numeric_or_text(a, b),
            (Primary::Text(a), Primary::Text(b)) => a.cmp(b),
            (Primary::Level(a), Primary::Level(b)) => a.cmp(b),
            (Primary::State(a), Primary::State(b)) => a.cmp(b),
            _ => Ordering::Equal,
        }
    }
}

fn numeric_or_text(a: &str, b: &str) -> Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// Where a ticket stands in a merged search: the sort value, then creation, then its
/// upstream and its id there (the tie-breakers that make the order total).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortKey {
    #[serde(rename = "s")]
    pub primary: Primary,
    #[serde(rename = "c")]
    pub created: Timestamp,
    #[serde(rename = "u")]
    pub upstream: String,
    #[serde(rename = "i")]
    pub id: String,
}

impl SortKey {
    pub fn of(upstream: &str, t: &Ticket, sort: SortField) -> Self {
        Self {
            primary: Primary::of(t, sort),
            created: t.created_at,
            upstream: upstream.to_owned(),
            id: t.id.clone(),
        }
    }
}

/// The order of the merge: the sort value and creation in the requested direction,
/// then upstream name and id ascending.
pub fn order(a: &SortKey, b: &SortKey, dir: SortOrder) -> Ordering {
    let o = a
        .primary
        .cmp(&b.primary)
        .then_with(|| a.created.cmp(&b.created));
    let o = if dir == SortOrder::Desc {
        o.reverse()
    } else {
        o
    };
    o.then_with(|| a.upstream.cmp(&b.upstream))
        .then_with(|| numeric_or_text(&a.id, &b.id))
}

/// Whether `a` comes strictly before `b` by the sort value alone (in the requested
/// direction): every ticket tied with `b` on it is then at or after `a` in any
/// upstream's own order.
pub fn primary_before(a: &SortKey, b: &SortKey, dir: SortOrder) -> bool {
    let o = a.primary.cmp(&b.primary);
    let o = if dir == SortOrder::Desc {
        o.reverse()
    } else {
        o
    };
    o == Ordering::Less
}

/// Where the first of `keys` (an upstream's answer from `start` on, in its order)
/// that comes after `after` is: the next page asks from a little before it.
pub fn position(start: u32, keys: &[SortKey], after: &SortKey, dir: SortOrder) -> u32 {
    let n = keys
        .iter()
        .position(|k| order(k, after, dir) == Ordering::Greater)
        .unwrap_or(keys.len());
    start.saturating_add(u32::try_from(n).unwrap_or(u32::MAX))
}

/// One upstream's place in a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    /// Where the first ticket after `after` was in the upstream's order (a hint).
    #[serde(rename = "p")]
    pub pos: u32,
    /// The last key this upstream's tickets have been merged up to; None: the start.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub after: Option<SortKey>,
}

/// What a cursor carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The search it continues: see [`binding`].
    #[serde(rename = "b")]
    pub binding: String,
    /// Each upstream's place, by name.
    #[serde(rename = "u")]
    pub places: BTreeMap<String, Place>,
    /// How many tickets the pages before have shown (the next page's `offset`).
    #[serde(rename = "n", default)]
    pub shown: u32,
}

/// The digest naming one consumer's search: the query without its window.
pub fn binding(consumer: &str, q: &Query) -> String {
    let mut q = q.clone();
    q.offset = 0;
    q.limit = 0;
    let mut h = Sha256::new();
    h.update(b"ticketgate search cursor binding\0");
    h.update(consumer.as_bytes());
    h.update(b"\0");
    h.update(serde_json::to_vec(&q).unwrap_or_default());
    let d = h.finalize();
    URL_SAFE_NO_PAD.encode(&d[..12])
}

/// The key cursors are signed with, derived from the configuration's consumers and
/// their credentials (the same on every instance started from one configuration).
pub fn key_from(config: &Config) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"ticketgate search cursor key v1\0");
    for c in &config.consumers {
        h.update(c.name.as_bytes());
        h.update(b"\0");
        for (kind, token) in c.tokens() {
            h.update(kind.as_bytes());
            h.update(b"=");
            h.update(token.as_bytes());
            h.update(b"\0");
        }
    }
    for name in config.upstreams.keys() {
        h.update(name.as_bytes());
        h.update(b"\0");
    }
    h.finalize().into()
}

fn mac(key: &[u8; 32], body: &[u8]) -> [u8; MAC_BYTES] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(VERSION.as_bytes());
    m.update(body);
    let full = m.finalize().into_bytes();
    let mut out = [0u8; MAC_BYTES];
    out.copy_from_slice(&full[..MAC_BYTES]);
    out
}

/// The cursor for `position`.
pub fn encode(key: &[u8; 32], position: &Position) -> String {
    let mut bytes = serde_json::to_vec(position).expect("a position serialises");
    let tag = mac(key, &bytes);
    bytes.extend_from_slice(&tag);
    format!("{VERSION}.{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn refused(why: &str) -> Error {
    Error::bad_input(format!("query parameter cursor: {why}")).field("cursor")
}

/// The position a cursor carries, if this gateway made it for this search.
pub fn decode(key: &[u8; 32], cursor: &str, binding: &str) -> Result<Position> {
    let not_ours = "not a cursor this gateway handed out (pass next_cursor as it came)";
    if cursor.len() > MAX_CURSOR_CHARS {
        return Err(refused(not_ours));
    }
    let Some((version, data)) = cursor.split_once('.') else {
        return Err(refused(not_ours));
    };
    if version != VERSION {
        return Err(refused(&format!(
            "version {version:?} is not one this gateway reads; start the search again without a cursor"
        )));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(data.trim_end_matches('='))
        .map_err(|_| refused(not_ours))?;
    if bytes.len() <= MAC_BYTES {
        return Err(refused(not_ours));
    }
    let (body, tag) = bytes.split_at(bytes.len() - MAC_BYTES);
    let expected = mac(key, body);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(&expected[..], tag)) {
        return Err(refused(
            "it was altered, or made by a gateway with another configuration; start the search again without a cursor",
        ));
    }
    let position: Position = serde_json::from_slice(body).map_err(|_| refused(not_ours))?;
    if position.binding != binding {
        return Err(refused(
            "it continues another search (another query, sort or consumer); give the same query as the page it came with, or start again without a cursor",
        ));
    }
    Ok(position)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> [u8; 32] {
        [7; 32]
    }

    fn position() -> Position {
        let mut places = BTreeMap::new();
        places.insert(
            "local".to_owned(),
            Place {
                pos: 3,
                after: Some(SortKey {
                    primary: Primary::Time(Some(chrono::Utc::now())),
                    created: chrono::Utc::now(),
                    upstream: "it".into(),
                    id: "12".into(),
                }),
            },
        );
        places.insert(
            "it".to_owned(),
            Place {
                pos: 0,
                after: None,
            },
        );
        Position {
            binding: "b".into(),
            places,
            shown: 4,
        }
    }

    #[test]
    fn a_cursor_round_trips_and_refuses_tampering_other_searches_and_other_keys() {
        let p = position();
        let c = encode(&key(), &p);
        assert!(c.starts_with("v1."));
        assert!(
            c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "URL-safe: {c}"
        );
        assert_eq!(decode(&key(), &c, "b").unwrap(), p);
        let other = decode(&key(), &c, "other").unwrap_err();
        assert_eq!(other.field.as_deref(), Some("cursor"));
        assert!(
            other.message.contains("another search"),
            "{}",
            other.message
        );
        assert!(
            decode(&[8; 32], &c, "b")
                .unwrap_err()
                .message
                .contains("altered")
        );
        // One character changed anywhere in the body.
        let mut chars: Vec<char> = c.chars().collect();
        let i = 10;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert!(decode(&key(), &tampered, "b").is_err());
        for junk in ["", "v1.", "v1.!!!", "v2.abc", "abc", "v1.AAAA"] {
            let e = decode(&key(), junk, "b").unwrap_err();
            assert_eq!(e.field.as_deref(), Some("cursor"), "{junk}: {e:?}");
        }
    }

    #[test]
    fn the_merge_order_is_total_and_follows_the_direction() {
        let t = |secs: i64, up: &str, id: &str| SortKey {
            primary: Primary::Time(chrono::DateTime::from_timestamp(secs, 0)),
            created: chrono::DateTime::from_timestamp(secs, 0).unwrap(),
            upstream: up.into(),
            id: id.into(),
        };
        let (a, b, c) = (t(1, "x", "9"), t(2, "a", "1"), t(2, "a", "10"));
        assert_eq!(order(&a, &b, SortOrder::Asc), Ordering::Less);
        assert_eq!(order(&a, &b, SortOrder::Desc), Ordering::Greater);
        // Ties: upstream, then id as a number, ascending in both directions.
        assert_eq!(order(&b, &c, SortOrder::Asc), Ordering::Less);
        assert_eq!(order(&b, &c, SortOrder::Desc), Ordering::Less);
        assert!(primary_before(&a, &b, SortOrder::Asc));
        assert!(!primary_before(&b, &c, SortOrder::Asc));
        assert!(primary_before(&b, &a, SortOrder::Desc));
    }
}
