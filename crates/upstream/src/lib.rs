//! What every client face (osTicket, ITSM-NG, TicketsApi, a chained ticketgate) shares
//! when it reads an upstream's answer.
//!
//! An upstream is outside input like any client: a broken or hostile one can answer
//! with a body of any size, or one that never ends. Every client face reads answers
//! through [`read_body`], which stops at a configured bound
//! (`upstreams.NAME.max_response_bytes`, [`DEFAULT_MAX_RESPONSE_BYTES`] by default)
//! instead of buffering whatever arrives. A declared `Content-Length` over the bound
//! is refused before a byte of the body is read. Time is bounded elsewhere: each
//! client's request timeout covers the body as well as the head.

use bytes::{Bytes, BytesMut};
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
    /// The connection failed or timed out while the body was read.
    Transport(reqwest::Error),
}

impl ReadError {
    /// The canonical error: a too-large answer is the upstream's fault and a 502 in
    /// every dialect (not retried: the same call would bring the same answer); a
    /// transport failure is mapped by the client face's own `transport` function,
    /// which knows its vendor's words and its timeouts.
    pub fn into_error(
        self,
        vendor: &str,
        transport: impl FnOnce(&reqwest::Error) -> Error,
    ) -> Error {
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

/// Read a whole answer, at most `limit` bytes of it.
pub async fn read_body(mut resp: reqwest::Response, limit: usize) -> Result<Bytes, ReadError> {
    if resp
        .content_length()
        .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return Err(ReadError::TooLarge { limit });
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(ReadError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The first `limit` bytes of an answer, for the text of an error: the rest is not
/// read, and a transport failure leaves what had arrived.
pub async fn read_prefix(mut resp: reqwest::Response, limit: usize) -> Bytes {
    let mut body = BytesMut::new();
    while body.len() < limit {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(limit - body.len());
                body.extend_from_slice(&chunk[..take]);
            }
            Ok(None) | Err(_) => break,
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

    async fn get(url: &str) -> reqwest::Response {
        reqwest::Client::new().get(url).send().await.unwrap()
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
}
