//! Script plugins: JavaScript saved as a plugin version, run by the
//! project's script engine in the same sandbox as uploaded components.
//! Skipped, with the reason printed, in a build without the engine (node
//! absent at build time) unless `SCAIHUB_REQUIRE_NODE=1`.

use serde_json::{Value, json};

use crate::both;
use crate::support::{Backend, Receiver, TestEnv, event};

both!(
    a_script_filter_is_saved_tested_attached_and_filters_deliveries,
    a_script_transform_rewrites_the_signed_body,
    syntax_and_runtime_errors_name_their_line_and_save_nothing,
    runaway_scripts_hit_the_sandbox_caps,
    one_organisation_cannot_see_run_or_attach_another_organisations_script,
    a_build_without_the_engine_refuses_scripts_with_the_reason,
);

/// Whether this build has the engine; panics when it must and has not.
pub fn engine_available() -> bool {
    match scaihub::plugin::script::unavailable_reason() {
        None => true,
        Some(reason) if std::env::var("SCAIHUB_REQUIRE_NODE").is_ok_and(|v| v == "1") => {
            panic!("SCAIHUB_REQUIRE_NODE=1 but this build has no script engine: {reason}")
        }
        Some(reason) => {
            eprintln!(
                "skipping the script plugin test: {reason}; build with node installed, or set SCAIHUB_REQUIRE_NODE=1 to make this a failure"
            );
            false
        }
    }
}

const FILTER: &str = "// deliver shares to contributors with enough seats
export function filter(event, config) {
  const p = event.payloadJson();
  return event.category === 'SHARING' && p.role === 'contributor' && p.seats >= config.json().min_seats;
}
";

/// A second hub on the test's store, as a restarted process would have.
async fn restarted_hub(env: &TestEnv) -> std::sync::Arc<scaihub::hub::Hub> {
    let store = scaihub::storage::Store::connect(&env.db.url).await.unwrap();
    let policy = scaihub::destinations::DestinationPolicy::new(
        scaihub::config::parse_allow_list("127.0.0.0/8").unwrap(),
        std::sync::Arc::new(env.resolver.clone()),
    );
    scaihub::server::hub(
        store,
        std::sync::Arc::new(env.clock.clone()),
        scaihub::crypto::MasterKey::generate().0,
        policy,
        scaihub::hub::HubSettings::default(),
        crate::support::plugin_runtime(Default::default()),
    )
}

/// Saves a script; answers (status, body).
async fn save(env: &TestEnv, org: &str, name: &str, kind: &str, source: &str) -> (u16, Value) {
    env.call(
        "POST",
        &format!("/v1/orgs/{org}/plugins/scripts"),
        Some(json!({"name": name, "kind": kind, "source": source})),
    )
    .await
}

