//! TicketsApi's registration with the gateway: `[dialects.ticketsapi]` and
//! `[upstreams.X] kind = "ticketsapi"`.

use crate::{ClientConfig, ServerConfig, TicketsApiClient, TicketsApiServer};
use std::any::Any;
use std::sync::Arc;
use ticketgate_model::{
    ConfigContext, ConsumerKey, DialectConfig, Helpdesk, Invalid, MountContext, Result, ServerFace,
    UpstreamSpec, VendorOf,
};

/// The `sub` of a consumer's JWTs, which the face verifies (signature, lifetime,
/// issuer, audience) before naming it.
pub const JWT_SUBJECT: ConsumerKey = ConsumerKey::identity("jwt_subject");

/// The TicketsApi vendor, listed in the gateway's registry.
pub const VENDOR: VendorOf<ServerConfig, ClientConfig> =
    VendorOf::new("ticketsapi").with_consumer_keys(&[JWT_SUBJECT]);

impl DialectConfig for ServerConfig {
    fn prefix(&self) -> &str {
        &self.prefix
    }

    fn validate(&self, _cx: &ConfigContext<'_>) -> std::result::Result<(), Invalid> {
        TicketsApiServer::new(self.clone())
            .map(|_| ())
            .map_err(Invalid::new)
    }

    /// A JWT signed with a published secret is as public as a demo key.
    fn demo_identity(&self) -> Option<&'static str> {
        self.jwt
            .hs256_secret
            .as_deref()
            .is_some_and(|s| s.starts_with("demo-"))
            .then_some(JWT_SUBJECT.name)
    }

    fn mount(&self, _cx: &MountContext<'_>) -> std::result::Result<Arc<dyn ServerFace>, String> {
        Ok(Arc::new(TicketsApiServer::new(self.clone())?))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl UpstreamSpec for ClientConfig {
    fn build(&self, _name: &str) -> Result<Arc<dyn Helpdesk>> {
        Ok(Arc::new(TicketsApiClient::new(self.clone())?))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
