//! Webhooks, applications, users and keys through the CLI, as tables and
//! as JSON; the exit codes scripts rely on; shell completions.

use super::{Cli, output};
use crate::support::{Backend, Receiver, TestEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_from_create_to_delete_as_tables_and_json() {
    let env = TestEnv::start(Backend::Sqlite).await;
    let receiver = Receiver::ok().await;
    let cli = Cli::new(&env);
    let url = receiver.url("/hook");

    let created = cli
        .run(&[
            "webhook",
            "create",
            "--name",
            "sharing feed",
            "--url",
            &url,
            "--event",
            "SHARING,ADMIN",
            "--action",
            "share.*",
            "--header",
            "X-Team=blue",
            "--json",
        ])
        .await
        .ok();
    let w = created.json();
    let id = w["id"].as_str().unwrap().to_string();
    assert!(w["secret"].as_str().unwrap().len() > 20, "{w}");
    assert_eq!(w["events"], serde_json::json!(["SHARING", "ADMIN"]));
    // Header names are kept lowercase.
    assert_eq!(w["headers"]["x-team"], "blue");

    let table = cli.run(&["webhook", "list"]).await.ok();
    let header = table.stdout.lines().next().unwrap();
    assert!(header.starts_with("ID"), "{table:#?}");
    assert!(header.contains("HEALTH"), "{table:#?}");
    let row = table.stdout.lines().find(|l| l.contains(&id)).unwrap();
    assert!(
        row.contains("sharing feed") && row.contains("active"),
        "{row}"
    );

    let listed = cli.run(&["webhooks", "ls", "--json", "--all"]).await.ok();
    assert_eq!(listed.json()["data"][0]["id"], id.as_str());

    let shown = cli.run(&["webhook", "show", &id]).await.ok();
    assert!(shown.stdout.contains(&url), "{shown:#?}");
    assert!(!shown.stdout.contains("secret"), "{shown:#?}");

    let edited = cli
        .run(&[
            "webhook",
            "edit",
            &id,
            "--name",
            "renamed",
            "--data",
            r#"{"queue_limit": 77}"#,
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(edited["name"], "renamed");
    assert_eq!(edited["queue_limit"], 77);
    let nothing = cli.run(&["webhook", "edit", &id]).await.code(2);
    assert!(nothing.stderr.contains("nothing to change"), "{nothing:#?}");

    let paused = cli.run(&["webhook", "pause", &id]).await.ok();
    assert_eq!(paused.stdout.trim(), format!("{id} is paused"));
    let resumed = cli.run(&["webhook", "resume", &id, "--json"]).await.ok();
    assert_eq!(resumed.json()["paused"], false);

    let rotated = cli
        .run(&["webhook", "rotate-secret", &id, "--json"])
        .await
        .ok()
        .json();
    assert!(rotated["secret"].as_str().unwrap() != w["secret"].as_str().unwrap());
    assert!(
        rotated["previous_secret_expires_at"].is_string(),
        "{rotated}"
    );

    let tested = cli.run(&["webhook", "test", &id]).await.ok();
    assert!(tested.stdout.contains("succeeded"), "{tested:#?}");
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].header("X-Team"), "blue");

    let deleted = cli.run(&["webhook", "delete", &id, "--json"]).await.ok();
    assert_eq!(deleted.json()["deleted"], id.as_str());
    let (status, _) = env
        .call("GET", &format!("/v1/orgs/{{org}}/webhooks/{id}"), None)
        .await;
    assert_eq!(status, 404);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_tell_not_found_auth_invalid_usage_and_unreachable_apart() {
    let env = TestEnv::start(Backend::Sqlite).await;
    let cli = Cli::new(&env);

    let missing = cli.run(&["webhook", "show", "whk_nothing"]).await.code(3);
    assert!(missing.stderr.contains("HTTP 404"), "{missing:#?}");

    let mut cmd = cli.command(&["webhook", "list"]);
    cmd.env("SCAIHUB_KEY", "shk_not_a_real_key");
    let unauth = output(cmd, None).await.code(4);
    assert!(unauth.stderr.contains("HTTP 401"), "{unauth:#?}");

    // A key without admin:write is refused with 403: also exit code 4.
    let reader = cli
        .run(&[
            "user",
            "create",
            "--name",
            "reader",
            "--kind",
            "service",
            "--permission",
            "admin:read",
            "--json",
        ])
        .await
        .ok()
        .json();
    let key = cli
        .run(&["key", "create", reader["id"].as_str().unwrap(), "--json"])
        .await
        .ok()
        .json();
    let mut cmd = cli.command(&[
        "webhook",
        "create",
        "--name",
        "x",
        "--url",
        "http://127.0.0.1:9/",
        "--event",
        "ADMIN",
    ]);
    cmd.env("SCAIHUB_KEY", key["key"].as_str().unwrap());
    let forbidden = output(cmd, None).await.code(4);
    assert!(forbidden.stderr.contains("HTTP 403"), "{forbidden:#?}");

    // 422 names the field, in text and in JSON.
    let invalid = cli
        .run(&[
            "webhook",
            "create",
            "--name",
            "x",
            "--url",
            "ftp://example.com/",
            "--event",
            "ADMIN",
        ])
        .await
        .code(5);
    assert!(invalid.stderr.starts_with("error: url:"), "{invalid:#?}");
    let invalid = cli
        .run(&[
            "webhook",
            "create",
            "--name",
            "x",
            "--url",
            "http://127.0.0.1:9/",
            "--event",
            "NOPE",
            "--json",
        ])
        .await
        .code(5);
    let err = invalid.error_json();
    assert_eq!(err["status"], 422, "{err}");
    assert!(
        err["field"].as_str().unwrap().starts_with("events"),
        "{err}"
    );
    assert_eq!(err["exit_code"], 5);
    let missing_field = cli
        .run(&[
            "webhook",
            "create",
            "--url",
            "http://127.0.0.1:9/",
            "--event",
            "ADMIN",
            "--json",
        ])
        .await
        .code(5);
    assert_eq!(missing_field.error_json()["field"], "name");

    // Usage: a flag clap does not know, and local input that is not JSON.
    cli.run(&["webhook", "list", "--no-such-flag"])
        .await
        .code(2);
    let bad_json = cli
        .run(&["webhook", "edit", "whk_x", "--data", "{oops"])
        .await
        .code(2);
    assert!(bad_json.stderr.contains("--data"), "{bad_json:#?}");

    // Nothing listening: exit code 6.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = cli.command(&["webhook", "list"]);
    cmd.env("SCAIHUB_URL", format!("http://127.0.0.1:{port}"));
    let down = output(cmd, None).await.code(6);
    assert!(down.stderr.contains("cannot reach"), "{down:#?}");

    let help = cli.run(&["--help"]).await.ok();
    assert!(help.stdout.contains("Exit codes"), "{help:#?}");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_users_and_keys_round_trip() {
    let env = TestEnv::start(Backend::Sqlite).await;
    let cli = Cli::new(&env);

    let app = cli
        .run(&[
            "app",
            "create",
            "--name",
            "Reports",
            "--redirect-uri",
            "https://reports.example.com/cb",
            "--scope",
            "admin:read",
            "--json",
        ])
        .await
        .ok()
        .json();
    let app_id = app["client_id"].as_str().unwrap().to_string();
    assert!(app["client_secret"].as_str().unwrap().len() > 20, "{app}");
    let apps = cli.run(&["apps", "list"]).await.ok();
    assert!(
        apps.stdout.contains(&app_id) && apps.stdout.contains("Reports"),
        "{apps:#?}"
    );
    let rotated = cli
        .run(&["app", "rotate-secret", &app_id, "--json"])
        .await
        .ok()
        .json();
    assert_ne!(rotated["client_secret"], app["client_secret"]);
    let edited = cli
        .run(&[
            "app",
            "edit",
            &app_id,
            "--token-lifetime-secs",
            "600",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(edited["token_lifetime_secs"], 600);
    let refused = cli
        .run(&["app", "edit", &app_id, "--token-lifetime-secs", "5"])
        .await
        .code(5);
    assert!(
        refused.stderr.contains("token_lifetime_secs"),
        "{refused:#?}"
    );
    cli.run(&["app", "delete", &app_id]).await.ok();

    // A person, with the password from stdin.
    let person = cli
        .run_stdin(
            &[
                "user",
                "create",
                "--name",
                "Ada",
                "--kind",
                "human",
                "--permission",
                "admin:read",
                "--password-stdin",
                "--json",
            ],
            b"correct horse battery staple\n",
        )
        .await
        .ok()
        .json();
    assert_eq!(person["kind"], "human");

    // A service account with a key that works, then is revoked.
    let bot = cli
        .run(&[
            "user",
            "create",
            "--name",
            "bot",
            "--kind",
            "service",
            "--permission",
            "admin:read,events:write",
            "--json",
        ])
        .await
        .ok()
        .json();
    let bot_id = bot["id"].as_str().unwrap().to_string();
    let users = cli.run(&["user", "list"]).await.ok();
    assert!(
        users.stdout.contains("Ada") && users.stdout.contains(&bot_id),
        "{users:#?}"
    );
    let key = cli
        .run(&["key", "create", &bot_id, "--scope", "admin:read", "--json"])
        .await
        .ok()
        .json();
    let (key_id, secret) = (
        key["id"].as_str().unwrap().to_string(),
        key["key"].as_str().unwrap().to_string(),
    );
    let mut cmd = cli.command(&["whoami", "--json"]);
    cmd.env("SCAIHUB_KEY", &secret);
    let me = output(cmd, None).await.ok().json();
    assert_eq!(me["principal_id"], bot_id.as_str());
    assert_eq!(me["scopes"], serde_json::json!(["admin:read"]));
    let keys = cli.run(&["key", "list", &bot_id]).await.ok();
    assert!(keys.stdout.contains(&key_id), "{keys:#?}");
    assert!(!keys.stdout.contains(&secret), "{keys:#?}");
    let shown = cli.run(&["user", "show", &bot_id]).await.ok();
    assert!(shown.stdout.contains(&key_id), "{shown:#?}");
    cli.run(&["key", "revoke", &bot_id, &key_id]).await.ok();
    let mut cmd = cli.command(&["whoami"]);
    cmd.env("SCAIHUB_KEY", &secret);
    output(cmd, None).await.code(4);
    let renamed = cli
        .run(&["user", "edit", &bot_id, "--name", "robot", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(renamed["name"], "robot");
    cli.run(&["user", "delete", &bot_id]).await.ok();
    cli.run(&["user", "show", &bot_id]).await.code(3);
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_load_in_bash_and_cover_the_commands() {
    let env = TestEnv::start(Backend::Sqlite).await;
    let cli = Cli::new(&env);
    let bash = cli.run(&["completions", "bash"]).await.ok();
    for word in ["webhook", "delivery", "rotate-secret", "tail", "--json"] {
        assert!(
            bash.stdout.contains(word),
            "{word} missing from the bash script"
        );
    }
    let script = cli.home.path().join("scaihub.bash");
    std::fs::write(&script, &bash.stdout).unwrap();
    let loaded = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p scaihub",
            script.display()
        ))
        .output()
        .expect("bash runs");
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    assert!(String::from_utf8_lossy(&loaded.stdout).contains("scaihub"));
    for shell in ["zsh", "fish", "powershell"] {
        let script = cli.run(&["completions", shell]).await.ok();
        assert!(script.stdout.contains("webhook"), "{shell}");
    }
    env.finish().await;
}
