//! `wprof record codecs`: the drug checker's hot path through each way of
//! encoding a call, in one table: JSON (the reference study's), MessagePack, and the
//! component model (a WIT interface, its canonical ABI lowering and lifting
//! typed values), against the check on host values natively. It answers the
//! reference study's guesses that MessagePack saves 40 % and the component model 60 %
//! of JSON's overhead with measured numbers.

use std::hint::black_box;

use serde::Deserialize;
use serde_json::json;

use super::runner::{Native, Outcome, Runner, Runs, differs_debug, way};
use crate::driver::call::{Codec, Coded};
use crate::driver::component::{Hooked, hooked_store};
use crate::driver::wasmtime::WasmtimeDriver;
use crate::driver::wprof::{Wprof, WprofInstance};
use crate::driver::{Driver, Instance, Limits};
use crate::error::{CallError, Error, at, one_line};
use crate::phase::Phase;
use crate::run::{Pair, Run, Variant};
use crate::timing::Clock;
use crate::timing::settle::{named, p50};
use crate::timing::target::{Marks, Target};

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
    /// How long each variant is measured, and on what clock. Default: 500 ms
    /// once there are 100 calls, at most 200 000, 20 traced.
    pub runs: Runs,
    /// What the plugin may grow to, and the per-call deadline. Default:
    /// [`Limits::default`].
    pub limits: Limits,
}

impl Default for CodecsConfig {
    fn default() -> Self {
        CodecsConfig {
            runs: Runs::new(500, 100, 200_000, 20),
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

impl Outcome for Vec<Found> {
    fn differs(&self, reference: &Vec<Found>) -> Option<String> {
        differs_debug(self, reference)
    }
}

/// The native check's answers, as host values of the same shape.
// `&Vec`: the reference's output reader is a `fn(&R) -> O` of what the
// native call returns.
#[allow(clippy::ptr_arg)]
fn found(out: &Vec<drug_checker::Interaction>) -> Vec<Found> {
    out.iter()
        .map(|i| Found {
            drug_a: i.drug_a.clone(),
            drug_b: i.drug_b.clone(),
            severity: i.severity.to_owned(),
            description: i.description.to_owned(),
        })
        .collect()
}

/// A core-module way's codec: JSON (`msgpack == false`) or MessagePack.
struct CoreCodec<'a> {
    msgpack: bool,
    request: &'a Request,
    last: Vec<Found>,
}

impl Codec for CoreCodec<'_> {
    #[inline(always)]
    fn encode(&mut self, buf: &mut Vec<u8>) -> anyhow::Result<()> {
        if self.msgpack {
            rmp_serde::encode::write_named(buf, self.request)?;
        } else {
            serde_json::to_writer(buf, self.request)?;
        }
        Ok(())
    }

    #[inline(always)]
    fn decode(&mut self, out: &[u8]) -> anyhow::Result<()> {
        self.last = if self.msgpack {
            rmp_serde::from_slice(out)?
        } else {
            serde_json::from_slice(out)?
        };
        Ok(())
    }
}

/// A core-module way: the plugin called through its codec.
type Core<'a> = Coded<WprofInstance, CoreCodec<'a>>;

way!(Core<'_> => Vec<Found>, Decode, |w| w.codec.last.clone());

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
    fn phases(&self) -> &'static [Phase] {
        &[Phase::Lower, Phase::Execute, Phase::Lift, Phase::Free]
    }

