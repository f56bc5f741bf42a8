//! `wprof record component`: one export of a WebAssembly component called
//! again and again with arguments given as JSON, converted to WIT values by
//! the function's own types (records as objects, lists and tuples as
//! arrays, options as null or a value, results as `{"ok": v}` or
//! `{"err": v}`, enums as strings, variants as `{"case": v}` or `"case"`,
//! flags as arrays of names). Each call is split by a call hook into lower
//! (the canonical ABI copying the arguments in), execute and lift (the
//! results read out), and free (the export's post-return) where it has one.

mod passes;
mod values;

pub use self::passes::{Ready, ready};

use serde_json::{Value as Json, json};
use wasmtime::component::types::Type;
use wasmtime::component::{Component, Func, Linker, Val};
use wasmtime::{Engine, Store};

use self::values::has_post_return;
pub use self::values::{to_json, to_val};
use super::Budget;
use super::runner::{Outcome, Runner, Runs, differs_debug, way};
use crate::driver::Limits;
use crate::driver::component::{Hooked, hooked_store};
use crate::error::{CallError, Error, at, one_line};
use crate::inside::InsideConfig;
use crate::phase::Phase;
use crate::run::Run;
use crate::timing::Clock;
use crate::timing::settle::{named, project};
use crate::timing::target::{Marks, Target};

/// The scenario's name, as given to `wprof record`.
pub const NAME: &str = "component";

/// Settings of `wprof record component`.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentConfig {
    /// The component. Default: the bundled transfer-component.
    pub plugin: Option<std::path::PathBuf>,
    /// The export to call. Default: `check-interactions`.
    pub export: String,
    /// Its arguments, a JSON array with one value per parameter. Default:
    /// the drug checker's bundled request.
    pub args: Json,
    /// How long the calls go on, and on what clock. Default: 500 ms once
    /// there are 100 calls, at most 200 000, 20 traced.
    pub runs: Runs,
    /// Whole cold starts measured after the calls, each from the
    /// component's bytes: compile (validation included), link, instantiate
    /// and the first call. Default: 0 (none).
    pub cold_runs: u64,
    /// Memory limits and the per-call deadline. Default: [`Limits::default`].
    pub limits: Limits,
    /// The passes that look inside the calls, after the timings: counters,
    /// fuel, the guest and host samplers, each on the whole call. Default:
    /// [`InsideConfig::default`] (the counter pass only).
    pub inside: InsideConfig,
}

impl Default for ComponentConfig {
    fn default() -> Self {
        ComponentConfig {
            plugin: None,
            export: "check-interactions".into(),
            args: json!([{"medications": ["aspirin", "ibuprofen", "warfarin"]}]),
            runs: Runs::new(500, 100, 200_000, 20),
            cold_runs: 0,
            limits: Limits::default(),
            inside: InsideConfig::default(),
        }
    }
}

/// A call's results, as JSON.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Results(Json);

impl Outcome for Results {
    fn differs(&self, reference: &Results) -> Option<String> {
        differs_debug(&self.0.to_string(), &reference.0.to_string())
            .map(|d| format!("the results changed between calls: {d}"))
    }
}

/// The phases of a call: free is filled only for functions with a
/// post-return.
const CALL_PHASES: [Phase; 4] = [Phase::Lower, Phase::Execute, Phase::Lift, Phase::Free];

struct Call {
    store: Store<Hooked>,
    func: Func,
    params: Vec<Val>,
    results: Vec<Val>,
    post_return: bool,
}

impl Target for Call {
    fn phases(&self) -> &'static [Phase] {
        &CALL_PHASES
    }

    #[inline(always)]
    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        self.func
            .call(&mut self.store, &self.params, &mut self.results)
            .map_err(|e| at(Phase::Execute)(anyhow::Error::from(e)))?;
        m.mark(4);
        let h = self.store.data();
        let (export, post) = if self.post_return {
            (0, Some(1))
        } else {
            (1, None)
        };
        m.set(1, h.entered[export]);
        m.set(2, h.left[export]);
        // Without a post-return, lifting runs to the call's end and free is
        // empty: its stamp is the lift's end, read just now.
        if let Some(p) = post {
            m.set(3, h.entered[p]);
        } else {
            m.mark(3);
        }
        Ok(())
    }
}

impl Results {
    /// A call's results, as JSON.
    fn of(results: &[Val]) -> Results {
        Results(Json::Array(results.iter().map(to_json).collect()))
    }
}

way!(Call => Results, Lift, |w| Results::of(&w.results));

/// A whole cold start: compile the component from its bytes, link,
/// instantiate, and the first call.
struct ColdCall<'a, C> {
    engine: &'a Engine,
    bytes: &'a [u8],
    linker: &'a Linker<Hooked>,
    export: &'a str,
    params: &'a [Val],
    results: Vec<Val>,
    limits: &'a Limits,
    clock: C,
}

