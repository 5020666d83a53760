//! What every client face (osTicket, ITSM-NG, TicketsApi, RT, a chained ticketgate)
//! shares when it talks to its upstream: the HTTP client kit ([`client`]) and the
//! bounded reader of an answer.
//!
//! An upstream is outside input like any client: a broken or hostile one can answer
//! with a body of any size, or one that never ends. Every client face reads answers
//! through [`read_body`], which stops at a configured bound
//! (`upstreams.NAME.max_response_bytes`, [`DEFAULT_MAX_RESPONSE_BYTES`] by default)
//! instead of buffering whatever arrives. A declared `Content-Length` over the bound
//! is refused before a byte of the body is read. Time is bounded too: each call has one
//! deadline (the client's request timeout) covering the body as well as the head.
//!
//! Three more things every client face shares: [`request_id`], the id of the request
//! being served, sent upstream on every call as `X-Request-Id`; [`tls`], the CA and
//! client certificate an upstream may be configured with; and [`multipart`], the
//! `multipart/form-data` encoder for uploads.

pub mod client;
pub mod multipart;
pub mod request_id;
pub mod tls;

pub use client::{Client, Failure, FailureKind, Response, Settings};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use ticketgate_model::Error;

/// The default bound on one upstream answer: far above any ticket with attachments a
/// helpdesk would send back, far below what would hurt the gateway.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// The serde default of every client configuration's `max_response_bytes`.
pub fn default_max_response_bytes() -> usize {
    DEFAULT_MAX_RESPONSE_BYTES
}

/// Why an answer could not be read whole.
#[derive(Debug)]
pub enum ReadError {
    /// The answer is (or declares itself) larger than the bound.
    TooLarge { limit: usize },
    /// The connection failed or the call's deadline passed while the body was read.
    Transport(Failure),
}

impl ReadError {
    /// The canonical error: a too-large answer is the upstream's fault and a 502 in
    /// every dialect (not retried: the same call would bring the same answer); a
    /// transport failure is mapped by `transport` (usually [`Failure::into_error`] with
    /// the vendor's name and its timeout).
    pub fn into_error(self, vendor: &str, transport: impl FnOnce(&Failure) -> Error) -> Error {
        match self {
            ReadError::TooLarge { limit } => too_large(vendor, limit),
            ReadError::Transport(e) => transport(&e),
        }
    }
}

/// The error for an answer over the bound, in the words every client face uses.
pub fn too_large(vendor: &str, limit: usize) -> Error {
    Error::upstream_unavailable(format!(
        "{vendor} answered with more than {limit} bytes (upstreams.*.max_response_bytes)"
    ))
    .with_upstream_status(502)
    .retryable(false)
}

