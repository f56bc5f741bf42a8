//! `wprof record host-functions`: the seed study's patient-record case
//! (its Optimization 2). A record of lab values is analysed natively, in
//! wasm after being passed in as JSON, and in wasm after the guest fetched
//! it through host functions that copy the values as they lie in host
//! memory, with no codec (plugins/transfer: `analyze_json`, `analyze_pull`).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use wasmtime::Engine;

use super::data_transfer::{HostData, PLUGIN_WASM, linker};
use super::hot_path::{Marks, Target};
use super::timed::{Budget, Recorded, Timed, named, p50, settle, time_target};
use crate::error::{Error, one_line};
use crate::host::{self, CallError, Limits, Plugin, at};
use crate::measure::{self, Clock, ClockChoice};
use crate::phase::Phase;
use crate::run::{Run, Variant};

/// The scenario's name, as given to `wprof record`.
pub const NAME: &str = "host-functions";

/// The patient every call asks for.
const PATIENT: u32 = 7;

/// Settings of `wprof record host-functions`.
#[derive(Debug, Clone, PartialEq)]
pub struct HostFunctionsConfig {
    /// Size of the record's lab values in bytes (8 per value). Default:
    /// 1 MB, the seed's.
    pub record_bytes: u64,
    /// How long each variant is measured once it has `min_calls`.
    /// Default: 500 ms.
    pub time_per_variant: Duration,
    /// Fewest measured calls per variant. Default: 10.
    pub min_calls: u64,
    /// Most measured calls per variant. Default: 100 000.
    pub max_calls: u64,
    /// Clock. Default: auto (the TSC where invariant).
    pub clock: ClockChoice,
    /// Calls per variant drawn into the Chrome trace. Default: 5.
    pub trace_calls: u64,
    /// What the plugin may grow to, and the per-call deadline. Default:
    /// [`Limits::default`].
    pub limits: Limits,
}

impl Default for HostFunctionsConfig {
    fn default() -> Self {
        HostFunctionsConfig {
            record_bytes: 1_000_000,
            time_per_variant: Duration::from_millis(500),
            min_calls: 10,
            max_calls: 100_000,
            clock: ClockChoice::Auto,
            trace_calls: 5,
            limits: Limits::default(),
        }
    }
}

/// Lab values: the same on every run, mostly normal, some above
/// [`transfer::ABNORMAL`].
pub fn labs(n: usize) -> Vec<f64> {
    let mut rng = crate::stats::Rng::new(0x1ab5 ^ n as u64);
    (0..n)
        .map(|_| 60.0 + (rng.next_u64() % 10_000) as f64 / 100.0)
        .collect()
}

/// The record as the JSON way's host writes it (the same JSON as
/// `transfer::PatientRecord`, borrowing the values).
#[derive(serde::Serialize)]
struct RecordRef<'a> {
    patient_id: u32,
    labs: &'a [f64],
}

/// The analysis on the host's values in place.
struct Native<'a> {
    labs: &'a [f64],
    last: Option<transfer::Analysis>,
}

impl Target for Native<'_> {
    const PHASES: &'static [Phase] = &[Phase::Execute];

    #[inline(always)]
    fn call_marked<M: Marks>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        let a = black_box(transfer::analyze(
            PATIENT,
            black_box(self.labs).iter().copied(),
        ));
        m.mark(1);
        self.last = Some(a);
        Ok(())
    }
}

/// The JSON way (`pull == false`) or the host-function way.
struct Wasm<'a> {
    plugin: Plugin,
    pull: bool,
    labs: &'a [f64],
    encoded: Vec<u8>,
    last: Option<transfer::Analysis>,
}

