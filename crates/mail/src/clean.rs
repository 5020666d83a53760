//! Cleaning the text of a message before it becomes a ticket.
//!
//! Mail that reaches the helpdesk through a mail server is not always written by a
//! person: a script may pipe binary output, a terminal session may be pasted with its
//! colour codes. The mail server wraps any of it in valid headers, so the parser accepts
//! it; this module decides what of its text is fit to store and show to an agent.
//!
//! - [`clean_body`]: drops ANSI escape sequences and every C0 / C1 control character
//!   except newline and tab (a carriage return becomes a newline), and the replacement
//!   characters left where bytes could not be decoded; a text that was mostly such junk
//!   is no text at all (an empty string).
//! - [`clean_line`]: the same for a one-line header value (the subject), where tabs and
//!   newlines become spaces.
//!
//! Whether an empty result still makes a ticket is the gateway's call (a message with an
//! attachment does); see `NO_SUBJECT`.

/// The subject a message without one is given (by the parser's subject cleaning).
pub const NO_SUBJECT: &str = "(no subject)";

/// When more than this share of a body's visible characters are junk, the body is
/// binary data, not text a person wrote. Junk is what was removed (controls, escapes,
/// undecodable bytes) plus symbols outside ASCII that are neither letters nor digits:
/// random bytes decoded as windows-1252 or latin-1 are about a third such characters,
/// while written text in any script is letters, digits, spaces and punctuation, with
/// the odd dash, quote or emoji.
const MAX_JUNK_SHARE: f64 = 0.20;

/// Below this many junk characters a body is never judged binary: a few stray control
/// characters or emoji in a short note are removed or kept, not held against the note.
const MIN_JUNK_FOR_BINARY: usize = 16;

/// The body text with escape sequences and control characters removed, or an empty
/// string when it was mostly junk (binary data) or had no letter or digit left.
pub fn clean_body(text: &str) -> String {
    let cleaned = strip(text, false);
    let junk = cleaned.removed + cleaned.symbols;
    let visible = cleaned.removed + cleaned.visible;
    let binary =
        junk >= MIN_JUNK_FOR_BINARY && junk as f64 / visible.max(1) as f64 > MAX_JUNK_SHARE;
    if cleaned.alphanumeric == 0 || binary {
        return String::new();
    }
    tidy_lines(&cleaned.text)
}

/// A header value with escape sequences and control characters removed; tabs and line
/// breaks become spaces.
pub fn clean_line(text: &str) -> String {
    strip(text, true).text
}

struct Stripped {
    text: String,
    /// Control characters, escape sequences (each counted once) and replacement
    /// characters removed.
    removed: usize,
    /// Kept characters other than whitespace.
    visible: usize,
    /// Kept characters outside ASCII that are neither letters, digits nor whitespace.
    symbols: usize,
    alphanumeric: usize,
}

fn strip(text: &str, one_line: bool) -> Stripped {
    let mut out = String::with_capacity(text.len());
    let mut removed = 0;
    let mut visible = 0;
    let mut symbols = 0;
    let mut alphanumeric = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' if one_line => out.push(' '),
            '\n' | '\t' => out.push(c),
            '\r' => {
                // CRLF and a lone CR are both one line break.
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push(if one_line { ' ' } else { '\n' });
            }
            '\u{1b}' => {
                removed += 1;
                skip_escape(&mut chars);
            }
            // C1 CSI, the 8-bit form of ESC [.
            '\u{9b}' => {
                removed += 1;
                skip_csi(&mut chars);
            }
            c if c.is_control() || c == '\u{fffd}' => removed += 1,
            // Zero-width and directional formatting characters stay: they are part of
            // how some scripts are written (ZWJ, ZWNJ, RLM).
            c => {
                if c.is_alphanumeric() {
                    alphanumeric += 1;
                } else if !c.is_ascii() && !c.is_whitespace() {
                    symbols += 1;
                }
                if !c.is_whitespace() {
                    visible += 1;
                }
                out.push(c);
            }
        }
    }
    Stripped {
        text: out,
        removed,
        visible,
        symbols,
        alphanumeric,
    }
}

/// After an ESC: a CSI (`ESC [` … final byte), an OSC / DCS / APC / PM / SOS string
/// (ending in BEL or `ESC \`), or a two-character escape.
fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.peek().copied() {
        Some('[') => {
            chars.next();
            skip_csi(chars);
        }
        Some(']' | 'P' | '_' | '^' | 'X') => {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '\u{7}' || c == '\u{9c}' {
                    break;
                }
                if c == '\u{1b}' {
                    if chars.peek() == Some(&'\\') {
                        chars.next();
                    }
                    break;
                }
            }
        }
        // `ESC (` B and friends: a designator and its one character.
        Some('(' | ')' | '*' | '+' | '-' | '.' | '/' | '#' | '%' | ' ') => {
            chars.next();
            chars.next();
        }
        Some(c) if ('\u{30}'..='\u{7e}').contains(&c) => {
            chars.next();
        }
        _ => {}
    }
}

