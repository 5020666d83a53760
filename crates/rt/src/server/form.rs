//! `multipart/form-data` as RT's clients send it: the mail gateway's `queue`, `action`,
//! `ticket` and `message` fields (rt-mailgate, through Perl's `HTTP::Request::Common`),
//! and REST 2.0's `JSON` field with `Attachments` files (the PyPI `rt` library).
//!
//! The parser works on the already-buffered (and so already bounded) body; it is
//! bounded further by a number of parts and a size of each part's header block.

use bytes::Bytes;
use ticketgate_model::Error;

const MAX_PARTS: usize = 256;
const MAX_PART_HEADER_BYTES: usize = 8 * 1024;

/// One part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    /// Present when the part was sent as a file upload.
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Bytes,
}

/// The boundary of a `multipart/form-data` content type, if it is one.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let media = params.next()?.trim();
    if !media.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
            .filter(|b| !b.is_empty() && b.len() <= 200)
    })
}

/// Split a multipart body into its parts.
pub fn parse(body: &Bytes, boundary: &str) -> Result<Vec<Part>, Error> {
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let mut parts = Vec::new();
    let Some(first) = find(body, d, 0) else {
        return Err(Error::bad_input("the multipart body has no part"));
    };
    let mut pos = first + d.len();
    loop {
        // After a delimiter: `--` ends the body, else a line break starts a part.
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        pos = skip_line_break(body, pos)
            .ok_or_else(|| Error::bad_input("malformed multipart delimiter line"))?;
        let Some(next) = find(body, d, pos) else {
            return Err(Error::bad_input(
                "the multipart body ends before its closing boundary",
            ));
        };
        // The part ends with the line break that precedes the next delimiter.
        let mut end = next;
        if end >= 2 && &body[end - 2..end] == b"\r\n" {
            end -= 2;
        } else if end >= 1 && body[end - 1] == b'\n' {
            end -= 1;
        }
        parts.push(part(&body.slice(pos..end.max(pos)))?);
        if parts.len() > MAX_PARTS {
            return Err(Error::bad_input(format!(
                "more than {MAX_PARTS} parts in the form"
            )));
        }
        pos = next + d.len();
    }
}

fn part(raw: &Bytes) -> Result<Part, Error> {
    let (head_end, body_start) = match (find(raw, b"\r\n\r\n", 0), find(raw, b"\n\n", 0)) {
        (Some(a), Some(b)) if b < a => (b, b + 2),
        (Some(a), _) => (a, a + 4),
        (None, Some(b)) => (b, b + 2),
        // A part with headers and no body at all.
        (None, None) => (raw.len(), raw.len()),
    };
    if head_end > MAX_PART_HEADER_BYTES {
        return Err(Error::bad_input("a multipart part's headers are too large"));
    }
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let (mut name, mut filename, mut content_type) = (None, None, None);
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case("content-disposition") {
            for param in v.split(';').skip(1) {
                let Some((pk, pv)) = param.split_once('=') else {
                    continue;
                };
                let pv = pv.trim().trim_matches('"').to_owned();
                match pk.trim().to_ascii_lowercase().as_str() {
                    "name" => name = Some(pv),
                    "filename" => filename = Some(pv),
                    _ => {}
                }
            }
        } else if k.trim().eq_ignore_ascii_case("content-type") {
            content_type = Some(v.trim().to_owned());
        }
    }
    let name = name.ok_or_else(|| Error::bad_input("a multipart part has no name"))?;
    Ok(Part {
        name,
        filename: filename.filter(|f| !f.is_empty()),
        content_type,
        data: raw.slice(body_start.min(raw.len())..),
    })
}

fn skip_line_break(body: &[u8], pos: usize) -> Option<usize> {
    // Transport padding (spaces or tabs) may follow a delimiter.
    let mut p = pos;
    while p < body.len() && (body[p] == b' ' || body[p] == b'\t') {
        p += 1;
    }
    if body[p..].starts_with(b"\r\n") {
        Some(p + 2)
    } else if body[p..].starts_with(b"\n") {
        Some(p + 1)
    } else {
        None
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from >= hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rt_mailgate_form() {
        let body = Bytes::from_static(
            b"--xYzZY\r\nContent-Disposition: form-data; name=\"action\"\r\n\r\ncorrespond\r\n\
--xYzZY\r\nContent-Disposition: form-data; name=\"message\"\r\nContent-Type: application/octet-stream\r\n\r\n\
From: a@example.com\nSubject: hi\n\nbody\n\r\n--xYzZY\r\nContent-Disposition: form-data; name=\"queue\"\r\n\r\nGeneral\r\n--xYzZY--\r\n",
        );
        let b = boundary("multipart/form-data; boundary=xYzZY").unwrap();
        let parts = parse(&body, &b).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].name, "action");
        assert_eq!(&parts[0].data[..], b"correspond");
        assert_eq!(parts[1].filename, None);
        assert_eq!(
            &parts[1].data[..],
            b"From: a@example.com\nSubject: hi\n\nbody\n"
        );
        assert_eq!(&parts[2].data[..], b"General");
    }

    #[test]
    fn unterminated_and_nameless_parts_are_refused() {
        let b = "B";
        assert!(
            parse(
                &Bytes::from_static(b"--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx"),
                b
            )
            .is_err()
        );
        assert!(
            parse(
                &Bytes::from_static(b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n--B--"),
                b
            )
            .is_err()
        );
        assert!(parse(&Bytes::from_static(b"no parts"), b).is_err());
        assert_eq!(boundary("application/json"), None);
    }
}
