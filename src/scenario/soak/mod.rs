//! Soak (the reference study's 24-hour run): one instance called at a steady rate for a
//! set time while the process's resident memory is read at a steady interval;
//! a least-squares line through the readings, with its 95 % confidence
//! interval, says whether memory grows and how fast, against a threshold.
//!
//! Each call is timed phase by phase like any other. Pacing sleeps and memory
//! readings happen between calls, outside every timed phase.

mod extism_sdk;
mod trend;

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use serde_json::json;

pub use self::trend::trend;
use crate::driver::call::{BYTES_CALL as CALL_PHASES, PluginCall, Raw};
use crate::driver::wasmtime::Abi;
use crate::driver::{Instance, Limits};
use crate::error::Error;
use crate::inside::counters::{Counting, Stop, Whole};
use crate::inside::plugin::PluginTwins;
use crate::inside::{InsideConfig, Plan, Subject};
use crate::measure::memory;
use crate::phase::Phase;
use crate::run::{CounterSample, Failure, MemoryPoint, MemoryProfile, Run, Variant};
use crate::source::{InputSpec, PluginSpec};
use crate::timing::settle::{Track, phase_stats, spans};
use crate::timing::target::{Marks, Stamps, Target};
use crate::timing::{Clock, Monotonic, clock_info};
use crate::units::fmt_bytes;

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
    /// For an Extism plugin, also soak it under Extism's own runtime (the
    /// Rust SDK driver, where it is built), in its own process at the same
    /// time. Default: true.
    pub extism_sdk: bool,
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
            extism_sdk: true,
        }
    }
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

/// The marks of calls past the stamped ones: each phase's duration, and
/// the whole call's, into histograms of fixed size.
struct Histograms<'a, C> {
    clock: C,
    start: u64,
    last: u64,
    hists: &'a mut [hdrhistogram::Histogram<u64>],
}

impl<C: Clock> Marks for Histograms<'_, C> {
    #[inline(always)]
    fn mark(&mut self, k: usize) {
        let now = self.clock.now();
        if k == 0 {
            self.start = now;
        } else {
            self.hists[k - 1].saturating_record((now - self.last).max(1));
            if k == CALL_PHASES.len() {
                self.hists[k].saturating_record((now - self.start).max(1));
            }
        }
        self.last = now;
    }
}

/// Runs the soak scenario.
pub fn run(cfg: &SoakConfig) -> Result<Run, Error> {
    super::run_plugin(cfg)
}

impl super::OnePlugin for SoakConfig {
    super::asked_from_fields!();

    fn check(&self) -> Result<(), Error> {
        if !(self.rate > 0.0 && self.rate.is_finite()) {
            return Err(Error::Config(format!(
                "--rate {} must be a positive number of calls per second",
                self.rate
            )));
        }
        if self.sample_every.is_zero() || self.sample_every > self.duration {
            return Err(Error::Config(
                "--sample-every must be above zero and at most --duration".into(),
            ));
        }
        Ok(())
    }

    fn run_prepared<A: Abi>(&self, p: super::Prepared<A>) -> Result<Run, Error> {
        run_with::<A>(self, p)
    }
}

