//! `scaihub plugin …`: make a project (`new`), run a component here or on
//! the server (`test`), upload with a progress bar, list, show, delete,
//! and attach to or detach from a webhook.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::Client;
use super::error::{CliError, CliResult};
use super::output::{self, Output};
use super::profile::ClientOpts;
use super::progress::{Progress, UploadProgress};
use super::sandbox::{Kind, SandboxLimits};
use super::scaffold::NewArgs;
use super::{input, sandbox, scaffold};

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Make a plugin project (Rust, TypeScript or Python) that builds as is.
    New(NewArgs),
    /// Run a plugin on an event. A .wasm FILE runs here, with no server, in
    /// the server's own sandbox and limits; a plugin id (plg_…) runs on the
    /// server. Prints the verdict or the transformed request, time and fuel.
    Test {
        /// A .wasm file, or the id of an uploaded plugin.
        #[arg(value_name = "FILE.wasm|PLUGIN_ID")]
        target: String,
        /// The event: a JSON file, or - for stdin; a sample SHARING event when absent.
        #[arg(long, value_name = "FILE")]
        event: Option<PathBuf>,
        /// The plugin's configuration: JSON, @FILE or -.
        #[arg(long, value_name = "JSON")]
        config: Option<String>,
        /// filter or transform; a local component's own world when absent.
        #[arg(long)]
        kind: Option<Kind>,
        #[command(flatten)]
        limits: SandboxLimits,
    },
    /// Upload a .wasm component as the next version of NAME.
    Upload {
        #[arg(value_name = "FILE.wasm")]
        file: PathBuf,
        /// The plugin's name; the file's name without .wasm when absent.
        #[arg(long)]
        name: Option<String>,
        /// The world the component exports.
        #[arg(long)]
        kind: Kind,
        /// Answer as soon as the upload is accepted, without waiting for
        /// the server to finish compiling.
        #[arg(long)]
        no_wait: bool,
        /// When to draw the progress bar on stderr (auto: on a terminal).
        #[arg(long, value_enum, default_value_t = Progress::Auto)]
        progress: Progress,
    },
    /// List plugin versions usable here (this organisation's and its MSP's).
    #[command(visible_alias = "ls")]
    List,
    /// Show one plugin version.
    Show { id: String },
    /// Delete a plugin version no webhook uses.
    #[command(visible_alias = "rm")]
    Delete { id: String },
    /// Attach a plugin version to a webhook: a filter joins its filters (or
    /// replaces the same version's entry), a transform becomes its transform.
    Attach {
        plugin: String,
        #[arg(long)]
        webhook: String,
        /// The plugin's configuration for this webhook: JSON, @FILE or -.
        #[arg(long, value_name = "JSON")]
        config: Option<String>,
    },
    /// Detach a plugin version from a webhook.
    Detach {
        plugin: String,
        #[arg(long)]
        webhook: String,
    },
}

