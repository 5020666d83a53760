//! Published client libraries, driven by the workflow scripts in `tests/clients/`.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The venv the `.ci/setup.d/2*-clients.sh` scripts install the Python client
/// libraries into, or `None` (with the reason) outside CI when it is not there.
pub fn python() -> Option<PathBuf> {
    let dir = std::env::var_os("TICKETGATE_CLIENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/tmp/ticketgate-clients".into());
    let python = dir.join("venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false");
    assert!(
        !in_ci,
        "{} is missing under CI: .ci/setup.d/21-glpi-clients.sh installs it",
        python.display()
    );
    eprintln!("client-library test skipped: run .ci/setup.d/21-glpi-clients.sh first");
    None
}

/// One workflow script (`program` is `node` for `.js`, the venv's Python otherwise)
/// against one server, with `args` (the server's URL first); its JSON report.
pub fn run(program: &Path, node_path: Option<&Path>, script: &str, args: &[&str]) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let mut cmd = std::process::Command::new(program);
    if let Some(p) = node_path {
        cmd.env("NODE_PATH", p);
    }
    let out = cmd
        .arg(&path)
        .args(args)
        .output()
        .expect("the workflow script runs");
    assert!(
        out.status.success(),
        "{script} against {}: {}",
        args[0],
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{script}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}
