//! `wprof compare`'s report as text: a terminal table or Markdown.

use super::Report;
use crate::text::Esc;

/// The report as a terminal table (`markdown`: as a Markdown table for a
/// pull-request comment).
pub fn render(r: &Report, markdown: bool, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let fmt = crate::units::fmt_ns;
    if markdown {
        writeln!(
            out,
            "### wprof compare: {} ({})\n",
            Esc(&r.scenario),
            Esc(&r.plugin)
        )?;
        writeln!(out, "`{}` → `{}`\n", Esc(&r.base), Esc(&r.new))?;
        writeln!(
            out,
            "| variant | phase | base p50 | new p50 | change | 95 % interval | normalised | verdict |"
        )?;
        writeln!(
            out,
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"
        )?;
        for q in &r.ratios {
            let mark = if q.fails { " ❌" } else { "" };
            writeln!(
                out,
                "| {}/{} | paired ratio | {:.3}x | {:.3}x | {:+.1} % | {:+.1} … {:+.1} % | | {}{mark} |",
                Esc(&q.subject),
                Esc(&q.baseline),
                q.base,
                q.new,
                q.change_pct,
                q.ci_lo_pct,
                q.ci_hi_pct,
                q.verdict
            )?;
        }
        for p in &r.phases {
            let mark = if p.fails { " ❌" } else { "" };
            writeln!(
                out,
                "| {} | {} | {} | {} | {:+.1} % | {:+.1} … {:+.1} % | {} | {}{mark} |",
                Esc(&p.variant),
                p.phase,
                fmt(p.base_p50_ns),
                fmt(p.new_p50_ns),
                p.change_pct,
                p.ci_lo_pct,
                p.ci_hi_pct,
                p.normalised_pct
                    .map_or(String::new(), |n| format!("{:+.1} %", n.0)),
                p.verdict
            )?;
        }
        if !r.fuel.is_empty() {
            writeln!(out, "\n| variant | fuel of | base | new |")?;
            writeln!(out, "| --- | --- | ---: | ---: |")?;
            for f in &r.fuel {
                let v = Esc(&f.variant);
                writeln!(out, "| {v} | {} | {} | {} |", f.phase, f.base, f.new)?;
            }
        }
        writeln!(out)?;
        for m in &r.missing {
            writeln!(out, "> not compared: {}{}", Esc(m), gate(r))?;
        }
        for w in &r.warnings {
            writeln!(out, "> warning: {}", Esc(w))?;
        }
        if let Some(line) = machine_line(r) {
            writeln!(out, "> {line}")?;
        }
        writeln!(out, "\n_{}_", r.method)?;
        return Ok(());
    }
    writeln!(
        out,
        "wprof compare: {} ({}): {} -> {}",
        Esc(&r.scenario),
        Esc(&r.plugin),
        Esc(&r.base),
        Esc(&r.new)
    )?;
    writeln!(
        out,
        "  {:<18} {:<12} {:>11} {:>11} {:>8} {:>17} {:>10}  verdict",
        "variant", "phase", "base p50", "new p50", "change", "95% interval", "normalised"
    )?;
    for q in &r.ratios {
        writeln!(
            out,
            "  {:<18} {:<12} {:>10.3}x {:>10.3}x {:>+7.1}% {:>+7.1}% .. {:>+5.1}% {:>10}  {}{}",
            Esc(&format!("{}/{}", q.subject, q.baseline)),
            "paired ratio",
            q.base,
            q.new,
            q.change_pct,
            q.ci_lo_pct,
            q.ci_hi_pct,
            "",
            q.verdict,
            if q.fails { "  FAIL" } else { "" }
        )?;
    }
    for p in &r.phases {
        writeln!(
            out,
            "  {:<18} {:<12} {:>11} {:>11} {:>+7.1}% {:>+7.1}% .. {:>+5.1}% {:>10}  {}{}",
            Esc(&p.variant),
            p.phase.to_string(),
            fmt(p.base_p50_ns),
            fmt(p.new_p50_ns),
            p.change_pct,
            p.ci_lo_pct,
            p.ci_hi_pct,
            p.normalised_pct
                .map_or(String::new(), |n| format!("{:+.1}%", n.0)),
            p.verdict,
            if p.fails { "  FAIL" } else { "" }
        )?;
    }
    for f in &r.fuel {
        let v = Esc(&f.variant);
        writeln!(
            out,
            "  fuel {v} {}: {} -> {}{}",
            f.phase,
            f.base,
            f.new,
            if f.base == f.new {
                " (the same)"
            } else if f.fails {
                "  FAIL"
            } else {
                ""
            }
        )?;
    }
    for m in &r.missing {
        writeln!(out, "not compared: {}{}", Esc(m), gate(r))?;
    }
    if !r.added.is_empty() {
        writeln!(
            out,
            "new variants, not in the base run (not judged): {}",
            Esc(&r.added.join(", "))
        )?;
    }
    for w in &r.warnings {
        writeln!(out, "warning: {}", Esc(w))?;
    }
    writeln!(out, "how: {}", r.method)?;
    if let Some(line) = machine_line(r) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// How the machine's speed moved, and what moved with it, on one line.
fn machine_line(r: &Report) -> Option<String> {
    let drift: Vec<String> = r
        .phases
        .iter()
        .filter(|p| p.verdict == super::Verdict::Drift)
        .map(|p| format!("{} {}", Esc(&p.variant), p.phase))
        .collect();
    let speed = r.machine.as_ref().map(|m| {
        format!(
            "machine speed: a fixed reference workload took {} in the base run and {} in the new one ({:+.1} %)",
            crate::units::fmt_ns(m.base_ns),
            crate::units::fmt_ns(m.new_ns),
            m.change_pct
        )
    });
    match (speed, drift.is_empty()) {
        (None, true) => None,
        (Some(s), true) => Some(s),
        (s, false) => Some(format!(
            "{}machine drift, not a change of the plugin (passes the gate): {}",
            s.map(|s| format!("{s}; ")).unwrap_or_default(),
            drift.join(", ")
        )),
    }
}

/// What a missing comparison does to the gate.
fn gate(r: &Report) -> &'static str {
    if r.allow_missing {
        " (allowed: --allow-missing)"
    } else {
        "  FAIL (--allow-missing to accept)"
    }
}
