//! The gateway's shared state and the operations written once for every dialect:
//! routing a consumer to its upstream, creates with idempotency and the outbox.

use crate::auth::Consumers;
use crate::canonical::CanonicalFace;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::ratelimit::Limiter;
use crate::routing::RouteHints;
use crate::upstream::{self, Shielded};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use ticketgate_model::{
    Consumer, CreateOptions, Created, Error, ErrorKind, Helpdesk, NewTicket, Result, ServerFace,
};
use ticketgate_store::{EmbeddedHelpdesk, Enqueue, GatewayState, OutboxKind};
use tokio::sync::Notify;

/// A dialect mounted at a path prefix.
pub struct Mount {
    pub prefix: String,
    pub face: Arc<dyn ServerFace>,
}

pub struct Gateway {
    config: RwLock<Arc<Config>>,
    consumers: RwLock<Arc<Consumers>>,
    pub upstreams: HashMap<String, Arc<Shielded>>,
    pub embedded: Option<EmbeddedHelpdesk>,
    /// Every embedded store (several upstreams may each have one).
    pub stores: Vec<EmbeddedHelpdesk>,
    pub state: GatewayState,
    pub metrics: Arc<Metrics>,
    pub mounts: Vec<Mount>,
    pub global: Limiter,
    /// HTTPS on the listeners (`server.tls`), re-read on reload.
    pub tls: Option<crate::tls::ServerTls>,
    /// Consumer quotas and failed authentications shared through Redis, when configured.
    pub shared: Option<Arc<crate::shared::SharedLimits>>,
    /// Wakes the outbox worker when something is queued.
    pub outbox_wake: Notify,
    /// Idempotency keys with a request in flight, so a concurrent twin waits its turn.
    in_flight: Mutex<HashSet<(String, String)>>,
    /// What search cursors are signed with (see `cursor.rs`).
    cursor_key: [u8; 32],
}

impl Gateway {
    /// Open the data directory, build every upstream and mount every dialect.
    pub fn build(config: Config) -> Result<Arc<Self>> {
        let data_dir = config.server.data_dir.clone();
        let metrics = Arc::new(Metrics::default());
        let tls = match &config.server.tls {
            Some(t) => Some(crate::tls::ServerTls::load(t).map_err(Error::bad_input)?),
            None => None,
        };
        let state = open_state(&config)?;
        let mut upstreams = HashMap::new();
        let mut embedded = None;
        let mut stores = Vec::new();
        for (name, uc) in &config.upstreams {
            let built = upstream::build(name, uc, &data_dir)?;
            if let Some(store) = &built.embedded {
                // The agents the configured callers stand for (their names, and the
                // names their verified identities carry, e.g. a JWT's `sub`), so
                // "pick up" works for them out of the box.
                store.ensure_agents(config.consumers.iter().flat_map(|c| {
                    std::iter::once(c.name.as_str()).chain(
                        c.keys_of(ticketgate_model::KeyKind::Identity)
                            .map(|(_, v)| v),
                    )
                }))?;
            }
            if let Some(store) = built.embedded {
                // The default's store is the one the benches and `/readyz` name first.
                if embedded.is_none() || *name == config.routing.default {
                    embedded = Some(store.clone());
                }
                stores.push(store);
            }
            upstreams.insert(
                name.clone(),
                Arc::new(Shielded::new(
                    name,
                    built.helpdesk,
                    uc.protection.clone(),
                    metrics.clone(),
                )),
            );
        }
        let mut mounts = Vec::new();
        if let Some(c) = &config.dialects.canonical {
            mounts.push(Mount {
                prefix: c.prefix.clone(),
                face: Arc::new(CanonicalFace::new(&c.prefix, state.clone())),
            });
        }
        let consumer_values = |key: &str| {
            config
                .consumers
                .iter()
                .filter_map(|c| c.value(key).map(str::to_owned))
                .collect()
        };
        let cx = ticketgate_model::MountContext {
            consumer_values: &consumer_values,
        };
        for (dialect, d) in &config.dialects.vendors {
            mounts.push(Mount {
                prefix: d.prefix().to_owned(),
                face: d
                    .mount(&cx)
                    .map_err(|m| Error::bad_input(format!("dialects.{dialect}.{m}")))?,
            });
        }
        // Longest prefix first, so `/api/TicketsApi` wins over `/api`.
        mounts.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        let shared = match &config.rate_limits.shared {
            Some(sc) => Some(Arc::new(
                crate::shared::SharedLimits::new(sc).map_err(Error::bad_input)?,
            )),
            None => None,
        };
        Ok(Arc::new(Self {
            cursor_key: crate::cursor::key_from(&config),
            shared,
            consumers: RwLock::new(Arc::new(Consumers::from_config(&config))),
            global: Limiter::new("global", config.rate_limits.global),
            tls,
            config: RwLock::new(Arc::new(config)),
            upstreams,
            embedded,
            stores,
            state,
            metrics,
            mounts,
            outbox_wake: Notify::new(),
            in_flight: Mutex::new(HashSet::new()),
        }))
    }

