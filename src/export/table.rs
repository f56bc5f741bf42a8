//! The terminal table: a run as people read it after `wprof record`.

use std::io::Write;

use super::Exporter;
use crate::run::{MemoryProfile, Run, Variant};
use crate::text::Esc;
use crate::units::{fmt_bytes, fmt_ns};

/// `profiles/<scenario>.txt`, and what `wprof record` prints.
pub struct Table;

impl Exporter for Table {
    fn write(&self, run: &Run, out: &mut dyn Write) -> anyhow::Result<()> {
        Ok(table(run, out)?)
    }
}

fn table(run: &Run, out: &mut dyn Write) -> std::io::Result<()> {
    {
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
        let mut head = Vec::new();
        if let (Some(lo), Some(hi)) = (ns.iter().min(), ns.iter().max()) {
            head.push(if lo == hi {
                format!("{hi} iterations per variant")
            } else {
                format!("{lo} to {hi} iterations per variant")
            });
        }
        head.push(format!(
            "module {} B, input {} B, output {} B",
            p.size_bytes, p.input_bytes, p.output_bytes
        ));
        if !ns.is_empty() {
            head.push(format!(
                "clock {} ({} per read, {} steps)",
                run.clock.name,
                fmt_ns(run.clock.read_cost_ns),
                fmt_ns(run.clock.resolution_ns)
            ));
        }
        writeln!(out, "  {}", head.join("; "))?;
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
            for d in &c.phases {
                writeln!(
                    out,
                    "    {:<12} {:>12} - {:>12} = {:>+10.1} ns",
                    d.phase,
                    fmt_ns(d.subject_ns),
                    fmt_ns(d.baseline_ns),
                    d.delta_ns
                )?;
            }
        }
        if let Some(r) = &run.ranking {
            writeln!(out)?;
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
        if let Some(h) = &run.heap {
            writeln!(out)?;
            let side = |p: &crate::run::HeapPerCall| {
                format!("{} in {:.1} blocks", fmt_bytes(p.bytes), p.blocks)
            };
            writeln!(
                out,
                "heap per {u} (dhat, a separate untimed pass of {} {u}s{}): wasm {}{}; profile {}",
                h.calls,
                if h.native.is_some() { " a side" } else { "" },
                side(&h.wasm),
                h.native
                    .as_ref()
                    .map_or(String::new(), |n| format!(", native {}", side(n))),
                h.file,
                u = Esc(&h.unit),
            )?;
        }
        inside(run, out)?;
        if !run.verdicts.is_empty() {
            writeln!(out)?;
            for v in &run.verdicts {
                writeln!(out, "verdict: {}", Esc(v))?;
            }
        }
        if !run.failures.is_empty() {
            writeln!(out)?;
            for f in &run.failures {
                let (v, cause) = (Esc(&f.variant), Esc(&f.cause));
                writeln!(out, "FAILED {v}: {}: {cause}", f.phase)?;
            }
        }
        if !run.notes.is_empty() {
            writeln!(out)?;
            for n in &run.notes {
                writeln!(out, "note: {}", Esc(n))?;
            }
        }
    }
    Ok(())
}

/// A counter's mean in its unit: task-clock is nanoseconds.
fn count(name: &str, v: f64) -> String {
    match name {
        "task-clock" => fmt_ns(v),
        _ if v >= 100.0 => format!("{v:.0}"),
        _ => format!("{v:.2}"),
    }
}

/// The counter, fuel and sampling passes.
fn inside(run: &Run, out: &mut dyn Write) -> std::io::Result<()> {
    if let Some(c) = &run.perf {
        writeln!(out)?;
        if c.iterations > 1 {
            writeln!(
                out,
                "perf counters, mean per iteration (up to {} iterations a variant):",
                c.iterations
            )?;
        } else {
            writeln!(out, "perf counters:")?;
        }
        writeln!(out, "  how: {}", c.method)?;
        if !c.counters.is_empty() {
            let w = run
                .variants
                .iter()
                .map(|v| v.name.len())
                .max()
                .unwrap_or(0)
                .max(7);
            write!(out, "  {:<w$} {:<12}", "variant", "phase")?;
            for n in &c.counters {
                write!(out, " {n:>16}")?;
            }
            writeln!(out)?;
            for v in &run.variants {
                for p in &v.counters {
                    write!(out, "  {:<w$} {:<12}", Esc(&v.name), p.phase.to_string())?;
                    for n in &c.counters {
                        let cell = p.values.get(n).map_or("-".to_owned(), |&x| count(n, x));
                        write!(out, " {cell:>16}")?;
                    }
                    writeln!(out)?;
                }
            }
        }
        for u in &c.unavailable {
            writeln!(out, "  {}: not measured: {}", u.name, Esc(&u.reason))?;
        }
    }
    for v in &run.variants {
        let Some(f) = &v.fuel else { continue };
        writeln!(out)?;
        let list = |phases: &[crate::run::PhaseFuel]| {
            phases
                .iter()
                .map(|p| format!("{} {}", p.phase, p.fuel))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            out,
            "fuel per {u} ({}, a separate pass of {} {u}s{}): first {u} {}; then {}, {} {u}; metering costs {:+.1} %",
            Esc(&v.name),
            f.calls,
            if f.unit == "run" {
                ", each a fresh instance"
            } else {
                " on a fresh instance"
            },
            list(&f.first_call),
            list(&f.phases),
            if f.constant {
                "the same on every later"
            } else {
                "NOT the same on every later"
            },
            f.slowdown_pct,
            u = Esc(&f.unit),
        )?;
    }
    for p in &run.profiles {
        writeln!(out)?;
        writeln!(
            out,
            "{} sampler: {} samples in {:.2} s at {:.0} Hz (asked {:.0} Hz){}",
            p.sampler,
            p.samples,
            p.seconds,
            p.achieved_hz,
            p.requested_hz,
            p.overhead_pct
                .map_or(String::new(), |o| format!("; cost of sampling {o:+.1} %"))
        )?;
        if p.achieved_hz < 0.8 * p.requested_hz {
            writeln!(
                out,
                "  the platform delivered {:.0} of the {:.0} samples a second asked for{}",
                p.achieved_hz,
                p.requested_hz,
                if p.sampler == "host" {
                    " (SIGPROF follows the process's CPU time at the kernel tick's rate)"
                } else {
                    ""
                }
            )?;
        }
        // Self time by leaf frame: what a reader looks for first.
        let mut leaves: std::collections::BTreeMap<&str, u64> = Default::default();
        for s in &p.stacks {
            let leaf = s.frames.rsplit(';').next().unwrap_or(&s.frames);
            *leaves.entry(leaf).or_default() += s.count;
        }
        let mut leaves: Vec<(&str, u64)> = leaves.into_iter().collect();
        leaves.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        for (leaf, n) in leaves.iter().take(5) {
            let short: String = leaf.chars().take(90).collect();
            let short = Esc(&short);
            writeln!(
                out,
                "  {:>5.1} %  {short}",
                100.0 * *n as f64 / p.samples.max(1) as f64
            )?;
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
        let ci =
            s.ci.as_ref()
                .filter(|_| s.p50_ns > 0.0)
                .map_or("-".to_owned(), |c| {
                    format!(
                        "{:.1}%",
                        50.0 * (c.median_hi_ns - c.median_lo_ns) / s.p50_ns
                    )
                });
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
