//! Cold start (the seed's Scenario 1) and the ladder of remedies for it.
//!
//! Each iteration goes from a module file on disk to the first call's result,
//! phase by phase, as a host starting a plugin for a request would. Rungs are
//! different ways of doing that (JIT compilers, precompiled modules, Wizer
//! snapshots, a pooling allocator), each measured in the same run and ranked
//! against the naive JIT rung.
//!
//! Nothing compiled in one iteration is reused by the next unless the rung
//! says so: wprof builds Wasmtime without its compilation cache, so every
//! `Module::from_binary` compiles afresh. Each rung's `Engine` is created once
//! (timed as its `engine` setup phase), as a host creates one per process.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use std::{fmt, fs};

use anyhow::{Context as _, anyhow, bail};
use serde_json::json;
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, Module, OptLevel, PoolingAllocationConfig, Store,
    Strategy,
};

use super::inside::Instrument;
use super::{Probe, Recorder, marked_call as first_call};
use crate::error::{Error, one_line};
use crate::export::fmt_ns;
use crate::host::{self, CallError, INIT_EXPORT, Plugin, at};
use crate::measure::guest::{GuestHandle, GuestSampler};
use crate::measure::host_sampler::HostSampler;
use crate::measure::{self, Clock, InsideConfig, Monotonic, Sampler};
use crate::phase::Phase;
use crate::run::{ClockInfo, Failure, PhaseTime, Rank, Ranking, Run, Variant};
use crate::source::{InputSpec, PluginSpec};

/// Scenario name, as in `wprof record cold-start`.
pub const NAME: &str = "cold-start";

/// One way of getting from a module file to a first call's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rung {
    /// Read, validate, compile with Cranelift (opt-level speed), instantiate,
    /// call: the seed's path, and the baseline.
    Cranelift,
    /// As [`Rung::Cranelift`] with Cranelift's optimisations off.
    CraneliftOptNone,
    /// As [`Rung::Cranelift`], compiled by Winch, the baseline compiler.
    Winch,
    /// Precompiled once; each iteration reads the `.cwasm` and deserialises
    /// it from bytes.
    Aot,
    /// Precompiled once; each iteration maps the `.cwasm` (`deserialize_file`).
    AotMmap,
    /// Pre-initialised once by Wizer, precompiled, then as [`Rung::AotMmap`].
    Wizer,
    /// Loaded and linked once (`InstancePre`); each iteration instantiates
    /// from the pooling allocator (copy-on-write memory images) and calls.
    Pooling,
}

impl Rung {
    /// Every rung, naive first.
    pub const ALL: [Rung; 7] = [
        Rung::Cranelift,
        Rung::CraneliftOptNone,
        Rung::Winch,
        Rung::Aot,
        Rung::AotMmap,
        Rung::Wizer,
        Rung::Pooling,
    ];

    /// The rung's name, as given to `--rungs`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Rung::Cranelift => "cranelift",
            Rung::CraneliftOptNone => "cranelift-opt-none",
            Rung::Winch => "winch",
            Rung::Aot => "aot",
            Rung::AotMmap => "aot-mmap",
            Rung::Wizer => "wizer",
            Rung::Pooling => "pooling",
        }
    }

    /// What the rung does, for the report.
    pub const fn description(self) -> &'static str {
        match self {
            Rung::Cranelift => {
                "read the .wasm, validate, compile with Cranelift (opt-level speed), instantiate, first call: the seed's path"
            }
            Rung::CraneliftOptNone => "as cranelift, with Cranelift's optimisations off",
            Rung::Winch => {
                "as cranelift, compiled by Winch, Wasmtime's single-pass baseline compiler"
            }
            Rung::Aot => {
                "precompiled once (Cranelift); each iteration reads the .cwasm and deserialises it from bytes"
            }
            Rung::AotMmap => {
                "precompiled once (Cranelift); each iteration maps the .cwasm (Module::deserialize_file)"
            }
            Rung::Wizer => {
                "Wizer ran wprof_init once and snapshotted the initialised module; precompiled; then as aot-mmap"
            }
            Rung::Pooling => {
                "precompiled, mapped and linked once (InstancePre); each iteration instantiates from the pooling allocator (copy-on-write memory images) and calls"
            }
        }
    }

    /// The phases of one iteration, in order.
    pub const fn phases(self) -> &'static [Phase] {
        use Phase::*;
        match self {
            Rung::Cranelift | Rung::CraneliftOptNone | Rung::Winch => &[
                Read,
                Validate,
                Compile,
                Instantiate,
                CopyIn,
                Execute,
                CopyOut,
                Free,
            ],
            Rung::Aot => &[
                Read,
                Deserialize,
                Instantiate,
                CopyIn,
                Execute,
                CopyOut,
                Free,
            ],
            Rung::AotMmap | Rung::Wizer => {
                &[Deserialize, Instantiate, CopyIn, Execute, CopyOut, Free]
            }
            Rung::Pooling => &[Instantiate, CopyIn, Execute, CopyOut, Free],
        }
    }

    /// The engine settings the rung compiles and runs with.
    fn config(self) -> Config {
        self.config_with(None)
    }

    /// The rung's engine settings, with an instrument for a pass that looks
    /// inside.
    fn config_with(self, instrument: Option<Instrument>) -> Config {
        let mut config = match instrument {
            Some(i) => super::inside::config(i),
            None => Config::new(),
        };
        match self {
            Rung::CraneliftOptNone => {
                config.cranelift_opt_level(OptLevel::None);
            }
            Rung::Winch => {
                config.strategy(Strategy::Winch);
            }
            Rung::Pooling => {
                let mut pool = PoolingAllocationConfig::new();
                // One instance is live at a time; a few slots keep the
                // up-front virtual reservation modest (~6 GiB per memory slot).
                pool.total_core_instances(POOL_SLOTS)
                    .total_memories(POOL_SLOTS)
                    .total_tables(POOL_SLOTS);
                config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
                config.memory_init_cow(true);
            }
            _ => {}
        }
        config
    }
}