    /// The key search cursors are signed and checked with.
    pub fn cursor_key(&self) -> &[u8; 32] {
        &self.cursor_key
    }

    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn consumers(&self) -> Arc<Consumers> {
        self.consumers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Take new consumers, keys and quotas from a reloaded configuration. Listeners,
    /// mounts and upstreams need a restart; a change to them is reported, not applied.
    pub fn reload(&self, mut new: Config) -> Vec<String> {
        let mut ignored = Vec::new();
        let old = self.config();
        if old.server.listen != new.server.listen || old.server.data_dir != new.server.data_dir {
            ignored.push("server.listen / server.data_dir change only on restart".to_owned());
        }
        if old.mounts() != new.mounts() {
            ignored.push("dialect mounts change only on restart".to_owned());
        }
        if old.upstreams.keys().ne(new.upstreams.keys()) {
            ignored.push("the set of upstreams changes only on restart".to_owned());
        }
        match (&self.tls, &new.server.tls) {
            (Some(running), Some(t)) => {
                if let Err(e) = running.reload(t) {
                    ignored.push(format!(
                        "the TLS certificate was NOT reloaded, the running one stays: {e}"
                    ));
                }
            }
            (None, None) => {}
            _ => ignored.push("server.tls is switched on or off only on restart".to_owned()),
        }
        if old.rate_limits.shared != new.rate_limits.shared {
            ignored.push("rate_limits.shared changes only on restart".to_owned());
            new.rate_limits.shared = old.rate_limits.shared.clone();
        }
        let consumers = Arc::new(Consumers::from_config(&new));
        *self.consumers.write().unwrap_or_else(|p| p.into_inner()) = consumers;
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(new);
        ignored
    }

    /// The upstream that serves a consumer.
    pub fn upstream_for(&self, consumer: &Consumer) -> Arc<Shielded> {
        let name = self
            .consumers()
            .entry(&consumer.name)
            .map(|e| e.upstream.clone())
            .unwrap_or_else(|| self.config().routing.default.clone());
        self.upstream_named(&name)
    }

    pub fn upstream_named(&self, name: &str) -> Arc<Shielded> {
        match self.upstreams.get(name) {
            Some(u) => u.clone(),
            None => {
                // Validation guarantees the default exists; a consumer whose upstream was
                // removed by a reload falls back to it.
                let default = self.config().routing.default.clone();
                self.upstreams
                    .get(&default)
                    .or_else(|| self.upstreams.values().next())
                    .cloned()
                    .expect("configuration validation guarantees at least the default upstream")
            }
        }
    }

    /// Create through the gateway on the consumer's own upstream (no routing rule):
    /// replay a known idempotency key, try the upstream, and queue durably when it
    /// cannot take the ticket now (if the caller may queue).
    pub async fn create(
        &self,
        consumer: &Consumer,
        ticket: NewTicket,
        options: CreateOptions,
    ) -> Result<Created> {
        // Mail is threaded against the consumer's own upstream (its Message-IDs and
        // subject tags are remembered there), so it is not routed by the rules.
        let upstream = self.upstream_for(consumer);
        self.create_on(consumer, upstream, ticket, options).await
    }

    /// [`create`](Self::create) with what the routing rules may read of the request;
    /// the ticket is answered with the ids the consumer's clients know it by.
    pub async fn create_routed(
        &self,
        consumer: &Consumer,
        ticket: NewTicket,
        options: CreateOptions,
        hints: &RouteHints,
    ) -> Result<Created> {
        let upstream = self.route_create(consumer, &ticket, hints);
        self.create_on(consumer, upstream, ticket, options).await
    }

    async fn create_on(
        &self,
        consumer: &Consumer,
        upstream: Arc<Shielded>,
        ticket: NewTicket,
        options: CreateOptions,
    ) -> Result<Created> {
        self.create_owned(consumer, upstream, ticket, options)
            .await
            .map(|o| o.created)
    }

    /// A create on `upstream` (or the mirror's primary), answered as the consumer's
    /// clients know the ticket, with the upstream that took it and its ids there: what
    /// mail threading remembers, so that a reply finds the ticket wherever it lives.
    pub async fn create_owned(
        &self,
        consumer: &Consumer,
        upstream: Arc<Shielded>,
        ticket: NewTicket,
        options: CreateOptions,
    ) -> Result<OwnedCreate> {
        let home = self.home_of(&consumer.name);
        // While mirroring, a create for either of the mirror's upstreams goes to the
        // primary, and then to the secondary (see `mirror.rs`).
        let mirror = self
            .mirror()
            .filter(|(p, s)| upstream.name() == p.name() || upstream.name() == s.name());
        let upstream = mirror.as_ref().map_or(upstream, |(p, _)| p.clone());
        let copy = mirror.as_ref().map(|_| ticket.clone());
        // A mirrored create compares the primary's full answer with the copy's.
        let options = CreateOptions {
            brief: options.brief && mirror.is_none(),
            ..options
        };
        // Boxed: the create's own future is kilobytes (the ticket, the answer, the
        // state calls); the task that runs a create (see `context.rs`, `detached`)
        // then moves a pointer, not all of it, each time it is moved.
        let (created, owner) =
            Box::pin(self.create_unpresented(consumer, &upstream, ticket, options)).await?;
        if let (Some((p, s)), Some(copy), Created::Ticket(t)) = (&mirror, copy, &created)
            && owner == p.name()
        {
            // Boxed, like `present` below: only while mirroring or routing, and
            // their futures would otherwise be carried inline by every create's.
            Box::pin(self.mirror_create(p, s, copy, t)).await;
        }
        let native = match &created {
            Created::Ticket(t) | Created::Replayed(t) => Some((t.id.clone(), t.number.clone())),
            Created::Queued { .. } => None,
        };
        let created = match created {
            Created::Ticket(t) => Created::Ticket(Box::pin(self.present(&home, &owner, t)).await?),
            Created::Replayed(t) => {
                Created::Replayed(Box::pin(self.present(&home, &owner, t)).await?)
            }
            queued @ Created::Queued { .. } => queued,
        };
        Ok(OwnedCreate {
            created,
            owner,
            native,
        })
    }

    async fn create_unpresented(
        &self,
        consumer: &Consumer,
        upstream: &Arc<Shielded>,
        ticket: NewTicket,
        options: CreateOptions,
    ) -> Result<(Created, String)> {
        let owner = upstream.name().to_owned();
        let Some(key) = options.idempotency_key.clone() else {
            return self
                .create_now(consumer, upstream, ticket, &options, None)
                .await
                .map(|c| (c, owner));
        };
        let fingerprint = fingerprint(&ticket);
        let Some(_slot) = InFlight::claim(&self.in_flight, consumer.name.to_string(), key.clone())
        else {
            return Err(Error::conflict(
                "a request with this Idempotency-Key is still in progress; retry later",
            )
            .retryable(true)
            .retry_after(std::time::Duration::from_secs(1)));
        };
        if let Some(rec) = self.state.idempotency(&consumer.name, &key).await? {
            if rec.fingerprint != fingerprint {
                return Err(Error::conflict(
                    "this Idempotency-Key was used with a different request body",
                )
                .field("Idempotency-Key"));
            }
            // The first outcome is replayed from the upstream that took it, whatever
            // the rules say now.
            let first = rec
                .upstream
                .as_deref()
                .and_then(|name| self.upstreams.get(name))
                .unwrap_or(upstream);
            return match (rec.ticket_id, rec.tracking_id) {
                (Some(id), _) => Ok((
                    Created::Replayed(first.get(&id).await?),
                    first.name().to_owned(),
                )),
                (None, Some(tracking_id)) => Ok((Created::Queued { tracking_id }, owner)),
                (None, None) => Err(Error::internal("an idempotency record has no outcome")),
            };
        }
        self.create_now(
            consumer,
            upstream,
            ticket,
            &options,
            Some((key, fingerprint)),
        )
        .await
        .map(|c| (c, owner))
    }

    async fn create_now(
        &self,
        consumer: &Consumer,
        upstream: &Arc<Shielded>,
        ticket: NewTicket,
        options: &CreateOptions,
        idempotency: Option<(String, String)>,
    ) -> Result<Created> {
        let may_queue = options.may_queue;
        // The payload is kept before the attempt, so a queued create is exactly what
        // the client sent.
        let payload = if may_queue {
            Some(serde_json::to_string(&ticket).map_err(|e| Error::internal(e.to_string()))?)
        } else {
            None
        };
        // One key for every attempt of this create, direct or from the outbox, so an
        // upstream that recognises repeats never makes two tickets of it.
        let delivery_key = match &idempotency {
            Some((key, _)) => digest(format!("{}\n{key}", consumer.name).as_bytes()),
            None => random_key(),
        };
        let attempt = if options.brief {
            upstream.create_brief(ticket, &delivery_key).await
        } else {
            upstream.create_idempotent(ticket, &delivery_key).await
        };
        match attempt {
            Ok(t) => {
                if let Some((key, fp)) = &idempotency {
                    self.state
                        .remember_created(
                            &consumer.name,
                            key,
                            fp,
                            upstream.name(),
                            &t.id,
                            &t.number,
                        )
                        .await?;
                }
                Ok(Created::Ticket(t))
            }
            Err(e) if e.retryable && e.kind != ErrorKind::RateLimited => match payload {
                Some(payload) => {
                    let tracking_id = self
                        .state
                        .enqueue(Enqueue {
                            upstream: upstream.name().to_owned(),
                            kind: OutboxKind::Create,
                            target: None,
                            consumer: consumer.name.to_string(),
                            payload,
                            idempotency,
                            delivery_key: Some(delivery_key),
                            request_id: ticketgate_upstream::request_id::current()
                                .map(|id| id.to_string()),
                        })
                        .await?;
                    tracing::info!(upstream = upstream.name(), tracking_id, reason = %e, "create queued in the outbox");
                    self.outbox_wake.notify_one();
                    Ok(Created::Queued { tracking_id })
                }
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }
}

/// What [`Gateway::create_owned`] came to.
#[derive(Debug)]
pub struct OwnedCreate {
    /// As the consumer's clients know the ticket (gateway ids where routed).
    pub created: Created,
    /// The upstream that took it (or whose outbox holds it).
    pub owner: String,
    /// Its id and number in that upstream, once created.
    pub native: Option<(String, String)>,
}

/// The gateway's durable state as the configuration places it: `gateway.sqlite` in the
/// data directory, or the PostgreSQL of `[state]` (connected on first use).
pub fn open_state(config: &Config) -> Result<GatewayState> {
    match config.state.postgres() {
        Some(options) => GatewayState::postgres(&options),
        None => GatewayState::open(&config.server.data_dir.join("gateway.sqlite")),
    }
}

/// A claimed (consumer, idempotency key): released when dropped, however the
/// create ends.
struct InFlight<'a> {
    set: &'a Mutex<HashSet<(String, String)>>,
    slot: Option<(String, String)>,
}

impl<'a> InFlight<'a> {
    fn claim(
        set: &'a Mutex<HashSet<(String, String)>>,
        consumer: String,
        key: String,
    ) -> Option<Self> {
        let slot = (consumer, key);
        let fresh = set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(slot.clone());
        fresh.then_some(Self {
            set,
            slot: Some(slot),
        })
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.set
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&slot);
        }
    }
}

/// The digest that tells "the same request again" from "another request, same key".
fn fingerprint(ticket: &NewTicket) -> String {
    digest(&serde_json::to_vec(ticket).unwrap_or_default())
}

fn digest(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in Sha256::digest(bytes) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// A key no other create will use: 128 bits from the standard library's randomly
/// seeded SipHash keys (seeded from the operating system once per thread, then stepped
/// for each `RandomState`) over a process-wide counter. Cheap: it is made for every
/// create without an `Idempotency-Key`.
fn random_key() -> String {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let keys = RandomState::new();
    format!("{:016x}{:016x}", keys.hash_one(n), keys.hash_one(!n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_lowercase_hex_sha256() {
        assert_eq!(
            digest(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn random_keys_are_32_hex_digits_and_never_repeat() {
        let keys: std::collections::HashSet<String> = (0..10_000).map(|_| random_key()).collect();
        assert_eq!(keys.len(), 10_000);
        assert!(
            keys.iter()
                .all(|k| k.len() == 32 && k.bytes().all(|b| b.is_ascii_hexdigit()))
        );
    }
}