fn run_with<A: Abi>(cfg: &SoakConfig, p: super::Prepared<A>) -> Result<Run, Error> {
    let super::Prepared {
        plugin,
        export,
        input,
        instance,
        setup,
        ..
    } = p;
    let mut call = PluginCall::new(instance, Raw(&input));

    let expected_calls = (cfg.duration.as_secs_f64() * cfg.rate).ceil() as usize + 1;
    let timed = expected_calls.min(TIMED_CALLS);
    let width = CALL_PHASES.len() + 1;
    let clock = Monotonic::new();
    // Written, not just reserved: no page faults inside the timed calls.
    let mut stamps = vec![u64::MAX; timed * width];
    let mut rows = 0usize;
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
    let linear_size =
        |c: &PluginCall<A::Instance, Raw>| c.instance.linear_memory().map_or(0, |m| m.1) as u64;
    let extism = crate::kind::abi(&plugin.bytes) == crate::kind::Abi::Extism;
    // Started last, so that its soak and this one begin together.
    let (sdk, mut sdk_notes) = if extism && cfg.extism_sdk {
        extism_sdk::start(&plugin.bytes, (&export, &input), cfg, timed)
    } else {
        (Vec::new(), Vec::new())
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
            crate::interrupt::measured();
            linear.push((now.as_nanos() as f64, linear_size(&call)));
            next_sample += cfg.sample_every;
        }
        let due = period.mul_f64(calls as f64);
        if due > now {
            // At a low rate the wait is long: cut short by a signal, or by
            // the next memory reading.
            let wait = (due - now)
                .min(next_sample.saturating_sub(now))
                .min(Duration::from_millis(100));
            std::thread::sleep(wait);
            continue;
        }
        let result = if rows < timed {
            let row = &mut stamps[rows * width..(rows + 1) * width];
            call.call_marked(&mut Stamps { clock: &clock, row })
                .map(|()| rows += 1)
        } else {
            // Past TIMED_CALLS: the same call, its phases into histograms,
            // which take any number of calls in fixed memory.
            call.call_marked(&mut Histograms {
                clock,
                start: 0,
                last: 0,
                hists: &mut hists,
            })
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
            break;
        }
        calls += 1;
    }
    stamps.truncate(rows * width);
    points.push(read("end", start.elapsed(), calls)?);
    linear.push((start.elapsed().as_nanos() as f64, linear_size(&call)));
    let elapsed = start.elapsed();
    let sdk: Vec<_> = sdk
        .into_iter()
        .map(|s| {
            if crate::interrupt::requested() {
                Err(s.abandon())
            } else {
                extism_sdk::finish(s, cfg)
            }
        })
        .collect();

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
    let variant = Variant {
        name: "wasm".into(),
        description: format!(
            "one instance called {:.0} times a second for {:.1} s (wasmtime {}, cranelift)",
            cfg.rate,
            elapsed.as_secs_f64(),
            super::WASMTIME_VERSION
        ),
        phases: with_histograms(
            phase_stats(&stamps, &CALL_PHASES, Phase::Call, 1.0),
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
    let output_len = call.instance.output().len() as u64;
    let timeline = spans(
        &stamps,
        &CALL_PHASES,
        Track {
            name: "wasm",
            whole: Phase::Call,
            count: cfg.trace_calls,
            origin,
            ns_per_tick: 1.0,
            bytes: (input.len() as u64, output_len),
        },
    );
    let mut verdicts = Vec::new();
    let mut notes = Vec::new();
    verdicts.extend(growth_verdict("", &points, calls, elapsed.as_secs_f64()));
    if let (Some(a), Some(b)) = (linear.first(), linear.last()) {
        verdicts.push(format!(
            "the plugin's linear memory went from {} to {}",
            fmt_bytes(a.1 as f64),
            fmt_bytes(b.1 as f64)
        ));
    }
    match &trend {
        Some(t) => verdicts.push(trend_verdict("", t)),
        None => {
            notes.push("no trend: fewer than 3 readings after the first tenth of the run".into())
        }
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
    let mut variant = variant;
    let mut run = super::new_run(NAME);
    if failure.is_none() && !interrupted {
        let call_ns = variant.phase(Phase::Call).map_or(1e3, |p| p.stats.p50_ns);
        let twins = PluginTwins::<A, Raw> {
            bytes: &plugin.bytes,
            export: &export,
            limits: &cfg.limits,
            input: call.input,
            abi: PhantomData,
        };
        let mut subjects = vec![Subject {
            name: "wasm".into(),
            target: &mut call,
            call_ns,
            twins: Some(&twins),
        }];
        let mut found = crate::inside::run(&cfg.inside, &plan(cfg), &mut subjects, start)
            .map_err(|e| e.into_error(&plugin.name))?;
        notes.append(&mut found.notes);
        counters.append(&mut found.counters);
        variant.counters = found.counts.pop().unwrap_or_default();
        variant.fuel = found.fuel.pop().flatten();
        run.perf = found.perf;
        run.profiles = found.profiles;
    }
    run.settings = super::settings([
        ("duration_s", json!(cfg.duration.as_secs_f64())),
        ("rate_per_s", json!(cfg.rate)),
        ("sample_every_s", json!(cfg.sample_every.as_secs_f64())),
        ("threshold_kb_per_hour", json!(cfg.threshold_kb_per_hour)),
        ("memory_limit_bytes", json!(cfg.limits.memory_bytes)),
    ]);
    run.plugin = super::info_of(&plugin, &export, input.len() as u64, output_len);
    run.iterations = calls;
    run.clock = clock_info(&clock);
    run.setup = setup;
    let mut variants = vec![variant];
    let mut trends: Vec<_> = trend.into_iter().collect();
    notes.append(&mut sdk_notes);
    for soaked in sdk {
        match soaked {
            Ok(mut s) => {
                verdicts.extend(extism_sdk::verdicts(&variants[0], &s));
                notes.extend(s.failure.take());
                trends.extend(s.trend);
                counters.extend(s.track);
                variants.push(s.variant);
            }
            Err(note) => notes.push(note),
        }
    }
    run.variants = variants;
    run.timeline = timeline;
    run.verdicts = verdicts;
    run.trends = trends;
    run.counters = counters;
    run.failures = failure.into_iter().collect();
    run.notes = notes;
    run.incomplete = interrupted || crate::interrupt::requested();
    Ok(run)
}

/// The passes' plan for the soak.
fn plan(cfg: &SoakConfig) -> Plan<'static> {
    Plan {
        scenario: NAME,
        counting: Counting {
            stop: Stop::Calls(10_000),
            whole: Whole::Sum,
            whole_phase: Phase::Call,
            unit: "call",
            track_points: 10,
            method: "a separate pass after the run: counters read at every phase boundary (one group read), less the mean counts of an empty window; the whole call is the sum of its phases",
        },
        count_on: None,
        fuel_secs: cfg.inside.sample_secs.min(1.0),
        sample_secs: cfg.inside.sample_secs,
    }
}

/// The verdict on a fitted trend, `who` (e.g. `extism-sdk: `) first.
fn trend_verdict(who: &str, t: &crate::run::Trend) -> String {
    format!(
        "{who}{}: resident memory grows {:+.1} KB/hour (95 % CI {:+.1} to {:+.1}) against a {:.0} KB/hour threshold{}",
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
    )
}

/// How resident memory went from the first reading to the last over `calls`
/// calls in `secs`, `who` (e.g. `extism-sdk: `) first; `None` without
/// readings.
fn growth_verdict(who: &str, points: &[MemoryPoint], calls: u64, secs: f64) -> Option<String> {
    let (first, last) = (points.first()?, points.last()?);
    Some(format!(
        "{who}resident memory went from {} to {} ({}) over {calls} calls in {secs:.1} s",
        fmt_bytes(first.rss_bytes as f64),
        fmt_bytes(last.rss_bytes as f64),
        fmt_bytes(last.rss_bytes as f64 - first.rss_bytes as f64),
    ))
}
