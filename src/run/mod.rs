//! The plain-data result of one scenario run: what every exporter reads and
//! what the run JSON file holds. Scenarios fill it in; nothing here knows how.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod concurrency;
mod engines;
mod guest_heap;
pub mod headline;
mod inside;
mod memory;

pub use concurrency::*;
pub use engines::*;
pub use guest_heap::*;
pub use inside::*;
pub use memory::*;

use crate::phase::Phase;
use crate::stats::Stats;

/// Version of the run file format; bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything one `wprof record <scenario>` measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Version of this file's format ([`SCHEMA_VERSION`]).
    pub schema: u32,
    /// The scenario that produced the run, e.g. `hot-path`.
    pub scenario: String,
    /// Version of wprof that made it.
    pub wprof_version: String,
    /// When the run started, RFC 3339, UTC.
    pub started_at: String,
    /// Wall-clock time the whole run took, warm-up and setup included, in seconds.
    pub wall_s: f64,
    /// The machine and runtime the run was made on.
    pub host: Host,
    /// The plugin that was measured.
    pub plugin: PluginInfo,
    /// Measured iterations per variant (warm-up excluded). Where variants ran
    /// until a time budget was spent, the most any ran; each phase's `n`
    /// says how many that variant ran.
    pub iterations: u64,
    /// The scenario's other settings, by name, as given or defaulted.
    pub settings: BTreeMap<String, serde_json::Value>,
    /// The clock the timings were taken with.
    pub clock: ClockInfo,
    /// One-off phases measured once before the timed loops (read, validate,
    /// compile, instantiate). A phase that was not measured is absent.
    pub setup: Vec<PhaseTime>,
    /// Each way of running the plugin (e.g. `wasm`, `native`), with its phases.
    pub variants: Vec<Variant>,
    /// The subject variant against the baseline, when both were measured.
    pub comparison: Option<Comparison>,
    /// Ratios of variants measured in the same rounds, each the median of
    /// the per-round ratios (a machine that speeds up or slows down moves
    /// both sides of each alike); absent where none was paired.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pairs: Vec<Pair>,
    /// How steady the machine was: a fixed reference workload timed between
    /// rounds; absent where the scenario has no rounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
    /// Spans of a sample of calls, for timeline viewers.
    pub timeline: Vec<Span>,
    /// Variants fastest first, against a baseline variant; absent when the
    /// scenario ranks nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranking: Option<Ranking>,
    /// A table across variants a scenario sums its run up in (e.g. each
    /// way against native, size by size); absent when it has none. The
    /// numbers behind it are in the variants' phases and facts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    /// The lines to quote, 1 to 6, first: the paired ratio, the overhead,
    /// the phase that makes most of the difference, the variant that wins,
    /// then verdicts ([`headline::headline`] draws them from the fields
    /// here). Empty in run files of older wprof versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headline: Vec<String>,
    /// The conclusions, one sentence each, drawn from the numbers above.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verdicts: Vec<String>,
    /// Fitted trends with their verdicts (e.g. memory growth over a soak).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trends: Vec<Trend>,
    /// Host heap allocations per call, from a separate pass under dhat
    /// (`--heap`); absent when no heap pass ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap: Option<HeapProfile>,
    /// The plugin's own allocations inside linear memory, from a separate
    /// instrumented pass (`--guest-heap`); absent when none ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_heap: Option<GuestHeap>,
    /// Counters read over time (e.g. resident memory), for timeline viewers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counters: Vec<CounterSample>,
    /// Variants that could not be measured, with why. The run is otherwise
    /// complete; wprof exits non-zero when this is not empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<Failure>,
    /// How the counter pass counted (each variant's `counters` holds what it
    /// counted); absent when no counter pass ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perf: Option<CounterInfo>,
    /// Sampled stacks, one profile per sampler that ran (`--sample`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<Profile>,
    /// Each host design at each thread count, and where each stops
    /// scaling; absent outside `record concurrency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
    /// Each engine's cold start, call, memory and no-op call, and the
    /// break-even; absent outside `record engines`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engines: Option<Engines>,
    /// Things the reader must know: what was not measured and why, warnings.
    pub notes: Vec<String>,
    /// Whether the run was interrupted (Ctrl-C) and holds only what was
    /// measured until then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
}

