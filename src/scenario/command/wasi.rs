//! The WASI side of `record command`: a core command linked with WASI
//! preview 1 and the Sightglass bench protocol, a component command with
//! WASI preview 2, one run in a fresh instance, and the memory that
//! instances kept alive cost.

use std::time::Instant;

use wasmtime::component::{Component, ResourceTable};
use wasmtime::{Caller, Engine, Linker, Store};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::bindings::sync::CommandPre;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::CommandConfig;
use crate::driver::Limits;
use crate::error::{CallError, Error, at, one_line};
use crate::measure;
use crate::measure::guest::GuestHandle;
use crate::phase::Phase;
use crate::run::{MemoryPoint, MemoryProfile, PerInstance};
use crate::timing::Clock;
use crate::timing::target::Marks;

/// What the bench host functions saw in one run.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Bench {
    pub(super) starts: u32,
    pub(super) ends: u32,
    pub(super) start: u64,
    pub(super) end: u64,
    start_instant: Option<Instant>,
    /// The span by `Instant`, in nanoseconds.
    pub(super) instant_ns: u64,
}

/// A run's store data: a core command's WASI preview 1 context, or a
/// component command's WASI preview 2 context and resource table.
pub(super) struct State {
    p1: Option<WasiP1Ctx>,
    p2: Option<(WasiCtx, ResourceTable)>,
    limits: Limits,
    bench: Bench,
}

impl State {
    /// The preview 1 context (a run always sets the one its module needs;
    /// an empty one stands in otherwise, never a panic).
    fn p1(&mut self) -> &mut WasiP1Ctx {
        self.p1
            .get_or_insert_with(|| WasiCtxBuilder::new().build_p1())
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let (ctx, table) = self
            .p2
            .get_or_insert_with(|| (WasiCtxBuilder::new().build(), ResourceTable::new()));
        WasiCtxView { ctx, table }
    }
}

/// A command linked and ready to instantiate: a core module's `_start`,
/// or a component's `wasi:cli/run`.
pub(super) enum Pre {
    Core(wasmtime::InstancePre<State>),
    Component(CommandPre<State>),
}

/// A component command linked with WASI preview 2: fails naming what it
/// imports that WASI does not supply, or that it exports no `wasi:cli/run`.
pub(super) fn component_pre(
    engine: &Engine,
    component: &Component,
) -> wasmtime::Result<CommandPre<State>> {
    let mut linker = wasmtime::component::Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    CommandPre::new(linker.instantiate_pre(component)?)
}

/// What an instrumented twin adds to each run's store: a fuel tank, and
/// the guest sampler. The timing pass's runs add nothing.
#[derive(Clone, Default)]
pub(super) struct Instr {
    /// Fill the store's fuel tank and read it at each phase boundary.
    pub(super) fuel: bool,
    /// Attach each store to this guest sampler.
    pub(super) sampler: Option<GuestHandle>,
}

/// One run's readings and what it printed.
pub(super) struct RunResult {
    pub(super) bench: Bench,
    /// With [`Instr::fuel`]: the fuel instantiation (the start function
    /// included) and the run used.
    pub(super) fuel: Option<[u64; 2]>,
    pub(super) stdout: Vec<u8>,
    pub(super) stderr: Vec<u8>,
    /// The instance's store and its exported memory, kept alive as long as
    /// the result is (for the memory readings).
    pub(super) kept: (Store<State>, Option<wasmtime::Memory>),
}

/// A linker with WASI preview 1 and the bench protocol's two functions.
pub(super) fn linker<C: Clock>(engine: &Engine, clock: C) -> wasmtime::Result<Linker<State>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, State::p1)?;
    // The two clocks are read nested, wprof's inside: its span holds no
    // Instant read (the Instant span holds two of wprof's clock reads).
    linker.func_wrap("bench", "start", move |mut caller: Caller<'_, State>| {
        let instant = Instant::now();
        let now = clock.now();
        let b = &mut caller.data_mut().bench;
        b.starts += 1;
        if b.starts > 1 {
            wasmtime::bail!(
                "the Sightglass protocol allows one bench.start a run; this is the second"
            );
        }
        b.start = now;
        b.start_instant = Some(instant);
        Ok(())
    })?;
    linker.func_wrap("bench", "end", move |mut caller: Caller<'_, State>| {
        let now = clock.now();
        let instant = Instant::now();
        let b = &mut caller.data_mut().bench;
        b.ends += 1;
        let Some(started) = b.start_instant else {
            wasmtime::bail!("bench.end called before bench.start");
        };
        if b.ends > 1 {
            wasmtime::bail!(
                "the Sightglass protocol allows one bench.end a run; this is the second"
            );
        }
        b.end = now;
        b.instant_ns = (instant - started).as_nanos() as u64;
        Ok(())
    })?;
    Ok(linker)
}

