//! Plugins: upload and validation, the four example plugins in the real
//! runtime, plugins in the delivery path, the floor plugins, hostile
//! plugins, MSP sharing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::both;
use crate::support::{
    Backend, Options, Received, Receiver, TestEnv, event, independent_signature, plugin_wasm,
    py_plugin_wasm,
};

both!(
    uploads_are_validated_versioned_listed_and_audited,
    example_plugins_run_in_the_real_runtime,
    filters_and_transform_run_in_the_delivery_path_and_the_transformed_body_is_signed,
    hostile_plugins_become_recorded_errors_and_others_are_unaffected,
    deliver_original_policy_sends_the_untransformed_event,
    msp_plugins_serve_children_but_no_other_organisation,
    attached_plugins_cannot_be_deleted,
    a_delete_waits_for_an_attach_in_flight_and_then_sees_it,
    floor_plugins_deliver_the_same_bytes_as_no_plugins,
    a_tenant_with_slow_plugins_does_not_hold_up_another,
    deliveries_that_miss_the_cache_together_load_a_plugin_once,
    python_plugins_run_as_many_at_once_as_the_sandbox_has_slots,
    a_kept_instance_serves_one_webhook_at_one_version_only,
    a_kept_instance_that_keeps_growing_is_replaced_before_the_memory_cap,
    with_no_warm_instances_every_delivery_gets_a_fresh_one,
);

/// Ingests one event and waits for its delivery to arrive at `rx`, so the
/// next event's delivery comes after it.
async fn one_by_one(env: &TestEnv, rx: &Receiver, id: &str, category: &str) -> Received {
    let before = rx.received().len();
    env.ingest(json!([event(id, category, "x.y")])).await;
    rx.wait_for(before + 1).await.pop().unwrap()
}

