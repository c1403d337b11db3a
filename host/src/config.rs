//! Settings: one `clap` struct, filled from flags, then environment
//! variables, then an optional config file (`KEY = value` lines using the
//! environment names), validated once at start.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;

/// The command line of the `scaihub` binary.
#[derive(Debug, Parser)]
#[command(
    name = "scaihub",
    version,
    about = "Signed webhooks, plugins and OAuth applications for ScaiDrive"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API, the console and the delivery workers.
    Serve(ServeArgs),
    /// Make a new token-signing key the active one. Tokens signed by the
    /// previous key keep verifying until they expire; running servers pick
    /// the new key up when they meet a token signed with it, or at restart.
    RotateSigningKey(ServeArgs),
}

/// Settings of `scaihub serve`.
#[derive(Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SCAIHUB_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// `sqlite://PATH` or `postgres://…`; SQLite under the data dir when absent.
    #[arg(long, env = "SCAIHUB_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Folder for the SQLite file and the generated master key.
    #[arg(long, env = "SCAIHUB_DATA_DIR", default_value = "./scaihub-data")]
    pub data_dir: PathBuf,

    /// On first start of an empty store: the bootstrap admin API key.
    #[arg(long, env = "SCAIHUB_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,

    /// Key that encrypts secrets at rest: 64 hex digits. Generated into the
    /// data dir for SQLite; required for PostgreSQL.
    #[arg(long, env = "SCAIHUB_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,

    /// Comma list of retry delays after a failed attempt.
    #[arg(
        long,
        env = "SCAIHUB_RETRY_SCHEDULE",
        default_value = "30s,1m,5m,15m,1h,6h,24h"
    )]
    pub retry_schedule: String,

    /// CIDRs that webhooks may reach although internal (e.g. 127.0.0.0/8,::1/128).
    #[arg(long, env = "SCAIHUB_ALLOW_DESTINATIONS", default_value = "")]
    pub allow_destinations: String,

    /// Issuer and base URL used in tokens and links; `http://{listen}` when absent.
    #[arg(long, env = "SCAIHUB_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// How long one delivery attempt may take, connect to last byte (seconds).
    #[arg(long, env = "SCAIHUB_DELIVERY_TIMEOUT_SECS", default_value_t = 15)]
    pub delivery_timeout_secs: u64,

    /// How long a worker holds a claimed delivery before another process may
    /// take it over (seconds); must exceed the delivery timeout.
    #[arg(long, env = "SCAIHUB_LEASE_SECS", default_value_t = 60)]
    pub lease_secs: u64,

    /// Attempts in flight at once, across all webhooks, on this host:
    /// processes on one host sharing a PostgreSQL database split it.
    #[arg(long, env = "SCAIHUB_MAX_IN_FLIGHT", default_value_t = 256)]
    pub max_in_flight: usize,

    /// Attempts in flight at once to one webhook from this process, so one
    /// slow receiver cannot take every slot.
    #[arg(long, env = "SCAIHUB_MAX_IN_FLIGHT_PER_WEBHOOK", default_value_t = 64)]
    pub max_in_flight_per_webhook: usize,

    /// Largest accepted request body, in bytes (events, webhooks).
    #[arg(long, env = "SCAIHUB_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Largest plugin upload (KiB).
    #[arg(long, env = "SCAIHUB_PLUGIN_MAX_MODULE_KIB", default_value_t = 32768)]
    pub plugin_max_module_kib: usize,

    /// Memory cap of one plugin call (MiB).
    #[arg(long, env = "SCAIHUB_PLUGIN_MEMORY_MIB", default_value_t = 32)]
    pub plugin_memory_mib: usize,

    /// Fuel (CPU budget, roughly instructions) of one plugin call.
    #[arg(long, env = "SCAIHUB_PLUGIN_FUEL", default_value_t = 200_000_000)]
    pub plugin_fuel: u64,

    /// Time limit of one plugin call (milliseconds of the guest's own
    /// running, counted in 2 ms epoch ticks). A call also ends after 8 times
    /// this in wall-clock time, whatever it waits on.
    #[arg(long, env = "SCAIHUB_PLUGIN_TIMEOUT_MS", default_value_t = 250)]
    pub plugin_timeout_ms: u64,

    /// Largest output of a transform (KiB).
    #[arg(long, env = "SCAIHUB_PLUGIN_MAX_OUTPUT_KIB", default_value_t = 1024)]
    pub plugin_max_output_kib: usize,

    /// Plugin calls running at once.
    #[arg(long, env = "SCAIHUB_PLUGIN_CONCURRENCY", default_value_t = 32)]
    pub plugin_concurrency: usize,

    /// Plugin instances kept between deliveries of the same plugin on the
    /// same webhook (0: a fresh instance for every call).
    #[arg(long, env = "SCAIHUB_PLUGIN_WARM_INSTANCES", default_value_t = 32)]
    pub plugin_warm_instances: usize,

    /// Days finished deliveries (with their attempts) and events no
    /// delivery still owes are kept before being deleted (1-36500).
    #[arg(long, env = "SCAIHUB_RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u64,

    /// Log format: `json` or `text`.
    #[arg(long, env = "SCAIHUB_LOG_FORMAT", default_value = "text")]
    pub log_format: String,

    /// OpenTelemetry trace export over OTLP/HTTP (protobuf): the collector's
    /// base URL (spans go to `{url}/v1/traces`) or a full URL ending in
    /// `/v1/traces`. Nothing is exported when absent.
    #[arg(long, env = "SCAIHUB_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// `service.name` of the exported spans.
    #[arg(long, env = "SCAIHUB_OTLP_SERVICE_NAME", default_value = "scaihub")]
    pub otlp_service_name: String,

    /// Share of new traces exported (0-1); a trace continued from a
    /// producer's `traceparent` follows its sampled flag.
    #[arg(long, env = "SCAIHUB_OTLP_SAMPLE_RATIO", default_value_t = 1.0)]
    pub otlp_sample_ratio: f64,

    /// Optional config file of `SCAIHUB_*=value` lines, read before parsing.
    #[arg(long, env = "SCAIHUB_CONFIG")]
    pub config: Option<PathBuf>,
}

