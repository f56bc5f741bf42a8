//! The hot path's measuring: every variant warmed up, then round after
//! round, each variant's round in turn, until the calls asked for are made,
//! the time is up, the intervals are narrow enough, or Ctrl-C.

use std::time::Instant;

use super::HotPathConfig;
use crate::error::CallError;
use crate::stats::Stats;
use crate::timing::Clock;
use crate::timing::rounds::{Recording, RoundPlan, Rounds};

/// What the timed part of the run returns.
pub(super) struct Measured {
    /// Each variant's recording, in the order given.
    pub(super) recordings: Vec<Recording>,
    /// The tick the timeline starts at.
    pub(super) origin: u64,
    /// The moment `origin` was read, for readings taken by other clocks.
    pub(super) origin_instant: Instant,
    /// Why measuring stopped before `iterations`, when it did.
    pub(super) stopped: Option<String>,
    /// How steady the machine was, from a reference workload timed before
    /// each round.
    pub(super) drift: Option<crate::run::Drift>,
}

/// Measures `variants` in rounds, variant `i` taking its instrumented
/// batch first in rounds where `r + i` is even.
pub(super) fn measure<C: Clock>(
    clock: &C,
    cfg: &HotPathConfig,
    variants: &mut [&mut dyn Rounds],
) -> Result<Measured, CallError> {
    let iterations = cfg.iterations as usize;
    let rounds = (cfg.rounds.max(1) as usize).min(iterations.max(1));
    {
        let _stage = crate::stages::stage("warm-up", 0, 0);
        for v in variants.iter_mut() {
            v.warm_up(cfg.warmup)?;
        }
    }
    let mut recordings: Vec<Recording> = variants
        .iter()
        .map(|v| Recording::new(v.phases().len() + 1, iterations, rounds))
        .collect();
    let origin = clock.now();
    let origin_instant = Instant::now();
    let mut stopped = None;
    let mut reference = crate::timing::drift::Reference::default();
    for r in 0..rounds {
        // Opened between rounds: no span is entered inside a timed stretch.
        let _stage = crate::stages::step("round", r as u64 + 1, rounds as u64);
        // Between rounds, outside every variant's timing.
        reference.time(clock);
        // Spread the remainder over the first rounds.
        let calls = iterations / rounds + usize::from(r < iterations % rounds);
        for (i, (v, rec)) in variants.iter_mut().zip(&mut recordings).enumerate() {
            let plan = RoundPlan {
                calls: calls as u64,
                instrumented_first: (r + i) % 2 == 0,
            };
            v.round(rec, plan)?;
        }
        let done = recordings[0].calls;
        if r + 1 < rounds && crate::interrupt::requested() {
            stopped = Some(crate::interrupt::note(&format!(
                "after round {} of {rounds} ({done} calls a variant)",
                r + 1
            )));
            break;
        }
        if r + 1 == rounds || r == 0 {
            continue;
        }
        // Between rounds, never inside one: the checks cost milliseconds.
        if let Some(max) = cfg.max_time
            && origin_instant.elapsed() >= max
        {
            stopped = Some(format!(
                "stopped after round {} of {rounds} ({done} calls a variant): --max-time {} reached",
                r + 1,
                humantime::format_duration(max)
            ));
            break;
        }
        if let Some(target) = cfg.target_ci_pct {
            // Every driver stamps on this machine's TSC or monotonic clock:
            // the same rate for all.
            let widths: Vec<f64> = recordings
                .iter()
                .map(|rec| call_ci_half_width_pct(rec, clock.ns_per_tick()))
                .collect();
            if widths.iter().all(|&w| w <= target) {
                stopped = Some(format!(
                    "stopped after round {} of {rounds} ({done} calls a variant): every median call's 95 % interval within ±{target} % (widest ±{:.2} %)",
                    r + 1,
                    widths.iter().copied().fold(0.0, f64::max)
                ));
                break;
            }
        }
    }
    Ok(Measured {
        recordings,
        origin,
        origin_instant,
        stopped,
        drift: reference.assess(),
    })
}

/// Half-width of the 95 % interval of a recording's median whole call so
/// far, in percent of the median (infinite with too few calls).
fn call_ci_half_width_pct(rec: &Recording, ns_per_tick: f64) -> f64 {
    let w = rec.width;
    let mut calls: Vec<f64> = rec
        .rows()
        .chunks_exact(w)
        .map(|r| (r[w - 1] - r[0]) as f64 * ns_per_tick)
        .collect();
    match Stats::from_samples(&mut calls) {
        Some(Stats {
            p50_ns,
            ci: Some(ci),
            ..
        }) if p50_ns > 0.0 => 50.0 * (ci.median_hi_ns - ci.median_lo_ns) / p50_ns,
        _ => f64::INFINITY,
    }
}
