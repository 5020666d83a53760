//! The live vendors the end-to-end tests are judged by: the real osTicket (core API and
//! the API-Endpoints plugin), the real GLPI and the real Request Tracker, brought up on
//! this machine by the scripts in `../shared/*-live/` (idempotent: seconds when already
//! up, about a minute of Debian packages the first time).
//!
//! A live test calls [`vendor`] first. It answers the vendor's environment
//! (`OSTICKET_URL`, `GLPI_URL`, `RT_URL`, ...) or, when the live scripts are not on this
//! machine, says so on stderr and returns `None` so the test can return early. Under CI
//! (`CI` set) a missing script or a failing bring-up is a failure, never a skip;
//! `TICKETGATE_SKIP_LIVE=1` skips every live test deliberately.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// One live vendor instance: which script, and the knobs that place it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    /// osTicket 1.18.1 with only its core API (`tickets.json|xml|email`), on 127.0.0.1:18080.
    OsTicketCore,
    /// A second osTicket with the real API-Endpoints plugin v2.3.4, on 127.0.0.1:18081.
    OsTicketPlugin,
    /// GLPI 10.0.12 (`apirest.php`, shared with ITSM-NG), on 127.0.0.1:18380.
    Glpi,
    /// Request Tracker 5.0.3, on 127.0.0.1:19080.
    Rt,
}

impl Vendor {
    fn script(self) -> &'static str {
        match self {
            Vendor::OsTicketCore | Vendor::OsTicketPlugin => "osticket-live/up.sh",
            Vendor::Glpi => "glpi-live/up.sh",
            Vendor::Rt => "rt-live/up.sh",
        }
    }

    fn knobs(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Vendor::OsTicketCore => &[("OSTICKET_PLUGIN", "0")],
            Vendor::OsTicketPlugin => &[
                ("OSTICKET_PLUGIN", "1"),
                ("OSTICKET_LIVE_DIR", "/tmp/osticket-live-plugin"),
                ("OSTICKET_WEB_PORT", "18081"),
                ("OSTICKET_DB_PORT", "13307"),
            ],
            Vendor::Glpi | Vendor::Rt => &[],
        }
    }

    /// The script that stops this instance (`down.sh` beside `up.sh`), with its knobs:
    /// for tests that take the vendor away mid-run.
    pub fn down_command(self) -> Option<Command> {
        let script = shared_dir()?.join(self.script().replace("up.sh", "down.sh"));
        let mut cmd = Command::new("bash");
        cmd.arg(script).envs(self.knobs().iter().copied());
        Some(cmd)
    }
}

/// `../shared` beside the project (or `TICKETGATE_SHARED`).
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("TICKETGATE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    dir.join("osticket-live").is_dir().then_some(dir)
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// Bring `vendor` up (or find it up) and return its environment, or `None` (with the
/// reason on stderr) where live tests cannot run here.
pub fn vendor(vendor: Vendor) -> Option<HashMap<String, String>> {
    // One bring-up at a time in this process; `flock` serialises other test processes.
    static LOCK: Mutex<()> = Mutex::new(());
    if std::env::var("TICKETGATE_SKIP_LIVE").is_ok_and(|v| v == "1") {
        assert!(
            !in_ci(),
            "TICKETGATE_SKIP_LIVE=1 under CI: live tests must run there"
        );
        eprintln!("live test skipped: TICKETGATE_SKIP_LIVE=1");
        return None;
    }
    let Some(shared) = shared_dir() else {
        assert!(
            !in_ci(),
            "the live vendor scripts (../shared/*-live) are missing under CI"
        );
        eprintln!("live test skipped: ../shared/*-live is not on this machine");
        return None;
    };
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let out = Command::new("flock")
        .arg("/tmp/ticketgate-live.lock")
        .arg("bash")
        .arg(shared.join(vendor.script()))
        .envs(vendor.knobs().iter().copied())
        .output()
        .expect("flock and bash can be run");
    assert!(
        out.status.success(),
        "{vendor:?}: {} failed:\n{}",
        vendor.script(),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("export "))
        .unwrap_or_else(|| panic!("{vendor:?}: up.sh printed no `export` line:\n{stdout}"));
    let env: HashMap<String, String> = line["export ".len()..]
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect();
    Some(env)
}
