//! Paired figures: two variants measured in the same rounds, one ratio per
//! round, so that a machine that slows down or speeds up during a run moves
//! both sides of each ratio alike. The ratio reported is the median of the
//! per-round ratios, with a bootstrap interval over rounds.

use super::rounds::Recording;
use crate::run::PairedRatio;
use crate::stats::{LEVEL, Rng, interval, median_of};

/// Resamples per bootstrap.
const RESAMPLES: usize = crate::stats::RESAMPLES;

/// For each round (`ends`: where each ends, in items), the median of
/// `value` over its items; NaN for a round with none (cut short), so that
/// rounds stay aligned.
pub fn median_per_round(
    ends: impl IntoIterator<Item = usize>,
    value: impl Fn(usize) -> f64,
) -> Vec<f64> {
    let mut start = 0;
    ends.into_iter()
        .map(|end| {
            let mut values: Vec<f64> = (start..end).map(&value).collect();
            start = end;
            if values.is_empty() {
                f64::NAN
            } else {
                median_of(&mut values)
            }
        })
        .collect()
}

/// Each round's uninstrumented time per call, in nanoseconds: the median of
/// that round's batch means.
pub fn round_figures(rec: &Recording, ns_per_tick: f64) -> Vec<f64> {
    median_per_round(rec.round_ends.iter().map(|e| e.0), |i| {
        let (calls, ticks) = rec.batches[i];
        ticks as f64 * ns_per_tick / calls.max(1) as f64
    })
}

/// Each round's instrumented time per call, in nanoseconds: the median of
/// that round's timed batches' means (whole calls, first stamp to last).
pub fn round_instrumented(rec: &Recording, ns_per_tick: f64) -> Vec<f64> {
    let w = rec.width;
    let rows = rec.rows();
    median_per_round(rec.round_ends.iter().map(|e| e.1), |i| {
        let (first, n) = rec.timed_batches[i];
        let ticks: u64 = rows[first * w..(first + n) * w]
            .chunks_exact(w)
            .map(|r| r[w - 1] - r[0])
            .sum();
        ticks as f64 * ns_per_tick / n.max(1) as f64
    })
}

/// The median of the ratios `subject[r] / baseline[r]` over the rounds both
/// have, with a 95 % bootstrap interval; `None` without a round.
pub fn paired_ratio(subject: &[f64], baseline: &[f64]) -> Option<PairedRatio> {
    let mut ratios: Vec<f64> = subject
        .iter()
        .zip(baseline)
        .filter(|(s, b)| s.is_finite() && b.is_finite() && **b > 0.0)
        .map(|(s, b)| s / b)
        .collect();
    if ratios.is_empty() {
        return None;
    }
    let n = ratios.len();
    let mut rng = Rng::new(0x9a1d ^ n as u64);
    let mut meds = Vec::with_capacity(RESAMPLES);
    let mut draw = vec![0.0; n];
    for _ in 0..RESAMPLES {
        for d in draw.iter_mut() {
            *d = ratios[rng.below(n)];
        }
        meds.push(median_of(&mut draw));
    }
    let (lo, hi) = interval(&mut meds, LEVEL);
    let per_round = ratios.clone();
    Some(PairedRatio {
        ratio: median_of(&mut ratios),
        lo,
        hi,
        rounds: n as u64,
        per_round,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_that_slows_down_moves_no_paired_ratio() {
        // Both sides 20 % slower in the second half: the ratio stays 1.25.
        let base: Vec<f64> = (0..10).map(|r| if r < 5 { 100.0 } else { 120.0 }).collect();
        let subject: Vec<f64> = base.iter().map(|b| b * 1.25).collect();
        let p = paired_ratio(&subject, &base).unwrap();
        assert!((p.ratio - 1.25).abs() < 1e-12, "{p:?}");
        assert!((p.lo - 1.25).abs() < 1e-12 && (p.hi - 1.25).abs() < 1e-12);
        assert_eq!(p.rounds, 10);
        assert!(paired_ratio(&[], &[]).is_none());
    }

    #[test]
    fn round_figures_are_medians_of_each_rounds_batches() {
        let rec = Recording {
            batches: vec![(10, 100), (10, 300), (10, 200), (5, 100)],
            round_ends: vec![(3, 0), (4, 0)],
            ..Recording::default()
        };
        assert_eq!(round_figures(&rec, 1.0), vec![20.0, 20.0]);
    }
}
