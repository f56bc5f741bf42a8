//! What every numeric option may be, checked when the line is parsed: each
//! refusal names the limit and why it is there, so that no count, size or
//! duration reaches a scenario that it cannot hold (an allocation of
//! hundreds of GB, a deadline that measures the scheduler, a run of years).

use std::time::Duration;

/// A whole number in `lo..=hi`.
fn count(s: &str, lo: u64, hi: u64, why: &str) -> Result<u64, String> {
    let n: u64 = s
        .trim()
        .replace('_', "")
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number"))?;
    if n < lo {
        return Err(format!("{n} is under {lo}, the fewest {why}"));
    }
    if n > hi {
        return Err(format!("{n} is over {hi}, the most {why}"));
    }
    Ok(n)
}

/// A duration (`10s`, `500ms`, `2h`) in `lo..=hi`.
fn duration(s: &str, lo: Duration, hi: Duration, what: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("`{s}`: {e}"))?;
    let show = |d: Duration| humantime::format_duration(d).to_string();
    if d < lo {
        return Err(format!(
            "{} is shorter than {}, the shortest {what} wprof accepts",
            show(d),
            show(lo)
        ));
    }
    if d > hi {
        return Err(format!(
            "{} is longer than {}, the longest {what} wprof accepts",
            show(d),
            show(hi)
        ));
    }
    Ok(d)
}

/// A number in `lo..=hi` (`lo` excluded when `open`).
fn real(s: &str, lo: f64, open: bool, hi: f64, what: &str) -> Result<f64, String> {
    let x: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    let above = if open { x > lo } else { x >= lo };
    if !x.is_finite() || !above || x > hi {
        let low = if open { "above" } else { "at least" };
        return Err(format!(
            "{what} must be {low} {lo} and at most {hi}; got {s}"
        ));
    }
    Ok(x)
}

/// A size (`100`, `64KB`, `1MB`) in `lo..=hi` bytes.
fn size(s: &str, lo: u64, hi: u64, what: &str) -> Result<u64, String> {
    let n = crate::units::parse_size(s)?;
    let show = |n: u64| crate::units::fmt_bytes(n as f64);
    if n < lo || n > hi {
        return Err(format!(
            "{what} of {} is outside {}..{}",
            show(n),
            show(lo),
            show(hi)
        ));
    }
    Ok(n)
}

