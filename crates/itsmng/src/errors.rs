//! ITSM-NG's error answers: `["ERROR_CODE", message]` with the real server's status,
//! and the one place where a canonical [`Error`] becomes such an answer.
//!
//! The codes, statuses and messages are those of the real `apirest.php` (see the
//! crate docs); "+doc" messages end with the "view documentation" suffix that names
//! the API's own URL.

use serde_json::Value;
use ticketgate_model::{Error, ErrorKind, UpstreamAnswer, UpstreamHint, classify_upstream};

/// One error answer of the ITSM-NG dialect.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: &'static str,
    pub status: u16,
    /// A string, the per-item results array of a batch, or `null`.
    pub message: Value,
    /// Whether the message ends with "; view documentation in your browser at …".
    pub doc: bool,
    /// `Retry-After` seconds, for a rate-limited caller.
    pub retry_after: Option<u64>,
}

/// In which request a canonical error happened: a failed add is `ERROR_GLPI_ADD`, a
/// failed update `ERROR_GLPI_UPDATE`, and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Read,
    Add,
    Update,
    Delete,
}

impl ApiError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>, doc: bool) -> Self {
        Self {
            code,
            status,
            message: Value::String(message.into()),
            doc,
            retry_after: None,
        }
    }

    /// The generic `ERROR` with the "Bad Request; …" form the server uses for bad
    /// parameters.
    pub fn bad_request(detail: &str) -> Self {
        Self::new("ERROR", 400, detail, true)
    }

    pub fn session_token_missing() -> Self {
        Self::new(
            "ERROR_SESSION_TOKEN_MISSING",
            400,
            "parameter session_token is missing or empty",
            true,
        )
    }

    pub fn session_token_invalid() -> Self {
        Self::new(
            "ERROR_SESSION_TOKEN_INVALID",
            401,
            "session_token seems invalid",
            false,
        )
    }

    pub fn app_token_missing() -> Self {
        Self::new(
            "ERROR_APP_TOKEN_PARAMETERS_MISSING",
            400,
            "missing parameter app_token",
            true,
        )
    }

    pub fn wrong_app_token() -> Self {
        Self::new(
            "ERROR_WRONG_APP_TOKEN_PARAMETER",
            400,
            "parameter app_token seems wrong",
            true,
        )
    }

    pub fn login_parameters_missing() -> Self {
        Self::new(
            "ERROR_LOGIN_PARAMETERS_MISSING",
            400,
            "parameter(s) login, password or user_token are missing",
            true,
        )
    }

    pub fn login_with_credentials_disabled() -> Self {
        Self::new(
            "ERROR_LOGIN_WITH_CREDENTIALS_DISABLED",
            400,
            "usage of initSession resource with credentials is disabled",
            false,
        )
    }

    pub fn glpi_login() -> Self {
        Self::new(
            "ERROR_GLPI_LOGIN",
            401,
            "Incorrect username or password",
            false,
        )
    }

    pub fn glpi_login_user_token() -> Self {
        Self::new(
            "ERROR_GLPI_LOGIN_USER_TOKEN",
            401,
            "parameter user_token seems invalid",
            false,
        )
    }

    pub fn not_allowed_ip(ip: &str) -> Self {
        Self::new(
            "ERROR_NOT_ALLOWED_IP",
            400,
            format!(
                "There isn't an active API client matching your IP address in the configuration ({ip})"
            ),
            false,
        )
    }

    pub fn item_not_found() -> Self {
        Self::new("ERROR_ITEM_NOT_FOUND", 404, "Item not found", false)
    }

    pub fn right_missing() -> Self {
        Self::new(
            "ERROR_RIGHT_MISSING",
            403,
            "You don't have permission to perform this action.",
            false,
        )
    }

    pub fn bad_array() -> Self {
        Self::new(
            "ERROR_BAD_ARRAY",
            400,
            "input parameter must be an array of objects",
            true,
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new("ERROR_METHOD_NOT_ALLOWED", 405, "Method Not Allowed", true)
    }

    pub fn resource_not_found() -> Self {
        Self::new(
            "ERROR_RESOURCE_NOT_FOUND_NOR_COMMONDBTM",
            400,
            "resource not found or not an instance of CommonDBTM",
            true,
        )
    }

    pub fn resource_missing() -> Self {
        Self::new("ERROR_RESOURCE_MISSING", 400, "missing resource", true)
    }

    pub fn itemtype_not_found() -> Self {
        Self::new(
            "ERROR_ITEMTYPE_NOT_FOUND_NOR_COMMONDBTM",
            400,
            "itemtype not found or not an instance of CommonDBTM",
            true,
        )
    }

    pub fn json_payload_forbidden() -> Self {
        Self::new(
            "ERROR_JSON_PAYLOAD_FORBIDDEN",
            400,
            "GET Request should not have json payload (http body)",
            true,
        )
    }

    pub fn json_payload_invalid() -> Self {
        Self::new(
            "ERROR_JSON_PAYLOAD_INVALID",
            400,
            "JSON payload seems not valid",
            false,
        )
    }

    pub fn upload_too_big() -> Self {
        Self::new(
            "ERROR_UPLOAD_FILE_TOO_BIG_POST_MAX_SIZE",
            400,
            "The file seems too big",
            false,
        )
    }

    pub fn range_exceed_total(total: u64) -> Self {
        Self::new(
            "ERROR_RANGE_EXCEED_TOTAL",
            400,
            format!("Provided range exceed total count of data: {total}"),
            true,
        )
    }

    /// A batch or single-item failure whose message is a string, `null` or the
    /// per-item results array.
    pub fn with_value(code: &'static str, status: u16, message: Value) -> Self {
        Self {
            code,
            status,
            message,
            doc: false,
            retry_after: None,
        }
    }

    /// What the gateway cannot do here at all (the real server has no such answer;
    /// ticketgate says 501 as it does in every dialect).
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new("ERROR", 501, message, false)
    }

    /// The canonical error `e`, raised while doing `stage`, as the closest answer
    /// the real server gives.
    pub fn from_canonical(e: &Error, stage: Stage) -> Self {
        let failed = |code| Self::new(code, 400, e.message.clone(), false);
        match e.kind {
            ErrorKind::NotFound => match stage {
                Stage::Read => Self::item_not_found(),
                Stage::Add => failed("ERROR_GLPI_ADD"),
                // The real server drops a not-found item from its results, leaving null.
                Stage::Update => Self::with_value("ERROR_GLPI_UPDATE", 400, Value::Null),
                Stage::Delete => Self::new("ERROR_GLPI_DELETE", 400, "Item not found", false),
            },
            // An upstream that answered what cannot be read (an HTML login page for
            // JSON) or refused the gateway's own credentials is no fault of the
            // caller's: a 502, as every other dialect answers, never a 400.
            ErrorKind::UpstreamRejected if e.http_status() >= 500 => {
                Self::new("ERROR", e.http_status(), e.message.clone(), false)
            }
            // An item the helpdesk behind says it does not have (a 404 there): read,
            // it is not found here either.
            ErrorKind::UpstreamRejected if e.http_status() == 404 && stage == Stage::Read => {
                Self::item_not_found()
            }
            ErrorKind::BadInput
            | ErrorKind::Conflict
            | ErrorKind::UpstreamRejected
            | ErrorKind::UnsupportedMediaType
            | ErrorKind::PayloadTooLarge => match stage {
                Stage::Add => failed("ERROR_GLPI_ADD"),
                Stage::Update => failed("ERROR_GLPI_UPDATE"),
                Stage::Delete => failed("ERROR_GLPI_DELETE"),
                Stage::Read => {
                    let mut a = Self::new("ERROR", 400, e.message.clone(), false);
                    if e.kind == ErrorKind::PayloadTooLarge {
                        a.status = 413;
                    }
                    a
                }
            },
            ErrorKind::Unauthorized => Self::session_token_invalid(),
            ErrorKind::Forbidden => Self::right_missing(),
            ErrorKind::RateLimited => {
                let mut a = Self::new("ERROR", 429, e.message.clone(), false);
                a.retry_after = Some(e.retry_after.map_or(1, |d| d.as_secs().max(1)));
                a
            }
            ErrorKind::Unsupported => Self::unsupported(e.message.clone()),
            ErrorKind::UpstreamUnavailable | ErrorKind::StorageUnavailable => {
                let mut a = Self::new("ERROR", e.http_status(), e.message.clone(), false);
                a.retry_after = e.retry_after.map(|d| d.as_secs().max(1));
                a
            }
            ErrorKind::Internal => Self::new(
                "ERROR_SQL",
                500,
                format!("Unexpected SQL Error : {}", e.message),
                false,
            ),
        }
    }

    /// The body: `["CODE", message]`, with the documentation suffix when the real
    /// server adds one. `api_url` is the API's own URL (`http://host/apirest.php`).
    pub fn body(&self, api_url: &str) -> Value {
        let message = match (&self.message, self.doc) {
            (Value::String(s), true) => Value::String(format!(
                "{s}; view documentation in your browser at {}/#{}",
                api_url.trim_end_matches('/'),
                self.code
            )),
            (m, _) => m.clone(),
        };
        Value::Array(vec![Value::String(self.code.to_owned()), message])
    }
}

