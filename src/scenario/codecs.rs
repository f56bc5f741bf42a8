//! `wprof record codecs`: the drug checker's hot path through each way of
//! encoding a call, in one table: JSON (the seed's), MessagePack, and the
//! component model (a WIT interface, its canonical ABI lowering and lifting
//! typed values), against the check on host values natively. It answers the
//! seed's guesses that MessagePack saves 40 % and the component model 60 %
//! of JSON's overhead with measured numbers.

use std::hint::black_box;
use std::time::Instant;

use serde::Deserialize;
use serde_json::json;
use wasmtime::Engine;

use super::data_transfer::{Hooked, hooked_store};
use super::hot_path::{Marks, Target};
use super::timed::{Budget, Recorded, Timed, named, p50, settle, time_target};
use crate::error::{Error, one_line};
use crate::host::{self, CallError, Limits, Plugin, at};
use crate::measure::{self, Clock, ClockChoice};
use crate::phase::Phase;
use crate::run::{Run, Variant};

/// The scenario's name, as given to `wprof record`.
pub const NAME: &str = "codecs";

mod wit {
    wasmtime::component::bindgen!({
        path: "plugins/transfer-component/wit",
        world: "transfer",
    });
}

/// Settings of `wprof record codecs`.
#[derive(Debug, Clone, PartialEq)]
pub struct CodecsConfig {
    /// How long each variant is measured once it has `min_calls`.
    /// Default: 500 ms.
    pub time_per_variant: std::time::Duration,
    /// Fewest measured calls per variant. Default: 100.
    pub min_calls: u64,
    /// Most measured calls per variant. Default: 200 000.
    pub max_calls: u64,
    /// Clock. Default: auto (the TSC where invariant).
    pub clock: ClockChoice,
    /// Calls per variant drawn into the Chrome trace. Default: 20.
    pub trace_calls: u64,
    /// What the plugin may grow to, and the per-call deadline. Default:
    /// [`Limits::default`].
    pub limits: Limits,
}

impl Default for CodecsConfig {
    fn default() -> Self {
        CodecsConfig {
            time_per_variant: std::time::Duration::from_millis(500),
            min_calls: 100,
            max_calls: 200_000,
            clock: ClockChoice::Auto,
            trace_calls: 20,
            limits: Limits::default(),
        }
    }
}

/// The request, as host values.
#[derive(Debug, Clone, serde::Serialize)]
struct Request {
    medications: Vec<String>,
}

/// One interacting pair, as host values: what every way ends with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct Found {
    drug_a: String,
    drug_b: String,
    severity: String,
    description: String,
}

/// The check on host values: no codec, no boundary.
struct Native<'a> {
    request: &'a Request,
    last: Vec<Found>,
}

impl Target for Native<'_> {
    const PHASES: &'static [Phase] = &[Phase::Execute];

    #[inline(always)]
    fn call_marked<M: Marks>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        let out = black_box(drug_checker::find_interactions(
            &black_box(self.request).medications,
        ));
        m.mark(1);
        self.last = out
            .into_iter()
            .map(|i| Found {
                drug_a: i.drug_a,
                drug_b: i.drug_b,
                severity: i.severity.to_owned(),
                description: i.description.to_owned(),
            })
            .collect();
        Ok(())
    }
}

/// A core-module way: JSON (`msgpack == false`) or MessagePack.
struct Core<'a> {
    plugin: Plugin,
    msgpack: bool,
    request: &'a Request,
    encoded: Vec<u8>,
    last: Vec<Found>,
}

impl Target for Core<'_> {
    const PHASES: &'static [Phase] = &Phase::WASM_CALL;

    #[inline(always)]
    fn call_marked<M: Marks>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        self.encoded.clear();
        if self.msgpack {
            rmp_serde::encode::write_named(&mut self.encoded, self.request)
                .map_err(at(Phase::Encode))?;
        } else {
            serde_json::to_writer(&mut self.encoded, self.request).map_err(at(Phase::Encode))?;
        }
        m.mark(1);
        let buf = self.plugin.copy_in(&self.encoded)?;
        m.mark(2);
        let packed = self.plugin.execute(buf)?;
        m.mark(3);
        let out = self.plugin.copy_out(packed)?;
        m.mark(4);
        let found: Vec<Found> = if self.msgpack {
            rmp_serde::from_slice(&self.plugin.output).map_err(at(Phase::Decode))?
        } else {
            serde_json::from_slice(&self.plugin.output).map_err(at(Phase::Decode))?
        };
        m.mark(5);
        self.plugin.free(out)?;
        m.mark(6);
        self.last = found;
        Ok(())
    }
}

/// The component way: `check-interactions(check-request) ->
/// list<interaction>`, typed by bindings generated from the WIT.
struct Component<'a> {
    store: wasmtime::Store<Hooked>,
    bindings: wit::Transfer,
    request: &'a wit::CheckRequest,
    last: Vec<Found>,
}

