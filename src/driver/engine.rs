//! Engines side by side: every engine `record engines` runs sits behind
//! one object-safe trait, [`Engine`], whether it runs in this process
//! (Wasmtime with Cranelift, Winch or Pulley; wasmi) or in a child process
//! over the driver protocol (V8 through Node). An engine opens a module
//! into an [`Opened`] one, which is timed in rounds like any variant
//! ([`Rounds`]) and answers cold starts and memory per instance. The
//! scenario never knows which engine it times.
//!
//! A new in-process engine is a [`Driver`] in one file of `driver/` and a
//! line in [`super::engines`].

use std::path::Path;
use std::time::Instant;

use anyhow::anyhow;
use base64::Engine as _;

use super::call::{BYTES_CALL, PluginCall, Raw};
use super::child::protocol::Input;
use super::child::{ChildDriver, Program, Refused};
use super::wasmtime::WasmtimeDriver;
use super::wasmtime::compiler::Compiler;
use super::{Driver, Instance, Limits};
use crate::error::{CallError, Error, at};
use crate::phase::Phase;
use crate::run::{ClockInfo, DriverInfo, PhaseTime};
use crate::timing::rounds::{Recording, RoundPlan, Rounds};
use crate::timing::target::Target;
use crate::timing::{Clock, ClockChoice, clock_info, with_clock};

/// What an engine is asked to run: one module, one export, one input, as
/// bytes (the call's phases are copy-in, execute, copy-out and free: the
/// host's encode and decode are the same on every engine).
pub struct Job<'a> {
    /// The plugin's name, for errors.
    pub name: &'a str,
    /// The module, as a file (for engines in a child process).
    pub path: &'a Path,
    /// The module's bytes.
    pub bytes: &'a [u8],
    /// The export to call.
    pub export: &'a str,
    /// The input, as copy-in writes it.
    pub input: &'a [u8],
    /// The store's limits.
    pub limits: &'a Limits,
    /// The clock to stamp with.
    pub clock: ClockChoice,
    /// Instrumented calls planned (room made up front).
    pub iterations: u64,
    /// Rounds planned.
    pub rounds: u64,
}

/// What one more instance costs an engine's process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerInstance {
    /// Resident bytes per instance.
    pub rss_bytes: f64,
    /// Virtual bytes reserved per instance.
    pub virtual_bytes: f64,
}

/// An engine that runs plugins.
pub trait Engine {
    /// Its name in reports (`cranelift`, `wasmi`, `v8`).
    fn name(&self) -> &'static str;
    /// Why it cannot run at all on this machine (its runtime is not
    /// installed), with what would install it.
    fn unavailable(&self) -> Option<String> {
        None
    }
    /// Loads `job`'s module, instantiates it and makes one call, whose
    /// output [`Opened::output`] holds. An error in a load or instantiate
    /// phase means the engine cannot run this module.
    fn open<'a>(&'a self, job: &Job<'a>) -> Result<Box<dyn Opened + 'a>, CallError>;
}

/// A module open on an engine: timed in rounds, and asked for cold starts
/// and memory.
pub trait Opened: Rounds {
    /// What the driver is.
    fn info(&self) -> DriverInfo;
    /// The opening's one-off phases (validate, compile, instantiate).
    fn setup(&self) -> Vec<PhaseTime>;
    /// The first call's output.
    fn output(&self) -> &[u8];
    /// One whole cold start of the module, each phase timed: validate,
    /// compile (or translate), instantiate, and the first call (`call`),
    /// whose output must be the opening's.
    fn cold_start(&mut self) -> Result<Vec<PhaseTime>, CallError>;
    /// What `instances` more instances, each called once and all kept
    /// alive, add to the process.
    fn per_instance(&mut self, instances: u64) -> Result<PerInstance, CallError>;
}

/// An engine this build of wprof leaves out: a cargo feature, off by
/// default because it costs build time that `record hot-path` does not
/// need. Reports name it unavailable, with the command that builds it in.
pub struct NotBuilt {
    /// The engine's name.
    pub name: &'static str,
    /// The cargo feature that builds it in.
    pub feature: &'static str,
}

impl Engine for NotBuilt {
    fn name(&self) -> &'static str {
        self.name
    }

    fn unavailable(&self) -> Option<String> {
        Some(format!(
            "not built into this wprof: it is the optional `{f}` feature; build it in with `cargo build --release --features {f}`",
            f = self.feature
        ))
    }

    fn open<'a>(&'a self, _job: &Job<'a>) -> Result<Box<dyn Opened + 'a>, CallError> {
        Err(at(Phase::Engine)(anyhow!(
            "{}",
            self.unavailable().unwrap_or_default()
        )))
    }
}

