//! `wprof compare`: two runs of the same scenario and plugin, phase by
//! phase: the change in median with its confidence interval, a verdict, and
//! a gate for CI jobs.
//!
//! The test: each run's kept samples (every k-th, in time order) are
//! resampled by blocks of consecutive samples, as for the run's own
//! intervals; the i-th resample of one run is paired with the i-th of the
//! other, and the ratios of their medians give the change's 95 % interval.
//! A change is significant when the interval excludes zero, and counts as
//! regressed or improved only beyond the noise threshold, in percent and in
//! nanoseconds: two runs on a shared machine differ by a few percent with
//! nothing changed, and a phase of a few tens of nanoseconds moves by
//! several with the process's memory layout alone.
//!
//! A machine that changed speed between the runs moves every phase alike;
//! [`machine`] tells that drift from a change of the plugin, and the
//! paired wasm/native ratios are compared too.

mod machine;
mod render;
mod within;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use render::render;

use crate::error::Error;
use crate::phase::Phase;
use crate::run::Run;
use crate::stats::{Blocks, LEVEL, interval};

/// Settings of `wprof compare`.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareConfig {
    /// The run compared against.
    pub base: PathBuf,
    /// The run under judgement. Default: none: `base` is then one run
    /// recorded with `--baseline`, and its plugin is judged against the
    /// baseline build timed in the same rounds.
    pub new: Option<PathBuf>,
    /// Changes within +/- this many percent are no change, whatever their
    /// significance. Default: 5.
    pub noise_pct: f64,
    /// Changes within +/- this many nanoseconds are no change. Default:
    /// twice the coarser clock resolution of the two runs, at least 10 ns.
    pub noise_ns: Option<f64>,
    /// A regression beyond this many percent fails the comparison (non-zero
    /// exit). Default: 5.
    pub threshold_pct: f64,
    /// Whether a variant or phase of the base run that the new one lacks
    /// (or keeps too few samples of to compare) passes the gate. Default:
    /// false: what was not compared fails.
    pub allow_missing: bool,
}

impl Default for CompareConfig {
    fn default() -> Self {
        CompareConfig {
            base: PathBuf::new(),
            new: None,
            noise_pct: 5.0,
            noise_ns: None,
            threshold_pct: 5.0,
            allow_missing: false,
        }
    }
}

/// What a change amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Slower beyond the noise threshold, significantly.
    Regressed,
    /// Faster beyond the noise threshold, significantly.
    Improved,
    /// Neither.
    NoChange,
    /// Moved beyond noise, but with the machine: the change vanishes once
    /// each run's times are divided by its own machine speed, or the
    /// paired wasm/native ratio held while both moved alike. Passes the
    /// gate.
    Drift,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Verdict::Regressed => "regressed",
            Verdict::Improved => "improved",
            Verdict::NoChange => "no change",
            Verdict::Drift => "drift",
        })
    }
}

/// One phase of one variant, before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseChange {
    /// The variant (e.g. `wasm`, a rung).
    pub variant: String,
    /// The phase.
    pub phase: Phase,
    /// Median in the base run, in nanoseconds.
    pub base_p50_ns: f64,
    /// Median in the new run, in nanoseconds.
    pub new_p50_ns: f64,
    /// new / base - 1, in percent.
    pub change_pct: f64,
    /// Lower end of the change's 95 % interval, in percent.
    pub ci_lo_pct: f64,
    /// Upper end.
    pub ci_hi_pct: f64,
    /// What it amounts to.
    pub verdict: Verdict,
    /// Whether it fails the gate: regressed beyond the threshold.
    pub fails: bool,
    /// The change once each run's times are divided by its machine speed
    /// (its reference workload's median), in percent, with its 95 %
    /// interval; absent unless both runs measured their machine's speed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalised_pct: Option<(f64, f64, f64)>,
}

