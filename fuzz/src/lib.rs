//! Checks shared by ticketgate's fuzz targets: how much a decoded ticket weighs, so a
//! target can assert that a decoder's output is bounded by its input.

use ticketgate_model::NewTicket;

/// The bytes of content a decoded ticket carries: its texts and its attachments.
pub fn ticket_weight(t: &NewTicket) -> usize {
    let requester = &t.requester;
    t.subject.len()
        + t.body.content.len()
        + requester.name.as_deref().map_or(0, str::len)
        + requester.email.as_deref().map_or(0, str::len)
        + requester.phone.as_deref().map_or(0, str::len)
        + t.attachments
            .iter()
            .map(|a| a.name.len() + a.media_type.len() + a.bytes.len())
            .sum::<usize>()
}

/// The most a decoded ticket may weigh for an input of `len` bytes: transcoding a
/// one-byte charset to UTF-8 at most doubles a text, and a few defaults (a media
/// type, `text/plain`) are added per attachment.
pub fn weight_bound(len: usize, attachments: usize) -> usize {
    2 * len + 64 + 64 * attachments
}
