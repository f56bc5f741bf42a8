//! The hot path (the seed's Scenario 2): repeated calls into an instantiated
//! plugin, each split into encode, copy-in, execute, copy-out, decode and
//! free, against the same function linked natively.
//!
//! Calls are measured in rounds. In each round every variant runs a batch of
//! instrumented calls (a clock read at each phase boundary) and a batch of the
//! same calls uninstrumented (one read per 1000 calls), alternating which goes
//! first, so drift on a shared machine falls on both alike.

use std::hint::black_box;
use std::time::Instant;

use anyhow::anyhow;
use serde_json::Value;

use super::inside::{Instrument, PassError};
use crate::bundled::NativeFn;
use crate::error::Error;
use crate::host::{self, CallError, Limits, Plugin, at};
use crate::measure::perf::PerfCounters;
use crate::measure::{self, Clock, ClockChoice, ClockKind, InsideConfig, MAX_COUNTERS, Meter};
use crate::phase::Phase;
use crate::run::{
    ClockInfo, Comparison, CounterSample, Fuel, PhaseCounts, PhaseDelta, PluginInfo, Profile, Run,
    Uninstrumented, Variant,
};
use crate::source::{InputSpec, PluginSpec};
use crate::stats::Stats;

/// Scenario name, as in `wprof record hot-path`.
pub const NAME: &str = "hot-path";

/// Settings of `record hot-path`.
#[derive(Debug, Clone, PartialEq)]
pub struct HotPathConfig {
    /// Plugin to run. Default: the bundled drug-checker.
    pub plugin: PluginSpec,
    /// Export to call. Default: the bundled plugin's, else the module's only
    /// export with the wprof call signature.
    pub export: Option<String>,
    /// Input. Default: the bundled plugin's input.json (the seed's three drugs).
    pub input: InputSpec,
    /// Measured calls per variant. Default: 100 000.
    pub iterations: u64,
    /// Unmeasured calls per variant before measuring. Default: 10 000.
    pub warmup: u64,
    /// Rounds the measured calls are split into. Default: 10.
    pub rounds: u64,
    /// Clock for the timings. Default: auto (TSC where invariant).
    pub clock: ClockChoice,
    /// Calls per variant drawn into the timeline (Chrome trace). Default: 100.
    pub trace_calls: u64,
    /// Whether to measure the native build when the plugin has one. Default: true.
    pub native: bool,
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
            rounds: 10,
            clock: ClockChoice::Auto,
            trace_calls: 100,
            native: true,
            inside: InsideConfig::default(),
            target_ci_pct: None,
            max_time: None,
            limits: Limits::default(),
        }
    }
}

/// Something whose calls can be timed phase by phase.
pub(crate) trait Target {
    /// The phases of one call, in order.
    const PHASES: &'static [Phase];

    /// One call, marking `m` before the first phase (0) and after each
    /// phase (1..=PHASES.len()).
    fn call_marked<M: Marks>(&mut self, m: &mut M) -> Result<(), CallError>;

    /// The same call with no clock reads. Targets whose marked call does
    /// work only for its marks (a call hook, say) leave it out here.
    #[inline(always)]
    fn call(&mut self) -> Result<(), CallError> {
        self.call_marked(&mut super::timed::NoMarks)
    }
}

/// Receives a mark at each phase boundary of a call.
pub(crate) trait Marks {
    /// Boundary `k`: 0 before the first phase, `k` after phase `k`.
    fn mark(&mut self, k: usize);

    /// Boundary `k` at `ticks`, read by someone else (e.g. a call hook
    /// inside the call); marks that keep no stamps ignore it.
    #[inline(always)]
    fn set(&mut self, _k: usize, _ticks: u64) {}
}

/// The timing pass's marks: a clock read into a row of stamps.
pub(crate) struct Stamps<'a, C> {
    pub(crate) clock: &'a C,
    pub(crate) row: &'a mut [u64],
}

impl<C: Clock> Marks for Stamps<'_, C> {
    #[inline(always)]
    fn mark(&mut self, k: usize) {
        self.row[k] = self.clock.now();
    }

    #[inline(always)]
    fn set(&mut self, k: usize, ticks: u64) {
        self.row[k] = ticks;
    }
}

/// The counter pass's marks.
impl Marks for measure::Tally<'_> {
    #[inline(always)]
    fn mark(&mut self, _k: usize) {
        measure::Tally::mark(self);
    }
}

/// The guest sampler's marks: which host phase runs now.
struct PhaseMarks<'a> {
    cell: &'a measure::guest::GuestHandle,
    phases: &'static [Phase],
}

