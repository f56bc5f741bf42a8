//! The passes that look inside calls: perf counters ([`counters`]), fuel
//! ([`fuel`]) and the guest and host samplers ([`samplers`]). Each runs
//! after a scenario's timing pass, never during it, so that none distorts
//! its timings; each is written once here and offered by every scenario
//! that hands it [`Subject`]s: its variants, their targets, and [`Twins`]
//! of them on instrumented engines.

pub mod counters;
pub mod fuel;
pub mod plugin;
pub mod samplers;

pub use crate::measure::instrument::{Instrument, config};

use std::str::FromStr;
use std::time::Instant;

use crate::error::CallError;
use crate::measure::guest::GuestHandle;
use crate::run::{CounterInfo, CounterSample, Fuel, PhaseCounts, Profile};
use crate::stats::median_of as median;
use crate::timing::target::DynTarget;

/// Which counters the counter pass reads (`--counters`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CounterChoice {
    /// Every counter the kernel grants. The default.
    #[default]
    All,
    /// No counter pass.
    None,
    /// These, by perf's names.
    Only(Vec<String>),
}

impl FromStr for CounterChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(CounterChoice::All),
            "none" => Ok(CounterChoice::None),
            list => {
                let names: Vec<String> = list.split(',').map(|n| n.trim().to_owned()).collect();
                let known = crate::measure::perf::all_names();
                match names.iter().find(|n| !known.contains(&n.as_str())) {
                    Some(bad) => Err(format!(
                        "unknown counter `{bad}` (expected all, none, or a list of: {})",
                        known.join(", ")
                    )),
                    None => Ok(CounterChoice::Only(names)),
                }
            }
        }
    }
}

/// Which samplers run (`--sample`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Samplers {
    /// Wasm stacks at epoch ticks ([`guest::GuestSampler`]).
    pub guest: bool,
    /// Whole-process stacks by SIGPROF ([`host_sampler::HostSampler`]).
    pub host: bool,
}

impl FromStr for Samplers {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "guest" => Ok(Samplers {
                guest: true,
                host: false,
            }),
            "host" => Ok(Samplers {
                guest: false,
                host: true,
            }),
            "both" => Ok(Samplers {
                guest: true,
                host: true,
            }),
            "none" => Ok(Samplers::default()),
            _ => Err(format!(
                "unknown sampler `{s}` (expected guest, host, both or none)"
            )),
        }
    }
}

/// The passes that look inside calls, each run after (never during) the
/// timing pass so that none of them distorts the timings.
#[derive(Debug, Clone, PartialEq)]
pub struct InsideConfig {
    /// Counters for the counter pass. Default: all the kernel grants.
    pub counters: CounterChoice,
    /// Whether to run a fuel pass. Default: false.
    pub fuel: bool,
    /// Samplers to run. Default: none.
    pub sample: Samplers,
    /// Guest sampling rate, in Hz. Default: 1000.
    pub guest_hz: u32,
    /// Host sampling rate, in Hz. Default: 250 (the kernel tick here caps
    /// SIGPROF delivery; asking more only loses samples).
    pub host_hz: u32,
    /// Time each sampler runs for, in CPU seconds of the measuring thread
    /// (the wall may stretch to [`WALL_FACTOR`] times it). Default: 2.
    pub sample_secs: f64,
}

impl Default for InsideConfig {
    fn default() -> Self {
        InsideConfig {
            counters: CounterChoice::All,
            fuel: false,
            sample: Samplers::default(),
            guest_hz: 1000,
            host_hz: 250,
            sample_secs: 2.0,
        }
    }
}

/// One variant of a scenario, as the passes see it.
pub struct Subject<'a, 't> {
    /// The variant's name, e.g. `wasm`, `winch`.
    pub name: String,
    /// The target as the timing pass called it.
    pub target: &'t mut dyn DynTarget,
    /// Nanoseconds of one call, from the timing pass: sizes the batches.
    pub call_ns: f64,
    /// How to make twins of it on instrumented engines; `None` where the
    /// subject runs no wasm (a native build: counted, never twinned).
    pub twins: Option<&'t dyn Twins<'a>>,
}

