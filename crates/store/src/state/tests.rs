//! Every test of the state runs against both backends: SQLite in a temporary
//! directory, and PostgreSQL in a database of its own (skipped, and saying so, when no
//! server answers outside CI; failing under CI).

use super::*;
use idmap::{CopyRecord, GatewayIds, IdKind, MappedId};
use postgres::{PgOptions, ScratchDatabase};

/// Where a backend's state lives, kept alive for the test's length.
enum Home {
    Sqlite(tempfile::TempDir),
    Postgres(ScratchDatabase),
}

impl Home {
    fn sqlite() -> Self {
        Home::Sqlite(tempfile::tempdir().unwrap())
    }
    fn postgres(what: &str) -> Option<Self> {
        ScratchDatabase::for_test(what).map(Home::Postgres)
    }
    /// A state on this home; opened again, it finds what was left there.
    fn open(&self) -> GatewayState {
        match self {
            Home::Sqlite(dir) => GatewayState::open(&dir.path().join("gateway.sqlite")).unwrap(),
            Home::Postgres(db) => GatewayState::postgres(&pg_options(db)).unwrap(),
        }
    }
}

fn pg_options(db: &ScratchDatabase) -> PgOptions {
    PgOptions {
        pool_size: 4,
        lease: std::time::Duration::from_millis(1_500),
        ..PgOptions::new(db.url())
    }
}

/// The homes to run a test on: SQLite always, PostgreSQL when a server answers.
fn homes(what: &str) -> Vec<(&'static str, Home)> {
    let mut out = vec![("sqlite", Home::sqlite())];
    if let Some(pg) = Home::postgres(what) {
        out.push(("postgres", pg));
    }
    out
}

macro_rules! on_both_backends {
    ($name:ident, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for (backend, home) in homes(stringify!($name)) {
                eprintln!("{}: {backend}", stringify!($name));
                $body(&home).await;
            }
        }
    };
}

on_both_backends!(outbox_lifecycle_and_idempotency_follow_delivery, lifecycle);
on_both_backends!(
    failed_items_back_off_then_dead_letter_and_can_be_retried,
    backoff_and_dead_letters
);
on_both_backends!(outbox_survives_reopening, reopening);
on_both_backends!(first_mail_record_wins, mail_records);
on_both_backends!(
    an_idempotency_key_keeps_its_first_outcome,
    idempotency_first_outcome
);
on_both_backends!(old_records_are_pruned, pruning);

async fn lifecycle(home: &Home) {
    let s = home.open();
    let key = Some(("k1".to_owned(), "fp".to_owned()));
    let t1 = s
        .enqueue(Enqueue {
            upstream: "up".into(),
            kind: OutboxKind::Create,
            target: None,
            consumer: "demo".into(),
            payload: "{}".into(),
            idempotency: key,
            delivery_key: None,
            request_id: None,
        })
        .await
        .unwrap();
    let t2 = s
        .enqueue(Enqueue {
            upstream: "up".into(),
            kind: OutboxKind::Entry,
            target: Some(t1.clone()),
            consumer: "demo".into(),
            payload: "{}".into(),
            idempotency: None,
            delivery_key: None,
            request_id: None,
        })
        .await
        .unwrap();
    assert!(t1.starts_with("q-") && t1 != t2);
    let due = s.due(10).await.unwrap();
    assert_eq!(
        due.iter().map(|i| &i.tracking_id).collect::<Vec<_>>(),
        vec![&t1, &t2]
    );

    s.begin_attempt(due[0].seq).await.unwrap();
    s.delivered(due[0].seq, "42", Some("100042")).await.unwrap();
    let rec = s.idempotency("demo", "k1").await.unwrap().unwrap();
    assert_eq!(rec.ticket_id.as_deref(), Some("42"));
    // The entry queued behind the create now targets the real ticket.
    assert_eq!(
        s.item(&t2).await.unwrap().unwrap().target.as_deref(),
        Some("42")
    );
    let summary = s.summary().await.unwrap();
    assert_eq!((summary.pending, summary.delivered), (1, 1));
}

