//! Group commit of ingest (`hub::group`) and the principal cache of
//! ingest: requests that wait while the store is busy are written together
//! in few commits, each answered for its own events; a key revoked
//! anywhere is refused by the next ingest; and a process SIGKILLed among
//! many single-event producers loses no event it answered 2xx for and
//! delivers none it refused.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection;

use crate::binary::Proc;
use crate::both;
use crate::support::{Backend, Receiver, TestDb, TestEnv, event, postgres_available};

both!(
    waiting_requests_share_a_commit_and_each_gets_its_own_answer,
    a_webhook_change_reaches_the_next_ingest_at_once,
    a_key_revoked_behind_the_cache_is_refused_by_the_next_ingest,
    sigkill_among_single_event_producers_keeps_every_answered_event
);

/// Holds up ingest's writes until the returned sender is used or dropped:
/// on SQLite by holding the store's one writer connection, on PostgreSQL
/// by a lock on `events` from a connection of the test's own.
async fn hold_writes(env: &TestEnv, backend: Backend) -> tokio::sync::oneshot::Sender<()> {
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (locked, is_locked) = tokio::sync::oneshot::channel::<()>();
    match backend {
        Backend::Sqlite => {
            let tx = env.hub.store.begin().await.unwrap();
            tokio::spawn(async move {
                locked.send(()).unwrap();
                let _ = released.await;
                tx.commit().await.unwrap();
            });
        }
        Backend::Postgres => {
            let url = env.db.url.clone();
            tokio::spawn(async move {
                let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query("BEGIN").execute(&mut c).await.unwrap();
                // Blocks inserts (ROW EXCLUSIVE), not reads.
                sqlx::query("LOCK TABLE events IN SHARE MODE")
                    .execute(&mut c)
                    .await
                    .unwrap();
                locked.send(()).unwrap();
                let _ = released.await;
                sqlx::query("COMMIT").execute(&mut c).await.unwrap();
            });
        }
    }
    is_locked.await.unwrap();
    release
}

