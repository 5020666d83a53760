//! No input makes a decoder panic: arbitrary bytes and mangled seed documents only ever
//! decode or fail with a 400.

use proptest::prelude::*;
use ticketgate_model::ErrorKind;
use ticketgate_osticket::{CreateFormat, decode_create, decode_request};

const SEED_XML: &str = include_str!("golden/create/seed_example_xml.xml");
const SEED_JSON: &str = include_str!("golden/create/seed_example_fixed.json");

fn refused_or_ok(r: Result<ticketgate_model::NewTicket, ticketgate_model::Error>) {
    if let Err(e) = r {
        assert_eq!(e.kind, ErrorKind::BadInput, "{e:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        refused_or_ok(decode_create(CreateFormat::Json, &bytes));
        refused_or_ok(decode_create(CreateFormat::Xml, &bytes));
        refused_or_ok(decode_request(
            CreateFormat::Json,
            Some("multipart/form-data; boundary=b"),
            &bytes,
        ));
    }

    #[test]
    fn truncated_and_mangled_seeds(cut in 0usize..2000, at in 0usize..2000, byte in any::<u8>()) {
        for doc in [SEED_XML, SEED_JSON] {
            let mut b = doc.as_bytes().to_vec();
            let at = at % b.len();
            b[at] = byte;
            b.truncate(cut.min(b.len()));
            let format = if doc.starts_with('<') { CreateFormat::Xml } else { CreateFormat::Json };
            refused_or_ok(decode_create(format, &b));
        }
    }

    #[test]
    fn multipart_shapes(parts in proptest::collection::vec(("[a-z\\[\\]]{0,8}", "[ -~]{0,20}"), 0..6)) {
        let mut body = String::new();
        for (name, value) in &parts {
            body.push_str(&format!("--b\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
        }
        body.push_str("--b--\r\n");
        refused_or_ok(decode_request(
            CreateFormat::Json,
            Some("multipart/form-data; boundary=b"),
            body.as_bytes(),
        ));
    }

    #[test]
    fn arbitrary_field_text(text in "\\PC{0,12}", header in "[a-zA-Z/;=,%0-9+]{0,16}") {
        for message in [text.clone(), format!("data:{header},{text}"), format!("data:{text}")] {
            let body = serde_json::json!({
                "name": text, "email": "a@b.c", "subject": text, "message": message,
                "phone": text, "duedate": text, "ip": text, "priority": text,
                "attachments": [{ (text.clone() + "f"): message.clone() }],
            });
            refused_or_ok(decode_create(CreateFormat::Json, body.to_string().as_bytes()));
        }
    }
}
