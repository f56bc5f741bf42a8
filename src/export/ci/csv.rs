//! One CSV row per variant and phase, with every statistic wprof keeps,
//! for a spreadsheet or a pull request (hyperfine's `--export-csv`).

use std::io::Write;

use super::{Format, rows};
use crate::run::Run;

/// `csv`.
pub struct Csv;

const HEADER: &str = "scenario,plugin,variant,phase,n,min_ns,p50_ns,p95_ns,p99_ns,max_ns,mean_ns,stddev_ns,median_lo_ns,median_hi_ns,mean_lo_ns,mean_hi_ns,per_sec,share_pct,outliers";

/// `s` as one CSV field: quoted where it holds a comma, a quote or a line
/// break (RFC 4180).
pub fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn num(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v:.3}"))
}

impl Format for Csv {
    fn write(&self, runs: &[&Run], out: &mut dyn Write) -> anyhow::Result<()> {
        writeln!(out, "{HEADER}")?;
        for row in rows(runs) {
            let s = &row.phase.stats;
            let ci = s.ci.as_ref();
            let cells = [
                field(&row.run.scenario),
                field(&row.run.plugin.name),
                field(&row.variant.name),
                row.phase.phase.to_string(),
                s.n.to_string(),
                num(Some(s.min_ns)),
                num(Some(s.p50_ns)),
                num(Some(s.p95_ns)),
                num(Some(s.p99_ns)),
                num(Some(s.max_ns)),
                num(Some(s.mean_ns)),
                num(Some(s.stddev_ns)),
                num(ci.map(|c| c.median_lo_ns)),
                num(ci.map(|c| c.median_hi_ns)),
                num(ci.map(|c| c.mean_lo_ns)),
                num(ci.map(|c| c.mean_hi_ns)),
                num(Some(s.per_sec)),
                num(Some(row.phase.share_pct)),
                s.outliers.total().to_string(),
            ];
            writeln!(out, "{}", cells.join(","))?;
        }
        Ok(())
    }
}
