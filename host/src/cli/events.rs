//! `scaihub event send`: events from files or stdin, in batches.

use std::path::PathBuf;

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use super::client::Client;
use super::error::{CliError, CliResult};
use super::input;
use super::output::Output;

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Send events: each FILE (or stdin, `-`, the default) holds one JSON
    /// object, a JSON array of them, or JSON lines. Idempotent on event_id.
    Send {
        /// Files of events; `-` is stdin.
        #[arg(value_name = "FILE", default_value = "-")]
        files: Vec<PathBuf>,
        /// Events per request (1-1000).
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
}

pub async fn run(cmd: Cmd, client: &Client, out: Output) -> CliResult<()> {
    let Cmd::Send { files, batch } = cmd;
    if !(1..=1000).contains(&batch) {
        return Err(CliError::usage("--batch: must be 1-1000"));
    }
    let mut events = Vec::new();
    for f in &files {
        let name = if f.as_os_str() == "-" {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!("reading events from stdin (end with Ctrl-D)");
            }
            "stdin".to_string()
        } else {
            f.display().to_string()
        };
        let bytes = input::read_source(f, "FILE")?;
        events.extend(input::events(&bytes, &name)?);
    }
    let (mut accepted, mut duplicates) = (Vec::new(), Vec::new());
    for (n, chunk) in events.chunks(batch).enumerate() {
        // One event alone keeps the API's single-event form (its field
        // names carry no `[i]`); several always travel as arrays.
        let body = match (events.len(), chunk) {
            (1, [one]) => one.clone(),
            _ => Value::Array(chunk.to_vec()),
        };
        let answer = client
            .org_call(Method::POST, &["events"], &[], Some(&body))
            .await
            .map_err(|e| in_batch(e, n * batch, chunk.len()))?;
        accepted.extend(ids(&answer, "accepted"));
        duplicates.extend(ids(&answer, "duplicates"));
    }
    let result = json!({"accepted": accepted, "duplicates": duplicates});
    out.show(&result, |_| {
        println!(
            "{} accepted, {} duplicates (already known, not sent again)",
            accepted.len(),
            duplicates.len()
        )
    });
    Ok(())
}

fn ids(answer: &Value, key: &str) -> Vec<Value> {
    answer[key].as_array().cloned().unwrap_or_default()
}

/// A refused batch names the event by its place among all events sent:
/// the API's `[i]` counts within the batch, so later batches shift it.
fn in_batch(e: CliError, offset: usize, len: usize) -> CliError {
    match e {
        CliError::Api {
            status,
            code,
            message,
            field: Some(field),
        } if offset > 0 => {
            let shifted = field
                .strip_prefix('[')
                .and_then(|rest| rest.split_once(']'))
                .and_then(|(i, rest)| Some((i.parse::<usize>().ok()?, rest)))
                .map(|(i, rest)| format!("[{}]{rest}", i + offset))
                .unwrap_or(field);
            CliError::Api {
                status,
                code,
                message: format!(
                    "{message} (in the batch of events [{}]-[{}])",
                    offset,
                    offset + len - 1
                ),
                field: Some(shifted),
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_batches_name_the_event_by_its_place_in_the_whole_input() {
        let e = CliError::Api {
            status: 422,
            code: "invalid_field".into(),
            message: "unknown category".into(),
            field: Some("[3].category".into()),
        };
        match in_batch(e, 500, 500) {
            CliError::Api { field, .. } => assert_eq!(field.as_deref(), Some("[503].category")),
            other => panic!("{other:?}"),
        }
    }
}
