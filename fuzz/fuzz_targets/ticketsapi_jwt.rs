//! TicketsApi bearer JWTs: no input verifies without the secret (the fuzzer never
//! holds it), and a token minted with it always verifies back to its subject.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::time::Duration;
use ticketgate_ticketsapi::jwt::{VerifierSettings, mint_hs256, verify};

const SECRET: &[u8] = b"fuzzing-secret-never-in-the-corpus";

fuzz_target!(|data: &[u8]| {
    let settings = VerifierSettings {
        hs256_secret: Some(SECRET.to_vec()),
        rs256_public_key: None,
        issuer: None,
        audience: None,
        leeway: Duration::from_secs(60),
    };
    let text = String::from_utf8_lossy(data);
    assert!(
        verify(&text, &settings).is_err(),
        "a forged token verified: {text}"
    );
    let subject = text.trim();
    if !subject.is_empty() && subject.len() < 200 {
        let token = mint_hs256(SECRET, subject, &["Tickets.Read"], Duration::from_secs(60));
        let verified = verify(&token, &settings).expect("a minted token verifies");
        assert_eq!(verified.subject, subject);
    }
});
