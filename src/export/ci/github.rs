//! github-action-benchmark's `customSmallerIsBetter`: a list of `{name,
//! unit, value, range, extra}`, one per variant and phase. The value is
//! the median in nanoseconds; the range is half the median's 95 %
//! interval, as `± x`.

use std::io::Write;

use serde::Serialize;

use super::{Format, rows};
use crate::run::Run;

/// `github-action-benchmark`.
pub struct GithubActionBenchmark;

/// One entry, as the action reads it.
#[derive(Serialize)]
struct Entry {
    name: String,
    unit: &'static str,
    value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    range: Option<String>,
    extra: String,
}

impl Format for GithubActionBenchmark {
    fn write(&self, runs: &[&Run], out: &mut dyn Write) -> anyhow::Result<()> {
        let entries: Vec<Entry> = rows(runs)
            .iter()
            .map(|row| {
                let s = &row.phase.stats;
                Entry {
                    name: row.name(),
                    unit: "ns",
                    value: s.p50_ns,
                    range: row
                        .interval()
                        .map(|(lo, hi)| format!("± {:.3}", (hi - lo) / 2.0)),
                    extra: format!(
                        "median of {} calls; p95 {:.1} ns; mean {:.1} ns",
                        s.n, s.p95_ns, s.mean_ns
                    ),
                }
            })
            .collect();
        serde_json::to_writer_pretty(&mut *out, &entries)?;
        out.write_all(b"\n")?;
        Ok(())
    }
}
