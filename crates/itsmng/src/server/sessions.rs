//! The face's own API sessions: `initSession` hands out a random token that maps to
//! the consumer who opened it, its active entity and its last use. A session idle for
//! longer than the configured time is gone, as a PHP session would be.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a session token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub consumer: String,
    /// The active entity (0, the root entity, on a stock install).
    pub entity: i64,
    pub recursive: bool,
    pub profile: i64,
    last_use: Instant,
}

/// Sessions beyond this many trigger a sweep of idle ones before a new one is added.
const SWEEP_AT: usize = 10_000;

/// The most sessions kept: past it, the least recently used one is ended, so a
/// client that opens sessions in a loop cannot grow memory without bound.
const MAX_SESSIONS: usize = 50_000;

pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    idle: Duration,
    opened: AtomicU64,
}

impl Sessions {
    pub fn new(idle: Duration) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            idle,
            opened: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Open a session for `consumer`; the token is 40 hex digits from the OS CSPRNG.
    pub fn open(&self, consumer: &str, profile: i64) -> Result<String, getrandom::Error> {
        let mut raw = [0u8; 20];
        getrandom::fill(&mut raw)?;
        let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let mut map = self.lock();
        if map.len() >= SWEEP_AT {
            let idle = self.idle;
            map.retain(|_, s| s.last_use.elapsed() <= idle);
        }
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_use)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            token.clone(),
            Session {
                consumer: consumer.to_owned(),
                entity: 0,
                recursive: false,
                profile,
                last_use: Instant::now(),
            },
        );
        self.opened.fetch_add(1, Ordering::Relaxed);
        Ok(token)
    }

    /// The live session of a token, refreshed; an idle one is removed.
    pub fn touch(&self, token: &str) -> Option<Session> {
        let mut map = self.lock();
        let expired = match map.get_mut(token) {
            Some(s) if s.last_use.elapsed() <= self.idle => {
                s.last_use = Instant::now();
                return Some(s.clone());
            }
            Some(_) => true,
            None => false,
        };
        if expired {
            map.remove(token);
        }
        None
    }

    pub fn update(&self, token: &str, f: impl FnOnce(&mut Session)) {
        if let Some(s) = self.lock().get_mut(token) {
            f(s);
        }
    }

    pub fn kill(&self, token: &str) -> bool {
        self.lock().remove(token).is_some()
    }

    /// Drop every session, as if all had been idle too long.
    pub fn expire_all(&self) {
        self.lock().clear();
    }

    /// How many sessions `initSession` has opened since start.
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    pub fn live(&self) -> usize {
        let idle = self.idle;
        self.lock()
            .values()
            .filter(|s| s.last_use.elapsed() <= idle)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_expire() {
        let s = Sessions::new(Duration::from_secs(3600));
        let a = s.open("c", 4).unwrap();
        let b = s.open("c", 4).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 40);
        assert_eq!(s.touch(&a).unwrap().consumer, "c");
        assert!(s.kill(&a));
        assert!(s.touch(&a).is_none());
        let s = Sessions::new(Duration::ZERO);
        let t = s.open("c", 4).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert!(s.touch(&t).is_none());
        assert_eq!(s.opened(), 1);
    }
}
