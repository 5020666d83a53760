//! Retention: what pruning removes from the gateway's state and the embedded store,
//! and what it must keep.

use chrono::{Duration, Utc};
use ticketgate_model::{Body, Helpdesk, NewTicket, Requester};
use ticketgate_store::{EmbeddedHelpdesk, Enqueue, GatewayState, OutboxKind, Pruned};

fn create(key: &str) -> Enqueue {
    Enqueue {
        upstream: "central".into(),
        kind: OutboxKind::Create,
        target: None,
        consumer: "demo".into(),
        payload: "{}".into(),
        idempotency: Some((key.into(), "fingerprint".into())),
        delivery_key: None,
        request_id: None,
    }
}

#[tokio::test]
async fn pruning_forgets_old_keys_and_delivered_items_but_not_pending_ones() {
    let dir = tempfile::tempdir().unwrap();
    let state = GatewayState::open(&dir.path().join("gateway.sqlite")).unwrap();
    let a = state.enqueue(create("key-a")).await.unwrap();
    let b = state.enqueue(create("key-b")).await.unwrap();
    let pending = state.enqueue(create("key-c")).await.unwrap();
    // A reply queued behind `a`, not yet delivered.
    let reply = state
        .enqueue(Enqueue {
            kind: OutboxKind::Entry,
            target: Some(a.clone()),
            idempotency: None,
            ..create("unused")
        })
        .await
        .unwrap();
    for t in [&a, &b] {
        let seq = state.item(t).await.unwrap().unwrap().seq;
        state.delivered(seq, "7", Some("100007")).await.unwrap();
    }

    // Nothing is old enough yet.
    let long_ago = Utc::now() - Duration::hours(1);
    assert_eq!(
        state.prune(long_ago, long_ago).await.unwrap(),
        Pruned::default()
    );
    assert!(state.idempotency("demo", "key-a").await.unwrap().is_some());

    // Delivering `a` pointed the reply at the ticket itself: `a` is not needed for it.
    assert_eq!(
        state.item(&reply).await.unwrap().unwrap().target.as_deref(),
        Some("7")
    );

    let later = Utc::now() + Duration::seconds(1);
    let pruned = state.prune(later, later).await.unwrap();
    assert_eq!(
        pruned,
        Pruned {
            idempotency: 3,
            delivered: 2
        }
    );
    for key in ["key-a", "key-b", "key-c"] {
        assert!(state.idempotency("demo", key).await.unwrap().is_none());
    }
    assert!(state.item(&a).await.unwrap().is_none(), "delivered and old");
    assert!(state.item(&b).await.unwrap().is_none(), "delivered and old");
    assert!(state.item(&pending).await.unwrap().is_some(), "pending");
    assert!(state.item(&reply).await.unwrap().is_some(), "pending");
}

#[tokio::test]
async fn old_delivery_keys_are_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedHelpdesk::open(&dir.path().join("helpdesk.sqlite")).unwrap();
    let ticket = || NewTicket {
        subject: "Printer".into(),
        body: Body::text("jams"),
        requester: Requester {
            email: Some("ann@example.com".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let first = store
        .create_idempotent(ticket(), "delivery-1")
        .await
        .unwrap();
    let again = store
        .create_idempotent(ticket(), "delivery-1")
        .await
        .unwrap();
    assert_eq!(first.id, again.id, "a repeated delivery is recognised");
    assert_eq!(
        store
            .prune_create_keys(Utc::now() - Duration::hours(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .prune_create_keys(Utc::now() + Duration::seconds(1))
            .await
            .unwrap(),
        1
    );
    let after = store
        .create_idempotent(ticket(), "delivery-1")
        .await
        .unwrap();
    assert_ne!(first.id, after.id, "past retention the key is new");
}