/// Posts each body as an ingest request of its own, all at once, while
/// the store is held; lets the store go once every request has reached
/// the queue; answers each request's (status, body), in order.
async fn post_while_held(
    env: &Arc<TestEnv>,
    release: tokio::sync::oneshot::Sender<()>,
    bodies: Vec<Value>,
) -> Vec<(u16, Value)> {
    let calls: Vec<_> = bodies
        .into_iter()
        .map(|b| {
            let env = env.clone();
            tokio::spawn(async move { env.call("POST", "/v1/orgs/{org}/events", Some(b)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    release.send(()).unwrap();
    let mut answers = Vec::new();
    for c in calls {
        answers.push(c.await.unwrap());
    }
    answers
}

async fn waiting_requests_share_a_commit_and_each_gets_its_own_answer(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let rx = Receiver::ok().await;
    env.webhook(&rx.url("/"), &["SHARING"]).await;
    let (commits, requests) = (
        env.hub.metrics.ingest_commits.get(),
        env.hub.metrics.ingest_requests.get(),
    );
    let release = hold_writes(&env, backend).await;
    // 20 new events, 4 requests repeating one of them, 2 bad requests.
    let mut bodies: Vec<Value> = (0..20)
        .map(|i| event(&format!("evt_g{i:02}"), "SHARING", "share.a"))
        .collect();
    bodies.extend((0..4).map(|i| event(&format!("evt_g{i:02}"), "SHARING", "share.a")));
    bodies.push(event("evt_bad_1", "NOT_A_CATEGORY", "share.a"));
    bodies.push(json!({"event_id": "evt_bad_2"}));
    let env = Arc::new(env);
    let answers = post_while_held(&env, release, bodies).await;

    // The bad ones are refused at once, naming the field.
    assert_eq!(answers[24].0, 422, "{}", answers[24].1);
    assert_eq!(answers[24].1["field"], "category");
    assert_eq!(answers[25].0, 422, "{}", answers[25].1);
    // Each good request is answered for its own event: a repeated id is
    // accepted for exactly one of its two requests.
    for (i, (status, body)) in answers[..24].iter().enumerate() {
        assert_eq!(*status, 202, "request {i}: {body}");
        let n = body["accepted"].as_array().unwrap().len()
            + body["duplicates"].as_array().unwrap().len();
        assert_eq!(n, 1, "request {i} answered for other events: {body}");
    }
    for (i, (_, body)) in answers[..24].iter().enumerate() {
        let id = format!("evt_g{:02}", i % 20);
        let side = |k: &str| body[k].as_array().unwrap().contains(&json!(id));
        assert!(
            side("accepted") || side("duplicates"),
            "request {i}: {body}"
        );
    }
    for i in 0..4 {
        let id = json!(format!("evt_g{i:02}"));
        let accepted = [i, 20 + i]
            .iter()
            .filter(|&&r| answers[r].1["accepted"].as_array().unwrap().contains(&id))
            .count();
        assert_eq!(accepted, 1, "{id} accepted {accepted} times");
    }
    for (i, (_, body)) in answers.iter().enumerate().take(20).skip(4) {
        assert_eq!(body["accepted"], json!([format!("evt_g{i:02}")]));
    }
    // 24 requests went through the writers in a handful of commits: on
    // SQLite all in one; on PostgreSQL one per writer held by the lock,
    // then the rest together.
    let commits = env.hub.metrics.ingest_commits.get() - commits;
    assert_eq!(env.hub.metrics.ingest_requests.get() - requests, 24);
    assert!(commits <= 4, "24 waiting requests took {commits} commits");
    // Each event is delivered once.
    rx.wait_for(20).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ids: Vec<String> = rx
        .received()
        .iter()
        .map(|r| r.json()["event_id"].as_str().unwrap().to_string())
        .collect();
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), distinct.len()), (20, 20), "{ids:?}");
    Arc::into_inner(env).unwrap().finish().await;
}

/// Ingest plans its fan-out from the webhooks its writer last read (on
/// PostgreSQL kept between groups, and checked by the write itself): a
/// webhook created, narrowed, paused or deleted is seen by the very next
/// event.
async fn a_webhook_change_reaches_the_next_ingest_at_once(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let (rx_a, rx_b) = (Receiver::ok().await, Receiver::ok().await);
    let (a, _) = env.webhook(&rx_a.url("/"), &["SHARING"]).await;
    let ids = |rx: &Receiver| -> Vec<String> {
        rx.received()
            .iter()
            .map(|r| r.json()["event_id"].as_str().unwrap().to_string())
            .collect()
    };
    env.ingest(event("evt_c1", "SHARING", "share.a")).await;
    rx_a.wait_for(1).await;

    // Created: the next event reaches it.
    let (b, _) = env.webhook(&rx_b.url("/"), &["SHARING"]).await;
    env.ingest(event("evt_c2", "SHARING", "share.a")).await;
    rx_a.wait_for(2).await;
    rx_b.wait_for(1).await;
    assert_eq!(ids(&rx_b), ["evt_c2"]);

    // Narrowed to other events: the next SHARING event passes it by.
    let (s, body) = env
        .call(
            "PATCH",
            &format!("/v1/orgs/{{org}}/webhooks/{a}"),
            Some(json!({"events": ["COMPLIANCE"]})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    env.ingest(event("evt_c3", "SHARING", "share.a")).await;
    rx_b.wait_for(2).await;

    // Paused: the next event is queued for it, not sent.
    let (s, body) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/webhooks/{b}/pause"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    env.ingest(event("evt_c4", "SHARING", "share.a")).await;
    env.wait_deliveries(&b, "evt_c4 queued", |l| {
        l.iter()
            .any(|d| d["event_id"] == "evt_c4" && d["status"] == "queued")
    })
    .await;

    // Deleted: the next event is stored, and goes nowhere.
    let (s, _) = env
        .call("DELETE", &format!("/v1/orgs/{{org}}/webhooks/{a}"), None)
        .await;
    assert_eq!(s, 204);
    let (s, body) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/webhooks/{b}/resume"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    env.ingest(event("evt_c5", "COMPLIANCE", "compliance.hold_placed"))
        .await;
    rx_b.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ids(&rx_a), ["evt_c1", "evt_c2"]);
    let mut got_b = ids(&rx_b);
    got_b.sort();
    assert_eq!(got_b, ["evt_c2", "evt_c3", "evt_c4"]);
    env.finish().await;
}

/// PostgreSQL's one-statement write checks, in its own snapshot, the
/// webhooks its fan-out was planned from and the keys of its requests:
/// planned from a webhook set that has changed since (a version, a
/// webhook more or less) or for a key revoked since, it writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_at_once_from_stale_webhooks_or_keys_writes_nothing() {
    use scaihub::storage::Store;
    use scaihub::storage::deliveries::{DeliveryStatus, NewDelivery};
    use scaihub::storage::events::EventRow;
    let Some((env, _rx, hook)) = postgres_with_webhook().await else {
        return;
    };
    let (uid, key_id, _) = producer_key(&env, "producer").await;
    let org = env.org_id.clone();
    let event =
        scaihub::domain::Event::from_json(&event("evt_s1", "SHARING", "share.a"), "").unwrap();
    let body = event.to_body();
    let rows = [EventRow {
        org_id: &org,
        event: &event,
        body: &body,
        trace: None,
    }];
    let delivery = NewDelivery {
        id: "dlv_at_once_test".into(),
        org_id: org.clone(),
        webhook_id: hook.clone(),
        event_seq: 0,
        event_id: "evt_s1".into(),
        status: DeliveryStatus::Pending,
        next_attempt_at: Some(1),
        lease_owner: None,
        line_seq: None,
        created_at: 1,
    };
    let write = |expected: Vec<(&'static str, String, i64)>, keys: Vec<(String, String)>| {
        let (env, rows, delivery, org) = (&env, &rows, delivery.clone(), org.clone());
        async move {
            let mut conn = env.hub.store.pg_connection().await.unwrap().unwrap();
            let expected: Vec<(&str, &str, i64)> = expected
                .iter()
                .map(|(_, id, v)| (org.as_str(), id.as_str(), *v))
                .collect();
            let keys: Vec<(&str, &str)> =
                keys.iter().map(|(o, k)| (o.as_str(), k.as_str())).collect();
            Store::insert_events_at_once(
                &mut conn,
                &[org.as_str()],
                &expected,
                &keys,
                rows,
                &[delivery],
                1,
            )
            .await
            .unwrap()
        }
    };
    let live = vec![(org.clone(), key_id.clone())];
    // A version it does not have, a webhook it does not have, none of its
    // webhooks: nothing written.
    assert!(
        write(vec![("", hook.clone(), 2)], live.clone())
            .await
            .is_none()
    );
    assert!(
        write(
            vec![("", hook.clone(), 1), ("", "whk_gone".into(), 1)],
            live.clone()
        )
        .await
        .is_none()
    );
    assert!(write(vec![], live.clone()).await.is_none());
    // A key revoked since: nothing written.
    assert!(
        env.hub
            .store
            .revoke_api_key(&org, &uid, &key_id, env.hub.now())
            .await
            .unwrap()
    );
    assert!(
        write(vec![("", hook.clone(), 1)], live.clone())
            .await
            .is_none()
    );
    let mut conn = env.hub.store.pg_connection().await.unwrap().unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE event_id = 'evt_s1'")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(stored, 0, "a refused write stored the event");
    // As read, with no key: the event and its delivery, once.
    let stored = write(vec![("", hook.clone(), 1)], vec![])
        .await
        .expect("written");
    assert_eq!(stored, vec![(org.clone(), "evt_s1".to_string())]);
    let again = write(vec![("", hook.clone(), 1)], vec![])
        .await
        .expect("written");
    assert!(again.is_empty(), "known already: {again:?}");
    let made: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM deliveries WHERE event_id = 'evt_s1' AND org_id = $1",
    )
    .bind(&org)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(made, 1);
    drop(conn);
    env.finish().await;
}

/// PostgreSQL's ingest writers keep their connections between groups; a
/// kept connection the server has dropped since is replaced by the next
/// group, which is answered as if nothing had happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_outlives_its_writers_connections_being_cut() {
    let Some((env, rx, _)) = postgres_with_webhook().await else {
        return;
    };
    // Both writers have taken their connections.
    for i in 0..4 {
        env.ingest(event(&format!("evt_w{i}"), "SHARING", "share.a"))
            .await;
    }
    rx.wait_for(4).await;
    let mut c = sqlx::PgConnection::connect(&env.db.url).await.unwrap();
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert!(cut.len() >= 2, "the writers' connections: {cut:?}");
    for i in 4..8 {
        let (s, body) = env
            .call(
                "POST",
                "/v1/orgs/{org}/events",
                Some(event(&format!("evt_w{i}"), "SHARING", "share.a")),
            )
            .await;
        assert_eq!(s, 202, "after the cut, request {i}: {body}");
        assert_eq!(body["accepted"].as_array().unwrap().len(), 1, "{body}");
    }
    rx.wait_for(8).await;
    env.finish().await;
}

