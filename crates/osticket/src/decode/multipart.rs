//! `multipart/form-data` creates, as the plugin documents with `curl -F`.
//!
//! Text parts are fields under their names; a part with a file name (the plugin's
//! `attachments[]`) is an attachment with its own media type.

use serde_json::{Map, Value};
use ticketgate_model::{Attachment, Error, ErrorKind};

/// One decoded form: the text fields and the files.
pub struct Form {
    pub fields: Map<String, Value>,
    pub files: Vec<Attachment>,
}

/// The `boundary` parameter of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty() && b.len() <= 200)
    })
}

/// The most parts one form may have: a create is a dozen fields and a few files.
pub const MAX_PARTS: usize = 1_000;

/// The longest header block of one part. Without it, a part whose headers never end
/// made the search scan the rest of the body once per part: quadratic in the body.
pub const MAX_PART_HEADERS: usize = 16 * 1024;

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

fn malformed() -> Error {
    Error::bad_input("Malformed multipart/form-data body")
}

/// Split a form body into its parts.
pub fn parse(body: &[u8], boundary: &str) -> Result<Form, Error> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut fields = super::RepeatedNames::default();
    let mut files = Vec::new();
    let mut parts = 0usize;
    let mut pos = find(body, delimiter, 0).ok_or_else(malformed)? + delimiter.len();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            return Ok(Form {
                fields: fields.map,
                files,
            });
        }
        parts += 1;
        if parts > MAX_PARTS {
            return Err(Error::new(
                ErrorKind::PayloadTooLarge,
                format!("A form may have at most {MAX_PARTS} parts"),
            ));
        }
        // The line break after the delimiter.
        pos = find(body, b"\n", pos).ok_or_else(malformed)? + 1;
        let head = &body[..body.len().min(pos.saturating_add(MAX_PART_HEADERS))];
        let (headers_end, body_start) = match find(head, b"\r\n\r\n", pos) {
            Some(i) => (i, i + 4),
            None => {
                let i = find(head, b"\n\n", pos).ok_or_else(malformed)?;
                (i, i + 2)
            }
        };
        let headers = String::from_utf8_lossy(&body[pos..headers_end]).into_owned();
        let next = find(body, delimiter, body_start).ok_or_else(malformed)?;
        let mut content = &body[body_start..next];
        content = content.strip_suffix(b"\n").unwrap_or(content);
        content = content.strip_suffix(b"\r").unwrap_or(content);
        add_part(&mut fields, &mut files, &headers, content)?;
        pos = next + delimiter.len();
    }
}

fn add_part(
    fields: &mut super::RepeatedNames,
    files: &mut Vec<Attachment>,
    headers: &str,
    content: &[u8],
) -> Result<(), Error> {
    let mut name = None;
    let mut filename = None;
    let mut media_type = None;
    for line in headers.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if key.trim().eq_ignore_ascii_case("content-disposition") {
            for param in value.split(';').skip(1) {
                if let Some((k, v)) = param.split_once('=') {
                    let v = v.trim().trim_matches('"').to_owned();
                    match k.trim().to_ascii_lowercase().as_str() {
                        "name" => name = Some(v),
                        "filename" => filename = Some(v),
                        _ => {}
                    }
                }
            }
        } else if key.trim().eq_ignore_ascii_case("content-type") {
            media_type = Some(value.trim().to_ascii_lowercase());
        }
    }
    let name = name.ok_or_else(malformed)?;
    if let Some(filename) = filename {
        // A browser's empty file input sends a part with no name and no content.
        if filename.is_empty() && content.is_empty() {
            return Ok(());
        }
        let file = filename.rsplit(['/', '\\']).next().unwrap_or(&filename);
        files.push(Attachment {
            name: file.to_owned(),
            media_type: media_type.unwrap_or_else(|| "application/octet-stream".to_owned()),
            bytes: content.to_vec(),
            ..Attachment::default()
        });
        return Ok(());
    }
    let text = String::from_utf8(content.to_vec()).map_err(|_| {
        Error::bad_input(format!(
            "{name}: Malformed UTF-8 characters, possibly incorrectly encoded"
        ))
    })?;
    fields.insert(&name, Value::String(text));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_count_and_header_length_are_bounded() {
        let part = "--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n";
        let within = format!("{}--B--\r\n", part.repeat(MAX_PARTS));
        assert_eq!(
            parse(within.as_bytes(), "B").unwrap().fields.len(),
            MAX_PARTS
        );
        let over = format!("{}--B--\r\n", part.repeat(MAX_PARTS + 1));
        let e = parse(over.as_bytes(), "B").err().unwrap();
        assert_eq!(e.kind, ErrorKind::PayloadTooLarge);
        // Headers that do not end within the bound are malformed, however long the body.
        let endless = format!(
            "--B\r\nX: {}\r\n\r\nv\r\n--B--",
            "h".repeat(MAX_PART_HEADERS)
        );
        assert_eq!(
            parse(endless.as_bytes(), "B").err().unwrap().kind,
            ErrorKind::BadInput
        );
    }

    /// Parts whose header block has no CRLF CRLF made every part scan the rest of the
    /// body: a thousand small parts before a 4 MB file cost 4 GB of comparisons. Timed
    /// against the same file alone, parsed in the same run, so a loaded machine slows
    /// both alike: linear parsing keeps the two within a small factor, the quadratic
    /// one was a thousand times apart.
    #[test]
    fn lf_only_parts_parse_in_linear_time() {
        let file = format!(
            "--B\nContent-Disposition: form-data; name=\"a\"; filename=\"x\"\n\n{}\n--B--\n",
            "x".repeat(4 << 20)
        );
        let part = "--B\nContent-Disposition: form-data; name=\"f\"\n\nv\n";
        let body = format!("{}{file}", part.repeat(MAX_PARTS - 1));
        let fastest = |body: &str| {
            (0..3)
                .map(|_| {
                    let started = std::time::Instant::now();
                    let form = parse(body.as_bytes(), "B").unwrap();
                    assert_eq!(form.files[0].bytes.len(), 4 << 20);
                    started.elapsed()
                })
                .min()
                .unwrap()
        };
        let alone = fastest(&file);
        let many = fastest(&body);
        assert!(
            many < alone * 20 + std::time::Duration::from_millis(100),
            "{many:?} with {MAX_PARTS} parts, {alone:?} for the file alone"
        );
    }

    #[test]
    fn fields_and_files() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nJohn Doe\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"attachments[]\"; filename=\"/tmp/invoice.pdf\"\r\n\
Content-Type: application/pdf\r\n\r\n%PDF-1.4\r\n--XyZ--\r\n";
        let f = parse(body, "XyZ").unwrap();
        assert_eq!(f.fields["name"], "John Doe");
        assert_eq!(f.files[0].name, "invoice.pdf");
        assert_eq!(f.files[0].bytes, b"%PDF-1.4");
        assert!(parse(b"no parts here", "XyZ").is_err());
        assert!(
            parse(
                b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated",
                "XyZ"
            )
            .is_err()
        );
    }

    #[test]
    fn boundaries() {
        assert_eq!(
            boundary("multipart/form-data; boundary=\"abc\"").as_deref(),
            Some("abc")
        );
        assert_eq!(boundary("application/json"), None);
    }
}
