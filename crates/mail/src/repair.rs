//! Repairs made to a raw message before it is parsed, for mail that mail readers show
//! fine but a strict parse gets wrong. Each repair keeps every byte offset of the
//! message (or only drops a prefix), so the parts found still point into the message as
//! it came.
//!
//! - [`skip_preamble`]: lines of only spaces before the header block, and an mbox
//!   `From ` separator line.
//! - [`unbounded_multiparts`]: a `multipart/*` declared with a boundary that never
//!   occurs (an attached message whose headers were kept but whose body was dropped).
//!   Its parser would look for that boundary to the end of the message and swallow every
//!   sibling after it, so three attached messages became one. The same attached message
//!   often ends its header block right at the next boundary, without the blank line:
//!   the blank line is put back, or the next part's headers join the message's own.

use std::borrow::Cow;

/// The message without what some senders put before the header block: lines of only
/// spaces or tabs, and an mbox `From ` separator line.
pub(crate) fn skip_preamble(mut raw: &[u8]) -> &[u8] {
    loop {
        let line_end = raw
            .iter()
            .position(|b| *b == b'\n')
            .map_or(raw.len(), |p| p + 1);
        let line = &raw[..line_end];
        let content = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(line);
        let blank = !content.is_empty() && content.iter().all(|b| matches!(b, b' ' | b'\t'));
        let mbox = content.starts_with(b"From ");
        if (blank || mbox) && line_end < raw.len() {
            raw = &raw[line_end..];
        } else {
            return raw;
        }
    }
}

/// How many boundary declarations are looked at: enough for any real message, and a
/// bound on the work a hostile one can cause.
const MAX_DECLARATIONS: usize = 256;

/// The message with every nested `multipart` whose boundary never occurs retyped, in the same
/// number of bytes, as `text/plain`, so it parses as the text it holds (often nothing)
/// instead of swallowing its siblings. Borrowed unchanged when there is nothing to repair.
pub(crate) fn unbounded_multiparts(raw: &[u8]) -> Cow<'_, [u8]> {
    const NEEDLE: &[u8] = b"boundary=";
    let mut out: Option<Vec<u8>> = None;
    // The top-level header block is left alone: a report or multipart whose boundaries
    // a relay stripped is read whole as text, and its type still says what it is.
    let root_end = root_header_end(raw);
    let mut from = 0;
    let mut seen = 0;
    let mut in_use: Vec<Vec<u8>> = Vec::new();
    while let Some(pos) = find_ci(&raw[from..], NEEDLE).map(|p| p + from) {
        seen += 1;
        if seen > MAX_DECLARATIONS {
            break;
        }
        from = pos + NEEDLE.len();
        let boundary = boundary_value(&raw[from..]);
        if boundary.is_empty() {
            continue;
        }
        let Some(header_start) = content_type_start(raw, pos) else {
            continue;
        };
        if occurs_as_delimiter(&raw[from..], boundary) {
            in_use.push(boundary.to_vec());
            continue;
        }
        if pos < root_end {
            continue;
        }
        if let Some(m) = find_ci(&raw[header_start..pos], b"multipart/").map(|p| p + header_start) {
            // `multipart/SUBTYPE` becomes `text/plain` padded with spaces (allowed
            // before the `;`): same length, read as the text it is.
            let end = raw[m..pos]
                .iter()
                .position(|b| matches!(b, b';' | b' ' | b'\t' | b'\r' | b'\n'))
                .map_or(pos, |p| p + m);
            let buf = out.get_or_insert_with(|| raw.to_vec());
            buf[m..m + 10].copy_from_slice(b"text/plain");
            buf[m + 10..end].fill(b' ');
        }
    }
    let repaired = match out {
        Some(v) => Cow::Owned(v),
        None => Cow::Borrowed(raw),
    };
    close_cut_header_blocks(repaired, &in_use)
}

/// Where the top-level header block ends (the first empty line).
fn root_header_end(raw: &[u8]) -> usize {
    let lf = raw.windows(2).position(|w| w == b"\n\n");
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n");
    match (lf, crlf) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => raw.len(),
    }
}