/// Slots in the pooling rung's pool.
const POOL_SLOTS: u32 = 4;

impl fmt::Display for Rung {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Rung {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Rung::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = Rung::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown rung `{s}` (expected some of: {})", all.join(", "))
            })
    }
}

/// How many iterations each rung runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Iterations {
    /// Exactly this many.
    Exactly(u64),
    /// At least `min`, then on until `time` has passed, at most `max`.
    Timed {
        /// Fewest iterations.
        min: u64,
        /// Most iterations.
        max: u64,
        /// Time budget per rung, warm-up and setup excluded.
        time: Duration,
    },
}

/// Settings of `record cold-start`.
#[derive(Debug, Clone, PartialEq)]
pub struct ColdStartConfig {
    /// Plugin to run. Default: the bundled drug-checker.
    pub plugin: PluginSpec,
    /// Export to call first. Default: the bundled plugin's, else the module's
    /// only export with the wprof call signature.
    pub export: Option<String>,
    /// Input of the first call. Default: the bundled plugin's input.json.
    pub input: InputSpec,
    /// Rungs to measure, in order; the first is the baseline. Default: all,
    /// cranelift first.
    pub rungs: Vec<Rung>,
    /// Iterations per rung. Default: at least 10, then until 1 s has passed,
    /// at most 1000.
    pub iterations: Iterations,
    /// Unmeasured iterations per rung first. Default: 1.
    pub warmup: u64,
    /// A module precompiled by this wprof (`wprof compile`) for the aot
    /// rungs to load instead of precompiling one. Default: none.
    pub precompiled: Option<PathBuf>,
    /// Iterations per rung drawn into the timeline (Chrome trace). Default: 100.
    pub trace_iterations: u64,
    /// Counter, fuel and sampling passes after the timings. Default: the
    /// counter pass only.
    pub inside: InsideConfig,
    /// Memory, table and output limits of every store, and the per-call
    /// deadline. Default: [`host::Limits::default`].
    pub limits: host::Limits,
}

impl Default for ColdStartConfig {
    fn default() -> Self {
        ColdStartConfig {
            plugin: PluginSpec::default(),
            export: None,
            input: InputSpec::Default,
            rungs: Rung::ALL.to_vec(),
            iterations: Iterations::Timed {
                min: 10,
                max: 1000,
                time: Duration::from_secs(1),
            },
            warmup: 1,
            precompiled: None,
            trace_iterations: 100,
            inside: InsideConfig::default(),
            limits: host::Limits::default(),
        }
    }
}

/// What the whole plugin needs, shared by every rung.
#[derive(Clone, Copy)]
struct Subject<'a> {
    name: &'a str,
    /// The module file each JIT iteration reads.
    path: &'a Path,
    /// The binary module.
    bytes: &'a [u8],
    export: &'a str,
    /// The encoded input of the first call.
    input: &'a [u8],
    /// What the first call returns, from the reference run.
    expected: &'a [u8],
    /// Where precompiled artifacts go.
    scratch: &'a Path,
    precompiled: Option<&'a Path>,
    /// In a pass that looks inside: how the rung's engine is instrumented.
    instrument: Option<Instrument>,
    /// In the guest sampler's pass: the sampler every instance joins.
    guest: Option<&'a GuestHandle>,
    /// The limits every store starts from.
    limits: &'a host::Limits,
}

impl Subject<'_> {
    /// The limits of every store: a full tank in the fuel pass.
    fn limits(&self) -> host::Limits {
        host::Limits {
            fuel: (self.instrument == Some(Instrument::Fuel)).then_some(measure::fuel::TANK),
            ..self.limits.clone()
        }
    }
}

/// What one rung measured.
struct Measured {
    variant: Variant,
    stamps: Vec<u64>,
}

/// The end of a loading rung's iteration: instantiate (marked), the first
/// call (marked phase by phase), and the output check (after the marks).
#[inline(always)]
fn instantiate_and_call(
    engine: &Engine,
    module: &Module,
    s: &Subject,
    rec: &mut Recorder,
) -> Result<(), CallError> {
    let mut p =
        Plugin::limited(engine, module, s.export, s.limits()).map_err(at(Phase::Instantiate))?;
    if let Some(g) = s.guest {
        g.attach(p.store_mut());
    }
    rec.mark();
    first_call(&mut p, s.input, rec)?;
    check_output(&p, s.expected)
}

/// Checks a first call's output against the reference run's.
fn check_output(p: &Plugin, expected: &[u8]) -> Result<(), CallError> {
    if p.output == expected {
        return Ok(());
    }
    Err(at(Phase::Execute)(anyhow!(
        "the first call returned {} bytes that differ from the reference run's {} bytes",
        p.output.len(),
        expected.len()
    )))
}

/// Runs `once` for the warm-up and then the measured iterations.
fn drive(
    cfg: &ColdStartConfig,
    rung: Rung,
    rec: &mut Recorder,
    mut once: impl FnMut(&mut Recorder) -> Result<(), CallError>,
) -> Result<(), CallError> {
    let width = rung.phases().len() + 1;
    let max = match cfg.iterations {
        Iterations::Exactly(n) => n,
        Iterations::Timed { max, .. } => max,
    } as usize;
    // Written, not just reserved, so page faults happen here: `mark` then
    // only stores.
    rec.stamps = vec![u64::MAX; (max.max(1)) * width];
    for _ in 0..cfg.warmup {
        rec.stamps.clear();
        once(rec)?;
    }
    rec.stamps.clear();
    if let Probe::Counters(t) = &mut rec.probe {
        t.reset();
    }
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        once(rec)?;
        n += 1;
        if crate::interrupt::requested() {
            break;
        }
        let done = match cfg.iterations {
            Iterations::Exactly(k) => n >= k,
            Iterations::Timed { min, max, time } => {
                n >= max || (n >= min && start.elapsed() >= time)
            }
        };
        if done {
            break;
        }
    }
    Ok(())
}

