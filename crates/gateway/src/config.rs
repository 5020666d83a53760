//! `gateway.toml`: parsing, environment expansion and validation.
//!
//! Every value is validated while it is deserialised, so a mistake is reported by
//! the TOML parser with the key, the line and the column. Cross-references (a route
//! naming an upstream that does not exist) are checked after, and their errors name
//! the key and the line too. `${NAME}` anywhere in a value is replaced by the
//! environment variable NAME; an unset variable is an error that names it.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use ticketgate_model::Permission;

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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipeConfig {
    pub consumer: Option<String>,
    /// The log file, appended to (default `pipe.log` in the data directory; a relative
    /// path is relative to the data directory).
    pub log_file: Option<PathBuf>,
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
    /// How often the pruning runs.
    pub prune_interval_secs: f64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            idempotency_hours: 24.0,
            delivered_hours: 24.0,
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

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerConfig {
    pub name: String,
    /// Canonical API: `Authorization: Bearer KEY`.
    #[serde(default)]
    pub bearer_key: Option<String>,
    /// osTicket dialect: `X-API-Key`.
    #[serde(default)]
    pub osticket_key: Option<String>,
    /// ITSM-NG dialect: `initSession` with `Authorization: user_token …`.
    #[serde(default)]
    pub itsmng_user_token: Option<String>,
    /// ITSM-NG dialect: an App-Token this consumer must present (if set).
    #[serde(default)]
    pub itsmng_app_token: Option<String>,
    /// ITSM-NG dialect: HTTP Basic login (and its password) for `initSession`.
    #[serde(default)]
    pub itsmng_login: Option<String>,
    #[serde(default)]
    pub itsmng_password: Option<String>,
    /// TicketsApi dialect: the `sub` of this consumer's JWTs.
    #[serde(default)]
    pub jwt_subject: Option<String>,
    pub permissions: Vec<PermissionName>,
    /// Source networks allowed to use this consumer's credentials (empty: anywhere).
    #[serde(default)]
    pub networks: Vec<Cidr>,
    #[serde(default)]
    pub quota: Quotas,
    /// The upstream serving this consumer (default: `routing.default`).
    #[serde(default)]
    pub upstream: Option<String>,
}

/// Credentials are shown as set or not, never their values.
impl std::fmt::Debug for ConsumerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("ConsumerConfig")
            .field("name", &self.name)
            .field("bearer_key", &secret(&self.bearer_key))
            .field("osticket_key", &secret(&self.osticket_key))
            .field("itsmng_user_token", &secret(&self.itsmng_user_token))
            .field("itsmng_app_token", &secret(&self.itsmng_app_token))
            .field("itsmng_login", &self.itsmng_login)
            .field("itsmng_password", &secret(&self.itsmng_password))
            .field("jwt_subject", &self.jwt_subject)
            .field("permissions", &self.permissions)
            .field("networks", &self.networks)
            .field("quota", &self.quota)
            .field("upstream", &self.upstream)
            .finish()
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

/// An IP network in CIDR form (`127.0.0.0/8`, `::1/128`, or a bare address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// True when every address of this network is a loopback address.
    pub fn is_loopback_only(&self) -> bool {
        match self.addr {
            IpAddr::V4(a) => a.is_loopback() && self.prefix >= 8,
            IpAddr::V6(a) => a.is_loopback() && self.prefix == 128,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an IP network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?} has an invalid prefix length"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Which dialects are mounted, and where. A dialect absent from the file is not mounted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dialects {
    #[serde(default)]
    pub canonical: Option<CanonicalDialect>,
    /// osTicket's `/api`: the core API (JSON, XML, email) and the API-Endpoints plugin.
    #[serde(default)]
    pub osticket: Option<ticketgate_osticket::ServerConfig>,
    /// ITSM-NG / GLPI `apirest.php`.
    #[serde(default)]
    pub itsmng: Option<ticketgate_itsmng::ServerConfig>,
    /// The .NET helpdesk's `/api/TicketsApi`.
    #[serde(default)]
    pub ticketsapi: Option<ticketgate_ticketsapi::ServerConfig>,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UpstreamKind {
    /// The embedded SQLite helpdesk in the data directory.
    Embedded {
        /// `full` (default) or `normal`: see the README on durability.
        #[serde(default)]
        durability: Option<String>,
    },
    /// Another ticketgate's canonical API (gateways chained: edge → central).
    Ticketgate(crate::upstream::remote::RemoteConfig),
    /// A real osTicket: `mode = "core"` (create only) or `"plugin"` (API-Endpoints).
    Osticket(ticketgate_osticket::ClientConfig),
    /// A real ITSM-NG / GLPI `apirest.php`.
    Itsmng(ticketgate_itsmng::ClientConfig),
    /// A real .NET TicketsApi.
    Ticketsapi(ticketgate_ticketsapi::ClientConfig),
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
            kind: UpstreamKind::Embedded { durability: None },
            protection: Protection::default(),
        },
    )])
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Routing {
    pub default: String,
}

impl Default for Routing {
    fn default() -> Self {
        Self {
            default: "embedded".into(),
        }
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
        let config: Config = toml::from_str(&expanded).map_err(|e| e.to_string())?;
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
        for (key, field) in [
            ("bearer_key", 0),
            ("osticket_key", 1),
            ("itsmng_user_token", 2),
            ("jwt_subject", 3),
        ] {
            let mut seen = std::collections::HashSet::new();
            for c in &self.consumers {
                let v = match field {
                    0 => &c.bearer_key,
                    1 => &c.osticket_key,
                    2 => &c.itsmng_user_token,
                    _ => &c.jwt_subject,
                };
                if let Some(v) = v
                    && !seen.insert(v.as_str())
                {
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
            if let UpstreamKind::Embedded {
                durability: Some(d),
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
        if let Some(t) = &self.dialects.ticketsapi
            && let Err(m) = ticketgate_ticketsapi::TicketsApiServer::new(t.clone())
        {
            return Err(format!("dialects.ticketsapi.{m}{}", at("ticketsapi")));
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
        if let Some(c) = &self.dialects.osticket {
            out.push(("osticket", c.prefix.clone()));
        }
        if let Some(c) = &self.dialects.itsmng {
            out.push(("itsmng", c.prefix.clone()));
        }
        if let Some(c) = &self.dialects.ticketsapi {
            out.push(("ticketsapi", c.prefix.clone()));
        }
        out
    }

    /// Warnings that do not stop the gateway but that an operator should see.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        // A JWT signed with a published secret is as public as a demo key.
        let demo_jwt_secret = self
            .dialects
            .ticketsapi
            .as_ref()
            .and_then(|t| t.jwt.hs256_secret.as_deref())
            .is_some_and(|s| s.starts_with("demo-"));
        for c in &self.consumers {
            let demo = [&c.bearer_key, &c.osticket_key, &c.itsmng_user_token]
                .into_iter()
                .flatten()
                .any(|k| k.starts_with("demo-"))
                || (demo_jwt_secret && c.jwt_subject.is_some());
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
            let has_http_credential = [&c.bearer_key, &c.osticket_key, &c.itsmng_user_token]
                .into_iter()
                .any(Option::is_some)
                || c.jwt_subject.is_some()
                || c.itsmng_login.is_some();
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
        if self.server.trusted_proxies.iter().any(|c| c.prefix == 0) {
            out.push(
                "server.trusted_proxies trusts every address: any client can then choose the address it is counted and checked as".into(),
            );
        }
        out
    }
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
