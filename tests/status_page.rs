//! The admin listener's status page, in a real browser: headless Chromium from Debian
//! (`TICKETGATE_CHROMIUM`, else `chromium` on the PATH; `.ci/setup.d/50-chromium.sh`
//! installs it). The test sends creates, a burst over a consumer's quota and mail,
//! then loads `/` and checks that the charts the page's own script drew show them. A
//! screenshot is written to `target/test-artifacts/status-page.png`.
//!
//! Without Chromium the test is skipped outside CI and fails under `CI=true`.

mod support;

use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;
use support::{DEMO_BEARER, Gateway, client, serving_config};

fn chromium() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("TICKETGATE_CHROMIUM").map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/chromium")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

/// Run headless Chromium on `url` with `args`; its stdout.
fn browse(chromium: &PathBuf, profile: &std::path::Path, args: &[&str], url: &str) -> String {
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            // Lets the page's script fetch /status.json and draw before the dump.
            "--virtual-time-budget=8000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `data-total` of the chart with this id in the DOM, if drawn.
fn chart_total(dom: &str, id: &str) -> Option<u64> {
    let at = dom.find(&format!("id=\"chart-{id}\""))?;
    let tag = &dom[at..at + dom[at..].find('>')?];
    let v = tag.split("data-total=\"").nth(1)?;
    v[..v.find('"')?].parse().ok()
}

#[tokio::test]
async fn the_status_page_charts_what_the_gateway_did_in_a_real_browser() {
    let Some(chromium) = chromium() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("chromium is required under CI (see .ci/setup.d/50-chromium.sh)");
        }
        println!("SKIPPED: no chromium (set TICKETGATE_CHROMIUM or install Debian's chromium)");
        return;
    };
    let g = Gateway::start(&serving_config(""));
    let c = client();
    const CREATES: u64 = 7;
    for i in 0..CREATES {
        let resp = c
            .post(g.url("/v1/tickets"))
            .header("Authorization", DEMO_BEARER)
            .json(&json!({"subject": format!("status {i}"), "body": "b", "requester": {"email": "ann@example.com"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    // The `burst` consumer may create 2 at once: 3 of 5 are refused.
    let mut refused = 0;
    for i in 0..5 {
        let resp = c
            .post(g.url("/v1/tickets"))
            .bearer_auth("burst-key")
            .json(&json!({"subject": format!("burst {i}"), "body": "b", "requester": {"email": "ann@example.com"}}))
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            refused += 1;
        }
    }
    assert_eq!(refused, 3);
    // One mail that becomes a ticket, one auto-reply that is noise.
    let mail = "From: Ann <ann@example.com>\r\nTo: help@example.com\r\nSubject: Printer\r\nMessage-ID: <status-1@example.com>\r\nDate: Wed, 2 Dec 2026 10:00:00 +0000\r\n\r\nTray 2 jams again.\r\n";
    let resp = c
        .post(g.url("/api/tickets.email"))
        .header("X-API-Key", "demo-key")
        .body(mail)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let noise = "From: Bob <bob@example.com>\r\nTo: help@example.com\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <status-2@example.com>\r\n\r\nI am away.\r\n";
    let _ = c
        .post(g.url("/api/tickets.email"))
        .header("X-API-Key", "demo-key")
        .body(noise)
        .send()
        .await
        .unwrap();

    // The JSON the page draws from.
    let status: Value = c
        .get(g.admin_url("/status.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["minutes"].as_array().unwrap().len(), 60);
    assert_eq!(status["rate_limited"]["burst"]["total"], 3);
    assert_eq!(status["mail"]["ticket"]["total"], 1);
    assert_eq!(status["mail"]["noise"]["total"], 1);
    let embedded = status["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "embedded")
        .expect("the embedded upstream is listed");
    assert_eq!(embedded["circuit"], "closed");
    assert_eq!(embedded["health"], "healthy");
    assert_eq!(status["outbox"]["pending"], 0);

    // The page itself: no external assets, and what its script drew.
    let page = c.get(g.admin_url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"));
    let html = page.text().await.unwrap();
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("src="));
    assert!(
        c.get(g.url("/")).send().await.unwrap().status() == 404,
        "not on the public listener"
    );

    let profile = tempfile::tempdir().unwrap();
    let url = g.admin_url("/");
    let dom = browse(&chromium, profile.path(), &["--dump-dom"], &url);
    assert!(
        dom.contains("data-loaded=\"yes\""),
        "the script ran and rendered:\n{dom}"
    );
    let requests = chart_total(&dom, "requests").expect("the requests chart is drawn");
    assert!(
        requests >= CREATES + 5 + 2,
        "requests chart shows {requests}"
    );
    let calls = chart_total(&dom, "upstream-embedded-calls").expect("the upstream chart");
    assert!(calls >= CREATES, "upstream calls chart shows {calls}");
    assert_eq!(chart_total(&dom, "rate-limited-burst"), Some(3));
    assert_eq!(chart_total(&dom, "mail-ticket"), Some(1));
    assert_eq!(chart_total(&dom, "mail-noise"), Some(1));
    assert_eq!(chart_total(&dom, "mail-duplicate"), Some(0));
    assert!(dom.contains("id=\"upstream-embedded\" data-health=\"healthy\""));
    assert!(dom.contains("<rect"), "bars are drawn");
    println!(
        "status page in chromium: requests {requests}, embedded calls {calls}, burst refused 3, mail ticket 1, noise 1"
    );

    let artifacts = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|p| p.parent())
        .and_then(|p| p.parent())
        .expect("tests run from target/<profile>/deps")
        .join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    browse(
        &chromium,
        profile.path(),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,1800",
        ],
        &url,
    );
    let png = std::fs::read(&shot).expect("the screenshot is written");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
    println!("screenshot: {} ({} bytes)", shot.display(), png.len());
}
