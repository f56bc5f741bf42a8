//! The passes that look inside a component's calls, after the timings:
//! counters, fuel and the guest and host samplers. Each takes a call
//! whole, as one phase (`execute`, its lowering, lifting and post-return
//! included): the timing pass splits a call with a call hook that reads
//! the clock, which counters and samplers cannot share. The calls run on
//! fresh instances without that hook: the subject on the timing engine,
//! its twins on instrumented ones.

use std::time::Instant;

use wasmtime::Engine;
use wasmtime::component::{Component, Linker, Val};

use super::{Call, ComponentConfig, NAME};
use crate::driver::Limits;
use crate::driver::component::plain_store;
use crate::error::{CallError, Error};
use crate::inside::counters::{Counting, Stop, Whole};
use crate::inside::fuel::{self, FuelCounts};
use crate::inside::{Instrument, PassError, Plan, Subject, Twins};
use crate::measure::guest::GuestHandle;
use crate::phase::Phase;
use crate::run::Run;
use crate::timing::target::{DynTarget, Marks, Target};

/// A call taken whole: its one phase, `execute`.
struct WholeCall(Call);

/// The one phase of a [`WholeCall`]: the guest sampler takes wasm stacks
/// in it.
const WHOLE: [Phase; 1] = [Phase::Execute];

impl Target for WholeCall {
    fn phases(&self) -> &'static [Phase] {
        &WHOLE
    }

    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        Target::call(&mut self.0)?;
        m.mark(1);
        Ok(())
    }
}

/// Fresh instances of a component, their export ready to call.
pub(super) struct ComponentTwins<'a> {
    /// The component's bytes, compiled again for each twin.
    pub(super) bytes: &'a [u8],
    pub(super) export: &'a str,
    /// The arguments, as the timing pass lowered them.
    pub(super) params: &'a [Val],
    pub(super) results: usize,
    pub(super) post_return: bool,
    pub(super) limits: &'a Limits,
}

impl ComponentTwins<'_> {
    /// A call on a fresh instance on `engine`, its store fuelled and
    /// joining `sampler` as asked.
    fn call(
        &self,
        engine: &Engine,
        fuel: bool,
        sampler: Option<&GuestHandle>,
    ) -> anyhow::Result<WholeCall> {
        let component = Component::from_binary(engine, self.bytes)?;
        let mut linker = Linker::new(engine);
        linker.define_unknown_imports_as_traps(&component)?;
        let mut store = plain_store(engine, self.limits.clone());
        if let Some(s) = sampler {
            s.attach(&mut store);
        }
        if fuel {
            store.set_fuel(crate::measure::fuel::TANK)?;
        }
        let instance = linker.instantiate(&mut store, &component)?;
        let func = instance
            .get_func(&mut store, self.export)
            .ok_or_else(|| anyhow::anyhow!("the export `{}` went missing", self.export))?;
        Ok(WholeCall(Call {
            store,
            func,
            params: self.params.to_vec(),
            results: vec![Val::Bool(false); self.results],
            post_return: self.post_return,
        }))
    }
}

impl<'a> Twins<'a> for ComponentTwins<'a> {
    fn twin(
        &self,
        instrument: Instrument,
        sampler: Option<&GuestHandle>,
    ) -> anyhow::Result<Box<dyn DynTarget + 'a>> {
        let engine = Engine::new(&crate::measure::instrument::config(instrument))?;
        Ok(Box::new(self.call(&engine, false, sampler)?))
    }

    fn fuel_twin(&self) -> Result<(Box<dyn DynTarget + 'a>, FuelCounts), PassError> {
        let engine = Engine::new(&crate::measure::instrument::config(Instrument::Fuel))
            .map_err(anyhow::Error::from)?;
        let mut t = self.call(&engine, true, None)?;
        let counts = fuel::tally(&WHOLE, "call", fuel::CALLS, || {
            let left = |t: &WholeCall| t.0.store.get_fuel().unwrap_or(0);
            let before = left(&t);
            Target::call(&mut t)?;
            Ok(vec![before - left(&t)])
        })?;
        Ok((Box::new(t), counts))
    }
}

/// How the passes run on a component's calls.
fn plan(cfg: &ComponentConfig) -> Plan<'static> {
    Plan {
        scenario: NAME,
        counting: Counting {
            stop: Stop::Time { secs: 0.5, min: 10 },
            whole: Whole::Batches,
            whole_phase: Phase::Call,
            unit: "call",
            track_points: 0,
            method: "a separate pass after the timings (at least 10 calls, about 0.5 s) on a fresh instance without the call hook: a component's call is counted whole, as execute (its lowering, lifting and post-return included: the timing pass splits them by a call hook that reads the clock, which the counters cannot share), less the mean counts of an empty window; the whole call from reads around batches of plain calls",
        },
        count_on: None,
        fuel_secs: cfg.inside.sample_secs.min(1.0),
        sample_secs: cfg.inside.sample_secs,
    }
}

/// Runs the passes `cfg.inside` asks for on calls of the export (variant
/// named after it, its median call `call_ns` long) and puts what they
/// found in `run`. `name` names the component in errors.
pub(super) fn look_inside(
    cfg: &ComponentConfig,
    twins: &ComponentTwins<'_>,
    engine: &Engine,
    name: &str,
    since: Instant,
    out: &mut Run,
) -> Result<(), Error> {
    let call_ns = out
        .variants
        .iter()
        .find(|v| v.name == cfg.export)
        .and_then(|v| v.phase(Phase::Call))
        .map_or(1e3, |p| p.stats.p50_ns);
    let mut target = twins
        .call(engine, false, None)
        .map_err(|e| Error::plugin(name, Phase::Instantiate, crate::error::one_line(&e)))?;
    let mut subjects = [Subject {
        name: cfg.export.clone(),
        target: &mut target,
        call_ns,
        twins: Some(twins),
    }];
    let found = crate::inside::run(&cfg.inside, &plan(cfg), &mut subjects, since)
        .map_err(|e| e.into_error(name))?;
    found.record_one(out, &cfg.export);
    Ok(())
}

/// A component's export, called again and again by someone who watches
/// something else than time (the heap pass): each call on one instance
/// without the call hook, as the passes above make them.
pub struct Ready {
    name: String,
    call: WholeCall,
}

/// `cfg`'s component, loaded and instantiated; see [`Ready`].
pub fn ready(cfg: &ComponentConfig) -> Result<Ready, Error> {
    let l = super::load(crate::timing::Monotonic, cfg)?;
    let twins = ComponentTwins {
        bytes: &l.bytes,
        export: &cfg.export,
        params: &l.params,
        results: l.ty.results().len(),
        post_return: l.post_return,
        limits: &cfg.limits,
    };
    let call = twins
        .call(&l.engine, false, None)
        .map_err(|e| Error::plugin(&l.name, Phase::Instantiate, crate::error::one_line(&e)))?;
    Ok(Ready { name: l.name, call })
}

impl Ready {
    /// One call.
    pub fn call(&mut self) -> Result<(), Error> {
        Target::call(&mut self.call).map_err(|e| e.into_error(&self.name))
    }

    /// The component's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}
