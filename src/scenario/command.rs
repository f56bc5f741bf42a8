//! `wprof record command`: a WASI command (wasm32-wasip1, `_start`) run
//! again and again, each run in a fresh instance as a command is, with the
//! arguments, environment, stdin and preopened directories given on the
//! command line; its stdout and stderr captured and, when asked, checked
//! against a file. Each run is timed as instantiate (WASI context, linking,
//! start function) and run (`_start` to its return or `proc_exit(0)`). A
//! command that imports `bench.start` and `bench.end` (the Sightglass
//! benchmark protocol) also has the span between them timed, exactly: the
//! host functions read the clock. The same span is also read with
//! `Instant`, so that the report can say how far the two agree.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use wasmtime::{Caller, Engine, Linker, Module, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

use super::timed::{Recorded, Timed, named, settle};
use crate::error::{Error, one_line};
use crate::host::{self, Limits};
use crate::measure::{self, Clock, ClockChoice};
use crate::phase::Phase;
use crate::run::{MemoryPoint, MemoryProfile, PerInstance, Run};

/// The scenario's name, as given to `wprof record`.
pub const NAME: &str = "command";

/// The bundled WASI command (plugins/bench-command).
pub const BENCH_COMMAND: &[u8] = include_bytes!("../../plugins/bench-command/bench-command.wasm");

/// Settings of `wprof record command`.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandConfig {
    /// The command module. Default: the bundled bench-command.
    pub plugin: Option<PathBuf>,
    /// Its arguments (after argv[0], the module's file name). Default: none.
    pub args: Vec<String>,
    /// Its environment. Default: empty.
    pub env: Vec<(String, String)>,
    /// A file whose bytes are its stdin. Default: empty stdin.
    pub stdin: Option<PathBuf>,
    /// Host directories preopened for it, each with the path the guest
    /// sees. Default: none (no file access).
    pub dirs: Vec<(PathBuf, String)>,
    /// A file its stdout must equal, checked on the first and the last
    /// run. Default: none.
    pub expect_stdout: Option<PathBuf>,
    /// A file its stderr must equal, likewise. Default: none.
    pub expect_stderr: Option<PathBuf>,
    /// How long the runs go on once there are `min_runs`. Default: 1 s.
    pub time: Duration,
    /// Fewest measured runs. Default: 5.
    pub min_runs: u64,
    /// Most measured runs. Default: 1000.
    pub max_runs: u64,
    /// Runs drawn into the Chrome trace. Default: 5.
    pub trace_runs: u64,
    /// Clock. Default: auto (the TSC where invariant).
    pub clock: ClockChoice,
    /// Instances kept alive after their run for the memory readings: what
    /// each costs in resident memory, of it linear memory. Default: 0 (no
    /// readings).
    pub instances: u64,
    /// Whole cold starts measured after the runs, each from the module's
    /// bytes: validate, compile, link, instantiate and run, as
    /// `record cold-start` measures a plugin's. Default: 0 (none).
    pub cold_runs: u64,
    /// Memory, table and output limits (stdout and stderr are captured up
    /// to the output limit), and the per-call deadline. Default:
    /// [`Limits::default`].
    pub limits: Limits,
}

impl Default for CommandConfig {
    fn default() -> Self {
        CommandConfig {
            plugin: None,
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
            dirs: Vec::new(),
            expect_stdout: None,
            expect_stderr: None,
            time: Duration::from_secs(1),
            min_runs: 5,
            max_runs: 1000,
            trace_runs: 5,
            clock: ClockChoice::Auto,
            cold_runs: 0,
            instances: 0,
            limits: Limits::default(),
        }
    }
}

/// What the bench host functions saw in one run.
#[derive(Debug, Default, Clone, Copy)]
struct Bench {
    starts: u32,
    ends: u32,
    start: u64,
    end: u64,
    start_instant: Option<Instant>,
    /// The span by `Instant`, in nanoseconds.
    instant_ns: u64,
}