/// Makes twins of a subject: the same target on an instrumented engine.
/// `'a` is what the twins borrow (the input, the plugin's bytes), never the
/// subject's own target, so that a twin and the target run side by side.
pub trait Twins<'a> {
    /// A target like the subject's on an engine with `instrument`, every
    /// instance it makes joining `sampler` where one is given.
    fn twin(
        &self,
        instrument: Instrument,
        sampler: Option<&GuestHandle>,
    ) -> anyhow::Result<Box<dyn DynTarget + 'a>>;
    /// The fuel-metered twin, and the fuel per phase of a call, read from
    /// an instance of it before it is handed over.
    #[allow(clippy::type_complexity)]
    fn fuel_twin(&self) -> Result<(Box<dyn DynTarget + 'a>, fuel::FuelCounts), PassError>;
}

/// How a scenario wants its passes run.
#[derive(Debug, Clone)]
pub struct Plan<'p> {
    /// The scenario, first frame of every sampled stack.
    pub scenario: &'p str,
    /// How the counter pass counts.
    pub counting: counters::Counting,
    /// The counter pass runs on a twin with this instrument instead of on
    /// the target itself (cold start: compilation on the calling thread).
    pub count_on: Option<Instrument>,
    /// Seconds of the fuel pass's slowdown measurement, per subject.
    pub fuel_secs: f64,
    /// Seconds of each sampler's pass, per subject.
    pub sample_secs: f64,
}

/// What the passes found.
#[derive(Debug, Default)]
pub struct Found {
    /// How the counters counted; absent without a counter pass.
    pub perf: Option<CounterInfo>,
    /// Each subject's counters per phase (the whole last), in order.
    pub counts: Vec<Vec<PhaseCounts>>,
    /// Each subject's fuel, in order.
    pub fuel: Vec<Option<Fuel>>,
    /// One profile per sampler that ran.
    pub profiles: Vec<Profile>,
    /// Counter readings over time.
    pub counters: Vec<CounterSample>,
    /// What was not run, and why.
    pub notes: Vec<String>,
}

/// Runs the passes `cfg` asks for on every subject, in turn: counters,
/// fuel, then the samplers. A call that fails fails the run, as it would
/// have in the timing pass; a pass that cannot be set up is skipped with a
/// note. `since` is the start of the run's timeline.
pub fn run(
    cfg: &InsideConfig,
    plan: &Plan,
    subjects: &mut [Subject<'_, '_>],
    since: Instant,
) -> Result<Found, CallError> {
    let mut found = Found {
        counts: vec![Vec::new(); subjects.len()],
        fuel: vec![None; subjects.len()],
        ..Found::default()
    };
    {
        let _stage = crate::stages::stage("counter pass", 0, 0);
        counters::pass(cfg, plan, subjects, since, &mut found)?;
    }
    let stopped = |found: &mut Found, next: &str| {
        let stop = crate::interrupt::requested();
        if stop {
            found
                .notes
                .push(crate::interrupt::note(&format!("before the {next} pass")));
        }
        stop
    };
    if cfg.fuel && !stopped(&mut found, "fuel") {
        let _stage = crate::stages::stage("fuel pass", 0, 0);
        for (i, s) in subjects.iter_mut().enumerate() {
            match fuel::pass(plan, s) {
                Ok(Some(f)) => found.fuel[i] = Some(f),
                Ok(None) => {}
                Err(e) => found.note(&format!("fuel: {}", s.name), e)?,
            }
        }
    }
    if cfg.sample.guest && !stopped(&mut found, "guest sampler") {
        let _stage = crate::stages::stage("guest sampler", 0, 0);
        samplers::guest(cfg, plan, subjects, &mut found, since)?;
    }
    if cfg.sample.host && !stopped(&mut found, "host sampler") {
        let _stage = crate::stages::stage("host sampler", 0, 0);
        samplers::host(cfg, plan, subjects, &mut found, since)?;
    }
    Ok(found)
}

impl Found {
    /// What the passes found on their one subject, put into `run`: its
    /// counters and fuel into the variant `name`, the rest into the run.
    pub fn record_one(self, run: &mut crate::run::Run, name: &str) {
        if let Some(v) = run.variants.iter_mut().find(|v| v.name == name) {
            v.counters = self.counts.into_iter().next().unwrap_or_default();
            v.fuel = self.fuel.into_iter().next().flatten();
        }
        run.perf = self.perf;
        run.profiles = self.profiles;
        run.counters = self.counters;
        run.notes.extend(self.notes);
    }

    /// Keeps a pass's setup failure as a note; a call's failure fails the run.
    fn note(&mut self, what: &str, e: PassError) -> Result<(), CallError> {
        match e {
            PassError::Call(e) => Err(e),
            PassError::Setup(e) => {
                self.notes.push(format!("{what}: not run: {e:#}"));
                Ok(())
            }
        }
    }
}

