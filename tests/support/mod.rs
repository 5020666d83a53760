//! Helpers for the end-to-end tests: start the real `ticketgate` binary on a free
//! loopback port with a temporary data directory, and talk to it over HTTP.

#![allow(dead_code)]

pub mod clients;
pub mod live;
pub mod osticket_db;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The demo consumer's canonical credential.
pub const DEMO_BEARER: &str = "Bearer demo-key";

/// The `ticketgate` binary, brought up to date once per test process (a no-op when
/// nothing changed), so a test never runs a stale build of the gateway.
pub fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary has a path");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("tests run from target/<profile>/deps");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args([
            "build",
            "--quiet",
            "-p",
            "ticketgate",
            "--bin",
            "ticketgate",
        ]);
        if dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        let status = build
            .status()
            .expect("cargo can be run to build ticketgate");
        assert!(status.success(), "building ticketgate failed");
        dir.join("ticketgate")
    })
    .clone()
}

/// The demo consumer of the shipped configuration, plus a read-only one and a
/// consumer allowed only from a network the tests never come from.
pub const TEST_CONSUMERS: &str = r#"
[[consumers]]
name = "demo"
bearer_key = "demo-key"
permissions = ["create", "read", "update", "search", "delete", "stats", "subtickets"]
networks = ["127.0.0.0/8", "::1/128"]

[[consumers]]
name = "reader"
bearer_key = "reader-key"
permissions = ["read", "search"]
networks = ["127.0.0.0/8"]

[[consumers]]
name = "elsewhere"
bearer_key = "elsewhere-key"
permissions = ["create", "read"]
networks = ["192.0.2.0/24"]
"#;

/// A running `ticketgate serve`, stopped (SIGTERM, then kill) when dropped.
pub struct Gateway {
    pub addr: String,
    /// The admin listener (`/metrics`, `/readyz`), on a port of its own.
    pub admin: String,
    pub child: Child,
    pub dir: PathBuf,
    pub config: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Gateway {
    /// Start with `config` (TOML) in a fresh temporary data directory.
    pub fn start(config: &str) -> Self {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let dir = tmp.path().to_owned();
        let mut g = Self::start_in(&dir, config);
        g._tmp = Some(tmp);
        g
    }

    /// Start with `config` on an existing data directory (for restarts).
    pub fn start_in(dir: &Path, config: &str) -> Self {
        Self::start_listen(dir, config, "127.0.0.1:0")
    }

    /// Start on an existing data directory and a given address (a restart that
    /// clients and downstream gateways find where they left it).
    pub fn start_listen(dir: &Path, config: &str, listen: &str) -> Self {
        release_port(listen);
        Self::spawn(dir, config, listen, None)
    }

    /// Start with `config` in a fresh temporary data directory, logging at `info`
    /// (one line per request) to `gateway.log` in it.
    pub fn start_logged(config: &str) -> Self {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let dir = tmp.path().to_owned();
        let mut g = Self::spawn(&dir, config, "127.0.0.1:0", Some(&dir.join("gateway.log")));
        g._tmp = Some(tmp);
        g
    }

    /// What a gateway started with [`Gateway::start_logged`] has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("gateway.log")).unwrap_or_default()
    }

    fn spawn(dir: &Path, config: &str, listen: &str, log: Option<&Path>) -> Self {
        let config_path = dir.join("gateway.toml");
        std::fs::write(&config_path, config).expect("the config can be written");
        let stderr = match log {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("the log can be created")),
            None => Stdio::inherit(),
        };
        let mut child = Command::new(binary())
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--listen")
            .arg(listen)
            .arg("--admin-listen")
            .arg("127.0.0.1:0")
            .env(
                "TICKETGATE_LOG",
                if log.is_some() { "info" } else { "warn" },
            )
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("ticketgate starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("ticketgate prints its address");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        line.clear();
        stdout
            .read_line(&mut line)
            .expect("ticketgate prints its admin address");
        let admin = line
            .trim()
            .strip_prefix("admin listening on ")
            .unwrap_or_else(|| panic!("unexpected second line {line:?}"))
            .to_owned();
        Self {
            addr,
            admin,
            child,
            dir: dir.to_owned(),
            config: config_path,
            _tmp: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A URL on the admin listener (`/metrics`, `/readyz`).
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin, path)
    }

