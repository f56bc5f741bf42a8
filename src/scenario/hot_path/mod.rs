//! The hot path (the reference study's Scenario 2): repeated calls into an
//! instantiated plugin, each split into encode, copy-in, execute, copy-out,
//! decode and free, against the same function linked natively.
//!
//! Calls are measured in rounds ([`crate::timing::rounds`]): in each round
//! every variant runs a batch of instrumented calls and a batch of the same
//! calls uninstrumented, alternating which goes first, so drift on a shared
//! machine falls on both alike. A variant may be a driver in a child
//! process (`--driver-process`), timed by the same loop over there, or
//! another build of the plugin (`--baseline`), timed beside it.

mod baseline;
mod child;
pub(crate) mod native;
mod rounds;
pub(crate) mod summarise;

use std::marker::PhantomData;

use serde_json::Value;

use self::native::NativeTarget;
use crate::driver::Limits;
use crate::driver::call::{Json, Payload, PluginCall, Raw};
use crate::driver::wasmtime::Abi;
use crate::error::{CallError, Error};
use crate::inside::counters::{Counting, Stop, Whole};
use crate::inside::plugin::PluginTwins;
use crate::inside::{InsideConfig, Plan, Subject};
use crate::phase::Phase;
use crate::run::{ClockInfo, Pair, PluginInfo, Run, Variant};
use crate::source::{InputSpec, PluginSpec};
use crate::timing::pairing::{paired_ratio, round_figures};
use crate::timing::rounds::{InProcess, Rounds};
use crate::timing::settle::{Track, spans};
use crate::timing::{Clock as _, ClockChoice, ClockKind, clock_info, with_clock};

/// Scenario name, as in `wprof record hot-path`.
pub const NAME: &str = "hot-path";

/// The name of the variant run by a driver in a child process.
pub const CHILD: &str = "wasm-child";

pub use self::baseline::BASELINE;
pub use self::child::SDK;

/// Settings of `record hot-path`.
#[derive(Debug, Clone, PartialEq)]
pub struct HotPathConfig {
    /// Plugin to run. Default: the bundled drug-checker.
    pub plugin: PluginSpec,
    /// Export to call. Default: the bundled plugin's, else the module's only
    /// export with the wprof call signature.
    pub export: Option<String>,
    /// Input. Default: the bundled plugin's input.json (the reference
    /// study's three drugs).
    pub input: InputSpec,
    /// Measured calls per variant. Default: 100 000.
    pub iterations: u64,
    /// Unmeasured calls per variant before measuring. Default: 10 000.
    pub warmup: u64,
    /// Rounds the measured calls are split into, each variant taking its
    /// round in turn: paired figures are one ratio per round. Default: 100.
    pub rounds: u64,
    /// Clock for the timings. Default: auto (TSC where invariant).
    pub clock: ClockChoice,
    /// Calls per variant drawn into the timeline (Chrome trace). Default: 100.
    pub trace_calls: u64,
    /// Whether to measure the native build when the plugin has one. Default: true.
    pub native: bool,
    /// Whether to also run the wasm variant through wprof's own Wasmtime
    /// driver in a child process, over the driver protocol, as the variant
    /// `wasm-child`. Default: false.
    pub driver_process: bool,
    /// Whether an Extism plugin is also timed under Extism's own runtime
    /// (the Rust SDK driver, in a child process, as the variant
    /// `extism-sdk`) where that driver is built. Default: true.
    pub extism_sdk: bool,
    /// Another build of the plugin, timed in the same rounds as the variant
    /// `baseline`: the paired ratio wasm/baseline is the change between the
    /// builds, which `wprof compare RUN` judges. Default: none.
    pub baseline: Option<PluginSpec>,
    /// Counter, fuel and sampling passes after the timings. Default: the
    /// counter pass only.
    pub inside: InsideConfig,
    /// Adaptive sampling: stop after any round (from the second) once every
    /// variant's median call has a 95 % interval this narrow (half-width,
    /// in percent of the median); `iterations` is then the most. Default:
    /// none (always `iterations`).
    pub target_ci_pct: Option<f64>,
    /// Stop after the round that passes this much measuring time. Default:
    /// none.
    pub max_time: Option<std::time::Duration>,
    /// What the plugin may grow to and return, and the per-call deadline.
    /// Default: [`Limits::default`].
    pub limits: Limits,
}

