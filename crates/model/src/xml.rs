//! The XML form of the canonical API (`Content-Type` / `Accept: application/xml`).
//!
//! The same serde types as the JSON form, through quick-xml's serde support, so the
//! two forms cannot drift apart. Input is parsed with no DTD at all: a document that
//! declares one is refused before deserialization, so neither entity expansion nor
//! external entities can be reached.

use crate::error::{Error, ErrorKind, Result};
use quick_xml::events::Event;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The deepest nesting a document may have.
pub const MAX_DEPTH: usize = 64;

/// The most elements a document may hold: a canonical ticket has a few dozen, so this
/// only stops documents built to cost more than their size suggests.
pub const MAX_ELEMENTS: usize = 10_000;

/// The most attributes one element may carry (attribute names are checked against each
/// other, so one element's cost grows with the square of this count).
pub const MAX_ATTRIBUTES: usize = 256;

/// Refuse DTDs and check well-formedness and the bounds above, reporting the position
/// of the first fault. One pass, linear in the document.
pub fn check_document(xml: &str) -> Result<()> {
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut depth: usize = 0;
    let mut elements: usize = 0;
    loop {
        let pos = reader.buffer_position();
        match reader.read_event() {
            Ok(Event::DocType(_)) => {
                return Err(Error::bad_input(
                    "XML documents with a DTD (DOCTYPE) are not accepted",
                ));
            }
            Ok(Event::Start(start)) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(Error::bad_input(format!(
                        "XML nesting is deeper than {MAX_DEPTH} levels"
                    )));
                }
                count_element(&mut elements, &start)?;
            }
            Ok(Event::Empty(start)) => count_element(&mut elements, &start)?,
            Ok(Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(Event::Eof) => return Ok(()),
            Ok(_) => {}
            Err(e) => {
                return Err(Error::bad_input(format!(
                    "malformed XML at byte {pos}: {e}"
                )));
            }
        }
    }
}

fn count_element(elements: &mut usize, start: &quick_xml::events::BytesStart<'_>) -> Result<()> {
    *elements += 1;
    if *elements > MAX_ELEMENTS {
        return Err(Error::new(
            ErrorKind::PayloadTooLarge,
            format!("the XML document has more than {MAX_ELEMENTS} elements"),
        ));
    }
    // Counted without the duplicate check, which is itself quadratic.
    if start.attributes().with_checks(false).count() > MAX_ATTRIBUTES {
        return Err(Error::new(
            ErrorKind::PayloadTooLarge,
            format!("an XML element has more than {MAX_ATTRIBUTES} attributes"),
        ));
    }
    Ok(())
}

/// Decode a canonical type from XML (the root element's name is not checked).
pub fn from_xml<T: DeserializeOwned>(xml: &str) -> Result<T> {
    check_document(xml)?;
    quick_xml::de::from_str(xml).map_err(|e| Error::bad_input(format!("invalid XML: {e}")))
}

/// Encode a canonical type as an XML document with the given root element.
pub fn to_xml<T: Serialize>(root: &str, value: &T) -> Result<String> {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let mut ser = quick_xml::se::Serializer::with_root(&mut out, Some(root))
        .map_err(|e| Error::internal(format!("XML encoding failed: {e}")))?;
    ser.expand_empty_elements(false);
    value
        .serialize(ser)
        .map_err(|e| Error::internal(format!("XML encoding failed: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::NewTicket;

    #[test]
    fn new_ticket_from_xml() {
        let t: NewTicket = from_xml(
            "<ticket><subject>Printer</subject><body>It <![CDATA[jams & stalls]]></body>\
             <requester><name>Ann</name><email>ann@example.com</email></requester>\
             <urgency>4</urgency><department>Support</department></ticket>",
        )
        .unwrap();
        assert_eq!(t.subject, "Printer");
        assert_eq!(t.body.content, "It jams & stalls");
        assert_eq!(t.urgency, Some(4));
        assert_eq!(t.department.unwrap().name.as_deref(), Some("Support"));
    }

    #[test]
    fn dtd_is_refused() {
        let bomb =
            "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">]><ticket>&lol;</ticket>";
        let e = from_xml::<NewTicket>(bomb).unwrap_err();
        assert!(e.message.contains("DTD"), "{e}");
    }

    #[test]
    fn element_and_attribute_counts_are_bounded() {
        let within = format!("<ticket>{}</ticket>", "<a/>".repeat(MAX_ELEMENTS - 1));
        assert!(check_document(&within).is_ok());
        let over = format!("<ticket>{}</ticket>", "<a/>".repeat(MAX_ELEMENTS));
        let e = check_document(&over).unwrap_err();
        assert_eq!(e.kind, ErrorKind::PayloadTooLarge, "{e}");
        let attrs: String = (0..=MAX_ATTRIBUTES)
            .map(|i| format!(" a{i}=\"\""))
            .collect();
        let e = check_document(&format!("<ticket{attrs}/>")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::PayloadTooLarge, "{e}");
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        let e = check_document(&deep).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadInput, "{e}");
        assert!(e.message.contains("deeper"), "{e}");
    }

    #[test]
    fn malformed_xml_names_the_position() {
        let e = check_document("<ticket><subject>x</ticket>").unwrap_err();
        assert!(e.message.contains("malformed XML"), "{e}");
    }
}
