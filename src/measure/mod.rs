//! Measurement mechanisms. For now: clocks, behind the [`Clock`] trait, one
//! file each, chosen by name (`--clock`).

pub mod memory;
mod monotonic;
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
