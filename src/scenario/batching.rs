//! `wprof record batching`: N separate calls against one call carrying N
//! items (the seed study's Optimization 1), in wasm and natively.
//!
//! The drug checker's request (the bundled input) is checked N times:
//! `check_interactions` once per item, or `check_batch` once on a JSON array
//! of the N requests (plugins/drug-checker-ways, the same source as
//! drug-checker with its batch export). An iteration is all N items; the
//! separate way's phases are the sums over its N calls. Per-item cost is the
//! iteration over N; the overhead removed is how much of the separate way's
//! overhead over native the batch no longer pays.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasmtime::Engine;

use super::hot_path::{Marks, Target};
use super::timed::{Budget, Recorded, p50, settle, time_target};
use crate::error::Error;
use crate::host::{self, CallError, Limits, Plugin, at};
use crate::measure::{self, Clock, ClockChoice};
use crate::phase::Phase;
use crate::run::{Run, Variant};

/// The scenario's name, as given to `wprof record`.
pub const NAME: &str = "batching";

/// drug-checker with its batch and MessagePack exports.
pub const PLUGIN_WASM: &[u8] =
    include_bytes!("../../plugins/drug-checker-ways/drug-checker-ways.wasm");

/// Settings of `wprof record batching`.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchingConfig {
    /// Items per iteration: separate calls, or the length of one batch.
    /// Default: 100 (the seed's).
    pub items: u64,
    /// How long each variant is measured once it has `min_iterations`.
    /// Default: 500 ms.
    pub time_per_variant: Duration,
    /// Fewest measured iterations per variant. Default: 10.
    pub min_iterations: u64,
    /// Most measured iterations per variant. Default: 100 000.
    pub max_iterations: u64,
    /// Clock. Default: auto (the TSC where invariant).
    pub clock: ClockChoice,
    /// Iterations per variant drawn into the Chrome trace. Default: 5.
    pub trace_iterations: u64,
    /// What the plugin may grow to, and the per-call deadline. Default:
    /// [`Limits::default`].
    pub limits: Limits,
}

impl Default for BatchingConfig {
    fn default() -> Self {
        BatchingConfig {
            items: 100,
            time_per_variant: Duration::from_millis(500),
            min_iterations: 10,
            max_iterations: 100_000,
            clock: ClockChoice::Auto,
            trace_iterations: 5,
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

    /// Boundary `k` of a call: 0 before its first phase.
    #[inline(always)]
    fn mark(&mut self, k: usize) {
        let now = self.clock.now();
        if k > 0 {
            self.sums[k - 1] += now - self.last;
        }
        self.last = now;
    }

    /// The row: the start, then each phase's end as if the phases of all
    /// the calls had run back to back.
    fn write<M: Marks>(&self, phases: usize, m: &mut M) {
        let mut t = self.start;
        m.set(0, t);
        for k in 1..=phases {
            t += self.sums[k - 1];
            m.set(k, t);
        }
    }
}

/// The N calls, or the one call, in wasm: one timed run is one iteration.
struct WasmWay<'a, C> {
    clock: C,
    plugin: Plugin,
    /// One request (separate) or the array of N (batched).
    input: &'a Value,
    items: u64,
    batched: bool,
    encoded: Vec<u8>,
    /// Items answered by the last iteration (checked after timing).
    answered: u64,
}

impl<C: Clock + Copy> Target for WasmWay<'_, C> {
    const PHASES: &'static [Phase] = &Phase::WASM_CALL;

    #[inline(always)]
    fn call_marked<M: Marks>(&mut self, m: &mut M) -> Result<(), CallError> {
        let calls = if self.batched { 1 } else { self.items };
        let mut s = Sums::new(self.clock);
        self.answered = 0;
        for _ in 0..calls {
            s.mark(0);
            self.encoded.clear();
            serde_json::to_writer(&mut self.encoded, self.input).map_err(at(Phase::Encode))?;
            s.mark(1);
            let buf = self.plugin.copy_in(&self.encoded)?;
            s.mark(2);
            let packed = self.plugin.execute(buf)?;
            s.mark(3);
            let out = self.plugin.copy_out(packed)?;
            s.mark(4);
            let value: Value =
                serde_json::from_slice(&self.plugin.output).map_err(at(Phase::Decode))?;
            self.answered += answers(&value, self.batched);
            drop(black_box(value));
            s.mark(5);
            self.plugin.free(out)?;
            s.mark(6);
        }
        s.write(Self::PHASES.len(), m);
        Ok(())
    }
}

