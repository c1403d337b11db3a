//! `scaihub delivery …`: a webhook's deliveries, one delivery with its
//! attempts, redeliver, recover a window of failed ones, and `tail`, which
//! follows a webhook's deliveries as they are made and change.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Client, Page};
use super::error::{CliError, CliResult};
use super::output::{self, Output};

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// List a webhook's deliveries, newest first.
    #[command(visible_alias = "ls")]
    List {
        webhook: String,
        /// Only this status: pending, queued, succeeded, retrying, dropped,
        /// filtered, plugin_failed or overflowed.
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// Show one delivery with every attempt.
    Show { id: String },
    /// Send the delivery's event to its webhook again, as a new delivery.
    Redeliver { id: String },
    /// Send again a webhook's deliveries that ended badly in a time window
    /// (same delivery ids, new attempts), at most once each.
    Recover {
        webhook: String,
        /// Start of the window: RFC 3339, or an age such as 2h or 30m (before now).
        #[arg(long)]
        since: String,
        /// End of the window: RFC 3339 or an age; now when absent.
        #[arg(long)]
        until: Option<String>,
        /// Statuses to recover (repeat or comma-separated); the server's
        /// default when absent (dropped, plugin_failed, overflowed).
        #[arg(long = "status", value_delimiter = ',')]
        statuses: Vec<String>,
    },
    /// Follow a webhook's deliveries: print each new one and each change of
    /// status, until interrupted (or --count new ones were seen).
    Tail {
        webhook: String,
        /// Only this status.
        #[arg(long)]
        status: Option<String>,
        /// How many existing deliveries to print first.
        #[arg(long, default_value_t = 10)]
        last: usize,
        /// Time between looks, in milliseconds.
        #[arg(long, default_value_t = 1000, value_name = "MS")]
        interval_ms: u64,
        /// Stop after this many new deliveries.
        #[arg(long)]
        count: Option<usize>,
    },
}

pub async fn run(cmd: Cmd, client: &Client, out: Output) -> CliResult<()> {
    match cmd {
        Cmd::List {
            webhook,
            status,
            page,
        } => {
            let mut q = page.query();
            if let Some(s) = status {
                q.push(("status", s));
            }
            let v = client
                .org_list(&["webhooks", &webhook, "deliveries"], q, page.all)
                .await?;
            out.show(&v, |v| {
                let items = v["data"].as_array().cloned().unwrap_or_default();
                output::list(&items, COLUMNS);
                if let Some(c) = v["next_cursor"].as_str() {
                    eprintln!("more: --cursor {c} (or --all)");
                }
            });
        }
        Cmd::Show { id } => {
            let v = client
                .org_call(Method::GET, &["deliveries", &id], &[], None)
                .await?;
            out.show(&v, details);
        }
        Cmd::Redeliver { id } => {
            let v = client
                .org_call(Method::POST, &["deliveries", &id, "redeliver"], &[], None)
                .await?;
            out.show(&v, |v| {
                println!(
                    "redelivering as {} ({})",
                    output::cell(v, "id"),
                    output::cell(v, "status")
                )
            });
        }
        Cmd::Recover {
            webhook,
            since,
            until,
            statuses,
        } => {
            let now = chrono::Utc::now();
            let mut body = json!({"since": when(&since, "--since", now)?});
            if let Some(u) = until {
                body["until"] = when(&u, "--until", now)?.into();
            }
            if !statuses.is_empty() {
                body["statuses"] = json!(statuses);
            }
            let v = client
                .org_call(
                    Method::POST,
                    &["webhooks", &webhook, "recover"],
                    &[],
                    Some(&body),
                )
                .await?;
            out.show(&v, |v| match recovered_count(v) {
                Some(n) => println!(
                    "{n} {} of {webhook} sent again (same ids, new attempts)",
                    if n == 1 { "delivery" } else { "deliveries" }
                ),
                None => output::print_json(v),
            });
        }
        Cmd::Tail {
            webhook,
            status,
            last,
            interval_ms,
            count,
        } => {
            tail(
                client,
                out,
                &webhook,
                status,
                last,
                Duration::from_millis(interval_ms.max(50)),
                count,
            )
            .await?
        }
    }
    Ok(())
}

const COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("EVENT", "event_id"),
    ("STATUS", "status"),
    ("ATTEMPTS", "attempt_count"),
    ("LAST CODE", "last_status_code"),
    ("NEXT ATTEMPT", "next_attempt_at"),
    ("CREATED", "created_at"),
];

/// The count in a recovery's answer, whichever name the server gives it.
fn recovered_count(v: &Value) -> Option<u64> {
    ["recovered", "count", "redelivered"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_u64))
}

