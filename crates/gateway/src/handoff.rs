//! Piped mail handed to the running gateway.
//!
//! A mail server starts one `ticketgate pipe` per message. On its own, each of those
//! processes opens the gateway's databases, ingests the message, commits, checkpoints
//! and closes them again — some 12 ms, most of it opening and closing — and its writes
//! contend with those of a `ticketgate serve` on the same data directory. When a
//! `serve` is running there, it listens on a Unix socket in the data directory
//! (`pipe.sock`), and `pipe` hands the message over instead: the running gateway
//! ingests it exactly as `pipe` would (the same [`deliver`]), with its databases open
//! and its writes committed in groups, and answers the [`Verdict`] — the exit status
//! and the lines `pipe` prints. As RT's `rt-mailgate` posts to the running RT.
//!
//! - Who may hand mail over: whoever may write into the data directory (which is what
//!   `pipe` on its own needs too). The socket's mode is the directory's, without the
//!   execute bits, set before the socket appears under its name.
//! - Nothing is lost in between: with no `serve` there (no socket, or nobody
//!   listening), `pipe` delivers by itself, as before. Once the message was handed
//!   over, an answer that does not come (the gateway stopped mid-way) holds the message
//!   (75), and the mail server's retry is recognised as a duplicate if it had been
//!   delivered after all.
//! - `pipe.handoff = false` turns it off on both sides.

use crate::email::Decision;
use crate::gateway::Gateway;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use ticketgate_model::{Ingested, Permission, Result};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

/// The socket's name in the data directory.
pub const SOCKET: &str = "pipe.sock";

/// The path the request is posted to.
const PATH: &str = "/deliver";
const CONSUMER: &str = "ticketgate-consumer";
const RECIPIENT: &str = "ticketgate-recipient";

/// The longest `pipe` waits for the running gateway's answer: beyond the slowest
/// upstream call and a queued write; past it the message is held (75) and retried.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(300);

/// The longest the gateway waits for a handed-over message to arrive, head and body:
/// `pipe` has it in memory and sends it at once, so a connection slower than this is
/// not a `pipe`, and it is not let hold a task.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The socket of the gateway serving `data_dir`.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET)
}

/// What became of a piped message, as `pipe` reports it: its exit status, the line on
/// standard output (delivered) or standard error (not delivered), and the decision
/// `--explain` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub code: u8,
    /// For standard output (the message was taken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub said: Option<String>,
    /// For standard error: one line, which may end up in a bounce (the message was
    /// not taken).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// `ticket`, `reply`, `duplicate`, `queued`, `discarded`, `deferred`, `refused`,
    /// `held`.
    pub decision: String,
    pub rule: String,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<String>,
}

impl Verdict {
    /// The message was not taken: `refused` is the line for standard error.
    fn not_taken(code: u8, decision: &str, rule: &str, refused: String, detail: String) -> Self {
        Self {
            code,
            said: None,
            refused: Some(refused),
            decision: decision.into(),
            rule: rule.into(),
            detail,
            ticket_id: None,
        }
    }

    /// A configuration mistake: the message is held (75) until it is fixed.
    pub fn held(message: &str) -> Self {
        let message = crate::cli::one_line(message);
        Self::not_taken(
            crate::cli::exit::TEMPFAIL,
            "held",
            "configuration",
            format!("configuration error, the message is kept and retried: {message}"),
            message,
        )
    }

    /// Larger than `limits.email_bytes`: the sender's to fix (65, a bounce).
    pub fn too_large(limit: usize) -> Self {
        let message = format!("the message is larger than the {limit} bytes this helpdesk accepts");
        Self::not_taken(
            crate::cli::exit::DATAERR,
            "refused",
            "size",
            message.clone(),
            message,
        )
    }

    /// Say in the log what became of the message (the pipe's log, and the running
    /// gateway's for a message handed to it).
    pub fn log(&self, request_id: &str) {
        let (decision, ticket) = (self.decision.as_str(), self.ticket_id.as_deref());
        match decision {
            "ticket" => tracing::info!(request_id, ticket, "mail delivered: ticket created"),
            "reply" => tracing::info!(request_id, ticket, "mail delivered: reply added"),
            "duplicate" => {
                tracing::info!(request_id, detail = self.detail, "mail already delivered")
            }
            "queued" => tracing::info!(
                request_id,
                tracking_id = ticket,
                "mail queued in the outbox"
            ),
            "discarded" => tracing::info!(
                request_id,
                reason = self.detail,
                "mail discarded: not a ticket"
            ),
            "held" => tracing::error!(
                request_id,
                error = self.detail,
                "configuration error: mail held for a retry"
            ),
            _ => tracing::info!(
                request_id,
                code = self.code,
                error = self.refused,
                "mail not delivered"
            ),
        }
    }

