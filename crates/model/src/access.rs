//! Who is calling, and what they may do.
//!
//! Every dialect has its own credential (a bearer key, osTicket's `X-API-Key`, an
//! ITSM-NG user token, a TicketsApi JWT). A server face extracts a [`Credential`]; the
//! gateway maps it onto one configured [`Consumer`] and checks the [`Permission`] the
//! operation needs. The permission set is osTicket's API-key model, which every other
//! vendor's finer rights map onto.

use crate::helpdesk::Operation;
use std::fmt;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    Create,
    Read,
    Update,
    Search,
    Delete,
    Stats,
    Subtickets,
}

impl Permission {
    pub const ALL: [Permission; 7] = [
        Permission::Create,
        Permission::Read,
        Permission::Update,
        Permission::Search,
        Permission::Delete,
        Permission::Stats,
        Permission::Subtickets,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Create => "create",
            Permission::Read => "read",
            Permission::Update => "update",
            Permission::Search => "search",
            Permission::Delete => "delete",
            Permission::Stats => "stats",
            Permission::Subtickets => "subtickets",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The permission a canonical operation needs.
    pub fn for_operation(op: Operation) -> Self {
        match op {
            Operation::Create => Permission::Create,
            Operation::Get | Operation::Parent | Operation::Children | Operation::Lookup => {
                Permission::Read
            }
            Operation::Update
            | Operation::AddEntry
            | Operation::Resolve
            | Operation::Close
            | Operation::Assign
            | Operation::Attach => Permission::Update,
            Operation::Delete | Operation::Purge => Permission::Delete,
            Operation::Search => Permission::Search,
            Operation::Stats => Permission::Stats,
            Operation::Link | Operation::Unlink => Permission::Subtickets,
        }
    }

    /// The rate-limit class of requests that need this permission.
    pub fn route_class(self) -> RouteClass {
        match self {
            Permission::Create => RouteClass::Create,
            Permission::Read | Permission::Stats => RouteClass::Read,
            Permission::Search => RouteClass::Search,
            Permission::Update | Permission::Delete | Permission::Subtickets => RouteClass::Write,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of permissions.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions(u8);

impl Permissions {
    pub fn all() -> Self {
        Self::of(&Permission::ALL)
    }

    pub fn of(perms: &[Permission]) -> Self {
        Self(perms.iter().fold(0, |acc, p| acc | p.bit()))
    }

    pub fn has(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |p| self.has(*p))
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Permission::as_str))
            .finish()
    }
}

/// Rate-limit classes: each consumer has a quota per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteClass {
    Create,
    Read,
    Write,
    Search,
}

impl RouteClass {
    pub const ALL: [RouteClass; 4] = [
        RouteClass::Create,
        RouteClass::Read,
        RouteClass::Write,
        RouteClass::Search,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RouteClass::Create => "create",
            RouteClass::Read => "read",
            RouteClass::Write => "write",
            RouteClass::Search => "search",
        }
    }
}

/// An authenticated caller, as a server face sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    pub name: Arc<str>,
    pub permissions: Permissions,
}

impl Consumer {
    pub fn new(name: &str, permissions: Permissions) -> Self {
        Self {
            name: Arc::from(name),
            permissions,
        }
    }
}

/// A key of `[[consumers]]` that a vendor owns (`rt_token = "…"`), declared in the
/// vendor's registration (see [`crate::Vendor::consumer_keys`]): the gateway accepts it in
/// the configuration, keeps its values by kind, and matches a [`Credential`] that names
/// it against them. Each key is declared by one vendor only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConsumerKey {
    /// The key as written in `[[consumers]]`.
    pub name: &'static str,
    pub kind: KeyKind,
}

impl ConsumerKey {
    /// A secret the consumer presents on its own ([`Credential::Token`]).
    pub const fn token(name: &'static str) -> Self {
        Self {
            name,
            kind: KeyKind::Token,
        }
    }

    /// A name that a credential the face verified carries ([`Credential::Identity`]).
    pub const fn identity(name: &'static str) -> Self {
        Self {
            name,
            kind: KeyKind::Identity,
        }
    }

    /// A login, presented with a password ([`Credential::Login`]).
    pub const fn login(name: &'static str) -> Self {
        Self {
            name,
            kind: KeyKind::Login,
        }
    }

    /// A secret checked only alongside another credential (a password, an app token).
    pub const fn secret(name: &'static str) -> Self {
        Self {
            name,
            kind: KeyKind::Secret,
        }
    }
}

