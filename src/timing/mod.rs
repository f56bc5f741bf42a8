//! The timing core: clocks cheap enough to read around each phase of a call
//! ([`Clock`], chosen by `--clock`), the call abstraction every scenario
//! times ([`target`]), the loops that time it ([`budget`], [`rounds`]), and
//! the step from raw clock stamps to statistics and timeline spans
//! ([`settle`]). Nothing here knows a scenario, an engine or a plugin.

pub mod budget;
pub mod drift;
mod fake;
mod monotonic;
pub mod pairing;
pub mod rounds;
pub mod settle;
pub mod target;
mod tsc;

use std::fmt;
use std::str::FromStr;

pub use fake::Fake;
pub use monotonic::Monotonic;
pub use tsc::Tsc;

use crate::run::ClockInfo;

/// A clock cheap enough to read around each phase of a call.
///
/// Timed loops are generic over `C: Clock`, so a read compiles to the clock's
/// own instruction sequence with no dynamic dispatch.
pub trait Clock: Copy + Send + Sync + 'static {
    /// Name as given to `--clock`.
    const NAME: &'static str;

    /// Reads the clock. Ticks mean something only as differences (and, for
    /// the TSC and the monotonic clock, across processes of one machine).
    fn now(&self) -> u64;

    /// Nanoseconds per tick. For calibrated clocks, measured from the clock's
    /// creation until this call, so call it at the end of a run.
    fn ns_per_tick(&self) -> f64;
}

/// Which clock to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockChoice {
    /// The TSC when it is invariant, else the monotonic clock. The default.
    #[default]
    Auto,
    /// The CPU's time-stamp counter (x86_64, invariant TSC only).
    Tsc,
    /// The OS monotonic clock (`CLOCK_MONOTONIC`).
    Monotonic,
    /// A deterministic clock that moves a fixed pseudo-random step on every
    /// read, whatever the machine does: for tests of statistics, verdicts
    /// and exporters, never for measuring.
    Fake,
}

/// The clock a choice resolves to on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockKind {
    /// [`Tsc`].
    Tsc,
    /// [`Monotonic`].
    Monotonic,
    /// [`Fake`].
    Fake,
}

impl ClockChoice {
    /// Resolves the choice, failing if an explicitly named clock is unusable.
    pub fn resolve(self) -> Result<ClockKind, String> {
        match self {
            ClockChoice::Auto if tsc::available().is_ok() => Ok(ClockKind::Tsc),
            ClockChoice::Auto | ClockChoice::Monotonic => Ok(ClockKind::Monotonic),
            ClockChoice::Tsc => tsc::available().map(|()| ClockKind::Tsc),
            ClockChoice::Fake => Ok(ClockKind::Fake),
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
            $crate::timing::ClockKind::Tsc => {
                let $clock = $crate::timing::Tsc::new();
                $body
            }
            $crate::timing::ClockKind::Monotonic => {
                let $clock = $crate::timing::Monotonic::new();
                $body
            }
            $crate::timing::ClockKind::Fake => {
                let $clock = $crate::timing::Fake::new();
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
            "fake" => Ok(ClockChoice::Fake),
            _ => Err(format!(
                "unknown clock `{s}` (expected auto, tsc, monotonic or fake)"
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
            ClockChoice::Fake => "fake",
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

/// The run's description of `clock`, read at the end of the run, when a
/// calibrated clock knows its rate best.
pub fn clock_info<C: Clock>(clock: &C) -> ClockInfo {
    ClockInfo {
        name: C::NAME.to_owned(),
        ns_per_tick: clock.ns_per_tick(),
        read_cost_ns: read_cost_ns(clock),
        resolution_ns: resolution_ns(clock),
    }
}
