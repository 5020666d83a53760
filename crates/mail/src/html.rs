//! A small, forgiving HTML → readable text conversion for HTML-only mail.
//!
//! It never recurses and never fails: unknown tags are dropped, `script`/`style`/`head`
//! content is skipped, block elements become line breaks, entities are decoded and
//! runs of whitespace collapse the way a browser would show them.

/// Converts an HTML document or fragment to plain text.
pub fn html_to_text(html: &str) -> String {
    let mut out = Out::default();
    let bytes = html.as_bytes();
    let mut i = 0;
    let mut pre = 0usize;
    while i < bytes.len() {
        if bytes[i] == b'<' {
            if html[i..].starts_with("<!--") {
                i = match html[i + 4..].find("-->") {
                    Some(end) => i + 4 + end + 3,
                    None => bytes.len(),
                };
                continue;
            }
            if !starts_tag(bytes, i + 1) {
                // A lone `<` that opens no tag is text.
                out.text("<", pre > 0);
                i += 1;
                continue;
            }
            let Some(end) = tag_end(bytes, i + 1) else {
                // A tag cut off at the end of the document is dropped, as browsers do.
                break;
            };
            let inner = &html[i + 1..end];
            i = end + 1;
            let (closing, name) = tag_name(inner);
            if name.is_empty() {
                // `<!DOCTYPE …>`, `<?xml …?>` and the like.
                continue;
            }
            if !closing && matches!(name.as_str(), "script" | "style" | "head" | "title") {
                // Skip everything up to the matching closing tag.
                let close = format!("</{name}");
                i = match find_ascii_ci(&html[i..], &close) {
                    Some(pos) => {
                        let after = i + pos;
                        tag_end(bytes, after + 1).map_or(bytes.len(), |e| e + 1)
                    }
                    None => bytes.len(),
                };
                continue;
            }
            match name.as_str() {
                "br" => out.newline(),
                "blockquote" => {
                    out.block();
                    if closing {
                        out.quote_depth = out.quote_depth.saturating_sub(1);
                    } else {
                        out.quote_depth += 1;
                    }
                }
                "p" | "div" | "table" | "ul" | "ol" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
                | "section" | "article" | "header" | "footer" | "dl" | "address" | "center"
                | "form" | "hr" | "nav" | "main" | "figure" | "tbody" | "thead" | "tfoot" => {
                    out.block()
                }
                "pre" => {
                    out.block();
                    if closing {
                        pre = pre.saturating_sub(1);
                    } else {
                        pre += 1;
                    }
                }
                "tr" | "dd" | "dt" => out.soft_newline(),
                "li" if !closing => {
                    out.soft_newline();
                    out.raw("- ");
                }
                "li" => out.soft_newline(),
                "td" | "th" if !closing => out.space(),
                _ => {}
            }
        } else if bytes[i] == b'&' {
            let (decoded, used) = entity(&html[i..]);
            out.text(&decoded, pre > 0);
            i += used;
        } else {
            let next = html[i..].find(['<', '&']).map_or(bytes.len(), |p| i + p);
            out.text(&html[i..next], pre > 0);
            i = next;
        }
    }
    out.finish()
}

/// Whether the `<` before `from` opens a tag (`<a`, `</a`, `<!…`, `<?…`).
fn starts_tag(bytes: &[u8], from: usize) -> bool {
    bytes
        .get(from)
        .is_some_and(|&b| b.is_ascii_alphabetic() || matches!(b, b'/' | b'!' | b'?'))
}

/// Where the tag that starts after `<` at `from` ends (the index of its `>`), honouring
/// quoted attribute values. `None` when the document ends first.
fn tag_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut quote = None;
    let mut i = from;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

fn tag_name(inner: &str) -> (bool, String) {
    let (closing, rest) = match inner.strip_prefix('/') {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (closing, name)
}

fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    let h = haystack.as_bytes();
    let n = needle.as_bytes();
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Decodes the entity at the start of `s` (which starts with `&`); returns the text and
/// how many bytes were used. An unknown entity is kept as written.
fn entity(s: &str) -> (String, usize) {
    let limit = s.len().min(12);
    let Some(semi) = s.as_bytes()[..limit].iter().position(|&b| b == b';') else {
        return ("&".to_owned(), 1);
    };
    let name = &s[1..semi];
    let decoded = if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => num.parse::<u32>().ok(),
        };
        code.and_then(char::from_u32).map(|c| {
            if c == '\u{a0}' {
                " ".to_owned()
            } else {
                c.to_string()
            }
        })
    } else {
        named_entity(name).map(str::to_owned)
    };
    match decoded {
        Some(text) => (text, semi + 1),
        None => ("&".to_owned(), 1),
    }
}

