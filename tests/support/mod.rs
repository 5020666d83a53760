//! Helpers for the end-to-end tests: start the real `ticketgate` binary on a free
//! loopback port with a temporary data directory, and talk to it over HTTP.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The `ticketgate` binary, built once if `cargo test` has not built it yet.
pub fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test binary has a path");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("tests run from target/<profile>/deps");
        let bin = dir.join("ticketgate");
        if !bin.exists() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "-p", "ticketgate", "--bin", "ticketgate"])
                .status()
                .expect("cargo can be run to build ticketgate");
            assert!(status.success(), "building ticketgate failed");
        }
        bin
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
        let config_path = dir.join("gateway.toml");
        std::fs::write(&config_path, config).expect("the config can be written");
        let mut child = Command::new(binary())
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--listen")
            .arg(listen)
            .env("TICKETGATE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ticketgate starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("ticketgate prints its address");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self {
            addr,
            child,
            dir: dir.to_owned(),
            config: config_path,
            _tmp: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stop with SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
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

    /// Kill with SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
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
