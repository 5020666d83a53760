//! Request bodies as ASP.NET model binding sees them: `multipart/form-data`,
//! `application/x-www-form-urlencoded` or a JSON object, all turned into one
//! [`Form`] of case-insensitive fields and uploaded files.
//!
//! The multipart parser works on the already-buffered body and is bounded: at most
//! `max_parts` parts, `max_part_bytes` per part and `max_total_bytes` in all, and a
//! part's header block of at most [`MAX_PART_HEADER_BYTES`].

use bytes::Bytes;
use serde_json::Value;
use ticketgate_model::{Error, ErrorKind};

/// The largest header block of one multipart part.
pub const MAX_PART_HEADER_BYTES: usize = 8 * 1024;

/// Bounds on a multipart body.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_parts: usize,
    pub max_part_bytes: usize,
    pub max_total_bytes: usize,
}

/// A file sent in a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The form field it came in (`Uploads`).
    pub field: String,
    pub file_name: String,
    pub content_type: String,
    pub data: Bytes,
}

/// A decoded form: fields in order (a name may repeat) and files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    pub fields: Vec<(String, String)>,
    pub files: Vec<Upload>,
}

impl Form {
    /// The first non-empty value of a field, matching the name case-insensitively
    /// (as ASP.NET binds `title` to `Title`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    }

    /// Every value of a repeated field (`SelectedTags=1&SelectedTags=2`, or
    /// `SelectedTags[0]=1`).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(k, _)| {
                k.eq_ignore_ascii_case(name)
                    || k.split_once('[')
                        .is_some_and(|(base, _)| base.eq_ignore_ascii_case(name))
            })
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.files.is_empty()
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::bad_input(msg)
}

fn too_large(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::PayloadTooLarge, msg)
}

/// Decode a request body by its `Content-Type`. An empty body is an empty form.
pub fn decode(content_type: Option<&str>, body: &Bytes, limits: Limits) -> Result<Form, Error> {
    let ct = content_type.unwrap_or("").trim();
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if body.is_empty() && essence != "multipart/form-data" {
        return Ok(Form::default());
    }
    match essence.as_str() {
        "multipart/form-data" => {
            let boundary = boundary(ct)?;
            parse_multipart(body, &boundary, limits)
        }
        "application/x-www-form-urlencoded" => {
            if body.len() > limits.max_total_bytes {
                return Err(too_large("the form is too large"));
            }
            Ok(Form {
                fields: url_pairs(body),
                files: Vec::new(),
            })
        }
        _ if essence == "application/json"
            || essence == "text/json"
            || essence.ends_with("+json") =>
        {
            if body.len() > limits.max_total_bytes {
                return Err(too_large("the JSON body is too large"));
            }
            json_form(body)
        }
        "" => Err(Error::new(
            ErrorKind::UnsupportedMediaType,
            "the request has a body but no Content-Type",
        )),
        other => Err(Error::new(
            ErrorKind::UnsupportedMediaType,
            format!("Content-Type {other} is not supported here"),
        )),
    }
}

fn url_pairs(body: &[u8]) -> Vec<(String, String)> {
    body.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut it = pair.splitn(2, |b| *b == b'=');
            let k = it.next().unwrap_or_default();
            let v = it.next().unwrap_or_default();
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space); bad escapes are kept.
pub fn percent_decode(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(s[i + 1]), hex(s[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json_form(body: &[u8]) -> Result<Form, Error> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("the body is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(bad("the body must be a JSON object"));
    };
    let mut fields = Vec::new();
    for (k, v) in map {
        match v {
            Value::Null => {}
            Value::String(s) => fields.push((k, s)),
            Value::Bool(b) => fields.push((k, b.to_string())),
            Value::Number(n) => fields.push((k, n.to_string())),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::String(s) => fields.push((k.clone(), s)),
                        Value::Number(n) => fields.push((k.clone(), n.to_string())),
                        Value::Bool(b) => fields.push((k.clone(), b.to_string())),
                        _ => return Err(bad(format!("{k} must be a list of values")).field(k)),
                    }
                }
            }
            Value::Object(_) => return Err(bad(format!("{k} must not be an object")).field(k)),
        }
    }
    Ok(Form {
        fields,
        files: Vec::new(),
    })
}

