//! Summary statistics over a set of samples: percentiles, bootstrap
//! confidence intervals, Tukey's outlier classes, and the block summaries
//! that `wprof compare` resamples.
//!
//! Samples taken one after another are not independent (a neighbour's
//! burst, a frequency change lasts many calls), so the intervals come from a
//! block bootstrap: up to [`KEPT`] samples are kept in time order (every
//! k-th), cut into [`BLOCKS`] blocks of consecutive samples, and whole blocks
//! are resampled. Drift within a run widens the intervals instead of hiding
//! behind a large n. The kept samples go into the run file, so that
//! `wprof compare` can resample two runs the same way.

use serde::{Deserialize, Serialize};

/// Most samples kept per statistic, in time order.
pub const KEPT: usize = 1000;

/// Blocks the kept samples are cut into for resampling.
pub const BLOCKS: usize = 100;

/// Resamples per bootstrap.
pub const RESAMPLES: usize = 2000;

/// Confidence level of every interval.
pub const LEVEL: f64 = 0.95;

/// Bootstrap confidence intervals of a median and a mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ci {
    /// Confidence level, e.g. 0.95.
    pub level: f64,
    /// Lower end for the median, in nanoseconds.
    pub median_lo_ns: f64,
    /// Upper end for the median.
    pub median_hi_ns: f64,
    /// Lower end for the mean.
    pub mean_lo_ns: f64,
    /// Upper end for the mean.
    pub mean_hi_ns: f64,
    /// Bootstrap resamples drawn.
    pub resamples: u64,
}

/// Samples outside Tukey's fences (quartiles -/+ 1.5 and 3 IQR): counted
/// and reported, never dropped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outliers {
    /// Below Q1 - 3 IQR.
    pub low_severe: u64,
    /// Between Q1 - 3 IQR and Q1 - 1.5 IQR.
    pub low_mild: u64,
    /// Between Q3 + 1.5 IQR and Q3 + 3 IQR.
    pub high_mild: u64,
    /// Above Q3 + 3 IQR.
    pub high_severe: u64,
}

impl Stats {
    /// The half-width of the median's 95 % interval, as a percentage of
    /// the median; `None` without an interval or a median.
    pub fn median_half_pct(&self) -> Option<f64> {
        self.ci
            .as_ref()
            .filter(|_| self.p50_ns > 0.0)
            .map(|c| 50.0 * (c.median_hi_ns - c.median_lo_ns) / self.p50_ns)
    }
}

impl Outliers {
    /// All outliers, mild and severe.
    pub fn total(&self) -> u64 {
        self.low_severe + self.low_mild + self.high_mild + self.high_severe
    }
}

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
    /// 95 % bootstrap intervals of the median and the mean; absent for a
    /// single sample. (Absent in run files of older wprof versions.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<Ci>,
    /// Tukey's outlier classes.
    #[serde(default)]
    pub outliers: Outliers,
    /// Up to [`KEPT`] of the samples, every k-th in the order they were
    /// taken: what the intervals and `wprof compare` resample.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<f64>,
}

impl Stats {
    /// Summarises `samples`, given in the order they were taken, sorting
    /// them in place. Returns `None` when empty.
    pub fn from_samples(samples: &mut [f64]) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        let step = samples.len().div_ceil(KEPT);
        // To 0.01 ns: finer than any clock, and half the run file's size.
        let kept: Vec<f64> = samples
            .iter()
            .step_by(step)
            .map(|x| (x * 100.0).round() / 100.0)
            .collect();
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
            ci: (n > 1).then(|| {
                let boot = Blocks::new(&kept).bootstrap(n as u64);
                let (median_lo_ns, median_hi_ns) = interval(&mut boot.0.clone(), LEVEL);
                let (mean_lo_ns, mean_hi_ns) = interval(&mut boot.1.clone(), LEVEL);
                Ci {
                    level: LEVEL,
                    median_lo_ns,
                    median_hi_ns,
                    mean_lo_ns,
                    mean_hi_ns,
                    resamples: RESAMPLES as u64,
                }
            }),
            outliers: outliers(samples),
            kept,
        })
    }

    /// These statistics with count, percentiles, mean and spread taken from
    /// `h` (values in nanoseconds), which holds more samples than were kept
    /// one by one; the intervals, outliers and kept samples stay those of
    /// the samples summarised first.
    pub fn with_histogram(&self, h: &hdrhistogram::Histogram<u64>) -> Stats {
        let n = h.len();
        let mean = h.mean();
        Stats {
            n,
            min_ns: h.min() as f64,
            p50_ns: h.value_at_quantile(0.5) as f64,
            p95_ns: h.value_at_quantile(0.95) as f64,
            p99_ns: h.value_at_quantile(0.99) as f64,
            max_ns: h.max() as f64,
            mean_ns: mean,
            stddev_ns: h.stdev(),
            sum_ns: mean * n as f64,
            per_sec: if mean > 0.0 { 1e9 / mean } else { 0.0 },
            ..self.clone()
        }
    }
}

