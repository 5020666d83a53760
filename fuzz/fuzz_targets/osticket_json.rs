//! osTicket `tickets.json` (data URLs included): bounded output, and a decoded ticket
//! survives the client face's encoding and a second decoding unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ticketgate_fuzz::{ticket_weight, weight_bound};

fuzz_target!(|data: &[u8]| {
    let Ok(t) = ticketgate_osticket::decode_json(data) else {
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
    assert_eq!(again.requester.email, t.requester.email);
    let files = |t: &ticketgate_model::NewTicket| -> Vec<(String, Vec<u8>)> {
        t.attachments
            .iter()
            .map(|a| (a.name.clone(), a.bytes.clone()))
            .collect()
    };
    assert_eq!(files(&again), files(&t));
});