impl Marks for PhaseMarks<'_> {
    #[inline(always)]
    fn mark(&mut self, k: usize) {
        self.cell.set(self.phases.get(k).copied());
    }
}

/// encode: the host's input to JSON, into a reused buffer.
#[inline(always)]
pub(crate) fn encode(input: &Value, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    buf.clear();
    serde_json::to_writer(&mut *buf, input)?;
    Ok(())
}

/// decode: JSON output to a host value, which is then used and dropped.
#[inline(always)]
pub(crate) fn decode(bytes: &[u8]) -> anyhow::Result<()> {
    let value: Value = serde_json::from_slice(bytes)?;
    drop(black_box(value));
    Ok(())
}

/// What a wasm call of the hot path sends and receives: JSON, which the
/// host encodes and decodes as part of the call (a wprof plugin), or plain
/// bytes (an Extism plugin, whose input and output are bytes).
pub(crate) trait Payload {
    /// The call's phases.
    const PHASES: &'static [Phase];
    /// Whether the call has encode and decode phases.
    const ENCODED: bool;
    /// The variant's description.
    const DESCRIPTION: &'static str;
    /// encode, into a reused buffer (nothing for plain bytes).
    fn encode(&self, buf: &mut Vec<u8>) -> anyhow::Result<()>;
    /// What copy-in writes: the encoded buffer, or the bytes themselves.
    fn bytes<'b>(&'b self, encoded: &'b [u8]) -> &'b [u8];
}

/// A host value sent as JSON.
#[derive(Clone, Copy)]
pub(crate) struct Json<'a>(pub(crate) &'a Value);

impl Payload for Json<'_> {
    const PHASES: &'static [Phase] = &Phase::WASM_CALL;
    const ENCODED: bool = true;
    const DESCRIPTION: &'static str = "wprof ABI, JSON";
    #[inline(always)]
    fn encode(&self, buf: &mut Vec<u8>) -> anyhow::Result<()> {
        encode(self.0, buf)
    }
    #[inline(always)]
    fn bytes<'b>(&'b self, encoded: &'b [u8]) -> &'b [u8] {
        encoded
    }
}

/// Plain bytes.
#[derive(Clone, Copy)]
pub(crate) struct Raw<'a>(pub(crate) &'a [u8]);

impl Payload for Raw<'_> {
    const PHASES: &'static [Phase] = &super::CALL_PHASES;
    const ENCODED: bool = false;
    const DESCRIPTION: &'static str =
        "Extism's ABI (extism:host/env) on wprof's host, bytes in and out";
    #[inline(always)]
    fn encode(&self, _: &mut Vec<u8>) -> anyhow::Result<()> {
        Ok(())
    }
    #[inline(always)]
    fn bytes<'b>(&'b self, _: &'b [u8]) -> &'b [u8] {
        self.0
    }
}

struct WasmTarget<P> {
    plugin: Plugin,
    input: P,
    encoded: Vec<u8>,
}

impl<P: Payload> Target for WasmTarget<P> {
    const PHASES: &'static [Phase] = P::PHASES;

    #[inline(always)]
    fn call_marked<M: Marks>(&mut self, m: &mut M) -> Result<(), CallError> {
        // `P::ENCODED` is a constant: each build of this has only its own
        // phases, and the marks' indices fold to constants.
        let e = usize::from(P::ENCODED);
        m.mark(0);
        if P::ENCODED {
            self.input
                .encode(&mut self.encoded)
                .map_err(at(Phase::Encode))?;
            m.mark(1);
        }
        let buf = self.plugin.copy_in(self.input.bytes(&self.encoded))?;
        m.mark(e + 1);
        let packed = self.plugin.execute(buf)?;
        m.mark(e + 2);
        let out = self.plugin.copy_out(packed)?;
        m.mark(e + 3);
        if P::ENCODED {
            decode(&self.plugin.output).map_err(at(Phase::Decode))?;
            m.mark(e + 4);
        }
        self.plugin.free(out)?;
        m.mark(2 * e + 4);
        Ok(())
    }

    #[inline(always)]
    fn call(&mut self) -> Result<(), CallError> {
        if P::ENCODED {
            self.input
                .encode(&mut self.encoded)
                .map_err(at(Phase::Encode))?;
        }
        let buf = self.plugin.copy_in(self.input.bytes(&self.encoded))?;
        let packed = self.plugin.execute(buf)?;
        let out = self.plugin.copy_out(packed)?;
        if P::ENCODED {
            decode(&self.plugin.output).map_err(at(Phase::Decode))?;
        }
        self.plugin.free(out)
    }
}

struct NativeTarget<'a> {
    func: NativeFn,
    input: &'a Value,
    encoded: Vec<u8>,
}

