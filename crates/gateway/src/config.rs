//! `gateway.toml`: parsing, environment expansion and validation.
//!
//! Every value is validated while it is deserialised, so a mistake is reported by
//! the TOML parser with the key, the line and the column. Cross-references (a route
//! naming an upstream that does not exist) are checked after, and their errors name
//! the key and the line too. `${NAME}` anywhere in a value is replaced by the
//! environment variable NAME; an unset variable is an error that names it.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use ticketgate_model::{
    ConfigContext, ConsumerKey, DialectConfig, KeyKind, Permission, UpstreamSpec, upstream_table,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub rate_limits: GlobalRateLimits,
    #[serde(default)]
    pub consumers: Vec<ConsumerConfig>,
    #[serde(default)]
    pub dialects: Dialects,
    #[serde(default = "default_upstreams")]
    pub upstreams: BTreeMap<String, UpstreamConfig>,
    #[serde(default)]
    pub routing: Routing,
    #[serde(default)]
    pub outbox: OutboxConfig,
    /// Where the gateway's own durable state lives: SQLite in the data directory, or a
    /// PostgreSQL shared by several gateways.
    #[serde(default)]
    pub state: StateConfig,
    #[serde(default)]
    pub pipe: PipeConfig,
    /// How long the gateway's own records are kept.
    #[serde(default)]
    pub retention: RetentionConfig,
    /// Email ingestion: threading, loop protection, sender lists, bounds.
    #[serde(default)]
    pub mail: ticketgate_mail::MailConfig,
}

/// `ticketgate pipe`: the consumer that mail piped in by the local mail server acts as,
/// and where its log goes (its standard error is read by the mail server, and may end up
/// in a bounce to the sender, so it carries one line for the sender and nothing else).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipeConfig {
    pub consumer: Option<String>,
    /// The log file, appended to (default `pipe.log` in the data directory; a relative
    /// path is relative to the data directory).
    pub log_file: Option<PathBuf>,
    /// `serve` takes piped mail on `pipe.sock` in the data directory, and `pipe` hands
    /// its message there when a `serve` is running (see `handoff.rs`). Default on.
    pub handoff: bool,
}

impl Default for PipeConfig {
    fn default() -> Self {
        Self {
            consumer: None,
            log_file: None,
            handoff: true,
        }
    }
}

impl PipeConfig {
    /// The log file for a data directory.
    pub fn log_path(&self, data_dir: &Path) -> PathBuf {
        match &self.log_file {
            Some(f) => data_dir.join(f),
            None => data_dir.join("pipe.log"),
        }
    }
}

/// `[state]`: the backend of the outbox, idempotency records, the tracking-id map and
/// the mail map.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateConfig {
    /// `sqlite` (the default: `gateway.sqlite` in the data directory) or `postgres`.
    pub backend: StateBackend,
    /// The PostgreSQL connection URL (`postgres://user:password@host:5432/db`); usually
    /// `"${TICKETGATE_POSTGRES_URL}"`.
    pub url: Option<String>,
    /// PostgreSQL connections per gateway process.
    pub pool_size: usize,
    /// How long a claimed outbox item stays with the gateway that claimed it; a killed
    /// gateway's items go to the others after this. Longer than the slowest delivery.
    pub lease_secs: f64,
    /// Connecting, and waiting for a pooled connection.
    pub connect_timeout_ms: u64,
    /// The longest one statement may take before the state counts as unavailable.
    pub statement_timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateBackend {
    #[default]
    Sqlite,
    Postgres,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            backend: StateBackend::Sqlite,
            url: None,
            pool_size: 16,
            lease_secs: 60.0,
            connect_timeout_ms: 3_000,
            statement_timeout_ms: 15_000,
        }
    }
}

/// The URL may hold a password: shown as set or not.
impl std::fmt::Debug for StateConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateConfig")
            .field("backend", &self.backend)
            .field(
                "url",
                &self
                    .url
                    .as_deref()
                    .map(ticketgate_store::state::postgres::redact),
            )
            .field("pool_size", &self.pool_size)
            .field("lease_secs", &self.lease_secs)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("statement_timeout_ms", &self.statement_timeout_ms)
            .finish()
    }
}

impl StateConfig {
    /// The PostgreSQL options, when the backend is PostgreSQL.
    pub fn postgres(&self) -> Option<ticketgate_store::PgOptions> {
        let url = self.url.as_ref()?;
        (self.backend == StateBackend::Postgres).then(|| ticketgate_store::PgOptions {
            url: url.clone(),
            pool_size: self.pool_size,
            lease: std::time::Duration::from_secs_f64(self.lease_secs),
            connect_timeout: std::time::Duration::from_millis(self.connect_timeout_ms),
            statement_timeout: std::time::Duration::from_millis(self.statement_timeout_ms),
        })
    }
}

/// How long records that only serve to recognise a repeat are kept, and how often
/// older ones are pruned.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Idempotency records and the embedded store's delivery keys (Stripe keeps
    /// idempotency keys 24 hours): a retry later than this is a new request.
    pub idempotency_hours: f64,
    /// Delivered outbox items (and with them the `q-…` tracking ids' answers).
    pub delivered_hours: f64,
    /// Mail keys (the Message-IDs and digests that recognise a redelivered message and
    /// thread a reply by its References). 0 keeps them forever.
    pub mail_days: f64,
    /// How often the pruning runs.
    pub prune_interval_secs: f64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            idempotency_hours: 24.0,
            delivered_hours: 24.0,
            mail_days: 400.0,
            prune_interval_secs: 600.0,
        }
    }
}