/// Runs Wizer on `bytes`: `wprof_init` runs once in an instrumented
/// instance, whose state becomes the new module's initial state.
///
/// Uses wasmtime-wizer's two halves (`instrument`, `snapshot`) around a
/// plain synchronous instance rather than `Wizer::run`: that needs the
/// crate's `wasmtime` feature, which turns on Wasmtime's async, GC, threads
/// and cache support, minutes of build time wprof has no other use for.
pub fn pre_initialise(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut wizer = wasmtime_wizer::Wizer::new();
    wizer.init_func(INIT_EXPORT);
    let (cx, instrumented) = wizer.instrument(bytes)?;
    let engine = Engine::default();
    let module = Module::new(&engine, &instrumented)?;
    let mut store = Store::new(&engine, ());
    let instance = wasmtime::Instance::new(&mut store, &module, &[])?;
    let init = instance
        .get_typed_func::<(), ()>(&mut store, INIT_EXPORT)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("`{INIT_EXPORT}` is not a `() -> ()` function"))?;
    crate::watchdog::enter(Phase::PreInit);
    let done = init.call(&mut store, ());
    crate::watchdog::leave();
    done.map_err(|e| anyhow!("`{INIT_EXPORT}` trapped: {}", one_line(&e.into())))?;
    let mut state = Snapshotted {
        store: &mut store,
        instance,
    };
    Ok(now_or_never(wizer.snapshot(&cx, &mut state))??)
}

/// The instance state Wizer reads back.
struct Snapshotted<'a> {
    store: &'a mut Store<()>,
    instance: wasmtime::Instance,
}

impl wasmtime_wizer::InstanceState for Snapshotted<'_> {
    async fn global_get(
        &mut self,
        name: &str,
        _: wasmtime_wizer::ValType,
    ) -> wasmtime_wizer::SnapshotVal {
        use wasmtime::Val;
        use wasmtime_wizer::SnapshotVal;
        let global = self
            .instance
            .get_global(&mut *self.store, name)
            .expect("Wizer asks only for the globals its instrumentation exported");
        match global.get(&mut *self.store) {
            Val::I32(x) => SnapshotVal::I32(x),
            Val::I64(x) => SnapshotVal::I64(x),
            Val::F32(x) => SnapshotVal::F32(x),
            Val::F64(x) => SnapshotVal::F64(x),
            Val::V128(x) => SnapshotVal::V128(x.as_u128()),
            // Wizer's validation rejects modules with mutable reference globals.
            other => unreachable!("Wizer snapshots no reference globals ({other:?})"),
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        let memory = self
            .instance
            .get_memory(&mut *self.store, name)
            .expect("Wizer asks only for the memories its instrumentation exported");
        contents(memory.data(&*self.store))
    }
}

/// Polls a future that never waits (Wizer's snapshot over a synchronous
/// instance) to completion.
fn now_or_never<F: Future>(f: F) -> anyhow::Result<F::Output> {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Ok(out),
        Poll::Pending => bail!("Wizer's snapshot waited on something; wprof cannot drive it"),
    }
}

/// Precompiles `bytes` for `engine` into `path`; returns the artifact's size.
fn precompile(engine: &Engine, bytes: &[u8], path: &Path) -> anyhow::Result<u64> {
    let cwasm = engine.precompile_module(bytes)?;
    fs::write(path, &cwasm).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(cwasm.len() as u64)
}

/// Loads a precompiled module, refusing anything that is not one made by
/// this Wasmtime with `engine`'s settings.
///
/// Wasmtime checks the artifact's header (its version and every setting that
/// affects compiled code) before using it; wprof never calls the unchecked
/// `deserialize_raw`. A `.cwasm` is still machine code: load only files you
/// trust.
pub fn load_precompiled(engine: &Engine, path: &Path) -> anyhow::Result<Module> {
    if let Err(e) = fs::metadata(path) {
        bail!("cannot read {}: {e}", path.display());
    }
    let not_one = |why: String| {
        anyhow!(
            "{} is not a module precompiled by Wasmtime ({why})",
            path.display()
        )
    };
    match Engine::detect_precompiled_file(path) {
        Ok(Some(wasmtime::Precompiled::Module)) => {}
        Ok(Some(wasmtime::Precompiled::Component)) => {
            bail!(
                "{} is a precompiled component, not a module",
                path.display()
            )
        }
        Ok(None) => return Err(not_one("no Wasmtime artifact header".into())),
        Err(e) => return Err(not_one(one_line(&e.into()))),
    }
    // SAFETY: the file is a Wasmtime artifact (checked above) and Wasmtime
    // checks its version and settings against `engine` before use.
    unsafe { Module::deserialize_file(engine, path) }.map_err(|e| {
        anyhow!(
            "{} was refused: {} (recompile it with `wprof compile`)",
            path.display(),
            one_line(&e.into())
        )
    })
}