/// Calls per batch of a subject: about 2 ms of calls, long enough that
/// timing them costs nothing, short enough for many per 100 ms segment.
fn per_batch(call_ns: f64) -> usize {
    ((2e6 / call_ns.max(1.0)) as usize).clamp(1, 1000)
}

/// Per-call nanoseconds of every batch of two ways of calling, alternating
/// in segments of about 100 ms until `secs` have passed, so that drift on
/// a shared machine falls on both alike. `sampler`, when given, runs only
/// during `other`'s segments.
///
/// Seconds are this thread's CPU time, not the wall's: the samplers tick
/// on CPU time, so a pass beside a busy neighbour gets as many samples as
/// on a quiet machine, only later. The wall may stretch to [`WALL_FACTOR`]
/// times `secs`, no more: a starved process still finishes.
pub struct Alternation {
    /// ns per call of each `plain` batch.
    pub plain: Vec<f64>,
    /// ns per call of each `other` batch.
    pub other: Vec<f64>,
}

/// How far the wall time of an [`Alternation`] may stretch beyond its CPU
/// seconds before it stops.
pub const WALL_FACTOR: f64 = 10.0;

/// This thread's CPU time, in seconds (a syscall, ~200 ns: read between
/// batches only).
fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a
    // constant every Linux kernel since 2.6.12 knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Time that passes: this thread's CPU time where the kernel gives it,
/// else the wall's.
struct CpuClock {
    cpu: bool,
    wall: Instant,
    cpu0: f64,
}

impl CpuClock {
    fn start() -> CpuClock {
        let cpu0 = thread_cpu_secs();
        CpuClock {
            cpu: cpu0 > 0.0,
            wall: Instant::now(),
            cpu0,
        }
    }

    fn elapsed(&self) -> f64 {
        if self.cpu {
            thread_cpu_secs() - self.cpu0
        } else {
            self.wall.elapsed().as_secs_f64()
        }
    }
}

impl Alternation {
    /// Runs both; each closure runs one batch and returns its ns per call.
    pub fn run(
        secs: f64,
        mut plain: impl FnMut() -> Result<f64, CallError>,
        mut other: impl FnMut() -> Result<f64, CallError>,
        mut sampler: Option<&mut dyn crate::measure::Sampler>,
    ) -> Result<Alternation, PassError> {
        const SEGMENT_S: f64 = 0.1;
        let start = CpuClock::start();
        let mut out = Alternation {
            plain: Vec::new(),
            other: Vec::new(),
        };
        while (start.elapsed() < secs && start.wall.elapsed().as_secs_f64() < secs * WALL_FACTOR)
            || out.other.is_empty()
        {
            if crate::interrupt::requested() {
                if out.other.is_empty() {
                    return Err(PassError::Setup(anyhow::anyhow!(
                        "interrupted ({}) before the pass had a sample",
                        crate::interrupt::name()
                    )));
                }
                break;
            }
            let seg = CpuClock::start();
            while seg.elapsed() < SEGMENT_S {
                out.plain.push(plain()?);
            }
            if let Some(s) = sampler.as_deref_mut() {
                s.resume().map_err(PassError::Setup)?;
            }
            let seg = CpuClock::start();
            let mut result = Ok(());
            while seg.elapsed() < SEGMENT_S {
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

    /// The medians of the plain and the other batches.
    pub fn medians(&mut self) -> (f64, f64) {
        (median(&mut self.plain), median(&mut self.other))
    }
}

/// How much slower `other` ran than `plain`, in percent, from summed
/// medians.
pub fn overhead_pct((plain, other): (f64, f64)) -> Option<f64> {
    (plain > 0.0).then(|| 100.0 * (other - plain) / plain)
}

/// Why a pass stopped.
#[derive(Debug)]
pub enum PassError {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_and_sampler_choices_parse() {
        assert_eq!("all".parse::<CounterChoice>(), Ok(CounterChoice::All));
        assert_eq!("none".parse::<CounterChoice>(), Ok(CounterChoice::None));
        assert_eq!(
            "task-clock, page-faults".parse::<CounterChoice>(),
            Ok(CounterChoice::Only(vec![
                "task-clock".into(),
                "page-faults".into()
            ]))
        );
        assert!("cycels".parse::<CounterChoice>().is_err());
        let both = "both".parse::<Samplers>().unwrap();
        assert!(both.guest && both.host);
        assert!("sideways".parse::<Samplers>().is_err());
    }
}
