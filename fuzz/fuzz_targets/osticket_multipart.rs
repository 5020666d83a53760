//! The osTicket plugin's `multipart/form-data` create: bounded parts and output.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ticketgate_osticket::decode::multipart;

fuzz_target!(|data: &[u8]| {
    let Ok(form) = multipart::parse(data, "B") else {
        return;
    };
    assert!(form.fields.len() <= multipart::MAX_PARTS);
    // Values and file contents are slices of the body. Field names are not counted:
    // a repeated name gets a number appended (`a`, `a1`…), as osTicket numbers them.
    let weight: usize = form.files.iter().map(|f| f.bytes.len()).sum::<usize>()
        + form
            .fields
            .values()
            .map(|v| v.as_str().map_or(0, str::len))
            .sum::<usize>();
    assert!(weight <= data.len());
    let _ = ticketgate_osticket::decode::decode_multipart(data, "B");
});
