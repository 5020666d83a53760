//! osTicket's lax XML: a small element tree read with quick-xml's event reader.
//!
//! osTicket's own parser turns a document into nested maps where attributes and
//! child elements share one namespace and text is trimmed. ticketgate keeps the tree
//! (attributes, trimmed text, children in order) and lets the create decoder read it
//! the same lax way. The document's declared encoding is honoured (UTF-8, US-ASCII,
//! ISO-8859-1 and windows-1252 are transcoded by hand), and a DTD is refused before
//! any element is read, so no entity is ever declared, let alone expanded.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

/// The deepest element nesting read; osTicket documents are three levels deep.
const MAX_DEPTH: usize = 32;

/// The most elements one document may hold. A real create has a few dozen (fields,
/// custom fields, a file per attachment); the bound keeps a document of tiny repeated
/// elements from costing more than the body size suggests.
pub const MAX_ELEMENTS: usize = 10_000;

/// The most attributes one element may carry. quick-xml checks each attribute name
/// against the earlier ones, so an element's cost grows with the square of this count.
pub const MAX_ATTRIBUTES: usize = 256;

/// One element: its name, attributes in document order, trimmed text, children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    /// Text and CDATA content, concatenated and trimmed.
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a document could not be read, in osTicket's `XML error: …` words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    pub message: String,
    /// A size bound was passed (too many elements or attributes): a 413, not a 400.
    pub too_large: bool,
}

impl XmlError {
    fn malformed(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            too_large: false,
        }
    }

    fn too_large(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            too_large: true,
        }
    }
}

/// Decode the bytes per the XML declaration and read the root element.
pub fn parse(bytes: &[u8]) -> Result<Element, XmlError> {
    let text = transcode(bytes)?;
    let root = read_tree(&text)?;
    // The model's own check as well: the same refusal of DTDs every XML route applies.
    ticketgate_model::xml::check_document(&text).map_err(|e| XmlError::malformed(e.message))?;
    Ok(root)
}

/// The document as UTF-8, per the encoding its declaration names.
pub fn transcode(bytes: &[u8]) -> Result<String, XmlError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let encoding = declared_encoding(bytes).unwrap_or_else(|| "utf-8".to_owned());
    match encoding.to_ascii_lowercase().as_str() {
        "utf-8" | "utf8" | "us-ascii" | "ascii" => {
            String::from_utf8(bytes.to_vec()).map_err(|_| {
                XmlError::malformed("Input is not proper UTF-8, indicate encoding !".to_owned())
            })
        }
        "iso-8859-1" | "latin1" | "latin-1" | "iso_8859-1" | "l1" => {
            Ok(bytes.iter().map(|&b| char::from(b)).collect())
        }
        "windows-1252" | "cp1252" => Ok(bytes.iter().map(|&b| cp1252(b)).collect()),
        other => Err(XmlError::malformed(format!("Unsupported encoding {other}"))),
    }
}

/// The `encoding` pseudo-attribute of a leading `<?xml …?>` declaration.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = bytes.get(..bytes.len().min(200))?;
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = &head[start..];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let decl = String::from_utf8_lossy(&head[..end]);
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?;
    let rest = rest.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = rest[1..].split(quote).next()?;
    Some(value.trim().to_owned())
}

/// windows-1252: Latin-1 except for the printable characters in 0x80–0x9F.
pub(crate) fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž',
        '\u{8F}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9F => HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

fn read_tree(text: &str) -> Result<Element, XmlError> {
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        let event = reader.read_event().map_err(|e| {
            XmlError::malformed(format!(
                "{e} at {}",
                line_col(text, reader.error_position())
            ))
        })?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::malformed(
                        "Excessive depth in document".to_owned(),
                    ));
                }
                count_element(&mut elements)?;
                stack.push(element(&start)?);
            }
            Event::Empty(start) => {
                count_element(&mut elements)?;
                let el = element(&start)?;
                attach(&mut stack, &mut root, el)?;
            }
            Event::End(_) => {
                let mut el = stack
                    .pop()
                    .ok_or_else(|| XmlError::malformed("Unexpected end tag".to_owned()))?;
                el.text = el.text.trim().to_owned();
                attach(&mut stack, &mut root, el)?;
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml_content(XmlVersion::Implicit1_0));
                } else if !t.xml_content(XmlVersion::Implicit1_0).trim().is_empty() {
                    return Err(XmlError::malformed(
                        "Extra content at the end of the document".to_owned(),
                    ));
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&c.xml_content(XmlVersion::Implicit1_0));
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => match &*r.xml_content(XmlVersion::Implicit1_0) {
                        "amp" => "&".to_owned(),
                        "lt" => "<".to_owned(),
                        "gt" => ">".to_owned(),
                        "quot" => "\"".to_owned(),
                        "apos" => "'".to_owned(),
                        other => {
                            return Err(XmlError::malformed(format!(
                                "Entity '{other}' not defined"
                            )));
                        }
                    },
                    Err(e) => return Err(XmlError::malformed(e.to_string())),
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&resolved);
                }
            }
            Event::DocType(_) => {
                return Err(XmlError::malformed(
                    "XML documents with a DTD (DOCTYPE) are not accepted".to_owned(),
                ));
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::malformed("Premature end of data".to_owned()));
    }
    root.ok_or_else(|| XmlError::malformed("Document is empty".to_owned()))
}