/// What a consumer key holds, and so how the gateway keeps and checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// A secret token: kept as a digest, compared in constant time, naming one consumer
    /// only; a value starting with `demo-` is a demo key.
    Token,
    /// A name carried by a credential the face verified itself (a JWT's `sub`): naming
    /// one consumer only, not secret.
    Identity,
    /// A login: naming one consumer only, not secret, accepted only with the password
    /// kept under another key.
    Login,
    /// A secret that is never a credential on its own (a login's password, an
    /// ITSM-NG App-Token): kept as a digest, checked with the credential it goes with.
    Secret,
}

/// What a request presented to prove who it is. Secrets are redacted from `Debug`.
///
/// Each credential that names a consumer key says which one (a `&'static str` of the
/// vendor's [`ConsumerKey`]s); the gateway looks the value up among the consumers' values
/// of that key, of the kind the variant needs, and decides who the caller is.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Nothing usable was presented.
    Missing,
    /// A secret token, matched against the consumers' values of the [`KeyKind::Token`]
    /// key `key`: `bearer_key` (canonical `Authorization: Bearer …`), `osticket_key`
    /// (`X-API-Key`), `itsmng_user_token` (`Authorization: user_token …`), `rt_token`
    /// (`Authorization: token …`).
    Token {
        key: &'static str,
        value: String,
        /// A secret the consumer may require with it (ITSM-NG's App-Token).
        also: Option<Also>,
    },
    /// A login (a [`KeyKind::Login`] key) and its password (the consumer's
    /// [`KeyKind::Secret`] `password_key`), as ITSM-NG's `initSession` takes them.
    Login {
        key: &'static str,
        user: String,
        password_key: &'static str,
        password: String,
        also: Option<Also>,
    },
    /// A name the face verified itself, matched against the consumers' values of the
    /// [`KeyKind::Identity`] key `key`: the `sub` of a JWT whose signature, lifetime,
    /// issuer and audience TicketsApi's face checked (`jwt_subject`).
    Identity { key: &'static str, value: String },
    /// A consumer the face authenticated earlier and holds a session for (the owner of an
    /// ITSM-NG session token).
    Session { consumer: String },
}

/// A [`KeyKind::Secret`] that must come with a credential when the consumer has one:
/// `value` is what the request presented (ITSM-NG's `App-Token`, `itsmng_app_token`).
#[derive(Clone, PartialEq, Eq)]
pub struct Also {
    pub key: &'static str,
    pub value: Option<String>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Missing => f.write_str("Missing"),
            Credential::Token { key, also, .. } => {
                write!(f, "Token({key}, <redacted>{})", Redacted(also))
            }
            Credential::Login {
                key, user, also, ..
            } => {
                write!(f, "Login({key} {user}, <redacted>{})", Redacted(also))
            }
            Credential::Identity { key, value } => write!(f, "Identity({key} {value})"),
            Credential::Session { consumer } => write!(f, "Session({consumer})"),
        }
    }
}

impl fmt::Debug for Also {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value {
            Some(_) => write!(f, "Also({}, <redacted>)", self.key),
            None => write!(f, "Also({}, none)", self.key),
        }
    }
}

/// `, with KEY` for an [`Also`], never its value.
struct Redacted<'a>(&'a Option<Also>);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(Also {
                key,
                value: Some(_),
            }) => write!(f, ", {key} <redacted>"),
            Some(Also { key, value: None }) => write!(f, ", no {key}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_needs_a_permission_in_a_class() {
        for op in Operation::ALL {
            let p = Permission::for_operation(op);
            assert!(RouteClass::ALL.contains(&p.route_class()));
        }
    }

    #[test]
    fn secrets_never_reach_debug_output() {
        let also = Some(Also {
            key: "app",
            value: Some("app-s3cret".into()),
        });
        let c = Credential::Token {
            key: "osticket_key",
            value: "s3cret".into(),
            also: also.clone(),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("osticket_key"), "{shown}");
        let c = Credential::Login {
            key: "login",
            user: "u".into(),
            password_key: "password",
            password: "pw123".into(),
            also,
        };
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("pw123") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn permission_sets() {
        let p = Permissions::of(&[Permission::Create, Permission::Read]);
        assert!(p.has(Permission::Create) && !p.has(Permission::Delete));
        assert_eq!(format!("{p:?}"), r#"{"create", "read"}"#);
    }
}
