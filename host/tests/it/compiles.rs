//! The compile queue: a large component (a real JavaScript one) answers
//! `compiling` at once and compiles in the background while requests and
//! deliveries go on; versions compile one at a time; a version that is not
//! `ready` cannot be tested or attached; a compile failure is refused
//! (within the upload's wait) or kept with its reason (after it).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::both;
use crate::support::{Backend, Options, Receiver, TestEnv, event, js_plugin_wasm, plugin_wasm};

both!(
    a_large_upload_compiles_in_the_background_while_the_rest_goes_on,
    a_compile_failure_within_the_wait_refuses_the_upload_and_stores_nothing,
);

/// A filter that passes every check made without compiling (a valid
/// component exporting `filter(event, config) -> result`) and fails to
/// compile: it imports a WASI interface the sandbox does not link.
pub(crate) fn uncompilable_filter() -> Vec<u8> {
    wat::parse_str(
        r#"(component
            (import "wasi:nowhere/nothing@0.1.0" (func))
            (core module $m (func (export "f") (param i32 i32) (result i32) i32.const 0))
            (core instance $i (instantiate $m))
            (func (export "filter") (param "event" u32) (param "config" u32) (result u32)
                (canon lift (core func $i "f"))))"#,
    )
    .unwrap()
}

/// Uploads; answers status, `Location` and body.
async fn upload(env: &TestEnv, name: &str, kind: &str, wasm: Vec<u8>) -> (u16, String, Value) {
    let res = env
        .http
        .post(env.url(&format!(
            "/v1/orgs/{}/plugins?name={name}&kind={kind}",
            env.org_id
        )))
        .bearer_auth(&env.admin_key)
        .header("content-type", "application/wasm")
        .body(wasm)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, location, res.json().await.unwrap())
}

