//! Response times as a small fixed histogram, and percentiles read from it.
//!
//! The delivery recorder adds each answered attempt's duration to its
//! webhook's hourly bucket as a count in one of [`BUCKETS`] bins (one
//! column each, so the grouped upsert merges them by plain addition, on
//! both stores). p50 and p99 are read from the summed bins without
//! looking at a single attempt.
//!
//! Precision: bin `i` holds the durations `d` (whole milliseconds) with
//! `BOUNDS[i-1] < d <= BOUNDS[i]`; the bounds grow by about ×1.5–1.7
//! (a rounded quarter-decade series, 1 ms to 50 s), and the last bin holds
//! everything slower than 50 s. A percentile is the nearest-rank sample's
//! bin, interpolated linearly across it (as Prometheus' `histogram_quantile`
//! does), so the true value always lies in the same bin as the figure:
//! at worst off by the bin's width (a factor under 2), usually far less.
//! In the last bin the figure is its lower bound, 50 s.

/// The bins' upper bounds in milliseconds, inclusive; one more bin above
/// the last.
pub const BOUNDS: [i64; 24] = [
    1, 2, 3, 5, 8, 12, 20, 30, 50, 80, 120, 200, 300, 500, 800, 1_200, 2_000, 3_000, 5_000, 8_000,
    12_000, 20_000, 30_000, 50_000,
];

/// How many bins: one per bound and one for slower answers.
pub const BUCKETS: usize = BOUNDS.len() + 1;

/// Counts of durations per bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Histogram(pub [i64; BUCKETS]);

impl Default for Histogram {
    fn default() -> Self {
        Histogram([0; BUCKETS])
    }
}

/// The bin a duration falls in.
pub fn bin_of(duration_ms: i64) -> usize {
    BOUNDS.partition_point(|&b| b < duration_ms)
}

/// The durations bin `i` holds: (exclusive lower, inclusive upper) bound;
/// the last bin has no upper bound.
pub fn bin_range(i: usize) -> (i64, Option<i64>) {
    let lower = if i == 0 { -1 } else { BOUNDS[i - 1] };
    (lower, BOUNDS.get(i).copied())
}

/// The 1-based rank of the `q`-quantile among `n` samples: `ceil(q × n)`,
/// with `q × n` taken as exact when floating point lands a hair above a
/// whole number (0.99 × 100).
pub fn nearest_rank(q: f64, n: i64) -> i64 {
    ((q * n as f64 - 1e-9).ceil() as i64).clamp(1, n.max(1))
}

impl Histogram {
    pub fn record(&mut self, duration_ms: i64) {
        self.0[bin_of(duration_ms)] += 1;
    }

    pub fn add(&mut self, other: &Histogram) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    pub fn count(&self) -> i64 {
        self.0.iter().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// The `q`-quantile (`0 < q <= 1`) in milliseconds, `None` when empty:
    /// the bin of the nearest-rank sample (rank `ceil(q × n)`), interpolated
    /// linearly between the bin's bounds by the rank's place within it.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = nearest_rank(q, n);
        let mut before = 0;
        for (i, &count) in self.0.iter().enumerate() {
            if count > 0 && before + count >= rank {
                let (lower, upper) = bin_range(i);
                let lower = lower.max(0) as f64;
                let Some(upper) = upper else {
                    return Some(lower);
                };
                let within = (rank - before) as f64 / count as f64;
                return Some(lower + (upper as f64 - lower) * within);
            }
            before += count;
        }
        unreachable!("the rank is at most the count")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations_fall_in_the_bin_whose_bounds_hold_them() {
        assert_eq!(bin_of(0), 0);
        assert_eq!(bin_of(1), 0);
        assert_eq!(bin_of(2), 1);
        assert_eq!(bin_of(4), 3);
        assert_eq!(bin_of(5), 3);
        assert_eq!(bin_of(6), 4);
        assert_eq!(bin_of(50_000), BUCKETS - 2);
        assert_eq!(bin_of(50_001), BUCKETS - 1);
        assert_eq!(bin_of(i64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_of_known_samples() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        // 99 answers at 40 ms (bin 30..=50), one at 700 ms (500..=800).
        for _ in 0..99 {
            h.record(40);
        }
        h.record(700);
        let p50 = h.quantile(0.5).unwrap();
        assert!(p50 > 30.0 && p50 <= 50.0, "{p50}");
        // Rank 50 of 99 in its bin: 30 + 20 × 50/99.
        assert!((p50 - (30.0 + 20.0 * 50.0 / 99.0)).abs() < 1e-9, "{p50}");
        let p99 = h.quantile(0.99).unwrap();
        assert_eq!(p99, 50.0, "rank 99 is the last 40 ms answer");
        assert_eq!(h.quantile(1.0).unwrap(), 800.0);
        // Slower than the last bound: the figure is that bound.
        let mut slow = Histogram::default();
        slow.record(90_000);
        assert_eq!(slow.quantile(0.99), Some(50_000.0));
    }

    /// The true nearest-rank percentile of the samples.
    fn exact(samples: &mut [i64], q: f64) -> i64 {
        samples.sort_unstable();
        samples[(nearest_rank(q, samples.len() as i64) - 1) as usize]
    }

    proptest! {
        #[test]
        fn a_quantile_lies_in_the_bin_of_the_true_one(
            mut samples in prop::collection::vec(0i64..120_000, 1..400),
            q in prop::sample::select(vec![0.5, 0.9, 0.99, 1.0]),
        ) {
            let mut h = Histogram::default();
            for s in &samples {
                h.record(*s);
            }
            let estimate = h.quantile(q).unwrap();
            let truth = exact(&mut samples, q);
            let (lower, upper) = bin_range(bin_of(truth));
            prop_assert!(estimate >= lower.max(0) as f64, "{estimate} below bin of {truth}");
            match upper {
                Some(u) => prop_assert!(estimate <= u as f64, "{estimate} above bin of {truth}"),
                None => prop_assert_eq!(estimate, BOUNDS[BOUNDS.len() - 1] as f64),
            }
        }

        #[test]
        fn merged_histograms_count_every_sample_once(
            a in prop::collection::vec(0i64..100_000, 0..100),
            b in prop::collection::vec(0i64..100_000, 0..100),
        ) {
            let (mut ha, mut hb, mut all) = (Histogram::default(), Histogram::default(), Histogram::default());
            a.iter().for_each(|s| { ha.record(*s); all.record(*s) });
            b.iter().for_each(|s| { hb.record(*s); all.record(*s) });
            ha.add(&hb);
            prop_assert_eq!(ha, all);
            prop_assert_eq!(ha.count(), (a.len() + b.len()) as i64);
        }

        #[test]
        fn quantiles_never_decrease_with_q(samples in prop::collection::vec(0i64..100_000, 1..200)) {
            let mut h = Histogram::default();
            samples.iter().for_each(|s| h.record(*s));
            let p50 = h.quantile(0.5).unwrap();
            let p99 = h.quantile(0.99).unwrap();
            prop_assert!(p50 <= p99, "{p50} > {p99}");
        }
    }
}
