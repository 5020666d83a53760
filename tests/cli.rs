//! The command line as the README shows it: `--config` and `--data-dir` are accepted
//! after the subcommand too (`ticketgate outbox list --config FILE --data-dir DIR`).

mod support;

use std::process::Command;

#[test]
fn config_and_data_dir_are_accepted_after_any_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, support::serving_config("")).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();

    let orders: [&[&str]; 3] = [
        &["outbox", "list", "--config", "C", "--data-dir", "D"],
        &["outbox", "--config", "C", "--data-dir", "D", "list"],
        &[
            "outbox",
            "list",
            "--state",
            "dead",
            "--config",
            "C",
            "--data-dir",
            "D",
        ],
    ];
    for order in orders {
        let args: Vec<&std::ffi::OsStr> = order
            .iter()
            .map(|a| match *a {
                "C" => config.as_os_str(),
                "D" => data.as_os_str(),
                other => std::ffi::OsStr::new(other),
            })
            .collect();
        let out = Command::new(support::binary())
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ticketgate {order:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The data directory named after the subcommand is the one used.
    assert!(data.join("gateway.sqlite").exists());

    // And a wrong one is a clear refusal naming the file, not a silent default.
    let out = Command::new(support::binary())
        .args(["outbox", "list", "--config"])
        .arg(dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("missing.toml"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
