//! `wprof record component`: one export of a WebAssembly component called
//! again and again with arguments given as JSON, converted to WIT values by
//! the function's own types (records as objects, lists and tuples as
//! arrays, options as null or a value, results as `{"ok": v}` or
//! `{"err": v}`, enums as strings, variants as `{"case": v}` or `"case"`,
//! flags as arrays of names). Each call is split by a call hook into lower
//! (the canonical ABI copying the arguments in), execute and lift (the
//! results read out), and free (the export's post-return) where it has one.

use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use wasmtime::component::types::{ComponentFunc, Type};
use wasmtime::component::{Component, Func, Linker, Val};
use wasmtime::{Engine, Store};

use super::data_transfer::{Hooked, hooked_store};
use super::hot_path::{Marks, Target};
use super::timed::{Budget, Recorded, named, settle, time_target};
use crate::error::{Error, one_line};
use crate::host::{CallError, Limits, at};
use crate::measure::{self, Clock, ClockChoice};
use crate::phase::Phase;
use crate::run::Run;

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
    /// How long calls go on once there are `min_calls`. Default: 500 ms.
    pub time: Duration,
    /// Fewest measured calls. Default: 100.
    pub min_calls: u64,
    /// Most measured calls. Default: 200 000.
    pub max_calls: u64,
    /// Calls drawn into the Chrome trace. Default: 20.
    pub trace_calls: u64,
    /// Clock. Default: auto (the TSC where invariant).
    pub clock: ClockChoice,
    /// Whole cold starts measured after the calls, each from the
    /// component's bytes: compile (validation included), link, instantiate
    /// and the first call. Default: 0 (none).
    pub cold_runs: u64,
    /// Memory limits and the per-call deadline. Default: [`Limits::default`].
    pub limits: Limits,
}

impl Default for ComponentConfig {
    fn default() -> Self {
        ComponentConfig {
            plugin: None,
            export: "check-interactions".into(),
            args: json!([{"medications": ["aspirin", "ibuprofen", "warfarin"]}]),
            time: Duration::from_millis(500),
            min_calls: 100,
            max_calls: 200_000,
            trace_calls: 20,
            clock: ClockChoice::Auto,
            cold_runs: 0,
            limits: Limits::default(),
        }
    }
}