    /// Not delivered, for a reason of the moment: held (75) and retried.
    fn deferred(message: &str) -> Self {
        let message = crate::cli::one_line(message);
        Self::not_taken(
            crate::cli::exit::TEMPFAIL,
            "deferred",
            "error",
            message.clone(),
            message,
        )
    }
}

/// Ingest one piped message as `consumer`: what `ticketgate pipe` does on its own, and
/// what the running gateway does with a message handed to it.
pub async fn deliver(
    gateway: &Gateway,
    consumer: &str,
    raw: &[u8],
    recipients: &[String],
    request_id: Arc<str>,
) -> Verdict {
    let consumers = gateway.consumers();
    let Some(entry) = consumers.entry(consumer) else {
        return Verdict::held(&format!("consumer {consumer:?} is not defined"));
    };
    if !entry.consumer.permissions.has(Permission::Create) {
        return Verdict::held(&format!(
            "consumer {consumer:?} lacks the create permission"
        ));
    }
    let consumer = entry.consumer.clone();
    drop(consumers);
    let (outcome, rule) = ticketgate_upstream::request_id::scope(
        request_id,
        crate::email::ingest_explained(gateway, &consumer, raw, recipients, true),
    )
    .await;
    verdict(&outcome, rule)
}

/// The verdict on an ingested message.
fn verdict(outcome: &Result<Ingested>, rule: Decision) -> Verdict {
    use crate::cli::exit;
    let taken = |decision: &str, said: String, ticket_id: Option<&str>| Verdict {
        code: exit::OK,
        said: Some(said),
        refused: None,
        decision: decision.into(),
        rule: rule.rule.into(),
        detail: rule.detail.clone(),
        ticket_id: ticket_id.map(str::to_owned),
    };
    match outcome {
        Ok(Ingested::Created(t)) => taken(
            "ticket",
            format!("created ticket {}", t.number),
            Some(&t.id),
        ),
        Ok(Ingested::Replied { ticket, .. }) => taken(
            "reply",
            format!("added a reply to ticket {}", ticket.number),
            Some(&ticket.id),
        ),
        Ok(Ingested::Duplicate { ticket_id, .. }) => taken(
            "duplicate",
            format!("already delivered (ticket {ticket_id})"),
            None,
        ),
        Ok(Ingested::Queued { tracking_id }) => taken(
            "queued",
            format!("queued for delivery as {tracking_id} (the upstream is unavailable)"),
            Some(tracking_id),
        ),
        // RFC 3834: automatic mail is never answered, and a bounce is an answer. It is
        // accepted and discarded; `ingest` logged and counted it.
        Ok(Ingested::Ignored { reason }) => taken(
            "discarded",
            format!("not a ticket, discarded: {reason}"),
            None,
        ),
        Err(e) => Verdict::not_taken(
            crate::cli::mail_exit(e),
            if e.retryable { "deferred" } else { "refused" },
            rule.rule,
            crate::cli::one_line(&e.to_string()),
            rule.detail,
        ),
    }
}

/// What became of an attempt to hand a message over.
pub enum HandOff {
    /// The running gateway took it and answered.
    Answered(Verdict),
    /// No gateway is listening: deliver it here (the message, given back).
    NobodyThere(Vec<u8>),
    /// Handed over, but no answer came: whether it was delivered is unknown, so it is
    /// held for a retry (a delivered one is then recognised as a duplicate).
    Unanswered(Verdict),
}

/// Hand `raw` to the gateway listening on `socket`, if one is.
pub async fn hand_off(
    socket: &Path,
    consumer: &str,
    recipients: &[String],
    raw: Vec<u8>,
    request_id: &str,
) -> HandOff {
    let stream = match UnixStream::connect(socket).await {
        Ok(s) => s,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::debug!(error = %e, socket = %socket.display(), "no running gateway to hand the mail to");
            }
            return HandOff::NobodyThere(raw);
        }
    };
    let unanswered = |why: String| {
        tracing::warn!(error = %why, "the running gateway did not answer: mail held for a retry");
        HandOff::Unanswered(Verdict::deferred(&format!(
            "the running gateway did not answer ({why}); the message is kept and retried"
        )))
    };
    let exchange = async {
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        let driver = tokio::spawn(conn);
        let mut request = hyper::Request::post(PATH)
            .header(hyper::header::HOST, "ticketgate")
            .header(CONSUMER, consumer)
            .header("x-request-id", request_id)
            .header(hyper::header::CONTENT_TYPE, "message/rfc822");
        for r in recipients {
            request = request.header(RECIPIENT, r);
        }
        let request = request
            .body(Full::new(Bytes::from(raw)))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = Limited::new(response.into_body(), 64 * 1024)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        driver.abort();
        if !status.is_success() {
            return Err(format!("status {status}"));
        }
        serde_json::from_slice::<Verdict>(&body).map_err(|e| e.to_string())
    };
    match tokio::time::timeout(ANSWER_TIMEOUT, exchange).await {
        Ok(Ok(verdict)) => HandOff::Answered(verdict),
        Ok(Err(why)) => unanswered(why),
        Err(_) => unanswered(format!("no answer in {} s", ANSWER_TIMEOUT.as_secs())),
    }
}

