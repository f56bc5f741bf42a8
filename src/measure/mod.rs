//! Measurement mechanisms, one file each: clocks behind [`Clock`] (chosen by
//! `--clock`), event counters behind [`Meter`] (`--counters`), samplers
//! behind [`Sampler`] (`--sample`), fuel and memory readings.

pub mod fuel;
pub mod guest;
pub mod host_sampler;
pub mod memory;
mod monotonic;
pub mod perf;
mod tsc;

use std::fmt;
use std::str::FromStr;

pub use monotonic::Monotonic;
pub use tsc::Tsc;

/// A clock cheap enough to read around each phase of a call.
///
/// Timed loops are generic over `C: Clock`, so a read compiles to the clock's
/// own instruction sequence with no dynamic dispatch.
pub trait Clock {
    /// Name as given to `--clock`.
    const NAME: &'static str;

    /// Reads the clock. Ticks mean something only as differences.
    fn now(&self) -> u64;

    /// Nanoseconds per tick. For calibrated clocks, measured from the clock's
    /// creation until this call, so call it at the end of a run.
    fn ns_per_tick(&self) -> f64;
}

/// Which clock to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockChoice {
    /// The TSC when it is invariant, else the monotonic clock. The default.
    #[default]
    Auto,
    /// The CPU's time-stamp counter (x86_64, invariant TSC only).
    Tsc,
    /// The OS monotonic clock (`std::time::Instant`).
    Monotonic,
}

/// The clock a choice resolves to on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockKind {
    /// [`Tsc`].
    Tsc,
    /// [`Monotonic`].
    Monotonic,
}

impl ClockChoice {
    /// Resolves the choice, failing if an explicitly named clock is unusable.
    pub fn resolve(self) -> Result<ClockKind, String> {
        match self {
            ClockChoice::Auto if tsc::available().is_ok() => Ok(ClockKind::Tsc),
            ClockChoice::Auto | ClockChoice::Monotonic => Ok(ClockKind::Monotonic),
            ClockChoice::Tsc => tsc::available().map(|()| ClockKind::Tsc),
        }
    }
}

/// Evaluates `$body` with `$clock` bound to the clock `$kind` names.
///
/// Each clock is its own type so that a timed loop compiles to that clock's
/// read with no dispatch; this is the one place that maps a [`ClockKind`] to
/// its type, so a new clock is added here and nowhere else.
macro_rules! with_clock {
    ($kind:expr, |$clock:ident| $body:expr) => {
        match $kind {
            $crate::measure::ClockKind::Tsc => {
                let $clock = $crate::measure::Tsc::new();
                $body
            }
            $crate::measure::ClockKind::Monotonic => {
                let $clock = $crate::measure::Monotonic::new();
                $body
            }
        }
    };
}
pub(crate) use with_clock;

impl FromStr for ClockChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(ClockChoice::Auto),
            "tsc" => Ok(ClockChoice::Tsc),
            "monotonic" => Ok(ClockChoice::Monotonic),
            _ => Err(format!(
                "unknown clock `{s}` (expected auto, tsc or monotonic)"
            )),
        }
    }
}

impl fmt::Display for ClockChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClockChoice::Auto => "auto",
            ClockChoice::Tsc => "tsc",
            ClockChoice::Monotonic => "monotonic",
        })
    }
}

/// Median cost of one read of `clock`, in nanoseconds, from back-to-back reads.
pub fn read_cost_ns<C: Clock>(clock: &C) -> f64 {
    const READS: usize = 1000;
    let mut costs = [0u64; 15];
    for c in costs.iter_mut() {
        let start = clock.now();
        for _ in 0..READS {
            std::hint::black_box(clock.now());
        }
        *c = clock.now() - start;
    }
    costs.sort_unstable();
    costs[costs.len() / 2] as f64 * clock.ns_per_tick() / READS as f64
}