    /// Stop with SIGTERM and wait for a clean exit. Its address stays held (see
    /// [`hold_port`]) until a gateway is started on it again.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let status = self.terminate();
        hold_port(&self.addr);
        status
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        self.child.wait().expect("the child can be waited for")
    }

    /// Kill with SIGKILL, no chance to clean up. Its address stays held (see
    /// [`hold_port`]) until a gateway is started on it again.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        hold_port(&self.addr);
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.terminate();
        }
    }
}

/// Addresses of gateways a test stopped, held by a socket that is bound but not
/// listening: a connection to it is refused, as it is to a stopped process, and the
/// kernel hands the port to no other socket asking for "any port" — so a gateway that
/// a concurrent test starts on `127.0.0.1:0` cannot answer in the stopped one's place.
/// Starting a gateway on the address again releases it.
static HELD_PORTS: std::sync::Mutex<Vec<(String, tokio::net::TcpSocket)>> =
    std::sync::Mutex::new(Vec::new());

/// Hold `addr` (see [`HELD_PORTS`]). SO_REUSEADDR lets the hold coexist with the
/// stopped gateway's connections in TIME_WAIT; it still excludes the port from every
/// "any port" bind.
pub fn hold_port(addr: &str) {
    let Ok(sa) = addr.parse::<std::net::SocketAddr>() else {
        return;
    };
    let socket = if sa.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .expect("a socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    // Taken already (by a restart racing this, or another process): nothing to hold.
    if socket.bind(sa).is_ok() {
        HELD_PORTS.lock().unwrap().push((addr.to_owned(), socket));
    }
}

fn release_port(addr: &str) {
    HELD_PORTS.lock().unwrap().retain(|(held, _)| held != addr);
}

/// A configuration with the canonical API over the embedded store.
pub fn canonical_config(extra: &str) -> String {
    format!(
        "[dialects.canonical]\nprefix = \"/v1\"\n[upstreams.embedded]\nkind = \"embedded\"\ndurability = \"normal\"\n{TEST_CONSUMERS}\n{extra}"
    )
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("a client")
}

/// Assert a response is RFC 9457 problem+json with `status`; returns the problem.
pub async fn problem(resp: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert_eq!(ct, "application/problem+json");
    let body: serde_json::Value = resp.json().await.expect("a JSON problem");
    assert_eq!(body["status"], status);
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("https://"))
    );
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

/// Every dialect mounted as in the shipped `gateway.toml`.
pub const ALL_DIALECTS: &str = r#"
[dialects.canonical]
prefix = "/v1"

[dialects.osticket]
prefix = "/api"

[dialects.itsmng]
prefix = "/apirest.php"
require_app_token = false

[dialects.ticketsapi]
prefix = "/api/TicketsApi"
jwt.hs256_secret = "demo-jwt-secret"
"#;

/// Consumers with a credential in every dialect: `demo` may do everything, `reader`
/// may read and search only, `creator` may only create, `burst` may do everything
/// but with a tiny quota.
pub const DIALECT_CONSUMERS: &str = r#"
[[consumers]]
name = "demo"
bearer_key = "demo-key"
osticket_key = "demo-key"
itsmng_user_token = "demo-user-token"
jwt_subject = "demo"
permissions = ["create", "read", "update", "search", "delete", "stats", "subtickets"]
networks = ["127.0.0.0/8", "::1/128"]

[[consumers]]
name = "reader"
bearer_key = "reader-key"
osticket_key = "reader-key"
itsmng_user_token = "reader-user-token"
jwt_subject = "reader"
permissions = ["read", "search"]
networks = ["127.0.0.0/8"]

