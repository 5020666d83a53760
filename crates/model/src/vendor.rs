//! The seam a vendor plugs into: one [`Vendor`] per dialect crate, listed once in the
//! gateway's registry. The vendor parses its own `[dialects.NAME]` table (its server
//! face) and its own `[upstreams.X] kind = "NAME"` tables (its client face); the gateway
//! mounts the faces and builds the clients by going through the registry.

use crate::{ConsumerKey, Helpdesk, Result, ServerFace};
use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// A helpdesk vendor: its dialect (server face) and its upstream kind (client face).
pub trait Vendor: Sync {
    /// The dialect's name: the `NAME` of `[dialects.NAME]` and of `kind = "NAME"`.
    fn name(&self) -> &'static str;

    /// The server face's configuration, `[dialects.NAME]`, read from the whole
    /// configuration document (see [`dialect_table`], which keeps the line and column
    /// of a mistake); `None` when the dialect is not mounted.
    fn server(&self, document: &str)
    -> std::result::Result<Option<Arc<dyn DialectConfig>>, String>;

    /// The client face's configuration, one `[upstreams.X] kind = "NAME"` table without
    /// its `kind` (see [`upstream_table`]).
    fn client(&self, table: toml::Table) -> std::result::Result<Arc<dyn UpstreamSpec>, String>;

    /// The `[[consumers]]` keys this vendor owns: what its server face reads a consumer's
    /// credential against (`rt_token`, …). The gateway accepts them in the configuration
    /// whether or not the dialect is mounted, and refuses any key no vendor declares.
    fn consumer_keys(&self) -> &'static [ConsumerKey] {
        &[]
    }
}

/// The vendor most dialect crates are: `[dialects.NAME]` read as `S` (see
/// [`dialect_table`]) and an upstream of `kind = "NAME"` as `C` (see [`upstream_table`]).
/// A crate registers with `pub const VENDOR: VendorOf<ServerConfig, ClientConfig> =
/// VendorOf::new("NAME").with_consumer_keys(CONSUMER_KEYS);` and implements [`DialectConfig`]
/// and [`UpstreamSpec`] for the two types.
pub struct VendorOf<S, C> {
    name: &'static str,
    keys: &'static [ConsumerKey],
    _configs: PhantomData<fn() -> (S, C)>,
}

impl<S, C> VendorOf<S, C> {
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            keys: &[],
            _configs: PhantomData,
        }
    }

    /// The `[[consumers]]` keys the vendor owns (see [`Vendor::consumer_keys`]).
    pub const fn with_consumer_keys(self, keys: &'static [ConsumerKey]) -> Self {
        Self { keys, ..self }
    }
}

impl<S, C> Vendor for VendorOf<S, C>
where
    S: DialectConfig + DeserializeOwned,
    C: UpstreamSpec + DeserializeOwned,
{
    fn name(&self) -> &'static str {
        self.name
    }

    fn server(
        &self,
        document: &str,
    ) -> std::result::Result<Option<Arc<dyn DialectConfig>>, String> {
        Ok(dialect_table::<S>(document, self.name)?.map(|c| Arc::new(c) as Arc<dyn DialectConfig>))
    }

    fn client(&self, table: toml::Table) -> std::result::Result<Arc<dyn UpstreamSpec>, String> {
        Ok(Arc::new(upstream_table::<C>(table)?))
    }

    fn consumer_keys(&self) -> &'static [ConsumerKey] {
        self.keys
    }
}

/// A dialect's parsed `[dialects.NAME]`. Its `Debug` must not show secrets.
pub trait DialectConfig: fmt::Debug + Send + Sync + Any {
    /// Where the face is mounted.
    fn prefix(&self) -> &str;

    /// Checks that need the rest of the configuration. The message names the key
    /// without the `dialects.NAME.` in front.
    fn validate(&self, _cx: &ConfigContext<'_>) -> std::result::Result<(), Invalid> {
        Ok(())
    }

    /// A consumer key (e.g. `jwt_subject`) that this configuration turns into a demo
    /// credential, because it verifies it with a published demo secret.
    fn demo_identity(&self) -> Option<&'static str> {
        None
    }

    /// The server face, ready to mount. The message names the key without the
    /// `dialects.NAME.` in front.
    fn mount(&self, cx: &MountContext<'_>) -> std::result::Result<Arc<dyn ServerFace>, String>;

    fn as_any(&self) -> &dyn Any;
}

