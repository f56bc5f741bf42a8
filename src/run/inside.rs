//! What the passes that look inside calls found: counters per phase, fuel,
//! sampled stacks, counter readings over time, and the heap pass.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::phase::Phase;

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
    /// What one of them is: a plugin's `call` (cold start: its first
    /// call), or a command's `run` (a fresh instance, then `_start`).
    #[serde(default = "call_unit")]
    pub unit: String,
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
    /// When the samples were taken, in time order, for timeline viewers
    /// (the Firefox Profiler). Empty where the sampler ran in another
    /// process, whose clock the run's timeline does not share.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timed: Vec<TimedSample>,
    /// When the sampler ran: its sampled segments, in time order (empty
    /// where [`Profile::timed`] is).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
}

/// Samples of one stack taken at one time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimedSample {
    /// Nanoseconds since the run's first clock read.
    pub t_ns: f64,
    /// The stack: an index into [`Profile::stacks`].
    pub stack: usize,
    /// Samples of it at this time: 1 where each sample kept its own time
    /// (the guest sampler); the host sampler's pprof-rs keeps only the
    /// first time a stack was seen in a segment, so that sample carries the
    /// segment's count of it.
    pub weight: u64,
}

/// A stretch of time in which a sampler ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// What it sampled: the stacks' prefix (`hot-path;wasm`).
    pub label: String,
    /// Start, in nanoseconds since the run's first clock read.
    pub start_ns: f64,
    /// End, in nanoseconds since the run's first clock read.
    pub end_ns: f64,
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

/// What a heap pass under dhat found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeapProfile {
    /// The dhat profile it wrote (for valgrind's dh_view.html).
    pub file: String,
    /// Calls made per side while profiling (after one unprofiled call).
    pub calls: u64,
    /// What one of them is: a plugin's `call`, or a command's `run` (a
    /// fresh instance, `_start` to its end).
    #[serde(default = "call_unit")]
    pub unit: String,
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

fn call_unit() -> String {
    "call".to_owned()
}
