//! The HTTP edge: the accept loops (HTTP/1.1 and h2c, keep-alive, graceful shutdown)
//! of the public and the admin listener, and the per-request pipeline every dialect
//! shares:
//!
//! request id → client address (trusted proxies) → global quota → `/healthz` (public)
//! or the operations endpoints (admin) → mount by prefix → the face's head phase
//! (credentials checked before any body is read) → body limit (checked on
//! `Content-Length` before reading, and while reading) and the global budget of
//! buffered body bytes → the dialect's server face under the request deadline →
//! `RateLimit` headers → metrics and access log.
//!
//! A failure here is answered in the dialect of the mount the request was for.

use crate::context::RequestContext;
use crate::gateway::{Gateway, Mount};
use bytes::Bytes;
use futures_util::FutureExt as _;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use ticketgate_model::dialect::{Admission, BodyClass};
use ticketgate_model::{Error, ErrorKind};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{ServiceBuilder, ServiceExt as _};

mod park;
use park::{RequestBody, ResponseBody, Turn, TurnIo};

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(1);

/// The id of a request: the client's `X-Request-Id` when it is a safe one (see
/// [`ticketgate_upstream::request_id::is_valid`]), else a new one. A new id is unique
/// across restarts too (a per-process prefix and a counter), since outbox deliveries
/// carry the id of the request that queued them, possibly long after.
pub fn request_id(headers: &http::HeaderMap) -> String {
    headers
        .get(ticketgate_upstream::request_id::HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| ticketgate_upstream::request_id::is_valid(v))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id)
}

/// A fresh request id: `tg-` + a per-process prefix + a counter, in hex.
pub fn new_request_id() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let prefix = PREFIX.get_or_init(|| {
        use sha2::{Digest, Sha256};
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let d = Sha256::new()
            .chain_update(now.as_nanos().to_le_bytes())
            .chain_update(std::process::id().to_le_bytes())
            .finalize();
        d[..6].iter().map(|b| format!("{b:02x}")).collect()
    });
    format!(
        "tg-{prefix}-{:x}",
        REQUEST_SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The dialects, and a cheap `/healthz`.
    Public,
    /// `/metrics`, `/readyz` and `/healthz`, for monitoring only.
    Admin,
}

/// A body at least this large is handled off the async workers (see [`Edge`]).
pub const HEAVY_BODY_BYTES: usize = 32 * 1024;

/// What the listeners share: the cap on requests in flight, the budget of buffered
/// request body bytes, and the slots for heavy requests.
///
/// A request with a large body (XML, MIME, multipart, big JSON) is handled on a
/// blocking thread holding one of a few heavy slots (half the cores), so decoding it
/// cannot stall the async workers that accept connections, check credentials and
/// answer everyone else; and no more of them run at once than there are slots.
#[derive(Clone)]
pub struct Edge {
    in_flight: Arc<Semaphore>,
    budget: Arc<Semaphore>,
    heavy: Arc<Semaphore>,
}

impl Edge {
    pub fn new(config: &crate::Config) -> Self {
        Self {
            in_flight: Arc::new(Semaphore::new(config.server.max_in_flight.max(1))),
            budget: Arc::new(Semaphore::new(
                config
                    .limits
                    .buffered_bytes
                    .clamp(1, Semaphore::MAX_PERMITS),
            )),
            heavy: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            )),
        }
    }

    /// Body bytes that may still be buffered now.
    pub fn budget_left(&self) -> usize {
        self.budget.available_permits()
    }
}

