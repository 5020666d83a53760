//! Many upstreams behind one gateway: routing rules send creates to the upstream they
//! name, and every id the gateway hands out finds its way back, in every dialect.
//!
//! Gateway A serves every dialect over two upstreams: its own embedded store `local`
//! (the default) and `central`, a second real ticketgate process B with an embedded
//! store of its own, reached over loopback. One rule sends department `IT` to
//! `central`. B hands out the same small ids as A's store, so the test also shows that
//! they never collide.

mod support;

use serde_json::{Value, json};
use support::{
    ALL_DIALECTS, DEMO_BEARER, DIALECT_CONSUMERS, Gateway, canonical_config, client, json_of,
    search_items,
};

fn routed_config(central: &Gateway) -> String {
    format!(
        "{ALL_DIALECTS}
[upstreams.local]
kind = \"embedded\"
durability = \"normal\"

[upstreams.central]
kind = \"ticketgate\"
url = \"{}\"
bearer_key = \"demo-key\"

[routing]
default = \"local\"

[[routing.rules]]
department = \"IT\"
upstream = \"central\"
{DIALECT_CONSUMERS}",
        central.url("/v1")
    )
}

async fn create(g: &Gateway, subject: &str, department: Option<&str>, key: Option<&str>) -> Value {
    let mut body = json!({
        "subject": subject,
        "body": format!("{subject}, in detail"),
        "requester": {"name": "Ann", "email": "ann@example.com"},
    });
    if let Some(d) = department {
        body["department"] = json!(d);
    }
    let mut req = client()
        .post(g.url("/v1/tickets"))
        .header("Authorization", DEMO_BEARER)
        .json(&body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    json_of(req.send().await.expect("create answers"), 201).await
}

async fn get(g: &Gateway, id: &str) -> reqwest::Response {
    client()
        .get(g.url(&format!("/v1/tickets/{id}")))
        .header("Authorization", DEMO_BEARER)
        .send()
        .await
        .expect("get answers")
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string in {v}"))
}

#[tokio::test]
async fn department_it_goes_to_one_upstream_and_every_id_finds_its_way_home() {
    // The id map on each state backend: SQLite, then PostgreSQL when one answers.
    for pg in support::state_backends(
        "department_it_goes_to_one_upstream_and_every_id_finds_its_way_home",
    ) {
        let state = pg.as_ref().map(support::postgres_state).unwrap_or_default();
        println!(
            "A's state: {}",
            if pg.is_some() { "PostgreSQL" } else { "SQLite" }
        );
        every_id_finds_its_way_home(&state).await;
    }
}

async fn every_id_finds_its_way_home(state: &str) {
    let central = Gateway::start(&canonical_config(""));
    let a = Gateway::start(&format!("{}{state}", routed_config(&central)));

    // A create the rule does not match stays on A's own store, with its own ids.
    let printer = create(&a, "Printer jams", Some("Support"), None).await;
    assert_eq!(str_of(&printer, "id"), "1", "{printer}");
    // Department IT goes to B.
    let vpn = create(&a, "VPN drops", Some("IT"), None).await;
    let vpn_id = str_of(&vpn, "id").to_owned();
    let gid: u64 = vpn_id.parse().expect("a plain-number gateway id");
    assert!(
        gid > 1_000_000_000,
        "a gateway id above routing.id_base: {vpn}"
    );
    assert_eq!(str_of(&vpn, "number"), vpn_id);

    // Where each landed, read straight from each store's own API.
    let on_b = search_items(&central, "VPN drops").await;
    assert_eq!(on_b.len(), 1, "the IT ticket is on B: {on_b:?}");
    let b_id = str_of(&on_b[0], "id").to_owned();
    assert!(search_items(&central, "Printer jams").await.is_empty());
    // B's own ids are small, like A's store's: the same "1" names two tickets upstream.
    assert_eq!(b_id, "1");

    // Through A, each id reaches its own ticket.
    let got = json_of(get(&a, "1").await, 200).await;
    assert_eq!(str_of(&got, "subject"), "Printer jams");
    let got = json_of(get(&a, &vpn_id).await, 200).await;
    assert_eq!(str_of(&got, "subject"), "VPN drops");
    assert_eq!(str_of(&got, "id"), vpn_id);

    // A reply and an update through A land on B's ticket.
    let reply = client()
        .post(a.url(&format!("/v1/tickets/{vpn_id}/entries")))
        .header("Authorization", DEMO_BEARER)
        .json(&json!({"kind": "response", "body": "Try the new profile"}))
        .send()
        .await
        .unwrap();
    json_of(reply, 201).await;
    let patched = client()
        .patch(a.url(&format!("/v1/tickets/{vpn_id}")))
        .header("Authorization", DEMO_BEARER)
        .json(&json!({"subject": "VPN drops every hour"}))
        .send()
        .await
        .unwrap();
    let patched = json_of(patched, 200).await;
    assert_eq!(
        str_of(&patched, "id"),
        vpn_id,
        "an update answers the gateway id"
    );
    let on_b = json_of(get(&central, &b_id).await, 200).await;
    assert_eq!(str_of(&on_b, "subject"), "VPN drops every hour");
    let entries = on_b["entries"].as_array().cloned().unwrap_or_default();
    assert!(
        entries
            .iter()
            .any(|e| e["body"].to_string().contains("Try the new profile")),
        "the reply is on B's ticket: {on_b}"
    );

    // The osTicket plugin's endpoint finds it by the number A handed out.
    let ost = client()
        .get(a.url(&format!("/api/tickets-get.php/{vpn_id}.json")))
        .header("X-API-Key", "demo-key")
        .send()
        .await
        .unwrap();
    let ost = json_of(ost, 200).await;
    assert!(ost.to_string().contains("VPN drops every hour"), "{ost}");

    // An ITSM-NG client's integer id reaches it too.
    let session = json_of(
        client()
            .get(a.url("/apirest.php/initSession"))
            .header("Authorization", "user_token demo-user-token")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let token = str_of(&session, "session_token").to_owned();
    let glpi = json_of(
        client()
            .get(a.url(&format!("/apirest.php/Ticket/{vpn_id}")))
            .header("Session-Token", &token)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(glpi["id"].as_u64(), Some(gid), "{glpi}");
    assert_eq!(str_of(&glpi, "name"), "VPN drops every hour");

    // An osTicket create (no department) stays on A's store, numbered by it.
    let resp = client()
        .post(a.url("/api/tickets.json"))
        .header("X-API-Key", "demo-key")
        .json(&json!({"name": "Bo", "email": "bo@example.com", "subject": "Badge broken", "message": "data:text/plain,It beeps"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let number = resp.text().await.unwrap();
    assert!(number.trim().parse::<u64>().expect("a number") < 1_000_000_000);
    assert!(search_items(&central, "Badge broken").await.is_empty());

    // An Idempotency-Key replays the routed create with the same gateway id.
    let first = create(&a, "Laptop won't boot", Some("IT"), Some("k-1")).await;
    let again = create(&a, "Laptop won't boot", Some("IT"), Some("k-1")).await;
    assert_eq!(first["id"], again["id"]);
    assert_eq!(search_items(&central, "Laptop won't boot").await.len(), 1);

    // An id no upstream has is a 404, not a guess.
    support::problem(get(&a, "1000999999").await, 404).await;

    // Capabilities say what each upstream can do.
    let caps = json_of(
        client()
            .get(a.url("/v1/capabilities"))
            .header("Authorization", DEMO_BEARER)
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let names: Vec<&str> = caps["upstreams"]
        .as_array()
        .expect("one entry per upstream")
        .iter()
        .map(|u| str_of(u, "name"))
        .collect();
    assert_eq!(names, ["central", "local"], "{caps}");
    assert!(
        caps["upstreams"][0]["operations"]
            .as_array()
            .is_some_and(|ops| ops.iter().any(|o| o == "create")),
        "{caps}"
    );
}

#[tokio::test]
async fn the_id_map_survives_a_restart() {
    for pg in support::state_backends("the_id_map_survives_a_restart") {
        let state = pg.as_ref().map(support::postgres_state).unwrap_or_default();
        let central = Gateway::start(&canonical_config(""));
        let tmp = tempfile::tempdir().unwrap();
        let config = format!("{}{state}", routed_config(&central));
        let mut a = Gateway::start_in(tmp.path(), &config);
        let vpn = create(&a, "Wifi flaps", Some("IT"), None).await;
        let id = str_of(&vpn, "id").to_owned();
        a.stop();
        let a = Gateway::start_in(tmp.path(), &config);
        let got = json_of(get(&a, &id).await, 200).await;
        assert_eq!(str_of(&got, "subject"), "Wifi flaps", "state {state:?}");
        assert_eq!(str_of(&got, "id"), id);
    }
}

/// Two gateway instances over one PostgreSQL state, in front of the same two
/// upstreams (two real ticketgate processes, each with an embedded store): the id map
/// is shared, so an id one instance handed out resolves through the other, and
/// numbers come from one allocation, so creates through both at once never share one.
#[tokio::test]
async fn two_instances_on_one_postgres_state_share_the_id_map() {
    let Some(db) = ticketgate_store::ScratchDatabase::for_test(
        "two_instances_on_one_postgres_state_share_the_id_map",
    ) else {
        return;
    };
    let home = Gateway::start(&canonical_config(""));
    let central = Gateway::start(&canonical_config(""));
    let config = format!(
        "[dialects.canonical]
prefix = \"/v1\"

[upstreams.home]
kind = \"ticketgate\"
url = \"{}\"
bearer_key = \"demo-key\"

[upstreams.central]
kind = \"ticketgate\"
url = \"{}\"
bearer_key = \"demo-key\"

[routing]
default = \"home\"
id_base = 5000000

[[routing.rules]]
department = \"IT\"
upstream = \"central\"
{DIALECT_CONSUMERS}{}",
        home.url("/v1"),
        central.url("/v1"),
        support::postgres_state(&db)
    );
    let one = Gateway::start(&config);
    let two = Gateway::start(&config);

    // A routed ticket made through one is read, updated and found through the other.
    let vpn = create(&one, "VPN drops", Some("IT"), None).await;
    let vpn_id = str_of(&vpn, "id").to_owned();
    let n: u64 = vpn_id.parse().expect("a plain-number gateway id");
    assert!(n > 5_000_000, "routing.id_base is respected: {vpn}");
    let got = json_of(get(&two, &vpn_id).await, 200).await;
    assert_eq!(str_of(&got, "subject"), "VPN drops");
    assert_eq!(str_of(&got, "id"), vpn_id);
    let patched = client()
        .patch(two.url(&format!("/v1/tickets/{vpn_id}")))
        .header("Authorization", DEMO_BEARER)
        .json(&json!({"subject": "VPN drops hourly"}))
        .send()
        .await
        .unwrap();
    assert_eq!(str_of(&json_of(patched, 200).await, "id"), vpn_id);
    let got = json_of(get(&one, &vpn_id).await, 200).await;
    assert_eq!(str_of(&got, "subject"), "VPN drops hourly");
    // A ticket of the home upstream keeps its own id on both.
    let printer = create(&two, "Printer jams", Some("Support"), None).await;
    let printer_id = str_of(&printer, "id").to_owned();
    assert!(printer_id.parse::<u64>().unwrap() < 5_000_000, "{printer}");
    let got = json_of(get(&one, &printer_id).await, 200).await;
    assert_eq!(str_of(&got, "subject"), "Printer jams");

    // Creates through both at once: every ticket its own number.
    const N: usize = 30;
    let mut tasks = Vec::new();
    for i in 0..N {
        let url = if i % 2 == 0 { &one } else { &two }.url("/v1/tickets");
        tasks.push(tokio::spawn(async move {
            let subject = format!("Concurrent {i:02}");
            let resp = client()
                .post(url)
                .header("Authorization", DEMO_BEARER)
                .json(&json!({
                    "subject": subject,
                    "body": "at once",
                    "department": "IT",
                    "requester": {"email": "ann@example.com"},
                }))
                .send()
                .await
                .expect("create answers");
            let t = json_of(resp, 201).await;
            (
                subject,
                str_of(&t, "id").to_owned(),
                str_of(&t, "number").to_owned(),
            )
        }));
    }
    let mut made = Vec::new();
    for t in tasks {
        made.push(t.await.expect("a create task"));
    }
    let ids: std::collections::HashSet<&str> = made.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), N, "no two tickets share a number: {made:?}");
    assert!(!ids.contains(vpn_id.as_str()));
    for (i, (subject, id, number)) in made.iter().enumerate() {
        assert_eq!(id, number, "a gateway id is its number too");
        assert!(id.parse::<u64>().unwrap() > 5_000_000);
        // Each resolves through the instance that did not make it.
        let other = if i % 2 == 0 { &two } else { &one };
        let got = json_of(get(other, id).await, 200).await;
        assert_eq!(
            str_of(&got, "subject"),
            subject,
            "{id} through the other instance"
        );
        assert_eq!(str_of(&got, "id"), id);
    }
    // They all landed on the central upstream, once each.
    assert_eq!(
        support::canonical_total(&central, "q=Concurrent").await,
        N as u64
    );
}

/// One gateway over two embedded stores, `local` and `it` (department IT), for paging
/// a search that spans both.
fn two_stores_config() -> String {
    format!(
        "[dialects.canonical]
prefix = \"/v1\"

[upstreams.local]
kind = \"embedded\"
durability = \"normal\"

[upstreams.it]
kind = \"embedded\"
durability = \"normal\"
path = \"it.sqlite\"

[routing]
default = \"local\"

[[routing.rules]]
department = \"IT\"
upstream = \"it\"
{DIALECT_CONSUMERS}"
    )
}

/// An RFC 3339 UTC time whose text sorts as the time does (the fraction padded).
fn sortable(t: &str) -> String {
    let t = t.trim_end_matches('Z');
    match t.split_once('.') {
        Some((whole, fraction)) => format!("{whole}.{fraction:0<9}"),
        None => format!("{t}.000000000"),
    }
}

async fn search(g: &Gateway, query: &str) -> reqwest::Response {
    client()
        .get(g.url(&format!("/v1/tickets?{query}")))
        .header("Authorization", DEMO_BEARER)
        .send()
        .await
        .expect("search answers")
}

/// Follow `next_cursor` from the first page of `query` to the end, creating a ticket
/// that the search matches (in each store in turn) between every two pages. Returns
/// `(id, created_at)` of every ticket shown, in the order shown.
async fn page_through(
    g: &Gateway,
    query: &str,
    created_between: &mut Vec<String>,
) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    let mut url = query.to_owned();
    for round in 0.. {
        assert!(round < 50, "paging ends");
        let page = json_of(search(g, &url).await, 200).await;
        assert_eq!(page["partial"], false, "{page}");
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 3, "{page}");
        for t in items {
            seen.push((
                str_of(t, "id").to_owned(),
                sortable(str_of(t, "created_at")),
            ));
        }
        let Some(cursor) = page["next_cursor"].as_str() else {
            assert!(page["next_cursor"].is_null(), "{page}");
            break;
        };
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "a URL-safe cursor: {cursor}"
        );
        // A ticket created in either store between two pages.
        let department = if round % 2 == 0 { "IT" } else { "Support" };
        let t = create(
            g,
            &format!("Cursor late {round} walrus"),
            Some(department),
            None,
        )
        .await;
        created_between.push(str_of(&t, "id").to_owned());
        url = format!("{query}&cursor={cursor}");
    }
    seen
}

#[tokio::test]
async fn a_cursor_pages_across_upstreams_without_duplicates_or_gaps() {
    let g = Gateway::start(&two_stores_config());
    // Eleven tickets over both stores, in an uneven mix.
    let mut at_start = Vec::new();
    for (i, department) in [
        "IT", "Support", "Support", "IT", "IT", "IT", "Support", "IT", "Support", "Support", "IT",
    ]
    .iter()
    .enumerate()
    {
        let t = create(&g, &format!("Cursor {i:02} walrus"), Some(department), None).await;
        at_start.push(str_of(&t, "id").to_owned());
    }
    let routed = at_start
        .iter()
        .filter(|id| id.parse::<u64>().unwrap() > 1_000_000_000)
        .count();
    assert_eq!(
        routed, 6,
        "six tickets live in the second store: {at_start:?}"
    );

    for (query, newest_first) in [
        ("q=walrus&sort=-created&limit=3", true),
        ("q=walrus&sort=created&limit=3", false),
    ] {
        let mut late = Vec::new();
        let before: std::collections::HashSet<String> = {
            let all = json_of(search(&g, "q=walrus&limit=1000").await, 200).await;
            all["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| str_of(t, "id").to_owned())
                .collect()
        };
        let seen = page_through(&g, query, &mut late).await;
        // No ticket twice.
        let ids: Vec<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
        let unique: std::collections::HashSet<&str> = ids.iter().copied().collect();
        assert_eq!(
            unique.len(),
            ids.len(),
            "{query}: a ticket shown twice: {ids:?}"
        );
        // Every ticket that existed when paging began, once.
        for id in &before {
            assert!(
                unique.contains(id.as_str()),
                "{query}: ticket {id} was skipped: {ids:?}"
            );
        }
        // In the requested order, with no ticket shown out of place.
        let times: Vec<&str> = seen.iter().map(|(_, t)| t.as_str()).collect();
        let mut sorted = times.clone();
        sorted.sort();
        if newest_first {
            sorted.reverse();
        }
        assert_eq!(times, sorted, "{query}: shown in creation order");
        if newest_first {
            // Tickets created meanwhile are newer than the cursor: not shown.
            assert_eq!(ids.len(), before.len(), "{query}: {ids:?}");
        } else {
            // Oldest first, the tickets created while paging come at the end.
            assert!(
                late.iter().all(|id| unique.contains(id.as_str())),
                "{query}: {late:?} in {ids:?}"
            );
        }
    }

    // A cursor that was altered is refused, in the canonical problem format.
    let first = json_of(search(&g, "q=walrus&sort=-created&limit=2").await, 200).await;
    let cursor = str_of(&first, "next_cursor").to_owned();
    let mut chars: Vec<char> = cursor.chars().collect();
    let i = chars.len() / 2;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    let p = support::problem(
        search(
            &g,
            &format!("q=walrus&sort=-created&limit=2&cursor={tampered}"),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(p["field"], "cursor", "{p}");
    let p = support::problem(search(&g, "q=walrus&cursor=not-a-cursor").await, 400).await;
    assert_eq!(p["field"], "cursor", "{p}");
    // A cursor given with another query is refused; the limit may change.
    for other in [
        "q=kiosk&sort=-created",
        "q=walrus&sort=created",
        "q=walrus&sort=-created&department=IT",
    ] {
        let p = support::problem(search(&g, &format!("{other}&cursor={cursor}")).await, 400).await;
        assert_eq!(p["field"], "cursor", "{other}: {p}");
        assert!(str_of(&p, "detail").contains("another search"), "{p}");
    }
    // Nor does another consumer's cursor continue its search.
    let p = support::problem(
        client()
            .get(g.url(&format!(
                "/v1/tickets?q=walrus&sort=-created&limit=2&cursor={cursor}"
            )))
            .header("Authorization", "Bearer reader-key")
            .send()
            .await
            .unwrap(),
        400,
    )
    .await;
    assert!(str_of(&p, "detail").contains("another search"), "{p}");
    let next = json_of(
        search(
            &g,
            &format!("q=walrus&sort=-created&limit=5&cursor={cursor}"),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(next["items"].as_array().map(Vec::len), Some(5), "{next}");
    assert_eq!(next["offset"], 2, "the offset the page stands at: {next}");
    // And a cursor with an offset is one too many.
    let p = support::problem(
        search(
            &g,
            &format!("q=walrus&sort=-created&offset=2&cursor={cursor}"),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(p["field"], "offset", "{p}");
}

/// An upstream that is down while a client pages by cursor: the page says it is
/// partial, and the upstream keeps its place, so once it is back its tickets come on
/// a later page: each ticket still shown exactly once.
#[tokio::test]
async fn a_cursor_keeps_the_place_of_an_upstream_that_was_down() {
    let mut central = Gateway::start(&canonical_config(""));
    let central_config = std::fs::read_to_string(&central.config).unwrap();
    let a = Gateway::start(&routed_config(&central));
    let mut made = Vec::new();
    for (i, department) in [
        "Support", "IT", "Support", "IT", "IT", "Support", "IT", "Support",
    ]
    .iter()
    .enumerate()
    {
        let t = create(&a, &format!("Outage {i} heron"), Some(department), None).await;
        made.push(str_of(&t, "id").to_owned());
    }
    let ids_of = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|t| str_of(t, "id").to_owned())
            .collect()
    };
    let first = json_of(search(&a, "q=heron&sort=created&limit=3").await, 200).await;
    assert_eq!(first["partial"], false, "{first}");
    let mut seen = ids_of(&first);
    assert_eq!(seen, made[..3].to_vec(), "{first}");
    let mut cursor = str_of(&first, "next_cursor").to_owned();

    central.stop();
    let partial = json_of(
        search(&a, &format!("q=heron&sort=created&limit=3&cursor={cursor}")).await,
        200,
    )
    .await;
    assert_eq!(partial["partial"], true, "{partial}");
    assert_eq!(partial["upstreams"]["unavailable"][0]["name"], "central");
    let shown = ids_of(&partial);
    assert!(
        shown
            .iter()
            .all(|id| id.parse::<u64>().unwrap() < 1_000_000_000),
        "only the local store's tickets: {partial}"
    );
    seen.extend(shown);
    cursor = str_of(&partial, "next_cursor").to_owned();

    let _central = Gateway::start_listen(&central.dir, &central_config, &central.addr);
    for round in 0.. {
        assert!(round < 10, "paging ends");
        let page = json_of(
            search(&a, &format!("q=heron&sort=created&limit=3&cursor={cursor}")).await,
            200,
        )
        .await;
        assert_eq!(page["partial"], false, "{page}");
        seen.extend(ids_of(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    let mut sorted_made = made.clone();
    sorted_made.sort();
    assert_eq!(sorted_seen, sorted_made, "every ticket once: {seen:?}");
}

/// A message for the canonical face's `message/rfc822` create.
async fn mail(g: &Gateway, raw: &str) -> reqwest::Response {
    client()
        .post(g.url("/v1/tickets"))
        .header("Authorization", DEMO_BEARER)
        .header("Content-Type", "message/rfc822")
        .body(raw.replace('\n', "\r\n"))
        .send()
        .await
        .expect("the mail create answers")
}

fn message(from: &str, id: &str, subject: &str, in_reply_to: Option<&str>, body: &str) -> String {
    let reply = in_reply_to
        .map(|r| format!("In-Reply-To: <{r}>\nReferences: <{r}>\n"))
        .unwrap_or_default();
    format!(
        "From: {from}\nTo: help@example.com\nSubject: {subject}\nMessage-ID: <{id}>\n{reply}Date: Thu, 03 Dec 2026 10:00:00 +0000\nContent-Type: text/plain; charset=utf-8\n\n{body}\n"
    )
}

/// Mail follows the rules too: a message from the domain a rule names opens its
/// ticket on that rule's upstream, through every way mail comes in (the canonical
/// `message/rfc822`, osTicket's `tickets.email`, `ticketgate pipe`); a reply finds
/// it there by In-Reply-To and by the number the helpdesk that holds it mails (its
/// own), and lands on it rather than opening a ticket at home; mail from elsewhere
/// stays home.
#[tokio::test]
async fn mail_is_routed_by_the_rules_and_replies_find_their_ticket_where_it_lives() {
    let central = Gateway::start(&canonical_config(""));
    let config = format!(
        "{}\n[pipe]\nconsumer = \"demo\"\n",
        routed_config(&central)
            .replace("department = \"IT\"", "requester_domain = \"acme.example\"",)
    );
    let a = Gateway::start(&config);

    // 0. Mail from anywhere else stays home (and takes A's first number, which B's
    //    first ticket will have too).
    let home = message(
        "Di Home <di@example.org>",
        "m0@example.org",
        "Kettle leaks",
        None,
        "The kettle leaks.",
    );
    let kettle = json_of(mail(&a, &home).await, 201).await;
    let kettle_number = str_of(&kettle, "number").to_owned();
    assert!(search_items(&central, "Kettle").await.is_empty());

    // 1. A new message from acme.example: a ticket on B, answered with A's gateway ids.
    let first = message(
        "Bo Acme <bo@acme.example>",
        "m1@acme.example",
        "Badge reader broken",
        None,
        "The badge reader at the door is broken.",
    );
    let created = json_of(mail(&a, &first).await, 201).await;
    let gid = str_of(&created, "id").to_owned();
    assert!(
        gid.parse::<u64>().unwrap() > 1_000_000_000,
        "a gateway id: {created}"
    );
    let on_b = search_items(&central, "Badge reader").await;
    assert_eq!(on_b.len(), 1, "the ticket is on B: {on_b:?}");
    let b_id = str_of(&on_b[0], "id").to_owned();
    let b_number = str_of(&on_b[0], "number").to_owned();
    assert_eq!(
        b_number, kettle_number,
        "both helpdesks number from the same start"
    );
    // Through A (a search over both upstreams) it is there once.
    assert_eq!(search_items(&a, "Badge reader").await.len(), 1);

    // 2. A reply by In-Reply-To lands on B's ticket, answered with the gateway id.
    let reply = message(
        "Bo Acme <bo@acme.example>",
        "m2@acme.example",
        "Re: Badge reader broken",
        Some("m1@acme.example"),
        "It beeps red now.",
    );
    let replied = json_of(mail(&a, &reply).await, 200).await;
    assert_eq!(str_of(&replied, "ticket_id"), gid, "{replied}");
    let on_b_ticket = json_of(get(&central, &b_id).await, 200).await;
    let bodies: Vec<&str> = on_b_ticket["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["body"]["content"].as_str())
        .collect();
    assert!(
        bodies.iter().any(|b| b.contains("It beeps red now.")),
        "{on_b_ticket}"
    );

    // 3. A reply quoting only B's own number in the subject (what B would mail) lands
    //    there too, sent in through osTicket's tickets.email — although A's own store
    //    has a ticket with that number, whose requester is someone else.
    let tagged = message(
        "Bo Acme <bo@acme.example>",
        "m3@acme.example",
        &format!("Re: [#{b_number}] Badge reader broken"),
        None,
        "Fixed by itself, thanks.",
    );
    let resp = client()
        .post(a.url("/api/tickets.email"))
        .header("X-API-Key", "demo-key")
        .header("Content-Type", "message/rfc822")
        .body(tagged.replace('\n', "\r\n"))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert!(status.is_success(), "{status} {text}");
    let on_b_ticket = json_of(get(&central, &b_id).await, 200).await;
    assert!(
        on_b_ticket.to_string().contains("Fixed by itself"),
        "{on_b_ticket}"
    );
    assert_eq!(search_items(&central, "Badge reader").await.len(), 1);

    // 4. `ticketgate pipe` routes by the same rules.
    let piped = message(
        "Cy Acme <cy@acme.example>",
        "m4@acme.example",
        "Projector flickers",
        None,
        "The projector in room 2 flickers.",
    );
    let mut child = std::process::Command::new(support::binary())
        .args(["pipe", "--config"])
        .arg(&a.config)
        .arg("--data-dir")
        .arg(a.dir.join("data"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(piped.replace('\n', "\r\n").as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(search_items(&central, "Projector flickers").await.len(), 1);

    // Nothing was added to the home ticket with the same number.
    let kettle = json_of(get(&a, str_of(&kettle, "id")).await, 200).await;
    assert!(!kettle.to_string().contains("Fixed by itself"), "{kettle}");
    assert_eq!(search_items(&a, "Kettle").await.len(), 1);
}
