use super::*;

fn open() -> (tempfile::TempDir, GatewayState) {
    let dir = tempfile::tempdir().unwrap();
    let s = GatewayState::open(&dir.path().join("gateway.sqlite")).unwrap();
    (dir, s)
}

#[tokio::test]
async fn outbox_lifecycle_and_idempotency_follow_delivery() {
    let (_dir, s) = open();
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

#[tokio::test]
async fn failed_items_back_off_then_dead_letter_and_can_be_retried() {
    let (_dir, s) = open();
    let t = s
        .enqueue(Enqueue {
            upstream: "up".into(),
            kind: OutboxKind::Create,
            target: None,
            consumer: "demo".into(),
            payload: "{}".into(),
            idempotency: None,
            delivery_key: None,
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

#[tokio::test]
async fn outbox_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.sqlite");
    let t = {
        let s = GatewayState::open(&path).unwrap();
        s.enqueue(Enqueue {
            upstream: "up".into(),
            kind: OutboxKind::Create,
            target: None,
            consumer: "demo".into(),
            payload: "{\"a\":1}".into(),
            idempotency: None,
            delivery_key: None,
        })
        .await
        .unwrap()
    };
    let s = GatewayState::open(&path).unwrap();
    assert_eq!(s.item(&t).await.unwrap().unwrap().payload, "{\"a\":1}");
}

#[tokio::test]
async fn first_mail_record_wins() {
    let (_dir, s) = open();
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
}
