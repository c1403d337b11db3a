//! The `scaihub` command line: the server's commands (`serve`,
//! `rotate-signing-key`, from [`crate::config`]) and the client commands,
//! which talk to a running ScaiHub over its HTTP API.
//!
//! # Layout
//! - `mod.rs` (here): the whole command tree and the dispatch, nothing else.
//! - [`profile`]: the server URL, key and organisation, from flags, the
//!   environment or the profile file; the key is never shown.
//! - [`client`]: the HTTP client; [`error`]: errors and exit codes;
//!   [`output`]: tables and `--json`; [`input`]: JSON from files and stdin;
//!   [`progress`]: the upload progress bar.
//! - One file per resource group: [`webhooks`], [`deliveries`], [`events`],
//!   [`plugins`] (with [`sandbox`], the local run of a component in the
//!   server's own runtime, and [`scaffold`], `plugin new`),
//!   [`applications`], [`users`] (users and API keys).
//!
//! The client sits on top of the crate: it uses `config` and `server` only
//! to run a plugin locally under the limits `serve` would apply.

pub mod applications;
pub mod client;
pub mod deliveries;
pub mod error;
pub mod events;
pub mod input;
pub mod output;
pub mod plugins;
pub mod profile;
pub mod progress;
pub mod sandbox;
pub mod scaffold;
pub mod users;
pub mod webhooks;

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use reqwest::Method;
use serde_json::json;

use self::client::Client;
use self::error::{CliError, CliResult, Exit};
use self::output::Output;
use self::profile::{ClientOpts, ProcessEnv};

const EXIT_CODES: &str = "\
Client commands read the server's URL and a key from --server/--key, else
SCAIHUB_URL/SCAIHUB_KEY, else a profile of the profile file (see
`scaihub profile --help`). They print tables, or the API's JSON with --json.

Exit codes:
  0  done
  1  failed (server error, conflict, a plugin that failed its test)
  2  usage (a bad flag, file or missing setting)
  3  not found (HTTP 404)
  4  authentication or permission (HTTP 401, 403)
  5  input refused (HTTP 400, 413, 422; the message names the field)
  6  the server could not be reached";

/// The command line of the `scaihub` binary.
#[derive(Debug, Parser)]
#[command(
    name = "scaihub",
    version,
    about = "Signed webhooks, plugins and OAuth applications for ScaiDrive",
    after_help = EXIT_CODES
)]
pub struct Args {
    #[command(subcommand)]
    pub command: TopCommand,
}

macro_rules! group {
    ($name:ident, $cmd:ty) => {
        #[derive(Debug, clap::Args)]
        pub struct $name {
            #[command(flatten)]
            pub opts: ClientOpts,
            #[command(subcommand)]
            pub cmd: $cmd,
        }
    };
}

group!(WebhookArgs, webhooks::Cmd);
group!(DeliveryArgs, deliveries::Cmd);
group!(EventArgs, events::Cmd);
group!(PluginArgs, plugins::Cmd);
group!(AppArgs, applications::Cmd);
group!(UserArgs, users::UserCmd);
group!(KeyArgs, users::KeyCmd);
group!(ProfileArgs, ProfileCmd);

#[derive(Debug, Subcommand)]
pub enum TopCommand {
    #[command(flatten)]
    Server(crate::config::Command),
    /// Webhooks: list, show, create, edit, pause, resume, rotate-secret, test, delete.
    #[command(visible_alias = "webhooks")]
    Webhook(WebhookArgs),
    /// Deliveries: list, show, redeliver, recover, tail.
    #[command(visible_alias = "deliveries")]
    Delivery(DeliveryArgs),
    /// Events: send one or many, from files or stdin.
    #[command(visible_alias = "events")]
    Event(EventArgs),
    /// Plugins: new, test (here or on the server), upload, list, show, delete, attach, detach.
    #[command(visible_alias = "plugins")]
    Plugin(PluginArgs),
    /// OAuth applications: list, show, create, edit, rotate-secret, delete.
    #[command(visible_aliases = ["apps", "application"])]
    App(AppArgs),
    /// Users: list, show, create, edit, delete.
    #[command(visible_alias = "users")]
    User(UserArgs),
    /// Personal API keys of service accounts: create, list, revoke.
    #[command(visible_aliases = ["keys", "api-key"])]
    Key(KeyArgs),
    /// The profile the client commands use: show it (never the key) or save it.
    Profile(ProfileArgs),
    /// Who the key belongs to: principal, organisation, scopes.
    Whoami {
        #[command(flatten)]
        opts: ClientOpts,
    },
    /// Print a completion script for a shell, e.g.
    /// `scaihub completions bash > /etc/bash_completion.d/scaihub`.
    Completions { shell: clap_complete::Shell },
}

/// The profile file is TOML: `default = "NAME"` and a table per profile,
/// `[profiles.NAME]` with `url`, `key` and optionally `org`. Keep it
/// readable by you only (`profile save` writes it so).
#[derive(Debug, Subcommand)]
pub enum ProfileCmd {
    /// Show the resolved URL, organisation and where each setting came from.
    Show,
    /// Save the current URL, key and organisation (from flags or the
    /// environment) as profile NAME; the first saved becomes the default.
    Save { name: String },
}