/// PostgreSQL writes most groups in one statement (`hub::group`); when
/// that statement fails for one request's event, nothing of the group is
/// kept and it is written again in a transaction, request by request: the
/// one request fails, its neighbours are answered and delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_failing_in_one_statement_fails_only_the_request_at_fault() {
    let Some((env, rx, _)) = postgres_with_webhook().await else {
        return;
    };
    // A trigger of the test's own refuses one event, as the store refuses
    // a row it cannot take.
    let mut c = sqlx::PgConnection::connect(&env.db.url).await.unwrap();
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.event_id = 'evt_poison' THEN RAISE EXCEPTION 'refused by the test'; END IF; \
           RETURN NEW; END $$; \
         CREATE TRIGGER refuse_poison BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_poison();",
    )
    .execute(&mut c)
    .await
    .unwrap();
    let commits = env.hub.metrics.ingest_commits.get();
    let release = hold_writes(&env, Backend::Postgres).await;
    let mut bodies: Vec<Value> = (0..12)
        .map(|i| event(&format!("evt_p{i:02}"), "SHARING", "share.a"))
        .collect();
    bodies.insert(6, event("evt_poison", "SHARING", "share.a"));
    let env = Arc::new(env);
    let answers = post_while_held(&env, release, bodies).await;
    for (i, (status, body)) in answers.iter().enumerate() {
        if i == 6 {
            assert!(
                *status >= 500,
                "the refused event was answered {status}: {body}"
            );
        } else {
            assert_eq!(*status, 202, "request {i}: {body}");
            assert_eq!(body["accepted"].as_array().unwrap().len(), 1, "{body}");
        }
    }
    // Some of the waiting requests shared a group with the refused one.
    let commits = env.hub.metrics.ingest_commits.get() - commits;
    assert!(commits < 12, "12 good requests took {commits} commits");
    rx.wait_for(12).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ids: HashSet<String> = rx
        .received()
        .iter()
        .map(|r| r.json()["event_id"].as_str().unwrap().to_string())
        .collect();
    let want: HashSet<String> = (0..12).map(|i| format!("evt_p{i:02}")).collect();
    assert_eq!(ids, want);
    assert_eq!(rx.received().len(), 12, "each good event delivered once");
    let stored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE event_id = 'evt_poison'")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(stored, 0);
    Arc::into_inner(env).unwrap().finish().await;
}

