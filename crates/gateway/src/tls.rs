//! TLS on the listeners: `server.tls = { cert = "PATH", key = "PATH", client_ca = "PATH" }`.
//!
//! The certificate chain and key (PEM) are read at start and again on SIGHUP; a new
//! handshake uses whatever is current, a connection already open keeps the session it
//! has. A new certificate that cannot be loaded leaves the running one in place, and
//! the log says why. ALPN offers `h2` and `http/1.1`.
//!
//! With `client_ca`, a client may present a certificate. The handshake asks for one
//! but does not require it, and does not fail on one it cannot verify: the proof that
//! the client holds the certificate's key is checked in the handshake as always, then
//! the chain is verified against `client_ca` once the handshake is done. Only a
//! verified certificate gives the connection an identity ([`PeerIdentity`]), which a
//! consumer naming it in `tls_subject` accepts as its credential. An unverified or
//! missing certificate is therefore refused by the dialect, in its own words, like a
//! missing key, never by a bare TLS alert the client cannot read.

use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// `server.tls`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, the server's own certificate first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM CA bundle that client certificates are verified against; none: no client
    /// certificates are asked for.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// Who a verified client certificate says the client is: every name a consumer's
/// `tls_subject` may give. `CN=…` for each common name, the whole subject as written
/// by [`x509_parser`] (`CN=a, O=b`), and each subject alternative name as `DNS:…`,
/// `email:…`, `URI:…` or `IP:…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    pub names: Vec<String>,
}

impl PeerIdentity {
    pub fn has(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// The names in one certificate (DER), or `None` if it cannot be read.
    pub fn of(der: &[u8]) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let mut names = Vec::new();
        for cn in cert.subject().iter_common_name() {
            if let Ok(cn) = cn.as_str() {
                names.push(format!("CN={cn}"));
            }
        }
        names.push(cert.subject().to_string());
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            use x509_parser::extensions::GeneralName;
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => names.push(format!("DNS:{d}")),
                    GeneralName::RFC822Name(e) => names.push(format!("email:{e}")),
                    GeneralName::URI(u) => names.push(format!("URI:{u}")),
                    GeneralName::IPAddress(ip) => {
                        let ip = match ip.len() {
                            4 => <[u8; 4]>::try_from(*ip)
                                .ok()
                                .map(|b| std::net::IpAddr::from(b).to_string()),
                            16 => <[u8; 16]>::try_from(*ip)
                                .ok()
                                .map(|b| std::net::IpAddr::from(b).to_string()),
                            _ => None,
                        };
                        if let Some(ip) = ip {
                            names.push(format!("IP:{ip}"));
                        }
                    }
                    _ => {}
                }
            }
        }
        names.dedup();
        Some(Self { names })
    }
}

/// What one handshake is made with: the server configuration and, with `client_ca`,
/// the verifier client chains are checked against after it.
struct Loaded {
    server: Arc<ServerConfig>,
    clients: Option<Arc<dyn ClientCertVerifier>>,
}

/// The listeners' TLS, swapped whole on reload.
pub struct ServerTls {
    config: RwLock<TlsConfig>,
    current: RwLock<Arc<Loaded>>,
}

impl ServerTls {
    /// Load the certificate, key and client CA; the error says which file and why.
    pub fn load(config: &TlsConfig) -> Result<Self, String> {
        Ok(Self {
            current: RwLock::new(Arc::new(load(config)?)),
            config: RwLock::new(config.clone()),
        })
    }

    /// Re-read the files (SIGHUP). On failure the running certificate stays and the
    /// reason is returned.
    pub fn reload(&self, config: &TlsConfig) -> Result<(), String> {
        let loaded = load(config)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded);
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config.clone();
        Ok(())
    }

    /// Complete a server handshake on `stream` with the current certificate, and
    /// return the stream with the client's verified identity, if it presented one.
    pub async fn accept<S>(
        &self,
        stream: S,
    ) -> std::io::Result<(
        tokio_rustls::server::TlsStream<S>,
        Option<Arc<PeerIdentity>>,
    )>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let loaded = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let tls = tokio_rustls::TlsAcceptor::from(loaded.server.clone())
            .accept(stream)
            .await?;
        let identity = match (&loaded.clients, tls.get_ref().1.peer_certificates()) {
            (Some(verifier), Some([leaf, intermediates @ ..])) => {
                match verifier.verify_client_cert(leaf, intermediates, UnixTime::now()) {
                    Ok(_) => PeerIdentity::of(leaf).map(Arc::new),
                    Err(e) => {
                        tracing::info!(error = %e, "a client certificate was not verified; the connection has no certificate identity");
                        None
                    }
                }
            }
            _ => None,
        };
        Ok((tls, identity))
    }
}

fn load(config: &TlsConfig) -> Result<Loaded, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let certs = read_certs("server.tls.cert", &config.cert)?;
    let key = PrivateKeyDer::from_pem_file(&config.key).map_err(|e| {
        format!(
            "server.tls.key: {} holds no readable PEM private key ({e})",
            config.key.display()
        )
    })?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("server.tls: {e}"))?;
    let (builder, clients) = match &config.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs("server.tls.client_ca", ca)? {
                roots.add(cert).map_err(|e| {
                    format!(
                        "server.tls.client_ca: {}: a certificate is not usable as a CA: {e}",
                        ca.display()
                    )
                })?;
            }
            let strict = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("server.tls.client_ca: {}: {e}", ca.display()))?;
            let lenient: Arc<dyn ClientCertVerifier> = Arc::new(Lenient(strict.clone()));
            (builder.with_client_cert_verifier(lenient), Some(strict))
        }
        None => (builder.with_no_client_auth(), None),
    };
    let mut server = builder.with_single_cert(certs, key).map_err(|e| {
        format!(
            "server.tls: {} and {} are not a certificate chain and its key: {e}",
            config.cert.display(),
            config.key.display()
        )
    })?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Loaded {
        server: Arc::new(server),
        clients,
    })
}

fn read_certs(key: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{key}: cannot read {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{key}: {} is not PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{key}: {} holds no certificate", path.display()));
    }
    Ok(certs)
}

/// Asks for a client certificate, checks the client's proof that it holds the key,
/// and leaves the chain to be verified after the handshake (see the module docs).
#[derive(Debug)]
struct Lenient(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for Lenient {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
