//! The parameters of an `apirest.php` request, gathered as the real server does:
//! the query string (PHP bracket syntax: `criteria[0][field]=12`), then the body —
//! JSON (also when no Content-Type is given), form-urlencoded, or multipart with an
//! `uploadManifest` — whose keys override the query's; then the credentials carried
//! in headers.

use crate::errors::ApiError;
use base64::Engine as _;
use http::HeaderMap;
use serde_json::{Map, Value};

/// One uploaded file of a multipart request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedFile {
    /// The form field (`filename[0]`).
    pub field: String,
    pub filename: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// Everything a request carried, merged.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub values: Map<String, Value>,
    pub files: Vec<UploadedFile>,
    pub session_token: Option<String>,
    pub app_token: Option<String>,
    pub user_token: Option<String>,
    pub login: Option<String>,
    pub password: Option<String>,
}

impl Params {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// A parameter as text (numbers and booleans as PHP prints them).
    pub fn text(&self, key: &str) -> Option<String> {
        self.values.get(key).and_then(crate::mapping::as_text)
    }

    /// A boolean parameter ("true"/"false" strings were converted on parsing).
    pub fn flag(&self, key: &str, default: bool) -> bool {
        self.values
            .get(key)
            .map_or(default, crate::mapping::as_bool)
    }
}

/// PHP's `max_input_vars` default: variables past it are dropped (with a warning in
/// PHP's log), so a form of a million pairs costs no more than one of a thousand.
/// Source: php-src `main/php_variables.c` (`php_default_treat_data`), `php.ini-production`.
pub const MAX_INPUT_VARS: usize = 1000;

/// PHP's `max_input_nesting_level` default: a variable nested deeper (`a[][][]…`) is
/// dropped whole, as PHP drops it. Source: php-src `main/php_variables.c`
/// (`php_register_variable_ex`).
pub const MAX_INPUT_NESTING: usize = 64;

/// The longest multipart boundary (RFC 2046 §5.1.1 allows 70 characters); a longer
/// one is refused, since the search for it costs its length per body byte.
pub const MAX_BOUNDARY: usize = 70;

/// The most parts a multipart body may have; more is refused as too large.
pub const MAX_PARTS: usize = 1000;

/// Parse a PHP-style query or form string into nested objects. `a[]=1&a[]=2` becomes
/// `{"a": {"0": "1", "1": "2"}}`, as PHP's arrays are maps; see [`list`]. Bounded as
/// PHP bounds it: [`MAX_INPUT_VARS`] variables, [`MAX_INPUT_NESTING`] levels.
pub fn parse_php_query(query: &str) -> Map<String, Value> {
    let mut root = Map::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()).take(MAX_INPUT_VARS) {
        let (base, rest) = match key.find('[') {
            Some(i) if i > 0 => (&key[..i], &key[i..]),
            _ => (key.as_ref(), ""),
        };
        let mut path: Vec<String> = vec![base.to_owned()];
        let mut rest = rest;
        while let Some(stripped) = rest.strip_prefix('[') {
            if path.len() > MAX_INPUT_NESTING {
                break;
            }
            match stripped.find(']') {
                Some(end) => {
                    path.push(stripped[..end].to_owned());
                    rest = &stripped[end + 1..];
                }
                None => break,
            }
        }
        if path.len() > MAX_INPUT_NESTING {
            continue;
        }
        insert_path(&mut root, &path, Value::String(value.into_owned()));
    }
    root
}

fn insert_path(map: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let key = if first.is_empty() {
        map.len().to_string()
    } else {
        first.clone()
    };
    if rest.is_empty() {
        map.insert(key, value);
        return;
    }
    let slot = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let Value::Object(inner) = slot {
        insert_path(inner, rest, value);
    }
}

/// The members of a PHP array given as a JSON array or an object with numeric keys
/// (in key order); a scalar is a list of one.
pub fn list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => {
            let mut entries: Vec<(&String, &Value)> = o.iter().collect();
            entries.sort_by_key(|(k, _)| k.parse::<i64>().unwrap_or(i64::MAX));
            entries.into_iter().map(|(_, v)| v).collect()
        }
        Value::Null => vec![],
        other => vec![other],
    }
}