/// A JSON value as the WIT value of type `ty`; `path` names it in errors.
pub fn to_val(v: &Json, ty: &Type, path: &str) -> Result<Val, String> {
    let bad = || format!("{path}: expected {}, got {v}", describe(ty));
    let int = |lo: i128, hi: i128| -> Result<i128, String> {
        let n = v
            .as_i64()
            .map(i128::from)
            .or(v.as_u64().map(i128::from))
            .ok_or_else(bad)?;
        if (lo..=hi).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        }
    };
    Ok(match ty {
        Type::Bool => Val::Bool(v.as_bool().ok_or_else(bad)?),
        Type::S8 => Val::S8(int(i8::MIN.into(), i8::MAX.into())? as i8),
        Type::U8 => Val::U8(int(0, u8::MAX.into())? as u8),
        Type::S16 => Val::S16(int(i16::MIN.into(), i16::MAX.into())? as i16),
        Type::U16 => Val::U16(int(0, u16::MAX.into())? as u16),
        Type::S32 => Val::S32(int(i32::MIN.into(), i32::MAX.into())? as i32),
        Type::U32 => Val::U32(int(0, u32::MAX.into())? as u32),
        Type::S64 => Val::S64(int(i64::MIN.into(), i64::MAX.into())? as i64),
        Type::U64 => Val::U64(int(0, u64::MAX.into())? as u64),
        Type::Float32 => Val::Float32(v.as_f64().ok_or_else(bad)? as f32),
        Type::Float64 => Val::Float64(v.as_f64().ok_or_else(bad)?),
        Type::Char => {
            let s = v.as_str().ok_or_else(bad)?;
            let mut cs = s.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) => Val::Char(c),
                _ => return Err(bad()),
            }
        }
        Type::String => Val::String(v.as_str().ok_or_else(bad)?.to_owned()),
        Type::List(l) => Val::List(
            v.as_array()
                .ok_or_else(bad)?
                .iter()
                .enumerate()
                .map(|(i, x)| to_val(x, &l.ty(), &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Type::Record(r) => {
            let obj = v.as_object().ok_or_else(bad)?;
            if let Some(extra) = obj
                .keys()
                .find(|k| r.fields().all(|f| f.name != k.as_str()))
            {
                return Err(format!("{path}: no field `{extra}` in {}", describe(ty)));
            }
            Val::Record(
                r.fields()
                    .map(|f| {
                        let x = obj.get(f.name).ok_or_else(|| {
                            format!("{path}: missing field `{}` of {}", f.name, describe(ty))
                        })?;
                        Ok((
                            f.name.to_owned(),
                            to_val(x, &f.ty, &format!("{path}.{}", f.name))?,
                        ))
                    })
                    .collect::<Result<_, String>>()?,
            )
        }
        Type::Tuple(t) => {
            let a = v.as_array().ok_or_else(bad)?;
            let types: Vec<Type> = t.types().collect();
            if a.len() != types.len() {
                return Err(bad());
            }
            Val::Tuple(
                a.iter()
                    .zip(&types)
                    .enumerate()
                    .map(|(i, (x, t))| to_val(x, t, &format!("{path}.{i}")))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Option(o) => Val::Option(match v {
            Json::Null => None,
            x => Some(Box::new(to_val(x, &o.ty(), path)?)),
        }),
        Type::Result(r) => {
            let obj = v.as_object().filter(|o| o.len() == 1).ok_or_else(bad)?;
            let (k, x) = obj.iter().next().ok_or_else(bad)?;
            let inner = |t: Option<Type>| -> Result<Option<Box<Val>>, String> {
                match t {
                    Some(t) => Ok(Some(Box::new(to_val(x, &t, &format!("{path}.{k}"))?))),
                    None => Ok(None),
                }
            };
            match k.as_str() {
                "ok" => Val::Result(Ok(inner(r.ok())?)),
                "err" => Val::Result(Err(inner(r.err())?)),
                _ => return Err(bad()),
            }
        }
        Type::Enum(e) => {
            let s = v.as_str().ok_or_else(bad)?;
            if !e.names().any(|n| n == s) {
                return Err(bad());
            }
            Val::Enum(s.to_owned())
        }
        Type::Variant(var) => {
            let (name, payload) = match v {
                Json::String(s) => (s.clone(), None),
                Json::Object(o) if o.len() == 1 => {
                    let (k, x) = o.iter().next().ok_or_else(bad)?;
                    (k.clone(), Some(x))
                }
                _ => return Err(bad()),
            };
            let case = var.cases().find(|c| c.name == name).ok_or_else(bad)?;
            let payload = match (case.ty, payload) {
                (Some(t), Some(x)) => Some(Box::new(to_val(x, &t, &format!("{path}.{name}"))?)),
                (None, None) => None,
                _ => return Err(bad()),
            };
            Val::Variant(name, payload)
        }
        Type::Flags(f) => {
            let names: Vec<String> = v
                .as_array()
                .ok_or_else(bad)?
                .iter()
                .map(|x| x.as_str().map(str::to_owned).ok_or_else(bad))
                .collect::<Result<_, _>>()?;
            if let Some(n) = names.iter().find(|n| !f.names().any(|m| m == n.as_str())) {
                return Err(format!("{path}: no flag `{n}` in {}", describe(ty)));
            }
            Val::Flags(names)
        }
        _ => return Err(format!("{path}: {} cannot be given as JSON", describe(ty))),
    })
}

/// A WIT value as JSON, the inverse of [`to_val`].
pub fn to_json(v: &Val) -> Json {
    match v {
        Val::Bool(b) => json!(b),
        Val::S8(n) => json!(n),
        Val::U8(n) => json!(n),
        Val::S16(n) => json!(n),
        Val::U16(n) => json!(n),
        Val::S32(n) => json!(n),
        Val::U32(n) => json!(n),
        Val::S64(n) => json!(n),
        Val::U64(n) => json!(n),
        Val::Float32(n) => json!(n),
        Val::Float64(n) => json!(n),
        Val::Char(c) => json!(c.to_string()),
        Val::String(s) => json!(s),
        Val::List(xs) | Val::Tuple(xs) | Val::FixedLengthList(xs) => {
            Json::Array(xs.iter().map(to_json).collect())
        }
        Val::Record(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, x)| (k.clone(), to_json(x)))
                .collect(),
        ),
        Val::Option(o) => o.as_deref().map_or(Json::Null, to_json),
        Val::Result(r) => match r {
            Ok(x) => json!({"ok": x.as_deref().map_or(Json::Null, to_json)}),
            Err(x) => json!({"err": x.as_deref().map_or(Json::Null, to_json)}),
        },
        Val::Enum(s) => json!(s),
        Val::Variant(name, payload) => match payload {
            Some(x) => json!({ name.clone(): to_json(x) }),
            None => json!(name),
        },
        Val::Flags(names) => json!(names),
        other => json!(format!("{other:?}")),
    }
}