/// A ratio of two variants measured round by round (wasm/native), before
/// and after: the figure that a machine's speed does not move.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatioChange {
    /// The variant divided (`wasm`).
    pub subject: String,
    /// The variant it is divided by (`native`).
    pub baseline: String,
    /// The base run's paired ratio.
    pub base: f64,
    /// The new run's.
    pub new: f64,
    /// new / base - 1, in percent.
    pub change_pct: f64,
    /// Lower end of the change's 95 % interval, in percent (resampling each
    /// run's per-round ratios).
    pub ci_lo_pct: f64,
    /// Upper end.
    pub ci_hi_pct: f64,
    /// What it amounts to (never drift: a ratio of two variants of one run
    /// is what a machine's speed does not move).
    pub verdict: Verdict,
    /// Whether it fails the gate: regressed beyond the threshold.
    pub fails: bool,
}

/// The two runs' machine speeds: a fixed reference workload's median time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MachineChange {
    /// In the base run, in nanoseconds.
    pub base_ns: f64,
    /// In the new run.
    pub new_ns: f64,
    /// new / base - 1, in percent: how much slower the new run's machine was.
    pub change_pct: f64,
}

/// Fuel of one phase, before and after: compared exactly.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FuelChange {
    /// The variant.
    pub variant: String,
    /// The phase.
    pub phase: Phase,
    /// Steady fuel per call in the base run.
    pub base: u64,
    /// In the new run.
    pub new: u64,
    /// Whether it fails the gate: more fuel, beyond the threshold.
    pub fails: bool,
}

/// The comparison of two runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The scenario both runs are of.
    pub scenario: String,
    /// The plugin both runs measured.
    pub plugin: String,
    /// The base run's file.
    pub base: String,
    /// The new run's file.
    pub new: String,
    /// How changes were judged, in words.
    pub method: String,
    /// Noise threshold used, in percent.
    pub noise_pct: f64,
    /// Noise threshold used, in nanoseconds.
    pub noise_ns: f64,
    /// Gate threshold used, in percent.
    pub threshold_pct: f64,
    /// Why the runs may not be comparable (different machine, versions).
    pub warnings: Vec<String>,
    /// The two runs' machine speeds, where both measured one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine: Option<MachineChange>,
    /// Paired ratios both runs have (wasm/native), compared.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ratios: Vec<RatioChange>,
    /// Phase by phase, variants in the base run's order.
    pub phases: Vec<PhaseChange>,
    /// Fuel, where both runs measured it.
    pub fuel: Vec<FuelChange>,
    /// What the base run has and the new one was not compared on: a
    /// missing variant or phase, or one with too few kept samples.
    pub missing: Vec<String>,
    /// Whether what is missing passes the gate (`--allow-missing`).
    pub allow_missing: bool,
    /// Variants the new run has and the base does not (not judged).
    pub added: Vec<String>,
}

impl Report {
    /// The rows that fail the gate, as `variant phase (+x %)`.
    pub fn failures(&self) -> Vec<String> {
        let ratios = self.ratios.iter().filter(|r| r.fails).map(|r| {
            format!(
                "{}/{} paired ratio ({:+.1} %)",
                r.subject, r.baseline, r.change_pct
            )
        });
        let phases = self
            .phases
            .iter()
            .filter(|p| p.fails)
            .map(|p| format!("{} {} ({:+.1} %)", p.variant, p.phase, p.change_pct));
        let fuel = self
            .fuel
            .iter()
            .filter(|f| f.fails)
            .map(|f| format!("{} {} fuel ({} -> {})", f.variant, f.phase, f.base, f.new));
        ratios.chain(phases).chain(fuel).collect()
    }

