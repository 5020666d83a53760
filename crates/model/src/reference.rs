//! Id-or-name references.
//!
//! osTicket takes department, priority and status NAMES; ITSM-NG and TicketsApi take
//! numeric IDS. A [`Reference`] carries whichever the caller gave (or both, once a
//! client face has resolved one to the other), so nothing is lost in translation.

use serde::{Deserialize, Deserializer, Serialize};

/// A reference to a named thing of the helpdesk: a department, category, agent, group…
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Reference {
    pub fn id(id: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            name: None,
        }
    }

    pub fn name(name: impl Into<String>) -> Self {
        Self {
            id: None,
            name: Some(name.into()),
        }
    }

    pub fn both(id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            id: Some(id.into()),
            name: Some(name.into()),
        }
    }

    /// A value that is all digits is taken as an id, anything else as a name: the
    /// convention of every vendor API that accepts "name or id" in one field.
    pub fn guess(value: &str) -> Self {
        let v = value.trim();
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            Self::id(v)
        } else {
            Self::name(v)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.id.is_none() && self.name.is_none()
    }

    /// True when `other` names the same thing: same id, or same name ignoring case.
    pub fn matches(&self, id: &str, name: &str) -> bool {
        self.id.as_deref() == Some(id)
            || self
                .name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
    }

    /// The most human-readable form, for messages.
    pub fn label(&self) -> &str {
        self.name.as_deref().or(self.id.as_deref()).unwrap_or("")
    }
}

/// Accepts `"Support"` (a name), `3` or `"3"` (an id), or `{"id": …, "name": …}`; in XML,
/// `<department>Support</department>` or `<department id="3"/>`.
impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ReferenceVisitor)
    }
}

struct ReferenceVisitor;

impl<'de> serde::de::Visitor<'de> for ReferenceVisitor {
    type Value = Reference;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a name, an id, or an object with id and/or name")
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Reference, E> {
        Ok(Reference::id(v.to_string()))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Reference, E> {
        Ok(Reference::id(v.to_string()))
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Reference, E> {
        Ok(Reference::guess(s))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Reference, A::Error> {
        let mut r = Reference::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "id" | "@id" => r.id = Some(map.next_value::<IdValue>()?.0),
                "name" | "@name" => r.name = Some(map.next_value()?),
                "$text" | "$value" => {
                    let text: String = map.next_value()?;
                    if !text.trim().is_empty() {
                        let guessed = Reference::guess(&text);
                        r.id = r.id.or(guessed.id);
                        r.name = r.name.or(guessed.name);
                    }
                }
                other => return Err(serde::de::Error::unknown_field(other, &["id", "name"])),
            }
        }
        Ok(r)
    }
}

/// An id given as a number or a string.
struct IdValue(String);

impl<'de> Deserialize<'de> for IdValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = IdValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an id")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<IdValue, E> {
                Ok(IdValue(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<IdValue, E> {
                Ok(IdValue(v.to_string()))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<IdValue, E> {
                Ok(IdValue(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_form() {
        let r: Reference = serde_json::from_str("\"Support\"").unwrap();
        assert_eq!(r, Reference::name("Support"));
        let r: Reference = serde_json::from_str("7").unwrap();
        assert_eq!(r, Reference::id("7"));
        let r: Reference = serde_json::from_str("\"12\"").unwrap();
        assert_eq!(r, Reference::id("12"));
        let r: Reference = serde_json::from_str(r#"{"id": 4, "name": "Sales"}"#).unwrap();
        assert_eq!(r, Reference::both("4", "Sales"));
    }

    #[test]
    fn matches_by_id_or_case_insensitive_name() {
        assert!(Reference::name("support").matches("1", "Support"));
        assert!(Reference::id("1").matches("1", "Support"));
        assert!(!Reference::id("2").matches("1", "Support"));
    }
}
