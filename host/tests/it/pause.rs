//! Pause queues up to the limit, overflow is counted and reported, resume
//! catches up oldest first.

use std::time::Duration;

use serde_json::json;

use crate::both;
use scaihub::hub::Actor;

use crate::support::{Backend, Receiver, TestDb, TestEnv, event};

both!(
    paused_webhook_queues_until_limit_then_overflows_and_resume_catches_up,
    resume_releases_the_queue_oldest_first,
    pausing_stops_deliveries_already_taken_into_memory,
    a_long_queue_is_released_whole_and_in_order,
    a_delivery_queued_for_a_pause_already_lifted_is_sent,
);

async fn pausing_stops_deliveries_already_taken_into_memory(backend: Backend) {
    // One at a time to a slow receiver: the rest wait in the worker's memory.
    let env = TestEnv::with(
        backend,
        crate::support::Options {
            max_in_flight_per_webhook: 1,
            ..Default::default()
        },
    )
    .await;
    let rx = Receiver::start(|_| (200, Duration::from_millis(1500))).await;
    let (id, _) = env.webhook(&rx.url("/"), &["SHARING"]).await;
    let batch: Vec<_> = (0..5)
        .map(|i| event(&format!("evt_m{i}"), "SHARING", "share.a"))
        .collect();
    env.ingest(json!(batch)).await;
    rx.wait_for(1).await;
    let (s, _) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/webhooks/{id}/pause"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let list = env
        .wait_deliveries(&id, "the held ones queued", |l| {
            l.iter().filter(|d| d["status"] == "queued").count() == 4
        })
        .await;
    assert_eq!(
        list.iter().filter(|d| d["status"] == "succeeded").count(),
        1
    );
    assert_eq!(rx.received().len(), 1, "a paused webhook was sent to");
    env.call(
        "POST",
        &format!("/v1/orgs/{{org}}/webhooks/{id}/resume"),
        None,
    )
    .await;
    rx.wait_for(5).await;
    env.finish().await;
}

