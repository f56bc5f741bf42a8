//! The counter pass: perf counters read at every phase boundary of a
//! subject's calls (one group read each), less the mean counts of an empty
//! window, and the whole call either from reads around batches of plain
//! calls (which add nothing measurable per call) or as the sum of its
//! phases. Counter readings over time go to the run's counter tracks.

use std::time::Instant;

use super::{Found, InsideConfig, Plan, Subject};
use crate::error::CallError;
use crate::measure::Meter;
use crate::measure::perf::PerfCounters;
use crate::measure::tally::{MAX_COUNTERS, Tally};
use crate::phase::Phase;
use crate::run::{CounterInfo, CounterSample, PhaseCounts, Unavailable};
use crate::timing::target::DynTarget;

/// How a scenario's counter pass counts.
#[derive(Debug, Clone)]
pub struct Counting {
    /// How many iterations each subject runs.
    pub stop: Stop,
    /// How the whole iteration is counted.
    pub whole: Whole,
    /// The phase that names the whole ([`Phase::Call`], [`Phase::ColdStart`]).
    pub whole_phase: Phase,
    /// What an iteration is called in the counter tracks (`call`).
    pub unit: &'static str,
    /// Points per subject on the counter tracks.
    pub track_points: usize,
    /// How the figures were taken, in words, for the report.
    pub method: &'static str,
}

/// When a subject's counting stops.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// After this many iterations.
    Calls(usize),
    /// After `min` iterations once `secs` have passed.
    Time {
        /// Seconds.
        secs: f64,
        /// Fewest iterations.
        min: u64,
    },
}

/// How the whole iteration is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whole {
    /// From reads around batches of plain calls, as many as were marked.
    Batches,
    /// The sum of the phases, which tile the iteration.
    Sum,
}

/// The perf counters for a counter pass, or why there are none.
pub struct Counters {
    /// Open counters; `None` when the kernel granted none.
    pub meter: Option<PerfCounters>,
    /// What the run reports about them (iterations and read cost still to
    /// fill in).
    pub info: CounterInfo,
}

/// Opens the counters `choice` names; `None` when the choice is `none`.
pub fn open(choice: &super::CounterChoice, method: &str) -> Option<Counters> {
    let wanted = match choice {
        super::CounterChoice::None => return None,
        super::CounterChoice::All => Vec::new(),
        super::CounterChoice::Only(names) => names.clone(),
    };
    let mut info = CounterInfo {
        method: method.to_owned(),
        ..CounterInfo::default()
    };
    let meter = match PerfCounters::open(&wanted) {
        Ok(m) => {
            info.unavailable = m
                .refused()
                .iter()
                .map(|r| Unavailable {
                    name: r.name.to_owned(),
                    reason: r.reason.clone(),
                })
                .collect();
            info.counters = m.names().iter().map(|n| (*n).to_owned()).collect();
            (!info.counters.is_empty()).then_some(m)
        }
        Err(reason) => {
            let names = if wanted.is_empty() {
                crate::measure::perf::all_names()
                    .into_iter()
                    .map(str::to_owned)
                    .collect()
            } else {
                wanted
            };
            info.unavailable = names
                .into_iter()
                .map(|name| Unavailable {
                    name,
                    reason: reason.clone(),
                })
                .collect();
            None
        }
    };
    Some(Counters { meter, info })
}

/// The counter pass over every subject (on its target, or on a twin where
/// the plan says so).
pub(super) fn pass(
    cfg: &InsideConfig,
    plan: &Plan,
    subjects: &mut [Subject<'_, '_>],
    since: Instant,
    found: &mut Found,
) -> Result<(), CallError> {
    let Some(mut c) = open(&cfg.counters, plan.counting.method) else {
        return Ok(());
    };
    if let Some(meter) = c.meter.as_mut() {
        let read_cost = Tally::new(meter, 1).empty_window(1000);
        let mut iterations = 0;
        for (i, s) in subjects.iter_mut().enumerate() {
            let name = s.name.clone();
            let twin = plan.count_on.and_then(|i| s.twins.map(|t| t.twin(i, None)));
            let mut twin = match twin {
                Some(Ok(t)) => Some(t),
                Some(Err(e)) => {
                    found
                        .notes
                        .push(format!("counter pass: {name}: not run: {e:#}"));
                    continue;
                }
                None => None,
            };
            let target: &mut dyn DynTarget = match twin.as_deref_mut() {
                Some(t) => t,
                None => &mut *s.target,
            };
            let (counts, n) = count(
                target,
                meter,
                &read_cost,
                &plan.counting,
                &name,
                since,
                &mut found.counters,
            )?;
            found.counts[i] = counts;
            iterations = iterations.max(n);
        }
        c.info.iterations = iterations;
        c.info.read_cost = c.info.counters.iter().cloned().zip(read_cost).collect();
    }
    found.perf = Some(c.info);
    Ok(())
}

