//! ticketgate: a multi-protocol API gateway for helpdesks.
//!
//! Clients speak any mounted helpdesk dialect; each request becomes a canonical
//! operation, is authenticated and rate-limited once, and is forwarded to the
//! configured upstream helpdesk (by default the embedded SQLite store), with a durable
//! outbox for creates the upstream cannot take now.
//!
//! # Layout
//! - [`config`]: `gateway.toml` — parsing, `${ENV}` expansion, validation with line numbers.
//! - [`http`]: the public and admin accept loops (plain HTTP/1.1 connections are
//!   parked between requests without hyper's buffers: `http/park.rs`), client
//!   addresses behind trusted proxies, and the request pipeline shared by every
//!   dialect (credentials from the head before the body, the global budget of
//!   buffered body bytes).
//! - [`gateway`]: shared state; routing a consumer to its upstream; creates with
//!   idempotency and the outbox.
//! - [`context`]: the per-request [`GatewayContext`](ticketgate_model::GatewayContext) a
//!   dialect's server face uses.
//! - [`auth`]: consumers, hashed credentials, networks, permissions, quotas.
//! - [`ratelimit`]: GCRA limiters and the IETF `RateLimit` headers.
//! - [`upstream`]: building upstreams and shielding them (concurrency, rate, breaker).
//! - [`migrate`]: copying tickets between upstreams (`ticketgate migrate --from --to`).
//! - [`routing`]: routing rules for creates, the id map that routes every id back, and
//!   searches merged across upstreams.
//! - [`cursor`]: the signed keyset cursor that pages a search across upstreams.
//! - [`outbox`]: the delivery worker.
//! - [`retention`]: pruning idempotency records, delivery keys and delivered items.
//! - [`email`]: mail ingestion: threading, deduplication, loop protection.
//! - [`canonical`]: the canonical `/v1` API.
//! - [`metrics`]: Prometheus counters and histograms.
//! - [`status`]: the admin listener's status page and its per-minute history.
//! - [`tls`]: HTTPS on the listeners, client certificates.
//! - [`cli`]: the `ticketgate` command line.

pub mod auth;
pub mod canonical;
pub mod cli;
pub mod config;
pub mod context;
pub mod cursor;
pub mod email;
pub mod gateway;
pub mod handoff;
pub mod http;
pub mod metrics;
pub mod migrate;
pub mod mirror;
pub mod outbox;
pub mod ratelimit;
pub mod retention;
pub mod routing;
pub mod shared;
pub mod status;
pub mod tls;
pub mod upstream;
pub mod vendors;

pub use config::Config;
pub use gateway::Gateway;

/// The dialect and mail crates the gateway is built from, re-exported so the workspace's
/// benches and end-to-end tests can reach their pure decoders and encoders.
pub mod dialects {
    pub use ticketgate_itsmng as itsmng;
    pub use ticketgate_mail as mail;
    pub use ticketgate_osticket as osticket;
    pub use ticketgate_ticketsapi as ticketsapi;
}

use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serve on `listener` until `shutdown` turns true, with no admin listener: for the
/// benches. In-flight requests finish before it returns.
pub async fn serve(listener: TcpListener, gateway: Arc<Gateway>, shutdown: watch::Receiver<bool>) {
    serve_with_admin(listener, None, gateway, shutdown, None).await
}

/// Serve the dialects on `listener` and the operations endpoints on `admin` until
/// `shutdown` turns true: the entry point for the binary. In-flight requests (and the
/// piped mail handed over on `handoff`, see [`handoff::listen`]) finish before it
/// returns.
pub async fn serve_with_admin(
    listener: TcpListener,
    admin: Option<TcpListener>,
    gateway: Arc<Gateway>,
    shutdown: watch::Receiver<bool>,
    handoff: Option<handoff::Listening>,
) {
    let edge = http::Edge::new(&gateway.config());
    let admin = admin.map(|admin| {
        tokio::spawn(http::accept_loop(
            admin,
            gateway.clone(),
            edge.clone(),
            http::Listener::Admin,
            shutdown.clone(),
        ))
    });
    // Connect to the shared limits before the first request is served, so a burst
    // right after start is counted in Redis, not on this gateway alone.
    let shared = match &gateway.shared {
        Some(shared) => Some(shared.start(Duration::from_secs(2), shutdown.clone()).await),
        None => None,
    };
    let retention = tokio::spawn(retention::run(gateway.clone(), shutdown.clone()));
    let outbox = tokio::spawn(outbox::run(gateway.clone(), shutdown.clone()));
    let sampler = tokio::spawn(http::sample_status(
        gateway.clone(),
        Duration::from_secs(5),
        shutdown.clone(),
    ));
    let housekeeping = {
        let gateway = gateway.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(30)) => gateway.consumers().housekeeping(),
                    _ = shutdown.changed() => return,
                }
            }
        })
    };
    http::accept_loop(
        listener,
        gateway.clone(),
        edge,
        http::Listener::Public,
        shutdown,
    )
    .await;
    let _ = outbox.await;
    // Piped mail being delivered finishes before the upstreams are shut.
    if let Some(handoff) = handoff {
        handoff
            .stop(Duration::from_millis(
                gateway.config().server.shutdown_grace_ms,
            ))
            .await;
    }
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    housekeeping.abort();
    sampler.abort();
    retention.abort();
    if let Some(shared) = shared {
        shared.abort();
    }
    for upstream in gateway.upstreams.values() {
        ticketgate_model::Helpdesk::shutdown(upstream.as_ref()).await;
    }
}
