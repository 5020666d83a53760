//! The head phase: the credential of an `apirest.php` request checked from its head
//! (headers and query string) before the gateway reads the body.
//!
//! The real server also takes `session_token`, `user_token`, `login` and `password` as
//! body parameters, so a request whose head carries none is not refused here: it is
//! admitted unverified, its body read only up to the gateway's small bound, and
//! `handle` checks what the body holds.

use super::{ItsmngServer, check_app_token, encode_error, login_refusal};
use crate::errors::ApiError;
use crate::params::parse_php_query;
use base64::Engine as _;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Method, Response};
use ticketgate_model::{Admission, Credential, GatewayContext, Permission};

// The refusal is the answer itself (see `ServerFace::admit`).
#[allow(clippy::result_large_err)]
pub(super) fn admit(
    server: &ItsmngServer,
    path: &str,
    head: &mut Parts,
    cx: &dyn GatewayContext,
) -> Result<Admission, Response<Bytes>> {
    if head.method == Method::OPTIONS {
        return Ok(Admission::Unverified);
    }
    let cfg = &server.inner.config;
    let query = parse_php_query(head.uri.query().unwrap_or(""));
    let from_query = |k: &str| {
        query
            .get(k)
            .and_then(crate::mapping::as_text)
            .filter(|s| !s.is_empty())
    };
    let refuse = |e: ApiError| encode_error(&e, &server.api_url_of(&head.headers, &head.uri));
    let app_token = header(&head.headers, "app-token")
        .map(str::to_owned)
        .or_else(|| from_query("app_token"));
    let resource = path.trim_matches('/').split('/').next().unwrap_or("");

    if resource == "initSession" {
        let credential = match login_credential(&head.headers, &from_query, app_token.clone()) {
            Some(c) => c,
            None => return Ok(Admission::Unverified),
        };
        if let Credential::Login { .. } = credential
            && !cfg.allow_credentials_login
        {
            // `handle` gives the exact refusal; nothing of size is needed for it.
            return Ok(Admission::Unverified);
        }
        check_app_token(cfg, app_token.as_deref()).map_err(|e| {
            cx.failed_authentication();
            refuse(e)
        })?;
        let by_token = matches!(credential, Credential::Token { .. });
        return match cx.admit(&credential, None) {
            Ok(_) => Ok(Admission::Verified),
            Err(e) => Err(refuse(login_refusal(&e, by_token, cx.peer()))),
        };
    }

    let Some(token) = header(&head.headers, "session-token")
        .map(str::to_owned)
        .or_else(|| from_query("session_token"))
    else {
        return Ok(Admission::Unverified);
    };
    check_app_token(cfg, app_token.as_deref()).map_err(|e| {
        cx.failed_authentication();
        refuse(e)
    })?;
    let Some(session) = server.inner.sessions.touch(&token) else {
        cx.failed_authentication();
        return Err(refuse(ApiError::session_token_invalid()));
    };
    let credential = Credential::Session {
        consumer: session.consumer,
    };
    let consumer = cx
        .admit(&credential, None)
        .map_err(|e| refuse(ApiError::from_canonical(&e, crate::errors::Stage::Read)))?;
    // A consumer that may not write gets its per-item refusals from `handle`, as on
    // the real server, but on a small body: a large one is only for writers.
    let writes = matches!(
        head.method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let may_write = [
        Permission::Create,
        Permission::Update,
        Permission::Delete,
        Permission::Subtickets,
    ]
    .into_iter()
    .any(|p| consumer.permissions.has(p));
    if writes && !may_write {
        return Ok(Admission::Unverified);
    }
    Ok(Admission::Verified)
}

/// The `initSession` credential in the head: `Authorization: user_token …` or Basic,
/// else `user_token` or `login` + `password` in the query string.
fn login_credential(
    headers: &HeaderMap,
    from_query: &dyn Fn(&str) -> Option<String>,
    app_token: Option<String>,
) -> Option<Credential> {
    let (mut user_token, mut login) = (None, None);
    if let Some(auth) = header(headers, "authorization") {
        if auth.contains("user_token") {
            user_token = auth.split(' ').nth(1).map(str::to_owned);
        } else if let Some(b64) = auth
            .strip_prefix("Basic ")
            .or_else(|| auth.strip_prefix("basic "))
            && let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim())
            && let Ok(text) = String::from_utf8(raw)
            && let Some((user, pass)) = text.split_once(':')
        {
            login = Some((user.to_owned(), pass.to_owned()));
        }
    }
    let user_token = user_token
        .or_else(|| from_query("user_token"))
        .filter(|t| !t.is_empty());
    if let Some(user_token) = user_token {
        return Some(crate::vendor::user_token(user_token, app_token));
    }
    let (user, password) = match login {
        Some(l) => l,
        None => (from_query("login")?, from_query("password")?),
    };
    (!user.is_empty() && !password.is_empty())
        .then(|| crate::vendor::login(user, password, app_token))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}
