//! GCRA rate limiting (governor), and the IETF `RateLimit` headers that report it.
//!
//! Each consumer has one limiter per route class, built from configuration; they are
//! direct (not keyed) limiters, so an unknown credential can never grow the state.
//! The only keyed limiter counts failed authentications per client address, and idle
//! addresses are evicted from it (`retain_recent`) by the housekeeping task.

use crate::config::Rate;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use http::HeaderValue;
use std::num::NonZeroU32;
use std::time::Duration;
use ticketgate_model::Error;

type Direct = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// What a limiter said about one request, for the `RateLimit` headers.
#[derive(Debug, Clone)]
pub struct RateReport {
    pub policy: &'static str,
    pub limit: u32,
    pub window_secs: u64,
    pub remaining: u32,
    pub reset_secs: u64,
}

impl RateReport {
    /// `RateLimit-Policy: "create";q=50;w=1` (draft-ietf-httpapi-ratelimit-headers).
    pub fn policy_header(&self) -> HeaderValue {
        HeaderValue::from_str(&format!(
            "\"{}\";q={};w={}",
            self.policy, self.limit, self.window_secs
        ))
        .expect("policy names and numbers are valid header text")
    }

    /// `RateLimit: "create";r=49;t=0`.
    pub fn limit_header(&self) -> HeaderValue {
        HeaderValue::from_str(&format!(
            "\"{}\";r={};t={}",
            self.policy, self.remaining, self.reset_secs
        ))
        .expect("policy names and numbers are valid header text")
    }
}

/// One quota: a GCRA limiter and the figures to report it with.
pub struct Limiter {
    policy: &'static str,
    rate: Rate,
    inner: Direct,
}

impl Limiter {
    pub fn new(policy: &'static str, rate: Rate) -> Self {
        Self {
            policy,
            rate,
            inner: RateLimiter::direct(quota(rate)).with_middleware(),
        }
    }

    /// Take one token, or say when to come back.
    pub fn check(&self) -> Result<RateReport, (Error, RateReport)> {
        match self.inner.check() {
            Ok(snapshot) => Ok(RateReport {
                remaining: snapshot.remaining_burst_capacity(),
                reset_secs: 0,
                ..self.report()
            }),
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let report = RateReport {
                    remaining: 0,
                    reset_secs: ceil_secs(wait),
                    ..self.report()
                };
                Err((
                    Error::rate_limited(wait.max(Duration::from_millis(1))),
                    report,
                ))
            }
        }
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// The report of a decision taken elsewhere (the shared limiter): passed with
    /// `remaining` tokens left, or refused until `wait` has passed.
    pub fn report_shared(&self, remaining: u32, wait: Option<Duration>) -> RateReport {
        RateReport {
            remaining,
            reset_secs: wait.map(ceil_secs).unwrap_or(0),
            ..self.report()
        }
    }

    fn report(&self) -> RateReport {
        let window = (f64::from(self.rate.burst) / self.rate.per_second)
            .ceil()
            .max(1.0) as u64;
        RateReport {
            policy: self.policy,
            limit: self.rate.burst,
            window_secs: window,
            remaining: 0,
            reset_secs: 0,
        }
    }
}

pub fn quota(rate: Rate) -> Quota {
    let period = Duration::from_secs_f64(1.0 / rate.per_second).max(Duration::from_nanos(1));
    let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(period)
        .expect("period is positive")
        .allow_burst(burst)
}

/// Whole seconds, rounded up: `Retry-After: 0` would invite an immediate retry.
pub fn ceil_secs(d: Duration) -> u64 {
    let s = d.as_secs();
    if d.subsec_nanos() > 0 {
        s + 1
    } else {
        s.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_gets_exactly_its_quota() {
        let l = Limiter::new(
            "create",
            Rate {
                per_second: 1.0,
                burst: 5,
            },
        );
        let passed = (0..20).filter(|_| l.check().is_ok()).count();
        assert_eq!(passed, 5);
        let (err, report) = l.check().unwrap_err();
        assert!(err.retry_after.unwrap() > Duration::ZERO);
        assert_eq!(report.remaining, 0);
        assert_eq!(report.policy_header(), "\"create\";q=5;w=5");
        assert!(
            report
                .limit_header()
                .to_str()
                .unwrap()
                .starts_with("\"create\";r=0;t=")
        );
    }

    #[test]
    fn remaining_counts_down() {
        let l = Limiter::new(
            "read",
            Rate {
                per_second: 10.0,
                burst: 3,
            },
        );
        let r: Vec<u32> = (0..3).map(|_| l.check().unwrap().remaining).collect();
        assert_eq!(r, vec![2, 1, 0]);
    }
}