impl NativeTarget<'_> {
    #[inline(always)]
    fn execute(&self) -> anyhow::Result<Vec<u8>> {
        (self.func)(&self.encoded).map_err(|e| anyhow!("the native build returned an error: {e}"))
    }
}

impl Target for NativeTarget<'_> {
    const PHASES: &'static [Phase] = &[Phase::Encode, Phase::Execute, Phase::Decode, Phase::Free];

    #[inline(always)]
    fn call_marked<M: Marks>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        encode(self.input, &mut self.encoded).map_err(at(Phase::Encode))?;
        m.mark(1);
        let out = self.execute().map_err(at(Phase::Execute))?;
        m.mark(2);
        decode(&out).map_err(at(Phase::Decode))?;
        m.mark(3);
        drop(black_box(out));
        m.mark(4);
        Ok(())
    }

    #[inline(always)]
    fn call(&mut self) -> Result<(), CallError> {
        encode(self.input, &mut self.encoded).map_err(at(Phase::Encode))?;
        let out = self.execute().map_err(at(Phase::Execute))?;
        decode(&out).map_err(at(Phase::Decode))?;
        drop(black_box(out));
        Ok(())
    }
}

/// Raw clock readings of one variant.
struct Recording {
    /// `PHASES.len() + 1` stamps per instrumented call, back to back.
    stamps: Vec<u64>,
    width: usize,
    calls: usize,
    /// `(calls, ticks)` of each uninstrumented batch.
    batches: Vec<(u64, u64)>,
    /// `(first row, calls)` of each instrumented batch, the same sizes.
    timed_batches: Vec<(usize, usize)>,
}

/// Calls per batch. Batches are compared by their mean per call, and the
/// median over batches shrugs off the odd batch hit by an interrupt or a
/// neighbour, which a mean over all calls does not. One clock read pair per
/// 1000 calls costs nothing measurable.
const BATCH_CALLS: usize = 1000;

impl Recording {
    fn new<T: Target>(iterations: usize, rounds: usize) -> Recording {
        let width = T::PHASES.len() + 1;
        let len = iterations * width;
        let mut stamps = Vec::with_capacity(len);
        // Written, not just reserved: page faults must happen here, not in
        // the timed loop (and a non-zero fill cannot become a lazy calloc).
        stamps.resize(len, u64::MAX);
        Recording {
            stamps,
            width,
            calls: 0,
            batches: Vec::with_capacity(iterations / BATCH_CALLS + rounds),
            timed_batches: Vec::with_capacity(iterations / BATCH_CALLS + rounds),
        }
    }
}

fn warm_up<T: Target, C: Clock>(clock: &C, target: &mut T, calls: u64) -> Result<(), CallError> {
    let mut scratch = [0u64; 8];
    for i in 0..calls {
        if i % 2 == 0 {
            target.call_marked(&mut Stamps {
                clock,
                row: &mut scratch,
            })?;
        } else {
            target.call()?;
        }
    }
    Ok(())
}

fn round<T: Target, C: Clock>(
    clock: &C,
    target: &mut T,
    rec: &mut Recording,
    calls: usize,
    instrumented_first: bool,
) -> Result<(), CallError> {
    let w = rec.width;
    for pass in [instrumented_first, !instrumented_first] {
        let mut left = calls;
        while left > 0 {
            let n = left.min(BATCH_CALLS);
            left -= n;
            if pass {
                for row in rec.stamps[rec.calls * w..(rec.calls + n) * w].chunks_exact_mut(w) {
                    target.call_marked(&mut Stamps { clock, row })?;
                }
                rec.timed_batches.push((rec.calls, n));
                rec.calls += n;
            } else {
                let start = clock.now();
                for _ in 0..n {
                    target.call()?;
                }
                let end = clock.now();
                rec.batches.push((n as u64, end - start));
            }
        }
    }
    Ok(())
}

/// What the timed part of the run returns.
struct Measured {
    wasm: Recording,
    native: Option<Recording>,
    origin: u64,
    /// The moment `origin` was read, for readings taken by other clocks.
    origin_instant: Instant,
    /// Why measuring stopped before `iterations`, when it did.
    stopped: Option<String>,
    clock: ClockInfo,
}

