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

mod load;
mod passes;
mod wasi;

pub use self::load::{Ready, ready};

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use wasmtime::component::Component;
use wasmtime::{Engine, Linker, Module};

use self::wasi::{Instr, Pre, RunResult, State, component_pre, instance_memory, run_once};
use super::Budget;
use super::runner::{Outcome, Runner, Runs, way};
use crate::driver::Limits;
use crate::driver::wasi::WasiOptions;
use crate::error::{CallError, Error, at};
use crate::files::Kind;
use crate::inside::InsideConfig;
use crate::phase::Phase;
use crate::run::Run;
use crate::timing::Clock;
use crate::timing::settle::{Recorded, columns, named};
use crate::timing::target::{Marks, NoMarks, Shifted, Target};

/// The scenario's name, as given to `wprof record`.
pub const NAME: &str = "command";

/// The bundled WASI command (plugins/bench-command).
pub const BENCH_COMMAND: &[u8] =
    include_bytes!("../../../plugins/bench-command/bench-command.wasm");

/// Settings of `wprof record command`.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandConfig {
    /// The command module. Default: the bundled bench-command.
    pub plugin: Option<PathBuf>,
    /// Its arguments, environment, stdin and preopened directories.
    /// Default: none of them (empty stdin, no file access).
    pub wasi: WasiOptions,
    /// A file its stdout must equal, checked on the first and the last
    /// run. Default: none.
    pub expect_stdout: Option<PathBuf>,
    /// A file its stderr must equal, likewise. Default: none.
    pub expect_stderr: Option<PathBuf>,
    /// How long the runs go on, and on what clock. Default: 1 s once there
    /// are 5 runs, at most 1000, 5 traced.
    pub runs: Runs,
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
    /// The passes that look inside the runs, after the timings: counters,
    /// fuel, the guest and host samplers. Default:
    /// [`InsideConfig::default`] (the counter pass only).
    pub inside: InsideConfig,
}

impl Default for CommandConfig {
    fn default() -> Self {
        CommandConfig {
            plugin: None,
            wasi: WasiOptions::default(),
            expect_stdout: None,
            expect_stderr: None,
            runs: Runs::new(1000, 5, 1000, 5),
            cold_runs: 0,
            instances: 0,
            limits: Limits::default(),
            inside: InsideConfig::default(),
        }
    }
}

/// What a run printed, on the streams there is a file to compare with.
#[derive(Debug, Clone, Default)]
struct Streams([Option<Stream>; 2]);

/// A stream's bytes, and the file they are compared with.
#[derive(Debug, Clone)]
struct Stream {
    name: &'static str,
    file: String,
    bytes: Vec<u8>,
}

impl Streams {
    /// The files the run must print, read.
    fn expected(cfg: &CommandConfig) -> Result<Streams, Error> {
        let read = |name: &'static str, file: &Option<PathBuf>| -> Result<Option<Stream>, Error> {
            file.as_ref()
                .map(|path| {
                    crate::files::read(path, Kind::Input)
                        .map(|bytes| Stream {
                            name,
                            file: path.display().to_string(),
                            bytes,
                        })
                        .map_err(|e| Error::Config(format!("--expect-{name}: {e}")))
                })
                .transpose()
        };
        Ok(Streams([
            read("stdout", &cfg.expect_stdout)?,
            read("stderr", &cfg.expect_stderr)?,
        ]))
    }

    /// `r`'s streams, where `like` has a file for them.
    fn of(r: &RunResult, like: &Streams) -> Streams {
        let [o, e] = &like.0;
        let take = |s: &Option<Stream>, bytes: &[u8]| {
            s.as_ref().map(|s| Stream {
                bytes: bytes.to_vec(),
                ..s.clone()
            })
        };
        Streams([take(o, &r.stdout), take(e, &r.stderr)])
    }

    fn checked(&self) -> bool {
        self.0.iter().any(Option::is_some)
    }
}

impl Outcome for Streams {
    fn differs(&self, reference: &Streams) -> Option<String> {
        self.0.iter().zip(&reference.0).find_map(|(got, want)| {
            let (got, want) = (got.as_ref()?, want.as_ref()?);
            (got.bytes != want.bytes).then(|| {
                let at = got
                    .bytes
                    .iter()
                    .zip(&want.bytes)
                    .position(|(a, b)| a != b)
                    .unwrap_or(got.bytes.len().min(want.bytes.len()));
                format!(
                    "{} differs from {} at byte {at} ({} bytes printed, {} expected)",
                    got.name,
                    want.file,
                    got.bytes.len(),
                    want.bytes.len()
                )
            })
        })
    }
}