async fn run(env: &TestEnv, kind: &str, source: &str, ev: Value, config: Value) -> Value {
    let (s, out) = env
        .call(
            "POST",
            "/v1/orgs/{org}/plugins/scripts/run",
            Some(json!({"kind": kind, "source": source, "event": ev, "config": config})),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    out
}

fn seats(id: &str, role: &str, seats: u32) -> Value {
    let mut e = event(id, "SHARING", "share.member_added");
    e["payload"]["role"] = json!(role);
    e["payload"]["seats"] = json!(seats);
    e
}

async fn a_script_filter_is_saved_tested_attached_and_filters_deliveries(backend: Backend) {
    if !engine_available() {
        return;
    }
    let env = TestEnv::start(backend).await;
    let org = env.org_id.clone();
    // Run before saving: the verdict, with what it cost.
    let out = run(
        &env,
        "filter",
        FILTER,
        seats("evt_r", "contributor", 5),
        json!({"min_seats": 3}),
    )
    .await;
    assert_eq!(out["verdict"], "deliver", "{out}");
    assert!(out["fuel_used"].as_u64().unwrap() > 0, "{out}");
    assert!(out["duration_us"].as_u64().unwrap() > 0, "{out}");
    let out = run(
        &env,
        "filter",
        FILTER,
        seats("evt_r", "viewer", 5),
        json!({"min_seats": 3}),
    )
    .await;
    assert_eq!(out["verdict"], "skip", "{out}");

    let (s, p) = save(&env, &org, "seat-filter", "filter", FILTER).await;
    assert_eq!(s, 201, "{p}");
    // The engine's compiled artifact is kept in the store, and a fresh
    // runtime (a restarted process) loads it without compiling.
    let sha256 = scaihub::plugin::script::engine_sha256();
    let kept = env.hub.store.script_engine_artifact(sha256).await.unwrap();
    let kept = kept.expect("the engine's artifact is kept");
    let fresh = crate::support::plugin_runtime(Default::default());
    assert!(fresh.script_engine_from(&kept).is_some());
    // A restarted process (a new hub on the same store) loads the engine
    // at start, before any delivery asks for it.
    let restarted = restarted_hub(&env).await;
    assert!(restarted.plugins.script_engine_slot().get().is_none());
    scaihub::hub::scripts::warm_up(restarted.clone()).await;
    assert!(restarted.plugins.script_engine_slot().get().is_some());
    assert_eq!(
        (
            p["name"].as_str(),
            p["version"].as_i64(),
            p["kind"].as_str()
        ),
        (Some("seat-filter"), Some(1), Some("filter"))
    );
    assert_eq!(p["size"].as_u64(), Some(FILTER.len() as u64));
    let id = p["id"].as_str().unwrap().to_string();
    // The source reads back; a second save is version 2 of the same name.
    let (s, src) = env
        .call(
            "GET",
            &format!("/v1/orgs/{{org}}/plugins/{id}/source"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{src}");
    assert_eq!(src["source"], FILTER);
    let (s, v2) = save(
        &env,
        &org,
        "seat-filter",
        "filter",
        &FILTER.replace(">= config", "> config"),
    )
    .await;
    assert_eq!((s, v2["version"].as_i64()), (201, Some(2)), "{v2}");
    // ...but not as a transform.
    let (s, err) = save(
        &env,
        &org,
        "seat-filter",
        "transform",
        "function transform(e, r) { return r }",
    )
    .await;
    assert_eq!((s, err["field"].as_str()), (422, Some("kind")), "{err}");
    let audit = env.audit("action=plugin.uploaded").await;
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0]["payload"]["language"], "javascript");

    // The test endpoint every plugin has works unchanged.
    let (s, t) = env
        .call(
            "POST",
            &format!("/v1/orgs/{{org}}/plugins/{id}/test"),
            Some(json!({"event": seats("evt_t", "contributor", 1), "config": {"min_seats": 3}})),
        )
        .await;
    assert_eq!((s, t["verdict"].as_str()), (200, Some("skip")), "{t}");

    // Attached like any filter, it decides deliveries.
    let rx = Receiver::ok().await;
    let (hook, _) = env
        .webhook_with(
            json!({"name": "seats", "url": rx.url("/seats"), "events": ["SHARING"],
            "filter_plugins": [{"plugin_id": id, "config": {"min_seats": 3}}]}),
        )
        .await;
    env.ingest(json!([
        seats("evt_many", "contributor", 4),
        seats("evt_few", "contributor", 2),
        seats("evt_viewer", "viewer", 9)
    ]))
    .await;
    let got = rx.wait_for(1).await;
    assert_eq!(got[0].json()["event_id"], "evt_many");
    let list = env
        .wait_deliveries(&hook, "all settled", |l| {
            l.len() == 3 && l.iter().all(|d| d["status"] != "pending")
        })
        .await;
    let status = |e: &str| list.iter().find(|d| d["event_id"] == e).unwrap()["status"].clone();
    assert_eq!(status("evt_many"), "succeeded");
    assert_eq!(status("evt_few"), "filtered");
    assert_eq!(status("evt_viewer"), "filtered");
    assert_eq!(rx.received().len(), 1);
    // Attached, it cannot be deleted; detached, it can.
    let (s, _) = env
        .call("DELETE", &format!("/v1/orgs/{{org}}/plugins/{id}"), None)
        .await;
    assert_eq!(s, 409);
    env.finish().await;
}

async fn a_script_transform_rewrites_the_signed_body(backend: Backend) {
    if !engine_available() {
        return;
    }
    let env = TestEnv::start(backend).await;
    let org = env.org_id.clone();
    let source = "function transform(event, request, config) {
  const body = request.bodyJson();
  request.setBodyJson({ text: `${event.userId} did ${event.action}`, team: config.json().team, role: body.payload.role });
  request.setHeader('X-Team', config.json().team);
  return request;
}";
    let out = run(
        &env,
        "transform",
        source,
        event("evt_r", "SHARING", "share.a"),
        json!({"team": "ops"}),
    )
    .await;
    assert_eq!(
        out["request"]["body"],
        r#"{"text":"usr_alice did share.a","team":"ops","role":"contributor"}"#,
        "{out}"
    );
    assert_eq!(out["request"]["headers"], json!([["X-Team", "ops"]]));
    let (s, p) = save(&env, &org, "chat", "transform", source).await;
    assert_eq!(s, 201, "{p}");
    let rx = Receiver::ok().await;
    let (_, secret) = env
        .webhook_with(
            json!({"name": "chat", "url": rx.url("/chat"), "events": ["SHARING"],
            "transform_plugin": {"plugin_id": p["id"], "config": {"team": "sec"}}}),
        )
        .await;
    env.ingest(event("evt_x", "SHARING", "share.member_added"))
        .await;
    let got = rx.wait_for(1).await;
    assert_eq!(
        got[0].json(),
        json!({"text": "usr_alice did share.member_added", "team": "sec", "role": "contributor"})
    );
    assert_eq!(got[0].header("x-team"), "sec");
    assert_eq!(
        got[0].header("x-scaidrive-signature"),
        crate::support::independent_signature(&secret, &got[0].body)
    );
    env.finish().await;
}