async fn plugin(env: &TestEnv, id: &str) -> Value {
    let (s, v) = env
        .call("GET", &format!("/v1/orgs/{{org}}/plugins/{id}"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

/// Waits until the version is no longer `compiling`; answers it.
async fn settled(env: &TestEnv, id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let v = plugin(env, id).await;
        if v["status"] != "compiling" {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{id} still compiling after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A call that must answer well within the time a large compile takes.
/// The bound is generous (a loaded machine is slow): what it catches is a
/// call queued behind the compile, which would take the compile's tens
/// of seconds.
async fn prompt(env: &TestEnv, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let started = Instant::now();
    let answer = env.call(method, path, body).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "{method} {path} took {took:?} while a plugin compiled"
    );
    answer
}

fn compiles(metrics: &str, outcome: &str) -> u64 {
    let label = format!("scaihub_plugin_compiles_total{{outcome=\"{outcome}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&label))
        .map_or(0, |n| n.trim().parse().unwrap())
}

async fn a_large_upload_compiles_in_the_background_while_the_rest_goes_on(backend: Backend) {
    let env = TestEnv::with(
        backend,
        Options {
            // The product's default: a JavaScript component takes longer.
            upload_wait: Duration::from_secs(2),
            ..Options::default()
        },
    )
    .await;
    let rx = Receiver::ok().await;
    let (hook, _) = env.webhook(&rx.url("/"), &["SHARING"]).await;
    let js = std::fs::read(js_plugin_wasm("pii-redact")).unwrap();
    assert!(
        js.len() > 8 * 1024 * 1024,
        "the JavaScript component is small: {}",
        js.len()
    );

    let (s, location, big) = upload(&env, "pii-js", "transform", js).await;
    assert_eq!(
        (s, big["status"].as_str()),
        (202, Some("compiling")),
        "{big}"
    );
    let big_id = big["id"].as_str().unwrap().to_string();
    assert_eq!(
        location,
        format!("/v1/orgs/{}/plugins/{big_id}", env.org_id)
    );
    assert_eq!(big["status_reason"], Value::Null);
    // Queued behind it (one compile at a time): a component that will fail.
    let (s, _, bad) = upload(&env, "bad", "filter", uncompilable_filter()).await;
    assert_eq!(
        (s, bad["status"].as_str()),
        (202, Some("compiling")),
        "{bad}"
    );
    let bad_id = bad["id"].as_str().unwrap().to_string();

    // While it compiles: a version not ready is neither run nor attached.
    let sample = event("evt_t", "SHARING", "share.a");
    let (s, err) = prompt(
        &env,
        "POST",
        &format!("/v1/orgs/{{org}}/plugins/{big_id}/test"),
        Some(json!({"event": sample, "config": {}})),
    )
    .await;
    assert_eq!(s, 409, "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("is still compiling"),
        "{err}"
    );
    let (s, err) = prompt(
        &env,
        "PATCH",
        &format!("/v1/orgs/{{org}}/webhooks/{hook}"),
        Some(json!({"transform_plugin": {"plugin_id": big_id, "config": {}}})),
    )
    .await;
    assert_eq!(
        (s, err["field"].as_str()),
        (422, Some("transform_plugin.plugin_id")),
        "{err}"
    );
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("is still compiling"),
        "{err}"
    );
    // Ingest, deliveries and other calls go on.
    let events: Vec<Value> = (0..20)
        .map(|i| event(&format!("evt_b{i:02}"), "SHARING", "share.a"))
        .collect();
    let (s, accepted) = prompt(
        &env,
        "POST",
        "/v1/orgs/{org}/events",
        Some(Value::Array(events)),
    )
    .await;
    assert_eq!(s, 202, "{accepted}");
    let (s, list) = prompt(&env, "GET", "/v1/orgs/{org}/plugins", None).await;
    assert_eq!(s, 200);
    let statuses: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["compiling", "compiling"], "{list}");
    // (within the receiver's 20 s, while the compile takes longer)
    rx.wait_for(20).await;
    assert_eq!(
        plugin(&env, &big_id).await["status"],
        "compiling",
        "the compile ended before the deliveries: the test proves nothing"
    );
    assert_eq!(
        plugin(&env, &bad_id).await["status"],
        "compiling",
        "compiled before its turn"
    );

    let ready = settled(&env, &big_id, Duration::from_secs(600)).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    let failed = settled(&env, &bad_id, Duration::from_secs(600)).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let reason = failed["status_reason"].as_str().unwrap();
    assert!(
        reason.contains("imports something the sandbox does not provide"),
        "{reason}"
    );

    // Ready: it runs and attaches; failed: refused with the reason.
    let mut ev = event("evt_r", "SHARING", "share.a");
    ev["payload"] = json!({"email": "a@b.example", "keep": 1});
    let (s, out) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/plugins/{big_id}/test"),
            Some(json!({"event": ev, "config": {"remove": ["/payload/email"]}})),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    let body: Value = serde_json::from_str(out["request"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["payload"], json!({"keep": 1}), "{out}");
    let (s, w) = env
        .call(
            "PATCH",
            &format!("/v1/orgs/{{org}}/webhooks/{hook}"),
            Some(json!({"transform_plugin": {"plugin_id": big_id, "config": {}}})),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    let (s, err) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/plugins/{bad_id}/test"),
            Some(json!({"event": event("evt_f", "SHARING", "share.a"), "config": {}})),
        )
        .await;
    assert_eq!(s, 409, "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("failed to compile: "),
        "{err}"
    );
    let (s, err) = env
        .call(
            "PATCH",
            &format!("/v1/orgs/{{org}}/webhooks/{hook}"),
            Some(json!({"filter_plugins": [{"plugin_id": bad_id, "config": {}}]})),
        )
        .await;
    assert_eq!(
        (s, err["field"].as_str()),
        (422, Some("filter_plugins[0].plugin_id")),
        "{err}"
    );
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("failed to compile"),
        "{err}"
    );
    let (s, _) = env
        .call(
            "DELETE",
            &format!("/v1/orgs/{{org}}/plugins/{bad_id}"),
            None,
        )
        .await;
    assert_eq!(s, 204);

    let metrics = env.metrics().await;
    assert_eq!(
        (compiles(&metrics, "ready"), compiles(&metrics, "failed")),
        (1, 1),
        "{metrics}"
    );
    env.finish().await;
}

async fn a_compile_failure_within_the_wait_refuses_the_upload_and_stores_nothing(backend: Backend) {
    let env = TestEnv::start(backend).await;
    let (s, _, err) = upload(&env, "bad", "filter", uncompilable_filter()).await;
    assert_eq!((s, err["field"].as_str()), (422, Some("body")), "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("imports something the sandbox does not provide"),
        "{err}"
    );
    let (_, list) = env.call("GET", "/v1/orgs/{org}/plugins", None).await;
    assert_eq!(list, json!([]));
    assert!(env.audit("action=plugin.uploaded").await.is_empty());
    // A small component answers ready, as uploads always did.
    let wasm = std::fs::read(plugin_wasm("payload_field_filter")).unwrap();
    let (s, location, v) = upload(&env, "role-filter", "filter", wasm).await;
    assert_eq!((s, v["status"].as_str()), (201, Some("ready")), "{v}");
    assert!(location.ends_with(v["id"].as_str().unwrap()));
    env.finish().await;
}
