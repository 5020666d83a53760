//! The client face against the server face over a real socket, the embedded store
//! behind: every operation, checked by reading the store directly.

mod common;

use common::*;
use std::sync::Arc;
use ticketgate_itsmng::{ClientConfig, ItsmngClient, ServerConfig};
use ticketgate_model::{
    Assignment, Attachment, Body, Closure, DeleteMode, EntryKind, ErrorKind, Helpdesk, LookupKind,
    NewEntry, NewTask, NewTicket, PriorityLevel, Query, Reference, Requester, Resolution, State,
    TaskState, TicketPatch, TicketType,
};

fn client(rig: &Rig) -> ItsmngClient {
    ItsmngClient::new(ClientConfig {
        url: rig.url(),
        user_token: Some(TOKEN.into()),
        ..ClientConfig::default()
    })
    .expect("client")
}

fn printer() -> NewTicket {
    NewTicket {
        subject: "Printer not working".into(),
        body: Body::text("The office printer on floor 2 is not responding"),
        requester: Requester {
            email: Some("ann@example.com".into()),
            ..Requester::default()
        },
        urgency: Some(4),
        impact: Some(5),
        ticket_type: Some(TicketType::Request),
        category: Some(Reference::name("Hardware")),
        location: Some(Reference::name("Branch Office")),
        note: Some("Called the user".into()),
        ..NewTicket::default()
    }
}

