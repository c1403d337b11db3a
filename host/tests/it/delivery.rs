//! What a receiver gets: the signed body, the headers, and only the events
//! its webhook matches.

use serde_json::json;

use crate::both;
use crate::support::{Backend, Receiver, TestEnv, event, independent_signature};

both!(
    delivery_is_signed_over_exact_body_with_all_headers,
    events_are_matched_by_category_action_and_filters,
    duplicate_event_ids_are_reported_and_not_delivered_twice,
    delivery_log_records_every_attempt_with_snippet,
    redeliver_sends_the_same_event_as_a_new_delivery,
    test_event_is_sent_now_and_answered_with_its_attempt,
);

async fn delivery_is_signed_over_exact_body_with_all_headers(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let rx = Receiver::ok().await;
    let (id, secret) = env
        .webhook_with(json!({
            "name": "crm", "url": rx.url("/hook"), "events": ["SHARING"],
            "headers": {"Authorization": "Bearer receiver-token", "Content-Type": "application/vnd.scaidrive+json"}
        }))
        .await;
    env.ingest(event("evt_share_1", "SHARING", "share.member_added"))
        .await;
    let got = rx.wait_for(1).await;
    let r = &got[0];
    assert_eq!(r.path, "/hook");
    assert_eq!(
        r.header("x-scaidrive-signature"),
        independent_signature(&secret, &r.body)
    );
    assert_eq!(r.header("x-scaidrive-event"), "share.member_added");
    assert!(r.header("x-scaidrive-delivery-id").starts_with("dlv_"));
    assert!(r.header("user-agent").starts_with("ScaiHub/"));
    assert_eq!(r.header("authorization"), "Bearer receiver-token");
    assert_eq!(r.header("content-type"), "application/vnd.scaidrive+json");
    let body = r.json();
    assert_eq!(body["event_id"], "evt_share_1");
    assert_eq!(body["category"], "SHARING");
    assert_eq!(body["payload"]["role"], "contributor");
    // The delivery id is the one in the log, and it succeeded.
    let list = env
        .wait_deliveries(&id, "success", |l| {
            l.iter().any(|d| d["status"] == "succeeded")
        })
        .await;
    assert_eq!(list[0]["id"], r.header("x-scaidrive-delivery-id"));
    assert_eq!(list[0]["last_status_code"], 200);
    env.finish().await;
}