/// Accept connections until `shutdown` turns true, then let in-flight requests finish
/// (up to the configured grace) and return.
pub async fn accept_loop(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    edge: Edge,
    role: Listener,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = gateway.config();
    let header_timeout = Duration::from_millis(config.server.header_read_timeout_ms);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(config.server.max_header_bytes.max(8192))
        .max_headers(config.server.max_headers)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(config.server.max_header_bytes).unwrap_or(u32::MAX));
    // The same HTTP/1.1 settings for the plain connections served turn by turn.
    let mut h1 = hyper::server::conn::http1::Builder::new();
    h1.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(config.server.max_header_bytes.max(8192))
        .max_headers(config.server.max_headers)
        .keep_alive(true);
    let protocols = Arc::new(Protocols {
        auto: builder,
        h1,
        idle: header_timeout,
    });
    // Every connection holds a receiver: a change tells it to finish, and the
    // sender sees when the last one is gone.
    let (stop, held) = watch::channel(());
    let slots = Arc::new(Semaphore::new(config.server.max_connections.max(1)));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = Conn {
            gateway: gateway.clone(),
            edge: edge.clone(),
            role,
            peer,
            stop: held.clone(),
        };
        let protocols = protocols.clone();
        tokio::spawn(async move {
            let gateway = conn.gateway.clone();
            let _open = gateway.metrics.connections.opened();
            match &conn.gateway.tls {
                None => serve_plain(conn, &protocols, stream).await,
                Some(tls) => {
                    // The handshake runs on the connection's own task, under the same
                    // deadline as a request head, so a slow one holds up nobody else.
                    // (Boxed, like every large state, so the task stays small.)
                    let accepted =
                        Box::pin(tokio::time::timeout(protocols.idle, tls.accept(stream))).await;
                    match accepted {
                        Ok(Ok((stream, identity))) => {
                            Box::pin(serve_auto(conn, &protocols.auto, stream, identity)).await
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, %peer, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    drop(held);
    let _ = stop.send(());
    let grace = Duration::from_millis(gateway.config().server.shutdown_grace_ms);
    if tokio::time::timeout(grace, stop.closed()).await.is_err() {
        tracing::warn!("shutdown grace period ended with requests still in flight");
    }
}

/// How connections are served: HTTP/1.1 or h2c (`auto`, for TLS and h2c), HTTP/1.1
/// turn by turn (`h1`, for plain connections), and how long a connection may sit
/// idle before its next request head.
struct Protocols {
    auto: auto::Builder<TokioExecutor>,
    h1: hyper::server::conn::http1::Builder,
    idle: Duration,
}

/// One accepted connection: what serves it, and the shutdown signal it watches.
struct Conn {
    gateway: Arc<Gateway>,
    edge: Edge,
    role: Listener,
    peer: SocketAddr,
    stop: watch::Receiver<()>,
}

type Responding = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>,
>;

/// The per-connection service: the pipeline as a tower service (a global cap on
/// requests in flight, shed at once when it is reached — a quick 503 beats an
/// unbounded queue) around [`handle`]. `turn`: the connection is served turn by turn
/// (see [`park`]), and requests and responses report on it.
fn connection_service(
    conn: &Conn,
    identity: Option<Arc<crate::tls::PeerIdentity>>,
    turn: Option<Arc<Turn>>,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<ResponseBody>,
    Error = Infallible,
    Future = Responding,
> + Clone
+ Send
+ 'static {
    let (gateway, edge, role, peer) = (
        conn.gateway.clone(),
        conn.edge.clone(),
        conn.role,
        conn.peer,
    );
    let gw = gateway.clone();
    let pipeline =
        ServiceBuilder::new()
            .load_shed()
            .layer(GlobalConcurrencyLimitLayer::with_semaphore(
                edge.in_flight.clone(),
            ))
            .service_fn({
                let gw = gateway.clone();
                let edge = edge.clone();
                move |req| {
                    let (gw, edge, identity) = (gw.clone(), edge.clone(), identity.clone());
                    async move {
                        Ok::<_, Infallible>(handle(gw, &edge, role, req, peer, identity).await)
                    }
                }
            });
    hyper::service::service_fn(move |req: Request<Incoming>| {
        let (gw, pipeline, turn) = (gw.clone(), pipeline.clone(), turn.clone());
        // Here, not in the future: hyper may read again before it polls the future.
        if let Some(turn) = &turn {
            turn.request_started(req.body().is_end_stream());
        }
        let req = req.map(|body| RequestBody::new(body, turn.clone()));
        // Boxed, so an idle keep-alive connection's task holds a pointer rather
        // than room for the whole request pipeline's state machine.
        Box::pin(async move {
            // Kept for the rare shed answer; a `Uri` clone shares its bytes.
            let uri = req.uri().clone();
            let asked_id = req
                .headers()
                .get(ticketgate_upstream::request_id::HEADER)
                .cloned();
            let response = match pipeline.oneshot(req).await {
                Ok(response) => response,
                Err(_) => {
                    let mut headers = http::HeaderMap::new();
                    if let Some(v) = asked_id {
                        headers.insert(ticketgate_upstream::request_id::HEADER, v);
                    }
                    let mut r = shed(&gw, uri.path());
                    if let Ok(v) = HeaderValue::from_str(&request_id(&headers)) {
                        r.headers_mut()
                            .insert(ticketgate_upstream::request_id::HEADER, v);
                    }
                    r
                }
            };
            Ok::<_, Infallible>(response.map(|b| ResponseBody::new(Full::new(b), turn)))
        }) as Responding
    })
}

/// Serve a TLS connection, or h2c, until it ends, closing it gracefully when the
/// gateway shuts down.
async fn serve_auto<S>(
    mut conn: Conn,
    builder: &auto::Builder<TokioExecutor>,
    stream: S,
    identity: Option<Arc<crate::tls::PeerIdentity>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = connection_service(&conn, identity, None);
    let served = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    let mut served = std::pin::pin!(served);
    let ended = tokio::select! {
        r = served.as_mut() => r,
        _ = conn.stop.changed() => {
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, peer = %conn.peer, "connection ended with an error");
    }
}

/// The HTTP/2 connection preface; a plain connection opening with it is h2c.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serve a plain connection: HTTP/1.1 turn by turn, parked between requests with no
/// buffers (see [`park`]); h2c (prior knowledge) as a whole.
async fn serve_plain(mut conn: Conn, protocols: &Protocols, mut stream: tokio::net::TcpStream) {
    let turn = Arc::new(Turn::default());
    let mut service = Some(connection_service(&conn, None, Some(turn.clone())));
    let mut ahead = Bytes::new();
    let mut first = true;
    loop {
        if ahead.is_empty() {
            // Parked: the socket alone, until the next request's first bytes, the
            // idle bound, or shutdown. (A peek, not a wait for readiness: a fresh
            // socket can report readable with nothing to read.)
            let gateway = conn.gateway.clone();
            let _parked = gateway.metrics.connections.parked();
            let mut head = [0u8; 4];
            let peeked = tokio::select! {
                biased;
                _ = conn.stop.changed() => return,
                peeked = tokio::time::timeout(protocols.idle, stream.peek(&mut head)) => peeked,
            };
            let n = match peeked {
                Ok(Ok(n)) if n > 0 => n,
                // Closed by the client, failed, or idle too long.
                _ => return,
            };
            if first && H2_PREFACE.starts_with(&head[..n]) {
                return Box::pin(serve_auto(conn, &protocols.auto, stream, None)).await;
            }
        }
        first = false;
        turn.reset();
        let Some(svc) = service.take() else { return };
        let io = TurnIo::new(stream, std::mem::take(&mut ahead), turn.clone());
        // Boxed: hyper's connection state exists only during a turn, not in the
        // parked task.
        let next = Box::pin(serve_turn(&protocols.h1, io, svc, &turn, &mut conn.stop)).await;
        match next {
            Ok(Some((s, read_ahead, svc))) => {
                stream = s;
                ahead = read_ahead;
                service = Some(svc);
            }
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, peer = %conn.peer, "connection ended with an error");
                return;
            }
        }
    }
}

/// One turn of a plain HTTP/1.1 connection: hyper serves the request (or the
/// pipelined ones) until it is idle and asks for the next head, then hands the socket
/// back, with the bytes it read ahead, for the connection to park. `None` when the
/// connection ended instead (closed by either side, or the gateway shutting down).
async fn serve_turn<S>(
    h1: &hyper::server::conn::http1::Builder,
    io: TurnIo,
    service: S,
    turn: &Turn,
    stop: &mut watch::Receiver<()>,
) -> hyper::Result<Option<(tokio::net::TcpStream, Bytes, S)>>
where
    S: hyper::service::HttpService<Incoming, ResBody = ResponseBody> + Unpin,
    S::Future: Unpin,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut served = h1.serve_connection(TokioIo::new(io), service);
    let (mut parking, mut stopping) = (false, false);
    {
        let mut stop = std::pin::pin!(stop.changed());
        std::future::poll_fn(|cx| {
            if !stopping && stop.as_mut().poll(cx).is_ready() {
                stopping = true;
                std::pin::Pin::new(&mut served).graceful_shutdown();
            }
            loop {
                match served.poll_without_shutdown(cx) {
                    std::task::Poll::Pending if !parking && turn.park_wanted() => {
                        // Idle, asking for the next head: close hyper's side, which
                        // hands the socket back.
                        parking = true;
                        std::pin::Pin::new(&mut served).graceful_shutdown();
                    }
                    other => return other,
                }
            }
        })
        .await?;
    }
    if !parking || stopping {
        return Ok(None);
    }
    let parts = served.into_parts();
    let (stream, rest) = parts.io.into_inner().into_parts();
    // What hyper read ahead comes first, then what it never read.
    let ahead = if rest.is_empty() {
        parts.read_buf
    } else if parts.read_buf.is_empty() {
        rest
    } else {
        let mut joined = bytes::BytesMut::with_capacity(parts.read_buf.len() + rest.len());
        joined.extend_from_slice(&parts.read_buf);
        joined.extend_from_slice(&rest);
        joined.freeze()
    };
    Ok(Some((stream, ahead, parts.service)))
}

/// One request through the pipeline. Never fails: every outcome is a response.
pub async fn handle(
    gateway: Arc<Gateway>,
    edge: &Edge,
    role: Listener,
    req: Request<RequestBody>,
    peer: SocketAddr,
    identity: Option<Arc<crate::tls::PeerIdentity>>,
) -> Response<Bytes> {
    let started = Instant::now();
    let request_id = request_id(req.headers());
    let method = req.method().clone();
    let path = routed(req.uri().path()).to_owned();
    let client = client_address(
        peer.ip(),
        req.headers(),
        &gateway.config().server.trusted_proxies,
    );
    let cx = Arc::new(RequestContext::new(gateway.clone(), client, identity));
    let mount = match role {
        Listener::Public => gateway.mounts.iter().find(|m| mounted_at(m, &path)),
        Listener::Admin => None,
    };

    let global = gateway.global.check();
    let (dialect, mut response) = match (global, role, mount) {
        (Err((e, report)), _, mount) => {
            // The refusal shows the global policy it came from.
            *cx.rate.lock().unwrap_or_else(|p| p.into_inner()) = Some(report);
            match mount {
                Some(m) => (
                    m.face.dialect(),
                    m.face.error_response_at(&path[m.prefix.len()..], &e),
                ),
                None => ("ops", crate::canonical::problem_response(&e)),
            }
        }
        (Ok(_), Listener::Admin, _) => match operations(&gateway, &path).await {
            Some(r) => ("ops", r),
            None => ("none", not_found(&path)),
        },
        (Ok(_), Listener::Public, _) if path == "/healthz" => ("ops", healthz()),
        (Ok(_), Listener::Public, None) => ("none", not_found(&path)),
        (Ok(_), Listener::Public, Some(mount)) => {
            let dialect = mount.face.dialect();
            let _ = cx.route.set(crate::routing::RouteHints {
                dialect: Some(dialect),
                headers: gateway
                    .config()
                    .routing
                    .rules
                    .iter()
                    .any(|r| r.header.is_some())
                    .then(|| req.headers().clone()),
            });
            let work = ticketgate_upstream::request_id::scope(
                Arc::from(request_id.as_str()),
                run_face(&gateway, edge, mount, req, &cx),
            );
            let r = match std::panic::AssertUnwindSafe(work).catch_unwind().await {
                Ok(r) => r,
                Err(_) => {
                    tracing::error!(request_id, dialect, "a request handler panicked");
                    mount
                        .face
                        .error_response(&Error::internal("internal error"))
                }
            };
            (dialect, r)
        }
    };

    let limited = response.status() == StatusCode::TOO_MANY_REQUESTS;
    let headers = response.headers_mut();
    if let Some(report) = cx.rate.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
        headers.insert("ratelimit-policy", report.policy_header());
        headers.insert("ratelimit", report.limit_header());
        if limited && !headers.contains_key(header::RETRY_AFTER) {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(report.reset_secs.max(1)),
            );
        }
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    gateway.metrics.request(dialect, status, elapsed);
    let consumer = cx
        .consumer
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if role == Listener::Public {
        gateway.metrics.history.request(status, consumer.as_deref());
    }
    // The query string is not logged: some dialects carry tokens in it.
    tracing::info!(
        request_id,
        %method,
        path,
        dialect,
        status,
        consumer = consumer.as_deref().unwrap_or("-"),
        peer = %peer.ip(),
        client = %client,
        micros = elapsed.as_micros() as u64,
        "request"
    );
    response
}

/// The answer to a request shed because too many are in flight: 503 with
/// `Retry-After`, in the dialect of the mount it was for.
fn shed(gateway: &Gateway, path: &str) -> Response<Bytes> {
    gateway.metrics.request("shed", 503, Duration::ZERO);
    let e = Error::upstream_unavailable("the gateway is at its limit of requests in flight")
        .retry_after(Duration::from_secs(1));
    let path = routed(path);
    let mut r = match gateway.mounts.iter().find(|m| mounted_at(m, path)) {
        Some(m) => m.face.error_response_at(&path[m.prefix.len()..], &e),
        None => crate::canonical::problem_response(&e),
    };
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    r
}

/// The path mounts are matched against: a run of leading slashes counts as one, as
/// for most web servers (`rt-mailgate --url http://host/` asks for
/// `//REST/1.0/NoAuth/mail-gateway`).
fn routed(path: &str) -> &str {
    let rest = path.trim_start_matches('/');
    if rest.len() + 1 < path.len() {
        &path[path.len() - rest.len() - 1..]
    } else {
        path
    }
}

fn mounted_at(mount: &Mount, path: &str) -> bool {
    path == mount.prefix
        || path
            .strip_prefix(mount.prefix.as_str())
            .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('.'))
}