impl Default for HotPathConfig {
    fn default() -> Self {
        HotPathConfig {
            plugin: PluginSpec::default(),
            export: None,
            input: InputSpec::Default,
            iterations: 100_000,
            warmup: 10_000,
            rounds: 100,
            clock: ClockChoice::Auto,
            trace_calls: 100,
            native: true,
            driver_process: false,
            extism_sdk: true,
            baseline: None,
            inside: InsideConfig::default(),
            target_ci_pct: None,
            max_time: None,
            limits: Limits::default(),
        }
    }
}

/// Runs the hot-path scenario.
pub fn run(cfg: &HotPathConfig) -> Result<Run, Error> {
    super::run_plugin(cfg)
}

impl super::OnePlugin for HotPathConfig {
    super::asked_from_fields!();

    fn check(&self) -> Result<(), Error> {
        self.clock.resolve().map(drop).map_err(Error::Config)
    }

    fn run_prepared<A: Abi>(&self, p: super::Prepared<A>) -> Result<Run, Error> {
        let clock = self.clock.resolve().map_err(Error::Config)?;
        match p.value.clone() {
            Some(v) => run_with(self, clock, p, Json(&v), Some(&v)),
            None => {
                let raw = p.input.clone();
                run_with(self, clock, p, Raw(&raw), None)
            }
        }
    }
}