async fn backoff_and_dead_letters(home: &Home) {
    let s = home.open();
    let t = s
        .enqueue(Enqueue {
            upstream: "up".into(),
            kind: OutboxKind::Create,
            target: None,
            consumer: "demo".into(),
            payload: "{}".into(),
            idempotency: None,
            delivery_key: None,
            request_id: None,
        })
        .await
        .unwrap();
    let seq = s.item(&t).await.unwrap().unwrap().seq;
    let later = time::now() + chrono::Duration::seconds(60);
    s.failed(seq, "connection refused", Some(later))
        .await
        .unwrap();
    assert!(
        s.due(10).await.unwrap().is_empty(),
        "not due before its backoff"
    );
    s.failed(seq, "still refused", None).await.unwrap();
    let item = s.item(&t).await.unwrap().unwrap();
    assert_eq!(item.state, OutboxState::Dead);
    assert_eq!(item.last_error.as_deref(), Some("still refused"));
    assert_eq!(s.retry_all().await.unwrap(), 1);
    assert_eq!(s.due(10).await.unwrap().len(), 1);
    assert!(s.drop_item(&t).await.unwrap());
    assert!(s.item(&t).await.unwrap().is_none());
}

async fn reopening(home: &Home) {
    let t = {
        let s = home.open();
        s.enqueue(Enqueue {
            upstream: "up".into(),
            kind: OutboxKind::Create,
            target: None,
            consumer: "demo".into(),
            payload: "{\"a\":1}".into(),
            idempotency: None,
            delivery_key: None,
            request_id: None,
        })
        .await
        .unwrap()
    };
    let s = home.open();
    assert_eq!(s.item(&t).await.unwrap().unwrap().payload, "{\"a\":1}");
}

async fn mail_records(home: &Home) {
    let s = home.open();
    let rec = |t: &str| MailRecord {
        message_id: "m@x".into(),
        upstream: "up".into(),
        ticket_id: Some(t.into()),
        number: None,
        tracking_id: None,
    };
    assert!(s.mail_remember(rec("1")).await.unwrap());
    assert!(!s.mail_remember(rec("2")).await.unwrap());
    let found = s
        .mail_lookup(vec!["nope".into(), "m@x".into()])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.ticket_id.as_deref(), Some("1"));
    // Pruning forgets what was recorded before the cut, and nothing after it.
    let past = time::now() - chrono::Duration::seconds(60);
    assert_eq!(s.prune_mail(past).await.unwrap(), 0);
    assert!(s.mail_lookup(vec!["m@x".into()]).await.unwrap().is_some());
    let future = time::now() + chrono::Duration::seconds(5);
    assert_eq!(s.prune_mail(future).await.unwrap(), 1);
    assert!(s.mail_lookup(vec!["m@x".into()]).await.unwrap().is_none());
    // A message seen again after that is new.
    assert!(s.mail_remember(rec("3")).await.unwrap());
    // A message's keys in one write: only the new one counts, the known one keeps its
    // first ticket.
    let both = vec![
        rec("4"),
        MailRecord {
            message_id: "digest:abc".into(),
            ..rec("4")
        },
    ];
    assert_eq!(s.mail_remember_all(both).await.unwrap(), 1);
    let ticket_of = |key: &str| {
        let s = s.clone();
        let key = key.to_owned();
        async move {
            s.mail_lookup(vec![key])
                .await
                .unwrap()
                .and_then(|r| r.ticket_id)
        }
    };
    assert_eq!(ticket_of("m@x").await.as_deref(), Some("3"));
    assert_eq!(ticket_of("digest:abc").await.as_deref(), Some("4"));
}

async fn idempotency_first_outcome(home: &Home) {
    let s = home.open();
    assert!(s.idempotency("demo", "k").await.unwrap().is_none());
    s.remember_created("demo", "k", "fp1", "up", "7", "100007")
        .await
        .unwrap();
    // A concurrent twin that finished second does not overwrite the first outcome.
    s.remember_created("demo", "k", "fp1", "up", "8", "100008")
        .await
        .unwrap();
    let rec = s.idempotency("demo", "k").await.unwrap().unwrap();
    assert_eq!(
        (rec.ticket_id.as_deref(), rec.number.as_deref()),
        (Some("7"), Some("100007"))
    );
    assert_eq!(rec.fingerprint, "fp1");
    // Keys are per consumer.
    assert!(s.idempotency("other", "k").await.unwrap().is_none());
    // Seen from a second handle on the same state (another gateway process).
    let again = home.open();
    assert_eq!(again.idempotency("demo", "k").await.unwrap(), Some(rec));
}

