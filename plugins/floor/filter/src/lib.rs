//! `floor-filter`: delivers every event and reads neither the event nor its
//! config. A call to it costs what the sandbox costs and nothing more (a
//! fresh store, instantiation, passing the event in, the answer out), so the
//! benchmarks use it to tell the host's share of a call from a plugin's own.

use scaihub_sdk::{Config, Error, Event, Filter, Verdict, export_filter};

/// The plugin.
pub struct FloorFilter;

impl Filter for FloorFilter {
    fn filter(_: &Event, _: &Config) -> Result<Verdict, Error> {
        Ok(Verdict::Deliver)
    }
}

export_filter!(FloorFilter);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_whatever_it_is_given() {
        let event = Event::sample(&scaihub_sdk::serde_json::json!({"role": "owner"}));
        assert_eq!(
            FloorFilter::filter(&event, &Config::new("not json")),
            Ok(Verdict::Deliver)
        );
    }
}