/// Runs a client command (anything but the server's own) to an exit code.
pub async fn run(command: TopCommand) -> ExitCode {
    let json = match &command {
        TopCommand::Webhook(a) => a.opts.json,
        TopCommand::Delivery(a) => a.opts.json,
        TopCommand::Event(a) => a.opts.json,
        TopCommand::Plugin(a) => a.opts.json,
        TopCommand::App(a) => a.opts.json,
        TopCommand::User(a) => a.opts.json,
        TopCommand::Key(a) => a.opts.json,
        TopCommand::Profile(a) => a.opts.json,
        TopCommand::Whoami { opts } => opts.json,
        TopCommand::Completions { .. } | TopCommand::Server(_) => false,
    };
    match dispatch(command).await {
        Ok(()) => Exit::Ok.into(),
        Err(e) => {
            if json {
                eprintln!("{}", e.to_json());
            } else {
                eprintln!("error: {e}");
            }
            e.exit().into()
        }
    }
}

fn connect(opts: &ClientOpts) -> CliResult<Client> {
    let profile = profile::resolve(opts, &ProcessEnv)?;
    Client::new(
        profile,
        Duration::from_secs(opts.timeout_secs.max(1)),
        opts.verbose,
    )
}

fn out(opts: &ClientOpts) -> Output {
    Output { json: opts.json }
}

async fn dispatch(command: TopCommand) -> CliResult<()> {
    match command {
        TopCommand::Server(_) => Err(CliError::usage("not a client command")),
        TopCommand::Webhook(a) => webhooks::run(a.cmd, &connect(&a.opts)?, out(&a.opts)).await,
        TopCommand::Delivery(a) => deliveries::run(a.cmd, &connect(&a.opts)?, out(&a.opts)).await,
        TopCommand::Event(a) => events::run(a.cmd, &connect(&a.opts)?, out(&a.opts)).await,
        TopCommand::Plugin(a) => plugins::run(a.cmd, &a.opts, connect).await,
        TopCommand::App(a) => applications::run(a.cmd, &connect(&a.opts)?, out(&a.opts)).await,
        TopCommand::User(a) => users::run_users(a.cmd, &connect(&a.opts)?, out(&a.opts)).await,
        TopCommand::Key(a) => users::run_keys(a.cmd, &connect(&a.opts)?, out(&a.opts)).await,
        TopCommand::Profile(a) => profile_cmd(a),
        TopCommand::Whoami { opts } => {
            let client = connect(&opts)?;
            let me = client.call(Method::GET, &["v1", "me"], None).await?;
            out(&opts).show(&me, |v| {
                output::details(
                    v,
                    &[
                        ("principal", "principal_id"),
                        ("organisation", "org_id"),
                        ("kind", "kind"),
                        ("scopes", "scopes"),
                        ("service account", "service_account"),
                    ],
                )
            });
            Ok(())
        }
        TopCommand::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Args::command(),
                "scaihub",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    }
}

fn profile_cmd(a: ProfileArgs) -> CliResult<()> {
    let p = profile::resolve(&a.opts, &ProcessEnv)?;
    match a.cmd {
        ProfileCmd::Show => {
            let shown = json!({
                "profile": p.name,
                "url": p.url.as_str(),
                "org": p.org,
                "key": "<redacted>",
                "sources": {
                    "url": p.url_source.to_string(),
                    "key": p.key_source.to_string(),
                    "org": p.org_source.as_ref().map(ToString::to_string),
                },
            });
            out(&a.opts).show(&shown, |_| {
                output::pairs(&[
                    ("profile", p.name.clone().unwrap_or_else(|| "-".into())),
                    ("url", format!("{} (from {})", p.url, p.url_source)),
                    (
                        "organisation",
                        match (&p.org, &p.org_source) {
                            (Some(o), Some(s)) => format!("{o} (from {s})"),
                            _ => "the key's own".into(),
                        },
                    ),
                    ("key", format!("set, not shown (from {})", p.key_source)),
                ])
            });
            Ok(())
        }
        ProfileCmd::Save { name } => {
            let (path, _) = profile::file_path(&a.opts, &ProcessEnv).ok_or_else(|| {
                CliError::usage("--cli-config: no config folder here; give the file's path")
            })?;
            profile::save(&path, &name, &p)?;
            out(&a.opts).show(
                &json!({"saved": name, "file": path.display().to_string()}),
                |_| println!("saved profile {name} in {}", path.display()),
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_tree_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn server_flag_does_not_shadow_a_webhooks_url() {
        let args = Args::try_parse_from([
            "scaihub",
            "webhook",
            "create",
            "--server",
            "http://hub:8080",
            "--url",
            "http://receiver/",
            "--name",
            "n",
            "--event",
            "ADMIN",
        ])
        .unwrap();
        let TopCommand::Webhook(w) = args.command else {
            panic!("not a webhook command")
        };
        assert_eq!(w.opts.server.as_deref(), Some("http://hub:8080"));
        assert!(format!("{:?}", w.cmd).contains("http://receiver/"));
    }
}