/// Read a whole answer, at most `limit` bytes of it, before the call's deadline.
pub async fn read_body(resp: Response, limit: usize) -> Result<Bytes, ReadError> {
    if resp
        .content_length()
        .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return Err(ReadError::TooLarge { limit });
    }
    let deadline = resp.deadline;
    let mut incoming = resp.body;
    let mut body = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout_at(deadline, incoming.frame()).await {
            Err(_) => return Err(ReadError::Transport(deadline_passed())),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(ReadError::Transport(Failure::from_body(&e))),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(chunk) = frame.into_data() {
            if body.len() + chunk.len() > limit {
                return Err(ReadError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
    }
    Ok(body.freeze())
}

fn deadline_passed() -> Failure {
    Failure::new(
        FailureKind::Timeout,
        "the answer did not arrive whole within the deadline".into(),
    )
}

/// The first `limit` bytes of an answer, for the text of an error: the rest is not
/// read, and a transport failure (or the deadline) leaves what had arrived.
pub async fn read_prefix(resp: Response, limit: usize) -> Bytes {
    let deadline = resp.deadline;
    let mut incoming = resp.body;
    let mut body = BytesMut::new();
    while body.len() < limit {
        match tokio::time::timeout_at(deadline, incoming.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Ok(chunk) = frame.into_data() {
                    let take = chunk.len().min(limit - body.len());
                    body.extend_from_slice(&chunk[..take]);
                }
            }
            _ => break,
        }
    }
    body.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-shot HTTP server that answers every connection with `head` and then
    /// `body_len` bytes of body written in 8 KiB pieces (stopping when the reader goes).
    async fn server(head: String, body_len: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let head = head.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    if s.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let piece = vec![b'x'; 8192];
                    let mut left = body_len;
                    while left > 0 {
                        let n = left.min(piece.len());
                        if s.write_all(&piece[..n]).await.is_err() {
                            return;
                        }
                        left -= n;
                    }
                });
            }
        });
        format!("http://{addr}/")
    }

    fn client(url: &str, timeout_ms: u64) -> Client {
        Client::new(&Settings::new(url, 1_000, timeout_ms)).unwrap()
    }

    async fn get(url: &str) -> Response {
        client(url, 10_000).get("/").send().await.unwrap()
    }

    #[tokio::test]
    async fn an_answer_within_the_bound_is_read_whole() {
        let url = server(
            "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".into(),
            1000,
        )
        .await;
        let body = read_body(get(&url).await, 1000).await.unwrap();
        assert_eq!(body.len(), 1000);
    }

    #[tokio::test]
    async fn a_declared_length_over_the_bound_is_refused_unread() {
        let url = server(
            "HTTP/1.1 200 OK\r\nContent-Length: 1001\r\n\r\n".into(),
            1001,
        )
        .await;
        let e = read_body(get(&url).await, 1000).await.unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { limit: 1000 }), "{e:?}");
        let e = e.into_error("osTicket", |_| Error::internal("unexpected"));
        assert_eq!(e.http_status(), 502);
        assert!(!e.retryable);
    }

    /// A chunked answer that never ends stops at the bound, not at the memory's end.
    #[tokio::test]
    async fn an_endless_body_stops_at_the_bound() {
        let url = server(
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".into(),
            usize::MAX,
        )
        .await;
        let e = read_body(get(&url).await, 64 * 1024).await.unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { .. }), "{e:?}");
    }

    #[tokio::test]
    async fn an_error_text_is_read_only_as_far_as_needed() {
        let url = server(
            "HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\n".into(),
            usize::MAX,
        )
        .await;
        let body = read_prefix(get(&url).await, 300).await;
        assert_eq!(body.len(), 300);
    }

    #[tokio::test]
    async fn a_cut_body_is_a_transport_error() {
        let url = server(
            "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n".into(),
            100,
        )
        .await;
        // The server writes 100 bytes and closes: the body ends early.
        let e = read_body(get(&url).await, 10_000).await.unwrap_err();
        assert!(matches!(e, ReadError::Transport(_)), "{e:?}");
    }

    /// The deadline covers the body: an answer whose head comes at once and whose body
    /// never ends in time is a timeout, classified temporary with the configured time.
    #[tokio::test]
    async fn the_deadline_covers_the_body() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
                        .await;
                    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                });
            }
        });
        let c = client(&format!("http://{addr}"), 300);
        let start = std::time::Instant::now();
        let resp = c.get("/slow").send().await.unwrap();
        let e = read_body(resp, 1000).await.unwrap_err();
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        let ReadError::Transport(f) = e else {
            panic!("{e:?}")
        };
        assert!(f.is_timeout(), "{f:?}");
        let e = f.into_error("osTicket", 300);
        assert!(e.retryable);
        assert_eq!(e.message, "osTicket did not answer within 300 ms");
    }

    /// A refused connection is a temporary "cannot connect", retried.
    #[tokio::test]
    async fn a_refused_connection_is_temporary() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let f = client(&format!("http://{addr}"), 2_000)
            .get("/")
            .send()
            .await
            .unwrap_err();
        assert_eq!(f.kind(), FailureKind::Connect, "{f:?}");
        let e = f.into_error("ITSM-NG", 2_000);
        assert!(e.retryable);
        assert_eq!(e.message, "cannot connect to ITSM-NG");
    }

    /// The request id in scope, the constant headers, the query and a multipart body
    /// arrive as sent.
    #[tokio::test]
    async fn a_call_carries_its_request_id_headers_query_and_body() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                req.extend_from_slice(&buf[..n]);
                if n == 0 || req.ends_with(b"--\r\n") {
                    break;
                }
            }
            s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8(req).unwrap()
        });
        let c = Client::new(&Settings::new(
            &format!("http://{addr}/base/"),
            1_000,
            5_000,
        ))
        .unwrap()
        .with_header("x-api-key", "k-1", true)
        .unwrap();
        let form = multipart::Form::new().text("a", "b");
        let boundary = form.boundary().to_owned();
        let resp = request_id::scope(
            std::sync::Arc::from("rid-7"),
            c.post("tickets.json")
                .query(&[("q", "a b"), ("n", "1")])
                .multipart(form)
                .send(),
        )
        .await
        .unwrap();
        assert_eq!(resp.status(), 204);
        let req = seen.await.unwrap();
        assert!(
            req.starts_with("POST /base/tickets.json?q=a+b&n=1 HTTP/1.1\r\n"),
            "{req}"
        );
        assert!(req.contains("x-request-id: rid-7\r\n"), "{req}");
        assert!(req.contains("x-api-key: k-1\r\n"), "{req}");
        assert!(req.contains("accept: */*\r\n"), "{req}");
        assert!(
            req.contains(&format!(
                "content-type: multipart/form-data; boundary={boundary}\r\n"
            )),
            "{req}"
        );
        assert!(
            req.ends_with(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb\r\n--{boundary}--\r\n"
            )),
            "{req}"
        );
    }

    #[test]
    fn a_base_that_is_no_http_url_is_refused() {
        for base in ["", "ftp://x.example", "help.example.com", "http://"] {
            assert!(Client::new(&Settings::new(base, 1, 1)).is_err(), "{base}");
        }
    }
}
