//! The webhooks API: every field validated, naming the field; updates,
//! listing with pages, deletion.

use serde_json::{Value, json};

use crate::both;
use crate::support::{Backend, Receiver, TestEnv};

both!(
    every_webhook_field_is_validated_naming_it,
    webhooks_are_created_listed_updated_and_deleted
);

async fn every_webhook_field_is_validated_naming_it(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let rx = Receiver::ok().await;
    let base = json!({"name": "ok", "url": rx.url("/"), "events": ["SHARING"]});
    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": ""}), "name"),
        (json!({"url": "ftp://x"}), "url"),
        (json!({"url": "not a url"}), "url"),
        (json!({"url": "http://user:pw@127.0.0.1/"}), "url"),
        (json!({"events": []}), "events"),
        (json!({"events": ["SHARING", "FILES"]}), "events[1]"),
        (json!({"actions": ["share.*", "Share Added"]}), "actions[1]"),
        (
            json!({"filters": {"share_ids": ["bad id"]}}),
            "filters.share_ids[0]",
        ),
        (
            json!({"filters": {"user_ids": ["alice"]}}),
            "filters.user_ids[0]",
        ),
        (
            json!({"filters": {"ip_ranges": ["10.0.0.0/8", "2001:db8::/129"]}}),
            "filters.ip_ranges[1]",
        ),
        (
            json!({"filters": {"ip_ranges": ["nonsense"]}}),
            "filters.ip_ranges[0]",
        ),
        (
            json!({"filters": {"countries": ["NL"]}}),
            "filters.countries",
        ),
        (
            json!({"headers": {"X-ScaiDrive-Signature": "forged"}}),
            "headers.X-ScaiDrive-Signature",
        ),
        (json!({"headers": {"Host": "evil"}}), "headers.Host"),
        (
            json!({"headers": {"Content-Length": "1"}}),
            "headers.Content-Length",
        ),
        (
            json!({"headers": {"Connection": "close"}}),
            "headers.Connection",
        ),
        (
            json!({"headers": {"Transfer-Encoding": "chunked"}}),
            "headers.Transfer-Encoding",
        ),
        (
            json!({"headers": {"X-Bad": "line\nbreak"}}),
            "headers.X-Bad",
        ),
        (json!({"queue_limit": 0}), "queue_limit"),
        (json!({"queue_limit": 10_000_000}), "queue_limit"),
        (json!({"secret": "short"}), "secret"),
        (json!({"colour": "blue"}), "colour"),
        (json!({"events": "SHARING"}), "events"),
    ];
    for (change, field) in cases {
        let mut body = base.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, err) = env
            .call("POST", "/v1/orgs/{org}/webhooks", Some(body.clone()))
            .await;
        assert_eq!(s, 422, "{body} → {err}");
        assert_eq!(err["field"], field, "{body} → {err}");
        assert!(!err["message"].as_str().unwrap().is_empty());
    }
    let mut missing = base.clone();
    missing.as_object_mut().unwrap().remove("url");
    let (s, err) = env
        .call("POST", "/v1/orgs/{org}/webhooks", Some(missing))
        .await;
    assert_eq!((s, err["field"].as_str()), (422, Some("url")));
    // Content-Type may be overridden, and nothing bad was stored.
    let mut ok = base.clone();
    ok["headers"] = json!({"Content-Type": "text/plain"});
    let (s, _) = env.call("POST", "/v1/orgs/{org}/webhooks", Some(ok)).await;
    assert_eq!(s, 201);
    let (_, page) = env.call("GET", "/v1/orgs/{org}/webhooks", None).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    env.finish().await;
}

async fn webhooks_are_created_listed_updated_and_deleted(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let rx = Receiver::ok().await;
    let (s, w) = env
        .call(
            "POST",
            "/v1/orgs/{org}/webhooks",
            Some(json!({
                "name": "CRM", "url": rx.url("/crm"), "events": ["SHARING", "SHARING"], "actions": ["share.*"],
                "filters": {"share_ids": ["shr_1"], "ip_ranges": ["10.1.2.3", "2001:db8::1/32"]},
                "headers": {"Authorization": "Bearer t"}, "queue_limit": 50,
                "secret": "my-own-secret-that-is-long-enough"
            })),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    let id = w["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("whk_"));
    assert_eq!(w["secret"], "my-own-secret-that-is-long-enough");
    assert_eq!(w["events"], json!(["SHARING"]));
    assert_eq!(
        w["filters"]["ip_ranges"],
        json!(["10.1.2.3/32", "2001:db8::/32"])
    );
    assert_eq!(w["headers"], json!({"authorization": "Bearer t"}));
    assert_eq!(w["queue_limit"], 50);
    assert_eq!(w["paused"], false);
    assert_eq!(w["on_plugin_error"], "skip");
    // Generated secrets are long and random.
    let (_, generated) = env
        .call(
            "POST",
            "/v1/orgs/{org}/webhooks",
            Some(json!({"name": "g", "url": rx.url("/g"), "events": ["ADMIN"]})),
        )
        .await;
    assert!(generated["secret"].as_str().unwrap().len() >= 40);
    assert_eq!(generated["queue_limit"], 1000);

    let (s, got) = env
        .call("GET", &format!("/v1/orgs/{{org}}/webhooks/{id}"), None)
        .await;
    assert_eq!(s, 200);
    assert!(
        got.get("secret").is_none(),
        "the secret is shown only at creation"
    );

    let (s, updated) = env
        .call(
            "PATCH",
            &format!("/v1/orgs/{{org}}/webhooks/{id}"),
            Some(json!({"events": ["SECURITY"], "filters": {"user_ids": ["usr_a"]}})),
        )
        .await;
    assert_eq!(s, 200, "{updated}");
    assert_eq!(updated["events"], json!(["SECURITY"]));
    assert_eq!(updated["name"], "CRM");
    assert_eq!(updated["filters"]["user_ids"], json!(["usr_a"]));
    let (s, err) = env
        .call(
            "PATCH",
            &format!("/v1/orgs/{{org}}/webhooks/{id}"),
            Some(json!({"events": []})),
        )
        .await;
    assert_eq!((s, err["field"].as_str()), (422, Some("events")));

    for i in 0..3 {
        env.webhook(&rx.url(&format!("/{i}")), &["SHARING"]).await;
    }
    let (_, p1) = env
        .call("GET", "/v1/orgs/{org}/webhooks?limit=3", None)
        .await;
    assert_eq!(p1["data"].as_array().unwrap().len(), 3);
    let cursor = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = env
        .call(
            "GET",
            &format!("/v1/orgs/{{org}}/webhooks?limit=3&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(p2["data"].as_array().unwrap().len(), 2);

    let (s, _) = env
        .call("DELETE", &format!("/v1/orgs/{{org}}/webhooks/{id}"), None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = env
        .call("DELETE", &format!("/v1/orgs/{{org}}/webhooks/{id}"), None)
        .await;
    assert_eq!(s, 404);
    env.finish().await;
}