/// The hot path of a plugin whose calls send `input`; `native_input` is the
/// value the native build takes, where it has one.
fn run_with<A: Abi, P: Payload>(
    cfg: &HotPathConfig,
    clock_kind: ClockKind,
    p: super::Prepared<A>,
    input: P,
    native_input: Option<&Value>,
) -> Result<Run, Error> {
    let super::Prepared {
        plugin,
        setup,
        export,
        first,
        instance,
        input: encoded,
        module,
        ..
    } = p;
    let name = plugin.name.clone();
    let call_error = |e: CallError| e.into_error(&name);
    let mut wasm = PluginCall::new(instance, input);
    // One call each before timing: surfaces traps early and checks that
    // every variant agrees.
    use crate::driver::Instance;
    crate::timing::target::Target::call(&mut wasm).map_err(call_error)?;
    // Counted on an instance of its own: the timed ones count nothing.
    let moves = (A::KIND == crate::kind::Abi::Extism)
        .then(|| crate::driver::extism::kernel_moves(&module, &export, &cfg.limits, &encoded).ok())
        .flatten();
    let wasm_output = wasm.instance.output().to_vec();
    let mut notes: Vec<String> = first
        .logs
        .iter()
        .map(|l| format!("plugin log (first call): {l}"))
        .collect();
    notes.extend(moves.and_then(child::kernel_note));
    if !P::ENCODED {
        notes.push(format!("input: {}", cfg.input.raw_source()));
    }
    let native_fn = match (cfg.native, plugin.bundled, native_input) {
        (true, Some(b), Some(_)) => Some(b.native),
        (true, _, None) => {
            notes.push("native: not measured: wprof has no native build of an Extism plugin (its host functions exist only in wasm)".to_owned());
            None
        }
        (true, None, _) => {
            notes.push("native: not measured: this module is not a bundled plugin, so wprof has no native build of it".to_owned());
            None
        }
        (false, _, _) => {
            notes.push("native: not measured (--no-native)".to_owned());
            None
        }
    };
    let mut native = native_fn
        .zip(native_input)
        .map(|(func, input)| NativeTarget {
            func,
            input,
            encoded: Vec::new(),
        });
    let mut outputs_identical = None;
    if let Some(n) = native.as_mut() {
        let out = n.output().map_err(call_error)?;
        outputs_identical = Some(out == wasm_output);
        if out != wasm_output {
            notes.push(
                "warning: the wasm and native builds returned different outputs for this input"
                    .to_owned(),
            );
        }
    }
    let mut base = match &cfg.baseline {
        Some(spec) => {
            let b = baseline::open::<A>(
                spec,
                &export,
                (&encoded, native_input),
                &cfg.limits,
                &wasm_output,
                &mut notes,
            )?;
            let description = baseline::description(&b);
            Some((PluginCall::new(b.instance, input), b.setup, description))
        }
        None => None,
    };
    let scratch = super::scratch_dir("wprof-hot-path-")?;
    let mut children = child::open_children(
        cfg,
        &plugin,
        (&export, A::KIND == crate::kind::Abi::Extism),
        (&encoded, native_input),
        &scratch,
        &wasm_output,
        &mut notes,
    )?;

    let mut measure = |clock_kind| -> Result<_, CallError> {
        with_clock!(clock_kind, |clock| {
            let mut wasm_r = InProcess {
                target: &mut wasm,
                clock,
            };
            let mut native_r = native.as_mut().map(|n| InProcess { target: n, clock });
            let mut vs: Vec<&mut dyn Rounds> = vec![&mut wasm_r];
            if let Some(n) = native_r.as_mut() {
                vs.push(n);
            }
            let mut base_r = base
                .as_mut()
                .map(|(b, _, _)| InProcess { target: b, clock });
            if let Some(b) = base_r.as_mut() {
                vs.push(b);
            }
            for k in children.iter_mut() {
                vs.push(&mut k.driver);
            }
            let m = rounds::measure(&clock, cfg, &mut vs)?;
            let child_clocks = children
                .iter_mut()
                .map(|k| k.driver.clock())
                .collect::<Result<Vec<_>, _>>()?;
            let info = clock_info(&clock);
            // Both clocks read together: where the run's ticks fall on
            // CLOCK_MONOTONIC, for a child that stamps with it (after the
            // clock is described, so as not to move a fake clock's figures).
            let now = (clock.now(), crate::timing::Monotonic.now());
            Ok((m, info, (child_clocks, now)))
        })
    };
    let (measured, clock, (child_clocks, now)) = measure(clock_kind).map_err(call_error)?;

    let ns_per_tick = clock.ns_per_tick;
    let input_bytes = encoded.len() as u64;
    let bytes = (input_bytes, wasm_output.len() as u64);
    let mut recordings = measured.recordings.iter();
    let wasm_rec = recordings
        .next()
        .expect("the wasm variant is always measured");
    let mut variants = vec![summarise::summarise(
        "wasm",
        format!(
            "wasmtime {} (cranelift, speed), {}",
            super::WASMTIME_VERSION,
            A::DESCRIPTION
        ),
        P::PHASES,
        wasm_rec,
        ns_per_tick,
    )];
    let track = |name: &'static str, ns_per_tick: f64| Track {
        name,
        whole: Phase::Call,
        count: cfg.trace_calls,
        origin: measured.origin,
        ns_per_tick,
        bytes,
    };
    let mut timeline = spans(wasm_rec.rows(), P::PHASES, track("wasm", ns_per_tick));
    let mut native_rec = None;
    if native.is_some() {
        let rec = recordings.next().expect("native was measured");
        native_rec = Some(rec);
        variants.push(summarise::summarise(
            "native",
            "the same Rust source linked into wprof, JSON".to_owned(),
            &native::PHASES,
            rec,
            ns_per_tick,
        ));
        timeline.extend(spans(
            rec.rows(),
            &native::PHASES,
            track("native", ns_per_tick),
        ));
    }
    let mut pairs = Vec::new();
    // Each variant's per-round figures, computed once: the pairs and the
    // drift check read them.
    let mut figures = vec![("wasm", round_figures(wasm_rec, ns_per_tick))];
    if let Some(rec) = native_rec {
        figures.push(("native", round_figures(rec, ns_per_tick)));
    }
    let comparison = match (&variants[..], &figures[..]) {
        ([wasm, native], [(_, wasm_figures), (_, native_figures)]) => {
            let paired = paired_ratio(wasm_figures, native_figures);
            if let Some(ratio) = &paired {
                pairs.push(Pair {
                    subject: "wasm".to_owned(),
                    baseline: "native".to_owned(),
                    ratio: ratio.clone(),
                });
            }
            summarise::compare(wasm, native, paired.as_ref())
        }
        _ => None,
    };
    if let Some((_, setup, description)) = &base {
        let rec = recordings.next().expect("the baseline was measured");
        let base_figures = round_figures(rec, ns_per_tick);
        let b = baseline::beside(
            (description, setup),
            P::PHASES,
            rec,
            ns_per_tick,
            (&figures[0].1, &base_figures),
            track(BASELINE, ns_per_tick),
        );
        figures.push((BASELINE, base_figures));
        b.add(&mut variants, &mut timeline, &mut pairs, &mut notes);
    }
    for ((kid, rec), cc) in children.iter().zip(recordings).zip(&child_clocks) {
        let wasm_figures = &figures[0].1;
        let mut t = track(kid.name, cc.ns_per_tick);
        if cc.name != clock.name
            && cc.name == <crate::timing::Monotonic as crate::timing::Clock>::NAME
        {
            // The run's origin, moved onto the child's nanosecond clock.
            let before = now.0.saturating_sub(measured.origin) as f64 * ns_per_tick;
            t.origin = (now.1 as f64 - before).max(0.0) as u64;
        }
        let b = child::beside(kid, rec, (cc, &clock), wasm_figures, t);
        b.add(&mut variants, &mut timeline, &mut pairs, &mut notes);
    }
    let call_ns = variants[0]
        .uninstrumented
        .as_ref()
        .map_or(1e3, |u| u.median_ns);
    let interrupted = crate::interrupt::requested();
    if let Some(why) = &measured.stopped {
        notes.push(why.clone());
    }
    let found = if interrupted {
        crate::inside::Found::default()
    } else {
        let native_ns = variants
            .iter()
            .find(|v| v.name == "native")
            .and_then(|v| v.uninstrumented.as_ref())
            .map_or(1e3, |u| u.median_ns);
        let twins = PluginTwins::<A, P> {
            bytes: &plugin.bytes,
            export: &export,
            limits: &cfg.limits,
            input: wasm.input,
            abi: PhantomData,
        };
        let mut subjects = vec![Subject {
            name: "wasm".into(),
            target: &mut wasm,
            call_ns,
            twins: Some(&twins),
        }];
        if let Some(t) = native.as_mut() {
            subjects.push(Subject {
                name: "native".into(),
                target: t,
                call_ns: native_ns,
                twins: None,
            });
        }
        crate::inside::run(
            &cfg.inside,
            &plan(cfg),
            &mut subjects,
            measured.origin_instant,
        )
        .map_err(call_error)?
    };
    for (v, (counts, fuel)) in variants
        .iter_mut()
        .zip(found.counts.into_iter().zip(found.fuel))
    {
        v.counters = counts;
        v.fuel = fuel;
    }
    notes.extend(found.notes);
    for kid in children.iter().filter(|_| !interrupted) {
        notes.push(format!(
            "{}: the passes that look inside calls ran on the in-process variants only",
            kid.name
        ));
    }
    if base.is_some() && !interrupted {
        notes.push(format!(
            "{BASELINE}: the passes that look inside calls ran on the plugin (and native) only"
        ));
    }
    let mut drift = measured.drift.clone();
    if let Some(d) = drift.as_mut() {
        crate::timing::drift::with_variants(d, &figures);
    }
    let looked = Looked {
        perf: found.perf,
        profiles: found.profiles,
        counters: found.counters,
    };
    Ok(finish(
        cfg,
        Measures {
            plugin,
            export,
            setup,
            variants,
            comparison,
            pairs,
            timeline,
            clock,
            bytes,
            outputs_identical,
            drift,
        },
        notes,
        looked,
        // A signal during the passes leaves them short: incomplete too.
        interrupted || crate::interrupt::requested(),
    ))
}

