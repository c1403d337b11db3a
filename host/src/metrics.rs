//! Prometheus metrics. One registry per server (no global recorder), so
//! tests can run many servers in one process.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

/// Counters and histograms the service updates as it works.
pub struct Metrics {
    registry: Registry,
    pub events_ingested: Counter,
    /// Attempts by outcome: `succeeded`, `failed`, `dropped`, `refused`.
    pub attempts: Family<OutcomeLabel, Counter>,
    pub attempt_seconds: Histogram,
    pub queue_overflows: Counter,
    /// Plugin calls by kind and outcome (`ok`, `error`).
    pub plugin_calls: Family<PluginLabel, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabel {
    pub kind: String,
    pub outcome: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("scaihub");
        let events_ingested = Counter::default();
        registry.register(
            "events_ingested",
            "Events accepted (new, not duplicates)",
            events_ingested.clone(),
        );
        let attempts = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "delivery_attempts",
            "Delivery attempts by outcome",
            attempts.clone(),
        );
        let attempt_seconds = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ]);
        registry.register(
            "delivery_attempt_duration_seconds",
            "Time from request start to response",
            attempt_seconds.clone(),
        );
        let queue_overflows = Counter::default();
        registry.register(
            "queue_overflows",
            "Events refused by a paused webhook's full queue",
            queue_overflows.clone(),
        );
        let plugin_calls = Family::<PluginLabel, Counter>::default();
        registry.register(
            "plugin_calls",
            "Plugin calls by kind and outcome",
            plugin_calls.clone(),
        );
        Metrics {
            registry,
            events_ingested,
            attempts,
            attempt_seconds,
            queue_overflows,
            plugin_calls,
        }
    }

    pub fn attempt(&self, outcome: &str) {
        self.attempts
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    pub fn plugin_call(&self, kind: &str, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.plugin_calls
            .get_or_create(&PluginLabel {
                kind: kind.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The text exposition, with gauges read from the store appended.
    pub fn render(&self, deliveries_by_status: &[(String, i64)]) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode_registry(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out.push_str("# HELP scaihub_deliveries Deliveries in the store by status (queue depth: pending, retrying, queued).\n");
        out.push_str("# TYPE scaihub_deliveries gauge\n");
        for (status, n) in deliveries_by_status {
            out.push_str(&format!("scaihub_deliveries{{status=\"{status}\"}} {n}\n"));
        }
        prometheus_client::encoding::text::encode_eof(&mut out)
            .expect("writing to a String cannot fail");
        out
    }
}
