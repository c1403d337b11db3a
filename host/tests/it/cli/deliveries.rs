//! Events in from stdin and files; the delivery log read, redelivered,
//! recovered, and followed live with `tail`.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{Cli, output};
use crate::support::{Backend, Receiver, TestEnv, event};

fn lines(events: &[Value]) -> Vec<u8> {
    events
        .iter()
        .map(|e| format!("{e}\n"))
        .collect::<String>()
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_from_stdin_and_files_are_accepted_once_and_delivered() {
    let env = TestEnv::start(Backend::Sqlite).await;
    let receiver = Receiver::ok().await;
    env.webhook(&receiver.url("/in"), &["SHARING"]).await;
    let cli = Cli::new(&env);

    // JSON lines on stdin.
    let batch: Vec<Value> = (0..3)
        .map(|i| event(&format!("evt_cli_stdin_{i}"), "SHARING", "share.created"))
        .collect();
    let sent = cli.run_stdin(&["event", "send"], &lines(&batch)).await.ok();
    assert_eq!(
        sent.stdout.trim(),
        "3 accepted, 0 duplicates (already known, not sent again)"
    );
    receiver.wait_for(3).await;
    // The same again: duplicates, nothing sent again.
    let again = cli
        .run_stdin(&["event", "send", "-", "--json"], &lines(&batch))
        .await
        .ok()
        .json();
    assert_eq!(again["accepted"], json!([]));
    assert_eq!(again["duplicates"].as_array().unwrap().len(), 3);

    // A file holding an array and another holding one pretty object, in
    // batches of two.
    let dir = tempfile::tempdir().unwrap();
    let array = dir.path().join("many.json");
    let many: Vec<Value> = (0..3)
        .map(|i| event(&format!("evt_cli_file_{i}"), "SHARING", "share.created"))
        .collect();
    std::fs::write(&array, serde_json::to_vec(&many).unwrap()).unwrap();
    let single = dir.path().join("one.json");
    std::fs::write(
        &single,
        serde_json::to_string_pretty(&event("evt_cli_file_single", "SHARING", "share.created"))
            .unwrap(),
    )
    .unwrap();
    let from_files = cli
        .run(&[
            "event",
            "send",
            array.to_str().unwrap(),
            single.to_str().unwrap(),
            "--batch",
            "2",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(from_files["accepted"].as_array().unwrap().len(), 4);
    receiver.wait_for(7).await;

    // A bad event in the second batch is named by its place in the input.
    let mut bad = many.clone();
    bad.push(
        json!({"event_id": "evt_cli_bad", "timestamp": "2026-05-12T14:23:01Z",
        "category": "NOPE", "action": "share.created"}),
    );
    let refused = cli
        .run_stdin(&["event", "send", "--batch", "2"], &lines(&bad))
        .await
        .code(5);
    assert!(refused.stderr.contains("[3].category"), "{refused:#?}");
    // Local input that is not JSON is a usage error naming the line.
    let broken = cli
        .run_stdin(&["event", "send"], b"{\"event_id\": \"evt_x\"}\nnot json\n")
        .await
        .code(2);
    assert!(broken.stderr.contains("stdin: line 2"), "{broken:#?}");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_listed_shown_and_redelivered() {
    let env = TestEnv::start(Backend::Sqlite).await;
    let receiver = Receiver::ok().await;
    let (hook, _) = env.webhook(&receiver.url("/in"), &["SHARING"]).await;
    env.ingest(event("evt_cli_d1", "SHARING", "share.created"))
        .await;
    env.wait_deliveries(&hook, "a success", |l| {
        l.len() == 1 && l[0]["status"] == "succeeded"
    })
    .await;
    let cli = Cli::new(&env);

    let table = cli.run(&["delivery", "list", &hook]).await.ok();
    assert!(table.stdout.starts_with("ID"), "{table:#?}");
    let row = table
        .stdout
        .lines()
        .find(|l| l.contains("evt_cli_d1"))
        .unwrap();
    assert!(row.contains("succeeded"), "{row}");
    let page = cli
        .run(&[
            "deliveries",
            "list",
            &hook,
            "--status",
            "succeeded",
            "--json",
        ])
        .await
        .ok()
        .json();
    let id = page["data"][0]["id"].as_str().unwrap().to_string();

    let shown = cli.run(&["delivery", "show", &id]).await.ok();
    assert!(shown.stdout.contains("ATTEMPTED"), "{shown:#?}");
    assert!(shown.stdout.contains("200"), "{shown:#?}");
    let shown = cli
        .run(&["delivery", "show", &id, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(shown["attempts"][0]["status_code"], 200);

    let again = cli
        .run(&["delivery", "redeliver", &id, "--json"])
        .await
        .ok()
        .json();
    assert_ne!(again["id"], id.as_str());
    receiver.wait_for(2).await;
    let bad_status = cli
        .run(&["delivery", "list", &hook, "--status", "lost"])
        .await
        .code(5);
    assert!(
        bad_status.stderr.starts_with("error: status:"),
        "{bad_status:#?}"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follows_new_deliveries_as_they_happen() {
    let env = TestEnv::start(Backend::Sqlite).await;
    let receiver = Receiver::ok().await;
    let (hook, _) = env.webhook(&receiver.url("/in"), &["SHARING"]).await;
    env.ingest(event("evt_cli_before", "SHARING", "share.created"))
        .await;
    env.wait_deliveries(&hook, "the first", |l| l.len() == 1)
        .await;
    let cli = Cli::new(&env);

    let mut cmd = cli.command(&[
        "delivery",
        "tail",
        &hook,
        "--interval-ms",
        "100",
        "--last",
        "1",
        "--count",
        "2",
    ]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
    // The existing delivery first, then the notice that it follows.
    let first = tokio::time::timeout(Duration::from_secs(20), out.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first.contains("evt_cli_before"), "{first}");
    let notice = tokio::time::timeout(Duration::from_secs(20), err.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(notice.starts_with("following deliveries of"), "{notice}");

    // Two new events while it follows: each appears as it is made.
    env.ingest(event("evt_cli_live_1", "SHARING", "share.created"))
        .await;
    env.ingest(event("evt_cli_live_2", "SHARING", "share.created"))
        .await;
    let mut seen = Vec::new();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(20), out.next_line()).await
    {
        seen.push(line);
    }
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "tail exited with {status}: {seen:?}");
    let live: Vec<&String> = seen.iter().filter(|l| !l.contains("(changed)")).collect();
    assert_eq!(live.len(), 2, "{seen:?}");
    assert!(live[0].contains("evt_cli_live_1"), "{seen:?}");
    assert!(live[1].contains("evt_cli_live_2"), "{seen:?}");

    // As JSON lines for scripts.
    let json_tail = cli
        .run(&[
            "delivery", "tail", &hook, "--json", "--last", "3", "--count", "0",
        ])
        .await
        .ok();
    let events: Vec<String> = json_tail
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        events,
        ["evt_cli_before", "evt_cli_live_1", "evt_cli_live_2"]
    );
    env.finish().await;
}

/// `recover` is the client of `POST /webhooks/{id}/recover`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_sends_failed_deliveries_of_a_window_again() {
    let env = crate::support::TestEnv::with(
        Backend::Sqlite,
        crate::support::Options {
            retry_schedule: Vec::new(),
            ..Default::default()
        },
    )
    .await;
    let ok_after_first =
        Receiver::start(|n| (if n == 0 { 500 } else { 200 }, Duration::ZERO)).await;
    let (hook, _) = env.webhook(&ok_after_first.url("/in"), &["SHARING"]).await;
    env.ingest(event("evt_cli_lost", "SHARING", "share.created"))
        .await;
    let dropped = env
        .wait_deliveries(&hook, "a drop", |l| {
            l.len() == 1 && l[0]["status"] == "dropped"
        })
        .await;
    let cli = Cli::new(&env);
    let now = scaihub::clock::Clock::now_ms(&env.clock);
    let since = scaihub::clock::rfc3339(now - 3_600_000);
    let run = cli
        .run(&[
            "delivery", "recover", &hook, "--since", &since, "--status", "dropped",
        ])
        .await
        .ok();
    assert!(
        run.stdout
            .starts_with(&format!("1 delivery of {hook} sent again")),
        "{run:#?}"
    );
    ok_after_first.wait_for(2).await;
    let again = env.delivery(dropped[0]["id"].as_str().unwrap()).await;
    assert_eq!(again["id"], dropped[0]["id"]);
    let mut cmd = cli.command(&["delivery", "recover", "whk_none", "--since", "2h"]);
    cmd.env("SCAIHUB_ORG", &env.org_id);
    output(cmd, None).await.code(3);
    env.finish().await;
}
