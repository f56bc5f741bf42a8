//! The budgeted loop of the boundary scenarios: a [`Target`] warmed up,
//! then called until a budget of calls and time is spent, one row of clock
//! stamps a call.

use std::time::{Duration, Instant};

use super::Clock;
use super::target::{Stamps, Target};
use crate::error::CallError;

/// How long a variant is measured: at least `min` calls, then until `time`
/// has passed, at most `max`; warmed up first with at least `warm_calls`
/// calls, then for `warm_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Fewest calls.
    pub min: u64,
    /// Most calls.
    pub max: u64,
    /// Time to go on for once there are `min`.
    pub time: Duration,
    /// Fewest warm-up calls.
    pub warm_calls: u64,
    /// Time the warm-up goes on for beyond them (at most 10 000 calls).
    pub warm_time: Duration,
}

impl Budget {
    /// At least `min` calls, then for `time`, at most `max`, after a
    /// warm-up of at least 2 calls.
    pub fn new(min: u64, max: u64, time: Duration) -> Budget {
        Budget {
            min,
            max,
            time,
            warm_calls: 2,
            warm_time: Duration::from_millis(50),
        }
    }

    /// Exactly `n` calls with no warm-up: cold starts, each of which must
    /// start from nothing.
    pub fn exactly(n: u64) -> Budget {
        Budget {
            min: n,
            max: n,
            time: Duration::ZERO,
            warm_calls: 0,
            warm_time: Duration::ZERO,
        }
    }
}

/// Stamps of one variant: `phases + 1` per call, back to back.
#[derive(Debug, Clone, Default)]
pub struct Timed {
    /// The stamps, in clock ticks.
    pub stamps: Vec<u64>,
    /// Calls measured.
    pub calls: usize,
    /// Where each round ended (calls so far), when measured in rounds.
    pub round_ends: Vec<usize>,
}

/// Measuring in rounds: `between` runs after each round but the last,
/// outside every stamp (it times a paired target, the machine's speed).
pub struct Rounds<'a> {
    /// Rounds to aim for (the budget's time decides the calls, so the last
    /// may be short or missing).
    pub count: usize,
    /// What runs between rounds.
    pub between: &'a mut dyn FnMut() -> Result<(), CallError>,
}

impl Timed {
    /// Each round's median time of a whole call, in ticks (one figure a
    /// round; empty when not measured in rounds).
    pub fn round_medians(&self, width: usize) -> Vec<f64> {
        super::pairing::median_per_round(self.round_ends.iter().copied(), |i| {
            let row = &self.stamps[i * width..(i + 1) * width];
            row[width - 1].saturating_sub(row[0]) as f64
        })
    }
}

/// Warms `t` up as `budget` says, then measures it within `budget`. The stamps are written, not just reserved, before the first
/// call; the only check per call reads the stamp the call already took.
pub fn time_target<T: Target, C: Clock>(
    clock: &C,
    t: &mut T,
    budget: Budget,
) -> Result<Timed, CallError> {
    time_in_rounds(clock, t, budget, None)
}

/// [`time_target`], the measured calls cut into `rounds` with what they
/// say run between them.
pub fn time_in_rounds<T: Target, C: Clock>(
    clock: &C,
    t: &mut T,
    budget: Budget,
    mut rounds: Option<Rounds>,
) -> Result<Timed, CallError> {
    let width = t.phases().len() + 1;
    let warm = Instant::now();
    let mut n = 0;
    while (n < budget.warm_calls || (warm.elapsed() < budget.warm_time && n < 10_000))
        && !(n % 1024 == 0 && crate::interrupt::requested())
    {
        t.call()?;
        n += 1;
    }
    let max = budget.max.max(budget.min).max(1) as usize;
    // Calls a round: the calls the budget's time allows at the warm-up's
    // pace, shared among the rounds.
    let per_round = match rounds.as_ref() {
        None => usize::MAX,
        Some(r) => {
            // One more warm-up call, timed on the run's clock (the count of
            // warm-up calls depends on the wall; a fake clock stays
            // reproducible).
            let per_call = if n > 0 {
                let t0 = clock.now();
                t.call()?;
                clock.now().saturating_sub(t0) as f64 * clock.ns_per_tick() * 1e-9
            } else {
                0.0
            };
            let planned = if per_call <= 0.0 {
                budget.min as f64
            } else {
                (budget.time.as_secs_f64() / per_call).max(budget.min as f64)
            };
            ((planned.min(max as f64) / r.count.max(1) as f64).ceil() as usize).max(1)
        }
    };
    let mut round_ends = Vec::with_capacity(rounds.as_ref().map_or(0, |r| r.count + 1));
    let mut next_end = per_round;
    let mut stamps = vec![u64::MAX; max * width];
    // Nanoseconds per tick so far (a calibrated clock refines it later).
    let budget_ticks = (budget.time.as_nanos() as f64 / clock.ns_per_tick().max(1e-3)) as u64;
    let mut calls = 0;
    let start = clock.now();
    for row in stamps.chunks_exact_mut(width) {
        t.call_marked(&mut Stamps {
            clock,
            row: &mut *row,
        })?;
        calls += 1;
        if calls == 1 {
            crate::interrupt::measured();
        }
        // After the call's last stamp, before the next one's first: in no
        // phase. Ctrl-C ends the variant with what it has.
        if calls as u64 >= budget.min && row[width - 1].saturating_sub(start) >= budget_ticks
            || crate::interrupt::requested()
        {
            break;
        }
        // The last round takes whatever calls remain, so the rounds never
        // outnumber `count` (nor outgrow what was reserved).
        if calls == next_end
            && let Some(r) = rounds.as_mut()
            && round_ends.len() + 1 < r.count
        {
            next_end = next_end.saturating_add(per_round);
            round_ends.push(calls);
            (r.between)()?;
        }
    }
    if rounds.is_some() && round_ends.last() != Some(&calls) {
        round_ends.push(calls);
    }
    stamps.truncate(calls * width);
    Ok(Timed {
        stamps,
        calls,
        round_ends,
    })
}
