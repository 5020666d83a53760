//! Consumers: who may call, from where, with which permissions and quotas.
//!
//! Keys are kept only as SHA-256 digests; a presented key is hashed and compared in
//! constant time, and no key, token or password is ever logged or echoed.

use crate::config::{Cidr, Config, ConsumerConfig, Rate};
use crate::ratelimit::{Limiter, RateReport};
use crate::tls::PeerIdentity;
use governor::{DefaultKeyedRateLimiter, RateLimiter};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use ticketgate_model::{
    Also, Consumer, Credential, Error, ErrorKind, KeyKind, Permission, Permissions, RouteClass,
};

type Digest32 = [u8; 32];

fn digest(secret: &str) -> Digest32 {
    #[cfg(test)]
    tests::DIGESTS.with(|n| n.set(n.get() + 1));
    Sha256::digest(secret.as_bytes()).into()
}

/// What a password is compared with when the login names no one (or someone without
/// a password): the same hashing and the same constant-time comparison happen as for
/// a known user with a wrong password, so the answer's timing does not tell which
/// logins exist. No password's digest is this value, and the comparison's result is
/// discarded anyway.
const DUMMY_DIGEST: Digest32 = [0x5a; 32];

/// Check a login's password and app token with the same work whether or not the login
/// is known: the presented password (and app token, when one is presented) is always
/// hashed and always compared in constant time.
fn check_login(
    expected_password: Option<&Digest32>,
    password: &str,
    expected_app_token: Option<&Digest32>,
    app_token: Option<&str>,
) -> bool {
    let presented = digest(password);
    let password_ok = bool::from(expected_password.unwrap_or(&DUMMY_DIGEST).ct_eq(&presented))
        & expected_password.is_some();
    let app_ok = match (expected_app_token, app_token.map(digest)) {
        (None, _) => true,
        (Some(expected), Some(p)) => bool::from(expected.ct_eq(&p)),
        (Some(_), None) => false,
    };
    password_ok & app_ok
}

/// Secrets of one kind, by digest. A presented secret is hashed; the stored digests
/// sharing its first 64 bits are the candidates (almost always none or one), and each
/// is compared whole in constant time. A lookup costs the same with 10 consumers or
/// 10 000, and its timing can only tell whether some stored digest starts with the
/// same 64 bits as the presented one's: finding a key with a chosen 64-bit digest
/// prefix is a 2^64 search, and would still not be a key.
#[derive(Default)]
struct DigestIndex(HashMap<u64, Vec<(Digest32, usize)>>);

impl DigestIndex {
    fn prefix(d: &Digest32) -> u64 {
        let mut p = [0u8; 8];
        p.copy_from_slice(&d[..8]);
        u64::from_le_bytes(p)
    }

    fn insert(&mut self, secret: &str, consumer: usize) {
        let d = digest(secret);
        self.0
            .entry(Self::prefix(&d))
            .or_default()
            .push((d, consumer));
    }

    fn find(&self, secret: &str) -> Option<usize> {
        let d = digest(secret);
        let mut found = None;
        for (stored, i) in self.0.get(&Self::prefix(&d))? {
            if bool::from(stored.ct_eq(&d)) {
                found = Some(*i);
            }
        }
        found
    }
}

/// One configured consumer, ready to check requests against.
pub struct ConsumerEntry {
    pub consumer: Consumer,
    pub upstream: String,
    networks: Vec<Cidr>,
    /// The client certificate name this consumer's credentials need (see
    /// `ConsumerConfig::tls_subject`).
    tls_subject: Option<String>,
    /// The digests of the secrets checked with a credential (`KeyKind::Secret`: a
    /// login's password, an ITSM-NG App-Token), by configuration key.
    secrets: HashMap<&'static str, Digest32>,
    limiters: [Limiter; 4],
    /// The Redis keys of the quotas when they are shared (`[rate_limits.shared]`).
    shared_keys: Option<[String; 4]>,
}

impl ConsumerEntry {
    pub fn limiter(&self, class: RouteClass) -> &Limiter {
        &self.limiters[class as usize]
    }