/// Two variants measured in the same rounds, and their paired ratio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    /// The variant compared.
    pub subject: String,
    /// The variant it is compared with.
    pub baseline: String,
    /// Subject / baseline.
    pub ratio: PairedRatio,
}

/// A ratio of two variants measured round by round: the median of the
/// per-round ratios, with a bootstrap interval over rounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedRatio {
    /// The median of the per-round ratios.
    pub ratio: f64,
    /// Lower end of its 95 % bootstrap interval.
    pub lo: f64,
    /// Upper end of its 95 % bootstrap interval.
    pub hi: f64,
    /// Rounds paired.
    pub rounds: u64,
    /// Each round's ratio, in round order (what `compare` resamples).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_round: Vec<f64>,
}

/// How steady the machine was during a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// A fixed reference workload's time between rounds (before each of
    /// the hot path's; after each of a boundary way's), best of five, in
    /// nanoseconds.
    pub reference_ns: Vec<f64>,
    /// Their median: the run's measure of its machine's speed.
    pub reference_p50_ns: f64,
    /// How far the rounds' speed moved: the rounds cut into up to five
    /// blocks in time order, each block's fastest time taken, then
    /// (slowest - fastest) / fastest of those, in percent.
    pub spread_pct: f64,
    /// Whether the speed moved beyond noise
    /// ([`crate::timing::drift::DRIFT_PCT`]).
    pub detected: bool,
    /// What was seen, on one line, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// What a host driver is: the engine and calling convention that ran a
/// variant, where it ran, and what it cannot see.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DriverInfo {
    /// The driver's name, e.g. `wasmtime (wprof)`.
    pub name: String,
    /// The engine and its version, e.g. `wasmtime 48.0.8`.
    pub engine: String,
    /// What compiles (or interprets) the plugin's code, e.g. `cranelift`.
    pub compiler: String,
    /// The calling convention, in words.
    pub abi: String,
    /// Where it ran: `in-process`, or `child process (pid N)`.
    pub process: String,
    /// Phases of a call the driver cannot split from the others, with why;
    /// the time they take is in the phase they fall into.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unseen: Vec<Unseen>,
}

/// A phase a driver cannot see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unseen {
    /// The phase.
    pub phase: Phase,
    /// Why, in words.
    pub why: String,
}

/// Variants ordered by a figure, each against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    /// The variant every other is compared with (the naive way).
    pub baseline: String,
    /// The phase whose median orders the variants (the whole iteration).
    pub phase: Phase,
    /// Fastest first.
    pub rows: Vec<Rank>,
}

/// One variant's place in a [`Ranking`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rank {
    /// The variant.
    pub variant: String,
    /// Median of the ranking phase, in nanoseconds.
    pub p50_ns: f64,
    /// 95th percentile of the ranking phase, in nanoseconds.
    pub p95_ns: f64,
    /// Baseline median / this median: how many times faster than the baseline.
    pub speedup: f64,
}

/// A variant that failed, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The variant (e.g. a cold-start rung).
    pub variant: String,
    /// The phase it failed in.
    pub phase: Phase,
    /// Why, on one line.
    pub cause: String,
}

/// The machine and runtime.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// Operating system (`std::env::consts::OS`).
    pub os: String,
    /// CPU architecture (`std::env::consts::ARCH`).
    pub arch: String,
    /// CPU model name, where the OS says.
    pub cpu: Option<String>,
    /// Logical CPUs available to this process.
    pub cpus: u64,
    /// Wasmtime version wprof was built with.
    pub wasmtime: String,
    /// Kernel release (`/proc/sys/kernel/osrelease`), where readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// CPU frequency governor of CPU 0, where readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governor: Option<String>,
    /// Whether turbo/boost was on, where readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turbo: Option<bool>,
    /// One-minute load average when the run ended, where readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_average: Option<f64>,
}

