//! A markdown summary for a pull request or `$GITHUB_STEP_SUMMARY`: each
//! run's headline, the lines to quote, then one table of its variants'
//! phases (median, its 95 % interval, p99, share of the call).

use std::io::Write;

use super::{Format, rows};
use crate::run::Run;
use crate::units::fmt_ns;

/// `markdown`.
pub struct Markdown;

/// `s` safe in a markdown table cell or list item: control characters
/// dropped, and the characters markdown and HTML would act on escaped.
pub fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

impl Format for Markdown {
    fn write(&self, runs: &[&Run], out: &mut dyn Write) -> anyhow::Result<()> {
        for (i, run) in runs.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            writeln!(
                out,
                "### wprof {}: {}\n",
                cell(&run.scenario),
                cell(&run.plugin.name)
            )?;
            for line in crate::run::headline::of(run) {
                writeln!(out, "- {}", cell(&line))?;
            }
            writeln!(out)?;
            writeln!(
                out,
                "| variant | phase | p50 | 95 % interval | p99 | share |"
            )?;
            writeln!(out, "| --- | --- | ---: | ---: | ---: | ---: |")?;
            for row in rows(&[run]) {
                let s = &row.phase.stats;
                let interval = row.interval().map_or("–".to_owned(), |(lo, hi)| {
                    format!("{} – {}", fmt_ns(lo), fmt_ns(hi))
                });
                writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {:.1} % |",
                    cell(&row.variant.name),
                    row.phase.phase,
                    fmt_ns(s.p50_ns),
                    interval,
                    fmt_ns(s.p99_ns),
                    row.phase.share_pct
                )?;
            }
        }
        Ok(())
    }
}
