use super::*;
use ticketgate_model::{Requester, SortField, SortOrder};

fn open() -> (tempfile::TempDir, EmbeddedHelpdesk) {
    let dir = tempfile::tempdir().unwrap();
    let h = EmbeddedHelpdesk::open(&dir.path().join("helpdesk.sqlite")).unwrap();
    (dir, h)
}

fn new(subject: &str) -> NewTicket {
    NewTicket {
        subject: subject.into(),
        body: Body::text(format!("body of {subject}")),
        requester: Requester {
            name: Some("Ann".into()),
            email: Some("ann@example.com".into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn create_get_and_resolve_references() {
    let (_dir, h) = open();
    let mut n = new("Printer jams");
    n.department = Some(Reference::name("support"));
    n.priority = Some(Reference::name("high"));
    n.note = Some("called twice".into());
    n.attachments = vec![Attachment {
        name: "a.txt".into(),
        media_type: "text/plain".into(),
        bytes: b"hello".to_vec(),
        ..Default::default()
    }];
    let t = h.create(n).await.unwrap();
    assert_eq!(t.number, "100001");
    assert_eq!(t.status.state, State::New);
    assert_eq!(t.department, Some(Reference::both("1", "Support")));
    assert_eq!(t.priority.as_ref().unwrap().level, PriorityLevel::High);
    let got = h.get(&t.id).await.unwrap();
    assert_eq!(got.attachments[0].bytes, b"hello");
    assert_eq!(got.entries[0].kind, EntryKind::Note);
    assert_eq!(h.get_by_number("100001").await.unwrap().id, t.id);
}

#[tokio::test]
async fn unknown_reference_is_a_bad_input_naming_the_field_and_nothing_is_written() {
    let (_dir, h) = open();
    let mut n = new("x");
    n.department = Some(Reference::name("Nowhere"));
    let e = h.create(n).await.unwrap_err();
    assert_eq!(e.kind, ticketgate_model::ErrorKind::BadInput);
    assert_eq!(e.field.as_deref(), Some("department"));
    assert!(
        e.message.contains("Nowhere") && e.message.contains("Support"),
        "{}",
        e.message
    );
    assert_eq!(h.search(&Query::default()).await.unwrap().total, 0);
}

#[tokio::test]
async fn search_filters_sorts_and_pages_with_a_total() {
    let (_dir, h) = open();
    for i in 0..7 {
        let mut n = new(&format!("VPN issue {i}"));
        if i % 2 == 0 {
            n.department = Some(Reference::name("IT"));
        }
        h.create(n).await.unwrap();
    }
    h.create(new("Printer")).await.unwrap();
    let page = h
        .search(&Query {
            text: Some("vpn".into()),
            limit: 3,
            offset: 3,
            sort: SortField::Number,
            order: SortOrder::Asc,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 7);
    assert_eq!(
        page.items
            .iter()
            .map(|t| t.subject.as_str())
            .collect::<Vec<_>>(),
        ["VPN issue 3", "VPN issue 4", "VPN issue 5"]
    );
    let it = h
        .search(&Query {
            department: Some(Reference::name("it")),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(it.total, 4);
}

#[tokio::test]
async fn lifecycle_update_reply_resolve_close_reopen() {
    let (_dir, h) = open();
    let t = h.create(new("Lifecycle")).await.unwrap();
    let t2 = h
        .update(
            &t.id,
            TicketPatch {
                status: Some(Reference::name("pending")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(t2.status.name.as_deref(), Some("Pending"));
    let e = h
        .add_entry(
            &t.id,
            NewEntry {
                kind: EntryKind::Response,
                body: Body::text("try again"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(e.kind, EntryKind::Response);
    let r = h
        .resolve(
            &t.id,
            Resolution {
                body: Some(Body::text("fixed")),
                author: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(r.status.state, State::Resolved);
    assert!(r.solved_at.is_some());
    let c = h
        .close(
            &t.id,
            Closure {
                note: Some("done".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(c.status.state, State::Closed);
    assert_eq!(c.entries.len(), 3);
    let _ = h
        .add_entry(
            &t.id,
            NewEntry {
                body: Body::text("still broken"),
                reopen: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(h.get(&t.id).await.unwrap().status.state, State::Open);
}

#[tokio::test]
async fn assign_moves_new_tickets_to_open() {
    let (_dir, h) = open();
    let t = h.create(new("Assign me")).await.unwrap();
    let a = h
        .assign(
            &t.id,
            Assignment {
                assignee: Some(Reference::id("2")),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(a.assignee, Some(Reference::both("2", "Robin Ops")));
    assert_eq!(a.status.state, State::Open);
}

#[tokio::test]
async fn soft_delete_hides_from_search_and_purge_removes() {
    let (_dir, h) = open();
    let t = h.create(new("Delete me")).await.unwrap();
    h.delete(&t.id, DeleteMode::Soft).await.unwrap();
    assert_eq!(h.get(&t.id).await.unwrap().status.state, State::Deleted);
    assert_eq!(h.search(&Query::default()).await.unwrap().total, 0);
    let all = h
        .search(&Query {
            include_deleted: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.total, 1);
    h.delete(&t.id, DeleteMode::Purge).await.unwrap();
    assert_eq!(
        h.get(&t.id).await.unwrap_err().kind,
        ticketgate_model::ErrorKind::NotFound
    );
}

#[tokio::test]
async fn links_refuse_self_second_parent_and_cycles() {
    let (_dir, h) = open();
    let a = h.create(new("a")).await.unwrap().id;
    let b = h.create(new("b")).await.unwrap().id;
    let c = h.create(new("c")).await.unwrap().id;
    use ticketgate_model::ErrorKind::*;
    assert_eq!(h.link(&a, &a).await.unwrap_err().kind, BadInput);
    h.link(&a, &b).await.unwrap();
    h.link(&b, &c).await.unwrap();
    assert_eq!(
        h.link(&c, &a).await.unwrap_err().kind,
        Conflict,
        "c -> a closes a cycle"
    );
    assert_eq!(
        h.link(&a, &c).await.unwrap_err().kind,
        Conflict,
        "c already has a parent"
    );
    assert_eq!(h.children(&a).await.unwrap()[0].id, b);
    assert_eq!(h.parent(&c).await.unwrap().unwrap().id, b);
    assert_eq!(h.unlink(&a, &c).await.unwrap_err().kind, NotFound);
    h.unlink(&b, &c).await.unwrap();
    assert!(h.parent(&c).await.unwrap().is_none());
}

#[tokio::test]
async fn stats_and_lookups() {
    let (_dir, h) = open();
    let t = h.create(new("one")).await.unwrap();
    h.create(new("two")).await.unwrap();
    h.close(&t.id, Closure::default()).await.unwrap();
    let s = h.stats(&StatsQuery::default()).await.unwrap();
    assert_eq!((s.total, s.open, s.closed), (2, 1, 1));
    assert_eq!(s.by_status.get("Closed"), Some(&1));
    let statuses = h.lookup(LookupKind::Statuses).await.unwrap();
    assert_eq!(statuses.len(), 7);
    assert_eq!(statuses[3].state, Some(State::Resolved));
}

#[tokio::test]
async fn tickets_survive_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("helpdesk.sqlite");
    let id = EmbeddedHelpdesk::open(&path)
        .unwrap()
        .create(new("durable"))
        .await
        .unwrap()
        .id;
    let h = EmbeddedHelpdesk::open(&path).unwrap();
    assert_eq!(h.get(&id).await.unwrap().subject, "durable");
    assert_eq!(
        h.lookup(LookupKind::Departments).await.unwrap().len(),
        4,
        "seeded once"
    );
}

#[tokio::test]
async fn a_create_repeated_with_its_key_makes_one_ticket() {
    let (_dir, h) = open();
    let a = h.create_idempotent(new("once"), "k-1").await.unwrap();
    let again = h.create_idempotent(new("once"), "k-1").await.unwrap();
    assert_eq!(a.id, again.id);
    let other = h.create_idempotent(new("once"), "k-2").await.unwrap();
    assert_ne!(a.id, other.id);
    let page = h.search(&Query::default()).await.unwrap();
    assert_eq!(page.total, 2);
    h.delete(&a.id, DeleteMode::Purge).await.unwrap();
    let e = h.create_idempotent(new("once"), "k-1").await.unwrap_err();
    assert_eq!(e.kind, ticketgate_model::ErrorKind::NotFound);
    assert_eq!(h.search(&Query::default()).await.unwrap().total, 1);
}