impl RetentionConfig {
    pub fn idempotency(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.idempotency_hours * 3600.0)
    }
    pub fn delivered(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.delivered_hours * 3600.0)
    }
    /// `None`: mail keys are kept forever.
    pub fn mail(&self) -> Option<std::time::Duration> {
        (self.mail_days > 0.0)
            .then(|| std::time::Duration::from_secs_f64(self.mail_days * 86_400.0))
    }
    pub fn prune_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.prune_interval_secs)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The operations listener (`/metrics`, `/readyz`, `/healthz`), kept off the
    /// public one so only the monitoring network reaches it.
    pub admin_listen: SocketAddr,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` say who the client is; from any
    /// other peer those headers are ignored.
    pub trusted_proxies: Vec<Cidr>,
    pub data_dir: PathBuf,
    /// Connections beyond this wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Requests being handled at once, all connections together; beyond it a request
    /// is shed at once with 503 and `Retry-After` (in its dialect) instead of queueing.
    pub max_in_flight: usize,
    /// Time allowed to send the request head (cuts slow-loris clients).
    pub header_read_timeout_ms: u64,
    /// Deadline for a whole request, body and upstream call included.
    pub request_timeout_ms: u64,
    /// Time in-flight requests get to finish on shutdown.
    pub shutdown_grace_ms: u64,
    /// Largest request head (request line + headers) in bytes.
    pub max_header_bytes: usize,
    pub max_headers: usize,
    /// Log format: `text` or `json`.
    pub log_format: String,
    /// HTTPS on both listeners (see [`crate::tls`]); none: plain HTTP.
    pub tls: Option<crate::tls::TlsConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            trusted_proxies: Vec::new(),
            data_dir: PathBuf::from("./data"),
            max_connections: 20_000,
            max_in_flight: 4_096,
            header_read_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            shutdown_grace_ms: 10_000,
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            log_format: "text".into(),
            tls: None,
        }
    }
}

/// Body-size limits per route class.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub body_bytes: usize,
    pub email_bytes: usize,
    pub upload_bytes: usize,
    /// The most body a request whose head carries no checked credential may send (its
    /// credentials may travel in the body, as in an ITSM-NG login form).
    pub unauthenticated_body_bytes: usize,
    /// Request body bytes buffered at once, all requests together; a body that would
    /// go over it is refused with 503 and `Retry-After`.
    pub buffered_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: 1024 * 1024,
            email_bytes: 25 * 1024 * 1024,
            upload_bytes: 25 * 1024 * 1024,
            unauthenticated_body_bytes: 64 * 1024,
            buffered_bytes: 512 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GlobalRateLimits {
    /// All requests together, whoever sends them.
    pub global: Rate,
    /// Failed authentication attempts per client address.
    pub failed_auth: Rate,
    /// Consumer quotas and the failed-authentication limiter kept in Redis, so that
    /// several gateways draw on one quota. Absent: every limit is local.
    pub shared: Option<SharedLimitsConfig>,
}

/// `[rate_limits.shared]`: where the shared limit state lives and what to do without it.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedLimitsConfig {
    /// Only `"redis"` today.
    pub backend: SharedBackend,
    /// `redis://[:password@]host[:port][/db]` (or `rediss://`); usually `${TICKETGATE_REDIS_URL}`.
    pub url: String,
    /// What a decision does while Redis cannot be reached.
    #[serde(default)]
    pub on_unavailable: OnUnavailable,
    /// The most one decision waits for Redis before it counts as unreachable.
    #[serde(default = "default_shared_timeout_ms")]
    pub timeout_ms: u64,
    /// Prefix of every key ticketgate writes, so several deployments can share one Redis.
    #[serde(default = "default_shared_prefix")]
    pub key_prefix: String,
}

// The URL may carry a password: it is never printed.
impl std::fmt::Debug for SharedLimitsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimitsConfig")
            .field("backend", &self.backend)
            .field("url", &"<redacted>")
            .field("on_unavailable", &self.on_unavailable)
            .field("timeout_ms", &self.timeout_ms)
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SharedBackend {
    Redis,
}

/// Fail open on each gateway's own limiter, or fail closed with a retryable 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnavailable {
    #[default]
    Local,
    Refuse,
}

impl OnUnavailable {
    pub fn as_str(self) -> &'static str {
        match self {
            OnUnavailable::Local => "local",
            OnUnavailable::Refuse => "refuse",
        }
    }
}

fn default_shared_timeout_ms() -> u64 {
    100
}

fn default_shared_prefix() -> String {
    "ticketgate".into()
}

impl Default for GlobalRateLimits {
    fn default() -> Self {
        Self {
            global: Rate {
                per_second: 20_000.0,
                burst: 40_000,
            },
            failed_auth: Rate {
                per_second: 0.5,
                burst: 20,
            },
            shared: None,
        }
    }
}

/// A GCRA quota: a sustained rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

/// One `[[consumers]]` entry: the fields every consumer has, and the keys the vendors
/// declare (`osticket_key`, `rt_token`, …, see `ticketgate_model::ConsumerKey`), which
/// no code here names: a key no vendor declares is refused like an unknown field.
#[derive(Clone)]
pub struct ConsumerConfig {
    pub name: String,
    /// Canonical API: `Authorization: Bearer KEY`.
    pub bearer_key: Option<String>,
    /// A verified client certificate (`server.tls.client_ca`) naming this subject
    /// (`CN=…`, the whole subject, or a `DNS:` / `email:` / `URI:` / `IP:` alternative
    /// name) is this consumer's credential in every dialect; its keys, if it has any,
    /// are then accepted only over a connection with that certificate.
    pub tls_subject: Option<String>,
    pub permissions: Vec<PermissionName>,
    /// Source networks allowed to use this consumer's credentials (empty: anywhere).
    pub networks: Vec<Cidr>,
    pub quota: Quotas,
    /// The upstream serving this consumer (default: `routing.default`).
    pub upstream: Option<String>,
    /// The vendors' keys this consumer sets.
    pub keys: Vec<(ConsumerKey, String)>,
}