/// A PostgreSQL environment with one webhook for SHARING events on a
/// receiver of its own (and the webhook's id); `None`, the test passing,
/// where there is no PostgreSQL.
async fn postgres_with_webhook() -> Option<(TestEnv, Receiver, String)> {
    if !postgres_available().await {
        return None;
    }
    let env = TestEnv::start(Backend::Postgres).await;
    let rx = Receiver::ok().await;
    let (hook, _) = env.webhook(&rx.url("/"), &["SHARING"]).await;
    Some((env, rx, hook))
}

/// A service account with `events:write` and one key; answers (user id,
/// key id, key).
async fn producer_key(env: &TestEnv, name: &str) -> (String, String, String) {
    let (s, user) = env
        .call(
            "POST",
            "/v1/orgs/{org}/users",
            Some(json!({"name": name, "kind": "service", "permissions": ["events:write"]})),
        )
        .await;
    assert_eq!(s, 201, "{user}");
    let uid = user["id"].as_str().unwrap().to_string();
    let (s, k) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/users/{uid}/api-keys"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 201, "{k}");
    (
        uid,
        k["id"].as_str().unwrap().to_string(),
        k["key"].as_str().unwrap().to_string(),
    )
}

async fn a_key_revoked_behind_the_cache_is_refused_by_the_next_ingest(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let (uid, key_id, key) = producer_key(&env, "producer one").await;
    let post = |id: &str| {
        let (env, key, body) = (&env, key.clone(), event(id, "SHARING", "share.a"));
        async move {
            env.call_as(&key, "POST", "/v1/orgs/{org}/events", Some(body))
                .await
        }
    };
    assert_eq!(
        post("evt_k1").await.0,
        202,
        "the key works (and is now cached)"
    );
    // Revoked in the store as another process would: this process's cache
    // is not told.
    assert!(
        env.hub
            .store
            .revoke_api_key(&env.org_id, &uid, &key_id, env.hub.now())
            .await
            .unwrap()
    );
    let (s, body) = post("evt_k2").await;
    assert_eq!(s, 401, "a key revoked elsewhere still ingests: {body}");
    assert!(
        env.hub
            .store
            .get_event(&env.org_id, "evt_k2")
            .await
            .unwrap()
            .is_none()
    );
    // Revoked through this process's API: refused at once as well.
    let (uid2, key_id2, key2) = producer_key(&env, "producer two").await;
    let (s, _) = env
        .call_as(
            &key2,
            "POST",
            "/v1/orgs/{org}/events",
            Some(event("evt_k3", "SHARING", "share.a")),
        )
        .await;
    assert_eq!(s, 202);
    let (s, _) = env
        .call(
            "DELETE",
            &format!("/v1/orgs/{{org}}/users/{uid2}/api-keys/{key_id2}"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = env
        .call_as(
            &key2,
            "POST",
            "/v1/orgs/{org}/events",
            Some(event("evt_k4", "SHARING", "share.a")),
        )
        .await;
    assert_eq!(s, 401, "a key revoked here still ingests");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_on_one_process_is_refused_on_another_at_once() {
    if !postgres_available().await {
        return;
    }
    let db = TestDb::new(Backend::Postgres).await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let admin = "shk_revoke_test_admin_key_0123456789";
    let a = Proc::start(&crate::binary::settings(
        Backend::Postgres,
        &db,
        dir_a.path(),
        admin,
    ))
    .await;
    let b = Proc::start(&crate::binary::settings(
        Backend::Postgres,
        &db,
        dir_b.path(),
        admin,
    ))
    .await;
    let (_, me) = a.call(admin, "GET", "/v1/me", None).await;
    let org = me["org_id"].as_str().unwrap().to_string();
    let (s, user) = a
        .call(
            admin,
            "POST",
            &format!("/v1/orgs/{org}/users"),
            Some(json!({"name": "producer", "kind": "service", "permissions": ["events:write"]})),
        )
        .await;
    assert_eq!(s, 201, "{user}");
    let uid = user["id"].as_str().unwrap();
    let (s, k) = a
        .call(
            admin,
            "POST",
            &format!("/v1/orgs/{org}/users/{uid}/api-keys"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 201, "{k}");
    let key = k["key"].as_str().unwrap();
    let ingest = |id: &str| {
        let (a, path, body) = (
            &a,
            format!("/v1/orgs/{org}/events"),
            event(id, "SHARING", "share.a"),
        );
        async move { a.call(key, "POST", &path, Some(body)).await.0 }
    };
    assert_eq!(
        ingest("evt_r1").await,
        202,
        "the key works on A (and A caches it)"
    );
    let (s, _) = b
        .call(
            admin,
            "DELETE",
            &format!(
                "/v1/orgs/{org}/users/{uid}/api-keys/{}",
                k["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(s, 204, "revoked on B");
    assert_eq!(
        ingest("evt_r2").await,
        401,
        "A still ingests with a key B revoked"
    );
    let (_, page) = a
        .call(
            admin,
            "GET",
            &format!("/v1/orgs/{org}/audit-events?action=share.a"),
            None,
        )
        .await;
    let ids: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["evt_r1"], "the refused event was stored");
    drop((a, b));
    db.drop_db().await;
}

/// What one producer request was answered.
struct Sent {
    event_id: String,
    /// 0 when no answer came (the process died first).
    status: u16,
}

async fn sigkill_among_single_event_producers_keeps_every_answered_event(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let key = "shk_group_crash_admin_key_0123456789";
    let rx = Receiver::ok().await;
    let first = Proc::start(&crate::binary::settings(backend, &db, dir.path(), key)).await;
    let (_, me) = first.call(key, "GET", "/v1/me", None).await;
    let org = me["org_id"].as_str().unwrap().to_string();
    let (s, hook) = first
        .call(
            key,
            "POST",
            &format!("/v1/orgs/{org}/webhooks"),
            Some(json!({"name": "grouped", "url": rx.url("/"), "events": ["SHARING"]})),
        )
        .await;
    assert_eq!(s, 201, "{hook}");

    // A producer key that is revoked mid-stream: what is queued with it
    // when it goes is refused inside the group it waits in.
    let (s, user) = first
        .call(
            key,
            "POST",
            &format!("/v1/orgs/{org}/users"),
            Some(json!({"name": "producer", "kind": "service", "permissions": ["events:write"]})),
        )
        .await;
    assert_eq!(s, 201, "{user}");
    let uid = user["id"].as_str().unwrap().to_string();
    let (s, k) = first
        .call(
            key,
            "POST",
            &format!("/v1/orgs/{org}/users/{uid}/api-keys"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 201, "{k}");
    let producer_key: &'static str =
        Box::leak(k["key"].as_str().unwrap().to_string().into_boxed_str());

    // 32 producers, one event per request on keep-alive connections, odd
    // ones with the key to be revoked; every tenth request is malformed.
    let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let url = format!("{}/v1/orgs/{org}/events", first.base);
    let mut producers = Vec::new();
    for p in 0..32 {
        let (sent, stop, http, url) = (sent.clone(), stop.clone(), http.clone(), url.clone());
        let bearer = if p % 2 == 1 { producer_key } else { key };
        producers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = format!("evt_p{p:02}_{n:05}");
                let category = if n % 10 == 9 {
                    "NOT_A_CATEGORY"
                } else {
                    "SHARING"
                };
                n += 1;
                let status = match http
                    .post(&url)
                    .bearer_auth(bearer)
                    .json(&event(&id, category, "share.a"))
                    .send()
                    .await
                {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                sent.lock().unwrap().push(Sent {
                    event_id: id,
                    status,
                });
                if status == 0 {
                    // The process is gone: this producer is done.
                    return;
                }
            }
        }));
    }
    let answered = |n: usize| {
        let sent = sent.clone();
        async move {
            let started = Instant::now();
            while sent
                .lock()
                .unwrap()
                .iter()
                .filter(|s| s.status == 202)
                .count()
                < n
            {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "the producers made no progress"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    answered(300).await;
    let (s, _) = first
        .call(
            key,
            "DELETE",
            &format!(
                "/v1/orgs/{org}/users/{uid}/api-keys/{}",
                k["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(s, 204);
    // Kill it mid-stream, once a good number more were answered.
    answered(600).await;
    first.signal(libc::SIGKILL);
    let mut first = first;
    first.wait_exit(Duration::from_secs(10));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for p in producers {
        p.await.unwrap();
    }
    let sent = std::mem::take(&mut *sent.lock().unwrap());
    let accepted: Vec<String> = sent
        .iter()
        .filter(|s| s.status == 202)
        .map(|s| s.event_id.clone())
        .collect();
    let refused: HashSet<&str> = sent
        .iter()
        .filter(|s| s.status != 202 && s.status != 0)
        .map(|s| s.event_id.as_str())
        .collect();
    let unanswered = sent.iter().filter(|s| s.status == 0).count();
    assert!(
        !refused.is_empty(),
        "nothing was refused; the test proves less than it says"
    );
    let odd = |id: &str| id[5..7].parse::<u32>().unwrap() % 2 == 1;
    let revoked = sent.iter().filter(|s| s.status == 401).count();
    assert!(revoked > 0, "nothing was refused for the revoked key");
    for s in sent.iter().filter(|s| s.status != 202 && s.status != 0) {
        assert!(
            s.status == 422 || (s.status == 401 && odd(&s.event_id)),
            "{} answered {}",
            s.event_id,
            s.status
        );
    }

    let second = Proc::start(&crate::binary::settings(backend, &db, dir.path(), key)).await;
    let deadline = Instant::now() + Duration::from_secs(90);
    let arrived = loop {
        let arrived: HashMap<String, usize> =
            rx.received().iter().fold(HashMap::new(), |mut m, r| {
                *m.entry(r.json()["event_id"].as_str().unwrap().to_string())
                    .or_default() += 1;
                m
            });
        let missing = accepted
            .iter()
            .filter(|id| !arrived.contains_key(*id))
            .count();
        if missing == 0 {
            break arrived;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} accepted events never arrived",
            accepted.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Late arrivals of refused events would show up now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let late: Vec<String> = rx
        .received()
        .iter()
        .map(|r| r.json()["event_id"].as_str().unwrap().to_string())
        .filter(|id| refused.contains(id.as_str()))
        .collect();
    assert!(late.is_empty(), "refused events arrived: {late:?}");
    eprintln!(
        "grouped crash test ({backend:?}): {} answered 202, {} refused, {unanswered} unanswered at the kill; {} distinct events arrived",
        accepted.len(),
        refused.len(),
        arrived.len()
    );
    drop(second);
    db.drop_db().await;
}