/// The counter, fuel and sampling passes' plan for the hot path.
fn plan(cfg: &HotPathConfig) -> Plan<'static> {
    Plan {
        scenario: NAME,
        counting: Counting {
            stop: Stop::Calls((cfg.iterations as usize).clamp(1, 10_000)),
            whole: Whole::Batches,
            whole_phase: Phase::Call,
            unit: "call",
            track_points: 0,
            method: "a separate pass after the timings: per phase, counters read at every phase boundary (one group read), less the mean counts of an empty window; the whole call from reads around batches of plain calls",
        },
        count_on: None,
        fuel_secs: cfg.inside.sample_secs.min(1.0),
        sample_secs: cfg.inside.sample_secs,
    }
}

/// A variant timed beside the plugin (another build, a child driver):
/// what the run gains from it.
struct Beside {
    variant: Variant,
    spans: Vec<crate::run::Span>,
    pair: Option<Pair>,
    note: Option<String>,
}

impl Beside {
    fn add(
        self,
        variants: &mut Vec<Variant>,
        timeline: &mut Vec<crate::run::Span>,
        pairs: &mut Vec<Pair>,
        notes: &mut Vec<String>,
    ) {
        variants.push(self.variant);
        timeline.extend(self.spans);
        pairs.extend(self.pair);
        notes.extend(self.note);
    }
}

