//! The passes that look inside calls (perf counters, fuel, samplers), run
//! after a scenario's timing pass so that none of them distorts its timings:
//! the set-up and bookkeeping every scenario shares.

use std::time::Instant;

use wasmtime::{Config, Engine};

use super::{Probe, Recorder};
use crate::host::{CallError, Limits, Plugin};
use crate::measure::guest::GuestSampler;
use crate::measure::host_sampler::HostSampler;
use crate::measure::perf::PerfCounters;
use crate::measure::{self, CounterChoice, InsideConfig, Monotonic, Sampler, Tally};
use crate::phase::Phase;
use crate::run::{CounterInfo, Fuel, PhaseCounts, PhaseFuel, Profile, Unavailable};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Instrument {
    /// Fuel metering.
    Fuel,
    /// Epoch interruption, for the guest sampler.
    Epoch,
    /// The perf map, for the host sampler.
    PerfMap,
    /// Compilation on the calling thread, for the counter pass: perf
    /// counters count the thread that opened them, and Wasmtime's parallel
    /// compilation would do most of the work on pool threads they miss.
    OneThread,
}

/// Default engine settings with one instrument turned on.
pub(crate) fn config(instrument: Instrument) -> Config {
    let mut config = Config::new();
    match instrument {
        Instrument::Fuel => measure::fuel::configure(&mut config),
        Instrument::Epoch => measure::guest::configure(&mut config),
        Instrument::PerfMap => measure::host_sampler::configure(&mut config),
        Instrument::OneThread => {
            config.parallel_compilation(false);
        }
    }
    config
}

/// A default engine with one instrument turned on.
pub(crate) fn engine(instrument: Instrument) -> anyhow::Result<Engine> {
    Ok(Engine::new(&config(instrument))?)
}

/// Timeline counter readings from a tally's kept history: for each kept
/// iteration `i` (started at `t_ns[i]`), each counter's total less the
/// reads' cost, averaged over `per` iterations at a time.
pub(crate) fn counter_track(
    tally: &Tally,
    read_cost: &[f64],
    t_ns: impl Fn(usize) -> f64,
    per: usize,
    label: &str,
    out: &mut Vec<crate::run::CounterSample>,
) {
    let names = tally.names();
    let phases_cost: Vec<f64> = read_cost
        .iter()
        .map(|c| c * tally.phases() as f64)
        .collect();
    let history: Vec<&[u64]> = tally.history().collect();
    for (k, chunk) in history.chunks(per.max(1)).enumerate() {
        for (c, name) in names.iter().enumerate() {
            let sum: u64 = chunk.iter().map(|h| h[c]).sum();
            out.push(crate::run::CounterSample {
                name: format!("{name} {label}"),
                t_ns: t_ns(k * per.max(1)),
                value: (sum as f64 / chunk.len() as f64 - phases_cost[c]).max(0.0),
            });
        }
    }
}

