use super::*;
use crate::db::{Db, Durability};
use ticketgate_model::{ErrorKind, Requester, SortField, SortOrder};

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

/// A `helpdesk.sqlite` written by the previous schema (version 2: each body kept both
/// in its column and in the document, no text index) opens, is migrated in place, and
/// its tickets read and search as before.
#[tokio::test]
async fn a_database_of_the_previous_schema_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("helpdesk.sqlite");
    {
        let old = Db::open(&path, Durability::Normal, &MIGRATIONS[..2]).unwrap();
        old.call_blocking(seed_lookups).unwrap();
        old.call_blocking(|c| {
            // Rows exactly as version 2 wrote them: the whole ticket and entry as
            // documents, bodies included. Made by a clock an hour ahead.
            let now = time::now() + chrono::Duration::hours(1);
            let ticket = Ticket {
                id: "1".into(),
                number: "100001".into(),
                subject: "Scanner offline".into(),
                body: Body::html("<p>The scanner on floor 2 is offline</p>"),
                requester: Requester {
                    email: Some("ann@example.com".into()),
                    ..Default::default()
                },
                status: Status {
                    state: State::New,
                    name: Some("New".into()),
                    id: Some("1".into()),
                },
                priority: None,
                urgency: None,
                impact: None,
                ticket_type: None,
                cc: vec![],
                category: None,
                topic: None,
                department: None,
                group: None,
                team: None,
                assignee: None,
                location: None,
                entity: None,
                sla: None,
                due_at: None,
                created_at: now,
                updated_at: now,
                solved_at: None,
                closed_at: None,
                source: Default::default(),
                client_ip: None,
                attachments: vec![],
                entries: vec![],
                parent: None,
                children: vec![],
                custom_fields: Default::default(),
                email: None,
            };
            let entry = ThreadEntry {
                id: "1".into(),
                kind: EntryKind::Response,
                author: None,
                body: Body::text("Replaced the toner cartridge"),
                created_at: now,
                attachments: vec![],
                email: None,
            };
            let ts = time::to_db(&now);
            c.execute(
                "INSERT INTO tickets(id, number, subject, body, state, status_id, status_name, \
                 requester_email, source, created_at, updated_at, doc) \
                 VALUES (1, '100001', ?1, ?2, 'new', '1', 'New', 'ann@example.com', 'api', ?3, ?3, ?4)",
                params![
                    ticket.subject,
                    ticket.body.content,
                    ts,
                    serde_json::to_string(&ticket).unwrap()
                ],
            )
            .map_err(sql_error)?;
            c.execute(
                "INSERT INTO entries(id, ticket_id, kind, body, created_at, doc) \
                 VALUES (1, 1, 'response', ?1, ?2, ?3)",
                params![
                    entry.body.content,
                    ts,
                    serde_json::to_string(&entry).unwrap()
                ],
            )
            .map_err(sql_error)?;
            // Two attachments, the second deleted since: ids are never handed out twice.
            c.execute_batch(
                "INSERT INTO attachments(id, ticket_id, name, media_type, bytes) \
                 VALUES (1, 1, 'scan.txt', 'text/plain', x'6f6b'), \
                 (2, 1, 'gone.txt', 'text/plain', x'00'); \
                 DELETE FROM attachments WHERE id = 2;",
            )
            .map_err(sql_error)?;
            Ok(())
        })
        .unwrap();
    }
    let h = EmbeddedHelpdesk::open(&path).unwrap();
    let t = h.get("1").await.unwrap();
    assert_eq!(t.subject, "Scanner offline");
    assert_eq!(
        t.body,
        Body::html("<p>The scanner on floor 2 is offline</p>")
    );
    assert_eq!(
        t.entries[0].body,
        Body::text("Replaced the toner cartridge")
    );
    // The bodies now live once, in their columns.
    let (version, in_docs): (i64, i64) = h
        .db
        .read(|c| {
            Ok((
                c.query_row("PRAGMA user_version", [], |r| r.get(0))
                    .map_err(sql_error)?,
                c.query_row(
                    "SELECT (SELECT count(*) FROM tickets WHERE json_extract(doc, '$.body.content') IS NOT NULL) \
                     + (SELECT count(*) FROM entries WHERE json_extract(doc, '$.body.content') IS NOT NULL)",
                    [],
                    |r| r.get(0),
                )
                .map_err(sql_error)?,
            ))
        })
        .await
        .unwrap();
    assert_eq!((version, in_docs), (MIGRATIONS.len() as i64, 0));
    // The attachment is a document now, and the next document gets a new id.
    let doc = h.document("1").await.unwrap();
    assert_eq!(
        (doc.title.as_str(), doc.ticket.as_deref()),
        ("scan.txt", Some("1"))
    );
    assert_eq!(doc.file.bytes, b"ok");
    let own = h
        .add_document(
            "notes",
            Attachment {
                name: "n.txt".into(),
                media_type: "text/plain".into(),
                bytes: b"n".to_vec(),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(own.id, "3");
    // The text index was back-filled: subject, body and entries are all found.
    for text in ["scanner", "FLOOR 2", "toner cartridge"] {
        let page = h
            .search(&Query {
                text: Some(text.into()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.total, 1, "{text}");
        assert_eq!(page.items[0].body.content, t.body.content);
    }
    // A new ticket numbers on, and, the clock now being behind the newest ticket,
    // takes its time rather than sort before it.
    let next = h.create(new("next")).await.unwrap();
    assert_eq!(next.number, "100002");
    assert_eq!(next.created_at, t.created_at);
    let newest = h.search(&Query::default()).await.unwrap();
    assert_eq!(newest.items[0].id, next.id);
    assert_eq!(h.get(&next.id).await.unwrap().created_at, t.created_at);
}

fn text(q: &str) -> Query {
    Query {
        text: Some(q.into()),
        include_deleted: true,
        limit: 100,
        ..Default::default()
    }
}

async fn hits(h: &EmbeddedHelpdesk, q: &str) -> Vec<String> {
    let page = h.search(&text(q)).await.unwrap();
    assert_eq!(page.total as usize, page.items.len(), "{q}");
    let mut ids: Vec<String> = page.items.into_iter().map(|t| t.subject).collect();
    ids.sort();
    ids
}

/// How many rows `table` holds, as a reader sees it.
async fn rows(h: &EmbeddedHelpdesk, table: &'static str) -> i64 {
    h.db.read(move |c| {
        c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .map_err(sql_error)
    })
    .await
    .unwrap()
}

/// The text index follows every write; it finds the words of the text, whole and in
/// order, in any case, and quotes and wildcards are only punctuation.
#[tokio::test]
async fn text_search_follows_every_write_and_matches_substrings() {
    let (_dir, h) = open();
    let a = h.create(new("Printer jams")).await.unwrap();
    let b = h.create(new("Laptop 100% slow_ish")).await.unwrap();
    assert_eq!(hits(&h, "printer").await, ["Printer jams"]);
    // Substrings, as GLPI's `contains` and RT's `LIKE` mean them.
    assert_eq!(hits(&h, "print").await, ["Printer jams"]);
    assert_eq!(hits(&h, "PRINTER JAMS").await, ["Printer jams"]);
    assert_eq!(hits(&h, "jams printer").await, Vec::<String>::new());
    assert_eq!(hits(&h, "rinter").await, ["Printer jams"]);
    // Shorter than a trigram: scanned, with the same meaning.
    assert_eq!(hits(&h, "ja").await, ["Printer jams"]);
    assert_eq!(hits(&h, "100% slow_").await, ["Laptop 100% slow_ish"]);
    // FTS5's syntax is not interpreted: the text is looked for as written.
    assert_eq!(hits(&h, "\"jams*").await, Vec::<String>::new());
    assert_eq!(hits(&h, "body of").await.len(), 2);
    assert_eq!(hits(&h, "jams").await, ["Printer jams"]);
    // No word at all: a scan, as the text was written.
    assert_eq!(hits(&h, "%").await, ["Laptop 100% slow_ish"]);
    // The number, exactly.
    assert_eq!(hits(&h, &b.number).await, ["Laptop 100% slow_ish"]);
    // An entry added later is found.
    h.add_entry(
        &a.id,
        NewEntry {
            body: Body::text("the fuser unit overheats"),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(hits(&h, "fuser unit").await, ["Printer jams"]);
    // A subject changed: the old text is gone, the new one found, entries kept.
    h.update(
        &a.id,
        TicketPatch {
            subject: Some("Copier jams".into()),
            body: Some(Body::text("the copier, not the printer")),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(hits(&h, "printer jams").await, Vec::<String>::new());
    assert_eq!(hits(&h, "copier").await, ["Copier jams"]);
    assert_eq!(hits(&h, "not the printer").await, ["Copier jams"]);
    assert_eq!(hits(&h, "overheats").await, ["Copier jams"]);
    // Soft-deleted: hidden from default searches, found with deleted ones.
    h.delete(&a.id, DeleteMode::Soft).await.unwrap();
    let page = h
        .search(&Query {
            text: Some("copier".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 0);
    assert_eq!(hits(&h, "copier").await, ["Copier jams"]);
    // Purged, with its entries: nothing of it is left in the index.
    h.delete(&a.id, DeleteMode::Purge).await.unwrap();
    assert_eq!(hits(&h, "overheats").await, Vec::<String>::new());
    assert_eq!(rows(&h, "tickets_fts").await, 1);
}

/// Creates committed together are indexed together, just before their commit (one
/// segment per commit, not one per create): every one of them is found by its own
/// text, and nothing is left waiting to be indexed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_committed_together_are_all_indexed_by_their_commit() {
    let (_dir, h) = open();
    let mut creates = tokio::task::JoinSet::new();
    for i in 0..120 {
        let h = h.clone();
        creates.spawn(async move { h.create(new(&format!("Scanner q{i:03}x offline"))).await });
    }
    while let Some(created) = creates.join_next().await {
        created.unwrap().unwrap();
    }
    let (writes, commits) = h.db.write_counts();
    assert!(
        commits < writes,
        "{writes} creates in {commits} commits: none grouped"
    );
    assert_eq!(h.search(&text("scanner")).await.unwrap().items.len(), 100);
    for i in [0, 7, 64, 119] {
        let subject = format!("Scanner q{i:03}x offline");
        assert_eq!(hits(&h, &format!("q{i:03}x")).await, [subject]);
    }
    assert_eq!(rows(&h, "fts_pending").await, 0, "nothing left to index");
}

/// Past the bound, the total is a lower bound and says so; the pages are still right.
#[tokio::test]
async fn totals_past_the_bound_are_lower_bounds() {
    let (_dir, h) = open();
    for i in 0..6 {
        h.create(new(&format!("bounded {i}"))).await.unwrap();
    }
    let search = |offset: u32| {
        let q = Query {
            text: Some("bounded".into()),
            sort: SortField::Number,
            order: SortOrder::Asc,
            limit: 2,
            offset,
            ..Default::default()
        };
        h.db.read(move |c| search_within(c, &q, true, 3))
    };
    let first = search(0).await.unwrap();
    assert_eq!((first.total, first.total_exact), (3, false));
    assert_eq!(first.items[0].subject, "bounded 0");
    let last = search(4).await.unwrap();
    assert_eq!((last.total, last.total_exact), (6, false));
    assert_eq!(last.items.len(), 2);
    let past = search(10).await.unwrap();
    assert_eq!((past.total, past.total_exact), (3, false));
    assert!(past.items.is_empty());
    let exact = h
        .search(&Query {
            text: Some("bounded".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((exact.total, exact.total_exact), (6, true));
    // Writes answer after their commit: a concurrent burst is all there at once.
    let burst: Vec<_> = (0..40)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move { h.create(new(&format!("burst {i}"))).await })
        })
        .collect();
    for b in burst {
        b.await.unwrap().unwrap();
    }
    assert_eq!(hits(&h, "burst").await.len(), 40);
}

/// Sorted by relevance, the best match comes first whatever its age; without text,
/// relevance is newest first.
#[tokio::test]
async fn relevance_puts_the_best_match_first() {
    let (_dir, h) = open();
    let best = h.create(new("Printer printer printer jams")).await.unwrap();
    let mut weak = new("Laptop");
    weak.body = Body::text("it happened near the printer, and then the laptop froze");
    let weak = h.create(weak).await.unwrap();
    h.create(new("Unrelated")).await.unwrap();
    let q = |text: Option<&str>, order| Query {
        text: text.map(str::to_owned),
        sort: SortField::Relevance,
        order,
        ..Default::default()
    };
    for order in [SortOrder::Asc, SortOrder::Desc] {
        let page = h.search(&q(Some("printer"), order)).await.unwrap();
        let ids: Vec<&str> = page.items.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, [best.id.as_str(), weak.id.as_str()], "{order:?}");
    }
    // The number, exactly, ranks first.
    let page = h
        .search(&q(Some(&weak.number), SortOrder::Desc))
        .await
        .unwrap();
    assert_eq!(page.items[0].id, weak.id);
    let newest = h.search(&q(None, SortOrder::Asc)).await.unwrap();
    assert_eq!(newest.items[0].subject, "Unrelated");
}

#[tokio::test]
async fn documents_on_their_own_and_linked() {
    let (_dir, h) = open();
    let t = h.create(new("Printer jams")).await.unwrap();
    let file = |name: &str, bytes: &[u8]| Attachment {
        name: name.into(),
        media_type: "text/plain".into(),
        bytes: bytes.to_vec(),
        ..Default::default()
    };
    // A document of its own: no ticket shows it.
    let own = h
        .add_document("Meeting notes", file("notes.txt", b"notes"), None)
        .await
        .unwrap();
    assert_eq!(own.title, "Meeting notes");
    assert_eq!(own.ticket, None);
    assert!(h.get(&t.id).await.unwrap().attachments.is_empty());
    let read = h.document(&own.id).await.unwrap();
    assert_eq!(
        (read.file.name.as_str(), read.file.bytes.as_slice()),
        ("notes.txt", &b"notes"[..])
    );
    assert_eq!(read.created_at, own.created_at);
    // Linked on upload: among the ticket's attachments under the same id.
    let linked = h
        .add_document("", file("log.txt", b"log"), Some(&t.id))
        .await
        .unwrap();
    assert_eq!(linked.title, "log.txt");
    let got = h.get(&t.id).await.unwrap();
    assert_eq!(got.attachments.len(), 1);
    assert_eq!(got.attachments[0].id.as_deref(), Some(linked.id.as_str()));
    // Linking the document of its own; twice, or to a second ticket, is refused.
    let done = h.link_document(&own.id, &t.id).await.unwrap();
    assert_eq!(done.ticket.as_deref(), Some(t.id.as_str()));
    assert_eq!(h.get(&t.id).await.unwrap().attachments.len(), 2);
    let again = h.link_document(&own.id, &t.id).await.unwrap_err();
    assert_eq!(again.kind, ErrorKind::Conflict);
    let other = h.create(new("Scanner")).await.unwrap();
    let second = h.link_document(&own.id, &other.id).await.unwrap_err();
    assert_eq!(second.kind, ErrorKind::Conflict);
    // Unknown documents and tickets, a file without a name.
    assert_eq!(
        h.document("999").await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(h.document("x").await.unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(
        h.link_document("999", &t.id).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    let orphan = h
        .add_document("x", file("x.txt", b"x"), None)
        .await
        .unwrap();
    assert_eq!(
        h.link_document(&orphan.id, "999").await.unwrap_err().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        h.add_document("x", file("x", b"x"), Some("999"))
            .await
            .unwrap_err()
            .kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        h.add_document("x", file("  ", b"x"), None)
            .await
            .unwrap_err()
            .kind,
        ErrorKind::BadInput
    );
    // A purged ticket takes its documents with it.
    h.delete(&t.id, DeleteMode::Purge).await.unwrap();
    assert_eq!(
        h.document(&linked.id).await.unwrap_err().kind,
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn tasks_are_kept_in_order_with_state_duration_and_assignee() {
    let (_dir, h) = open();
    let t = h.create(new("Printer jams")).await.unwrap();
    assert!(h.tasks(&t.id).await.unwrap().is_empty());
    h.ensure_agents(["alice"]).unwrap();
    let first = h
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
    assert_eq!(
        first.assignee.as_ref().and_then(|a| a.name.as_deref()),
        Some("alice")
    );
    h.add_task(
        &t.id,
        NewTask {
            body: "Called the vendor".into(),
            state: TaskState::Done,
            ..NewTask::default()
        },
    )
    .await
    .unwrap();
    let tasks = h.tasks(&t.id).await.unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0], first);
    assert_eq!(
        (tasks[1].state, tasks[1].duration_secs, tasks[1].private),
        (TaskState::Done, 0, false)
    );
    // Mistakes: no description, an unknown agent or ticket.
    let empty = NewTask {
        body: " ".into(),
        ..NewTask::default()
    };
    assert_eq!(
        h.add_task(&t.id, empty).await.unwrap_err().kind,
        ErrorKind::BadInput
    );
    let nobody = NewTask {
        body: "x".into(),
        assignee: Some(Reference::name("nobody-here")),
        ..NewTask::default()
    };
    assert_eq!(
        h.add_task(&t.id, nobody).await.unwrap_err().kind,
        ErrorKind::BadInput
    );
    assert_eq!(h.tasks("999").await.unwrap_err().kind, ErrorKind::NotFound);
    // A purged ticket takes its tasks with it.
    h.delete(&t.id, DeleteMode::Purge).await.unwrap();
    assert_eq!(h.tasks(&t.id).await.unwrap_err().kind, ErrorKind::NotFound);
}