/// What the hot path measured, for [`finish`].
struct Measures {
    plugin: crate::source::PluginBytes,
    export: String,
    setup: Vec<crate::run::PhaseTime>,
    variants: Vec<Variant>,
    comparison: Option<crate::run::Comparison>,
    pairs: Vec<Pair>,
    timeline: Vec<crate::run::Span>,
    clock: ClockInfo,
    bytes: (u64, u64),
    outputs_identical: Option<bool>,
    drift: Option<crate::run::Drift>,
}

/// What the passes that look inside found.
struct Looked {
    perf: Option<crate::run::CounterInfo>,
    profiles: Vec<crate::run::Profile>,
    counters: Vec<crate::run::CounterSample>,
}

/// The run, with the notes every hot path ends with.
fn finish(
    cfg: &HotPathConfig,
    m: Measures,
    mut notes: Vec<String>,
    looked: Looked,
    incomplete: bool,
) -> Run {
    notes.extend(crate::timing::drift::overhead_notes(&m.variants));
    if let Some(why) = m.drift.as_ref().and_then(|d| d.why.as_ref()) {
        notes.push(format!("warning: drift: {why}"));
    }
    let resolution = m.clock.resolution_ns;
    let coarse: Vec<String> = m
        .variants
        .iter()
        .flat_map(|v| v.phases.iter().map(move |p| (v, p)))
        .filter(|(_, p)| p.stats.p50_ns < 2.0 * resolution)
        .map(|(v, p)| format!("{} {}", v.name, p.phase))
        .collect();
    if !coarse.is_empty() {
        notes.push(format!(
            "warning: near the clock's {:.1} ns resolution (median under 2 steps): {}; their means over many calls still hold, single samples do not",
            resolution,
            coarse.join(", ")
        ));
    }
    let mut settings = super::settings([
        ("warmup", serde_json::json!(cfg.warmup)),
        ("rounds", serde_json::json!(cfg.rounds)),
        ("clock", serde_json::json!(cfg.clock.to_string())),
        ("trace_calls", serde_json::json!(cfg.trace_calls)),
        ("native", serde_json::json!(cfg.native)),
        ("target_ci_pct", serde_json::json!(cfg.target_ci_pct)),
        (
            "max_time_s",
            serde_json::json!(cfg.max_time.map(|d| d.as_secs_f64())),
        ),
    ]);
    if let Some(b) = m.variants.iter().find(|v| v.name == BASELINE) {
        settings.insert("baseline".into(), serde_json::json!(b.description));
    }
    let iterations = m.variants[0].phases.last().map_or(0, |p| p.stats.n);
    Run {
        plugin: PluginInfo {
            outputs_identical: m.outputs_identical,
            ..super::info_of(&m.plugin, &m.export, m.bytes.0, m.bytes.1)
        },
        iterations,
        settings,
        clock: m.clock,
        setup: m.setup,
        variants: m.variants,
        comparison: m.comparison,
        pairs: m.pairs,
        drift: m.drift,
        timeline: m.timeline,
        notes,
        perf: looked.perf,
        profiles: looked.profiles,
        counters: looked.counters,
        incomplete,
        ..super::new_run(NAME)
    }
}