impl Target for Component<'_> {
    // Free: the export's post-return (`cabi_post_check-interactions`, which
    // frees the returned list), run by Wasmtime at the end of the call.
    const PHASES: &'static [Phase] = &[Phase::Lower, Phase::Execute, Phase::Lift, Phase::Free];

    #[inline(always)]
    fn call_marked<M: Marks>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        let out = self
            .bindings
            .call_check_interactions(&mut self.store, self.request)
            .map_err(|e| at(Phase::Execute)(anyhow::Error::from(e)))?;
        m.mark(4);
        // The last entry into wasm is the post-return's; the one before,
        // the export's.
        let h = self.store.data();
        let (entered, left, post) = (h.entered[0], h.left[0], h.entered[1]);
        m.set(1, entered);
        m.set(2, left);
        m.set(3, post);
        self.last = out
            .into_iter()
            .map(|i| Found {
                drug_a: i.drug_a,
                drug_b: i.drug_b,
                severity: i.severity,
                description: i.description,
            })
            .collect();
        Ok(())
    }
}

/// Runs the codecs scenario.
pub fn run(cfg: &CodecsConfig) -> Result<Run, Error> {
    let kind = cfg.clock.resolve().map_err(Error::Config)?;
    measure::with_clock!(kind, |clock| run_with(clock, cfg))
}

fn run_with<C: Clock + Copy + Send + Sync + 'static>(
    clock: C,
    cfg: &CodecsConfig,
) -> Result<Run, Error> {
    let wall = Instant::now();
    let started_at = super::now_rfc3339();
    let name = "drug-checker";
    let bundled = crate::bundled::by_name(name)
        .ok_or_else(|| Error::Config("drug-checker is not bundled".into()))?;
    #[derive(Deserialize)]
    struct Input {
        medications: Vec<String>,
    }
    let input: Input = serde_json::from_str(bundled.input)
        .map_err(|e| Error::plugin(name, Phase::Encode, format!("bundled input: {e}")))?;
    let request = Request {
        medications: input.medications,
    };
    let budget = Budget {
        min: cfg.min_calls,
        max: cfg.max_calls,
        time: cfg.time_per_variant,
    };
    let _watch = crate::watchdog::watch(name, cfg.limits.deadline);
    let engine = Engine::default();
    let mut setup = Vec::new();
    let core = host::load(
        "drug-checker-ways",
        &engine,
        super::batching::PLUGIN_WASM,
        Vec::new(),
    )?;
    setup.extend(core.setup.iter().cloned());
    let component = host::timed(&mut setup, Phase::Compile, || {
        wasmtime::component::Component::from_binary(&engine, super::data_transfer::COMPONENT_WASM)
    })
    .map_err(|e| {
        Error::plugin(
            "transfer-component",
            Phase::Compile,
            one_line(&anyhow::Error::from(e)),
        )
    })?;

    let mut recorded: Vec<Recorded> = Vec::new();
    let mut failures = Vec::new();
    let mut native = Native {
        request: &request,
        last: Vec::new(),
    };
    let t = time_target(&clock, &mut native, 2, budget).map_err(|e| e.into_error(name))?;
    recorded.push(Recorded::new(
        named(
            "native",
            "native: find_interactions on the request as host values, answers as host values (no codec, no boundary)",
        ),
        t,
        Native::PHASES,
    ));
    let expected = native.last.clone();
    let differs = |got: &[Found]| -> Result<(), CallError> {
        if got == expected.as_slice() {
            Ok(())
        } else {
            Err(at(Phase::Decode)(anyhow::anyhow!(
                "{} interactions, unlike native's {}",
                got.len(),
                expected.len()
            )))
        }
    };

    let mut output_bytes = 0;
    for msgpack in [false, true] {
        let (label, export, description) = if msgpack {
            (
                "msgpack",
                "check_msgpack",
                "MessagePack (rmp-serde, named fields) both ways, drug-checker-ways' check_msgpack",
            )
        } else {
            (
                "json",
                "check_interactions",
                "JSON both ways (the seed's), drug-checker-ways' check_interactions: the hot path's call",
            )
        };
        let result = (|| -> Result<(Timed, usize), CallError> {
            let plugin = Plugin::limited(&engine, &core.module, export, cfg.limits.clone())
                .map_err(at(Phase::Instantiate))?;
            let mut w = Core {
                plugin,
                msgpack,
                request: &request,
                encoded: Vec::new(),
                last: Vec::new(),
            };
            w.call()?;
            differs(&w.last)?;
            let t = time_target(&clock, &mut w, Core::PHASES.len() + 1, budget)?;
            differs(&w.last)?;
            Ok((t, w.plugin.output.len()))
        })();
        match result {
            Ok((t, out)) => {
                if !msgpack {
                    output_bytes = out as u64;
                }
                let mut v = named(label, description);
                v.facts.insert("output_bytes".into(), json!(out));
                recorded.push(Recorded::new(v, t, Core::PHASES));
            }
            Err(e) => failures.push(crate::run::Failure {
                variant: label.to_owned(),
                phase: e.phase,
                cause: one_line(&e.error),
            }),
        }
    }

    let wit_request = wit::CheckRequest {
        medications: request.medications.clone(),
    };
    let result = (|| -> Result<Timed, CallError> {
        let err = |phase: Phase| move |e: wasmtime::Error| at(phase)(anyhow::Error::from(e));
        let mut linker = wasmtime::component::Linker::new(&engine);
        linker
            .define_unknown_imports_as_traps(&component)
            .map_err(err(Phase::Link))?;
        let mut store = hooked_store(&engine, cfg.limits.clone(), clock);
        let bindings = wit::Transfer::instantiate(&mut store, &component, &linker)
            .map_err(err(Phase::Instantiate))?;
        let mut w = Component {
            store,
            bindings,
            request: &wit_request,
            last: Vec::new(),
        };
        w.call()?;
        differs(&w.last)?;
        let t = time_target(&clock, &mut w, Component::PHASES.len() + 1, budget)?;
        differs(&w.last)?;
        Ok(t)
    })();
    match result {
        Ok(t) => recorded.push(Recorded::new(
            named(
                "component",
                "component model: check-interactions(check-request) -> list<interaction> behind a WIT interface (transfer-component.wasm), typed host bindings generated from the WIT; lower (cabi_realloc + the strings copied in) and lift (the records read out into host values) split from execute by a call hook; free is the post-return (cabi_post_check-interactions), which Wasmtime runs inside the call",
            ),
            t,
            Component::PHASES,
        )),
        Err(e) => failures.push(crate::run::Failure {
            variant: "component".into(),
            phase: e.phase,
            cause: one_line(&e.error),
        }),
    }

    let (variants, timeline) = settle(recorded, clock.ns_per_tick(), cfg.trace_calls, |_| (0, 0));
    let (summary, verdicts) = conclude(&variants);

    let mut run = super::new_run(NAME, started_at);
    run.wall_s = wall.elapsed().as_secs_f64();
    run.plugin = super::plugin_info(
        name,
        "bundled:drug-checker-ways, bundled:transfer-component",
        super::batching::PLUGIN_WASM,
        "check_interactions,check_msgpack,check-interactions",
        serde_json::to_vec(&request).map_or(0, |v| v.len() as u64),
        output_bytes,
    );
    run.plugin.outputs_identical = Some(failures.is_empty());
    run.settings = super::settings([
        ("medications", json!(request.medications)),
        (
            "time_per_variant",
            json!(humantime::format_duration(cfg.time_per_variant).to_string()),
        ),
        ("min_calls", json!(cfg.min_calls)),
        ("max_calls", json!(cfg.max_calls)),
    ]);
    run.setup = setup;
    super::timed::fill(&mut run, &clock, variants, timeline);
    run.summary = summary;
    run.verdicts = verdicts;
    run.failures = failures;
    run.notes.push(format!(
        "{} interactions found for {:?}, the same by every way (checked before and after timing); every way ends with the answers as host values",
        expected.len(),
        request.medications
    ));
    run.notes.push("the component's phases come from a call hook at each entry into and exit from wasm: its call row includes the hook's cost (two clock reads), which the core ways do not pay".into());
    Ok(run)
}