macro_rules! counts {
    ($($(#[$doc:meta])* $name:ident: $lo:expr, $hi:expr, $why:expr;)*) => {
        $(
            $(#[$doc])*
            pub(super) fn $name(s: &str) -> Result<u64, String> {
                count(s, $lo, $hi, $why)
            }
        )*
    };
}

/// The most measured calls a variant may have: each keeps a row of clock
/// stamps (8 bytes a phase boundary), ~64 B a call.
pub const MAX_CALLS: u64 = 10_000_000;

counts! {
    /// `-n` of the hot path.
    hot_iterations: 1, MAX_CALLS, "measured calls a variant's stamps can hold (about 64 B each)";
    /// `-w`: warm-up calls.
    warmup: 0, 100_000_000, "warm-up calls wprof makes (about 5 min of a 3 µs call)";
    /// `--rounds`.
    rounds: 1, 10_000, "rounds a run is split into";
    /// `--trace-calls` and the like: calls drawn in the Chrome trace.
    trace_calls: 0, 100_000, "calls drawn in a Chrome trace (more make a trace viewers cannot open)";
    /// Cold-start iterations (each compiles or loads the module).
    cold_iterations: 1, 1_000_000, "cold-start iterations a rung may have";
    /// `--instances` of the memory scenario.
    instances: 2, 1_000_000_000, "instances the memory scenario keeps alive (the machine's memory is checked before any starts)";
    /// Calls before a memory reading, or in the heap pass.
    calls: 1, 100_000_000, "calls wprof makes before reading memory";
    /// Runs per variant of a boundary scenario.
    runs: 1, 1_000_000, "measured runs a variant keeps (every variant of a run is kept until it is settled)";
    /// `--pool-size` of concurrency.
    pool_size: 1, 1024, "instances in the shared pool";
    /// `--items` of batching.
    items: 1, 1_000_000, "items in one batch";
    /// Fresh-instance runs of a command or component.
    cold_runs: 0, 1_000_000, "cold runs of a command or component";
    /// Instances a command keeps alive.
    command_instances: 0, 100_000, "instances kept alive";
    /// `--table-limit`.
    table_elements: 1, 1 << 32, "table elements a wasm32 table can hold";
    /// `--memory-limit`, MiB.
    memory_mib: 1, 65_536, "MiB of linear memory (64 GiB; a wasm32 memory stops at 4 GiB)";
    /// `--cold-starts` of engines: each compiles the module on every engine.
    engine_cold_starts: 1, 10_000, "cold starts an engine makes (each compiles the module)";
    /// `--instances` of engines.
    engine_instances: 1, 100_000, "instances an engine keeps alive for its memory reading";
    /// `--output-limit`, KiB.
    output_kib: 1, 4 << 20, "KiB of output (4 GiB)";
}

const SEC: u64 = 1_000_000_000;
const DAY: u64 = 24 * 3600 * SEC;

macro_rules! durations {
    ($($(#[$doc:meta])* $name:ident: $lo_ns:expr, $hi_ns:expr, $what:expr;)*) => {
        $(
            $(#[$doc])*
            pub(super) fn $name(s: &str) -> Result<Duration, String> {
                duration(s, Duration::from_nanos($lo_ns), Duration::from_nanos($hi_ns), $what)
            }
        )*
    };
}

durations! {
    /// `--deadline`: shorter measures the scheduler, not the plugin (a
    /// thread wakes late by milliseconds on a busy machine), and the call
    /// would be blamed for it.
    deadline: SEC / 100, DAY, "deadline";
    /// A measuring time: per variant, per rung, `--max-time`.
    measuring_time: 1_000, DAY, "measuring time";
    /// A soak's `--duration`.
    soak_duration: SEC / 100, 31 * DAY, "soak";
    /// `--duration-per-point` of concurrency.
    point_duration: SEC / 100, DAY, "time per design and thread count";
    /// `--duration-per-engine` of engines.
    engine_duration: SEC / 100, DAY, "time per engine";
    /// A soak's `--sample-every`.
    sample_every: SEC / 1000, DAY, "interval between memory readings";
}

macro_rules! reals {
    ($($(#[$doc:meta])* $name:ident: $lo:expr, $open:expr, $hi:expr, $what:expr;)*) => {
        $(
            $(#[$doc])*
            pub(super) fn $name(s: &str) -> Result<f64, String> {
                real(s, $lo, $open, $hi, $what)
            }
        )*
    };
}

reals! {
    /// A soak's `--rate`, calls a second.
    rate: 0.0, true, 10_000_000.0, "--rate (calls a second)";
    /// `--sample-secs`.
    sample_secs: 0.0, true, 3600.0, "--sample-secs";
    /// `--target-ci`, percent.
    target_ci: 0.0, true, 100.0, "--target-ci (percent)";
    /// A percentage threshold (`compare --threshold`, `--noise`).
    percent: 0.0, false, 10_000.0, "a percentage";
    /// Nanoseconds (`compare --noise-ns`).
    nanoseconds: 0.0, false, 1e12, "a time in ns";
    /// KB an hour (a soak's `--threshold`).
    kb_per_hour: 0.0, false, 1e12, "--threshold (KB an hour)";
}

/// A payload size of data-transfer.
pub(super) fn payload(s: &str) -> Result<u64, String> {
    size(s, 1, 1 << 30, "a payload")
}

/// A patient record of host-functions (at least one 8-byte lab value).
pub(super) fn record(s: &str) -> Result<u64, String> {
    size(s, 8, 1 << 30, "a record")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_limit() {
        let e = hot_iterations("18446744073709551615").unwrap_err();
        assert!(e.contains("over 10000000, the most measured calls"), "{e}");
        assert!(hot_iterations("0").unwrap_err().contains("under 1"));
        assert!(
            hot_iterations("-1")
                .unwrap_err()
                .contains("not a whole number")
        );
        assert_eq!(hot_iterations("100_000"), Ok(100_000));
        let e = deadline("0s").unwrap_err();
        assert!(e.contains("the shortest deadline wprof accepts"), "{e}");
        assert!(e.contains("10ms"), "{e}");
        assert!(rate("0").is_err() && rate("inf").is_err() && rate("NaN").is_err());
        assert_eq!(rate("200"), Ok(200.0));
        assert!(payload("2GB").unwrap_err().contains("outside"));
    }
}