#[tokio::test]
async fn every_operation_round_trips_to_the_store() {
    let rig = rig().await;
    let c = client(&rig);
    let store = rig.helpdesk.clone();

    // Create: names resolved to ids, priority from the matrix, note as a followup.
    let t = c.create(printer()).await.expect("create");
    let stored = store.get(&t.id).await.unwrap();
    assert_eq!(stored.subject, "Printer not working");
    assert_eq!(stored.category.as_ref().unwrap().id.as_deref(), Some("1"));
    assert_eq!(stored.location.as_ref().unwrap().id.as_deref(), Some("2"));
    assert_eq!(
        stored.priority.as_ref().unwrap().level,
        PriorityLevel::VeryHigh
    );
    assert_eq!(stored.ticket_type, Some(TicketType::Request));
    assert_eq!(stored.requester.email.as_deref(), Some("ann@example.com"));
    assert_eq!(stored.entries.len(), 1);
    assert_eq!(stored.entries[0].kind, EntryKind::Note);
    // And what the client read back.
    assert_eq!(t.subject, "Printer not working");
    assert_eq!(t.status.state, State::New);
    assert_eq!(t.requester.email.as_deref(), Some("ann@example.com"));
    assert_eq!(
        t.category.as_ref().unwrap().name.as_deref(),
        Some("Hardware")
    );
    assert_eq!(t.entries.len(), 1);

    // A second ticket, so searches have something to leave out.
    let other = c
        .create(NewTicket {
            subject: "VPN drops".into(),
            body: Body::text("every hour"),
            requester: Requester {
                email: Some("bob@example.com".into()),
                ..Requester::default()
            },
            ..NewTicket::default()
        })
        .await
        .unwrap();

    // Search.
    let page = c
        .search(&Query {
            text: Some("printer".into()),
            ..Query::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].id, t.id);
    assert_eq!(page.items[0].subject, "Printer not working");
    let all = c.search(&Query::default()).await.unwrap();
    assert_eq!(all.total, 2);
    let new_only = c
        .search(&Query {
            states: vec![State::New, State::Pending],
            ..Query::default()
        })
        .await
        .unwrap();
    assert_eq!(new_only.total, 2);

    // Update: subject and urgency; the priority follows the matrix.
    let u = c
        .update(
            &t.id,
            TicketPatch {
                subject: Some("Printer still broken".into()),
                urgency: Some(2),
                ..TicketPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(u.subject, "Printer still broken");
    let stored = store.get(&t.id).await.unwrap();
    assert_eq!(stored.subject, "Printer still broken");
    assert_eq!(stored.urgency, Some(2));
    // Urgency 2 × impact 5 is priority 3 in the stock matrix.
    assert_eq!(
        stored.priority.as_ref().unwrap().level,
        PriorityLevel::Normal
    );

    // The server forgets every session: the next call opens a new one, and succeeds.
    let before = rig.server.sessions_opened();
    rig.server.expire_sessions();
    let e = c
        .add_entry(
            &t.id,
            NewEntry {
                kind: EntryKind::Response,
                body: Body::text("Investigating the issue with the printer."),
                ..NewEntry::default()
            },
        )
        .await
        .expect("a followup after the session expired");
    assert_eq!(rig.server.sessions_opened(), before + 1);
    assert!(!e.id.is_empty());
    c.add_entry(
        &t.id,
        NewEntry {
            kind: EntryKind::Note,
            body: Body::text("private"),
            ..NewEntry::default()
        },
    )
    .await
    .unwrap();
    let stored = store.get(&t.id).await.unwrap();
    let kinds: Vec<EntryKind> = stored.entries.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![EntryKind::Note, EntryKind::Response, EntryKind::Note]
    );

    // Assign by name.
    let a = c
        .assign(
            &t.id,
            Assignment {
                assignee: Some(Reference::name("Sam Support")),
                group: Some(Reference::name("Second Line")),
                ..Assignment::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(a.status.state, State::Open);
    // Read back with names from the dropdowns.
    assert_eq!(a.assignee, Some(Reference::both("1", "Sam Support")));
    assert_eq!(a.location, Some(Reference::both("2", "Branch Office")));
    let stored = store.get(&t.id).await.unwrap();
    assert_eq!(stored.assignee.as_ref().unwrap().id.as_deref(), Some("1"));
    assert_eq!(stored.group.as_ref().unwrap().id.as_deref(), Some("2"));

    // Attach.
    let files = c
        .attach(
            &t.id,
            vec![Attachment {
                name: "screenshot.png".into(),
                media_type: "image/png".into(),
                bytes: b"\x89PNG fake".to_vec(),
                ..Attachment::default()
            }],
        )
        .await
        .unwrap();
    assert!(files[0].id.is_some());
    let stored = store.get(&t.id).await.unwrap();
    assert_eq!(stored.attachments.len(), 1);
    assert_eq!(stored.attachments[0].bytes, b"\x89PNG fake");

    // Solve, then close.
    let r = c
        .resolve(
            &t.id,
            Resolution {
                body: Some(Body::text("Reconnected the printer.")),
                author: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(r.status.state, State::Resolved);
    assert_eq!(
        store.get(&t.id).await.unwrap().status.state,
        State::Resolved
    );
    // A second solution is refused as the real server does.
    let err = c.resolve(&t.id, Resolution::default()).await.unwrap_err();
    assert!(err.message.contains("already solved"), "{err:?}");
    let closed = c
        .close(
            &t.id,
            Closure {
                note: Some("done".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(closed.status.state, State::Closed);
    let stored = store.get(&t.id).await.unwrap();
    assert_eq!(stored.status.state, State::Closed);
    assert!(stored.closed_at.is_some());

    // Delete to the trash, then purge.
    c.delete(&other.id, DeleteMode::Soft).await.unwrap();
    assert_eq!(
        store.get(&other.id).await.unwrap().status.state,
        State::Deleted
    );
    c.delete(&t.id, DeleteMode::Purge).await.unwrap();
    assert_eq!(
        store.get(&t.id).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    let gone = c.get(&t.id).await.unwrap_err();
    assert_eq!(gone.http_status(), 404);

    // Look-ups.
    let cats = c.lookup(LookupKind::Categories).await.unwrap();
    assert!(cats.iter().any(|i| i.name == "Hardware" && i.id == "1"));
    let statuses = c.lookup(LookupKind::Statuses).await.unwrap();
    assert_eq!(statuses.len(), 6);

    c.shutdown().await;
    assert_eq!(rig.server.live_sessions(), 0);
}

#[tokio::test]
async fn twenty_concurrent_calls_open_one_session() {
    let rig = rig().await;
    let t = rig.helpdesk.create(printer()).await.unwrap();
    let c = Arc::new(client(&rig));
    let before = rig.server.sessions_opened();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (c, id) = (c.clone(), t.id.clone());
        tasks.push(tokio::spawn(async move { c.get(&id).await }));
    }
    for task in tasks {
        task.await.unwrap().expect("get");
    }
    assert_eq!(rig.server.sessions_opened() - before, 1);
    assert_eq!(c.sessions_opened(), 1);

    // The server drops the session; twenty callers find out at once, one re-opens it.
    rig.server.expire_sessions();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (c, id) = (c.clone(), t.id.clone());
        tasks.push(tokio::spawn(async move { c.get(&id).await }));
    }
    for task in tasks {
        task.await.unwrap().expect("get after expiry");
    }
    assert_eq!(rig.server.sessions_opened() - before, 2);
    assert_eq!(rig.server.live_sessions(), 1);
}

#[tokio::test]
async fn idle_sessions_expire_and_the_client_recovers() {
    let rig = rig_with(ServerConfig {
        session_idle_secs: 1,
        ..ServerConfig::default()
    })
    .await;
    let t = rig.helpdesk.create(printer()).await.unwrap();
    let c = client(&rig);
    c.get(&t.id).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    c.get(&t.id).await.expect("after idle expiry");
    assert_eq!(c.sessions_opened(), 2);
}

#[tokio::test]
async fn upstream_down_is_retryable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = ItsmngClient::new(ClientConfig {
        url: format!("http://{addr}/apirest.php"),
        user_token: Some("x".into()),
        connect_timeout_ms: 500,
        ..ClientConfig::default()
    })
    .unwrap();
    let e = c.get("1").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::UpstreamUnavailable);
    assert!(e.retryable);
}

#[test]
fn secrets_stay_out_of_debug() {
    let cfg = ClientConfig {
        url: "http://h/apirest.php".into(),
        user_token: Some("s3cret-user".into()),
        password: Some("s3cret-pw".into()),
        app_token: Some("s3cret-app".into()),
        ..ClientConfig::default()
    };
    let text = format!("{cfg:?}");
    assert!(!text.contains("s3cret"), "{text}");
    let s = ServerConfig {
        app_tokens: vec!["s3cret-app".into()],
        ..ServerConfig::default()
    };
    assert!(!format!("{s:?}").contains("s3cret"));
}

#[tokio::test]
async fn a_silent_upstream_times_out_retryably() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let c = ItsmngClient::new(ClientConfig {
        url: format!("http://{addr}/apirest.php"),
        user_token: Some("x".into()),
        request_timeout_ms: 300,
        ..ClientConfig::default()
    })
    .unwrap();
    let e = c.get("1").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::UpstreamUnavailable);
    assert!(e.retryable);
    assert_eq!(e.http_status(), 504);
    hold.abort();
}

#[tokio::test]
async fn refused_credentials_and_pages_past_the_end() {
    let rig = rig().await;
    let bad = ItsmngClient::new(ClientConfig {
        url: rig.url(),
        user_token: Some("wrong".into()),
        ..ClientConfig::default()
    })
    .unwrap();
    let e = bad.get("1").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::UpstreamRejected);
    assert_eq!(e.http_status(), 502);
    assert!(!e.message.contains("wrong"));

    let c = client(&rig);
    rig.helpdesk.create(printer()).await.unwrap();
    let page = c
        .search(&Query {
            offset: 50,
            limit: 10,
            ..Query::default()
        })
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert_eq!(page.total, 1);
    let by_number = c.get_by_number("1").await.unwrap();
    assert_eq!(by_number.subject, "Printer not working");
    assert!(ItsmngClient::new(ClientConfig::default()).is_err());
}

/// A requester named only by a login the upstream does not know (the API user a
/// downstream ITSM-NG client was talking to) does not fail the create: the ticket
/// goes in without a requester actor, and the upstream's API user stands in.
#[tokio::test]
async fn an_unknown_requester_login_leaves_the_requester_to_the_upstream() {
    let rig = rig().await;
    let c = client(&rig);
    let t = c
        .create(NewTicket {
            subject: "From a chained gateway".into(),
            body: Body::text("no requester of its own"),
            requester: Requester {
                username: Some("nobody-here".into()),
                name: Some("nobody-here".into()),
                ..Requester::default()
            },
            ..NewTicket::default()
        })
        .await
        .expect("create");
    let stored = rig.helpdesk.get(&t.id).await.unwrap();
    assert_eq!(stored.subject, "From a chained gateway");
    assert_ne!(stored.requester.username.as_deref(), Some("nobody-here"));
    assert!(
        stored.requester.username.is_some() || stored.requester.name.is_some(),
        "{:?}",
        stored.requester
    );
    // A known login still resolves to that user.
    let t = c
        .create(NewTicket {
            subject: "For Sam".into(),
            body: Body::text("b"),
            requester: Requester {
                username: Some("Sam Support".into()),
                ..Requester::default()
            },
            ..NewTicket::default()
        })
        .await
        .expect("create");
    let stored = rig.helpdesk.get(&t.id).await.unwrap();
    assert_eq!(
        stored.requester.id.as_deref(),
        Some("1"),
        "{:?}",
        stored.requester
    );
}

#[tokio::test]
async fn without_read_back_a_create_answers_from_what_was_sent() {
    let rig = rig().await;
    let c = ItsmngClient::new(ClientConfig {
        url: rig.url(),
        user_token: Some(TOKEN.into()),
        read_back_creates: false,
        ..ClientConfig::default()
    })
    .expect("client");
    let t = c.create(printer()).await.expect("create");
    let stored = rig.helpdesk.get(&t.id).await.unwrap();
    assert_eq!(t.id, stored.id);
    assert_eq!(t.subject, stored.subject);
    assert_eq!(t.requester.email.as_deref(), Some("ann@example.com"));
    assert_eq!(t.ticket_type, stored.ticket_type);
    assert_eq!(
        t.priority.as_ref().map(|p| p.level),
        stored.priority.as_ref().map(|p| p.level),
        "the priority matrix gives the same answer on both sides"
    );
    assert_eq!(t.status.state, State::New);
}

/// Documents through the client face: one of its own, read back with its bytes,
/// linked to a ticket; one uploaded for a ticket; unknown ones not found.
#[tokio::test]
async fn documents_round_trip_to_the_store() {
    let rig = rig().await;
    let c = client(&rig);
    let t = c.create(printer()).await.unwrap();
    let file = |name: &str, bytes: &[u8]| Attachment {
        name: name.into(),
        media_type: "text/plain".into(),
        bytes: bytes.to_vec(),
        ..Attachment::default()
    };
    let own = c
        .add_document("Meeting notes", file("notes.txt", b"the notes\n"), None)
        .await
        .unwrap();
    let stored = rig.helpdesk.document(&own.id).await.unwrap();
    assert_eq!(
        (stored.title.as_str(), stored.ticket.as_deref()),
        ("Meeting notes", None)
    );
    let read = c.document(&own.id).await.unwrap();
    assert_eq!(read.title, "Meeting notes");
    assert_eq!(read.file.name, "notes.txt");
    assert_eq!(read.file.media_type, "text/plain");
    assert_eq!(read.file.bytes, b"the notes\n");
    let linked = c.link_document(&own.id, &t.id).await.unwrap();
    assert_eq!(linked.ticket.as_deref(), Some(t.id.as_str()));
    let in_store = rig.helpdesk.get(&t.id).await.unwrap();
    assert!(
        in_store
            .attachments
            .iter()
            .any(|a| a.id.as_deref() == Some(own.id.as_str())),
        "{:?}",
        in_store.attachments
    );
    let for_ticket = c
        .add_document("ignored", file("log.txt", b"log"), Some(&t.id))
        .await
        .unwrap();
    let stored = rig.helpdesk.document(&for_ticket.id).await.unwrap();
    assert_eq!(stored.ticket.as_deref(), Some(t.id.as_str()));
    assert_eq!(stored.title, "Document: Ticket - Printer not working");
    // The upstream's refusals, with its statuses: not found, and linked twice.
    let e = c.document("999").await.unwrap_err();
    assert_eq!(
        (e.kind, e.http_status()),
        (ErrorKind::UpstreamRejected, 404),
        "{e:?}"
    );
    let e = c.link_document(&own.id, &t.id).await.unwrap_err();
    assert_eq!(
        (e.kind, e.http_status()),
        (ErrorKind::UpstreamRejected, 400),
        "{e:?}"
    );
    assert!(e.message.contains("already linked"), "{e:?}");
}

/// Tasks through the client face: added with state, duration, assignee and
/// privacy, listed back in order; an unknown agent is refused before anything is sent.
#[tokio::test]
async fn tasks_round_trip_to_the_store() {
    let rig = rig().await;
    let c = client(&rig);
    let t = c.create(printer()).await.unwrap();
    rig.helpdesk.ensure_agents(["alice"]).unwrap();
    let alice = rig
        .helpdesk
        .lookup(LookupKind::Agents)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.name == "alice")
        .expect("alice");
    let added = c
        .add_task(
            &t.id,
            NewTask {
                body: "Replace the fuser".into(),
                state: TaskState::Todo,
                duration_secs: 600,
                assignee: Some(Reference::name("alice")),
                private: true,
            },
        )
        .await
        .unwrap();
    c.add_task(
        &t.id,
        NewTask {
            body: "Called the vendor".into(),
            state: TaskState::Done,
            ..NewTask::default()
        },
    )
    .await
    .unwrap();
    let stored = rig.helpdesk.tasks(&t.id).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].id, added.id);
    assert_eq!(
        stored[0].assignee.as_ref().and_then(|a| a.id.clone()),
        Some(alice.id.clone())
    );
    let read = c.tasks(&t.id).await.unwrap();
    assert_eq!(
        read.iter()
            .map(|k| (k.body.as_str(), k.state, k.duration_secs, k.private))
            .collect::<Vec<_>>(),
        [
            ("Replace the fuser", TaskState::Todo, 600, true),
            ("Called the vendor", TaskState::Done, 0, false)
        ]
    );
    assert_eq!(
        read[0].assignee.as_ref().and_then(|a| a.id.clone()),
        Some(alice.id)
    );
    let e = c
        .add_task(
            &t.id,
            NewTask {
                body: "x".into(),
                assignee: Some(Reference::name("nobody-here")),
                ..NewTask::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::BadInput, "{e:?}");
}