fn measure<C: Clock, P: Payload>(
    clock: C,
    cfg: &HotPathConfig,
    wasm: &mut WasmTarget<P>,
    mut native: Option<&mut NativeTarget>,
) -> Result<Measured, CallError> {
    let iterations = cfg.iterations as usize;
    let rounds = (cfg.rounds.max(1) as usize).min(iterations.max(1));
    warm_up(&clock, wasm, cfg.warmup)?;
    if let Some(n) = native.as_deref_mut() {
        warm_up(&clock, n, cfg.warmup)?;
    }
    let mut wasm_rec = Recording::new::<WasmTarget<P>>(iterations, rounds);
    let mut native_rec = native
        .as_ref()
        .map(|_| Recording::new::<NativeTarget>(iterations, rounds));
    let origin = clock.now();
    let origin_instant = Instant::now();
    let mut stopped = None;
    for r in 0..rounds {
        // Spread the remainder over the first rounds.
        let calls = iterations / rounds + usize::from(r < iterations % rounds);
        round(&clock, wasm, &mut wasm_rec, calls, r % 2 == 0)?;
        if let (Some(n), Some(rec)) = (native.as_deref_mut(), native_rec.as_mut()) {
            round(&clock, n, rec, calls, r % 2 == 1)?;
        }
        if r + 1 < rounds && crate::interrupt::requested() {
            stopped = Some(crate::interrupt::note(&format!(
                "after round {} of {rounds} ({} calls a variant)",
                r + 1,
                wasm_rec.calls
            )));
            break;
        }
        if r + 1 == rounds || r == 0 {
            continue;
        }
        // Between rounds, never inside one: the checks cost milliseconds.
        if let Some(max) = cfg.max_time
            && origin_instant.elapsed() >= max
        {
            stopped = Some(format!(
                "stopped after round {} of {rounds} ({} calls a variant): --max-time {} reached",
                r + 1,
                wasm_rec.calls,
                humantime::format_duration(max)
            ));
            break;
        }
        if let Some(target) = cfg.target_ci_pct {
            let ns = clock.ns_per_tick();
            let widths: Vec<f64> = std::iter::once(&wasm_rec)
                .chain(native_rec.as_ref())
                .map(|rec| call_ci_half_width_pct(rec, ns))
                .collect();
            if widths.iter().all(|&w| w <= target) {
                stopped = Some(format!(
                    "stopped after round {} of {rounds} ({} calls a variant): every median call's 95 % interval within ±{target} % (widest ±{:.2} %)",
                    r + 1,
                    wasm_rec.calls,
                    widths.iter().copied().fold(0.0, f64::max)
                ));
                break;
            }
        }
    }
    let info = ClockInfo {
        name: C::NAME.to_owned(),
        ns_per_tick: clock.ns_per_tick(),
        read_cost_ns: measure::read_cost_ns(&clock),
        resolution_ns: measure::resolution_ns(&clock),
    };
    Ok(Measured {
        wasm: wasm_rec,
        native: native_rec,
        origin,
        origin_instant,
        clock: info,
        stopped,
    })
}

/// Half-width of the 95 % interval of a recording's median whole call so
/// far, in percent of the median (infinite with too few calls).
fn call_ci_half_width_pct(rec: &Recording, ns_per_tick: f64) -> f64 {
    let w = rec.width;
    let mut calls: Vec<f64> = rec.stamps[..rec.calls * w]
        .chunks_exact(w)
        .map(|r| (r[w - 1] - r[0]) as f64 * ns_per_tick)
        .collect();
    match Stats::from_samples(&mut calls) {
        Some(Stats {
            p50_ns,
            ci: Some(ci),
            ..
        }) if p50_ns > 0.0 => 50.0 * (ci.median_hi_ns - ci.median_lo_ns) / p50_ns,
        _ => f64::INFINITY,
    }
}

/// Turns a recording into a variant: per-phase statistics and the
/// uninstrumented comparison.
fn summarise(
    name: &str,
    description: String,
    phases: &[Phase],
    rec: &Recording,
    ns_per_tick: f64,
) -> Variant {
    let w = rec.width;
    let rows = || rec.stamps[..rec.calls * w].chunks_exact(w);
    let out = super::phase_stats(
        &rec.stamps[..rec.calls * w],
        phases,
        Phase::Call,
        ns_per_tick,
    );
    let call_mean = out.last().map_or(0.0, |c| c.stats.mean_ns);
    let uninstrumented = (!rec.batches.is_empty()).then(|| {
        let calls: u64 = rec.batches.iter().map(|b| b.0).sum();
        let ticks: u64 = rec.batches.iter().map(|b| b.1).sum();
        let mean = ticks as f64 * ns_per_tick / calls as f64;
        let mut plain: Vec<f64> = rec
            .batches
            .iter()
            .map(|&(c, t)| t as f64 * ns_per_tick / c as f64)
            .collect();
        let mut timed: Vec<f64> = rec
            .timed_batches
            .iter()
            .map(|&(first, n)| {
                let ticks: u64 = rows().skip(first).take(n).map(|r| r[w - 1] - r[0]).sum();
                ticks as f64 * ns_per_tick / n as f64
            })
            .collect();
        let plain = Stats::from_samples(&mut plain).expect("batches is not empty");
        let timed_median = Stats::from_samples(&mut timed).map_or(call_mean, |s| s.p50_ns);
        Uninstrumented {
            calls,
            batches: plain.n,
            batch_calls: BATCH_CALLS as u64,
            mean_ns: mean,
            median_ns: plain.p50_ns,
            batch_min_ns: plain.min_ns,
            batch_max_ns: plain.max_ns,
            per_sec: 1e9 / plain.p50_ns,
            instrumentation_overhead_pct: 100.0 * (timed_median - plain.p50_ns) / plain.p50_ns,
        }
    });
    Variant {
        name: name.to_owned(),
        description,
        phases: out,
        uninstrumented,
        ..Variant::default()
    }
}