    /// Why the gate fails, on one line; `None` when it passes.
    pub fn gate(&self) -> Option<String> {
        let mut why = Vec::new();
        let regressed = self.failures();
        if !regressed.is_empty() {
            why.push(format!(
                "regression beyond {} %: {}",
                self.threshold_pct,
                regressed.join(", ")
            ));
        }
        if !self.missing.is_empty() && !self.allow_missing {
            why.push(format!(
                "not compared: {} (--allow-missing to accept)",
                self.missing.join("; ")
            ));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }
}

/// Reads a run file (see [`crate::runfile::load`]).
pub fn load(path: &Path) -> Result<Run, Error> {
    crate::runfile::load(path)
}

/// Whether two runs can be compared at all, and what makes them less so.
fn comparable(base: &Run, new: &Run) -> Result<Vec<String>, String> {
    if base.scenario != new.scenario {
        return Err(format!(
            "refused: the base run is of {}, the new one of {}: compare runs of the same scenario",
            base.scenario, new.scenario
        ));
    }
    // A plugin is known by its file's stem: `before/p.wasm` and
    // `after/p.wasm` are two builds of one plugin, which is what users compare.
    let stem = |name: &str| {
        Path::new(name)
            .file_stem()
            .map_or(name.to_owned(), |s| s.to_string_lossy().into_owned())
    };
    if stem(&base.plugin.name) != stem(&new.plugin.name) || base.plugin.export != new.plugin.export
    {
        return Err(format!(
            "refused: the base run measured {} (export {}), the new one {} (export {}): compare runs of the same plugin",
            base.plugin.name, base.plugin.export, new.plugin.name, new.plugin.export
        ));
    }
    let mut warnings = Vec::new();
    let mut differs = |what: &str, a: String, b: String| {
        if a != b {
            warnings.push(format!("{what} differs: {a} vs {b}"));
        }
    };
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "unknown".into());
    differs("CPU", opt(&base.host.cpu), opt(&new.host.cpu));
    differs(
        "CPU count",
        base.host.cpus.to_string(),
        new.host.cpus.to_string(),
    );
    differs("kernel", opt(&base.host.kernel), opt(&new.host.kernel));
    differs(
        "governor",
        opt(&base.host.governor),
        opt(&new.host.governor),
    );
    differs(
        "turbo",
        format!("{:?}", base.host.turbo),
        format!("{:?}", new.host.turbo),
    );
    differs(
        "Wasmtime",
        base.host.wasmtime.clone(),
        new.host.wasmtime.clone(),
    );
    differs(
        "wprof",
        base.wprof_version.clone(),
        new.wprof_version.clone(),
    );
    differs("clock", base.clock.name.clone(), new.clock.name.clone());
    differs(
        "input size",
        base.plugin.input_bytes.to_string(),
        new.plugin.input_bytes.to_string(),
    );
    if base.settings != new.settings {
        warnings.push("the runs' settings differ".into());
    }
    if !base.plugin.sha256.is_empty()
        && !new.plugin.sha256.is_empty()
        && base.plugin.sha256 != new.plugin.sha256
    {
        warnings.push(format!(
            "the module changed (sha256 {} vs {}): that change is what is compared",
            &base.plugin.sha256[..12.min(base.plugin.sha256.len())],
            &new.plugin.sha256[..12.min(new.plugin.sha256.len())]
        ));
    }
    Ok(warnings)
}

/// The change in median between two sample sets, with its interval, in
/// percent: `(point, lo, hi)`. `None` when either has too few samples.
pub fn change(base: &[f64], new: &[f64], base_p50: f64, new_p50: f64) -> Option<(f64, f64, f64)> {
    if base.len() < 2 || new.len() < 2 || base_p50 <= 0.0 {
        return None;
    }
    let (b, _) = Blocks::new(base).bootstrap(1);
    let (n, _) = Blocks::new(new).bootstrap(2);
    let mut ratios: Vec<f64> = b
        .iter()
        .zip(&n)
        .filter(|(b, _)| **b > 0.0)
        .map(|(b, n)| 100.0 * (n / b - 1.0))
        .collect();
    if ratios.is_empty() {
        // Every resampled base median was 0: no ratio to judge.
        return None;
    }
    let (lo, hi) = interval(&mut ratios, LEVEL);
    Some((100.0 * (new_p50 / base_p50 - 1.0), lo, hi))
}

