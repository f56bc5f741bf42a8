//! `wprof record batching`: N separate calls against one call carrying N
//! items (the reference study's Optimization 1), in wasm and natively.
//!
//! The drug checker's request (the bundled input) is checked N times:
//! `check_interactions` once per item, or `check_batch` once on a JSON array
//! of the N requests (plugins/drug-checker-ways, the same source as
//! drug-checker with its batch export). An iteration is all N items; the
//! separate way's phases are the sums over its N calls. Per-item cost is the
//! iteration over N; the overhead removed is how much of the separate way's
//! overhead over native the batch no longer pays.

use std::hint::black_box;
use std::path::PathBuf;

use serde_json::{Value, json};

use super::overhead::{Overhead, overhead};
use super::runner::{Outcome, Runner, Runs, way};
use crate::driver::call::{Codec, Coded};
use crate::driver::wasmtime::WasmtimeDriver;
use crate::driver::wprof::{Wprof, WprofInstance};
use crate::driver::{Driver, Instance, Limits};
use crate::error::{CallError, Error, at};
use crate::phase::Phase;
use crate::run::{Pair, Run, Variant};
use crate::timing::Clock;
use crate::timing::settle::p50;
use crate::timing::target::{Marks, Target};

/// The scenario's name, as given to `wprof record`.
pub const NAME: &str = "batching";

/// drug-checker with its batch and MessagePack exports.
pub const PLUGIN_WASM: &[u8] =
    include_bytes!("../../plugins/drug-checker-ways/drug-checker-ways.wasm");

/// Settings of `wprof record batching`.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchingConfig {
    /// A module with the drug checker's `check_interactions` and
    /// `check_batch` exports (the wprof ABI). Default: none, the bundled
    /// drug-checker-ways.
    pub plugin: Option<PathBuf>,
    /// Items per iteration: separate calls, or the length of one batch.
    /// Default: 100 (the reference study's).
    pub items: u64,
    /// How long each variant is measured (a run is one iteration of `items`
    /// items), and on what clock. Default: 500 ms once there are 10, at
    /// most 100 000, 5 traced.
    pub runs: Runs,
    /// What the plugin may grow to, and the per-call deadline. Default:
    /// [`Limits::default`].
    pub limits: Limits,
}

impl Default for BatchingConfig {
    fn default() -> Self {
        BatchingConfig {
            plugin: None,
            items: 100,
            runs: Runs::new(500, 10, 100_000, 5),
            limits: Limits::default(),
        }
    }
}

/// Accumulates phase durations over several calls, then hands them on as
/// one row whose phase widths are the sums (the few ticks between calls,
/// loop bookkeeping, are in no phase).
struct Sums<C> {
    clock: C,
    start: u64,
    last: u64,
    sums: [u64; 8],
}

impl<C: Clock> Sums<C> {
    fn new(clock: C) -> Self {
        let start = clock.now();
        Sums {
            clock,
            start,
            last: start,
            sums: [0; 8],
        }
    }

    /// The row: the start, then each phase's end as if the phases of all
    /// the calls had run back to back.
    fn write<M: Marks + ?Sized>(&self, phases: usize, m: &mut M) {
        let mut t = self.start;
        m.set(0, t);
        for k in 1..=phases {
            t += self.sums[k - 1];
            m.set(k, t);
        }
    }
}

impl<C: Clock> Marks for Sums<C> {
    #[inline(always)]
    fn mark(&mut self, k: usize) {
        let now = self.clock.now();
        if k > 0 {
            self.sums[k - 1] += now - self.last;
        }
        self.last = now;
    }
}

/// Each item's answer, as the host decoded it: kept (the previous
/// iteration's dropped in its place, inside decode, as a plain decode would
/// drop it) so that every answer is compared with native's.
#[derive(Debug, Clone, PartialEq)]
struct Answers {
    values: Vec<Value>,
    /// Whether one answer (an array) answers every item.
    batched: bool,
    /// The item the next separate answer is for.
    next: usize,
}

impl Answers {
    fn new(items: u64, batched: bool) -> Self {
        Answers {
            values: vec![Value::Null; items as usize],
            batched,
            next: 0,
        }
    }