/// Measures one rung. `Err` carries the phase and cause of a failure.
fn measure_rung(
    cfg: &ColdStartConfig,
    rung: Rung,
    s: &Subject,
    rec: &mut Recorder,
) -> Result<Variant, (Phase, String)> {
    let fail = |phase: Phase| move |e: anyhow::Error| (phase, one_line(&e));
    let call_fail = |e: CallError| (e.phase, one_line(&e.error));
    let mut setup = Vec::new();
    let engine = host::timed(&mut setup, Phase::Engine, || {
        Engine::new(&rung.config_with(s.instrument))
    })
    .map_err(|e| fail(Phase::Engine)(e.into()))?;
    let description = match (rung, s.precompiled) {
        (Rung::Aot | Rung::AotMmap, Some(given)) => format!(
            "{}; the .cwasm is {}, as given (not compiled by this run)",
            rung.description(),
            given.display()
        ),
        _ => rung.description().to_owned(),
    };
    let mut variant = Variant {
        name: rung.to_string(),
        description,
        ..Variant::default()
    };
    let cwasm = s.scratch.join(format!("{rung}.cwasm"));
    // The .cwasm the AOT rungs load: the given one, or one made now.
    let aot_artifact = |setup: &mut Vec<PhaseTime>| -> Result<(PathBuf, u64), (Phase, String)> {
        if let Some(given) = s.precompiled {
            let len = fs::metadata(given).map_or(0, |m| m.len());
            return Ok((given.to_owned(), len));
        }
        let len = host::timed(setup, Phase::Compile, || {
            precompile(&engine, s.bytes, &cwasm)
        })
        .map_err(fail(Phase::Compile))?;
        Ok((cwasm.clone(), len))
    };
    match rung {
        Rung::Cranelift | Rung::CraneliftOptNone | Rung::Winch => {
            let mut last = None;
            drive(cfg, rung, rec, |rec| {
                rec.mark();
                let bytes = fs::read(s.path)
                    .map_err(anyhow::Error::from)
                    .and_then(host::to_binary)
                    .map_err(at(Phase::Read))?;
                rec.mark();
                Module::validate(&engine, &bytes).map_err(at(Phase::Validate))?;
                rec.mark();
                let module = Module::from_binary(&engine, &bytes).map_err(at(Phase::Compile))?;
                rec.mark();
                instantiate_and_call(&engine, &module, s, rec)?;
                last = Some(module);
                Ok(())
            })
            .map_err(call_fail)?;
            if let Some(module) = last {
                let compiled = module
                    .serialize()
                    .map_err(|e| fail(Phase::Compile)(e.into()))?;
                variant.compiled_bytes = Some(compiled.len() as u64);
            }
        }
        Rung::Aot => {
            let (path, len) = aot_artifact(&mut setup)?;
            variant.compiled_bytes = Some(len);
            load_precompiled(&engine, &path).map_err(fail(Phase::Deserialize))?;
            drive(cfg, rung, rec, |rec| {
                rec.mark();
                let bytes = fs::read(&path).map_err(at(Phase::Read))?;
                rec.mark();
                // SAFETY: checked once by load_precompiled above; the file
                // is wprof's own artifact or the one the user vouched for.
                let module = unsafe { Module::deserialize(&engine, &bytes) }
                    .map_err(at(Phase::Deserialize))?;
                rec.mark();
                instantiate_and_call(&engine, &module, s, rec)
            })
            .map_err(call_fail)?;
        }
        Rung::AotMmap | Rung::Wizer => {
            let (path, len) = if rung == Rung::Wizer {
                let snapshot = host::timed(&mut setup, Phase::PreInit, || pre_initialise(s.bytes))
                    .map_err(fail(Phase::PreInit))?;
                variant.module_bytes = Some(snapshot.len() as u64);
                let len = host::timed(&mut setup, Phase::Compile, || {
                    precompile(&engine, &snapshot, &cwasm)
                })
                .map_err(fail(Phase::Compile))?;
                (cwasm.clone(), len)
            } else {
                aot_artifact(&mut setup)?
            };
            variant.compiled_bytes = Some(len);
            load_precompiled(&engine, &path).map_err(fail(Phase::Deserialize))?;
            drive(cfg, rung, rec, |rec| {
                rec.mark();
                // SAFETY: as in the aot rung.
                let module = unsafe { Module::deserialize_file(&engine, &path) }
                    .map_err(at(Phase::Deserialize))?;
                rec.mark();
                instantiate_and_call(&engine, &module, s, rec)
            })
            .map_err(call_fail)?;
        }
        Rung::Pooling => {
            let len = host::timed(&mut setup, Phase::Compile, || {
                precompile(&engine, s.bytes, &cwasm)
            })
            .map_err(fail(Phase::Compile))?;
            variant.compiled_bytes = Some(len);
            let module = host::timed(&mut setup, Phase::Deserialize, || {
                load_precompiled(&engine, &cwasm)
            })
            .map_err(fail(Phase::Deserialize))?;
            let pre = host::timed(&mut setup, Phase::Link, || {
                host::linker(&engine, &module).and_then(|l| Ok(l.instantiate_pre(&module)?))
            })
            .map_err(fail(Phase::Link))?;
            let metrics = engine.pooling_allocator_metrics();
            let (mut live_instances, mut live_memories) = (0u64, 0usize);
            drive(cfg, rung, rec, |rec| {
                rec.mark();
                let mut p =
                    Plugin::from_pre(&pre, s.export, s.limits()).map_err(at(Phase::Instantiate))?;
                if let Some(g) = s.guest {
                    g.attach(p.store_mut());
                }
                rec.mark();
                first_call(&mut p, s.input, rec)?;
                // Read after the last mark: proof the instance came from the pool.
                if let Some(m) = &metrics {
                    live_instances = live_instances.max(m.core_instances());
                    live_memories = live_memories.max(m.memories());
                }
                check_output(&p, s.expected)
            })
            .map_err(call_fail)?;
            variant.facts.insert(
                "pool_instances_live_during_call".into(),
                json!(live_instances),
            );
            variant.facts.insert(
                "pool_memories_live_during_call".into(),
                json!(live_memories),
            );
            variant.facts.insert("pool_slots".into(), json!(POOL_SLOTS));
        }
    }
    variant.setup = setup;
    Ok(variant)
}

/// What the passes after the timing pass found.
#[derive(Default)]
struct Inside {
    perf: Option<crate::run::CounterInfo>,
    profiles: Vec<crate::run::Profile>,
    counters: Vec<crate::run::CounterSample>,
    notes: Vec<String>,
}