/// An ITSM-NG error body read back by the client face: the code and the message as
/// text (a batch's results array is kept as its JSON text).
pub fn parse_error_body(body: &[u8]) -> Option<(String, String)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let arr = v.as_array()?;
    let code = arr.first()?.as_str()?.to_owned();
    if !code.starts_with("ERROR") {
        return None;
    }
    let message = match arr.get(1) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    Some((code, message))
}

/// The canonical error for an ITSM-NG error answer seen by the client face.
pub fn to_canonical(status: u16, code: &str, message: &str) -> Error {
    // The documentation suffix names the upstream's URL: useless to the caller.
    let message = message
        .split("; view documentation in your browser at")
        .next()
        .unwrap_or(message)
        .to_owned();
    let hint = match (status, code) {
        (_, "ERROR_ITEM_NOT_FOUND") => UpstreamHint::NotFound,
        // A single update of a missing item comes back with a null message.
        (_, "ERROR_GLPI_UPDATE") if message.is_empty() => UpstreamHint::NotFound,
        (_, "ERROR_GLPI_DELETE") if message == "Item not found" => UpstreamHint::NotFound,
        (
            _,
            "ERROR_SESSION_TOKEN_INVALID"
            | "ERROR_SESSION_TOKEN_MISSING"
            | "ERROR_GLPI_LOGIN"
            | "ERROR_GLPI_LOGIN_USER_TOKEN"
            | "ERROR_LOGIN_PARAMETERS_MISSING"
            | "ERROR_LOGIN_WITH_CREDENTIALS_DISABLED"
            | "ERROR_APP_TOKEN_PARAMETERS_MISSING"
            | "ERROR_WRONG_APP_TOKEN_PARAMETER"
            | "ERROR_NOT_ALLOWED_IP",
        ) => UpstreamHint::CredentialsRefused,
        (_, "ERROR_GLPI_ADD" | "ERROR_GLPI_UPDATE" | "ERROR_GLPI_DELETE")
            if message == "You don't have permission to perform this action." =>
        {
            return rights_refused(&message);
        }
        (_, "ERROR_RIGHT_MISSING") | (403, _) => return rights_refused(&message),
        _ => UpstreamHint::None,
    };
    let message = match hint {
        UpstreamHint::NotFound if message.is_empty() => "Item not found".to_owned(),
        _ => message,
    };
    classify_upstream(
        "ITSM-NG",
        &UpstreamAnswer {
            status,
            hint,
            message: &message,
            retry_after: None,
        },
    )
}