/// The clock's effective resolution in nanoseconds: the median non-zero step
/// between back-to-back reads, i.e. the larger of the tick and the read cost.
/// On AMD Zen the TSC advances in ~10 ns steps (with rare split steps, hence
/// the median), so phases shorter than that are at the clock's limit.
pub fn resolution_ns<C: Clock>(clock: &C) -> f64 {
    const READS: usize = 10_000;
    let mut deltas = vec![0u64; READS];
    let mut prev = clock.now();
    for d in deltas.iter_mut() {
        let t = clock.now();
        *d = t - prev;
        prev = t;
    }
    deltas.retain(|&d| d > 0);
    if deltas.is_empty() {
        return 0.0;
    }
    deltas.sort_unstable();
    deltas[deltas.len() / 2] as f64 * clock.ns_per_tick()
}

/// Something that counts events (perf counters): totals read at phase
/// boundaries, whose differences are what each phase cost.
pub trait Meter {
    /// What it counts, in the order [`Meter::read`] writes them.
    fn names(&self) -> &[&'static str];

    /// Reads every total into `out` (as long as [`Meter::names`]).
    fn read(&mut self, out: &mut [u64]);
}

/// Most counters a [`Tally`] keeps per phase.
pub const MAX_COUNTERS: usize = 8;

/// Per-phase sums of a meter's differences over many iterations: the counter
/// pass's accumulator. Marks come at each phase boundary, as for the clock;
/// nothing is allocated after [`Tally::new`].
pub struct Tally<'m> {
    meter: &'m mut dyn Meter,
    /// Marks per iteration: phases + 1.
    width: usize,
    pos: usize,
    prev: [u64; MAX_COUNTERS],
    cur: [u64; MAX_COUNTERS],
    /// `sums[phase * n + counter]`.
    sums: Vec<u64>,
    iterations: u64,
    /// The current iteration's totals so far.
    this: [u64; MAX_COUNTERS],
    /// Each complete iteration's totals, while there is room (reserved by
    /// [`Tally::keep_history`]; never grown in `mark`).
    history: Vec<[u64; MAX_COUNTERS]>,
}

