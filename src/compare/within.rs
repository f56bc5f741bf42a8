//! `wprof compare RUN`: one hot-path run recorded with `--baseline`, its
//! plugin judged against the baseline build timed in the same rounds. The
//! headline is their paired ratio: each round's whole-call time of the
//! plugin over the baseline's, so a machine that changed speed during the
//! run moved both sides of every ratio alike.

use super::{CompareConfig, RatioChange, Report, Verdict, phase_change, verdict};
use crate::error::Error;
use crate::run::Run;
use crate::scenario::hot_path::BASELINE;
use crate::stats::LEVEL;

/// The variant judged against the baseline.
const SUBJECT: &str = "wasm";

/// Judges `run`'s plugin against its baseline build.
pub(super) fn judge(run: &Run, cfg: &CompareConfig) -> Result<Report, Error> {
    let path = cfg.base.display().to_string();
    let find = |name: &str| run.variants.iter().find(|v| v.name == name);
    let (Some(base), Some(new)) = (find(BASELINE), find(SUBJECT)) else {
        return Err(Error::Input(format!(
            "{path}: one run is compared against its baseline build, and this one has none: record it with `wprof record hot-path --plugin NEW --baseline OLD`, or give two runs"
        )));
    };
    let noise_ns = super::noise_ns(cfg, run, run);
    let mut phases = Vec::new();
    let mut missing = Vec::new();
    for bp in &base.phases {
        let Some(np) = new.phase(bp.phase) else {
            missing.push(format!(
                "{SUBJECT} {}: the plugin has no such phase",
                bp.phase
            ));
            continue;
        };
        match phase_change(SUBJECT, bp, np, cfg, noise_ns, None) {
            Ok(mut c) => {
                c.fails = c.verdict == Verdict::Regressed && c.change_pct > cfg.threshold_pct;
                phases.push(c);
            }
            Err(why) => missing.push(why),
        }
    }
    let mut ratios = Vec::new();
    match run
        .pairs
        .iter()
        .find(|p| p.subject == SUBJECT && p.baseline == BASELINE)
    {
        Some(p) => {
            let r = &p.ratio;
            let (lo, hi) = (100.0 * (r.lo - 1.0), 100.0 * (r.hi - 1.0));
            // A ratio has no nanosecond noise floor: only the percentage.
            let verdict = verdict(lo, hi, 1.0, cfg.noise_pct, 0.0);
            let change_pct = 100.0 * (r.ratio - 1.0);
            ratios.push(RatioChange {
                subject: SUBJECT.to_owned(),
                baseline: BASELINE.to_owned(),
                base: 1.0,
                new: r.ratio,
                change_pct,
                ci_lo_pct: lo,
                ci_hi_pct: hi,
                verdict,
                fails: verdict == Verdict::Regressed && change_pct > cfg.threshold_pct,
            });
        }
        None => missing.push(format!(
            "{SUBJECT}/{BASELINE} paired ratio: the run has too few rounds to pair"
        )),
    }
    let mut warnings = Vec::new();
    if run.incomplete {
        warnings.push("the run is incomplete (interrupted)".to_owned());
    }
    Ok(Report {
        scenario: run.scenario.clone(),
        plugin: run.plugin.name.clone(),
        base: format!("{path} ({BASELINE})"),
        new: format!("{path} ({SUBJECT})"),
        method: format!(
            "one run, the plugin against its baseline build timed in the same rounds; the headline is their paired ratio (each round's uninstrumented whole call, plugin over baseline; median over rounds with a {:.0} % bootstrap interval), regressed or improved when its interval lies wholly beyond +/-{} %; each phase's change in median with a {:.0} % interval from {} block-bootstrap resamples of each variant's kept samples, judged beyond +/-{} % and +/-{:.1} ns; the gate fails on a regression over {} % of the ratio or of a phase",
            100.0 * LEVEL,
            cfg.noise_pct,
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
        machine: None,
        ratios,
        phases,
        fuel: Vec::new(),
        missing,
        allow_missing: cfg.allow_missing,
        added: Vec::new(),
    })
}