/// `line:column` (both from 1) of a byte offset, as libxml reports positions.
fn line_col(text: &str, offset: u64) -> String {
    let offset = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(text.len());
    let before = text.as_bytes().get(..offset).unwrap_or_default();
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let col = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
    format!("line {line}:{col}")
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None if root.is_none() => *root = Some(el),
        None => {
            return Err(XmlError::malformed(
                "Extra content at the end of the document".to_owned(),
            ));
        }
    }
    Ok(())
}

fn count_element(elements: &mut usize) -> Result<(), XmlError> {
    *elements += 1;
    if *elements > MAX_ELEMENTS {
        return Err(XmlError::too_large(format!(
            "the document has more than {MAX_ELEMENTS} elements"
        )));
    }
    Ok(())
}

fn element(start: &BytesStart<'_>) -> Result<Element, XmlError> {
    let mut el = Element {
        name: start.name().as_ref().to_owned(),
        ..Element::default()
    };
    for (i, attr) in start.attributes().enumerate() {
        if i >= MAX_ATTRIBUTES {
            return Err(XmlError::too_large(format!(
                "an element has more than {MAX_ATTRIBUTES} attributes"
            )));
        }
        let attr = attr.map_err(|e| XmlError::malformed(e.to_string()))?;
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| XmlError::malformed(e.to_string()))?;
        el.attrs
            .push((attr.key.as_ref().to_owned(), value.trim().to_owned()));
    }
    Ok(el)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_text_cdata_and_entities() {
        let el = parse(
            b"<ticket alert=\"true\"><name> Ann &amp; Bob </name><m><![CDATA[ <b>x</b> ]]></m></ticket>",
        )
        .unwrap();
        assert_eq!(el.attr("alert"), Some("true"));
        assert_eq!(el.children[0].text, "Ann & Bob");
        assert_eq!(el.children[1].text, "<b>x</b>");
    }

    #[test]
    fn latin1_is_transcoded() {
        let doc = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><t><n>Ren\xe9</n></t>";
        assert_eq!(parse(doc).unwrap().children[0].text, "René");
    }

    #[test]
    fn undeclared_entities_and_dtds_are_refused() {
        assert!(parse(b"<t>&lol;</t>").is_err());
        assert!(parse(b"<!DOCTYPE t [<!ENTITY a \"b\">]><t>&a;</t>").is_err());
        assert!(parse(b"<t><a></t>").is_err());
        assert!(parse(b"").is_err());
    }

    #[test]
    fn element_count_is_bounded() {
        let within = format!("<t>{}</t>", "<a/>".repeat(MAX_ELEMENTS - 1));
        assert_eq!(
            parse(within.as_bytes()).unwrap().children.len(),
            MAX_ELEMENTS - 1
        );
        let over = format!("<t>{}</t>", "<a/>".repeat(MAX_ELEMENTS));
        let e = parse(over.as_bytes()).unwrap_err();
        assert!(e.too_large, "{e:?}");
        let nested = format!("<t>{}</t>", "<a><b/></a>".repeat(MAX_ELEMENTS / 2));
        assert!(parse(nested.as_bytes()).unwrap_err().too_large);
    }

    #[test]
    fn attribute_count_and_depth_are_bounded() {
        let attrs: String = (0..MAX_ATTRIBUTES)
            .map(|i| format!(" a{i}=\"v\""))
            .collect();
        assert_eq!(
            parse(format!("<t{attrs}/>").as_bytes())
                .unwrap()
                .attrs
                .len(),
            MAX_ATTRIBUTES
        );
        let attrs: String = (0..=MAX_ATTRIBUTES)
            .map(|i| format!(" a{i}=\"v\""))
            .collect();
        assert!(
            parse(format!("<t{attrs}/>").as_bytes())
                .unwrap_err()
                .too_large
        );
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        let e = parse(deep.as_bytes()).unwrap_err();
        assert!(!e.too_large && e.message.contains("depth"), "{e:?}");
    }
}