/// Appends the whole iteration's row (`whole`): the sum of the phases, as
/// the phases tile the iteration.
pub(crate) fn with_whole(mut rows: Vec<PhaseCounts>, whole: Phase) -> Vec<PhaseCounts> {
    let mut sum: std::collections::BTreeMap<String, f64> = Default::default();
    for r in &rows {
        for (k, v) in &r.values {
            *sum.entry(k.clone()).or_default() += v;
        }
    }
    rows.push(PhaseCounts {
        phase: whole,
        values: sum,
    });
    rows
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

/// Fuel per phase of ABI calls on an encoded input, on `plugin` (an
/// instance on a fuel-metered engine): `(copy-in, execute, free, whole)` of
/// the first call into the instance and of the steady call (the second),
/// and whether every later call matched the steady one.
pub(crate) struct FuelCounts {
    first: [u64; 4],
    steady: [u64; 4],
    constant: bool,
    calls: u64,
}

/// See [`FuelCounts`].
pub(crate) fn fuel_counts(
    plugin: &mut Plugin,
    input: &[u8],
    calls: u64,
) -> Result<FuelCounts, CallError> {
    use measure::fuel::left;
    let calls = calls.max(2);
    // The first call into a fresh instance differs (its allocator grows
    // the heap): it is reported on its own, and every call after the
    // second is checked against the second.
    let mut first = [0; 4];
    let mut steady: Option<[u64; 4]> = None;
    let mut constant = true;
    for i in 0..calls {
        let f0 = left(plugin.store());
        let buf = plugin.copy_in(input)?;
        let f1 = left(plugin.store());
        let packed = plugin.execute(buf)?;
        let f2 = left(plugin.store());
        let out = plugin.copy_out(packed)?;
        let f3 = left(plugin.store());
        plugin.free(out)?;
        let f4 = left(plugin.store());
        let used = [f0 - f1, f1 - f2, f3 - f4, f0 - f4];
        match (i, steady) {
            (0, _) => first = used,
            (_, None) => steady = Some(used),
            (_, Some(s)) => constant &= s == used,
        }
    }
    Ok(FuelCounts {
        first,
        steady: steady.unwrap_or_default(),
        constant,
        calls,
    })
}

/// A [`Fuel`] from [`fuel_counts`] and the measured slowdown.
pub(crate) fn fuel(counts: &FuelCounts, slowdown_pct: f64) -> Fuel {
    let phases = |used: [u64; 4]| {
        [Phase::CopyIn, Phase::Execute, Phase::Free, Phase::Call]
            .into_iter()
            .zip(used)
            .map(|(phase, fuel)| PhaseFuel { phase, fuel })
            .collect()
    };
    Fuel {
        phases: phases(counts.steady),
        calls: counts.calls,
        first_call: phases(counts.first),
        constant: counts.constant,
        slowdown_pct,
    }
}

/// A second instance of a plugin on an instrumented engine.
pub(crate) fn instrumented(
    instrument: Instrument,
    bytes: &[u8],
    export: &str,
    limits: Limits,
) -> anyhow::Result<Plugin> {
    let engine = engine(instrument)?;
    let module = wasmtime::Module::from_binary(&engine, bytes)?;
    let limits = Limits {
        fuel: (instrument == Instrument::Fuel).then_some(measure::fuel::TANK),
        ..limits
    };
    Plugin::limited(&engine, &module, export, limits)
}

/// What the call-level passes found.
#[derive(Default)]
pub(crate) struct CallPasses {
    pub(crate) perf: Option<CounterInfo>,
    pub(crate) counts: Vec<PhaseCounts>,
    pub(crate) fuel: Option<Fuel>,
    pub(crate) profiles: Vec<Profile>,
    pub(crate) counters: Vec<crate::run::CounterSample>,
    pub(crate) notes: Vec<String>,
}

/// `n` ABI calls (copy-in, execute, copy-out, free), marked; their mean ns.
fn abi_batch(p: &mut Plugin, input: &[u8], n: usize, rec: &mut Recorder) -> Result<f64, CallError> {
    let start = Instant::now();
    for _ in 0..n {
        rec.stamps.clear();
        rec.mark();
        super::marked_call(p, input, rec)?;
    }
    Ok(start.elapsed().as_nanos() as f64 / n as f64)
}

/// The counter, fuel and sampling passes for a scenario whose unit is one
/// ABI call on an encoded input (the soak): each after the scenario's own
/// measurements, each on `instance` or on a second instance of `bytes` on
/// an instrumented engine. `call_ns` sizes batches to about 2 ms.
#[allow(clippy::too_many_arguments)]
pub(crate) fn call_passes(
    ic: &InsideConfig,
    scenario: &str,
    instance: &mut Plugin,
    bytes: &[u8],
    export: &str,
    input: &[u8],
    limits: &Limits,
    call_ns: f64,
    (clock, origin): (&Monotonic, u64),
) -> Result<CallPasses, CallError> {
    const COUNTED_CALLS: u64 = 10_000;
    const FUEL_CALLS: u64 = 100;
    let mut found = CallPasses::default();
    let per_batch = ((2e6 / call_ns.max(1.0)) as usize).clamp(1, 1000);
    let plain = |p: &mut Plugin| {
        let mut rec = Recorder::new(clock, Vec::with_capacity(8));
        abi_batch(p, input, per_batch, &mut rec)
    };
    if let Some(mut c) = open_counters(
        &ic.counters,
        "a separate pass after the run: counters read at every phase boundary (one group read), less the mean counts of an empty window; the whole call is the sum of its phases",
    ) {
        if let Some(meter) = c.meter.as_mut() {
            let read_cost = Tally::new(meter, 1).empty_window(1000);
            let mut rec = Recorder {
                clock,
                stamps: Vec::with_capacity(8),
                probe: Probe::Counters(
                    Tally::new(meter, super::CALL_PHASES.len())
                        .keep_history(COUNTED_CALLS as usize),
                ),
            };
            let mut starts = Vec::with_capacity(COUNTED_CALLS as usize);
            for _ in 0..COUNTED_CALLS {
                rec.stamps.clear();
                rec.mark();
                super::marked_call(instance, input, &mut rec)?;
                starts.push(rec.stamps[0]);
            }
            if let Probe::Counters(t) = &rec.probe {
                found.counts = with_whole(
                    phase_counts(t, &super::CALL_PHASES, &read_cost),
                    Phase::Call,
                );
                counter_track(
                    t,
                    &read_cost,
                    |i| {
                        starts
                            .get(i)
                            .map_or(0.0, |&t| t.saturating_sub(origin) as f64)
                    },
                    1000,
                    "per call (wasm)",
                    &mut found.counters,
                );
            }
            c.info.iterations = COUNTED_CALLS;
            c.info.read_cost = c.info.counters.iter().cloned().zip(read_cost).collect();
        }
        found.perf = Some(c.info);
    }
    let mut skip = |what: &str, e: PassError| -> Result<(), CallError> {
        match e {
            PassError::Call(e) => Err(e),
            PassError::Setup(e) => {
                found.notes.push(format!("{what}: not run: {e:#}"));
                Ok(())
            }
        }
    };
    if ic.fuel {
        let r = (|| -> Result<Fuel, PassError> {
            let mut metered = instrumented(Instrument::Fuel, bytes, export, limits.clone())?;
            let counts = fuel_counts(&mut metered, input, FUEL_CALLS)?;
            let mut alt = Alternation::run(
                ic.sample_secs.min(1.0),
                || plain(instance),
                || plain(&mut metered),
                None,
            )?;
            Ok(fuel(&counts, alt.overhead_pct()))
        })();
        match r {
            Ok(f) => found.fuel = Some(f),
            Err(e) => skip("fuel", e)?,
        }
    }
    if ic.sample.guest {
        let r = (|| -> Result<Profile, PassError> {
            let mut sampled = instrumented(Instrument::Epoch, bytes, export, limits.clone())?;
            let mut sampler = GuestSampler::new(
                ic.guest_hz,
                &format!("{scenario};wasm"),
                &[Phase::CopyIn, Phase::Execute, Phase::Free],
            );
            let handle = sampler.handle();
            handle.attach(sampled.store_mut());
            let mut alt = Alternation::run(
                ic.sample_secs,
                || plain(instance),
                || {
                    let mut rec = Recorder {
                        clock,
                        stamps: Vec::with_capacity(8),
                        probe: Probe::Phases {
                            cell: &handle,
                            phases: &super::CALL_PHASES,
                            pos: 0,
                        },
                    };
                    abi_batch(&mut sampled, input, per_batch, &mut rec)
                },
                Some(&mut sampler),
            )?;
            let mut p = Box::new(sampler).finish()?;
            p.overhead_pct = Some(alt.overhead_pct());
            Ok(p)
        })();
        match r {
            Ok(p) => found.profiles.push(p),
            Err(e) => skip("guest sampler", e)?,
        }
    }
    if ic.sample.host {
        let r = (|| -> Result<Profile, PassError> {
            let mut mapped = instrumented(Instrument::PerfMap, bytes, export, limits.clone())?;
            let mut sampler = HostSampler::new(ic.host_hz, scenario);
            let alt = Alternation::run(
                ic.sample_secs,
                || plain(instance),
                || plain(&mut mapped),
                Some(&mut sampler),
            );
            let _ = std::fs::remove_file(measure::host_sampler::perf_map_path());
            let mut alt = alt?;
            let mut p = Box::new(sampler).finish()?;
            p.overhead_pct = Some(alt.overhead_pct());
            Ok(p)
        })();
        match r {
            Ok(p) => found.profiles.push(p),
            Err(e) => skip("host sampler", e)?,
        }
    }
    Ok(found)
}