async fn pruning(home: &Home) {
    let s = home.open();
    s.remember_created("demo", "old", "fp", "up", "1", "1")
        .await
        .unwrap();
    let t = s
        .enqueue(Enqueue {
            upstream: "up".into(),
            kind: OutboxKind::Create,
            target: None,
            consumer: "demo".into(),
            payload: "{}".into(),
            idempotency: None,
            delivery_key: None,
            request_id: None,
        })
        .await
        .unwrap();
    let seq = s.item(&t).await.unwrap().unwrap().seq;
    s.delivered(seq, "1", None).await.unwrap();
    let future = time::now() + chrono::Duration::seconds(5);
    let pruned = s.prune(future, future).await.unwrap();
    assert_eq!(
        pruned,
        Pruned {
            idempotency: 1,
            delivered: 1
        }
    );
    assert!(s.item(&t).await.unwrap().is_none());
}

/// Several gateways on one PostgreSQL: claims never overlap, an item waits for the
/// earlier items of its ticket, and a claim that is never finished (its gateway was
/// killed) comes back when its lease runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_claims_are_exclusive_ordered_per_ticket_and_leased() {
    let Some(db) =
        ScratchDatabase::for_test("postgres_claims_are_exclusive_ordered_per_ticket_and_leased")
    else {
        return;
    };
    let a = GatewayState::postgres(&pg_options(&db)).unwrap();
    let b = GatewayState::postgres(&pg_options(&db)).unwrap();
    assert!(a.is_shared());
    let report = a.migrate().await.unwrap();
    assert_eq!((report.from, report.to), (0, 3));
    assert_eq!(
        b.migrate().await.unwrap(),
        MigrationReport { from: 3, to: 3 }
    );
    let enqueue = |kind, target: Option<String>| Enqueue {
        upstream: "up".into(),
        kind,
        target,
        consumer: "demo".into(),
        payload: "{}".into(),
        idempotency: None,
        delivery_key: None,
        request_id: Some("tg-req-1".into()),
    };
    // Ticket 1: a create and two replies queued behind it; ticket 2: a create.
    let c1 = a.enqueue(enqueue(OutboxKind::Create, None)).await.unwrap();
    // The id of the request that queued an item comes back with it, for every attempt.
    assert_eq!(
        a.item(&c1).await.unwrap().unwrap().request_id.as_deref(),
        Some("tg-req-1")
    );
    let r1 = a
        .enqueue(enqueue(OutboxKind::Entry, Some(c1.clone())))
        .await
        .unwrap();
    let r2 = b
        .enqueue(enqueue(OutboxKind::Entry, Some(c1.clone())))
        .await
        .unwrap();
    let c2 = b.enqueue(enqueue(OutboxKind::Create, None)).await.unwrap();

    let ids = |items: &[OutboxItem]| {
        items
            .iter()
            .map(|i| i.tracking_id.clone())
            .collect::<Vec<_>>()
    };
    // Concurrent claims: together they hold each claimable item once, and the replies
    // wait for their create.
    let (ca, cb) = tokio::join!(a.claim(10), b.claim(10));
    let mut both = ids(&ca.unwrap());
    both.extend(ids(&cb.unwrap()));
    both.sort();
    let mut expected = vec![c1.clone(), c2.clone()];
    expected.sort();
    assert_eq!(both, expected);
    assert!(a.claim(10).await.unwrap().is_empty(), "all claimed");

    // c1 delivered: the first reply (and only it) becomes claimable, for its ticket.
    let seq = |t: &str| {
        let (a, t) = (a.clone(), t.to_owned());
        async move { a.item(&t).await.unwrap().unwrap().seq }
    };
    a.delivered(seq(&c1).await, "41", Some("100041"))
        .await
        .unwrap();
    let claimed = b.claim(10).await.unwrap();
    assert_eq!(ids(&claimed), vec![r1.clone()]);
    assert_eq!(claimed[0].target.as_deref(), Some("41"));
    // Its gateway "dies" holding it: r2 still waits, and after the lease r1 is back.
    assert!(a.claim(10).await.unwrap().is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(1_700)).await;
    let again = a.claim(10).await.unwrap();
    // c2's lease ran out too (it was never finished either).
    let mut got = ids(&again);
    got.sort();
    let mut want = vec![r1.clone(), c2.clone()];
    want.sort();
    assert_eq!(got, want);
    a.delivered(seq(&r1).await, "41", None).await.unwrap();
    // A failure gives the claim back at once, for the time the backoff says.
    let r2_claim = b.claim(10).await.unwrap();
    assert_eq!(ids(&r2_claim), vec![r2.clone()]);
    b.failed(r2_claim[0].seq, "busy", Some(time::now()))
        .await
        .unwrap();
    assert_eq!(ids(&a.claim(10).await.unwrap()), vec![r2.clone()]);
    // Released without an attempt: claimable again at once.
    a.release(vec![seq(&r2).await]).await.unwrap();
    assert_eq!(ids(&b.claim(10).await.unwrap()), vec![r2]);
}