async fn syntax_and_runtime_errors_name_their_line_and_save_nothing(backend: Backend) {
    if !engine_available() {
        return;
    }
    let env = TestEnv::start(backend).await;
    let org = env.org_id.clone();
    // A syntax error: 422 naming `source`, with its line; nothing saved or audited.
    let broken = "// line 1\nfunction filter(event) {\n  return event.(;\n}\n";
    let (s, err) = save(&env, &org, "broken", "filter", broken).await;
    assert_eq!((s, err["field"].as_str()), (422, Some("source")), "{err}");
    let message = err["message"].as_str().unwrap();
    assert!(
        message.starts_with("SyntaxError:") && message.contains("(line 3, column"),
        "{message}"
    );
    // No function of the kind, an empty source, a bad name, a bad kind.
    let (s, err) = save(
        &env,
        &org,
        "none",
        "transform",
        "function filter() { return true }",
    )
    .await;
    assert_eq!((s, err["field"].as_str()), (422, Some("source")), "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("no function transform"),
        "{err}"
    );
    let (s, err) = save(&env, &org, "empty", "filter", "  \n").await;
    assert_eq!((s, err["field"].as_str()), (422, Some("source")), "{err}");
    let (s, err) = save(&env, &org, "Bad Name", "filter", FILTER).await;
    assert_eq!((s, err["field"].as_str()), (422, Some("name")), "{err}");
    let (s, err) = save(&env, &org, "x", "router", FILTER).await;
    assert_eq!((s, err["field"].as_str()), (422, Some("kind")), "{err}");
    let (_, listed) = env.call("GET", "/v1/orgs/{org}/plugins", None).await;
    assert_eq!(listed, json!([]));
    assert!(env.audit("action=plugin.uploaded").await.is_empty());
    // Run answers the syntax error with its line too.
    let out = run(
        &env,
        "filter",
        broken,
        event("evt_e", "SHARING", "a"),
        json!({}),
    )
    .await;
    assert_eq!(out["line"], 3, "{out}");
    assert!(
        out["error"].as_str().unwrap().contains("SyntaxError"),
        "{out}"
    );

    // A runtime error: saved (it parses), and each delivery records the
    // plugin error with the line it was thrown on.
    let throws = "function filter(event, config) {\n  const p = event.payloadJson();\n\n  return p.missing.field === 1;\n}\n";
    let out = run(
        &env,
        "filter",
        throws,
        event("evt_e", "SHARING", "a"),
        json!({}),
    )
    .await;
    assert_eq!(out["line"], 4, "{out}");
    assert!(
        out["error"].as_str().unwrap().contains("TypeError"),
        "{out}"
    );
    let (s, p) = save(&env, &org, "throws", "filter", throws).await;
    assert_eq!(s, 201, "{p}");
    let rx = Receiver::ok().await;
    let (hook, _) = env
        .webhook_with(
            json!({"name": "t", "url": rx.url("/t"), "events": ["SHARING"],
            "filter_plugins": [{"plugin_id": p["id"]}]}),
        )
        .await;
    env.ingest(event("evt_throw", "SHARING", "share.a")).await;
    let list = env
        .wait_deliveries(&hook, "a plugin failure", |l| {
            l.len() == 1 && l[0]["status"] == "plugin_failed"
        })
        .await;
    let d = env.delivery(list[0]["id"].as_str().unwrap()).await;
    let error = d["attempts"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("TypeError") && error.contains("(line 4, column"),
        "{error}"
    );
    assert!(rx.received().is_empty());
    env.finish().await;
}