impl<C: Clock> Target for ColdCall<'_, C> {
    fn phases(&self) -> &'static [Phase] {
        &COLD_PHASES
    }

    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError> {
        let err = |phase: Phase| move |e: wasmtime::Error| at(phase)(anyhow::Error::from(e));
        m.mark(0);
        let c = Component::from_binary(self.engine, self.bytes).map_err(err(Phase::Compile))?;
        m.mark(1);
        let pre = self.linker.instantiate_pre(&c).map_err(err(Phase::Link))?;
        m.mark(2);
        let mut store = hooked_store(self.engine, self.limits.clone(), self.clock);
        crate::watchdog::enter(Phase::Instantiate);
        let instance = pre.instantiate(&mut store);
        crate::watchdog::leave();
        let instance = instance.map_err(err(Phase::Instantiate))?;
        let func = instance
            .get_func(&mut store, self.export)
            .ok_or_else(|| at(Phase::Instantiate)(anyhow::anyhow!("the export went missing")))?;
        m.mark(3);
        crate::watchdog::enter(Phase::Execute);
        let called = func.call(&mut store, self.params, &mut self.results);
        crate::watchdog::leave();
        called.map_err(err(Phase::Execute))?;
        m.mark(4);
        Ok(())
    }
}

way!(impl[C: Clock] ColdCall<'_, C> => Results, Lift, |w| Results::of(&w.results));

/// The phases of a component's cold start.
const COLD_PHASES: [Phase; 4] = [
    Phase::Compile,
    Phase::Link,
    Phase::Instantiate,
    Phase::Execute,
];

super::runner::boundary!(ComponentConfig, run_with);

/// A component compiled and instantiated in a store stamped by `clock`,
/// its export found and its arguments lowered from JSON.
struct Loaded {
    name: String,
    source: String,
    bytes: Vec<u8>,
    engine: Engine,
    /// Compiling it, timed once.
    setup: Vec<crate::run::PhaseTime>,
    linker: Linker<Hooked>,
    store: Store<Hooked>,
    func: Func,
    ty: wasmtime::component::types::ComponentFunc,
    params: Vec<Val>,
    post_return: bool,
}

fn load<C: Clock>(clock: C, cfg: &ComponentConfig) -> Result<Loaded, Error> {
    let (name, source, bytes) = match &cfg.plugin {
        None => (
            "transfer-component".to_owned(),
            "bundled:transfer-component".to_owned(),
            super::data_transfer::COMPONENT_WASM.to_vec(),
        ),
        Some(path) => {
            let p = crate::source::PluginSpec::File(path.clone()).resolve()?;
            (p.name, p.source, p.bytes)
        }
    };
    if !wasmparser::Parser::is_component(&bytes) {
        return Err(Error::plugin(
            &name,
            Phase::Compile,
            "not a component (a core module: wprof inspect says what it is, record hot-path runs wprof plugins)",
        ));
    }
    let engine = Engine::default();
    let mut setup = Vec::new();
    let component = crate::driver::timed(&mut setup, Phase::Compile, || {
        Component::from_binary(&engine, &bytes)
    })
    .map_err(|e| Error::plugin(&name, Phase::Compile, one_line(&anyhow::Error::from(e))))?;
    let fail = |phase: Phase| {
        let name = name.clone();
        move |e: wasmtime::Error| Error::plugin(&name, phase, one_line(&anyhow::Error::from(e)))
    };
    let mut linker = Linker::new(&engine);
    linker
        .define_unknown_imports_as_traps(&component)
        .map_err(fail(Phase::Link))?;
    let mut store = hooked_store(&engine, cfg.limits.clone(), clock);
    let instance = linker
        .instantiate(&mut store, &component)
        .map_err(fail(Phase::Instantiate))?;
    let func = instance
        .get_func(&mut store, cfg.export.as_str())
        .ok_or_else(|| {
            let exports: Vec<String> = component
                .component_type()
                .exports(&engine)
                .map(|(n, _)| n.to_owned())
                .collect();
            Error::plugin(
                &name,
                Phase::Instantiate,
                format!(
                    "the component exports no function `{}` (its exports: {})",
                    cfg.export,
                    exports.join(", ")
                ),
            )
        })?;
    let ty = func.ty(&store);
    let types: Vec<(String, Type)> = ty.params().map(|(n, t)| (n.to_owned(), t)).collect();
    let args = cfg.args.as_array().ok_or_else(|| {
        Error::plugin(
            &name,
            Phase::Lower,
            "--args must be a JSON array, one value per parameter",
        )
    })?;
    if args.len() != types.len() {
        return Err(Error::plugin(
            &name,
            Phase::Lower,
            format!(
                "`{}` takes {} arguments ({}), got {}",
                cfg.export,
                types.len(),
                crate::inspect::wit_func(&ty),
                args.len()
            ),
        ));
    }
    let params: Vec<Val> = args
        .iter()
        .zip(&types)
        .map(|(a, (n, t))| to_val(a, t, n))
        .collect::<Result<_, _>>()
        .map_err(|e| Error::plugin(&name, Phase::Lower, e))?;
    let post_return = has_post_return(&ty);
    Ok(Loaded {
        name,
        source,
        bytes,
        engine,
        setup,
        linker,
        store,
        func,
        ty,
        params,
        post_return,
    })
}

fn run_with<C: Clock>(clock: C, cfg: &ComponentConfig) -> Result<Run, Error> {
    let Loaded {
        name,
        source,
        bytes,
        engine,
        setup,
        linker,
        store,
        func,
        ty,
        params,
        post_return,
    } = load(clock, cfg)?;
    let _watch = crate::watchdog::watch(&name, cfg.limits.deadline);
    let since = std::time::Instant::now();
    let mut runner: Runner<'_, C, Results> = Runner::new(&clock, cfg.runs.budget());
    let signature = crate::inspect::wit_func(&ty);
    let v = named(
        &cfg.export,
        &format!(
            "{} {signature}: lower (the canonical ABI copying the arguments in, cabi_realloc included), execute, lift (the results read out){}, split by a call hook at the export's entry and exit",
            cfg.export,
            if post_return {
                ", free (the post-return)"
            } else {
                ""
            }
        ),
    );
    let results_len = ty.results().len();
    let mut params_kept = Vec::new();
    runner.only(
        &name,
        v,
        || {
            Ok(Call {
                store,
                func,
                params,
                results: vec![Val::Bool(false); results_len],
                post_return,
            })
        },
        |w, r| {
            r.variant
                .facts
                .insert("results".into(), Results::of(&w.results).0);
            params_kept = w.params.clone();
            if !post_return {
                // Free is empty without a post-return: keep lower, execute
                // and lift.
                r.stamps = project(&r.stamps, &CALL_PHASES, &CALL_PHASES[..3]);
                r.phases = CALL_PHASES[..3].to_vec();
            }
        },
    )?;
    let last = runner.expected().map(|r| r.0.clone()).unwrap_or_default();
    if cfg.cold_runs > 0 && !crate::interrupt::requested() {
        let budget = Budget::exactly(cfg.cold_runs);
        let mut cold = Runner::new(&clock, budget);
        cold.expect(Results(last.clone()));
        cold.only(
            &name,
            named(
                "cold-start",
                "from the component's bytes each time: compile (Cranelift; validation included), link (InstancePre), instantiate, and the first call (lower, execute, lift)",
            ),
            || {
                Ok(ColdCall {
                    engine: &engine,
                    bytes: &bytes,
                    linker: &linker,
                    export: &cfg.export,
                    params: &params_kept,
                    results: vec![Val::Bool(false); results_len],
                    limits: &cfg.limits,
                    clock,
                })
            },
            |_, _| {},
        )?;
        runner.recorded().extend(cold.into_recorded());
    }
    let in_bytes = cfg.args.to_string().len() as u64;
    let out_bytes = last.to_string().len() as u64;
    let mut run = super::new_run(NAME);
    run.plugin = super::plugin_info(&name, &source, &bytes, &cfg.export, in_bytes, out_bytes);
    run.settings = super::settings([
        ("export", json!(cfg.export)),
        ("args", cfg.args.clone()),
        ("cold_runs", json!(cfg.cold_runs)),
    ]);
    cfg.runs.record(&mut run.settings);
    run.setup = setup;
    runner.finish(&mut run, cfg.runs.trace, |_| (in_bytes, out_bytes));
    if !crate::interrupt::requested() {
        let twins = passes::ComponentTwins {
            bytes: &bytes,
            export: &cfg.export,
            params: &params_kept,
            results: results_len,
            post_return,
            limits: &cfg.limits,
        };
        passes::look_inside(cfg, &twins, &engine, &name, since, &mut run)?;
    }
    run.notes
        .push(format!("results (the same on every call): {last}"));
    run.notes.push("input_bytes and output_bytes are the JSON texts' lengths: a component's values have no byte size of their own".into());
    run.notes.push("the call row includes the call hook's cost (two clock reads a call into wasm); the component's imports (WASI, from a wasip2 standard library) are defined as traps".into());
    run.notes
        .push("native: not applicable: a component has no native build wprof knows".into());
    Ok(run)
}
