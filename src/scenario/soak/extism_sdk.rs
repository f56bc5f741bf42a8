//! Extism's own runtime in `record soak`: the Extism SDK driver (and,
//! where it is there, libextism, the C API) soaks the same plugin in its
//! own process, at the same rate, for the same time and with the same
//! memory readings, while wprof's host soaks it here. The
//! two run at once (the soak takes no longer, and a machine that changes
//! speed changes it for both); each process's resident memory is its own,
//! and the same line is fitted through each.

use std::path::PathBuf;

use super::SoakConfig;
use crate::driver::child::{ChildDriver, Program};
use crate::phase::Phase;
use crate::run::{CounterSample, MemoryProfile, Trend, Variant};
use crate::timing::settle::phase_stats;
use crate::units::fmt_ns;

/// The SDK's soak or libextism's, running.
pub(super) struct Started {
    /// The variant: `extism-sdk` or `libextism`.
    name: &'static str,
    driver: ChildDriver,
    /// Holds the plugin's file while the driver runs.
    _scratch: tempfile::TempDir,
}

/// What the SDK's soak adds to the run.
pub(super) struct Soaked {
    pub(super) variant: Variant,
    pub(super) trend: Option<Trend>,
    /// Its resident memory over time, a counter track.
    pub(super) track: Vec<CounterSample>,
    /// Why it stopped early, if it did.
    pub(super) failure: Option<String>,
}

/// Starts the soaks of `bytes` (each driver opened, one call made) under
/// the SDK and libextism, with notes on those not measured and why.
pub(super) fn start(
    bytes: &[u8],
    (export, input): (&str, &[u8]),
    cfg: &SoakConfig,
    timed: usize,
) -> (Vec<Started>, Vec<String>) {
    let Some(sdk) = Program::extism_sdk() else {
        return (
            Vec::new(),
            vec![crate::driver::child::sdk_not_built("the figures are")],
        );
    };
    let (mut started, mut notes) = (Vec::new(), Vec::new());
    let lib = Program::libextism();
    if lib.is_none() {
        notes.push(crate::driver::child::lib_not_there());
    }
    for (name, program) in [("extism-sdk", Some(sdk)), ("libextism", lib)] {
        let Some(program) = program else { continue };
        match start_one(&program, name, bytes, (export, input), cfg, timed) {
            Ok(s) => started.push(s),
            Err(e) => notes.push(format!(
                "{name}: not measured: Extism's own runtime failed: {e}"
            )),
        }
    }
    (started, notes)
}

/// Starts one driver's soak.
fn start_one(
    program: &Program,
    name: &'static str,
    bytes: &[u8],
    (export, input): (&str, &[u8]),
    cfg: &SoakConfig,
    timed: usize,
) -> Result<Started, String> {
    let scratch = tempfile::tempdir().map_err(|e| format!("no scratch directory: {e}"))?;
    let path: PathBuf = scratch.path().join("plugin.wasm");
    std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut driver = ChildDriver::open_once(program, &path, export, input, &cfg.limits)
        .map_err(|e| crate::error::one_line(&e))?;
    driver
        .soak(cfg.duration, cfg.rate, cfg.sample_every, timed as u64)
        .map_err(|e| crate::error::one_line(&e.error))?;
    Ok(Started {
        name,
        driver,
        _scratch: scratch,
    })
}

impl Started {
    /// Stops the SDK's soak now (wprof's own was interrupted); the note
    /// that says so.
    pub(super) fn abandon(mut self) -> String {
        self.driver.kill();
        format!(
            "{}: not measured: interrupted ({})",
            self.name,
            crate::interrupt::name()
        )
    }
}

/// Waits for the SDK's soak to end; its variant, trend and memory track,
/// or a note on why there are none.
pub(super) fn finish(mut s: Started, cfg: &SoakConfig) -> Result<Soaked, String> {
    let name = s.name;
    let got = s.driver.soaked().map_err(|e| {
        format!(
            "{name}: not measured: Extism's own runtime failed: {}",
            crate::error::one_line(&e.error)
        )
    })?;
    let elapsed_s = got.points.last().map_or(0.0, |p| p.t_ns / 1e9);
    let trend = super::trend(&got.points, cfg.threshold_kb_per_hour).map(|t| Trend {
        series: format!("{name} rss"),
        ..t
    });
    let track = got
        .points
        .iter()
        .map(|p| CounterSample {
            name: format!("{name} rss (KB)"),
            t_ns: p.t_ns,
            value: p.rss_bytes as f64 / 1000.0,
        })
        .collect();
    let variant = Variant {
        name: name.to_owned(),
        description: format!(
            "Extism's own runtime ({}) in its own process, at the same time: one plugin called {:.0} times a second for {elapsed_s:.1} s; a call is one phase",
            if name == "libextism" {
                "libextism, its C API"
            } else {
                "the Rust SDK"
            },
            cfg.rate
        ),
        phases: phase_stats(&got.stamps, &[Phase::Call], Phase::Call, 1.0),
        memory: Some(MemoryProfile {
            points: got.points,
            ..MemoryProfile::default()
        }),
        facts: [
            ("calls".to_owned(), serde_json::json!(got.calls)),
            (
                "achieved_rate_per_s".to_owned(),
                serde_json::json!(got.calls as f64 / elapsed_s.max(1e-9)),
            ),
        ]
        .into_iter()
        .collect(),
        ..Variant::default()
    };
    Ok(Soaked {
        variant,
        trend,
        track,
        failure: got
            .failure
            .map(|f| format!("{name}: its soak stopped early: {f}; the readings so far are kept")),
    })
}

/// What the SDK's soak says beside wprof's (`wasm`): its memory from
/// first to last reading, its trend, and its median call against wprof's
/// host's, taken over the same span of time.
pub(super) fn verdicts(wasm: &Variant, s: &Soaked) -> Vec<String> {
    let name = &s.variant.name;
    let mut out = Vec::new();
    let points = s.variant.memory.as_ref().map_or(&[][..], |m| &m.points[..]);
    if let Some(last) = points.last() {
        out.extend(super::growth_verdict(
            &format!("{name}: "),
            points,
            last.calls,
            last.t_ns / 1e9,
        ));
    }
    if let Some(t) = &s.trend {
        out.push(super::trend_verdict(&format!("{name}: "), t));
    }
    let p50 = |v: &Variant| v.phase(Phase::Call).map(|p| p.stats.p50_ns);
    if let (Some(sdk), Some(ours)) = (p50(&s.variant), p50(wasm)) {
        out.push(format!(
            "{name}: a call took {} (median) under Extism's own runtime against {} on wprof's host: {:.3}x, the two soaked at once in two processes",
            fmt_ns(sdk),
            fmt_ns(ours),
            sdk / ours.max(1e-9)
        ));
    }
    out
}