fn describe(ty: &Type) -> String {
    crate::inspect::wit_type(ty)
}

/// Whether a function's results need a post-return (strings and lists
/// live in linear memory until it runs): then the last wasm entry of a
/// call is the post-return's, not the export's.
fn has_post_return(f: &ComponentFunc) -> bool {
    fn heap(t: &Type) -> bool {
        match t {
            Type::String | Type::List(_) => true,
            Type::Record(r) => r.fields().any(|f| heap(&f.ty)),
            Type::Tuple(t) => t.types().any(|t| heap(&t)),
            Type::Option(o) => heap(&o.ty()),
            Type::Result(r) => {
                r.ok().is_some_and(|t| heap(&t)) || r.err().is_some_and(|t| heap(&t))
            }
            Type::Variant(v) => v.cases().any(|c| c.ty.is_some_and(|t| heap(&t))),
            _ => false,
        }
    }
    f.results().any(|t| heap(&t))
}

struct Call {
    store: Store<Hooked>,
    func: Func,
    params: Vec<Val>,
    results: Vec<Val>,
    post_return: bool,
}

impl Target for Call {
    // Free is filled only for functions with a post-return.
    const PHASES: &'static [Phase] = &[Phase::Lower, Phase::Execute, Phase::Lift, Phase::Free];

