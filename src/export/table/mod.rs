//! The terminal table: a run as people read it after `wprof record`.

mod compact;
mod inside;

use std::io::Write;

use super::Exporter;
use crate::run::{MemoryProfile, Run, Variant};
use crate::text::Esc;
use crate::units::{fmt_bytes, fmt_ns};

/// `profiles/<scenario>.txt`, and what `wprof record` prints.
pub struct Table;

impl Exporter for Table {
    fn write(&self, run: &Run, out: &mut dyn Write) -> anyhow::Result<()> {
        // The answer first: the headline opens the file.
        headline(run, out)?;
        writeln!(out)?;
        Ok(table(run, out)?)
    }
}

/// How much of a run the terminal shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Every table: what the `.txt` holds (`-v`).
    Full,
    /// p50, ±95 %, p99 and share of each phase, side by side, and what a
    /// reader must not miss; the rest is in the `.txt` (the default).
    Compact,
}

/// What `wprof record` prints for `run` before the files it wrote; its
/// headline ([`headline`]) comes after them, last.
pub fn body(run: &Run, detail: Detail, out: &mut dyn Write) -> std::io::Result<()> {
    match detail {
        Detail::Full => table(run, out),
        Detail::Compact => compact::compact(run, out),
    }
}

/// The run's headline, under a line naming the run.
pub fn headline(run: &Run, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "summary: {} of {}",
        run.scenario,
        Esc(&run.plugin.name)
    )?;
    for l in &crate::run::headline::of(run) {
        writeln!(out, "  {}", Esc(l))?;
    }
    Ok(())
}

/// The run's first two lines: what ran, and how much of it.
fn head(run: &Run, out: &mut dyn Write) -> std::io::Result<()> {
    let p = &run.plugin;
    writeln!(
        out,
        "wprof {}: {} ({}), export {}",
        run.scenario,
        Esc(&p.name),
        Esc(&p.source),
        Esc(&p.export)
    )?;
    let ns: Vec<u64> = run
        .variants
        .iter()
        .filter_map(|v| v.phases.last())
        .map(|p| p.stats.n)
        .collect();
    let mut line = Vec::new();
    if let (Some(lo), Some(hi)) = (ns.iter().min(), ns.iter().max()) {
        line.push(if lo == hi {
            format!("{hi} iterations per variant")
        } else {
            format!("{lo} to {hi} iterations per variant")
        });
    }
    line.push(format!(
        "module {} B, input {} B, output {} B",
        p.size_bytes, p.input_bytes, p.output_bytes
    ));
    if !ns.is_empty() {
        line.push(format!(
            "clock {} ({} per read, {} steps)",
            run.clock.name,
            fmt_ns(run.clock.read_cost_ns),
            fmt_ns(run.clock.resolution_ns)
        ));
    }
    writeln!(out, "  {}", line.join("; "))
}