    /// Keeps `value`, the answer to the next item (or, batched, to all of
    /// them: one array).
    #[inline(always)]
    fn keep(&mut self, value: Value) {
        if self.batched {
            let old = std::mem::replace(
                &mut self.values,
                match value {
                    Value::Array(items) => items,
                    other => vec![other],
                },
            );
            drop(black_box(old));
        } else if let Some(slot) = self.values.get_mut(self.next) {
            drop(black_box(std::mem::replace(slot, value)));
            self.next += 1;
        }
    }
}

impl Outcome for Answers {
    fn differs(&self, reference: &Answers) -> Option<String> {
        if self.values.len() != reference.values.len() {
            return Some(format!(
                "{} answers for {} items",
                self.values.len(),
                reference.values.len()
            ));
        }
        let (i, (got, want)) = self
            .values
            .iter()
            .zip(&reference.values)
            .enumerate()
            .find(|(_, (a, b))| a != b)?;
        let short = |v: &Value| {
            let t = v.to_string();
            if t.len() > 80 {
                format!(
                    "{}...",
                    &t[..t.char_indices().nth(80).map_or(t.len(), |c| c.0)]
                )
            } else {
                t
            }
        };
        Some(format!(
            "item {i} answered {}, where native answered {}",
            short(got),
            short(want)
        ))
    }
}

/// A call that answers items: its answers so far.
trait Answering: Target {
    fn answers(&self) -> &Answers;
    fn answers_mut(&mut self) -> &mut Answers;
}

/// A wasm call's codec: one request (separate) or the array of N (batched)
/// in JSON, and the answers decoded.
struct AnswerCodec<'a> {
    input: &'a Value,
    answers: Answers,
}

impl Codec for AnswerCodec<'_> {
    #[inline(always)]
    fn encode(&mut self, buf: &mut Vec<u8>) -> anyhow::Result<()> {
        serde_json::to_writer(buf, self.input)?;
        Ok(())
    }

    #[inline(always)]
    fn decode(&mut self, out: &[u8]) -> anyhow::Result<()> {
        self.answers.keep(serde_json::from_slice(out)?);
        Ok(())
    }
}

/// One call in wasm.
type WasmCall<'a> = Coded<WprofInstance, AnswerCodec<'a>>;

impl Answering for WasmCall<'_> {
    fn answers(&self) -> &Answers {
        &self.codec.answers
    }
    fn answers_mut(&mut self) -> &mut Answers {
        &mut self.codec.answers
    }
}

/// The same call, natively.
struct NativeCall<'a> {
    input: &'a Value,
    encoded: Vec<u8>,
    answers: Answers,
}

/// A native call's phases.
const NATIVE_PHASES: [Phase; 3] = [Phase::Encode, Phase::Execute, Phase::Decode];

impl Target for NativeCall<'_> {
    fn phases(&self) -> &'static [Phase] {
        &NATIVE_PHASES
    }

    #[inline(always)]
    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        self.encoded.clear();
        serde_json::to_writer(&mut self.encoded, self.input).map_err(at(Phase::Encode))?;
        m.mark(1);
        let out = if self.answers.batched {
            drug_checker::check_batch_json(&self.encoded)
        } else {
            drug_checker::check_json(&self.encoded)
        }
        .map_err(|e| {
            at(Phase::Execute)(anyhow::anyhow!("the native build returned an error: {e}"))
        })?;
        m.mark(2);
        let value: Value = serde_json::from_slice(&out).map_err(at(Phase::Decode))?;
        self.answers.keep(value);
        drop(black_box(out));
        m.mark(3);
        Ok(())
    }
}

impl Answering for NativeCall<'_> {
    fn answers(&self) -> &Answers {
        &self.answers
    }
    fn answers_mut(&mut self) -> &mut Answers {
        &mut self.answers
    }
}

/// One timed run: one iteration of the items, `calls` calls of `call`
/// (N separate, or one batched), each phase's width summed over them.
struct Iteration<C, T> {
    clock: C,
    call: T,
    calls: u64,
}