/// One rung again for about `secs` (at least 3 iterations), with `probe` at
/// each mark and `sampler` running throughout. Returns the probe, the
/// pass's median cold start and its stamps; `Err` is a note on why the rung
/// could not run.
#[allow(clippy::too_many_arguments)]
fn rerun<'c>(
    cfg: &ColdStartConfig,
    s: &Subject,
    rung: Rung,
    clock: &'c Monotonic,
    secs: f64,
    probe: Probe<'c>,
    sampler: Option<&mut dyn Sampler>,
) -> Result<(Probe<'c>, f64, Vec<u64>), String> {
    let pass = ColdStartConfig {
        iterations: Iterations::Timed {
            min: 3,
            max: 10_000,
            time: Duration::from_secs_f64(secs),
        },
        ..cfg.clone()
    };
    let mut rec = Recorder {
        clock,
        stamps: Vec::new(),
        probe,
    };
    let measured = match sampler {
        Some(sampler) => {
            sampler.set_prefix(&format!("{NAME};{rung}"));
            sampler.resume().map_err(|e| format!("{rung}: {e:#}"))?;
            let m = measure_rung(&pass, rung, s, &mut rec);
            sampler.pause().map_err(|e| format!("{rung}: {e:#}"))?;
            m
        }
        None => measure_rung(&pass, rung, s, &mut rec),
    };
    measured.map_err(|(phase, cause)| format!("{rung}: not measured: {phase}: {cause}"))?;
    let stats = super::phase_stats(&rec.stamps, rung.phases(), Phase::ColdStart, 1.0);
    let p50 = stats.last().map_or(0.0, |p| p.stats.p50_ns);
    Ok((rec.probe, p50, rec.stamps))
}

/// What an instrumented pass of a rung costs: `instrumented(secs)` runs one
/// and returns its median cold start; plain passes of the rung alternate
/// with it, two halves each, so that drift falls on both. Returns the sums
/// of the instrumented and of the plain medians.
fn against_plain(
    cfg: &ColdStartConfig,
    s: &Subject,
    rung: Rung,
    clock: &Monotonic,
    secs: f64,
    mut instrumented: impl FnMut(f64) -> Result<f64, String>,
) -> Result<(f64, f64), String> {
    let (mut with, mut without) = (0.0, 0.0);
    for _ in 0..2 {
        without += rerun(cfg, s, rung, clock, secs / 4.0, Probe::None, None)?.1;
        with += instrumented(secs / 4.0)?;
    }
    Ok((with, without))
}

/// Seconds of counter pass per rung.
const COUNTER_SECS: f64 = 0.2;

/// The passes that look inside, rung by rung: counters, then samplers.
fn inside_passes(
    cfg: &ColdStartConfig,
    s: &Subject,
    variants: &mut [Variant],
    clock: &Monotonic,
    origin: u64,
) -> Inside {
    let mut found = Inside::default();
    let ic = &cfg.inside;
    let rungs: Vec<Rung> = variants
        .iter()
        .filter_map(|v| v.name.parse().ok())
        .collect();
    if let Some(mut c) = super::inside::open_counters(
        &ic.counters,
        "a separate pass after the timings (at least 3 iterations a rung, about 0.2 s each, after the warm-up) with compilation on the calling thread, which the counters count: counters read at every phase boundary (one group read), less the mean counts of an empty window; the whole iteration is the sum of its phases",
    ) {
        let s = &Subject {
            instrument: Some(Instrument::OneThread),
            ..*s
        };
        if let Some(meter) = c.meter.as_mut() {
            let read_cost = measure::Tally::new(meter, 1).empty_window(1000);
            let mut iterations = 0;
            for (v, &rung) in variants.iter_mut().zip(&rungs) {
                let tally = measure::Tally::new(meter, rung.phases().len()).keep_history(10_000);
                match rerun(
                    cfg,
                    s,
                    rung,
                    clock,
                    COUNTER_SECS,
                    Probe::Counters(tally),
                    None,
                ) {
                    Ok((Probe::Counters(t), _, stamps)) => {
                        iterations = iterations.max(t.iterations());
                        // About 50 points a rung on the timeline.
                        let width = rung.phases().len() + 1;
                        let per = (t.iterations() as usize).div_ceil(50);
                        super::inside::counter_track(
                            &t,
                            &read_cost,
                            |i| {
                                stamps
                                    .get(i * width)
                                    .map_or(0.0, |&t| t.saturating_sub(origin) as f64)
                            },
                            per,
                            &format!("per cold start ({rung})"),
                            &mut found.counters,
                        );
                        v.counters = super::inside::with_whole(
                            super::inside::phase_counts(&t, rung.phases(), &read_cost),
                            Phase::ColdStart,
                        );
                    }
                    Ok(_) => {}
                    Err(e) => found.notes.push(format!("counter pass: {e}")),
                }
            }
            c.info.iterations = iterations;
            c.info.read_cost = c.info.counters.iter().cloned().zip(read_cost).collect();
        }
        found.perf = Some(c.info);
    }
    let per_rung = ic.sample_secs / rungs.len().max(1) as f64;
    if ic.fuel {
        fuel_pass(
            cfg,
            s,
            variants,
            &rungs,
            clock,
            per_rung.clamp(0.2, 0.5),
            &mut found.notes,
        );
    }
    let overhead = |sums: (f64, f64)| (sums.1 > 0.0).then(|| 100.0 * (sums.0 - sums.1) / sums.1);
    let plain = s;
    if ic.sample.guest {
        let mut sampler = GuestSampler::new(ic.guest_hz, NAME, &WASM_PHASES);
        let handle = sampler.handle();
        let sub = Subject {
            instrument: Some(Instrument::Epoch),
            guest: Some(&handle),
            ..*plain
        };
        let mut sums = (0.0, 0.0);
        for &rung in &rungs {
            let sampled = |secs: f64| {
                let probe = Probe::Phases {
                    cell: &handle,
                    phases: rung.phases(),
                    pos: 0,
                };
                rerun(cfg, &sub, rung, clock, secs, probe, Some(&mut sampler)).map(|r| r.1)
            };
            match against_plain(cfg, plain, rung, clock, per_rung, sampled) {
                Ok((with, without)) => {
                    sums.0 += with;
                    sums.1 += without;
                }
                Err(e) => found.notes.push(format!("guest sampler: {e}")),
            }
        }
        match Box::new(sampler).finish() {
            Ok(mut p) => {
                p.overhead_pct = overhead(sums);
                p.method.push_str(OVERHEAD_METHOD);
                found.profiles.push(p);
            }
            Err(e) => found.notes.push(format!("guest sampler: {e:#}")),
        }
    }
    if ic.sample.host {
        let mut sampler = HostSampler::new(ic.host_hz, NAME);
        let sub = Subject {
            instrument: Some(Instrument::PerfMap),
            ..*plain
        };
        let mut sums = (0.0, 0.0);
        for &rung in &rungs {
            let sampled = |secs: f64| {
                rerun(
                    cfg,
                    &sub,
                    rung,
                    clock,
                    secs,
                    Probe::None,
                    Some(&mut sampler),
                )
                .map(|r| r.1)
            };
            match against_plain(cfg, plain, rung, clock, per_rung, sampled) {
                Ok((with, without)) => {
                    sums.0 += with;
                    sums.1 += without;
                }
                Err(e) => found.notes.push(format!("host sampler: {e}")),
            }
        }
        let _ = std::fs::remove_file(measure::host_sampler::perf_map_path());
        match Box::new(sampler).finish() {
            Ok(mut p) => {
                p.overhead_pct = overhead(sums);
                p.method.push_str(OVERHEAD_METHOD);
                found.profiles.push(p);
            }
            Err(e) => found.notes.push(format!("host sampler: {e:#}")),
        }
    }
    found
}

