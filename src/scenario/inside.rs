//! The passes that look inside calls (perf counters, fuel, samplers), run
//! after a scenario's timing pass so that none of them distorts its timings:
//! the set-up and bookkeeping every scenario shares.

use std::time::Instant;

use wasmtime::{Config, Engine};

use crate::host::CallError;
use crate::measure::perf::PerfCounters;
use crate::measure::{self, CounterChoice, Sampler, Tally};
use crate::phase::Phase;
use crate::run::{CounterInfo, PhaseCounts, Unavailable};

/// The perf counters for a counter pass, or why there are none.
pub(crate) struct Counters {
    /// Open counters; `None` when the kernel granted none.
    pub(crate) meter: Option<PerfCounters>,
    /// What the run reports about them (iterations and read cost still to
    /// fill in).
    pub(crate) info: CounterInfo,
}

/// Opens the counters `choice` names; `None` when the choice is `none`.
pub(crate) fn open_counters(choice: &CounterChoice, method: &str) -> Option<Counters> {
    let wanted = match choice {
        CounterChoice::None => return None,
        CounterChoice::All => Vec::new(),
        CounterChoice::Only(names) => names.clone(),
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
            info.counters = measure::Meter::names(&m)
                .iter()
                .map(|n| (*n).to_owned())
                .collect();
            (!info.counters.is_empty()).then_some(m)
        }
        Err(reason) => {
            let names = if wanted.is_empty() {
                measure::perf::all_names()
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

/// Per-phase means from a tally, each less the read cost (never below 0:
/// a phase cannot have cost less than nothing).
pub(crate) fn phase_counts(tally: &Tally, phases: &[Phase], read_cost: &[f64]) -> Vec<PhaseCounts> {
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

/// How an instrumented engine differs from the timing pass's.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Instrument {
    /// Fuel metering.
    Fuel,
    /// Epoch interruption, for the guest sampler.
    Epoch,
    /// The perf map, for the host sampler.
    PerfMap,
}

/// A default engine with one instrument turned on.
pub(crate) fn engine(instrument: Instrument) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    match instrument {
        Instrument::Fuel => measure::fuel::configure(&mut config),
        Instrument::Epoch => measure::guest::configure(&mut config),
        Instrument::PerfMap => measure::host_sampler::configure(&mut config),
    }
    Ok(Engine::new(&config)?)
}

/// Median of `xs` (0 when empty).
pub(crate) fn median(xs: &mut [f64]) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// Per-call nanoseconds of every batch of two ways of calling, alternating
/// in segments of about 100 ms until `secs` have passed, so that drift on
/// a shared machine falls on both alike. `sampler`, when given, runs only
/// during `other`'s segments.
pub(crate) struct Alternation {
    /// ns per call of each `plain` batch.
    pub(crate) plain: Vec<f64>,
    /// ns per call of each `other` batch.
    pub(crate) other: Vec<f64>,
}

impl Alternation {
    /// Runs both; each closure runs one batch and returns its ns per call.
    pub(crate) fn run(
        secs: f64,
        mut plain: impl FnMut() -> Result<f64, CallError>,
        mut other: impl FnMut() -> Result<f64, CallError>,
        mut sampler: Option<&mut dyn Sampler>,
    ) -> Result<Alternation, PassError> {
        const SEGMENT_S: f64 = 0.1;
        let start = Instant::now();
        let mut out = Alternation {
            plain: Vec::new(),
            other: Vec::new(),
        };
        while start.elapsed().as_secs_f64() < secs || out.other.is_empty() {
            let seg = Instant::now();
            while seg.elapsed().as_secs_f64() < SEGMENT_S {
                out.plain.push(plain()?);
            }
            if let Some(s) = sampler.as_deref_mut() {
                s.resume().map_err(PassError::Setup)?;
            }
            let seg = Instant::now();
            let mut result = Ok(());
            while seg.elapsed().as_secs_f64() < SEGMENT_S {
                match other() {
                    Ok(ns) => out.other.push(ns),
                    Err(e) => {
                        result = Err(PassError::Call(e));
                        break;
                    }
                }
            }
            if let Some(s) = sampler.as_deref_mut() {
                s.pause().map_err(PassError::Setup)?;
            }
            result?;
        }
        Ok(out)
    }

    /// How much slower `other` ran, in percent of `plain`, by medians.
    pub(crate) fn overhead_pct(&mut self) -> f64 {
        let p = median(&mut self.plain);
        let o = median(&mut self.other);
        if p > 0.0 { 100.0 * (o - p) / p } else { 0.0 }
    }
}

/// Why a pass stopped.
pub(crate) enum PassError {
    /// The plugin failed a call: the run fails as it would in the timing pass.
    Call(CallError),
    /// The pass could not be set up, or its sampler failed: it is skipped
    /// with a note, and the run goes on.
    Setup(anyhow::Error),
}

impl From<anyhow::Error> for PassError {
    fn from(e: anyhow::Error) -> Self {
        PassError::Setup(e)
    }
}

impl From<CallError> for PassError {
    fn from(e: CallError) -> Self {
        PassError::Call(e)
    }
}