/// The keys every consumer has; the vendors' keys follow them in error messages.
pub const CONSUMER_FIELDS: &[&str] = &[
    "name",
    "bearer_key",
    "tls_subject",
    "permissions",
    "networks",
    "quota",
    "upstream",
];

impl ConsumerConfig {
    /// Every key this consumer sets, with its kind: `bearer_key`, then the vendors'.
    pub fn all_keys(&self) -> impl Iterator<Item = (ConsumerKey, &str)> {
        self.bearer_key
            .as_deref()
            .map(|v| (crate::vendors::BEARER_KEY, v))
            .into_iter()
            .chain(self.keys.iter().map(|(k, v)| (*k, v.as_str())))
    }

    /// The values this consumer sets of one kind, by configuration key.
    pub fn keys_of(&self, kind: KeyKind) -> impl Iterator<Item = (&'static str, &str)> {
        self.all_keys()
            .filter(move |(k, _)| k.kind == kind)
            .map(|(k, v)| (k.name, v))
    }

    /// The secret tokens this consumer can present, by configuration key: what makes a
    /// demo key, and what a mail consumer should not have.
    pub fn tokens(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.keys_of(KeyKind::Token)
    }

    /// True when some credential presented over HTTP names this consumer (a token, a
    /// verified identity, a login; a client certificate is not counted).
    pub fn has_http_credential(&self) -> bool {
        self.all_keys().any(|(k, _)| k.kind != KeyKind::Secret)
    }

    /// The value of one of this consumer's keys (`None` when unset or not a key).
    pub fn value(&self, key: &str) -> Option<&str> {
        if key == "tls_subject" {
            return self.tls_subject.as_deref();
        }
        self.all_keys().find(|(k, _)| k.name == key).map(|(_, v)| v)
    }

    /// Every value that must name one consumer only: the tokens, the logins, and the
    /// names a verified JWT or client certificate carries.
    fn identities(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.all_keys()
            .filter(|(k, _)| k.kind != KeyKind::Secret)
            .map(|(k, v)| (k.name, v))
            .chain(self.tls_subject.as_deref().map(|v| ("tls_subject", v)))
    }
}

/// Credentials are shown as set or not, never their values; identities and logins are
/// shown.
impl std::fmt::Debug for ConsumerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("ConsumerConfig");
        d.field("name", &self.name);
        for (k, v) in self.all_keys() {
            match k.kind {
                KeyKind::Token | KeyKind::Secret => d.field(k.name, &"<redacted>"),
                KeyKind::Identity | KeyKind::Login => d.field(k.name, &v),
            };
        }
        d.field("tls_subject", &self.tls_subject)
            .field("permissions", &self.permissions)
            .field("networks", &self.networks)
            .field("quota", &self.quota)
            .field("upstream", &self.upstream)
            .finish()
    }
}

impl<'de> Deserialize<'de> for ConsumerConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> serde::de::Visitor<'de> for Entry {
            type Value = ConsumerConfig;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a consumer")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ConsumerConfig, A::Error> {
                use serde::de::Error as _;
                let (mut name, mut permissions) = (None, None);
                let mut c = ConsumerConfig {
                    name: String::new(),
                    bearer_key: None,
                    tls_subject: None,
                    permissions: Vec::new(),
                    networks: Vec::new(),
                    quota: Quotas::default(),
                    upstream: None,
                    keys: Vec::new(),
                };
                while let Some(key) = map.next_key_seed(ConsumerKeyName)? {
                    match key {
                        Key::Field("name") => name = Some(map.next_value()?),
                        Key::Field("bearer_key") => c.bearer_key = map.next_value()?,
                        Key::Field("tls_subject") => c.tls_subject = map.next_value()?,
                        Key::Field("permissions") => permissions = Some(map.next_value()?),
                        Key::Field("networks") => c.networks = map.next_value()?,
                        Key::Field("quota") => c.quota = map.next_value()?,
                        Key::Field("upstream") => c.upstream = map.next_value()?,
                        // A name of CONSUMER_FIELDS without its line above.
                        Key::Field(other) => {
                            return Err(A::Error::custom(format!(
                                "consumers.{other} is a known field that is not read"
                            )));
                        }
                        Key::Vendor(k) => {
                            let v: String = map.next_value()?;
                            c.keys.push((k, v));
                        }
                    }
                }
                c.name = name.ok_or_else(|| A::Error::missing_field("name"))?;
                c.permissions =
                    permissions.ok_or_else(|| A::Error::missing_field("permissions"))?;
                Ok(c)
            }
        }
        d.deserialize_map(Entry)
    }
}

/// A key of `[[consumers]]`: a field of every consumer, or a key a vendor declares.
enum Key {
    Field(&'static str),
    Vendor(ConsumerKey),
}

/// Reads a `[[consumers]]` key, refusing (with the key, line and column) one that is
/// neither a field nor a vendor's.
struct ConsumerKeyName;

impl<'de> serde::de::DeserializeSeed<'de> for ConsumerKeyName {
    type Value = Key;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        let name = String::deserialize(d)?;
        if let Some(field) = CONSUMER_FIELDS.iter().find(|f| **f == name) {
            return Ok(Key::Field(field));
        }
        match crate::vendors::consumer_key(&name) {
            Some(k) => Ok(Key::Vendor(k)),
            None => Err(serde::de::Error::custom(format!(
                "unknown field `{name}`, expected one of {}",
                CONSUMER_FIELDS
                    .iter()
                    .copied()
                    .chain(crate::vendors::consumer_keys().map(|k| k.name))
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PermissionName(pub Permission);

impl<'de> Deserialize<'de> for PermissionName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Permission::parse(&s).map(PermissionName).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown permission {s:?} (known: create, read, update, search, delete, stats, subtickets)"
            ))
        })
    }
}