async fn run_face(
    gateway: &Gateway,
    edge: &Edge,
    mount: &Mount,
    req: Request<RequestBody>,
    cx: &Arc<RequestContext>,
) -> Response<Bytes> {
    let config = gateway.config();
    let face = &mount.face;
    let sub_path = routed(req.uri().path())[mount.prefix.len()..].to_owned();
    let (mut parts, body) = req.into_parts();
    let cx_ref: &RequestContext = cx;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());

    // The head phase: who is calling is settled before a byte of the body is read.
    let admission = match face.admit(&sub_path, &mut parts, cx_ref) {
        Ok(a) => a,
        Err(refusal) => {
            // A blocked address is refused as blocked, whichever gateway blocked it.
            let refusal = match cx.settle().await {
                Some(e) => face.error_response_at(&sub_path, &e),
                None => refusal,
            };
            return refuse_unread(refusal, body, declared, &config).await;
        }
    };
    let route_limit = match face.body_class(&parts.method, &sub_path) {
        BodyClass::Standard => config.limits.body_bytes,
        BodyClass::Email => config.limits.email_bytes,
        BodyClass::Upload => config.limits.upload_bytes,
    };
    let limit = match admission {
        Admission::Verified => route_limit,
        Admission::Unverified => route_limit.min(config.limits.unauthenticated_body_bytes),
    };
    if declared.is_some_and(|n| n > limit as u64) {
        // The body is not read, so the connection cannot be reused: say so.
        return closing(face.error_response_at(&sub_path, &too_large(limit)));
    }
    let deadline = Duration::from_millis(config.server.request_timeout_ms);
    let body = match tokio::time::timeout(deadline, read_body(body, limit, declared, &edge.budget))
        .await
    {
        Ok(Ok(read)) => read,
        Ok(Err(BodyError::TooLarge)) => {
            return closing(face.error_response_at(&sub_path, &too_large(limit)));
        }
        Ok(Err(BodyError::OverBudget)) => {
            gateway.metrics.request("over_budget", 503, Duration::ZERO);
            let e = Error::upstream_unavailable(
                "the gateway is holding as many request bodies as it may; retry shortly",
            )
            .retry_after(Duration::from_secs(1));
            let mut r = face.error_response_at(&sub_path, &e);
            *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            return closing(r);
        }
        Ok(Err(BodyError::Unreadable)) => {
            return closing(face.error_response_at(
                &sub_path,
                &Error::bad_input("the request body could not be read"),
            ));
        }
        Err(_) => {
            let mut r = face.error_response_at(
                &sub_path,
                &Error::bad_input("the request body was not received in time"),
            );
            *r.status_mut() = StatusCode::REQUEST_TIMEOUT;
            return closing(r);
        }
    };
    // The budget is held until the face is done with the body.
    let (bytes, _held) = (body.bytes, body.permit);
    let heavy = bytes.len() >= HEAVY_BODY_BYTES;
    let request = Request::from_parts(parts, bytes);
    let outcome = if heavy {
        tokio::time::timeout(
            deadline,
            handle_heavy(edge, face.clone(), sub_path.clone(), request, cx.clone()),
        )
        .await
        .ok()
        .flatten()
    } else {
        tokio::time::timeout(deadline, face.handle(&sub_path, request, cx_ref))
            .await
            .ok()
    };
    let response = outcome.unwrap_or_else(|| {
        face.error_response_at(
            &sub_path,
            &Error::upstream_unavailable("the request did not complete in time")
                .with_upstream_status(504),
        )
    });
    match cx.settle().await {
        Some(e) => face.error_response_at(&sub_path, &e),
        None => response,
    }
}