    /// The Redis key of this consumer's quota for `class`, when quotas are shared.
    pub fn shared_key(&self, class: RouteClass) -> Option<&str> {
        self.shared_keys
            .as_ref()
            .map(|keys| keys[class as usize].as_str())
    }
}

/// Every consumer, indexed by each consumer key its credentials are matched against
/// (the keys the vendors declare, see `ticketgate_model::ConsumerKey`).
pub struct Consumers {
    entries: Vec<ConsumerEntry>,
    /// One index per token key (`bearer_key`, `osticket_key`, `rt_token`, …).
    by_token: HashMap<&'static str, DigestIndex>,
    /// One map per identity key (`jwt_subject`).
    by_identity: HashMap<&'static str, HashMap<String, usize>>,
    /// One map per login key (`itsmng_login`).
    by_login: HashMap<&'static str, HashMap<String, usize>>,
    by_tls_subject: HashMap<String, usize>,
    by_name: HashMap<String, usize>,
    failed_auth: DefaultKeyedRateLimiter<IpAddr>,
    failed_auth_rate: Rate,
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

impl Consumers {
    pub fn from_config(config: &Config) -> Self {
        let mut c = Consumers {
            entries: Vec::new(),
            by_token: HashMap::new(),
            by_identity: HashMap::new(),
            by_login: HashMap::new(),
            by_tls_subject: HashMap::new(),
            by_name: HashMap::new(),
            failed_auth: RateLimiter::keyed(crate::ratelimit::quota(
                config.rate_limits.failed_auth,
            )),
            failed_auth_rate: config.rate_limits.failed_auth,
            blocked: Mutex::new(HashMap::new()),
        };
        let prefix = config
            .rate_limits
            .shared
            .as_ref()
            .map(|s| s.key_prefix.as_str());
        for cc in &config.consumers {
            c.add(cc, &config.routing.default, prefix);
        }
        c
    }

    fn add(&mut self, cc: &ConsumerConfig, default_upstream: &str, shared_prefix: Option<&str>) {
        let i = self.entries.len();
        let perms: Vec<Permission> = cc.permissions.iter().map(|p| p.0).collect();
        let mut secrets = HashMap::new();
        for (key, value) in cc.all_keys() {
            match key.kind {
                KeyKind::Token => self.by_token.entry(key.name).or_default().insert(value, i),
                KeyKind::Identity => {
                    self.by_identity
                        .entry(key.name)
                        .or_default()
                        .insert(value.to_owned(), i);
                }
                KeyKind::Login => {
                    self.by_login
                        .entry(key.name)
                        .or_default()
                        .insert(value.to_owned(), i);
                }
                KeyKind::Secret => {
                    secrets.insert(key.name, digest(value));
                }
            }
        }
        self.entries.push(ConsumerEntry {
            consumer: Consumer::new(&cc.name, Permissions::of(&perms)),
            upstream: cc
                .upstream
                .clone()
                .unwrap_or_else(|| default_upstream.to_owned()),
            networks: cc.networks.clone(),
            tls_subject: cc.tls_subject.clone(),
            secrets,
            limiters: [
                Limiter::new("create", cc.quota.create),
                Limiter::new("read", cc.quota.read),
                Limiter::new("write", cc.quota.write),
                Limiter::new("search", cc.quota.search),
            ],
            shared_keys: shared_prefix.map(|p| {
                ["create", "read", "write", "search"]
                    .map(|class| crate::shared::quota_key(p, &cc.name, class))
            }),
        });
        if let Some(s) = &cc.tls_subject {
            self.by_tls_subject.insert(s.clone(), i);
        }
        self.by_name.insert(cc.name.clone(), i);
    }

    pub fn entry(&self, name: &str) -> Option<&ConsumerEntry> {
        self.by_name.get(name).map(|i| &self.entries[*i])
    }

    /// Identify the consumer behind a credential and check its source network.
    pub fn authenticate(
        &self,
        credential: &Credential,
        peer: IpAddr,
    ) -> Result<&ConsumerEntry, Error> {
        self.authenticate_with(credential, peer, None, &|| self.note_failure(peer))
    }