/// The phases of a run: a fresh instance, then `_start`.
const RUN_PHASES: [Phase; 2] = [Phase::Instantiate, Phase::Execute];

/// The phases of a cold start of a command.
const COLD_PHASES: [Phase; 5] = [
    Phase::Validate,
    Phase::Compile,
    Phase::Link,
    Phase::Instantiate,
    Phase::Execute,
];

/// The phases of a cold start of a component command: Wasmtime validates
/// a component as it compiles it, so compile includes validation.
const COMPONENT_COLD_PHASES: [Phase; 4] = [
    Phase::Compile,
    Phase::Link,
    Phase::Instantiate,
    Phase::Execute,
];

/// What every run of the command is given.
struct Given<'a, C> {
    clock: C,
    cfg: &'a CommandConfig,
    argv0: &'a str,
    stdin: &'a [u8],
    bench_imported: bool,
    /// The streams there are files to compare with.
    expected: &'a Streams,
}

impl<C: Clock> Given<'_, C> {
    /// What the last run printed, on the streams there are files for.
    fn streams(&self, last: &Option<RunResult>) -> Streams {
        last.as_ref()
            .map_or_else(Streams::default, |r| Streams::of(r, self.expected))
    }

    /// One run in a fresh instance of `pre`, marked on `m` (see
    /// [`run_once`]).
    fn run<M: Marks + ?Sized>(
        &self,
        pre: &Pre,
        instr: &Instr,
        m: &mut M,
    ) -> Result<RunResult, CallError> {
        run_once(
            pre,
            self.cfg,
            self.argv0,
            self.stdin,
            self.bench_imported,
            instr,
            m,
        )
    }
}

/// Runs of the command, each in a fresh instance of the linked module
/// (`P`: the timing pass's, borrowed, or a twin's own).
struct CommandRuns<'a, C, P = &'a Pre> {
    given: &'a Given<'a, C>,
    pre: P,
    /// What each run's store gets besides: nothing in the timing pass.
    instr: Instr,
    last: Option<RunResult>,
    /// Each run's bench span, by wprof's clock and by `Instant`.
    bench: Vec<(u64, u64, f64)>,
}

impl<'a, C, P> CommandRuns<'a, C, P> {
    fn new(given: &'a Given<'a, C>, pre: P, instr: Instr) -> Self {
        CommandRuns {
            given,
            pre,
            instr,
            last: None,
            bench: Vec::new(),
        }
    }
}

impl<C: Clock, P: std::borrow::Borrow<Pre>> Target for CommandRuns<'_, C, P> {
    fn phases(&self) -> &'static [Phase] {
        &RUN_PHASES
    }

    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError> {
        let r = self.given.run(self.pre.borrow(), &self.instr, m)?;
        // The spans of the stamped runs only, as the run's own figures are.
        if self.given.bench_imported && m.keeps_stamps() && self.bench.len() < self.bench.capacity()
        {
            self.bench
                .push((r.bench.start, r.bench.end, r.bench.instant_ns as f64));
        }
        self.last = Some(r);
        Ok(())
    }
}

way!(impl[C: Clock] CommandRuns<'_, C> => Streams, Execute, |w| w.given.streams(&w.last));

/// Whole cold starts of the command, each from the module's bytes.
struct ColdRuns<'a, C> {
    given: &'a Given<'a, C>,
    engine: &'a Engine,
    linker: &'a Linker<State>,
    bytes: &'a [u8],
    /// A component command (`wasi:cli/run`), not a core module.
    component: bool,
    last: Option<RunResult>,
}

