//! TicketsApi request bodies (multipart with `Uploads`, url-encoded, JSON) as model
//! binding sees them: within the configured limits, output no larger than the input.
#![no_main]
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ticketgate_ticketsapi::form::{Limits, decode};

const LIMITS: Limits = Limits {
    max_parts: 64,
    max_part_bytes: 64 * 1024,
    max_total_bytes: 256 * 1024,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let content_type = match selector % 3 {
        0 => "multipart/form-data; boundary=XX",
        1 => "application/x-www-form-urlencoded",
        _ => "application/json",
    };
    let body = Bytes::copy_from_slice(rest);
    let Ok(form) = decode(Some(content_type), &body, LIMITS) else {
        return;
    };
    if selector % 3 == 0 {
        assert!(form.fields.len() + form.files.len() <= LIMITS.max_parts);
        assert!(
            form.files
                .iter()
                .all(|f| f.data.len() <= LIMITS.max_part_bytes)
        );
    }
    let files: usize = form.files.iter().map(|f| f.data.len()).sum();
    assert!(files <= rest.len());
});