    /// [`Self::authenticate`] on a connection whose client certificate, if verified,
    /// says `tls`: with no other credential, the certificate is one (the consumer
    /// whose `tls_subject` it names); and a consumer with a `tls_subject` is accepted
    /// only over a connection with that certificate, whatever else it presents. Each
    /// failed authentication is handed to `failed` (the local limiter, or the shared
    /// one, which counts it once the request is answered).
    pub fn authenticate_with(
        &self,
        credential: &Credential,
        peer: IpAddr,
        tls: Option<&PeerIdentity>,
        failed: &dyn Fn(),
    ) -> Result<&ConsumerEntry, Error> {
        if let Some(until) = self.blocked_until(peer) {
            return Err(
                Error::rate_limited(until.saturating_duration_since(Instant::now()))
                    .field("authentication"),
            );
        }
        let found = match (credential, tls) {
            (Credential::Missing, Some(id)) => id
                .names
                .iter()
                .find_map(|n| self.by_tls_subject.get(n).copied()),
            _ => self.lookup(credential),
        };
        let entry = match found {
            Some(i) => &self.entries[i],
            None => {
                failed();
                return Err(match credential {
                    Credential::Missing => Error::unauthorized("credentials are required"),
                    _ => Error::unauthorized("the credentials are not valid"),
                });
            }
        };
        if let Some(subject) = &entry.tls_subject
            && !tls.is_some_and(|id| id.has(subject))
        {
            failed();
            return Err(Error::unauthorized(
                "these credentials are accepted only with their client certificate",
            ));
        }
        if !entry.networks.is_empty() && !entry.networks.iter().any(|n| n.contains(peer)) {
            failed();
            return Err(Error::forbidden(
                "these credentials may not be used from this network address",
            )
            .field("network"));
        }
        Ok(entry)
    }

    /// The head phase: authenticate and, when `need` is given, check the permission,
    /// without taking a quota token.
    pub fn admit(
        &self,
        credential: &Credential,
        need: Option<Permission>,
        peer: IpAddr,
        tls: Option<&PeerIdentity>,
    ) -> Result<&ConsumerEntry, Error> {
        self.admit_with(credential, need, peer, tls, &|| self.note_failure(peer))
    }

    /// [`admit`](Self::admit), with failed authentications handed to `failed`.
    pub fn admit_with(
        &self,
        credential: &Credential,
        need: Option<Permission>,
        peer: IpAddr,
        tls: Option<&PeerIdentity>,
        failed: &dyn Fn(),
    ) -> Result<&ConsumerEntry, Error> {
        let entry = self.authenticate_with(credential, peer, tls, failed)?;
        match need {
            Some(p) if !entry.consumer.permissions.has(p) => Err(Error::forbidden(format!(
                "this consumer lacks the {} permission",
                p.as_str()
            ))),
            _ => Ok(entry),
        }
    }

    /// Authenticate, check the permission, and take a token from the consumer's quota.
    pub fn authorize(
        &self,
        credential: &Credential,
        need: Permission,
        peer: IpAddr,
    ) -> Result<(&ConsumerEntry, RateReport), (Error, Option<RateReport>)> {
        self.authorize_with(credential, need, peer, None)
    }

    /// [`Self::authorize`] on a connection with a client certificate identity (see
    /// [`Self::authenticate_with`]).
    pub fn authorize_with(
        &self,
        credential: &Credential,
        need: Permission,
        peer: IpAddr,
        tls: Option<&PeerIdentity>,
    ) -> Result<(&ConsumerEntry, RateReport), (Error, Option<RateReport>)> {
        let entry = self
            .authenticate_with(credential, peer, tls, &|| self.note_failure(peer))
            .map_err(|e| (e, None))?;
        if !entry.consumer.permissions.has(need) {
            return Err((
                Error::forbidden(format!(
                    "this consumer lacks the {} permission",
                    need.as_str()
                )),
                None,
            ));
        }
        match entry.limiter(need.route_class()).check() {
            Ok(report) => Ok((entry, report)),
            Err((e, report)) => Err((e, Some(report))),
        }
    }

