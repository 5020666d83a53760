//! The real osTicket API-Endpoints plugin (v2.3.4 on osTicket 1.18.1, brought up by
//! `../shared/osticket-live` on 127.0.0.1:18081) as the judge of ticketgate's plugin mode.
//!
//! - `client_face_against_the_real_plugin`: a real `ticketgate` whose upstream is the
//!   real plugin (`kind = "osticket"`, `mode = "plugin"`), driven through the canonical
//!   API for every operation; each change is checked in the plugin instance's MariaDB
//!   and through the plugin's own `tickets-get.php`.
//! - `differential_real_plugin_vs_ticketgate_face`: the requests of
//!   `../shared/osticket-live/plugin-probe.py` (its 67 main requests and the 9 of its
//!   limited-key phase) sent to the real plugin and to
//!   ticketgate's plugin face over its embedded store; every row has the same status,
//!   content type and body shape, or is a deliberate difference listed in
//!   [`DELIBERATE`] (and in the README).
//!
//! Tickets are told apart by subjects unique to the run, so the tests can run again and
//! again on the same instance.

mod support;

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Command;
use support::live::{self, Vendor};
use support::{Gateway, client, forwarding_config, serving_config, v1};

/// A string no earlier run has used.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}", nanos % 0xffff_ffff_ffff)
}

/// One row (tab-separated columns) per result of `sql` in the plugin instance's database.
fn db(env: &HashMap<String, String>, sql: &str) -> Vec<Vec<String>> {
    let out = Command::new("mariadb")
        .args([
            "--no-defaults",
            "--batch",
            "--raw",
            "--skip-column-names",
            "-uroot",
        ])
        .arg(format!("--socket={}", env["OSTICKET_DB_SOCK"]))
        .arg("osticket")
        .arg("-e")
        .arg(sql)
        .output()
        .expect("the mariadb client runs");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

/// A single value (or None when the query has no row).
fn db_one(env: &HashMap<String, String>, sql: &str) -> Option<String> {
    db(env, sql)
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next())
}

/// What osTicket stored for the ticket with this number: status, department, priority,
/// staff id, due date, parent id, subject.
fn stored(env: &HashMap<String, String>, number: &str) -> BTreeMap<&'static str, String> {
    let sql = format!(
        "SELECT s.name, d.name, IFNULL(p.priority_desc, ''), t.staff_id, IFNULL(t.duedate, ''), \
         IFNULL(t.ticket_pid, ''), c.subject, t.ticket_id \
         FROM ost_ticket t JOIN ost_ticket_status s ON s.id = t.status_id \
         JOIN ost_department d ON d.id = t.dept_id \
         JOIN ost_ticket__cdata c ON c.ticket_id = t.ticket_id \
         LEFT JOIN ost_ticket_priority p ON p.priority_id = c.priority \
         WHERE t.number = '{number}'"
    );
    let rows = db(env, &sql);
    let row = rows
        .first()
        .unwrap_or_else(|| panic!("ticket {number} is not in osTicket's database"));
    let keys = [
        "status",
        "department",
        "priority",
        "staff_id",
        "duedate",
        "parent_id",
        "subject",
        "ticket_id",
    ];
    keys.into_iter().zip(row.iter().cloned()).collect()
}