/// PHP's `if ($body_params = json_decode(...))`: a falsy decoded body is ignored.
fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty() || s == "0",
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn merge_body(values: &mut Map<String, Value>, body: Value) {
    match body {
        Value::Object(o) => values.extend(o),
        Value::Array(a) => {
            for (i, v) in a.into_iter().enumerate() {
                values.insert(i.to_string(), v);
            }
        }
        _ => {}
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Gather the parameters of a request.
pub fn parse(
    method: &http::Method,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Params, ApiError> {
    let mut p = Params {
        values: parse_php_query(query.unwrap_or("")),
        ..Params::default()
    };
    let trimmed = body.trim_ascii();
    if method == http::Method::GET && !trimmed.is_empty() {
        return Err(ApiError::json_payload_forbidden());
    }
    let content_type = header(headers, "content-type").unwrap_or("application/json");
    let lower = content_type.to_ascii_lowercase();
    if lower.starts_with("multipart/form-data") {
        let boundary = boundary_of(content_type).ok_or_else(ApiError::upload_too_big)?;
        if boundary.len() > MAX_BOUNDARY {
            return Err(ApiError::upload_too_big());
        }
        let parts = parse_multipart(body, &boundary);
        if parts.len() > MAX_PARTS {
            return Err(ApiError::upload_too_big());
        }
        let mut files = Vec::new();
        for part in parts {
            match part.filename {
                Some(filename) => files.push(UploadedFile {
                    field: part.name,
                    filename,
                    media_type: part
                        .content_type
                        .unwrap_or_else(|| "application/octet-stream".to_owned()),
                    bytes: part.body,
                }),
                None if part.name == "uploadManifest" => {
                    let manifest: Value = serde_json::from_slice(&part.body)
                        .map_err(|_| ApiError::json_payload_invalid())?;
                    merge_body(&mut p.values, manifest);
                }
                None => {
                    p.values.insert(
                        part.name,
                        Value::String(String::from_utf8_lossy(&part.body).into_owned()),
                    );
                }
            }
        }
        if files.is_empty() {
            // What PHP shows when the upload was dropped for being too large.
            return Err(ApiError::upload_too_big());
        }
        // Only the first file of each field counts, as on the real server.
        let mut seen = std::collections::HashSet::new();
        files.retain(|f| seen.insert(f.field.clone()));
        p.files = files;
    } else if lower.starts_with("application/x-www-form-urlencoded") {
        let text = String::from_utf8_lossy(trimmed);
        p.values.extend(parse_php_query(&text));
    } else if lower.contains("application/json") && !trimmed.is_empty() {
        let v: Value =
            serde_json::from_slice(trimmed).map_err(|_| ApiError::json_payload_invalid())?;
        if !is_falsy(&v) {
            merge_body(&mut p.values, v);
        }
    }
    // Top-level "true"/"false" strings are booleans.
    for v in p.values.values_mut() {
        if let Value::String(s) = v {
            match s.as_str() {
                "true" => *v = Value::Bool(true),
                "false" => *v = Value::Bool(false),
                _ => {}
            }
        }
    }
    if let Some(auth) = header(headers, "authorization") {
        if auth.contains("user_token") {
            p.user_token = auth.split(' ').nth(1).map(str::to_owned);
        } else if let Some(b64) = auth
            .strip_prefix("Basic ")
            .or_else(|| auth.strip_prefix("basic "))
            && let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim())
            && let Ok(text) = String::from_utf8(raw)
            && let Some((user, pass)) = text.split_once(':')
        {
            p.login = Some(user.to_owned());
            p.password = Some(pass.to_owned());
        }
    }
    let from_query = |k: &str| {
        p.values
            .get(k)
            .and_then(crate::mapping::as_text)
            .filter(|s| !s.is_empty())
    };
    let session = header(headers, "session-token")
        .map(str::to_owned)
        .or_else(|| from_query("session_token"));
    let app = header(headers, "app-token")
        .map(str::to_owned)
        .or_else(|| from_query("app_token"));
    let user_token = p.user_token.clone().or_else(|| from_query("user_token"));
    let login = p.login.clone().or_else(|| from_query("login"));
    let password = p.password.clone().or_else(|| from_query("password"));
    p.session_token = session;
    p.app_token = app;
    p.user_token = user_token.filter(|s| !s.is_empty());
    p.login = login;
    p.password = password;
    Ok(p)
}

fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty())
    })
}

struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A small multipart/form-data reader: enough for `uploadManifest` and files.
fn parse_multipart(body: &[u8], boundary: &str) -> Vec<Part> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = match find(body, delimiter.as_bytes()) {
        Some(i) => &body[i + delimiter.len()..],
        None => return parts,
    };
    // One past the bound is enough for the caller to refuse the body.
    while parts.len() <= MAX_PARTS {
        if rest.starts_with(b"--") {
            break;
        }
        let after_crlf = rest.strip_prefix(b"\r\n").unwrap_or(rest);
        let next = match find(after_crlf, format!("\r\n{delimiter}").as_bytes()) {
            Some(i) => i,
            None => break,
        };
        let raw = &after_crlf[..next];
        rest = &after_crlf[next + 2 + delimiter.len()..];
        let Some(split) = find(raw, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..split]);
        let content = raw[split + 4..].to_vec();
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in head.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let k = k.trim().to_ascii_lowercase();
            if k == "content-disposition" {
                for attr in v.split(';') {
                    if let Some((ak, av)) = attr.trim().split_once('=') {
                        let av = av.trim().trim_matches('"').to_owned();
                        match ak.trim() {
                            "name" => name = Some(av),
                            "filename" => filename = Some(av),
                            _ => {}
                        }
                    }
                }
            } else if k == "content-type" {
                content_type = Some(v.trim().to_owned());
            }
        }
        if let Some(name) = name {
            parts.push(Part {
                name,
                filename: filename.filter(|f| !f.is_empty()),
                content_type,
                body: content,
            });
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn php_brackets() {
        let m = parse_php_query(
            "criteria[0][field]=12&criteria[0][value]=2&forcedisplay[]=4&forcedisplay[]=5&range=0-50",
        );
        assert_eq!(
            Value::Object(m),
            serde_json::json!({
                "criteria": {"0": {"field": "12", "value": "2"}},
                "forcedisplay": {"0": "4", "1": "5"},
                "range": "0-50"
            })
        );
    }

    #[test]
    fn variables_and_nesting_are_bounded_as_php_bounds_them() {
        let many: Vec<String> = (0..MAX_INPUT_VARS + 500)
            .map(|i| format!("v{i}=x"))
            .collect();
        let m = parse_php_query(&many.join("&"));
        assert_eq!(m.len(), MAX_INPUT_VARS);
        assert!(m.contains_key("v999") && !m.contains_key("v1000"));
        let ok = format!("a{}=1", "[x]".repeat(MAX_INPUT_NESTING - 1));
        assert!(parse_php_query(&ok).contains_key("a"));
        let deep = format!("a{}=1&b=2", "[]".repeat(MAX_INPUT_NESTING));
        let m = parse_php_query(&deep);
        assert!(!m.contains_key("a"), "too deep a variable is dropped");
        assert_eq!(m["b"], "2");
        // A million levels neither overflow the stack nor take long.
        let huge = format!("a{}=1", "[]".repeat(1_000_000));
        assert!(parse_php_query(&huge).is_empty());
    }

    #[test]
    fn multipart_part_count_and_boundary_are_bounded() {
        let mut h = HeaderMap::new();
        let long = "b".repeat(MAX_BOUNDARY + 1);
        h.insert(
            "content-type",
            format!("multipart/form-data; boundary={long}")
                .parse()
                .unwrap(),
        );
        assert!(parse(&http::Method::POST, None, &h, b"x").is_err());
        h.insert(
            "content-type",
            "multipart/form-data; boundary=XX".parse().unwrap(),
        );
        let part =
            "--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\nx\r\n";
        let body = format!("{}--XX--\r\n", part.repeat(MAX_PARTS + 1));
        assert!(parse(&http::Method::POST, None, &h, body.as_bytes()).is_err());
        let body = format!("{}--XX--\r\n", part.repeat(MAX_PARTS));
        assert!(parse(&http::Method::POST, None, &h, body.as_bytes()).is_ok());
    }

    #[test]
    fn multipart_manifest_and_file() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"uploadManifest\"\r\nContent-Type: application/json\r\n\r\n{\"input\":{\"name\":\"a\"}}\r\n--XX\r\nContent-Disposition: form-data; name=\"filename[0]\"; filename=\"s.png\"\r\nContent-Type: image/png\r\n\r\nPNG\r\n--XX--\r\n";
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            "multipart/form-data; boundary=XX".parse().unwrap(),
        );
        let p = parse(&http::Method::POST, None, &h, body).unwrap();
        assert_eq!(p.values["input"]["name"], "a");
        assert_eq!(p.files.len(), 1);
        assert_eq!(p.files[0].filename, "s.png");
        assert_eq!(p.files[0].bytes, b"PNG");
    }
}