impl Target for Wasm<'_> {
    const PHASES: &'static [Phase] = &Phase::WASM_CALL;

    #[inline(always)]
    fn call_marked<M: Marks>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        self.encoded.clear();
        if self.pull {
            serde_json::to_writer(
                &mut self.encoded,
                &transfer::PatientRequest {
                    patient_id: PATIENT,
                },
            )
        } else {
            serde_json::to_writer(
                &mut self.encoded,
                &RecordRef {
                    patient_id: PATIENT,
                    labs: self.labs,
                },
            )
        }
        .map_err(at(Phase::Encode))?;
        m.mark(1);
        let buf = self.plugin.copy_in(&self.encoded)?;
        m.mark(2);
        let packed = self.plugin.execute(buf)?;
        m.mark(3);
        let out = self.plugin.copy_out(packed)?;
        m.mark(4);
        let a: transfer::Analysis =
            serde_json::from_slice(&self.plugin.output).map_err(at(Phase::Decode))?;
        m.mark(5);
        self.plugin.free(out)?;
        m.mark(6);
        self.last = Some(a);
        Ok(())
    }
}

/// Runs the host-functions scenario.
pub fn run(cfg: &HostFunctionsConfig) -> Result<Run, Error> {
    let kind = cfg.clock.resolve().map_err(Error::Config)?;
    measure::with_clock!(kind, |clock| run_with(clock, cfg))
}

fn run_with<C: Clock>(clock: C, cfg: &HostFunctionsConfig) -> Result<Run, Error> {
    let wall = Instant::now();
    let started_at = super::now_rfc3339();
    let name = "transfer";
    let n = (cfg.record_bytes / 8) as usize;
    if n == 0 {
        return Err(Error::Config(
            "--record-size must be at least 8 bytes (one lab value)".into(),
        ));
    }
    // JSON text of a value is up to ~20 bytes: the JSON way's input.
    let needs = cfg.record_bytes.saturating_mul(3);
    if let Some(limit) = cfg.limits.memory_bytes
        && needs > limit as u64
    {
        return Err(Error::Config(format!(
            "a record of {} bytes is too large for the {} MiB linear-memory limit: the JSON way needs about {needs} bytes (raise --memory-limit)",
            cfg.record_bytes,
            limit >> 20
        )));
    }
    let values: Arc<[f64]> = labs(n).into();
    let expected = transfer::analyze(PATIENT, values.iter().copied());
    let budget = Budget {
        min: cfg.min_calls,
        max: cfg.max_calls,
        time: cfg.time_per_variant,
    };
    let _watch = crate::watchdog::watch(name, cfg.limits.deadline);
    let engine = Engine::default();
    let loaded = host::load(name, &engine, PLUGIN_WASM, Vec::new())?;

    let mut recorded: Vec<Recorded> = Vec::new();
    let mut failures = Vec::new();
    let mut native = Native {
        labs: &values,
        last: None,
    };
    let t = time_target(&clock, &mut native, 2, budget).map_err(|e| e.into_error(name))?;
    recorded.push(Recorded::new(
        named(
            "native",
            "native: the analysis on the host's values in place",
        ),
        t,
        Native::PHASES,
    ));
    let mut input_bytes = 0;
    for pull in [false, true] {
        let label = if pull { "host-fn" } else { "json" };
        let data = HostData {
            patient: (PATIENT, values.clone()),
            ..HostData::default()
        };
        let result = (|| -> Result<(Timed, usize), CallError> {
            let link = linker(&engine, &data)?;
            let export = if pull { "analyze_pull" } else { "analyze_json" };
            let plugin = Plugin::linked(&link, &loaded.module, export, cfg.limits.clone())
                .map_err(at(Phase::Instantiate))?;
            let _ = data.memory.set(plugin.memory());
            let mut w = Wasm {
                plugin,
                pull,
                labs: &values,
                encoded: Vec::new(),
                last: None,
            };
            w.call()?;
            let t = time_target(&clock, &mut w, Wasm::PHASES.len() + 1, budget)?;
            if w.last.as_ref() != Some(&expected) {
                return Err(at(Phase::Decode)(anyhow::anyhow!(
                    "the analysis {:?} differs from native's {expected:?}",
                    w.last
                )));
            }
            Ok((t, w.encoded.len()))
        })();
        match result {
            Ok((t, sent)) => {
                if !pull {
                    input_bytes = sent as u64;
                }
                let description = if pull {
                    "host functions: a {\"patient_id\": n} request in JSON; the guest asks patient_len, then read_patient copies the host's values into its buffer (inside execute), no codec; the answer in JSON"
                } else {
                    "JSON: the host serialises the whole record ({\"patient_id\", \"labs\": [...]}), the guest parses it; the answer in JSON"
                };
                let mut v = named(label, description);
                v.facts.insert("input_bytes".into(), json!(sent));
                recorded.push(Recorded::new(v, t, Wasm::PHASES));
            }
            Err(e) => failures.push(crate::run::Failure {
                variant: label.to_owned(),
                phase: e.phase,
                cause: one_line(&e.error),
            }),
        }
    }

    let (variants, timeline) = settle(recorded, clock.ns_per_tick(), cfg.trace_calls, |_| (0, 0));
    let (summary, verdicts) = conclude(&variants);

    let mut run = super::new_run(NAME, started_at);
    run.wall_s = wall.elapsed().as_secs_f64();
    run.plugin = super::plugin_info(
        name,
        "bundled:transfer",
        PLUGIN_WASM,
        "analyze_json,analyze_pull",
        input_bytes,
        serde_json::to_vec(&expected).map_or(0, |v| v.len() as u64),
    );
    run.plugin.outputs_identical = Some(failures.is_empty());
    run.settings = super::settings([
        ("record_bytes", json!(cfg.record_bytes)),
        ("lab_values", json!(n)),
        (
            "time_per_variant",
            json!(humantime::format_duration(cfg.time_per_variant).to_string()),
        ),
        ("min_calls", json!(cfg.min_calls)),
        ("max_calls", json!(cfg.max_calls)),
    ]);
    run.setup = loaded.setup.clone();
    super::timed::fill(&mut run, &clock, variants, timeline);
    run.summary = summary;
    run.verdicts = verdicts;
    run.failures = failures;
    run.notes.push(format!(
        "one patient, {n} lab values ({} bytes as f64); every call's analysis is checked against native's",
        n * 8
    ));
    Ok(run)
}

