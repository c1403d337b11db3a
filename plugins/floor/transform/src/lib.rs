//! `floor-transform`: returns the request it is given, unchanged, and reads
//! neither the event nor its config. A call to it costs what the sandbox
//! costs (a fresh store, instantiation, the event and request in, the request
//! out), so the benchmarks use it to tell the host's share of a call from a
//! plugin's own.

use scaihub_sdk::{Config, Error, Event, Request, Transform, export_transform};

/// The plugin.
pub struct FloorTransform;

impl Transform for FloorTransform {
    fn transform(_: &Event, request: Request, _: &Config) -> Result<Request, Error> {
        Ok(request)
    }
}

export_transform!(FloorTransform);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_request_unchanged() {
        let event = Event::sample(&scaihub_sdk::serde_json::json!({"role": "owner"}));
        let request = Request {
            body: b"{\"a\":1}".to_vec(),
            headers: vec![("X-A".into(), "1".into())],
            content_type: "application/json".into(),
        };
        assert_eq!(
            FloorTransform::transform(&event, request.clone(), &Config::new("")),
            Ok(request)
        );
    }
}
