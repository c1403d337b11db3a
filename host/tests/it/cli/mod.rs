//! The `scaihub` command line, driven as a user drives it: the real binary
//! in a child process, talking HTTP to a real server on port 0, with its
//! own home folder (so no profile file of the machine's user leaks in).
//! Client scenarios run on SQLite: the CLI sees only the HTTP API, which
//! the rest of the suite checks on both stores.

mod admin;
mod deliveries;
mod plugins;
mod profile;

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::support::TestEnv;

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts exit code 0.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "{self:#?}");
        self
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn code(self, code: i32) -> Run {
        assert_eq!(self.code, code, "{self:#?}");
        self
    }

    /// Stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    /// Stderr as JSON (a `--json` error).
    #[track_caller]
    pub fn error_json(&self) -> Value {
        serde_json::from_str(self.stderr.trim())
            .unwrap_or_else(|e| panic!("stderr is not JSON ({e}): {self:#?}"))
    }

    /// Everything the run printed.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// The CLI pointed at a test server with its admin key (in the environment).
pub struct Cli {
    pub base: String,
    pub key: String,
    pub home: tempfile::TempDir,
}

impl Cli {
    pub fn new(env: &TestEnv) -> Cli {
        Cli {
            base: env.base.clone(),
            key: env.admin_key.clone(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// The binary with `args`, a clean environment: a home of its own,
    /// `SCAIHUB_URL` and `SCAIHUB_KEY` set, PATH kept.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_scaihub"));
        cmd.args(args)
            .env_clear()
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("SCAIHUB_URL", &self.base)
            .env("SCAIHUB_KEY", &self.key)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .kill_on_drop(true);
        cmd
    }

    pub async fn run(&self, args: &[&str]) -> Run {
        output(self.command(args), None).await
    }

    pub async fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Run {
        output(self.command(args), Some(stdin)).await
    }
}

/// Runs `cmd` to its end, feeding `stdin`. The bound is generous: a local
/// test of a 12-18 MB JavaScript or Python component compiles it in this
/// debug build, which takes minutes on a busy machine.
pub async fn output(mut cmd: tokio::process::Command, stdin: Option<&[u8]>) -> Run {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the scaihub binary starts");
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(bytes).await.unwrap();
        drop(pipe);
    }
    let out = tokio::time::timeout(Duration::from_secs(900), child.wait_with_output())
        .await
        .expect("scaihub finished within 15 minutes")
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
