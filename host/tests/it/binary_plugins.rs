//! Plugin compiles and the real binary: a restart compiles nothing that
//! was compiled before (the stored artifact is loaded), and a version left
//! `compiling` by a SIGKILL is compiled by the next start (on PostgreSQL,
//! once the dead process's claim has run out).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::binary::Proc;
use crate::both;
use crate::support::{Backend, TestDb, event, js_plugin_wasm, plugin_wasm};

both!(a_restart_compiles_nothing_again_and_finishes_what_a_kill_left_compiling);

const KEY: &str = "shk_compile_test_admin_key_0123456789";

fn settings(backend: Backend, db: &TestDb, dir: &std::path::Path) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("SCAIHUB_DATA_DIR", dir.display().to_string()),
        ("SCAIHUB_ADMIN_KEY", KEY.to_string()),
    ];
    if backend == Backend::Postgres {
        env.push(("SCAIHUB_DATABASE_URL", db.url.clone()));
        env.push(("SCAIHUB_MASTER_KEY", "22".repeat(32)));
    }
    env
}

async fn upload(p: &Proc, org: &str, name: &str, kind: &str, wasm: Vec<u8>) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!(
            "{}/v1/orgs/{org}/plugins?name={name}&kind={kind}",
            p.base
        ))
        .bearer_auth(KEY)
        .header("content-type", "application/wasm")
        .body(wasm)
        .send()
        .await
        .unwrap();
    let s = res.status().as_u16();
    (s, res.json().await.unwrap())
}

/// Compiles this process has done, by outcome `ready`.
async fn compiled(p: &Proc) -> u64 {
    let text = reqwest::get(format!("{}/metrics", p.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("scaihub_plugin_compiles_total{outcome=\"ready\"} "))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// Waits until the version is `ready` (a failure fails the test).
async fn ready(p: &Proc, org: &str, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let (s, v) = p
            .call(KEY, "GET", &format!("/v1/orgs/{org}/plugins/{id}"), None)
            .await;
        match v["status"].as_str() {
            Some("ready") => return,
            Some("compiling") => {}
            // A busy machine may make a poll answer 503: poll again.
            _ if s == 503 => {}
            _ => panic!("{id} did not compile: {s} {v}"),
        }
        assert!(Instant::now() < deadline, "{id} still compiling");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn runs(p: &Proc, org: &str, id: &str, config: Value) -> Value {
    let (s, out) = p
        .call(
            KEY,
            "POST",
            &format!("/v1/orgs/{org}/plugins/{id}/test"),
            Some(json!({"event": event("evt_1", "SHARING", "share.a"), "config": config})),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    assert!(out.get("error").is_none(), "{out}");
    out
}

async fn a_restart_compiles_nothing_again_and_finishes_what_a_kill_left_compiling(
    backend: Backend,
) {
    let db = TestDb::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let first = Proc::start(&settings(backend, &db, dir.path())).await;
    let (_, me) = first.call(KEY, "GET", "/v1/me", None).await;
    let org = me["org_id"].as_str().unwrap().to_string();
    let rule = json!({"pointer": "/role", "allowed": ["contributor"]});
    let small = std::fs::read(plugin_wasm("payload_field_filter")).unwrap();
    let (s, filter) = upload(&first, &org, "role-filter", "filter", small).await;
    // Ready within the upload's 2 s wait, unless the machine is very busy.
    assert!(s == 201 || s == 202, "{s} {filter}");
    let filter = filter["id"].as_str().unwrap().to_string();
    ready(&first, &org, &filter).await;
    assert_eq!(compiled(&first).await, 1);
    let js = std::fs::read(js_plugin_wasm("pii-redact")).unwrap();
    let (s, big) = upload(&first, &org, "pii-js", "transform", js).await;
    assert_eq!(
        (s, big["status"].as_str()),
        (202, Some("compiling")),
        "{big}"
    );
    let big = big["id"].as_str().unwrap().to_string();
    // Killed mid-compile (it takes far longer than this).
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.signal(libc::SIGKILL);
    let mut first = first;
    first.wait_exit(Duration::from_secs(10));

    let second = Proc::start(&settings(backend, &db, dir.path())).await;
    // The ready version runs from its stored artifact at once.
    assert_eq!(
        runs(&second, &org, &filter, rule.clone()).await["verdict"],
        "deliver"
    );
    ready(&second, &org, &big).await;
    // Only the version the kill interrupted was compiled again.
    assert_eq!(compiled(&second).await, 1);
    runs(&second, &org, &big, json!({"remove": ["/payload"]})).await;
    second.signal(libc::SIGTERM);
    let mut second = second;
    second.wait_exit(Duration::from_secs(30));

    let third = Proc::start(&settings(backend, &db, dir.path())).await;
    runs(&third, &org, &filter, rule).await;
    runs(&third, &org, &big, json!({"remove": ["/payload"]})).await;
    assert_eq!(
        compiled(&third).await,
        0,
        "a restart compiled a stored plugin again"
    );
    drop(third);
    db.drop_db().await;
}