fn compare(subject: &Variant, baseline: &Variant) -> Option<Comparison> {
    let (su, bu) = (
        subject.uninstrumented.as_ref()?,
        baseline.uninstrumented.as_ref()?,
    );
    let (sc, bc) = (subject.phase(Phase::Call)?, baseline.phase(Phase::Call)?);
    let mut order: Vec<Phase> = subject
        .phases
        .iter()
        .chain(&baseline.phases)
        .map(|p| p.phase)
        .collect();
    order.sort();
    order.dedup();
    let mean = |v: &Variant, p| v.phase(p).map_or(0.0, |s| s.stats.mean_ns);
    let phases = order
        .into_iter()
        .filter(|&p| p != Phase::Call)
        .map(|p| PhaseDelta {
            phase: p,
            subject_ns: mean(subject, p),
            baseline_ns: mean(baseline, p),
            delta_ns: mean(subject, p) - mean(baseline, p),
        })
        .collect();
    Some(Comparison {
        baseline: baseline.name.clone(),
        subject: subject.name.clone(),
        ratio: su.median_ns / bu.median_ns,
        overhead_ns: su.median_ns - bu.median_ns,
        overhead_pct: 100.0 * (su.median_ns - bu.median_ns) / bu.median_ns,
        p50_ratio: sc.stats.p50_ns / bc.stats.p50_ns,
        phases,
    })
}

/// What the passes after the timing pass found.
#[derive(Default)]
struct Inside {
    perf: Option<crate::run::CounterInfo>,
    wasm_counts: Vec<PhaseCounts>,
    native_counts: Vec<PhaseCounts>,
    fuel: Option<Fuel>,
    profiles: Vec<Profile>,
    counters: Vec<CounterSample>,
    notes: Vec<String>,
}

/// `n` plain calls; their mean ns per call.
fn batch<T: Target>(t: &mut T, n: usize) -> Result<f64, CallError> {
    let start = Instant::now();
    for _ in 0..n {
        t.call()?;
    }
    Ok(start.elapsed().as_nanos() as f64 / n as f64)
}

/// The counter pass for one variant: per phase from reads at every
/// boundary (less what a read itself adds), and the whole call from reads
/// around batches of plain calls, which add nothing measurable per call.
#[allow(clippy::too_many_arguments)]
fn count<T: Target>(
    t: &mut T,
    meter: &mut PerfCounters,
    calls: usize,
    read_cost: &[f64],
    since: Instant,
    track: &str,
    samples: &mut Vec<CounterSample>,
) -> Result<Vec<PhaseCounts>, CallError> {
    let mut tally = measure::Tally::new(meter, T::PHASES.len());
    for _ in 0..calls {
        t.call_marked(&mut tally)?;
    }
    let mut out = super::inside::phase_counts(&tally, T::PHASES, read_cost);
    let names: Vec<&'static str> = tally.names().to_vec();
    drop(tally);
    let n = names.len();
    let per_batch = calls.clamp(1, BATCH_CALLS);
    let batches = calls.div_ceil(per_batch);
    let (mut a, mut b) = ([0u64; MAX_COUNTERS], [0u64; MAX_COUNTERS]);
    let mut sums = [0u64; MAX_COUNTERS];
    for _ in 0..batches {
        meter.read(&mut a[..n]);
        for _ in 0..per_batch {
            t.call()?;
        }
        meter.read(&mut b[..n]);
        let t_ns = since.elapsed().as_nanos() as f64;
        for c in 0..n {
            let d = b[c].wrapping_sub(a[c]);
            sums[c] += d;
            samples.push(CounterSample {
                name: format!("{} per call ({track})", names[c]),
                t_ns,
                value: d as f64 / per_batch as f64,
            });
        }
    }
    let total = (batches * per_batch) as f64;
    out.push(PhaseCounts {
        phase: Phase::Call,
        values: names
            .iter()
            .zip(&sums[..n])
            .zip(read_cost)
            .map(|((name, &s), cost)| ((*name).to_owned(), ((s as f64 - cost) / total).max(0.0)))
            .collect(),
    });
    Ok(out)
}