/// Judges a change of a phase whose base median is `base_ns`: significant
/// when its interval (`lo`..`hi` percent) excludes zero, counted only when
/// it lies wholly beyond `noise_pct` percent and `noise_ns` nanoseconds.
pub fn verdict(lo: f64, hi: f64, base_ns: f64, noise_pct: f64, noise_ns: f64) -> Verdict {
    let beyond = |pct: f64| pct.abs() > noise_pct && (pct.abs() / 100.0 * base_ns) > noise_ns;
    if lo > 0.0 && beyond(lo) {
        Verdict::Regressed
    } else if hi < 0.0 && beyond(hi) {
        Verdict::Improved
    } else {
        Verdict::NoChange
    }
}

/// One phase of `variant`, base against new, judged; `Err` says why it
/// could not be compared (too few kept samples). Normalised by each run's
/// machine speed where both runs measured one (`speeds`).
fn phase_change(
    variant: &str,
    bp: &crate::run::PhaseStats,
    np: &crate::run::PhaseStats,
    cfg: &CompareConfig,
    noise_ns: f64,
    speeds: Option<&(machine::Speed, machine::Speed)>,
) -> Result<PhaseChange, String> {
    let (b, n) = (&bp.stats, &np.stats);
    let Some((change_pct, lo, hi)) = change(&b.kept, &n.kept, b.p50_ns, n.p50_ns) else {
        return Err(format!(
            "{variant} {}: too few kept samples to compare (fewer than 2, or none in a file from a wprof before 0.1.0's statistics)",
            bp.phase
        ));
    };
    let normalised = speeds.and_then(|(bs, ns)| {
        machine::normalised_change((&b.kept, b.p50_ns), (&n.kept, n.p50_ns), bs, ns)
    });
    Ok(PhaseChange {
        variant: variant.to_owned(),
        phase: bp.phase,
        base_p50_ns: b.p50_ns,
        new_p50_ns: n.p50_ns,
        change_pct,
        ci_lo_pct: lo,
        ci_hi_pct: hi,
        verdict: verdict(lo, hi, b.p50_ns, cfg.noise_pct, noise_ns),
        fails: false,
        normalised_pct: normalised,
    })
}

/// Compares two run files, or one run recorded with `--baseline` (no
/// `new`) against its baseline build.
pub fn compare(cfg: &CompareConfig) -> Result<Report, Error> {
    match &cfg.new {
        Some(new) => judge(&load(&cfg.base)?, &load(new)?, cfg),
        None => within::judge(&load(&cfg.base)?, cfg),
    }
}

/// The nanosecond noise floor: as given, else twice the coarser clock
/// resolution of the runs, at least 10 ns.
fn noise_ns(cfg: &CompareConfig, base: &Run, new: &Run) -> f64 {
    cfg.noise_ns
        .unwrap_or_else(|| (2.0 * base.clock.resolution_ns.max(new.clock.resolution_ns)).max(10.0))
}

