//! JSON Web Tokens as TicketsApi uses them: HS256 and RS256 bearer tokens whose
//! `sub` names the caller and whose permission claim lists what it may do.
//!
//! Verification is strict where a lax check would let a forged token in: the `alg`
//! must be one the gateway has a key for (never `none`), the signature is checked
//! in constant time, `exp` is required, and `iss` / `aud` are checked when set.

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier as _};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::Sha256;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type HmacSha256 = Hmac<Sha256>;

/// A token longer than this is refused before any decoding.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a token was refused. The message is safe to show: it never quotes the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtError(pub String);

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JwtError {}

fn err(msg: impl Into<String>) -> JwtError {
    JwtError(msg.into())
}

/// What a verifier accepts.
#[derive(Clone)]
pub struct VerifierSettings {
    pub hs256_secret: Option<Vec<u8>>,
    pub rs256_public_key: Option<RsaPublicKey>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub leeway: Duration,
}

impl fmt::Debug for VerifierSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierSettings")
            .field(
                "hs256_secret",
                &self.hs256_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("rs256_public_key", &self.rs256_public_key.is_some())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .finish()
    }
}

/// A token whose signature, lifetime, issuer and audience were checked.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    pub subject: String,
    pub claims: Map<String, Value>,
}

impl VerifiedToken {
    /// The values of a claim that may be one string or a list of strings (how .NET
    /// writes a claim type that occurs once or several times).
    pub fn claim_values(&self, name: &str) -> Vec<&str> {
        match self.claims.get(name) {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    pub fn has_claim_value(&self, name: &str, value: &str) -> bool {
        self.claim_values(name)
            .iter()
            .any(|v| v.eq_ignore_ascii_case(value))
    }
}

/// Parse an RS256 public key: SPKI (`BEGIN PUBLIC KEY`) or PKCS#1 (`BEGIN RSA PUBLIC KEY`).
pub fn parse_public_key_pem(pem: &str) -> Result<RsaPublicKey, String> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    RsaPublicKey::from_public_key_pem(pem.trim())
        .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem.trim()))
        .map_err(|_| "not a PEM RSA public key (SPKI or PKCS#1)".to_owned())
}

/// Parse an RS256 private key: PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`).
pub fn parse_private_key_pem(pem: &str) -> Result<RsaPrivateKey, String> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    RsaPrivateKey::from_pkcs8_pem(pem.trim())
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem.trim()))
        .map_err(|_| "not a PEM RSA private key (PKCS#8 or PKCS#1)".to_owned())
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn b64_decode(part: &str) -> Result<Vec<u8>, JwtError> {
    // Tokens are unpadded base64url; some issuers pad anyway.
    URL_SAFE_NO_PAD
        .decode(part)
        .or_else(|_| URL_SAFE.decode(part))
        .map_err(|_| err("token is not valid base64url"))
}

/// Verify a compact JWS and its registered claims.
pub fn verify(token: &str, settings: &VerifierSettings) -> Result<VerifiedToken, JwtError> {
    verify_at(token, settings, now_secs())
}