/// Per-class quotas of one consumer.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Quotas {
    pub create: Rate,
    pub read: Rate,
    pub write: Rate,
    pub search: Rate,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            create: Rate {
                per_second: 50.0,
                burst: 50,
            },
            read: Rate {
                per_second: 500.0,
                burst: 500,
            },
            write: Rate {
                per_second: 100.0,
                burst: 100,
            },
            search: Rate {
                per_second: 100.0,
                burst: 100,
            },
        }
    }
}

pub use ticketgate_model::Cidr;

/// Which dialects are mounted, and where. A dialect absent from the file is not mounted.
/// `canonical` is the gateway's own; every other dialect belongs to a vendor of the
/// registry (`vendors.rs`), whose crate parses its own `[dialects.NAME]` table.
#[derive(Clone, Default)]
pub struct Dialects {
    pub canonical: Option<CanonicalDialect>,
    /// The vendors' dialects present in the file, in the registry's order.
    pub vendors: Vec<(&'static str, Arc<dyn DialectConfig>)>,
    /// The vendors' dialects named in the file, before their crates read their tables.
    named: Vec<&'static str>,
}

impl Dialects {
    /// A vendor's parsed `[dialects.NAME]`, as that vendor's configuration type.
    pub fn get<T: 'static>(&self, name: &str) -> Option<&T> {
        self.vendors
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, c)| c.as_any().downcast_ref())
    }

    /// Let each named vendor parse its table out of the (expanded) document.
    fn read_vendors(&mut self, document: &str) -> Result<(), String> {
        for vendor in crate::vendors::VENDORS {
            if self.named.contains(&vendor.name())
                && let Some(c) = vendor.server(document)?
            {
                self.vendors.push((vendor.name(), c));
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for Dialects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Dialects");
        d.field("canonical", &self.canonical);
        for (name, c) in &self.vendors {
            d.field(name, c);
        }
        d.finish()
    }
}

impl<'de> Deserialize<'de> for Dialects {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Tables;
        impl<'de> serde::de::Visitor<'de> for Tables {
            type Value = Dialects;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a table of dialects")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Dialects, A::Error> {
                let mut out = Dialects::default();
                while let Some(name) = map.next_key_seed(DialectName)? {
                    match name {
                        None => out.canonical = map.next_value()?,
                        Some(vendor) => {
                            // Read by the vendor's crate once the whole file is parsed.
                            map.next_value::<serde::de::IgnoredAny>()?;
                            out.named.push(vendor);
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(Tables)
    }
}

/// A key under `[dialects]`: `canonical` (`None`) or a vendor of the registry.
struct DialectName;

impl<'de> serde::de::DeserializeSeed<'de> for DialectName {
    type Value = Option<&'static str>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let name = String::deserialize(d)?;
        if name == "canonical" {
            return Ok(None);
        }
        match crate::vendors::vendor(&name) {
            Some(v) => Ok(Some(v.name())),
            None => Err(serde::de::Error::custom(format!(
                "unknown field `{name}`, expected one of {}",
                one_of(std::iter::once("canonical"))
            ))),
        }
    }
}

/// `` `a`, `b`, `c` ``: the given names, then every vendor's.
fn one_of(first: impl Iterator<Item = &'static str>) -> String {
    first
        .chain(crate::vendors::VENDORS.iter().map(|v| v.name()))
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CanonicalDialect {
    pub prefix: String,
}

impl Default for CanonicalDialect {
    fn default() -> Self {
        Self {
            prefix: "/v1".into(),
        }
    }
}

/// One upstream helpdesk and how it is protected.
#[derive(Debug, Clone, Deserialize)]
pub struct UpstreamConfig {
    #[serde(flatten)]
    pub kind: UpstreamKind,
    #[serde(default)]
    pub protection: Protection,
}

#[derive(Debug, Clone)]
pub enum UpstreamKind {
    /// The embedded SQLite helpdesk in the data directory.
    Embedded {
        /// `full` (default) or `normal`: see the README on durability.
        durability: Option<String>,
        /// The store's file, relative to the data directory (default `helpdesk.sqlite`):
        /// several embedded upstreams each need their own.
        path: Option<String>,
    },
    /// Another ticketgate's canonical API (gateways chained: edge → central).
    Ticketgate(crate::upstream::remote::RemoteConfig),
    /// A real vendor's helpdesk (`kind` is a vendor of the registry, `vendors.rs`),
    /// configured as that vendor's crate parsed it.
    Vendor {
        kind: &'static str,
        config: Arc<dyn UpstreamSpec>,
    },
}

impl UpstreamKind {
    /// The `kind` as written in the file.
    pub fn name(&self) -> &'static str {
        match self {
            UpstreamKind::Embedded { .. } => "embedded",
            UpstreamKind::Ticketgate(_) => "ticketgate",
            UpstreamKind::Vendor { kind, .. } => kind,
        }
    }

    /// A vendor upstream's configuration, as that vendor's configuration type.
    pub fn vendor_config<T: 'static>(&self) -> Option<&T> {
        match self {
            UpstreamKind::Vendor { config, .. } => config.as_any().downcast_ref(),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for UpstreamKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        #[derive(Deserialize)]
        struct EmbeddedTable {
            #[serde(default)]
            durability: Option<String>,
            #[serde(default)]
            path: Option<String>,
        }
        let mut table = toml::Table::deserialize(d)?;
        let kind = match table.remove("kind") {
            Some(k) => String::deserialize(k).map_err(D::Error::custom)?,
            None => return Err(D::Error::missing_field("kind")),
        };
        let parsed = match kind.as_str() {
            "embedded" => upstream_table::<EmbeddedTable>(table).map(|e| UpstreamKind::Embedded {
                durability: e.durability,
                path: e.path,
            }),
            "ticketgate" => upstream_table(table).map(UpstreamKind::Ticketgate),
            other => match crate::vendors::vendor(other) {
                Some(v) => v.client(table).map(|config| UpstreamKind::Vendor {
                    kind: v.name(),
                    config,
                }),
                None => Err(format!(
                    "unknown variant `{other}`, expected one of {}",
                    one_of(["embedded", "ticketgate"].into_iter())
                )),
            },
        };
        parsed.map_err(D::Error::custom)
    }
}

/// How an upstream is shielded from bursts and failures.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Protection {
    /// Calls per second toward the upstream (none: unlimited).
    pub rate: Option<Rate>,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Callers allowed to wait for a slot; beyond that a call is refused at once.
    pub queue: usize,
    /// Longest wait for a slot.
    pub queue_timeout_ms: u64,
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long an open circuit refuses calls before one probe is let through.
    pub open_ms: u64,
    /// Deadline of one upstream call.
    pub call_timeout_ms: u64,
}

impl Default for Protection {
    fn default() -> Self {
        Self {
            rate: None,
            concurrency: 64,
            queue: 1024,
            queue_timeout_ms: 5_000,
            failure_threshold: 5,
            open_ms: 5_000,
            call_timeout_ms: 15_000,
        }
    }
}

fn default_upstreams() -> BTreeMap<String, UpstreamConfig> {
    BTreeMap::from([(
        "embedded".to_owned(),
        UpstreamConfig {
            kind: UpstreamKind::Embedded {
                durability: None,
                path: None,
            },
            protection: Protection::default(),
        },
    )])
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Routing {
    /// The upstream of consumers that name none, and of creates no rule matches.
    pub default: String,
    /// `[[routing.rules]]`: evaluated in order for each create; the first that matches
    /// names the upstream. None matching: the consumer's `upstream`, then `default`.
    pub rules: Vec<RoutingRule>,
    /// Gateway ids given to tickets of an upstream other than a consumer's own start
    /// above this, so they never collide with the ids that upstream hands out.
    pub id_base: u64,
    /// `[routing.mirror]`: the cutover mode. Writes go to `primary` and then to
    /// `secondary`; reads come from `primary` (see `mirror.rs`).
    pub mirror: Option<Mirror>,
}

/// `[routing.mirror]`: while cutting over from one helpdesk to another, every write to
/// a ticket of either goes to `primary` and, once it succeeded, to `secondary`; reads
/// come from `primary`. Swapping the two (and reloading) switches the cutover.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Mirror {
    pub primary: String,
    pub secondary: String,
}

impl Default for Routing {
    fn default() -> Self {
        Self {
            default: "embedded".into(),
            rules: Vec::new(),
            id_base: 1_000_000_000,
            mirror: None,
        }
    }
}

/// One routing rule: every condition it names must hold (names compare without regard
/// to case); a rule names at least one.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    /// The upstream a matching create goes to.
    pub upstream: String,
    pub consumer: Option<String>,
    /// `canonical`, `osticket`, `itsmng`, `ticketsapi` or `rt`.
    pub dialect: Option<String>,
    /// The ticket's department (by name or id).
    pub department: Option<String>,
    pub category: Option<String>,
    /// osTicket's help topic.
    pub topic: Option<String>,
    /// Request Tracker's queue: the canonical department, as the RT face reads it.
    pub queue: Option<String>,
    /// The requester's address.
    pub requester: Option<String>,
    /// The domain of the requester's address (`example.com`).
    pub requester_domain: Option<String>,
    /// A request header and the value it must have.
    pub header: Option<HeaderMatch>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    pub name: String,
    pub value: String,
}

/// The dialects a rule may name: the canonical API and every registered vendor's.
pub fn dialect_names() -> impl Iterator<Item = &'static str> {
    std::iter::once("canonical").chain(crate::vendors::VENDORS.iter().map(|v| v.name()))
}