/// The fuel pass: fuel per phase of a call, whether it is the same every
/// call, and what metering costs (batches alternating with plain calls).
fn fuel_pass<P: Payload + Copy>(
    wasm: &mut WasmTarget<P>,
    bytes: &[u8],
    export: &str,
    limits: &Limits,
    per_batch: usize,
    secs: f64,
) -> Result<Fuel, PassError> {
    const CALLS: u64 = 100;
    let mut metered = twin(wasm, Instrument::Fuel, bytes, export, limits)?;
    wasm.input
        .encode(&mut wasm.encoded)
        .map_err(at(Phase::Encode))?;
    // Encode and decode run no wasm: fuel is counted on the ABI call.
    let counts =
        super::inside::fuel_counts(&mut metered.plugin, wasm.input.bytes(&wasm.encoded), CALLS)?;
    let mut alt = super::inside::Alternation::run(
        secs,
        || batch(wasm, per_batch),
        || batch(&mut metered, per_batch),
        None,
    )?;
    Ok(super::inside::fuel(&counts, alt.overhead_pct()))
}

/// The same calls as `wasm`'s into a second instance, on an engine with
/// `instrument`.
fn twin<P: Copy>(
    wasm: &WasmTarget<P>,
    instrument: Instrument,
    bytes: &[u8],
    export: &str,
    limits: &Limits,
) -> anyhow::Result<WasmTarget<P>> {
    Ok(WasmTarget {
        plugin: super::inside::instrumented(instrument, bytes, export, limits.clone())?,
        input: wasm.input,
        encoded: Vec::new(),
    })
}

/// The guest sampler's pass: sampled calls on an epoch-interrupted engine,
/// alternating with plain calls to measure what sampling costs.
fn guest_pass<P: Payload + Copy>(
    wasm: &mut WasmTarget<P>,
    bytes: &[u8],
    export: &str,
    limits: &Limits,
    per_batch: usize,
    inside: &InsideConfig,
) -> Result<Profile, PassError> {
    let mut sampled = twin(wasm, Instrument::Epoch, bytes, export, limits)?;
    let mut sampler = measure::guest::GuestSampler::new(
        inside.guest_hz,
        &format!("{NAME};wasm"),
        &[Phase::CopyIn, Phase::Execute, Phase::Free],
    );
    let cell = sampler.handle();
    cell.attach(sampled.plugin.store_mut());
    let mut alt = super::inside::Alternation::run(
        inside.sample_secs,
        || batch(wasm, per_batch),
        || {
            let start = Instant::now();
            let mut marks = PhaseMarks {
                cell: &cell,
                phases: WasmTarget::<P>::PHASES,
            };
            for _ in 0..per_batch {
                sampled.call_marked(&mut marks)?;
            }
            Ok(start.elapsed().as_nanos() as f64 / per_batch as f64)
        },
        Some(&mut sampler),
    )?;
    let mut profile = measure::Sampler::finish(Box::new(sampler))?;
    profile.overhead_pct = Some(alt.overhead_pct());
    Ok(profile)
}

/// The host sampler's pass: plain calls into an instance whose engine
/// writes the perf map, under pprof-rs, alternating with unsampled calls.
fn host_pass<P: Payload + Copy>(
    wasm: &mut WasmTarget<P>,
    bytes: &[u8],
    export: &str,
    limits: &Limits,
    per_batch: usize,
    inside: &InsideConfig,
) -> Result<Profile, PassError> {
    let mut mapped = twin(wasm, Instrument::PerfMap, bytes, export, limits)?;
    let mut sampler = measure::host_sampler::HostSampler::new(inside.host_hz, NAME);
    let alt = super::inside::Alternation::run(
        inside.sample_secs,
        || batch(wasm, per_batch),
        || batch(&mut mapped, per_batch),
        Some(&mut sampler),
    );
    // The map names this process's JIT code; it means nothing once we exit.
    let _ = std::fs::remove_file(measure::host_sampler::perf_map_path());
    let mut alt = alt?;
    let mut profile = measure::Sampler::finish(Box::new(sampler))?;
    profile.overhead_pct = Some(alt.overhead_pct());
    Ok(profile)
}

