//! Soak (the seed's 24-hour run): one instance called at a steady rate for a
//! set time while the process's resident memory is read at a steady interval;
//! a least-squares line through the readings, with its 95 % confidence
//! interval, says whether memory grows and how fast, against a threshold.
//!
//! Each call is timed phase by phase like any other. Pacing sleeps and memory
//! readings happen between calls, outside every timed phase.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::error::Error;
use crate::export::fmt_bytes;
use crate::host::Limits;
use crate::measure::{self, Clock, Monotonic, memory};
use crate::phase::Phase;
use crate::run::{
    ClockInfo, CounterSample, Failure, MemoryPoint, MemoryProfile, Run, Trend, Variant,
};
use crate::source::{InputSpec, PluginSpec};

use super::{CALL_PHASES, Recorder, marked_call};
use crate::measure::InsideConfig;

/// Scenario name, as in `wprof record soak`.
pub const NAME: &str = "soak";

/// Calls whose clock stamps are kept (for the timeline, the intervals and
/// the outliers); later calls are timed into histograms, so an hours-long
/// soak does not grow wprof's own memory.
const TIMED_CALLS: usize = 100_000;

/// Settings of `record soak`.
#[derive(Debug, Clone, PartialEq)]
pub struct SoakConfig {
    /// Plugin to run. Default: the bundled drug-checker.
    pub plugin: PluginSpec,
    /// Export to call. Default: the bundled plugin's.
    pub export: Option<String>,
    /// Input. Default: the bundled plugin's input.json.
    pub input: InputSpec,
    /// How long to run. Default: 60 s.
    pub duration: Duration,
    /// Calls per second. Default: 1000.
    pub rate: f64,
    /// Time between memory readings. Default: 1 s.
    pub sample_every: Duration,
    /// Growth above which memory is called leaking, in KB (1000 B) per hour.
    /// Default: 1000 (1 MB/hour).
    pub threshold_kb_per_hour: f64,
    /// What the instance may grow to and return, and the per-call deadline.
    /// Default: [`Limits::default`].
    pub limits: Limits,
    /// Calls drawn into the timeline (Chrome trace). Default: 100.
    pub trace_calls: u64,
    /// Counter, fuel and sampling passes after the soak. Default: the
    /// counter pass only.
    pub inside: InsideConfig,
}

impl Default for SoakConfig {
    fn default() -> Self {
        SoakConfig {
            plugin: PluginSpec::default(),
            export: None,
            input: InputSpec::Default,
            duration: Duration::from_secs(60),
            rate: 1000.0,
            sample_every: Duration::from_secs(1),
            threshold_kb_per_hour: 1000.0,
            limits: Limits::default(),
            trace_calls: 100,
            inside: InsideConfig::default(),
        }
    }
}

/// The two-sided 95 % quantile of Student's t with `df` degrees of freedom.
fn t95(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        // Cornish-Fisher expansion around the normal quantile: within 0.001
        // of the exact value beyond 30 degrees of freedom.
        _ => {
            let z: f64 = 1.959964;
            let d = df as f64;
            z + (z.powi(3) + z) / (4.0 * d)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
        }
    }
}

/// Least-squares slope of `y` over `x` and its standard error.
fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 3 {
        return None;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let sse: f64 = points
        .iter()
        .map(|p| (p.1 - intercept - slope * p.0).powi(2))
        .sum();
    let se = (sse / (n - 2.0) / sxx).sqrt();
    Some((slope, se))
}

/// The trend of resident memory over the readings, after the first tenth of
/// the run (start-up settles there), with its verdict.
pub fn trend(points: &[MemoryPoint], threshold_kb_per_hour: f64) -> Option<Trend> {
    let end = points.last()?.t_ns;
    let xy: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.t_ns >= end / 10.0)
        .map(|p| (p.t_ns / 1e9, p.rss_bytes as f64))
        .collect();
    let (slope, se) = fit(&xy)?;
    let per_hour = |bytes_per_s: f64| bytes_per_s * 3600.0 / 1000.0;
    let half = t95(xy.len() - 2) * se;
    let (lo, hi) = (per_hour(slope - half), per_hour(slope + half));
    let verdict = if lo > threshold_kb_per_hour {
        "leak"
    } else if hi < threshold_kb_per_hour {
        "no leak"
    } else {
        "inconclusive"
    };
    Some(Trend {
        series: "rss".into(),
        samples: xy.len() as u64,
        slope_kb_per_hour: per_hour(slope),
        ci_low_kb_per_hour: lo,
        ci_high_kb_per_hour: hi,
        projected_week_kb: per_hour(slope) * 24.0 * 7.0,
        threshold_kb_per_hour,
        verdict: verdict.into(),
    })
}

