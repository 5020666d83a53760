//! The HTTP edge: the accept loop (HTTP/1.1 and h2c, keep-alive, graceful shutdown)
//! and the per-request pipeline every dialect shares:
//!
//! request id → operations endpoints → global quota → mount by prefix → body limit
//! (checked on `Content-Length` before reading, and while reading) → the dialect's
//! server face under the request deadline → `RateLimit` headers → metrics and access log.
//!
//! A failure here is answered in the dialect of the mount the request was for.

use crate::context::RequestContext;
use crate::gateway::{Gateway, Mount};
use bytes::Bytes;
use futures_util::FutureExt as _;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use ticketgate_model::dialect::BodyClass;
use ticketgate_model::{Error, ErrorKind};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::{ServiceBuilder, ServiceExt as _};

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(1);

/// Accept connections until `shutdown` turns true, then let in-flight requests finish
/// (up to the configured grace) and return.
pub async fn accept_loop(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = gateway.config();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(config.server.header_read_timeout_ms))
        .max_buf_size(config.server.max_header_bytes.max(8192))
        .max_headers(config.server.max_headers)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(config.server.max_header_bytes).unwrap_or(u32::MAX));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(config.server.max_connections.max(1)));
    let in_flight = Arc::new(Semaphore::new(config.server.max_in_flight.max(1)));
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
        let gw = gateway.clone();
        // The pipeline as a tower service: a global cap on requests in flight, shed at
        // once when it is reached (a quick 503 beats an unbounded queue), around
        // `handle`.
        let pipeline = ServiceBuilder::new()
            .load_shed()
            .layer(GlobalConcurrencyLimitLayer::with_semaphore(
                in_flight.clone(),
            ))
            .service_fn({
                let gw = gateway.clone();
                move |req| {
                    let gw = gw.clone();
                    async move { Ok::<_, Infallible>(handle(gw, req, peer).await) }
                }
            });
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let (gw, pipeline) = (gw.clone(), pipeline.clone());
            // Boxed, so an idle keep-alive connection's task holds a pointer rather
            // than room for the whole request pipeline's state machine.
            Box::pin(async move {
                // Kept for the rare shed answer; a `Uri` clone shares its bytes.
                let uri = req.uri().clone();
                Ok::<_, Infallible>(match pipeline.oneshot(req).await {
                    Ok(response) => response,
                    Err(_) => shed(&gw, uri.path()).map(Full::new),
                })
            })
        });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    let grace = Duration::from_millis(gateway.config().server.shutdown_grace_ms);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period ended with requests still in flight");
    }
}

/// One request through the pipeline. Never fails: every outcome is a response.
pub async fn handle(
    gateway: Arc<Gateway>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("tg-{:x}", REQUEST_SEQ.fetch_add(1, Ordering::Relaxed)));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let cx = RequestContext::new(gateway.clone(), peer.ip());

    let (dialect, mut response) = match operations(&gateway, &path).await {
        Some(r) => ("ops", r),
        None => match gateway.mounts.iter().find(|m| mounted_at(m, &path)) {
            None => ("none", not_found(&path)),
            Some(mount) => {
                let dialect = mount.face.dialect();
                let work = run_face(&gateway, mount, req, &cx);
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
        },
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
    // The query string is not logged: some dialects carry tokens in it.
    tracing::info!(
        request_id,
        %method,
        path,
        dialect,
        status,
        consumer = consumer.as_deref().unwrap_or("-"),
        peer = %peer.ip(),
        micros = elapsed.as_micros() as u64,
        "request"
    );
    response.map(Full::new)
}

/// The answer to a request shed because too many are in flight: 503 with
/// `Retry-After`, in the dialect of the mount it was for.
fn shed(gateway: &Gateway, path: &str) -> Response<Bytes> {
    gateway.metrics.request("shed", 503, Duration::ZERO);
    let e = Error::upstream_unavailable("the gateway is at its limit of requests in flight")
        .retry_after(Duration::from_secs(1));
    let mut r = match gateway.mounts.iter().find(|m| mounted_at(m, path)) {
        Some(m) => m.face.error_response_at(&path[m.prefix.len()..], &e),
        None => crate::canonical::problem_response(&e),
    };
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    r
}

fn mounted_at(mount: &Mount, path: &str) -> bool {
    path == mount.prefix
        || path
            .strip_prefix(mount.prefix.as_str())
            .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('.'))
}

async fn run_face(
    gateway: &Gateway,
    mount: &Mount,
    req: Request<Incoming>,
    cx: &RequestContext,
) -> Response<Bytes> {
    let config = gateway.config();
    let face = &mount.face;
    let sub_path = req.uri().path()[mount.prefix.len()..].to_owned();
    if let Err((e, report)) = gateway.global.check() {
        // The refusal shows the global policy it came from.
        *cx.rate.lock().unwrap_or_else(|p| p.into_inner()) = Some(report);
        return face.error_response_at(&sub_path, &e);
    }
    let limit = match face.body_class(req.method(), &sub_path) {
        BodyClass::Standard => config.limits.body_bytes,
        BodyClass::Email => config.limits.email_bytes,
        BodyClass::Upload => config.limits.upload_bytes,
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        // The body is not read, so the connection cannot be reused: say so.
        return closing(face.error_response_at(&sub_path, &too_large(limit)));
    }
    let deadline = Duration::from_millis(config.server.request_timeout_ms);
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(deadline, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return closing(face.error_response_at(&sub_path, &too_large(limit)));
        }
        Ok(Err(_)) => {
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
    let request = Request::from_parts(parts, body);
    match tokio::time::timeout(deadline, face.handle(&sub_path, request, cx)).await {
        Ok(r) => r,
        Err(_) => face.error_response_at(
            &sub_path,
            &Error::upstream_unavailable("the request did not complete in time")
                .with_upstream_status(504),
        ),
    }
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

/// `/healthz`, `/readyz` and `/metrics`, answered before any dialect.
async fn operations(gateway: &Gateway, path: &str) -> Option<Response<Bytes>> {
    match path {
        "/healthz" => Some(text(StatusCode::OK, "text/plain", "ok\n".into())),
        "/readyz" => {
            let mut problems = Vec::new();
            if let Err(e) = gateway.state.summary().await {
                problems.push(format!("gateway state: {e}"));
            }
            if let Some(store) = &gateway.embedded
                && let Err(e) = store.probe().await
            {
                problems.push(format!("embedded store: {e}"));
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
            Some(text(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                gateway.metrics.render(gauges),
            ))
        }
        _ => None,
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Bytes> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Bytes::from(body))
        .expect("static headers are valid")
}