/// [`verify`] at a given time (seconds since the epoch), for tests.
pub fn verify_at(
    token: &str,
    settings: &VerifierSettings,
    now: i64,
) -> Result<VerifiedToken, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(err("token is too long"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(err("token is not a compact JWS (header.payload.signature)"));
    };
    let header: Map<String, Value> = serde_json::from_slice(&b64_decode(h)?)
        .map_err(|_| err("token header is not a JSON object"))?;
    if header.contains_key("crit") {
        // RFC 7515 §4.1.11: extensions we do not understand must not be ignored.
        return Err(err("token header has critical extensions"));
    }
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let signed = &token[..h.len() + 1 + p.len()];
    let signature = b64_decode(s)?;
    match alg {
        "HS256" => {
            let secret = settings
                .hs256_secret
                .as_deref()
                .ok_or_else(|| err("HS256 tokens are not accepted here"))?;
            let mut mac = HmacSha256::new_from_slice(secret)
                .map_err(|_| err("the HS256 secret cannot be used"))?;
            mac.update(signed.as_bytes());
            mac.verify_slice(&signature)
                .map_err(|_| err("token signature is invalid"))?;
        }
        "RS256" => {
            let key = settings
                .rs256_public_key
                .clone()
                .ok_or_else(|| err("RS256 tokens are not accepted here"))?;
            let sig = Signature::try_from(signature.as_slice())
                .map_err(|_| err("token signature is invalid"))?;
            VerifyingKey::<Sha256>::new(key)
                .verify(signed.as_bytes(), &sig)
                .map_err(|_| err("token signature is invalid"))?;
        }
        "none" | "" => return Err(err("unsigned tokens are refused")),
        other => return Err(err(format!("token algorithm {other:?} is not accepted"))),
    }
    let claims: Map<String, Value> = serde_json::from_slice(&b64_decode(p)?)
        .map_err(|_| err("token payload is not a JSON object"))?;
    let leeway = i64::try_from(settings.leeway.as_secs()).unwrap_or(i64::MAX);
    let time_claim = |name: &str| -> Result<Option<i64>, JwtError> {
        match claims.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| err(format!("token claim {name} is not a number"))),
        }
    };
    let exp = time_claim("exp")?.ok_or_else(|| err("token has no exp claim"))?;
    if now > exp.saturating_add(leeway) {
        return Err(err("token has expired"));
    }
    if let Some(nbf) = time_claim("nbf")?
        && now.saturating_add(leeway) < nbf
    {
        return Err(err("token is not valid yet"));
    }
    if let Some(iss) = &settings.issuer
        && claims.get("iss").and_then(Value::as_str) != Some(iss.as_str())
    {
        return Err(err("token issuer is not accepted"));
    }
    if let Some(aud) = &settings.audience {
        let ok = match claims.get("aud") {
            Some(Value::String(a)) => a == aud,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(aud.as_str())),
            _ => false,
        };
        if !ok {
            return Err(err("token audience is not accepted"));
        }
    }
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| err("token has no sub claim"))?
        .to_owned();
    Ok(VerifiedToken { subject, claims })
}

/// The claims ticketgate puts in the tokens it mints.
#[derive(Debug, Clone, Serialize)]
pub struct MintClaims<'a> {
    pub sub: &'a str,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<&'a str>,
    /// Serialized under the configured permission claim name by [`mint`].
    #[serde(skip)]
    pub permissions: &'a [&'a str],
}