impl<C: Clock> Target for ColdRuns<'_, C> {
    fn phases(&self) -> &'static [Phase] {
        if self.component {
            &COMPONENT_COLD_PHASES
        } else {
            &COLD_PHASES
        }
    }

    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError> {
        let err = |phase: Phase| move |e: wasmtime::Error| at(phase)(anyhow::Error::from(e));
        m.mark(0);
        let pre = if self.component {
            let c = Component::from_binary(self.engine, self.bytes).map_err(err(Phase::Compile))?;
            m.mark(1);
            Pre::Component(component_pre(self.engine, &c).map_err(err(Phase::Link))?)
        } else {
            Module::validate(self.engine, self.bytes).map_err(err(Phase::Validate))?;
            m.mark(1);
            let module =
                Module::from_binary(self.engine, self.bytes).map_err(err(Phase::Compile))?;
            m.mark(2);
            Pre::Core(
                self.linker
                    .instantiate_pre(&module)
                    .map_err(err(Phase::Link))?,
            )
        };
        // The run marks the last two phases: instantiate and run.
        let by = self.phases().len() - 2;
        let r = self
            .given
            .run(&pre, &Instr::default(), &mut Shifted { inner: m, by })?;
        self.last = Some(r);
        Ok(())
    }
}

way!(impl[C: Clock] ColdRuns<'_, C> => Streams, Execute, |w| w.given.streams(&w.last));

super::runner::boundary!(CommandConfig, run_with);

fn run_with<C: Clock>(clock: C, cfg: &CommandConfig) -> Result<Run, Error> {
    let load::Loaded {
        name,
        source,
        bytes,
        stdin,
        expected,
        setup,
        engine,
        linker,
        pre,
        bench_imported,
        component,
    } = load::load(clock, cfg)?;
    let given = Given {
        clock,
        cfg,
        argv0: &name,
        stdin: &stdin,
        bench_imported,
        expected: &expected,
    };

    let _watch = crate::watchdog::watch(&name, cfg.limits.deadline);
    let since = std::time::Instant::now();
    // The runner's first run, checked, is the warm-up.
    let budget = Budget {
        warm_calls: 0,
        warm_time: Duration::ZERO,
        ..cfg.runs.budget()
    };
    let mut runner = Runner::new(&clock, budget);
    runner.expect(expected.clone());
    let mut spans = Vec::new();
    let mut out_len = 0;
    let (mut last_stdout, mut last_stderr) = (Vec::new(), Vec::new());
    runner.only(
        &name,
        named(
            "run",
            if component {
                "wasi:cli/run's run, to its return (or exit(0)): the whole command"
            } else {
                "_start, to its return (or proc_exit(0)): the whole command"
            },
        ),
        || {
            Ok(CommandRuns {
                bench: Vec::with_capacity(cfg.runs.max.max(cfg.runs.min) as usize),
                ..CommandRuns::new(&given, &pre, Instr::default())
            })
        },
        |w, _| {
            spans = w.bench.clone();
            if let Some(r) = &w.last {
                out_len = r.stdout.len() as u64;
                last_stdout = r.stdout.clone();
                last_stderr = r.stderr.clone();
            }
        },
    )?;
    // One recorded variant of the runs: split into the instance and the
    // run, and the bench span where the command has one.
    let runs = runner.recorded().pop().expect("the runs were recorded");
    let split = |v, cols: &[usize], phase| Recorded {
        variant: v,
        stamps: columns(&runs.stamps, RUN_PHASES.len() + 1, cols),
        phases: vec![phase],
    };
    runner.recorded().push(split(
        named(
            "instantiate",
            if component {
                "a fresh WASI 0.2 context (arguments, environment, stdin, preopened directories) and instance of the linked component (InstancePre)"
            } else {
                "a fresh WASI context (arguments, environment, stdin, preopened directories) and instance, from the linked module (InstancePre), start function included"
            },
        ),
        &[0, 1],
        Phase::Instantiate,
    ));
    runner
        .recorded()
        .push(split(runs.variant.clone(), &[1, 2], Phase::Execute));
    if bench_imported {
        runner.recorded().push(Recorded {
            variant: named(
                "bench",
                "the span between bench.start and bench.end (the Sightglass benchmark protocol), read by the host functions",
            ),
            stamps: spans.iter().flat_map(|s| [s.0, s.1]).collect(),
            phases: vec![Phase::Execute],
        });
    }
    let mut interrupted = crate::interrupt::requested();
    // Cold starts after the warm runs, so they take nothing from the
    // runs' time budget.
    if cfg.cold_runs > 0 && !interrupted {
        let mut cold = Runner::new(&clock, Budget::exactly(cfg.cold_runs));
        cold.expect(expected.clone());
        cold.only(
            &name,
            named(
                "cold-start",
                if component {
                    "from the component's bytes each time: compile (Cranelift, validation included), link (WASI 0.2, InstancePre), a fresh WASI context and instance, and wasi:cli/run"
                } else {
                    "from the module's bytes each time: validate, compile (Cranelift), link (InstancePre), a fresh WASI context and instance, and _start"
                },
            ),
            || {
                Ok(ColdRuns {
                    given: &given,
                    engine: &engine,
                    linker: &linker,
                    bytes: &bytes,
                    component,
                    last: None,
                })
            },
            |_, _| {},
        )?;
        runner.recorded().extend(cold.into_recorded());
    }
    interrupted |= crate::interrupt::requested();
    let memory = if cfg.instances > 0 && !interrupted {
        Some(instance_memory(cfg.instances, || {
            let r = given
                .run(&pre, &Instr::default(), &mut NoMarks)
                .map_err(|e| e.into_error(&name))?;
            if let Some(why) = Streams::of(&r, &expected).differs(&expected) {
                return Err(Error::plugin(&name, Phase::Execute, why));
            }
            Ok(r.kept)
        })?)
    } else {
        None
    };

    let mut run = super::new_run(NAME);
    run.plugin = super::plugin_info(
        &name,
        &source,
        &bytes,
        if component { "wasi:cli/run" } else { "_start" },
        stdin.len() as u64,
        out_len,
    );
    run.plugin.output_checked = expected
        .checked()
        .then(|| runner.outputs_identical().unwrap_or(true));
    run.settings = super::settings(cfg.wasi.settings());
    cfg.runs.record(&mut run.settings);
    run.setup = setup;
    let in_len = stdin.len() as u64;
    runner.finish(&mut run, cfg.runs.trace, |_| (in_len, out_len));
    if !interrupted {
        let twins = passes::CommandTwins {
            given: &given,
            bytes: &bytes,
            component,
        };
        passes::look_inside(cfg, &twins, &pre, since, &mut run)?;
    }
    if let Some(v) = run.variants.iter_mut().find(|v| v.name == "bench") {
        let mut s: Vec<f64> = spans.iter().map(|s| s.2).collect();
        if let (Some(stats), Some(whole)) =
            (crate::stats::Stats::from_samples(&mut s), v.phases.last())
        {
            let p50 = whole.stats.p50_ns;
            v.facts.insert("instant_p50_ns".into(), json!(stats.p50_ns));
            let diff = 100.0 * (p50 - stats.p50_ns) / stats.p50_ns.max(1e-9);
            v.facts.insert("instant_diff_pct".into(), json!(diff));
            run.verdicts.push(format!(
                "bench span: {} median by wprof's clock, {} by Instant read in the same host functions: {:+.2} % apart ({} 5 %)",
                crate::units::fmt_ns(p50),
                crate::units::fmt_ns(stats.p50_ns),
                diff,
                if diff.abs() <= 5.0 { "within" } else { "beyond" }
            ));
        }
    }
    if let Some(m) = memory
        && let Some(v) = run.variants.iter_mut().find(|v| v.name == "run")
    {
        v.memory = Some(m);
        run.notes.push("memory: read in this process (wprof included) before and after the instances, each kept alive after its run; linear memory resident counted with mincore over each instance's memory".into());
    }
    for (name, bytes, checked) in [
        ("stdout", &last_stdout, expected.0[0].is_some()),
        ("stderr", &last_stderr, expected.0[1].is_some()),
    ] {
        let text = String::from_utf8_lossy(bytes);
        let mut lines = text.trim_end().lines();
        let shown: Vec<&str> = lines.by_ref().take(5).collect();
        run.notes.push(format!(
            "{name} of the last run ({} bytes){}: {}{}",
            bytes.len(),
            if checked {
                format!(", equal to --expect-{name} on the first and the last run")
            } else {
                String::new()
            },
            shown.join(" | "),
            if lines.next().is_some() { " | ..." } else { "" }
        ));
    }
    if !bench_imported {
        run.notes.push("bench: not applicable: the command does not import bench.start and bench.end (the Sightglass benchmark protocol), so only its whole run is timed".into());
    }
    run.notes.push("each run is a fresh instance, as a command runs once; stdout and stderr are captured (up to the output limit), never shown".into());
    // A signal during the passes leaves them short: incomplete too.
    run.incomplete = interrupted || crate::interrupt::requested();
    Ok(run)
}