fn table(run: &Run, out: &mut dyn Write) -> std::io::Result<()> {
    {
        head(run, out)?;
        writeln!(out, "  settings: {}", key_values(&run.settings))?;
        if !run.setup.is_empty() {
            let setup: Vec<String> = run
                .setup
                .iter()
                .map(|s| format!("{} {}", s.phase, fmt_ns(s.ns)))
                .collect();
            writeln!(out, "  setup (once): {}", setup.join(", "))?;
        }
        for v in &run.variants {
            writeln!(out)?;
            variant(v, out)?;
        }
        if let Some(c) = &run.comparison {
            let mean = |name: &str| {
                run.variants
                    .iter()
                    .find(|v| v.name == name)
                    .and_then(|v| v.uninstrumented.as_ref())
                    .map_or(0.0, |u| u.median_ns)
            };
            writeln!(out)?;
            let paired = match c.ratio_ci {
                Some((lo, hi)) => format!(
                    " (95 % {lo:.3}x to {hi:.3}x, paired over {} rounds)",
                    c.rounds
                ),
                None => " (unpaired)".to_owned(),
            };
            writeln!(
                out,
                "{} vs {}: {:.3}x per call{paired}, {:+.1} ns ({:+.1} %)",
                c.subject, c.baseline, c.ratio, c.overhead_ns, c.overhead_pct,
            )?;
            writeln!(
                out,
                "  supporting: uninstrumented medians {} vs {} ({:.2}x, unpaired), instrumented medians {:.2}x",
                fmt_ns(mean(&c.subject)),
                fmt_ns(mean(&c.baseline)),
                c.unpaired_ratio,
                c.p50_ratio
            )?;
            writeln!(
                out,
                "  where the difference goes (instrumented means, {} - {}):",
                c.subject, c.baseline
            )?;
            // A phase a side does not have runs no code there: "—", not 0.0 ns.
            let side = |name: &str, phase: crate::phase::Phase, ns: f64| {
                let has = run
                    .variants
                    .iter()
                    .find(|v| v.name == name)
                    .is_some_and(|v| v.phases.iter().any(|p| p.phase == phase));
                if has { fmt_ns(ns) } else { "—".to_owned() }
            };
            for d in &c.phases {
                writeln!(
                    out,
                    "    {:<12} {:>12} - {:>12} = {:>+10.1} ns",
                    d.phase,
                    side(&c.subject, d.phase, d.subject_ns),
                    side(&c.baseline, d.phase, d.baseline_ns),
                    d.delta_ns
                )?;
            }
        }
        if let Some(r) = &run.ranking {
            writeln!(out)?;
            ranking(r, out)?;
        }
        let covered = |p: &&crate::run::Pair| {
            run.comparison
                .as_ref()
                .is_some_and(|c| c.subject == p.subject && c.baseline == p.baseline && c.rounds > 0)
        };
        let pairs: Vec<&crate::run::Pair> = run.pairs.iter().filter(|p| !covered(p)).collect();
        if !pairs.is_empty() {
            writeln!(out)?;
            writeln!(
                out,
                "paired by round (whole iterations; the ratios to quote: a change of the machine's speed moves both sides alike):"
            )?;
            for p in pairs {
                let r = &p.ratio;
                writeln!(
                    out,
                    "  {} / {}: {:.3}x (95 % {:.3}x to {:.3}x, {} rounds)",
                    Esc(&p.subject),
                    Esc(&p.baseline),
                    r.ratio,
                    r.lo,
                    r.hi,
                    r.rounds
                )?;
            }
        }
        if let Some(t) = &run.summary {
            writeln!(out)?;
            summary(t, out)?;
        }
        for t in &run.trends {
            writeln!(out)?;
            writeln!(
                out,
                "{} trend over {} readings: {:+.1} KB/hour (95 % CI {:+.1} to {:+.1}); a week at this rate: {:+.0} KB; threshold {:.0} KB/hour: {}",
                t.series,
                t.samples,
                t.slope_kb_per_hour,
                t.ci_low_kb_per_hour,
                t.ci_high_kb_per_hour,
                t.projected_week_kb,
                t.threshold_kb_per_hour,
                t.verdict.to_uppercase()
            )?;
        }
        inside::heap(run, out)?;
        inside::guest_heap(run, out)?;
        inside::counters(run, out)?;
        inside::passes(run, out)?;
        verdicts(&run.verdicts.iter().collect::<Vec<_>>(), out)?;
        failures(run, out)?;
        if !run.notes.is_empty() {
            writeln!(out)?;
            for n in &run.notes {
                writeln!(out, "note: {}", Esc(n))?;
            }
        }
    }
    Ok(())
}

fn variant(v: &Variant, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "{}: {}", Esc(&v.name), Esc(&v.description))?;
    let mut once: Vec<String> = v
        .setup
        .iter()
        .map(|s| format!("{} {}", s.phase, fmt_ns(s.ns)))
        .collect();
    if let Some(b) = v.module_bytes {
        once.push(format!("module {b} B"));
    }
    if let Some(b) = v.compiled_bytes {
        once.push(format!("compiled {b} B"));
    }
    if !once.is_empty() {
        writeln!(out, "  once: {}", once.join(", "))?;
    }
    if !v.facts.is_empty() {
        writeln!(out, "  measured: {}", key_values(&v.facts))?;
    }
    if let Some(m) = &v.memory {
        memory(m, out)?;
    }
    if v.phases.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "  {:<12} {:>8} {:>11} {:>11} {:>7} {:>11} {:>11} {:>11} {:>11} {:>11} {:>7} {:>9}",
        "phase",
        "n",
        "min",
        "p50",
        "±95%",
        "p95",
        "p99",
        "max",
        "mean",
        "stddev",
        "share",
        "outliers"
    )?;
    for p in &v.phases {
        let s = &p.stats;
        // The interval's half-width, as a share of the median.
        let ci = s
            .median_half_pct()
            .map_or("-".to_owned(), |h| format!("{h:.1}%"));
        writeln!(
            out,
            "  {:<12} {:>8} {:>11} {:>11} {:>7} {:>11} {:>11} {:>11} {:>11} {:>11} {:>6.1}% {:>8.1}%",
            p.phase,
            s.n,
            fmt_ns(s.min_ns),
            fmt_ns(s.p50_ns),
            ci,
            fmt_ns(s.p95_ns),
            fmt_ns(s.p99_ns),
            fmt_ns(s.max_ns),
            fmt_ns(s.mean_ns),
            fmt_ns(s.stddev_ns),
            p.share_pct,
            100.0 * s.outliers.total() as f64 / s.n.max(1) as f64
        )?;
    }
    if let Some(whole) = v.phases.last() {
        let o = &whole.stats.outliers;
        writeln!(
            out,
            "  ±95%: half-width of the median's bootstrap interval (by blocks of consecutive iterations); outliers (Tukey, counted, not dropped) of the {}: {} low severe, {} low mild, {} high mild, {} high severe",
            whole.phase, o.low_severe, o.low_mild, o.high_mild, o.high_severe
        )?;
    }
    if let Some(whole) = v.phases.last() {
        write!(
            out,
            "  {}s/s (instrumented mean): {:.0}",
            whole.phase, whole.stats.per_sec
        )?;
    }
    if let Some(u) = &v.uninstrumented {
        let overhead = if crate::timing::drift::impossible_overhead(u) {
            "not measurable (the machine's speed changed: see the notes)".to_owned()
        } else {
            match u.instrumentation_overhead_ci_pct {
                Some((lo, hi)) => format!(
                    "{:+.2} % (95 % {lo:+.2} to {hi:+.2}, paired by round)",
                    u.instrumentation_overhead_pct
                ),
                None => format!("{:+.2} %", u.instrumentation_overhead_pct),
            }
        };
        write!(
            out,
            "\n  uninstrumented: {} per call (median of {} batch means of {} calls; mean {}), {:.0} calls/s; instrumentation overhead {overhead}",
            fmt_ns(u.median_ns),
            u.batches,
            u.batch_calls,
            fmt_ns(u.mean_ns),
            u.per_sec,
        )?;
    }
    writeln!(out)
}

