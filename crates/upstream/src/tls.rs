//! TLS toward an upstream: `upstreams.NAME.tls = { ca = "PATH", cert = "PATH", key = "PATH" }`.
//!
//! Without `ca` the system's roots are trusted (rustls with the platform verifier);
//! with it only that CA (a PEM bundle) is. `cert` and `key` (PEM: the chain, then the
//! private key) are the client certificate presented to an upstream that asks for one.
//! [`client_config`] turns the settings into the rustls configuration the kit's
//! connection pool uses ([`crate::client`]).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use rustls_platform_verifier::BuilderVerifierExt;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

/// An upstream's TLS settings.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ClientTls {
    /// PEM CA bundle to trust instead of the system roots.
    pub ca: Option<PathBuf>,
    /// PEM certificate chain of the client certificate.
    pub cert: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub key: Option<PathBuf>,
}

fn read(what: &str, path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("tls.{what}: cannot read {}: {e}", path.display()))
}

impl ClientTls {
    /// The rustls configuration these settings stand for. The error names the key and
    /// the file (never the key material).
    pub fn client_config(&self) -> Result<ClientConfig, String> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let builder = match &self.ca {
            Some(ca) => {
                let pem = read("ca", ca)?;
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| {
                        format!(
                            "tls.ca: {} is not a PEM certificate bundle: {e}",
                            ca.display()
                        )
                    })?;
                    roots.add(cert).map_err(|e| {
                        format!(
                            "tls.ca: {} is not a PEM certificate bundle: {e}",
                            ca.display()
                        )
                    })?;
                }
                if roots.is_empty() {
                    return Err(format!("tls.ca: {} holds no certificate", ca.display()));
                }
                builder.with_root_certificates(roots)
            }
            None => builder
                .with_platform_verifier()
                .map_err(|e| format!("TLS: the system's roots cannot be used: {e}"))?,
        };
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let chain_pem = read("cert", cert)?;
                let key_pem = read("key", key)?;
                let not_a_pair = || {
                    format!(
                        "tls.cert / tls.key: {} and {} are not a PEM certificate chain and its private key",
                        cert.display(),
                        key.display()
                    )
                };
                let chain: Vec<CertificateDer<'static>> =
                    CertificateDer::pem_slice_iter(&chain_pem)
                        .collect::<Result<_, _>>()
                        .map_err(|_| not_a_pair())?;
                if chain.is_empty() {
                    return Err(not_a_pair());
                }
                let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| not_a_pair())?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|_| not_a_pair())
            }
            (None, None) => Ok(builder.with_no_client_auth()),
            _ => Err("tls.cert and tls.key go together: set both or neither".into()),
        }
    }
}

/// The one crypto provider of every upstream connection.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The rustls configuration for `tls` (if any): without settings, the system's roots
/// and no client certificate.
pub fn client_config(tls: Option<&ClientTls>) -> Result<ClientConfig, String> {
    tls.cloned().unwrap_or_default().client_config()
}

/// Whether a failure (or anything it was caused by) is a TLS one: an untrusted or
/// invalid certificate, a refused client certificate, a failed handshake.
pub(crate) fn is_tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
        {
            return true;
        }
        let text = s.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("handshake") || text.contains("tls") {
            return true;
        }
        source = s.source();
    }
    false
}