    fn lookup(&self, credential: &Credential) -> Option<usize> {
        match credential {
            Credential::Missing => None,
            Credential::Token { key, value, also } => {
                let i = match self.by_token.get(key) {
                    Some(index) => index.find(value)?,
                    None => {
                        // No consumer sets this key: the same hashing as a miss.
                        digest(value);
                        return None;
                    }
                };
                self.also_ok(i, also.as_ref()).then_some(i)
            }
            Credential::Login {
                key,
                user,
                password_key,
                password,
                also,
            } => {
                // No early return for an unknown login: see `check_login`.
                let i = self.by_login.get(key).and_then(|m| m.get(user)).copied();
                let entry = i.map(|i| &self.entries[i]);
                let ok = check_login(
                    entry.and_then(|e| e.secrets.get(password_key)),
                    password,
                    entry.and_then(|e| also.as_ref().and_then(|a| e.secrets.get(a.key))),
                    also.as_ref().and_then(|a| a.value.as_deref()),
                );
                i.filter(|_| ok)
            }
            Credential::Identity { key, value } => self
                .by_identity
                .get(key)
                .and_then(|m| m.get(value))
                .copied(),
            Credential::Session { consumer } => self.by_name.get(consumer).copied(),
        }
    }

    /// The secret that must come with a credential, when consumer `i` has one.
    fn also_ok(&self, i: usize, also: Option<&Also>) -> bool {
        let Some(also) = also else {
            return true;
        };
        match (self.entries[i].secrets.get(also.key), also.value.as_deref()) {
            (None, _) => true,
            (Some(expected), Some(p)) => bool::from(expected.ct_eq(&digest(p))),
            (Some(_), None) => false,
        }
    }

    fn blocked_until(&self, peer: IpAddr) -> Option<Instant> {
        let blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        blocked
            .get(&failure_key(peer))
            .copied()
            .filter(|until| *until > Instant::now())
    }

    /// Refuse `peer` for `wait` before its credentials are even looked at (the shared
    /// limiter found it blocked).
    pub fn block(&self, peer: IpAddr, wait: Duration) {
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        blocked.insert(failure_key(peer), Instant::now() + wait);
    }

    /// The failed-authentication quota.
    pub fn failed_auth_rate(&self) -> Rate {
        self.failed_auth_rate
    }

    /// Count a failed authentication; past the quota the address is refused for a while
    /// before its credentials are even looked at.
    pub fn note_failure(&self, peer: IpAddr) {
        let key = failure_key(peer);
        if self.failed_auth.check_key(&key).is_err() {
            let pause = Duration::from_secs_f64(1.0 / self.failed_auth_rate.per_second);
            let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
            blocked.insert(key, Instant::now() + pause);
        }
    }

    /// Forget idle addresses (called periodically).
    pub fn housekeeping(&self) {
        self.failed_auth.retain_recent();
        self.failed_auth.shrink_to_fit();
        let now = Instant::now();
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        blocked.retain(|_, until| *until > now);
    }

    /// Addresses the failed-authentication limiter holds state for.
    pub fn failed_auth_keys(&self) -> usize {
        self.failed_auth.len()
    }

    /// Addresses refused for now after too many failures.
    pub fn blocked_addresses(&self) -> usize {
        self.blocked.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// What failed authentications are counted by: the client address, never anything
/// the client chose (a key, a user name), so guessing keys cannot grow the state.
/// An IPv6 client is counted by its /64, the block one subscriber is given, so
/// rotating through its own addresses buys it nothing; an IPv4-mapped address is
/// counted as the IPv4 address it is.
pub fn failure_key(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(_) => peer,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !((1u128 << 64) - 1),
            )),
        },
    }
}

