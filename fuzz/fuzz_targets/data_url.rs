//! RFC 2397 data URLs (osTicket messages and attachments): the decoded bytes are never
//! longer than the URL, and encode → decode gives the bytes back.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ticketgate_model::data_url;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(d) = data_url::parse(text) {
        assert!(d.bytes.len() <= text.len());
    }
    let url = data_url::encode("application/octet-stream", data);
    let back = data_url::parse(&url).expect("an encoded data URL decodes");
    assert_eq!(back.bytes, data);
});