fn named_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" | "AMP" => "&",
        "lt" | "LT" => "<",
        "gt" | "GT" => ">",
        "quot" | "QUOT" => "\"",
        "apos" => "'",
        "nbsp" => " ",
        "copy" => "©",
        "reg" => "®",
        "trade" => "™",
        "hellip" => "…",
        "mdash" => "—",
        "ndash" => "–",
        "lsquo" => "‘",
        "rsquo" => "’",
        "ldquo" => "“",
        "rdquo" => "”",
        "laquo" => "«",
        "raquo" => "»",
        "bull" => "•",
        "middot" => "·",
        "euro" => "€",
        "pound" => "£",
        "yen" => "¥",
        "cent" => "¢",
        "sect" => "§",
        "deg" => "°",
        "times" => "×",
        "shy" => "",
        "zwnj" | "zwj" => "",
        "auml" => "ä",
        "ouml" => "ö",
        "uuml" => "ü",
        "Auml" => "Ä",
        "Ouml" => "Ö",
        "Uuml" => "Ü",
        "szlig" => "ß",
        "eacute" => "é",
        "egrave" => "è",
        "ecirc" => "ê",
        "aacute" => "á",
        "agrave" => "à",
        "acirc" => "â",
        "ccedil" => "ç",
        "iacute" => "í",
        "oacute" => "ó",
        "uacute" => "ú",
        "ntilde" => "ñ",
        "Eacute" => "É",
        _ => return None,
    })
}

/// The text being built: collapses whitespace outside `<pre>` and keeps at most one
/// blank line between blocks.
#[derive(Default)]
struct Out {
    text: String,
    /// A space is owed before the next visible character.
    pending_space: bool,
    /// Nesting of `<blockquote>`: each line inside starts with as many `> `.
    quote_depth: usize,
}

impl Out {
    fn text(&mut self, s: &str, pre: bool) {
        if pre {
            self.pending_space = false;
            for (n, line) in s.replace("\r\n", "\n").split('\n').enumerate() {
                if n > 0 {
                    self.text.push('\n');
                }
                if !line.is_empty() {
                    self.quote_prefix();
                    self.text.push_str(line);
                }
            }
            return;
        }
        for c in s.chars() {
            if c.is_whitespace() {
                self.pending_space = true;
            } else {
                if self.at_line_start() {
                    self.quote_prefix();
                } else if self.pending_space {
                    self.text.push(' ');
                }
                self.pending_space = false;
                self.text.push(c);
            }
        }
    }

    fn raw(&mut self, s: &str) {
        self.pending_space = false;
        self.quote_prefix();
        self.text.push_str(s);
    }

    /// At the start of a line inside a blockquote, the `> ` marks of its depth.
    fn quote_prefix(&mut self) {
        if self.at_line_start() {
            for _ in 0..self.quote_depth {
                self.text.push_str("> ");
            }
        }
    }

    fn space(&mut self) {
        self.pending_space = true;
    }

    fn at_line_start(&self) -> bool {
        self.text.is_empty() || self.text.ends_with('\n')
    }

    fn trim_line_end(&mut self) {
        while self.text.ends_with([' ', '\t']) {
            self.text.pop();
        }
    }

    fn newline(&mut self) {
        self.trim_line_end();
        self.pending_space = false;
        self.text.push('\n');
    }

    /// A line break unless the text already stands at the start of a line.
    fn soft_newline(&mut self) {
        self.trim_line_end();
        self.pending_space = false;
        if !self.at_line_start() {
            self.text.push('\n');
        }
    }

    fn block(&mut self) {
        self.trim_line_end();
        self.pending_space = false;
        if self.text.is_empty() || self.text.ends_with("\n\n") {
            return;
        }
        if self.text.ends_with('\n') {
            self.text.push('\n');
        } else {
            self.text.push_str("\n\n");
        }
    }

    fn finish(self) -> String {
        let mut out = String::with_capacity(self.text.len());
        let mut blank_run = 0;
        for line in self.text.split('\n') {
            let line = line.trim_end();
            if line.is_empty() {
                blank_run += 1;
                if blank_run > 1 {
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
}

#[cfg(test)]
mod tests {
    use super::html_to_text;

    #[test]
    fn blocks_breaks_and_entities() {
        let html = "<html><head><title>x</title><style>p{color:red}</style></head><body>\
            <p>Hello&nbsp;<b>World</b> &amp; friends</p><div>Line 1<br>Line 2</div>\
            <ul><li>one</li><li>two</li></ul><script>alert(1)</script>&#233;&#xE9; &bogus; a < b\
            </body></html>";
        assert_eq!(
            html_to_text(html),
            "Hello World & friends\n\nLine 1\nLine 2\n\n- one\n- two\n\néé &bogus; a < b"
        );
        assert_eq!(
            html_to_text("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>x"),
            "a b\nc\n\nx"
        );
    }

    #[test]
    fn whitespace_collapses_and_pre_is_kept() {
        assert_eq!(html_to_text("  a \n\n  b  "), "a b");
        assert_eq!(html_to_text("<pre>a\n  b</pre>c"), "a\n  b\n\nc");
        assert_eq!(html_to_text("<!-- hidden -->x<!-- open"), "x");
        assert_eq!(html_to_text("<a href=\"x>y\">link</a>"), "link");
        assert_eq!(html_to_text("a<b class=\"x"), "a");
        assert_eq!(html_to_text(&"<a<b".repeat(50_000)).len(), 0);
    }

    #[test]
    fn blockquotes_are_quoted() {
        assert_eq!(
            html_to_text(
                "<p>Yes.</p><blockquote>old<br>text<blockquote>older</blockquote></blockquote>"
            ),
            "Yes.\n\n> old\n> text\n\n> > older"
        );
    }
}
