//! Request Tracker's registration with the gateway: `[dialects.rt]` and
//! `[upstreams.X] kind = "rt"`.

use crate::server::{RtServer, ServerConfig};
use crate::{ClientConfig, RtClient};
use std::any::Any;
use std::sync::Arc;
use ticketgate_model::{
    ConfigContext, ConsumerKey, DialectConfig, Helpdesk, Invalid, MountContext, Result, ServerFace,
    UpstreamSpec, VendorOf,
};

/// A consumer's REST 2.0 token: `Authorization: token …` (or HTTP Basic with it as the
/// password).
pub const RT_TOKEN: ConsumerKey = ConsumerKey::token("rt_token");

/// The Request Tracker vendor, listed in the gateway's registry.
pub const VENDOR: VendorOf<ServerConfig, ClientConfig> =
    VendorOf::new("rt").with_consumer_keys(&[RT_TOKEN]);

impl DialectConfig for ServerConfig {
    fn prefix(&self) -> &str {
        &self.prefix
    }

    fn validate(&self, cx: &ConfigContext<'_>) -> std::result::Result<(), Invalid> {
        ServerConfig::validate(self).map_err(Invalid::new)?;
        if let Some(m) = &self.mail_consumer
            && !cx.consumers.contains(&m.as_str())
        {
            return Err(Invalid::new(format!(
                "mail_consumer names consumer {m:?}, which is not defined"
            ))
            .near("mail_consumer"));
        }
        Ok(())
    }

    fn mount(&self, _cx: &MountContext<'_>) -> std::result::Result<Arc<dyn ServerFace>, String> {
        Ok(Arc::new(RtServer::new(self.clone())))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl UpstreamSpec for ClientConfig {
    fn build(&self, _name: &str) -> Result<Arc<dyn Helpdesk>> {
        Ok(Arc::new(RtClient::new(self.clone())?))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