/// Compares two runs (`cfg`'s paths only name them in the report).
pub fn judge(base: &Run, new: &Run, cfg: &CompareConfig) -> Result<Report, Error> {
    let warnings = comparable(base, new).map_err(Error::Input)?;
    let noise_ns = noise_ns(cfg, base, new);
    let speeds = machine::Speed::of(base).zip(machine::Speed::of(new));
    let mut phases = Vec::new();
    let mut fuel = Vec::new();
    let mut missing = Vec::new();
    for bv in &base.variants {
        let Some(nv) = new.variants.iter().find(|v| v.name == bv.name) else {
            missing.push(format!("{}: the new run has no such variant", bv.name));
            continue;
        };
        for bp in &bv.phases {
            let Some(np) = nv.phase(bp.phase) else {
                missing.push(format!(
                    "{} {}: the new run has no such phase",
                    bv.name, bp.phase
                ));
                continue;
            };
            match phase_change(&bv.name, bp, np, cfg, noise_ns, speeds.as_ref()) {
                Ok(c) => phases.push(c),
                Err(why) => missing.push(why),
            }
        }
        if let (Some(bf), Some(nf)) = (&bv.fuel, &nv.fuel) {
            for p in &bf.phases {
                if let Some(q) = nf.phases.iter().find(|q| q.phase == p.phase) {
                    let grew = q.fuel as f64 > p.fuel as f64 * (1.0 + cfg.threshold_pct / 100.0);
                    fuel.push(FuelChange {
                        variant: bv.name.clone(),
                        phase: p.phase,
                        base: p.fuel,
                        new: q.fuel,
                        fails: grew,
                    });
                }
            }
        }
    }
    let ratios = machine::ratio_changes(base, new, cfg);
    let same_input = base.plugin.input_bytes == new.plugin.input_bytes;
    let machine_moved = speeds
        .as_ref()
        .is_some_and(|(b, n)| 100.0 * (n.p50_ns / b.p50_ns - 1.0).abs() > cfg.noise_pct);
    machine::judge_drift(
        &mut phases,
        &ratios,
        same_input,
        machine_moved,
        cfg.noise_pct,
        noise_ns,
    );
    for p in &mut phases {
        p.fails = p.verdict == Verdict::Regressed && p.change_pct > cfg.threshold_pct;
    }
    let machine = speeds.as_ref().map(|(b, n)| MachineChange {
        base_ns: b.p50_ns,
        new_ns: n.p50_ns,
        change_pct: 100.0 * (n.p50_ns / b.p50_ns - 1.0),
    });
    let added = new
        .variants
        .iter()
        .filter(|v| !base.variants.iter().any(|b| b.name == v.name))
        .map(|v| v.name.clone())
        .collect();
    Ok(Report {
        scenario: base.scenario.clone(),
        plugin: base.plugin.name.clone(),
        base: cfg.base.display().to_string(),
        new: cfg
            .new
            .as_ref()
            .map_or(String::new(), |p| p.display().to_string()),
        method: format!(
            "change in median; {:.0} % interval from {} paired block-bootstrap resamples of each run's kept samples; regressed or improved when the interval lies wholly beyond +/-{} % and +/-{:.1} ns; a regression or improvement is machine drift, and passes the gate, when the machine's speed (a fixed reference workload timed between rounds) moved beyond that noise and the change is within it once each run's times are divided by its own machine speed, or when wasm and native (their whole calls, or the same phase) moved alike on the same input while their paired ratio held; paired ratios are compared by resampling each run's per-round ratios; the gate fails on a regression over {} % of a phase or a paired ratio (or fuel grown over it)",
            100.0 * LEVEL,
            crate::stats::RESAMPLES,
            cfg.noise_pct,
            noise_ns,
            cfg.threshold_pct
        ),
        noise_pct: cfg.noise_pct,
        noise_ns,
        threshold_pct: cfg.threshold_pct,
        warnings,
        machine,
        ratios,
        phases,
        fuel,
        missing,
        allow_missing: cfg.allow_missing,
        added,
    })
}

/// A differential flamegraph (inferno): the new run's phases, coloured by
/// how much each grew (red) or shrank (blue) against the base run.
pub fn diff_flamegraph(base: &Run, new: &Run, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
    let lines = |r: &Run| crate::export::flamegraph::folded(r).join("\n");
    let mut diff = Vec::new();
    inferno::differential::from_readers(
        inferno::differential::Options::default(),
        lines(base).as_bytes(),
        lines(new).as_bytes(),
        &mut diff,
    )?;
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = format!("wprof compare: {} ({})", new.scenario, new.plugin.name);
    opts.subtitle = Some("width = new mean per iteration; red grew, blue shrank".into());
    opts.count_name = "ns".into();
    opts.min_width = 0.0;
    inferno::flamegraph::from_reader(&mut opts, diff.as_slice(), out)?;
    Ok(())
}

#[cfg(test)]
mod tests;
