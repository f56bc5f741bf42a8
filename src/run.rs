//! The plain-data result of one scenario run: what every exporter reads and
//! what the run JSON file holds. Scenarios fill it in; nothing here knows how.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    /// Things the reader must know: what was not measured and why, warnings.
    pub notes: Vec<String>,
    /// Whether the run was interrupted (Ctrl-C) and holds only what was
    /// measured until then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
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
    /// Whether the wasm and native outputs were byte-for-byte identical
    /// (checked once before timing); absent when there is no native build.
    pub outputs_identical: Option<bool>,
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

/// The process's memory at points of a variant's run, and what one more
/// instance costs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryProfile {
    /// Readings in the order they were taken.
    pub points: Vec<MemoryPoint>,
    /// What each instance after the first added, where several were made.
    pub per_instance: Option<PerInstance>,
    /// Size of the module's compiled machine code in bytes, where there is one.
    pub code_bytes: Option<u64>,
}

/// One reading of the process's memory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryPoint {
    /// What had just happened (e.g. `engine`, `module`, `1 instance`).
    pub label: String,
    /// Nanoseconds since the variant started, for readings over time.
    pub t_ns: f64,
    /// Resident set size in bytes (`Rss` of /proc/self/smaps_rollup).
    pub rss_bytes: u64,
    /// Proportional set size in bytes, where the kernel reports it.
    pub pss_bytes: Option<u64>,
    /// Virtual memory reserved by the process in bytes (`VmSize`).
    pub virtual_bytes: u64,
    /// Host heap in use in bytes (glibc `mallinfo2`: in-use arena plus
    /// mmapped chunks), where the allocator reports it.
    pub heap_bytes: Option<u64>,
    /// Live wasm instances at this point.
    pub instances: u64,
    /// Calls made so far.
    pub calls: u64,
}

/// What one more instance costs, from the readings at 1 and at N instances.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PerInstance {
    /// Instances the figures are averaged over (N - 1).
    pub instances: u64,
    /// Resident memory per instance in bytes.
    pub rss_bytes: f64,
    /// Of that, linear memory pages resident per instance (counted with
    /// `mincore` over each instance's memory), in bytes.
    pub linear_resident_bytes: f64,
    /// Host heap per instance in bytes (stores, instance handles), where
    /// measured.
    pub heap_bytes: Option<f64>,
    /// The rest: runtime structures outside the heap and linear memory
    /// (VM contexts, tables, page tables), rss - linear - heap.
    pub other_bytes: Option<f64>,
    /// Linear memory each instance has (its size, committed or not), in bytes.
    pub linear_size_bytes: f64,
    /// Virtual memory reserved per instance in bytes.
    pub virtual_bytes: f64,
}

/// A fitted trend of a reading over time, with its verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    /// What was fitted (e.g. `rss`).
    pub series: String,
    /// Readings fitted.
    pub samples: u64,
    /// Least-squares slope in KB (1000 bytes) per hour.
    pub slope_kb_per_hour: f64,
    /// Lower end of the slope's 95 % confidence interval (Student's t).
    pub ci_low_kb_per_hour: f64,
    /// Upper end of that interval.
    pub ci_high_kb_per_hour: f64,
    /// Growth over a week at the fitted slope, in KB.
    pub projected_week_kb: f64,
    /// The slope the verdict is judged against, in KB per hour.
    pub threshold_kb_per_hour: f64,
    /// `leak` (whole interval above the threshold), `no leak` (whole
    /// interval below it) or `inconclusive`.
    pub verdict: String,
}

/// How the counter pass counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CounterInfo {
    /// Counters read, in report order (perf's names, e.g. `task-clock` in
    /// nanoseconds, `page-faults`).
    pub counters: Vec<String>,
    /// Counters asked for that the kernel would not open, with why. None of
    /// these is reported as a number anywhere.
    pub unavailable: Vec<Unavailable>,
    /// Iterations per variant in the counter pass.
    pub iterations: u64,
    /// Mean counts of an empty window (one boundary read, back to back), by
    /// counter: what reading the counters adds to a phase. Already
    /// subtracted from every phase's figures.
    pub read_cost: BTreeMap<String, f64>,
    /// How the figures were taken, in words.
    pub method: String,
}

