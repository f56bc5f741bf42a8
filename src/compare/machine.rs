//! Telling a change of the plugin from a change of the machine. Two runs on
//! a shared machine differ with nothing changed: a neighbour, turbo or a
//! throttled VM slows or speeds every phase alike. Each run carries its own
//! measure of its machine's speed (a fixed reference workload timed between
//! rounds, [`crate::run::Drift`]) and, where it has one, its wasm/native
//! ratio paired round by round; a change that vanishes once they are taken
//! into account is machine drift, reported as such, and passes the gate.

use super::{CompareConfig, PhaseChange, RatioChange, Verdict, change, verdict};
use crate::phase::Phase;
use crate::run::{Pair, Run};
use crate::stats::{Blocks, LEVEL, interval};

/// A run's machine speed: its reference workload's times, for resampling.
pub struct Speed {
    blocks: Blocks,
    /// Their median, in nanoseconds.
    pub p50_ns: f64,
}

impl Speed {
    /// The run's machine speed, where it measured one (two rounds or more).
    pub fn of(run: &Run) -> Option<Speed> {
        let d = run.drift.as_ref()?;
        Speed::from_times(&d.reference_ns, d.reference_p50_ns)
    }

    /// From reference times and their median.
    pub fn from_times(times: &[f64], p50_ns: f64) -> Option<Speed> {
        (times.len() >= 2 && p50_ns > 0.0).then(|| Speed {
            blocks: Blocks::new(times),
            p50_ns,
        })
    }
}

/// The change of a phase once each run's times are divided by its own
/// machine speed, in percent, with its 95 % interval: `(point, lo, hi)`.
/// `None` with too few samples.
pub fn normalised_change(
    base: (&[f64], f64),
    new: (&[f64], f64),
    base_speed: &Speed,
    new_speed: &Speed,
) -> Option<(f64, f64, f64)> {
    if base.0.len() < 2 || new.0.len() < 2 || base.1 <= 0.0 {
        return None;
    }
    // Seeds differ from the raw change's so the two draws are independent.
    let (b, _) = Blocks::new(base.0).bootstrap(11);
    let (n, _) = Blocks::new(new.0).bootstrap(12);
    let (bs, _) = base_speed.blocks.bootstrap(13);
    let (ns, _) = new_speed.blocks.bootstrap(14);
    let mut draws: Vec<f64> = (0..b.len())
        .filter(|&i| b[i] > 0.0 && ns[i] > 0.0)
        .map(|i| 100.0 * ((n[i] / ns[i]) / (b[i] / bs[i]) - 1.0))
        .collect();
    if draws.is_empty() {
        return None;
    }
    let (lo, hi) = interval(&mut draws, LEVEL);
    let point = 100.0 * ((new.1 / new_speed.p50_ns) / (base.1 / base_speed.p50_ns) - 1.0);
    Some((point, lo, hi))
}

/// The pairs (`subject`/`baseline` ratios measured round by round) both
/// runs have, with enough rounds to compare: `(base, new)`.
pub fn common_pairs<'a>(base: &'a Run, new: &'a Run) -> Vec<(&'a Pair, &'a Pair)> {
    base.pairs
        .iter()
        .filter(|p| p.ratio.per_round.len() >= 2)
        .filter_map(|b| {
            new.pairs
                .iter()
                .find(|n| {
                    n.subject == b.subject
                        && n.baseline == b.baseline
                        && n.ratio.per_round.len() >= 2
                })
                .map(|n| (b, n))
        })
        .collect()
}

/// The paired ratios both runs have, compared.
pub(super) fn ratio_changes(base: &Run, new: &Run, cfg: &CompareConfig) -> Vec<RatioChange> {
    common_pairs(base, new)
        .into_iter()
        .filter_map(|(b, n)| {
            let (change_pct, lo, hi) = change(
                &b.ratio.per_round,
                &n.ratio.per_round,
                b.ratio.ratio,
                n.ratio.ratio,
            )?;
            // A ratio has no nanosecond noise floor: only the percentage.
            let verdict = verdict(lo, hi, 1.0, cfg.noise_pct, 0.0);
            Some(RatioChange {
                subject: b.subject.clone(),
                baseline: b.baseline.clone(),
                base: b.ratio.ratio,
                new: n.ratio.ratio,
                change_pct,
                ci_lo_pct: lo,
                ci_hi_pct: hi,
                verdict,
                fails: verdict == Verdict::Regressed && change_pct > cfg.threshold_pct,
            })
        })
        .collect()
}

/// Turns into [`Verdict::Drift`] each regression or improvement that moved
/// with the machine: within noise once each run's times are divided by its
/// own machine speed, where that speed itself moved beyond noise
/// (`machine_moved`), or, on the same input, in a variant whose paired
/// ratio held while its partner's whole call, or the same phase of it,
/// moved the same way.
///
/// The normalised change only ever clears a change, never makes one: on
/// the VM wprof is developed on, the reference workload's median moves by
/// up to 15 % between runs on its own, and judging by it made both false
/// regressions (a same-binary pair) and missed real ones (measured with
/// scripts/noise-check).
pub(super) fn judge_drift(
    phases: &mut [PhaseChange],
    ratios: &[RatioChange],
    same_input: bool,
    machine_moved: bool,
    noise_pct: f64,
    noise_ns: f64,
) {
    let raw: Vec<(String, Phase, Verdict)> = phases
        .iter()
        .map(|p| (p.variant.clone(), p.phase, p.verdict))
        .collect();
    let verdict_of = |variant: &str, phase: Phase| {
        raw.iter()
            .find(|(v, ph, _)| v == variant && *ph == phase)
            .map(|r| r.2)
    };
    for p in phases.iter_mut() {
        if !matches!(p.verdict, Verdict::Regressed | Verdict::Improved) {
            continue;
        }
        let normalised_holds = machine_moved
            && p.normalised_pct.is_some_and(|(_, lo, hi)| {
                verdict(lo, hi, p.base_p50_ns, noise_pct, noise_ns) == Verdict::NoChange
            });
        let moved_alike = same_input
            && ratios.iter().any(|r| {
                let partner = if r.subject == p.variant {
                    &r.baseline
                } else if r.baseline == p.variant {
                    &r.subject
                } else {
                    return false;
                };
                // The partner's whole call, or the same phase, moved alike.
                r.verdict == Verdict::NoChange
                    && (verdict_of(partner, Phase::Call) == Some(p.verdict)
                        || verdict_of(partner, p.phase) == Some(p.verdict))
            });
        if normalised_holds || moved_alike {
            p.verdict = Verdict::Drift;
        }
    }
}