/// The `boundary` parameter of a multipart Content-Type.
fn boundary(content_type: &str) -> Result<String, Error> {
    for param in content_type.split(';').skip(1) {
        if let Some((k, v)) = param.split_once('=')
            && k.trim().eq_ignore_ascii_case("boundary")
        {
            let v = v.trim().trim_matches('"');
            if v.is_empty() || v.len() > 70 {
                return Err(bad("the multipart boundary must be 1 to 70 characters"));
            }
            return Ok(v.to_owned());
        }
    }
    Err(bad("multipart/form-data without a boundary"))
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > haystack.len() {
        return None;
    }
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Parse a buffered multipart/form-data body (RFC 7578).
pub fn parse_multipart(body: &Bytes, boundary: &str, limits: Limits) -> Result<Form, Error> {
    if body.len() > limits.max_total_bytes {
        return Err(too_large(format!(
            "the multipart body is larger than {} bytes",
            limits.max_total_bytes
        )));
    }
    let dash = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    // The first boundary may open the body directly or follow a preamble.
    let mut pos = if body.starts_with(dash.as_bytes()) {
        dash.len()
    } else {
        find(body, delimiter.as_bytes(), 0)
            .map(|p| p + delimiter.len())
            .ok_or_else(|| bad("malformed multipart body: no opening boundary"))?
    };
    let mut form = Form::default();
    let mut parts = 0usize;
    loop {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(form);
        }
        // Transport padding after a boundary is allowed before the CRLF.
        let line_end = find(body, b"\r\n", pos)
            .ok_or_else(|| bad("malformed multipart body: boundary line not terminated"))?;
        if !body[pos..line_end]
            .iter()
            .all(|b| *b == b' ' || *b == b'\t')
        {
            return Err(bad("malformed multipart body: junk after a boundary"));
        }
        pos = line_end + 2;
        parts += 1;
        if parts > limits.max_parts {
            return Err(too_large(format!(
                "the multipart body has more than {} parts",
                limits.max_parts
            )));
        }
        if body[pos..].starts_with(b"\r\n") {
            return Err(bad("malformed multipart body: a part has no name"));
        }
        let header_end = find(body, b"\r\n\r\n", pos)
            .filter(|e| *e - pos <= MAX_PART_HEADER_BYTES)
            .ok_or_else(|| bad("malformed multipart body: part headers not terminated"))?;
        let headers = std::str::from_utf8(&body[pos..header_end])
            .map_err(|_| bad("malformed multipart body: part headers are not UTF-8"))?;
        let content_start = header_end + 4;
        let content_end = find(body, delimiter.as_bytes(), content_start)
            .ok_or_else(|| bad("malformed multipart body: no closing boundary"))?;
        if content_end - content_start > limits.max_part_bytes {
            return Err(too_large(format!(
                "a multipart part is larger than {} bytes",
                limits.max_part_bytes
            )));
        }
        let data = body.slice(content_start..content_end);
        let part = PartHeaders::parse(headers)?;
        match part.file_name {
            Some(file_name) => form.files.push(Upload {
                field: part.name,
                file_name,
                content_type: part
                    .content_type
                    .unwrap_or_else(|| "application/octet-stream".to_owned()),
                data,
            }),
            None => {
                let value = String::from_utf8(data.to_vec()).map_err(|_| {
                    bad(format!("form field {} is not UTF-8 text", part.name))
                        .field(part.name.clone())
                })?;
                form.fields.push((part.name, value));
            }
        }
        pos = content_end + delimiter.len();
    }
}

struct PartHeaders {
    name: String,
    file_name: Option<String>,
    content_type: Option<String>,
}

impl PartHeaders {
    fn parse(block: &str) -> Result<Self, Error> {
        let mut name = None;
        let mut file_name = None;
        let mut file_name_star = None;
        let mut content_type = None;
        for line in block.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                if line.trim().is_empty() {
                    continue;
                }
                return Err(bad("malformed multipart body: bad part header"));
            };
            if k.trim().eq_ignore_ascii_case("content-disposition") {
                let mut params = split_params(v);
                let kind = params.next().unwrap_or_default();
                if !kind.trim().eq_ignore_ascii_case("form-data") {
                    return Err(bad("malformed multipart body: a part is not form-data"));
                }
                for p in params {
                    let Some((pk, pv)) = p.split_once('=') else {
                        continue;
                    };
                    let pv = unquote(pv.trim());
                    match pk.trim().to_ascii_lowercase().as_str() {
                        "name" => name = Some(pv),
                        "filename" => file_name = Some(pv),
                        "filename*" => file_name_star = ext_value(&pv),
                        _ => {}
                    }
                }
            } else if k.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(v.trim().to_owned());
            }
        }
        let name = name.ok_or_else(|| bad("malformed multipart body: a part has no name"))?;
        Ok(Self {
            name,
            file_name: file_name_star.or(file_name),
            content_type,
        })
    }
}

/// Split `form-data; name="a;b"; filename=x` on semicolons outside quotes.
fn split_params(v: &str) -> impl Iterator<Item = String> + '_ {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in v.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => {
                cur.push(c);
                escaped = true;
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ';' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
}

fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => v.to_owned(),
    }
}

/// RFC 5987 `UTF-8''name%20x.pdf`.
fn ext_value(v: &str) -> Option<String> {
    let mut it = v.splitn(3, '\'');
    let charset = it.next()?;
    let _lang = it.next()?;
    let value = it.next()?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    Some(percent_decode(value.replace('+', "%2B").as_bytes()))
}

/// The bare file name of an upload (browsers on Windows once sent full paths).
pub fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name).trim()
}

/// The lower-case extension of a file name, without the dot.
pub fn extension(name: &str) -> Option<String> {
    let base = base_name(name);
    let (stem, ext) = base.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_parts: 4,
        max_part_bytes: 64,
        max_total_bytes: 1024,
    };

    fn body(s: &str) -> Bytes {
        Bytes::from(s.replace('\n', "\r\n"))
    }

    #[test]
    fn parses_fields_and_files() {
        let b = body(
            "--XX\nContent-Disposition: form-data; name=\"Title\"\n\nPrinter\n--XX\n\
             Content-Disposition: form-data; name=\"Uploads\"; filename=\"C:\\\\tmp\\\\a.txt\"\n\
             Content-Type: text/plain\n\nhello\n--XX--\n",
        );
        let f = parse_multipart(&b, "XX", LIMITS).unwrap();
        assert_eq!(f.get("title"), Some("Printer"));
        assert_eq!(f.files.len(), 1);
        assert_eq!(base_name(&f.files[0].file_name), "a.txt");
        assert_eq!(&f.files[0].data[..], b"hello");
    }

    #[test]
    fn limits_and_malformed_bodies_are_refused() {
        let big = format!(
            "--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n{}\r\n--XX--\r\n",
            "x".repeat(100)
        );
        let e = parse_multipart(&Bytes::from(big), "XX", LIMITS).unwrap_err();
        assert_eq!(e.kind, ErrorKind::PayloadTooLarge);
        let many = "--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n".repeat(5)
            + "--XX--\r\n";
        let e = parse_multipart(&Bytes::from(many), "XX", LIMITS).unwrap_err();
        assert_eq!(e.kind, ErrorKind::PayloadTooLarge);
        for bad in [
            "",
            "--XX",
            "--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
            "--XX\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\n1\r\n--XX--",
            "--XX\r\nContent-Disposition: form-data\r\n\r\n1\r\n--XX--",
            "--XX\r\nno colon here\r\n\r\n1\r\n--XX--",
        ] {
            let e = parse_multipart(&Bytes::from(bad), "XX", LIMITS).unwrap_err();
            assert_eq!(e.kind, ErrorKind::BadInput, "{bad:?}");
        }
    }

    #[test]
    fn urlencoded_and_json_forms() {
        let f = decode(
            Some("application/x-www-form-urlencoded"),
            &Bytes::from("Title=A+b%21&SelectedTags=1&SelectedTags=2"),
            LIMITS,
        )
        .unwrap();
        assert_eq!(f.get("title"), Some("A b!"));
        assert_eq!(f.all("SelectedTags"), vec!["1", "2"]);
        let f = decode(
            Some("application/json"),
            &Bytes::from(r#"{"page":2,"search":null,"tags":[1,2]}"#),
            LIMITS,
        )
        .unwrap();
        assert_eq!(f.get("Page"), Some("2"));
        assert_eq!(f.get("search"), None);
        assert_eq!(f.all("tags"), vec!["1", "2"]);
        assert_eq!(percent_decode(b"%zz%4"), "%zz%4");
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        let good = body(
            "preamble\n--XX\nContent-Disposition: form-data; name=\"Title\"\n\nPrinter\n--XX\n\
             Content-Disposition: form-data; name=\"Uploads\"; filename*=UTF-8''a%20b.txt\n\
             Content-Type: text/plain\n\nhello\n--XX--\n",
        );
        let f = parse_multipart(&good, "XX", LIMITS).unwrap();
        assert_eq!(f.files[0].file_name, "a b.txt");
        for cut in 0..good.len() {
            let _ = parse_multipart(&good.slice(..cut), "XX", LIMITS);
        }
        for i in 0..good.len() {
            for b in [0u8, b'-', b'\r', b'\n', b'"', 0xff] {
                let mut v = good.to_vec();
                v[i] = b;
                let _ = parse_multipart(&Bytes::from(v), "XX", LIMITS);
            }
        }
    }

    #[test]
    fn extensions() {
        assert_eq!(extension("a.PDF").as_deref(), Some("pdf"));
        assert_eq!(extension(".bashrc"), None);
        assert_eq!(extension("noext"), None);
        assert_eq!(extension("dir.d/file"), None);
    }
}
