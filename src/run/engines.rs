//! What `record engines` measured: each engine's cold start split, its
//! call, its memory per instance and its no-op call, paired against native
//! and Cranelift, and the break-even between starting fast and running
//! fast.

use serde::{Deserialize, Serialize};

use super::{DriverInfo, PairedRatio, PhaseTime, Unavailable};
use crate::units::fmt_ns;

/// Every engine asked for, side by side.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Engines {
    /// What every engine's first output was checked against: `native` (the
    /// plugin's native build) or, without one, `cranelift`.
    pub reference: String,
    /// Cold starts timed per engine (each a fresh module: validate,
    /// compile, instantiate, first call), interleaved across engines.
    pub cold_starts: u64,
    /// Instances made (each called once, all kept) to read memory per
    /// instance.
    pub instances: u64,
    /// The engines that ran, in the order asked.
    pub rows: Vec<EngineRow>,
    /// Calls after which compiling and then running beats each faster
    /// starting engine, against Cranelift.
    pub break_even: Vec<BreakEven>,
    /// Engines that did not run, with why: not installed here, or not
    /// applicable to this module (a proposal or import they lack).
    pub unavailable: Vec<Unavailable>,
}

/// One engine's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineRow {
    /// The engine (`cranelift`, `winch`, `pulley`, `wasmi`, `v8`, or
    /// `native`, the baseline).
    pub engine: String,
    /// The driver that ran it; absent for native.
    pub driver: Option<DriverInfo>,
    /// Median of each cold-start phase over the cold starts: `validate`,
    /// `compile` (or translate), `instantiate`, `call` (the first call).
    pub cold_start: Vec<PhaseTime>,
    /// Median whole cold start, in nanoseconds (the phases' sum per cold
    /// start, then the median); absent for native.
    pub cold_start_ns: Option<f64>,
    /// Cold start against Cranelift's, paired cold start by cold start
    /// (each sample of every engine taken in one pass).
    pub cold_vs_cranelift: Option<PairedRatio>,
    /// Median time per call, uninstrumented (batches of calls between two
    /// clock reads), in nanoseconds.
    pub call_ns: f64,
    /// Time per call against native's, paired round by round.
    pub vs_native: Option<PairedRatio>,
    /// Time per call against Cranelift's, paired round by round.
    pub vs_cranelift: Option<PairedRatio>,
    /// Resident memory one more instance adds, in bytes; absent where
    /// not measured (see `memory_note`).
    pub memory_per_instance_bytes: Option<f64>,
    /// Virtual memory one more instance reserves, in bytes.
    pub virtual_per_instance_bytes: Option<f64>,
    /// Why memory per instance is absent, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_note: Option<String>,
    /// Median time of a call of the no-op plugin (plugins/noop: the ABI's
    /// calls and nothing else) on this engine, uninstrumented, in
    /// nanoseconds: the floor under every call, harness included.
    pub noop_call_ns: Option<f64>,
    /// The cost of one read of the clock this engine's calls were stamped
    /// with, in nanoseconds: the harness's own part of an instrumented call.
    pub clock_read_ns: f64,
    /// Whether the engine's first output equals the reference's, byte for
    /// byte (checked before anything was timed).
    pub output_matches: bool,
}

/// When compiling first pays off.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BreakEven {
    /// The engine that starts faster than Cranelift.
    pub engine: String,
    /// The engine it is weighed against (`cranelift`).
    pub against: String,
    /// How many times faster it starts (cold start against cold start).
    pub starts_faster: f64,
    /// How many times slower it runs a call.
    pub runs_slower: f64,
    /// Calls per instance after which `against` (cold start plus calls)
    /// costs less: (cold start difference) / (call difference). Absent
    /// when one engine wins both or loses both.
    pub calls: Option<f64>,
    /// The sentence a person quotes.
    pub sentence: String,
}

impl Engines {
    /// The headline holds every engine that beats Cranelift at something,
    /// then others up to this many lines in all (the table has them all).
    const WEIGHED: usize = 3;