/// Phase statistics over every call: the stamped calls' deltas go into the
/// histograms too, and where the histograms hold calls beyond the stamped
/// ones, their figures replace the stamped ones'.
fn with_histograms(
    mut phases: Vec<crate::run::PhaseStats>,
    stamps: &[u64],
    mut hists: Vec<hdrhistogram::Histogram<u64>>,
) -> Vec<crate::run::PhaseStats> {
    if hists.iter().all(|h| h.is_empty()) {
        return phases;
    }
    let w = CALL_PHASES.len() + 1;
    for row in stamps.chunks_exact(w) {
        for (k, h) in hists.iter_mut().enumerate() {
            let (a, b) = if k < CALL_PHASES.len() {
                (row[k], row[k + 1])
            } else {
                (row[0], row[w - 1])
            };
            h.saturating_record((b - a).max(1));
        }
    }
    let whole = hists[CALL_PHASES.len()].mean();
    for (p, h) in phases.iter_mut().zip(&hists) {
        p.stats = p.stats.with_histogram(h);
        p.share_pct = if whole > 0.0 {
            100.0 * h.mean() / whole
        } else {
            0.0
        };
    }
    phases
}

/// Runs the soak scenario.
pub fn run(cfg: &SoakConfig) -> Result<Run, Error> {
    let wall = Instant::now();
    let started_at = super::now_rfc3339();
    if !(cfg.rate > 0.0 && cfg.rate.is_finite()) {
        return Err(Error::Config(format!(
            "--rate {} must be a positive number of calls per second",
            cfg.rate
        )));
    }
    if cfg.sample_every.is_zero() || cfg.sample_every > cfg.duration {
        return Err(Error::Config(
            "--sample-every must be above zero and at most --duration".into(),
        ));
    }
    let super::Prepared {
        plugin,
        loaded,
        export,
        input,
        mut instance,
    } = super::prepare(
        &cfg.plugin,
        cfg.export.as_deref(),
        &cfg.input,
        cfg.limits.clone(),
    )?;
    let _watch = crate::watchdog::watch(&plugin.name, cfg.limits.deadline);

    let expected_calls = (cfg.duration.as_secs_f64() * cfg.rate).ceil() as usize + 1;
    let timed = expected_calls.min(TIMED_CALLS);
    let width = CALL_PHASES.len() + 1;
    let clock = Monotonic::new();
    // Written, not just reserved: no page faults inside the timed calls.
    let mut rec = Recorder::new(&clock, vec![u64::MAX; timed * width]);
    rec.stamps.clear();
    let samples = (cfg.duration.as_secs_f64() / cfg.sample_every.as_secs_f64()).ceil() as usize + 2;
    let mut points: Vec<MemoryPoint> = Vec::with_capacity(samples);
    let mut linear: Vec<(f64, u64)> = Vec::with_capacity(samples);
    let mut failure = None;
    let read = |label: &str, t: Duration, calls: u64| -> Result<MemoryPoint, Error> {
        let mut p = memory::read(label)
            .map_err(|e| Error::Config(format!("cannot read this process's memory: {e}")))?;
        p.t_ns = t.as_nanos() as f64;
        p.instances = 1;
        p.calls = calls;
        Ok(p)
    };
    let period = Duration::from_secs_f64(1.0 / cfg.rate);
    let start = Instant::now();
    let origin = clock.now();
    let mut next_sample = Duration::ZERO;
    let mut calls: u64 = 0;
    // Phases of CALL_PHASES then the whole call, in clock ticks (ns): up to
    // an hour, 3 significant digits; allocated here, never in the loop.
    let mut hists: Vec<hdrhistogram::Histogram<u64>> = (0..=CALL_PHASES.len())
        .map(|_| hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000_000, 3))
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Config(format!("cannot make a histogram: {e}")))?;
    loop {
        let now = start.elapsed();
        if now >= cfg.duration || crate::interrupt::requested() {
            break;
        }
        if now >= next_sample {
            points.push(read("sample", now, calls)?);
            linear.push((now.as_nanos() as f64, instance.linear_memory().1 as u64));
            next_sample += cfg.sample_every;
        }
        let due = period.mul_f64(calls as f64);
        if due > now {
            std::thread::sleep(due - now);
        }
        let result = if rec.stamps.len() + width <= rec.stamps.capacity() {
            rec.mark();
            marked_call(&mut instance, &input, &mut rec)
        } else {
            // Past TIMED_CALLS: the same call, its phases into histograms,
            // which take any number of calls in fixed memory.
            (|| {
                let t0 = clock.now();
                let buf = instance.copy_in(&input)?;
                let t1 = clock.now();
                let packed = instance.execute(buf)?;
                let t2 = clock.now();
                let out = instance.copy_out(packed)?;
                let t3 = clock.now();
                instance.free(out)?;
                let t4 = clock.now();
                for (h, d) in hists
                    .iter_mut()
                    .zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0])
                {
                    h.saturating_record(d.max(1));
                }
                Ok(())
            })()
        };
        if let Err(e) = result {
            failure = Some(Failure {
                variant: "wasm".into(),
                phase: e.phase,
                cause: format!(
                    "{} (after {calls} calls, {:.1} s; the readings so far are kept)",
                    crate::error::one_line(&e.error),
                    start.elapsed().as_secs_f64()
                ),
            });
            // A half-made call leaves its stamps row incomplete: drop it.
            let whole = rec.stamps.len() / width * width;
            rec.stamps.truncate(whole);
            break;
        }
        calls += 1;
    }
    points.push(read("end", start.elapsed(), calls)?);
    linear.push((
        start.elapsed().as_nanos() as f64,
        instance.linear_memory().1 as u64,
    ));
    let elapsed = start.elapsed();

    let trend = trend(&points, cfg.threshold_kb_per_hour);
    let mut counters: Vec<CounterSample> = points
        .iter()
        .map(|p| CounterSample {
            name: "rss (KB)".into(),
            t_ns: p.t_ns,
            value: p.rss_bytes as f64 / 1000.0,
        })
        .collect();
    counters.extend(linear.iter().map(|&(t, b)| CounterSample {
        name: "linear memory (KB)".into(),
        t_ns: t,
        value: b as f64 / 1000.0,
    }));
    let stamps = rec.stamps;
    let variant = Variant {
        name: "wasm".into(),
        description: format!(
            "one instance called {:.0} times a second for {:.1} s (wasmtime {}, cranelift)",
            cfg.rate,
            elapsed.as_secs_f64(),
            super::WASMTIME_VERSION
        ),
        phases: with_histograms(
            super::phase_stats(&stamps, &CALL_PHASES, Phase::Call, 1.0),
            &stamps,
            hists,
        ),
        memory: Some(MemoryProfile {
            points: points.clone(),
            ..MemoryProfile::default()
        }),
        facts: [
            ("calls".to_owned(), json!(calls)),
            (
                "achieved_rate_per_s".to_owned(),
                json!(calls as f64 / elapsed.as_secs_f64()),
            ),
        ]
        .into_iter()
        .collect(),
        ..Variant::default()
    };
    let timeline = super::spans(
        &stamps,
        &CALL_PHASES,
        Phase::Call,
        "wasm",
        cfg.trace_calls,
        origin,
        1.0,
        (input.len() as u64, instance.output.len() as u64),
    );
    let mut verdicts = Vec::new();
    let mut notes = Vec::new();
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        verdicts.push(format!(
            "resident memory went from {} to {} ({}) over {} calls in {:.1} s",
            fmt_bytes(first.rss_bytes as f64),
            fmt_bytes(last.rss_bytes as f64),
            fmt_bytes(last.rss_bytes as f64 - first.rss_bytes as f64),
            calls,
            elapsed.as_secs_f64()
        ));
    }
    if let (Some(a), Some(b)) = (linear.first(), linear.last()) {
        verdicts.push(format!(
            "the plugin's linear memory went from {} to {}",
            fmt_bytes(a.1 as f64),
            fmt_bytes(b.1 as f64)
        ));
    }
    match &trend {
        Some(t) => verdicts.push(format!(
            "{}: resident memory grows {:+.1} KB/hour (95 % CI {:+.1} to {:+.1}) against a {:.0} KB/hour threshold{}",
            t.verdict,
            t.slope_kb_per_hour,
            t.ci_low_kb_per_hour,
            t.ci_high_kb_per_hour,
            t.threshold_kb_per_hour,
            if t.verdict == "inconclusive" {
                "; run longer to narrow the interval"
            } else {
                ""
            }
        )),
        None => notes.push("no trend: fewer than 3 readings after the first tenth of the run".into()),
    }
    let achieved = calls as f64 / elapsed.as_secs_f64();
    if achieved < 0.95 * cfg.rate && failure.is_none() {
        notes.push(format!(
            "warning: asked for {:.0} calls/s, achieved {achieved:.0}: the calls are slower than the rate",
            cfg.rate
        ));
    }
    if calls as usize > TIMED_CALLS {
        notes.push(format!(
            "phase statistics cover all {calls} calls: the first {TIMED_CALLS} from their clock stamps, the rest through HDR histograms (3 significant digits); intervals, outliers and the timeline are of the first {TIMED_CALLS}"
        ));
    }
    notes.push(
        "the trend fits readings after the first tenth of the run, where start-up has settled"
            .into(),
    );
    let interrupted = crate::interrupt::requested();
    if interrupted {
        notes.push(crate::interrupt::note(&format!(
            "after {calls} calls, {:.1} s of the {:.1} s asked",
            elapsed.as_secs_f64(),
            cfg.duration.as_secs_f64()
        )));
    }
    let mut found = super::inside::CallPasses::default();
    if failure.is_none() && !interrupted {
        let call_ns = variant.phase(Phase::Call).map_or(1e3, |p| p.stats.p50_ns);
        found = super::inside::call_passes(
            &cfg.inside,
            NAME,
            &mut instance,
            &plugin.bytes,
            &export,
            &input,
            &cfg.limits,
            call_ns,
            (&clock, origin),
        )
        .map_err(|e| e.into_error(&plugin.name))?;
        notes.append(&mut found.notes);
    }
    counters.append(&mut found.counters);
    let mut variant = variant;
    variant.counters = found.counts;
    variant.fuel = found.fuel;
    let settings = super::settings([
        ("duration_s", json!(cfg.duration.as_secs_f64())),
        ("rate_per_s", json!(cfg.rate)),
        ("sample_every_s", json!(cfg.sample_every.as_secs_f64())),
        ("threshold_kb_per_hour", json!(cfg.threshold_kb_per_hour)),
        ("memory_limit_bytes", json!(cfg.limits.memory_bytes)),
    ]);
    Ok(Run {
        wall_s: wall.elapsed().as_secs_f64(),
        plugin: super::plugin_info(
            &plugin.name,
            &plugin.source,
            &plugin.bytes,
            &export,
            input.len() as u64,
            instance.output.len() as u64,
        ),
        iterations: calls,
        settings,
        clock: ClockInfo {
            name: Monotonic::NAME.to_owned(),
            ns_per_tick: 1.0,
            read_cost_ns: measure::read_cost_ns(&clock),
            resolution_ns: measure::resolution_ns(&clock),
        },
        setup: loaded.setup.clone(),
        variants: vec![variant],
        timeline,
        verdicts,
        trends: trend.into_iter().collect(),
        counters,
        failures: failure.into_iter().collect(),
        notes,
        perf: found.perf,
        profiles: found.profiles,
        incomplete: interrupted,
        ..super::new_run(NAME, started_at)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(f: impl Fn(f64) -> f64) -> Vec<MemoryPoint> {
        (0..60)
            .map(|s| MemoryPoint {
                t_ns: s as f64 * 1e9,
                rss_bytes: f(s as f64) as u64,
                ..MemoryPoint::default()
            })
            .collect()
    }

    #[test]
    fn a_steady_climb_is_a_leak_and_a_flat_line_is_not() {
        // 1 KB a second, in whole 4 KiB pages: 3600 KB/hour.
        let leak = trend(
            &points(|s| 10e6 + (s * 1000.0 / 4096.0).floor() * 4096.0),
            1000.0,
        )
        .unwrap();
        assert_eq!(leak.verdict, "leak", "{leak:?}");
        assert!((leak.slope_kb_per_hour - 3600.0).abs() < 400.0, "{leak:?}");
        let flat = trend(&points(|_| 10e6), 1000.0).unwrap();
        assert_eq!(flat.verdict, "no leak", "{flat:?}");
        assert_eq!(flat.slope_kb_per_hour, 0.0);
        // One stray page in a minute stays under 1 MB/hour.
        let stray = trend(
            &points(|s| 10e6 + if s > 30.0 { 4096.0 } else { 0.0 }),
            1000.0,
        )
        .unwrap();
        assert_eq!(stray.verdict, "no leak", "{stray:?}");
    }

    #[test]
    fn t_quantiles() {
        assert_eq!(t95(1), 12.706);
        assert_eq!(t95(30), 2.042);
        assert!((t95(60) - 2.000).abs() < 0.002);
        assert!((t95(1000) - 1.962).abs() < 0.002);
    }
}
