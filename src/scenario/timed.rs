//! The timing loop the boundary scenarios (data-transfer, batching,
//! host-functions, codecs, compute) share: a [`Target`] called until a
//! budget is spent, its clock stamps turned into a variant's statistics and
//! timeline spans.

use std::time::{Duration, Instant};

use super::hot_path::{Marks, Stamps, Target};
use crate::host::CallError;
use crate::measure::{self, Clock};
use crate::phase::Phase;
use crate::run::{ClockInfo, Run, Span, Variant};

/// How long a variant is measured: at least `min` calls, then until `time`
/// has passed, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    pub(crate) min: u64,
    pub(crate) max: u64,
    pub(crate) time: Duration,
}

/// Stamps of one variant: `width` per call, back to back.
pub(crate) struct Timed {
    pub(crate) stamps: Vec<u64>,
    pub(crate) calls: usize,
}

/// Marks that read nothing: the same call without clock reads.
pub(crate) struct NoMarks;

impl Marks for NoMarks {
    #[inline(always)]
    fn mark(&mut self, _k: usize) {}
}

/// Warms `t` up for ~50 ms (at least 2 calls), then measures it within
/// `budget`. The stamps are written, not just reserved, before the first
/// call; the only check per call reads the stamp the call already took.
pub(crate) fn time_target<T: Target, C: Clock>(
    clock: &C,
    t: &mut T,
    width: usize,
    budget: Budget,
) -> Result<Timed, CallError> {
    let warm = Instant::now();
    let mut n = 0;
    while n < 2 || (warm.elapsed() < Duration::from_millis(50) && n < 10_000) {
        t.call()?;
        n += 1;
    }
    let max = budget.max.max(budget.min).max(1) as usize;
    let mut stamps = vec![u64::MAX; max * width];
    // Nanoseconds per tick so far (a calibrated clock refines it later).
    let budget_ticks = (budget.time.as_nanos() as f64 / clock.ns_per_tick().max(1e-3)) as u64;
    let mut calls = 0;
    let start = clock.now();
    for row in stamps.chunks_exact_mut(width) {
        t.call_marked(&mut Stamps {
            clock,
            row: &mut *row,
        })?;
        calls += 1;
        if calls as u64 >= budget.min && row[width - 1].saturating_sub(start) >= budget_ticks {
            break;
        }
    }
    stamps.truncate(calls * width);
    Ok(Timed { stamps, calls })
}

/// One measured variant before statistics: `phases.len() + 1` stamps a call.
pub(crate) struct Recorded {
    pub(crate) variant: Variant,
    pub(crate) stamps: Vec<u64>,
    pub(crate) phases: Vec<Phase>,
}

impl Recorded {
    pub(crate) fn new(variant: Variant, timed: Timed, phases: &[Phase]) -> Recorded {
        Recorded {
            variant,
            stamps: timed.stamps,
            phases: phases.to_vec(),
        }
    }
}

/// Each variant's phase statistics (the call row last), and `trace_calls`
/// calls of each as timeline spans, labelled with the bytes `bytes` says
/// the variant moves (in, out).
pub(crate) fn settle(
    recorded: Vec<Recorded>,
    ns_per_tick: f64,
    trace_calls: u64,
    bytes: impl Fn(&Variant) -> (u64, u64),
) -> (Vec<Variant>, Vec<Span>) {
    let origin = recorded
        .iter()
        .filter_map(|r| r.stamps.first().copied())
        .min()
        .unwrap_or(0);
    let mut variants = Vec::with_capacity(recorded.len());
    let mut timeline = Vec::new();
    for r in recorded {
        let mut v = r.variant;
        v.phases = super::phase_stats(&r.stamps, &r.phases, Phase::Call, ns_per_tick);
        timeline.extend(super::spans(
            &r.stamps,
            &r.phases,
            Phase::Call,
            &v.name,
            trace_calls,
            origin,
            ns_per_tick,
            bytes(&v),
        ));
        variants.push(v);
    }
    (variants, timeline)
}

/// The run's description of `clock`, read at the end of the run.
pub(crate) fn clock_info<C: Clock>(clock: &C) -> ClockInfo {
    ClockInfo {
        name: C::NAME.to_owned(),
        ns_per_tick: clock.ns_per_tick(),
        read_cost_ns: measure::read_cost_ns(clock),
        resolution_ns: measure::resolution_ns(clock),
    }
}

/// Puts what every timed scenario measured into `run`: its variants and
/// timeline, the fewest calls any variant had, and the clock's description
/// (read now, at the end, when a calibrated clock knows its rate best).
pub(crate) fn fill<C: Clock>(
    run: &mut Run,
    clock: &C,
    variants: Vec<Variant>,
    timeline: Vec<Span>,
) {
    run.iterations = fewest_calls(&variants);
    run.clock = clock_info(clock);
    run.variants = variants;
    run.timeline = timeline;
}

/// The fewest calls any variant was measured for.
pub(crate) fn fewest_calls(variants: &[Variant]) -> u64 {
    variants
        .iter()
        .filter_map(|v| v.phases.last().map(|p| p.stats.n))
        .min()
        .unwrap_or(0)
}

/// The median of `name`'s whole call.
pub(crate) fn p50(variants: &[Variant], name: &str) -> Option<f64> {
    variants
        .iter()
        .find(|v| v.name == name)?
        .phases
        .last()
        .map(|p| p.stats.p50_ns)
}

/// A variant with a name and a description, nothing measured yet.
pub(crate) fn named(name: &str, description: &str) -> Variant {
    Variant {
        name: name.to_owned(),
        description: description.to_owned(),
        ..Variant::default()
    }
}
