//! Health, readiness, metrics and the OpenAPI document.

use serde_json::Value;

use crate::both;
use crate::support::{Backend, Receiver, TestEnv, event};

both!(health_readiness_metrics_and_openapi_are_served);

async fn health_readiness_metrics_and_openapi_are_served(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let rx = Receiver::start(|n| (if n == 0 { 500 } else { 200 }, Default::default())).await;
    let (id, _) = env.webhook(&rx.url("/"), &["SHARING"]).await;
    env.ingest(event("evt_m", "SHARING", "share.a")).await;
    env.wait_deliveries(&id, "a failure", |l| {
        l.first().is_some_and(|d| d["status"] == "retrying")
    })
    .await;

    let get = |p: &str| env.http.get(env.url(p)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    for needle in [
        "scaihub_events_ingested_total",
        "scaihub_delivery_attempts_total{outcome=\"failed\"} 1",
        "scaihub_delivery_attempt_duration_seconds_bucket",
        "scaihub_deliveries{status=\"retrying\"} 1",
        // Queue depth by status is always there, 0 when empty.
        "scaihub_deliveries{status=\"queued\"} 0",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
    // The one delivery was taken up by the worker, in memory at ingest or
    // from the store.
    let taken: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("scaihub_deliveries_taken_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert!(taken >= 1.0, "no delivery counted as taken in\n{metrics}");
    let doc: Value = get("/openapi.json").await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/v1/orgs/{org_id}/events",
        "/v1/orgs/{org_id}/audit-events",
        "/v1/orgs/{org_id}/webhooks",
        "/v1/orgs/{org_id}/webhooks/{webhook_id}",
        "/v1/orgs/{org_id}/webhooks/{webhook_id}/rotate-secret",
        "/v1/orgs/{org_id}/deliveries/{delivery_id}/redeliver",
        "/v1/me",
        "/healthz",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["WebhookView"].is_object());
    env.finish().await;
}

#[test]
fn checked_in_openapi_document_matches_the_code() {
    let generated = scaihub::http::openapi_document().to_pretty_json().unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json");
    if std::env::var("SCAIHUB_UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(path, &generated).unwrap();
    }
    let stored = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        stored == generated,
        "openapi.json is stale: run SCAIHUB_UPDATE_OPENAPI=1 cargo test -p scaihub --test it openapi"
    );
}
