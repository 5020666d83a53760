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

/// What a request presented to prove who it is. Secrets are redacted from `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// Nothing usable was presented.
    Missing,
    /// `Authorization: Bearer KEY` on the canonical API.
    Bearer(String),
    /// osTicket's `X-API-Key`.
    ApiKey(String),
    /// ITSM-NG `initSession` with `Authorization: user_token …` (and maybe an `App-Token`).
    UserToken {
        user_token: String,
        app_token: Option<String>,
    },
    /// HTTP Basic (ITSM-NG `initSession` with login and password).
    Basic {
        user: String,
        password: String,
        app_token: Option<String>,
    },
    /// The `sub` claim of a JWT whose signature, lifetime, issuer and audience the face
    /// has checked (TicketsApi); the gateway maps the subject onto a consumer.
    JwtSubject(String),
    /// A consumer the face authenticated earlier and holds a session for (the owner of an
    /// ITSM-NG session token).
    Session { consumer: String },
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Missing => f.write_str("Missing"),
            Credential::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Credential::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Credential::UserToken { .. } => f.write_str("UserToken(<redacted>)"),
            Credential::Basic { user, .. } => write!(f, "Basic({user}, <redacted>)"),
            Credential::JwtSubject(sub) => write!(f, "JwtSubject({sub})"),
            Credential::Session { consumer } => write!(f, "Session({consumer})"),
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
        let c = Credential::ApiKey("s3cret".into());
        assert!(!format!("{c:?}").contains("s3cret"));
        let c = Credential::Basic {
            user: "u".into(),
            password: "pw123".into(),
            app_token: None,
        };
        assert!(!format!("{c:?}").contains("pw123"));
    }

    #[test]
    fn permission_sets() {
        let p = Permissions::of(&[Permission::Create, Permission::Read]);
        assert!(p.has(Permission::Create) && !p.has(Permission::Delete));
        assert_eq!(format!("{p:?}"), r#"{"create", "read"}"#);
    }
}