/// The seed's table: each way's overhead over native, and against JSON's.
fn conclude(variants: &[Variant]) -> (Option<crate::run::Summary>, Vec<String>) {
    let fmt = super::super::export::fmt_ns;
    let Some(native) = p50(variants, "native") else {
        return (None, Vec::new());
    };
    let json_over = p50(variants, "json").map(|j| j - native);
    let mut rows = Vec::new();
    let mut verdicts = Vec::new();
    for (way, guess) in [
        ("json", None),
        ("msgpack", Some(40)),
        ("component", Some(60)),
    ] {
        let Some(t) = p50(variants, way) else {
            continue;
        };
        let over = t - native;
        let vs_json = json_over
            .filter(|j| *j > 0.0)
            .map(|j| 100.0 * (over - j) / j);
        rows.push(vec![
            way.to_owned(),
            fmt(t),
            fmt(native),
            format!("{}{}", if over < 0.0 { "-" } else { "+" }, fmt(over.abs())),
            vs_json.map_or("-".into(), |p| format!("{p:+.0} %")),
            guess.map_or("-".into(), |g| format!("-{g} %")),
        ]);
        if let (Some(p), Some(g)) = (vs_json, guess) {
            verdicts.push(format!(
                "{way}: {p:+.0} % of JSON's overhead ({} against {}); the seed guessed -{g} %",
                fmt(over),
                fmt(json_over.unwrap_or(0.0))
            ));
        }
    }
    let summary = (!rows.is_empty()).then(|| crate::run::Summary {
        title: "drug check per call, median: each way's overhead over native, and against JSON's"
            .into(),
        columns: [
            "way",
            "wasm",
            "native",
            "overhead",
            "vs json",
            "seed's guess",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    });
    (summary, verdicts)
}