impl<C: Clock, T: Answering> Target for Iteration<C, T> {
    fn phases(&self) -> &'static [Phase] {
        self.call.phases()
    }

    #[inline(always)]
    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError> {
        self.call.answers_mut().next = 0;
        let mut s = Sums::new(self.clock);
        for _ in 0..self.calls {
            self.call.call_marked(&mut s)?;
        }
        s.write(self.call.phases().len(), m);
        Ok(())
    }

    #[inline(always)]
    fn call(&mut self) -> Result<(), CallError> {
        self.call.answers_mut().next = 0;
        for _ in 0..self.calls {
            self.call.call()?;
        }
        Ok(())
    }
}

way!(impl[C: Clock, T: Answering] Iteration<C, T> => Answers, Decode, |w| w.call.answers().clone());

super::runner::boundary!(BatchingConfig, run_with);

fn run_with<C: Clock>(clock: C, cfg: &BatchingConfig) -> Result<Run, Error> {
    if cfg.items == 0 {
        return Err(Error::Config("--items must be at least 1".into()));
    }
    let (name, source, bytes) = match &cfg.plugin {
        None => (
            "drug-checker-ways".to_owned(),
            "bundled:drug-checker-ways".to_owned(),
            PLUGIN_WASM.to_vec(),
        ),
        Some(path) => {
            let p = crate::source::PluginSpec::File(path.clone()).resolve()?;
            (p.name, p.source, p.bytes)
        }
    };
    let name = name.as_str();
    let bundled = crate::bundled::by_name("drug-checker")
        .ok_or_else(|| Error::Config("drug-checker is not bundled".into()))?;
    let request: Value = serde_json::from_str(bundled.input)
        .map_err(|e| Error::plugin(name, Phase::Encode, format!("bundled input: {e}")))?;
    let batch = Value::Array(vec![request.clone(); cfg.items as usize]);
    let _watch = crate::watchdog::watch(name, cfg.limits.deadline);
    let driver = WasmtimeDriver::<Wprof>::default();
    let mut setup = Vec::new();
    let module = driver.load(name, &bytes, &mut setup)?;
    let mut runner = Runner::new(&clock, cfg.runs.budget());
    let mut output_bytes = 0;
    for batched in [false, true] {
        let (label, export, input) = if batched {
            ("batched", "check_batch", &batch)
        } else {
            ("separate", "check_interactions", &request)
        };
        let calls = if batched { 1 } else { cfg.items };
        let native = Iteration {
            clock,
            call: NativeCall {
                input,
                encoded: Vec::new(),
                answers: Answers::new(cfg.items, batched),
            },
            calls,
        };
        runner.reference(
            name,
            variant(
                &format!("native {label}"),
                batched,
                cfg.items,
                &format!(
                    "native (the same source linked into wprof): {}",
                    describe(batched, cfg.items)
                ),
            ),
            native,
        )?;
        runner.way(
            variant(
                &format!("wasm {label}"),
                batched,
                cfg.items,
                &format!("wasm (Cranelift): {}", describe(batched, cfg.items)),
            ),
            || {
                let codec = AnswerCodec {
                    input,
                    answers: Answers::new(cfg.items, batched),
                };
                Ok(Iteration {
                    clock,
                    call: WasmCall::new(driver.instantiate(&module, export, &cfg.limits)?, codec),
                    calls,
                })
            },
            |w, _| {
                if !batched {
                    output_bytes = w.call.instance.output().len() as u64;
                }
            },
        );
        if crate::interrupt::requested() {
            break;
        }
    }

    let mut run = super::new_run(NAME);
    run.plugin = super::plugin_info(
        name,
        &source,
        &bytes,
        "check_interactions,check_batch",
        serde_json::to_vec(&request).map_or(0, |v| v.len() as u64),
        output_bytes,
    );
    run.settings = super::settings([("items", json!(cfg.items))]);
    runner.finish_runs(&mut run, &cfg.runs, setup, |_| (0, 0));
    for v in &mut run.variants {
        if let Some(whole) = v.phases.last() {
            let per_item = whole.stats.p50_ns / cfg.items as f64;
            v.facts.insert("per_item_ns".into(), json!(per_item));
        }
    }
    run.verdicts = verdicts(&run.variants, &run.pairs, cfg.items);
    run.summary = summary(&run.variants, &run.pairs, cfg.items);
    run.notes.push(format!(
        "an iteration is {} items; a separate way's phases are sums over its {} calls (the few nanoseconds between calls are in no phase, so its call row is the sum of its phases); every item is the bundled drug-checker input; every answer of each wasm way is compared with native's, before and after timing",
        cfg.items, cfg.items
    ));
    run.incomplete = crate::interrupt::requested();
    if run.incomplete {
        run.notes.push(crate::interrupt::note("between variants"));
    }
    Ok(run)
}

