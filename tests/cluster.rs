//! Several gateways sharing one PostgreSQL: three real `ticketgate serve` processes,
//! each with its own data directory and port, their state in one database, their
//! upstream a central ticketgate (kind `ticketgate`) that is down at first.
//!
//! Needs a PostgreSQL whose user may create databases (`TICKETGATE_POSTGRES_URL`, by
//! default postgres://postgres@127.0.0.1:5432/test, as `.ci/setup.d/40-postgres.sh`
//! sets up) and, for the restart, `pg_ctlcluster` on this machine. Outside CI the test
//! says it is skipped when no server answers; under CI (`CI=true`) it fails instead.

mod support;

use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};
use support::{Gateway, TEST_CONSUMERS, canonical_config};
use ticketgate_store::ScratchDatabase;

const DEMO: &str = "Bearer demo-key";

/// An instance of the cluster: the canonical API, the central ticketgate as its only
/// upstream, quick retries, the state on PostgreSQL.
fn instance_config(central: &str, db: &ScratchDatabase) -> String {
    format!(
        r#"
[dialects.canonical]
prefix = "/v1"

[upstreams.central]
kind = "ticketgate"
url = "http://{central}/v1"
bearer_key = "demo-key"
connect_timeout_ms = 500
request_timeout_ms = 1000
protection = {{ failure_threshold = 3, open_ms = 300, call_timeout_ms = 1500 }}

[routing]
default = "central"

[outbox]
initial_backoff_ms = 50
max_backoff_ms = 400
poll_ms = 50
max_attempts = 1000

{TEST_CONSUMERS}
{}
"#,
        support::postgres_state(db)
    )
}

fn ticket(subject: &str) -> Value {
    json!({"subject": subject, "body": "sent to a cluster",
           "requester": {"name": "Ann", "email": "ann@example.com"}})
}

/// Every ticket in the central gateway.
async fn tickets_in(central: &str) -> Vec<Value> {
    let resp = support::client()
        .get(format!(
            "http://{central}/v1/tickets?limit=1000&sort=number&order=asc"
        ))
        .header("Authorization", DEMO)
        .send()
        .await
        .expect("the central gateway answers");
    assert_eq!(resp.status(), 200);
    let page: Value = resp.json().await.unwrap();
    page["items"].as_array().cloned().unwrap_or_default()
}

