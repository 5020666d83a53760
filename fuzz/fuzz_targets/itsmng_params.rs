//! ITSM-NG `apirest.php` parameters: query strings (PHP brackets), JSON, form and
//! multipart bodies, and the search criteria read from them, all bounded as PHP
//! bounds them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ticketgate_itsmng::{params, search};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let query = params::parse_php_query(&text);
    assert!(query.len() <= params::MAX_INPUT_VARS);
    let _ = search::search_spec(&query);
    let _ = search::parse_range(query.get("range"));
    let content_type = match selector % 4 {
        0 => "application/json",
        1 => "application/x-www-form-urlencoded",
        2 => "multipart/form-data; boundary=XX",
        _ => "text/plain",
    };
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    if let Ok(p) = params::parse(&http::Method::POST, None, &headers, rest) {
        let _ = search::search_spec(&p.values);
        assert!(p.files.len() <= params::MAX_PARTS);
    }
});
