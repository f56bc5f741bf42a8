//! What a scenario times: a [`Target`], one call of which runs a fixed list
//! of phases and marks each boundary on a [`Marks`]. The timing pass's marks
//! read a clock ([`Stamps`]); the passes that look inside a call read
//! counters or say which phase runs; the uninstrumented calls mark nothing
//! ([`NoMarks`]). One abstraction for every scenario, engine and driver.

use super::Clock;
use crate::error::CallError;
use crate::phase::Phase;

/// Something whose calls can be timed phase by phase.
pub trait Target {
    /// The phases of one call, in order (the same on every call).
    fn phases(&self) -> &'static [Phase];

    /// One call, marking `m` before the first phase (0) and after each
    /// phase (1..=phases().len()).
    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError>;

    /// The same call with no clock reads. Targets whose marked call does
    /// work only for its marks (a call hook, say) leave it out here.
    #[inline(always)]
    fn call(&mut self) -> Result<(), CallError> {
        self.call_marked(&mut NoMarks)
    }
}

/// Receives a mark at each phase boundary of a call.
pub trait Marks {
    /// Boundary `k`: 0 before the first phase, `k` after phase `k`.
    fn mark(&mut self, k: usize);

    /// Boundary `k` at `ticks`, read by someone else (e.g. a call hook
    /// inside the call); marks that keep no stamps ignore it.
    #[inline(always)]
    fn set(&mut self, _k: usize, _ticks: u64) {}

    /// Whether these are the timing pass's marks, which keep each call's
    /// stamps: a target that records something per call beside them (a
    /// span of its own) records it for these calls only, so that both
    /// describe the same calls.
    #[inline(always)]
    fn keeps_stamps(&self) -> bool {
        false
    }
}

/// Marks that read nothing: the same call without clock reads.
pub struct NoMarks;

impl Marks for NoMarks {
    #[inline(always)]
    fn mark(&mut self, _k: usize) {}
}

/// The timing pass's marks: a clock read into a row of stamps.
pub struct Stamps<'a, C> {
    /// The clock read at each mark.
    pub clock: &'a C,
    /// One call's row: `phases + 1` stamps.
    pub row: &'a mut [u64],
}

impl<C: Clock> Marks for Stamps<'_, C> {
    #[inline(always)]
    fn mark(&mut self, k: usize) {
        self.row[k] = self.clock.now();
    }

    #[inline(always)]
    fn set(&mut self, k: usize, ticks: u64) {
        self.row[k] = ticks;
    }

    #[inline(always)]
    fn keeps_stamps(&self) -> bool {
        true
    }
}

/// Marks of a call made inside another's: its boundary `k` is the
/// enclosing call's `k + by`.
pub struct Shifted<'m, M: ?Sized> {
    /// The enclosing call's marks.
    pub inner: &'m mut M,
    /// Boundaries of the enclosing call before the inner call's first.
    pub by: usize,
}

impl<M: Marks + ?Sized> Marks for Shifted<'_, M> {
    #[inline(always)]
    fn mark(&mut self, k: usize) {
        self.inner.mark(k + self.by);
    }

    #[inline(always)]
    fn set(&mut self, k: usize, ticks: u64) {
        self.inner.set(k + self.by, ticks);
    }

    #[inline(always)]
    fn keeps_stamps(&self) -> bool {
        self.inner.keeps_stamps()
    }
}

/// A [`Target`] behind a pointer, for the passes that look inside calls:
/// they run after the timings, where one indirect call per call (and per
/// mark) is nothing beside the counters and samplers they drive.
pub trait DynTarget {
    /// See [`Target::phases`].
    fn phases(&self) -> &'static [Phase];
    /// See [`Target::call`].
    fn call(&mut self) -> Result<(), CallError>;
    /// See [`Target::call_marked`].
    fn call_marked(&mut self, m: &mut dyn Marks) -> Result<(), CallError>;
}

impl<T: Target> DynTarget for T {
    fn phases(&self) -> &'static [Phase] {
        Target::phases(self)
    }

    fn call(&mut self) -> Result<(), CallError> {
        Target::call(self)
    }

    fn call_marked(&mut self, m: &mut dyn Marks) -> Result<(), CallError> {
        Target::call_marked(self, m)
    }
}

/// `n` plain calls of `t`; their mean wall-clock nanoseconds per call.
pub fn batch(t: &mut dyn DynTarget, n: usize) -> Result<f64, CallError> {
    let start = std::time::Instant::now();
    for _ in 0..n {
        t.call()?;
    }
    Ok(start.elapsed().as_nanos() as f64 / n.max(1) as f64)
}
