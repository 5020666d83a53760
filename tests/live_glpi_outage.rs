//! The real GLPI goes away mid-run: creates made while it is down are acknowledged
//! (202, queued in the outbox) and each lands in GLPI exactly once when it is back,
//! as GLPI's own database shows.

mod support;

use reqwest::Method;
use serde_json::json;
use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};
use support::live::{self, Vendor};
use support::{Gateway, forwarding_config, ok_json, v1};

fn count(env: &HashMap<String, String>, name: &str) -> Option<u64> {
    let out = Command::new("mariadb")
        .args(["--no-defaults", "-uroot", "-N", "-B", "glpi"])
        .arg(format!("--socket={}", env["GLPI_DB_SOCK"]))
        .arg("-e")
        .arg(format!(
            "SELECT COUNT(*) FROM glpi_tickets WHERE name = '{name}'"
        ))
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

#[tokio::test]
async fn creates_while_glpi_is_down_are_delivered_exactly_once() {
    let Some(env) = live::vendor(Vendor::Glpi) else {
        return;
    };
    let upstream = format!(
        "kind = \"itsmng\"\nurl = \"{}\"\nuser_token = \"{}\"\nconnect_timeout_ms = 1000\nrequest_timeout_ms = 5000",
        env["GLPI_URL"], env["GLPI_USER_TOKEN"]
    );
    let extra = "[outbox]\ninitial_backoff_ms = 200\nmax_backoff_ms = 1000\npoll_ms = 200\n";
    let g = Gateway::start(&forwarding_config(&upstream, extra));
    let tag = format!(
        "outage {}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );

    // Up: a create goes straight through (a session is open when GLPI goes away).
    let t = ok_json(
        v1(
            &g,
            Method::POST,
            "/tickets",
            Some(json!({"subject": format!("{tag} before"), "body": "b", "requester": {"email": "o@example.com"}})),
        )
        .await,
        201,
    )
    .await;
    assert!(t["id"].is_string());

    let mut down = Vendor::Glpi
        .down_command()
        .expect("the down script is there");
    assert!(down.status().expect("down.sh runs").success());

    let mut tracking = Vec::new();
    for i in 0..3 {
        let resp = v1(
            &g,
            Method::POST,
            "/tickets",
            Some(json!({"subject": format!("{tag} while down {i}"), "body": "b", "requester": {"email": "o@example.com"}})),
        )
        .await;
        let status = resp.status().as_u16();
        let body = ok_json(resp, 202).await;
        assert_eq!(status, 202);
        let id = body["tracking_id"]
            .as_str()
            .unwrap_or_else(|| panic!("a tracking id: {body}"))
            .to_owned();
        assert!(id.starts_with("q-"), "{body}");
        tracking.push(id);
    }

    // Back up; every queued create arrives, once.
    live::vendor(Vendor::Glpi).expect("GLPI comes back");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let counts: Vec<Option<u64>> = (0..3)
            .map(|i| count(&env, &format!("{tag} while down {i}")))
            .collect();
        if counts.iter().all(|c| *c == Some(1)) {
            break;
        }
        assert!(
            counts.iter().all(|c| c.unwrap_or(0) <= 1),
            "a queued create was delivered twice: {counts:?}"
        );
        assert!(
            Instant::now() < deadline,
            "not delivered in 90 s: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Each tracking id now shows its ticket.
    for id in &tracking {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let t = ok_json(
                v1(&g, Method::GET, &format!("/tickets/{id}"), None).await,
                200,
            )
            .await;
            if t["subject"].as_str().is_some_and(|s| s.starts_with(&tag)) {
                break;
            }
            assert!(Instant::now() < deadline, "{id}: {t}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    // A while later, still exactly once each.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for i in 0..3 {
        assert_eq!(count(&env, &format!("{tag} while down {i}")), Some(1));
    }
    assert_eq!(count(&env, &format!("{tag} before")), Some(1));
}