/// The key a token is signed with.
pub enum SigningKeyRef<'a> {
    Hs256(&'a [u8]),
    Rs256(&'a RsaPrivateKey),
}

/// Sign `claims`, with the permissions under `permission_claim` as a list.
pub fn mint(key: SigningKeyRef<'_>, claims: &MintClaims<'_>, permission_claim: &str) -> String {
    let alg = match key {
        SigningKeyRef::Hs256(_) => "HS256",
        SigningKeyRef::Rs256(_) => "RS256",
    };
    let header = serde_json::json!({"alg": alg, "typ": "JWT"});
    let mut payload = match serde_json::to_value(claims) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    payload.insert(
        permission_claim.to_owned(),
        Value::Array(
            claims
                .permissions
                .iter()
                .map(|p| Value::String((*p).to_owned()))
                .collect(),
        ),
    );
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(payload).to_string())
    );
    let signature = match key {
        SigningKeyRef::Hs256(secret) => {
            // HMAC takes keys of any length, so this cannot fail.
            let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
            mac.update(signing_input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        SigningKeyRef::Rs256(private) => SigningKey::<Sha256>::new(private.clone())
            .sign(signing_input.as_bytes())
            .to_vec(),
    };
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// An HS256 token for `subject` with `permissions` under the claim `permission`,
/// valid from now for `ttl` (what `ticketgate token` prints).
pub fn mint_hs256(
    secret: &[u8],
    subject: &str,
    permissions: &[&str],
    ttl: std::time::Duration,
) -> String {
    let now = now_secs();
    let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    mint(
        SigningKeyRef::Hs256(secret),
        &MintClaims {
            sub: subject,
            iat: now,
            nbf: now,
            exp: now.saturating_add(ttl),
            iss: None,
            aud: None,
            permissions,
        },
        "permission",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hs(secret: &str) -> VerifierSettings {
        VerifierSettings {
            hs256_secret: Some(secret.as_bytes().to_vec()),
            rs256_public_key: None,
            issuer: None,
            audience: None,
            leeway: Duration::from_secs(0),
        }
    }

    #[test]
    fn minted_hs256_tokens_verify_and_carry_permissions() {
        let t = mint_hs256(b"k", "alice", &["Tickets.Create"], Duration::from_secs(60));
        let v = verify(&t, &hs("k")).unwrap();
        assert_eq!(v.subject, "alice");
        assert!(v.has_claim_value("permission", "Tickets.Create"));
        assert!(!v.has_claim_value("permission", "Tickets.Delete"));
        assert!(verify(&t, &hs("other")).is_err());
    }

    /// The token's length bounds all the decoding done before the signature is
    /// checked: base64 and two small JSON documents.
    #[test]
    fn token_length_is_bounded() {
        let long = format!("{}.e30.c2ln", "e".repeat(MAX_TOKEN_BYTES));
        let e = verify(&long, &hs("k")).unwrap_err();
        assert!(e.to_string().contains("too long"), "{e}");
        let nested = URL_SAFE_NO_PAD.encode(format!("{}{}", "[".repeat(3000), "]".repeat(3000)));
        let e = verify(&format!("{nested}.e30.c2ln"), &hs("k")).unwrap_err();
        assert!(e.to_string().contains("header"), "{e}");
    }

    #[test]
    fn expiry_respects_leeway() {
        let t = mint_hs256(b"k", "a", &[], Duration::from_secs(10));
        let now = now_secs();
        assert!(verify_at(&t, &hs("k"), now + 20).is_err());
        let mut lenient = hs("k");
        lenient.leeway = Duration::from_secs(30);
        assert!(verify_at(&t, &lenient, now + 20).is_ok());
    }

    #[test]
    fn permission_claims_may_be_one_string_or_a_list() {
        let claims = |v: Value| VerifiedToken {
            subject: "s".into(),
            claims: serde_json::json!({ "permission": v })
                .as_object()
                .cloned()
                .unwrap_or_default(),
        };
        assert!(
            claims(Value::from("Tickets.Close")).has_claim_value("permission", "tickets.close")
        );
        assert!(
            claims(serde_json::json!(["a", "Tickets.Close"]))
                .has_claim_value("permission", "Tickets.Close")
        );
        assert!(!claims(serde_json::json!(42)).has_claim_value("permission", "42"));
    }

    #[test]
    fn issuer_audience_and_algorithms() {
        let key = b"k".to_vec();
        let n = now_secs();
        let token = |iss, aud| {
            mint(
                SigningKeyRef::Hs256(&key),
                &MintClaims {
                    sub: "a",
                    iat: n,
                    nbf: n,
                    exp: n + 60,
                    iss,
                    aud,
                    permissions: &[],
                },
                "permission",
            )
        };
        let mut s = hs("k");
        s.issuer = Some("me".into());
        s.audience = Some("api".into());
        assert!(verify(&token(Some("me"), Some("api")), &s).is_ok());
        assert!(verify(&token(Some("you"), Some("api")), &s).is_err());
        assert!(verify(&token(Some("me"), Some("other")), &s).is_err());
        assert!(verify(&token(None, Some("api")), &s).is_err());
        // An HS256 token where only RS256 is configured.
        let rs_only = VerifierSettings {
            hs256_secret: None,
            ..hs("k")
        };
        let e = verify(&token(None, None), &rs_only).unwrap_err();
        assert!(e.0.contains("HS256"), "{e}");
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        for t in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d",
            "eyJhbGciOiJub25lIn0.e30.",
            "é.é.é",
        ] {
            assert!(verify(t, &hs("k")).is_err(), "{t}");
        }
    }
}