/// The seed's comparison: each way's median call and overhead over native,
/// and how much of JSON's overhead the host functions remove.
fn conclude(variants: &[Variant]) -> (Option<crate::run::Summary>, Vec<String>) {
    let fmt = super::super::export::fmt_ns;
    let Some(native) = p50(variants, "native") else {
        return (None, Vec::new());
    };
    let mut rows = Vec::new();
    let mut over = Vec::new();
    for way in ["json", "host-fn"] {
        let Some(t) = p50(variants, way) else {
            continue;
        };
        let o = t - native;
        over.push((way, o));
        rows.push(vec![
            way.to_owned(),
            fmt(t),
            fmt(native),
            format!("{}{}", if o < 0.0 { "-" } else { "+" }, fmt(o.abs())),
            format!("{:+.1} %", 100.0 * o / native),
        ]);
    }
    let mut verdicts: Vec<String> = over
        .iter()
        .map(|(way, o)| {
            format!(
                "{way}: {} over native ({:+.1} %; the seed: {})",
                fmt(*o),
                100.0 * o / native,
                if *way == "json" {
                    "+402 µs, +28.3 % for 1 MB"
                } else {
                    "+35 µs, +2.5 %"
                }
            )
        })
        .collect();
    if let [("json", j), ("host-fn", h)] = over[..]
        && j > 0.0
    {
        verdicts.push(if h > 0.0 {
            format!(
                "host functions remove {:.1} % of JSON's overhead (the seed: 91 %)",
                100.0 * (1.0 - h / j)
            )
        } else {
            format!(
                "host functions remove all of JSON's overhead: the wasm call is {} faster than native (the seed: 91 % removed)",
                fmt(-h)
            )
        });
    }
    let summary = (!rows.is_empty()).then(|| crate::run::Summary {
        title: "per call, median, against native".into(),
        columns: ["way", "wasm", "native", "overhead", "overhead %"]
            .map(String::from)
            .to_vec(),
        rows,
    });
    (summary, verdicts)
}