/// A run's store data.
struct State {
    wasi: WasiP1Ctx,
    limits: Limits,
    bench: Bench,
}

/// One run's readings and what it printed.
struct RunResult {
    /// Before instantiating, after, and when `_start` returned.
    stamps: [u64; 3],
    bench: Bench,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// The instance's store and its exported memory, kept alive as long as
    /// the result is (for the memory readings).
    kept: (Store<State>, Option<wasmtime::Memory>),
}

/// Runs the command scenario.
pub fn run(cfg: &CommandConfig) -> Result<Run, Error> {
    let kind = cfg.clock.resolve().map_err(Error::Config)?;
    measure::with_clock!(kind, |clock| run_with(clock, cfg))
}

fn run_with<C: Clock + Copy + Send + Sync + 'static>(
    clock: C,
    cfg: &CommandConfig,
) -> Result<Run, Error> {
    let wall = Instant::now();
    let started_at = super::now_rfc3339();
    let (name, source, bytes, read) = match &cfg.plugin {
        None => (
            "bench-command".to_owned(),
            "bundled:bench-command".to_owned(),
            BENCH_COMMAND.to_vec(),
            None,
        ),
        Some(path) => {
            let p = crate::source::PluginSpec::File(path.clone()).resolve()?;
            (p.name, p.source, p.bytes, p.read)
        }
    };
    let stdin = match &cfg.stdin {
        Some(path) => std::fs::read(path).map_err(|e| {
            Error::Config(format!(
                "cannot read the stdin file {}: {e}",
                path.display()
            ))
        })?,
        None => Vec::new(),
    };
    let read_expected = |file: &Option<PathBuf>| -> Result<Option<(PathBuf, Vec<u8>)>, Error> {
        file.as_ref()
            .map(|path| {
                std::fs::read(path)
                    .map(|b| (path.clone(), b))
                    .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))
            })
            .transpose()
    };
    let expected = [
        ("stdout", read_expected(&cfg.expect_stdout)?),
        ("stderr", read_expected(&cfg.expect_stderr)?),
    ];
    for (host_dir, _) in &cfg.dirs {
        if !host_dir.is_dir() {
            return Err(Error::Config(format!(
                "--dir {}: not a directory",
                host_dir.display()
            )));
        }
    }
    let engine = Engine::default();
    let loaded = host::load(&name, &engine, &bytes, read.into_iter().collect())?;
    let module = &loaded.module;
    if module.get_export("_start").is_none() {
        return Err(Error::plugin(
            &name,
            Phase::Instantiate,
            "exports no `_start`: not a WASI command (wprof inspect says what it is)",
        ));
    }
    let bench_imported = module
        .imports()
        .any(|i| i.module() == "bench" && matches!(i.name(), "start" | "end"));
    let linker = linker::<C>(&engine, clock)
        .map_err(|e| Error::plugin(&name, Phase::Link, one_line(&anyhow::Error::from(e))))?;
    let pre = linker
        .instantiate_pre(module)
        .map_err(|e| Error::plugin(&name, Phase::Link, one_line(&anyhow::Error::from(e))))?;
    let argv0 = name.clone();
    let once = |clock: &C| -> Result<RunResult, Error> {
        run_once(clock, &pre, cfg, &argv0, &stdin, bench_imported)
            .map_err(|(phase, cause)| Error::plugin(&name, phase, cause))
    };
    let check = |r: &RunResult| -> Result<(), Error> {
        for (stream, want) in &expected {
            let Some((path, want)) = want else { continue };
            let got = if *stream == "stdout" {
                &r.stdout
            } else {
                &r.stderr
            };
            if got != want {
                let at = got
                    .iter()
                    .zip(want.iter())
                    .position(|(a, b)| a != b)
                    .unwrap_or(got.len().min(want.len()));
                return Err(Error::plugin(
                    &name,
                    Phase::Execute,
                    format!(
                        "{stream} differs from {} at byte {at} ({} bytes printed, {} expected)",
                        path.display(),
                        got.len(),
                        want.len()
                    ),
                ));
            }
        }
        Ok(())
    };

    let _watch = crate::watchdog::watch(&name, cfg.limits.deadline);
    // The warm-up run: its output checked, its errors reported.
    let first = once(&clock)?;
    check(&first)?;
    let max = cfg.max_runs.max(cfg.min_runs).max(1) as usize;
    let mut instantiate = Vec::with_capacity(max * 2);
    let mut runs = Vec::with_capacity(max * 2);
    let mut spans = Vec::with_capacity(max * 2);
    let mut instant_spans = Vec::with_capacity(max);
    let deadline = Instant::now() + cfg.time;
    let mut last = None;
    let mut interrupted = false;
    for n in 0..max {
        let r = once(&clock)?;
        instantiate.extend_from_slice(&[r.stamps[0], r.stamps[1]]);
        runs.extend_from_slice(&[r.stamps[1], r.stamps[2]]);
        if bench_imported {
            spans.extend_from_slice(&[r.bench.start, r.bench.end]);
            instant_spans.push(r.bench.instant_ns as f64);
        }
        last = Some(r);
        // Between runs, each a whole instance: a clock read is nothing.
        if crate::interrupt::requested() {
            interrupted = true;
            break;
        }
        if n as u64 + 1 >= cfg.min_runs && Instant::now() >= deadline {
            break;
        }
    }
    if let Some(r) = &last {
        check(r)?;
    }
    // Cold starts after the warm runs, so they take nothing from the
    // runs' time budget; compiling takes milliseconds, a clock read nothing.
    let mut cold = Vec::with_capacity(cfg.cold_runs as usize * COLD_PHASES.len() + 1);
    let link_err = |e: wasmtime::Error| (Phase::Link, one_line(&anyhow::Error::from(e)));
    for _ in 0..cfg.cold_runs {
        if interrupted || crate::interrupt::requested() {
            interrupted = true;
            break;
        }
        let t0 = clock.now();
        Module::validate(&engine, &bytes).map_err(|e| {
            Error::plugin(&name, Phase::Validate, one_line(&anyhow::Error::from(e)))
        })?;
        let t1 = clock.now();
        let m = Module::from_binary(&engine, &bytes)
            .map_err(|e| Error::plugin(&name, Phase::Compile, one_line(&anyhow::Error::from(e))))?;
        let t2 = clock.now();
        let pre = linker
            .instantiate_pre(&m)
            .map_err(link_err)
            .map_err(|(phase, cause)| Error::plugin(&name, phase, cause))?;
        let t3 = clock.now();
        let r = run_once(&clock, &pre, cfg, &argv0, &stdin, bench_imported)
            .map_err(|(phase, cause)| Error::plugin(&name, phase, cause))?;
        check(&r)?;
        cold.extend_from_slice(&[t0, t1, t2, t3, r.stamps[1], r.stamps[2]]);
    }

    let timed = |stamps: Vec<u64>| Timed {
        calls: stamps.len() / 2,
        stamps,
    };
    let mut recorded = vec![
        Recorded::new(
            named(
                "instantiate",
                "a fresh WASI context (arguments, environment, stdin, preopened directories) and instance, from the linked module (InstancePre), start function included",
            ),
            timed(instantiate),
            &[Phase::Instantiate],
        ),
        Recorded::new(
            named(
                "run",
                "_start, to its return (or proc_exit(0)): the whole command",
            ),
            timed(runs),
            &[Phase::Execute],
        ),
    ];
    if bench_imported {
        recorded.push(Recorded::new(
            named(
                "bench",
                "the span between bench.start and bench.end (the Sightglass benchmark protocol), read by the host functions",
            ),
            timed(spans),
            &[Phase::Execute],
        ));
    }
    if !cold.is_empty() {
        recorded.push(Recorded::new(
            named(
                "cold-start",
                "from the module's bytes each time: validate, compile (Cranelift), link (InstancePre), a fresh WASI context and instance, and _start",
            ),
            Timed {
                calls: cold.len() / (COLD_PHASES.len() + 1),
                stamps: cold,
            },
            &COLD_PHASES,
        ));
    }
    let memory = if cfg.instances > 0 && !interrupted {
        Some(instance_memory(cfg.instances, || {
            let r = once(&clock)?;
            check(&r)?;
            Ok(r.kept)
        })?)
    } else {
        None
    };
    let out_len = last.as_ref().map_or(0, |r| r.stdout.len() as u64);
    let (mut variants, timeline) = settle(recorded, clock.ns_per_tick(), cfg.trace_runs, |_| {
        (stdin.len() as u64, out_len)
    });
    let mut verdicts = Vec::new();
    if let Some(v) = variants.iter_mut().find(|v| v.name == "bench") {
        let mut s = instant_spans.clone();
        if let (Some(stats), Some(whole)) =
            (crate::stats::Stats::from_samples(&mut s), v.phases.last())
        {
            let p50 = whole.stats.p50_ns;
            v.facts.insert("instant_p50_ns".into(), json!(stats.p50_ns));
            let diff = 100.0 * (p50 - stats.p50_ns) / stats.p50_ns.max(1e-9);
            v.facts.insert("instant_diff_pct".into(), json!(diff));
            verdicts.push(format!(
                "bench span: {} median by wprof's clock, {} by Instant read in the same host functions: {:+.2} % apart ({} 5 %)",
                crate::export::fmt_ns(p50),
                crate::export::fmt_ns(stats.p50_ns),
                diff,
                if diff.abs() <= 5.0 { "within" } else { "beyond" }
            ));
        }
    }

    let mut run = super::new_run(NAME, started_at);
    run.wall_s = wall.elapsed().as_secs_f64();
    run.plugin = super::plugin_info(
        &name,
        &source,
        &bytes,
        "_start",
        stdin.len() as u64,
        out_len,
    );
    run.plugin.outputs_identical = expected.iter().any(|e| e.1.is_some()).then_some(true);
    run.settings = super::settings([
        ("args", json!(cfg.args)),
        (
            "env",
            json!(
                cfg.env
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
            ),
        ),
        (
            "stdin",
            json!(cfg.stdin.as_ref().map(|p| p.display().to_string())),
        ),
        (
            "dirs",
            json!(
                cfg.dirs
                    .iter()
                    .map(|(h, g)| format!("{}::{g}", h.display()))
                    .collect::<Vec<_>>()
            ),
        ),
        (
            "time",
            json!(humantime::format_duration(cfg.time).to_string()),
        ),
        ("min_runs", json!(cfg.min_runs)),
        ("max_runs", json!(cfg.max_runs)),
    ]);
    run.setup = loaded.setup.clone();
    super::timed::fill(&mut run, &clock, variants, timeline);
    if let Some(m) = memory
        && let Some(v) = run.variants.iter_mut().find(|v| v.name == "run")
    {
        v.memory = Some(m);
        run.notes.push("memory: read in this process (wprof included) before and after the instances, each kept alive after its run; linear memory resident counted with mincore over each instance's memory".into());
    }
    run.verdicts = verdicts;
    if let Some(r) = &last {
        let text = String::from_utf8_lossy(&r.stdout);
        run.notes.push(format!(
            "stdout of the last run ({} bytes){}: {}",
            r.stdout.len(),
            if expected[0].1.is_some() {
                ", equal to --expect-stdout on the first and the last run"
            } else {
                ""
            },
            text.trim_end()
                .lines()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
    if !bench_imported {
        run.notes.push("bench: not applicable: the command does not import bench.start and bench.end (the Sightglass benchmark protocol), so only its whole run is timed".into());
    }
    run.notes.push("each run is a fresh instance, as a command runs once; stdout and stderr are captured (up to the output limit), never shown".into());
    run.incomplete = interrupted;
    Ok(run)
}

/// A linker with WASI preview 1 and the bench protocol's two functions.
fn linker<C: Clock + Copy + Send + Sync + 'static>(
    engine: &Engine,
    clock: C,
) -> wasmtime::Result<Linker<State>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |s: &mut State| &mut s.wasi)?;
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
fn instance_memory(
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

/// The phases of a cold start of a command.
const COLD_PHASES: [Phase; 5] = [
    Phase::Validate,
    Phase::Compile,
    Phase::Link,
    Phase::Instantiate,
    Phase::Execute,
];

/// One run in a fresh instance. `Err` carries the phase and the cause,
/// with the exit code or trap and the tail of stderr.
fn run_once<C: Clock>(
    clock: &C,
    pre: &wasmtime::InstancePre<State>,
    cfg: &CommandConfig,
    argv0: &str,
    stdin: &[u8],
    bench_imported: bool,
) -> Result<RunResult, (Phase, String)> {
    let cap = cfg.limits.output_bytes.unwrap_or(64 << 20);
    let stdout = MemoryOutputPipe::new(cap);
    let stderr = MemoryOutputPipe::new(cap);
    let t0 = clock.now();
    let mut b = WasiCtxBuilder::new();
    b.arg(argv0)
        .args(&cfg.args)
        .envs(&cfg.env)
        .stdin(MemoryInputPipe::new(stdin.to_vec()))
        .stdout(stdout.clone())
        .stderr(stderr.clone());
    for (host_dir, guest) in &cfg.dirs {
        b.preopened_dir(host_dir, guest, wasmtime_wasi::FsPerms::ReadWrite)
            .map_err(|e| {
                (
                    Phase::Instantiate,
                    format!("--dir {}: {e}", host_dir.display()),
                )
            })?;
    }
    let mut store = Store::new(
        pre.module().engine(),
        State {
            wasi: b.build_p1(),
            limits: cfg.limits.clone(),
            bench: Bench::default(),
        },
    );
    store.limiter(|s| &mut s.limits);
    store.set_epoch_deadline(1);
    let tail = |p: &MemoryOutputPipe| {
        let bytes = p.contents();
        let text = String::from_utf8_lossy(&bytes);
        let text = text.trim_end();
        let start = text.char_indices().rev().nth(199).map_or(0, |(i, _)| i);
        match &text[start..] {
            "" => String::new(),
            t => format!("; stderr: {}", t.replace('\n', " | ")),
        }
    };
    crate::watchdog::enter(Phase::Instantiate);
    let instance = pre.instantiate(&mut store);
    crate::watchdog::leave();
    let instance = instance.map_err(|e| {
        (
            Phase::Instantiate,
            format!("{}{}", one_line(&e.into()), tail(&stderr)),
        )
    })?;
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .map_err(|e| (Phase::Instantiate, one_line(&e.into())))?;
    let t1 = clock.now();
    crate::watchdog::enter(Phase::Execute);
    let result = start.call(&mut store, ());
    crate::watchdog::leave();
    let t2 = clock.now();
    if let Err(e) = result {
        let e: anyhow::Error = e.into();
        match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(wasmtime_wasi::I32Exit(0)) => {}
            Some(wasmtime_wasi::I32Exit(code)) => {
                return Err((
                    Phase::Execute,
                    format!("exited with code {code}{}", tail(&stderr)),
                ));
            }
            None => {
                return Err((Phase::Execute, format!("{}{}", one_line(&e), tail(&stderr))));
            }
        }
    }
    let bench = store.data().bench;
    if bench_imported && (bench.starts, bench.ends) != (1, 1) {
        return Err((
            Phase::Execute,
            format!(
                "imports the Sightglass bench protocol but called bench.start {} and bench.end {} times in a run (once each expected)",
                bench.starts, bench.ends
            ),
        ));
    }
    let memory = instance.get_memory(&mut store, "memory");
    Ok(RunResult {
        stamps: [t0, t1, t2],
        bench,
        stdout: stdout.contents().to_vec(),
        stderr: stderr.contents().to_vec(),
        kept: (store, memory),
    })
}
