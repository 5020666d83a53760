//! Acknowledged durable creates per second with the upstream down (every create goes
//! through the outbox: one fsync'd SQLite commit) against creates with the upstream up
//! (a second gateway over loopback, its store at durability `full` too), in one run.
//!
//! Run with `cargo bench --bench outbox`; the ratio of the two `time` figures is the
//! figure the README reports.

use criterion::{Criterion, criterion_group, criterion_main};
use std::sync::Arc;
use ticketgate::{Config, Gateway};
use ticketgate_model::{Body, Consumer, CreateOptions, NewTicket, Permissions, Requester};

const CONSUMER: &str = r#"
[[consumers]]
name = "bench"
bearer_key = "bench-key"
permissions = ["create", "read", "update", "search", "delete", "stats", "subtickets"]
networks = ["127.0.0.0/8"]
quota.create = { per_second = 1000000.0, burst = 1000000 }
quota.read = { per_second = 1000000.0, burst = 1000000 }
"#;

fn ticket(i: u64) -> NewTicket {
    NewTicket {
        subject: format!("Laptop will not boot ({i})"),
        body: Body::text("Black screen after the BIOS logo since this morning."),
        requester: Requester {
            name: Some("Ann Example".into()),
            email: Some("ann@example.com".into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn build(toml: &str, dir: &std::path::Path) -> Arc<Gateway> {
    let mut config = Config::parse(toml, &|_| None).expect("a valid bench configuration");
    config.server.data_dir = dir.to_owned();
    Gateway::build(config).expect("the gateway builds")
}

fn outbox(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let consumer = Consumer::new("bench", Permissions::all());
    let options = CreateOptions {
        idempotency_key: None,
        may_queue: true,
        brief: false,
    };

    // The central gateway: the canonical API over its embedded store.
    let central_dir = tempfile::tempdir().expect("a temp dir");
    let central = build(
        &format!("[dialects.canonical]\nprefix = \"/v1\"\n{CONSUMER}"),
        central_dir.path(),
    );
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("a port");
    let central_addr = listener.local_addr().expect("an address");
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    rt.spawn(ticketgate::serve(listener, central, stopped));

    let edge_config = |addr: &str| {
        format!(
            "[upstreams.central]\nkind = \"ticketgate\"\nurl = \"http://{addr}/v1\"\nbearer_key = \"bench-key\"\n\
             connect_timeout_ms = 200\n\
             [routing]\ndefault = \"central\"\n\
             [outbox]\ninitial_backoff_ms = 3600000\nmax_backoff_ms = 3600000\n{CONSUMER}"
        )
    };

    let up_dir = tempfile::tempdir().expect("a temp dir");
    let up = build(&edge_config(&central_addr.to_string()), up_dir.path());
    let mut i = 0;
    c.bench_function("create, upstream up (forwarded, durable upstream)", |b| {
        b.iter(|| {
            i += 1;
            let r = rt.block_on(up.create(&consumer, ticket(i), options.clone()));
            assert!(matches!(r, Ok(ticketgate_model::Created::Ticket(_))));
        })
    });

    // Nothing listens on port 9 of loopback: every create is refused and queued. The
    // circuit opens after a few refusals, as it would in production.
    let down_dir = tempfile::tempdir().expect("a temp dir");
    let down = build(&edge_config("127.0.0.1:9"), down_dir.path());
    c.bench_function(
        "create, upstream down (acknowledged from the outbox)",
        |b| {
            b.iter(|| {
                i += 1;
                let r = rt.block_on(down.create(&consumer, ticket(i), options.clone()));
                assert!(matches!(r, Ok(ticketgate_model::Created::Queued { .. })));
            })
        },
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = outbox
}
criterion_main!(benches);
