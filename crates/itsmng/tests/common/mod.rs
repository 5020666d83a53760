//! The test rig: an `ItsmngServer` over an `EmbeddedHelpdesk` in a tempdir, served
//! by hyper on 127.0.0.1, with a small `GatewayContext` over a fixed credential table.

#![allow(dead_code)]

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use ticketgate_itsmng::{ItsmngServer, ServerConfig};
use ticketgate_model::{
    Consumer, CreateOptions, Created, Credential, Error, GatewayContext, Helpdesk, Ingested,
    NewTicket, Permission, Permissions, Result, ServerFace,
};
use ticketgate_store::EmbeddedHelpdesk;
use ticketgate_store::db::Durability;

pub const TOKEN: &str = "tok-alice";
pub const READER_TOKEN: &str = "tok-reader";
pub const LIMITED_TOKEN: &str = "tok-limited";
pub const BLIND_TOKEN: &str = "tok-blind";

/// The gateway as the face sees it: fixed consumers over one embedded helpdesk.
pub struct TestContext {
    pub helpdesk: Arc<EmbeddedHelpdesk>,
    /// Refuse every caller's network (the gateway's allowed-IP check).
    pub block_network: AtomicBool,
    /// Answer creates with "queued in the outbox".
    pub queue_creates: AtomicBool,
    /// Answer creates with "upstream unavailable".
    pub fail_creates: AtomicBool,
}

fn consumer(name: &str) -> Option<Consumer> {
    match name {
        "alice" | "limited" => Some(Consumer::new(name, Permissions::all())),
        "blind" => Some(Consumer::new(name, Permissions::of(&[Permission::Create]))),
        "reader" => Some(Consumer::new(
            name,
            Permissions::of(&[Permission::Read, Permission::Search]),
        )),
        _ => None,
    }
}

#[async_trait]
impl GatewayContext for TestContext {
    fn peer(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }

    fn authenticate(&self, credential: &Credential) -> Result<Consumer> {
        if self.block_network.load(Ordering::Relaxed) {
            return Err(Error::forbidden("network not allowed"));
        }
        let name = match credential {
            Credential::Token {
                key: "itsmng_user_token",
                value: user_token,
                ..
            } => match user_token.as_str() {
                TOKEN => "alice",
                READER_TOKEN => "reader",
                LIMITED_TOKEN => "limited",
                BLIND_TOKEN => "blind",
                _ => "",
            },
            Credential::Login { user, password, .. }
                if (user == "glpi" && password == "pw")
                    || (user == "username" && password == "password") =>
            {
                "alice"
            }
            Credential::Session { consumer } => consumer.as_str(),
            _ => "",
        };
        consumer(name).ok_or_else(|| Error::unauthorized("unknown credential"))
    }

    async fn authorize(&self, credential: &Credential, need: Permission) -> Result<Consumer> {
        let c = self.authenticate(credential)?;
        if !c.permissions.has(need) {
            return Err(Error::forbidden("missing permission"));
        }
        if c.name.as_ref() == "limited" {
            return Err(Error::rate_limited(Duration::from_secs(7)));
        }
        Ok(c)
    }

    fn helpdesk(&self, _consumer: &Consumer) -> Arc<dyn Helpdesk> {
        self.helpdesk.clone()
    }

    async fn create(
        &self,
        _consumer: &Consumer,
        ticket: NewTicket,
        _options: CreateOptions,
    ) -> Result<Created> {
        if self.fail_creates.load(Ordering::Relaxed) {
            return Err(Error::upstream_unavailable("the helpdesk is down"));
        }
        if self.queue_creates.load(Ordering::Relaxed) {
            return Ok(Created::Queued {
                tracking_id: "q-1".into(),
            });
        }
        Ok(Created::Ticket(self.helpdesk.create(ticket).await?))
    }

    async fn ingest_email(
        &self,
        _consumer: &Consumer,
        _raw: Bytes,
        _may_queue: bool,
    ) -> Result<Ingested> {
        Err(Error::unsupported("test", "email"))
    }
}

/// A running face on a real socket.
pub struct Rig {
    pub addr: SocketAddr,
    pub server: ItsmngServer,
    pub cx: Arc<TestContext>,
    pub helpdesk: Arc<EmbeddedHelpdesk>,
    _dir: tempfile::TempDir,
}

impl Rig {
    pub fn url(&self) -> String {
        format!("http://{}/apirest.php", self.addr)
    }
}

pub async fn rig() -> Rig {
    rig_with(ServerConfig::default()).await
}

pub async fn rig_with(config: ServerConfig) -> Rig {
    let dir = tempfile::tempdir().expect("tempdir");
    let helpdesk = Arc::new(
        EmbeddedHelpdesk::open_with(&dir.path().join("helpdesk.sqlite"), Durability::Normal)
            .expect("embedded helpdesk"),
    );
    let cx = Arc::new(TestContext {
        helpdesk: helpdesk.clone(),
        block_network: AtomicBool::new(false),
        queue_creates: AtomicBool::new(false),
        fail_creates: AtomicBool::new(false),
    });
    let server = ItsmngServer::new(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (face, ctx) = (server.clone(), cx.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (face, ctx) = (face.clone(), ctx.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (face, ctx) = (face.clone(), ctx.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let bytes = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let req = http::Request::from_parts(parts, bytes);
                        let path = req.uri().path().to_owned();
                        let response = match path.strip_prefix("/apirest.php") {
                            Some(rest) => face.handle(rest, req, ctx.as_ref()).await,
                            None => face.error_response(&Error::not_found("no such path")),
                        };
                        let (parts, body) = response.into_parts();
                        Ok::<_, std::convert::Infallible>(hyper::Response::from_parts(
                            parts,
                            Full::new(body),
                        ))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Rig {
        addr,
        server,
        cx,
        helpdesk,
        _dir: dir,
    }
}

/// A raw HTTP answer: status, headers, body text.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

pub async fn send(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.expect("body");
    Answer {
        status,
        headers,
        body,
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// Open a session with alice's user token.
pub async fn session(rig: &Rig) -> String {
    let a = send(
        http()
            .get(format!("{}/initSession", rig.url()))
            .header("Authorization", format!("user_token {TOKEN}")),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()["session_token"]
        .as_str()
        .expect("token")
        .to_owned()
}