/// What `n` instances kept alive after their runs (each made by `one`)
/// cost in memory: readings before and after, and the figures per instance.
pub(super) fn instance_memory(
    n: u64,
    mut one: impl FnMut() -> Result<(Store<State>, Option<wasmtime::Memory>), Error>,
) -> Result<MemoryProfile, Error> {
    let read = |label: &str, instances: u64| {
        measure::memory::read(label)
            .map(|p| MemoryPoint { instances, ..p })
            .map_err(|e| Error::Config(format!("cannot read this process's memory: {e}")))
    };
    let before = read("before", 0)?;
    let mut kept = Vec::with_capacity(n as usize);
    for _ in 0..n {
        kept.push(one()?);
    }
    let after = read("instances", n)?;
    let (mut linear, mut size) = (0u64, 0u64);
    for (store, memory) in &kept {
        if let Some(m) = memory {
            let len = m.data_size(store);
            size += len as u64;
            linear += measure::memory::resident_bytes(m.data_ptr(store), len).unwrap_or(0);
        }
    }
    let k = n as f64;
    let rss = (after.rss_bytes as f64 - before.rss_bytes as f64) / k;
    let heap = after
        .heap_bytes
        .zip(before.heap_bytes)
        .map(|(a, b)| (a as f64 - b as f64) / k);
    let per_instance = PerInstance {
        instances: n,
        rss_bytes: rss,
        linear_resident_bytes: linear as f64 / k,
        heap_bytes: heap,
        other_bytes: heap.map(|h| rss - linear as f64 / k - h),
        linear_size_bytes: size as f64 / k,
        virtual_bytes: (after.virtual_bytes as f64 - before.virtual_bytes as f64) / k,
    };
    drop(kept);
    Ok(MemoryProfile {
        points: vec![before, after],
        per_instance: Some(per_instance),
        ..MemoryProfile::default()
    })
}