/// wprof's Wasmtime host on one compiler.
pub struct Wasmtime(pub Compiler);

impl Engine for Wasmtime {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn open<'a>(&'a self, job: &Job<'a>) -> Result<Box<dyn Opened + 'a>, CallError> {
        let engine = self.0.engine().map_err(at(Phase::Engine))?;
        super::with_abi!(crate::kind::abi(job.bytes), A => {
            open_in_process(WasmtimeDriver::<A>::new(engine, self.0.name()), job)
        })
    }
}

/// Opens `job` on an in-process `driver`, stamped by `job`'s clock.
pub fn open_in_process<'a, D>(driver: D, job: &Job<'a>) -> Result<Box<dyn Opened + 'a>, CallError>
where
    D: Driver + 'a,
{
    let kind = job
        .clock
        .resolve()
        .map_err(|e| at(Phase::Engine)(anyhow!(e)))?;
    let mut setup = Vec::new();
    let module = driver
        .load(job.name, job.bytes, &mut setup)
        .map_err(load_error)?;
    let instance = super::timed(&mut setup, Phase::Instantiate, || {
        driver.instantiate(&module, job.export, job.limits)
    })?;
    let mut call = PluginCall::new(instance, Raw(job.input));
    Target::call(&mut call)?;
    let output = call.instance.output().to_vec();
    let job = Owned::of(job);
    Ok(with_clock!(kind, |clock| Box::new(Held {
        driver,
        module,
        call,
        setup,
        output,
        clock,
        job,
    }) as Box<dyn Opened + 'a>))
}

/// A load error as the call error of its phase.
fn load_error(e: Error) -> CallError {
    match e {
        Error::Plugin { phase, cause, .. } => at(phase)(anyhow!(cause)),
        other => at(Phase::Validate)(anyhow!(other.to_string())),
    }
}

/// What an in-process opening keeps of its job.
struct Owned<'a> {
    name: &'a str,
    bytes: &'a [u8],
    export: &'a str,
    input: &'a [u8],
    limits: &'a Limits,
}

impl<'a> Owned<'a> {
    fn of(job: &Job<'a>) -> Self {
        Owned {
            name: job.name,
            bytes: job.bytes,
            export: job.export,
            input: job.input,
            limits: job.limits,
        }
    }
}

/// A module open on an in-process driver.
struct Held<'a, D: Driver, C> {
    driver: D,
    module: D::Module,
    call: PluginCall<D::Instance, Raw<'a>>,
    setup: Vec<PhaseTime>,
    output: Vec<u8>,
    clock: C,
    job: Owned<'a>,
}

impl<D: Driver, C: Clock> Rounds for Held<'_, D, C> {
    fn phases(&self) -> &[Phase] {
        &BYTES_CALL
    }

    fn warm_up(&mut self, calls: u64) -> Result<(), CallError> {
        crate::timing::rounds::warm_up(&self.clock, &mut self.call, calls)
    }

    fn round(&mut self, rec: &mut Recording, plan: RoundPlan) -> Result<(), CallError> {
        crate::timing::rounds::round(&self.clock, &mut self.call, rec, plan)
    }

    fn clock(&mut self) -> Result<ClockInfo, CallError> {
        Ok(clock_info(&self.clock))
    }
}

impl<D: Driver, C: Clock> Opened for Held<'_, D, C> {
    fn info(&self) -> DriverInfo {
        self.driver.info()
    }

    fn setup(&self) -> Vec<PhaseTime> {
        self.setup.clone()
    }

    fn output(&self) -> &[u8] {
        &self.output
    }

    fn cold_start(&mut self) -> Result<Vec<PhaseTime>, CallError> {
        let j = &self.job;
        let mut phases = Vec::with_capacity(4);
        let module = self
            .driver
            .load(j.name, j.bytes, &mut phases)
            .map_err(load_error)?;
        let instance = super::timed(&mut phases, Phase::Instantiate, || {
            self.driver.instantiate(&module, j.export, j.limits)
        })?;
        let start = Instant::now();
        let mut call = PluginCall::new(instance, Raw(j.input));
        Target::call(&mut call)?;
        phases.push(PhaseTime {
            phase: Phase::Call,
            ns: start.elapsed().as_nanos() as f64,
        });
        same_output(call.instance.output(), &self.output)?;
        Ok(phases)
    }

    fn per_instance(&mut self, instances: u64) -> Result<PerInstance, CallError> {
        let read = |label| crate::measure::memory::read(label).map_err(at(Phase::Instantiate));
        let j = &self.job;
        let before = read("before")?;
        let mut kept = Vec::with_capacity(instances as usize);
        for _ in 0..instances {
            let mut i = self.driver.instantiate(&self.module, j.export, j.limits)?;
            i.call(j.input)?;
            kept.push(i);
        }
        let after = read("after")?;
        drop(kept);
        Ok(per_instance(&before, &after, instances))
    }
}

