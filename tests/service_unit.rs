//! `examples/ticketgate.service` is a unit systemd accepts: `systemd-analyze verify`
//! reads every directive (an unknown or misspelt one is an error) with the unit's
//! commands pointed at the binary under test.

mod support;

use std::process::Command;

#[test]
fn the_shipped_systemd_unit_verifies() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is missing under CI"
        );
        eprintln!("skipped: systemd-analyze is not on this machine");
        return;
    }
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ticketgate.service"),
    )
    .unwrap();
    let bin = support::binary();
    let unit = unit.replace("/usr/local/bin/ticketgate", bin.to_str().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ticketgate.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Other units on the machine may be reported too; only ours counts.
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("ticketgate.service"))
        .collect();
    assert!(out.status.success() && ours.is_empty(), "{stderr}");
}
