//! The embedded store's create and search, on a real SQLite file.
//!
//! Run with `cargo bench --bench store`. Durability `normal` and `full` are both
//! measured: `full` (the default) pays one fsync per commit.

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

fn store(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    for (label, durability) in [("normal", Durability::Normal), ("full", Durability::Full)] {
        let dir = tempfile::tempdir().expect("a temp dir");
        let h = EmbeddedHelpdesk::open_with(&dir.path().join("helpdesk.sqlite"), durability)
            .expect("opens");
        let mut i = 0;
        c.bench_function(&format!("store create (durability {label})"), |b| {
            b.iter(|| {
                i += 1;
                rt.block_on(h.create(black_box(ticket(i))))
                    .expect("created")
            })
        });
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let h = EmbeddedHelpdesk::open_with(&dir.path().join("helpdesk.sqlite"), Durability::Normal)
        .expect("opens");
    rt.block_on(async {
        for i in 0..5_000 {
            h.create(ticket(i)).await.expect("created");
        }
    });
    let by_department = Query {
        department: Some(Reference::name("IT")),
        limit: 25,
        ..Default::default()
    };
    c.bench_function(
        "store search (5k tickets, department filter, page of 25 + total)",
        |b| {
            b.iter(|| {
                rt.block_on(h.search(black_box(&by_department)))
                    .expect("searched")
            })
        },
    );
    let by_text = Query {
        text: Some("(4242)".into()),
        limit: 25,
        ..Default::default()
    };
    c.bench_function("store search (5k tickets, free text)", |b| {
        b.iter(|| {
            rt.block_on(h.search(black_box(&by_text)))
                .expect("searched")
        })
    });
    c.bench_function("store get", |b| {
        b.iter(|| rt.block_on(h.get(black_box("4242"))).expect("found"))
    });
}

criterion_group!(benches, store);
criterion_main!(benches);