impl RoutingRule {
    /// True when the rule names no condition at all.
    pub fn is_empty(&self) -> bool {
        self.consumer.is_none()
            && self.dialect.is_none()
            && self.department.is_none()
            && self.category.is_none()
            && self.topic.is_none()
            && self.queue.is_none()
            && self.requester.is_none()
            && self.requester_domain.is_none()
            && self.header.is_none()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    pub max_attempts: u32,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// How often the worker looks for due items when nothing wakes it.
    pub poll_ms: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            max_attempts: 20,
            initial_backoff_ms: 500,
            max_backoff_ms: 300_000,
            poll_ms: 1_000,
        }
    }
}

/// The largest configuration read: a real one is a few kilobytes, and every step of
/// reading it (expansion, TOML, validation) is linear in its size.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

impl Config {
    /// Read, expand and validate a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let raw = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&raw, &|name| std::env::var(name).ok()).map_err(|message| {
            ConfigError::Invalid {
                path: path.display().to_string(),
                message,
            }
        })
    }

    /// Parse configuration text, with `env` answering `${NAME}` look-ups.
    pub fn parse(raw: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        if raw.len() > MAX_CONFIG_BYTES {
            return Err(format!(
                "the configuration is {} bytes; at most {MAX_CONFIG_BYTES} are read",
                raw.len()
            ));
        }
        let expanded = expand_env(raw, env)?;
        let mut config: Config = toml::from_str(&expanded).map_err(|e| e.to_string())?;
        config.dialects.read_vendors(&expanded)?;
        config.validate(raw)?;
        Ok(config)
    }

    fn validate(&self, raw: &str) -> Result<(), String> {
        let at = |needle: &str| {
            line_of(raw, needle)
                .map(|l| format!(" (line {l})"))
                .unwrap_or_default()
        };
        if !self.upstreams.contains_key(&self.routing.default) {
            return Err(format!(
                "routing.default names upstream {:?}, which is not defined under [upstreams]{}",
                self.routing.default,
                at("default")
            ));
        }
        self.validate_routing(&at)?;
        let client_ca = self
            .server
            .tls
            .as_ref()
            .is_some_and(|t| t.client_ca.is_some());
        if let Some(c) = self.consumers.iter().find(|c| c.tls_subject.is_some())
            && !client_ca
        {
            return Err(format!(
                "consumers.tls_subject of {:?} needs server.tls.client_ca: without it no client certificate is asked for{}",
                c.name,
                at("tls_subject")
            ));
        }
        let mut names = std::collections::HashSet::new();
        for c in &self.consumers {
            if c.name.trim().is_empty() {
                return Err(format!("consumers.name cannot be empty{}", at("name")));
            }
            if !names.insert(c.name.as_str()) {
                return Err(format!(
                    "consumer {:?} is defined twice{}",
                    c.name,
                    at(&c.name)
                ));
            }
            if let Some(u) = &c.upstream
                && !self.upstreams.contains_key(u)
            {
                return Err(format!(
                    "consumers.upstream of {:?} names upstream {u:?}, which is not defined{}",
                    c.name,
                    at(u)
                ));
            }
            for (class, rate) in [
                ("create", c.quota.create),
                ("read", c.quota.read),
                ("write", c.quota.write),
                ("search", c.quota.search),
            ] {
                validate_rate(rate).map_err(|m| {
                    format!("consumers.quota.{class} of {:?}: {m}{}", c.name, at(class))
                })?;
            }
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.consumers {
            for (key, v) in c.identities() {
                if !seen.insert((key, v)) {
                    return Err(format!(
                        "consumers.{key}: two consumers share the same value; each credential must map onto one consumer{}",
                        at(key)
                    ));
                }
            }
        }
        let largest = self
            .limits
            .body_bytes
            .max(self.limits.email_bytes)
            .max(self.limits.upload_bytes);
        if self.limits.buffered_bytes < largest {
            // Else a body within its route's limit would be refused as "busy" forever.
            return Err(format!(
                "limits.buffered_bytes ({}) must be at least the largest body limit ({largest}){}",
                self.limits.buffered_bytes,
                at("buffered_bytes")
            ));
        }
        for (key, v) in [
            (
                "retention.idempotency_hours",
                self.retention.idempotency_hours,
            ),
            ("retention.delivered_hours", self.retention.delivered_hours),
            (
                "retention.prune_interval_secs",
                self.retention.prune_interval_secs,
            ),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!(
                    "{key} must be a positive number{}",
                    at(key.rsplit('.').next().unwrap_or(key))
                ));
            }
        }
        let mail_days = self.retention.mail_days;
        if !(mail_days.is_finite() && mail_days >= 0.0) {
            return Err(format!(
                "retention.mail_days must be 0 (keep) or a positive number{}",
                at("mail_days")
            ));
        }
        match (self.state.backend, &self.state.url) {
            (StateBackend::Postgres, None) => {
                return Err(format!(
                    "state.backend = \"postgres\" needs state.url (e.g. url = \"${{TICKETGATE_POSTGRES_URL}}\"){}",
                    at("backend")
                ));
            }
            (StateBackend::Postgres, Some(url)) => {
                ticketgate_store::state::postgres::check_url(url)
                    .map_err(|m| format!("state.url is {m}{}", at("url")))?;
            }
            (StateBackend::Sqlite, Some(_)) => {
                return Err(format!(
                    "state.url is only used with state.backend = \"postgres\"{}",
                    at("url")
                ));
            }
            (StateBackend::Sqlite, None) => {}
        }
        if self.state.pool_size == 0 {
            return Err(format!(
                "state.pool_size must be at least 1{}",
                at("pool_size")
            ));
        }
        if !(self.state.lease_secs.is_finite() && self.state.lease_secs >= 1.0) {
            return Err(format!(
                "state.lease_secs must be at least 1 (longer than the slowest delivery){}",
                at("lease_secs")
            ));
        }
        if self.state.connect_timeout_ms == 0 || self.state.statement_timeout_ms == 0 {
            return Err(format!(
                "state.connect_timeout_ms and state.statement_timeout_ms must be positive{}",
                at("timeout_ms")
            ));
        }
        if let Some(p) = &self.pipe.consumer
            && !names.contains(p.as_str())
        {
            return Err(format!(
                "pipe.consumer names consumer {p:?}, which is not defined{}",
                at("consumer")
            ));
        }
        validate_rate(self.rate_limits.global)
            .map_err(|m| format!("rate_limits.global: {m}{}", at("global")))?;
        validate_rate(self.rate_limits.failed_auth)
            .map_err(|m| format!("rate_limits.failed_auth: {m}{}", at("failed_auth")))?;
        if let Some(shared) = &self.rate_limits.shared {
            validate_shared(shared).map_err(|m| format!("rate_limits.shared.{m}"))?;
        }
        let mut embedded_files = std::collections::HashMap::new();
        for (name, u) in &self.upstreams {
            if let Some(rate) = u.protection.rate {
                validate_rate(rate)
                    .map_err(|m| format!("upstreams.{name}.protection.rate: {m}{}", at("rate")))?;
            }
            if u.protection.concurrency == 0 {
                return Err(format!(
                    "upstreams.{name}.protection.concurrency must be at least 1{}",
                    at("concurrency")
                ));
            }
            if let UpstreamKind::Embedded { path, .. } = &u.kind {
                let file = path.as_deref().unwrap_or("helpdesk.sqlite");
                if file.trim().is_empty() || file == "gateway.sqlite" {
                    return Err(format!(
                        "upstreams.{name}.path must name a file of its own{}",
                        at("path")
                    ));
                }
                if let Some(other) = embedded_files.insert(file.to_owned(), name) {
                    return Err(format!(
                        "upstreams {other:?} and {name:?} are embedded stores in the same file {file:?}: give one a path of its own{}",
                        at("path")
                    ));
                }
            }
            if let UpstreamKind::Embedded {
                durability: Some(d),
                ..
            } = &u.kind
                && d != "full"
                && d != "normal"
            {
                return Err(format!(
                    "upstreams.{name}.durability must be \"full\" or \"normal\", not {d:?}{}",
                    at("durability")
                ));
            }
        }
        let consumers: Vec<&str> = self.consumers.iter().map(|c| c.name.as_str()).collect();
        for (dialect, d) in &self.dialects.vendors {
            d.validate(&ConfigContext {
                consumers: &consumers,
            })
            .map_err(|e| {
                format!(
                    "dialects.{dialect}.{}{}",
                    e.message,
                    at(e.near.as_deref().unwrap_or(dialect))
                )
            })?;
        }
        if !matches!(self.server.log_format.as_str(), "text" | "json") {
            return Err(format!(
                "server.log_format must be \"text\" or \"json\"{}",
                at("log_format")
            ));
        }
        let mut prefixes = std::collections::HashSet::new();
        for (dialect, prefix) in self.mounts() {
            if !prefix.starts_with('/') || prefix.len() < 2 || prefix.ends_with('/') {
                return Err(format!(
                    "dialects.{dialect}.prefix {prefix:?} must start with / and not end with /{}",
                    at("prefix")
                ));
            }
            if !prefixes.insert(prefix.clone()) {
                return Err(format!(
                    "dialects.{dialect}.prefix {prefix:?} is mounted twice{}",
                    at(&prefix)
                ));
            }
        }
        Ok(())
    }

    /// `(dialect, prefix)` of every mounted dialect.
    pub fn mounts(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(c) = &self.dialects.canonical {
            out.push(("canonical", c.prefix.clone()));
        }
        for (dialect, c) in &self.dialects.vendors {
            out.push((*dialect, c.prefix().to_owned()));
        }
        out
    }

    /// Warnings that do not stop the gateway but that an operator should see.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        // An identity verified with a published secret (a JWT signed with a demo
        // secret) is as public as a demo key.
        let demo_identities: Vec<&str> = self
            .dialects
            .vendors
            .iter()
            .filter_map(|(_, d)| d.demo_identity())
            .collect();
        for c in &self.consumers {
            let demo = c.tokens().any(|(_, k)| k.starts_with("demo-"))
                || demo_identities.iter().any(|k| c.value(k).is_some());
            let loopback_only =
                !c.networks.is_empty() && c.networks.iter().all(Cidr::is_loopback_only);
            if demo && !loopback_only {
                out.push(format!(
                    "consumer {:?} has a demo key and is reachable from beyond loopback: restrict its networks or change its keys",
                    c.name
                ));
            }
        }
        // Piped mail has no network peer: the consumer it acts as needs no HTTP
        // credential, and one usable from beyond loopback would let anyone who learns it
        // act as the mail server.
        if let Some(pipe) = self.pipe.consumer.as_deref()
            && let Some(c) = self.consumers.iter().find(|c| c.name == pipe)
        {
            let has_http_credential = c.has_http_credential();
            let loopback_only =
                !c.networks.is_empty() && c.networks.iter().all(Cidr::is_loopback_only);
            if has_http_credential && !loopback_only {
                out.push(format!(
                    "consumer {pipe:?} (pipe.consumer) has an HTTP credential and is reachable from beyond loopback: piped mail needs no credential, remove it or restrict its networks"
                ));
            }
        }
        if !self.server.listen.ip().is_loopback()
            && self.consumers.iter().any(|c| c.networks.is_empty())
        {
            out.push(
                "the gateway listens beyond loopback and some consumers have no network restriction".into(),
            );
        }
        if !self.server.admin_listen.ip().is_loopback() {
            out.push(format!(
                "server.admin_listen ({}) is beyond loopback: /metrics and /readyz answer without authentication, so only your monitoring should reach it",
                self.server.admin_listen
            ));
        }
        if self.state.backend == StateBackend::Postgres {
            let slowest = self
                .upstreams
                .values()
                .map(|u| u.protection.call_timeout_ms)
                .max()
                .unwrap_or(0);
            if self.state.lease_secs * 1000.0 <= slowest as f64 {
                out.push(format!(
                    "state.lease_secs ({}) is not longer than the slowest upstream call ({slowest} ms): a delivery still under way may be sent again by another gateway (upstreams that recognise the delivery key still make one ticket of it)",
                    self.state.lease_secs
                ));
            }
        }
        if self.server.trusted_proxies.iter().any(Cidr::is_everything) {
            out.push(
                "server.trusted_proxies trusts every address: any client can then choose the address it is counted and checked as".into(),
            );
        }
        out
    }
}

