//! The sampler passes. The guest sampler takes wasm stacks at epoch ticks
//! on a twin whose engine checks the epoch, filed under the host phase that
//! ran (its marks say which); the host sampler takes whole-process stacks by
//! SIGPROF on a twin whose engine writes the perf map. Both alternate
//! sampled batches with plain ones on the target, so that what sampling
//! costs is measured, with the sampler running only in the sampled ones.

use super::{Alternation, Found, InsideConfig, Instrument, Plan, Subject, overhead_pct, per_batch};
use crate::error::CallError;
use crate::measure::Sampler;
use crate::measure::guest::{GuestHandle, GuestSampler};
use crate::measure::host_sampler::HostSampler;
use crate::phase::Phase;
use crate::timing::target::{DynTarget, Marks, batch};

/// Phases of a call in which wasm runs.
pub const WASM_PHASES: [Phase; 3] = [Phase::CopyIn, Phase::Execute, Phase::Free];

/// How the cost of sampling is measured, appended to each profile's method.
const COST: &str = "; cost: sampled batches alternating with plain ones in ~100 ms segments, by their medians (summed over the variants sampled)";

/// The guest sampler's marks: which host phase runs now.
struct PhaseMarks<'a> {
    cell: &'a GuestHandle,
    phases: &'static [Phase],
}

impl Marks for PhaseMarks<'_> {
    #[inline(always)]
    fn mark(&mut self, k: usize) {
        self.cell.set(self.phases.get(k).copied());
    }
}

/// The guest sampler's pass over every subject that runs wasm.
pub(super) fn guest(
    cfg: &InsideConfig,
    plan: &Plan,
    subjects: &mut [Subject<'_, '_>],
    found: &mut Found,
    since: std::time::Instant,
) -> Result<(), CallError> {
    let sampler = GuestSampler::new(cfg.guest_hz, plan.scenario, &WASM_PHASES, Some(since));
    let handle = sampler.handle();
    each(
        plan,
        subjects,
        found,
        "guest sampler",
        sampler,
        Some(&handle),
        |twin, n| {
            let start = std::time::Instant::now();
            let mut marks = PhaseMarks {
                cell: &handle,
                phases: twin.phases(),
            };
            for _ in 0..n {
                twin.call_marked(&mut marks)?;
            }
            Ok(start.elapsed().as_nanos() as f64 / n as f64)
        },
    )
}

/// The host sampler's pass over every subject that runs wasm.
pub(super) fn host(
    cfg: &InsideConfig,
    plan: &Plan,
    subjects: &mut [Subject<'_, '_>],
    found: &mut Found,
    since: std::time::Instant,
) -> Result<(), CallError> {
    let sampler = HostSampler::new(cfg.host_hz, plan.scenario, Some(since));
    let r = each(plan, subjects, found, "host sampler", sampler, None, batch);
    // The map names this process's JIT code; it means nothing once we exit.
    let _ = std::fs::remove_file(crate::measure::host_sampler::perf_map_path());
    r
}

/// One sampler over the subjects: for each, a twin with the sampler's
/// instrument, sampled batches (`sampled`) alternating with plain ones;
/// then the profile, its cost from the summed medians.
#[allow(clippy::too_many_arguments)]
fn each<S: Sampler + 'static>(
    plan: &Plan,
    subjects: &mut [Subject<'_, '_>],
    found: &mut Found,
    what: &str,
    mut sampler: S,
    guest: Option<&GuestHandle>,
    mut sampled: impl FnMut(&mut dyn DynTarget, usize) -> Result<f64, CallError>,
) -> Result<(), CallError> {
    let instrument = if guest.is_some() {
        Instrument::Epoch
    } else {
        Instrument::PerfMap
    };
    let mut twins = Vec::new();
    for (i, s) in subjects.iter().enumerate() {
        match s.twins.map(|t| t.twin(instrument, guest)) {
            Some(Ok(t)) => twins.push((i, t)),
            Some(Err(e)) => found
                .notes
                .push(format!("{what}: {}: not run: {e:#}", s.name)),
            None => {}
        }
    }
    if twins.is_empty() {
        return Ok(());
    }
    let mut sums = (0.0, 0.0);
    let several = twins.len() > 1;
    for (i, mut twin) in twins {
        let s = &mut subjects[i];
        // Guest stacks always name the variant; host stacks only where
        // several variants share the profile.
        if guest.is_some() || several {
            sampler.set_prefix(&format!("{};{}", plan.scenario, s.name));
        }
        let n = per_batch(s.call_ns);
        let plain = &mut *s.target;
        let alt = Alternation::run(
            plan.sample_secs,
            || batch(plain, n),
            || sampled(&mut *twin, n),
            Some(&mut sampler as &mut dyn Sampler),
        );
        match alt {
            Ok(mut alt) => {
                let (p, o) = alt.medians();
                sums.0 += p;
                sums.1 += o;
            }
            Err(e) => found.note(what, e)?,
        }
    }
    match Box::new(sampler).finish() {
        Ok(mut p) => {
            p.overhead_pct = overhead_pct(sums);
            p.method.push_str(COST);
            found.profiles.push(p);
        }
        Err(e) => found.notes.push(format!("{what}: {e:#}")),
    }
    Ok(())
}
