//! Serde helpers shared by the model's types.

/// Attachment bytes travel as standard base64 in JSON and XML.
pub mod base64_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        // Whitespace inside base64 is common in hand-written XML and in wrapped mail
        // bodies; it carries no data, so it is dropped before strict decoding.
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        STANDARD
            .decode(compact.as_bytes())
            .map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}")))
    }
}

/// Numbers that may arrive as JSON numbers or as strings (XML has only strings).
pub mod lenient_u8 {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<u8>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_u8(*v),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
        d.deserialize_any(SmallNumber)
    }

    /// A visitor rather than an untagged enum: XML deserializers hand over text through
    /// `visit_str`, JSON numbers through `visit_u64`, and both must land here.
    struct SmallNumber;

    impl<'de> serde::de::Visitor<'de> for SmallNumber {
        type Value = Option<u8>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a number from 0 to 255")
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            u8::try_from(v)
                .map(Some)
                .map_err(|_| E::custom(format!("{v} is out of range")))
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u8::try_from(v)
                .map(Some)
                .map_err(|_| E::custom(format!("{v} is out of range")))
        }

        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
            if s.trim().is_empty() {
                return Ok(None);
            }
            s.trim()
                .parse()
                .map(Some)
                .map_err(|_| E::custom(format!("expected a small number, got {s:?}")))
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(SmallNumber)
        }

        /// quick-xml presents an element as a map whose text is under `$text`.
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(key) = map.next_key::<String>()? {
                let value: String = map.next_value()?;
                if key == "$text" || key == "$value" {
                    found = Some(value);
                }
            }
            match found {
                Some(text) => self.visit_str(&text),
                None => Ok(None),
            }
        }
    }
}

/// Booleans that may arrive as JSON booleans or as strings such as `"true"` / `"0"`.
pub mod lenient_bool {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            B(bool),
            N(i64),
            S(String),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::B(b) => b,
            Raw::N(n) => n != 0,
            Raw::S(s) => parse(&s).ok_or_else(|| {
                serde::de::Error::custom(format!("expected true or false, got {s:?}"))
            })?,
        })
    }

    pub fn parse(s: &str) -> Option<bool> {
        match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" | "" => Some(false),
            _ => None,
        }
    }
}

pub fn is_false(b: &bool) -> bool {
    !*b
}