impl<'m> Tally<'m> {
    /// A tally for iterations of `phases` phases.
    pub fn new(meter: &'m mut dyn Meter, phases: usize) -> Tally<'m> {
        let n = meter.names().len().min(MAX_COUNTERS);
        Tally {
            meter,
            width: phases + 1,
            pos: 0,
            prev: [0; MAX_COUNTERS],
            cur: [0; MAX_COUNTERS],
            sums: vec![0; phases * n],
            iterations: 0,
            this: [0; MAX_COUNTERS],
            history: Vec::new(),
        }
    }

    /// Keeps the totals of up to `iterations` iterations, for timelines.
    pub fn keep_history(mut self, iterations: usize) -> Self {
        self.history = Vec::with_capacity(iterations);
        self
    }

    /// Each kept iteration's totals, counters in [`Tally::names`] order.
    pub fn history(&self) -> impl Iterator<Item = &[u64]> {
        let n = self.n();
        self.history.iter().map(move |h| &h[..n])
    }

    fn n(&self) -> usize {
        self.meter.names().len().min(MAX_COUNTERS)
    }

    /// Marks the next phase boundary: the first mark of an iteration starts
    /// it, each later one ends a phase.
    #[inline]
    pub fn mark(&mut self) {
        let n = self.n();
        self.meter.read(&mut self.cur[..n]);
        if self.pos > 0 {
            let base = (self.pos - 1) * n;
            for c in 0..n {
                let d = self.cur[c].wrapping_sub(self.prev[c]);
                self.sums[base + c] += d;
                self.this[c] += d;
            }
        }
        self.prev = self.cur;
        self.pos += 1;
        if self.pos == self.width {
            self.pos = 0;
            self.iterations += 1;
            if self.history.len() < self.history.capacity() {
                self.history.push(self.this);
            }
            self.this = [0; MAX_COUNTERS];
        }
    }

    /// Forgets everything tallied so far (e.g. after warm-up iterations).
    pub fn reset(&mut self) {
        self.sums.fill(0);
        self.iterations = 0;
        self.pos = 0;
        self.this = [0; MAX_COUNTERS];
        self.history.clear();
    }

    /// Phases per iteration.
    pub fn phases(&self) -> usize {
        self.width - 1
    }

    /// Complete iterations tallied.
    pub fn iterations(&self) -> u64 {
        self.iterations
    }

    /// Mean per iteration of each counter in phase `k`.
    pub fn means(&self, k: usize) -> Vec<f64> {
        let n = self.n();
        let it = self.iterations.max(1) as f64;
        self.sums[k * n..(k + 1) * n]
            .iter()
            .map(|&s| s as f64 / it)
            .collect()
    }

    /// The counters' names.
    pub fn names(&self) -> &[&'static str] {
        &self.meter.names()[..self.n()]
    }

    /// Mean counts of an empty window (two marks back to back), over
    /// `reps` tries: what one boundary's read itself adds to a phase.
    pub fn empty_window(&mut self, reps: u64) -> Vec<f64> {
        let n = self.n();
        let mut sums = [0u64; MAX_COUNTERS];
        for _ in 0..reps {
            self.meter.read(&mut self.prev[..n]);
            self.meter.read(&mut self.cur[..n]);
            for ((s, c), p) in sums.iter_mut().zip(&self.cur[..n]).zip(&self.prev[..n]) {
                *s += c.wrapping_sub(*p);
            }
        }
        self.pos = 0;
        sums[..n]
            .iter()
            .map(|&s| s as f64 / reps.max(1) as f64)
            .collect()
    }
}

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
                let known = perf::all_names();
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
    /// Time each sampler runs for, in seconds. Default: 2.
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

/// A stack sampler, paused and resumed around the calls it samples so that
/// its cost falls only on them.
pub trait Sampler {
    /// Files stacks sampled from now on under `prefix` (folded frames,
    /// e.g. `cold-start;winch`).
    fn set_prefix(&mut self, prefix: &str);
    /// Starts (or restarts) sampling.
    fn resume(&mut self) -> anyhow::Result<()>;
    /// Stops sampling, keeping what was collected.
    fn pause(&mut self) -> anyhow::Result<()>;
    /// Everything collected, as a profile (overhead left for the caller).
    fn finish(self: Box<Self>) -> anyhow::Result<crate::run::Profile>;
}

/// A frame name as flamegraph tools take it: demangled without the hash,
/// with no `;` (the folded format's separator).
pub fn frame_name(raw: &str) -> String {
    let name = format!("{:#}", rustc_demangle::demangle(raw));
    name.replace(';', ":")
}

/// Folded stacks with counts, most frequent first (then by name, so that
/// output is stable).
pub fn sorted_stacks(stacks: std::collections::HashMap<String, u64>) -> Vec<crate::run::Stack> {
    let mut out: Vec<crate::run::Stack> = stacks
        .into_iter()
        .map(|(frames, count)| crate::run::Stack { frames, count })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.frames.cmp(&b.frames)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A meter that counts its own reads: each read advances by 10.
    struct Steps(u64);

    impl Meter for Steps {
        fn names(&self) -> &[&'static str] {
            &["steps"]
        }

        fn read(&mut self, out: &mut [u64]) {
            self.0 += 10;
            out[0] = self.0;
        }
    }

    #[test]
    fn a_tally_splits_differences_by_phase_and_counts_iterations() {
        let mut m = Steps(0);
        let mut t = Tally::new(&mut m, 2);
        for _ in 0..3 {
            t.mark();
            t.mark();
            t.mark();
        }
        assert_eq!(t.iterations(), 3);
        assert_eq!(t.history().count(), 0, "no history unless asked");
        assert_eq!(t.means(0), vec![10.0]);
        assert_eq!(t.means(1), vec![10.0]);
        assert_eq!(t.empty_window(5), vec![10.0]);
        let mut m = Steps(0);
        let mut t = Tally::new(&mut m, 2).keep_history(2);
        for _ in 0..3 {
            t.mark();
            t.mark();
            t.mark();
        }
        let kept: Vec<&[u64]> = t.history().collect();
        assert_eq!(
            kept,
            [&[20u64][..], &[20][..]],
            "two kept, two phases of 10 each"
        );
    }

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

    #[test]
    fn frame_names_are_demangled_and_fit_the_folded_format() {
        assert_eq!(
            frame_name("_ZN12drug_checker10check_json17h0123456789abcdefE"),
            "drug_checker::check_json"
        );
        assert_eq!(frame_name("a;b"), "a:b");
    }
}