/// An upstream's parsed `[upstreams.X]` table. Its `Debug` must not show secrets.
pub trait UpstreamSpec: fmt::Debug + Send + Sync + Any {
    /// The client, named after its upstream entry.
    fn build(&self, name: &str) -> Result<Arc<dyn Helpdesk>>;

    /// True when this upstream can create tickets and nothing else, known without
    /// calling it.
    fn create_only(&self) -> bool {
        false
    }

    fn as_any(&self) -> &dyn Any;
}

/// A configuration mistake found by [`DialectConfig::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The key and what is wrong with it, without `dialects.NAME.` in front.
    pub message: String,
    /// The text to look for to name the line (default: the dialect's name).
    pub near: Option<String>,
}

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            near: None,
        }
    }

    pub fn near(mut self, near: impl Into<String>) -> Self {
        self.near = Some(near.into());
        self
    }
}

/// What a dialect's validation may look at in the rest of the configuration.
pub struct ConfigContext<'a> {
    /// The names of the configured consumers.
    pub consumers: &'a [&'a str],
}

/// What a server face may read of the gateway's configuration when it is mounted.
pub struct MountContext<'a> {
    /// The values of one consumer key (e.g. `itsmng_app_token`) across the consumers
    /// that set it.
    pub consumer_values: &'a dyn Fn(&str) -> Vec<String>,
}

/// `[dialects.NAME]` out of the whole configuration document, so a mistake in it is
/// reported with its key, line and column like a mistake anywhere else.
pub fn dialect_table<T: DeserializeOwned>(
    document: &str,
    name: &str,
) -> std::result::Result<Option<T>, String> {
    let de = toml::Deserializer::parse(document).map_err(|e| e.to_string())?;
    Pick::<T> {
        path: &["dialects", name],
        _t: PhantomData,
    }
    .deserialize(de)
    .map_err(|e| e.to_string())
}

/// One `[upstreams.X]` table (without `kind`) as the client face's configuration.
pub fn upstream_table<T: DeserializeOwned>(table: toml::Table) -> std::result::Result<T, String> {
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| e.message().to_owned())
}

struct Pick<'a, T> {
    path: &'a [&'a str],
    _t: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Pick<'_, T> {
    type Value = Option<T>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Option<T>, D::Error> {
        match self.path.split_first() {
            None => T::deserialize(d).map(Some),
            Some((head, rest)) => d.deserialize_map(PickVisitor::<T> {
                head,
                rest,
                _t: PhantomData,
            }),
        }
    }
}

struct PickVisitor<'a, T> {
    head: &'a str,
    rest: &'a [&'a str],
    _t: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> Visitor<'de> for PickVisitor<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Option<T>, A::Error> {
        let mut out = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == self.head {
                out = map.next_value_seed(Pick::<T> {
                    path: self.rest,
                    _t: PhantomData,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Face {
        prefix: String,
    }

    #[test]
    fn a_dialect_table_is_picked_out_of_the_document() {
        let doc =
            "[server]\nx = 1\n[dialects.other]\nprefix = 3\n[dialects.mine]\nprefix = \"/m\"\n";
        assert_eq!(
            dialect_table::<Face>(doc, "mine").unwrap(),
            Some(Face {
                prefix: "/m".into()
            })
        );
        assert_eq!(dialect_table::<Face>(doc, "absent").unwrap(), None);
    }

    #[test]
    fn a_mistake_in_a_dialect_table_names_its_line_and_key() {
        let doc = "[dialects.mine]\nprefix = \"/m\"\nbogus = 1\n";
        let e = dialect_table::<Face>(doc, "mine").unwrap_err();
        assert!(e.contains("line 3, column 1"), "{e}");
        assert!(
            e.contains("unknown field `bogus`, expected `prefix`"),
            "{e}"
        );
    }

    #[test]
    fn an_upstream_table_error_is_the_bare_message() {
        let table: toml::Table = toml::from_str("prefix = 3\n").unwrap();
        assert_eq!(
            upstream_table::<Face>(table).unwrap_err(),
            "invalid type: integer `3`, expected a string"
        );
    }
}