/// What each of `instances` added between two readings.
pub fn per_instance(
    before: &crate::run::MemoryPoint,
    after: &crate::run::MemoryPoint,
    instances: u64,
) -> PerInstance {
    let n = instances.max(1) as f64;
    PerInstance {
        rss_bytes: (after.rss_bytes as f64 - before.rss_bytes as f64) / n,
        virtual_bytes: (after.virtual_bytes as f64 - before.virtual_bytes as f64) / n,
    }
}

/// A cold start's first output against the opening's.
pub fn same_output(got: &[u8], expected: &[u8]) -> Result<(), CallError> {
    if got == expected {
        Ok(())
    } else {
        Err(at(Phase::CopyOut)(anyhow!(
            "a cold start's first call returned {} bytes that differ from the first opening's {}",
            got.len(),
            expected.len()
        )))
    }
}

/// Refuses a plugin of another calling convention than wprof's: the interpreters outside Wasmtime speak
/// only it (wprof's Extism host functions are Wasmtime host functions).
pub fn wprof_abi_only(bytes: &[u8], engine: &str) -> Result<(), CallError> {
    match crate::kind::abi(bytes) {
        crate::kind::Abi::Wprof => Ok(()),
        crate::kind::Abi::Extism => Err(at(Phase::Instantiate)(anyhow!(
            "an Extism plugin: wprof's Extism host (its kernel and host functions) is written for Wasmtime, and {engine} runs wprof-ABI plugins only"
        ))),
    }
}

/// Opens `job` on a driver in a child process started as `program`,
/// which speaks the driver protocol and times the wprof ABI's phases
/// itself (V8 through Node, Wasmer): the input goes as bytes.
pub fn open_child<'a>(program: &Program, job: &Job<'a>) -> Result<Box<dyn Opened + 'a>, CallError> {
    let input = Input::Bytes(base64::engine::general_purpose::STANDARD.encode(job.input));
    let child = ChildDriver::open(
        program,
        job.path,
        job.export,
        input,
        job.limits,
        job.clock,
        job.iterations,
        job.rounds,
    )
    .map_err(|e| match e.downcast_ref::<Refused>() {
        Some(r) => at(r.phase)(anyhow!(r.message.clone())),
        None => at(Phase::Instantiate)(anyhow!("{e:#}")),
    })?;
    Ok(Box::new(InChild { child }))
}

/// A module open in a driver's child process.
struct InChild {
    child: ChildDriver,
}

impl Rounds for InChild {
    fn phases(&self) -> &[Phase] {
        self.child.phases()
    }

    fn warm_up(&mut self, calls: u64) -> Result<(), CallError> {
        self.child.warm_up(calls)
    }

    fn round(&mut self, rec: &mut Recording, plan: RoundPlan) -> Result<(), CallError> {
        self.child.round(rec, plan)
    }

    fn clock(&mut self) -> Result<ClockInfo, CallError> {
        Rounds::clock(&mut self.child)
    }
}

impl Opened for InChild {
    fn info(&self) -> DriverInfo {
        self.child.opened().driver.clone()
    }

    fn setup(&self) -> Vec<PhaseTime> {
        self.child.opened().setup.clone()
    }

    fn output(&self) -> &[u8] {
        &self.child.opened().output
    }

    fn cold_start(&mut self) -> Result<Vec<PhaseTime>, CallError> {
        self.child.cold_start_split()
    }

    fn per_instance(&mut self, instances: u64) -> Result<PerInstance, CallError> {
        let points = self.child.memory(instances, 0)?;
        let at_label = |l: &str| points.iter().find(|p| p.label == l);
        match (at_label("module"), at_label("instances")) {
            (Some(before), Some(after)) => Ok(per_instance(before, after, instances)),
            _ => Err(at(Phase::Instantiate)(anyhow!(
                "the driver's memory readings lack `module` or `instances`"
            ))),
        }
    }
}
