//! The client face over real TCP to the server face over an embedded helpdesk: every
//! plugin endpoint and create, each checked by reading the store directly.

mod common;

use common::{KEY_ALL, KEY_CREATE, TestCx, face, face_with, serve};
use std::sync::Arc;
use ticketgate_model::{
    Assignment, Attachment, Body, BodyFormat, Closure, DeleteMode, EntryKind, ErrorKind, Helpdesk,
    LookupKind, NewEntry, NewTicket, Operation, Query, Reference, Requester, Resolution, State,
    StatsQuery, TicketPatch,
};
use ticketgate_osticket::{ClientConfig, Mode, OsticketClient, ServerConfig};

async fn setup(mode: Mode, key: &str) -> (Arc<TestCx>, OsticketClient) {
    let cx = TestCx::new();
    let addr = serve(face(), cx.clone()).await;
    let client = OsticketClient::new(ClientConfig {
        url: format!("http://{addr}"),
        api_key: key.to_owned(),
        mode,
        connect_timeout_ms: 2_000,
        request_timeout_ms: 5_000,
        ..ClientConfig::default()
    })
    .expect("a valid client config");
    (cx, client)
}

fn ticket(subject: &str) -> NewTicket {
    NewTicket {
        subject: subject.to_owned(),
        body: Body::text(format!("{subject} body")),
        requester: Requester {
            name: Some("Loop Lou".into()),
            email: Some("lou@example.com".into()),
            ..Requester::default()
        },
        ..NewTicket::default()
    }
}

