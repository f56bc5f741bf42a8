//! A run's figures as HTML tables (the text table's `<pre>` cut off wide
//! rows): verdicts, the scenario's summary, ratios, the ranking, each
//! variant's phases, trends, failures and notes. Every cell is escaped:
//! variant names and verdicts may carry a plugin's text.

use std::fmt::Write as _;

use super::esc;
use crate::run::Run;
use crate::units::{fmt_bytes, fmt_delta_ns, fmt_ns};

/// A table with a caption, header cells and rows, every cell escaped;
/// nothing where there are no rows.
fn table<R: AsRef<str>>(caption: &str, head: &[&str], rows: &[Vec<R>]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut h = format!("<table><caption>{}</caption><thead><tr>", esc(caption));
    for c in head {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr></thead><tbody>");
    for r in rows {
        h.push_str("<tr>");
        for c in r {
            let _ = write!(h, "<td>{}</td>", esc(c.as_ref()));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
    h
}

/// A ratio with its interval, e.g. `1.23x (1.20x–1.26x)`.
pub fn ratio(r: f64, ci: Option<(f64, f64)>) -> String {
    match ci {
        Some((lo, hi)) => format!("{r:.2}x ({lo:.2}x–{hi:.2}x)"),
        None => format!("{r:.2}x"),
    }
}

/// The verdicts: what the run concluded, first.
pub fn verdicts(run: &Run) -> String {
    let rows: Vec<Vec<&str>> = run.verdicts.iter().map(|v| vec![v.as_str()]).collect();
    table("verdicts", &["verdict"], &rows)
}

/// Every table of the run after its verdicts.
pub fn figures(run: &Run) -> String {
    let mut h = String::new();
    if let Some(s) = &run.summary {
        let head: Vec<&str> = s.columns.iter().map(String::as_str).collect();
        h.push_str(&table(&s.title, &head, &s.rows));
    }
    if let Some(c) = &run.comparison {
        let mut rows = vec![vec![
            "whole call".to_owned(),
            ratio(c.ratio, c.ratio_ci),
            format!("{} ({:+.1} %)", fmt_delta_ns(c.overhead_ns), c.overhead_pct),
        ]];
        rows.extend(c.phases.iter().map(|p| {
            vec![
                p.phase.to_string(),
                format!("{} against {}", fmt_ns(p.subject_ns), fmt_ns(p.baseline_ns)),
                fmt_delta_ns(p.delta_ns),
            ]
        }));
        let caption = format!("{} against {}", c.subject, c.baseline);
        h.push_str(&table(
            &caption,
            &["", "ratio / means", "difference"],
            &rows,
        ));
    }
    let pairs: Vec<Vec<String>> = run
        .pairs
        .iter()
        .map(|p| {
            vec![
                p.subject.clone(),
                p.baseline.clone(),
                ratio(p.ratio.ratio, Some((p.ratio.lo, p.ratio.hi))),
                p.ratio.rounds.to_string(),
            ]
        })
        .collect();
    h.push_str(&table(
        "paired ratios (median of per-round ratios, 95 % interval)",
        &["variant", "against", "ratio", "rounds"],
        &pairs,
    ));
    if let Some(r) = &run.ranking {
        let rows: Vec<Vec<String>> = r
            .rows
            .iter()
            .map(|x| {
                vec![
                    x.variant.clone(),
                    fmt_ns(x.p50_ns),
                    fmt_ns(x.p95_ns),
                    format!("{:.1}x", x.speedup),
                ]
            })
            .collect();
        let caption = format!(
            "{} by variant, fastest first, against {}",
            r.phase, r.baseline
        );
        h.push_str(&table(
            &caption,
            &["variant", "p50", "p95", "speed-up"],
            &rows,
        ));
    }
    h.push_str(&phases(run));
    let trends: Vec<Vec<String>> = run
        .trends
        .iter()
        .map(|t| {
            vec![
                t.series.clone(),
                format!("{:.1}", t.slope_kb_per_hour),
                format!("{:.1} – {:.1}", t.ci_low_kb_per_hour, t.ci_high_kb_per_hour),
                t.samples.to_string(),
                t.verdict.clone(),
            ]
        })
        .collect();
    h.push_str(&table(
        "trends",
        &[
            "series",
            "slope (KB/h)",
            "95 % interval (KB/h)",
            "readings",
            "verdict",
        ],
        &trends,
    ));
    h.push_str(&heap(run));
    let failures: Vec<Vec<String>> = run
        .failures
        .iter()
        .map(|f| vec![f.variant.clone(), f.phase.to_string(), f.cause.clone()])
        .collect();
    h.push_str(&table(
        "failures",
        &["variant", "phase", "cause"],
        &failures,
    ));
    let notes: Vec<Vec<&str>> = run.notes.iter().map(|n| vec![n.as_str()]).collect();
    h.push_str(&table("notes", &["note"], &notes));
    h
}

/// Allocations per call: the host pass's (dhat) and the guest's (inside
/// linear memory), wasm beside native.
fn heap(run: &Run) -> String {
    let side = |bytes: f64, blocks: f64| vec![fmt_bytes(bytes), format!("{blocks:.1}")];
    let mut rows: Vec<Vec<String>> = Vec::new();
    if let Some(g) = &run.guest_heap {
        let mut r = vec!["wasm: the guest, inside linear memory".to_owned()];
        r.extend(side(g.per_call.bytes, g.per_call.blocks));
        r.push(format!("{:.2}", g.leaked_blocks_per_call));
        rows.push(r);
    }
    if let Some(h) = &run.heap {
        let mut r = vec!["wasm: the host (dhat)".to_owned()];
        r.extend(side(h.wasm.bytes, h.wasm.blocks));
        r.push(String::new());
        rows.push(r);
        if let Some(g) = &run.guest_heap {
            let mut r = vec!["wasm: guest + host".to_owned()];
            r.extend(side(
                g.per_call.bytes + h.wasm.bytes,
                g.per_call.blocks + h.wasm.blocks,
            ));
            r.push(String::new());
            rows.push(r);
        }
        if let Some(n) = &h.native {
            let mut r = vec!["native (dhat)".to_owned()];
            r.extend(side(n.bytes, n.blocks));
            r.push(String::new());
            rows.push(r);
        }
    }
    let mut h = table(
        "allocated per call",
        &["where", "bytes", "blocks", "left live a call"],
        &rows,
    );
    if let Some(g) = &run.guest_heap {
        for line in crate::run::guest_heap_lines(g, run.heap.as_ref(), &run.plugin.name) {
            let _ = write!(h, "<p>{}</p>", esc(&line));
        }
    }
    h
}

/// Each variant's phases: where its time goes.
fn phases(run: &Run) -> String {
    let rows: Vec<Vec<String>> = run
        .variants
        .iter()
        .flat_map(|v| {
            v.phases.iter().map(|p| {
                let s = &p.stats;
                vec![
                    v.name.clone(),
                    p.phase.to_string(),
                    s.n.to_string(),
                    fmt_ns(s.p50_ns),
                    fmt_ns(s.mean_ns),
                    fmt_ns(s.p99_ns),
                    format!("{:.1} %", p.share_pct),
                ]
            })
        })
        .collect();
    table(
        "phases of each variant, per iteration",
        &["variant", "phase", "n", "p50", "mean", "p99", "share"],
        &rows,
    )
}