impl Config {
    /// True when ids may belong to more than one upstream, so every id handed out goes
    /// through the id map (see `routing.rs`).
    pub fn multi_upstream(&self) -> bool {
        self.upstreams.len() > 1
    }

    /// The operations an upstream of this kind can do at all, known without calling it:
    /// only a core-mode osTicket lacks any (it can only create).
    fn create_only(kind: &UpstreamKind) -> bool {
        matches!(kind, UpstreamKind::Vendor { config, .. } if config.create_only())
    }

    fn validate_mirror(&self, at: &dyn Fn(&str) -> String) -> Result<(), String> {
        let Some(m) = &self.routing.mirror else {
            return Ok(());
        };
        for (role, name) in [("primary", &m.primary), ("secondary", &m.secondary)] {
            let Some(u) = self.upstreams.get(name) else {
                return Err(format!(
                    "routing.mirror.{role} names upstream {name:?}, which is not defined under [upstreams]{}",
                    at(name)
                ));
            };
            if Self::create_only(&u.kind) {
                return Err(format!(
                    "routing.mirror.{role} names upstream {name:?}, which can only create: the updates, replies and status changes mirrored to it could not be applied, and it could not serve reads{}",
                    at(name)
                ));
            }
        }
        if m.primary == m.secondary {
            return Err(format!(
                "routing.mirror mirrors upstream {:?} onto itself: name two different upstreams{}",
                m.primary,
                at("[routing.mirror]")
            ));
        }
        Ok(())
    }

