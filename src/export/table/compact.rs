//! The default terminal view: each phase's p50, ±95 %, p99 and share, the
//! variants side by side, and what a reader must not miss (failures,
//! warnings, the passes asked for). The full tables stay in the `.txt`, the
//! JSON and behind `-v`.

use std::io::Write;

use super::{Esc, failures, head, inside, ranking, summary, verdicts};
use crate::phase::Phase;
use crate::run::{PhaseStats, Run, Variant};
use crate::units::{fmt_ns, fmt_signed_ns};

/// Variants side by side in one table; more go in further tables.
const ACROSS: usize = 2;

/// Variants shown phase by phase; beyond this, one row each.
const PHASE_BY_PHASE: usize = 4;

pub(super) fn compact(run: &Run, out: &mut dyn Write) -> std::io::Result<()> {
    head(run, out)?;
    let timed: Vec<&Variant> = run
        .variants
        .iter()
        .filter(|v| !v.phases.is_empty())
        .collect();
    let mut hidden = Vec::new();
    // A scenario's own table across variants says it in fewest lines; a
    // ranking next; then the variants themselves.
    if let Some(t) = &run.summary {
        writeln!(out)?;
        summary(t, out)?;
        if !timed.is_empty() {
            hidden.push("each variant's phases");
        }
    } else if let Some(r) = &run.ranking {
        writeln!(out)?;
        ranking(r, out)?;
        hidden.push("each variant's phases");
    } else if timed.len() <= PHASE_BY_PHASE {
        for group in timed.chunks(ACROSS) {
            writeln!(out)?;
            side_by_side(run, group, out)?;
        }
    } else {
        writeln!(out)?;
        whole_rows(&timed, out)?;
        hidden.push("each variant's phases");
    }
    if run.variants.iter().any(|v| v.memory.is_some()) {
        hidden.push("memory readings");
    }
    if run.perf.is_some() {
        hidden.push("perf counters");
    }
    // What the user asked for by name is shown.
    inside::heap(run, out)?;
    inside::guest_heap(run, out)?;
    inside::passes(run, out)?;
    // The verdicts the summary does not already quote.
    let quoted = crate::run::headline::of(run);
    let rest: Vec<&String> = run
        .verdicts
        .iter()
        .filter(|v| !quoted.contains(v))
        .collect();
    verdicts(&rest, out)?;
    failures(run, out)?;
    let (warnings, notes): (Vec<&String>, Vec<&String>) =
        run.notes.iter().partition(|n| n.starts_with("warning:"));
    if !warnings.is_empty() {
        writeln!(out)?;
        for w in warnings {
            writeln!(out, "{}", Esc(w))?;
        }
    }
    let notes = format!(
        "{} note{}",
        notes.len(),
        if notes.len() == 1 { "" } else { "s" }
    );
    if !hidden.is_empty() || notes != "0 notes" {
        let mut more: Vec<&str> = hidden;
        if notes != "0 notes" {
            more.push(&notes);
        }
        writeln!(out)?;
        writeln!(
            out,
            "more in the .txt and JSON (or -v): {}",
            more.join(", ")
        )?;
    }
    Ok(())
}

/// The phase rows of a group of variants, in the order they run, each
/// whole (the last row of each) at the end.
fn phase_order(group: &[&Variant]) -> Vec<Phase> {
    let mut parts = Vec::new();
    let mut wholes = Vec::new();
    for v in group {
        let n = v.phases.len();
        for (i, p) in v.phases.iter().enumerate() {
            let list = if i + 1 == n { &mut wholes } else { &mut parts };
            if !list.contains(&p.phase) {
                list.push(p.phase);
            }
        }
    }
    parts.retain(|p| !wholes.contains(p));
    parts.sort();
    parts.extend(wholes);
    parts
}

/// p50, ±95 %, p99 and share of one phase; `None` where the variant has no
/// such phase (it runs no code there: "—", never 0.0 ns).
fn cells(p: Option<&PhaseStats>) -> [String; 4] {
    match p {
        Some(p) => [
            fmt_ns(p.stats.p50_ns),
            p.stats
                .median_half_pct()
                .map_or("-".to_owned(), |h| format!("{h:.1}%")),
            fmt_ns(p.stats.p99_ns),
            format!("{:.1}%", p.share_pct),
        ],
        None => ["—".to_owned(), String::new(), String::new(), String::new()],
    }
}

fn side_by_side(run: &Run, group: &[&Variant], out: &mut dyn Write) -> std::io::Result<()> {
    // The mean difference per phase, where the run compares exactly these two.
    let delta = run.comparison.as_ref().filter(|c| {
        group.len() == 2
            && group.iter().any(|v| v.name == c.subject)
            && group.iter().any(|v| v.name == c.baseline)
    });
    const W: [usize; 4] = [11, 6, 11, 7];
    let group_w: usize = W.iter().sum::<usize>() + W.len();
    let mut top = format!("  {:<10}", "");
    let mut cols = format!("  {:<10}", "phase");
    for v in group {
        let name: String = crate::text::esc(&v.name)
            .chars()
            .take(group_w - 2)
            .collect();
        top.push_str(&format!(" {name:^group_w$}"));
        for (h, w) in ["p50", "±95%", "p99", "share"].iter().zip(W) {
            cols.push_str(&format!(" {h:>w$}"));
        }
        cols.push(' ');
    }
    if let Some(c) = delta {
        let h = format!("{} - {}", c.subject, c.baseline);
        top.push_str(&format!(" {:>13}", Esc(&h)));
        cols.push_str(&format!(" {:>13}", "mean"));
    }
    writeln!(out, "{}", top.trim_end())?;
    writeln!(out, "{}", cols.trim_end())?;
    for phase in phase_order(group) {
        let mut row = format!("  {:<10}", phase.to_string());
        for v in group {
            for (cell, w) in cells(v.phases.iter().find(|p| p.phase == phase))
                .iter()
                .zip(W)
            {
                row.push_str(&format!(" {cell:>w$}"));
            }
            row.push(' ');
        }
        if let Some(c) = delta {
            let d = c.phases.iter().find(|d| d.phase == phase).map_or_else(
                || {
                    // The whole call's difference is the comparison's own.
                    let whole = |name: &str| {
                        run.variants
                            .iter()
                            .find(|v| v.name == name)
                            .and_then(|v| v.phases.last())
                            .filter(|p| p.phase == phase)
                            .map(|p| p.stats.mean_ns)
                    };
                    match (whole(&c.subject), whole(&c.baseline)) {
                        (Some(s), Some(b)) => fmt_signed_ns(s - b),
                        _ => String::new(),
                    }
                },
                |d| fmt_signed_ns(d.delta_ns),
            );
            row.push_str(&format!(" {d:>13}"));
        }
        writeln!(out, "{}", row.trim_end())?;
    }
    Ok(())
}

/// One row per variant: its whole iteration.
fn whole_rows(variants: &[&Variant], out: &mut dyn Write) -> std::io::Result<()> {
    let w = variants
        .iter()
        .map(|v| crate::text::esc(&v.name).chars().count())
        .max()
        .unwrap_or(0)
        .max(7);
    writeln!(
        out,
        "  {:<w$} {:>11} {:>6} {:>11}",
        "variant", "p50", "±95%", "p99"
    )?;
    for v in variants {
        let [p50, ci, p99, _] = cells(v.phases.last());
        writeln!(out, "  {:<w$} {p50:>11} {ci:>6} {p99:>11}", Esc(&v.name))?;
    }
    Ok(())
}
