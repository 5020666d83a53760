//! Shared rate limits, end to end: three real `ticketgate serve` processes over one
//! real `redis-server` (started here on a spare loopback port, with no persistence),
//! stopped, frozen and restarted mid-run.
//!
//! Quotas are tiny (a refill of one token per 1 000 s), so every count below is exact
//! whatever the timing: only the burst can pass.
//!
//! Without `redis-server` on this machine the tests say they are skipped; under
//! `CI=true` they fail instead (`.ci/setup.d/41-redis.sh` installs it).

mod support;

use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------
// redis-server, ours

/// The `redis-server` binary, or `None` (with the reason printed) when this machine has
/// none and this is not CI.
fn redis_server() -> Option<PathBuf> {
    let bin = std::env::var_os("TICKETGATE_REDIS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("redis-server"));
    let found = Command::new(&bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(bin);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "redis-server is missing under CI=true: .ci/setup.d/41-redis.sh should have installed it"
        );
    }
    eprintln!(
        "SKIPPED: redis-server is not installed (apt-get install redis-server, or set TICKETGATE_REDIS_SERVER); the shared rate-limit tests did not run"
    );
    None
}

fn spare_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a spare port")
}

/// One `redis-server --save '' --port P` of this test's own.
struct Redis {
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Redis {
    fn start(bin: PathBuf) -> Self {
        let mut r = Redis {
            bin,
            port: spare_port(),
            child: None,
        };
        r.restart();
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Start (again) on the same port, with an empty data set.
    fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.command(&["PING"]).as_deref() != Some("+PONG") {
            assert!(Instant::now() < deadline, "redis-server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: gone at once, connections reset.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP / SIGCONT: connections stay open and nothing answers.
    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {pid}");
    }

    /// One command in RESP; the first line of the answer.
    fn command(&self, parts: &[&str]) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut req = format!("*{}\r\n", parts.len());
        for p in parts {
            req.push_str(&format!("${}\r\n{p}\r\n", p.len()));
        }
        s.write_all(req.as_bytes()).ok()?;
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).ok()?;
        Some(line.trim_end().to_owned())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.signal_quietly("-CONT");
        }
        self.kill();
    }
}

impl Redis {
    fn signal_quietly(&self, sig: &str) -> Option<()> {
        let pid = self.child.as_ref()?.id().to_string();
        Command::new("kill").args([sig, &pid]).status().ok()?;
        Some(())
    }
}

// ---------------------------------------------------------------------------------
// ticketgate, three of them

