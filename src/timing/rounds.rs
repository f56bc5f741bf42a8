//! The hot path's loop: calls measured in rounds. In each round a variant
//! runs a batch of instrumented calls (a clock read at each phase boundary)
//! and as many uninstrumented ones (one read per [`BATCH_CALLS`] calls),
//! alternating which goes first, so that drift on a shared machine falls on
//! both alike, and the variants take their rounds in turn, so that each
//! round gives one figure per variant close together in time.
//!
//! [`Rounds`] is what a scenario drives: an in-process [`Target`] over a
//! clock ([`InProcess`]), or a driver in a child process that runs this same
//! loop there and sends its stamps back (`driver::child`).

use serde::{Deserialize, Serialize};

use super::Clock;
use super::target::{Stamps, Target};
use crate::error::CallError;
use crate::phase::Phase;
use crate::run::ClockInfo;

/// Calls per batch. Batches are compared by their mean per call, and the
/// median over batches shrugs off the odd batch hit by an interrupt or a
/// neighbour, which a mean over all calls does not. One clock read pair per
/// 1000 calls costs nothing measurable.
pub const BATCH_CALLS: usize = 1000;

/// Raw clock readings of one variant timed in rounds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    /// `width` stamps per instrumented call, back to back (room for every
    /// call is made up front; only the first `calls` rows are filled).
    pub stamps: Vec<u64>,
    /// Stamps per call: phases + 1.
    pub width: usize,
    /// Instrumented calls recorded.
    pub calls: usize,
    /// `(calls, ticks)` of each uninstrumented batch.
    pub batches: Vec<(u64, u64)>,
    /// `(first row, calls)` of each instrumented batch.
    pub timed_batches: Vec<(usize, usize)>,
    /// Where each round ended: `(batches, timed_batches)` counts so far.
    pub round_ends: Vec<(usize, usize)>,
}

impl Recording {
    /// Room for `iterations` instrumented calls of `width` stamps in
    /// `rounds` rounds. The stamps are written, not just reserved: page
    /// faults must happen here, not in the timed loop (and a non-zero fill
    /// cannot become a lazy calloc).
    pub fn new(width: usize, iterations: usize, rounds: usize) -> Recording {
        let len = iterations * width;
        let mut stamps = Vec::with_capacity(len);
        stamps.resize(len, u64::MAX);
        let batches = iterations / BATCH_CALLS + rounds + 1;
        Recording {
            stamps,
            width,
            calls: 0,
            batches: Vec::with_capacity(batches),
            timed_batches: Vec::with_capacity(batches),
            round_ends: Vec::with_capacity(rounds),
        }
    }

    /// The filled rows.
    pub fn rows(&self) -> &[u64] {
        &self.stamps[..self.calls * self.width]
    }

    /// What round `r` recorded: its rows, and its uninstrumented batches.
    pub fn round(&self, r: usize) -> RoundData {
        let (b0, t0) = if r == 0 {
            (0, 0)
        } else {
            self.round_ends[r - 1]
        };
        let (b1, t1) = self.round_ends[r];
        let timed = &self.timed_batches[t0..t1];
        let first = timed.first().map_or(self.calls, |t| t.0);
        let calls: usize = timed.iter().map(|t| t.1).sum();
        RoundData {
            stamps: self.stamps[first * self.width..(first + calls) * self.width].to_vec(),
            timed_batches: timed.iter().map(|t| t.1).collect(),
            batches: self.batches[b0..b1].to_vec(),
        }
    }

    /// Appends a round measured elsewhere (a child process's).
    pub fn push_round(&mut self, data: &RoundData) -> Result<(), String> {
        let calls: usize = data.timed_batches.iter().sum();
        if data.stamps.len() != calls * self.width {
            return Err(format!(
                "a round of {calls} calls came with {} stamps, not {}",
                data.stamps.len(),
                calls * self.width
            ));
        }
        let at = self.calls * self.width;
        let end = at + data.stamps.len();
        if end > self.stamps.len() {
            self.stamps.resize(end, u64::MAX);
        }
        self.stamps[at..end].copy_from_slice(&data.stamps);
        for &n in &data.timed_batches {
            self.timed_batches.push((self.calls, n));
            self.calls += n;
        }
        self.batches.extend_from_slice(&data.batches);
        self.round_ends
            .push((self.batches.len(), self.timed_batches.len()));
        Ok(())
    }
}

