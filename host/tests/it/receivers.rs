//! What receivers can ask of ScaiHub: a `410 Gone` pauses the webhook;
//! the Standard Webhooks signature scheme is chosen and checked per webhook
//! (its interoperability with the published libraries is in `interop.rs`).

use std::time::Duration;

use serde_json::json;

use crate::both;
use crate::support::{Backend, Options, Receiver, TestEnv, event};

both!(
    a_receiver_that_answers_gone_pauses_its_webhook_until_resumed,
    the_signature_scheme_is_validated_by_name_and_changes_nothing_when_refused,
    standard_deliveries_carry_the_standard_headers_signed_with_the_secrets_key,
    recover_sends_the_windows_failed_deliveries_again_once_each,
    retry_after_holds_the_delivery_and_the_webhooks_others_without_counting_them,
    the_console_shows_why_scaihub_paused_and_recovers_from_its_page,
);

async fn a_receiver_that_answers_gone_pauses_its_webhook_until_resumed(backend: Backend) {
    // One at a time, so the deliveries behind the 410 are still held.
    let env = TestEnv::with(
        backend,
        Options {
            max_in_flight_per_webhook: 1,
            ..Default::default()
        },
    )
    .await;
    let rx = Receiver::start(|n| (if n == 0 { 410 } else { 200 }, Duration::ZERO)).await;
    let (id, _) = env.webhook(&rx.url("/gone"), &["SHARING"]).await;
    let batch: Vec<_> = (0..3)
        .map(|i| event(&format!("evt_gone{i}"), "SHARING", "share.created"))
        .collect();
    env.ingest(json!(batch)).await;

    let list = env
        .wait_deliveries(&id, "all three queued behind the 410", |l| {
            l.len() == 3 && l.iter().all(|d| d["status"] == "queued")
        })
        .await;
    let answered: Vec<_> = list.iter().filter(|d| d["attempt_count"] == 1).collect();
    assert_eq!(answered.len(), 1, "only the first was attempted: {list:?}");
    assert_eq!(answered[0]["last_status_code"], 410);
    assert_eq!(rx.received().len(), 1, "nothing sent after the 410");

    let (s, w) = env
        .call("GET", &format!("/v1/orgs/{{org}}/webhooks/{id}"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(w["paused"], true);
    let reason = w["paused_reason"].as_str().expect("a reason");
    assert!(reason.contains("410 Gone"), "{reason}");

    // The audit log says ScaiHub paused it, and why.
    let audit = env.audit("action=webhook.paused").await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["category"], "ADMIN");
    assert_eq!(audit[0]["payload"]["webhook_id"], id.as_str());
    assert!(
        audit[0]["payload"]["reason"]
            .as_str()
            .unwrap()
            .contains("410")
    );
    assert!(
        audit[0]["user_id"].is_null(),
        "paused by ScaiHub, not a user: {}",
        audit[0]
    );

    // Resume works as for any pause: the queue goes out, the reason is gone.
    let (s, w) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/webhooks/{id}/resume"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{w}");
    assert!(w["paused_reason"].is_null(), "{w}");
    env.wait_deliveries(&id, "all delivered after the resume", |l| {
        l.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    assert_eq!(rx.received().len(), 4, "the 410'd one is sent again");
    env.finish().await;
}

async fn the_signature_scheme_is_validated_by_name_and_changes_nothing_when_refused(
    backend: Backend,
) {
    let env = TestEnv::start(backend).await;
    let rx = Receiver::ok().await;
    let base = json!({"name": "s", "url": rx.url("/"), "events": ["SHARING"]});
    let with = |extra: serde_json::Value| {
        let mut b = base.clone();
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    for (body, field) in [
        (
            with(json!({"signature_scheme": "svix"})),
            "signature_scheme",
        ),
        (
            // URL-safe base64 is not what the libraries decode.
            with(
                json!({"signature_scheme": "standard", "secret": "whsec_abc-def_ghi-jkl_mno-pqr_stu-vwx"}),
            ),
            "secret",
        ),
    ] {
        let (s, e) = env
            .call("POST", "/v1/orgs/{org}/webhooks", Some(body))
            .await;
        assert_eq!(s, 422, "{e}");
        assert!(e.to_string().contains(field), "names {field}: {e}");
    }
    let (s, list) = env.call("GET", "/v1/orgs/{org}/webhooks", None).await;
    assert_eq!(s, 200);
    assert_eq!(list["data"].as_array().map(Vec::len), Some(0), "{list}");

    // A webhook whose own secret the standard scheme cannot use is told to
    // rotate first, and stays as it was.
    let (id, _) = env
        .webhook_with(with(json!({"secret": "a-secret-of-my-own-making-42"})))
        .await;
    let (s, e) = env
        .call(
            "PATCH",
            &format!("/v1/orgs/{{org}}/webhooks/{id}"),
            Some(json!({"signature_scheme": "standard", "name": "renamed"})),
        )
        .await;
    assert_eq!(s, 422, "{e}");
    assert!(
        e.to_string().contains("signature_scheme") && e.to_string().contains("rotate"),
        "{e}"
    );
    let (_, w) = env
        .call("GET", &format!("/v1/orgs/{{org}}/webhooks/{id}"), None)
        .await;
    assert_eq!(w["signature_scheme"], "scaidrive");
    assert_eq!(w["name"], "s");
    // After a rotation (new secrets suit both schemes) the switch works.
    env.call(
        "POST",
        &format!("/v1/orgs/{{org}}/webhooks/{id}/rotate-secret"),
        None,
    )
    .await;
    let (s, w) = env
        .call(
            "PATCH",
            &format!("/v1/orgs/{{org}}/webhooks/{id}"),
            Some(json!({"signature_scheme": "standard"})),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    assert_eq!(w["signature_scheme"], "standard");
    env.finish().await;
}

async fn standard_deliveries_carry_the_standard_headers_signed_with_the_secrets_key(
    backend: Backend,
) {
    use base64::Engine as _;
    let env = TestEnv::start(backend).await;
    let rx = Receiver::ok().await;
    let (id, secret) = env
        .webhook_with(
            json!({"name": "std", "url": rx.url("/"), "events": ["SHARING"],
            "signature_scheme": "standard"}),
        )
        .await;
    let (_, w) = env
        .call("GET", &format!("/v1/orgs/{{org}}/webhooks/{id}"), None)
        .await;
    assert_eq!(w["signature_scheme"], "standard");
    env.ingest(json!([event("evt_std1", "SHARING", "share.created")]))
        .await;
    let got = rx.wait_for(1).await;
    let r = &got[0];
    let (msg_id, ts) = (r.header("webhook-id"), r.header("webhook-timestamp"));
    assert!(msg_id.starts_with("dlv_"), "{msg_id}");
    assert_eq!(ts.parse::<i64>().unwrap(), env.hub.now() / 1000);
    // Recomputed with `ring`, from the key the whsec_ secret encodes.
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut signed = format!("{msg_id}.{ts}.").into_bytes();
    signed.extend_from_slice(&r.body);
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
        &signed,
    );
    let want = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
    );
    assert_eq!(r.header("webhook-signature"), want);
    assert_eq!(
        r.header("x-scaidrive-signature"),
        "",
        "one scheme's signature only"
    );
    env.finish().await;
}

async fn recover_sends_the_windows_failed_deliveries_again_once_each(backend: Backend) {
    // No retries: a failed attempt drops the delivery at once.
    let env = TestEnv::with(
        backend,
        Options {
            retry_schedule: Vec::new(),
            ..Default::default()
        },
    )
    .await;
    let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let up = healthy.clone();
    let rx = Receiver::start(move |_| {
        let ok = up.load(std::sync::atomic::Ordering::SeqCst);
        (if ok { 200 } else { 503 }, Duration::ZERO)
    })
    .await;
    let (id, _) = env.webhook(&rx.url("/r"), &["SHARING"]).await;
    // One drop long ago, outside the window...
    env.ingest(json!([event("evt_rec_old", "SHARING", "share.created")]))
        .await;
    env.wait_deliveries(&id, "the old drop", |l| {
        l.len() == 1 && l[0]["status"] == "dropped"
    })
    .await;
    env.clock.advance(Duration::from_secs(3 * 3600));
    // ...and two in it.
    env.ingest(json!([
        event("evt_rec_1", "SHARING", "share.created"),
        event("evt_rec_2", "SHARING", "share.created")
    ]))
    .await;
    let dropped = env
        .wait_deliveries(&id, "three drops", |l| {
            l.len() == 3 && l.iter().all(|d| d["status"] == "dropped")
        })
        .await;
    let path = format!("/v1/orgs/{{org}}/webhooks/{id}/recover");
    let since = scaihub::clock::rfc3339(env.hub.now() - 3_600_000);

    // Bad input names its field and sends nothing.
    for (body, field) in [
        (json!({"since": "yesterday"}), "since"),
        (
            json!({"since": since, "until": "2000-01-01T00:00:00Z"}),
            "until",
        ),
        (
            json!({"since": since, "statuses": ["succeeded"]}),
            "statuses[0]",
        ),
        (json!({"since": since, "statuses": []}), "statuses"),
        (json!({"since": since, "limit": 3}), "limit"),
    ] {
        let (s, e) = env.call("POST", &path, Some(body)).await;
        assert_eq!(s, 422, "{e}");
        assert!(e.to_string().contains(field), "names {field}: {e}");
    }
    let (s, _) = env
        .call(
            "POST",
            "/v1/orgs/{org}/webhooks/whk_nope/recover",
            Some(json!({"since": since})),
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(rx.received().len(), 3, "nothing sent by refused calls");

    healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    let (s, r) = env.call("POST", &path, Some(json!({"since": since}))).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["recovered"], 2, "{r}");
    let got = rx.wait_for(5).await;
    let resent: std::collections::BTreeSet<String> = got[3..]
        .iter()
        .map(|r| r.header("x-scaidrive-delivery-id").to_string())
        .collect();
    let in_window: std::collections::BTreeSet<String> = dropped
        .iter()
        .filter(|d| d["event_id"] != "evt_rec_old")
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(resent, in_window, "the same deliveries, by id");
    let list = env
        .wait_deliveries(&id, "the two succeed", |l| {
            l.iter().filter(|d| d["status"] == "succeeded").count() == 2
        })
        .await;
    let old = list
        .iter()
        .find(|d| d["event_id"] == "evt_rec_old")
        .unwrap();
    assert_eq!(old["status"], "dropped", "outside the window");
    let again = list.iter().find(|d| d["event_id"] == "evt_rec_1").unwrap();
    assert_eq!(
        again["attempt_count"], 2,
        "a new attempt on the same delivery"
    );

    // Nothing left to recover in the window: nothing is sent twice.
    let (_, r) = env.call("POST", &path, Some(json!({"since": since}))).await;
    assert_eq!(r["recovered"], 0);
    let audit = env.audit("action=webhook.deliveries_recovered").await;
    assert_eq!(audit.len(), 2, "{audit:?}");
    let counts: Vec<_> = audit
        .iter()
        .map(|a| a["payload"]["recovered"].clone())
        .collect();
    assert!(
        counts.contains(&json!(2)) && counts.contains(&json!(0)),
        "{counts:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.received().len(), 5);
    env.finish().await;
}

async fn retry_after_holds_the_delivery_and_the_webhooks_others_without_counting_them(
    backend: Backend,
) {
    // One at a time, so the others are still waiting when the 429 comes.
    let env = TestEnv::with(
        backend,
        Options {
            max_in_flight_per_webhook: 1,
            ..Default::default()
        },
    )
    .await;
    let app = axum::Router::new().fallback({
        let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        move || {
            let n = n.clone();
            async move {
                if n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    // Seconds form; the date form is read by a unit test.
                    (
                        axum::http::StatusCode::TOO_MANY_REQUESTS,
                        [("retry-after", "120")],
                        "slow down",
                    )
                } else {
                    (axum::http::StatusCode::OK, [("retry-after", "0")], "ok")
                }
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (id, _) = env.webhook(&url, &["SHARING"]).await;
    let t0 = env.hub.now();
    let batch: Vec<_> = (0..3)
        .map(|i| event(&format!("evt_ra{i}"), "SHARING", "share.created"))
        .collect();
    env.ingest(json!(batch)).await;

    // The 429'd one waits 120 s (not the schedule's 30 s); the others wait
    // as long, their attempts not counted.
    let list = env
        .wait_deliveries(&id, "all three held", |l| {
            l.len() == 3
                && l.iter().all(|d| {
                    d["next_attempt_at"]
                        .as_str()
                        .and_then(scaihub::clock::parse_rfc3339)
                        .is_some_and(|t| t >= t0 + 120_000)
                })
        })
        .await;
    let tried: Vec<_> = list.iter().filter(|d| d["attempt_count"] == 1).collect();
    assert_eq!(tried.len(), 1, "{list:?}");
    assert_eq!(tried[0]["last_status_code"], 429);
    assert!(
        list.iter()
            .filter(|d| d["attempt_count"] == 0)
            .all(|d| d["status"] == "pending")
    );

    // Nothing goes out before the time asked...
    env.clock.advance(Duration::from_secs(119));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = env.deliveries(&id).await;
    assert!(
        before.iter().all(|d| d["status"] != "succeeded"),
        "sent early: {before:?}"
    );
    // ...and everything once it has come.
    env.clock.advance(Duration::from_secs(1));
    let after = env
        .wait_deliveries(&id, "all delivered after the hold", |l| {
            l.iter().all(|d| d["status"] == "succeeded")
        })
        .await;
    let counts: Vec<_> = after
        .iter()
        .map(|d| d["attempt_count"].as_i64().unwrap())
        .collect();
    assert_eq!(
        counts.iter().sum::<i64>(),
        4,
        "one extra attempt, the 429: {counts:?}"
    );
    env.finish().await;
}

async fn the_console_shows_why_scaihub_paused_and_recovers_from_its_page(backend: Backend) {
    use crate::console::{Browser, PASSWORD, human};
    let env = TestEnv::with(
        backend,
        Options {
            retry_schedule: Vec::new(),
            ..Default::default()
        },
    )
    .await;
    let admin = human(&env, &["admin:read", "admin:write"]).await;
    let mut b = Browser::new(&env);
    b.sign_in(&admin, PASSWORD).await;

    // The form sets the scheme, by name.
    let form = b.get("/console/webhooks/new").await;
    assert!(
        form.body.contains("name=\"signature_scheme\""),
        "{}",
        form.body
    );
    let rx = Receiver::start(|n| (if n == 0 { 500 } else { 410 }, Duration::ZERO)).await;
    let created = b
        .post(
            "/console/webhooks",
            &[
                ("name", "console hook"),
                ("url", &rx.url("/c")),
                ("events", "SHARING"),
                ("signature_scheme", "standard"),
                ("on_plugin_error", "skip"),
            ],
            None,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let (_, list) = env.call("GET", "/v1/orgs/{org}/webhooks", None).await;
    let hook = list["data"][0].clone();
    assert_eq!(hook["signature_scheme"], "standard");
    let id = hook["id"].as_str().unwrap().to_string();
    let bad = b
        .post(
            &format!("/console/webhooks/{id}/edit"),
            &[
                ("name", "x"),
                ("url", &rx.url("/c")),
                ("events", "SHARING"),
                ("signature_scheme", "svix"),
            ],
            None,
        )
        .await;
    assert!(
        bad.body.contains("must be scaidrive or standard"),
        "{}",
        bad.body
    );

    // A drop, then the Recover button sends it again; the receiver's 410
    // pauses the webhook, and the page says why.
    env.ingest(json!([event(
        "evt_console_rec",
        "SHARING",
        "share.created"
    )]))
    .await;
    env.wait_deliveries(&id, "the drop", |l| {
        l.len() == 1 && l[0]["status"] == "dropped"
    })
    .await;
    b.get(&format!("/console/webhooks/{id}")).await;
    let recovered = b
        .post(
            &format!("/console/webhooks/{id}/recover"),
            &[
                ("hours", "24"),
                ("statuses", "dropped"),
                ("statuses", "overflowed"),
            ],
            None,
        )
        .await;
    assert_eq!(recovered.status, 200, "{}", recovered.body);
    assert!(
        recovered.body.contains("1 deliveries sent again"),
        "{}",
        recovered.body
    );
    env.wait_deliveries(&id, "queued by the 410", |l| l[0]["status"] == "queued")
        .await;
    let page = b.get(&format!("/console/webhooks/{id}")).await;
    assert!(page.body.contains("id=\"paused-reason\""), "{}", page.body);
    assert!(page.body.contains("410 Gone"), "{}", page.body);
    env.finish().await;
}