/// Puts back the blank line a header block needs when a boundary line follows it
/// directly: the lines before the boundary, back to the last blank line, are all header
/// fields and one of them is a `Content-Type`.
fn close_cut_header_blocks<'a>(raw: Cow<'a, [u8]>, boundaries: &[Vec<u8>]) -> Cow<'a, [u8]> {
    if boundaries.is_empty() {
        return raw;
    }
    let lines: Vec<&[u8]> = raw.split_inclusive(|b| *b == b'\n').collect();
    let is_delimiter = |line: &[u8]| {
        line.strip_prefix(b"--")
            .is_some_and(|rest| boundaries.iter().any(|b| rest.starts_with(b)))
    };
    let is_blank = |line: &[u8]| line.iter().all(|b| b.is_ascii_whitespace());
    let is_field = |line: &[u8]| {
        matches!(line.first(), Some(b' ' | b'\t'))
            || line.iter().position(|b| *b == b':').is_some_and(|c| {
                c > 0
                    && line[..c]
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            })
    };
    let mut insert_before: Vec<usize> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if i == 0 || !is_delimiter(line) {
            continue;
        }
        let mut j = i;
        let mut content_type = false;
        let mut all_fields = true;
        while j > 0 {
            let prev = lines[j - 1];
            if is_blank(prev) || is_delimiter(prev) {
                break;
            }
            if !is_field(prev) {
                all_fields = false;
                break;
            }
            content_type |= prev.len() >= 13 && prev[..13].eq_ignore_ascii_case(b"content-type:");
            j -= 1;
        }
        // A part's own header block right after a delimiter is not cut: only one that
        // follows a blank line (the headers of an attached message).
        let after_blank = j > 0 && is_blank(lines[j - 1]);
        if all_fields && content_type && j < i && after_blank {
            insert_before.push(i);
        }
    }
    if insert_before.is_empty() {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len() + insert_before.len() * 2);
    let mut next = insert_before.iter().peekable();
    for (i, line) in lines.iter().enumerate() {
        if next.peek() == Some(&&i) {
            next.next();
            out.extend_from_slice(if line.ends_with(b"\r\n") {
                b"\r\n"
            } else {
                b"\n"
            });
        }
        out.extend_from_slice(line);
    }
    Cow::Owned(out)
}

fn find_ci(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

/// The boundary parameter's value: quoted, or a token.
fn boundary_value(rest: &[u8]) -> &[u8] {
    if let Some(quoted) = rest.strip_prefix(b"\"") {
        let end = quoted
            .iter()
            .position(|b| matches!(b, b'"' | b'\r' | b'\n'));
        return &quoted[..end.unwrap_or(quoted.len())];
    }
    let end = rest
        .iter()
        .position(|b| matches!(b, b';' | b' ' | b'\t' | b'\r' | b'\n'));
    &rest[..end.unwrap_or(rest.len())]
}

/// Where the `Content-Type:` header holding the parameter at `pos` starts, when it is
/// one (looking back over at most a few folded lines).
fn content_type_start(raw: &[u8], pos: usize) -> Option<usize> {
    let mut line_start = raw[..pos]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    for _ in 0..8 {
        let line = &raw[line_start..pos];
        if line.len() >= 13 && line[..13].eq_ignore_ascii_case(b"content-type:") {
            return Some(line_start);
        }
        // Only a folded continuation line may lead further back.
        if !matches!(raw.get(line_start), Some(b' ' | b'\t')) || line_start == 0 {
            return None;
        }
        line_start = raw[..line_start - 1]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1);
    }
    None
}

/// Whether `--boundary` starts a line anywhere in `rest`.
fn occurs_as_delimiter(rest: &[u8], boundary: &[u8]) -> bool {
    let mut needle = Vec::with_capacity(boundary.len() + 3);
    needle.extend_from_slice(b"\n--");
    needle.extend_from_slice(boundary);
    rest.windows(needle.len()).any(|w| w == needle.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preamble_lines_are_skipped() {
        assert_eq!(skip_preamble(b"   \nFrom: a@b.c\n\nx"), b"From: a@b.c\n\nx");
        assert_eq!(
            skip_preamble(b"From MAILER-DAEMON Thu Apr 29\nFrom: a@b.c\n\nx"),
            b"From: a@b.c\n\nx"
        );
        assert_eq!(skip_preamble(b"From: a@b.c\n\nx"), b"From: a@b.c\n\nx");
        assert_eq!(skip_preamble(b"   "), b"   ");
    }

    #[test]
    fn only_a_boundary_that_never_occurs_is_neutralised() {
        let ok = b"Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nx\n--b1--\n";
        assert!(matches!(unbounded_multiparts(ok), Cow::Borrowed(_)));
        let stripped = b"Content-Type: multipart/report; boundary=gone\n\ntext\n";
        assert!(matches!(unbounded_multiparts(stripped), Cow::Borrowed(_)));
        let broken = b"Content-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: message/rfc822\n\nSubject: x\nContent-Type: multipart/alternative;\n boundary=lost\n--b1\nnext\n--b1--\n";
        let fixed = unbounded_multiparts(broken);
        assert_eq!(fixed.len(), broken.len() + 1, "one blank line put back");
        let text = String::from_utf8_lossy(&fixed);
        assert!(
            text.contains("Content-Type: text/plain           ;"),
            "{text}"
        );
        assert!(!text.contains("multipart/alternative"), "{text}");
        assert!(text.contains("boundary=lost\n\n--b1\n"), "{text}");
        assert!(text.contains("Content-Type: multipart/mixed"), "{text}");
    }
}