async fn runaway_scripts_hit_the_sandbox_caps(backend: Backend) {
    if !engine_available() {
        return;
    }
    let env = TestEnv::start(backend).await;
    let org = env.org_id.clone();
    let spin = "function filter(event) {\n  while (true) {}\n}";
    // Fuel or the time budget, whichever a loaded machine hits first.
    let out = run(
        &env,
        "filter",
        spin,
        event("evt_e", "SHARING", "a"),
        json!({}),
    )
    .await;
    let error = out["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("fuel") || error.contains("time limit"),
        "{out}"
    );
    let hog = "function filter(event) {\n  const kept = [];\n  for (;;) kept.push(new Array(1 << 20).fill(7));\n}";
    let out = run(
        &env,
        "filter",
        hog,
        event("evt_e", "SHARING", "a"),
        json!({}),
    )
    .await;
    assert!(
        out["error"]
            .as_str()
            .unwrap_or_default()
            .contains("trapped"),
        "{out}"
    );
    // A top level that never ends cannot be saved.
    let (s, err) = save(
        &env,
        &org,
        "spin-top",
        "filter",
        "for (;;) {}\nfunction filter() { return true }",
    )
    .await;
    assert_eq!((s, err["field"].as_str()), (422, Some("source")), "{err}");
    // Saved and attached, the loop becomes a recorded failure; the host goes on.
    let (s, p) = save(&env, &org, "spin", "filter", spin).await;
    assert_eq!(s, 201, "{p}");
    let rx = Receiver::ok().await;
    let (hook, _) = env
        .webhook_with(
            json!({"name": "spin", "url": rx.url("/spin"), "events": ["SHARING"],
            "filter_plugins": [{"plugin_id": p["id"]}]}),
        )
        .await;
    let (plain, _) = env.webhook(&rx.url("/plain"), &["SHARING"]).await;
    env.ingest(event("evt_spin", "SHARING", "share.a")).await;
    let list = env
        .wait_deliveries(&hook, "a plugin failure", |l| {
            l.len() == 1 && l[0]["status"] == "plugin_failed"
        })
        .await;
    let d = env.delivery(list[0]["id"].as_str().unwrap()).await;
    let error = d["attempts"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("fuel") || error.contains("time limit"),
        "{error}"
    );
    env.wait_deliveries(&plain, "the plain webhook's delivery", |l| {
        l.len() == 1 && l[0]["status"] == "succeeded"
    })
    .await;
    assert_eq!(rx.received().len(), 1);
    assert_eq!(rx.received()[0].path, "/plain");
    env.finish().await;
}

async fn one_organisation_cannot_see_run_or_attach_another_organisations_script(backend: Backend) {
    if !engine_available() {
        return;
    }
    let env = TestEnv::start(backend).await;
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
    let (s, p) = save(&env, &org_b, "b-only", "filter", FILTER).await;
    assert_eq!(s, 201, "{p}");
    let id = p["id"].as_str().unwrap();
    // From the sibling: not found, not testable, not attachable, not listed.
    let (s, _) = env
        .call(
            "GET",
            &format!("/v1/orgs/{org_a}/plugins/{id}/source"),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = env
        .call(
            "POST",
            &format!("/v1/orgs/{org_a}/plugins/{id}/test"),
            Some(json!({"event": seats("evt_e", "contributor", 5)})),
        )
        .await;
    assert_eq!(s, 404);
    let rx = Receiver::ok().await;
    let (s, err) = env
        .call("POST", &format!("/v1/orgs/{org_a}/webhooks"),
            Some(json!({"name": "x", "url": rx.url("/x"), "events": ["SHARING"], "filter_plugins": [{"plugin_id": id}]})))
        .await;
    assert_eq!(
        (s, err["field"].as_str()),
        (422, Some("filter_plugins[0].plugin_id")),
        "{err}"
    );
    let (_, listed) = env
        .call("GET", &format!("/v1/orgs/{org_a}/plugins"), None)
        .await;
    assert_eq!(listed, json!([]));
    // A component's id is no script: its source is a 404 too.
    let (s, _) = env
        .call(
            "GET",
            &format!("/v1/orgs/{org_b}/plugins/plg_missing/source"),
            None,
        )
        .await;
    assert_eq!(s, 404);
    // A second name in A with the same source is A's own, numbered apart.
    let (s, own) = save(&env, &org_a, "b-only", "filter", FILTER).await;
    assert_eq!((s, own["version"].as_i64()), (201, Some(1)), "{own}");
    env.finish().await;
}

/// Only in a build without the engine (node absent when it was built):
/// saving and running are refused with the reason, and nothing is stored.
/// A build with the engine has its behaviour tested above.
async fn a_build_without_the_engine_refuses_scripts_with_the_reason(backend: Backend) {
    let Some(reason) = scaihub::plugin::script::unavailable_reason() else {
        return;
    };
    let env = TestEnv::start(backend).await;
    let org = env.org_id.clone();
    let (s, err) = save(&env, &org, "f", "filter", FILTER).await;
    assert_eq!(s, 409, "{err}");
    let message = err["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("not available in this build") && message.contains(reason),
        "{err}"
    );
    let (s, _) = env
        .call("POST", "/v1/orgs/{org}/plugins/scripts/run",
            Some(json!({"kind": "filter", "source": FILTER, "event": seats("evt_e", "contributor", 5)})))
        .await;
    assert_eq!(s, 409);
    let (_, listed) = env.call("GET", "/v1/orgs/{org}/plugins", None).await;
    assert_eq!(listed, json!([]));
    env.finish().await;
}
