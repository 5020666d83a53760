//! Shared rate limits: the GCRA state of every consumer quota and of the
//! failed-authentication limiter kept in Redis, so that several gateways behind one
//! load balancer draw on one quota.
//!
//! Each decision is one atomic server-side step: a Lua script run with `EVALSHA` (and
//! `EVAL` when Redis answers `NOSCRIPT`, after a restart or a `SCRIPT FLUSH`), on one
//! multiplexed connection, so a decision costs one round trip and concurrent decisions
//! share the connection. The clock is Redis's (`TIME`), so gateways whose clocks
//! disagree still agree on a quota. The arithmetic is governor's: emission interval
//! `T = 1 / per_second`, tolerance `τ = T × (burst − 1)`, a request passes when
//! `now ≥ TAT − τ` and moves `TAT` to `max(TAT, now) + T`; so `rate`, `burst`, the
//! `Retry-After` and the `RateLimit` figures are those of the local limiter.
//!
//! When Redis does not answer within the decision timeout, the gateway says so once in
//! its log, sets `ticketgate_shared_limits_available` to 0 and stops asking it: every
//! decision is then made by the local limiter (`on_unavailable = "local"`) or refused
//! with a retryable 503 (`"refuse"`), counted in
//! `ticketgate_shared_limits_fallback_total`, without waiting for Redis at all. A
//! background task reconnects with exponential backoff (100 ms doubling to 2 s) and
//! turns the shared limits back on, and says so once, when Redis answers again.

use crate::auth::failure_key;
use crate::config::{OnUnavailable, Rate, SharedLimitsConfig};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// One consumer quota. KEYS: the quota's state, the client address's block.
/// ARGV: emission interval (µs), burst. Answers `{0, remaining}` (passed),
/// `{1, wait µs}` (over quota) or `{2, block ms}` (the address is blocked after too
/// many failed authentications: even a right key waits, as with the local limiter).
const QUOTA_LUA: &str = r#"
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return {2, blocked} end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local t = tonumber(ARGV[1])
local tau = t * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if now < tat - tau then return {1, tat - tau - now} end
if tat < now then tat = now end
local nxt = tat + t
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.floor((nxt - now) / 1000) + 1)
return {0, math.floor(math.min(now + tau + t - nxt, tau + t) / t)}
"#;

/// Failed authentications of one client address. KEYS: the address's failure state,
/// its block. ARGV: emission interval (µs), burst, failures to count, block (ms).
/// Answers `{0, 0}` (counted), `{1, block ms}` (this request's failure crossed the
/// limit: blocked from now on) or `{2, block ms}` (already blocked: nothing counted).
const FAILURES_LUA: &str = r#"
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return {2, blocked} end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local t = tonumber(ARGV[1])
local tau = t * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1])) or now
for i = 1, tonumber(ARGV[3]) do
  if now < tat - tau then
    redis.call('SET', KEYS[2], '1', 'PX', ARGV[4])
    return {1, tonumber(ARGV[4])}
  end
  if tat < now then tat = now end
  tat = tat + t
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.floor((tat - now) / 1000) + 1)
end
return {0, 0}
"#;

/// What the shared limiter said about one request's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaDecision {
    Allowed {
        remaining: u32,
    },
    Limited {
        wait: Duration,
    },
    /// The client address is blocked for its failed authentications.
    Blocked {
        wait: Duration,
    },
}

/// What the shared limiter made of a request's failed authentications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureDecision {
    Counted,
    /// Blocked for `wait`; `before` when it already was before this request.
    Blocked {
        wait: Duration,
        before: bool,
    },
}

/// Redis did not answer in time (or is known to be down): decide without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

pub struct SharedLimits {
    client: redis::Client,
    manager: OnceLock<ConnectionManager>,
    quota: redis::Script,
    failures: redis::Script,
    prefix: String,
    timeout: Duration,
    pub on_unavailable: OnUnavailable,
    available: AtomicBool,
    /// Woken when a decision finds Redis gone, so the reconnect task starts.
    down: Notify,
    fallbacks: AtomicU64,
    outages: AtomicU64,
}

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

impl SharedLimits {
    pub fn new(config: &SharedLimitsConfig) -> Result<Self, String> {
        let client = redis::Client::open(config.url.trim()).map_err(|e| {
            format!(
                "rate_limits.shared.url is not a valid Redis URL ({})",
                e.category()
            )
        })?;
        Ok(Self {
            client,
            manager: OnceLock::new(),
            quota: redis::Script::new(QUOTA_LUA),
            failures: redis::Script::new(FAILURES_LUA),
            prefix: config.key_prefix.clone(),
            timeout: Duration::from_millis(config.timeout_ms),
            on_unavailable: config.on_unavailable,
            available: AtomicBool::new(false),
            down: Notify::new(),
            fallbacks: AtomicU64::new(0),
            outages: AtomicU64::new(0),
        })
    }

    /// Failures are counted per client address as the local limiter counts them: an
    /// IPv4 address, or an IPv6 /64.
    fn failures_key(&self, address: IpAddr) -> String {
        format!("{}:authfail:{}", self.prefix, failure_key(address))
    }

