//! The passes that look inside a command's runs, after the timings: the
//! counters on the runs themselves, and fuel and the samplers on twins
//! that compile the command again on an instrumented engine. A twin runs
//! the command as the timing pass does, each run in a fresh instance with
//! the same arguments, environment, stdin and directories.

use std::time::Instant;

use wasmtime::component::Component;
use wasmtime::{Engine, Module};

use super::wasi::{Instr, Pre, component_pre, linker};
use super::{CommandConfig, CommandRuns, Given, NAME};
use crate::error::Error;
use crate::inside::counters::{Counting, Stop, Whole};
use crate::inside::fuel::{self, FuelCounts};
use crate::inside::{Instrument, PassError, Plan, Subject, Twins};
use crate::measure::guest::GuestHandle;
use crate::phase::Phase;
use crate::run::Run;
use crate::timing::Clock;
use crate::timing::target::{DynTarget, NoMarks};

/// Runs the fuel count makes: every run is a fresh instance, so the first
/// and the steady one should agree, and a few show whether they do.
const FUEL_RUNS: u64 = 5;

/// The phases a run's fuel is counted in, the whole run last.
const FUEL_PHASES: [Phase; 3] = [Phase::Instantiate, Phase::Execute, Phase::Call];

/// Twins of a command's runs on instrumented engines.
pub(super) struct CommandTwins<'a, C> {
    pub(super) given: &'a Given<'a, C>,
    /// The command's bytes, compiled again for each twin.
    pub(super) bytes: &'a [u8],
    /// A component command (`wasi:cli/run`), not a core module.
    pub(super) component: bool,
}

impl<'a, C: Clock + 'a> CommandTwins<'a, C> {
    /// Runs of the command on an engine with `instrument`, each store
    /// given `instr`.
    fn runs(
        &self,
        instrument: Instrument,
        instr: Instr,
    ) -> anyhow::Result<CommandRuns<'a, C, Pre>> {
        let engine = Engine::new(&crate::measure::instrument::config(instrument))?;
        let pre = if self.component {
            let c = Component::from_binary(&engine, self.bytes)?;
            Pre::Component(component_pre(&engine, &c)?)
        } else {
            let module = Module::from_binary(&engine, self.bytes)?;
            Pre::Core(linker(&engine, self.given.clock)?.instantiate_pre(&module)?)
        };
        Ok(CommandRuns::new(self.given, pre, instr))
    }
}

impl<'a, C: Clock + 'a> Twins<'a> for CommandTwins<'a, C> {
    fn twin(
        &self,
        instrument: Instrument,
        sampler: Option<&GuestHandle>,
    ) -> anyhow::Result<Box<dyn DynTarget + 'a>> {
        let instr = Instr {
            fuel: false,
            sampler: sampler.cloned(),
        };
        Ok(Box::new(self.runs(instrument, instr)?))
    }

    fn fuel_twin(&self) -> Result<(Box<dyn DynTarget + 'a>, FuelCounts), PassError> {
        let instr = Instr {
            fuel: true,
            sampler: None,
        };
        let t = self.runs(Instrument::Fuel, instr)?;
        let counts = fuel::tally(&FUEL_PHASES, "run", FUEL_RUNS, || {
            let r = t.given.run(&t.pre, &t.instr, &mut NoMarks)?;
            let [made, ran] = r.fuel.unwrap_or_default();
            Ok(vec![made, ran, made + ran])
        })?;
        Ok((Box::new(t), counts))
    }
}

/// How the passes run on a command.
fn plan(cfg: &CommandConfig) -> Plan<'static> {
    Plan {
        scenario: NAME,
        counting: Counting {
            stop: Stop::Time { secs: 0.5, min: 3 },
            whole: Whole::Sum,
            whole_phase: Phase::Call,
            unit: "run",
            track_points: 10,
            method: "a separate pass after the timings (at least 3 runs, about 0.5 s): counters read at every phase boundary of a run (one group read), less the mean counts of an empty window; the whole run is the sum of its phases",
        },
        count_on: None,
        fuel_secs: cfg.inside.sample_secs.min(1.0),
        sample_secs: cfg.inside.sample_secs,
    }
}

/// Runs the passes `cfg.inside` asks for on the command's runs (variant
/// `run`, its median run `run_ns` long) and puts what they found in `run`.
pub(super) fn look_inside<C: Clock>(
    cfg: &CommandConfig,
    twins: &CommandTwins<'_, C>,
    pre: &Pre,
    since: Instant,
    out: &mut Run,
) -> Result<(), Error> {
    let call_ns = out
        .variants
        .iter()
        .find(|v| v.name == "run")
        .and_then(|v| v.phase(Phase::Call))
        .map_or(1e6, |p| p.stats.p50_ns);
    let mut target = CommandRuns::new(twins.given, pre, Instr::default());
    let mut subjects = [Subject {
        name: "run".into(),
        target: &mut target,
        call_ns,
        twins: Some(twins),
    }];
    let found = crate::inside::run(&cfg.inside, &plan(cfg), &mut subjects, since)
        .map_err(|e| e.into_error(twins.given.argv0))?;
    found.record_one(out, "run");
    Ok(())
}