/// The plugin under test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// Short name (a bundled plugin's name, or the file stem).
    pub name: String,
    /// Where the module came from: a file path, or `bundled:<name>`.
    pub source: String,
    /// Size of the module in bytes.
    pub size_bytes: u64,
    /// SHA-256 of the module's bytes, hex: what `wprof compare` checks.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sha256: String,
    /// The export that was called.
    pub export: String,
    /// Size of the encoded input in bytes.
    pub input_bytes: u64,
    /// Size of the output in bytes.
    pub output_bytes: u64,
    /// Whether every wasm output compared was identical to the native (or
    /// reference) build's, checked before and after timing; absent when
    /// there was nothing to compare it with. A variant that failed for
    /// another reason is a failure, not a mismatch.
    pub outputs_identical: Option<bool>,
    /// Whether a command's output matched the files it was told to expect
    /// (`--expect-stdout`, `--expect-stderr`); absent when none was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_checked: Option<bool>,
}

/// The clock behind every timing in the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClockInfo {
    /// Clock name (`tsc`, `monotonic`).
    pub name: String,
    /// Nanoseconds per tick, as calibrated over this run.
    pub ns_per_tick: f64,
    /// Median cost of one clock read, measured back to back, in nanoseconds.
    pub read_cost_ns: f64,
    /// Effective resolution: the smallest common step between back-to-back
    /// reads, in nanoseconds. Phases near this are at the clock's limit.
    pub resolution_ns: f64,
}

/// A phase measured once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseTime {
    /// Which phase.
    pub phase: Phase,
    /// How long it took, in nanoseconds.
    pub ns: f64,
}

/// A table of formatted cells, to be printed as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// What the table shows, in one line.
    pub title: String,
    /// Column headings.
    pub columns: Vec<String>,
    /// Rows of cells, as many as there are columns.
    pub rows: Vec<Vec<String>>,
}

/// One way of running the plugin and what each phase of its calls cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    /// Short name: `wasm`, `native`, or a rung name.
    pub name: String,
    /// What runs, in words (engine, compiler, build).
    pub description: String,
    /// The host driver that ran it, where it is not wprof's in-process
    /// Wasmtime host (which the description names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<DriverInfo>,
    /// Per-phase statistics in order; the last row is the whole
    /// ([`Phase::Call`], [`Phase::ColdStart`]). The phase rows add up to it
    /// exactly, per iteration.
    pub phases: Vec<PhaseStats>,
    /// The same calls timed per batch without per-phase clock reads.
    pub uninstrumented: Option<Uninstrumented>,
    /// One-off work this variant needs before its iterations (creating its
    /// engine, precompiling, pre-initialising), measured once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub setup: Vec<PhaseTime>,
    /// Size in bytes of the wasm module this variant loads, where it differs
    /// from the plugin's (e.g. a Wizer snapshot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_bytes: Option<u64>,
    /// Size in bytes of the module compiled by this variant's engine, as
    /// Wasmtime serialises it (a `.cwasm`: machine code plus metadata).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiled_bytes: Option<u64>,
    /// Where the variant is one point of a series over input sizes (a way
    /// of crossing the boundary at one payload size): the series and the
    /// size, for charts of how each series scales.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<ScalingPoint>,
    /// Other measured facts about this variant, by name (e.g. how many
    /// instances a pooling allocator had live during a call).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, serde_json::Value>,
    /// Perf counters per iteration, phase by phase, from the counter pass;
    /// the whole iteration last. Empty when no counter pass ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counters: Vec<PhaseCounts>,
    /// Wasm fuel per call, from the fuel pass (`--fuel`); absent when none ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<Fuel>,
    /// Memory readings taken while this variant ran, where measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryProfile>,
}

/// One point of a series over input sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingPoint {
    /// The series (e.g. a way of crossing: `raw`, `json`).
    pub series: String,
    /// The input size of this point, in bytes.
    pub size_bytes: u64,
}