/// One round of one variant, as a child process sends it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoundData {
    /// The instrumented calls' rows, back to back.
    pub stamps: Vec<u64>,
    /// Calls in each instrumented batch, in order.
    pub timed_batches: Vec<usize>,
    /// `(calls, ticks)` of each uninstrumented batch.
    pub batches: Vec<(u64, u64)>,
}

/// A variant timed in rounds: an in-process target over a clock, or a
/// driver in a child process. Scenarios drive every variant through this.
pub trait Rounds {
    /// The phases of one call.
    fn phases(&self) -> &[Phase];
    /// Unmeasured calls before the first round.
    fn warm_up(&mut self, calls: u64) -> Result<(), CallError>;
    /// One round of `calls` instrumented and `calls` uninstrumented calls,
    /// instrumented first or not, appended to `rec`.
    fn round(&mut self, rec: &mut Recording, plan: RoundPlan) -> Result<(), CallError>;
    /// The clock its stamps are in, described at the end of the run.
    fn clock(&mut self) -> Result<ClockInfo, CallError>;
}

/// A [`Target`] in this process, timed by `clock`.
pub struct InProcess<'t, T, C> {
    /// The target.
    pub target: &'t mut T,
    /// The clock.
    pub clock: C,
}

impl<T: Target, C: Clock> Rounds for InProcess<'_, T, C> {
    fn phases(&self) -> &[Phase] {
        self.target.phases()
    }

    fn warm_up(&mut self, calls: u64) -> Result<(), CallError> {
        warm_up(&self.clock, self.target, calls)
    }

    fn round(&mut self, rec: &mut Recording, plan: RoundPlan) -> Result<(), CallError> {
        round(&self.clock, self.target, rec, plan)
    }

    fn clock(&mut self) -> Result<ClockInfo, CallError> {
        Ok(super::clock_info(&self.clock))
    }
}

/// `calls` unmeasured calls, half of them marked (so that both paths are
/// warm).
pub fn warm_up<T: Target, C: Clock>(
    clock: &C,
    target: &mut T,
    calls: u64,
) -> Result<(), CallError> {
    let mut scratch = [0u64; 16];
    let width = target.phases().len() + 1;
    for i in 0..calls {
        // One load a thousand calls: a long warm-up still stops promptly.
        if i % 1024 == 0 && crate::interrupt::requested() {
            break;
        }
        if i % 2 == 0 {
            target.call_marked(&mut Stamps {
                clock,
                row: &mut scratch[..width],
            })?;
        } else {
            target.call()?;
        }
    }
    Ok(())
}

/// One round of a variant: how many calls, in which order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoundPlan {
    /// Instrumented calls, and as many uninstrumented.
    pub calls: u64,
    /// Whether the instrumented calls go first.
    pub instrumented_first: bool,
}

/// One round of `target`: `plan.calls` instrumented calls into `rec`'s
/// next rows and as many uninstrumented ones in batches, in the order asked.
pub fn round<T: Target, C: Clock>(
    clock: &C,
    target: &mut T,
    rec: &mut Recording,
    plan: RoundPlan,
) -> Result<(), CallError> {
    let (calls, instrumented_first) = (plan.calls as usize, plan.instrumented_first);
    let w = rec.width;
    let end = (rec.calls + calls) * w;
    if end > rec.stamps.len() {
        // Only when more rounds come than were planned for: never in the
        // timed loop below.
        rec.stamps.resize(end, u64::MAX);
    }
    'passes: for pass in [instrumented_first, !instrumented_first] {
        let mut left = calls;
        while left > 0 {
            // Between batches, never inside one: a long round still stops
            // within a batch of a signal, with what it has.
            if crate::interrupt::requested() {
                break 'passes;
            }
            let n = left.min(BATCH_CALLS);
            left -= n;
            if pass {
                for row in rec.stamps[rec.calls * w..(rec.calls + n) * w].chunks_exact_mut(w) {
                    target.call_marked(&mut Stamps { clock, row })?;
                }
                rec.timed_batches.push((rec.calls, n));
                rec.calls += n;
                crate::interrupt::measured();
            } else {
                let start = clock.now();
                for _ in 0..n {
                    target.call()?;
                }
                let end = clock.now();
                rec.batches.push((n as u64, end - start));
            }
        }
    }
    rec.round_ends
        .push((rec.batches.len(), rec.timed_batches.len()));
    Ok(())
}
