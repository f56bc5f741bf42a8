//! Cold start (the reference study's Scenario 1) and the ladder of
//! remedies for it.
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

mod artifact;
mod extism_sdk;
mod ladder;
mod passes;
mod rung;
mod verdicts;
pub(crate) mod wizer;

use std::fs;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

pub use self::artifact::{compile, load_precompiled};
use self::ladder::{Ctx, RungTarget};
use self::passes::RungTwins;
pub use self::rung::Rung;
use self::verdicts::{rank, verdicts};
pub use self::wizer::pre_initialise;
use super::Budget;
use super::runner::Runner;
use crate::driver::Limits;
use crate::driver::wasmtime::Abi;
use crate::driver::wprof::INIT_EXPORT;
use crate::error::{Error, one_line};
use crate::inside::counters::{Counting, Stop, Whole};
use crate::inside::{InsideConfig, Plan, Subject, Twins};
use crate::phase::Phase;
use crate::run::{Failure, Run};
use crate::source::{InputSpec, PluginSpec};
use crate::timing::Monotonic;

/// Scenario name, as in `wprof record cold-start`.
pub const NAME: &str = "cold-start";

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
    /// deadline. Default: [`Limits::default`].
    pub limits: Limits,
    /// For an Extism plugin, also time Extism's own runtime (the Rust SDK
    /// driver, where it is built): `Plugin::new`, and from a compiled
    /// plugin. Default: true.
    pub extism_sdk: bool,
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
            limits: Limits::default(),
            extism_sdk: true,
        }
    }
}

/// Runs the cold-start scenario.
pub fn run(cfg: &ColdStartConfig) -> Result<Run, Error> {
    super::run_plugin(cfg)
}

impl super::OnePlugin for ColdStartConfig {
    super::asked_from_fields!();

    fn check(&self) -> Result<(), Error> {
        if self.rungs.is_empty() {
            return Err(Error::Config("no rungs to measure".into()));
        }
        Ok(())
    }

    fn run_prepared<A: Abi>(&self, p: super::Prepared<A>) -> Result<Run, Error> {
        run_with::<A>(self, p)
    }
}

