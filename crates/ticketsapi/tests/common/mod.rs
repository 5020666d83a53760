//! A real TCP server for the tests: the TicketsApi server face, behind a small hyper
//! server, over an embedded helpdesk in a temp dir, with a fixed credential table.

#![allow(dead_code)]

use async_trait::async_trait;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use ticketgate_model::{
    Consumer, CreateOptions, Created, Credential, Error, GatewayContext, Helpdesk, Ingested,
    NewTicket, Permission, Permissions, Query, ServerFace,
};
use ticketgate_store::EmbeddedHelpdesk;
use ticketgate_ticketsapi::{ServerConfig, TicketsApiServer};
use tokio::net::TcpListener;

pub const SECRET: &str = "loopback-secret-0123456789abcdef";
pub const PREFIX: &str = "/api/TicketsApi";
/// The JWT subject of the agent consumer (also the embedded helpdesk's agent 1).
pub const AGENT: &str = "1";
/// A consumer the gateway lets read and search only.
pub const READER: &str = "2";

pub fn private_pem() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/keys/test_rs256_private.pem"
    ))
    .expect("test key present")
}

pub fn public_pem() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/keys/test_rs256_public.pem"
    ))
    .expect("test key present")
}

pub fn config(leeway_secs: u64) -> ServerConfig {
    let mut c = ServerConfig::default();
    c.jwt.hs256_secret = Some(SECRET.to_owned());
    c.jwt.leeway_secs = leeway_secs;
    c
}

/// The gateway as the face sees it: two consumers keyed by JWT subject.
pub struct TestContext {
    pub store: Arc<EmbeddedHelpdesk>,
    /// Serve every consumer from an upstream that is down.
    pub down: bool,
}

/// An upstream that cannot be reached.
pub struct DownHelpdesk;

#[async_trait]
impl Helpdesk for DownHelpdesk {
    fn name(&self) -> &str {
        "down"
    }

    fn capabilities(&self) -> ticketgate_model::Capabilities {
        ticketgate_model::Capabilities::all()
    }

    async fn create(&self, _ticket: NewTicket) -> Result<ticketgate_model::Ticket, Error> {
        Err(Error::upstream_unavailable("connection refused"))
    }

    async fn get(&self, _id: &str) -> Result<ticketgate_model::Ticket, Error> {
        Err(Error::upstream_unavailable("connection refused"))
    }
}

impl TestContext {
    fn consumer(&self, credential: &Credential) -> Result<Consumer, Error> {
        match credential {
            Credential::Identity { value: s, .. } if s == AGENT => {
                Ok(Consumer::new("agent", Permissions::all()))
            }
            Credential::Identity { value: s, .. } if s == READER => Ok(Consumer::new(
                "reader",
                Permissions::of(&[Permission::Read, Permission::Search]),
            )),
            _ => Err(Error::unauthorized("unknown credential")),
        }
    }
}

#[async_trait]
impl GatewayContext for TestContext {
    fn peer(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }

    fn authenticate(&self, credential: &Credential) -> Result<Consumer, Error> {
        self.consumer(credential)
    }

    async fn authorize(
        &self,
        credential: &Credential,
        need: Permission,
    ) -> Result<Consumer, Error> {
        let c = self.consumer(credential)?;
        if !c.permissions.has(need) {
            return Err(Error::forbidden(format!(
                "{} may not {}",
                c.name,
                need.as_str()
            )));
        }
        Ok(c)
    }

    fn helpdesk(&self, _consumer: &Consumer) -> Arc<dyn Helpdesk> {
        if self.down {
            Arc::new(DownHelpdesk)
        } else {
            self.store.clone()
        }
    }

    async fn create(
        &self,
        _consumer: &Consumer,
        ticket: NewTicket,
        _options: CreateOptions,
    ) -> Result<Created, Error> {
        self.helpdesk(_consumer)
            .create(ticket)
            .await
            .map(Created::Ticket)
    }

    async fn ingest_email(
        &self,
        _consumer: &Consumer,
        _raw: Bytes,
        _may_queue: bool,
    ) -> Result<Ingested, Error> {
        Err(Error::unsupported("test", "email"))
    }
}

pub struct Harness {
    pub addr: SocketAddr,
    pub store: Arc<EmbeddedHelpdesk>,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Harness {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("http://{}{PREFIX}{path}", self.addr)
    }

    /// Every ticket in the store, deleted ones included.
    pub async fn all_tickets(&self) -> Vec<ticketgate_model::Ticket> {
        let page = self
            .store
            .search(&Query {
                include_deleted: true,
                limit: 1000,
                ..Query::default()
            })
            .await
            .unwrap();
        page.items
    }
}

pub async fn start(config: ServerConfig) -> Harness {
    start_with(config, false).await
}

pub async fn start_with(config: ServerConfig, down: bool) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedHelpdesk::open(&dir.path().join("helpdesk.sqlite")).unwrap());
    let face = Arc::new(TicketsApiServer::new(config).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cx = Arc::new(TestContext {
        store: store.clone(),
        down,
    });
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let face = face.clone();
            let cx = cx.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let face = face.clone();
                    let cx = cx.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let bytes = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        let req = Request::from_parts(parts, bytes);
                        let path = req.uri().path().to_owned();
                        let resp = match path.strip_prefix(PREFIX) {
                            Some(rest) => face.handle(rest, req, cx.as_ref()).await,
                            None => {
                                let mut r = Response::new(Bytes::new());
                                *r.status_mut() = StatusCode::NOT_FOUND;
                                r
                            }
                        };
                        Ok::<_, Infallible>(resp.map(Full::new))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    // The listener is bound before the task starts, so the server is ready now.
    tokio::time::sleep(Duration::from_millis(1)).await;
    Harness {
        addr,
        store,
        _dir: dir,
        task,
    }
}
