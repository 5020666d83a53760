//! ITSM-NG's registration with the gateway: `[dialects.itsmng]` and
//! `[upstreams.X] kind = "itsmng"`.

use crate::{ClientConfig, ItsmngClient, ItsmngServer, ServerConfig};
use std::any::Any;
use std::sync::Arc;
use ticketgate_model::{
    Also, ConsumerKey, Credential, DialectConfig, Helpdesk, MountContext, Result, ServerFace,
    UpstreamSpec, VendorOf,
};

/// `initSession` with `Authorization: user_token …`.
pub const USER_TOKEN: ConsumerKey = ConsumerKey::token("itsmng_user_token");
/// An App-Token this consumer must present with its user token or login (if set).
pub const APP_TOKEN: ConsumerKey = ConsumerKey::secret("itsmng_app_token");
/// `initSession` with HTTP Basic (or `login` and `password`): the login…
pub const LOGIN: ConsumerKey = ConsumerKey::login("itsmng_login");
/// …and its password.
pub const PASSWORD: ConsumerKey = ConsumerKey::secret("itsmng_password");

/// The ITSM-NG / GLPI vendor, listed in the gateway's registry.
pub const VENDOR: VendorOf<ServerConfig, ClientConfig> =
    VendorOf::new("itsmng").with_consumer_keys(&[USER_TOKEN, APP_TOKEN, LOGIN, PASSWORD]);

/// The credential of `initSession` with a user token.
pub(crate) fn user_token(value: String, app_token: Option<String>) -> Credential {
    Credential::Token {
        key: USER_TOKEN.name,
        value,
        also: Some(Also {
            key: APP_TOKEN.name,
            value: app_token,
        }),
    }
}

/// The credential of `initSession` with a login and password.
pub(crate) fn login(user: String, password: String, app_token: Option<String>) -> Credential {
    Credential::Login {
        key: LOGIN.name,
        user,
        password_key: PASSWORD.name,
        password,
        also: Some(Also {
            key: APP_TOKEN.name,
            value: app_token,
        }),
    }
}

impl DialectConfig for ServerConfig {
    fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The face checks each consumer's own App-Token (`itsmng_app_token`).
    fn mount(&self, cx: &MountContext<'_>) -> std::result::Result<Arc<dyn ServerFace>, String> {
        let mut c = self.clone();
        c.consumer_app_tokens = (cx.consumer_values)(APP_TOKEN.name);
        Ok(Arc::new(ItsmngServer::new(c)))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl UpstreamSpec for ClientConfig {
    fn build(&self, _name: &str) -> Result<Arc<dyn Helpdesk>> {
        Ok(Arc::new(ItsmngClient::new(self.clone())?))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
