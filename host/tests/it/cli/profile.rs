//! The client's profile: from the environment, from the profile file
//! (written by `profile save`, chosen by name), from flags; and the key
//! never printed back, whatever the verbosity or the outcome.

use super::{Cli, Run, output};
use crate::support::{Backend, TestEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_comes_from_env_file_or_flags_and_the_key_never_shows() {
    let env = TestEnv::start(Backend::Sqlite).await;
    let cli = Cli::new(&env);
    let mut runs: Vec<Run> = Vec::new();

    // From the environment, verbosely: requests are shown, the key is not.
    let me = cli.run(&["whoami", "--json", "--verbose"]).await.ok();
    assert_eq!(me.json()["org_id"], env.org_id);
    assert!(me.stderr.contains("> GET"), "{me:#?}");
    assert!(me.stderr.contains("key: <redacted>"), "{me:#?}");
    runs.push(me);

    // Saved to the profile file, which only its owner can read.
    let saved = cli.run(&["profile", "save", "local"]).await.ok();
    let file = cli.home.path().join("config/scaihub/cli.toml");
    assert!(saved.stdout.contains("saved profile local"), "{saved:#?}");
    runs.push(saved);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // With no environment at all, the file's default profile is used.
    let mut cmd = cli.command(&["whoami", "--json", "-v"]);
    cmd.env_remove("SCAIHUB_URL").env_remove("SCAIHUB_KEY");
    let from_file = output(cmd, None).await.ok();
    assert_eq!(from_file.json()["org_id"], env.org_id);
    runs.push(from_file);

    let mut cmd = cli.command(&["profile", "show", "--json"]);
    cmd.env_remove("SCAIHUB_URL").env_remove("SCAIHUB_KEY");
    let show = output(cmd, None).await.ok();
    let shown = show.json();
    assert_eq!(shown["profile"], "local");
    assert_eq!(shown["key"], "<redacted>");
    assert!(
        shown["sources"]["key"]
            .as_str()
            .unwrap()
            .starts_with("file "),
        "{shown}"
    );
    runs.push(show);

    // A second profile with a bad key, chosen by name: 401 is exit code 4,
    // and neither key is printed.
    let bad_key = "shk_this_key_is_wrong_0123456789";
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&format!(
        "\n[profiles.wrong]\nurl = \"{}\"\nkey = \"{bad_key}\"\n",
        cli.base
    ));
    std::fs::write(&file, text).unwrap();
    let mut cmd = cli.command(&["whoami", "--profile", "wrong", "-v"]);
    cmd.env_remove("SCAIHUB_URL").env_remove("SCAIHUB_KEY");
    let refused = output(cmd, None).await.code(4);
    assert!(refused.stderr.contains("HTTP 401"), "{refused:#?}");
    assert!(!refused.all().contains(bad_key), "{refused:#?}");
    let mut cmd = cli.command(&["webhook", "list", "-v"]);
    cmd.env_remove("SCAIHUB_KEY")
        .env("SCAIHUB_PROFILE", "wrong");
    // The environment's URL with the file's (bad) key: still exit code 4.
    let mixed = output(cmd, None).await.code(4);
    assert!(!mixed.all().contains(bad_key), "{mixed:#?}");
    runs.push(refused);
    runs.push(mixed);

    // A key given as a flag beats the file's and is not echoed either.
    let mut cmd = cli.command(&["whoami", "--key", &env.admin_key, "--verbose"]);
    cmd.env_remove("SCAIHUB_KEY")
        .env("SCAIHUB_PROFILE", "wrong");
    let flagged = output(cmd, None).await.ok();
    assert!(flagged.stdout.contains(&env.org_id), "{flagged:#?}");
    runs.push(flagged);

    // A profile that does not exist is a usage error naming the flag.
    let missing = cli.run(&["whoami", "--profile", "staging"]).await.code(2);
    assert!(missing.stderr.contains("--profile"), "{missing:#?}");

    for run in &runs {
        assert!(
            !run.all().contains(&env.admin_key),
            "the key was printed: {run:#?}"
        );
    }
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_settings_are_usage_errors_naming_the_setting() {
    let env = TestEnv::start(Backend::Sqlite).await;
    let cli = Cli::new(&env);
    let mut cmd = cli.command(&["webhook", "list"]);
    cmd.env_remove("SCAIHUB_URL");
    let no_url = output(cmd, None).await.code(2);
    assert!(no_url.stderr.contains("SCAIHUB_URL"), "{no_url:#?}");
    let mut cmd = cli.command(&["webhook", "list"]);
    cmd.env_remove("SCAIHUB_KEY");
    let no_key = output(cmd, None).await.code(2);
    assert!(no_key.stderr.contains("SCAIHUB_KEY"), "{no_key:#?}");
    let mut cmd = cli.command(&["webhook", "list"]);
    cmd.env("SCAIHUB_URL", "ftp://example.com");
    let bad_url = output(cmd, None).await.code(2);
    assert!(bad_url.stderr.contains("SCAIHUB_URL:"), "{bad_url:#?}");
    // A broken profile file names its line, without quoting the line.
    let path = cli.home.path().join("broken.toml");
    std::fs::write(&path, "[profiles.x]\nkey = shk_unquoted_secret\n").unwrap();
    let mut cmd = cli.command(&["webhook", "list"]);
    cmd.env("SCAIHUB_CLI_CONFIG", &path);
    let broken = output(cmd, None).await.code(2);
    assert!(broken.stderr.contains("line 2"), "{broken:#?}");
    assert!(!broken.all().contains("shk_unquoted_secret"), "{broken:#?}");
    env.finish().await;
}
