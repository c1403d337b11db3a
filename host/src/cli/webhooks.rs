//! `scaihub webhook …`: list, show, create, edit, pause, resume, rotate
//! the secret, send a test event, delete.

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::client::{Client, Page};
use super::error::{CliError, CliResult};
use super::input;
use super::output::{self, Output};

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// List webhooks, oldest first, with their health.
    #[command(visible_alias = "ls")]
    List {
        /// Only webhooks in this state: failing, healthy, paused or idle.
        #[arg(long)]
        health: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// Show one webhook with its health.
    Show { id: String },
    /// Create a webhook; its signing secret is shown once.
    Create {
        #[command(flatten)]
        fields: Fields,
        /// Create it paused (matching events queue up).
        #[arg(long)]
        paused: bool,
    },
    /// Change some of a webhook's settings; the others stay.
    Edit {
        id: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// Stop sending; matching events queue up to the queue limit.
    Pause { id: String },
    /// Send again; the queue goes out oldest first.
    Resume { id: String },
    /// Issue a new signing secret (shown once); the old one signs beside it for 24 h.
    RotateSecret { id: String },
    /// Send a test event now and show the delivery after its first attempt.
    Test { id: String },
    /// Delete the webhook and its delivery log.
    #[command(visible_alias = "rm")]
    Delete { id: String },
}

/// The settings a create or an edit may give.
#[derive(Debug, Args)]
pub struct Fields {
    /// A name for people.
    #[arg(long)]
    name: Option<String>,
    /// Where deliveries are POSTed.
    #[arg(long)]
    url: Option<String>,
    /// Event categories to deliver (repeat, or comma-separated), e.g. SHARING.
    #[arg(long = "event", value_delimiter = ',', value_name = "CATEGORY")]
    events: Vec<String>,
    /// Action patterns within them (repeat, or comma-separated), e.g. share.*.
    #[arg(long = "action", value_delimiter = ',', value_name = "PATTERN")]
    actions: Vec<String>,
    /// A custom header sent with each delivery (repeat).
    #[arg(long = "header", value_name = "NAME=VALUE")]
    headers: Vec<String>,
    /// Events held while paused before new ones overflow.
    #[arg(long)]
    queue_limit: Option<i64>,
    /// When a plugin fails: skip or deliver_original.
    #[arg(long)]
    on_plugin_error: Option<String>,
    /// How deliveries are signed: scaidrive (X-ScaiDrive-Signature) or
    /// standard (Standard Webhooks).
    #[arg(long)]
    signature_scheme: Option<String>,
    /// Deliveries per second at most, across every process.
    #[arg(long)]
    rate_limit: Option<i64>,
    /// Attempts at once at most, across every process.
    #[arg(long)]
    max_in_flight: Option<i64>,
    /// unordered (the default) or fifo: one delivery at a time, in event
    /// order, a failing one holding those behind it.
    #[arg(long)]
    ordering: Option<String>,
    /// Any other fields as a JSON object (inline, @FILE or - for stdin);
    /// applied last, so it wins over the flags.
    #[arg(long, value_name = "JSON")]
    data: Option<String>,
}

impl Fields {
    fn body(&self) -> CliResult<Map<String, Value>> {
        let mut b = Map::new();
        if let Some(v) = &self.name {
            b.insert("name".into(), v.clone().into());
        }
        if let Some(v) = &self.url {
            b.insert("url".into(), v.clone().into());
        }
        if !self.events.is_empty() {
            b.insert("events".into(), json!(self.events));
        }
        if !self.actions.is_empty() {
            b.insert("actions".into(), json!(self.actions));
        }
        if !self.headers.is_empty() {
            let mut h = Map::new();
            for text in &self.headers {
                let (k, v) = input::key_value(text, "--header")?;
                h.insert(k, v.into());
            }
            b.insert("headers".into(), Value::Object(h));
        }
        if let Some(v) = self.queue_limit {
            b.insert("queue_limit".into(), v.into());
        }
        if let Some(v) = &self.on_plugin_error {
            b.insert("on_plugin_error".into(), v.clone().into());
        }
        if let Some(v) = &self.signature_scheme {
            b.insert("signature_scheme".into(), v.clone().into());
        }
        if let Some(v) = self.rate_limit {
            b.insert("rate_limit".into(), v.into());
        }
        if let Some(v) = self.max_in_flight {
            b.insert("max_in_flight".into(), v.into());
        }
        if let Some(v) = &self.ordering {
            b.insert("ordering".into(), v.clone().into());
        }
        if let Some(d) = &self.data {
            b.extend(input::json_object_arg(d, "--data")?);
        }
        Ok(b)
    }
}

pub async fn run(cmd: Cmd, client: &Client, out: Output) -> CliResult<()> {
    match cmd {
        Cmd::List { health, page } => {
            let mut q = page.query();
            if let Some(h) = health {
                q.push(("health", h));
            }
            let v = client.org_list(&["webhooks"], q, page.all).await?;
            out.show(&v, list_table);
        }
        Cmd::Show { id } => {
            let v = client
                .org_call(Method::GET, &["webhooks", &id], &[], None)
                .await?;
            out.show(&v, details);
        }
        Cmd::Create { fields, paused } => {
            let mut body = fields.body()?;
            if paused {
                body.insert("paused".into(), true.into());
            }
            let v = client
                .org_call(Method::POST, &["webhooks"], &[], Some(&Value::Object(body)))
                .await?;
            out.show(&v, |v| {
                details(v);
                eprintln!("the secret is shown only now: store it where the receiver can read it");
            });
        }
        Cmd::Edit { id, fields } => {
            let body = fields.body()?;
            if body.is_empty() {
                return Err(CliError::usage(
                    "nothing to change: give --name, --url, --event, --action, --header, --queue-limit, --on-plugin-error or --data",
                ));
            }
            let v = client
                .org_call(
                    Method::PATCH,
                    &["webhooks", &id],
                    &[],
                    Some(&Value::Object(body)),
                )
                .await?;
            out.show(&v, details);
        }
        Cmd::Pause { id } => state_change(client, out, &id, "pause").await?,
        Cmd::Resume { id } => state_change(client, out, &id, "resume").await?,
        Cmd::RotateSecret { id } => {
            let v = client
                .org_call(Method::POST, &["webhooks", &id, "rotate-secret"], &[], None)
                .await?;
            out.show(&v, |v| {
                output::details(
                    v,
                    &[
                        ("secret", "secret"),
                        ("previous secret until", "previous_secret_expires_at"),
                    ],
                );
                eprintln!(
                    "the new secret is shown only now; until then deliveries carry both signatures"
                );
            });
        }
        Cmd::Test { id } => {
            let v = client
                .org_call(Method::POST, &["webhooks", &id, "test"], &[], None)
                .await?;
            out.show(&v, super::deliveries::details);
        }
        Cmd::Delete { id } => {
            client
                .org_call(Method::DELETE, &["webhooks", &id], &[], None)
                .await?;
            out.show(&json!({"deleted": id}), |_| println!("deleted {id}"));
        }
    }
    Ok(())
}

async fn state_change(client: &Client, out: Output, id: &str, verb: &str) -> CliResult<()> {
    let v = client
        .org_call(Method::POST, &["webhooks", id, verb], &[], None)
        .await?;
    out.show(&v, |v| {
        let state = if v["paused"] == true {
            "paused"
        } else {
            "active"
        };
        println!("{} is {state}", output::cell(v, "id"));
    });
    Ok(())
}

fn list_table(v: &Value) {
    let items = v["data"].as_array().cloned().unwrap_or_default();
    output::rows(
        &[
            "ID",
            "NAME",
            "URL",
            "EVENTS",
            "STATE",
            "HEALTH",
            "SUCCESS 24H",
            "QUEUE",
        ],
        items
            .iter()
            .map(|w| {
                vec![
                    output::cell(w, "id"),
                    output::cell(w, "name"),
                    output::cell(w, "url"),
                    output::cell(w, "events"),
                    state(w).into(),
                    output::cell(w, "/health/status"),
                    rate(w),
                    output::cell(w, "/health/queue_depth"),
                ]
            })
            .collect(),
    );
    if let Some(c) = v["next_cursor"].as_str() {
        eprintln!("more: --cursor {c} (or --all)");
    }
}

fn state(w: &Value) -> &'static str {
    if w["paused"] == true {
        "paused"
    } else {
        "active"
    }
}