/// The same, natively.
struct NativeWay<'a, C> {
    clock: C,
    input: &'a Value,
    items: u64,
    batched: bool,
    encoded: Vec<u8>,
    answered: u64,
}

impl<C: Clock + Copy> Target for NativeWay<'_, C> {
    const PHASES: &'static [Phase] = &[Phase::Encode, Phase::Execute, Phase::Decode];

    #[inline(always)]
    fn call_marked<M: Marks>(&mut self, m: &mut M) -> Result<(), CallError> {
        let calls = if self.batched { 1 } else { self.items };
        let mut s = Sums::new(self.clock);
        self.answered = 0;
        for _ in 0..calls {
            s.mark(0);
            self.encoded.clear();
            serde_json::to_writer(&mut self.encoded, self.input).map_err(at(Phase::Encode))?;
            s.mark(1);
            let out = if self.batched {
                drug_checker::check_batch_json(&self.encoded)
            } else {
                drug_checker::check_json(&self.encoded)
            }
            .map_err(|e| {
                at(Phase::Execute)(anyhow::anyhow!("the native build returned an error: {e}"))
            })?;
            s.mark(2);
            let value: Value = serde_json::from_slice(&out).map_err(at(Phase::Decode))?;
            self.answered += answers(&value, self.batched);
            drop(black_box(value));
            drop(black_box(out));
            s.mark(3);
        }
        s.write(Self::PHASES.len(), m);
        Ok(())
    }
}

/// Items an answer covers: a batch's length, or one.
fn answers(value: &Value, batched: bool) -> u64 {
    if batched {
        value.as_array().map_or(0, |a| a.len() as u64)
    } else {
        1
    }
}

/// Runs the batching scenario.
pub fn run(cfg: &BatchingConfig) -> Result<Run, Error> {
    let kind = cfg.clock.resolve().map_err(Error::Config)?;
    measure::with_clock!(kind, |clock| run_with(clock, cfg))
}