/// One run in a fresh instance, marking `m` before it (0), after the
/// instance is made (1) and after the run (2). `Err` carries the phase and
/// the cause: the exit code, or the trap with its wasm backtrace, then the
/// tail of stderr and, after a failed file open with no `--dir`, a hint.
#[allow(clippy::too_many_arguments)]
pub(super) fn run_once<M: Marks + ?Sized>(
    pre: &Pre,
    cfg: &CommandConfig,
    argv0: &str,
    stdin: &[u8],
    bench_imported: bool,
    instr: &Instr,
    m: &mut M,
) -> Result<RunResult, CallError> {
    let fail = |phase: Phase, why: String| at(phase)(anyhow::anyhow!(why));
    let cap = cfg.limits.output_bytes.unwrap_or(64 << 20);
    let stdout = MemoryOutputPipe::new(cap);
    let stderr = MemoryOutputPipe::new(cap);
    m.mark(0);
    let mut b = cfg
        .wasi
        .builder(argv0)
        .map_err(|e| fail(Phase::Instantiate, e))?;
    b.stdin(MemoryInputPipe::new(stdin.to_vec()))
        .stdout(stdout.clone())
        .stderr(stderr.clone());
    let engine = match pre {
        Pre::Core(p) => p.module().engine(),
        Pre::Component(p) => p.engine(),
    };
    let mut store = Store::new(
        engine,
        State {
            p1: None,
            p2: None,
            limits: cfg.limits.clone(),
            bench: Bench::default(),
        },
    );
    store.limiter(|s| &mut s.limits);
    store.set_epoch_deadline(1);
    if let Some(s) = &instr.sampler {
        s.attach(&mut store);
    }
    if instr.fuel {
        store
            .set_fuel(crate::measure::fuel::TANK)
            .map_err(|e| fail(Phase::Instantiate, one_line(&e.into())))?;
    }
    let fuel = |store: &Store<State>| {
        if instr.fuel {
            store.get_fuel().unwrap_or(0)
        } else {
            0
        }
    };
    let no_dirs = cfg.wasi.dirs.is_empty();
    let tail = |p: &MemoryOutputPipe| stderr_tail(&p.contents(), no_dirs);
    let failed = |e: wasmtime::Error| {
        fail(
            Phase::Instantiate,
            format!("{}{}", one_line(&e.into()), tail(&stderr)),
        )
    };
    let (f1, result, memory) = match pre {
        Pre::Core(pre) => {
            store.data_mut().p1 = Some(b.build_p1());
            crate::watchdog::enter(Phase::Instantiate);
            let instance = pre.instantiate(&mut store);
            crate::watchdog::leave();
            let instance = instance.map_err(failed)?;
            let start = instance
                .get_typed_func::<(), ()>(&mut store, "_start")
                .map_err(|e| fail(Phase::Instantiate, one_line(&e.into())))?;
            m.mark(1);
            let f1 = fuel(&store);
            crate::watchdog::enter(Phase::Execute);
            let result = start.call(&mut store, ());
            crate::watchdog::leave();
            m.mark(2);
            let memory = instance.get_memory(&mut store, "memory");
            (f1, result.map(|()| true), memory)
        }
        Pre::Component(pre) => {
            store.data_mut().p2 = Some((b.build(), ResourceTable::new()));
            crate::watchdog::enter(Phase::Instantiate);
            let command = pre.instantiate(&mut store);
            crate::watchdog::leave();
            let command = command.map_err(failed)?;
            m.mark(1);
            let f1 = fuel(&store);
            crate::watchdog::enter(Phase::Execute);
            // `Err(())`: the command returned a failure status.
            let result = command.wasi_cli_run().call_run(&mut store);
            crate::watchdog::leave();
            m.mark(2);
            (f1, result.map(|r| r.is_ok()), None)
        }
    };
    match result {
        Ok(true) => {}
        Ok(false) => {
            return Err(fail(
                Phase::Execute,
                format!("wasi:cli/run returned a failure status{}", tail(&stderr)),
            ));
        }
        Err(e) => {
            let e: anyhow::Error = e.into();
            match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(wasmtime_wasi::I32Exit(0)) => {}
                Some(wasmtime_wasi::I32Exit(code)) => {
                    return Err(fail(
                        Phase::Execute,
                        format!("exited with code {code}{}", tail(&stderr)),
                    ));
                }
                // The trap itself, its backtrace kept for the error's frames.
                None => {
                    let tail = tail(&stderr);
                    let tail = tail.trim_start_matches("; ").to_owned();
                    return Err(at(Phase::Execute)(e.context(Tail(tail))));
                }
            }
        }
    }
    let bench = store.data().bench;
    if bench_imported && (bench.starts, bench.ends) != (1, 1) {
        return Err(fail(
            Phase::Execute,
            format!(
                "imports the Sightglass bench protocol but called bench.start {} and bench.end {} times in a run (once each expected)",
                bench.starts, bench.ends
            ),
        ));
    }
    let tank = crate::measure::fuel::TANK;
    Ok(RunResult {
        bench,
        fuel: instr.fuel.then(|| [tank - f1, f1 - fuel(&store)]),
        stdout: stdout.contents().to_vec(),
        stderr: stderr.contents().to_vec(),
        kept: (store, memory),
    })
}

/// What a failed run's stderr ended with, for the error line (empty when
/// it printed nothing): whole lines, up to [`TAIL_CHARS`]; a hint to pass
/// `--dir` when it reads like a failed file open and none was given.
pub(crate) fn stderr_tail(bytes: &[u8], no_dirs: bool) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines = crate::text::tail_lines(&text, TAIL_CHARS);
    if lines.is_empty() {
        return String::new();
    }
    let lower = text.to_lowercase();
    let hint = if no_dirs
        && [
            "no such file",
            "not found",
            "cannot open",
            "can't open",
            "capabilities insufficient",
            "bad file descriptor",
            "not permitted",
        ]
        .iter()
        .any(|m| lower.contains(m))
    {
        "; hint: it has no directories: a command sees only those given with --dir HOST[::GUEST]"
    } else {
        ""
    };
    format!("; stderr: {}{hint}", lines.join(" | "))
}

/// How much of stderr a failure quotes, in characters.
const TAIL_CHARS: usize = 300;

/// The stderr tail, as context on a trap (whose wasm backtrace stays
/// below it for the error's frames).
#[derive(Debug)]
pub(crate) struct Tail(pub(crate) String);

impl std::fmt::Display for Tail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
