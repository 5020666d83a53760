//! Email ingestion: MIME in, a ticket or a reply out, loops and duplicates refused.
//! (Wired to the mail crate in its own change.)

use crate::gateway::Gateway;
use ticketgate_model::{Consumer, Error, Ingested, Result};

pub async fn ingest(_gateway: &Gateway, _consumer: &Consumer, _raw: &[u8]) -> Result<Ingested> {
    Err(Error::unsupported("ticketgate", "email ingestion"))
}