fn rate(w: &Value) -> String {
    w.pointer("/health/success_rate")
        .and_then(Value::as_f64)
        .map(|r| format!("{:.1}%", r * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn plugin_ids(v: &Value) -> String {
    let filters: Vec<String> = v["filter_plugins"]
        .as_array()
        .map(|a| a.iter().map(|p| output::cell(p, "plugin_id")).collect())
        .unwrap_or_default();
    if filters.is_empty() {
        "-".into()
    } else {
        filters.join(",")
    }
}

/// The non-empty lists of the webhook's filters, `-` when there are none.
fn filters_text(v: &Value) -> String {
    let set: Vec<String> = v["filters"]
        .as_object()
        .map(|f| {
            f.iter()
                .filter(|(_, list)| list.as_array().is_some_and(|a| !a.is_empty()))
                .map(|(k, list)| format!("{k}={}", output::text(list)))
                .collect()
        })
        .unwrap_or_default();
    if set.is_empty() {
        "-".into()
    } else {
        set.join(" ")
    }
}

/// One webhook as a two-column table.
pub fn details(v: &Value) {
    let mut rows = vec![
        ("id", output::cell(v, "id")),
        ("name", output::cell(v, "name")),
        ("url", output::cell(v, "url")),
        ("events", output::cell(v, "events")),
        ("actions", output::cell(v, "actions")),
        ("state", state(v).into()),
        ("queue limit", output::cell(v, "queue_limit")),
        ("headers", output::cell(v, "headers")),
        ("filters", filters_text(v)),
        ("filter plugins", plugin_ids(v)),
        (
            "transform plugin",
            output::cell(v, "/transform_plugin/plugin_id"),
        ),
        ("on plugin error", output::cell(v, "on_plugin_error")),
        ("signature scheme", output::cell(v, "signature_scheme")),
        ("rate limit", output::cell(v, "rate_limit")),
        ("max in flight", output::cell(v, "max_in_flight")),
        ("ordering", output::cell(v, "ordering")),
        ("paused reason", output::cell(v, "paused_reason")),
    ];
    if v.get("health").is_some() {
        rows.push(("health", output::cell(v, "/health/status")));
        rows.push(("success 24h", rate(v)));
        rows.push(("queue depth", output::cell(v, "/health/queue_depth")));
        rows.push(("last error", output::cell(v, "/health/last_error")));
    }
    rows.push(("created", output::cell(v, "created_at")));
    rows.push(("updated", output::cell(v, "updated_at")));
    if v.get("secret").is_some() {
        rows.push(("secret", output::cell(v, "secret")));
    }
    output::pairs(&rows);
}