async fn events_are_matched_by_category_action_and_filters(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let rx = Receiver::ok().await;
    env.webhook_with(json!({
        "name": "narrow", "url": rx.url("/narrow"), "events": ["SHARING", "FILE_MODIFICATION"],
        "actions": ["share.*", "file.uploaded"],
        "filters": {"user_ids": ["usr_alice", "usr_carol"], "ip_ranges": ["10.0.0.0/8", "2001:db8::/32"]}
    }))
    .await;
    let e = |id: &str, cat: &str, action: &str, user: Option<&str>, ip: Option<&str>| {
        let mut v = event(id, cat, action);
        match user {
            Some(u) => v["user_id"] = json!(u),
            None => {
                v.as_object_mut().unwrap().remove("user_id");
            }
        }
        if let Some(ip) = ip {
            v["ip_address"] = json!(ip);
        }
        v
    };
    let batch = json!([
        e(
            "evt_m1",
            "SHARING",
            "share.member_added",
            Some("usr_alice"),
            Some("10.1.2.3")
        ),
        e(
            "evt_m2",
            "FILE_MODIFICATION",
            "file.uploaded",
            Some("usr_carol"),
            Some("2001:db8::7")
        ),
        e(
            "evt_x_category",
            "SECURITY",
            "share.member_added",
            Some("usr_alice"),
            Some("10.1.2.3")
        ),
        e(
            "evt_x_action",
            "SHARING",
            "link.created",
            Some("usr_alice"),
            Some("10.1.2.3")
        ),
        e(
            "evt_x_user",
            "SHARING",
            "share.member_added",
            Some("usr_mallory"),
            Some("10.1.2.3")
        ),
        e(
            "evt_x_ip",
            "SHARING",
            "share.member_added",
            Some("usr_alice"),
            Some("192.0.2.1")
        ),
        e(
            "evt_x_no_ip",
            "SHARING",
            "share.member_added",
            Some("usr_alice"),
            None
        ),
        e(
            "evt_x_no_user",
            "SHARING",
            "share.member_added",
            None,
            Some("10.1.2.3")
        ),
        e(
            "evt_m3",
            "SHARING",
            "share.deleted",
            Some("usr_alice"),
            Some("::ffff:10.0.0.9")
        ),
    ]);
    env.ingest(batch).await;
    // A second webhook that takes everything proves the batch was processed.
    let all = Receiver::ok().await;
    env.webhook(&all.url("/all"), &["SHARING"]).await;
    env.ingest(json!(e(
        "evt_last",
        "SHARING",
        "share.deleted",
        Some("usr_alice"),
        Some("10.0.0.1")
    )))
    .await;
    all.wait_for(1).await;
    let got = rx.wait_for(4).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut ids: Vec<String> = rx
        .received()
        .iter()
        .map(|r| r.json()["event_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, ["evt_last", "evt_m1", "evt_m2", "evt_m3"], "{got:?}");
    env.finish().await;
}

async fn duplicate_event_ids_are_reported_and_not_delivered_twice(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let rx = Receiver::ok().await;
    let (id, _) = env.webhook(&rx.url("/"), &["SHARING"]).await;
    let first = env
        .ingest(json!([
            event("evt_d1", "SHARING", "share.a"),
            event("evt_d2", "SHARING", "share.b")
        ]))
        .await;
    assert_eq!(first["accepted"], json!(["evt_d1", "evt_d2"]));
    let again = env
        .ingest(json!([
            event("evt_d2", "SHARING", "share.b"),
            event("evt_d3", "SHARING", "share.c")
        ]))
        .await;
    assert_eq!(again["accepted"], json!(["evt_d3"]));
    assert_eq!(again["duplicates"], json!(["evt_d2"]));
    rx.wait_for(3).await;
    let list = env
        .wait_deliveries(&id, "3 successes", |l| {
            l.iter().filter(|d| d["status"] == "succeeded").count() == 3
        })
        .await;
    assert_eq!(list.len(), 3);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(rx.received().len(), 3);
    env.finish().await;
}

async fn delivery_log_records_every_attempt_with_snippet(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let rx = Receiver::start(|n| {
        if n == 0 {
            (503, Default::default())
        } else {
            (200, Default::default())
        }
    })
    .await;
    let (id, _) = env.webhook(&rx.url("/"), &["SHARING"]).await;
    env.ingest(event("evt_log", "SHARING", "share.a")).await;
    let list = env
        .wait_deliveries(&id, "first failure", |l| {
            l.first().is_some_and(|d| d["status"] == "retrying")
        })
        .await;
    let dlv = list[0]["id"].as_str().unwrap().to_string();
    let d = env.delivery(&dlv).await;
    assert_eq!(d["attempt_count"], 1);
    assert_eq!(d["last_status_code"], 503);
    assert_eq!(d["next_attempt_at"], "2026-05-12T14:00:30Z");
    let a = &d["attempts"][0];
    assert_eq!(a["status_code"], 503);
    assert_eq!(a["response_snippet"], "answer 0 with 503");
    assert!(a["error"].as_str().unwrap().contains("503"));
    assert!(a["duration_ms"].as_i64().unwrap() >= 0);
    assert_eq!(a["attempted_at"], "2026-05-12T14:00:00Z");
    // Filters and pagination of the log.
    let (s, page) = env
        .call(
            "GET",
            &format!("/v1/orgs/{{org}}/webhooks/{id}/deliveries?status=succeeded"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(page["data"].as_array().unwrap().len(), 0);
    let (s, err) = env
        .call(
            "GET",
            &format!("/v1/orgs/{{org}}/webhooks/{id}/deliveries?status=lost"),
            None,
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(err["field"], "status");
    env.clock.advance(std::time::Duration::from_secs(30));
    env.wait_deliveries(&id, "retry success", |l| l[0]["status"] == "succeeded")
        .await;
    let d = env.delivery(&dlv).await;
    assert_eq!(d["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(d["attempts"][1]["status_code"], 200);
    assert_eq!(d["attempts"][1]["error"], json!(null));
    env.finish().await;
}

async fn redeliver_sends_the_same_event_as_a_new_delivery(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let rx = Receiver::ok().await;
    let (id, _) = env.webhook(&rx.url("/"), &["SHARING"]).await;
    env.ingest(event("evt_again", "SHARING", "share.a")).await;
    let first = rx.wait_for(1).await;
    let list = env
        .wait_deliveries(&id, "success", |l| {
            l.iter().any(|d| d["status"] == "succeeded")
        })
        .await;
    let dlv = list[0]["id"].as_str().unwrap();
    let (s, d) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/deliveries/{dlv}/redeliver"),
            None,
        )
        .await;
    assert_eq!(s, 202, "{d}");
    assert_ne!(d["id"].as_str().unwrap(), dlv);
    assert_eq!(d["event_id"], "evt_again");
    let got = rx.wait_for(2).await;
    assert_eq!(got[1].body, first[0].body);
    assert_eq!(
        got[1].header("x-scaidrive-delivery-id"),
        d["id"].as_str().unwrap()
    );
    let (s, _) = env
        .call(
            "POST",
            "/v1/orgs/{org}/deliveries/dlv_unknown/redeliver",
            None,
        )
        .await;
    assert_eq!(s, 404);
    env.finish().await;
}

async fn test_event_is_sent_now_and_answered_with_its_attempt(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let rx = Receiver::start(|_| (418, Default::default())).await;
    let (id, secret) = env.webhook(&rx.url("/"), &["SHARING"]).await;
    let (s, d) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/webhooks/{id}/test"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["attempt_count"], 1);
    assert_eq!(d["status"], "retrying");
    assert_eq!(d["attempts"][0]["status_code"], 418);
    let got = rx.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("x-scaidrive-event"), "webhook.test");
    assert_eq!(
        got[0].header("x-scaidrive-signature"),
        independent_signature(&secret, &got[0].body)
    );
    env.finish().await;
}
