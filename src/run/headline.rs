//! The lines a person quotes from a run, drawn from its typed figures
//! alone: the paired ratio, the overhead, the phase that makes most of the
//! difference, the variant that wins, then the scenario's own verdicts.
//! They open the `.txt` and the HTML page and end the terminal output, as
//! criterion and hyperfine end on the line people quote.

use super::{Pair, Run, Variant};
use crate::phase::Phase;
use crate::units::{fmt_ns, fmt_signed_ns as signed_ns};

/// The most lines a headline holds: five seconds of reading.
pub const MOST: usize = 6;

/// Ratio lines (the comparison and other pairs) before the rest.
const RATIOS: usize = 3;

/// `run`'s headline as recorded, or drawn again for a run file of an
/// older version that has none.
pub fn of(run: &Run) -> Vec<String> {
    if run.headline.is_empty() {
        headline(run)
    } else {
        run.headline.clone()
    }
}

/// `run`'s headline: 1 to [`MOST`] lines.
pub fn headline(run: &Run) -> Vec<String> {
    let mut lines = Vec::new();
    if run.incomplete {
        lines.push("interrupted: these are the figures measured until then".to_owned());
    }
    lines.extend(run.concurrency.as_ref().and_then(|c| c.headline()));
    lines.extend(run.engines.iter().flat_map(|e| e.headline()));
    let mut ratios = Vec::new();
    let mut difference = None;
    if let Some(c) = &run.comparison {
        let paired = match c.ratio_ci {
            Some((lo, hi)) if c.rounds > 0 => {
                format!("95 % {lo:.3}x to {hi:.3}x, paired over {} rounds", c.rounds)
            }
            _ => "unpaired".to_owned(),
        };
        ratios.push(format!(
            "{} takes {:.3}x {}'s time per call ({paired}): {} ({:+.1} %) a call",
            c.subject,
            c.ratio,
            c.baseline,
            signed_ns(c.overhead_ns),
            c.overhead_pct
        ));
        let per_sec = |name: &str| {
            variant(run, name)
                .and_then(|v| v.uninstrumented.as_ref())
                .map(|u| u.per_sec)
        };
        if let (Some(s), Some(b)) = (per_sec(&c.subject), per_sec(&c.baseline)) {
            ratios.push(format!(
                "throughput: {} {s:.0} calls/s, {} {b:.0} calls/s (uninstrumented)",
                c.subject, c.baseline
            ));
        }
        let deltas: Vec<(Phase, f64)> = c.phases.iter().map(|d| (d.phase, d.delta_ns)).collect();
        // Per phase only the instrumented calls say; their total differs
        // from the uninstrumented overhead by the clock reads.
        difference = most_of(&deltas).map(|d| format!("{d} (instrumented means)"));
    }
    let covered = |p: &Pair| {
        run.comparison
            .as_ref()
            .is_some_and(|c| c.subject == p.subject && c.baseline == p.baseline && c.rounds > 0)
    };
    let pairs: Vec<&Pair> = run.pairs.iter().filter(|p| !covered(p)).collect();
    if pairs.len() + ratios.len() <= RATIOS {
        ratios.extend(pairs.iter().map(|p| pair_line(p)));
    } else if let (Some(lo), Some(hi)) = (
        pairs
            .iter()
            .min_by(|a, b| a.ratio.ratio.total_cmp(&b.ratio.ratio)),
        pairs
            .iter()
            .max_by(|a, b| a.ratio.ratio.total_cmp(&b.ratio.ratio)),
    ) {
        ratios.push(format!(
            "paired by round, {} pairs: from {:.3}x ({} / {}) to {:.3}x ({} / {})",
            pairs.len(),
            lo.ratio.ratio,
            lo.subject,
            lo.baseline,
            hi.ratio.ratio,
            hi.subject,
            hi.baseline
        ));
    }
    // Without a comparison, the pair furthest from its baseline is the one
    // a reader asks "where does it go?" of; a ranking answers with its
    // winner instead.
    if difference.is_none()
        && run.ranking.is_none()
        && let Some(p) = pairs
            .iter()
            .max_by(|a, b| a.ratio.ratio.total_cmp(&b.ratio.ratio))
        && let (Some(s), Some(b)) = (variant(run, &p.subject), variant(run, &p.baseline))
    {
        difference =
            most_of(&phase_deltas(s, b)).map(|d| format!("{} vs {}: {d}", p.subject, p.baseline));
    }
    lines.extend(ratios.into_iter().take(RATIOS));
    lines.extend(difference);
    if let Some(r) = &run.ranking
        && let Some(top) = r.rows.first()
    {
        lines.push(if top.variant == r.baseline {
            format!(
                "fastest: {}, the baseline itself ({} p50 {})",
                top.variant,
                fmt_ns(top.p50_ns),
                r.phase
            )
        } else {
            format!(
                "fastest: {}, {} p50 {}, {:.1}x faster than {}",
                top.variant,
                fmt_ns(top.p50_ns),
                r.phase,
                top.speedup,
                r.baseline
            )
        });
    }
    if let Some(g) = &run.guest_heap {
        let all = super::guest_heap_lines(g, run.heap.as_ref(), &run.plugin.name);
        // Wasm against native where the host pass gave native's figures,
        // else the guest's own; a leak always.
        let pick = all
            .iter()
            .find(|l| l.starts_with("allocated a call"))
            .unwrap_or(&all[0]);
        lines.push(pick.clone());
        lines.extend(all.iter().find(|l| l.starts_with("LEAK")).cloned());
    }
    if !run.failures.is_empty() {
        let names: Vec<&str> = run.failures.iter().map(|f| f.variant.as_str()).collect();
        lines.push(format!(
            "FAILED: {} variant{}: {}",
            names.len(),
            if names.len() == 1 { "" } else { "s" },
            names.join(", ")
        ));
    }
    for v in &run.verdicts {
        if lines.len() >= MOST {
            break;
        }
        lines.push(v.clone());
    }
    if lines.is_empty() {
        lines.push("nothing was measured".to_owned());
    }
    lines
}

