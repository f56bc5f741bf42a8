//! The fuel pass: fuel per phase of a call (Wasmtime's fuel metering
//! charges about one unit per wasm instruction, so the figure is the same
//! on every run), whether it is the same every call, and what metering
//! costs: batches on the metered twin alternating with plain ones.

use super::{Alternation, PassError, Plan, Subject, overhead_pct, per_batch};
use crate::driver::Instance;
use crate::error::CallError;
use crate::phase::Phase;
use crate::run::{Fuel, PhaseFuel};
use crate::timing::target::batch;

/// Calls of the fuel count.
pub const CALLS: u64 = 100;

/// Fuel per phase of calls: of the first call into a fresh instance and of
/// the steady call (the second), each phase in `phases` order, and whether
/// every later call matched the steady one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuelCounts {
    phases: &'static [Phase],
    unit: &'static str,
    first: Vec<u64>,
    steady: Vec<u64>,
    constant: bool,
    calls: u64,
}

/// The phases a plugin call's fuel is counted in, the whole call last.
const CALL_PHASES: [Phase; 4] = [Phase::CopyIn, Phase::Execute, Phase::Free, Phase::Call];

/// Counts `calls` calls of `instance` (on a fuel-metered engine) on
/// `input`. Encode and decode run no wasm: fuel is counted on the ABI call.
pub fn counts(
    instance: &mut dyn Instance,
    input: &[u8],
    calls: u64,
) -> Result<FuelCounts, CallError> {
    let left = |i: &dyn Instance| i.fuel_left().unwrap_or(0);
    tally(&CALL_PHASES, "call", calls, || {
        let f0 = left(instance);
        let buf = instance.copy_in(input)?;
        let f1 = left(instance);
        let packed = instance.execute(buf)?;
        let f2 = left(instance);
        let out = instance.copy_out(packed)?;
        let f3 = left(instance);
        instance.free(out)?;
        let f4 = left(instance);
        Ok(vec![f0 - f1, f1 - f2, f3 - f4, f0 - f4])
    })
}

/// Fuel counts of `calls` calls (at least two), each made by `one`, which
/// returns the fuel it used in each of `phases`; `unit` names a call
/// (`call`, a command's `run`).
pub fn tally(
    phases: &'static [Phase],
    unit: &'static str,
    calls: u64,
    mut one: impl FnMut() -> Result<Vec<u64>, CallError>,
) -> Result<FuelCounts, CallError> {
    let calls = calls.max(2);
    // The first call into a fresh instance differs (its allocator grows
    // the heap): it is reported on its own, and every call after the
    // second is checked against the second.
    let mut first = Vec::new();
    let mut steady: Option<Vec<u64>> = None;
    let mut constant = true;
    for i in 0..calls {
        let used = one()?;
        match (i, &steady) {
            (0, _) => first = used,
            (_, None) => steady = Some(used),
            (_, Some(s)) => constant &= *s == used,
        }
    }
    Ok(FuelCounts {
        phases,
        unit,
        first,
        steady: steady.unwrap_or_default(),
        constant,
        calls,
    })
}

/// A [`Fuel`] from counts and the measured slowdown.
pub fn fuel(counts: &FuelCounts, slowdown_pct: f64) -> Fuel {
    let phases = |used: &[u64]| {
        counts
            .phases
            .iter()
            .zip(used)
            .map(|(&phase, &fuel)| PhaseFuel { phase, fuel })
            .collect()
    };
    Fuel {
        phases: phases(&counts.steady),
        calls: counts.calls,
        unit: counts.unit.to_owned(),
        first_call: phases(&counts.first),
        constant: counts.constant,
        slowdown_pct,
    }
}

/// One subject's fuel pass; `None` where it runs no wasm.
pub(super) fn pass(plan: &Plan, s: &mut Subject<'_, '_>) -> Result<Option<Fuel>, PassError> {
    let Some(twins) = s.twins else {
        return Ok(None);
    };
    let (mut metered, counts) = twins.fuel_twin()?;
    let n = per_batch(s.call_ns);
    let plain = &mut *s.target;
    let mut alt = Alternation::run(
        plan.fuel_secs,
        || batch(plain, n),
        || batch(&mut *metered, n),
        None,
    )?;
    Ok(Some(fuel(
        &counts,
        overhead_pct(alt.medians()).unwrap_or(0.0),
    )))
}