impl fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeArgs")
            .field("listen", &self.listen)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("data_dir", &self.data_dir)
            .field("admin_key", &self.admin_key.as_ref().map(|_| "<redacted>"))
            .field(
                "master_key",
                &self.master_key.as_ref().map(|_| "<redacted>"),
            )
            .field("retry_schedule", &self.retry_schedule)
            .field("allow_destinations", &self.allow_destinations)
            .field("public_url", &self.public_url)
            .field(
                "otlp_endpoint",
                &self.otlp_endpoint.as_deref().map(redact_url),
            )
            .finish_non_exhaustive()
    }
}

/// A database URL with any password replaced.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("redacted"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// A setting that cannot be used, naming it.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub message: String,
}

/// Parses `30s,1m,5m,15m,1h,6h,24h` (also `500ms`, `2d`).
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, ConfigError> {
    let err = |m: String| ConfigError {
        setting: "SCAIHUB_RETRY_SCHEDULE",
        message: m,
    };
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        out.push(parse_duration(part).ok_or_else(|| {
            err(format!(
                "{part:?} is not a duration like 30s, 5m, 1h, 1d or 250ms"
            ))
        })?);
    }
    if out.len() > 50 {
        return Err(err("at most 50 retries".into()));
    }
    Ok(out)
}

fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => return Some(Duration::from_millis(n)),
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// Parses the comma list of allowed internal ranges.
pub fn parse_allow_list(text: &str) -> Result<Vec<IpNet>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| ConfigError {
                    setting: "SCAIHUB_ALLOW_DESTINATIONS",
                    message: format!("{p:?} is not a CIDR range"),
                })
        })
        .collect()
}

/// Loads `KEY=value` lines of a config file into the environment for the
/// keys not already set there, so flags > environment > file.
pub fn load_config_file(path: &std::path::Path) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        setting: "SCAIHUB_CONFIG",
        message: format!("cannot read {path:?}: {e}"),
    })?;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once('=').ok_or_else(|| ConfigError {
            setting: "SCAIHUB_CONFIG",
            message: format!("line {}: expected KEY=value", n + 1),
        })?;
        let key = key.trim();
        if !key.starts_with("SCAIHUB_") {
            return Err(ConfigError {
                setting: "SCAIHUB_CONFIG",
                message: format!("line {}: unknown setting {key}", n + 1),
            });
        }
        if std::env::var_os(key).is_none() {
            // SAFETY: called from `main` before the runtime or any thread starts.
            unsafe { std::env::set_var(key, value.trim().trim_matches('"')) };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_is_the_pages() {
        let s = parse_schedule("30s,1m,5m,15m,1h,6h,24h").unwrap();
        let secs: Vec<u64> = s.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [30, 60, 300, 900, 3600, 21_600, 86_400]);
    }

    #[test]
    fn bad_schedule_names_the_setting() {
        let err = parse_schedule("30s,soon").unwrap_err();
        assert_eq!(err.setting, "SCAIHUB_RETRY_SCHEDULE");
        assert!(err.message.contains("soon"));
    }

    #[test]
    fn database_password_is_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:redacted@h/db"
        );
    }
}