/// Runs a plugin command; `connect` makes the client only for the
/// commands that talk to a server.
pub async fn run(
    cmd: Cmd,
    opts: &ClientOpts,
    connect: impl FnOnce(&ClientOpts) -> CliResult<Client>,
) -> CliResult<()> {
    let out = Output { json: opts.json };
    match cmd {
        Cmd::New(args) => scaffold::run(&args, out),
        Cmd::Test {
            target,
            event,
            config,
            kind,
            limits,
        } => {
            let event = match event {
                Some(path) => {
                    let bytes = input::read_source(&path, "--event")?;
                    serde_json::from_slice(&bytes).map_err(|e| {
                        CliError::usage(format!("--event {}: not valid JSON: {e}", path.display()))
                    })?
                }
                None => sample_event(),
            };
            let config = match config {
                Some(c) => input::json_arg(&c, "--config")?,
                None => Value::Null,
            };
            let answer = if is_local(&target) {
                let limits = limits.resolve()?;
                sandbox::run(
                    Path::new(&target),
                    kind.map(Kind::plugin_kind),
                    &event,
                    &config,
                    limits,
                )
                .await?
            } else {
                if limits != SandboxLimits::default() {
                    return Err(CliError::usage(
                        "--plugin-*: sandbox limits apply to a local .wasm; the server runs its own",
                    ));
                }
                let client = connect(opts)?;
                client
                    .org_call(
                        Method::POST,
                        &["plugins", &target, "test"],
                        &[],
                        Some(&json!({"event": event, "config": config})),
                    )
                    .await?
            };
            out.show(&answer, test_table);
            match answer["error"].as_str() {
                Some(e) => Err(CliError::failed(e.to_string())),
                None => Ok(()),
            }
        }
        Cmd::Upload {
            file,
            name,
            kind,
            no_wait,
            progress,
        } => {
            let client = connect(opts)?;
            let v = upload(&client, &file, name, kind, no_wait, progress).await?;
            out.show(&v, details);
            Ok(())
        }
        Cmd::List => {
            let client = connect(opts)?;
            let v = client
                .org_call(Method::GET, &["plugins"], &[], None)
                .await?;
            out.show(&v, |v| {
                output::list(
                    v.as_array().map(Vec::as_slice).unwrap_or(&[]),
                    &[
                        ("ID", "id"),
                        ("NAME", "name"),
                        ("VERSION", "version"),
                        ("KIND", "kind"),
                        ("SIZE", "size"),
                        ("STATUS", "status"),
                        ("CREATED", "created_at"),
                    ],
                )
            });
            Ok(())
        }
        Cmd::Show { id } => {
            let client = connect(opts)?;
            let v = client
                .org_call(Method::GET, &["plugins", &id], &[], None)
                .await?;
            out.show(&v, details);
            Ok(())
        }
        Cmd::Delete { id } => {
            let client = connect(opts)?;
            client
                .org_call(Method::DELETE, &["plugins", &id], &[], None)
                .await?;
            out.show(&json!({"deleted": id}), |_| println!("deleted {id}"));
            Ok(())
        }
        Cmd::Attach {
            plugin,
            webhook,
            config,
        } => {
            let client = connect(opts)?;
            let config = match config {
                Some(c) => input::json_arg(&c, "--config")?,
                None => Value::Null,
            };
            let v = attach(&client, &plugin, &webhook, Some(config)).await?;
            out.show(&v, super::webhooks::details);
            Ok(())
        }
        Cmd::Detach { plugin, webhook } => {
            let client = connect(opts)?;
            let v = attach(&client, &plugin, &webhook, None).await?;
            out.show(&v, super::webhooks::details);
            Ok(())
        }
    }
}

/// A test target is local when it is a file here or is named like one.
fn is_local(target: &str) -> bool {
    target.ends_with(".wasm") || Path::new(target).is_file()
}

/// A plausible event for trying a plugin without writing one.
pub fn sample_event() -> Value {
    json!({
        "event_id": "evt_cli_sample",
        "timestamp": "2026-01-01T12:00:00Z",
        "category": "SHARING",
        "action": "share.member_added",
        "user_id": "usr_sample",
        "resource_id": "shr_sample",
        "payload": {"principal_id": "usr_other", "role": "contributor"}
    })
}

async fn upload(
    client: &Client,
    file: &Path,
    name: Option<String>,
    kind: Kind,
    no_wait: bool,
    progress: Progress,
) -> CliResult<Value> {
    let bytes = std::fs::read(file)
        .map_err(|e| CliError::usage(format!("FILE.wasm: {}: {e}", file.display())))?;
    let name = match name {
        Some(n) => n,
        None => file
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_ascii_lowercase)
            .ok_or_else(|| CliError::usage("--name: cannot be taken from the file's name"))?,
    };
    let kind_text = kind.plugin_kind().as_str();
    let mut url = client.org_url(&["plugins"]).await?;
    url.query_pairs_mut()
        .append_pair("name", &name)
        .append_pair("kind", kind_text);
    let bar = UploadProgress::new(progress, bytes.len() as u64, &name);
    // Uploads of large components compile before the answer on older
    // servers: give them longer than an ordinary call.
    let timeout = Duration::from_secs(600);
    let answer = client
        .send_body(
            Method::POST,
            url,
            "application/wasm",
            bar.body(bytes),
            timeout,
        )
        .await;
    let mut v = match answer {
        Ok(v) => v,
        Err(e) => {
            bar.abandon();
            return Err(e);
        }
    };
    if no_wait {
        bar.finish("uploaded");
        return Ok(v);
    }
    // A server that compiles in the background answers `compiling`; one
    // without a `status` compiled before answering.
    let id = output::cell(&v, "id");
    while v["status"] == "compiling" {
        bar.compiling();
        tokio::time::sleep(Duration::from_millis(500)).await;
        v = client
            .org_call(Method::GET, &["plugins", &id], &[], None)
            .await?;
    }
    if v["status"] == "failed" {
        bar.abandon();
        return Err(CliError::Invalid {
            field: "FILE.wasm".into(),
            message: format!(
                "the server could not compile {}: {}",
                file.display(),
                output::cell(&v, "status_reason")
            ),
        });
    }
    bar.finish("ready");
    Ok(v)
}