/// Uploads a built plugin; answers its id.
pub(crate) async fn upload(env: &TestEnv, org: &str, file: &str, name: &str, kind: &str) -> String {
    let bytes = std::fs::read(plugin_wasm(file)).unwrap();
    let res = env
        .http
        .post(env.url(&format!("/v1/orgs/{org}/plugins?name={name}&kind={kind}")))
        .bearer_auth(&env.admin_key)
        .header("content-type", "application/wasm")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

async fn raw_upload(env: &TestEnv, query: &str, body: Vec<u8>) -> (u16, Value) {
    let res = env
        .http
        .post(env.url(&format!("/v1/orgs/{{org}}/plugins?{query}")))
        .bearer_auth(&env.admin_key)
        .body(body)
        .send()
        .await
        .unwrap();
    let s = res.status().as_u16();
    (s, res.json().await.unwrap_or(Value::Null))
}

async fn test_call(env: &TestEnv, id: &str, ev: Value, config: Value) -> Value {
    let (s, out) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/plugins/{id}/test"),
            Some(json!({"event": ev, "config": config})),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    out
}

async fn uploads_are_validated_versioned_listed_and_audited(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let filter = std::fs::read(plugin_wasm("payload_field_filter")).unwrap();
    // Not wasm, a core module (not a component), the wrong world, missing parameters.
    let (s, err) = raw_upload(&env, "name=x&kind=filter", b"hello".to_vec()).await;
    assert_eq!((s, err["field"].as_str()), (422, Some("body")), "{err}");
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let (s, err) = raw_upload(&env, "name=x&kind=filter", core_module).await;
    assert_eq!((s, err["field"].as_str()), (422, Some("body")), "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("component"),
        "{err}"
    );
    let (s, err) = raw_upload(&env, "name=x&kind=transform", filter.clone()).await;
    assert_eq!((s, err["field"].as_str()), (422, Some("kind")), "{err}");
    // Components that are not plugins, each refused with the reason: no
    // world of ours, a `filter` export of the wrong type, an import the
    // sandbox does not give, one that does not validate; and the size cap.
    let lifted_filter = r#"(core module $m (func (export "f")))
        (core instance $i (instantiate $m))
        (func (export "filter") (canon lift (core func $i "f")))"#;
    let cases = [
        ("(component)".to_string(), "exports neither"),
        (
            format!("(component {lifted_filter})"),
            "export does not match",
        ),
        (
            format!(r#"(component (import "socket" (func)) {lifted_filter})"#),
            "imports something the sandbox does not provide",
        ),
        (
            "(component (core module (func (result i32))))".to_string(),
            "not a WebAssembly component",
        ),
    ];
    for (text, reason) in cases {
        let wasm = wat::parse_str(&text).unwrap();
        let (s, err) = raw_upload(&env, "name=x&kind=filter", wasm).await;
        assert_eq!(
            (s, err["field"].as_str()),
            (422, Some("body")),
            "{text}: {err}"
        );
        assert!(
            err["message"].as_str().unwrap().contains(reason),
            "{text}: {err}"
        );
    }
    let mut oversized = b"\0asm\x0d\0\x01\0".to_vec();
    oversized.resize(32 * 1024 * 1024 + 1, 0);
    let (s, err) = raw_upload(&env, "name=x&kind=filter", oversized).await;
    assert_eq!(s, 413, "{err}");
    let (s, err) = raw_upload(&env, "kind=filter", filter.clone()).await;
    assert_eq!((s, err["field"].as_str()), (422, Some("name")));
    let (s, err) = raw_upload(&env, "name=Bad Name&kind=filter", filter.clone()).await;
    assert_eq!((s, err["field"].as_str()), (422, Some("name")));
    let (s, err) = raw_upload(&env, "name=x&kind=sorter", filter.clone()).await;
    assert_eq!((s, err["field"].as_str()), (422, Some("kind")));

    let (s, v1) = raw_upload(&env, "name=role-filter&kind=filter", filter.clone()).await;
    assert_eq!(s, 201, "{v1}");
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["kind"], "filter");
    assert_eq!(v1["size"], filter.len());
    assert_eq!(v1["sha256"].as_str().unwrap().len(), 64);
    assert!(v1["id"].as_str().unwrap().starts_with("plg_"));
    let (_, v2) = raw_upload(&env, "name=role-filter&kind=filter", filter.clone()).await;
    assert_eq!(v2["version"], 2);
    assert_ne!(v1["id"], v2["id"]);
    let (s, list) = env.call("GET", "/v1/orgs/{org}/plugins", None).await;
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let (s, one) = env
        .call(
            "GET",
            &format!("/v1/orgs/{{org}}/plugins/{}", v1["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!((s, one["version"].as_i64()), (200, Some(1)));
    let audit = env.audit("action=plugin.uploaded").await;
    assert_eq!(audit.len(), 2);
    // A version number is never given twice: after v2 is deleted the next
    // upload is v3. And a name keeps its kind.
    let (s, _) = env
        .call(
            "DELETE",
            &format!("/v1/orgs/{{org}}/plugins/{}", v2["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, v3) = raw_upload(&env, "name=role-filter&kind=filter", filter.clone()).await;
    assert_eq!((s, v3["version"].as_i64()), (201, Some(3)), "{v3}");
    let chat = std::fs::read(plugin_wasm("chat_message")).unwrap();
    let (s, err) = raw_upload(&env, "name=role-filter&kind=transform", chat.clone()).await;
    assert_eq!((s, err["field"].as_str()), (422, Some("kind")), "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("is a filter plugin"),
        "{err}"
    );
    let (s, other) = raw_upload(&env, "name=chat&kind=transform", chat).await;
    assert_eq!((s, other["version"].as_i64()), (201, Some(1)), "{other}");
    env.finish().await;
}

async fn example_plugins_run_in_the_real_runtime(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let org = env.org_id.clone();
    let filter = upload(&env, &org, "payload_field_filter", "role-filter", "filter").await;
    let redact = upload(&env, &org, "pii_redact", "pii", "transform").await;
    let chat = upload(&env, &org, "chat_message", "chat", "transform").await;
    let brand = upload(&env, &org, "msp_branding", "brand", "transform").await;
    let mut ev = event("evt_p", "SHARING", "share.member_added");
    ev["payload"] =
        json!({"role": "contributor", "email": "bob@example.com", "phone": "+31 20 555 0100"});

    let rule = json!({"pointer": "/role", "allowed": ["contributor", "owner"]});
    let out = test_call(&env, &filter, ev.clone(), rule.clone()).await;
    assert_eq!(out["verdict"], "deliver", "{out}");
    assert!(out["fuel_used"].as_u64().unwrap() > 0);
    let mut viewer = ev.clone();
    viewer["payload"]["role"] = json!("viewer");
    assert_eq!(
        test_call(&env, &filter, viewer, rule).await["verdict"],
        "skip"
    );
    let bad = test_call(&env, &filter, ev.clone(), json!({"allowed": []})).await;
    assert!(
        bad["error"].as_str().unwrap().contains("invalid config"),
        "{bad}"
    );

    let out = test_call(
        &env,
        &redact,
        ev.clone(),
        json!({"remove": ["/payload/email"], "mask": ["/payload/phone"]}),
    )
    .await;
    let body: Value = serde_json::from_str(out["request"]["body"].as_str().unwrap()).unwrap();
    assert!(body["payload"].get("email").is_none(), "{body}");
    assert_eq!(body["payload"]["phone"], "***0100");
    assert_eq!(body["event_id"], "evt_p");

    let out = test_call(&env, &chat, ev.clone(), Value::Null).await;
    let body: Value = serde_json::from_str(out["request"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body["text"],
        "[SHARING] share.member_added by usr_alice on shr_reports"
    );
    assert_eq!(out["request"]["content_type"], "application/json");

    let out = test_call(
        &env,
        &brand,
        ev.clone(),
        json!({"msp_name": "Acme IT", "headers": {"X-MSP": "acme"}}),
    )
    .await;
    let body: Value = serde_json::from_str(out["request"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["msp"], "Acme IT");
    assert_eq!(body["event"]["event_id"], "evt_p");
    assert_eq!(out["request"]["headers"], json!([["X-MSP", "acme"]]));

    // A bad sample event is named like an ingested one.
    let (s, err) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/plugins/{filter}/test"),
            Some(json!({"event": {"event_id": "nope"}, "config": {}})),
        )
        .await;
    assert_eq!(
        (s, err["field"].as_str()),
        (422, Some("event.event_id")),
        "{err}"
    );
    env.finish().await;
}

async fn filters_and_transform_run_in_the_delivery_path_and_the_transformed_body_is_signed(
    backend: Backend,
) {
    let env = TestEnv::start(backend).await;
    let org = env.org_id.clone();
    let filter = upload(&env, &org, "payload_field_filter", "role-filter", "filter").await;
    let chat = upload(&env, &org, "chat_message", "chat", "transform").await;
    let rx = Receiver::ok().await;
    let (id, secret) = env
        .webhook_with(json!({
            "name": "slack", "url": rx.url("/slack"), "events": ["SHARING"],
            "filter_plugins": [
                {"plugin_id": filter, "config": {"pointer": "/role", "allowed": ["contributor"]}},
                {"plugin_id": filter, "config": {"pointer": "/principal_id", "allowed": ["usr_bob"]}}
            ],
            "transform_plugin": {"plugin_id": chat, "config": {"template": "{user_id} shared {resource_id} ({action})"}}
        }))
        .await;
    // Every filter must deliver: the first skips evt_drop, the second evt_other.
    let mut keep = event("evt_keep", "SHARING", "share.member_added");
    keep["payload"]["role"] = json!("contributor");
    let mut drop = event("evt_drop", "SHARING", "share.member_added");
    drop["payload"]["role"] = json!("viewer");
    let mut other = event("evt_other", "SHARING", "share.member_added");
    other["payload"]["principal_id"] = json!("usr_carol");
    env.ingest(json!([keep, drop, other])).await;
    let got = rx.wait_for(1).await;
    let r = &got[0];
    assert_eq!(
        r.json(),
        json!({"text": "usr_alice shared shr_reports (share.member_added)"})
    );
    assert_eq!(
        r.header("x-scaidrive-signature"),
        independent_signature(&secret, &r.body)
    );
    assert_eq!(r.header("x-scaidrive-event"), "share.member_added");
    let list = env
        .wait_deliveries(&id, "all settled", |l| {
            l.len() == 3 && l.iter().all(|d| d["status"] != "pending")
        })
        .await;
    let status = |e: &str| list.iter().find(|d| d["event_id"] == e).unwrap()["status"].clone();
    assert_eq!(status("evt_keep"), "succeeded");
    assert_eq!(status("evt_drop"), "filtered");
    assert_eq!(status("evt_other"), "filtered");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(rx.received().len(), 1);
    // Attaching something that is not there, or of the wrong kind, is refused.
    let (s, err) = env
        .call(
            "PATCH",
            &format!("/v1/orgs/{{org}}/webhooks/{id}"),
            Some(json!({"transform_plugin": {"plugin_id": filter, "config": {}}})),
        )
        .await;
    assert_eq!(
        (s, err["field"].as_str()),
        (422, Some("transform_plugin.plugin_id")),
        "{err}"
    );
    let (s, err) = env
        .call(
            "PATCH",
            &format!("/v1/orgs/{{org}}/webhooks/{id}"),
            Some(json!({"filter_plugins": [{"plugin_id": "plg_missing"}]})),
        )
        .await;
    assert_eq!(
        (s, err["field"].as_str()),
        (422, Some("filter_plugins[0].plugin_id")),
        "{err}"
    );
    env.finish().await;
}

/// The floor plugins (the benchmarks' baseline) read nothing and change
/// nothing: a webhook with them receives exactly the bytes a webhook without
/// plugins does, payload text included, signed over those bytes.
async fn floor_plugins_deliver_the_same_bytes_as_no_plugins(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let org = env.org_id.clone();
    let filter = upload(&env, &org, "floor_filter", "floor-f", "filter").await;
    let transform = upload(&env, &org, "floor_transform", "floor-t", "transform").await;
    let rx = Receiver::ok().await;
    env.webhook_with(json!({"name": "plain", "url": rx.url("/plain"), "events": ["SHARING"]}))
        .await;
    let (_, secret) = env
        .webhook_with(json!({
            "name": "floor", "url": rx.url("/floor"), "events": ["SHARING"],
            "filter_plugins": [{"plugin_id": filter, "config": {"ignored": true}}],
            "transform_plugin": {"plugin_id": transform, "config": {}}
        }))
        .await;
    let mut ev = event("evt_floor", "SHARING", "share.member_added");
    ev["payload"]["note"] = json!("quote \" back \\ é 😀 \u{1}");
    ev["payload"]["n"] = json!([1, 2.5, -3e-7, 12345678901234567890u64]);
    env.ingest(json!([ev])).await;
    let got = rx.wait_for(2).await;
    let body = |path: &str| got.iter().find(|r| r.path == path).unwrap().body.clone();
    assert_eq!(body("/floor"), body("/plain"));
    assert_eq!(
        serde_json::from_slice::<Value>(&body("/floor")).unwrap()["payload"],
        ev["payload"]
    );
    let floor = got.iter().find(|r| r.path == "/floor").unwrap();
    assert_eq!(
        floor.header("x-scaidrive-signature"),
        independent_signature(&secret, &floor.body)
    );
    env.finish().await;
}

/// Two plugin slots. One organisation's filter sleeps to its wall-clock
/// limit on each of 20 deliveries, all waiting for a slot at once; another
/// organisation's delivery, arriving after them, gets the next slot that
/// frees rather than waiting behind all 20 (as it would first come, first
/// served).
async fn a_tenant_with_slow_plugins_does_not_hold_up_another(backend: Backend) {
    let mut options = Options::default();
    options.plugin_limits.max_concurrent = 2;
    options.plugin_limits.timeout = Duration::from_millis(100); // 800 ms wall-clock
    let env = TestEnv::with(backend, options).await;
    let sleeper = upload(&env, &env.org_id, "hostile_filter", "sleeper", "filter").await;
    let (slow_id, _) = env
        .webhook_with(json!({
            "name": "slow", "url": Receiver::ok().await.url("/"), "events": ["SHARING"],
            "filter_plugins": [{"plugin_id": sleeper, "config": {"behaviour": "sleep"}}]
        }))
        .await;
    let (_, other) = env
        .call("POST", "/v1/orgs", Some(json!({"name": "Other"})))
        .await;
    let other = other["id"].as_str().unwrap().to_string();
    let floor = upload(&env, &other, "floor_filter", "floor", "filter").await;
    let rx = Receiver::ok().await;
    let (s, hook) = env
        .call(
            "POST",
            &format!("/v1/orgs/{other}/webhooks"),
            Some(
                json!({"name": "quick", "url": rx.url("/quick"), "events": ["SHARING"],
                "filter_plugins": [{"plugin_id": floor, "config": {}}]}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{hook}");

    let slow: Vec<Value> = (0..20)
        .map(|i| event(&format!("evt_slow{i}"), "SHARING", "share.a"))
        .collect();
    env.ingest(json!(slow)).await;
    // Wait until the slow tenant's calls hold both slots.
    env.wait_deliveries(&slow_id, "20 taken", |l| l.len() == 20)
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (s, _) = env
        .call(
            "POST",
            &format!("/v1/orgs/{other}/events"),
            Some(event("evt_quick", "SHARING", "share.a")),
        )
        .await;
    assert_eq!(s, 202);
    rx.wait_for(1).await;
    let settled = env
        .deliveries(&slow_id)
        .await
        .iter()
        .filter(|d| d["status"] == "plugin_failed")
        .count();
    assert!(
        settled <= 8,
        "the other tenant waited for {settled} of the slow tenant's 20 calls"
    );
    // The slow tenant's deliveries all end, each a recorded error.
    let list = env
        .wait_deliveries(&slow_id, "all failed", |l| {
            l.iter().filter(|d| d["status"] == "plugin_failed").count() == 20
        })
        .await;
    let d = env.delivery(list[0]["id"].as_str().unwrap()).await;
    let error = d["attempts"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("wall-clock limit"), "{error}");
    env.finish().await;
}

async fn hostile_plugins_become_recorded_errors_and_others_are_unaffected(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let org = env.org_id.clone();
    let hostile_t = upload(&env, &org, "hostile_transform", "hostile-t", "transform").await;
    let hostile_f = upload(&env, &org, "hostile_filter", "hostile-f", "filter").await;
    let healthy = Receiver::ok().await;
    let victim = Receiver::ok().await;
    let (healthy_id, _) = env.webhook(&healthy.url("/ok"), &["SHARING"]).await;
    let behaviours = [
        // Fuel or the time budget, whichever a loaded machine hits first.
        (json!({"behaviour": "infinite-loop"}), "fuel|time limit"),
        (json!({"behaviour": "memory-bomb"}), "trapped"),
        // Rust guests keep their stack in linear memory: it runs off its end.
        (json!({"behaviour": "deep-recursion"}), "trapped"),
        (json!({"behaviour": "panic"}), "trapped"),
        (json!({"behaviour": "unreachable"}), "trapped"),
        // 64 MiB cannot even be built under the 32 MiB memory cap.
        (json!({"behaviour": "huge-output"}), "trapped"),
        // 2 MiB can, but is over the 1 MiB output cap: the transform's body
        // is refused; the filter's error message is cut.
        (
            json!({"behaviour": "huge-output", "bytes": 2 << 20}),
            "output refused|failed: xxxxxxxx",
        ),
        // Sleeping uses no CPU, so only the wall-clock limit can end it.
        (json!({"behaviour": "sleep"}), "wall-clock limit"),
        // Cut without splitting a character (a split one panicked the task).
        (json!({"behaviour": "long-error"}), "failed: €€€€"),
        (json!({"behaviour": "read-env"}), "sandbox held"),
        (json!({"behaviour": "read-file"}), "sandbox held"),
        (json!({"behaviour": "connect-tcp"}), "sandbox held"),
    ];
    let mut hooks = Vec::new();
    for (config, needle) in behaviours {
        let b = config.to_string();
        for (plugin, field) in [
            (&hostile_t, "transform_plugin"),
            (&hostile_f, "filter_plugins"),
        ] {
            let attach = json!({"plugin_id": plugin, "config": config});
            let attach = if field == "filter_plugins" {
                json!([attach])
            } else {
                attach
            };
            let mut body = json!({"name": format!("{b} {field}"), "url": victim.url("/"), "events": ["SHARING"]});
            body[field] = attach;
            let (id, _) = env.webhook_with(body).await;
            hooks.push((id, b.clone(), needle, field));
        }
    }
    let batch: Vec<Value> = (0..5)
        .map(|i| event(&format!("evt_h{i}"), "SHARING", "share.a"))
        .collect();
    env.ingest(json!(batch)).await;
    // The healthy webhook gets everything while the hostile ones fail.
    let got = healthy.wait_for(5).await;
    assert_eq!(got.len(), 5);
    env.wait_deliveries(&healthy_id, "5 successes", |l| {
        l.iter().filter(|d| d["status"] == "succeeded").count() == 5
    })
    .await;
    for (id, behaviour, needle, field) in &hooks {
        let list = env
            .wait_deliveries(id, "plugin failures", |l| {
                l.len() == 5 && l.iter().all(|d| d["status"] == "plugin_failed")
            })
            .await;
        let d = env.delivery(list[0]["id"].as_str().unwrap()).await;
        let error = d["attempts"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(!error.is_empty(), "{behaviour} {field}: no error recorded");
        assert!(
            needle.split('|').any(|n| error.contains(n)),
            "{behaviour} {field}: {error}"
        );
        assert!(
            !error.contains("sandbox breached"),
            "{behaviour} {field}: {error}"
        );
        assert!(
            error.len() <= 1100,
            "{behaviour} {field}: {} bytes",
            error.len()
        );
    }
    assert!(
        victim.received().is_empty(),
        "a failing plugin's delivery was sent"
    );
    // The host is still up and still delivering.
    assert_eq!(
        env.http
            .get(env.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    env.ingest(event("evt_after", "SHARING", "share.a")).await;
    healthy.wait_for(6).await;
    let (_, metrics) = (
        0,
        env.http
            .get(env.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert!(
        metrics.contains("scaihub_plugin_calls_total{kind=\"transform\",outcome=\"error\"}"),
        "{metrics}"
    );
    env.finish().await;
}

async fn deliver_original_policy_sends_the_untransformed_event(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let org = env.org_id.clone();
    let hostile = upload(&env, &org, "hostile_transform", "hostile", "transform").await;
    let rx = Receiver::ok().await;
    let (hook, secret) = env
        .webhook_with(json!({
            "name": "fallback", "url": rx.url("/"), "events": ["SHARING"],
            "transform_plugin": {"plugin_id": hostile, "config": {"behaviour": "panic"}},
            "on_plugin_error": "deliver_original"
        }))
        .await;
    env.ingest(event("evt_orig", "SHARING", "share.a")).await;
    let got = rx.wait_for(1).await;
    assert_eq!(got[0].json()["event_id"], "evt_orig");
    assert_eq!(
        got[0].header("x-scaidrive-signature"),
        independent_signature(&secret, &got[0].body)
    );
    // The failure is on the delivery's record, not only in the log.
    let list = env
        .wait_deliveries(&hook, "the original delivered", |l| {
            l.len() == 1 && l[0]["status"] == "succeeded"
        })
        .await;
    let d = env.delivery(list[0]["id"].as_str().unwrap()).await;
    let attempt = &d["attempts"][0];
    assert!(attempt["error"].is_null(), "{d}");
    let why = attempt["plugin_error"]
        .as_str()
        .expect("the transform's failure");
    assert!(why.starts_with(&format!("transform {hostile}")), "{why}");
    env.finish().await;
}

async fn msp_plugins_serve_children_but_no_other_organisation(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let msp = env.org_id.clone();
    let brand = upload(&env, &msp, "msp_branding", "brand", "transform").await;
    let (_, a) = env
        .call("POST", "/v1/orgs", Some(json!({"name": "Customer A"})))
        .await;
    let (_, b) = env
        .call("POST", "/v1/orgs", Some(json!({"name": "Customer B"})))
        .await;
    let (org_a, org_b) = (
        a["id"].as_str().unwrap().to_string(),
        b["id"].as_str().unwrap().to_string(),
    );
    let own_b = upload(&env, &org_b, "chat_message", "b-chat", "transform").await;
    let rx = Receiver::ok().await;
    // A child attaches its MSP's plugin.
    let (s, hook) = env
        .call(
            "POST",
            &format!("/v1/orgs/{org_a}/webhooks"),
            Some(
                json!({"name": "a", "url": rx.url("/a"), "events": ["SHARING"],
                "transform_plugin": {"plugin_id": brand, "config": {"msp_name": "Acme IT"}}}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{hook}");
    env.call(
        "POST",
        &format!("/v1/orgs/{org_a}/events"),
        Some(event("evt_a", "SHARING", "share.a")),
    )
    .await;
    assert_eq!(rx.wait_for(1).await[0].json()["msp"], "Acme IT");
    // A sibling's plugin is not attachable, nor visible, from A.
    let (s, err) = env
        .call(
            "POST",
            &format!("/v1/orgs/{org_a}/webhooks"),
            Some(json!({"name": "x", "url": rx.url("/x"), "events": ["SHARING"], "transform_plugin": {"plugin_id": own_b}})),
        )
        .await;
    assert_eq!(
        (s, err["field"].as_str()),
        (422, Some("transform_plugin.plugin_id")),
        "{err}"
    );
    let (s, _) = env
        .call("GET", &format!("/v1/orgs/{org_a}/plugins/{own_b}"), None)
        .await;
    assert_eq!(s, 404);
    let (_, listed) = env
        .call("GET", &format!("/v1/orgs/{org_a}/plugins"), None)
        .await;
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [brand.as_str()]);
    // A child's plugin is not attachable by its parent either.
    let (s, _) = env
        .call(
            "POST",
            "/v1/orgs/{org}/webhooks",
            Some(json!({"name": "p", "url": rx.url("/p"), "events": ["SHARING"], "transform_plugin": {"plugin_id": own_b}})),
        )
        .await;
    assert_eq!(s, 422);
    env.finish().await;
}

async fn attached_plugins_cannot_be_deleted(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let org = env.org_id.clone();
    let chat = upload(&env, &org, "chat_message", "chat", "transform").await;
    let rx = Receiver::ok().await;
    let (id, _) = env
        .webhook_with(json!({"name": "c", "url": rx.url("/"), "events": ["SHARING"], "transform_plugin": {"plugin_id": chat}}))
        .await;
    let (s, err) = env
        .call("DELETE", &format!("/v1/orgs/{{org}}/plugins/{chat}"), None)
        .await;
    assert_eq!(s, 409, "{err}");
    assert!(err["message"].as_str().unwrap().contains(&id));
    let (s, _) = env
        .call(
            "PATCH",
            &format!("/v1/orgs/{{org}}/webhooks/{id}"),
            Some(json!({"transform_plugin": null})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = env
        .call("DELETE", &format!("/v1/orgs/{{org}}/plugins/{chat}"), None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = env
        .call("GET", &format!("/v1/orgs/{{org}}/plugins/{chat}"), None)
        .await;
    assert_eq!(s, 404);
    env.finish().await;
}

/// A plugin that spins is stopped by its time budget, and while it spins it
/// hands the async worker back at every epoch tick: on a one-thread runtime
/// another task keeps running beside it. (Fuel is set too high to end it.)
#[tokio::test(flavor = "current_thread")]
async fn a_spinning_plugin_yields_its_worker_and_is_stopped_by_its_time_budget() {
    use scaihub::domain::Event;
    use scaihub::plugin::{PluginEvent, PluginKind, PluginLimits};
    let limits = PluginLimits {
        fuel: u64::MAX / 2,
        timeout: Duration::from_millis(200),
        ..PluginLimits::default()
    };
    let runtime = crate::support::plugin_runtime(limits);
    let wasm = std::fs::read(plugin_wasm("hostile_filter")).unwrap();
    let artifact = runtime.compile(&wasm, PluginKind::Filter).unwrap();
    let loaded = runtime
        .load("spinner", PluginKind::Filter, &artifact)
        .unwrap();
    let event = PluginEvent::from_event(
        &Event::from_json(&event("evt_spin", "SHARING", "share.a"), "event").unwrap(),
    );

    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let ticker = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
    };
    let started = std::time::Instant::now();
    let (result, report) = runtime
        .filter(
            "org",
            loaded,
            &event,
            r#"{"behaviour":"infinite-loop"}"#,
            None,
        )
        .await;
    let took = started.elapsed();
    ticker.abort();
    let err = result
        .expect_err("an endless loop cannot decide")
        .to_string();
    assert!(err.contains("time limit"), "{err}");
    assert!(report.fuel_used > 0);
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_secs(5),
        "stopped after {took:?}"
    );
    let ran = ticks.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        ran >= 20,
        "the other task ran {ran} times while the plugin spun for {took:?}"
    );
}

/// An attach and a delete of the same version decide under one lock: the
/// delete waits for a transaction that keeps the version (as creating or
/// editing a webhook does), then sees the webhook it wrote and refuses.
async fn a_delete_waits_for_an_attach_in_flight_and_then_sees_it(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let org = env.org_id.clone();
    let plugin = upload(&env, &org, "payload_field_filter", "f", "filter").await;
    let rx = Receiver::ok().await;
    // A webhook that names the version, written in a transaction that
    // keeps it and stays open for a while.
    let (hook, _) = env.webhook(&rx.url("/"), &["SHARING"]).await;
    let mut tx = env.hub.store.begin().await.unwrap();
    let kept = tx
        .keep_plugins(std::slice::from_ref(&org), std::slice::from_ref(&plugin))
        .await
        .unwrap();
    assert_eq!(kept, vec![plugin.clone()]);
    let mut w = tx.get_webhook(&org, &hook).await.unwrap().unwrap();
    w.settings.filter_plugins = vec![scaihub::domain::webhook::PluginRef {
        plugin_id: plugin.clone(),
        config: json!({"pointer": "/role", "allowed": ["owner"]}),
    }];
    tx.update_webhook(&w).await.unwrap();
    let delete = {
        let (http, url, key) = (
            env.http.clone(),
            env.url(&format!("/v1/orgs/{org}/plugins/{plugin}")),
            env.admin_key.clone(),
        );
        tokio::spawn(async move {
            http.delete(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    };
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        !delete.is_finished(),
        "the delete did not wait for the attach"
    );
    tx.commit().await.unwrap();
    assert_eq!(delete.await.unwrap(), 409, "the delete saw the attach");
    let (s, _) = env
        .call("GET", &format!("/v1/orgs/{{org}}/plugins/{plugin}"), None)
        .await;
    assert_eq!(s, 200, "the version is still there");
    env.finish().await;
}

/// Deliveries of many webhooks sharing a transform not yet in the
/// runtime's cache start at once: one of them reads and loads the
/// artifact, the others wait for it (a JavaScript plugin's artifact is
/// ~40 MB; each webhook loading its own copy cost a quarter of the CPU of
/// a load run with ten).
async fn deliveries_that_miss_the_cache_together_load_a_plugin_once(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let org = env.org_id.clone();
    let transform = upload(&env, &org, "pii_redact", "pii", "transform").await;
    let rx = Receiver::ok().await;
    for i in 0..8 {
        env.webhook_with(json!({
            "name": format!("w{i}"), "url": rx.url(&format!("/w{i}")), "events": ["SHARING"],
            "transform_plugin": {"plugin_id": transform, "config": {"remove": ["/payload/principal_id"]}}
        }))
        .await;
    }
    let events: Vec<Value> = (0..8)
        .map(|i| event(&format!("evt_m{i:02}"), "SHARING", "share.member_added"))
        .collect();
    env.ingest(Value::Array(events)).await;
    let got = rx.wait_for(64).await;
    assert!(
        got.iter()
            .all(|r| r.json()["payload"] == json!({"role": "contributor"})),
        "every delivery went through the transform"
    );
    let metrics = env.metrics().await;
    let loads: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("scaihub_plugin_loads_total "))
        .collect();
    assert_eq!(loads, ["scaihub_plugin_loads_total 1"], "{metrics}");
    env.finish().await;
}

/// A Python component has 14 core instances; the sandbox's pool must hold
/// one such component in every call slot at once. (Sized for 8 a slot, a
/// load run with a Python transform on 10 webhooks failed 19,524 of its
/// 20,000 deliveries as plugin_failed: the pool ran out.)
async fn python_plugins_run_as_many_at_once_as_the_sandbox_has_slots(backend: Backend) {
    let Some(path) = py_plugin_wasm("pii-redact") else {
        return;
    };
    let env = TestEnv::start(backend).await;
    let res = env
        .http
        .post(env.url("/v1/orgs/{org}/plugins?name=py-pii&kind=transform"))
        .bearer_auth(&env.admin_key)
        .header("content-type", "application/wasm")
        .body(std::fs::read(path).unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        matches!(res.status().as_u16(), 201 | 202),
        "{}",
        res.status()
    );
    let plugin: Value = res.json().await.unwrap();
    let id = plugin["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    loop {
        let (s, v) = env
            .call("GET", &format!("/v1/orgs/{{org}}/plugins/{id}"), None)
            .await;
        assert_eq!(s, 200, "{v}");
        if v["status"] != "compiling" {
            assert_eq!(v["status"], "ready", "{v}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still compiling");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let rx = Receiver::ok().await;
    let mut hooks = Vec::new();
    for i in 0..8 {
        let (hook, _) = env
            .webhook_with(json!({
                "name": format!("w{i}"), "url": rx.url(&format!("/w{i}")), "events": ["SHARING"],
                "transform_plugin": {"plugin_id": id, "config": {"remove": ["/payload/principal_id"]}}
            }))
            .await;
        hooks.push(hook);
    }
    let events: Vec<Value> = (0..16)
        .map(|i| event(&format!("evt_p{i:02}"), "SHARING", "share.member_added"))
        .collect();
    env.ingest(Value::Array(events)).await;
    let got = rx.wait_for(128).await;
    assert!(
        got.iter()
            .all(|r| r.json()["payload"] == json!({"role": "contributor"})),
        "every delivery went through the transform"
    );
    for hook in &hooks {
        let list = env
            .wait_deliveries(hook, "all settled", |l| {
                l.len() == 16 && l.iter().all(|d| d["status"] != "pending")
            })
            .await;
        assert!(list.iter().all(|d| d["status"] == "succeeded"), "{list:#?}");
    }
    env.finish().await;
}

/// Deliveries of one webhook may share a plugin instance (a fresh one per
/// call costs JavaScript and Python guests most of their call): the
/// `remember` transform reports the events its instance saw before. A
/// webhook's instance saw only that webhook's earlier events — never the
/// other webhook's, though both use the same plugin — and a changed webhook
/// (a new receiver, say) starts from a fresh one. A plugin's test call is
/// always fresh.
async fn a_kept_instance_serves_one_webhook_at_one_version_only(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let org = env.org_id.clone();
    let plugin = upload(&env, &org, "hostile_transform", "remember", "transform").await;
    let transform = json!({"plugin_id": plugin, "config": {"behaviour": "remember"}});
    let (rx_a, rx_b) = (Receiver::ok().await, Receiver::ok().await);
    let (hook_a, _) = env
        .webhook_with(
            json!({"name": "a", "url": rx_a.url("/a"), "events": ["SHARING"],
                             "transform_plugin": transform}),
        )
        .await;
    env.webhook_with(
        json!({"name": "b", "url": rx_b.url("/b"), "events": ["FILE_ACCESS"],
                            "transform_plugin": transform}),
    )
    .await;
    let mut seen = Vec::new();
    for i in 1..=3 {
        seen.push((
            one_by_one(&env, &rx_a, &format!("evt_a{i}"), "SHARING").await,
            one_by_one(&env, &rx_b, &format!("evt_b{i}"), "FILE_ACCESS").await,
        ));
    }
    let headers: Vec<(&str, &str)> = seen
        .iter()
        .map(|(a, b)| (a.header("x-seen-before"), b.header("x-seen-before")))
        .collect();
    assert_eq!(
        headers,
        [
            ("", ""),
            ("evt_a1", "evt_b1"),
            ("evt_a1,evt_a2", "evt_b1,evt_b2")
        ]
    );

    // A new receiver for webhook a: its next delivery starts fresh.
    let rx_c = Receiver::ok().await;
    let (status, body) = env
        .call(
            "PATCH",
            &format!("/v1/orgs/{{org}}/webhooks/{hook_a}"),
            Some(json!({"url": rx_c.url("/c")})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let after = one_by_one(&env, &rx_c, "evt_a4", "SHARING").await;
    assert_eq!(after.header("x-seen-before"), "");
    let next = one_by_one(&env, &rx_c, "evt_a5", "SHARING").await;
    assert_eq!(next.header("x-seen-before"), "evt_a4");
    // a2, a3, b2, b3 and a5 ran in kept instances; a's instance of before
    // its change, b's, and a's since are kept.
    let metrics = env.metrics().await;
    for line in [
        "scaihub_plugin_instances_reused_total 5",
        "scaihub_plugin_instances_kept 3",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}\n{metrics}");
    }

    // Test calls never reuse an instance, nor leave one behind.
    for _ in 0..2 {
        let out = test_call(
            &env,
            &plugin,
            event("evt_t", "SHARING", "x.y"),
            json!({"behaviour": "remember"}),
        )
        .await;
        assert_eq!(
            out["request"]["headers"],
            json!([["x-seen-before", ""]]),
            "{out}"
        );
    }
    env.finish().await;
}

/// A guest that keeps memory from call to call (4 MiB more a call, under
/// a 32 MiB cap) would fail its eighth call in a kept instance; the host
/// replaces an instance whose memory grew by half its headroom, so every
/// delivery goes through.
async fn a_kept_instance_that_keeps_growing_is_replaced_before_the_memory_cap(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let org = env.org_id.clone();
    let plugin = upload(&env, &org, "hostile_transform", "hoard", "transform").await;
    let rx = Receiver::ok().await;
    env.webhook_with(
        json!({"name": "hoarder", "url": rx.url("/h"), "events": ["SHARING"],
                            "transform_plugin": {"plugin_id": plugin,
                                                 "config": {"behaviour": "hoard", "kib": 4096}}}),
    )
    .await;
    // Each waits for the one before to arrive: one instance at a time.
    for i in 0..16 {
        one_by_one(&env, &rx, &format!("evt_h{i:02}"), "SHARING").await;
    }
    let metrics = env.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"scaihub_plugin_calls_total{kind="transform",outcome="ok"} 16"#),
        "{metrics}"
    );
    let reused: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("scaihub_plugin_instances_reused_total "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        (8..16).contains(&reused),
        "kept between calls, yet replaced as it grew: {reused} of 16 calls reused"
    );
    env.finish().await;
}

/// `SCAIHUB_PLUGIN_WARM_INSTANCES=0`: nothing is kept, every delivery's
/// call starts fresh.
async fn with_no_warm_instances_every_delivery_gets_a_fresh_one(backend: Backend) {
    use scaihub::plugin::PluginLimits;
    let env = TestEnv::with(
        backend,
        Options {
            plugin_limits: PluginLimits {
                warm_instances: 0,
                ..PluginLimits::default()
            },
            ..Options::default()
        },
    )
    .await;
    let org = env.org_id.clone();
    let plugin = upload(&env, &org, "hostile_transform", "remember", "transform").await;
    let rx = Receiver::ok().await;
    env.webhook_with(
        json!({"name": "a", "url": rx.url("/a"), "events": ["SHARING"],
                            "transform_plugin": {"plugin_id": plugin,
                                                 "config": {"behaviour": "remember"}}}),
    )
    .await;
    for i in 0..3 {
        let got = one_by_one(&env, &rx, &format!("evt_f{i}"), "SHARING").await;
        assert_eq!(got.header("x-seen-before"), "");
    }
    env.finish().await;
}
