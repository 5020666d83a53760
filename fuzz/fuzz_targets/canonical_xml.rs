//! The canonical API's XML create: bounded, no DTD, and decode → encode → decode is
//! stable.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ticketgate_model::NewTicket;
use ticketgate_model::xml::{from_xml, to_xml};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(t) = from_xml::<NewTicket>(text) else {
        return;
    };
    let Ok(xml) = to_xml("ticket", &t) else {
        return;
    };
    let again: NewTicket = from_xml(&xml).expect("what was encoded decodes");
    assert_eq!(again, t, "{xml}");
});
