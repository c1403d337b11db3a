//! Local input: JSON given inline, as `@FILE`, or `-` for stdin, and
//! `KEY=VALUE` pairs. Errors name the flag or file that was wrong.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use super::error::{CliError, CliResult};

/// The bytes of `path`, or of stdin for `-`.
pub fn read_source(path: &Path, what: &str) -> CliResult<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| CliError::usage(format!("{what}: cannot read stdin: {e}")))?;
        return Ok(buf);
    }
    std::fs::read(path).map_err(|e| CliError::usage(format!("{what}: {}: {e}", path.display())))
}

/// A JSON value given as text, `@FILE` or `-` (stdin), for the flag `flag`.
pub fn json_arg(text: &str, flag: &str) -> CliResult<Value> {
    let (bytes, from) = if let Some(path) = text.strip_prefix('@') {
        (read_source(Path::new(path), flag)?, format!(" ({path})"))
    } else if text == "-" {
        (read_source(Path::new("-"), flag)?, " (stdin)".to_string())
    } else {
        (text.as_bytes().to_vec(), String::new())
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| CliError::usage(format!("{flag}{from}: not valid JSON: {e}")))
}

/// A JSON object given as for [`json_arg`].
pub fn json_object_arg(text: &str, flag: &str) -> CliResult<serde_json::Map<String, Value>> {
    match json_arg(text, flag)? {
        Value::Object(o) => Ok(o),
        _ => Err(CliError::usage(format!("{flag}: must be a JSON object"))),
    }
}

/// `KEY=VALUE`.
pub fn key_value(text: &str, flag: &str) -> CliResult<(String, String)> {
    text.split_once('=')
        .filter(|(k, _)| !k.trim().is_empty())
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .ok_or_else(|| CliError::usage(format!("{flag}: {text:?} is not KEY=VALUE")))
}

/// Events from a file's text: one JSON object, a JSON array of them, or
/// JSON lines (one object per line; blank lines skipped).
pub fn events(bytes: &[u8], source: &str) -> CliResult<Vec<Value>> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| CliError::usage(format!("{source}: not UTF-8 text")))?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(CliError::usage(format!("{source}: holds no event")));
    }
    // A whole-document parse first: a pretty-printed object spans lines.
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => {
            if let Some(i) = items.iter().position(|v| !v.is_object()) {
                return Err(CliError::usage(format!(
                    "{source}: item [{i}] is not a JSON object"
                )));
            }
            return Ok(items);
        }
        Ok(v @ Value::Object(_)) => return Ok(vec![v]),
        Ok(_) => {
            return Err(CliError::usage(format!(
                "{source}: must hold a JSON object, an array of them, or JSON lines"
            )));
        }
        Err(_) => {}
    }
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v @ Value::Object(_)) => out.push(v),
            Ok(_) => {
                return Err(CliError::usage(format!(
                    "{source}: line {}: not a JSON object",
                    n + 1
                )));
            }
            Err(e) => {
                return Err(CliError::usage(format!(
                    "{source}: line {}: not valid JSON: {e}",
                    n + 1
                )));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_as_object_array_or_lines() {
        assert_eq!(events(b"{\n \"a\": 1\n}\n", "f").unwrap().len(), 1);
        assert_eq!(events(b"[{\"a\":1},{\"a\":2}]", "f").unwrap().len(), 2);
        assert_eq!(
            events(b"{\"a\":1}\n\n{\"a\":2}\n{\"a\":3}\n", "f")
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn bad_event_input_names_the_line() {
        let err = events(b"{\"a\":1}\n{\"a\":\n", "events.jsonl").unwrap_err();
        assert!(err.to_string().starts_with("events.jsonl: line 2"), "{err}");
        let err = events(b"[{\"a\":1}, 3]", "f").unwrap_err();
        assert!(err.to_string().contains("[1]"), "{err}");
    }

    #[test]
    fn json_args_name_their_flag() {
        assert_eq!(json_arg("{\"x\": 1}", "--config").unwrap()["x"], 1);
        let err = json_arg("{x}", "--config").unwrap_err();
        assert!(
            err.to_string().starts_with("--config: not valid JSON"),
            "{err}"
        );
        let err = key_value("novalue", "--header").unwrap_err();
        assert!(err.to_string().starts_with("--header"), "{err}");
    }
}