/// Runs the passes that look inside calls, in turn.
#[allow(clippy::too_many_arguments)]
fn inside_passes<P: Payload + Copy>(
    cfg: &HotPathConfig,
    wasm: &mut WasmTarget<P>,
    native: Option<&mut NativeTarget>,
    bytes: &[u8],
    export: &str,
    call_ns: f64,
    since: Instant,
) -> Result<Inside, CallError> {
    let mut found = Inside::default();
    // Batches of about 2 ms: long enough that timing them costs nothing,
    // short enough for many per 100 ms segment.
    let per_batch = ((2e6 / call_ns.max(1.0)) as usize).clamp(1, BATCH_CALLS);
    let ic = &cfg.inside;
    if let Some(mut c) = super::inside::open_counters(
        &ic.counters,
        "a separate pass after the timings: per phase, counters read at every phase boundary (one group read), less the mean counts of an empty window; the whole call from reads around batches of plain calls",
    ) {
        if let Some(meter) = c.meter.as_mut() {
            let calls = (cfg.iterations as usize).clamp(1, 10_000);
            let read_cost = measure::Tally::new(meter, 1).empty_window(1000);
            found.wasm_counts = count(
                wasm,
                meter,
                calls,
                &read_cost,
                since,
                "wasm",
                &mut found.counters,
            )?;
            if let Some(n) = native {
                found.native_counts = count(
                    n,
                    meter,
                    calls,
                    &read_cost,
                    since,
                    "native",
                    &mut found.counters,
                )?;
            }
            c.info.iterations = calls as u64;
            c.info.read_cost = c.info.counters.iter().cloned().zip(read_cost).collect();
        }
        found.perf = Some(c.info);
    }
    let mut notes = Vec::new();
    let mut keep = |what: &str, e: PassError| -> Result<(), CallError> {
        match e {
            PassError::Call(e) => Err(e),
            PassError::Setup(e) => {
                notes.push(format!("{what}: not run: {e:#}"));
                Ok(())
            }
        }
    };
    if ic.fuel {
        match fuel_pass(
            wasm,
            bytes,
            export,
            &cfg.limits,
            per_batch,
            ic.sample_secs.min(1.0),
        ) {
            Ok(f) => found.fuel = Some(f),
            Err(e) => keep("fuel", e)?,
        }
    }
    if ic.sample.guest {
        match guest_pass(wasm, bytes, export, &cfg.limits, per_batch, ic) {
            Ok(p) => found.profiles.push(p),
            Err(e) => keep("guest sampler", e)?,
        }
    }
    if ic.sample.host {
        match host_pass(wasm, bytes, export, &cfg.limits, per_batch, ic) {
            Ok(p) => found.profiles.push(p),
            Err(e) => keep("host sampler", e)?,
        }
    }
    found.notes = notes;
    Ok(found)
}

/// Runs the hot-path scenario.
pub fn run(cfg: &HotPathConfig) -> Result<Run, Error> {
    let wall = Instant::now();
    let started_at = super::now_rfc3339();
    let clock_kind = cfg.clock.resolve().map_err(Error::Config)?;
    let plugin = cfg.plugin.resolve()?;
    let name = plugin.name.clone();
    let engine = wasmtime::Engine::default();
    let loaded = host::load(
        &name,
        &engine,
        &plugin.bytes,
        plugin.read.clone().into_iter().collect(),
    )?;
    let export = host::choose_export(&name, cfg.export.as_deref(), plugin.bundled, &loaded.module)?;
    let ctx = Context {
        wall,
        started_at,
        clock_kind,
        plugin,
        loaded,
        export,
    };
    if crate::extism::is_extism(&ctx.loaded.module) {
        let input = cfg.input.raw(&ctx.plugin)?;
        run_with(cfg, ctx, Raw(&input), None)
    } else {
        let input = cfg.input.load(&ctx.plugin)?;
        run_with(cfg, ctx, Json(&input), Some(&input))
    }
}

/// What `run` resolved before it knows the plugin's ABI.
struct Context {
    wall: Instant,
    started_at: String,
    clock_kind: ClockKind,
    plugin: crate::source::PluginBytes,
    loaded: host::Loaded,
    export: String,
}