    #[inline(always)]
    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError> {
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

way!(Component<'_> => Vec<Found>, Decode, |w| w.last.clone());

super::runner::boundary!(CodecsConfig, run_with);

fn run_with<C: Clock + Copy + Send + Sync + 'static>(
    clock: C,
    cfg: &CodecsConfig,
) -> Result<Run, Error> {
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
    let _watch = crate::watchdog::watch(name, cfg.limits.deadline);
    let driver = WasmtimeDriver::<Wprof>::default();
    let mut setup = Vec::new();
    let core = driver.load(
        "drug-checker-ways",
        super::batching::PLUGIN_WASM,
        &mut setup,
    )?;
    let engine = driver.engine().clone();
    let component = crate::driver::timed(&mut setup, Phase::Compile, || {
        wasmtime::component::Component::from_binary(&engine, super::data_transfer::COMPONENT_WASM)
    })
    .map_err(|e| {
        Error::plugin(
            "transfer-component",
            Phase::Compile,
            one_line(&anyhow::Error::from(e)),
        )
    })?;

    let mut runner = Runner::new(&clock, cfg.runs.budget());
    let native = Native::new(
        || {
            Ok(black_box(drug_checker::find_interactions(
                &black_box(&request).medications,
            )))
        },
        found,
    );
    runner.reference(
        name,
        named(
            "native",
            "native: find_interactions on the request as host values, answers as host values (no codec, no boundary)",
        ),
        native,
    )?;
    let found = runner.expected().map_or(0, Vec::len);

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
                "JSON both ways (the reference study's), drug-checker-ways' check_interactions: the hot path's call",
            )
        };
        runner.way(
            named(label, description),
            || {
                Ok(Core::new(
                    driver.instantiate(&core, export, &cfg.limits)?,
                    CoreCodec {
                        msgpack,
                        request: &request,
                        last: Vec::new(),
                    },
                ))
            },
            |w, r| {
                let out = w.instance.output().len();
                if !msgpack {
                    output_bytes = out as u64;
                }
                r.variant.facts.insert("output_bytes".into(), json!(out));
            },
        );
    }

    let wit_request = wit::CheckRequest {
        medications: request.medications.clone(),
    };
    runner.way(
        named(
            "component",
            "component model: check-interactions(check-request) -> list<interaction> behind a WIT interface (transfer-component.wasm), typed host bindings generated from the WIT; lower (cabi_realloc + the strings copied in) and lift (the records read out into host values) split from execute by a call hook; free is the post-return (cabi_post_check-interactions), which Wasmtime runs inside the call",
        ),
        || {
            let err = |phase: Phase| move |e: wasmtime::Error| at(phase)(anyhow::Error::from(e));
            let mut linker = wasmtime::component::Linker::new(&engine);
            linker
                .define_unknown_imports_as_traps(&component)
                .map_err(err(Phase::Link))?;
            let mut store = hooked_store(&engine, cfg.limits.clone(), clock);
            let bindings = wit::Transfer::instantiate(&mut store, &component, &linker)
                .map_err(err(Phase::Instantiate))?;
            Ok(Component {
                store,
                bindings,
                request: &wit_request,
                last: Vec::new(),
            })
        },
        |_, _| {},
    );

    let mut run = super::new_run(NAME);
    run.plugin = super::plugin_info(
        name,
        "bundled:drug-checker-ways, bundled:transfer-component",
        super::batching::PLUGIN_WASM,
        "check_interactions,check_msgpack,check-interactions",
        serde_json::to_vec(&request).map_or(0, |v| v.len() as u64),
        output_bytes,
    );
    run.settings = super::settings([("medications", json!(request.medications))]);
    runner.finish_runs(&mut run, &cfg.runs, setup, |_| (0, 0));
    let (summary, verdicts) = conclude(&run.variants, &run.pairs);
    run.summary = summary;
    run.verdicts = verdicts;
    run.notes.push(format!(
        "{found} interactions found for {:?}, the same by every way (checked before and after timing); every way ends with the answers as host values",
        request.medications
    ));
    run.notes.push("the component's phases come from a call hook at each entry into and exit from wasm: its call row includes the hook's cost (two clock reads), which the core ways do not pay".into());
    Ok(run)
}

/// The reference study's table: each way's overhead over native, and
/// against JSON's.
fn conclude(variants: &[Variant], pairs: &[Pair]) -> (Option<crate::run::Summary>, Vec<String>) {
    let fmt = crate::units::fmt_ns;
    let Some(native) = p50(variants, "native") else {
        return (None, Vec::new());
    };
    let over = |way: &str| super::overhead::overhead(variants, pairs, way, "native");
    let json_over = over("json").map(|o| o.ns);
    let mut all_paired = true;
    let mut rows = Vec::new();
    let mut verdicts = Vec::new();
    for (way, guess) in [
        ("json", None),
        ("msgpack", Some(crate::study::MSGPACK_GUESS_PCT)),
        ("component", Some(crate::study::COMPONENT_GUESS_PCT)),
    ] {
        let (Some(t), Some(o)) = (p50(variants, way), over(way)) else {
            continue;
        };
        all_paired &= o.paired;
        let over = o.ns;
        let vs_json = json_over
            .filter(|j| *j > 0.0)
            .map(|j| 100.0 * (over - j) / j);
        rows.push(vec![
            way.to_owned(),
            fmt(t),
            fmt(native),
            crate::units::fmt_delta_ns(over),
            vs_json.map_or("-".into(), |p| format!("{p:+.0} %")),
            guess.map_or("-".into(), |g| format!("-{g} %")),
        ]);
        if let (Some(p), Some(g)) = (vs_json, guess) {
            verdicts.push(format!(
                "{way}: {p:+.0} % of JSON's overhead ({} against {}); {} guessed -{g} %",
                fmt(over),
                fmt(json_over.unwrap_or(0.0)),
                crate::study::NAME
            ));
        }
    }
    let summary = (!rows.is_empty()).then(|| crate::run::Summary {
        title: format!(
            "drug check per call, median: each way's overhead over native, and against JSON's; {}",
            super::overhead::how(all_paired)
        ),
        columns: [
            "way",
            "wasm",
            "native",
            "overhead",
            "vs json",
            "the study's guess",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    });
    (summary, verdicts)
}
