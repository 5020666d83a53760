//! The configuration of both faces, as the gateway embeds it in `gateway.toml`.

use serde::Deserialize;
use std::fmt;

/// Every permission claim value TicketsApi knows.
pub const ALL_TICKET_PERMISSIONS: [&str; 9] = [
    "Tickets.Create",
    "Tickets.Update",
    "Tickets.Forward",
    "Tickets.Reply",
    "Tickets.Close",
    "Tickets.Resolve",
    "Tickets.Pickup",
    "Tickets.Delete",
    "Tickets.OnlyPrivate",
];

/// The server face (`/api/TicketsApi` mounted on the gateway).
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// The path prefix the dialect is mounted at.
    pub prefix: String,
    /// How bearer tokens are verified.
    pub jwt: JwtConfig,
    /// File extensions accepted in `Uploads` (with or without the dot, case-insensitive;
    /// `*` accepts every extension). Other files are skipped, as TicketsApi does.
    pub allowed_extensions: Vec<String>,
    /// Most parts one multipart body may have.
    pub max_parts: usize,
    /// Largest single part, in bytes.
    pub max_part_bytes: usize,
    /// Largest multipart body, in bytes.
    pub max_total_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            prefix: "/api/TicketsApi".to_owned(),
            jwt: JwtConfig::default(),
            allowed_extensions: [
                "pdf", "txt", "csv", "log", "rtf", "doc", "docx", "xls", "xlsx", "ppt", "pptx",
                "odt", "ods", "odp", "png", "jpg", "jpeg", "gif", "bmp", "webp", "zip", "7z",
                "msg", "eml", "xml", "json",
            ]
            .map(String::from)
            .to_vec(),
            max_parts: 32,
            max_part_bytes: 10 * 1024 * 1024,
            max_total_bytes: 25 * 1024 * 1024,
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("prefix", &self.prefix)
            .field("jwt", &self.jwt)
            .field("allowed_extensions", &self.allowed_extensions)
            .field("max_parts", &self.max_parts)
            .field("max_part_bytes", &self.max_part_bytes)
            .field("max_total_bytes", &self.max_total_bytes)
            .finish()
    }
}

/// Bearer-token verification. At least one key must be set.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// Shared secret for HS256 tokens (unset: HS256 refused).
    pub hs256_secret: Option<String>,
    /// PEM public key (SPKI or PKCS#1) for RS256 tokens (unset: RS256 refused).
    pub rs256_public_key_pem: Option<String>,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud` (the token's `aud` may be a string or a list), when set.
    pub audience: Option<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// The claim that lists the caller's `Tickets.*` permissions.
    pub permission_claim: String,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            hs256_secret: None,
            rs256_public_key_pem: None,
            issuer: None,
            audience: None,
            leeway_secs: 60,
            permission_claim: "permission".to_owned(),
        }
    }
}

impl fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtConfig")
            .field(
                "hs256_secret",
                &self.hs256_secret.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "rs256_public_key_pem",
                &self.rs256_public_key_pem.as_ref().map(|_| "<pem>"),
            )
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway_secs", &self.leeway_secs)
            .field("permission_claim", &self.permission_claim)
            .finish()
    }
}

/// The client face: ticketgate calling a real TicketsApi upstream.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// Base URL of the helpdesk; endpoints are at `url` + `/api/TicketsApi/…`.
    pub url: String,
    /// A fixed bearer token (used as is, never renewed).
    pub token: Option<String>,
    /// Mint HS256 tokens with this secret (when no fixed token is set).
    pub hs256_secret: Option<String>,
    /// Mint RS256 tokens with this PEM private key (PKCS#8 or PKCS#1).
    pub rs256_private_key_pem: Option<String>,
    /// The `sub` of minted tokens: the helpdesk user ticketgate acts as.
    pub subject: String,
    /// The permission claim values of minted tokens.
    pub permissions: Vec<String>,
    /// `iss` of minted tokens.
    pub issuer: Option<String>,
    /// `aud` of minted tokens.
    pub audience: Option<String>,
    /// Lifetime of minted tokens, in seconds; they are renewed before they expire.
    pub token_ttl_secs: u64,
    /// The claim name the permissions are minted under.
    pub permission_claim: String,
    /// How long a look-up (metadata) answer is reused, in seconds.
    pub lookup_cache_secs: u64,
    /// How long to wait for a TCP (and TLS) connection to the helpdesk.
    pub connect_timeout_ms: u64,
    /// How long one request may take, from sending to the end of the answer.
    pub request_timeout_ms: u64,
    /// The largest answer read; a larger one is a 502 (see `ticketgate_upstream`).
    pub max_response_bytes: usize,
    /// TLS toward this upstream: a private CA and a client certificate (see
    /// `ticketgate_upstream::tls`); none means the system roots and no client certificate.
    pub tls: Option<ticketgate_upstream::tls::ClientTls>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            token: None,
            hs256_secret: None,
            rs256_private_key_pem: None,
            subject: "ticketgate".to_owned(),
            permissions: ALL_TICKET_PERMISSIONS
                .iter()
                .filter(|p| **p != "Tickets.OnlyPrivate")
                .map(|p| (*p).to_owned())
                .collect(),
            issuer: None,
            audience: None,
            token_ttl_secs: 300,
            permission_claim: "permission".to_owned(),
            lookup_cache_secs: 300,
            connect_timeout_ms: 3_000,
            request_timeout_ms: 10_000,
            max_response_bytes: ticketgate_upstream::DEFAULT_MAX_RESPONSE_BYTES,
            tls: None,
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("ClientConfig")
            .field("url", &self.url)
            .field("token", &redacted(&self.token))
            .field("hs256_secret", &redacted(&self.hs256_secret))
            .field(
                "rs256_private_key_pem",
                &redacted(&self.rs256_private_key_pem),
            )
            .field("subject", &self.subject)
            .field("permissions", &self.permissions)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("token_ttl_secs", &self.token_ttl_secs)
            .field("permission_claim", &self.permission_claim)
            .field("lookup_cache_secs", &self.lookup_cache_secs)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("tls", &self.tls)
            .finish()
    }
}
