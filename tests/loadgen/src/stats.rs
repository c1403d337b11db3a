//! Figures shared by every mode: wall-clock microseconds, percentile
//! summaries, and the JSON the receiver answers on `GET /stats`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Microseconds since the Unix epoch. The generator and the receiver run on
/// the same machine, so their clocks agree; `Instant` cannot cross processes.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// p50, p99 and max of a set of durations in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50_us: i64,
    pub p99_us: i64,
    pub max_us: i64,
}

impl Percentiles {
    /// Sorts `values` in place and reads the nearest-rank percentiles.
    pub fn of(values: &mut [i64]) -> Percentiles {
        if values.is_empty() {
            return Percentiles::default();
        }
        values.sort_unstable();
        let rank = |p: f64| {
            values[(((values.len() as f64) * p).ceil() as usize).clamp(1, values.len()) - 1]
        };
        Percentiles {
            p50_us: rank(0.50),
            p99_us: rank(0.99),
            max_us: values[values.len() - 1],
        }
    }
}

/// What the receiver saw since its start or last `POST /reset`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReceiverStats {
    /// Every POST other than `/stats` and `/reset`.
    pub count: u64,
    /// Distinct (path, event_id) pairs: one per webhook and event.
    pub unique: u64,
    /// `count - unique`: the same event at the same webhook more than once.
    pub duplicates: u64,
    /// POSTs whose body had no `sent_at_us` (no latency recorded).
    pub without_sent_at: u64,
    /// Arrival of the first POST, µs since the epoch (0 when none).
    pub first_at_us: i64,
    /// Arrival of the last POST.
    pub last_at_us: i64,
    /// Arrival of the last POST that was not a duplicate.
    pub last_new_at_us: i64,
    /// Arrival minus `sent_at_us`, over every POST that carried it.
    #[serde(flatten)]
    pub latency: Percentiles,
}

/// `count` over `micros`, per second.
pub fn per_sec(count: u64, micros: i64) -> f64 {
    if micros <= 0 {
        0.0
    } else {
        count as f64 * 1e6 / micros as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut v: Vec<i64> = (1..=100).rev().collect();
        let p = Percentiles::of(&mut v);
        assert_eq!((p.p50_us, p.p99_us, p.max_us), (50, 99, 100));
        assert_eq!(Percentiles::of(&mut []).max_us, 0);
        let mut one = [7];
        assert_eq!(Percentiles::of(&mut one).p99_us, 7);
    }
}
