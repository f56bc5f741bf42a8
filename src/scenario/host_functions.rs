//! `wprof record host-functions`: the reference study's patient-record case
//! (its Optimization 2). A record of lab values is analysed natively, in
//! wasm after being passed in as JSON, and in wasm after the guest fetched
//! it through host functions that copy the values as they lie in host
//! memory, with no codec (plugins/transfer: `analyze_json`, `analyze_pull`).

use std::hint::black_box;
use std::sync::Arc;

use serde_json::json;

use super::data_transfer::PLUGIN_WASM;
use super::runner::{Native, Outcome, Runner, Runs, differs_debug, way};
use crate::driver::call::{Codec, Coded};
use crate::driver::wasmtime::WasmtimeDriver;
use crate::driver::wprof::{Wprof, WprofInstance};
use crate::driver::wprof_host::{HostData, linker};
use crate::driver::{Driver, Limits};
use crate::error::Error;
use crate::run::{Run, Variant};
use crate::timing::Clock;
use crate::timing::settle::{named, p50};

/// The scenario's name, as given to `wprof record`.
pub const NAME: &str = "host-functions";

/// The patient every call asks for.
const PATIENT: u32 = 7;

/// Settings of `wprof record host-functions`.
#[derive(Debug, Clone, PartialEq)]
pub struct HostFunctionsConfig {
    /// Size of the record's lab values in bytes (8 per value). Default:
    /// 1 MB, the reference study's.
    pub record_bytes: u64,
    /// How long each variant is measured, and on what clock. Default: 500 ms
    /// once there are 10 calls, at most 100 000, 5 traced.
    pub runs: Runs,
    /// What the plugin may grow to, and the per-call deadline. Default:
    /// [`Limits::default`].
    pub limits: Limits,
}

