//! The server face: `/api/TicketsApi` over the canonical operations.
//!
//! Every request is authenticated twice: the bearer JWT is verified here (signature,
//! lifetime, issuer, audience) and must carry the endpoint's `Tickets.*` permission
//! claim; its subject is then handed to the gateway, which maps it onto a consumer
//! and checks that consumer's network, canonical permission and quota.

mod requests;
mod routes;

pub use requests::{
    AllowedExtensions, ListPlan, MAX_TITLE_CHARS, USERNAME_PAGE_SIZE, check_path_id, closure,
    forward_entry, integration_ticket, list_plan, register, reply_entry, requester_reply_entry,
    resolution, update_patch, uploads, username_query,
};

use crate::config::ServerConfig;
use crate::form::Limits;
use crate::jwt::{self, VerifiedToken, VerifierSettings};
use crate::problem;
use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, header};
use std::time::Duration;
use ticketgate_model::{
    Admission, BodyClass, Consumer, Credential, Error, ErrorKind, GatewayContext, Permission,
    ServerFace,
};

/// The TicketsApi dialect's server face.
pub struct TicketsApiServer {
    config: ServerConfig,
    verifier: VerifierSettings,
    allowed: AllowedExtensions,
    limits: Limits,
}

impl std::fmt::Debug for TicketsApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketsApiServer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TicketsApiServer {
    /// Check the configuration: at least one key, a readable PEM, sane limits.
    pub fn new(config: ServerConfig) -> Result<Self, String> {
        let jwt_cfg = &config.jwt;
        let hs256_secret = match jwt_cfg.hs256_secret.as_deref() {
            Some("") => return Err("jwt.hs256_secret must not be empty".into()),
            Some(s) => Some(s.as_bytes().to_vec()),
            None => None,
        };
        let rs256_public_key = match jwt_cfg.rs256_public_key_pem.as_deref() {
            Some(pem) => Some(
                jwt::parse_public_key_pem(pem)
                    .map_err(|e| format!("jwt.rs256_public_key_pem: {e}"))?,
            ),
            None => None,
        };
        if hs256_secret.is_none() && rs256_public_key.is_none() {
            return Err("jwt: set hs256_secret or rs256_public_key_pem".into());
        }
        if jwt_cfg.permission_claim.trim().is_empty() {
            return Err("jwt.permission_claim must not be empty".into());
        }
        if !config.prefix.starts_with('/') {
            return Err("prefix must start with /".into());
        }
        if config.max_parts == 0 || config.max_part_bytes == 0 || config.max_total_bytes == 0 {
            return Err("max_parts, max_part_bytes and max_total_bytes must be above 0".into());
        }
        let verifier = VerifierSettings {
            hs256_secret,
            rs256_public_key,
            issuer: jwt_cfg.issuer.clone(),
            audience: jwt_cfg.audience.clone(),
            leeway: Duration::from_secs(jwt_cfg.leeway_secs),
        };
        Ok(Self {
            allowed: AllowedExtensions::new(&config.allowed_extensions),
            limits: Limits {
                max_parts: config.max_parts,
                max_part_bytes: config.max_part_bytes,
                max_total_bytes: config.max_total_bytes,
            },
            verifier,
            config,
        })
    }

    pub fn prefix(&self) -> &str {
        &self.config.prefix
    }

    /// Verify the bearer token (or take the one the head phase verified), check its
    /// permission claim, then let the gateway authorize the subject for `need`.
    async fn caller(
        &self,
        request: &Request<Bytes>,
        cx: &dyn GatewayContext,
        need: Permission,
        claim: Option<&str>,
    ) -> Result<(Consumer, VerifiedToken), Error> {
        let token = match request.extensions().get::<VerifiedToken>() {
            Some(t) => {
                self.check_claim(t, claim)?;
                t.clone()
            }
            None => self.verified(request.headers(), claim)?,
        };
        let consumer = cx.authorize(&subject(token.subject.clone()), need).await?;
        Ok((consumer, token))
    }

    /// The bearer token, verified, with the permission claim `claim` when one is named.
    fn verified(&self, headers: &HeaderMap, claim: Option<&str>) -> Result<VerifiedToken, Error> {
        let raw = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::unauthorized("a Bearer token is required"))?;
        let token =
            jwt::verify(raw, &self.verifier).map_err(|e| Error::unauthorized(e.to_string()))?;
        self.check_claim(&token, claim)?;
        Ok(token)
    }

    fn check_claim(&self, token: &VerifiedToken, claim: Option<&str>) -> Result<(), Error> {
        match claim {
            Some(claim) if !token.has_claim_value(&self.config.jwt.permission_claim, claim) => Err(
                Error::forbidden(format!("the token does not grant {claim}")),
            ),
            _ => Ok(()),
        }
    }
}

/// The credential of a verified token: its subject, a consumer's `jwt_subject`.
fn subject(sub: String) -> Credential {
    Credential::Identity {
        key: crate::vendor::JWT_SUBJECT.name,
        value: sub,
    }
}

#[async_trait]
impl ServerFace for TicketsApiServer {
    fn dialect(&self) -> &'static str {
        "ticketsapi"
    }

    fn body_class(&self, method: &Method, path: &str) -> BodyClass {
        let first = path.trim_matches('/').split('/').next().unwrap_or("");
        if method == Method::POST
            && matches!(
                first,
                "register" | "new" | "forward" | "reply" | "close" | "addfiles" | "reqreply"
            )
        {
            BodyClass::Upload
        } else {
            BodyClass::Standard
        }
    }

    fn admit(
        &self,
        path: &str,
        head: &mut http::request::Parts,
        cx: &dyn GatewayContext,
    ) -> Result<Admission, Response<Bytes>> {
        let Some((need, claim)) = routes::need(&head.method, path) else {
            return Ok(Admission::Unverified);
        };
        let token = self.verified(&head.headers, claim).map_err(|e| {
            if e.kind == ErrorKind::Unauthorized {
                // A token that does not verify is a failed authentication like a
                // wrong key, and counts against the client's address.
                cx.failed_authentication();
            }
            problem::error_response(&e)
        })?;
        cx.admit(&subject(token.subject.clone()), Some(need))
            .map_err(|e| problem::error_response(&e))?;
        // Verified once: the handler takes it from the request instead of again.
        head.extensions.insert(token);
        Ok(Admission::Verified)
    }

    async fn handle(
        &self,
        path: &str,
        request: Request<Bytes>,
        cx: &dyn GatewayContext,
    ) -> Response<Bytes> {
        match routes::dispatch(self, path, request, cx).await {
            Ok(r) => r,
            Err(e) => problem::error_response(&e),
        }
    }

    fn error_response(&self, error: &Error) -> Response<Bytes> {
        problem::error_response(error)
    }
}