/// A CSI's parameter and intermediate bytes, then its final byte (0x40–0x7E). Stops at
/// anything else, so a truncated sequence cannot swallow the text after it.
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(&c) = chars.peek() {
        if ('\u{20}'..='\u{3f}').contains(&c) {
            chars.next();
        } else {
            if ('\u{40}'..='\u{7e}').contains(&c) {
                chars.next();
            }
            return;
        }
    }
}

/// Trailing spaces off every line, leading and trailing blank lines off the text, and
/// no more than two blank lines in a row (what removed junk tends to leave behind).
fn tidy_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.split('\n') {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 2 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_matches('\n').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_written_text_and_its_layout() {
        let text = "Hello,\n\n\tthe printer on floor 2 is offline.\nAnn";
        assert_eq!(clean_body(text), text);
        assert_eq!(
            clean_body("Grüße aus Köln — 東京も"),
            "Grüße aus Köln — 東京も"
        );
        assert_eq!(clean_body("a\r\nb\rc"), "a\nb\nc");
    }

    #[test]
    fn drops_escape_sequences_and_controls() {
        assert_eq!(
            clean_body(
                "\u{1b}[1;31mERROR\u{1b}[0m disk full on \u{1b}]0;title\u{7}host1 and host2\u{7}\u{0}"
            ),
            "ERROR disk full on host1 and host2"
        );
        assert_eq!(
            clean_body("tab\tstays, bell\u{7} goes, DEL\u{7f} too, C1\u{85}\u{9b}2J too"),
            "tab\tstays, bell goes, DEL too, C1 too"
        );
        assert_eq!(
            clean_body("\u{1b}(Bcharset designators \u{1b}Mand reverse index go"),
            "charset designators and reverse index go"
        );
        // A truncated CSI stops at the first byte that cannot belong to it.
        assert_eq!(clean_body("cut \u{1b}[12;\nnext line"), "cut\nnext line");
    }

    #[test]
    fn mostly_junk_is_no_text() {
        // What a mail server makes of a script's binary output: controls, replacement
        // characters and stray letters.
        let binary: String = (0u8..=255)
            .cycle()
            .take(4096)
            .map(|b| char::from(b.wrapping_mul(37)))
            .collect();
        assert_eq!(clean_body(&binary), "");
        assert_eq!(
            clean_body(&"\u{fffd}\u{fffd}ab\u{fffd}\u{1}\u{2}cd\u{fffd}".repeat(4)),
            ""
        );
        // A few strays in a short note are only removed.
        assert_eq!(
            clean_body("\u{fffd}\u{fffd}ab\u{fffd}\u{1}\u{2}cd\u{fffd}"),
            "abcd"
        );
        assert_eq!(clean_body("\u{1b}[2J\u{1b}[H   \n\t\n"), "");
        assert_eq!(clean_body(""), "");
        // One colour code per few words is a pasted terminal, not junk.
        let coloured = "\u{1b}[32mok\u{1b}[0m build finished in 12 seconds, \u{1b}[33mwarning\u{1b}[0m one test skipped";
        assert_eq!(
            clean_body(coloured),
            "ok build finished in 12 seconds, warning one test skipped"
        );
    }

    #[test]
    fn blank_runs_are_bounded() {
        assert_eq!(clean_body("a\n\u{0}\n\n\n\n\nb  \n\n"), "a\n\n\nb");
    }

    #[test]
    fn header_values_become_one_line() {
        assert_eq!(
            clean_line("Printer\u{1b}[5m jams\tagain\r\n on floor\u{0} 2"),
            "Printer jams again  on floor 2"
        );
    }

    #[test]
    fn a_message_without_subject_gets_no_subject() {
        let parsed = crate::parse(
            b"From: ann@example.com\r\n\r\nbody\r\n",
            &crate::MailConfig::default(),
        )
        .expect("a minimal message parses");
        assert_eq!(parsed.ticket.subject, NO_SUBJECT);
    }

    #[test]
    fn binary_behind_mail_server_headers_has_no_body() {
        // What a mail server makes of a script's binary output: it adds From, Date and
        // Message-ID, and the parser decodes the bytes as windows-1252.
        let mut raw = b"From: root@localhost\r\nDate: Thu, 26 Nov 2026 09:00:00 +0000\r\nMessage-ID: <junk@localhost>\r\n\r\n".to_vec();
        let mut x: u32 = 12345;
        for _ in 0..3000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            raw.push((x >> 16) as u8);
        }
        let parsed = crate::parse(&raw, &crate::MailConfig::default()).expect("it parses");
        assert_eq!(parsed.ticket.body.content, "");
        assert!(parsed.ticket.attachments.is_empty());
    }
}