/// RFC 3339 as given, or an age (`90s`, `30m`, `2h`, `7d`) before `now`.
fn when(text: &str, flag: &str, now: chrono::DateTime<chrono::Utc>) -> CliResult<String> {
    if chrono::DateTime::parse_from_rfc3339(text).is_ok() {
        return Ok(text.to_string());
    }
    let age = crate::config::parse_schedule(text)
        .ok()
        .filter(|v| v.len() == 1)
        .and_then(|v| chrono::Duration::from_std(v[0]).ok())
        .ok_or_else(|| {
            CliError::usage(format!(
                "{flag}: {text:?} is neither an RFC 3339 time nor an age such as 30m, 2h or 7d"
            ))
        })?;
    Ok((now - age).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// One delivery and its attempts.
pub fn details(v: &Value) {
    output::details(
        v,
        &[
            ("id", "id"),
            ("webhook", "webhook_id"),
            ("event", "event_id"),
            ("status", "status"),
            ("attempts", "attempt_count"),
            ("last code", "last_status_code"),
            ("next attempt", "next_attempt_at"),
            ("created", "created_at"),
        ],
    );
    if let Some(attempts) = v["attempts"].as_array()
        && !attempts.is_empty()
    {
        println!();
        output::list(
            attempts,
            &[
                ("ATTEMPTED", "attempted_at"),
                ("CODE", "status_code"),
                ("MS", "duration_ms"),
                ("ERROR", "error"),
                ("ANSWER", "response_snippet"),
            ],
        );
    }
}

/// What `tail` remembers of a delivery it printed.
type Seen = (String, i64);

fn seen_of(d: &Value) -> Seen {
    (
        output::cell(d, "status"),
        d["attempt_count"].as_i64().unwrap_or(0),
    )
}

/// How many deliveries `tail` remembers (the oldest are forgotten first).
const REMEMBER: usize = 5000;
/// Pages read per look when more than a page of deliveries is new.
const MAX_PAGES: usize = 10;
const PAGE: &str = "100";

async fn tail(
    client: &Client,
    out: Output,
    webhook: &str,
    status: Option<String>,
    last: usize,
    interval: Duration,
    count: Option<usize>,
) -> CliResult<()> {
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut order: VecDeque<String> = VecDeque::new();
    let mut query = vec![("limit", PAGE.to_string())];
    if let Some(s) = &status {
        query.push(("status", s.clone()));
    }
    // The first look: remember everything, print the newest `last`.
    let first = look(client, webhook, &query, &seen).await?;
    for (i, d) in first.iter().enumerate() {
        if i + last >= first.len() {
            line(out, d, "");
        }
    }
    for d in &first {
        remember(&mut seen, &mut order, d);
    }
    if !out.json {
        eprintln!("following deliveries of {webhook} (Ctrl-C to stop)");
    }
    let mut new = 0usize;
    loop {
        if count.is_some_and(|c| new >= c) {
            return Ok(());
        }
        tokio::time::sleep(interval).await;
        for d in look(client, webhook, &query, &seen).await? {
            let id = output::cell(&d, "id");
            match seen.get(&id) {
                None => {
                    new += 1;
                    line(out, &d, "");
                }
                Some(before) if *before != seen_of(&d) => line(out, &d, "changed"),
                Some(_) => continue,
            }
            remember(&mut seen, &mut order, &d);
            if count.is_some_and(|c| new >= c) {
                break;
            }
        }
    }
}

/// The newest deliveries, oldest first: a page, and further pages while
/// every delivery on them is new to us.
async fn look(
    client: &Client,
    webhook: &str,
    query: &[(&str, String)],
    seen: &HashMap<String, Seen>,
) -> CliResult<Vec<Value>> {
    let mut all = Vec::new();
    let mut q = query.to_vec();
    for _ in 0..MAX_PAGES {
        let mut page = client
            .org_call(Method::GET, &["webhooks", webhook, "deliveries"], &q, None)
            .await?;
        let items = match page["data"].take() {
            Value::Array(a) => a,
            _ => Vec::new(),
        };
        let all_new = !seen.is_empty()
            && items
                .iter()
                .all(|d| !seen.contains_key(&output::cell(d, "id")));
        all.extend(items);
        match page["next_cursor"].as_str() {
            Some(c) if all_new => {
                q.retain(|(k, _)| *k != "cursor");
                q.push(("cursor", c.to_string()));
            }
            _ => break,
        }
    }
    all.reverse();
    Ok(all)
}

fn remember(seen: &mut HashMap<String, Seen>, order: &mut VecDeque<String>, d: &Value) {
    let id = output::cell(d, "id");
    if seen.insert(id.clone(), seen_of(d)).is_none() {
        order.push_back(id);
        if order.len() > REMEMBER
            && let Some(old) = order.pop_front()
        {
            seen.remove(&old);
        }
    }
}

fn line(out: Output, d: &Value, note: &str) {
    if out.json {
        output::print_json_line(d);
        return;
    }
    let code = match d["last_status_code"].as_i64() {
        Some(c) => format!("HTTP {c}"),
        None => "-".into(),
    };
    println!(
        "{}  {}  {}  {:<13} attempts={}  {}{}",
        output::cell(d, "created_at"),
        output::cell(d, "id"),
        output::cell(d, "event_id"),
        output::cell(d, "status"),
        output::cell(d, "attempt_count"),
        code,
        if note.is_empty() {
            String::new()
        } else {
            format!("  ({note})")
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_takes_rfc3339_or_an_age() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-05-12T14:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            when("2026-05-12T10:00:00Z", "--since", now).unwrap(),
            "2026-05-12T10:00:00Z"
        );
        assert_eq!(when("2h", "--since", now).unwrap(), "2026-05-12T12:00:00Z");
        let err = when("yesterday", "--since", now).unwrap_err();
        assert!(err.to_string().starts_with("--since"), "{err}");
    }
}
