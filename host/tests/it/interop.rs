//! Standard Webhooks, checked by others: real deliveries from ScaiHub are
//! verified by the published `standardwebhooks` packages (npm and PyPI)
//! inside the example receivers in `examples/receiver-node` and
//! `examples/receiver-python`, which also verify ScaiDrive's own scheme —
//! through a secret rotation, and refusing a tampered body.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::support::{Backend, Receiver, TestEnv, event};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[derive(Clone, Copy, Debug)]
enum Lang {
    Node,
    Python,
}

/// Whether the language's toolchain is here; panics when CI requires it.
fn available(lang: Lang) -> bool {
    let (probe, args, require): (&str, &[&str], &str) = match lang {
        Lang::Node => ("npm", &["--version"], "SCAIHUB_REQUIRE_NODE"),
        Lang::Python => (
            "python3",
            &[
                "-c",
                "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))",
            ],
            "SCAIHUB_REQUIRE_PYTHON",
        ),
    };
    let ok = std::process::Command::new(probe)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var(require).as_deref() != Ok("1"),
            "{probe} is required ({require}=1) for the {lang:?} receiver"
        );
        eprintln!("skipped: the {lang:?} example receiver ({probe} is not installed)");
    }
    ok
}

fn run(cmd: &mut std::process::Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Installs the receiver's pinned packages from its lockfile, once.
fn install(lang: Lang) -> std::process::Command {
    let dir = root().join(match lang {
        Lang::Node => "examples/receiver-node",
        Lang::Python => "examples/receiver-python",
    });
    match lang {
        Lang::Node => {
            if !dir.join("node_modules/standardwebhooks").exists() {
                run(
                    std::process::Command::new("npm")
                        .args(["ci", "--no-audit", "--no-fund"])
                        .current_dir(&dir),
                    "npm ci in examples/receiver-node",
                );
            }
            let mut cmd = std::process::Command::new("node");
            cmd.arg(dir.join("receiver.mjs"));
            cmd
        }
        Lang::Python => {
            let venv = root().join("target/receiver-venv");
            let python = venv.join("bin/python");
            if !python.exists() {
                run(
                    std::process::Command::new("python3")
                        .args(["-m", "venv"])
                        .arg(&venv),
                    "python3 -m venv target/receiver-venv",
                );
            }
            let have = std::process::Command::new(&python)
                .args(["-c", "import standardwebhooks"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !have {
                run(
                    std::process::Command::new(&python)
                        .args(["-m", "pip", "install", "-q", "--require-hashes", "-r"])
                        .arg(dir.join("requirements.lock")),
                    "pip install -r examples/receiver-python/requirements.lock",
                );
            }
            let mut cmd = std::process::Command::new(python);
            cmd.arg(dir.join("receiver.py"));
            cmd
        }
    }
}

/// An example receiver running as its own process.
struct Peer {
    lang: Lang,
    url: String,
    lines: Arc<Mutex<Vec<Value>>>,
    _child: tokio::process::Child,
}

impl Peer {
    async fn start(lang: Lang, secrets: &[&str]) -> Peer {
        let mut cmd = tokio::process::Command::from(install(lang));
        let mut child = cmd
            .env("SCAIHUB_WEBHOOK_SECRET", secrets.join(","))
            .env("RECEIVER_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), out.next_line())
            .await
            .expect("the receiver starts")
            .unwrap()
            .expect("a first line");
        let url = serde_json::from_str::<Value>(&first).unwrap()["listening"]
            .as_str()
            .unwrap()
            .to_string();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                let parsed =
                    serde_json::from_str(&line).unwrap_or_else(|_| json!({"unreadable": line}));
                sink.lock().unwrap().push(parsed);
            }
        });
        Peer {
            lang,
            url,
            lines,
            _child: child,
        }
    }

    fn accepted(&self, scheme: &str) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l["scheme"] == scheme)
            .cloned()
            .collect()
    }

    fn rejected(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.get("rejected").is_some())
            .cloned()
            .collect()
    }

    async fn wait_accepted(&self, scheme: &str, n: usize) -> Vec<Value> {
        for _ in 0..600 {
            let got = self.accepted(scheme);
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the {:?} receiver accepted {} {scheme} deliveries, expected {n}; it said {:?}",
            self.lang,
            self.accepted(scheme).len(),
            self.lines.lock().unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_webhooks_libraries_verify_real_deliveries_through_a_rotation() {
    let langs: Vec<Lang> = [Lang::Node, Lang::Python]
        .into_iter()
        .filter(|l| available(*l))
        .collect();
    if langs.is_empty() {
        return;
    }
    let env = TestEnv::start(Backend::Sqlite).await;
    // The libraries refuse timestamps 5 minutes off the real time.
    let real_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    env.clock.advance(Duration::from_millis(
        (real_now - env.hub.now()).max(0) as u64
    ));

    let ours = scaihub::crypto::new_webhook_secret();
    let standard = scaihub::crypto::new_webhook_secret();
    // Each receiver gets one webhook per scheme.
    let mut peers = Vec::new();
    for lang in &langs {
        let peer = Peer::start(*lang, &[&ours, &standard]).await;
        let (_, _) = env
            .webhook_with(json!({"name": "ours", "url": format!("{}/ours", peer.url),
                "events": ["SHARING"], "secret": ours}))
            .await;
        let (std_id, _) = env
            .webhook_with(
                json!({"name": "standard", "url": format!("{}/std", peer.url),
                "events": ["SHARING"], "secret": standard, "signature_scheme": "standard"}),
            )
            .await;
        peers.push((peer, std_id));
    }
    let batch: Vec<_> = (0..3)
        .map(|i| event(&format!("evt_interop{i}"), "SHARING", "share.created"))
        .collect();
    env.ingest(json!(batch)).await;
    for (peer, _) in &peers {
        peer.wait_accepted("scaidrive", 3).await;
        peer.wait_accepted("standard", 3).await;
        assert!(peer.rejected().is_empty(), "{:?}", peer.rejected());
    }

    // A rotation: for a day both signatures go out, space-separated. A
    // receiver still holding only the old secret verifies...
    let mut fresh = Vec::new();
    for (peer, std_id) in &peers {
        let (s, rotated) = env
            .call(
                "POST",
                &format!("/v1/orgs/{{org}}/webhooks/{std_id}/rotate-secret"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{rotated}");
        fresh.push((
            peer.lang,
            std_id.clone(),
            rotated["secret"].as_str().unwrap().to_string(),
        ));
    }
    env.ingest(json!([event(
        "evt_interop_rot",
        "SHARING",
        "share.created"
    )]))
    .await;
    for (peer, _) in &peers {
        peer.wait_accepted("standard", 4).await;
    }
    // ...and one holding only the new secret does too.
    let mut new_peers = Vec::new();
    for (lang, std_id, secret) in &fresh {
        let peer = Peer::start(*lang, &[secret]).await;
        let (s, w) = env
            .call(
                "PATCH",
                &format!("/v1/orgs/{{org}}/webhooks/{std_id}"),
                Some(json!({"url": format!("{}/std", peer.url)})),
            )
            .await;
        assert_eq!(s, 200, "{w}");
        new_peers.push(peer);
    }
    env.ingest(json!([event(
        "evt_interop_new",
        "SHARING",
        "share.created"
    )]))
    .await;
    for peer in &new_peers {
        let got = peer.wait_accepted("standard", 1).await;
        assert_eq!(got[0]["event_id"], "evt_interop_new");
        assert!(peer.rejected().is_empty(), "{:?}", peer.rejected());
    }

    // Captured deliveries of both schemes, replayed by hand: as sent they
    // pass (answered 200 as repeats), with one byte changed they do not.
    let capture = Receiver::ok().await;
    env.webhook_with(
        json!({"name": "cap", "url": capture.url("/ours"), "events": ["FILE_ACCESS"],
        "secret": ours}),
    )
    .await;
    env.webhook_with(
        json!({"name": "cap", "url": capture.url("/std"), "events": ["FILE_ACCESS"],
        "secret": standard, "signature_scheme": "standard"}),
    )
    .await;
    env.ingest(json!([event(
        "evt_interop_cap",
        "FILE_ACCESS",
        "file.viewed"
    )]))
    .await;
    let got = capture.wait_for(2).await;
    let ours_req = got.iter().find(|r| r.path == "/ours").unwrap();
    let std_req = got.iter().find(|r| r.path == "/std").unwrap();
    // Each scheme sends its own headers and not the other's.
    assert!(
        ours_req
            .header("x-scaidrive-signature")
            .starts_with("sha256=")
    );
    assert!(
        ours_req
            .header("x-scaidrive-timestamp")
            .parse::<i64>()
            .is_ok()
    );
    assert_eq!(ours_req.header("webhook-signature"), "");
    assert!(std_req.header("webhook-signature").starts_with("v1,"));
    assert_eq!(
        std_req.header("webhook-id"),
        std_req.header("x-scaidrive-delivery-id")
    );
    assert_eq!(std_req.header("x-scaidrive-signature"), "");

    let client = reqwest::Client::new();
    for (peer, _) in &peers {
        for req in [ours_req, std_req] {
            let send = |body: Vec<u8>, bump_time: bool| {
                let mut r = client.post(format!("{}{}", peer.url, req.path)).body(body);
                for (k, v) in &req.headers {
                    if k == "host" || k == "content-length" {
                        continue;
                    }
                    let mut v = v.to_str().unwrap().to_string();
                    if bump_time && k == "webhook-timestamp" {
                        v = (v.parse::<i64>().unwrap() + 1).to_string();
                    }
                    r = r.header(k.as_str(), v);
                }
                r.send()
            };
            let sent = send(req.body.to_vec(), false).await.unwrap();
            assert_eq!(sent.status(), 200, "{:?} {}", peer.lang, req.path);
            let mut tampered = req.body.to_vec();
            let at = tampered.iter().position(|b| *b == b'v').unwrap();
            tampered[at] = b'w';
            let refused = send(tampered, false).await.unwrap();
            assert_eq!(
                refused.status(),
                401,
                "{:?} {} tampered body",
                peer.lang,
                req.path
            );
            if req.path == "/std" {
                let refused = send(req.body.to_vec(), true).await.unwrap();
                assert_eq!(refused.status(), 401, "{:?} tampered timestamp", peer.lang);
            }
        }
        // Its own account: three refusals (its output trails its answers).
        for _ in 0..100 {
            if peer.rejected().len() >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let rejected = peer.rejected();
        assert_eq!(rejected.len(), 3, "{:?}: {rejected:?}", peer.lang);
    }
    env.finish().await;
}