fn memory(m: &MemoryProfile, out: &mut dyn Write) -> std::io::Result<()> {
    let opt = |b: Option<u64>| b.map_or("-".to_owned(), |b| fmt_bytes(b as f64));
    writeln!(
        out,
        "  {:<16} {:>10} {:>10} {:>11} {:>11} {:>10} {:>9} {:>8}",
        "after", "rss", "+rss", "pss", "heap", "virtual", "instances", "calls"
    )?;
    let mut prev = None;
    for p in &m.points {
        let delta = prev.map_or("".to_owned(), |r: u64| {
            format!("{:+}", fmt_bytes(p.rss_bytes as f64 - r as f64))
        });
        writeln!(
            out,
            "  {:<16} {:>10} {:>10} {:>11} {:>11} {:>10} {:>9} {:>8}",
            p.label,
            fmt_bytes(p.rss_bytes as f64),
            delta,
            opt(p.pss_bytes),
            opt(p.heap_bytes),
            fmt_bytes(p.virtual_bytes as f64),
            p.instances,
            p.calls
        )?;
        prev = Some(p.rss_bytes);
    }
    if let Some(p) = &m.per_instance {
        let heap = p.heap_bytes.map_or("-".to_owned(), fmt_bytes);
        let other = p.other_bytes.map_or("-".to_owned(), fmt_bytes);
        writeln!(
            out,
            "  per extra instance ({} of them): {} resident = linear memory {} + host heap {} + other {}; linear memory size {}; virtual {}",
            p.instances,
            fmt_bytes(p.rss_bytes),
            fmt_bytes(p.linear_resident_bytes),
            heap,
            other,
            fmt_bytes(p.linear_size_bytes),
            fmt_bytes(p.virtual_bytes)
        )?;
    }
    if let Some(c) = m.code_bytes {
        writeln!(out, "  compiled code: {}", fmt_bytes(c as f64))?;
    }
    Ok(())
}

/// Verdicts, one a line.
fn verdicts(list: &[&String], out: &mut dyn Write) -> std::io::Result<()> {
    if !list.is_empty() {
        writeln!(out)?;
        for v in list {
            writeln!(out, "verdict: {}", Esc(v))?;
        }
    }
    Ok(())
}

/// What failed, one variant a line.
fn failures(run: &Run, out: &mut dyn Write) -> std::io::Result<()> {
    if !run.failures.is_empty() {
        writeln!(out)?;
        for f in &run.failures {
            let (v, cause) = (Esc(&f.variant), Esc(&f.cause));
            writeln!(out, "FAILED {v}: {}: {cause}", f.phase)?;
        }
    }
    Ok(())
}

/// Variants fastest first, against the baseline.
fn ranking(r: &crate::run::Ranking, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "ranking by median {} (against {}):",
        r.phase, r.baseline
    )?;
    writeln!(
        out,
        "  {:<20} {:>11} {:>11} {:>12}",
        "variant", "p50", "p95", "speedup"
    )?;
    for row in &r.rows {
        writeln!(
            out,
            "  {:<20} {:>11} {:>11} {:>11.1}x",
            row.variant,
            fmt_ns(row.p50_ns),
            fmt_ns(row.p95_ns),
            row.speedup
        )?;
    }
    Ok(())
}

/// A run's summary table, columns right-aligned to their widest cell (the
/// first two, names, left-aligned).
fn summary(t: &crate::run::Summary, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "{}:", Esc(&t.title))?;
    let widths: Vec<usize> = (0..t.columns.len())
        .map(|c| {
            t.rows
                .iter()
                .filter_map(|r| r.get(c))
                .chain(std::iter::once(&t.columns[c]))
                .map(|s| crate::text::esc(s).chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String], out: &mut dyn Write| -> std::io::Result<()> {
        let mut text = String::from(" ");
        for (c, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            let cell = Esc(cell);
            if c < 2 {
                text.push_str(&format!(" {cell:<w$}"));
            } else {
                text.push_str(&format!(" {cell:>w$}"));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(&t.columns, out)?;
    for r in &t.rows {
        line(r, out)?;
    }
    Ok(())
}

/// `k=v, k=v` for a map of settings or facts.
fn key_values(map: &std::collections::BTreeMap<String, serde_json::Value>) -> String {
    let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join(", ")
}