    fn block_key(&self, address: IpAddr) -> String {
        format!("{}:authblock:{}", self.prefix, failure_key(address))
    }

    pub fn is_available(&self) -> bool {
        self.available.load(Ordering::Relaxed)
    }

    /// Take one token from the quota at `key`, unless `address` is blocked.
    pub async fn take(
        &self,
        key: &str,
        rate: Rate,
        address: IpAddr,
    ) -> Result<QuotaDecision, Unavailable> {
        let block = self.block_key(address);
        let (state, n) = self
            .eval(
                &self.quota,
                QUOTA_LUA,
                [key, &block],
                [interval_us(rate), i64::from(rate.burst), 0, 0],
                2,
            )
            .await?;
        Ok(match state {
            0 => QuotaDecision::Allowed {
                remaining: u32::try_from(n.max(0)).unwrap_or(u32::MAX),
            },
            1 => QuotaDecision::Limited {
                wait: Duration::from_micros(n.max(1) as u64),
            },
            _ => QuotaDecision::Blocked {
                wait: Duration::from_millis(n.max(1) as u64),
            },
        })
    }

    /// Count `failures` failed authentications of `address` (0 only asks whether it
    /// is blocked).
    pub async fn note_failures(
        &self,
        address: IpAddr,
        rate: Rate,
        failures: u32,
    ) -> Result<FailureDecision, Unavailable> {
        let (state_key, block) = (self.failures_key(address), self.block_key(address));
        let pause_ms = (1000.0 / rate.per_second).ceil().max(1.0) as i64;
        let (state, ms) = self
            .eval(
                &self.failures,
                FAILURES_LUA,
                [&state_key, &block],
                [
                    interval_us(rate),
                    i64::from(rate.burst),
                    i64::from(failures),
                    pause_ms,
                ],
                4,
            )
            .await?;
        Ok(match state {
            0 => FailureDecision::Counted,
            s => FailureDecision::Blocked {
                wait: Duration::from_millis(ms.max(1) as u64),
                before: s == 2,
            },
        })
    }

    /// A decision made without Redis.
    pub fn fell_back(&self) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
    }

    /// Run `script` (whose text is `source`) with two keys and the first `nargs` of
    /// `args`: `EVALSHA`, and `EVAL` when Redis no longer has the script.
    async fn eval(
        &self,
        script: &redis::Script,
        source: &'static str,
        keys: [&str; 2],
        args: [i64; 4],
        nargs: usize,
    ) -> Result<(i64, i64), Unavailable> {
        if !self.is_available() {
            return Err(Unavailable);
        }
        let Some(manager) = self.manager.get() else {
            return Err(Unavailable);
        };
        let mut con = manager.clone();
        let command = |verb: &str, first: &str| {
            let mut c = redis::cmd(verb);
            c.arg(first).arg(2).arg(keys[0]).arg(keys[1]);
            for a in &args[..nargs] {
                c.arg(*a);
            }
            c
        };
        let work = async {
            let r = command("EVALSHA", script.get_hash())
                .query_async::<(i64, i64)>(&mut con)
                .await;
            match r {
                Err(e)
                    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                {
                    // EVAL runs it and puts it back in Redis's script cache.
                    command("EVAL", source)
                        .query_async::<(i64, i64)>(&mut con)
                        .await
                }
                r => r,
            }
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                self.mark_down(if e.is_io_error() || e.is_connection_dropped() {
                    "the connection failed"
                } else {
                    e.category()
                });
                Err(Unavailable)
            }
            Err(_) => {
                self.mark_down("no answer within rate_limits.shared.timeout_ms");
                Err(Unavailable)
            }
        }
    }

    /// Stop asking Redis; said once per outage, not per request.
    fn mark_down(&self, why: &str) {
        if self.available.swap(false, Ordering::AcqRel) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                reason = why,
                on_unavailable = self.on_unavailable.as_str(),
                "shared rate limits unavailable: Redis cannot be reached; {} until it answers again",
                match self.on_unavailable {
                    OnUnavailable::Local => "each gateway applies its own local limits",
                    OnUnavailable::Refuse => "requests that need a quota are refused with 503",
                }
            );
            self.down.notify_one();
        }
    }

    /// One connection attempt: PING and load both scripts, within `limit`.
    async fn connect(&self, limit: Duration) -> Result<(), String> {
        let manager = match self.manager.get() {
            Some(m) => m.clone(),
            None => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(limit))
                    .set_response_timeout(Some(limit))
                    .set_number_of_retries(1)
                    .set_min_delay(MIN_BACKOFF)
                    .set_max_delay(MAX_BACKOFF);
                let m = ConnectionManager::new_lazy_with_config(self.client.clone(), config)
                    .map_err(|e| e.category().to_owned())?;
                self.manager.get_or_init(|| m).clone()
            }
        };
        let mut con = manager;
        let work = async {
            for source in [QUOTA_LUA, FAILURES_LUA] {
                redis::cmd("SCRIPT")
                    .arg("LOAD")
                    .arg(source)
                    .query_async::<String>(&mut con)
                    .await?;
            }
            Ok::<_, redis::RedisError>(())
        };
        match tokio::time::timeout(limit, work).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) if e.is_io_error() || e.is_connection_dropped() => {
                Err("the connection failed".into())
            }
            Ok(Err(e)) => Err(e.category().to_owned()),
            Err(_) => Err("no answer".into()),
        }
    }

    /// Connect before the first request is served (for up to `first` at most), then
    /// keep reconnecting in the background whenever a decision finds Redis gone.
    pub async fn start(
        self: &std::sync::Arc<Self>,
        first: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        match self.connect(first).await {
            Ok(()) => {
                self.available.store(true, Ordering::Release);
                tracing::info!("shared rate limits: Redis answers; quotas are shared");
            }
            Err(why) => {
                self.outages.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    reason = why,
                    on_unavailable = self.on_unavailable.as_str(),
                    "shared rate limits unavailable at start: Redis cannot be reached; {} until it answers",
                    match self.on_unavailable {
                        OnUnavailable::Local => "each gateway applies its own local limits",
                        OnUnavailable::Refuse => "requests that need a quota are refused with 503",
                    }
                );
            }
        }
        let this = self.clone();
        tokio::spawn(async move {
            let mut backoff = MIN_BACKOFF;
            loop {
                if this.is_available() {
                    backoff = MIN_BACKOFF;
                    tokio::select! {
                        _ = this.down.notified() => {}
                        _ = shutdown.changed() => return,
                    }
                    continue;
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return,
                }
                match this.connect(Duration::from_secs(1)).await {
                    Ok(()) => {
                        this.available.store(true, Ordering::Release);
                        tracing::warn!(
                            "shared rate limits available again: Redis answers; quotas are shared again"
                        );
                    }
                    Err(_) => backoff = (backoff * 2).min(MAX_BACKOFF),
                }
            }
        })
    }

    /// The shared limiter's metrics, in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP ticketgate_shared_limits_available Whether the shared rate limits (Redis) answer (1) or decisions fall back (0).\n# TYPE ticketgate_shared_limits_available gauge\nticketgate_shared_limits_available {}",
            u8::from(self.is_available())
        );
        let _ = writeln!(
            out,
            "# HELP ticketgate_shared_limits_fallback_total Rate-limit decisions made without Redis, by what was done instead.\n# TYPE ticketgate_shared_limits_fallback_total counter\nticketgate_shared_limits_fallback_total{{on_unavailable=\"{}\"}} {}",
            self.on_unavailable.as_str(),
            self.fallbacks.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP ticketgate_shared_limits_outages_total Times Redis was found unreachable.\n# TYPE ticketgate_shared_limits_outages_total counter\nticketgate_shared_limits_outages_total {}",
            self.outages.load(Ordering::Relaxed)
        );
    }
}

