//! `gateway.toml`: any text is either a configuration or an error naming the fault.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| (name == "SET").then(|| "value \"quoted\"\nline".to_owned());
    if let Err(e) = ticketgate::Config::parse(text, &env) {
        assert!(!e.is_empty());
    }
});