async fn paused_webhook_queues_until_limit_then_overflows_and_resume_catches_up(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let rx = Receiver::ok().await;
    let security = Receiver::ok().await;
    let (id, _) = env.webhook_with(json!({"name": "q", "url": rx.url("/"), "events": ["SHARING", "SECURITY"], "queue_limit": 3})).await;
    env.webhook(&security.url("/sec"), &["SECURITY"]).await;
    let (s, w) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/webhooks/{id}/pause"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(w["paused"], true);
    let events: Vec<_> = (1..=5)
        .map(|i| event(&format!("evt_q{i}"), "SHARING", "share.a"))
        .collect();
    env.ingest(json!(events)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(rx.received().is_empty(), "a paused webhook sent something");
    let list = env.deliveries(&id).await;
    let count = |status: &str| list.iter().filter(|d| d["status"] == status).count();
    assert_eq!(count("queued"), 3);
    assert_eq!(count("overflowed"), 2);
    let (_, w) = env
        .call("GET", &format!("/v1/orgs/{{org}}/webhooks/{id}"), None)
        .await;
    assert_eq!(w["overflow_count"], 2);
    // One SECURITY report for the episode, sent elsewhere, not to the paused webhook.
    let audit = env.audit("action=webhook.queue_overflow").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["category"], "SECURITY");
    assert_eq!(audit[0]["resource_id"], id);
    assert_eq!(
        security.wait_for(1).await[0].json()["action"],
        "webhook.queue_overflow"
    );

    // Time passing while paused sends nothing.
    env.clock.advance(Duration::from_secs(3600));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rx.received().is_empty());

    let (s, w) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/webhooks/{id}/resume"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(w["paused"], false);
    let got = rx.wait_for(3).await;
    let mut ids: Vec<String> = got
        .iter()
        .map(|r| r.json()["event_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, ["evt_q1", "evt_q2", "evt_q3"]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.received().len(), 3, "overflowed events must not be sent");
    assert_eq!(
        env.audit("action=webhook.resumed").await[0]["payload"]["released"],
        3
    );
    env.finish().await;
}

async fn resume_releases_the_queue_oldest_first(backend: Backend) {
    // Claim order is what "oldest first" rests on: check it on a hub with no
    // worker running, so nothing else claims in between.
    let (db, hub, clock, boot, w) = paused_without_worker(
        backend,
        json!({"name": "o", "url": "http://127.0.0.1:9/", "events": ["SHARING"]}),
    )
    .await;
    let actor = Actor::system();
    for i in 0..20 {
        let e = scaihub::domain::Event::from_json(
            &event(&format!("evt_o{i:02}"), "SHARING", "share.a"),
            "",
        )
        .unwrap();
        hub.ingest(&boot.org_id, vec![e]).await.unwrap();
        clock.advance(Duration::from_millis(if i % 2 == 0 { 0 } else { 5 }));
    }
    assert!(
        hub.store
            .claim_due("w1", hub.now(), hub.now() + 60_000, 100, &[])
            .await
            .unwrap()
            .is_empty()
    );
    hub.resume_webhook(&boot.org_id, &w.id, &actor)
        .await
        .unwrap();
    let claimed = hub
        .store
        .claim_due("w1", hub.now(), hub.now() + 60_000, 100, &[])
        .await
        .unwrap();
    let order: Vec<String> = claimed.iter().map(|c| c.event_id.clone()).collect();
    let expected: Vec<String> = (0..20).map(|i| format!("evt_o{i:02}")).collect();
    assert_eq!(order, expected);
    // A second claimer gets nothing while the lease holds.
    assert!(
        hub.store
            .claim_due("w2", hub.now(), hub.now() + 60_000, 100, &[])
            .await
            .unwrap()
            .is_empty()
    );
    hub.store.close().await;
    db.drop_db().await;
}

/// A queue longer than one release step (2,000 rows a statement on SQLite,
/// so that a statement's journal stays small) is released whole, in
/// creation order, by one resume.
async fn a_long_queue_is_released_whole_and_in_order(backend: Backend) {
    let (db, hub, clock, boot, w) = paused_without_worker(
        backend,
        json!({
            "name": "long", "url": "http://127.0.0.1:9/", "events": ["SHARING"], "queue_limit": 5000
        }),
    )
    .await;
    let actor = Actor::system();
    const QUEUED: usize = 4_500;
    for b in 0..QUEUED / 500 {
        let batch = (b * 500..(b + 1) * 500)
            .map(|i| {
                scaihub::domain::Event::from_json(
                    &event(&format!("evt_l{i:04}"), "SHARING", "share.a"),
                    "",
                )
                .unwrap()
            })
            .collect();
        hub.ingest(&boot.org_id, batch).await.unwrap();
        clock.advance(Duration::from_millis(3));
    }
    hub.resume_webhook(&boot.org_id, &w.id, &actor)
        .await
        .unwrap();
    let claimed = hub
        .store
        .claim_due("w1", hub.now(), hub.now() + 60_000, 10_000, &[])
        .await
        .unwrap();
    assert_eq!(claimed.len(), QUEUED, "released by the resume");
    // Batches were created 3 ms apart, so batch order is creation order.
    let batches: Vec<usize> = claimed
        .iter()
        .map(|c| c.event_id["evt_l".len()..].parse::<usize>().unwrap() / 500)
        .collect();
    assert!(
        batches.windows(2).all(|p| p[0] <= p[1]),
        "not released oldest first"
    );
    let mut tx = hub.store.begin().await.unwrap();
    assert_eq!(
        tx.release_queue(&w.org_id, &w.id, hub.now()).await.unwrap(),
        0,
        "something was left queued"
    );
    drop(tx);
    hub.store.close().await;
    db.drop_db().await;
}

/// What a worker records when, by its cached settings, the webhook of a
/// delivery it leased is paused: queued, no attempt made.
async fn record_queued(hub: &scaihub::hub::Hub, owner: &str, delivery_id: &str) {
    let mut tx = hub.store.begin_relaxed().await.unwrap();
    let done = scaihub::storage::deliveries::Completion {
        delivery_id: delivery_id.to_string(),
        status: scaihub::storage::deliveries::DeliveryStatus::Queued,
        next_attempt_at: None,
        attempt: None,
    };
    let recorded = tx.complete_many(&[done], owner, hub.now()).await.unwrap();
    assert!(recorded.contains(delivery_id), "the lease was lost");
    tx.commit().await.unwrap();
}

/// A worker's settings may be up to a second old: it can turn a delivery
/// `queued` for a pause that a resume lifted just before, and that resume
/// found nothing queued to release. The recorder queues it only if the
/// webhook is paused when it records; otherwise it is due again at once.
async fn a_delivery_queued_for_a_pause_already_lifted_is_sent(backend: Backend) {
    let (db, hub, _clock, boot, w) = paused_without_worker(
        backend,
        json!({"name": "race", "url": "http://127.0.0.1:9/", "events": ["SHARING"]}),
    )
    .await;
    let actor = Actor::system();
    let org = &boot.org_id;
    hub.resume_webhook(org, &w.id, &actor).await.unwrap();
    let batch = (1..=3)
        .map(|i| {
            scaihub::domain::Event::from_json(
                &event(&format!("evt_r{i}"), "SHARING", "share.a"),
                "",
            )
            .unwrap()
        })
        .collect();
    hub.ingest(org, batch).await.unwrap();
    let claim = || async {
        let now = hub.now();
        let mut got = hub
            .store
            .claim_due("w1", now, now + 60_000, 10, &[])
            .await
            .unwrap();
        got.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        got
    };
    let claimed = claim().await;
    assert_eq!(claimed.len(), 3);
    let id = |i: usize| claimed[i].id.clone();
    let status = |d: String| {
        let hub = hub.clone();
        let org = org.clone();
        async move {
            let (d, _) = hub.store.get_delivery(&org, &d).await.unwrap().unwrap();
            (d.status.as_str().to_string(), d.next_attempt_at)
        }
    };

    // Paused as the worker saw it: queued, and a resume releases it.
    hub.pause_webhook(org, &w.id, &actor).await.unwrap();
    record_queued(&hub, "w1", &id(0)).await;
    assert_eq!(status(id(0)).await, ("queued".into(), None));

    // The resume commits first; the worker, its settings stale, then turns
    // the second queued. It is pending, due now, not left queued.
    hub.resume_webhook(org, &w.id, &actor).await.unwrap();
    record_queued(&hub, "w1", &id(1)).await;
    assert_eq!(status(id(1)).await, ("pending".into(), Some(hub.now())));

    // A resume under way while the recorder writes: whichever waits for
    // the other, the delivery ends up owed and due, never queued behind a
    // running webhook.
    hub.pause_webhook(org, &w.id, &actor).await.unwrap();
    let mut resume = hub.store.begin().await.unwrap();
    let mut record = resume.get_webhook(org, &w.id).await.unwrap().unwrap();
    // The third is leased, not queued: this resume has nothing to release.
    assert_eq!(
        resume.release_queue(org, &w.id, hub.now()).await.unwrap(),
        0
    );
    record.paused = false;
    resume.update_webhook(&record).await.unwrap();
    let recorder = tokio::spawn({
        let hub = hub.clone();
        let third = id(2);
        async move { record_queued(&hub, "w1", &third).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !recorder.is_finished(),
        "the recorder did not wait for the resume under way"
    );
    resume.commit().await.unwrap();
    recorder.await.unwrap();
    assert_eq!(status(id(2)).await, ("pending".into(), Some(hub.now())));

    // All three are due again, and nothing is left queued.
    let again: Vec<String> = claim().await.into_iter().map(|c| c.event_id).collect();
    assert_eq!(again, ["evt_r1", "evt_r2", "evt_r3"]);
    let mut tx = hub.store.begin().await.unwrap();
    assert_eq!(tx.queued_count(org, &w.id).await.unwrap(), 0);
    drop(tx);
    hub.store.close().await;
    db.drop_db().await;
}

/// A hub on a fresh store with no worker running (nothing claims but the
/// test), on a manual clock, with one webhook (`input`) created and paused.
async fn paused_without_worker(
    backend: Backend,
    input: serde_json::Value,
) -> (
    TestDb,
    std::sync::Arc<scaihub::hub::Hub>,
    scaihub::clock::ManualClock,
    scaihub::hub::principals::Bootstrap,
    scaihub::storage::webhooks::WebhookRecord,
) {
    let db = TestDb::new(backend).await;
    let store = scaihub::storage::Store::connect(&db.url).await.unwrap();
    let clock = scaihub::clock::ManualClock::at_fixed_date();
    let policy = scaihub::destinations::DestinationPolicy::new(
        scaihub::config::parse_allow_list("127.0.0.0/8").unwrap(),
        std::sync::Arc::new(scaihub::destinations::SystemResolver),
    );
    let (key, _) = scaihub::crypto::MasterKey::generate();
    let hub = scaihub::server::hub(
        store,
        std::sync::Arc::new(clock.clone()),
        key,
        policy,
        Default::default(),
        crate::support::plugin_runtime(Default::default()),
    );
    let boot = hub.bootstrap(None).await.unwrap().unwrap();
    let actor = Actor::system();
    let (w, _) = hub
        .create_webhook(&boot.org_id, &actor, serde_json::from_value(input).unwrap())
        .await
        .unwrap();
    hub.pause_webhook(&boot.org_id, &w.id, &actor)
        .await
        .unwrap();
    (db, hub, clock, boot, w)
}
