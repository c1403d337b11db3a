//! The shared tables of cases: `plugins/cases/<plugin>.json` lists inputs
//! and expected outcomes for one example plugin, and both its Rust crate
//! (through this crate, natively, no WebAssembly) and its TypeScript twin
//! in `plugins/js` are tested against the same file, so the two stay
//! interchangeable.
//!
//! A table is `{"plugin": name, "kind": "filter"|"transform", "cases": [..]}`.
//! Each case has:
//! - `name`: what it shows;
//! - `event` (optional): fields replacing those of `Event::sample`, in the
//!   delivered JSON's snake_case (`user_id`, `category: "SHARING"`...);
//!   `null` makes an optional field absent; `payload` is a JSON value, or
//!   `payload_text` raw text;
//! - `config` (a JSON value) or `config_text` (raw text, as the host passes
//!   it); neither means the host's `null`;
//! - `request` (transforms, optional): `body_json`, `body_text` or
//!   `body_bytes`, `headers` (`[[name, value], ..]`), `content_type`;
//!   without it, the host's first request: the event JSON, no headers,
//!   `application/json`;
//! - `expect`: `{"verdict": "deliver"|"skip"}`, or `{"request": {..}}` with
//!   any of `body_json` (compared as JSON values), `body_text`, `headers`,
//!   `content_type`, or `{"error": "invalid-config"|"invalid-event"|"failed",
//!   "contains": "text"}` (`contains` optional: error wording may differ
//!   between the languages, the kind may not).

use scaihub_sdk::serde_json::{self, Map, Value};
use scaihub_sdk::{Category, Config, Error, Event, Filter, Request, Transform, Verdict};

/// Runs the filter `P` over every case of `table` (the JSON text) and
/// panics listing every case that did not come out as expected.
pub fn check_filter<P: Filter>(table: &str) {
    check(table, "filter", |case| {
        let outcome = P::filter(&event(case)?, &config(case)).map(|v| match v {
            Verdict::Deliver => "deliver",
            Verdict::Skip => "skip",
        });
        let expect = field(case, "expect")?;
        match (outcome, expect.get("verdict")) {
            (Ok(got), Some(want)) if want == got => Ok(()),
            (Ok(got), _) => Err(format!("got verdict {got}, expected {expect}")),
            (Err(e), _) => expected_error(&e, expect),
        }
    });
}

/// Runs the transform `P` over every case of `table` (the JSON text) and
/// panics listing every case that did not come out as expected.
pub fn check_transform<P: Transform>(table: &str) {
    check(table, "transform", |case| {
        let event = event(case)?;
        let request = request(case, &event)?;
        let expect = field(case, "expect")?;
        match (
            P::transform(&event, request, &config(case)),
            expect.get("request"),
        ) {
            (Ok(got), Some(want)) => compare_request(&got, want),
            (Ok(got), None) => Err(format!(
                "got a request with body {:?}, expected {expect}",
                String::from_utf8_lossy(&got.body)
            )),
            (Err(e), _) => expected_error(&e, expect),
        }
    });
}

fn check(table: &str, kind: &str, run: impl Fn(&Value) -> Result<(), String>) {
    let table: Value = serde_json::from_str(table).expect("the case table is JSON");
    assert_eq!(table["kind"], kind, "the table is for a {kind}");
    let cases = table["cases"].as_array().expect("`cases` is an array");
    assert!(!cases.is_empty(), "the table has cases");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            run(case)
                .err()
                .map(|why| format!("{}: {why}", case["name"].as_str().unwrap_or("<unnamed>")))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases of {} failed:\n  {}",
        failures.len(),
        cases.len(),
        table["plugin"],
        failures.join("\n  ")
    );
}

fn field<'a>(case: &'a Value, name: &str) -> Result<&'a Value, String> {
    case.get(name)
        .ok_or_else(|| format!("the case has no `{name}`"))
}

/// `Event::sample` with the case's overrides.
fn event(case: &Value) -> Result<Event, String> {
    let mut event = Event::sample(&Value::Object(Map::new()));
    let Some(overrides) = case.get("event") else {
        return Ok(event);
    };
    let overrides = overrides.as_object().ok_or("`event` must be an object")?;
    for (key, value) in overrides {
        let text = || value.as_str().map(str::to_owned);
        match key.as_str() {
            "payload" => event.payload = value.to_string(),
            "payload_text" => event.payload = text().ok_or("`payload_text` must be a string")?,
            "event_id" => event.event_id = text().ok_or("`event_id` must be a string")?,
            "timestamp" => event.timestamp = text().ok_or("`timestamp` must be a string")?,
            "action" => event.action = text().ok_or("`action` must be a string")?,
            "category" => {
                event.category = text()
                    .as_deref()
                    .and_then(Category::from_name)
                    .ok_or("`category` must be a category name")?
            }
            "user_id" => event.user_id = text(),
            "resource_id" => event.resource_id = text(),
            "ip_address" => event.ip_address = text(),
            "share_id" => event.share_id = text(),
            "service_account" => event.service_account = text(),
            other => return Err(format!("unknown event field `{other}`")),
        }
    }
    Ok(event)
}