/// A counter that could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unavailable {
    /// The counter.
    pub name: String,
    /// Why, e.g. `not supported by this CPU or hypervisor (ENOENT)`.
    pub reason: String,
}

/// Counter means per iteration for one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseCounts {
    /// Which phase (a whole, e.g. [`Phase::Call`], for the whole iteration).
    pub phase: Phase,
    /// Mean count per iteration, by counter name.
    pub values: BTreeMap<String, f64>,
}

/// Wasm fuel per call (Wasmtime's fuel metering: about one unit per wasm
/// instruction): deterministic, so equal across runs of the same plugin,
/// input and Wasmtime version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fuel {
    /// Fuel per call in each phase that runs wasm, then the whole call, in
    /// the steady state (the second call into a fresh instance).
    pub phases: Vec<PhaseFuel>,
    /// Calls in the fuel pass.
    pub calls: u64,
    /// Fuel of the first call into a fresh instance, as [`Fuel::phases`]
    /// (its allocator grows the heap, so it differs): what a cold start's
    /// first call spends.
    pub first_call: Vec<PhaseFuel>,
    /// Whether every call after the first consumed the steady figure.
    pub constant: bool,
    /// How much slower a call (for cold start, an iteration) runs with
    /// fuel metering on, in percent: medians of batches alternating with
    /// unmetered ones; for cold start, metered passes of the rung
    /// alternating with unmetered ones, by their median cold starts.
    pub slowdown_pct: f64,
}

/// Fuel one phase consumed per call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseFuel {
    /// Which phase.
    pub phase: Phase,
    /// Fuel units consumed.
    pub fuel: u64,
}

/// Stacks collected by one sampler.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// `guest` (wasm stacks at epoch ticks) or `host` (SIGPROF, whole process).
    pub sampler: String,
    /// How the stacks were taken, in words.
    pub method: String,
    /// Sampling rate asked for, in Hz.
    pub requested_hz: f64,
    /// Rate achieved: samples (or ticks) per second of sampling.
    pub achieved_hz: f64,
    /// Samples taken.
    pub samples: u64,
    /// Seconds the sampler ran.
    pub seconds: f64,
    /// How much slower the sampled calls ran than unsampled ones, in
    /// percent (median of batches, the two alternating); absent where not
    /// measured.
    pub overhead_pct: Option<f64>,
    /// Folded stacks (`frame;frame;...`, outermost first) and their counts,
    /// most frequent first.
    pub stacks: Vec<Stack>,
}

/// One folded stack and how often it was seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stack {
    /// Frames outermost first, joined by `;`.
    pub frames: String,
    /// Samples.
    pub count: u64,
}

/// One reading of a counter over time, for timeline viewers ("C" events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterSample {
    /// Counter name, e.g. `rss (KB)`.
    pub name: String,
    /// Nanoseconds since the run's first clock read.
    pub t_ns: f64,
    /// The value.
    pub value: f64,
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
    /// How much the clock reads slowed calls down: the instrumented calls,
    /// grouped in batches of the same size, median of batch means, against
    /// `median_ns`, in %.
    pub instrumentation_overhead_pct: f64,
}

/// A subject variant against a baseline (wasm against native).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Variant measured against (`native`).
    pub baseline: String,
    /// Variant compared (`wasm`).
    pub subject: String,
    /// Subject / baseline, uninstrumented per call (`median_ns`).
    pub ratio: f64,
    /// Subject - baseline, uninstrumented per call (`median_ns`), in nanoseconds.
    pub overhead_ns: f64,
    /// `overhead_ns` as a percentage of the baseline.
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

/// What a heap pass under dhat found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeapProfile {
    /// The dhat profile it wrote (for valgrind's dh_view.html).
    pub file: String,
    /// Calls made per side while profiling (after one unprofiled call).
    pub calls: u64,
    /// Host allocations per wasm call (encode, copy-in, execute, copy-out,
    /// decode, free); linear memory is not seen by dhat.
    pub wasm: HeapPerCall,
    /// Allocations per native call, where there is a native build.
    pub native: Option<HeapPerCall>,
}

/// Allocations per call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeapPerCall {
    /// Bytes allocated per call (freed or not).
    pub bytes: f64,
    /// Allocations (blocks) per call.
    pub blocks: f64,
}