/// Counts one target: per phase from a tally of marks, the whole as `how`
/// says; returns the rows (the whole last) and the iterations counted.
fn count(
    t: &mut dyn DynTarget,
    meter: &mut PerfCounters,
    read_cost: &[f64],
    how: &Counting,
    name: &str,
    since: Instant,
    samples: &mut Vec<CounterSample>,
) -> Result<(Vec<PhaseCounts>, u64), CallError> {
    /// Iterations whose totals are kept for the tracks of [`Whole::Sum`].
    const KEPT: usize = 10_000;
    let phases = t.phases();
    let label = format!("per {} ({name})", how.unit);
    // One unmarked call first: a twin's first call warms its caches.
    t.call()?;
    let mut tally = Tally::new(meter, phases.len());
    let mut history: Vec<(f64, [u64; MAX_COUNTERS])> = Vec::with_capacity(match how.stop {
        Stop::Calls(n) => n.min(KEPT),
        Stop::Time { .. } => KEPT,
    });
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        t.call_marked(&mut tally)?;
        n += 1;
        // Between iterations, outside every phase.
        if how.whole == Whole::Sum && history.len() < history.capacity() {
            let mut totals = [0; MAX_COUNTERS];
            totals[..tally.totals().len()].copy_from_slice(tally.totals());
            history.push((since.elapsed().as_nanos() as f64, totals));
        }
        let done = crate::interrupt::requested()
            || match how.stop {
                Stop::Calls(k) => n >= k as u64,
                Stop::Time { secs, min } => n >= min && start.elapsed().as_secs_f64() >= secs,
            };
        if done {
            break;
        }
    }
    let names: Vec<&'static str> = tally.names().to_vec();
    let mut rows = phase_counts(&tally, phases, read_cost);
    let phases_cost: Vec<f64> = read_cost.iter().map(|c| c * phases.len() as f64).collect();
    drop(tally);
    let whole = match how.whole {
        Whole::Sum => {
            let per = history.len().div_ceil(how.track_points.max(1)).max(1);
            let mut prev = [0u64; MAX_COUNTERS];
            for chunk in history.chunks(per) {
                let (t_ns, last) = chunk[chunk.len() - 1];
                for (c, name) in names.iter().enumerate() {
                    let d = last[c].wrapping_sub(prev[c]) as f64 / chunk.len() as f64;
                    samples.push(CounterSample {
                        name: format!("{name} {label}"),
                        t_ns,
                        value: (d - phases_cost[c]).max(0.0),
                    });
                }
                prev = last;
            }
            sum(&rows)
        }
        Whole::Batches => batches(
            t, meter, n as usize, &names, read_cost, since, &label, samples,
        )?,
    };
    rows.push(PhaseCounts {
        phase: how.whole_phase,
        values: whole,
    });
    Ok((rows, n))
}

/// The whole call from reads around batches of `calls` plain calls in all.
#[allow(clippy::too_many_arguments)]
fn batches(
    t: &mut dyn DynTarget,
    meter: &mut PerfCounters,
    calls: usize,
    names: &[&'static str],
    read_cost: &[f64],
    since: Instant,
    label: &str,
    samples: &mut Vec<CounterSample>,
) -> Result<std::collections::BTreeMap<String, f64>, CallError> {
    let n = names.len();
    let per_batch = calls.clamp(1, 1000);
    let count = calls.div_ceil(per_batch);
    let (mut a, mut b) = ([0u64; MAX_COUNTERS], [0u64; MAX_COUNTERS]);
    let mut sums = [0u64; MAX_COUNTERS];
    for _ in 0..count {
        meter.read(&mut a[..n]);
        for _ in 0..per_batch {
            t.call()?;
        }
        meter.read(&mut b[..n]);
        let t_ns = since.elapsed().as_nanos() as f64;
        for c in 0..n {
            let d = b[c].wrapping_sub(a[c]);
            sums[c] += d;
            samples.push(CounterSample {
                name: format!("{} {label}", names[c]),
                t_ns,
                value: d as f64 / per_batch as f64,
            });
        }
    }
    let total = (count * per_batch) as f64;
    Ok(names
        .iter()
        .zip(&sums[..n])
        .zip(read_cost)
        .map(|((name, &s), cost)| ((*name).to_owned(), ((s as f64 - cost) / total).max(0.0)))
        .collect())
}

/// Per-phase means from a tally, each less the read cost (never below 0:
/// a phase cannot have cost less than nothing).
pub fn phase_counts(tally: &Tally, phases: &[Phase], read_cost: &[f64]) -> Vec<PhaseCounts> {
    phases
        .iter()
        .enumerate()
        .map(|(k, &phase)| PhaseCounts {
            phase,
            values: tally
                .names()
                .iter()
                .zip(tally.means(k))
                .zip(read_cost)
                .map(|((n, v), cost)| ((*n).to_owned(), (v - cost).max(0.0)))
                .collect(),
        })
        .collect()
}

/// The sum of the phases' rows: the whole, as the phases tile it.
fn sum(rows: &[PhaseCounts]) -> std::collections::BTreeMap<String, f64> {
    let mut sum = std::collections::BTreeMap::new();
    for r in rows {
        for (k, v) in &r.values {
            *sum.entry(k.clone()).or_default() += v;
        }
    }
    sum
}
