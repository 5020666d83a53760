//! A full disk: the gateway refuses new work with a clear 503 (and `pipe` exits 75)
//! instead of acknowledging what it cannot keep — and recovers when space is back.
//!
//! The data directory is a small tmpfs, which needs the right to mount (root in the
//! CI container). Where mounting is refused the test says so and stops.

mod support;

use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::{Gateway, TEST_CONSUMERS, client};

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(at.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fill the filesystem holding `dir` until it refuses another byte.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![0u8; 16 * 1024];
    while f.write_all(&block).is_ok() {}
    let one = [0u8; 1];
    while f.write_all(&one).is_ok() {}
    let _ = f.sync_all();
    path
}

fn big_ticket(subject: &str) -> serde_json::Value {
    // Large enough that the store's log must grow to take it.
    let payload = "A".repeat(600 * 1024);
    json!({"subject": subject, "body": payload,
           "requester": {"name": "Ann", "email": "ann@example.com"}})
}

#[tokio::test]
async fn a_full_disk_is_a_503_and_pipe_exit_75_then_recovery() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(mnt) = Tmpfs::mount(&tmp.path().join("mnt"), "4m") else {
        eprintln!("storage test not run: this machine does not allow mounting a tmpfs");
        return;
    };
    let config = format!(
        "[dialects.canonical]\nprefix = \"/v1\"\n[upstreams.embedded]\nkind = \"embedded\"\n{TEST_CONSUMERS}"
    );
    let g = Gateway::start_in(&mnt.0, &config);
    let c = client();
    let resp = c
        .post(g.url("/v1/tickets"))
        .header("Authorization", "Bearer demo-key")
        .json(&big_ticket("before the disk filled"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);

    let filler = fill(&mnt.0);
    let resp = c
        .post(g.url("/v1/tickets"))
        .header("Authorization", "Bearer demo-key")
        .json(&big_ticket("on a full disk"))
        .send()
        .await
        .unwrap();
    let problem = support::problem(resp, 503).await;
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("storage-unavailable"),
        "{problem}"
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("full"),
        "{problem}"
    );

    // The pipe: the mail server must keep the message and retry (EX_TEMPFAIL).
    let mut child = Command::new(support::binary())
        .arg("pipe")
        .arg("--config")
        .arg(mnt.0.join("gateway.toml"))
        .arg("--data-dir")
        .arg(mnt.0.join("data"))
        .args(["--consumer", "demo"])
        .env("TICKETGATE_LOG", "error")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let body = "A".repeat(600 * 1024);
    write!(
        child.stdin.take().unwrap(),
        "From: ann@example.com\r\nSubject: full\r\nMessage-ID: <full@x>\r\n\r\n{body}\r\n"
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Space again: work resumes, and nothing half-written is left behind.
    std::fs::remove_file(filler).unwrap();
    let resp = c
        .post(g.url("/v1/tickets"))
        .header("Authorization", "Bearer demo-key")
        .json(&big_ticket("after space was freed"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let page: serde_json::Value = c
        .get(g.url("/v1/tickets?sort=number&order=asc"))
        .header("Authorization", "Bearer demo-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let subjects: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        ["before the disk filled", "after space was freed"],
        "exactly the acknowledged tickets"
    );
    drop(g);
    drop(mnt);
}
