//! Upgrades keep what is stored: a database written by an older schema is
//! opened by the current `Store`, and its rows read back through the store.

use std::borrow::Cow;

use scaihub::storage::Store;

use crate::both;
use crate::support::{Backend, TestDb};

both!(attempts_recorded_before_the_attempt_log_are_kept_on_upgrade);

/// Rows as schema 0005 stored them: a delivery with two attempts (one with
/// a quote in its answer, one refused) due again later, one never tried,
/// and one finished.
const OLD_ROWS: &[&str] = &[
    "INSERT INTO orgs (id, name, parent_id, created_at) VALUES ('org1', 'Org', NULL, 0)",
    "INSERT INTO events (org_id, event_id, ts, category, action, user_id, body, received_at) \
     VALUES ('org1', 'evt1', 0, 'SHARING', 'share.created', NULL, '{}', 0)",
    "INSERT INTO webhooks (id, org_id, name, url, settings, secret_enc, queue_limit, created_at, updated_at) \
     VALUES ('wh1', 'org1', 'hook', 'https://example.com/', '{}', x'00', 1000, 0, 0)",
    "INSERT INTO deliveries (id, org_id, webhook_id, event_seq, event_id, status, attempt_count, next_attempt_at, created_at, updated_at) \
     VALUES ('dlv1', 'org1', 'wh1', 1, 'evt1', 'retrying', 2, 91000, 0, 0), \
            ('dlv2', 'org1', 'wh1', 1, 'evt1', 'pending', 0, 0, 0, 0), \
            ('dlv3', 'org1', 'wh1', 1, 'evt1', 'succeeded', 1, NULL, 0, 0)",
    "INSERT INTO attempts (delivery_id, attempted_at, status_code, duration_ms, error, response_snippet) \
     VALUES ('dlv1', 1000, 500, 12, 'HTTP 500', 'say \"no\"'), \
            ('dlv1', 31000, NULL, 3, 'connection refused', NULL)",
];

async fn attempts_recorded_before_the_attempt_log_are_kept_on_upgrade(backend: Backend) {
    let db = TestDb::new(backend).await;
    match backend {
        Backend::Sqlite => {
            let mut old = sqlx::migrate!("./migrations/sqlite");
            old.migrations = Cow::Owned(old.migrations[..5].to_vec());
            let options = db
                .url
                .parse::<sqlx::sqlite::SqliteConnectOptions>()
                .unwrap()
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            old.run(&pool).await.unwrap();
            for sql in OLD_ROWS {
                sqlx::query(sqlx::AssertSqlSafe(*sql))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let mut old = sqlx::migrate!("./migrations/postgres");
            old.migrations = Cow::Owned(old.migrations[..5].to_vec());
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            old.run(&pool).await.unwrap();
            for sql in OLD_ROWS {
                sqlx::query(sqlx::AssertSqlSafe(sql.replace("x'00'", "'\\x00'::bytea")))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            pool.close().await;
        }
    }

    let store = Store::connect(&db.url).await.unwrap();
    let (delivery, attempts) = store.get_delivery("org1", "dlv1").await.unwrap().unwrap();
    assert_eq!(delivery.attempt_count, 2);
    let seen: Vec<_> = attempts
        .iter()
        .map(|a| {
            (
                a.attempted_at,
                a.status_code,
                a.duration_ms,
                a.error.as_deref(),
                a.response_snippet.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (1000, Some(500), 12, Some("HTTP 500"), Some("say \"no\"")),
            (31000, None, 3, Some("connection refused"), None),
        ]
    );
    let (_, none) = store.get_delivery("org1", "dlv2").await.unwrap().unwrap();
    assert!(none.is_empty());

    // What was owed is still owed, due when it was (the queue moved out of
    // `deliveries` in a later schema); the finished one is not.
    let owed = store.count_owed_deliveries().await.unwrap();
    assert_eq!(
        owed,
        vec![
            ("pending".to_string(), 1),
            ("retrying".to_string(), 1),
            ("queued".to_string(), 0)
        ]
    );
    assert_eq!(store.next_due_at().await.unwrap(), Some(0));
    let claimed = store.claim_due("w", 1000, 61000, 10, &[]).await.unwrap();
    let ids: Vec<&str> = claimed.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, vec!["dlv2"]);
    assert_eq!(claimed[0].body.as_ref(), "{}");
    let later = store.claim_due("w2", 91000, 151000, 10, &[]).await.unwrap();
    let ids: Vec<&str> = later.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, vec!["dlv1", "dlv2"], "dlv2's lease ended at 61000");
    drop(store);
    db.drop_db().await;
}
