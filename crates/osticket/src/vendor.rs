//! osTicket's registration with the gateway: `[dialects.osticket]` and
//! `[upstreams.X] kind = "osticket"`.

use crate::{ClientConfig, Mode, OsticketClient, OsticketServer, ServerConfig};
use std::any::Any;
use std::sync::Arc;
use ticketgate_model::{
    ConsumerKey, DialectConfig, Helpdesk, MountContext, Result, ServerFace, UpstreamSpec, VendorOf,
};

/// A consumer's osTicket API key: `X-API-Key`.
pub const OSTICKET_KEY: ConsumerKey = ConsumerKey::token("osticket_key");

/// The osTicket vendor, listed in the gateway's registry.
pub const VENDOR: VendorOf<ServerConfig, ClientConfig> =
    VendorOf::new("osticket").with_consumer_keys(&[OSTICKET_KEY]);

impl DialectConfig for ServerConfig {
    fn prefix(&self) -> &str {
        &self.prefix
    }

    fn mount(&self, _cx: &MountContext<'_>) -> std::result::Result<Arc<dyn ServerFace>, String> {
        Ok(Arc::new(OsticketServer::new(self.clone())))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl UpstreamSpec for ClientConfig {
    fn build(&self, _name: &str) -> Result<Arc<dyn Helpdesk>> {
        Ok(Arc::new(OsticketClient::new(self.clone())?))
    }

    /// osTicket's own API (without the API-Endpoints plugin) can only create.
    fn create_only(&self) -> bool {
        self.mode == Mode::Core
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