[[consumers]]
name = "creator"
bearer_key = "creator-key"
osticket_key = "creator-key"
itsmng_user_token = "creator-user-token"
jwt_subject = "creator"
permissions = ["create"]
networks = ["127.0.0.0/8"]

[[consumers]]
name = "burst"
bearer_key = "burst-key"
osticket_key = "burst-key"
itsmng_user_token = "burst-user-token"
jwt_subject = "burst"
permissions = ["create", "read", "update", "search", "delete", "stats", "subtickets"]
networks = ["127.0.0.0/8"]
quota.create = { per_second = 0.01, burst = 2 }
quota.read = { per_second = 0.01, burst = 3 }
quota.write = { per_second = 0.01, burst = 2 }
quota.search = { per_second = 0.01, burst = 2 }
"#;

/// A gateway serving every dialect over its own embedded store (gateway A).
pub fn serving_config(extra: &str) -> String {
    format!(
        "{ALL_DIALECTS}\n[upstreams.embedded]\nkind = \"embedded\"\ndurability = \"normal\"\n{DIALECT_CONSUMERS}\n{extra}"
    )
}

/// A gateway mounting every dialect whose default upstream is `upstream` (the body of
/// an `[upstreams.vendor]` table; gateway B).
pub fn forwarding_config(upstream: &str, extra: &str) -> String {
    format!(
        "{ALL_DIALECTS}\n[upstreams.vendor]\n{upstream}\n[routing]\ndefault = \"vendor\"\n{DIALECT_CONSUMERS}\n{extra}"
    )
}

/// `ticketgate check --config <path>` with `env` set; (success, stdout + stderr).
pub fn check_config(path: &Path, env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(binary());
    cmd.arg("check").arg("--config").arg(path);
    // Only what the test sets: a live vendor's variables (ITSMNG_URL, OSTICKET_URL, …)
    // exported by CI must not stand in for the ones the test leaves unset.
    cmd.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("ticketgate check runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `examples/{name}` passes `ticketgate check` with `env` set and mounts every dialect
/// as the shipped configuration does; with only the first variable set it fails and
/// names the second. Returns the example's path.
pub fn assert_example_checks(name: &str, env: &[(&str, &str)]) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let (ok, out) = check_config(&path, env);
    assert!(ok, "{out}");
    assert!(
        out.contains(
            "canonical at /v1, osticket at /api, itsmng at /apirest.php, ticketsapi at /api/TicketsApi"
        ),
        "{out}"
    );
    let (ok, out) = check_config(&path, &env[..1]);
    assert!(!ok, "an unset variable is an error: {out}");
    assert!(out.contains(env[1].0), "{out}");
    path
}

/// The canonical search total of `query` (e.g. `q=printer`), as the demo consumer.
pub async fn canonical_total(g: &Gateway, query: &str) -> u64 {
    let resp = client()
        .get(g.url(&format!("/v1/tickets?{query}")))
        .header("Authorization", "Bearer demo-key")
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(resp.status(), 200, "search {query}");
    let page: serde_json::Value = resp.json().await.expect("a JSON page");
    page["total"].as_u64().expect("a total")
}

/// GET `path` on `g` with a bearer key; status and JSON (Null when not JSON).
pub async fn get_json(g: &Gateway, path: &str) -> (u16, serde_json::Value) {
    let resp = client()
        .get(g.url(path))
        .header("Authorization", "Bearer demo-key")
        .send()
        .await
        .expect("the gateway answers");
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

/// Assert the IETF rate-limit headers and `Retry-After` on a 429.
pub fn assert_rate_limited(resp: &reqwest::Response) {
    assert_eq!(resp.status().as_u16(), 429, "status");
    let h = resp.headers();
    let retry: u64 = h
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in whole seconds");
    assert!(retry >= 1, "Retry-After {retry}");
    assert!(
        h.contains_key("ratelimit-policy"),
        "RateLimit-Policy: {h:?}"
    );
    assert!(h.contains_key("ratelimit"), "RateLimit: {h:?}");
}

/// A client that never reuses a connection: for requests after which the gateway
/// may close the connection without saying so (a refused oversize body).
pub fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(0)
        .build()
        .expect("a client")
}

/// A canonical API call as the demo consumer.
pub async fn v1(
    g: &Gateway,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = client()
        .request(method, g.url(&format!("/v1{path}")))
        .header("Authorization", DEMO_BEARER);
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().await.expect("the gateway answers")
}

/// Assert the status and return the body, which must be JSON.
pub async fn json_of(resp: reqwest::Response, status: u16) -> Value {
    let code = resp.status().as_u16();
    let text = resp.text().await.expect("a body");
    assert_eq!(code, status, "status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON ({e}): {text}"))
}

