//! Summary statistics over a set of samples.

use serde::{Deserialize, Serialize};

/// Summary of n timing samples, all in nanoseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Number of samples.
    pub n: u64,
    /// Smallest sample.
    pub min_ns: f64,
    /// Median (nearest-rank).
    pub p50_ns: f64,
    /// 95th percentile (nearest-rank).
    pub p95_ns: f64,
    /// 99th percentile (nearest-rank).
    pub p99_ns: f64,
    /// Largest sample.
    pub max_ns: f64,
    /// Arithmetic mean.
    pub mean_ns: f64,
    /// Sample standard deviation (n - 1 in the denominator; 0 when n < 2).
    pub stddev_ns: f64,
    /// Sum of all samples.
    pub sum_ns: f64,
    /// Calls (or events) per second at the mean: 1e9 / mean.
    pub per_sec: f64,
}

impl Stats {
    /// Summarises `samples`, sorting them in place. Returns `None` when empty.
    pub fn from_samples(samples: &mut [f64]) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable_by(f64::total_cmp);
        let n = samples.len();
        let sum: f64 = samples.iter().sum();
        let mean = sum / n as f64;
        let var = if n > 1 {
            samples.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        Some(Stats {
            n: n as u64,
            min_ns: samples[0],
            p50_ns: percentile(samples, 50.0),
            p95_ns: percentile(samples, 95.0),
            p99_ns: percentile(samples, 99.0),
            max_ns: samples[n - 1],
            mean_ns: mean,
            stddev_ns: var.sqrt(),
            sum_ns: sum,
            per_sec: if mean > 0.0 { 1e9 / mean } else { 0.0 },
        })
    }
}

/// Nearest-rank percentile of sorted, non-empty samples: the smallest sample
/// with at least `pct` % of the samples at or below it.
pub fn percentile(sorted: &[f64], pct: f64) -> f64 {
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_one_to_hundred() {
        let mut s: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let st = Stats::from_samples(&mut s).unwrap();
        assert_eq!((st.n, st.min_ns, st.max_ns), (100, 1.0, 100.0));
        assert_eq!((st.p50_ns, st.p95_ns, st.p99_ns), (50.0, 95.0, 99.0));
        assert_eq!(st.mean_ns, 50.5);
        assert!((st.stddev_ns - 29.011_491_975_882_02).abs() < 1e-9);
        assert!((st.per_sec - 1e9 / 50.5).abs() < 1e-6);
    }

    #[test]
    fn single_and_empty() {
        let st = Stats::from_samples(&mut [7.0]).unwrap();
        assert_eq!((st.p50_ns, st.p99_ns, st.stddev_ns), (7.0, 7.0, 0.0));
        assert!(Stats::from_samples(&mut []).is_none());
    }
}
