//! The reference study: a 2025 study of plugin overhead with Extism 1.5.4
//! and Wasmtime 25.0.3 under Elixir 1.17 on an AWS c6i.2xlarge, whose
//! scenarios wprof's follow. Its figures are kept here with the settings
//! each was measured under, so that wprof quotes one beside its own only
//! where a run's settings match (the same plugin, payload size, record size
//! or item count). REFERENCE-STUDY.md holds the whole table.

/// How output names the study.
pub const NAME: &str = "the reference study";

/// The plugin its figures are of: the drug-interaction checker, which
/// wprof bundles as `drug-checker`.
pub const PLUGIN: &str = "drug-checker";

/// Scenario 1: cold start of its drug checker, p50, from loading the plugin
/// to the first result.
pub const COLD_START_P50_NS: f64 = 42.1e6;

/// Scenario 2: its hot path per call under Extism, wasm and native Elixir.
pub const HOT_PATH_NS: (f64, f64) = (11.16e3, 10.50e3);

/// Scenario 3: resident memory each extra plugin instance added.
pub const INSTANCE_BYTES: f64 = 2.44e6;

/// Scenario 4: JSON + base64 overhead over native, percent, by payload size
/// in bytes.
pub const TRANSFER_JSON_OVERHEAD_PCT: [(u64, f64); 4] = [
    (100, 10.9),
    (10_000, 18.1),
    (1_000_000, 28.3),
    (10_000_000, 36.3),
];

/// Optimization 1: batching this many items into one call...
pub const BATCH_ITEMS: u64 = 100;
/// ...removed this share of the per-call overhead, percent.
pub const BATCH_REMOVED_PCT: f64 = 99.0;

/// Optimization 2: the patient record of this size...
pub const RECORD_BYTES: u64 = 1_000_000;
/// ...cost this much over native as JSON (ns, percent)...
pub const RECORD_JSON_OVERHEAD: (f64, f64) = (402e3, 28.3);
/// ...and this much through host functions (ns, percent)...
pub const RECORD_HOST_FN_OVERHEAD: (f64, f64) = (35e3, 2.5);
/// ...which removed this share of JSON's overhead, percent.
pub const RECORD_HOST_FN_REMOVED_PCT: f64 = 91.0;

/// Its guesses, not measurements: MessagePack would save this share of
/// JSON's overhead, percent...
pub const MSGPACK_GUESS_PCT: f64 = 40.0;
/// ...and the component model this share.
pub const COMPONENT_GUESS_PCT: f64 = 60.0;

/// "When WASM is faster": a Gaussian blur of an image of this size...
pub const BLUR_IMAGE: (u32, u32) = (1920, 1080);
/// ...ran this many times faster as SIMD wasm than as pure Elixir.
pub const BLUR_WASM_OVER_ELIXIR: f64 = 7.6;

/// Its hot path allocated this much per call, in bytes: wasm, native.
pub const ALLOCATED_PER_CALL_BYTES: (f64, f64) = (120.0, 90.0);

/// The study's JSON overhead at `size` bytes, where it measured that size.
pub fn transfer_json_overhead_pct(size: u64) -> Option<f64> {
    TRANSFER_JSON_OVERHEAD_PCT
        .iter()
        .find(|(s, _)| *s == size)
        .map(|(_, p)| *p)
}