/// The tickets a canonical text search for `text` finds, as the demo consumer.
pub async fn search_items(g: &Gateway, text: &str) -> Vec<Value> {
    let page = json_of(
        client()
            .get(g.url("/v1/tickets"))
            .query(&[("q", text)])
            .header("Authorization", DEMO_BEARER)
            .send()
            .await
            .expect("search answers"),
        200,
    )
    .await;
    page["items"].as_array().cloned().unwrap_or_default()
}

/// A count from the `summary:` line `ticketgate migrate` prints (`copied N, skipped N,
/// failed N`), and that line.
pub fn migrate_summary(out: &str, what: &str) -> (usize, String) {
    let summary = out
        .lines()
        .find(|l| l.starts_with("summary:"))
        .expect("a summary line");
    let n = summary
        .split(&format!("{what} "))
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("a {what} count: {summary}"));
    (n, summary.to_owned())
}

/// Assert the status and return the JSON body (or null).
pub async fn ok_json(resp: reqwest::Response, status: u16) -> Value {
    let s = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(s, status, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// A minimal canonical create body.
pub fn new_ticket(subject: &str) -> Value {
    json!({"subject": subject, "body": "the details of it",
           "requester": {"name": "Ann Example", "email": "ann@example.com"}})
}

/// A ticket as gateway A has it (A is the upstream of the chained tests).
pub async fn in_a(a: &Gateway, id: &str) -> Value {
    let (s, t) = get_json(a, &format!("/v1/tickets/{id}")).await;
    assert_eq!(s, 200, "ticket {id} in A: {t}");
    t
}

/// The `[state]` table that puts a gateway's state on the PostgreSQL database `db`,
/// with a short lease so a killed gateway's claims come back quickly.
pub fn postgres_state(db: &ticketgate_store::ScratchDatabase) -> String {
    format!(
        "\n[state]\nbackend = \"postgres\"\nurl = \"{}\"\npool_size = 4\nlease_secs = 2\nconnect_timeout_ms = 1000\nstatement_timeout_ms = 5000\n",
        db.url()
    )
}

/// The state backends an end-to-end test runs on: SQLite (`None`), and a fresh
/// PostgreSQL database when a server answers (outside CI the PostgreSQL run is skipped,
/// saying so, when none does; under CI it fails).
pub fn state_backends(what: &str) -> Vec<Option<ticketgate_store::ScratchDatabase>> {
    let mut out = vec![None];
    if let Some(db) = ticketgate_store::ScratchDatabase::for_test(what) {
        out.push(Some(db));
    }
    out
}

/// The value of the `/metrics` sample whose line starts with `line_start` (name and
/// labels exactly as exposed), 0 when the sample is absent.
pub async fn metric(g: &Gateway, line_start: &str) -> u64 {
    metrics_text(g)
        .await
        .lines()
        .find_map(|l| l.strip_prefix(line_start))
        .map(|v| v.trim().parse().expect("a count"))
        .unwrap_or(0)
}

/// The sum of every `/metrics` sample whose line starts with `series_start`: one
/// series over all the label values that follow (every status of a dialect, say).
pub async fn metric_sum(g: &Gateway, series_start: &str) -> u64 {
    metrics_text(g)
        .await
        .lines()
        .filter(|l| l.starts_with(series_start))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn metrics_text(g: &Gateway) -> String {
    client()
        .get(g.admin_url("/metrics"))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text")
}