/// The plugin's own view of a ticket (`tickets-get.php`), straight from osTicket.
async fn plugin_get(env: &HashMap<String, String>, number: &str) -> (u16, Value) {
    let resp = client()
        .get(format!(
            "{}/api/tickets-get.php/{number}.json",
            env["OSTICKET_URL"]
        ))
        .header("X-API-Key", &env["OSTICKET_API_KEY"])
        .send()
        .await
        .expect("osTicket answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn plugin_gateway(env: &HashMap<String, String>) -> Gateway {
    let upstream = format!(
        "kind = \"osticket\"\nurl = \"{}\"\napi_key = \"{}\"\nmode = \"plugin\"\nconnect_timeout_ms = 2000\nrequest_timeout_ms = 15000",
        env["OSTICKET_URL"], env["OSTICKET_API_KEY"]
    );
    Gateway::start(&forwarding_config(&upstream, ""))
}

async fn status_and_body(resp: reqwest::Response) -> (u16, Value) {
    let s = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn client_face_against_the_real_plugin() {
    let Some(env) = live::vendor(Vendor::OsTicketPlugin) else {
        return;
    };
    let g = plugin_gateway(&env);
    let run = run_id();
    // osTicket keeps the first name it saw for an address: one address per run.
    let email = format!("ann-{run}@example.com");
    use reqwest::Method as M;

    // Create: the answer is what osTicket stored. A priority name osTicket does not
    // map stays Normal there, and the answer says Normal, not the High that was sent.
    let subject = format!("tg-plugin {run} printer");
    let body = json!({"subject": subject, "body": "Tray 2 jams",
        "requester": {"name": "Ann Example", "email": email},
        "priority": "High", "department": "Sales"});
    let (s, created) = status_and_body(v1(&g, M::POST, "/tickets", Some(body)).await).await;
    assert_eq!(s, 201, "{created}");
    let number = created["number"].as_str().expect("a number").to_owned();
    assert_eq!(
        created["id"],
        json!(number),
        "the number is the canonical id"
    );
    let db_row = stored(&env, &number);
    assert_eq!(db_row["subject"], subject);
    assert_eq!(db_row["department"], "Sales");
    assert_eq!(db_row["priority"], "Normal");
    assert_eq!(created["priority"]["name"], json!("Normal"), "{created}");
    assert_eq!(created["department"]["name"], json!("Sales"));
    // A priority by osTicket's id is applied, and reported as applied.
    // A due date, which the plugin's create ignores, is set right after it.
    let body = json!({"subject": format!("tg-plugin {run} urgent"), "body": "down",
        "requester": {"name": "Ann Example", "email": email},
        "priority": {"id": "3"}, "due_at": "2032-01-02T12:00:00Z"});
    let (s, urgent) = status_and_body(v1(&g, M::POST, "/tickets", Some(body)).await).await;
    assert_eq!(s, 201, "{urgent}");
    let urgent_no = urgent["number"].as_str().expect("a number").to_owned();
    let db_row = stored(&env, &urgent_no);
    assert_eq!(db_row["priority"], "High");
    assert!(db_row["duedate"].starts_with("2032-01-02"), "{db_row:?}");
    assert_eq!(urgent["priority"]["name"], json!("High"), "{urgent}");
    assert!(
        urgent["due_at"]
            .as_str()
            .is_some_and(|d| d.starts_with("2032-01-02")),
        "{urgent}"
    );

    // Get: no staff (null in the plugin's answer) is no failure.
    let (s, got) = status_and_body(v1(&g, M::GET, &format!("/tickets/{number}"), None).await).await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["subject"], json!(subject));
    assert_eq!(got["requester"]["email"], json!(email));
    assert_eq!(got["requester"]["name"], json!("Ann Example"));
    assert_eq!(got["status"]["state"], json!("open"));
    assert!(got.get("assignee").is_none_or(Value::is_null), "{got}");
    let (s, _) = status_and_body(v1(&g, M::GET, "/tickets/999999999", None).await).await;
    assert_eq!(s, 404);

    // Update: department and due date land in osTicket, and the answer is no 502.
    let patch = json!({"department": "Maintenance", "due_at": "2031-03-04T05:06:07Z"});
    let (s, updated) =
        status_and_body(v1(&g, M::PATCH, &format!("/tickets/{number}"), Some(patch)).await).await;
    assert_eq!(s, 200, "{updated}");
    let db_row = stored(&env, &number);
    assert_eq!(db_row["department"], "Maintenance");
    assert!(db_row["duedate"].starts_with("2031-03-04"), "{db_row:?}");
    assert_eq!(updated["department"]["name"], json!("Maintenance"));
    // What the plugin cannot change is a 501, and nothing changes.
    for patch in [
        json!({"priority": "Emergency"}),
        json!({"topic": {"id": "2"}}),
    ] {
        let (s, p) =
            status_and_body(v1(&g, M::PATCH, &format!("/tickets/{number}"), Some(patch)).await)
                .await;
        assert_eq!(s, 501, "{p}");
        assert!(
            p["detail"].as_str().unwrap_or("").contains("not supported"),
            "{p}"
        );
    }
    assert_eq!(stored(&env, &number)["priority"], "Normal");

    // A note: an internal note in osTicket's thread; a public reply is a 501.
    let note = format!("tg note {run}");
    let (s, entry) = status_and_body(
        v1(
            &g,
            M::POST,
            &format!("/tickets/{number}/entries"),
            Some(json!({"kind": "note", "body": note})),
        )
        .await,
    )
    .await;
    assert_eq!(s, 201, "{entry}");
    assert_eq!(entry["kind"], json!("note"));
    let tid = stored(&env, &number)["ticket_id"].clone();
    let notes = db_one(
        &env,
        &format!(
            "SELECT COUNT(*) FROM ost_thread_entry e JOIN ost_thread th ON th.id = e.thread_id \
             WHERE th.object_id = {tid} AND th.object_type = 'T' AND e.type = 'N' \
             AND e.body LIKE '%{note}%'"
        ),
    );
    assert_eq!(notes.as_deref(), Some("1"));
    let (s, _) = status_and_body(
        v1(
            &g,
            M::POST,
            &format!("/tickets/{number}/entries"),
            Some(json!({"kind": "response", "body": "hello"})),
        )
        .await,
    )
    .await;
    assert_eq!(s, 501);

    // Assign to staff member 1 (the instance's administrator).
    let (s, assigned) = status_and_body(
        v1(
            &g,
            M::POST,
            &format!("/tickets/{number}/assign"),
            Some(json!({"assignee": {"id": "1"}})),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{assigned}");
    assert_eq!(stored(&env, &number)["staff_id"], "1");
    assert_eq!(assigned["assignee"]["id"], json!("1"), "{assigned}");

    // Search: what the plugin reads (subject text, status, department), bare array in.
    let (s, page) =
        status_and_body(v1(&g, M::GET, &format!("/tickets?q=tg-plugin%20{run}"), None).await).await;
    assert_eq!(s, 200, "{page}");
    let numbers: BTreeSet<String> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|t| t["number"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        numbers,
        BTreeSet::from([number.clone(), urgent_no.clone()]),
        "{page}"
    );
    assert_eq!(page["total"], json!(2));
    let (s, page) = status_and_body(
        v1(
            &g,
            M::GET,
            &format!("/tickets?q=tg-plugin%20{run}&department=Maintenance&limit=1"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["items"][0]["number"], json!(number), "{page}");
    let (s, page) =
        status_and_body(v1(&g, M::GET, &format!("/tickets?number={urgent_no}"), None).await).await;
    assert_eq!((s, page["total"].clone()), (200, json!(1)), "{page}");
    let (s, _) = status_and_body(v1(&g, M::GET, "/tickets?priority=High", None).await).await;
    assert_eq!(s, 501, "a filter the plugin would ignore is refused");

    // Link: the urgent ticket becomes a subticket (osTicket's ticket_pid), and is listed.
    let (s, linked) = status_and_body(
        v1(
            &g,
            M::POST,
            &format!("/tickets/{number}/children"),
            Some(json!({"child": urgent_no})),
        )
        .await,
    )
    .await;
    assert_eq!(s, 204, "{linked}");
    assert_eq!(stored(&env, &urgent_no)["parent_id"], tid);
    let (s, kids) =
        status_and_body(v1(&g, M::GET, &format!("/tickets/{number}/children"), None).await).await;
    assert_eq!(s, 200, "{kids}");
    assert_eq!(kids["items"][0]["number"], json!(urgent_no), "{kids}");
    let (s, p) =
        status_and_body(v1(&g, M::GET, &format!("/tickets/{urgent_no}/parent"), None).await).await;
    assert_eq!(s, 501, "{p}");
    let (s, _) = status_and_body(
        v1(
            &g,
            M::DELETE,
            &format!("/tickets/{number}/children/{urgent_no}"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(s, 501);
    assert_eq!(
        stored(&env, &urgent_no)["parent_id"],
        tid,
        "nothing unlinked"
    );

    // Statistics and statuses in the plugin's real shapes.
    // The differential test in this file creates tickets in the same instance at the
    // same time: the plugin's total lies between the counts read before and after.
    let count = || -> u64 {
        db_one(&env, "SELECT COUNT(*) FROM ost_ticket")
            .and_then(|n| n.parse().ok())
            .expect("a count")
    };
    let before = count();
    let (s, stats) = status_and_body(v1(&g, M::GET, "/stats", None).await).await;
    let after = count();
    assert_eq!(s, 200, "{stats}");
    let total = stats["total"].as_u64().expect("a total");
    assert!(
        (before..=after).contains(&total),
        "{total} not within {before}..={after}: {stats}"
    );
    assert!(
        stats["by_department"]["Maintenance"].as_u64() >= Some(1),
        "{stats}"
    );
    let (s, statuses) = status_and_body(v1(&g, M::GET, "/lookups/statuses", None).await).await;
    assert_eq!(s, 200, "{statuses}");
    let resolved = statuses["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["name"] == json!("Resolved"))
        .cloned()
        .expect("Resolved is listed");
    assert_eq!(resolved["state"], json!("resolved"));

    // Resolve and close: the plugin answers the number as text; the change is reported
    // as made, and it is made.
    let (s, r) = status_and_body(
        v1(
            &g,
            M::POST,
            &format!("/tickets/{urgent_no}/resolve"),
            Some(json!({"body": "replaced the fuse"})),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["status"]["state"], json!("resolved"), "{r}");
    assert_eq!(stored(&env, &urgent_no)["status"], "Resolved");
    let (s, c) = status_and_body(
        v1(
            &g,
            M::POST,
            &format!("/tickets/{number}/close"),
            Some(json!({"note": "done"})),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{c}");
    assert_eq!(c["status"]["state"], json!("closed"), "{c}");
    assert_eq!(stored(&env, &number)["status"], "Closed");
    let (s, seen) = plugin_get(&env, &number).await;
    assert_eq!((s, seen["status"].clone()), (200, json!("Closed")));

    // Delete: osTicket has no trash through the plugin (501); a purge removes it.
    let (s, _) =
        status_and_body(v1(&g, M::DELETE, &format!("/tickets/{urgent_no}"), None).await).await;
    assert_eq!(s, 501);
    let (s, _) = status_and_body(
        v1(
            &g,
            M::DELETE,
            &format!("/tickets/{urgent_no}?purge=true"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(s, 204);
    let left = db_one(
        &env,
        &format!("SELECT COUNT(*) FROM ost_ticket WHERE number = '{urgent_no}'"),
    );
    assert_eq!(left.as_deref(), Some("0"));
    assert_eq!(plugin_get(&env, &urgent_no).await.0, 404);
    let (s, _) =
        status_and_body(v1(&g, M::GET, &format!("/tickets/{urgent_no}"), None).await).await;
    assert_eq!(s, 404);
}

// ---------------------------------------------------------------------------------
// The differential table.

/// One request of the probe: id, method, path (after `/api`), JSON body or raw bytes,
/// the key to send (`Key::Main`, none, or a wrong one), and the ticket it names.
struct Probe {
    id: &'static str,
    method: &'static str,
    path: &'static str,
    body: Option<Body>,
    key: Key,
}

enum Body {
    Json(Value),
    Raw(&'static [u8]),
}

#[derive(Clone, Copy)]
enum Key {
    Main,
    None,
    Wrong,
    /// A key with the create permission only: [`CREATE_ONLY_KEY`] in osTicket, the
    /// `creator` consumer in ticketgate.
    CreateOnly,
}

/// The real instance's key with only `can_create_tickets` (added by the test).
const CREATE_ONLY_KEY: &str = "7C0FFEE0CREATE0ONLY0KEY000000001";

fn probe(id: &'static str, method: &'static str, path: &'static str, body: Option<Value>) -> Probe {
    Probe {
        id,
        method,
        path,
        body: body.map(Body::Json),
        key: Key::Main,
    }
}

/// The creates name their ticket (A…H) so later paths can use its number.
fn create(id: &'static str, name: &'static str, extra: Value) -> (Probe, &'static str) {
    let mut body = json!({"name": "Ann Example", "email": "ann@example.com",
        "subject": format!("Printer {name} {{RUN}}"),
        "message": "data:text/plain;charset=utf-8,Tray 2 jams", "ip": "127.0.0.1"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    (probe(id, "POST", "/tickets.json", Some(body)), name)
}

/// `plugin-probe.py`'s main phase, in its order. Values that name things exist in
/// both helpdesks (osTicket's Maintenance department and ticketgate's Billing do not,
/// so Support and Sales stand in).
fn probes() -> Vec<(Probe, &'static str)> {
    let mut p = vec![
        create("create.plain", "A", json!({})),
        create(
            "create.markdown",
            "B",
            json!({"format": "markdown", "message": "**bold** and _it_\n\n- a\n- b"}),
        ),
        create("create.dept_name", "C", json!({"departmentId": "Sales"})),
        create("create.dept_id", "D", json!({"departmentId": 2})),
        create("create.parent", "E", json!({"parentTicketNumber": "{A}"})),
        create("create.priority", "F", json!({"priority": 3})),
        create("create.duedate", "G", json!({"dueDate": "2030-01-31"})),
        create(
            "create.all",
            "H",
            json!({"format": "markdown", "departmentId": "Sales", "parentTicketNumber": "{A}",
                   "priority": 4, "message": "# Heading\nbody"}),
        ),
        create(
            "create.err.unknown_dept",
            "",
            json!({"departmentId": "Nowhere"}),
        ),
        create("create.err.bad_format", "", json!({"format": "rtf"})),
        create(
            "create.err.unknown_parent",
            "",
            json!({"parentTicketNumber": "999999"}),
        ),
    ];
    let plain = |pr: Probe| (pr, "");
    let x = json!({"name": "x", "email": "x@example.com", "subject": "s {RUN}", "message": "m"});
    p.extend(
        [
            probe(
                "create.err.missing_fields",
                "POST",
                "/tickets.json",
                Some(json!({"subject": "only a subject"})),
            ),
            Probe {
                key: Key::None,
                ..probe(
                    "create.err.no_key",
                    "POST",
                    "/tickets.json",
                    Some(x.clone()),
                )
            },
            Probe {
                key: Key::Wrong,
                ..probe("create.err.bad_key", "POST", "/tickets.json", Some(x))
            },
            probe("get.json", "GET", "/tickets-get.php/{A}.json", None),
            probe("get.xml", "GET", "/tickets-get.php/{A}.xml", None),
            probe(
                "get.markdown_ticket",
                "GET",
                "/tickets-get.php/{B}.json",
                None,
            ),
            probe("get.child", "GET", "/tickets-get.php/{E}.json", None),
            probe(
                "get.err.unknown",
                "GET",
                "/tickets-get.php/999999.json",
                None,
            ),
            probe("get.err.no_ext", "GET", "/tickets-get.php/{A}", None),
            probe(
                "get.err.method",
                "POST",
                "/tickets-get.php/{A}.json",
                Some(json!({})),
            ),
            Probe {
                key: Key::None,
                ..probe("get.err.no_key", "GET", "/tickets-get.php/{A}.json", None)
            },
            probe(
                "update.names",
                "PATCH",
                "/tickets-update.php/{C}.json",
                Some(json!({"departmentId": "Support", "topicId": "Feedback",
                            "statusId": "Resolved", "slaId": "Default SLA"})),
            ),
            probe(
                "update.names.readback",
                "GET",
                "/tickets-get.php/{C}.json",
                None,
            ),
            probe(
                "update.ids",
                "PATCH",
                "/tickets-update.php/{D}.json",
                Some(
                    json!({"departmentId": 1, "topicId": 1, "statusId": 1, "slaId": 1,
                            "staffId": 1, "dueDate": "2030-01-31"}),
                ),
            ),
            probe(
                "update.ids.readback",
                "GET",
                "/tickets-get.php/{D}.json",
                None,
            ),
            probe(
                "update.note",
                "PATCH",
                "/tickets-update.php/{A}.json",
                Some(json!({"note": "internal **note**", "noteTitle": "Probe"})),
            ),
            probe(
                "update.parent",
                "PATCH",
                "/tickets-update.php/{F}.json",
                Some(json!({"parentTicketNumber": "{A}"})),
            ),
            probe(
                "update.priority_ignored",
                "PATCH",
                "/tickets-update.php/{F}.json",
                Some(json!({"priority": "High"})),
            ),
            probe(
                "update.put",
                "PUT",
                "/tickets-update.php/{F}.json",
                Some(json!({"statusId": "Open"})),
            ),
            probe(
                "update.signal_route",
                "PATCH",
                "/tickets/{G}.json",
                Some(json!({"statusId": "Resolved"})),
            ),
            probe(
                "update.signal_route.unknown",
                "PATCH",
                "/tickets/999999.json",
                Some(json!({"statusId": "Resolved"})),
            ),
            probe(
                "update.err.unknown_ticket",
                "PATCH",
                "/tickets-update.php/999999.json",
                Some(json!({"statusId": "Open"})),
            ),
            probe(
                "update.err.unknown_dept",
                "PATCH",
                "/tickets-update.php/{A}.json",
                Some(json!({"departmentId": "Nowhere"})),
            ),
            probe(
                "update.err.unknown_status",
                "PATCH",
                "/tickets-update.php/{A}.json",
                Some(json!({"statusId": "Bogus"})),
            ),
            probe(
                "update.err.bad_duedate",
                "PATCH",
                "/tickets-update.php/{A}.json",
                Some(json!({"dueDate": "not-a-date"})),
            ),
            probe(
                "update.err.empty_body",
                "PATCH",
                "/tickets-update.php/{A}.json",
                Some(json!({})),
            ),
            Probe {
                body: Some(Body::Raw(br#"{"statusId":"#)),
                ..probe(
                    "update.err.bad_json",
                    "PATCH",
                    "/tickets-update.php/{A}.json",
                    None,
                )
            },
            probe(
                "update.err.method",
                "GET",
                "/tickets-update.php/{A}.json",
                None,
            ),
            probe("search.default", "GET", "/tickets-search.php", None),
            probe(
                "search.query",
                "GET",
                "/tickets-search.php?query=Printer%20C%20{RUN}",
                None,
            ),
            probe(
                "search.status",
                "GET",
                "/tickets-search.php?status=open",
                None,
            ),
            probe(
                "search.status_name",
                "GET",
                "/tickets-search.php?status=Resolved",
                None,
            ),
            probe(
                "search.department",
                "GET",
                "/tickets-search.php?department=Sales",
                None,
            ),
            probe(
                "search.limit_offset",
                "GET",
                "/tickets-search.php?limit=2&offset=1",
                None,
            ),
            probe(
                "search.sort_number",
                "GET",
                "/tickets-search.php?sort=number&limit=3",
                None,
            ),
            probe("search.xml", "GET", "/tickets-search.php.xml?limit=1", None),
            probe(
                "search.json_ext",
                "GET",
                "/tickets-search.php.json?limit=1",
                None,
            ),
            probe(
                "search.err.bad_status",
                "GET",
                "/tickets-search.php?status=bogus",
                None,
            ),
            probe(
                "search.err.bad_department",
                "GET",
                "/tickets-search.php?department=Nowhere",
                None,
            ),
            probe(
                "search.err.bad_sort",
                "GET",
                "/tickets-search.php?sort=bogus&limit=1",
                None,
            ),
            probe(
                "search.err.limit_0",
                "GET",
                "/tickets-search.php?limit=0",
                None,
            ),
            probe(
                "search.err.limit_1000",
                "GET",
                "/tickets-search.php?limit=1000",
                None,
            ),
            probe("stats.json", "GET", "/tickets-stats.php", None),
            probe("stats.xml", "GET", "/tickets-stats.php.xml", None),
            probe("statuses.json", "GET", "/tickets-statuses.php", None),
            probe(
                "sub.parent",
                "GET",
                "/tickets-subtickets-parent.php/{E}.json",
                None,
            ),
            probe(
                "sub.children",
                "GET",
                "/tickets-subtickets-list.php/{A}.json",
                None,
            ),
            probe(
                "sub.link",
                "POST",
                "/tickets-subtickets-create.php/{A}.json",
                Some(json!({"childId": "{G}"})),
            ),
            probe(
                "sub.link.err.self",
                "POST",
                "/tickets-subtickets-create.php/{A}.json",
                Some(json!({"childId": "{A}"})),
            ),
            probe(
                "sub.link.err.no_child",
                "POST",
                "/tickets-subtickets-create.php/{A}.json",
                Some(json!({"x": 1})),
            ),
            probe(
                "sub.unlink",
                "DELETE",
                "/tickets-subtickets-unlink.php/{G}.json",
                None,
            ),
            probe(
                "sub.err.unknown",
                "GET",
                "/tickets-subtickets-parent.php/999999.json",
                None,
            ),
            probe("delete", "DELETE", "/tickets-delete.php/{B}.json", None),
            probe(
                "delete.again",
                "DELETE",
                "/tickets-delete.php/{B}.json",
                None,
            ),
            probe("delete.readback", "GET", "/tickets-get.php/{B}.json", None),
            probe(
                "delete.err.method",
                "GET",
                "/tickets-delete.php/{A}.json",
                None,
            ),
        ]
        .into_iter()
        .map(plain),
    );
    p
}

/// Rows where ticketgate deliberately answers otherwise than the real plugin, and why
/// (the README's list of plugin behaviours not imitated says the same).
const DELIBERATE: &[(&str, &str)] = &[
    (
        "create.err.unknown_dept",
        "a create's validation errors are osTicket's core answer (400 text/html \
         \"Unable to create new ticket: validation errors:\" naming every bad field), \
         not the plugin route's first-failure text/plain",
    ),
    (
        "create.err.bad_format",
        "create validation errors in osTicket's core form, see create.err.unknown_dept",
    ),
    (
        "create.err.unknown_parent",
        "create validation errors in osTicket's core form, see create.err.unknown_dept",
    ),
    (
        "create.err.missing_fields",
        "osTicket's core answer (400 with the missing fields), not the plugin route's 500",
    ),
    (
        "create.err.no_key",
        "the plugin's create skips the API key check; ticketgate checks keys (401)",
    ),
    (
        "create.err.bad_key",
        "the plugin's create skips the API key check; ticketgate checks keys (401)",
    ),
    (
        "sub.parent",
        "the plugin's subticket endpoints die of PHP memory exhaustion (200 text/html); \
         ticketgate answers what their source means to answer",
    ),
    (
        "sub.children",
        "the plugin's subticket endpoints crash, see sub.parent",
    ),
    (
        "sub.link",
        "the plugin's subticket endpoints crash, see sub.parent",
    ),
    (
        "sub.unlink",
        "the plugin's subticket endpoints crash, see sub.parent",
    ),
    (
        "sub.err.unknown",
        "the plugin's subticket endpoints crash, see sub.parent",
    ),
    (
        "noperm.sub.parent",
        "the plugin's subticket endpoints crash, see sub.parent",
    ),
];

/// `plugin-probe.py`'s "noperm" phase: the calls that need a permission, made with a
/// key that may only create (the plugin's create checks no key at all).
fn limited_probes() -> Vec<Probe> {
    let limited = |p: Probe| Probe {
        key: Key::CreateOnly,
        ..p
    };
    [
        probe("noperm.get", "GET", "/tickets-get.php/{A}.json", None),
        probe(
            "noperm.update",
            "PATCH",
            "/tickets-update.php/{A}.json",
            Some(json!({"statusId": "Open"})),
        ),
        probe(
            "noperm.update.signal_route",
            "PATCH",
            "/tickets/{A}.json",
            Some(json!({"statusId": "Open"})),
        ),
        probe("noperm.search", "GET", "/tickets-search.php?limit=1", None),
        probe("noperm.stats", "GET", "/tickets-stats.php", None),
        probe("noperm.statuses", "GET", "/tickets-statuses.php", None),
        probe("noperm.delete", "DELETE", "/tickets-delete.php/{A}.json", None),
        probe("noperm.sub.parent", "GET", "/tickets-subtickets-parent.php/{A}.json", None),
        probe(
            "noperm.create",
            "POST",
            "/tickets.json",
            Some(json!({"name": "x", "email": "x@example.com", "subject": "s {RUN}", "message": "m"})),
        ),
    ]
    .into_iter()
    .map(limited)
    .collect()
}

/// The requests whose answers are compared as documents only where both succeed:
/// whether a given ticket matches a filter depends on everything else in each helpdesk.
fn substitute(s: &str, nums: &HashMap<&str, String>, run: &str) -> String {
    let mut out = s.replace("{RUN}", run);
    for (k, v) in nums {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

async fn send(base: &str, key: &str, p: &Probe, nums: &HashMap<&str, String>, run: &str) -> Answer {
    let method = reqwest::Method::from_bytes(p.method.as_bytes()).expect("a method");
    let mut r = client().request(method, format!("{base}{}", substitute(p.path, nums, run)));
    match p.key {
        Key::Main => r = r.header("X-API-Key", key),
        Key::Wrong => r = r.header("X-API-Key", "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"),
        Key::CreateOnly if key == "demo-key" => r = r.header("X-API-Key", "creator-key"),
        Key::CreateOnly => r = r.header("X-API-Key", CREATE_ONLY_KEY),
        Key::None => {}
    }
    match &p.body {
        Some(Body::Json(v)) => {
            let text = substitute(&v.to_string(), nums, run);
            r = r.header("Content-Type", "application/json").body(text);
        }
        Some(Body::Raw(b)) => {
            r = r
                .header("Content-Type", "application/json")
                .body(b.to_vec())
        }
        None => {}
    }
    let resp = r.send().await.expect("the server answers");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = resp.text().await.unwrap_or_default();
    Answer {
        status,
        content_type,
        body,
    }
}

/// `type/subtype` and charset, lower-cased, without spaces.
fn media(ct: &str) -> String {
    ct.to_ascii_lowercase().replace(' ', "")
}

/// Keys the plugin itself sends only sometimes: a thread entry has `userId` when a user
/// wrote it, `staffId`/`staff` when staff did, files when it has some; ticketgate's
/// store knows no user ids. `attachments` is ticketgate's addition on a fetched ticket.
const OPTIONAL_KEYS: &[&str] = &[
    "userId",
    "staffId",
    "staff",
    "attachments",
    "attachment_count",
];
/// Objects keyed by names (departments), compared by the shape of their values.
const NAME_KEYED: &[&str] = &["by_department", "departments"];

/// Where two JSON documents differ in shape (keys, types); null matches anything.
fn shape_diff(path: &str, real: &Value, ours: &Value, out: &mut Vec<String>) {
    match (real, ours) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(a), Value::Object(b)) => {
            if NAME_KEYED.iter().any(|k| path.ends_with(k)) {
                if let (Some(x), Some(y)) = (a.values().next(), b.values().next()) {
                    shape_diff(&format!("{path}.*"), x, y, out);
                }
                return;
            }
            let ka: BTreeSet<&String> = a.keys().collect();
            let kb: BTreeSet<&String> = b.keys().collect();
            for k in ka.symmetric_difference(&kb) {
                if !OPTIONAL_KEYS.contains(&k.as_str()) {
                    let side = if a.contains_key(*k) {
                        "only real"
                    } else {
                        "only ours"
                    };
                    out.push(format!("{path}.{k}: {side}"));
                }
            }
            for k in ka.intersection(&kb) {
                shape_diff(&format!("{path}.{k}"), &a[*k], &b[*k], out);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if let (Some(x), Some(y)) = (a.first(), b.first()) {
                shape_diff(&format!("{path}[]"), x, y, out);
            }
        }
        // An empty PHP array is `[]` where a full one is an object.
        (Value::Array(a), Value::Object(_)) | (Value::Object(_), Value::Array(a))
            if a.is_empty() => {}
        (a, b) => {
            let kind = |v: &Value| match v {
                Value::Bool(_) => "bool",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
                Value::Null => "null",
            };
            if kind(a) != kind(b) {
                out.push(format!("{path}: {} vs {}", kind(a), kind(b)));
            }
        }
    }
}

/// The element names of an XML document, in a set.
fn xml_names(xml: &str) -> BTreeSet<String> {
    xml.split('<')
        .skip(1)
        .filter(|s| !s.starts_with(['/', '?', '!']))
        .map(|s| {
            s.split(|c: char| c == '>' || c == '/' || c.is_whitespace())
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

/// Why two answers differ, or None when they match.
fn compare(real: &Answer, ours: &Answer) -> Option<String> {
    if real.status != ours.status {
        return Some(format!(
            "status {} vs {} ({:?} vs {:?})",
            real.status,
            ours.status,
            real.body.chars().take(80).collect::<String>(),
            ours.body.chars().take(80).collect::<String>()
        ));
    }
    if media(&real.content_type) != media(&ours.content_type) {
        return Some(format!(
            "content type {:?} vs {:?} ({:?} vs {:?})",
            real.content_type,
            ours.content_type,
            real.body.chars().take(80).collect::<String>(),
            ours.body.chars().take(80).collect::<String>()
        ));
    }
    let ct = media(&real.content_type);
    if ct.starts_with("application/json") {
        let (Ok(a), Ok(b)) = (
            serde_json::from_str::<Value>(&real.body),
            serde_json::from_str::<Value>(&ours.body),
        ) else {
            return Some("a body is not JSON".to_owned());
        };
        // Errors must say the same thing.
        if a.get("error").is_some() && a.get("message") != b.get("message") {
            return Some(format!("message {} vs {}", a["message"], b["message"]));
        }
        let mut diffs = Vec::new();
        shape_diff("$", &a, &b, &mut diffs);
        return (!diffs.is_empty()).then(|| diffs.join("; "));
    }
    if ct.starts_with("application/xml") {
        let (a, b) = (xml_names(&real.body), xml_names(&ours.body));
        let only: Vec<_> = a.symmetric_difference(&b).collect();
        return (!only.is_empty()).then(|| format!("XML elements differ: {only:?}"));
    }
    // Text: a ticket number on both sides, or the same words.
    let (a, b) = (real.body.trim(), ours.body.trim());
    let number = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if (number(a) && number(b)) || a == b {
        None
    } else {
        Some(format!("text {a:?} vs {b:?}"))
    }
}

#[tokio::test]
async fn differential_real_plugin_vs_ticketgate_face() {
    let Some(env) = live::vendor(Vendor::OsTicketPlugin) else {
        return;
    };
    let face = Gateway::start(&serving_config(""));
    let run = run_id();
    let real_base = format!("{}/api", env["OSTICKET_URL"]);
    let ours_base = face.url("/api");
    let mut real_nums: HashMap<&str, String> = HashMap::new();
    let mut our_nums: HashMap<&str, String> = HashMap::new();
    let mut report = Vec::new();
    let mut failures = Vec::new();
    // The limited key, as `plugin-probe.py`'s "noperm" phase had it.
    db(
        &env,
        &format!(
            "INSERT IGNORE INTO ost_api_key (isactive, ipaddr, apikey, can_create_tickets, \
             can_exec_cron, notes, updated, created) VALUES (1, '127.0.0.1', \
             '{CREATE_ONLY_KEY}', 1, 0, 'ticketgate live test: create only', NOW(), NOW())"
        ),
    );
    let mut probes = probes();
    assert_eq!(
        probes.len(),
        67,
        "plugin-probe.py's main phase has 67 requests"
    );
    probes.extend(limited_probes().into_iter().map(|p| (p, "")));
    for (p, name) in &probes {
        let real = send(&real_base, &env["OSTICKET_API_KEY"], p, &real_nums, &run).await;
        let ours = send(&ours_base, "demo-key", p, &our_nums, &run).await;
        if !name.is_empty() {
            for (nums, a) in [(&mut real_nums, &real), (&mut our_nums, &ours)] {
                assert_eq!(a.status, 201, "{}: {}", p.id, a.body);
                nums.insert(name, a.body.trim().to_owned());
            }
        }
        let verdict = compare(&real, &ours);
        let deliberate = DELIBERATE.iter().find(|(id, _)| *id == p.id);
        let line = format!(
            "{:28} real {} {:32} ours {} {:32} {}",
            p.id,
            real.status,
            real.content_type,
            ours.status,
            ours.content_type,
            match (&verdict, deliberate) {
                (None, None) => "same".to_owned(),
                (None, Some(_)) => "same (listed as deliberate: drop it from the list)".to_owned(),
                (Some(_), Some((_, why))) => format!("DELIBERATE: {why}"),
                (Some(d), None) => format!("DIFFERENT: {d}"),
            }
        );
        report.push(line);
        match (verdict, deliberate) {
            (Some(d), None) => failures.push(format!("{}: {d}", p.id)),
            (None, Some(_)) => failures.push(format!(
                "{}: now matches, but is listed as a deliberate difference",
                p.id
            )),
            _ => {}
        }
    }
    eprintln!("{}", report.join("\n"));
    let same = report.iter().filter(|l| l.ends_with(" same")).count();
    eprintln!(
        "{same} of {} rows the same, {} deliberate differences",
        probes.len(),
        DELIBERATE.len()
    );
    assert!(
        failures.is_empty(),
        "rows that differ:\n{}",
        failures.join("\n")
    );
}