#[tokio::test]
async fn plugin_mode_every_operation() {
    let (cx, c) = setup(Mode::Plugin, KEY_ALL).await;
    assert!(c.capabilities().supports(Operation::Search));
    assert!(!c.capabilities().supports(Operation::Attach));

    // Create with everything osTicket carries.
    let mut new = ticket("Everything");
    new.body = Body::html("<p>Hello <b>there</b></p>");
    new.requester.phone = Some("318-555-8634".into());
    new.requester.phone_ext = Some("123".into());
    new.department = Some(Reference::name("Billing"));
    new.priority = Some(Reference::name("High"));
    new.topic = Some(Reference::id("10"));
    new.due_at = Some("2030-01-02T03:04:05Z".parse().unwrap());
    new.client_ip = Some("10.0.0.7".into());
    new.note = Some("created via loopback".into());
    new.custom_fields
        .insert("company".into(), serde_json::json!("ACME"));
    new.attachments = vec![Attachment {
        name: "a.bin".into(),
        media_type: "application/octet-stream".into(),
        bytes: vec![0, 1, 2, 255],
        ..Attachment::default()
    }];
    let created = c.create(new).await.expect("create through the client");
    // In plugin mode the canonical id is the ticket number.
    assert_eq!(created.id, created.number);
    let stored = cx
        .store
        .get_by_number(&created.id)
        .await
        .expect("stored under the number the client reports");
    let created_id = stored.id.clone();
    assert_eq!(stored.body, Body::html("<p>Hello <b>there</b></p>"));
    assert_eq!(stored.requester.phone_ext.as_deref(), Some("123"));
    assert_eq!(
        stored.department.as_ref().unwrap().name.as_deref(),
        Some("Billing")
    );
    assert_eq!(
        stored.priority.as_ref().unwrap().name.as_deref(),
        Some("High")
    );
    assert_eq!(stored.topic.as_ref().unwrap().id.as_deref(), Some("10"));
    assert_eq!(stored.due_at, Some("2030-01-02T03:04:05Z".parse().unwrap()));
    assert_eq!(stored.client_ip.as_deref(), Some("10.0.0.7"));
    assert_eq!(stored.custom_fields["company"], "ACME");
    assert_eq!(stored.attachments[0].bytes, vec![0, 1, 2, 255]);
    assert!(stored.entries.iter().any(|e| e.kind == EntryKind::Note));
    // What the client read back matches the store.
    assert_eq!(created.subject, "Everything");
    assert_eq!(created.body.format, BodyFormat::Html);
    assert_eq!(
        created.priority.as_ref().unwrap().name.as_deref(),
        Some("High")
    );
    assert_eq!(created.attachments[0].bytes, vec![0, 1, 2, 255]);
    assert_eq!(created.due_at, stored.due_at);

    // Get by id and by number.
    let by_id = c.get(&created_id).await.unwrap();
    let by_number = c.get_by_number(&created.number).await.unwrap();
    assert_eq!(by_id.id, by_number.id);
    assert_eq!(by_id.entries.len(), stored.entries.len());
    let missing = c.get("999999").await.unwrap_err();
    assert_eq!(
        (missing.kind, missing.http_status()),
        (ErrorKind::UpstreamRejected, 404)
    );

    // Update: status, department, SLA, staff (by id: the plugin takes no names), due
    // date, note.
    let updated = c
        .update(
            &created.id,
            TicketPatch {
                status: Some(Reference::name("Pending")),
                department: Some(Reference::name("Sales")),
                sla: Some(Reference::name("Priority SLA")),
                assignee: Some(Reference::id("2")),
                due_at: Some("2031-05-06T07:08:09Z".parse().unwrap()),
                note: Some("patched".into()),
                ..TicketPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.status.state, State::Pending);
    let stored = cx.store.get(&created_id).await.unwrap();
    assert_eq!(stored.status.name.as_deref(), Some("Pending"));
    assert_eq!(
        stored.department.as_ref().unwrap().name.as_deref(),
        Some("Sales")
    );
    assert_eq!(
        stored.sla.as_ref().unwrap().name.as_deref(),
        Some("Priority SLA")
    );
    assert_eq!(
        stored.assignee.as_ref().unwrap().name.as_deref(),
        Some("Robin Ops")
    );
    assert_eq!(stored.due_at, Some("2031-05-06T07:08:09Z".parse().unwrap()));
    // What the plugin cannot update is refused, not silently ignored.
    for patch in [
        TicketPatch {
            subject: Some("new".into()),
            ..TicketPatch::default()
        },
        TicketPatch {
            priority: Some(Reference::id("2")),
            ..TicketPatch::default()
        },
        TicketPatch {
            topic: Some(Reference::id("2")),
            ..TicketPatch::default()
        },
    ] {
        let e = c.update(&created.id, patch).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
    }
    let e = c
        .update(
            &created.id,
            TicketPatch {
                assignee: Some(Reference::name("Robin Ops")),
                ..TicketPatch::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadInput);

    // Notes, resolve, assign, close.
    let entry = c
        .add_entry(
            &created.id,
            NewEntry {
                kind: EntryKind::Note,
                body: Body::text("a private note"),
                ..NewEntry::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(entry.kind, EntryKind::Note);
    assert!(
        cx.store
            .get(&created_id)
            .await
            .unwrap()
            .entries
            .iter()
            .any(|e| e.body.content == "a private note")
    );
    let reply = c
        .add_entry(
            &created.id,
            NewEntry {
                kind: EntryKind::Response,
                body: Body::text("public"),
                ..NewEntry::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(reply.kind, ErrorKind::Unsupported);
    let t = c
        .resolve(
            &created.id,
            Resolution {
                body: Some(Body::text("fixed it")),
                author: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(t.status.state, State::Resolved);
    assert_eq!(
        cx.store.get(&created_id).await.unwrap().status.state,
        State::Resolved
    );
    let t = c
        .assign(
            &created.id,
            Assignment {
                assignee: Some(Reference::id("1")),
                ..Assignment::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(t.assignee.unwrap().name.as_deref(), Some("Sam Support"));
    let t = c
        .close(
            &created.id,
            Closure {
                note: Some("closing".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(t.status.state, State::Closed);
    assert_eq!(
        cx.store.get(&created_id).await.unwrap().status.state,
        State::Closed
    );

    // Search.
    let other = c.create(ticket("Printer jam")).await.unwrap();
    let third = c.create(ticket("Another printer")).await.unwrap();
    let page = c
        .search(&Query {
            text: Some("printer".into()),
            ..Query::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    let page = c
        .search(&Query {
            number: Some(other.number.clone()),
            ..Query::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, other.id);
    let page = c
        .search(&Query {
            states: vec![State::New, State::Open],
            limit: 1,
            ..Query::default()
        })
        .await
        .unwrap();
    assert_eq!((page.items.len(), page.total), (1, 2));

    // Subtickets: link through the update's parentTicketNumber, children from get;
    // parent and unlink are what the real plugin cannot do.
    let other_id = cx.store.get_by_number(&other.number).await.unwrap().id;
    let third_id = cx.store.get_by_number(&third.number).await.unwrap().id;
    c.link(&other.id, &third.id).await.unwrap();
    assert_eq!(
        cx.store.parent(&third_id).await.unwrap().unwrap().id,
        other_id
    );
    let kids = c.children(&other.id).await.unwrap();
    assert_eq!(
        kids.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        vec![third.id.as_str()]
    );
    assert_eq!(
        c.get(&other.id).await.unwrap().children,
        vec![third.number.clone()]
    );
    let e = c.link(&third.id, &other.id).await.unwrap_err();
    assert_eq!(e.http_status(), 400, "{e}");
    for e in [
        c.unlink(&other.id, &third.id).await.unwrap_err(),
        c.parent(&third.id).await.unwrap_err(),
    ] {
        assert_eq!(e.kind, ErrorKind::Unsupported);
    }

    // Stats and statuses.
    let s = c.stats(&StatsQuery::default()).await.unwrap();
    let direct = cx.store.stats(&StatsQuery::default()).await.unwrap();
    assert_eq!(s.total, direct.total);
    // osTicket's "closed" state holds resolved tickets too.
    assert_eq!(s.closed, direct.closed + direct.resolved);
    // osTicket has no "no department" row: the embedded store's "(none)" bucket is left out.
    let mut expected = direct.by_department.clone();
    expected.remove("(none)");
    assert_eq!(s.by_department, expected);
    let statuses = c.lookup(LookupKind::Statuses).await.unwrap();
    let direct = cx.store.lookup(LookupKind::Statuses).await.unwrap();
    assert_eq!(statuses, direct);
    assert_eq!(
        c.lookup(LookupKind::Departments).await.unwrap_err().kind,
        ErrorKind::Unsupported
    );

    // Delete: osTicket has no trash through the plugin, so only for good.
    let e = c.delete(&other.id, DeleteMode::Soft).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unsupported);
    c.delete(&third.id, DeleteMode::Purge).await.unwrap();
    assert_eq!(
        cx.store.get(&third_id).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn core_mode_creates_and_nothing_else() {
    let (cx, c) = setup(Mode::Core, KEY_CREATE).await;
    assert_eq!(
        c.capabilities().iter().collect::<Vec<_>>(),
        vec![Operation::Create]
    );
    let t = c.create(ticket("Core only")).await.unwrap();
    assert_eq!(t.id, t.number, "core mode never learns the internal id");
    let stored = cx.store.get_by_number(&t.number).await.unwrap();
    assert_eq!(stored.subject, "Core only");
    assert_eq!(cx.count().await, 1);
    let e = c.get(&t.id).await.unwrap_err();
    assert_eq!((e.kind, e.http_status()), (ErrorKind::Unsupported, 501));
    assert_eq!(
        c.search(&Query::default()).await.unwrap_err().http_status(),
        501
    );
}

#[tokio::test]
async fn upstream_failures_map_to_canonical_errors() {
    // A key osTicket refuses: the gateway's own credentials, so a 502 to the caller.
    let (cx, c) = setup(Mode::Plugin, "not-a-key").await;
    let e = c.create(ticket("refused")).await.unwrap_err();
    assert_eq!(
        (e.kind, e.upstream_status, e.http_status()),
        (ErrorKind::UpstreamRejected, Some(401), 502)
    );
    assert!(!e.message.contains("not-a-key"));
    assert_eq!(cx.count().await, 0);

    // A key without the permission: the plugin's 401, still the gateway's problem.
    let (_, c) = setup(Mode::Plugin, KEY_CREATE).await;
    let e = c.search(&Query::default()).await.unwrap_err();
    assert_eq!((e.upstream_status, e.http_status()), (Some(401), 502));

    // Validation refused upstream: a 400 the caller can act on.
    let (_, c) = setup(Mode::Plugin, KEY_ALL).await;
    let mut bad = ticket("bad department");
    bad.department = Some(Reference::name("Nowhere"));
    let e = c.create(bad).await.unwrap_err();
    assert_eq!(
        (e.kind, e.http_status()),
        (ErrorKind::UpstreamRejected, 400)
    );
    assert!(e.message.contains("validation errors"), "{e}");

    // Nobody listening: retryable.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = OsticketClient::new(ClientConfig {
        url: format!("http://127.0.0.1:{port}"),
        api_key: "k".into(),
        ..ClientConfig::default()
    })
    .unwrap();
    let e = c.create(ticket("nobody home")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::UpstreamUnavailable);
    assert!(e.retryable);
}

#[tokio::test]
async fn the_plugins_json_create_answer_is_read_too() {
    let cx = TestCx::new();
    let addr = serve(
        face_with(ServerConfig {
            plugin_create_response: true,
            ..ServerConfig::default()
        }),
        cx.clone(),
    )
    .await;
    for mode in [Mode::Plugin, Mode::Core] {
        let c = OsticketClient::new(ClientConfig {
            url: format!("http://{addr}/"),
            api_key: KEY_ALL.into(),
            mode,
            ..ClientConfig::default()
        })
        .unwrap();
        let t = c.create(ticket("json answer")).await.unwrap();
        let stored = cx.store.get_by_number(&t.number).await.unwrap();
        // The plugin's answer carries the internal id, so even core mode learns it; in
        // plugin mode the number is the canonical id.
        let want = match mode {
            Mode::Plugin => &stored.number,
            Mode::Core => &stored.id,
        };
        assert_eq!(&t.id, want, "{mode:?}");
    }
}

#[tokio::test]
async fn a_silent_upstream_times_out_as_retryable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let c = OsticketClient::new(ClientConfig {
        url: format!("http://{addr}"),
        api_key: "k".into(),
        request_timeout_ms: 300,
        ..ClientConfig::default()
    })
    .unwrap();
    let e = c.get("1").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::UpstreamUnavailable);
    assert!(e.retryable);
    assert_eq!(e.http_status(), 504);
}