/// The fuel pass: what the first call spends (the same module gives the
/// same figure on every rung but wizer, whose snapshot starts initialised),
/// and what metering costs each rung.
fn fuel_pass(
    cfg: &ColdStartConfig,
    s: &Subject,
    variants: &mut [Variant],
    rungs: &[Rung],
    clock: &Monotonic,
    secs: f64,
    notes: &mut Vec<String>,
) {
    const CALLS: u64 = 10;
    let counts_of = |bytes: &[u8]| -> Result<super::inside::FuelCounts, String> {
        let mut p =
            super::inside::instrumented(Instrument::Fuel, bytes, s.export, s.limits.clone())
                .map_err(|e| format!("instantiate: {}", one_line(&e)))?;
        super::inside::fuel_counts(&mut p, s.input, CALLS)
            .map_err(|e| format!("{}: {}", e.phase, one_line(&e.error)))
    };
    let base = counts_of(s.bytes);
    let snapshot = rungs.contains(&Rung::Wizer).then(|| {
        pre_initialise(s.bytes)
            .map_err(|e| format!("pre-init: {}", one_line(&e)))
            .and_then(|b| counts_of(&b))
    });
    let sub = Subject {
        instrument: Some(Instrument::Fuel),
        ..*s
    };
    for (v, &rung) in variants.iter_mut().zip(rungs) {
        let counts = match (rung, &snapshot) {
            (Rung::Wizer, Some(w)) => w,
            _ => &base,
        };
        let counts = match counts {
            Ok(c) => c,
            Err(e) => {
                notes.push(format!("fuel: {rung}: not measured: {e}"));
                continue;
            }
        };
        let metered = |secs| rerun(cfg, &sub, rung, clock, secs, Probe::None, None).map(|r| r.1);
        match against_plain(cfg, s, rung, clock, secs, metered) {
            Ok((with, without)) if without > 0.0 => {
                v.fuel = Some(super::inside::fuel(
                    counts,
                    100.0 * (with - without) / without,
                ));
            }
            Ok(_) => {}
            Err(e) => notes.push(format!("fuel: {e}")),
        }
    }
}

/// Phases of an iteration in which wasm runs.
const WASM_PHASES: [Phase; 3] = [Phase::CopyIn, Phase::Execute, Phase::Free];

/// How a cold start's sampling cost is measured, appended to the method.
const OVERHEAD_METHOD: &str = "; cost: per rung, sampled passes alternating with unsampled ones (two halves each), their median cold starts summed over the rungs";