/// The Redis key of one consumer's quota for one route class (class names hold no
/// `:`, so two consumers' keys never collide).
pub fn quota_key(prefix: &str, consumer: &str, class: &str) -> String {
    format!("{prefix}:quota:{consumer}:{class}")
}

/// The emission interval in microseconds (at least 1).
fn interval_us(rate: Rate) -> i64 {
    ((1_000_000.0 / rate.per_second).round() as i64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shared limits on an address where nothing listens, with a decision timeout far
    /// longer than any test waits: a refusal that comes at once did not wait for it.
    fn limits() -> SharedLimits {
        let text = "[rate_limits.shared]\nbackend = \"redis\"\nurl = \"redis://127.0.0.1:1\"\nkey_prefix = \"tg\"\ntimeout_ms = 10000\n";
        let config = crate::Config::parse(text, &|_| None).expect("valid");
        SharedLimits::new(config.rate_limits.shared.as_ref().expect("shared")).expect("builds")
    }

    #[test]
    fn addresses_are_keyed_as_the_local_limiter_keys_them() {
        let s = limits();
        let a: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        let b: IpAddr = "2001:db8:0:1:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:0:2::1".parse().unwrap();
        assert_eq!(s.failures_key(a), s.failures_key(b));
        assert_eq!(s.block_key(a), s.block_key(b));
        assert_ne!(s.block_key(a), s.block_key(other));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(s.block_key(mapped), "tg:authblock:192.0.2.1");
        assert_eq!(quota_key("tg", "demo", "create"), "tg:quota:demo:create");
    }

    #[tokio::test]
    async fn without_a_connection_every_decision_is_unavailable_at_once() {
        let s = limits();
        let rate = Rate {
            per_second: 1.0,
            burst: 1,
        };
        let started = std::time::Instant::now();
        assert_eq!(
            s.take("tg:quota:demo:read", rate, "127.0.0.1".parse().unwrap())
                .await,
            Err(Unavailable)
        );
        assert_eq!(
            s.note_failures("127.0.0.1".parse().unwrap(), rate, 1).await,
            Err(Unavailable)
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        let mut out = String::new();
        s.render(&mut out);
        assert!(out.contains("ticketgate_shared_limits_available 0"));
    }
}