/// Samples in time order cut into blocks, set up for resampling by block.
pub struct Blocks {
    /// Every sample with its block, sorted by value.
    sorted: Vec<(f64, usize)>,
    /// Sum of each block.
    sums: Vec<f64>,
    /// Length of each block.
    lens: Vec<usize>,
}

impl Blocks {
    /// `samples` (in time order) in up to [`BLOCKS`] blocks.
    pub fn new(samples: &[f64]) -> Blocks {
        let size = samples.len().div_ceil(BLOCKS).max(1);
        let mut sorted: Vec<(f64, usize)> = samples
            .iter()
            .enumerate()
            .map(|(i, &x)| (x, i / size))
            .collect();
        sorted.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let blocks = samples.len().div_ceil(size);
        let mut sums = vec![0.0; blocks];
        let mut lens = vec![0; blocks];
        for (i, &x) in samples.iter().enumerate() {
            sums[i / size] += x;
            lens[i / size] += 1;
        }
        Blocks { sorted, sums, lens }
    }

    /// Medians and means of [`RESAMPLES`] block resamples (as many blocks
    /// drawn with replacement as there are), seeded with `seed`.
    pub fn bootstrap(&self, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let k = self.lens.len();
        let mut rng = Rng::new(seed);
        let mut weight = vec![0u64; k];
        let mut medians = Vec::with_capacity(RESAMPLES);
        let mut means = Vec::with_capacity(RESAMPLES);
        for _ in 0..RESAMPLES {
            weight.fill(0);
            for _ in 0..k {
                weight[rng.below(k)] += 1;
            }
            let total: u64 = (0..k).map(|b| weight[b] * self.lens[b] as u64).sum();
            let sum: f64 = (0..k).map(|b| weight[b] as f64 * self.sums[b]).sum();
            means.push(sum / total as f64);
            // The median of the pooled resample: walk the values in order,
            // each counted as often as its block was drawn.
            let half = total.div_ceil(2);
            let mut seen = 0;
            let mut med = self.sorted.last().map_or(0.0, |v| v.0);
            for &(x, b) in &self.sorted {
                seen += weight[b];
                if seen >= half {
                    med = x;
                    break;
                }
            }
            medians.push(med);
        }
        (medians, means)
    }
}

/// Median of sorted, non-empty values (midpoint of the middle two).
pub fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// A small, fast, seeded generator (SplitMix64): resampling must be
/// reproducible, and needs no cryptographic quality.
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform index below `n` (> 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * n as f64) as usize
    }

    /// A uniform value in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The `(1 - level) / 2` and `(1 + level) / 2` quantiles of `draws`
/// (sorted in place).
pub fn interval(draws: &mut [f64], level: f64) -> (f64, f64) {
    draws.sort_unstable_by(f64::total_cmp);
    let q = |p: f64| percentile(draws, 100.0 * p);
    (q((1.0 - level) / 2.0), q((1.0 + level) / 2.0))
}

/// Median of unsorted values (sorts them).
pub fn median_of(values: &mut [f64]) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    median(values)
}

