//! What `record concurrency` measured: each host design at each thread
//! count, its per-request counters and footprint, and the knee.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{PairedRatio, Unavailable};
use crate::stats::Stats;

/// Efficiency below which a design is said to stop scaling.
pub const KNEE_EFFICIENCY: f64 = 0.8;

/// Every design at every thread count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Concurrency {
    /// The thread counts measured, ascending.
    pub threads: Vec<u64>,
    /// Logical CPUs: no more threads than this run at once, so the ideal
    /// throughput at `t` threads is `min(t, cpus)` times one thread's.
    pub cpus: u64,
    /// Rounds: every design at every thread count ran once per round, in
    /// a rotating order, so that a machine that slows down moves them alike.
    pub rounds: u64,
    /// Each design at each thread count, designs in the order asked.
    pub points: Vec<Point>,
    /// Each design's scaling in one sentence, from its points.
    pub knees: Vec<Knee>,
    /// Per-request counters that could not be read, with why.
    pub unavailable: Vec<Unavailable>,
}

/// One design at one thread count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The host design (`fresh`, `pooled`, `reuse`, `native`, ...).
    pub design: String,
    /// Threads making requests at once.
    pub threads: u64,
    /// Requests completed, over every round and thread.
    pub requests: u64,
    /// Requests per second: every request over the summed wall-clock
    /// time of the rounds (first request's start to last one's end).
    pub requests_per_s: f64,
    /// Each round's requests per second, in round order.
    pub per_round: Vec<f64>,
    /// Latency of one request, whole (the variant of the same name splits
    /// it into phases), over the requests whose stamps were kept.
    pub latency: Option<Stats>,
    /// Throughput against the fewest threads measured (one, by default),
    /// over the ideal `min(threads, cpus) / min(fewest, cpus)`: 1.0 is
    /// perfect scaling. Paired round by round; absent at the fewest.
    /// Another process's load moves it (see `waited_pct`).
    pub efficiency: Option<PairedRatio>,
    /// Of the worker threads' runnable time, the share they waited for a
    /// CPU, in percent (`/proc/thread-self/schedstat`); absent where
    /// unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waited_pct: Option<f64>,
    /// Time per request against native's at the same thread count,
    /// paired round by round; absent for native or without it.
    pub vs_native: Option<PairedRatio>,
    /// Counters per request, by name: `page-faults` and `context-switches`
    /// (perf software counters, every worker thread), `mmap`, `munmap`,
    /// `madvise`, `mprotect` (syscall tracepoints, every worker thread),
    /// `tlb-shootdowns` and `function-call-ipis` (/proc/interrupts,
    /// system-wide: every process's). A counter not read is absent and
    /// named in [`Concurrency::unavailable`].
    pub per_request: BTreeMap<String, f64>,
    /// Virtual memory the design holds at this thread count, in bytes: what
    /// its engine and pool reserved when it was set up, plus the growth
    /// from before the threads started to halfway through a round (their
    /// instances live), the largest over rounds.
    pub reserved_bytes: u64,
    /// Resident memory, the same way.
    pub resident_bytes: u64,
    /// The pooling allocator's own metrics halfway through the last round,
    /// by Wasmtime's names; empty for designs without it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pool: BTreeMap<String, u64>,
}

/// Where one design stops scaling, and the counter that grew most there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Knee {
    /// The design.
    pub design: String,
    /// The most threads up to which efficiency stayed at or above
    /// [`KNEE_EFFICIENCY`]; absent when it fell at the first step.
    pub scales_to: Option<u64>,
    /// Efficiency there.
    pub scales_to_efficiency: Option<f64>,
    /// The first thread count where efficiency fell below
    /// [`KNEE_EFFICIENCY`]; absent when it never did.
    pub knee: Option<u64>,
    /// Efficiency at the knee.
    pub knee_efficiency: Option<f64>,
    /// Per-request counters at the knee against the fewest threads, the
    /// largest growth first.
    pub grew: Vec<Growth>,
    /// The whole finding, in one sentence.
    pub sentence: String,
}

/// One per-request counter at the knee against the fewest threads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Growth {
    /// The counter.
    pub counter: String,
    /// Per request at the fewest threads.
    pub from: f64,
    /// Per request at the knee.
    pub to: f64,
}

impl Growth {
    /// `to / from`; infinite where it grew from zero.
    pub fn factor(&self) -> f64 {
        if self.from > 0.0 {
            self.to / self.from
        } else if self.to > 0.0 {
            f64::INFINITY
        } else {
            1.0
        }
    }
}

impl Concurrency {
    /// The line to quote: at the most threads the CPUs can run at once,
    /// the wasm design that serves the most requests and the one that
    /// serves the fewest.
    pub fn headline(&self) -> Option<String> {
        let t = self
            .threads
            .iter()
            .copied()
            .filter(|&t| t <= self.cpus.max(1))
            .max()
            .or_else(|| self.threads.first().copied())?;
        let mut at: Vec<&Point> = self
            .points
            .iter()
            .filter(|p| p.threads == t && p.design != "native" && p.requests > 0)
            .collect();
        at.sort_by(|a, b| b.requests_per_s.total_cmp(&a.requests_per_s));
        let best = at.first()?;
        let mut line = format!(
            "at {t} thread{} ({} CPUs), most requests/s: {} {:.0}/s",
            if t == 1 { "" } else { "s" },
            self.cpus,
            best.design,
            best.requests_per_s
        );
        let mut detail = Vec::new();
        if let Some(e) = &best.efficiency {
            detail.push(format!("{:.0} % efficient", 100.0 * e.ratio));
        }
        if let Some(v) = &best.vs_native {
            detail.push(format!("{:.2}x native's time per request", v.ratio));
        }
        if !detail.is_empty() {
            line.push_str(&format!(" ({})", detail.join(", ")));
        }
        if let Some(worst) = at.last().filter(|w| w.design != best.design) {
            line.push_str(&format!(
                "; fewest: {} {:.0}/s",
                worst.design, worst.requests_per_s
            ));
        }
        Some(line)
    }
}