impl Default for HostFunctionsConfig {
    fn default() -> Self {
        HostFunctionsConfig {
            record_bytes: 1_000_000,
            runs: Runs::new(500, 10, 100_000, 5),
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

/// An analysis as the host received it, in JSON: comparable, printable.
#[derive(Debug, Clone, Default, PartialEq)]
struct Answer(String);

impl Answer {
    fn of(a: &Option<transfer::Analysis>) -> Answer {
        Answer(serde_json::to_string(a).unwrap_or_default())
    }
}

impl Outcome for Answer {
    fn differs(&self, reference: &Self) -> Option<String> {
        differs_debug(self, reference)
    }
}

/// The JSON way's codec (`pull == false`), or the host-function way's.
struct RecordCodec<'a> {
    pull: bool,
    labs: &'a [f64],
    last: Option<transfer::Analysis>,
}

impl Codec for RecordCodec<'_> {
    #[inline(always)]
    fn encode(&mut self, buf: &mut Vec<u8>) -> anyhow::Result<()> {
        if self.pull {
            serde_json::to_writer(
                buf,
                &transfer::PatientRequest {
                    patient_id: PATIENT,
                },
            )?;
        } else {
            serde_json::to_writer(
                buf,
                &RecordRef {
                    patient_id: PATIENT,
                    labs: self.labs,
                },
            )?;
        }
        Ok(())
    }

    #[inline(always)]
    fn decode(&mut self, out: &[u8]) -> anyhow::Result<()> {
        self.last = Some(serde_json::from_slice(out)?);
        Ok(())
    }
}

/// The JSON way or the host-function way: the plugin called through its codec.
type Wasm<'a> = Coded<WprofInstance, RecordCodec<'a>>;

way!(Wasm<'_> => Answer, Decode, |w| Answer::of(&w.codec.last));

super::runner::boundary!(HostFunctionsConfig, run_with);

fn run_with<C: Clock>(clock: C, cfg: &HostFunctionsConfig) -> Result<Run, Error> {
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
    let _watch = crate::watchdog::watch(name, cfg.limits.deadline);
    let driver = WasmtimeDriver::<Wprof>::default();
    let mut setup = Vec::new();
    let module = driver.load(name, PLUGIN_WASM, &mut setup)?;
    let mut runner = Runner::new(&clock, cfg.runs.budget());
    let native = Native::new(
        || {
            Ok(black_box(transfer::analyze(
                PATIENT,
                black_box(&values).iter().copied(),
            )))
        },
        |a: &transfer::Analysis| Answer(serde_json::to_string(a).unwrap_or_default()),
    );
    runner.reference(
        name,
        named(
            "native",
            "native: the analysis on the host's values in place",
        ),
        native,
    )?;
    let expected_bytes = runner.expected().map_or(0, |a| a.0.len() as u64);
    let mut input_bytes = 0;
    for pull in [false, true] {
        let label = if pull { "host-fn" } else { "json" };
        let data = HostData {
            patient: (PATIENT, values.clone()),
            ..HostData::default()
        };
        let description = if pull {
            "host functions: a {\"patient_id\": n} request in JSON; the guest asks patient_len, then read_patient copies the host's values into its buffer (inside execute), no codec; the answer in JSON"
        } else {
            "JSON: the host serialises the whole record ({\"patient_id\", \"labs\": [...]}), the guest parses it; the answer in JSON"
        };
        runner.way(
            named(label, description),
            || {
                let link = linker(driver.engine(), &data)?;
                let export = if pull { "analyze_pull" } else { "analyze_json" };
                let plugin = WasmtimeDriver::<Wprof>::instantiate_linked(
                    &link,
                    &module,
                    export,
                    &cfg.limits,
                )?;
                let _ = data.memory.set(plugin.memory());
                Ok(Wasm::new(
                    plugin,
                    RecordCodec {
                        pull,
                        labs: &values,
                        last: None,
                    },
                ))
            },
            |w, r| {
                let sent = w.encoded.len();
                if !pull {
                    input_bytes = sent as u64;
                }
                r.variant.facts.insert("input_bytes".into(), json!(sent));
            },
        );
    }

    let mut run = super::new_run(NAME);
    run.plugin = super::plugin_info(
        name,
        "bundled:transfer",
        PLUGIN_WASM,
        "analyze_json,analyze_pull",
        input_bytes,
        expected_bytes,
    );
    run.settings = super::settings([
        ("record_bytes", json!(cfg.record_bytes)),
        ("lab_values", json!(n)),
    ]);
    runner.finish_runs(&mut run, &cfg.runs, setup, |_| (0, 0));
    let (summary, verdicts) = conclude(&run.variants, &run.pairs, cfg.record_bytes);
    run.summary = summary;
    run.verdicts = verdicts;
    run.notes.push(format!(
        "one patient, {n} lab values ({} bytes as f64); every way's analysis is checked against native's, before and after timing",
        n * 8
    ));
    Ok(run)
}

/// The reference study's comparison: each way's median call and overhead over native,
/// and how much of JSON's overhead the host functions remove.
fn conclude(
    variants: &[Variant],
    pairs: &[crate::run::Pair],
    record_bytes: u64,
) -> (Option<crate::run::Summary>, Vec<String>) {
    use crate::study;
    let fmt = crate::units::fmt_ns;
    let Some(native) = p50(variants, "native") else {
        return (None, Vec::new());
    };
    // The study's figures are of a 1 MB record: quoted only for one.
    let study_record = record_bytes == study::RECORD_BYTES;
    let mut rows = Vec::new();
    let mut over = Vec::new();
    let mut all_paired = true;
    for way in ["json", "host-fn"] {
        let (Some(t), Some(o)) = (
            p50(variants, way),
            super::overhead::overhead(variants, pairs, way, "native"),
        ) else {
            continue;
        };
        all_paired &= o.paired;
        over.push((way, o.ns));
        rows.push(vec![
            way.to_owned(),
            fmt(t),
            fmt(native),
            crate::units::fmt_delta_ns(o.ns),
            format!("{:+.1} %", o.pct),
        ]);
    }
    let mut verdicts: Vec<String> = over
        .iter()
        .map(|(way, o)| {
            let (ns, pct) = if *way == "json" {
                study::RECORD_JSON_OVERHEAD
            } else {
                study::RECORD_HOST_FN_OVERHEAD
            };
            format!(
                "{way}: {} over native ({:+.1} %{})",
                fmt(*o),
                100.0 * o / native,
                if study_record {
                    format!("; {}: +{}, +{pct} % for 1 MB", study::NAME, fmt(ns))
                } else {
                    String::new()
                }
            )
        })
        .collect();
    let quoted = if study_record {
        format!(
            " ({}: {} %)",
            study::NAME,
            study::RECORD_HOST_FN_REMOVED_PCT
        )
    } else {
        String::new()
    };
    if let [("json", j), ("host-fn", h)] = over[..]
        && j > 0.0
    {
        verdicts.push(if h > 0.0 {
            format!(
                "host functions remove {:.1} % of JSON's overhead{quoted}",
                100.0 * (1.0 - h / j)
            )
        } else {
            format!(
                "host functions remove all of JSON's overhead: the wasm call is {} faster than native{quoted}",
                fmt(-h)
            )
        });
    }
    let summary = (!rows.is_empty()).then(|| crate::run::Summary {
        title: format!(
            "per call, median, against native; {}",
            super::overhead::how(all_paired)
        ),
        columns: ["way", "wasm", "native", "overhead", "overhead %"]
            .map(String::from)
            .to_vec(),
        rows,
    });
    (summary, verdicts)
}
