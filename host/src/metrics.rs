//! Prometheus metrics. One registry per server (no global recorder), so
//! tests can run many servers in one process.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::clock::Millis;
use crate::storage::health::HealthRecord;

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
    /// Plugin compiles by outcome (`ready`, `failed`): a restart that
    /// compiled nothing again leaves it at zero.
    pub plugin_compiles: Family<OutcomeLabel, Counter>,
    /// Plugin artifacts read from the store into the runtime's cache:
    /// once per version and process, however many deliveries wanted it.
    pub plugin_loads: Counter,
    /// Plugin instances kept for the next delivery of their webhook (set
    /// at scrape time).
    pub plugin_instances_kept: Gauge,
    /// Plugin calls on the delivery path that ran in a kept instance.
    pub plugin_instances_reused: Counter,
    /// Rows deleted by retention, by kind (`deliveries`, `attempts`, `events`).
    pub retention_deleted_rows: Family<KindLabel, Counter>,
    /// Completed retention runs.
    pub retention_runs: Counter,
    /// Processes on this host working on the same database (this one included).
    pub host_processes: Gauge,
    /// Attempts this process may have in flight: its share of
    /// `SCAIHUB_MAX_IN_FLIGHT` among the processes on its host.
    pub in_flight_limit: Gauge,
    /// Leases of dead processes released by this one (cluster mode).
    pub leases_taken_over: Counter,
    /// Transactions the ingest writers committed; with
    /// `ingest_requests` it gives the requests per group commit.
    pub ingest_commits: Counter,
    /// Ingest requests written by the group-commit writers.
    pub ingest_requests: Counter,
    /// Deliveries this process's worker took up, by way: `memory`
    /// (leased at ingest and handed over with the commit) or `store`
    /// (claimed from the store: a backlog past the in-memory lane, a
    /// retry, or another process's work).
    pub deliveries_taken: Family<WayLabel, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WayLabel {
    pub way: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
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
        let plugin_compiles = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "plugin_compiles",
            "Plugin versions compiled by this process, by outcome (ready, failed)",
            plugin_compiles.clone(),
        );
        let plugin_loads = Counter::default();
        registry.register(
            "plugin_loads",
            "Plugin artifacts loaded from the store into this process's cache",
            plugin_loads.clone(),
        );
        let plugin_instances_kept = Gauge::default();
        registry.register(
            "plugin_instances_kept",
            "Plugin instances kept for the next delivery of the same plugin on the same webhook",
            plugin_instances_kept.clone(),
        );
        let plugin_instances_reused = Counter::default();
        registry.register(
            "plugin_instances_reused",
            "Plugin calls that ran in an instance kept from an earlier delivery of the same webhook",
            plugin_instances_reused.clone(),
        );
        let retention_deleted_rows = Family::<KindLabel, Counter>::default();
        registry.register(
            "retention_deleted",
            "Rows deleted for being older than the retention, by kind",
            retention_deleted_rows.clone(),
        );
        let retention_runs = Counter::default();
        registry.register(
            "retention_runs",
            "Completed retention pruning runs",
            retention_runs.clone(),
        );
        let host_processes = Gauge::default();
        registry.register(
            "host_processes",
            "Processes on this host working on the same database, this one included",
            host_processes.clone(),
        );
        let in_flight_limit = Gauge::default();
        registry.register(
            "delivery_in_flight_limit",
            "Attempts this process may have in flight: its share of SCAIHUB_MAX_IN_FLIGHT among the processes on its host",
            in_flight_limit.clone(),
        );
        let leases_taken_over = Counter::default();
        registry.register(
            "leases_taken_over",
            "Deliveries leased to a process judged dead, released by this one for sending",
            leases_taken_over.clone(),
        );
        let ingest_commits = Counter::default();
        registry.register(
            "ingest_commits",
            "Transactions committed by the ingest writers (each holds one or more requests)",
            ingest_commits.clone(),
        );
        let ingest_requests = Counter::default();
        registry.register(
            "ingest_requests",
            "Ingest requests written by the ingest writers",
            ingest_requests.clone(),
        );
        let deliveries_taken = Family::<WayLabel, Counter>::default();
        registry.register(
            "deliveries_taken",
            "Deliveries taken up by this process's worker, by way: handed over in memory at ingest, or claimed from the store",
            deliveries_taken.clone(),
        );
        Metrics {
            deliveries_taken,
            ingest_commits,
            ingest_requests,
            leases_taken_over,
            host_processes,
            in_flight_limit,
            retention_deleted_rows,
            retention_runs,
            registry,
            events_ingested,
            attempts,
            attempt_seconds,
            queue_overflows,
            plugin_calls,
            plugin_compiles,
            plugin_loads,
            plugin_instances_kept,
            plugin_instances_reused,
        }
    }

    pub fn attempt(&self, outcome: &str) {
        self.attempts
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Counts `n` deliveries taken up `way` (`memory` or `store`).
    pub fn taken(&self, way: &'static str, n: usize) {
        self.deliveries_taken
            .get_or_create(&WayLabel { way })
            .inc_by(n as u64);
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

    pub fn plugin_compile(&self, outcome: &str) {
        self.plugin_compiles
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    pub fn retention_deleted(&self, kind: &str, rows: u64) {
        self.retention_deleted_rows
            .get_or_create(&KindLabel {
                kind: kind.to_string(),
            })
            .inc_by(rows);
    }

    /// The text exposition, with gauges read from the store appended.
    pub fn render(&self, deliveries_by_status: &[(String, i64)]) -> String {
        self.render_with_health(deliveries_by_status, &[], 0)
    }

    /// [`Metrics::render`] plus per-webhook health gauges (labels `org`,
    /// `webhook`), computed by the caller at scrape time as of `now`.
    pub fn render_with_health(
        &self,
        deliveries_by_status: &[(String, i64)],
        health: &[HealthRecord],
        now: Millis,
    ) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode_registry(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out.push_str("# HELP scaihub_deliveries Deliveries owed in the store by status (queue depth: pending, retrying, queued); finished ones are counted by scaihub_delivery_attempts_total, scaihub_queue_overflows_total and scaihub_plugin_calls_total.\n");
        out.push_str("# TYPE scaihub_deliveries gauge\n");
        for (status, n) in deliveries_by_status {
            out.push_str(&format!("scaihub_deliveries{{status=\"{status}\"}} {n}\n"));
        }
        write_health(&mut out, health, now);
        prometheus_client::encoding::text::encode_eof(&mut out)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Appends the per-webhook gauges. Ids are ScaiHub's own (`org_…`,
/// `whk_…`: lowercase letters, digits, `_`), so labels need no escaping.
fn write_health(out: &mut String, health: &[HealthRecord], now: Millis) {
    use std::fmt::Write;
    type Gauge = (
        &'static str,
        &'static str,
        fn(&HealthRecord, Millis) -> Option<f64>,
    );
    let gauges: [Gauge; 5] = [
        (
            "scaihub_webhook_queue_depth",
            "Deliveries a webhook still owes (pending, retrying, queued).",
            |h, _| Some(h.queue_depth as f64),
        ),
        (
            "scaihub_webhook_success_rate",
            "Successful attempts over all attempts in the last 24 hours (absent without attempts).",
            |h, _| h.success_rate(),
        ),
        (
            "scaihub_webhook_consecutive_failures",
            "Failed attempts since the webhook's last success.",
            |h, _| Some(h.consecutive_failures as f64),
        ),
        (
            "scaihub_webhook_seconds_since_success",
            "Seconds since the webhook's last successful attempt (absent if none).",
            |h, now| h.last_success_at.map(|t| ((now - t).max(0) / 1000) as f64),
        ),
        (
            "scaihub_webhook_failing_seconds",
            "Seconds the webhook has been failing (0 when not failing).",
            |h, now| Some(h.failing_since.map_or(0, |t| (now - t).max(0) / 1000) as f64),
        ),
    ];
    if health.is_empty() {
        return;
    }
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for h in health {
            if let Some(v) = value(h, now) {
                let _ = writeln!(
                    out,
                    "{name}{{org=\"{}\",webhook=\"{}\"}} {v}",
                    h.org_id, h.webhook_id
                );
            }
        }
    }
}