/// Run a face on a heavy request on a blocking thread, once a heavy slot is free.
/// When the caller stops waiting (the deadline answered 504), the work stops at its
/// next await: decoding under way finishes (decoders are bounded by the body limit),
/// but no upstream call starts after it. `None` if the work was stopped or failed.
async fn handle_heavy(
    edge: &Edge,
    face: Arc<dyn ticketgate_model::ServerFace>,
    path: String,
    request: Request<Bytes>,
    cx: Arc<RequestContext>,
) -> Option<Response<Bytes>> {
    let slot = edge.heavy.clone().acquire_owned().await.ok()?;
    // Dropped with this future when the deadline passes, which stops the work.
    let (_waiting, gave_up) = tokio::sync::oneshot::channel::<()>();
    let runtime = tokio::runtime::Handle::current();
    let id = ticketgate_upstream::request_id::current();
    let job = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        runtime.block_on(ticketgate_upstream::request_id::scope_opt(id, async move {
            tokio::select! {
                r = face.handle(&path, request, &*cx) => Some(r),
                _ = gave_up => None,
            }
        }))
    });
    job.await.ok().flatten()
}

/// A refusal from the head phase. The body is never buffered: a small declared one is
/// read and dropped, so the client gets its answer on a connection it can reuse; any
/// other is left unread and the connection closed after the answer.
async fn refuse_unread(
    refusal: Response<Bytes>,
    body: RequestBody,
    declared: Option<u64>,
    config: &crate::Config,
) -> Response<Bytes> {
    let small = config.limits.unauthenticated_body_bytes as u64;
    match declared {
        Some(0) => refusal,
        Some(n) if n <= small => {
            let drained = tokio::time::timeout(Duration::from_secs(1), async {
                let mut body = body;
                while let Some(frame) = body.frame().await {
                    if frame.is_err() {
                        return false;
                    }
                }
                true
            })
            .await;
            if matches!(drained, Ok(true)) {
                refusal
            } else {
                closing(refusal)
            }
        }
        _ if body.is_end_stream() => refusal,
        _ => closing(refusal),
    }
}

