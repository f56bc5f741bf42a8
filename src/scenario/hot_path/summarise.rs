//! From a hot-path recording to a variant: per-phase statistics, the
//! uninstrumented figure and what instrumenting cost; and one variant
//! against another.

use crate::phase::Phase;
use crate::run::{Comparison, PairedRatio, PhaseDelta, Uninstrumented, Variant};
use crate::stats::Stats;
use crate::timing::pairing::{paired_ratio, round_figures, round_instrumented};
use crate::timing::rounds::{BATCH_CALLS, Recording};
use crate::timing::settle::phase_stats;

/// Rounds a paired overhead needs before its interval is reported (and
/// can call a negative overhead impossible).
const MIN_ROUNDS_FOR_CI: u64 = 5;

/// Turns a recording into a variant: per-phase statistics and the
/// uninstrumented comparison.
pub(crate) fn summarise(
    name: &str,
    description: String,
    phases: &[Phase],
    rec: &Recording,
    ns_per_tick: f64,
) -> Variant {
    let w = rec.width;
    let rows = || rec.rows().chunks_exact(w);
    let out = phase_stats(rec.rows(), phases, Phase::Call, ns_per_tick);
    let call_mean = out.last().map_or(0.0, |c| c.stats.mean_ns);
    let uninstrumented = (!rec.batches.is_empty()).then(|| {
        let calls: u64 = rec.batches.iter().map(|b| b.0).sum();
        let ticks: u64 = rec.batches.iter().map(|b| b.1).sum();
        let mean = ticks as f64 * ns_per_tick / calls as f64;
        let mut plain: Vec<f64> = rec
            .batches
            .iter()
            .map(|&(c, t)| t as f64 * ns_per_tick / c as f64)
            .collect();
        let mut timed: Vec<f64> = rec
            .timed_batches
            .iter()
            .map(|&(first, n)| {
                let ticks: u64 = rows().skip(first).take(n).map(|r| r[w - 1] - r[0]).sum();
                ticks as f64 * ns_per_tick / n as f64
            })
            .collect();
        let plain = Stats::from_samples(&mut plain).expect("batches is not empty");
        let timed_median = Stats::from_samples(&mut timed).map_or(call_mean, |s| s.p50_ns);
        // Round by round, each round's instrumented calls against its own
        // uninstrumented ones: a machine whose speed changes between rounds
        // moves both alike.
        let paired = paired_ratio(
            &round_instrumented(rec, ns_per_tick),
            &round_figures(rec, ns_per_tick),
        );
        let pct = |r: f64| 100.0 * (r - 1.0);
        Uninstrumented {
            calls,
            batches: plain.n,
            batch_calls: BATCH_CALLS as u64,
            mean_ns: mean,
            median_ns: plain.p50_ns,
            batch_min_ns: plain.min_ns,
            batch_max_ns: plain.max_ns,
            per_sec: 1e9 / plain.p50_ns,
            instrumentation_overhead_pct: paired
                .as_ref()
                .map_or(100.0 * (timed_median - plain.p50_ns) / plain.p50_ns, |p| {
                    pct(p.ratio)
                }),
            // An interval over fewer rounds says little about noise.
            instrumentation_overhead_ci_pct: paired
                .as_ref()
                .filter(|p| p.rounds >= MIN_ROUNDS_FOR_CI)
                .map(|p| (pct(p.lo), pct(p.hi))),
        }
    });
    Variant {
        name: name.to_owned(),
        description,
        phases: out,
        uninstrumented,
        ..Variant::default()
    }
}

/// `subject` against `baseline`, with their ratio `paired` by round where
/// they were measured in the same rounds.
pub(super) fn compare(
    subject: &Variant,
    baseline: &Variant,
    paired: Option<&PairedRatio>,
) -> Option<Comparison> {
    let (su, bu) = (
        subject.uninstrumented.as_ref()?,
        baseline.uninstrumented.as_ref()?,
    );
    let (sc, bc) = (subject.phase(Phase::Call)?, baseline.phase(Phase::Call)?);
    let mut order: Vec<Phase> = subject
        .phases
        .iter()
        .chain(&baseline.phases)
        .map(|p| p.phase)
        .collect();
    order.sort();
    order.dedup();
    let mean = |v: &Variant, p| v.phase(p).map_or(0.0, |s| s.stats.mean_ns);
    let phases = order
        .into_iter()
        .filter(|&p| p != Phase::Call)
        .map(|p| PhaseDelta {
            phase: p,
            subject_ns: mean(subject, p),
            baseline_ns: mean(baseline, p),
            delta_ns: mean(subject, p) - mean(baseline, p),
        })
        .collect();
    let unpaired = su.median_ns / bu.median_ns;
    let ratio = paired.map_or(unpaired, |p| p.ratio);
    Some(Comparison {
        baseline: baseline.name.clone(),
        subject: subject.name.clone(),
        ratio,
        ratio_ci: paired.map(|p| (p.lo, p.hi)),
        rounds: paired.map_or(0, |p| p.rounds),
        unpaired_ratio: unpaired,
        overhead_ns: (ratio - 1.0) * bu.median_ns,
        overhead_pct: 100.0 * (ratio - 1.0),
        p50_ratio: sc.stats.p50_ns / bc.stats.p50_ns,
        phases,
    })
}