/// Attaches (with `Some(config)`) or detaches (`None`) a plugin version.
async fn attach(
    client: &Client,
    plugin: &str,
    webhook: &str,
    config: Option<Value>,
) -> CliResult<Value> {
    let p = client
        .org_call(Method::GET, &["plugins", plugin], &[], None)
        .await?;
    let w = client
        .org_call(Method::GET, &["webhooks", webhook], &[], None)
        .await?;
    let patch = match (p["kind"].as_str(), config) {
        (Some("filter"), config) => {
            let mut filters: Vec<Value> =
                w["filter_plugins"].as_array().cloned().unwrap_or_default();
            let at = filters.iter().position(|f| f["plugin_id"] == plugin);
            match (config, at) {
                (Some(c), Some(i)) => filters[i] = json!({"plugin_id": plugin, "config": c}),
                (Some(c), None) => filters.push(json!({"plugin_id": plugin, "config": c})),
                (None, Some(i)) => {
                    filters.remove(i);
                }
                (None, None) => return Err(not_attached(plugin, webhook)),
            }
            json!({"filter_plugins": filters})
        }
        (Some("transform"), Some(c)) => {
            json!({"transform_plugin": {"plugin_id": plugin, "config": c}})
        }
        (Some("transform"), None) => {
            if w["transform_plugin"]["plugin_id"] != plugin {
                return Err(not_attached(plugin, webhook));
            }
            json!({"transform_plugin": null})
        }
        (other, _) => {
            return Err(CliError::failed(format!(
                "plugin {plugin} has an unknown kind {other:?}"
            )));
        }
    };
    client
        .org_call(Method::PATCH, &["webhooks", webhook], &[], Some(&patch))
        .await
}

fn not_attached(plugin: &str, webhook: &str) -> CliError {
    CliError::Invalid {
        field: "PLUGIN".into(),
        message: format!("{plugin} is not attached to {webhook}"),
    }
}

fn details(v: &Value) {
    output::details(
        v,
        &[
            ("id", "id"),
            ("name", "name"),
            ("version", "version"),
            ("kind", "kind"),
            ("status", "status"),
            ("reason", "status_reason"),
            ("size", "size"),
            ("sha256", "sha256"),
            ("organisation", "org_id"),
            ("created", "created_at"),
        ],
    );
}

fn test_table(v: &Value) {
    let mut rows: Vec<(&str, String)> = Vec::new();
    if v.get("kind").is_some() {
        rows.push(("kind", output::cell(v, "kind")));
    }
    if let Some(verdict) = v.get("verdict") {
        rows.push(("verdict", output::text(verdict)));
    }
    if let Some(r) = v.get("request") {
        rows.push(("content type", output::cell(r, "content_type")));
        let headers: Vec<String> = r["headers"]
            .as_array()
            .map(|hs| {
                hs.iter()
                    .map(|h| format!("{}: {}", output::cell(h, "/0"), output::cell(h, "/1")))
                    .collect()
            })
            .unwrap_or_default();
        rows.push((
            "headers",
            if headers.is_empty() {
                "-".into()
            } else {
                headers.join("; ")
            },
        ));
        rows.push(("body", output::cell(r, "body")));
    }
    if let Some(e) = v.get("error") {
        rows.push(("error", output::text(e)));
    }
    let us = v["duration_us"].as_u64().unwrap_or(0);
    rows.push(("duration", format!("{:.3} ms", us as f64 / 1000.0)));
    rows.push(("fuel used", output::cell(v, "fuel_used")));
    output::pairs(&rows);
}