/// A body read within its limit and the global budget, with the budget it holds.
struct ReadBody {
    bytes: Bytes,
    permit: Option<OwnedSemaphorePermit>,
}

enum BodyError {
    TooLarge,
    OverBudget,
    Unreadable,
}

/// Read a body up to `limit` bytes, taking each byte from the global budget before it
/// is buffered: the declared length at once, a chunked body as it arrives.
async fn read_body(
    mut body: RequestBody,
    limit: usize,
    declared: Option<u64>,
    budget: &Arc<Semaphore>,
) -> Result<ReadBody, BodyError> {
    let take = |n: usize| -> Result<Option<OwnedSemaphorePermit>, BodyError> {
        if n == 0 {
            return Ok(None);
        }
        let n = u32::try_from(n).map_err(|_| BodyError::TooLarge)?;
        budget
            .clone()
            .try_acquire_many_owned(n)
            .map(Some)
            .map_err(|_| BodyError::OverBudget)
    };
    let reserved_upfront = declared.map_or(0, |n| n as usize);
    let mut permit = take(reserved_upfront)?;
    let mut reserved = reserved_upfront;
    let mut buf = bytes::BytesMut::with_capacity(reserved_upfront);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Unreadable)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let total = buf.len() + data.len();
        if total > limit {
            return Err(BodyError::TooLarge);
        }
        if total > reserved {
            let more = take(total - reserved)?;
            permit = match (permit, more) {
                (Some(mut p), Some(m)) => {
                    p.merge(m);
                    Some(p)
                }
                (p, m) => p.or(m),
            };
            reserved = total;
        }
        buf.extend_from_slice(&data);
    }
    Ok(ReadBody {
        bytes: buf.freeze(),
        permit,
    })
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the
/// rightmost address in `Forwarded` (else `X-Forwarded-For`) that is not itself a
/// trusted proxy. Hops to the left of it were written by the client and prove nothing.
pub fn client_address(
    peer: IpAddr,
    headers: &http::HeaderMap,
    trusted: &[crate::config::Cidr],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if trusted.is_empty() || !is_trusted(peer) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all(header::FORWARDED)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let hops: Vec<Option<IpAddr>> = if !forwarded.is_empty() {
        forwarded
            .iter()
            .map(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.trim().split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| parse_hop(v.trim().trim_matches('"')))
                })?
            })
            .collect()
    } else {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|hop| parse_hop(hop.trim()))
            .collect()
    };
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        match hop {
            Some(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            // Garbage (or an obfuscated `for=_hidden`): nothing to its left can be
            // trusted, so the nearest hop that could be stays the client.
            None => break,
        }
    }
    client
}

