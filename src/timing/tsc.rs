//! The x86_64 time-stamp counter: ~10 ns a read here against ~25 ns for
//! `Instant`, which matters when a call is timed in six ~100 ns phases.
//! Calibrated against the monotonic clock over the clock's lifetime.
//!
//! `rdtsc` is used rather than `rdtscp`: it does not wait for earlier
//! instructions to retire (so a phase edge may be off by a few cycles), but it
//! costs half as much, and instrumentation overhead is what we must keep low.

use std::time::Instant;

use super::Clock;

/// Below this, calibration waits: a short run must not get a coarse ratio.
const MIN_CALIBRATION_NS: u128 = 20_000_000;

/// The invariant TSC.
#[derive(Debug, Clone, Copy)]
pub struct Tsc {
    origin: Instant,
    origin_ticks: u64,
}

/// Whether this machine has a TSC we can trust: x86_64 with `constant_tsc`
/// and `nonstop_tsc` (its rate does not change with frequency or sleep).
pub fn available() -> Result<(), String> {
    if !cfg!(target_arch = "x86_64") {
        return Err("the tsc clock needs an x86_64 CPU".into());
    }
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo")
        .map_err(|e| format!("the tsc clock needs /proc/cpuinfo to check the TSC: {e}"))?;
    let flags = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or_default();
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    if has("constant_tsc") && has("nonstop_tsc") {
        Ok(())
    } else {
        Err(
            "this CPU's TSC is not invariant (no constant_tsc/nonstop_tsc): use --clock monotonic"
                .into(),
        )
    }
}

impl Tsc {
    /// Starts the clock (and its calibration).
    pub fn new() -> Self {
        let origin = Instant::now();
        Tsc {
            origin,
            origin_ticks: read(),
        }
    }
}

impl Default for Tsc {
    fn default() -> Self {
        Self::new()
    }
}

#[inline(always)]
fn read() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no preconditions on x86_64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        unreachable!("tsc::available() rejects non-x86_64 targets")
    }
}

impl Clock for Tsc {
    const NAME: &'static str = "tsc";

    #[inline(always)]
    fn now(&self) -> u64 {
        read()
    }

    fn ns_per_tick(&self) -> f64 {
        while self.origin.elapsed().as_nanos() < MIN_CALIBRATION_NS {
            std::hint::spin_loop();
        }
        let ns = self.origin.elapsed().as_nanos();
        let ticks = read() - self.origin_ticks;
        ns as f64 / ticks as f64
    }
}