/// Whether an error means "who are you?" (so the caller's dialect answers 401).
pub fn is_auth_failure(e: &Error) -> bool {
    matches!(e.kind, ErrorKind::Unauthorized | ErrorKind::Forbidden)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        /// How many secrets this thread has hashed.
        pub(super) static DIGESTS: Cell<usize> = const { Cell::new(0) };
    }

    fn token(key: &'static str, value: impl Into<String>) -> Credential {
        Credential::Token {
            key,
            value: value.into(),
            also: None,
        }
    }

    fn bearer(value: impl Into<String>) -> Credential {
        token("bearer_key", value)
    }

    fn user_token(value: impl Into<String>, app: Option<&str>) -> Credential {
        Credential::Token {
            key: "itsmng_user_token",
            value: value.into(),
            also: Some(Also {
                key: "itsmng_app_token",
                value: app.map(str::to_owned),
            }),
        }
    }

    fn login(user: &str, password: &str, app: Option<&str>) -> Credential {
        Credential::Login {
            key: "itsmng_login",
            user: user.into(),
            password_key: "itsmng_password",
            password: password.into(),
            also: Some(Also {
                key: "itsmng_app_token",
                value: app.map(str::to_owned),
            }),
        }
    }

    fn subject(value: impl Into<String>) -> Credential {
        Credential::Identity {
            key: "jwt_subject",
            value: value.into(),
        }
    }

    /// The digests computed by `f`.
    fn digests_in(f: impl FnOnce()) -> usize {
        let before = DIGESTS.with(Cell::get);
        f();
        DIGESTS.with(Cell::get) - before
    }

    /// Finding 6 of issue 16: a login for an unknown user returned before hashing.
    /// Every failing login now hashes and compares as much as a known user's does.
    #[test]
    fn an_unknown_login_costs_what_a_wrong_password_costs() {
        let c = consumers(
            r#"
[[consumers]]
name = "glpi"
itsmng_login = "glpi"
itsmng_password = "pw"
itsmng_app_token = "app"
permissions = ["read"]

[[consumers]]
name = "tokenonly"
itsmng_user_token = "u2"
itsmng_login = "nopassword"
permissions = ["read"]
"#,
        );
        let basic = login;
        for app in [Some("app"), Some("wrong-app"), None] {
            let known = digests_in(|| assert!(c.lookup(&basic("glpi", "wrong", app)).is_none()));
            let right = digests_in(|| {
                let _ = c.lookup(&basic("glpi", "pw", app));
            });
            let unknown =
                digests_in(|| assert!(c.lookup(&basic("nobody", "wrong", app)).is_none()));
            let no_password =
                digests_in(|| assert!(c.lookup(&basic("nopassword", "wrong", app)).is_none()));
            assert_eq!(known, right, "app token {app:?}");
            assert_eq!(unknown, known, "app token {app:?}");
            assert_eq!(no_password, known, "app token {app:?}");
            assert!(known >= 1);
        }
        assert!(c.lookup(&basic("glpi", "pw", Some("app"))).is_some());
    }

    fn consumers(extra: &str) -> Consumers {
        let text = format!(
            r#"
[rate_limits]
failed_auth = {{ per_second = 0.1, burst = 3 }}
[[consumers]]
name = "demo"
bearer_key = "k1"
osticket_key = "o1"
itsmng_user_token = "u1"
jwt_subject = "demo"
permissions = ["create", "read"]
networks = ["127.0.0.0/8"]
quota = {{ create = {{ per_second = 1.0, burst = 2 }} }}
{extra}"#
        );
        Consumers::from_config(&Config::parse(&text, &|_| None).unwrap())
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn each_credential_kind_finds_its_consumer() {
        let c = consumers("");
        for cred in [
            bearer("k1"),
            token("osticket_key", "o1"),
            user_token("u1", None),
            subject("demo"),
            Credential::Session {
                consumer: "demo".into(),
            },
        ] {
            assert_eq!(
                &*c.authenticate(&cred, LOCAL).unwrap().consumer.name,
                "demo"
            );
        }
        // A key of one dialect is not a key of another.
        assert!(c.authenticate(&bearer("o1"), LOCAL).is_err());
    }

    /// A vendor's token (declared in its crate's registration) is matched in the index
    /// of its own key, and of no other.
    #[test]
    fn a_token_a_vendor_declares_authenticates_through_its_key() {
        let c = consumers(
            r#"
[[consumers]]
name = "rt-user"
rt_token = "r1"
permissions = ["read"]
"#,
        );
        assert!(
            ticketgate_model::Vendor::consumer_keys(&ticketgate_rt::vendor::VENDOR)
                .contains(&ticketgate_model::ConsumerKey::token("rt_token"))
        );
        let found = c.authenticate(&token("rt_token", "r1"), LOCAL).unwrap();
        assert_eq!(&*found.consumer.name, "rt-user");
        for other in [
            "bearer_key",
            "osticket_key",
            "itsmng_user_token",
            "unheard_of",
        ] {
            assert!(
                c.authenticate(&token(other, "r1"), LOCAL).is_err(),
                "{other}"
            );
        }
        // Not a secret by another name either: a password or app token is never a
        // token, and a login or a token is never an identity the face can vouch for.
        let c = consumers(
            r#"
[[consumers]]
name = "glpi"
itsmng_login = "glpi"
itsmng_password = "pw"
permissions = ["read"]
"#,
        );
        assert!(
            c.authenticate(&token("itsmng_password", "pw"), LOCAL)
                .is_err()
        );
        for key in ["itsmng_login", "bearer_key"] {
            let cred = Credential::Identity {
                key,
                value: if key == "bearer_key" { "k1" } else { "glpi" }.into(),
            };
            assert!(c.authenticate(&cred, LOCAL).is_err(), "{key}");
        }
        // A login whose password key names a token is refused.
        let cred = Credential::Login {
            key: "itsmng_login",
            user: "glpi".into(),
            password_key: "bearer_key",
            password: "k1".into(),
            also: None,
        };
        assert!(c.authenticate(&cred, LOCAL).is_err());
    }

    #[test]
    fn a_user_token_needs_the_app_token_its_consumer_has() {
        let c = consumers(
            r#"
[[consumers]]
name = "app"
itsmng_user_token = "u2"
itsmng_app_token = "app"
permissions = ["read"]
"#,
        );
        assert!(
            c.authenticate(&user_token("u2", Some("app")), LOCAL)
                .is_ok()
        );
        assert!(
            c.authenticate(&user_token("u2", Some("nope")), LOCAL)
                .is_err()
        );
        assert!(c.authenticate(&user_token("u2", None), LOCAL).is_err());
        // A consumer without one takes any.
        assert!(
            c.authenticate(&user_token("u1", Some("any")), LOCAL)
                .is_ok()
        );
    }

    #[test]
    fn network_permission_and_quota_are_enforced() {
        let c = consumers("");
        let far: IpAddr = "192.0.2.7".parse().unwrap();
        let e = c.authenticate(&bearer("k1"), far).err().unwrap();
        assert_eq!(e.kind, ErrorKind::Forbidden);
        let e = c
            .authorize(&bearer("k1"), Permission::Delete, LOCAL)
            .err()
            .unwrap()
            .0;
        assert_eq!(e.kind, ErrorKind::Forbidden);
        assert!(
            c.authorize(&bearer("k1"), Permission::Create, LOCAL)
                .is_ok()
        );
        assert!(
            c.authorize(&bearer("k1"), Permission::Create, LOCAL)
                .is_ok()
        );
        let (e, report) = c
            .authorize(&bearer("k1"), Permission::Create, LOCAL)
            .err()
            .unwrap();
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert_eq!(report.unwrap().policy, "create");
        // Reads have their own quota.
        assert!(c.authorize(&bearer("k1"), Permission::Read, LOCAL).is_ok());
    }

    #[test]
    fn repeated_failures_block_the_address_but_not_others() {
        let c = consumers("");
        let attacker: IpAddr = "127.0.0.9".parse().unwrap();
        for _ in 0..4 {
            let _ = c.authenticate(&bearer("guess"), attacker);
        }
        let e = c.authenticate(&bearer("k1"), attacker).err().unwrap();
        assert_eq!(
            e.kind,
            ErrorKind::RateLimited,
            "even a right key waits once blocked"
        );
        assert!(c.authenticate(&bearer("k1"), LOCAL).is_ok());
        c.housekeeping();
    }

    #[test]
    fn unknown_keys_never_grow_the_limiter_state() {
        let c = consumers("");
        let attacker: IpAddr = "127.0.0.77".parse().unwrap();
        for i in 0..10_000 {
            let cred = match i % 4 {
                0 => bearer(format!("guess-{i}")),
                1 => token("osticket_key", format!("guess-{i}")),
                2 => user_token(format!("guess-{i}"), Some(&format!("app-{i}"))),
                _ => subject(format!("nobody-{i}")),
            };
            assert!(c.authorize(&cred, Permission::Read, attacker).is_err());
        }
        // One address, one entry: the keys tried are not remembered anywhere.
        assert_eq!(c.failed_auth_keys(), 1);
        assert_eq!(c.blocked_addresses(), 1);
        // The consumers' own quotas are untouched by strangers.
        assert!(
            c.authorize(&bearer("k1"), Permission::Create, LOCAL)
                .is_ok()
        );
    }

    #[test]
    fn idle_addresses_are_forgotten_by_housekeeping() {
        let c = consumers_with_failed_auth("{ per_second = 1000.0, burst = 5 }");
        for i in 0..10_000u32 {
            let [_, a, b, d] = i.to_be_bytes();
            let peer = IpAddr::V4(std::net::Ipv4Addr::new(10, a, b, d));
            let _ = c.authenticate(&bearer(format!("guess-{i}")), peer);
        }
        // Bounded by the addresses seen, not by the keys tried…
        assert_eq!(c.failed_auth_keys(), 10_000);
        std::thread::sleep(Duration::from_millis(20));
        c.housekeeping();
        // …and emptied once those addresses go quiet.
        assert_eq!(c.failed_auth_keys(), 0);
        assert_eq!(c.blocked_addresses(), 0);
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        let c = consumers_with_failed_auth("{ per_second = 0.1, burst = 3 }");
        for i in 0..1_000u16 {
            let peer = IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 1, i, i, 0, 1));
            let _ = c.authenticate(&bearer("guess"), peer);
        }
        assert_eq!(c.failed_auth_keys(), 1);
        let same_64: IpAddr = "2001:db8:0:1::abcd".parse().unwrap();
        let e = c.authenticate(&bearer("guess"), same_64).err().unwrap();
        assert_eq!(e.kind, ErrorKind::RateLimited);
        let other_64: IpAddr = "2001:db8:0:2::1".parse().unwrap();
        let e = c.authenticate(&bearer("guess"), other_64).err().unwrap();
        assert_eq!(e.kind, ErrorKind::Unauthorized);
        // An IPv4-mapped address is its IPv4 address.
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(failure_key(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn secrets_are_compared_whole() {
        let c = consumers("");
        // A prefix, an extension and a case change of a real key are all wrong.
        for guess in ["k", "k1 ", "K1", "k1k1", ""] {
            assert!(c.authenticate(&bearer(guess), LOCAL).is_err(), "{guess:?}");
        }
    }

    #[test]
    fn only_the_whole_digest_matches_within_a_prefix_bucket() {
        let mut index = DigestIndex::default();
        index.insert("k1", 0);
        // Another stored digest with the same first 64 bits, differing at the end.
        let real = digest("k1");
        let mut near = real;
        near[31] ^= 1;
        index
            .0
            .get_mut(&DigestIndex::prefix(&real))
            .unwrap()
            .push((near, 1));
        assert_eq!(index.find("k1"), Some(0));
        assert_eq!(index.find("k2"), None);
    }

    fn consumers_with_failed_auth(rate: &str) -> Consumers {
        let text = format!(
            r#"
[rate_limits]
failed_auth = {rate}
[[consumers]]
name = "demo"
bearer_key = "k1"
permissions = ["read"]
"#
        );
        Consumers::from_config(&Config::parse(&text, &|_| None).unwrap())
    }

    #[test]
    fn basic_login_and_app_tokens() {
        let c = consumers(
            r#"
[[consumers]]
name = "glpi"
itsmng_login = "glpi"
itsmng_password = "pw"
itsmng_app_token = "app"
permissions = ["read"]
"#,
        );
        let basic = |pw: &str, app: Option<&str>| login("glpi", pw, app);
        assert!(c.authenticate(&basic("pw", Some("app")), LOCAL).is_ok());
        assert!(c.authenticate(&basic("pw", None), LOCAL).is_err());
        assert!(c.authenticate(&basic("nope", Some("app")), LOCAL).is_err());
    }
}
