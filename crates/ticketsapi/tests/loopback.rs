//! TicketsApiClient → real TCP → TicketsApiServer → embedded helpdesk: every
//! endpoint through the client face, each checked by reading the store directly.

mod common;

use common::{AGENT, SECRET};
use std::time::Duration;
use ticketgate_model::{
    Assignment, Attachment, Body, Closure, DeleteMode, EntryKind, ErrorKind, Helpdesk, LookupKind,
    NewEntry, NewTicket, Query, Reference, Requester, Resolution, Source, State, TicketPatch,
};
use ticketgate_ticketsapi::{ClientConfig, TicketsApiClient};

fn client(url: String, ttl: u64) -> TicketsApiClient {
    TicketsApiClient::new(ClientConfig {
        url,
        hs256_secret: Some(SECRET.to_owned()),
        subject: AGENT.to_owned(),
        token_ttl_secs: ttl,
        ..ClientConfig::default()
    })
    .unwrap()
}

fn file(name: &str, media_type: &str, bytes: &[u8]) -> Attachment {
    Attachment {
        name: name.to_owned(),
        media_type: media_type.to_owned(),
        bytes: bytes.to_vec(),
        ..Attachment::default()
    }
}

#[tokio::test]
async fn every_operation_round_trips_through_the_dialect() {
    // Leeway 0 and a 2 s token lifetime: the run below spans more than 2 s.
    let h = common::start(common::config(0)).await;
    let c = client(h.url(), 2);

    // Look-ups come from `metadata`.
    let deps = c.lookup(LookupKind::Departments).await.unwrap();
    assert!(deps.iter().any(|d| d.name == "Support" && d.id == "1"));
    let statuses = c.lookup(LookupKind::Statuses).await.unwrap();
    assert!(
        statuses
            .iter()
            .any(|s| s.name == "Resolved" && s.state == Some(State::Resolved))
    );
    let agents = c.lookup(LookupKind::Agents).await.unwrap();
    assert!(agents.iter().any(|a| a.name == "Robin Ops"));

    // register: a known requester (by id), names resolved to ids by the client.
    let t1 = c
        .create(NewTicket {
            subject: "Printer jams".into(),
            body: Body::text("Every morning."),
            requester: Requester {
                id: Some("u-42".into()),
                ..Requester::default()
            },
            department: Some(Reference::name("support")),
            location: Some(Reference::name("Headquarters")),
            priority: Some(Reference::name("high")),
            category: Some(Reference::name("Hardware")),
            topic: Some(Reference::name("Feedback")),
            attachments: vec![
                file("log.txt", "text/plain", b"paper jam"),
                file("tool.exe", "application/octet-stream", b"MZ"),
            ],
            ..NewTicket::default()
        })
        .await
        .unwrap();
    let stored = h.store.get(&t1.id).await.unwrap();
    assert_eq!(stored.subject, "Printer jams");
    assert_eq!(stored.requester.id.as_deref(), Some("u-42"));
    assert_eq!(stored.department, Some(Reference::both("1", "Support")));
    assert_eq!(stored.location, Some(Reference::both("1", "Headquarters")));
    assert_eq!(stored.topic, Some(Reference::both("2", "Feedback")));
    assert_eq!(
        stored.priority.as_ref().unwrap().name.as_deref(),
        Some("High")
    );
    assert_eq!(stored.source, Source::Web);
    assert_eq!(stored.status.state, State::New);
    // The disallowed .exe was skipped by the server, as TicketsApi does.
    let names: Vec<&str> = stored.attachments.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, vec!["log.txt"]);
    assert_eq!(stored.attachments[0].bytes, b"paper jam");
    assert_eq!(t1.subject, stored.subject);
    assert_eq!(t1.department, stored.department);

    // new: a mail ticket, requester found by username and email.
    let t2 = c
        .create(NewTicket {
            subject: "VPN down".into(),
            body: Body::text("Since 9am."),
            requester: Requester {
                username: Some("ann".into()),
                email: Some("ann@example.com".into()),
                ..Requester::default()
            },
            source: Source::Email,
            group: Some(Reference::name("Second Line")),
            ..NewTicket::default()
        })
        .await
        .unwrap();
    let stored2 = h.store.get(&t2.id).await.unwrap();
    assert_eq!(stored2.requester.username.as_deref(), Some("ann"));
    assert_eq!(stored2.requester.email.as_deref(), Some("ann@example.com"));
    assert_eq!(stored2.source, Source::Api);
    assert_eq!(stored2.group, Some(Reference::both("2", "Second Line")));

    // A name that matches nothing is a 400 naming the field and value; nothing written.
    let before = h.all_tickets().await.len();
    let e = c
        .create(NewTicket {
            subject: "x".into(),
            body: Body::text("y"),
            requester: Requester {
                id: Some("u-1".into()),
                ..Requester::default()
            },
            department: Some(Reference::name("Nope")),
            location: Some(Reference::id("1")),
            ..NewTicket::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadInput);
    assert_eq!(e.field.as_deref(), Some("department"));
    assert!(e.message.contains("Nope"), "{}", e.message);
    assert_eq!(h.all_tickets().await.len(), before);

    // get
    let got = c.get(&t2.id).await.unwrap();
    assert_eq!(got.subject, "VPN down");
    assert_eq!(got.requester.email.as_deref(), Some("ann@example.com"));
    let by_number = c.get_by_number(&t2.id).await.unwrap();
    assert_eq!(by_number.id, t2.id);
    let e = c.get("999999").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);

    // update: priority by canonical level, assignee by name, status by state name.
    let updated = c
        .update(
            &t1.id,
            TicketPatch {
                priority: Some(Reference::name("low")),
                assignee: Some(Reference::name("Robin Ops")),
                status: Some(Reference::name("pending")),
                ..TicketPatch::default()
            },
        )
        .await
        .unwrap();
    let stored = h.store.get(&t1.id).await.unwrap();
    assert_eq!(
        stored.priority.as_ref().unwrap().name.as_deref(),
        Some("Low")
    );
    assert_eq!(stored.assignee, Some(Reference::both("2", "Robin Ops")));
    assert_eq!(stored.status.state, State::Pending);
    // Fields the patch left alone are unchanged.
    assert_eq!(stored.department, Some(Reference::both("1", "Support")));
    assert_eq!(stored.requester.id.as_deref(), Some("u-42"));
    assert_eq!(updated.status.state, State::Pending);
    let e = c
        .update(
            &t1.id,
            TicketPatch {
                subject: Some("new".into()),
                ..TicketPatch::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unsupported);

    // Outlive the first token (2 s, no leeway on the server).
    tokio::time::sleep(Duration::from_millis(2_300)).await;

    // search: plain page, a list-type preset, a filter applied over the list, by username.
    let page = c.search(&Query::default()).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.total, 2);
    // A full window says nothing of what follows: the total is counted.
    for (offset, items) in [(0, 1), (1, 1), (2, 0), (4, 0)] {
        let page = c
            .search(&Query {
                limit: 1,
                offset,
                ..Query::default()
            })
            .await
            .unwrap();
        assert_eq!(page.items.len(), items, "offset {offset}");
        assert_eq!(page.total, 2, "offset {offset}");
    }
    let pending = c
        .search(&Query {
            states: vec![State::Pending],
            ..Query::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = pending.items.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, vec![t1.id.as_str()]);
    let by_group = c
        .search(&Query {
            group: Some(Reference::name("Second Line")),
            ..Query::default()
        })
        .await
        .unwrap();
    assert_eq!(by_group.items.len(), 1);
    assert_eq!(by_group.items[0].id, t2.id);
    let by_text = c
        .search(&Query {
            text: Some("vpn".into()),
            ..Query::default()
        })
        .await
        .unwrap();
    assert_eq!(by_text.items.len(), 1);
    let by_user = c
        .search(&Query {
            requester_username: Some("ann".into()),
            ..Query::default()
        })
        .await
        .unwrap();
    assert_eq!(by_user.items.len(), 1);
    assert_eq!(by_user.items[0].id, t2.id);
    assert_eq!(by_user.total, 1);
    for offset in [1, 30] {
        let page = c
            .search(&Query {
                requester_username: Some("ann".into()),
                offset,
                limit: 1,
                ..Query::default()
            })
            .await
            .unwrap();
        assert!(page.items.is_empty());
        assert_eq!(page.total, 1, "offset {offset}");
    }

    // reply (agent → requester) and a note (unsupported by TicketsApi).
    let reply = c
        .add_entry(
            &t2.id,
            NewEntry {
                kind: EntryKind::Response,
                body: Body::text("Restarting the concentrator."),
                ..NewEntry::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(reply.kind, EntryKind::Response);
    let stored2 = h.store.get(&t2.id).await.unwrap();
    let last = stored2.entries.last().unwrap();
    assert_eq!(last.kind, EntryKind::Response);
    assert_eq!(last.body.content, "Restarting the concentrator.");
    let e = c
        .add_entry(
            &t2.id,
            NewEntry {
                kind: EntryKind::Note,
                body: Body::text("internal"),
                ..NewEntry::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unsupported);

    // resolve, then the requester writes back: reqreply reopens.
    let resolved = c
        .resolve(
            &t2.id,
            Resolution {
                body: Some(Body::text("Concentrator replaced.")),
                author: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(resolved.status.state, State::Resolved);
    assert_eq!(
        h.store.get(&t2.id).await.unwrap().status.state,
        State::Resolved
    );
    c.add_entry(
        &t2.id,
        NewEntry {
            kind: EntryKind::Message,
            body: Body::text("Still down for me."),
            reopen: true,
            attachments: vec![file("screen.png", "image/png", b"\x89PNG")],
            ..NewEntry::default()
        },
    )
    .await
    .unwrap();
    let stored2 = h.store.get(&t2.id).await.unwrap();
    assert_eq!(stored2.status.state, State::Open);
    let last = stored2.entries.last().unwrap();
    assert_eq!(last.kind, EntryKind::Message);
    assert_eq!(last.body.content, "Still down for me.");
    assert_eq!(last.attachments.len(), 1);

    // pickup: assign to ticketgate's own user.
    let picked = c
        .assign(
            &t2.id,
            Assignment {
                assignee: Some(Reference::id(AGENT)),
                ..Assignment::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(picked.assignee.as_ref().unwrap().id.as_deref(), Some("1"));
    assert_eq!(
        h.store.get(&t2.id).await.unwrap().assignee,
        Some(Reference::both("1", "Sam Support"))
    );
    // Assigning someone else goes through update.
    c.assign(
        &t2.id,
        Assignment {
            assignee: Some(Reference::name("Robin Ops")),
            ..Assignment::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        h.store.get(&t2.id).await.unwrap().assignee,
        Some(Reference::both("2", "Robin Ops"))
    );

    // addfiles
    let stored_files = c
        .attach(&t2.id, vec![file("trace.log", "text/plain", b"trace")])
        .await
        .unwrap();
    assert!(stored_files[0].id.is_some());
    let stored2 = h.store.get(&t2.id).await.unwrap();
    assert!(stored2.attachments.iter().any(|a| a.name == "trace.log"));

    // read, forward, appmetadata: TicketsApi's own operations.
    c.mark_read(&t2.id).await.unwrap();
    c.forward(
        &t2.id,
        "vendor@example.com",
        &["boss@example.com".to_owned()],
        "VPN concentrator",
        "Please quote a replacement.",
        &[],
    )
    .await
    .unwrap();
    let stored2 = h.store.get(&t2.id).await.unwrap();
    let last = stored2.entries.last().unwrap();
    assert_eq!(last.kind, EntryKind::Note);
    assert!(
        last.body
            .content
            .starts_with("Forwarded to vendor@example.com (cc boss@example.com)"),
        "{}",
        last.body.content
    );
    let app = c.app_metadata().await.unwrap();
    assert!(app.departments.iter().any(|d| d.title == "Billing"));
    assert!(app.technicians.is_none());

    // close, with its note.
    let closed = c
        .close(
            &t2.id,
            Closure {
                note: Some("Confirmed by phone.".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(closed.status.state, State::Closed);
    let stored2 = h.store.get(&t2.id).await.unwrap();
    assert_eq!(stored2.status.state, State::Closed);
    assert!(
        stored2
            .entries
            .iter()
            .any(|e| e.body.content == "Confirmed by phone.")
    );

    // delete (soft); purge is not something TicketsApi does.
    c.delete(&t1.id, DeleteMode::Soft).await.unwrap();
    assert_eq!(
        h.store.get(&t1.id).await.unwrap().status.state,
        State::Deleted
    );
    let e = c.delete(&t2.id, DeleteMode::Purge).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unsupported);
    assert_eq!(
        h.store.get(&t2.id).await.unwrap().status.state,
        State::Closed
    );
}

#[tokio::test]
async fn a_fixed_expired_token_is_an_upstream_refusal() {
    let h = common::start(common::config(0)).await;
    let token = ticketgate_ticketsapi::mint_hs256(
        SECRET.as_bytes(),
        AGENT,
        &["Tickets.Create"],
        Duration::from_secs(0),
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let c = TicketsApiClient::new(ClientConfig {
        url: h.url(),
        token: Some(token),
        ..ClientConfig::default()
    })
    .unwrap();
    let e = c.get("1").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::UpstreamRejected);
    assert_eq!(e.upstream_status, Some(401));
    // And an upstream that is not there is retryable.
    let gone = client("http://127.0.0.1:9".into(), 60);
    let e = gone.get("1").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::UpstreamUnavailable);
    assert!(e.retryable);
}

#[test]
fn configs_redact_secrets() {
    let c = ClientConfig {
        hs256_secret: Some("super-secret".into()),
        token: Some("tok-123".into()),
        ..ClientConfig::default()
    };
    let s = format!("{c:?}");
    assert!(!s.contains("super-secret") && !s.contains("tok-123"), "{s}");
    let mut sc = common::config(0);
    sc.jwt.hs256_secret = Some("another-secret".into());
    assert!(!format!("{sc:?}").contains("another-secret"));
}

#[tokio::test]
async fn upstream_errors_become_canonical_kinds() {
    // A 400 (TicketsApi reports an unknown ticket on resolve as one) keeps its status
    // and names the field.
    let h = common::start(common::config(0)).await;
    let c = client(h.url(), 60);
    let e = c
        .resolve("424242", Resolution::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::UpstreamRejected);
    assert_eq!(e.upstream_status, Some(400));
    assert_eq!(e.http_status(), 400);
    assert_eq!(e.field.as_deref(), Some("Id"));
    // A 503 with Retry-After is retryable and keeps the delay.
    let down = common::start_with(common::config(0), true).await;
    let c = client(down.url(), 60);
    let e = c.get("5").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::UpstreamUnavailable);
    assert!(e.retryable);
    assert_eq!(e.upstream_status, Some(503));
    assert!(e.retry_after.is_some());
}