/// The hot path of a plugin whose calls send `input`; `native_input` is the
/// value the native build takes, where it has one.
fn run_with<P: Payload + Copy>(
    cfg: &HotPathConfig,
    ctx: Context,
    input: P,
    native_input: Option<&Value>,
) -> Result<Run, Error> {
    let Context {
        wall,
        started_at,
        clock_kind,
        plugin,
        loaded,
        export,
    } = ctx;
    let name = plugin.name.clone();
    let mut encoded = Vec::new();
    input
        .encode(&mut encoded)
        .map_err(|e| Error::plugin(&name, Phase::Encode, e.to_string()))?;
    let first = host::guarded_call(
        &name,
        &plugin.bytes,
        &export,
        input.bytes(&encoded),
        cfg.limits.clone(),
    )?;
    let _watch = crate::watchdog::watch(&name, cfg.limits.deadline);
    let mut setup = loaded.setup.clone();
    let instance = host::timed(&mut setup, Phase::Instantiate, || {
        Plugin::limited(&loaded.engine, &loaded.module, &export, cfg.limits.clone())
    })
    .map_err(|e| at(Phase::Instantiate)(e).into_error(&name))?;

    let call_error = |e: CallError| e.into_error(&name);
    let mut wasm = WasmTarget {
        plugin: instance,
        input,
        encoded: Vec::new(),
    };
    // One call each before timing: surfaces traps early and checks that both
    // builds agree.
    wasm.call().map_err(call_error)?;
    let wasm_output = wasm.plugin.output.clone();
    let mut notes: Vec<String> = first
        .logs
        .iter()
        .map(|l| format!("plugin log (first call): {l}"))
        .collect();
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
        encode(n.input, &mut n.encoded).map_err(|e| call_error(at(Phase::Encode)(e)))?;
        let out = n.execute().map_err(|e| call_error(at(Phase::Execute)(e)))?;
        outputs_identical = Some(out == wasm_output);
        if out != wasm_output {
            notes.push(
                "warning: the wasm and native builds returned different outputs for this input"
                    .to_owned(),
            );
        }
    }

    let measured = measure::with_clock!(clock_kind, |clock| measure(
        clock,
        cfg,
        &mut wasm,
        native.as_mut()
    ))
    .map_err(call_error)?;

    let ns_per_tick = measured.clock.ns_per_tick;
    let input_bytes = input.bytes(&wasm.encoded).len() as u64;
    let bytes = (input_bytes, wasm_output.len() as u64);
    let engine_desc = format!(
        "wasmtime {} (cranelift, speed), {}",
        super::WASMTIME_VERSION,
        P::DESCRIPTION
    );
    let mut variants = vec![summarise(
        "wasm",
        engine_desc,
        WasmTarget::<P>::PHASES,
        &measured.wasm,
        ns_per_tick,
    )];
    let timeline = |track: &str, phases: &[Phase], rec: &Recording| {
        super::spans(
            &rec.stamps[..rec.calls * rec.width],
            phases,
            Phase::Call,
            track,
            cfg.trace_calls,
            measured.origin,
            ns_per_tick,
            bytes,
        )
    };
    let mut spans = timeline("wasm", WasmTarget::<P>::PHASES, &measured.wasm);
    if let Some(rec) = &measured.native {
        variants.push(summarise(
            "native",
            "the same Rust source linked into wprof, JSON".to_owned(),
            NativeTarget::PHASES,
            rec,
            ns_per_tick,
        ));
        spans.extend(timeline("native", NativeTarget::PHASES, rec));
    }
    let comparison = match &variants[..] {
        [wasm, native] => compare(wasm, native),
        _ => None,
    };
    let call_ns = variants[0]
        .uninstrumented
        .as_ref()
        .map_or(1e3, |u| u.median_ns);
    let interrupted = crate::interrupt::requested();
    let found = if interrupted {
        Inside::default()
    } else {
        inside_passes(
            cfg,
            &mut wasm,
            native.as_mut(),
            &plugin.bytes,
            &export,
            call_ns,
            measured.origin_instant,
        )
        .map_err(call_error)?
    };
    if let Some(why) = &measured.stopped {
        notes.push(why.clone());
    }
    variants[0].counters = found.wasm_counts;
    variants[0].fuel = found.fuel;
    if let Some(v) = variants.get_mut(1) {
        v.counters = found.native_counts;
    }
    notes.extend(found.notes);
    if let Some(u) = &variants[0].uninstrumented
        && u.instrumentation_overhead_pct > 2.0
    {
        notes.push(format!(
            "warning: instrumentation overhead is {:.1} % (over 2 %): phase times are inflated by the clock reads",
            u.instrumentation_overhead_pct
        ));
    }

    let resolution = measured.clock.resolution_ns;
    let coarse: Vec<String> = variants
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

    let settings = super::settings([
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

    Ok(Run {
        wall_s: wall.elapsed().as_secs_f64(),
        plugin: PluginInfo {
            name,
            source: plugin.source,
            size_bytes: loaded.size_bytes,
            sha256: super::sha256(&plugin.bytes),
            export,
            input_bytes,
            output_bytes: bytes.1,
            outputs_identical,
        },
        iterations: measured.wasm.calls as u64,
        settings,
        clock: measured.clock,
        setup,
        variants,
        comparison,
        timeline: spans,
        notes,
        perf: found.perf,
        profiles: found.profiles,
        counters: found.counters,
        incomplete: interrupted,
        ..super::new_run(NAME, started_at)
    })
}