/// Runs the cold-start scenario.
pub fn run(cfg: &ColdStartConfig) -> Result<Run, Error> {
    let wall = Instant::now();
    let started_at = super::now_rfc3339();
    if cfg.rungs.is_empty() {
        return Err(Error::Config("no rungs to measure".into()));
    }
    // The reference run: the same errors as every scenario for bad input,
    // before any rung starts, and the output every rung must reproduce.
    let super::Prepared {
        plugin,
        loaded,
        export,
        input,
        instance: mut reference,
    } = super::prepare(
        &cfg.plugin,
        cfg.export.as_deref(),
        &cfg.input,
        cfg.limits.clone(),
    )?;
    let name = plugin.name.clone();
    let _watch = crate::watchdog::watch(&name, cfg.limits.deadline);
    let scratch = super::scratch_dir("wprof-cold-start-")?;
    // A bundled plugin lives inside wprof: write it out so the JIT rungs read
    // a real file, as every host does.
    let path = match &cfg.plugin {
        PluginSpec::File(path) => path.clone(),
        PluginSpec::Bundled(_) => {
            let path = scratch.path().join(format!("{name}.wasm"));
            fs::write(&path, &plugin.bytes)
                .map_err(|e| Error::Config(format!("cannot write {}: {e}", path.display())))?;
            path
        }
    };
    {
        let clock = Monotonic::new();
        let mut rec = Recorder::new(&clock, Vec::with_capacity(8));
        first_call(&mut reference, &input, &mut rec).map_err(|e| e.into_error(&name))?;
    }
    let expected = std::mem::take(&mut reference.output);
    drop(reference);
    if let Some(given) = &cfg.precompiled {
        let aot = cfg
            .rungs
            .iter()
            .find(|r| matches!(r, Rung::Aot | Rung::AotMmap));
        let Some(rung) = aot else {
            return Err(Error::Config(
                "--precompiled is used only by the aot and aot-mmap rungs, and neither is selected"
                    .into(),
            ));
        };
        let engine = Engine::new(&rung.config())
            .map_err(|e| Error::plugin(&name, Phase::Engine, one_line(&e.into())))?;
        load_precompiled(&engine, given)
            .map_err(|e| Error::plugin(&name, Phase::Deserialize, one_line(&e)))?;
    }
    let has_init = loaded.module.get_export(INIT_EXPORT).is_some();
    drop(loaded);

    let subject = Subject {
        name: &name,
        path: &path,
        bytes: &plugin.bytes,
        export: &export,
        input: &input,
        expected: &expected,
        scratch: scratch.path(),
        precompiled: cfg.precompiled.as_deref(),
        instrument: None,
        guest: None,
        limits: &cfg.limits,
    };
    let mut notes = Vec::new();
    let mut failures = Vec::new();
    let mut measured: Vec<Measured> = Vec::new();
    let clock = Monotonic::new();
    let origin = clock.now();
    for &rung in &cfg.rungs {
        if crate::interrupt::requested() {
            notes.push(crate::interrupt::note(&format!("before the {rung} rung")));
            break;
        }
        if rung == Rung::Wizer && !has_init {
            notes.push(format!(
                "wizer: not run: {} exports no `{INIT_EXPORT}`, so it has no start-up work for Wizer to run and snapshot (plugins/README.md)",
                subject.name
            ));
            continue;
        }
        if rung == Rung::Wizer
            && let Err(Error::Plugin { phase, cause, .. }) =
                host::guarded_init(&name, &plugin.bytes, cfg.limits.clone())
        {
            failures.push(Failure {
                variant: rung.to_string(),
                phase,
                cause,
            });
            continue;
        }
        let mut rec = Recorder::new(&clock, Vec::new());
        match measure_rung(cfg, rung, &subject, &mut rec) {
            Ok(mut variant) => {
                variant.phases =
                    super::phase_stats(&rec.stamps, rung.phases(), Phase::ColdStart, 1.0);
                measured.push(Measured {
                    variant,
                    stamps: rec.stamps,
                });
            }
            Err((phase, cause)) => failures.push(Failure {
                variant: rung.to_string(),
                phase,
                cause,
            }),
        }
    }

    let clock_info = ClockInfo {
        name: Monotonic::NAME.to_owned(),
        ns_per_tick: 1.0,
        read_cost_ns: measure::read_cost_ns(&clock),
        resolution_ns: measure::resolution_ns(&clock),
    };
    let bytes = (input.len() as u64, expected.len() as u64);
    let timeline = measured
        .iter()
        .flat_map(|m| {
            let rung: Rung = m
                .variant
                .name
                .parse()
                .expect("variant names are rung names");
            super::spans(
                &m.stamps,
                rung.phases(),
                Phase::ColdStart,
                &m.variant.name,
                cfg.trace_iterations,
                origin,
                1.0,
                bytes,
            )
        })
        .collect();
    let mut variants: Vec<Variant> = measured.into_iter().map(|m| m.variant).collect();
    let interrupted = crate::interrupt::requested();
    let found = if interrupted {
        Inside::default()
    } else {
        inside_passes(cfg, &subject, &mut variants, &clock, origin)
    };
    notes.extend(found.notes);
    let ranking = rank(&variants);
    let verdicts = ranking
        .as_ref()
        .map(|r| verdicts(r, &variants, plugin.bytes.len() as u64))
        .unwrap_or_default();
    if let Some(first) = variants.first()
        && first.name != Rung::Cranelift.as_str()
    {
        notes.push(format!(
            "the baseline is {}, the first rung measured (cranelift was not)",
            first.name
        ));
    }
    if variants.iter().any(|v| v.phase(Phase::Validate).is_some()) {
        notes.push(
            "JIT rungs: wasmtime validates again while compiling, so their compile phase includes a second validation pass (compare the validate row)".into(),
        );
    }
    if matches!(cfg.plugin, PluginSpec::Bundled(_)) {
        notes.push(
            "read: the bundled module was written to a temporary file first; after the first iteration it is read from the OS page cache".into(),
        );
    }

    let iterations = variants
        .iter()
        .filter_map(|v| v.phases.last())
        .map(|p| p.stats.n)
        .max()
        .unwrap_or(0);
    let iterations_setting = match cfg.iterations {
        Iterations::Exactly(n) => json!(n),
        Iterations::Timed { min, max, time } => {
            json!({ "min": min, "max": max, "time_s": time.as_secs_f64() })
        }
    };
    let rungs: Vec<&str> = cfg.rungs.iter().map(|r| r.as_str()).collect();
    let mut settings = super::settings([
        ("rungs", json!(rungs)),
        ("iterations", iterations_setting),
        ("warmup", json!(cfg.warmup)),
        ("trace_iterations", json!(cfg.trace_iterations)),
    ]);
    if let Some(p) = &cfg.precompiled {
        settings.insert("precompiled".into(), json!(p.display().to_string()));
    }

    Ok(Run {
        wall_s: wall.elapsed().as_secs_f64(),
        plugin: super::plugin_info(
            &plugin.name,
            &plugin.source,
            &plugin.bytes,
            &export,
            bytes.0,
            bytes.1,
        ),
        iterations,
        settings,
        clock: clock_info,
        variants,
        timeline,
        ranking,
        verdicts,
        failures,
        notes,
        perf: found.perf,
        profiles: found.profiles,
        counters: found.counters,
        incomplete: interrupted,
        ..super::new_run(NAME, started_at)
    })
}

/// Variants fastest first by median cold start, against the first one.
fn rank(variants: &[Variant]) -> Option<Ranking> {
    fn p(v: &Variant) -> Option<&crate::stats::Stats> {
        v.phase(Phase::ColdStart).map(|s| &s.stats)
    }
    let base = p(variants.first()?)?.p50_ns;
    let mut rows: Vec<Rank> = variants
        .iter()
        .filter_map(|v| {
            let s = p(v)?;
            Some(Rank {
                variant: v.name.clone(),
                p50_ns: s.p50_ns,
                p95_ns: s.p95_ns,
                speedup: base / s.p50_ns,
            })
        })
        .collect();
    rows.sort_by(|a, b| a.p50_ns.total_cmp(&b.p50_ns));
    Some(Ranking {
        baseline: variants[0].name.clone(),
        phase: Phase::ColdStart,
        rows,
    })
}

