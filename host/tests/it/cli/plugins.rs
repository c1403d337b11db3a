//! Plugins through the CLI: upload with a progress bar, a test run here
//! (the server's sandbox, no server) matching one on the server, attach
//! and detach; and `plugin new` projects that build as they are made.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Cli, output};
use crate::support::{Backend, Receiver, TestEnv, plugin_wasm};

fn event_with(id: &str, action: &str, payload: Value) -> Value {
    json!({
        "event_id": id,
        "timestamp": "2026-05-12T14:23:01Z",
        "category": "SHARING",
        "action": action,
        "user_id": "usr_alice",
        "payload": payload,
    })
}

fn write_json(dir: &Path, name: &str, value: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(value).unwrap()).unwrap();
    path.to_str().unwrap().to_string()
}

const OWNERS: &str = r#"{"pointer": "/role", "allowed": ["owner"]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_upload_with_progress_test_here_and_there_and_attach() {
    let env = TestEnv::start(Backend::Sqlite).await;
    let receiver = Receiver::ok().await;
    let (hook, _) = env.webhook(&receiver.url("/in"), &["SHARING"]).await;
    let cli = Cli::new(&env);
    let wasm = plugin_wasm("payload_field_filter");
    let wasm = wasm.to_str().unwrap();
    let size = std::fs::metadata(wasm).unwrap().len();

    let up = cli
        .run(&[
            "plugin",
            "upload",
            wasm,
            "--name",
            "only-owners",
            "--kind",
            "filter",
            "--progress",
            "always",
            "--json",
        ])
        .await
        .ok();
    let plugin = up.json();
    let id = plugin["id"].as_str().unwrap().to_string();
    assert_eq!(plugin["version"], 1);
    assert_eq!(plugin["size"], size);
    assert!(up.stderr.contains("uploading only-owners"), "{up:#?}");
    assert!(
        up.stderr
            .contains(&format!("only-owners: {size} bytes uploaded, ready")),
        "{up:#?}"
    );
    // Without a terminal and without --progress always, nothing is drawn.
    let quiet = cli
        .run(&[
            "plugin",
            "upload",
            wasm,
            "--name",
            "only-owners",
            "--kind",
            "filter",
        ])
        .await
        .ok();
    assert_eq!(quiet.stderr, "", "{quiet:#?}");
    assert!(quiet.stdout.contains("only-owners"), "{quiet:#?}");
    let listed = cli.run(&["plugin", "list"]).await.ok();
    assert!(
        listed
            .stdout
            .lines()
            .filter(|l| l.contains("only-owners"))
            .count()
            == 2,
        "{listed:#?}"
    );

    // The same event and configuration, here and on the server: the same
    // verdict for the same fuel, because it is the same sandbox.
    let dir = tempfile::tempdir().unwrap();
    let owner = write_json(
        dir.path(),
        "owner.json",
        &event_with("evt_p1", "share.created", json!({"role": "owner"})),
    );
    let viewer = write_json(
        dir.path(),
        "viewer.json",
        &event_with("evt_p2", "share.created", json!({"role": "viewer"})),
    );
    for (file, verdict) in [(&owner, "deliver"), (&viewer, "skip")] {
        let here = cli
            .run(&[
                "plugin", "test", wasm, "--event", file, "--config", OWNERS, "--json",
            ])
            .await
            .ok()
            .json();
        let there = cli
            .run(&[
                "plugin", "test", &id, "--event", file, "--config", OWNERS, "--json",
            ])
            .await
            .ok()
            .json();
        assert_eq!(here["verdict"], verdict, "{here}");
        assert_eq!(there["verdict"], verdict, "{there}");
        assert_eq!(here["kind"], "filter");
        assert!(here["fuel_used"].as_u64().unwrap() > 0, "{here}");
        assert_eq!(here["fuel_used"], there["fuel_used"], "{here} {there}");
    }
    let table = cli
        .run(&["plugin", "test", &id, "--event", &owner, "--config", OWNERS])
        .await
        .ok();
    assert!(
        table.stdout.contains("verdict") && table.stdout.contains("deliver"),
        "{table:#?}"
    );
    assert!(table.stdout.contains("fuel used"), "{table:#?}");

    // Attached with its configuration, it filters real deliveries.
    let attached = cli
        .run(&[
            "plugin",
            "attach",
            &id,
            "--webhook",
            &hook,
            "--config",
            OWNERS,
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(attached["filter_plugins"][0]["plugin_id"], id.as_str());
    assert_eq!(
        attached["filter_plugins"][0]["config"]["allowed"],
        json!(["owner"])
    );
    env.ingest(json!([
        event_with("evt_p3", "share.created", json!({"role": "viewer"})),
        event_with("evt_p4", "share.created", json!({"role": "owner"})),
    ]))
    .await;
    let got = receiver.wait_for(1).await;
    env.wait_deliveries(&hook, "both settled", |l| {
        l.len() == 2
            && l.iter()
                .all(|d| d["status"] == "succeeded" || d["status"] == "filtered")
    })
    .await;
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(got[0].json()["event_id"], "evt_p4");

    let detached = cli
        .run(&["plugin", "detach", &id, "--webhook", &hook, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(detached["filter_plugins"], json!([]));
    let again = cli
        .run(&["plugin", "detach", &id, "--webhook", &hook])
        .await
        .code(5);
    assert!(again.stderr.contains("is not attached"), "{again:#?}");
    let shown = cli.run(&["plugin", "show", &id]).await.ok();
    assert!(shown.stdout.contains("only-owners"), "{shown:#?}");
    cli.run(&["plugin", "delete", &id]).await.ok();
    cli.run(&["plugin", "show", &id]).await.code(3);
    env.finish().await;
}

/// A component that takes the server tens of seconds to compile (a real
/// JavaScript one): the upload is answered `compiling` at once, and the
/// command waits with a spinner until the server says `ready`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_upload_waits_for_the_servers_compile() {
    let env = TestEnv::with(
        Backend::Sqlite,
        crate::support::Options {
            upload_wait: Duration::from_secs(2),
            ..Default::default()
        },
    )
    .await;
    let cli = Cli::new(&env);
    let wasm = crate::support::js_plugin_wasm("pii-redact");
    let up = cli
        .run(&[
            "plugin",
            "upload",
            wasm.to_str().unwrap(),
            "--name",
            "pii-js",
            "--kind",
            "transform",
            "--progress",
            "always",
            "--json",
        ])
        .await
        .ok();
    let plugin = up.json();
    assert_eq!(plugin["status"], "ready", "{up:#?}");
    assert!(
        up.stderr
            .contains("waiting for the server to compile pii-js"),
        "{up:#?}"
    );
    assert!(up.stderr.contains("bytes uploaded, ready"), "{up:#?}");
    let (_, now) = env
        .call(
            "GET",
            &format!(
                "/v1/orgs/{{org}}/plugins/{}",
                plugin["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(now["status"], "ready");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_test_here_holds_the_servers_sandbox_and_limits() {
    let env = TestEnv::start(Backend::Sqlite).await;
    let cli = Cli::new(&env);
    let hostile = plugin_wasm("hostile_filter");
    let hostile = hostile.to_str().unwrap();
    let filter = plugin_wasm("payload_field_filter");
    let filter = filter.to_str().unwrap();

    // An endless loop ends in a trap at the server's default budget.
    let started = Instant::now();
    let looped = cli
        .run(&[
            "plugin",
            "test",
            hostile,
            "--config",
            r#"{"behaviour": "infinite-loop"}"#,
        ])
        .await
        .code(1);
    assert!(looped.stderr.contains("plugin trapped"), "{looped:#?}");
    assert!(started.elapsed() < Duration::from_secs(30));
    // No environment inside: the attempt fails in the guest.
    let env_read = cli
        .run(&[
            "plugin",
            "test",
            hostile,
            "--config",
            r#"{"behaviour": "read-env"}"#,
            "--json",
        ])
        .await
        .code(1);
    assert!(
        env_read.json()["error"]
            .as_str()
            .unwrap()
            .contains("sandbox held"),
        "{env_read:#?}"
    );
    // The limits are the server's flags and environment variables.
    let starved = cli
        .run(&[
            "plugin",
            "test",
            filter,
            "--config",
            OWNERS,
            "--plugin-fuel",
            "500",
        ])
        .await
        .code(1);
    assert!(starved.stderr.contains("plugin trapped"), "{starved:#?}");
    let mut cmd = cli.command(&["plugin", "test", filter, "--config", OWNERS]);
    cmd.env("SCAIHUB_PLUGIN_FUEL", "500");
    let starved_by_env = output(cmd, None).await.code(1);
    assert!(
        starved_by_env.stderr.contains("plugin trapped"),
        "{starved_by_env:#?}"
    );
    let too_big = cli
        .run(&["plugin", "test", filter, "--plugin-max-module-kib", "4"])
        .await
        .code(5);
    assert!(too_big.stderr.contains("the limit is 4096"), "{too_big:#?}");
    let bad_limit = cli
        .run(&["plugin", "test", filter, "--plugin-memory-mib", "0"])
        .await
        .code(2);
    assert!(
        bad_limit.stderr.contains("SCAIHUB_PLUGIN_MEMORY_MIB"),
        "{bad_limit:#?}"
    );

    // The server's runs use the server's limits: asking for others is a usage error.
    let remote = cli
        .run(&["plugin", "test", "plg_anything", "--plugin-fuel", "5"])
        .await
        .code(2);
    assert!(remote.stderr.contains("--plugin-*"), "{remote:#?}");

    // Refusals name what was wrong, as an upload's would.
    let wrong_kind = cli
        .run(&["plugin", "test", filter, "--kind", "transform"])
        .await
        .code(5);
    assert!(
        wrong_kind.stderr.starts_with("error: --kind:"),
        "{wrong_kind:#?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let not_wasm = dir.path().join("hello.wasm");
    std::fs::write(&not_wasm, b"hello").unwrap();
    let refused = cli
        .run(&["plugin", "test", not_wasm.to_str().unwrap()])
        .await
        .code(5);
    assert!(
        refused.stderr.contains("not a WebAssembly component"),
        "{refused:#?}"
    );
    let bad_event = write_json(
        dir.path(),
        "bad.json",
        &json!({"event_id": "evt_x", "timestamp": "2026-05-12T14:23:01Z", "category": "NOPE", "action": "a.b"}),
    );
    let refused = cli
        .run(&["plugin", "test", filter, "--event", &bad_event, "--json"])
        .await
        .code(5);
    assert_eq!(
        refused.error_json()["field"],
        "event.category",
        "{refused:#?}"
    );
    // A transform's output comes back as the request it made.
    let chat = plugin_wasm("chat_message");
    let out = cli
        .run(&["plugin", "test", chat.to_str().unwrap(), "--json"])
        .await
        .ok()
        .json();
    assert_eq!(out["kind"], "transform");
    assert!(out["request"]["body"].is_string(), "{out}");
    env.finish().await;
}

/// The checkout these tests run in.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// Builds a generated Rust project for wasm32-wasip2 (sharing the example
/// plugins' target folder, so the SDK's dependencies build once) and
/// answers the component's path.
fn build_rust_project(dir: &Path, module: &str) -> PathBuf {
    let target = repo().join("plugins/target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for args in [
        &["test", "--quiet"][..],
        &["build", "--release", "--target", "wasm32-wasip2", "--quiet"][..],
    ] {
        let out = std::process::Command::new(&cargo)
            .args(args)
            .current_dir(dir)
            .env_remove("RUSTFLAGS")
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "cargo {args:?} failed in {}:\n{}\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    target.join(format!("wasm32-wasip2/release/{module}.wasm"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_plugin_from_new_to_a_filtered_delivery() {
    let env = TestEnv::start(Backend::Sqlite).await;
    let receiver = Receiver::ok().await;
    let (hook, _) = env.webhook(&receiver.url("/in"), &["SHARING"]).await;
    let cli = Cli::new(&env);
    let dir = tempfile::tempdir().unwrap();
    let repo = repo();
    let repo = repo.to_str().unwrap();

    let filter_dir = dir.path().join("cli-made-filter");
    let made = cli
        .run(&[
            "plugin",
            "new",
            "cli-made-filter",
            "--lang",
            "rust",
            "--dir",
            filter_dir.to_str().unwrap(),
            "--repo",
            repo,
        ])
        .await
        .ok();
    assert!(made.stdout.contains("made cli-made-filter"), "{made:#?}");
    let again = cli
        .run(&[
            "plugin",
            "new",
            "cli-made-filter",
            "--lang",
            "rust",
            "--dir",
            filter_dir.to_str().unwrap(),
            "--repo",
            repo,
        ])
        .await
        .code(2);
    assert!(again.stderr.contains("not empty"), "{again:#?}");
    let wasm = build_rust_project(&filter_dir, "cli_made_filter");
    let wasm = wasm.to_str().unwrap();
    let sample = filter_dir.join("event.json");
    let sample = sample.to_str().unwrap();

    let here = cli
        .run(&[
            "plugin",
            "test",
            wasm,
            "--event",
            sample,
            "--config",
            r#"{"actions": ["share."]}"#,
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(here["verdict"], "deliver", "{here}");
    let here = cli
        .run(&[
            "plugin",
            "test",
            wasm,
            "--event",
            sample,
            "--config",
            r#"{"actions": ["file."]}"#,
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(here["verdict"], "skip", "{here}");

    let up = cli
        .run(&[
            "plugin",
            "upload",
            wasm,
            "--name",
            "cli-made-filter",
            "--kind",
            "filter",
            "--json",
        ])
        .await
        .ok()
        .json();
    let id = up["id"].as_str().unwrap();
    cli.run(&[
        "plugin",
        "attach",
        id,
        "--webhook",
        &hook,
        "--config",
        r#"{"actions": ["share.created"]}"#,
    ])
    .await
    .ok();
    env.ingest(json!([
        event_with("evt_new_1", "share.deleted", json!({})),
        event_with("evt_new_2", "share.created", json!({})),
    ]))
    .await;
    env.wait_deliveries(&hook, "both settled", |l| {
        l.len() == 2
            && l.iter()
                .all(|d| d["status"] == "succeeded" || d["status"] == "filtered")
    })
    .await;
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["event_id"], "evt_new_2");

    // The transform template builds and runs too.
    let transform_dir = dir.path().join("cli-made-transform");
    cli.run(&[
        "plugin",
        "new",
        "cli-made-transform",
        "--lang",
        "rust",
        "--kind",
        "transform",
        "--dir",
        transform_dir.to_str().unwrap(),
        "--repo",
        repo,
    ])
    .await
    .ok();
    let wasm = build_rust_project(&transform_dir, "cli_made_transform");
    let out = cli
        .run(&[
            "plugin",
            "test",
            wasm.to_str().unwrap(),
            "--config",
            r#"{"label": "acme"}"#,
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(out["kind"], "transform", "{out}");
    let body: Value = serde_json::from_str(out["request"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["label"], "acme", "{out}");
    assert_eq!(
        out["request"]["headers"][0],
        json!(["X-Event-Action", "share.member_added"])
    );
    env.finish().await;
}

/// TypeScript and Python projects depend on SDKs built elsewhere
/// (`sdk/js`, `sdk/python`); each is built and run once its SDK and its
/// toolchain are here, and skipped with the reason otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_and_python_projects_build_when_their_sdks_are_here() {
    let env = TestEnv::start(Backend::Sqlite).await;
    let cli = Cli::new(&env);
    let repo = repo();
    let dir = tempfile::tempdir().unwrap();
    let has = |tool: &str| {
        std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let sh = |script: &str, cwd: &Path| {
        let out = std::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", script])
            .current_dir(cwd)
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{script} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // JavaScript and Python components are 12-18 MB: the module cap of
    // their guides.
    let big = ["--plugin-max-module-kib", "65536"];

    if !repo.join("sdk/js/package.json").is_file() {
        eprintln!("skipping the TypeScript project: this checkout has no sdk/js yet");
    } else if !has("npm") {
        eprintln!("skipping the TypeScript project: npm is not installed");
    } else {
        let ts = dir.path().join("ts-made");
        cli.run(&[
            "plugin",
            "new",
            "ts-made",
            "--lang",
            "ts",
            "--dir",
            ts.to_str().unwrap(),
            "--repo",
            repo.to_str().unwrap(),
        ])
        .await
        .ok();
        sh(
            "npm install --no-audit --no-fund --quiet && npm test && npm run build",
            &ts,
        );
        let wasm = ts.join("ts-made.wasm");
        let mut args = vec![
            "plugin",
            "test",
            wasm.to_str().unwrap(),
            "--config",
            r#"{"actions": ["share."]}"#,
            "--json",
        ];
        args.extend(big);
        let out = cli.run(&args).await.ok().json();
        assert_eq!(out["verdict"], "deliver", "{out}");
    }

    if !repo.join("sdk/python/pyproject.toml").is_file() {
        eprintln!("skipping the Python project: this checkout has no sdk/python yet");
    } else if !has("python3") {
        eprintln!("skipping the Python project: python3 is not installed");
    } else {
        let py = dir.path().join("py-made");
        cli.run(&[
            "plugin",
            "new",
            "py-made",
            "--lang",
            "python",
            "--kind",
            "transform",
            "--dir",
            py.to_str().unwrap(),
            "--repo",
            repo.to_str().unwrap(),
        ])
        .await
        .ok();
        sh(
            "./setup.sh && .venv/bin/python -m pytest -q && .venv/bin/scaihub-plugin build py_made.py --kind transform -o py-made.wasm",
            &py,
        );
        let wasm = py.join("py-made.wasm");
        let mut args = vec![
            "plugin",
            "test",
            wasm.to_str().unwrap(),
            "--config",
            r#"{"label": "acme"}"#,
            "--json",
        ];
        args.extend(big);
        let out = cli.run(&args).await.ok().json();
        let body: Value = serde_json::from_str(out["request"]["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["label"], "acme", "{out}");
    }
    env.finish().await;
}
