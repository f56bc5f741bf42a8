//! Reading a run file back (`compare`, `report`): bounded, with one-line
//! errors naming the file and the position, and refused as corrupt, naming
//! the field, when it holds a figure no run can have.

use std::path::Path;

use crate::error::Error;
use crate::run::{Run, SCHEMA_VERSION};

/// Reads a run file, with one-line errors naming the file and the position.
pub fn load(path: &Path) -> Result<Run, Error> {
    let shown = path.display().to_string();
    // The file's own name leads the message already.
    let text = crate::files::read_text(path, crate::files::Kind::Run).map_err(|e| {
        Error::Input(format!(
            "{shown}: {}",
            e.replacen(&format!("cannot read {shown}"), "cannot read it", 1)
                .replacen(&format!("{shown} is "), "it is ", 1)
        ))
    })?;
    parse(&text, &shown)
}

/// Parses and checks a run file's text; errors name it `shown`.
pub fn parse(text: &str, shown: &str) -> Result<Run, Error> {
    let fail = |cause: String| Error::Input(format!("{shown}: {cause}"));
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        fail(format!(
            "not a wprof run file: line {}, column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    let schema = value.get("schema").and_then(|s| s.as_u64());
    let version = value
        .get("wprof_version")
        .and_then(|v| v.as_str())
        .unwrap_or("unknown")
        .to_owned();
    match schema {
        None => {
            return Err(fail(
                "not a wprof run file: it has no `schema` field".into(),
            ));
        }
        Some(s) if s > u64::from(SCHEMA_VERSION) => {
            return Err(fail(format!(
                "written by wprof {version} in run format {s}, newer than this wprof {} reads (format {SCHEMA_VERSION})",
                env!("CARGO_PKG_VERSION")
            )));
        }
        _ => {}
    }
    let run: Run = serde_json::from_value(value).map_err(|e| {
        fail(format!(
            "written by wprof {version}; this wprof {} cannot read it: {e}",
            env!("CARGO_PKG_VERSION")
        ))
    })?;
    check(&run).map_err(|e| fail(format!("corrupt: {e}")))?;
    Ok(run)
}

/// Refuses a run holding a figure no run can have: a negative or
/// non-finite time, a median outside its minimum and maximum, more kept
/// samples than calls. Names the first such field.
pub fn check(run: &Run) -> Result<(), String> {
    let time = |at: &str, what: &str, x: f64| -> Result<(), String> {
        if x.is_finite() && x >= 0.0 {
            Ok(())
        } else {
            Err(format!(
                "{at}: {what} is {x} (a time must be finite and 0 or more)"
            ))
        }
    };
    time("clock", "resolution_ns", run.clock.resolution_ns)?;
    time("clock", "read_cost_ns", run.clock.read_cost_ns)?;
    for (i, v) in run.variants.iter().enumerate() {
        // compare and the exporters find a variant, and a phase in it, by
        // name: a second of either would be read as the first.
        if run.variants[..i].iter().any(|u| u.name == v.name) {
            return Err(format!("variants[{i}]: a second variant named {}", v.name));
        }
        for (j, p) in v.phases.iter().enumerate() {
            let at = format!("variants[{i}] ({}) phases[{j}] ({})", v.name, p.phase);
            if v.phases[..j].iter().any(|q| q.phase == p.phase) {
                return Err(format!("{at}: a second {} phase in one variant", p.phase));
            }
            let s = &p.stats;
            if s.n == 0 {
                return Err(format!("{at}: stats.n is 0 (statistics of no calls)"));
            }
            for (what, x) in [
                ("stats.min_ns", s.min_ns),
                ("stats.p50_ns", s.p50_ns),
                ("stats.p95_ns", s.p95_ns),
                ("stats.p99_ns", s.p99_ns),
                ("stats.max_ns", s.max_ns),
                ("stats.mean_ns", s.mean_ns),
                ("stats.stddev_ns", s.stddev_ns),
            ] {
                time(&at, what, x)?;
            }
            // Percentiles from a histogram (a long soak) are within its
            // 3 significant digits of the exact ones.
            let slack = 1e-3 * s.max_ns + 1e-6;
            if s.p50_ns + slack < s.min_ns || s.p50_ns > s.max_ns + slack {
                return Err(format!(
                    "{at}: stats.p50_ns {} lies outside min_ns {} .. max_ns {}",
                    s.p50_ns, s.min_ns, s.max_ns
                ));
            }
            if s.kept.len() as u64 > s.n {
                return Err(format!(
                    "{at}: stats.kept holds {} samples of {} calls",
                    s.kept.len(),
                    s.n
                ));
            }
            if let Some(x) = s.kept.iter().find(|x| !(x.is_finite() && **x >= 0.0)) {
                return Err(format!(
                    "{at}: stats.kept holds {x} (a time must be finite and 0 or more)"
                ));
            }
            if let Some(ci) = &s.ci
                && !(ci.median_lo_ns <= ci.median_hi_ns && ci.median_lo_ns.is_finite())
            {
                return Err(format!(
                    "{at}: stats.ci median interval {} .. {} is not an interval",
                    ci.median_lo_ns, ci.median_hi_ns
                ));
            }
        }
        if let Some(u) = &v.uninstrumented {
            time(
                &format!("variants[{i}] ({}) uninstrumented", v.name),
                "median_ns",
                u.median_ns,
            )?;
        }
    }
    if let Some(d) = &run.drift {
        time("drift", "reference_p50_ns", d.reference_p50_ns)?;
        for x in &d.reference_ns {
            time("drift", "a reference_ns time", *x)?;
        }
    }
    for (i, p) in run.pairs.iter().enumerate() {
        let r = &p.ratio;
        if let Some(x) = [r.ratio, r.lo, r.hi]
            .iter()
            .chain(&r.per_round)
            .find(|x| !(x.is_finite() && **x > 0.0))
        {
            return Err(format!(
                "pairs[{i}] ({} / {}): a ratio of {x} (a ratio of two times must be finite and over 0)",
                p.subject, p.baseline
            ));
        }
    }
    Ok(())
}