/// One hop: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = hop.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse().ok())
}

/// Mark a response as the last on its connection (its request body was not read to
/// the end, so the connection's framing is lost).
fn closing(mut response: Response<Bytes>) -> Response<Bytes> {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn too_large(limit: usize) -> Error {
    Error::new(
        ErrorKind::PayloadTooLarge,
        format!("the request body is larger than {limit} bytes"),
    )
}

fn not_found(path: &str) -> Response<Bytes> {
    crate::canonical::problem_response(&Error::not_found(format!("nothing is mounted at {path}")))
}

fn healthz() -> Response<Bytes> {
    text(StatusCode::OK, "text/plain", "ok\n".into())
}

/// The admin listener's endpoints: `/healthz`, `/readyz` and `/metrics`. Their storage
/// reads go to read-only connections, never the writer creates queue on.
async fn operations(gateway: &Gateway, path: &str) -> Option<Response<Bytes>> {
    match path {
        "/healthz" => Some(healthz()),
        "/readyz" => {
            let mut problems = Vec::new();
            if let Err(e) = gateway.state.summary().await {
                problems.push(format!("gateway state: {e}"));
            }
            for store in &gateway.stores {
                if let Err(e) = store.probe().await {
                    problems.push(format!("embedded store: {e}"));
                }
            }
            for (name, u) in &gateway.upstreams {
                if u.circuit_open() {
                    problems.push(format!("upstream {name}: circuit open"));
                }
            }
            let body = serde_json::json!({ "ready": problems.is_empty(), "problems": problems });
            let status = if problems.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            Some(text(status, "application/json", body.to_string()))
        }
        "/" => Some(
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
                // Nothing but the page itself and its own JSON may load.
                .header(
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
                )
                .header(header::CACHE_CONTROL, "no-store")
                .body(Bytes::from_static(crate::status::PAGE.as_bytes()))
                .expect("static headers are valid"),
        ),
        "/status.json" => {
            let summary = gateway.state.summary().await.ok();
            let doc = crate::status::document(
                &gateway.metrics.history.minutes(),
                upstreams_now(gateway),
                summary.as_ref(),
            );
            let mut r = text(StatusCode::OK, "application/json", doc.to_string());
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Some(r)
        }
        "/metrics" => {
            let gauges = gateway
                .state
                .summary()
                .await
                .ok()
                .map(|s| crate::metrics::OutboxGauges {
                    pending: s.pending,
                    dead: s.dead,
                    oldest_age_secs: s
                        .oldest_pending
                        .map(|t| (chrono::Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0)
                        .unwrap_or(0.0),
                });
            let mut body = gateway.metrics.render(gauges);
            if let Some(shared) = &gateway.shared {
                shared.render(&mut body);
            }
            Some(text(StatusCode::OK, "text/plain; version=0.0.4", body))
        }
        _ => None,
    }
}

/// Each upstream as it stands now, for the status page.
fn upstreams_now(gateway: &Gateway) -> Vec<crate::status::UpstreamNow> {
    let config = gateway.config();
    let mut names: Vec<&String> = gateway.upstreams.keys().collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let u = &gateway.upstreams[name];
            let circuit = u.circuit_state();
            crate::status::UpstreamNow {
                name: name.clone(),
                kind: config
                    .upstreams
                    .get(name)
                    .map(|c| c.kind.name().to_owned())
                    .unwrap_or_default(),
                circuit,
                health: if circuit == "closed" {
                    "healthy"
                } else {
                    "down"
                },
                in_flight: u.in_flight() as u64,
                queued: u.queued() as u64,
                concurrency: u.concurrency() as u64,
            }
        })
        .collect()
}