    #[inline(always)]
    fn call_marked<M: Marks>(&mut self, m: &mut M) -> Result<(), CallError> {
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

/// The phases of a component's cold start.
const COLD_PHASES: [Phase; 4] = [
    Phase::Compile,
    Phase::Link,
    Phase::Instantiate,
    Phase::Execute,
];

/// Runs the component scenario.
pub fn run(cfg: &ComponentConfig) -> Result<Run, Error> {
    let kind = cfg.clock.resolve().map_err(Error::Config)?;
    measure::with_clock!(kind, |clock| run_with(clock, cfg))
}

fn run_with<C: Clock + Copy + Send + Sync + 'static>(
    clock: C,
    cfg: &ComponentConfig,
) -> Result<Run, Error> {
    let wall = Instant::now();
    let started_at = super::now_rfc3339();
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
    let component = crate::host::timed(&mut setup, Phase::Compile, || {
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
    let mut call = Call {
        store,
        func,
        params,
        results: vec![Val::Bool(false); ty.results().len()],
        post_return,
    };
    let _watch = crate::watchdog::watch(&name, cfg.limits.deadline);
    let err = |e: CallError| e.into_error(&name);
    call.call().map_err(err)?;
    let first = Json::Array(call.results.iter().map(to_json).collect());
    let budget = Budget {
        min: cfg.min_calls,
        max: cfg.max_calls,
        time: cfg.time,
    };
    let timed = time_target(&clock, &mut call, Call::PHASES.len() + 1, budget).map_err(err)?;
    let last = Json::Array(call.results.iter().map(to_json).collect());
    if first != last {
        return Err(Error::plugin(
            &name,
            Phase::Lift,
            format!("the results changed between calls: {first} then {last}"),
        ));
    }
    let phases: &[Phase] = if post_return {
        Call::PHASES
    } else {
        &Call::PHASES[..3]
    };
    let stamps = if post_return {
        timed.stamps
    } else {
        // Keep the columns of lower, execute and lift; free is empty.
        timed
            .stamps
            .chunks_exact(5)
            .flat_map(|r| [r[0], r[1], r[2], r[3]])
            .collect()
    };
    let mut v = named(
        &cfg.export,
        &format!(
            "{} {}: lower (the canonical ABI copying the arguments in, cabi_realloc included), execute, lift (the results read out){}, split by a call hook at the export's entry and exit",
            cfg.export,
            crate::inspect::wit_func(&ty),
            if post_return {
                ", free (the post-return)"
            } else {
                ""
            }
        ),
    );
    v.facts.insert("results".into(), last.clone());
    let recorded = vec![Recorded {
        variant: v,
        stamps,
        phases: phases.to_vec(),
    }];
    let mut recorded = recorded;
    let mut cold = Vec::with_capacity(cfg.cold_runs as usize * (COLD_PHASES.len() + 1));
    for _ in 0..cfg.cold_runs {
        if crate::interrupt::requested() {
            break;
        }
        let t0 = clock.now();
        let c = Component::from_binary(&engine, &bytes).map_err(fail(Phase::Compile))?;
        let t1 = clock.now();
        let pre = linker.instantiate_pre(&c).map_err(fail(Phase::Link))?;
        let t2 = clock.now();
        let mut store = hooked_store(&engine, cfg.limits.clone(), clock);
        crate::watchdog::enter(Phase::Instantiate);
        let instance = pre.instantiate(&mut store);
        crate::watchdog::leave();
        let instance = instance.map_err(fail(Phase::Instantiate))?;
        let func = instance
            .get_func(&mut store, cfg.export.as_str())
            .ok_or_else(|| Error::plugin(&name, Phase::Instantiate, "the export went missing"))?;
        let t3 = clock.now();
        crate::watchdog::enter(Phase::Execute);
        let called = func.call(&mut store, &call.params, &mut call.results);
        crate::watchdog::leave();
        called.map_err(fail(Phase::Execute))?;
        let t4 = clock.now();
        cold.extend_from_slice(&[t0, t1, t2, t3, t4]);
    }
    if !cold.is_empty() {
        let first = Json::Array(call.results.iter().map(to_json).collect());
        if first != last {
            return Err(Error::plugin(
                &name,
                Phase::Lift,
                format!("a fresh instance's results differ: {first}, not {last}"),
            ));
        }
        recorded.push(Recorded {
            variant: named(
                "cold-start",
                "from the component's bytes each time: compile (Cranelift; validation included), link (InstancePre), instantiate, and the first call (lower, execute, lift)",
            ),
            stamps: cold,
            phases: COLD_PHASES.to_vec(),
        });
    }
    let in_bytes = cfg.args.to_string().len() as u64;
    let out_bytes = last.to_string().len() as u64;
    let (variants, timeline) = settle(recorded, clock.ns_per_tick(), cfg.trace_calls, |_| {
        (in_bytes, out_bytes)
    });

    let mut run = super::new_run(NAME, started_at);
    run.wall_s = wall.elapsed().as_secs_f64();
    run.plugin = super::plugin_info(&name, &source, &bytes, &cfg.export, in_bytes, out_bytes);
    run.settings = super::settings([
        ("export", json!(cfg.export)),
        ("args", cfg.args.clone()),
        (
            "time",
            json!(humantime::format_duration(cfg.time).to_string()),
        ),
        ("min_calls", json!(cfg.min_calls)),
        ("max_calls", json!(cfg.max_calls)),
        ("cold_runs", json!(cfg.cold_runs)),
    ]);
    run.setup = setup;
    super::timed::fill(&mut run, &clock, variants, timeline);
    run.notes
        .push(format!("results (the same on every call): {last}"));
    run.notes.push("input_bytes and output_bytes are the JSON texts' lengths: a component's values have no byte size of their own".into());
    run.notes.push("the call row includes the call hook's cost (two clock reads a call into wasm); the component's imports (WASI, from a wasip2 standard library) are defined as traps".into());
    run.notes
        .push("native: not applicable: a component has no native build wprof knows".into());
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_through_wit_values() {
        let v = Val::Record(vec![
            ("a".into(), Val::List(vec![Val::U8(1), Val::U8(2)])),
            ("b".into(), Val::Option(None)),
            (
                "c".into(),
                Val::Result(Ok(Some(Box::new(Val::String("x".into()))))),
            ),
            (
                "d".into(),
                Val::Variant("v".into(), Some(Box::new(Val::S32(-3)))),
            ),
        ]);
        assert_eq!(
            to_json(&v),
            json!({"a": [1, 2], "b": null, "c": {"ok": "x"}, "d": {"v": -3}})
        );
    }
}
