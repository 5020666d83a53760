//! Test harness: an embedded helpdesk in a tempdir behind the osTicket server face,
//! a small `GatewayContext` with a fixed key table, and a hyper server on loopback.
#![allow(dead_code)]

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use ticketgate_model::{
    Consumer, CreateOptions, Created, Credential, Error, GatewayContext, Helpdesk, Ingested,
    NewTicket, Permission, Permissions, Query, ServerFace,
};
use ticketgate_osticket::{OsticketServer, ServerConfig};
use ticketgate_store::EmbeddedHelpdesk;

/// A key with every permission.
pub const KEY_ALL: &str = "key-all-perms";
/// A key that may only create.
pub const KEY_CREATE: &str = "key-create-only";

pub struct TestCx {
    pub store: Arc<EmbeddedHelpdesk>,
    keys: HashMap<String, Consumer>,
    /// The outcome the next `ingest_email` reports; none: email is unsupported.
    pub next_email: std::sync::Mutex<Option<Ingested>>,
    /// The options of the last create through the context.
    pub last_options: std::sync::Mutex<Option<CreateOptions>>,
    /// Answer the next create that may be queued as queued, as an outbox would.
    pub queue_next: std::sync::atomic::AtomicBool,
    _dir: tempfile::TempDir,
}

impl TestCx {
    pub fn new() -> Arc<Self> {
        let dir = tempfile::tempdir().expect("a tempdir for the test store");
        let store = EmbeddedHelpdesk::open(&dir.path().join("helpdesk.sqlite"))
            .expect("the embedded store opens in a fresh tempdir");
        let mut keys = HashMap::new();
        keys.insert(KEY_ALL.to_owned(), Consumer::new("all", Permissions::all()));
        keys.insert(
            KEY_CREATE.to_owned(),
            Consumer::new("creator", Permissions::of(&[Permission::Create])),
        );
        Arc::new(Self {
            store: Arc::new(store),
            keys,
            next_email: std::sync::Mutex::new(None),
            last_options: std::sync::Mutex::new(None),
            queue_next: std::sync::atomic::AtomicBool::new(false),
            _dir: dir,
        })
    }

    /// How many tickets the store holds, deleted ones included.
    pub async fn count(&self) -> u64 {
        self.store
            .search(&Query {
                include_deleted: true,
                limit: 1,
                ..Query::default()
            })
            .await
            .expect("the store can be searched")
            .total
    }
}

#[async_trait::async_trait]
impl GatewayContext for TestCx {
    fn peer(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }

    fn authenticate(&self, credential: &Credential) -> Result<Consumer, Error> {
        match credential {
            Credential::Token {
                key: "osticket_key",
                value: k,
                ..
            } => self
                .keys
                .get(k)
                .cloned()
                .ok_or_else(|| Error::unauthorized("unknown API key")),
            _ => Err(Error::unauthorized("no API key")),
        }
    }

    async fn authorize(
        &self,
        credential: &Credential,
        need: Permission,
    ) -> Result<Consumer, Error> {
        let c = self.authenticate(credential)?;
        if c.permissions.has(need) {
            Ok(c)
        } else {
            Err(Error::forbidden(format!("no {} permission", need.as_str())))
        }
    }

    fn helpdesk(&self, _consumer: &Consumer) -> Arc<dyn Helpdesk> {
        self.store.clone()
    }

    async fn create(
        &self,
        _consumer: &Consumer,
        ticket: NewTicket,
        options: CreateOptions,
    ) -> Result<Created, Error> {
        let may_queue = options.may_queue;
        *self
            .last_options
            .lock()
            .expect("the test mutex is never poisoned") = Some(options);
        if may_queue
            && self
                .queue_next
                .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Ok(Created::Queued {
                tracking_id: "q-test-1".to_owned(),
            });
        }
        self.store.create(ticket).await.map(Created::Ticket)
    }

    async fn ingest_email(
        &self,
        _consumer: &Consumer,
        _raw: Bytes,
        _may_queue: bool,
    ) -> Result<Ingested, Error> {
        let scripted = self
            .next_email
            .lock()
            .expect("the test mutex is never poisoned")
            .take();
        scripted.ok_or_else(|| Error::unsupported("test", "email"))
    }
}

pub fn face() -> Arc<OsticketServer> {
    Arc::new(OsticketServer::new(ServerConfig::default()))
}

pub fn face_with(config: ServerConfig) -> Arc<OsticketServer> {
    Arc::new(OsticketServer::new(config))
}

/// One request straight into the face, as the gateway would hand it over.
pub async fn call(
    face: &OsticketServer,
    cx: &TestCx,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response<Bytes> {
    let mut b = Request::builder()
        .method(method)
        .uri(format!("/api{path_and_query}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b
        .body(Bytes::copy_from_slice(body))
        .expect("test requests are well formed");
    let path = req
        .uri()
        .path()
        .strip_prefix("/api")
        .unwrap_or("")
        .to_owned();
    face.handle(&path, req, cx).await
}

pub fn text(r: &Response<Bytes>) -> String {
    String::from_utf8_lossy(r.body()).into_owned()
}

pub fn json(r: &Response<Bytes>) -> serde_json::Value {
    serde_json::from_slice(r.body()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(r)))
}

/// Serve the face at `/api` on 127.0.0.1 with a real hyper server.
pub async fn serve(face: Arc<OsticketServer>, cx: Arc<TestCx>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let face = face.clone();
            let cx = cx.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let face = face.clone();
                    let cx = cx.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let bytes = body.collect().await?.to_bytes();
                        let req = Request::from_parts(parts, bytes);
                        let path = req.uri().path().to_owned();
                        let resp = match path.strip_prefix("/api") {
                            Some(rest) => face.handle(rest, req, cx.as_ref()).await,
                            None => face.error_response(&Error::not_found("not mounted")),
                        };
                        let (parts, body) = resp.into_parts();
                        Ok::<_, hyper::Error>(Response::from_parts(parts, Full::new(body)))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}
