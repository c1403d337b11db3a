//! Secret rotation, destination checks (at save and at connect), and
//! secrets at rest.

use std::time::Duration;

use serde_json::json;

use crate::both;
use crate::support::{Backend, Options, Receiver, TestEnv, event, independent_signature};

both!(
    rotated_secret_signs_at_once_and_old_one_signs_beside_it_for_24h,
    internal_destinations_are_refused_at_save_unless_allowed,
    dns_rebinding_to_internal_address_is_refused_at_connect,
    webhook_secrets_are_not_stored_in_clear,
);

async fn rotated_secret_signs_at_once_and_old_one_signs_beside_it_for_24h(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let rx = Receiver::ok().await;
    let (id, old) = env.webhook(&rx.url("/"), &["SHARING"]).await;
    env.ingest(event("evt_r0", "SHARING", "share.a")).await;
    let before = rx.wait_for(1).await;
    assert_eq!(
        before[0].header("x-scaidrive-signature"),
        independent_signature(&old, &before[0].body)
    );

    let (s, rotated) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/webhooks/{id}/rotate-secret"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(
        rotated["previous_secret_expires_at"],
        "2026-05-13T14:00:00Z"
    );
    env.ingest(event("evt_r1", "SHARING", "share.a")).await;
    let during = rx.wait_for(2).await;
    let r = &during[1];
    assert_eq!(
        r.header("x-scaidrive-signature"),
        format!(
            "{},{}",
            independent_signature(&new, &r.body),
            independent_signature(&old, &r.body)
        )
    );
    // The rotation is audited, without the secret.
    let audit = env.audit("action=webhook.secret_rotated").await;
    assert_eq!(audit.len(), 1);
    assert!(!audit[0].to_string().contains(&new));

    env.clock.advance(Duration::from_secs(24 * 3600));
    env.ingest(event("evt_r2", "SHARING", "share.a")).await;
    let after = rx.wait_for(3).await;
    assert_eq!(
        after[2].header("x-scaidrive-signature"),
        independent_signature(&new, &after[2].body)
    );
    env.finish().await;
}

async fn internal_destinations_are_refused_at_save_unless_allowed(backend: Backend) {
    let env = TestEnv::with(
        backend,
        Options {
            allow: "127.0.0.0/8".into(),
            ..Options::default()
        },
    )
    .await;
    for url in [
        "http://10.0.0.5/hook",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/",
        "http://[::ffff:10.0.0.1]/",
        "http://[fd00::1]/",
        "http://100.64.1.1/",
        "http://0.0.0.0/",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
    ] {
        let (s, err) = env
            .call(
                "POST",
                "/v1/orgs/{org}/webhooks",
                Some(json!({"name": "x", "url": url, "events": ["SHARING"]})),
            )
            .await;
        assert_eq!(s, 422, "{url} was accepted: {err}");
        assert_eq!(err["field"], "url");
        assert!(
            err["message"].as_str().unwrap().contains("internal"),
            "{err}"
        );
    }
    // A name resolving inward is refused too.
    env.resolver.set("intranet.example", "10.1.1.1");
    let (s, err) = env
        .call(
            "POST",
            "/v1/orgs/{org}/webhooks",
            Some(json!({"name": "x", "url": "http://intranet.example/", "events": ["SHARING"]})),
        )
        .await;
    assert_eq!(s, 422, "{err}");
    // The allowed range is open.
    let rx = Receiver::ok().await;
    env.webhook(&rx.url("/"), &["SHARING"]).await;
    // And a PATCH to an internal URL is refused and changes nothing.
    let (id, _) = env.webhook(&rx.url("/two"), &["SHARING"]).await;
    let (s, _) = env
        .call(
            "PATCH",
            &format!("/v1/orgs/{{org}}/webhooks/{id}"),
            Some(json!({"url": "http://10.0.0.1/"})),
        )
        .await;
    assert_eq!(s, 422);
    let (_, w) = env
        .call("GET", &format!("/v1/orgs/{{org}}/webhooks/{id}"), None)
        .await;
    assert_eq!(w["url"], rx.url("/two"));
    env.finish().await;
}

async fn dns_rebinding_to_internal_address_is_refused_at_connect(backend: Backend) {
    let env = TestEnv::with(
        backend,
        Options {
            allow: "127.0.0.0/8".into(),
            ..Options::default()
        },
    )
    .await;
    let rx = Receiver::ok().await;
    // At save time the name points at a public address (never contacted).
    env.resolver.set("hooks.example", "93.184.215.14");
    let (id, _) = env
        .webhook(
            &format!("http://hooks.example:{}/", rx.addr.port()),
            &["SHARING"],
        )
        .await;
    // Then it is rebound to a private one before the attempt.
    env.resolver.set("hooks.example", "10.0.0.7");
    env.ingest(event("evt_rebind", "SHARING", "share.a")).await;
    let list = env
        .wait_deliveries(&id, "a refused attempt", |l| {
            l.first().is_some_and(|d| d["status"] == "retrying")
        })
        .await;
    let d = env.delivery(list[0]["id"].as_str().unwrap()).await;
    let error = d["attempts"][0]["error"].as_str().unwrap();
    assert!(error.contains("internal address"), "{error}");
    // Pointing it at the allowed loopback range lets the retry through.
    env.resolver.set("hooks.example", "127.0.0.1");
    env.clock.advance(Duration::from_secs(30));
    rx.wait_for(1).await;
    env.finish().await;
}

async fn webhook_secrets_are_not_stored_in_clear(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let rx = Receiver::ok().await;
    let (id, secret) = env.webhook(&rx.url("/"), &["SHARING"]).await;
    let (_, rotated) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/webhooks/{id}/rotate-secret"),
            None,
        )
        .await;
    let new = rotated["secret"].as_str().unwrap();
    let dump = env.db.dump().await;
    for s in [secret.as_str(), new, env.admin_key.as_str()] {
        assert!(
            !dump.windows(s.len()).any(|w| w == s.as_bytes()),
            "a secret is stored in clear"
        );
    }
    // The secret still signs: it is sealed, not lost.
    env.ingest(event("evt_sealed", "SHARING", "share.a")).await;
    let got = rx.wait_for(1).await;
    assert!(
        got[0]
            .header("x-scaidrive-signature")
            .starts_with(&independent_signature(new, &got[0].body))
    );
    env.finish().await;
}
