//! Trimming the quoted tail of a reply, so a mail reply lands on its ticket as what the
//! requester actually wrote (osTicket, Zammad and RT all do the same).
//!
//! The earliest of these markers cuts the text: an attribution line (`On … wrote:`, with
//! the common localised forms), Outlook's `-----Original Message-----`, its `From: … Sent: …`
//! header block, its `____…` separator, and finally any trailing block of `>` lines.
//! When trimming would leave nothing, the text is kept whole.

/// Returns `text` without its quoted tail.
pub fn trim_quoted(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut cut = lines.len();
    for (i, line) in lines.iter().enumerate() {
        if is_quote_start(&lines, i, line) {
            cut = i;
            break;
        }
    }
    let mut kept: Vec<&str> = lines[..cut].to_vec();
    // Trailing quoted lines (and the blank lines between them).
    while let Some(last) = kept.last() {
        let t = last.trim();
        if t.is_empty() || t.starts_with('>') {
            kept.pop();
        } else {
            break;
        }
    }
    let out = kept.join("\n").trim_end().to_owned();
    if out.trim().is_empty() {
        text.trim_end().to_owned()
    } else {
        out
    }
}

fn is_quote_start(lines: &[&str], i: usize, line: &str) -> bool {
    let t = line.trim();
    if t.is_empty() || t.starts_with('>') {
        return false;
    }
    // French typography puts a no-break space before the colon.
    let lower = t.to_lowercase().replace('\u{a0}', " ");
    // Attribution lines, possibly wrapped onto the next line by the sender's client.
    let next = lines
        .get(i + 1)
        .map(|l| l.trim().to_lowercase().replace('\u{a0}', " "))
        .unwrap_or_default();
    if is_attribution_start(&lower)
        && (is_attribution_end(&lower) || (next.len() < 200 && is_attribution_end(&next)))
    {
        return true;
    }
    // -----Original Message----- and its translations.
    if t.starts_with("-----") && t.ends_with("-----") {
        let inner = lower.trim_matches('-').trim();
        if matches!(
            inner,
            "original message"
                | "ursprüngliche nachricht"
                | "message d'origine"
                | "mensaje original"
                | "messaggio originale"
                | "oorspronkelijk bericht"
                | "mensagem original"
        ) {
            return true;
        }
    }
    // Outlook's separator line before its header block.
    if t.len() >= 20 && t.chars().all(|c| c == '_') {
        return true;
    }
    // Outlook's header block: `From:` followed closely by `Sent:` (or a translation).
    if is_from_label(&lower) {
        for later in lines.iter().skip(i + 1).take(4) {
            let l = later.trim().to_lowercase();
            if is_sent_label(&l) {
                return true;
            }
        }
    }
    false
}

fn is_attribution_start(lower: &str) -> bool {
    ["on ", "le ", "am ", "el ", "il ", "op ", "em "]
        .iter()
        .any(|p| lower.starts_with(p))
}

fn is_attribution_end(lower: &str) -> bool {
    let l = lower.trim_end();
    l.ends_with("wrote:")
        || l.ends_with("a écrit :")
        || l.ends_with("a écrit:")
        || (l.contains("schrieb") && l.ends_with(':'))
        || l.ends_with("escribió:")
        || l.ends_with("ha scritto:")
        || l.ends_with("schreef:")
        || (l.contains(" schreef ") && l.ends_with(':'))
        || l.ends_with("escreveu:")
}

fn is_from_label(lower: &str) -> bool {
    ["from:", "von:", "de :", "de:", "da:", "van:"]
        .iter()
        .any(|p| lower.starts_with(p))
}

fn is_sent_label(lower: &str) -> bool {
    [
        "sent:",
        "gesendet:",
        "envoyé :",
        "envoyé:",
        "enviado:",
        "inviato:",
        "verzonden:",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::trim_quoted;

    #[test]
    fn gmail_attribution_wrapped_over_two_lines() {
        let text = "Thanks, works now.\n\nOn Thu, Feb 7, 2013 at 11:01 AM, Support <\nsupport@example.com> wrote:\n> old\n> text\n";
        assert_eq!(trim_quoted(text), "Thanks, works now.");
    }

    #[test]
    fn outlook_header_block_and_separator() {
        let text = "Fine.\n\n________________________________\nFrom: Help <h@x>\nSent: Monday\nTo: me\nSubject: x\n\nold";
        assert_eq!(trim_quoted(text), "Fine.");
        let text = "Yes\r\nFrom: Help <h@x>\nSent: Monday\n\nold";
        assert_eq!(trim_quoted(&text.replace('\r', "")), "Yes");
    }

    #[test]
    fn localised_and_trailing_quotes() {
        assert_eq!(
            trim_quoted("Merci\nLe 3 mars 2024 à 10:00, X <x@y> a écrit :\n> a"),
            "Merci"
        );
        assert_eq!(
            trim_quoted("Danke\nAm 03.03.2024 um 10:00 schrieb X <x@y>:\n> a"),
            "Danke"
        );
        assert_eq!(
            trim_quoted("Merci\nLe 3 mars 2024, X a écrit\u{a0}:\n> a"),
            "Merci"
        );
        assert_eq!(trim_quoted("> q1\nanswer\n> q2\n>\n\n"), "> q1\nanswer");
    }

    #[test]
    fn nothing_left_keeps_everything() {
        assert_eq!(trim_quoted("> only a quote\n"), "> only a quote");
        assert_eq!(trim_quoted("plain text\n"), "plain text");
    }
}
