//! The canonical API's JSON create: decode → encode → decode is stable.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ticketgate_model::NewTicket;

fuzz_target!(|data: &[u8]| {
    let Ok(t) = serde_json::from_slice::<NewTicket>(data) else {
        return;
    };
    let bytes = serde_json::to_vec(&t).expect("a decoded ticket encodes");
    let again: NewTicket = serde_json::from_slice(&bytes).expect("what was encoded decodes");
    assert_eq!(again, t);
});