/// `pg_ctlcluster VERSION NAME ACTION` for the cluster serving this machine's
/// PostgreSQL (the first `pg_lsclusters` lists).
fn pg_ctl(action: &str) -> Result<(), String> {
    let list = Command::new("pg_lsclusters")
        .arg("--no-header")
        .output()
        .map_err(|e| format!("pg_lsclusters cannot run: {e}"))?;
    let text = String::from_utf8_lossy(&list.stdout);
    let mut first = text.split_whitespace();
    let (Some(version), Some(name)) = (first.next(), first.next()) else {
        return Err("pg_lsclusters lists no cluster".to_owned());
    };
    let out = Command::new("pg_ctlcluster")
        .args([version, name, action])
        .output()
        .map_err(|e| format!("pg_ctlcluster cannot run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "pg_ctlcluster {version} {name} {action}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Starts PostgreSQL again when dropped, so a failing test never leaves it stopped.
struct StartAgain;

impl Drop for StartAgain {
    fn drop(&mut self) {
        if pg_ctl("status").is_err() {
            let _ = pg_ctl("start");
        }
    }
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// One create with an idempotency key: the status, the body, and `Retry-After`.
async fn create(
    c: &reqwest::Client,
    addr: &str,
    key: &str,
    body: &Value,
) -> Result<(u16, Value, Option<String>), String> {
    let resp = c
        .post(format!("http://{addr}/v1/tickets"))
        .header("Authorization", DEMO)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp.json().await.unwrap_or(Value::Null);
    Ok((status, body, retry_after))
}

/// The cluster end to end. While the central helpdesk is down, clients send creates
/// with idempotency keys to all three instances (a retry goes to another instance than
/// the first try); instances are SIGKILLed and restarted, PostgreSQL is stopped (every
/// create then answers 503 with Retry-After, nothing acknowledged) and restarted
/// mid-run; then the central gateway comes back. Every acknowledged create reaches it
/// exactly once, and a key retried on another instance answers the first outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_on_one_postgres_deliver_every_acknowledged_create_exactly_once() {
    let Some(db) = ScratchDatabase::for_test(
        "three_gateways_on_one_postgres_deliver_every_acknowledged_create_exactly_once",
    ) else {
        return;
    };
    // The restart needs this machine's PostgreSQL under pg_ctlcluster.
    if let Err(e) = pg_ctl("status") {
        assert!(!under_ci(), "under CI PostgreSQL must be restartable: {e}");
        eprintln!("SKIPPED the cluster test: PostgreSQL cannot be restarted from here ({e})");
        return;
    }

    let _start_again = StartAgain;

    // The central gateway: started to learn its address, then down.
    let mut central = Gateway::start(&canonical_config(""));
    let central_addr = central.addr.clone();
    let central_config = std::fs::read_to_string(&central.config).unwrap();
    central.stop();

    let config = instance_config(&central_addr, &db);
    // `ticketgate migrate` applies the schema ahead and says so; a second run has
    // nothing to do.
    let config_path = central.dir.join("cluster.toml");
    std::fs::write(&config_path, &config).unwrap();
    let migrate = || {
        let out = Command::new(support::binary())
            .arg("migrate")
            .arg("--config")
            .arg(&config_path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = migrate();
    assert!(
        first.contains("PostgreSQL") && first.contains("applied migration(s) 1 to 3"),
        "{first}"
    );
    assert!(
        migrate().contains("up to date"),
        "the second run applies nothing"
    );

    let mut nodes: Vec<Gateway> = (0..3).map(|_| Gateway::start(&config)).collect();
    let addrs: Vec<String> = nodes.iter().map(|g| g.addr.clone()).collect();
    let dirs: Vec<_> = nodes.iter().map(|g| g.dir.clone()).collect();
    // Killed instances keep their temporary directories alive until the end.
    let mut graveyard: Vec<Gateway> = Vec::new();
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(8))
        .build()
        .unwrap();

    // An idempotency key retried against another instance answers the first outcome,
    // and the same key with another body is a conflict there too.
    let body = ticket("cross-instance");
    let (s1, b1, _) = create(&c, &addrs[0], "cross-key", &body).await.unwrap();
    assert_eq!(s1, 202, "queued while the central one is down: {b1}");
    let tracking = b1["tracking_id"].as_str().unwrap().to_owned();
    let (s2, b2, _) = create(&c, &addrs[1], "cross-key", &body).await.unwrap();
    assert_eq!(
        (s2, b2["tracking_id"].as_str()),
        (202, Some(tracking.as_str())),
        "{b2}"
    );
    let (s3, _, _) = create(&c, &addrs[2], "cross-key", &ticket("another body"))
        .await
        .unwrap();
    assert_eq!(s3, 409);

    const KEYS: usize = 90;
    let mut acknowledged: HashMap<usize, u16> = HashMap::new();
    let mut sends: HashMap<usize, usize> = HashMap::new();
    let mut pending: Vec<usize> = Vec::new();
    let mut fresh = 0..KEYS;
    let mut refusals_503 = 0;
    let mut kills = 0;
    let mut central_up: Option<Gateway> = None;
    let mut restart: Option<std::thread::JoinHandle<Result<(), String>>> = None;
    let started = Instant::now();
    let mut wave = 0usize;
    let mut restarted_at = None;

    while acknowledged.len() < KEYS || wave < 16 || restart.is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "still unacknowledged after 150 s: {pending:?}"
        );
        wave += 1;
        let mut keys = std::mem::take(&mut pending);
        keys.extend(fresh.by_ref().take(6));
        let mut set = tokio::task::JoinSet::new();
        for k in keys {
            let n = sends.entry(k).or_default();
            *n += 1;
            // Each try on the next instance.
            let addr = addrs[(k + *n) % addrs.len()].clone();
            let c = c.clone();
            set.spawn(async move {
                let r = create(
                    &c,
                    &addr,
                    &format!("cluster-key-{k}"),
                    &ticket(&format!("cluster {k:03}")),
                )
                .await;
                (k, r)
            });
        }
        match wave {
            // SIGKILL an instance while the wave is in flight, and start it again.
            3 | 8 | 12 => {
                tokio::time::sleep(Duration::from_millis(15)).await;
                let i = kills % 3;
                let mut g = nodes.remove(i);
                g.kill9();
                graveyard.push(g);
                kills += 1;
                nodes.insert(i, Gateway::start_listen(&dirs[i], &config, &addrs[i]));
            }
            // PostgreSQL restarted while the wave is in flight.
            6 => {
                restart = Some(std::thread::spawn(|| pg_ctl("restart")));
            }
            // The central helpdesk comes back.
            9 => {
                central_up = Some(Gateway::start_listen(
                    &central.dir,
                    &central_config,
                    &central_addr,
                ));
            }
            _ => {}
        }
        while let Some(Ok((k, outcome))) = set.join_next().await {
            match outcome {
                Ok((s @ 200..=202, _, _)) => {
                    acknowledged.insert(k, s);
                }
                Ok((503, body, retry_after)) => {
                    assert!(retry_after.is_some(), "a 503 without Retry-After: {body}");
                    refusals_503 += 1;
                    pending.push(k);
                }
                // Killed mid-request, refused while restarting, "in progress", over
                // quota: the client retries with the same key.
                _ => pending.push(k),
            }
        }
        // PostgreSQL stopped: nothing can be recorded, so nothing is acknowledged.
        if wave == 4 {
            pg_ctl("stop").expect("PostgreSQL stops");
            for (i, addr) in addrs.iter().enumerate() {
                let (status, body, retry_after) = create(
                    &c,
                    addr,
                    &format!("refused-{i}"),
                    &ticket("while the state is down"),
                )
                .await
                .unwrap();
                assert_eq!(status, 503, "instance {i} with PostgreSQL stopped: {body}");
                assert!(retry_after.is_some(), "503 carries Retry-After");
                assert!(
                    body["type"]
                        .as_str()
                        .is_some_and(|t| t.contains("storage-unavailable")),
                    "{body}"
                );
                assert_eq!(body["retryable"], true);
            }
            pg_ctl("start").expect("PostgreSQL starts again");
        }
        // Waves go on while PostgreSQL restarts.
        if restart.as_ref().is_some_and(|r| r.is_finished())
            && let Some(r) = restart.take()
        {
            r.join().unwrap().expect("PostgreSQL restarts");
            restarted_at = Some(wave);
        }
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    assert!(central_up.is_some(), "the central gateway came back");
    assert!(restarted_at.is_some(), "PostgreSQL was restarted mid-run");

    // Every acknowledged create reaches the central gateway exactly once.
    let drain = Instant::now();
    let expected = KEYS + 1; // the cross-instance key too
    while tickets_in(&central_addr).await.len() < expected {
        if drain.elapsed() > Duration::from_secs(60) {
            let out = Command::new(support::binary())
                .args(["outbox", "--config"])
                .arg(&nodes[0].config)
                .args(["list", "--state", "pending", "--limit", "1000"])
                .output()
                .unwrap();
            panic!(
                "the shared outbox did not drain: {} tickets centrally; pending:\n{}{}",
                tickets_in(&central_addr).await.len(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a duplicate, if one were coming (a lease running out), time to land.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let delivered = tickets_in(&central_addr).await;
    let mut per_subject: HashMap<String, u32> = HashMap::new();
    for t in &delivered {
        *per_subject
            .entry(t["subject"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let twice: Vec<_> = per_subject.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "created more than once: {twice:?}");
    for k in 0..KEYS {
        assert_eq!(
            per_subject.get(&format!("cluster {k:03}")),
            Some(&1),
            "key {k} exists exactly once centrally"
        );
    }
    assert_eq!(per_subject.get("cross-instance"), Some(&1));
    assert!(
        !per_subject.contains_key("while the state is down"),
        "nothing refused with 503 was kept"
    );
    assert_eq!(delivered.len(), expected);

    // The cross-instance key, retried on each instance after delivery, answers the
    // ticket it became; its tracking id does too.
    let id = delivered
        .iter()
        .find(|t| t["subject"] == "cross-instance")
        .map(|t| t["id"].clone())
        .unwrap();
    for addr in &addrs {
        let (status, body, _) = create(&c, addr, "cross-key", &body).await.unwrap();
        assert_eq!(
            (status, &body["id"]),
            (201, &id),
            "replayed on {addr}: {body}"
        );
        let resp = c
            .get(format!("http://{addr}/v1/tickets/{tracking}"))
            .header("Authorization", DEMO)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let t: Value = resp.json().await.unwrap();
        assert_eq!(t["id"], id);
    }
    let out = Command::new(support::binary())
        .args(["outbox", "--config"])
        .arg(&nodes[1].config)
        .args(["list", "--state", "pending"])
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("0 item(s)"), "{listing}");

    let queued = acknowledged.values().filter(|s| **s == 202).count();
    let retried = sends.values().filter(|n| **n > 1).count();
    println!(
        "cluster test: {KEYS} keys acknowledged ({queued} queued), {retried} retried on another \
         instance, {refusals_503} answered 503 while PostgreSQL restarted (waves 6 to {}), {kills} SIGKILLs, \
         {} tickets centrally, {:.1} s",
        restarted_at.unwrap_or_default(),
        delivered.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        queued > 0,
        "some creates were queued while the central one was down"
    );
    assert_eq!(kills, 3);
    drop(nodes);
    drop(graveyard);
    drop(central_up);
}

/// The shipped `examples/cluster.toml` passes `ticketgate check` with its four
/// variables set, mounts every dialect, and names the variable that is missing.
#[test]
fn the_shipped_cluster_example_checks() {
    let env = [
        (
            "TICKETGATE_POSTGRES_URL",
            "postgres://ticketgate:s3cret@127.0.0.1:5432/ticketgate",
        ),
        ("TICKETGATE_REDIS_URL", "redis://127.0.0.1:6379"),
        ("CENTRAL_URL", "https://central.example.com/v1"),
        ("CENTRAL_KEY", "central-key"),
    ];
    let path = support::assert_example_checks("cluster.toml", &env);
    let (ok, out) = support::check_config(&path, &env);
    assert!(ok, "{out}");
    assert!(!out.contains("s3cret"), "no password in the output: {out}");
    assert!(!out.contains("warning"), "no warning: {out}");
    let (ok, out) = support::check_config(&path, &env[..3]);
    assert!(!ok && out.contains("CENTRAL_KEY"), "{out}");
}