impl Variant {
    /// The statistics of `phase`, if this variant has it.
    pub fn phase(&self, phase: Phase) -> Option<&PhaseStats> {
        self.phases.iter().find(|p| p.phase == phase)
    }
}

/// Statistics of one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseStats {
    /// Which phase.
    pub phase: Phase,
    /// Its timings over all measured calls.
    pub stats: Stats,
    /// Its mean as a percentage of the mean whole call.
    pub share_pct: f64,
}

/// Timings of calls made without per-phase instrumentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Uninstrumented {
    /// Calls made.
    pub calls: u64,
    /// Batches they were timed in (one clock read before and after each).
    pub batches: u64,
    /// Calls per batch (the last batch of a round may have fewer).
    pub batch_calls: u64,
    /// Mean time per call over all calls, in nanoseconds.
    pub mean_ns: f64,
    /// Median over batches of each batch's mean per call, in nanoseconds:
    /// the figure comparisons use, robust to a batch hit by a disturbance.
    pub median_ns: f64,
    /// Fastest batch's mean per call, in nanoseconds.
    pub batch_min_ns: f64,
    /// Slowest batch's mean per call, in nanoseconds.
    pub batch_max_ns: f64,
    /// Calls per second at `median_ns`.
    pub per_sec: f64,
    /// How much the clock reads slowed calls down, in %: round by round,
    /// the instrumented calls' median batch mean against the uninstrumented
    /// calls' of the same round, the median over rounds (unpaired where the
    /// recording has no rounds).
    pub instrumentation_overhead_pct: f64,
    /// Its 95 % interval, in %, where it was paired round by round (the
    /// instrumented and uninstrumented calls of each round adjacent in time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instrumentation_overhead_ci_pct: Option<(f64, f64)>,
}

/// A subject variant against a baseline (wasm against native).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Variant measured against (`native`).
    pub baseline: String,
    /// Variant compared (`wasm`).
    pub subject: String,
    /// Subject / baseline, uninstrumented per call: the median of the
    /// per-round ratios where the two were measured in the same rounds
    /// (the figure to quote), else of the two `median_ns`.
    pub ratio: f64,
    /// The ratio's 95 % interval over rounds, when paired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio_ci: Option<(f64, f64)>,
    /// Rounds paired (0: not paired).
    #[serde(default)]
    pub rounds: u64,
    /// Subject / baseline of the two runs' `median_ns`, unpaired: supporting
    /// detail, which a machine whose speed changed moves.
    #[serde(default)]
    pub unpaired_ratio: f64,
    /// Subject - baseline, uninstrumented per call (`median_ns`), in nanoseconds.
    pub overhead_ns: f64,
    /// `overhead_ns` as a percentage of the baseline (from the paired ratio).
    pub overhead_pct: f64,
    /// Subject / baseline of the instrumented medians of whole calls.
    pub p50_ratio: f64,
    /// Where the difference goes: instrumented means per phase.
    pub phases: Vec<PhaseDelta>,
}

/// One phase's share of the difference between two variants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseDelta {
    /// Which phase.
    pub phase: Phase,
    /// Mean in the subject, in nanoseconds (0 if it has no such phase).
    pub subject_ns: f64,
    /// Mean in the baseline, in nanoseconds (0 if it has no such phase).
    pub baseline_ns: f64,
    /// subject - baseline, in nanoseconds.
    pub delta_ns: f64,
}

/// One timed span of one call, for timeline viewers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// Timeline row it belongs to (the variant name).
    pub track: String,
    /// The phase (or a whole, e.g. [`Phase::Call`], enclosing the phases).
    pub phase: Phase,
    /// Start, in nanoseconds since the run's first clock read.
    pub start_ns: f64,
    /// Duration in nanoseconds.
    pub dur_ns: f64,
    /// Index of the call among the variant's measured calls.
    pub iteration: u64,
    /// Bytes going into the plugin on this span (input size), if any.
    pub bytes_in: Option<u64>,
    /// Bytes coming out on this span (output size), if any.
    pub bytes_out: Option<u64>,
}