/// A `ticketgate serve` whose log (stderr) is kept in a file, to count what it says.
struct Node {
    child: Child,
    addr: String,
    admin: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Node {
    fn start(config: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let config_path = dir.path().join("gateway.toml");
        std::fs::write(&config_path, config).expect("the config can be written");
        let log = dir.path().join("stderr.log");
        let mut child = Command::new(support::binary())
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .env("TICKETGATE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("a log file"))
            .spawn()
            .expect("ticketgate starts");
        let mut out = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut line = String::new();
        out.read_line(&mut line).expect("the address");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        line.clear();
        out.read_line(&mut line).expect("the admin address");
        let admin = line
            .trim()
            .strip_prefix("admin listening on ")
            .unwrap_or_else(|| panic!("unexpected second line {line:?}"))
            .to_owned();
        Node {
            child,
            addr,
            admin,
            log,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Lines of the log that contain `needle`.
    fn said(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    async fn metric(&self, name: &str) -> Option<f64> {
        let text = support::client()
            .get(format!("http://{}/metrics", self.admin))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find(|l| !l.starts_with('#') && l.split([' ', '{']).next() == Some(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// Wait until this gateway says the shared limits are `available` (1 or 0).
    async fn wait_available(&self, available: f64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.metric("ticketgate_shared_limits_available").await == Some(available) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "ticketgate_shared_limits_available never became {available}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Consumers with tiny quotas (one token back per 1 000 s): only the burst passes.
const TENANTS: &str = r#"
[[consumers]]
name = "tenant"
bearer_key = "tenant-key"
osticket_key = "tenant-key"
permissions = ["create", "read", "search"]
networks = ["127.0.0.0/8"]
quota.create = { per_second = 0.001, burst = 6 }
quota.search = { per_second = 0.001, burst = 4 }

[[consumers]]
name = "other"
bearer_key = "other-key"
permissions = ["create", "read", "search"]
networks = ["127.0.0.0/8"]
quota.create = { per_second = 0.001, burst = 6 }
"#;

fn config(redis: &Redis, on_unavailable: &str) -> String {
    format!(
        r#"
[dialects.canonical]
prefix = "/v1"

[dialects.osticket]
prefix = "/api"

[upstreams.embedded]
kind = "embedded"
durability = "normal"

[rate_limits]
failed_auth = {{ per_second = 0.001, burst = 4 }}

[rate_limits.shared]
backend = "redis"
url = "{}"
on_unavailable = "{on_unavailable}"
timeout_ms = 100
{TENANTS}"#,
        redis.url()
    )
}

fn three(config: &str) -> Vec<Node> {
    (0..3).map(|_| Node::start(config)).collect()
}

/// A client whose requests come from `from` (a loopback address of its own, so each
/// test's failed-authentication counts are its own).
fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .local_address(from.parse::<IpAddr>().ok())
        .build()
        .expect("a client")
}

/// What one create answered: status, `Retry-After`, `RateLimit`, `RateLimit-Policy`.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    ratelimit: Option<String>,
    policy: Option<String>,
    content_type: String,
    elapsed: Duration,
}

async fn create(client: &reqwest::Client, node_url: String, key: &str, i: usize) -> Answer {
    let started = Instant::now();
    let r = client
        .post(node_url)
        .header("Authorization", format!("Bearer {key}"))
        .json(&json!({"subject": format!("shared {i}"), "body": "b", "requester": {"email": "ann@example.com"}}))
        .send()
        .await
        .expect("the gateway answers");
    let h = r.headers();
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    Answer {
        status: r.status().as_u16(),
        retry_after: get("retry-after").and_then(|v| v.parse().ok()),
        ratelimit: get("ratelimit"),
        policy: get("ratelimit-policy"),
        content_type: get("content-type").unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

/// `n` creates at once as `key`, spread round-robin over `nodes`.
async fn burst(client: &reqwest::Client, nodes: &[Node], key: &str, n: usize) -> Vec<Answer> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let url = nodes[i % nodes.len()].url("/v1/tickets");
        let (client, key) = (client.clone(), key.to_owned());
        set.spawn(async move { create(&client, url, &key, i).await });
    }
    let mut out = Vec::new();
    while let Some(a) = set.join_next().await {
        out.push(a.expect("the request task"));
    }
    out
}

fn count(answers: &[Answer], status: u16) -> usize {
    answers.iter().filter(|a| a.status == status).count()
}

/// Every 429 carries `Retry-After` and the IETF headers of the create quota.
fn assert_limited_shape(answers: &[Answer], quota: u32) {
    for a in answers.iter().filter(|a| a.status == 429) {
        assert!(a.retry_after.is_some_and(|s| s >= 1), "{a:?}");
        assert_eq!(
            a.policy.as_deref(),
            Some(format!("\"create\";q={quota};w={}", quota as u64 * 1000).as_str()),
            "{a:?}"
        );
        assert!(
            a.ratelimit
                .as_deref()
                .is_some_and(|v| v.starts_with("\"create\";r=0;t=")),
            "{a:?}"
        );
    }
}

/// The `r=` of each passed create: each token of the burst was handed out once.
fn remaining_of_passed(answers: &[Answer]) -> Vec<u32> {
    let mut r: Vec<u32> = answers
        .iter()
        .filter(|a| a.status == 201)
        .map(|a| {
            let v = a.ratelimit.as_deref().expect("RateLimit on a pass");
            v.split(";r=")
                .nth(1)
                .and_then(|s| s.split(';').next())
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("RateLimit {v:?}"))
        })
        .collect();
    r.sort_unstable();
    r
}

// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_split_across_three_gateways_gets_exactly_the_quota() {
    let Some(bin) = redis_server() else { return };
    let redis = Redis::start(bin);
    let nodes = three(&config(&redis, "local"));
    for n in &nodes {
        assert_eq!(
            n.metric("ticketgate_shared_limits_available").await,
            Some(1.0)
        );
    }
    let client = client_from("127.0.0.11");

    // 30 creates at once, 10 on each gateway. Each gateway alone would let 6 through
    // (18 in all); shared, exactly the consumer's burst of 6 passes.
    let answers = burst(&client, &nodes, "tenant-key", 30).await;
    assert_eq!(count(&answers, 201), 6, "{answers:#?}");
    assert_eq!(count(&answers, 429), 24, "{answers:#?}");
    assert_limited_shape(&answers, 6);
    assert_eq!(remaining_of_passed(&answers), vec![0, 1, 2, 3, 4, 5]);

    // The quota is the consumer's and the route class's: another consumer, and the
    // same consumer's searches, are untouched.
    let others = burst(&client, &nodes, "other-key", 9).await;
    assert_eq!(count(&others, 201), 6, "{others:#?}");
    let searched = client
        .get(nodes[2].url("/v1/tickets"))
        .header("Authorization", "Bearer tenant-key")
        .send()
        .await
        .unwrap();
    assert_eq!(searched.status(), 200);
    assert_eq!(
        searched.headers()["ratelimit"].to_str().unwrap(),
        "\"search\";r=3;t=0"
    );

    // Redis forgets its scripts (SCRIPT FLUSH): the next decision's EVALSHA meets
    // NOSCRIPT, falls back to EVAL, and the quota still holds on every gateway.
    assert_eq!(redis.command(&["SCRIPT", "FLUSH"]).as_deref(), Some("+OK"));
    let after = burst(&client, &nodes, "tenant-key", 6).await;
    assert_eq!(count(&after, 429), 6, "{after:#?}");
    for n in &nodes {
        assert_eq!(
            n.metric("ticketgate_shared_limits_available").await,
            Some(1.0)
        );
        assert_eq!(
            n.metric("ticketgate_shared_limits_fallback_total").await,
            Some(0.0)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentications_are_counted_across_gateways() {
    let Some(bin) = redis_server() else { return };
    let redis = Redis::start(bin);
    let nodes = three(&config(&redis, "local"));
    let attacker = client_from("127.0.0.21");

    // Wrong keys, alternately on gateways 0 and 1. failed_auth allows a burst of 4: the
    // fifth failure still gets its 401 and blocks the address (as the local limiter
    // does); from then on every gateway answers 429. Alone, each gateway would have
    // answered 5 of its 6 with 401.
    let mut statuses = Vec::new();
    for i in 0..12 {
        let r = attacker
            .get(nodes[i % 2].url("/v1/tickets"))
            .header("Authorization", format!("Bearer guess-{i}"))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"), "{r:?}");
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [[401; 5].as_slice(), &[429; 7]].concat());

    // The osTicket face of gateway 2, which never saw a failure: refused as blocked,
    // in osTicket's words, even with the right key.
    let r = attacker
        .post(nodes[2].url("/api/tickets.json"))
        .header("X-API-Key", "tenant-key")
        .json(&json!({"name": "Ann", "email": "ann@example.com", "subject": "s", "message": "m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let r = attacker
        .get(nodes[2].url("/v1/tickets"))
        .header("Authorization", "Bearer tenant-key")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        429,
        "a right key waits too once the address is blocked"
    );

    // Another address is not concerned.
    let r = client_from("127.0.0.22")
        .get(nodes[2].url("/v1/tickets"))
        .header("Authorization", "Bearer tenant-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_falls_back_to_local_limits_and_sharing_resumes_when_it_is_back() {
    let Some(bin) = redis_server() else { return };
    let mut redis = Redis::start(bin);
    let nodes = three(&config(&redis, "local"));
    let client = client_from("127.0.0.31");

    let shared = burst(&client, &nodes, "tenant-key", 12).await;
    assert_eq!(count(&shared, 201), 6, "{shared:#?}");

    // Redis killed. Each gateway goes on with its own limiter (never used so far: the
    // whole burst of 6 each), without waiting on Redis.
    redis.kill();
    for (i, n) in nodes.iter().enumerate() {
        let answers = burst(&client, std::slice::from_ref(n), "other-key", 8).await;
        assert_eq!(count(&answers, 201), 6, "gateway {i}: {answers:#?}");
        assert_eq!(count(&answers, 429), 2, "gateway {i}: {answers:#?}");
        assert_limited_shape(&answers, 6);
        for a in &answers {
            assert!(a.elapsed < Duration::from_secs(5), "gateway {i}: {a:?}");
        }
        assert_eq!(
            n.metric("ticketgate_shared_limits_available").await,
            Some(0.0)
        );
        assert!(
            n.metric("ticketgate_shared_limits_fallback_total").await >= Some(8.0),
            "gateway {i}"
        );
        // Said once, not once per request.
        assert_eq!(
            n.said("shared rate limits unavailable"),
            1,
            "gateway {i}: {}",
            n.log()
        );
    }

    // Redis back (empty: no persistence). Every gateway reconnects by itself, says so
    // once, and the quota is shared again: exactly 6 of 15, on the consumer whose local
    // limiters still hold their whole burst.
    redis.restart();
    for n in &nodes {
        n.wait_available(1.0).await;
        assert_eq!(
            n.said("shared rate limits available again"),
            1,
            "{}",
            n.log()
        );
        assert_eq!(n.said("shared rate limits unavailable"), 1, "{}", n.log());
    }
    let resumed = burst(&client, &nodes, "tenant-key", 15).await;
    assert_eq!(count(&resumed, 201), 6, "{resumed:#?}");
    assert_eq!(remaining_of_passed(&resumed), vec![0, 1, 2, 3, 4, 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_with_refuse_answers_503_in_the_dialect_and_recovers() {
    let Some(bin) = redis_server() else { return };
    let mut redis = Redis::start(bin);
    let nodes = three(&config(&redis, "refuse"));
    let client = client_from("127.0.0.41");

    // Frozen (SIGSTOP): the connection stays open and nothing answers. A decision waits
    // no longer than timeout_ms (100 ms) and is refused, retryably, in the caller's
    // dialect.
    redis.signal("-STOP");
    let started = Instant::now();
    let r = create(&client, nodes[0].url("/v1/tickets"), "tenant-key", 0).await;
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.content_type, "application/problem+json");
    assert!(r.retry_after.is_some_and(|s| s >= 1), "{r:?}");
    // 100 ms of waiting, plus the create's own work on a busy shared machine.
    eprintln!("refused with Redis frozen after {:?}", started.elapsed());
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the refusal took {:?}",
        started.elapsed()
    );
    redis.signal("-CONT");
    nodes[0].wait_available(1.0).await;

    // Killed: every gateway refuses at once, canonical as problem+json and osTicket in
    // its own words, each with Retry-After; a refused request took no quota.
    redis.kill();
    for (i, n) in nodes.iter().enumerate() {
        for j in 0..3 {
            let a = create(&client, n.url("/v1/tickets"), "other-key", j).await;
            assert_eq!(a.status, 503, "gateway {i}: {a:?}");
            assert_eq!(a.content_type, "application/problem+json");
            assert!(a.retry_after.is_some(), "{a:?}");
        }
        let r = client
            .post(n.url("/api/tickets.json"))
            .header("X-API-Key", "tenant-key")
            .json(
                &json!({"name": "Ann", "email": "ann@example.com", "subject": "s", "message": "m"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503, "gateway {i}");
        assert!(r.headers().contains_key("retry-after"));
        assert_eq!(
            n.metric("ticketgate_shared_limits_available").await,
            Some(0.0)
        );
        assert!(n.metric("ticketgate_shared_limits_fallback_total").await >= Some(4.0));
    }

    redis.restart();
    for n in &nodes {
        n.wait_available(1.0).await;
    }
    let resumed = burst(&client, &nodes, "other-key", 12).await;
    assert_eq!(count(&resumed, 201), 6, "{resumed:#?}");
    assert_eq!(count(&resumed, 503), 0, "{resumed:#?}");
    assert_limited_shape(&resumed, 6);
}

#[test]
fn check_validates_the_shared_section() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "backend = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\non_unavailable = \"refuse\"\n",
            None,
        ),
        (
            "backend = \"memcached\"\nurl = \"redis://127.0.0.1:6379\"\n",
            Some("backend"),
        ),
        (
            "backend = \"redis\"\nurl = \"http://127.0.0.1:6379\"\n",
            Some("rate_limits.shared.url"),
        ),
        (
            "backend = \"redis\"\nurl = \"redis://:hunter2@\"\n",
            Some("rate_limits.shared.url"),
        ),
        (
            "backend = \"redis\"\nurl = \"redis://127.0.0.1\"\non_unavailable = \"maybe\"\n",
            Some("on_unavailable"),
        ),
        (
            "backend = \"redis\"\nurl = \"redis://127.0.0.1\"\ntimeout_ms = 0\n",
            Some("timeout_ms"),
        ),
        (
            "backend = \"redis\"\nurl = \"redis://127.0.0.1\"\npool = 4\n",
            Some("unknown field `pool`"),
        ),
        (
            "backend = \"redis\"\nurl = \"${TICKETGATE_REDIS_URL}\"\n",
            None,
        ),
    ];
    for (i, (section, error)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("c{i}.toml"));
        std::fs::write(
            &path,
            format!("[upstreams.embedded]\nkind = \"embedded\"\n[rate_limits.shared]\n{section}"),
        )
        .unwrap();
        let out = Command::new(support::binary())
            .args(["check", "--config"])
            .arg(&path)
            .env("TICKETGATE_REDIS_URL", "redis://:s3cret@127.0.0.1:6379/0")
            .output()
            .expect("ticketgate check runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        match error {
            None => assert!(out.status.success(), "case {i}: {text}"),
            Some(e) => {
                assert!(!out.status.success(), "case {i} passed: {text}");
                assert!(text.contains(e), "case {i}: {text}");
            }
        }
        assert!(
            !text.contains("hunter2") && !text.contains("s3cret"),
            "case {i}: {text}"
        );
    }
}
