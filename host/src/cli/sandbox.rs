//! `scaihub plugin test FILE.wasm`: runs a component on this machine, with
//! no server, through the server's own [`PluginRuntime`]: the same
//! validation and compilation as an upload, the same sandbox (fresh store,
//! empty WASI context, memory cap, fuel, time budget, output cap) and the
//! same limits, read from the same `SCAIHUB_PLUGIN_*` flags, environment
//! variables and defaults as `scaihub serve` — they are parsed by the
//! server's own settings, so the two cannot drift apart.

use std::path::Path;

use clap::{Args, Parser, ValueEnum};
use serde_json::{Value, json};

use super::error::{CliError, CliResult};
use crate::config::{Cli, Command};
use crate::domain::Event;
use crate::plugin::{
    CallError, CallReport, OutgoingRequest, PluginEvent, PluginKind, PluginLimits, PluginRuntime,
    UploadError,
};

/// A plugin's world.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    Filter,
    Transform,
}

impl Kind {
    pub fn plugin_kind(self) -> PluginKind {
        match self {
            Kind::Filter => PluginKind::Filter,
            Kind::Transform => PluginKind::Transform,
        }
    }
}

/// The sandbox's limits for a local run; each absent one is the server's:
/// its environment variable, else its default.
#[derive(Debug, Default, PartialEq, Args)]
pub struct SandboxLimits {
    /// Largest component, KiB [env: SCAIHUB_PLUGIN_MAX_MODULE_KIB].
    #[arg(long, value_name = "KIB", help_heading = "Sandbox (local runs)")]
    pub plugin_max_module_kib: Option<usize>,
    /// Memory cap of a call, MiB [env: SCAIHUB_PLUGIN_MEMORY_MIB].
    #[arg(long, value_name = "MIB", help_heading = "Sandbox (local runs)")]
    pub plugin_memory_mib: Option<usize>,
    /// Fuel of a call [env: SCAIHUB_PLUGIN_FUEL].
    #[arg(long, value_name = "FUEL", help_heading = "Sandbox (local runs)")]
    pub plugin_fuel: Option<u64>,
    /// Time cap of a call, ms of the guest's own running [env: SCAIHUB_PLUGIN_TIMEOUT_MS].
    #[arg(long, value_name = "MS", help_heading = "Sandbox (local runs)")]
    pub plugin_timeout_ms: Option<u64>,
    /// Largest output of a transform, KiB [env: SCAIHUB_PLUGIN_MAX_OUTPUT_KIB].
    #[arg(long, value_name = "KIB", help_heading = "Sandbox (local runs)")]
    pub plugin_max_output_kib: Option<usize>,
}

impl SandboxLimits {
    /// The limits `scaihub serve` would run plugins under, given these flags.
    pub fn resolve(&self) -> CliResult<PluginLimits> {
        let mut argv = vec!["scaihub".to_string(), "serve".to_string()];
        let mut flag = |name: &str, value: Option<String>| {
            if let Some(v) = value {
                argv.push(format!("--{name}={v}"));
            }
        };
        flag(
            "plugin-max-module-kib",
            self.plugin_max_module_kib.map(|v| v.to_string()),
        );
        flag(
            "plugin-memory-mib",
            self.plugin_memory_mib.map(|v| v.to_string()),
        );
        flag("plugin-fuel", self.plugin_fuel.map(|v| v.to_string()));
        flag(
            "plugin-timeout-ms",
            self.plugin_timeout_ms.map(|v| v.to_string()),
        );
        flag(
            "plugin-max-output-kib",
            self.plugin_max_output_kib.map(|v| v.to_string()),
        );
        let cli = Cli::try_parse_from(argv).map_err(|e| {
            CliError::usage(format!("sandbox limits: {}", e.render().to_string().trim()))
        })?;
        let Command::Serve(args) = cli.command else {
            unreachable!("parsed as `serve`")
        };
        // All of them as they are, the concurrency too: it sizes the
        // instance pool, whose totals a large component (a Python one has
        // more than eight core instances) must fit in.
        crate::server::plugin_limits(&args).map_err(|e| CliError::usage(e.to_string()))
    }
}