    /// The row of `engine`.
    pub fn row(&self, engine: &str) -> Option<&EngineRow> {
        self.rows.iter().find(|r| r.engine == engine)
    }

    /// The lines a person quotes: the fastest engine per call against
    /// native, and each break-even.
    pub fn headline(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let ranked: Vec<&EngineRow> = self
            .rows
            .iter()
            .filter(|r| r.engine != "native" && r.output_matches)
            .collect();
        if let Some(best) = ranked
            .iter()
            .filter(|r| r.vs_native.is_some())
            .min_by(|a, b| a.call_ns.total_cmp(&b.call_ns))
            && let Some(v) = &best.vs_native
        {
            lines.push(format!(
                "fastest call: {} at {} a call, {:.2}x native's time (95 % {:.2}x to {:.2}x, paired over {} rounds)",
                best.engine,
                fmt_ns(best.call_ns),
                v.ratio,
                v.lo,
                v.hi,
                v.rounds
            ));
        }
        // Every engine that starts or runs faster than Cranelift: the
        // trade-offs are what decides between an interpreter and a JIT, so
        // none is cut however many engines ran. One that loses at both is
        // in the table, and here only where there is room.
        let (wins, rest): (Vec<&BreakEven>, Vec<&BreakEven>) = self
            .break_even
            .iter()
            .partition(|b| b.starts_faster >= 1.0 || b.runs_slower < 1.0);
        let room = Self::WEIGHED.saturating_sub(wins.len());
        lines.extend(
            wins.iter()
                .chain(rest.iter().take(room))
                .map(|b| b.sentence.clone()),
        );
        lines
    }
}

/// Calls after which the engine that starts slower and runs faster
/// (`slow_start`) costs less than the one that starts faster and runs
/// slower: where `cold + n * call` meet. None unless each wins one.
pub fn break_even(fast_start: (f64, f64), slow_start: (f64, f64)) -> Option<f64> {
    let (cold_a, call_a) = fast_start;
    let (cold_b, call_b) = slow_start;
    (cold_a < cold_b && call_a > call_b).then(|| (cold_b - cold_a) / (call_a - call_b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn break_even_is_where_the_two_costs_meet() {
        // 1 ms to start and 10 µs a call, against 11 ms and 1 µs: 10 ms
        // over 9 µs a call.
        let n = break_even((1e6, 10e3), (11e6, 1e3)).unwrap();
        assert!((n - 10e6 / 9e3).abs() < 1e-9);
        let (a, b) = ((1e6, 10e3), (11e6, 1e3));
        assert!((a.0 + n * a.1 - (b.0 + n * b.1)).abs() < 1e-3);
        // One engine wins both: no break-even.
        assert_eq!(break_even((1e6, 1e3), (11e6, 10e3)), None);
        assert_eq!(break_even((11e6, 1e3), (1e6, 10e3)), None);
    }

    /// A sentence against Cranelift: starts `starts`x faster, runs
    /// `runs`x slower.
    fn weighed(engine: &str, starts: f64, runs: f64) -> BreakEven {
        BreakEven {
            engine: engine.into(),
            against: "cranelift".into(),
            starts_faster: starts,
            runs_slower: runs,
            calls: break_even((1.0, runs), (starts, 1.0)),
            sentence: engine.into(),
        }
    }

    #[test]
    fn the_headline_keeps_every_engine_that_wins_at_something() {
        let mut e = Engines {
            break_even: vec![
                weighed("loses-both", 0.9, 2.0),
                weighed("trade-a", 4.0, 2.0),
                weighed("wins-both", 9.0, 0.8),
                weighed("trade-b", 9.0, 3.0),
                weighed("trade-c", 14.0, 13.0),
            ],
            ..Engines::default()
        };
        // Four that win somewhere: all four, and no room for the loser.
        assert_eq!(e.headline(), ["trade-a", "wins-both", "trade-b", "trade-c"]);
        e.break_even.truncate(2);
        // One that wins somewhere first, then the rest up to three.
        assert_eq!(e.headline(), ["trade-a", "loses-both"]);
    }
}