/// A difference between medians smaller than this share is not called a
/// saving.
const NOISE: f64 = 0.05;

/// The seed's cold start, p50, for the verdict's comparison.
const SEED_COLD_START_NS: f64 = 42.1e6;

/// One sentence per finding, each from measured numbers.
fn verdicts(ranking: &Ranking, variants: &[Variant], module_bytes: u64) -> Vec<String> {
    let by_name = |n: &str| variants.iter().find(|v| v.name == n);
    let p50 = |v: &Variant, phase: Phase| v.phase(phase).map(|s| s.stats.p50_ns);
    let mut out = Vec::new();
    let (Some(best), Some(base)) = (ranking.rows.first(), by_name(&ranking.baseline)) else {
        return out;
    };
    let base_p50 = p50(base, Phase::ColdStart).unwrap_or(f64::NAN);
    if best.variant != ranking.baseline {
        out.push(format!(
            "{} wins: {} p50 cold start against {} for {}, {:.0}x faster ({:.0}x faster than the seed's 42.1 ms)",
            best.variant,
            fmt_ns(best.p50_ns),
            fmt_ns(base_p50),
            ranking.baseline,
            best.speedup,
            SEED_COLD_START_NS / best.p50_ns
        ));
    }
    if let Some(loading) = ranking.rows.iter().find(|r| {
        by_name(&r.variant).is_some_and(|v| {
            v.phase(Phase::Read)
                .or(v.phase(Phase::Deserialize))
                .is_some()
        })
    }) && loading.variant != best.variant
    {
        out.push(format!(
            "{} is the fastest that loads the module on every iteration: {} p50, {:.0}x faster than {}",
            loading.variant,
            fmt_ns(loading.p50_ns),
            loading.speedup,
            ranking.baseline
        ));
    }
    if let Some(c) = base.phase(Phase::Compile) {
        out.push(format!(
            "{}: compile is {:.1} % of the cold start ({} p50 for a {} KB module)",
            base.name,
            c.share_pct,
            fmt_ns(c.stats.p50_ns),
            module_bytes / 1024
        ));
    }
    for fast in [Rung::CraneliftOptNone, Rung::Winch] {
        if let (Some(v), Some(b)) = (
            by_name(fast.as_str()).and_then(|v| p50(v, Phase::Compile)),
            p50(base, Phase::Compile),
        ) && base.name != fast.as_str()
        {
            out.push(format!(
                "{fast}: compiles {:.1}x faster than {} ({} vs {} p50)",
                b / v,
                base.name,
                fmt_ns(v),
                fmt_ns(b)
            ));
        }
    }
    if let (Some(a), Some(m)) = (by_name(Rung::Aot.as_str()), by_name(Rung::AotMmap.as_str()))
        && let (Some(a_total), Some(m_total)) = (p50(a, Phase::ColdStart), p50(m, Phase::ColdStart))
    {
        out.push(format!(
            "aot-mmap: mapping the .cwasm takes the cold start to {} p50, against {} reading and deserialising it from bytes",
            fmt_ns(m_total),
            fmt_ns(a_total)
        ));
    }
    if let (Some(w), Some(m)) = (
        by_name(Rung::Wizer.as_str()),
        by_name(Rung::AotMmap.as_str()),
    ) && let (Some(wt), Some(mt)) = (p50(w, Phase::ColdStart), p50(m, Phase::ColdStart))
    {
        let first_call = |v: &Variant| -> f64 {
            super::CALL_PHASES
                .iter()
                .filter_map(|&ph| v.phase(ph))
                .map(|s| s.stats.mean_ns)
                .sum()
        };
        out.push(format!(
            "wizer: {} p50 cold start against {} for aot-mmap, the same path without the snapshot; first call {} against {} (means): {}",
            fmt_ns(wt),
            fmt_ns(mt),
            fmt_ns(first_call(w)),
            fmt_ns(first_call(m)),
            if wt < mt * (1.0 - NOISE) {
                format!("the snapshot saves {} of start-up work", fmt_ns(mt - wt))
            } else {
                format!(
                    "no saving beyond {:.0} % noise: this plugin's start-up work is small",
                    NOISE * 100.0
                )
            }
        ));
    }
    if let Some(p) = by_name(Rung::Pooling.as_str())
        && let Some(i) = p50(p, Phase::Instantiate)
    {
        let other = by_name(Rung::AotMmap.as_str()).and_then(|v| p50(v, Phase::Instantiate));
        out.push(match other {
            Some(o) => format!(
                "pooling: instantiate {} p50 from the pool against {} with the default allocator (aot-mmap)",
                fmt_ns(i),
                fmt_ns(o)
            ),
            None => format!("pooling: instantiate {} p50 from the pool", fmt_ns(i)),
        });
    }
    out
}

/// `wprof compile`: precompiles `plugin` with `like`'s engine settings into
/// `output` (written whole or not at all); returns its size in bytes.
pub fn compile(plugin: &PluginSpec, like: Rung, output: &Path) -> Result<u64, Error> {
    if !matches!(like, Rung::Cranelift | Rung::CraneliftOptNone | Rung::Winch) {
        return Err(Error::Config(format!(
            "--like {like}: only the compiling rungs (cranelift, cranelift-opt-none, winch) have settings to compile with"
        )));
    }
    let plugin = plugin.resolve()?;
    let fail = |phase: Phase| {
        let name = plugin.name.clone();
        move |e: wasmtime::Error| Error::plugin(&name, phase, one_line(&e.into()))
    };
    let engine = Engine::new(&like.config()).map_err(fail(Phase::Engine))?;
    let cwasm = engine
        .precompile_module(&plugin.bytes)
        .map_err(fail(Phase::Compile))?;
    crate::export::write_atomic(output, |w| Ok(w.write_all(&cwasm)?))?;
    Ok(cwasm.len() as u64)
}