/// The gateway's account lacks a right: permanent, and the gateway's fault (502).
fn rights_refused(message: &str) -> Error {
    Error::upstream_rejected(format!(
        "the upstream refused the gateway's rights: {message}"
    ))
    .with_upstream_status(403)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_suffix_names_the_api_url() {
        let body = ApiError::session_token_missing().body("http://h/apirest.php/");
        assert_eq!(
            body,
            serde_json::json!([
                "ERROR_SESSION_TOKEN_MISSING",
                "parameter session_token is missing or empty; view documentation in your browser at http://h/apirest.php/#ERROR_SESSION_TOKEN_MISSING"
            ])
        );
    }

    #[test]
    fn client_side_mapping() {
        let e = to_canonical(404, "ERROR_ITEM_NOT_FOUND", "Item not found");
        assert_eq!(e.http_status(), 404);
        let e = to_canonical(500, "ERROR_SQL", "x");
        assert!(e.retryable);
        let e = to_canonical(401, "ERROR_SESSION_TOKEN_INVALID", "x");
        assert_eq!(e.http_status(), 502);
        let e = to_canonical(
            400,
            "ERROR_GLPI_ADD",
            "You don't have permission to perform this action.",
        );
        assert_eq!(e.upstream_status, Some(403));
        assert_eq!(e.http_status(), 502);
        let e = to_canonical(400, "ERROR_GLPI_ADD", "Incorrect value for date field.");
        assert_eq!(e.http_status(), 400);
    }
}