fn run_with<C: Clock + Copy>(clock: C, cfg: &BatchingConfig) -> Result<Run, Error> {
    let wall = Instant::now();
    let started_at = super::now_rfc3339();
    let name = "drug-checker-ways";
    if cfg.items == 0 {
        return Err(Error::Config("--items must be at least 1".into()));
    }
    let bundled = crate::bundled::by_name("drug-checker")
        .ok_or_else(|| Error::Config("drug-checker is not bundled".into()))?;
    let request: Value = serde_json::from_str(bundled.input)
        .map_err(|e| Error::plugin(name, Phase::Encode, format!("bundled input: {e}")))?;
    let batch = Value::Array(vec![request.clone(); cfg.items as usize]);
    let _watch = crate::watchdog::watch(name, cfg.limits.deadline);
    let budget = Budget {
        min: cfg.min_iterations,
        max: cfg.max_iterations,
        time: cfg.time_per_variant,
    };
    let engine = Engine::default();
    let loaded = host::load(name, &engine, PLUGIN_WASM, Vec::new())?;

    let instance = |export: &str| {
        Plugin::limited(&engine, &loaded.module, export, cfg.limits.clone())
            .map_err(|e| at(Phase::Instantiate)(e).into_error(name))
    };
    let fail = |e: CallError| e.into_error(name);
    let mut recorded: Vec<Recorded> = Vec::new();
    let mut output_bytes = 0;
    let check = |label: &str, answered: u64| -> Result<(), Error> {
        if answered == cfg.items {
            Ok(())
        } else {
            Err(Error::plugin(
                name,
                Phase::Decode,
                format!("{label}: {answered} answers for {} items", cfg.items),
            ))
        }
    };
    for batched in [false, true] {
        let (label, export, input) = if batched {
            ("batched", "check_batch", &batch)
        } else {
            ("separate", "check_interactions", &request)
        };
        let mut wasm = WasmWay {
            clock,
            plugin: instance(export)?,
            input,
            items: cfg.items,
            batched,
            encoded: Vec::new(),
            answered: 0,
        };
        let timed =
            time_target(&clock, &mut wasm, WasmWay::<C>::PHASES.len() + 1, budget).map_err(fail)?;
        check(&format!("wasm {label}"), wasm.answered)?;
        if !batched {
            output_bytes = wasm.plugin.output.len() as u64;
        }
        recorded.push(Recorded::new(
            variant(
                &format!("wasm {label}"),
                batched,
                cfg.items,
                &format!("wasm (Cranelift): {}", describe(batched, cfg.items)),
            ),
            timed,
            WasmWay::<C>::PHASES,
        ));
        let mut native = NativeWay {
            clock,
            input,
            items: cfg.items,
            batched,
            encoded: Vec::new(),
            answered: 0,
        };
        let timed = time_target(
            &clock,
            &mut native,
            NativeWay::<C>::PHASES.len() + 1,
            budget,
        )
        .map_err(fail)?;
        check(&format!("native {label}"), native.answered)?;
        recorded.push(Recorded::new(
            variant(
                &format!("native {label}"),
                batched,
                cfg.items,
                &format!(
                    "native (the same source linked into wprof): {}",
                    describe(batched, cfg.items)
                ),
            ),
            timed,
            NativeWay::<C>::PHASES,
        ));
        if crate::interrupt::requested() {
            break;
        }
    }

    let (mut variants, timeline) =
        settle(recorded, clock.ns_per_tick(), cfg.trace_iterations, |_| {
            (0, 0)
        });
    for v in &mut variants {
        if let Some(whole) = v.phases.last() {
            let per_item = whole.stats.p50_ns / cfg.items as f64;
            v.facts.insert("per_item_ns".into(), json!(per_item));
        }
    }
    let verdicts = verdicts(&variants, cfg.items);
    let summary = summary(&variants, cfg.items);

    let mut run = super::new_run(NAME, started_at);
    run.wall_s = wall.elapsed().as_secs_f64();
    run.plugin = super::plugin_info(
        name,
        "bundled:drug-checker-ways",
        PLUGIN_WASM,
        "check_interactions,check_batch",
        serde_json::to_vec(&request).map_or(0, |v| v.len() as u64),
        output_bytes,
    );
    run.plugin.outputs_identical = Some(true);
    run.settings = super::settings([
        ("items", json!(cfg.items)),
        (
            "time_per_variant",
            json!(humantime::format_duration(cfg.time_per_variant).to_string()),
        ),
        ("min_iterations", json!(cfg.min_iterations)),
        ("max_iterations", json!(cfg.max_iterations)),
    ]);
    run.setup = loaded.setup.clone();
    super::timed::fill(&mut run, &clock, variants, timeline);
    run.summary = summary;
    run.verdicts = verdicts;
    run.notes.push(format!(
        "an iteration is {} items; a separate way's phases are sums over its {} calls (the few nanoseconds between calls are in no phase, so its call row is the sum of its phases); every item is the bundled drug-checker input; each iteration's answers are counted and checked",
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

/// Overheads over native, separate and batched, and the share removed.
fn overheads(variants: &[Variant]) -> Option<(f64, f64)> {
    Some((
        p50(variants, "wasm separate")? - p50(variants, "native separate")?,
        p50(variants, "wasm batched")? - p50(variants, "native batched")?,
    ))
}

fn summary(variants: &[Variant], items: u64) -> Option<crate::run::Summary> {
    let fmt = super::super::export::fmt_ns;
    let mut rows = Vec::new();
    for way in ["separate", "batched"] {
        let (Some(w), Some(n)) = (
            p50(variants, &format!("wasm {way}")),
            p50(variants, &format!("native {way}")),
        ) else {
            continue;
        };
        rows.push(vec![
            way.to_owned(),
            fmt(w),
            fmt(w / items as f64),
            fmt(n),
            fmt(n / items as f64),
            format!(
                "{}{}",
                if w < n { "-" } else { "+" },
                fmt((w - n).abs() / items as f64)
            ),
            format!("{:+.1} %", 100.0 * (w - n) / n),
        ]);
    }
    (!rows.is_empty()).then(|| crate::run::Summary {
        title: format!("{items} items, median per iteration and per item"),
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

fn verdicts(variants: &[Variant], items: u64) -> Vec<String> {
    let fmt = super::super::export::fmt_ns;
    let Some((separate, batched)) = overheads(variants) else {
        return Vec::new();
    };
    let mut out = vec![format!(
        "overhead over native per item: {} separate, {} batched",
        fmt(separate / items as f64),
        fmt(batched / items as f64)
    )];
    if separate > 0.0 && batched > 0.0 {
        out.push(format!(
            "batching {items} items removes {:.1} % of the per-call overhead ({} of {} per iteration; the seed: 99 %)",
            100.0 * (1.0 - batched / separate),
            fmt(separate - batched),
            fmt(separate)
        ));
    } else if separate > 0.0 {
        out.push(format!(
            "batching {items} items removes all of the per-call overhead: batched, wasm is {} an iteration faster than native's batch (the seed: 99 % removed)",
            fmt(-batched)
        ));
    }
    out
}
