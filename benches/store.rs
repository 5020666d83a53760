//! The embedded store's create, get and search, on a real SQLite file.
//!
//! Run with `cargo bench --bench store`. Creates one at a time pay a whole commit each
//! (with durability `full`, the default, an fsync); 64 at once share group commits.
//! Searches run over 100 000 tickets.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use ticketgate_model::{Body, Helpdesk, NewTicket, Query, Reference, Requester};
use ticketgate_store::EmbeddedHelpdesk;
use ticketgate_store::db::Durability;

fn ticket(i: u64) -> NewTicket {
    NewTicket {
        subject: format!("VPN drops every 20 minutes ({i})"),
        body: Body::text("Since Monday's client update the VPN drops roughly every 20 minutes."),
        requester: Requester {
            name: Some("Angela Smith".into()),
            email: Some(format!("user{}@example.com", i % 50)),
            ..Default::default()
        },
        department: Some(Reference::name(if i.is_multiple_of(2) {
            "IT"
        } else {
            "Support"
        })),
        priority: Some(Reference::name("high")),
        ..Default::default()
    }
}

/// Create `n` tickets, `concurrency` at a time; returns how long it took.
fn create_many(
    rt: &tokio::runtime::Runtime,
    h: &EmbeddedHelpdesk,
    start: u64,
    n: u64,
    concurrency: u64,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..concurrency {
            let h = h.clone();
            tasks.spawn(async move {
                let mut i = start + w;
                while i < start + n {
                    h.create(ticket(i)).await.expect("created");
                    i += concurrency;
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("a create task");
        }
    });
    started.elapsed()
}

fn store(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    for (label, durability) in [("normal", Durability::Normal), ("full", Durability::Full)] {
        let dir = tempfile::tempdir().expect("a temp dir");
        let h = EmbeddedHelpdesk::open_with(&dir.path().join("helpdesk.sqlite"), durability)
            .expect("opens");
        let mut i = 0;
        c.bench_function(
            &format!("store create, one at a time (durability {label})"),
            |b| {
                b.iter(|| {
                    i += 1;
                    rt.block_on(h.create(black_box(ticket(i))))
                        .expect("created")
                })
            },
        );
        let mut next = 1_000_000;
        c.bench_function(
            &format!("store create, 64 at once (durability {label}; time per create)"),
            |b| {
                b.iter_custom(|iters| {
                    let took = create_many(&rt, &h, next, iters, 64);
                    next += iters;
                    took
                })
            },
        );
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let h = EmbeddedHelpdesk::open_with(&dir.path().join("helpdesk.sqlite"), Durability::Normal)
        .expect("opens");
    create_many(&rt, &h, 0, 100_000, 64);
    let by_department = Query {
        department: Some(Reference::name("IT")),
        limit: 25,
        ..Default::default()
    };
    c.bench_function(
        "store search (100k tickets, department filter, page of 25 + total)",
        |b| {
            b.iter(|| {
                rt.block_on(h.search(black_box(&by_department)))
                    .expect("searched")
            })
        },
    );
    let rare = Query {
        text: Some("(4242)".into()),
        limit: 25,
        ..Default::default()
    };
    c.bench_function("store search (100k tickets, text matching one)", |b| {
        b.iter(|| rt.block_on(h.search(black_box(&rare))).expect("searched"))
    });
    let all = Query {
        text: Some("vpn".into()),
        limit: 25,
        ..Default::default()
    };
    c.bench_function("store search (100k tickets, text matching all)", |b| {
        b.iter(|| rt.block_on(h.search(black_box(&all))).expect("searched"))
    });
    c.bench_function("store get", |b| {
        b.iter(|| rt.block_on(h.get(black_box("4242"))).expect("found"))
    });
}

criterion_group!(benches, store);
criterion_main!(benches);
