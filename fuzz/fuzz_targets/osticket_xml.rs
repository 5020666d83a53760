//! osTicket's lax `tickets.xml`: bounded output (the tree never weighs more than the
//! document, transcoding aside), bounded element count, and a decoded ticket survives
//! the client face's encoding into `tickets.json` and its decoding.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ticketgate_fuzz::{ticket_weight, weight_bound};
use ticketgate_osticket::decode::lax_xml;

fn count(e: &lax_xml::Element) -> usize {
    1 + e.children.iter().map(count).sum::<usize>()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(tree) = lax_xml::parse(data) {
        assert!(count(&tree) <= lax_xml::MAX_ELEMENTS);
    }
    let Ok(t) = ticketgate_osticket::decode_xml(data) else {
        return;
    };
    assert!(ticket_weight(&t) <= weight_bound(data.len(), t.attachments.len()));
    let Ok(encoded) = ticketgate_osticket::encode_create(&t) else {
        return;
    };
    let bytes = serde_json::to_vec(&encoded).expect("a JSON value serializes");
    let again = ticketgate_osticket::decode_json(&bytes).expect("what the encoder wrote decodes");
    assert_eq!(again.subject, t.subject);
    assert_eq!(again.body.content, t.body.content);
});