fn describe(batched: bool, items: u64) -> String {
    if batched {
        format!("one check_batch call on a JSON array of {items} requests")
    } else {
        format!("{items} check_interactions calls, one request each")
    }
}

fn variant(name: &str, batched: bool, items: u64, description: &str) -> Variant {
    let mut v = Variant {
        name: name.to_owned(),
        description: description.to_owned(),
        ..Variant::default()
    };
    v.facts.insert("items".into(), json!(items));
    v.facts
        .insert("calls".into(), json!(if batched { 1 } else { items }));
    v
}

/// A way's overhead over native per iteration (`separate`, `batched`).
fn way_overhead(variants: &[Variant], pairs: &[Pair], way: &str) -> Option<Overhead> {
    overhead(
        variants,
        pairs,
        &format!("wasm {way}"),
        &format!("native {way}"),
    )
}

/// Overheads over native per iteration, separate and batched.
fn overheads(variants: &[Variant], pairs: &[Pair]) -> Option<(f64, f64)> {
    Some((
        way_overhead(variants, pairs, "separate")?.ns,
        way_overhead(variants, pairs, "batched")?.ns,
    ))
}

fn summary(variants: &[Variant], pairs: &[Pair], items: u64) -> Option<crate::run::Summary> {
    let fmt = crate::units::fmt_ns;
    let mut rows = Vec::new();
    let mut all_paired = true;
    for way in ["separate", "batched"] {
        let (Some(w), Some(n), Some(o)) = (
            p50(variants, &format!("wasm {way}")),
            p50(variants, &format!("native {way}")),
            way_overhead(variants, pairs, way),
        ) else {
            continue;
        };
        all_paired &= o.paired;
        rows.push(vec![
            way.to_owned(),
            fmt(w),
            fmt(w / items as f64),
            fmt(n),
            fmt(n / items as f64),
            format!(
                "{}{}",
                if o.ns < 0.0 { "-" } else { "+" },
                fmt(o.ns.abs() / items as f64)
            ),
            format!("{:+.1} %", o.pct),
        ]);
    }
    (!rows.is_empty()).then(|| crate::run::Summary {
        title: format!(
            "{items} items, median per iteration and per item; {}",
            super::overhead::how(all_paired)
        ),
        columns: [
            "way",
            "wasm",
            "wasm/item",
            "native",
            "native/item",
            "overhead/item",
            "overhead %",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}

fn verdicts(variants: &[Variant], pairs: &[Pair], items: u64) -> Vec<String> {
    use crate::study;
    let fmt = crate::units::fmt_ns;
    let Some((separate, batched)) = overheads(variants, pairs) else {
        return Vec::new();
    };
    let mut out = vec![format!(
        "overhead over native per item: {} separate, {} batched",
        fmt(separate / items as f64),
        fmt(batched / items as f64)
    )];
    // The study batched 100 items: its figure is quoted for 100 only.
    let quoted = if items == study::BATCH_ITEMS {
        format!("; {}: {} %", study::NAME, study::BATCH_REMOVED_PCT)
    } else {
        String::new()
    };
    if separate > 0.0 && batched > 0.0 {
        out.push(format!(
            "batching {items} items removes {:.1} % of the per-call overhead ({} of {} per iteration{quoted})",
            100.0 * (1.0 - batched / separate),
            fmt(separate - batched),
            fmt(separate)
        ));
    } else if separate > 0.0 {
        out.push(format!(
            "batching {items} items removes all of the per-call overhead: batched, wasm is {} an iteration faster than native's batch{}",
            fmt(-batched),
            if quoted.is_empty() {
                String::new()
            } else {
                format!(" ({}: {} % removed)", study::NAME, study::BATCH_REMOVED_PCT)
            }
        ));
    }
    out
}
