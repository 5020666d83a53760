//! The osTicket plugin's `multipart/form-data` create: bounded parts and output.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ticketgate_osticket::decode::multipart;

fuzz_target!(|data: &[u8]| {
    let Ok(form) = multipart::parse(data, "B") else {
        return;
    };
    assert!(form.fields.len() <= multipart::MAX_PARTS);
    let weight: usize = form.files.iter().map(|f| f.bytes.len() + f.name.len()).sum::<usize>()
        + form.fields.iter().map(|(k, v)| k.len() + v.as_str().map_or(0, str::len)).sum::<usize>();
    assert!(weight <= data.len());
    let _ = ticketgate_osticket::decode::decode_multipart(data, "B");
});
