//! RFC 2397 `data:` URLs, as osTicket's API uses them for messages and attachments.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// A decoded data URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataUrl {
    /// The media type, `text/plain` when the URL names none (RFC 2397 §2).
    pub media_type: String,
    pub charset: Option<String>,
    pub bytes: Vec<u8>,
}

/// Why a data URL could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataUrlError {
    #[error("a data URL needs a comma between its header and its data")]
    NoComma,
    #[error("the data URL's base64 content is invalid: {0}")]
    Base64(String),
    #[error("not a data URL: it must start with \"data:\"")]
    NotDataUrl,
}

/// True when `s` starts like a data URL (case-insensitive scheme).
pub fn is_data_url(s: &str) -> bool {
    s.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("data:"))
}

/// Decode `data:[<media type>][;charset=…][;base64],<data>`.
///
/// Non-base64 data is taken as it is, without percent-decoding, because that is what
/// osTicket does (`Format::parseRfc2397` in `include/class.format.php` decodes only
/// base64; the live osTicket 1.18.1 stores `data:text/plain;charset=utf-8,Tray%202`
/// as `Tray%202`). Base64 data may carry whitespace and percent escapes (a URL-encoded
/// `+`, `/` or `=`), which are removed before it is decoded.
pub fn parse(s: &str) -> Result<DataUrl, DataUrlError> {
    if !is_data_url(s) {
        return Err(DataUrlError::NotDataUrl);
    }
    let rest = s.get(5..).unwrap_or_default();
    let (header, data) = rest.split_once(',').ok_or(DataUrlError::NoComma)?;
    let mut parts = header.split(';');
    let media_type = parts.next().unwrap_or("").trim();
    let media_type = if media_type.is_empty() {
        "text/plain".to_owned()
    } else {
        media_type.to_ascii_lowercase()
    };
    let mut charset = None;
    let mut base64 = false;
    for p in parts {
        let p = p.trim();
        if p.eq_ignore_ascii_case("base64") {
            base64 = true;
        } else if let Some((k, v)) = p.split_once('=')
            && k.trim().eq_ignore_ascii_case("charset")
        {
            charset = Some(v.trim().trim_matches('"').to_owned());
        }
    }
    let bytes = if base64 {
        let compact: String = percent_decode(data.as_bytes())
            .into_iter()
            .filter(|b| !b.is_ascii_whitespace())
            .map(char::from)
            .collect();
        STANDARD
            .decode(compact.as_bytes())
            .map_err(|e| DataUrlError::Base64(e.to_string()))?
    } else {
        data.as_bytes().to_vec()
    };
    Ok(DataUrl {
        media_type,
        charset,
        bytes,
    })
}

/// Encode bytes as a base64 data URL.
pub fn encode(media_type: &str, bytes: &[u8]) -> String {
    format!("data:{media_type};base64,{}", STANDARD.encode(bytes))
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && i + 2 < input.len()
            && let (Some(h), Some(l)) = (hex(input[i + 1]), hex(input[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multibyte_text_is_never_cut_inside_a_character() {
        assert!(!is_data_url("abcdé"));
        assert!(!is_data_url("é"));
        assert_eq!(parse("abcdé"), Err(DataUrlError::NotDataUrl));
    }

    #[test]
    fn plain_html_message() {
        let d = parse("data:text/html,MESSAGE <b>HERE</b>").unwrap();
        assert_eq!(d.media_type, "text/html");
        assert_eq!(d.bytes, b"MESSAGE <b>HERE</b>");
    }

    #[test]
    fn base64_with_charset() {
        let d = parse("data:text/plain;charset=utf-8;base64,aMOpbGxv").unwrap();
        assert_eq!(d.charset.as_deref(), Some("utf-8"));
        assert_eq!(String::from_utf8(d.bytes).unwrap(), "héllo");
    }

    /// osTicket keeps non-base64 data as written: `%20` is three characters.
    #[test]
    fn text_is_literal_and_base64_may_be_percent_escaped() {
        assert_eq!(parse("data:,a%20b").unwrap().bytes, b"a%20b");
        assert_eq!(parse("data:,100%").unwrap().bytes, b"100%");
        assert_eq!(parse("data:,x").unwrap().media_type, "text/plain");
        assert_eq!(parse("data:;base64,aGk%3D").unwrap().bytes, b"hi");
    }

    #[test]
    fn errors() {
        assert_eq!(parse("data:text/plain"), Err(DataUrlError::NoComma));
        assert!(matches!(
            parse("data:;base64,@@@"),
            Err(DataUrlError::Base64(_))
        ));
    }

    #[test]
    fn round_trip() {
        let url = encode("image/gif", b"GIF89a");
        assert_eq!(parse(&url).unwrap().bytes, b"GIF89a");
    }
}
