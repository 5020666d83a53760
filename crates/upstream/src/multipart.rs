//! A small `multipart/form-data` encoder (RFC 7578) for the uploads client faces send.
//!
//! Parts are written as browsers and common HTTP clients write them: each with
//! `Content-Disposition: form-data; name="…"` (and `; filename="…"` for a file, its
//! quotes and line breaks escaped), then `Content-Type` when one is given. A field name
//! that is not plain ASCII is written `name*=utf-8''…`. The boundary is random per form.

use bytes::{BufMut, Bytes, BytesMut};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use std::borrow::Cow;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Characters that make a field name be written `name*=utf-8''…`.
const NAME: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'#')
    .add(b'?')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b'%');

/// One part of a form.
#[derive(Debug, Clone)]
pub struct Part {
    body: Bytes,
    file_name: Option<String>,
    media_type: Option<String>,
}

impl Part {
    /// A text field.
    pub fn text(value: impl Into<String>) -> Self {
        Self {
            body: Bytes::from(value.into()),
            file_name: None,
            media_type: None,
        }
    }

    /// Bytes (a file, with [`Part::file_name`]).
    pub fn bytes(body: impl Into<Bytes>) -> Self {
        Self {
            body: body.into(),
            file_name: None,
            media_type: None,
        }
    }

    pub fn file_name(mut self, name: impl Into<String>) -> Self {
        self.file_name = Some(name.into());
        self
    }

    /// The part's `Content-Type`; refused (`Err` with the part unchanged) unless it is
    /// a well-formed media type (`type/subtype` and `; name=value` parameters).
    pub fn media_type(mut self, media_type: &str) -> Result<Self, Self> {
        match normalize_media_type(media_type) {
            Some(m) => {
                self.media_type = Some(m);
                Ok(self)
            }
            None => Err(self),
        }
    }
}

/// A `multipart/form-data` body under construction.
#[derive(Debug, Clone)]
pub struct Form {
    boundary: String,
    parts: Vec<(String, Part)>,
}

impl Default for Form {
    fn default() -> Self {
        Self::new()
    }
}

impl Form {
    pub fn new() -> Self {
        Self {
            boundary: boundary(),
            parts: Vec::new(),
        }
    }

    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    pub fn text(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.part(name, Part::text(value))
    }

    pub fn part(mut self, name: impl Into<String>, part: Part) -> Self {
        self.parts.push((name.into(), part));
        self
    }

    /// The `Content-Type` of the body and the body.
    pub fn encode(&self) -> (String, Bytes) {
        let size: usize = self
            .parts
            .iter()
            .map(|(n, p)| n.len() + p.body.len() + 160 + self.boundary.len())
            .sum();
        let mut out = BytesMut::with_capacity(size + self.boundary.len() + 8);
        for (name, part) in &self.parts {
            out.put_slice(b"--");
            out.put_slice(self.boundary.as_bytes());
            out.put_slice(b"\r\nContent-Disposition: form-data; ");
            match utf8_percent_encode(name, NAME).into() {
                Cow::Borrowed(plain) => {
                    out.put_slice(b"name=\"");
                    out.put_slice(plain.as_bytes());
                    out.put_slice(b"\"");
                }
                Cow::Owned(encoded) => {
                    out.put_slice(b"name*=utf-8''");
                    out.put_slice(encoded.as_bytes());
                }
            }
            if let Some(file_name) = &part.file_name {
                let legal = file_name
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\r', "\\\r")
                    .replace('\n', "\\\n");
                out.put_slice(b"; filename=\"");
                out.put_slice(legal.as_bytes());
                out.put_slice(b"\"");
            }
            if let Some(m) = &part.media_type {
                out.put_slice(b"\r\nContent-Type: ");
                out.put_slice(m.as_bytes());
            }
            out.put_slice(b"\r\n\r\n");
            out.put_slice(&part.body);
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"--");
        out.put_slice(self.boundary.as_bytes());
        out.put_slice(b"--\r\n");
        (
            format!("multipart/form-data; boundary={}", self.boundary),
            out.freeze(),
        )
    }
}

/// 256 random bits in hex, from the standard library's randomly keyed hasher.
fn boundary() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let state = RandomState::new();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let word = |i: u64| {
        let mut h = state.build_hasher();
        h.write_u64(n);
        h.write_u64(i);
        h.finish()
    };
    format!(
        "{:016x}-{:016x}-{:016x}-{:016x}",
        word(0),
        word(1),
        word(2),
        word(3)
    )
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A well-formed media type, its type and subtype in lower case; `None` otherwise.
fn normalize_media_type(m: &str) -> Option<String> {
    let m = m.trim();
    let (essence, params) = match m.split_once(';') {
        Some((e, p)) => (e.trim(), Some(p)),
        None => (m, None),
    };
    let (ty, sub) = essence.split_once('/')?;
    if !is_token(ty) || !is_token(sub) {
        return None;
    }
    let mut out = format!("{}/{}", ty.to_ascii_lowercase(), sub.to_ascii_lowercase());
    if let Some(params) = params {
        for p in params.split(';') {
            let p = p.trim();
            if p.is_empty() {
                continue;
            }
            let (k, v) = p.split_once('=')?;
            let quoted = v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
            let ok_value = if quoted {
                v[1..v.len() - 1]
                    .bytes()
                    .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
            } else {
                is_token(v)
            };
            if !is_token(k) || !ok_value {
                return None;
            }
            out.push_str("; ");
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_is_written_as_rfc_7578_says() {
        let mut form = Form::new().text("manifest", "{\"a\":1}").part(
            "filename[0]",
            Part::bytes(&b"hello"[..])
                .file_name("a \"b\".txt")
                .media_type("Text/Plain; charset=utf-8")
                .unwrap(),
        );
        form.boundary = "XYZ".into();
        let (ct, body) = form.encode();
        assert_eq!(ct, "multipart/form-data; boundary=XYZ");
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            "--XYZ\r\nContent-Disposition: form-data; name=\"manifest\"\r\n\r\n{\"a\":1}\r\n\
             --XYZ\r\nContent-Disposition: form-data; name=\"filename[0]\"; filename=\"a \\\"b\\\".txt\"\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n--XYZ--\r\n"
        );
    }

    #[test]
    fn boundaries_differ_and_bad_media_types_are_refused() {
        assert_ne!(Form::new().boundary(), Form::new().boundary());
        assert_eq!(Form::new().boundary().len(), 67);
        assert!(Part::bytes(&b"x"[..]).media_type("not a type").is_err());
        assert!(
            Part::bytes(&b"x"[..])
                .media_type("text/plain\r\nX: y")
                .is_err()
        );
        assert!(Part::bytes(&b"x"[..]).media_type("image/png").is_ok());
    }
}
