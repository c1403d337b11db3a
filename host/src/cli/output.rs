//! How answers are shown: tables for people, the API's JSON unchanged for
//! scripts (`--json`). Tables are plain columns without borders, so they
//! read well and `grep`/`awk` still work on them.

use comfy_table::{ContentArrangement, Table, presets};
use serde_json::Value;

/// The output mode of a command.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// JSON mode prints `value`; table mode calls `table`.
    pub fn show(&self, value: &Value, table: impl FnOnce(&Value)) {
        if self.json {
            print_json(value);
        } else {
            table(value);
        }
    }
}

/// Pretty JSON on stdout.
pub fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values serialise")
    );
}

/// One JSON value on one line (for streams such as `tail`).
pub fn print_json_line(value: &Value) {
    println!("{value}");
}

fn new_table() -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    t
}

/// Rows of `items`, one column per `(header, field)`; a field is a key or a
/// `/json/pointer`.
pub fn list(items: &[Value], columns: &[(&str, &str)]) {
    if items.is_empty() {
        println!("(none)");
        return;
    }
    let mut t = new_table();
    t.set_header(columns.iter().map(|(h, _)| h.to_string()));
    for item in items {
        t.add_row(columns.iter().map(|(_, f)| cell(item, f)));
    }
    println!("{}", trim_lines(&t.to_string()));
}

/// Rows computed by the caller under `headers`.
pub fn rows(headers: &[&str], rows: Vec<Vec<String>>) {
    if rows.is_empty() {
        println!("(none)");
        return;
    }
    let mut t = new_table();
    t.set_header(headers.iter().map(|h| h.to_string()));
    for r in rows {
        t.add_row(r);
    }
    println!("{}", trim_lines(&t.to_string()));
}

/// A two-column table of `fields` of one object.
pub fn details(item: &Value, fields: &[(&str, &str)]) {
    let mut t = new_table();
    for (label, f) in fields {
        t.add_row(vec![label.to_string(), cell(item, f)]);
    }
    println!("{}", trim_lines(&t.to_string()));
}

/// Key/value lines of pairs computed by the caller.
pub fn pairs(rows: &[(&str, String)]) {
    let mut t = new_table();
    for (k, v) in rows {
        t.add_row(vec![k.to_string(), v.clone()]);
    }
    println!("{}", trim_lines(&t.to_string()));
}

// The NOTHING preset pads every cell, leaving a space before each line and
// trailing spaces after the last column.
fn trim_lines(text: &str) -> String {
    text.lines()
        .map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A field of `item` as cell text: `-` for null or missing, lists joined
/// with commas, objects as compact JSON.
pub fn cell(item: &Value, field: &str) -> String {
    let v = if field.starts_with('/') {
        item.pointer(field)
    } else {
        item.get(field)
    };
    text(v.unwrap_or(&Value::Null))
}

/// A value as cell text.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) if s.is_empty() => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) if a.is_empty() => "-".into(),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(o) if o.is_empty() => "-".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn cells_read_keys_and_pointers() {
        let v = json!({"id": "whk_1", "events": ["SHARING", "AUTH"], "health": {"status": "healthy"}, "gone": null});
        assert_eq!(cell(&v, "id"), "whk_1");
        assert_eq!(cell(&v, "events"), "SHARING,AUTH");
        assert_eq!(cell(&v, "/health/status"), "healthy");
        assert_eq!(cell(&v, "gone"), "-");
        assert_eq!(cell(&v, "missing"), "-");
    }
}