fn config(case: &Value) -> Config {
    match (case.get("config_text"), case.get("config")) {
        (Some(Value::String(raw)), _) => Config::new(raw.clone()),
        (_, Some(value)) => Config::new(value.to_string()),
        _ => Config::new("null"),
    }
}

fn request(case: &Value, event: &Event) -> Result<Request, String> {
    let Some(spec) = case.get("request") else {
        return Ok(Request::json(&event.to_json()));
    };
    let mut request = Request {
        body: body(spec)?.unwrap_or_default(),
        headers: headers(spec)?.unwrap_or_default(),
        content_type: spec["content_type"]
            .as_str()
            .unwrap_or("application/json")
            .to_owned(),
    };
    if spec.get("body_json").is_none()
        && spec.get("body_text").is_none()
        && spec.get("body_bytes").is_none()
    {
        request.body = event.to_json().to_string().into_bytes();
    }
    Ok(request)
}

fn body(spec: &Value) -> Result<Option<Vec<u8>>, String> {
    if let Some(json) = spec.get("body_json") {
        return Ok(Some(json.to_string().into_bytes()));
    }
    if let Some(text) = spec.get("body_text") {
        return Ok(Some(
            text.as_str()
                .ok_or("`body_text` must be a string")?
                .as_bytes()
                .to_vec(),
        ));
    }
    if let Some(bytes) = spec.get("body_bytes") {
        let bytes = bytes.as_array().ok_or("`body_bytes` must be an array")?;
        return bytes
            .iter()
            .map(|b| {
                b.as_u64()
                    .and_then(|b| u8::try_from(b).ok())
                    .ok_or_else(|| "`body_bytes` holds bytes".to_owned())
            })
            .collect::<Result<Vec<u8>, String>>()
            .map(Some);
    }
    Ok(None)
}

fn headers(spec: &Value) -> Result<Option<Vec<(String, String)>>, String> {
    let Some(headers) = spec.get("headers") else {
        return Ok(None);
    };
    let pairs = headers.as_array().ok_or("`headers` must be an array")?;
    pairs
        .iter()
        .map(|pair| match pair.as_array().map(Vec::as_slice) {
            Some([Value::String(n), Value::String(v)]) => Ok((n.clone(), v.clone())),
            _ => Err(format!("header {pair} must be [name, value]")),
        })
        .collect::<Result<Vec<_>, String>>()
        .map(Some)
}

fn compare_request(got: &Request, want: &Value) -> Result<(), String> {
    let mut problems = Vec::new();
    if let Some(body) = want.get("body_json") {
        match serde_json::from_slice::<Value>(&got.body) {
            Ok(actual) if &actual == body => {}
            Ok(actual) => problems.push(format!("body {actual} != expected {body}")),
            Err(e) => problems.push(format!("body is not JSON ({e}), expected {body}")),
        }
    }
    if let Some(text) = want.get("body_text") {
        let actual = String::from_utf8_lossy(&got.body);
        if text.as_str() != Some(actual.as_ref()) {
            problems.push(format!("body {actual:?} != expected {text}"));
        }
    }
    if let Some(headers) = headers(want)? {
        if got.headers != headers {
            problems.push(format!("headers {:?} != expected {headers:?}", got.headers));
        }
    }
    if let Some(content_type) = want.get("content_type") {
        if content_type.as_str() != Some(got.content_type.as_str()) {
            problems.push(format!(
                "content type {:?} != expected {content_type}",
                got.content_type
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

fn expected_error(error: &Error, expect: &Value) -> Result<(), String> {
    let kind = match error {
        Error::InvalidConfig(_) => "invalid-config",
        Error::InvalidEvent(_) => "invalid-event",
        Error::Failed(_) => "failed",
    };
    let Some(want) = expect.get("error") else {
        return Err(format!("got error {error}, expected {expect}"));
    };
    if want != kind {
        return Err(format!("got error {error}, expected kind {want}"));
    }
    match expect.get("contains").and_then(Value::as_str) {
        Some(part) if !error.message().contains(part) => {
            Err(format!("error {error:?} does not contain {part:?}"))
        }
        _ => Ok(()),
    }
}