/// The listening side, while `ticketgate serve` runs: the socket in place, and the
/// task that serves it.
pub struct Listening {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Listening {
    /// Once the shutdown signal stopped it taking messages (and removed the socket, so
    /// a `pipe` from then on delivers by itself), wait up to `grace` for those being
    /// delivered.
    pub async fn stop(self, grace: Duration) {
        if tokio::time::timeout(grace, self.task).await.is_err() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Listen on `pipe.sock` in `data_dir` for messages handed over by `ticketgate pipe`.
/// The caller holds the data directory's lock, so a socket left there is a stale one
/// of an earlier process and is replaced.
pub fn listen(
    gateway: Arc<Gateway>,
    data_dir: &Path,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<Listening> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = socket_path(data_dir);
    // Bound under a name of its own, given the directory's mode, then renamed into
    // place: no moment where the socket is there with the umask's mode.
    let pending = data_dir.join(format!(".{SOCKET}.{}", std::process::id()));
    let _ = std::fs::remove_file(&pending);
    let listener = UnixListener::bind(&pending)?;
    let dir_mode = std::fs::metadata(data_dir)?.permissions().mode() & 0o777;
    let prepared =
        std::fs::set_permissions(&pending, std::fs::Permissions::from_mode(dir_mode & !0o111))
            .and_then(|()| std::fs::rename(&pending, &path));
    if let Err(e) = prepared {
        let _ = std::fs::remove_file(&pending);
        return Err(e);
    }
    let task = tokio::spawn(accept(listener, path.clone(), gateway, shutdown));
    Ok(Listening { path, task })
}

async fn accept(
    listener: UnixListener,
    path: PathBuf,
    gateway: Arc<Gateway>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut delivering = tokio::task::JoinSet::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a piped message failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let gateway = gateway.clone();
        delivering.spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let gateway = gateway.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&gateway, request).await) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(READ_TIMEOUT)
                .keep_alive(false)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(error = %e, "a piped message's connection ended early");
            }
        });
        // Reap the finished ones as we go.
        while delivering.try_join_next().is_some() {}
    }
    // From now on a `pipe` finds nobody here and delivers by itself.
    let _ = std::fs::remove_file(&path);
    drop(listener);
    // Those under way finish (the caller bounds the wait).
    while delivering.join_next().await.is_some() {}
}

async fn answer(
    gateway: &Gateway,
    request: hyper::Request<hyper::body::Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let reply = |status: hyper::StatusCode, verdict: &Verdict| {
        let body = serde_json::to_vec(verdict).unwrap_or_default();
        hyper::Response::builder()
            .status(status)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap_or_default()
    };
    if request.method() != hyper::Method::POST || request.uri().path() != PATH {
        return reply(
            hyper::StatusCode::NOT_FOUND,
            &Verdict::deferred("not a piped message"),
        );
    }
    let header = |name: &str| {
        request
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let consumer = header(CONSUMER).into_iter().next().unwrap_or_default();
    let recipients = header(RECIPIENT);
    let request_id: Arc<str> = Arc::from(crate::http::request_id(request.headers()));
    let limit = gateway.config().limits.email_bytes;
    let read = tokio::time::timeout(
        READ_TIMEOUT,
        Limited::new(request.into_body(), limit).collect(),
    );
    let raw = match read.await {
        Err(_) => {
            let verdict = Verdict::deferred("the message did not arrive in time");
            verdict.log(&request_id);
            return reply(hyper::StatusCode::OK, &verdict);
        }
        Ok(Ok(body)) => body.to_bytes(),
        // `pipe` checked the size against its own configuration; this gateway's limit
        // may be smaller.
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            let verdict = Verdict::too_large(limit);
            verdict.log(&request_id);
            return reply(hyper::StatusCode::OK, &verdict);
        }
        Ok(Err(e)) => {
            return reply(
                hyper::StatusCode::OK,
                &Verdict::deferred(&format!("the message could not be read whole: {e}")),
            );
        }
    };
    tracing::info!(request_id = %request_id, consumer, "piped mail handed over");
    let verdict = deliver(gateway, &consumer, &raw, &recipients, request_id.clone()).await;
    verdict.log(&request_id);
    reply(hyper::StatusCode::OK, &verdict)
}