    fn validate_routing(&self, at: &dyn Fn(&str) -> String) -> Result<(), String> {
        self.validate_mirror(at)?;
        let rules = &self.routing.rules;
        if rules.is_empty() {
            return Ok(());
        }
        if self.routing.id_base == 0 || self.routing.id_base > i64::MAX as u64 / 2 {
            return Err(format!(
                "routing.id_base must be between 1 and {}{}",
                i64::MAX / 2,
                at("id_base")
            ));
        }
        let consumers: std::collections::HashSet<&str> =
            self.consumers.iter().map(|c| c.name.as_str()).collect();
        for (i, rule) in rules.iter().enumerate() {
            let n = i + 1;
            let Some(upstream) = self.upstreams.get(&rule.upstream) else {
                return Err(format!(
                    "routing rule {n} names upstream {:?}, which is not defined under [upstreams]{}",
                    rule.upstream,
                    at(&rule.upstream)
                ));
            };
            if rule.is_empty() {
                return Err(format!(
                    "routing rule {n} has no condition, so it would take every create and leave routing.default and the rules after it unused: give it a condition or make {:?} routing.default{}",
                    rule.upstream,
                    at("[[routing.rules]]")
                ));
            }
            if let Some(c) = &rule.consumer
                && !consumers.contains(c.as_str())
            {
                return Err(format!(
                    "routing rule {n} names consumer {c:?}, which is not defined{}",
                    at(c)
                ));
            }
            if let Some(d) = &rule.dialect
                && !dialect_names().any(|n| n == d)
            {
                return Err(format!(
                    "routing rule {n} names dialect {d:?}; the dialects are {}{}",
                    dialect_names().collect::<Vec<_>>().join(", "),
                    at(d)
                ));
            }
            if let Some(h) = &rule.header
                && http::HeaderName::from_bytes(h.name.as_bytes()).is_err()
            {
                return Err(format!(
                    "routing rule {n}: {:?} is not a header name{}",
                    h.name,
                    at(&h.name)
                ));
            }
            if Self::create_only(&upstream.kind) {
                return Err(format!(
                    "routing rule {n} sends creates to upstream {:?}, which can only create: reading, updating or replying to the tickets it gets would have no upstream{}",
                    rule.upstream,
                    at(&rule.upstream)
                ));
            }
        }
        // Every ticket routed elsewhere must still be found: the upstreams that serve
        // consumers by default take the operations no id names (search, statistics).
        let homes = std::iter::once(&self.routing.default)
            .chain(self.consumers.iter().filter_map(|c| c.upstream.as_ref()));
        for home in homes {
            if let Some(u) = self.upstreams.get(home)
                && Self::create_only(&u.kind)
            {
                return Err(format!(
                    "upstream {home:?} serves consumers by default but can only create: with routing rules, the tickets it gets could never be read, updated or replied to{}",
                    at(home)
                ));
            }
        }
        Ok(())
    }
}