/// PostgreSQL down: every call is "storage unavailable" (a 503 to the caller), never
/// a panic or a hang; the error names no password.
#[tokio::test]
async fn an_unreachable_postgres_is_storage_unavailable() {
    let s = GatewayState::postgres(&PgOptions {
        connect_timeout: std::time::Duration::from_millis(500),
        ..PgOptions::new("postgres://tg:s3cret@127.0.0.1:1/none")
    })
    .unwrap();
    let err = s.idempotency("demo", "k").await.unwrap_err();
    assert_eq!(
        err.kind,
        ticketgate_model::ErrorKind::StorageUnavailable,
        "{err}"
    );
    assert!(err.retryable);
    assert!(!err.message.contains("s3cret"), "{}", err.message);
    assert!(s.describe().contains("127.0.0.1:1/none"));
    assert!(!s.describe().contains("s3cret"));
}

// The id map (`idmap.rs`): the same on both backends.
on_both_backends!(
    idmap_assigned_ids_are_stable_distinct_and_found_both_ways,
    idmap_ids
);
on_both_backends!(
    idmap_a_copy_pair_is_found_from_either_side,
    idmap_copy_pairs
);
on_both_backends!(
    idmap_a_moved_ticket_keeps_every_id_its_clients_knew,
    idmap_moves
);
on_both_backends!(
    idmap_instances_sharing_a_state_never_hand_out_one_number_twice,
    idmap_concurrent
);

async fn idmap_ids(home: &Home) {
    let s = home.open();
    let a = s.id_assign("local", "rt", "7", 1000).await.unwrap();
    let b = s.id_assign("local", "rt", "8", 1000).await.unwrap();
    let again = s.id_assign("local", "rt", "7", 1000).await.unwrap();
    assert_eq!(a, again);
    assert_ne!(a.id, b.id);
    assert!(a.id.parse::<u64>().unwrap() > 1000);
    assert_eq!(
        s.id_lookup("local", IdKind::Id, &a.id).await.unwrap(),
        Some(MappedId {
            upstream: "rt".into(),
            upstream_id: "7".into()
        })
    );
    assert_eq!(
        s.id_lookup("local", IdKind::Number, &b.id)
            .await
            .unwrap()
            .map(|m| m.upstream_id),
        Some("8".into())
    );
    // Another namespace knows nothing of them.
    assert_eq!(s.id_lookup("rt", IdKind::Id, &a.id).await.unwrap(), None);
    assert_eq!(s.id_reverse("rt", "rt", "7").await.unwrap(), None);
}

async fn idmap_copy_pairs(home: &Home) {
    let s = home.open();
    let rec = |src: &str, outcome: &str, target: Option<&str>| CopyRecord {
        source_id: src.into(),
        outcome: outcome.into(),
        target_id: target.map(str::to_owned),
        reason: None,
    };
    s.record_copy("local", "rt", rec("5", "copied", Some("12")))
        .await
        .unwrap();
    s.record_copy("local", "rt", rec("6", "failed", None))
        .await
        .unwrap();
    s.record_copy("local", "rt", rec("7", "partial", Some("13")))
        .await
        .unwrap();
    assert_eq!(
        s.copy_pair("local", "5", "rt").await.unwrap(),
        Some("12".into())
    );
    assert_eq!(
        s.copy_pair("rt", "12", "local").await.unwrap(),
        Some("5".into())
    );
    assert_eq!(
        s.copy_pair("local", "7", "rt").await.unwrap(),
        Some("13".into())
    );
    // No copy made, another pair of upstreams, or an id of the other side.
    assert_eq!(s.copy_pair("local", "6", "rt").await.unwrap(), None);
    assert_eq!(s.copy_pair("local", "5", "b").await.unwrap(), None);
    assert_eq!(s.copy_pair("local", "12", "rt").await.unwrap(), None);
}

