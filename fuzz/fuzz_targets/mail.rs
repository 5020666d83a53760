//! RFC 5322 / MIME messages (`ticketgate pipe`, `tickets.email`): parsed within the
//! configured bounds, with an output no heavier than the message allows.
#![no_main]
use libfuzzer_sys::fuzz_target;
use ticketgate_fuzz::ticket_weight;
use ticketgate_mail::{MailConfig, parse};

fuzz_target!(|data: &[u8]| {
    let config = MailConfig::default();
    let Ok(mail) = parse(data, &config) else {
        return;
    };
    // Bodies may be base64 or quoted-printable (smaller decoded) or 8-bit text in a
    // one-byte charset (at most three UTF-8 bytes per byte); HTML turned to text only
    // shrinks. Headers' defaults add a little.
    assert!(
        ticket_weight(&mail.ticket) <= 3 * data.len() + 256 + 64 * mail.ticket.attachments.len(),
        "{} bytes in, {} out",
        data.len(),
        ticket_weight(&mail.ticket)
    );
});