/// A pair's ratio, on one line.
fn pair_line(p: &Pair) -> String {
    let r = &p.ratio;
    format!(
        "{} / {}: {:.3}x (95 % {:.3}x to {:.3}x, paired over {} rounds)",
        p.subject, p.baseline, r.ratio, r.lo, r.hi, r.rounds
    )
}

fn variant<'a>(run: &'a Run, name: &str) -> Option<&'a Variant> {
    run.variants.iter().find(|v| v.name == name)
}

/// Subject - baseline per phase, by mean, for the phases either has
/// (a phase one side lacks counts as nothing there), the whole row left out.
fn phase_deltas(subject: &Variant, baseline: &Variant) -> Vec<(Phase, f64)> {
    let parts = |v: &Variant| -> Vec<(Phase, f64)> {
        let n = v.phases.len().saturating_sub(1);
        v.phases[..n]
            .iter()
            .map(|p| (p.phase, p.stats.mean_ns))
            .collect()
    };
    let (s, b) = (parts(subject), parts(baseline));
    let mut phases: Vec<Phase> = s.iter().chain(&b).map(|(p, _)| *p).collect();
    phases.sort();
    phases.dedup();
    let mean = |side: &[(Phase, f64)], phase: Phase| {
        side.iter()
            .find(|(p, _)| *p == phase)
            .map_or(0.0, |(_, ns)| *ns)
    };
    phases
        .into_iter()
        .map(|p| (p, mean(&s, p) - mean(&b, p)))
        .collect()
}

/// Which phase makes most of a difference, and the next one, from each
/// phase's delta; `None` when there is no difference to speak of.
fn most_of(deltas: &[(Phase, f64)]) -> Option<String> {
    let total: f64 = deltas.iter().map(|(_, d)| d).sum();
    if total == 0.0 || !total.is_finite() {
        return None;
    }
    // The phases moving the way the total moves, largest first.
    let mut along: Vec<(Phase, f64)> = deltas
        .iter()
        .copied()
        .filter(|(_, d)| d.signum() == total.signum())
        .collect();
    along.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    let (first, d) = *along.first()?;
    let share = d / total;
    // Phases moving against the total can make one phase more than all of
    // it: then its share says nothing.
    let share = if share <= 1.0 {
        format!(" ({:.0} %)", 100.0 * share)
    } else {
        String::new()
    };
    let mut line = format!(
        "most of the difference: {first} {} of {}{share}",
        signed_ns(d),
        signed_ns(total),
    );
    if let Some((next, d2)) = along.get(1) {
        line.push_str(&format!(", then {next} {}", signed_ns(*d2)));
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phase_that_moves_with_the_total_leads() {
        let line = most_of(&[
            (Phase::Encode, -0.5),
            (Phase::CopyIn, 103.4),
            (Phase::Execute, 434.7),
            (Phase::Free, 49.3),
        ])
        .unwrap();
        assert!(
            line.starts_with("most of the difference: execute +434.7 ns of +586.9 ns (74 %), then copy-in +103.4 ns"),
            "{line}"
        );
        assert_eq!(most_of(&[(Phase::Execute, 0.0)]), None);
        // A subject faster than its baseline: the phase that gains most.
        let line = most_of(&[(Phase::Compile, -90e6), (Phase::Read, 1e3)]).unwrap();
        assert!(line.contains("compile -90.00 ms of"), "{line}");
    }

    #[test]
    fn a_headline_holds_at_most_six_lines_and_says_what_failed() {
        let mut run = Run {
            verdicts: (0..10).map(|i| format!("verdict {i}")).collect(),
            failures: vec![super::super::Failure {
                variant: "winch".into(),
                phase: Phase::Compile,
                cause: "x".into(),
            }],
            ..Run::default()
        };
        let lines = headline(&run);
        assert_eq!(lines.len(), MOST);
        assert_eq!(lines[0], "FAILED: 1 variant: winch");
        run.failures.clear();
        run.verdicts.clear();
        assert_eq!(headline(&run), ["nothing was measured"]);
    }
}