async fn idmap_moves(home: &Home) {
    let s = home.open();
    // A ticket of `rt` seen by `local`'s clients, then both moved to `b`.
    let seen = s.id_assign("local", "rt", "7", 1000).await.unwrap();
    s.id_moved("rt", "7", "7", "b", "70").await.unwrap();
    s.id_moved("local", "5", "100005", "b", "71").await.unwrap();
    let at = |m: Option<MappedId>| m.map(|m| (m.upstream, m.upstream_id));
    assert_eq!(
        at(s.id_lookup("local", IdKind::Id, &seen.id).await.unwrap()),
        Some(("b".into(), "70".into()))
    );
    assert_eq!(
        at(s.id_lookup("rt", IdKind::Id, "7").await.unwrap()),
        Some(("b".into(), "70".into()))
    );
    assert_eq!(
        at(s.id_lookup("local", IdKind::Number, "100005")
            .await
            .unwrap()),
        Some(("b".into(), "71".into()))
    );
    assert_eq!(
        s.id_reverse("local", "b", "71").await.unwrap(),
        Some(GatewayIds {
            id: "5".into(),
            number: Some("100005".into())
        })
    );
}

/// Two states on one home (on PostgreSQL, two pools: two gateways), assigning at once:
/// distinct tickets get distinct numbers above the base, the same ticket one number,
/// and each finds what the other assigned.
async fn idmap_concurrent(home: &Home) {
    let a = home.open();
    // One SQLite file has one gateway (its lock refuses a second), so one state there.
    let b = match home {
        Home::Sqlite(_) => a.clone(),
        Home::Postgres(_) => home.open(),
    };
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        // Tickets 0..20, each assigned twice, once through each state.
        let ticket = (i / 2).to_string();
        tasks.push(tokio::spawn(async move {
            let ids = s.id_assign("local", "rt", &ticket, 5_000).await.unwrap();
            (ticket, ids)
        }));
    }
    let mut by_ticket = std::collections::HashMap::new();
    for t in tasks {
        let (ticket, ids) = t.await.unwrap();
        assert!(ids.id.parse::<u64>().unwrap() > 5_000, "{ids:?}");
        assert_eq!(ids.number.as_deref(), Some(ids.id.as_str()));
        if let Some(before) = by_ticket.insert(ticket.clone(), ids.clone()) {
            assert_eq!(before, ids, "ticket {ticket} got two numbers");
        }
    }
    let numbers: std::collections::HashSet<_> = by_ticket.values().map(|i| i.id.clone()).collect();
    assert_eq!(
        numbers.len(),
        20,
        "no number handed out twice: {by_ticket:?}"
    );
    for (ticket, ids) in &by_ticket {
        for s in [&a, &b] {
            assert_eq!(
                s.id_lookup("local", IdKind::Number, &ids.id).await.unwrap(),
                Some(MappedId {
                    upstream: "rt".into(),
                    upstream_id: ticket.clone()
                })
            );
        }
    }
}

/// The SQLite state's pruning of mail keys and a mirrored write's look-up of its pair
/// use indexes, not scans of the whole table (PostgreSQL's schema has the same ones).
#[test]
fn sqlite_prunes_mail_keys_and_finds_copy_pairs_by_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.sqlite");
    drop(GatewayState::open(&path).unwrap());
    let c = rusqlite::Connection::open(&path).unwrap();
    let plan = |sql: &str| -> String {
        let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<std::result::Result<Vec<_>, _>>()
            .unwrap();
        rows.join("; ")
    };
    let prune = plan("DELETE FROM mail_map WHERE created_at < '2026-01-01'");
    assert!(prune.contains("INDEX mail_map_created"), "{prune}");
    let pair = plan(
        "SELECT source_id FROM copied WHERE to_upstream = 'a' AND target_id = 'b' AND from_upstream = 'c'",
    );
    assert!(pair.contains("INDEX copied_target"), "{pair}");
}
