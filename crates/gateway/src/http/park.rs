//! Parking idle HTTP/1.1 keep-alive connections.
//!
//! hyper keeps a connection's read and write buffers (8 KiB each, at least) for as
//! long as the connection lives, idle or not, and cannot shrink them. A gateway in
//! front of many clients holds most of its connections idle between requests, so
//! that is most of its memory: 10 000 idle connections cost ~250 MiB.
//!
//! So a plain HTTP/1.1 connection is served one turn at a time. Between requests
//! the task holds the socket alone — no hyper state, no buffers — and waits for it
//! to become readable. Then a hyper connection is made for the next request (or the
//! pipelined ones). Once the response is written out and the request's body was
//! read to its end, the read hyper makes for the next request head is where the turn
//! ends: [`TurnIo`] notes it, and the connection's driver closes the idle hyper
//! connection gracefully, which gives the socket back without shutting it down
//! (`poll_without_shutdown`), with any bytes hyper had read ahead (part of a
//! pipelined request), and the connection parks again. The client sees one ordinary
//! keep-alive connection.
//!
//! hyper decides everything it decides today — keep-alive or close, a body not read
//! to its end, errors: a turn ends in a park only when hyper was idle and asked for
//! the next head; in every other case the connection ends as hyper ends it.

use bytes::{Buf, Bytes};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The response of the turn's request is written to its end (its body was dropped
/// by hyper after the last frame).
const RESPONSE_DONE: u8 = 1;
/// The request's body was read to its end (or it had none).
const REQUEST_DONE: u8 = 2;
/// The last write to the socket would have blocked: hyper still holds bytes.
const WRITE_BLOCKED: u8 = 4;
/// hyper, idle, asked for the next request head: the turn may end.
const PARK_WANTED: u8 = 8;

/// What a turn's request, response and socket share: where the turn stands.
#[derive(Debug, Default)]
pub struct Turn(AtomicU8);

impl Turn {
    fn set(&self, bit: u8) {
        self.0.fetch_or(bit, Ordering::Relaxed);
    }

    fn clear(&self, bit: u8) {
        self.0.fetch_and(!bit, Ordering::Relaxed);
    }

    fn is(&self, bits: u8) -> bool {
        self.0.load(Ordering::Relaxed) & bits == bits
    }

    /// A request starts (hyper has parsed its head): the turn is busy until its
    /// response is written and its body read.
    pub fn request_started(&self, body_empty: bool) {
        self.clear(RESPONSE_DONE | REQUEST_DONE);
        if body_empty {
            self.set(REQUEST_DONE);
        }
    }

    pub fn request_body_done(&self) {
        self.set(REQUEST_DONE);
    }

    pub fn response_done(&self) {
        self.set(RESPONSE_DONE);
    }

    /// Whether hyper is between requests with nothing left to write.
    fn idle(&self) -> bool {
        let v = self.0.load(Ordering::Relaxed);
        v & (RESPONSE_DONE | REQUEST_DONE) == RESPONSE_DONE | REQUEST_DONE && v & WRITE_BLOCKED == 0
    }

    /// Whether hyper is idle and waits for the next request head (the connection
    /// may park).
    pub fn park_wanted(&self) -> bool {
        self.is(PARK_WANTED)
    }

    /// A new turn on the same connection.
    pub fn reset(&self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

/// The socket as hyper sees it for one turn: first the bytes a previous turn read
/// ahead, then the socket, which reads as ended once the turn is idle.
pub struct TurnIo {
    stream: TcpStream,
    ahead: Bytes,
    turn: Arc<Turn>,
}

impl TurnIo {
    pub fn new(stream: TcpStream, ahead: Bytes, turn: Arc<Turn>) -> Self {
        Self {
            stream,
            ahead,
            turn,
        }
    }

    /// The socket and the bytes read ahead that hyper did not consume.
    pub fn into_parts(self) -> (TcpStream, Bytes) {
        (self.stream, self.ahead)
    }

    /// Note how a write to the socket went. When hyper's last bytes go out after it
    /// had already asked for the next head, have it ask again, so the turn can end.
    fn wrote<T>(&self, cx: &Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match &r {
            Poll::Pending => self.turn.set(WRITE_BLOCKED),
            Poll::Ready(_) if self.turn.is(WRITE_BLOCKED) => {
                self.turn.clear(WRITE_BLOCKED);
                if self.turn.idle() {
                    cx.waker().wake_by_ref();
                }
            }
            Poll::Ready(_) => {}
        }
        r
    }
}

impl AsyncRead for TurnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.ahead.is_empty() {
            let n = this.ahead.len().min(buf.remaining());
            buf.put_slice(&this.ahead[..n]);
            this.ahead.advance(n);
            return Poll::Ready(Ok(()));
        }
        if this.turn.idle() && !this.turn.is(PARK_WANTED) {
            // hyper asks for the next request head with its response out and the
            // request consumed: the turn is over. The driver, polling the connection,
            // sees it at once and closes hyper's side (no waker is needed: it polls
            // again in the same call). Should hyper read on all the same, it reads
            // the socket as it would have, and the turn ends as hyper ends it.
            this.turn.set(PARK_WANTED);
            return Poll::Pending;
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TurnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.wrote(cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.wrote(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// A request body that tells its turn when it has been read to its end.
pub struct RequestBody {
    inner: hyper::body::Incoming,
    turn: Option<Arc<Turn>>,
}

impl RequestBody {
    pub fn new(inner: hyper::body::Incoming, turn: Option<Arc<Turn>>) -> Self {
        Self { inner, turn }
    }
}

impl hyper::body::Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        if let (Poll::Ready(None), Some(turn)) = (&r, &this.turn) {
            turn.request_body_done();
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that tells its turn when hyper is done with it.
pub struct ResponseBody {
    inner: http_body_util::Full<Bytes>,
    turn: Option<Arc<Turn>>,
}

impl ResponseBody {
    pub fn new(inner: http_body_util::Full<Bytes>, turn: Option<Arc<Turn>>) -> Self {
        Self { inner, turn }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if let Some(turn) = &self.turn {
            turn.response_done();
        }
    }
}

impl hyper::body::Body for ResponseBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