/// Runs `wasm_path` on `event` with `config`; answers what the server's
/// test endpoint answers (`verdict` or `request`, or `error`, with
/// `duration_us`, `fuel_used`) plus the component's `kind`.
pub async fn run(
    wasm_path: &Path,
    kind: Option<PluginKind>,
    event: &Value,
    config: &Value,
    limits: PluginLimits,
) -> CliResult<Value> {
    let event = Event::from_json(event, "event").map_err(|e| CliError::Invalid {
        field: e.field,
        message: e.message,
    })?;
    let wasm = std::fs::read(wasm_path)
        .map_err(|e| CliError::usage(format!("{}: {e}", wasm_path.display())))?;
    let runtime = PluginRuntime::new(limits)
        .map_err(|e| CliError::failed(format!("cannot start the plugin engine: {e:#}")))?;
    let (kind, artifact) = compile(&runtime, &wasm, kind, wasm_path)?;
    let loaded = runtime
        .load("local", kind, &artifact)
        .map_err(|e| CliError::failed(e.to_string()))?;
    let config = config.to_string();
    let plugin_event = PluginEvent::from_event(&event);
    let tenant = "local";
    let (outcome, report): (Result<Value, CallError>, CallReport) = match kind {
        PluginKind::Filter => {
            let (r, report) = runtime
                .filter(tenant, loaded, &plugin_event, &config, None)
                .await;
            (
                r.map(|deliver| json!({"verdict": if deliver { "deliver" } else { "skip" }})),
                report,
            )
        }
        PluginKind::Transform => {
            // What the server's test call gives a transform: the event's
            // own body, as JSON, with no headers yet.
            let request = OutgoingRequest {
                body: event.to_body().into_bytes(),
                headers: Vec::new(),
                content_type: "application/json".into(),
            };
            let (r, report) = runtime
                .transform(tenant, loaded, &plugin_event, request, &config, None)
                .await;
            (
                r.map(|req| {
                    json!({"request": {
                        "body": String::from_utf8_lossy(&req.body),
                        "headers": req.headers,
                        "content_type": req.content_type,
                    }})
                }),
                report,
            )
        }
    };
    let mut answer = outcome.unwrap_or_else(|e| json!({"error": e.to_string()}));
    answer["kind"] = kind.as_str().into();
    answer["duration_us"] = (report.duration.as_micros() as u64).into();
    answer["fuel_used"] = report.fuel_used.into();
    Ok(answer)
}

/// Validates and compiles as an upload does. Without a declared kind the
/// component's own world is taken (a second compile only for a transform).
fn compile(
    runtime: &PluginRuntime,
    wasm: &[u8],
    declared: Option<PluginKind>,
    path: &Path,
) -> CliResult<(PluginKind, Vec<u8>)> {
    let first = declared.unwrap_or(PluginKind::Filter);
    let refused = |e: UploadError| match e {
        UploadError::WrongKind { .. } => CliError::Invalid {
            field: "--kind".into(),
            message: e.to_string(),
        },
        other => CliError::Invalid {
            field: path.display().to_string(),
            message: other.to_string(),
        },
    };
    match runtime.compile(wasm, first) {
        Ok(artifact) => Ok((first, artifact)),
        Err(UploadError::WrongKind { found, .. }) if declared.is_none() => {
            let kind = PluginKind::parse(found).expect("the runtime names a known kind");
            runtime
                .compile(wasm, kind)
                .map(|a| (kind, a))
                .map_err(refused)
        }
        Err(e) => Err(refused(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_set_limits_and_bad_ones_name_the_setting() {
        let limits = SandboxLimits {
            plugin_fuel: Some(1234),
            plugin_memory_mib: Some(8),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(limits.fuel, 1234);
        assert_eq!(limits.max_memory_bytes, 8 * 1024 * 1024);
        let err = SandboxLimits {
            plugin_memory_mib: Some(0),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(
            err.to_string().contains("SCAIHUB_PLUGIN_MEMORY_MIB"),
            "{err}"
        );
    }
}
