//! Memory readings of a run: the process at points of a variant's run,
//! what one more instance costs, and trends over a soak.

use serde::{Deserialize, Serialize};

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