fn validate_shared(shared: &SharedLimitsConfig) -> Result<(), String> {
    // The URL's own words are not repeated: it may carry a password.
    let url = shared.url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("url must be a redis:// or rediss:// URL".into());
    };
    if !matches!(scheme, "redis" | "rediss") {
        return Err(format!(
            "url must be a redis:// or rediss:// URL, not {scheme}://"
        ));
    }
    let host = rest.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with('/') || host.starts_with(':') {
        return Err("url names no host".into());
    }
    if let Err(e) = redis::Client::open(url) {
        return Err(format!("url is not a valid Redis URL ({})", e.category()));
    }
    if !(1..=10_000).contains(&shared.timeout_ms) {
        return Err("timeout_ms must be between 1 and 10000".into());
    }
    if shared.key_prefix.is_empty()
        || shared.key_prefix.len() > 64
        || !shared
            .key_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        return Err("key_prefix must be 1 to 64 letters, digits or - _ . : characters".into());
    }
    Ok(())
}

fn validate_rate(rate: Rate) -> Result<(), String> {
    if !(rate.per_second.is_finite() && rate.per_second > 0.0) {
        return Err("per_second must be a positive number".into());
    }
    if rate.burst == 0 {
        return Err("burst must be at least 1".into());
    }
    Ok(())
}

/// The 1-based line of the first non-comment line containing `needle`.
fn line_of(raw: &str, needle: &str) -> Option<usize> {
    raw.lines()
        .enumerate()
        .find(|(_, l)| !l.trim_start().starts_with('#') && l.contains(needle))
        .map(|(i, _)| i + 1)
}

/// Replace `${NAME}` by the environment variable NAME, and `${NAME:-default}` by it or,
/// when it is unset or empty, by `default` (as a shell does), escaped for a TOML basic
/// string. Comment lines are left alone, so a commented-out example needs no variable.
fn expand_env(raw: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    for (i, line) in raw.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(format!("line {}: unterminated ${{ in a value", i + 1));
            };
            let (name, default) = match after[..end].split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (&after[..end], None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "line {}: {name:?} is not an environment variable name",
                    i + 1
                ));
            }
            let value = match (env(name), default) {
                (Some(v), Some(d)) if v.is_empty() => d.to_owned(),
                (Some(v), _) => v,
                (None, Some(d)) => d.to_owned(),
                (None, None) => {
                    return Err(format!(
                        "line {}: environment variable {name} is not set",
                        i + 1
                    ));
                }
            };
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