/// Tukey's classes of sorted samples.
fn outliers(sorted: &[f64]) -> Outliers {
    let (q1, q3) = (percentile(sorted, 25.0), percentile(sorted, 75.0));
    let iqr = q3 - q1;
    let mut o = Outliers::default();
    for &x in sorted {
        if x < q1 - 3.0 * iqr {
            o.low_severe += 1;
        } else if x < q1 - 1.5 * iqr {
            o.low_mild += 1;
        } else if x > q3 + 3.0 * iqr {
            o.high_severe += 1;
        } else if x > q3 + 1.5 * iqr {
            o.high_mild += 1;
        }
    }
    o
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

    /// An exponential sample (median ln 2) of `n` draws.
    fn exponential(rng: &mut Rng, n: usize) -> Vec<f64> {
        (0..n).map(|_| -(1.0 - rng.unit()).ln()).collect()
    }

    #[test]
    fn intervals_cover_the_true_median_and_mean_at_about_the_nominal_rate() {
        // Skewed, independent samples: the 95 % intervals should miss the
        // true value about 5 % of the time. 300 trials: within 88-99 %.
        let mut rng = Rng::new(7);
        let (mut median_hits, mut mean_hits) = (0, 0);
        let trials = 300;
        for _ in 0..trials {
            let mut s = exponential(&mut rng, 400);
            let ci = Stats::from_samples(&mut s).unwrap().ci.unwrap();
            median_hits +=
                usize::from(ci.median_lo_ns <= 2f64.ln() && 2f64.ln() <= ci.median_hi_ns);
            mean_hits += usize::from(ci.mean_lo_ns <= 1.0 && 1.0 <= ci.mean_hi_ns);
        }
        for (what, hits) in [("median", median_hits), ("mean", mean_hits)] {
            let rate = hits as f64 / trials as f64;
            assert!((0.88..=0.99).contains(&rate), "{what} covered {rate}");
        }
    }

    #[test]
    fn drift_within_a_run_widens_the_interval() {
        // The same values, once shuffled and once as a slow drift: the
        // block bootstrap must see the drift (a per-sample bootstrap would
        // give both the same, narrow interval).
        let mut rng = Rng::new(3);
        let drift: Vec<f64> = (0..10_000).map(|i| 100.0 + i as f64 / 1000.0).collect();
        let mut shuffled = drift.clone();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.below(i + 1));
        }
        let width = |mut s: Vec<f64>| {
            let ci = Stats::from_samples(&mut s).unwrap().ci.unwrap();
            ci.mean_hi_ns - ci.mean_lo_ns
        };
        // Blocks of 20: about sqrt(20) = 4.5 times wider.
        assert!(width(drift) > 3.0 * width(shuffled));
    }

    #[test]
    fn a_histogram_gives_the_same_figures_to_three_digits() {
        let mut rng = Rng::new(11);
        let mut s: Vec<f64> = (0..50_000)
            .map(|_| (1000.0 * (1.0 + rng.unit())).round())
            .collect();
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 1 << 40, 3).unwrap();
        for &x in &s {
            h.record(x as u64).unwrap();
        }
        let exact = Stats::from_samples(&mut s).unwrap();
        let hist = exact.with_histogram(&h);
        assert_eq!(hist.n, exact.n);
        for (a, b) in [
            (hist.p50_ns, exact.p50_ns),
            (hist.p99_ns, exact.p99_ns),
            (hist.mean_ns, exact.mean_ns),
            (hist.max_ns, exact.max_ns),
        ] {
            assert!((a - b).abs() / b < 1e-3, "{a} vs {b}");
        }
        assert_eq!(hist.kept, exact.kept, "kept samples stay");
    }

    #[test]
    fn tukey_classes_on_known_data() {
        // 1..=100 and five more: Q1 25, Q3 77, IQR 52: mild below -53 or
        // above 155, severe below -131 or above 233.
        let mut s: Vec<f64> = (1..=100).map(f64::from).collect();
        s.extend([160.0, 170.0, 240.0, -200.0, -60.0]);
        let o = Stats::from_samples(&mut s).unwrap().outliers;
        assert_eq!(
            (o.low_severe, o.low_mild, o.high_mild, o.high_severe),
            (1, 1, 2, 1),
            "{o:?}"
        );
    }

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