fn run_with<A: Abi>(cfg: &ColdStartConfig, p: super::Prepared<A>) -> Result<Run, Error> {
    let wall = Instant::now();
    // The reference run: the same errors as every scenario for bad input,
    // before any rung starts, and the output every rung must reproduce.
    let super::Prepared {
        plugin,
        module,
        export,
        input,
        instance: mut reference,
        ..
    } = p;
    let name = plugin.name.clone();
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
    let expected = super::reference_output(&mut reference, &input, &name)?;
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
        let engine = wasmtime::Engine::new(&rung.config())
            .map_err(|e| Error::plugin(&name, Phase::Engine, one_line(&e.into())))?;
        load_precompiled(&engine, given)
            .map_err(|e| Error::plugin(&name, Phase::Deserialize, one_line(&e)))?;
    }
    let has_init = module.get_export(INIT_EXPORT).is_some();
    drop(module);

    let ctx = Ctx {
        path: &path,
        bytes: &plugin.bytes,
        export: &export,
        input: &input,
        scratch: scratch.path(),
        precompiled: cfg.precompiled.as_deref(),
        limits: &cfg.limits,
    };
    let mut notes = Vec::new();
    let mut failures = Vec::new();
    let clock = Monotonic::new();
    let budget = match cfg.iterations {
        Iterations::Exactly(n) => Budget::exactly(n),
        Iterations::Timed { min, max, time } => Budget {
            warm_time: Duration::ZERO,
            ..Budget::new(min, max, time)
        },
    };
    // The runner's checked first iteration is the first of the warm-up.
    let budget = Budget {
        warm_calls: cfg.warmup.saturating_sub(1),
        ..budget
    };
    let mut runner = Runner::new(&clock, budget).with_whole(Phase::ColdStart);
    runner.expect(expected.clone());
    runner.plan(cfg.rungs.len());
    let mut targets: Vec<(Rung, RungTarget<A>)> = Vec::new();
    let mut snapshot = None;
    let mut anchored = false;
    for &rung in &cfg.rungs {
        if crate::interrupt::requested() {
            notes.push(crate::interrupt::note(&format!("before the {rung} rung")));
            break;
        }
        if rung == Rung::Winch && crate::kind::uses_gc(&plugin.bytes) {
            notes.push(format!(
                "winch: not run: {name} uses WasmGC (GC types or typed function references), which Winch, Wasmtime's baseline compiler, does not compile; the Cranelift rungs ran it"
            ));
            continue;
        }
        if rung.snapshots() && !has_init {
            notes.push(format!(
                "{rung}: not run: {name} exports no `{INIT_EXPORT}`, so it has no start-up work for Wizer to run and snapshot (plugins/README.md)"
            ));
            continue;
        }
        if rung.snapshots()
            && let Err(Error::Plugin { phase, cause, .. }) =
                crate::driver::guard::guarded_init(&name, &plugin.bytes, &cfg.limits)
        {
            failures.push(Failure {
                variant: rung.to_string(),
                phase,
                cause,
            });
            continue;
        }
        let description = match (rung, &cfg.precompiled) {
            (Rung::Aot | Rung::AotMmap, Some(given)) => format!(
                "{}; the .cwasm is {}, as given (not compiled by this run)",
                rung.description(),
                given.display()
            ),
            _ => rung.description().to_owned(),
        };
        let mut made = None;
        runner.way(
            crate::timing::settle::named(rung.as_str(), &description),
            || RungTarget::<A>::new(rung, &ctx, None, None),
            |t, r| {
                t.describe(r);
                made = Some(());
            },
        );
        if made.is_some() && rung.snapshots() && cfg.inside.fuel {
            snapshot = pre_initialise(&plugin.bytes).ok();
        }
        // The first rung that ran, set up again, is timed between the
        // rounds of every rung after it: their ratios to it are paired.
        if made.is_some() && !anchored {
            match RungTarget::<A>::new(rung, &ctx, None, None) {
                Ok(t) => {
                    runner.anchor(rung.to_string(), t, false);
                    anchored = true;
                }
                Err(e) => notes.push(format!(
                    "{rung}: not set up again to pair the other rungs with: {}",
                    one_line(&e.error)
                )),
            }
        }
        // Kept for the passes: the same rung, set up again.
        if made.is_some() {
            match RungTarget::<A>::new(rung, &ctx, None, None) {
                Ok(t) => targets.push((rung, t)),
                Err(e) => notes.push(format!(
                    "{rung}: not set up again for the passes: {}",
                    one_line(&e.error)
                )),
            }
        }
    }

    if A::KIND == crate::kind::Abi::Extism && cfg.extism_sdk && !crate::interrupt::requested() {
        extism_sdk::ways(&mut runner, &ctx, &mut notes);
    }
    let interrupted = crate::interrupt::requested();
    let mut run = super::new_run(NAME);
    run.plugin = super::info_of(&plugin, &export, input.len() as u64, expected.len() as u64);
    let bytes = (input.len() as u64, expected.len() as u64);
    runner.finish(&mut run, cfg.trace_iterations, |_| bytes);
    run.failures.extend(failures);
    run.iterations = run
        .variants
        .iter()
        .filter_map(|v| v.phases.last())
        .map(|p| p.stats.n)
        .max()
        .unwrap_or(0);
    if !interrupted {
        let twins: Vec<RungTwins<A>> = targets
            .iter()
            .map(|(rung, _)| RungTwins {
                rung: *rung,
                ctx: &ctx,
                fuel_bytes: match (rung, &snapshot) {
                    (r, Some(s)) if r.snapshots() => s,
                    _ => &plugin.bytes,
                },
                abi: PhantomData,
            })
            .collect();
        let mut subjects: Vec<Subject> = targets
            .iter_mut()
            .zip(&twins)
            .map(|((rung, t), twins)| Subject {
                name: rung.to_string(),
                call_ns: run
                    .variants
                    .iter()
                    .find(|v| v.name == rung.as_str())
                    .and_then(|v| v.phases.last())
                    .map_or(1e6, |p| p.stats.p50_ns),
                target: t,
                twins: Some(twins as &dyn Twins),
            })
            .collect();
        let plan = plan(cfg, subjects.len());
        let found = crate::inside::run(&cfg.inside, &plan, &mut subjects, wall)
            .map_err(|e| e.into_error(&name))?;
        drop(subjects);
        for ((rung, _), (counts, fuel)) in
            targets.iter().zip(found.counts.into_iter().zip(found.fuel))
        {
            if let Some(v) = run.variants.iter_mut().find(|v| v.name == rung.as_str()) {
                v.counters = counts;
                v.fuel = fuel;
            }
        }
        notes.extend(found.notes);
        run.perf = found.perf;
        run.profiles = found.profiles;
        run.counters = found.counters;
    }
    run.ranking = rank(&run.variants);
    run.verdicts = run
        .ranking
        .as_ref()
        .map(|r| verdicts(r, &run.variants, plugin.bytes.len() as u64, &plugin.name))
        .unwrap_or_default();
    if let Some(first) = run.variants.first()
        && first.name != Rung::Cranelift.as_str()
    {
        notes.push(format!(
            "the baseline is {}, the first rung measured (cranelift was not)",
            first.name
        ));
    }
    if run
        .variants
        .iter()
        .any(|v| v.phase(Phase::Validate).is_some())
    {
        notes.push(
            "JIT rungs: wasmtime validates again while compiling, so their compile phase includes a second validation pass (compare the validate row)".into(),
        );
    }
    if matches!(cfg.plugin, PluginSpec::Bundled(_)) {
        notes.push(
            "read: the bundled module was written to a temporary file first; after the first iteration it is read from the OS page cache".into(),
        );
    }
    let iterations_setting = match cfg.iterations {
        Iterations::Exactly(n) => json!(n),
        Iterations::Timed { min, max, time } => {
            json!({ "min": min, "max": max, "time_s": time.as_secs_f64() })
        }
    };
    let rungs: Vec<&str> = cfg.rungs.iter().map(|r| r.as_str()).collect();
    run.settings = super::settings([
        ("rungs", json!(rungs)),
        ("iterations", iterations_setting),
        ("warmup", json!(cfg.warmup)),
        ("trace_iterations", json!(cfg.trace_iterations)),
    ]);
    if let Some(p) = &cfg.precompiled {
        run.settings
            .insert("precompiled".into(), json!(p.display().to_string()));
    }
    run.notes = notes;
    run.incomplete = interrupted || crate::interrupt::requested();
    Ok(run)
}

/// The passes' plan: each rung's share of the sampling time.
fn plan(cfg: &ColdStartConfig, rungs: usize) -> Plan<'static> {
    let per_rung = cfg.inside.sample_secs / rungs.max(1) as f64;
    Plan {
        scenario: NAME,
        counting: Counting {
            stop: Stop::Time { secs: 0.2, min: 3 },
            whole: Whole::Sum,
            whole_phase: Phase::ColdStart,
            unit: "cold start",
            track_points: 50,
            method: "a separate pass after the timings (at least 3 iterations a rung, about 0.2 s each, after a warm-up iteration) with compilation on the calling thread, which the counters count: counters read at every phase boundary (one group read), less the mean counts of an empty window; the whole iteration is the sum of its phases",
        },
        count_on: Some(crate::inside::Instrument::OneThread),
        fuel_secs: per_rung.clamp(0.2, 0.5),
        sample_secs: per_rung,
    }
}
