//! The gateway's shared state and the operations written once for every dialect:
//! routing a consumer to its upstream, creates with idempotency and the outbox.

use crate::auth::Consumers;
use crate::canonical::CanonicalFace;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::ratelimit::Limiter;
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
    pub state: GatewayState,
    pub metrics: Arc<Metrics>,
    pub mounts: Vec<Mount>,
    pub global: Limiter,
    /// Wakes the outbox worker when something is queued.
    pub outbox_wake: Notify,
    /// Idempotency keys with a request in flight, so a concurrent twin waits its turn.
    in_flight: Mutex<HashSet<(String, String)>>,
}

impl Gateway {
    /// Open the data directory, build every upstream and mount every dialect.
    pub fn build(config: Config) -> Result<Arc<Self>> {
        let data_dir = config.server.data_dir.clone();
        let metrics = Arc::new(Metrics::default());
        let state = GatewayState::open(&data_dir.join("gateway.sqlite"))?;
        let mut upstreams = HashMap::new();
        let mut embedded = None;
        for (name, uc) in &config.upstreams {
            let built = upstream::build(name, uc, &data_dir)?;
            if let Some(store) = &built.embedded {
                // The agents the configured callers stand for, so "pick up" works
                // for them out of the box.
                store.ensure_agents(config.consumers.iter().flat_map(|c| {
                    std::iter::once(c.name.as_str()).chain(c.jwt_subject.as_deref())
                }))?;
            }
            if built.embedded.is_some() {
                embedded = built.embedded;
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
        if let Some(c) = &config.dialects.osticket {
            mounts.push(Mount {
                prefix: c.prefix.clone(),
                face: Arc::new(ticketgate_osticket::OsticketServer::new(c.clone())),
            });
        }
        if let Some(c) = &config.dialects.itsmng {
            let mut c = c.clone();
            c.consumer_app_tokens = config
                .consumers
                .iter()
                .filter_map(|k| k.itsmng_app_token.clone())
                .collect();
            mounts.push(Mount {
                prefix: c.prefix.clone(),
                face: Arc::new(ticketgate_itsmng::ItsmngServer::new(c)),
            });
        }
        if let Some(c) = &config.dialects.ticketsapi {
            let face = ticketgate_ticketsapi::TicketsApiServer::new(c.clone())
                .map_err(|m| Error::bad_input(format!("dialects.ticketsapi.{m}")))?;
            mounts.push(Mount {
                prefix: c.prefix.clone(),
                face: Arc::new(face),
            });
        }
        // Longest prefix first, so `/api/TicketsApi` wins over `/api`.
        mounts.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        Ok(Arc::new(Self {
            consumers: RwLock::new(Arc::new(Consumers::from_config(&config))),
            global: Limiter::new("global", config.rate_limits.global),
            config: RwLock::new(Arc::new(config)),
            upstreams,
            embedded,
            state,
            metrics,
            mounts,
            outbox_wake: Notify::new(),
            in_flight: Mutex::new(HashSet::new()),
        }))
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
    pub fn reload(&self, new: Config) -> Vec<String> {
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

    /// Create through the gateway: replay a known idempotency key, try the upstream,
    /// and queue durably when it cannot take the ticket now (if the caller may queue).
    pub async fn create(
        &self,
        consumer: &Consumer,
        ticket: NewTicket,
        options: CreateOptions,
    ) -> Result<Created> {
        let upstream = self.upstream_for(consumer);
        let Some(key) = options.idempotency_key.clone() else {
            return self
                .create_now(consumer, &upstream, ticket, options.may_queue, None)
                .await;
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
            return match (rec.ticket_id, rec.tracking_id) {
                (Some(id), _) => Ok(Created::Replayed(upstream.get(&id).await?)),
                (None, Some(tracking_id)) => Ok(Created::Queued { tracking_id }),
                (None, None) => Err(Error::internal("an idempotency record has no outcome")),
            };
        }
        self.create_now(
            consumer,
            &upstream,
            ticket,
            options.may_queue,
            Some((key, fingerprint)),
        )
        .await
    }

    async fn create_now(
        &self,
        consumer: &Consumer,
        upstream: &Arc<Shielded>,
        ticket: NewTicket,
        may_queue: bool,
        idempotency: Option<(String, String)>,
    ) -> Result<Created> {
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
        match upstream.create_idempotent(ticket, &delivery_key).await {
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
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A key no other create will use: the process's random hasher seed, the clock and a
/// counter, digested.
fn random_key() -> String {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let seed = RandomState::new().hash_one(n);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    digest(format!("{seed}:{now}:{n}:{}", std::process::id()).as_bytes())[..32].to_owned()
}