/// Sample the gauges the status page charts (outbox depth, calls in flight,
/// circuits) into the history, every `every` until `shutdown` turns true.
pub async fn sample_status(
    gateway: Arc<Gateway>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let summary = gateway.state.summary().await.ok().unwrap_or_default();
        let upstreams: Vec<(String, u64, bool)> = gateway
            .upstreams
            .iter()
            .map(|(n, u)| (n.clone(), u.in_flight() as u64, u.circuit_open()))
            .collect();
        gateway
            .metrics
            .history
            .sample(summary.pending, summary.dead, &upstreams);
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Bytes::from(body))
        .expect("static headers are valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Cidr;

    #[test]
    fn leading_slashes_count_as_one() {
        assert_eq!(
            routed("//REST/1.0/NoAuth/mail-gateway"),
            "/REST/1.0/NoAuth/mail-gateway"
        );
        assert_eq!(routed("///v1/tickets"), "/v1/tickets");
        assert_eq!(routed("/v1//tickets"), "/v1//tickets");
        assert_eq!(routed("/"), "/");
        assert_eq!(routed("//"), "/");
        assert_eq!(routed(""), "");
    }

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop_from_a_trusted_peer_only() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let stranger: IpAddr = "192.0.2.9".parse().unwrap();
        let xff = |v: &str| headers(&[("x-forwarded-for", v)]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            client_address(proxy, &xff("198.51.100.1"), &trusted),
            ip("198.51.100.1")
        );
        // Spoofed hops left of the real one are ignored; trusted hops are skipped.
        assert_eq!(
            client_address(proxy, &xff("1.1.1.1, 198.51.100.1, 10.9.9.9"), &trusted),
            ip("198.51.100.1")
        );
        // Several header lines are one list.
        let two = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "198.51.100.2"),
        ]);
        assert_eq!(client_address(proxy, &two, &trusted), ip("198.51.100.2"));
        // From an untrusted peer, or with nothing trusted, the headers mean nothing.
        assert_eq!(
            client_address(stranger, &xff("198.51.100.1"), &trusted),
            stranger
        );
        assert_eq!(client_address(proxy, &xff("198.51.100.1"), &[]), proxy);
        // Garbage stops the walk at the nearest hop that could be trusted.
        assert_eq!(client_address(proxy, &xff("nonsense"), &trusted), proxy);
        // RFC 7239, with ports, quotes and IPv6 brackets; it wins over X-Forwarded-For.
        let fwd = headers(&[
            (
                "forwarded",
                "for=192.0.2.60;proto=http, for=\"[2001:db8::1]:4711\"",
            ),
            ("x-forwarded-for", "198.51.100.1"),
        ]);
        assert_eq!(client_address(proxy, &fwd, &trusted), ip("2001:db8::1"));
        let hidden = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(client_address(proxy, &hidden, &trusted), proxy);
        assert_eq!(parse_hop("192.0.2.1:80"), Some(ip("192.0.2.1")));
    }
}
