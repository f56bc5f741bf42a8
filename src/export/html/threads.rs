//! Charts of a run with points over thread counts (`record concurrency`):
//! requests per second and latency against threads, one line per design.

use plotters::prelude::*;

use super::charts::{Axes, Chart, Figure, Line, line_chart, tick_count, tick_ns};
use crate::run::Run;

/// The run's points as one line per design: `(threads, y)`.
fn lines(run: &Run, y: impl Fn(&crate::run::Point) -> Option<f64>) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    let Some(c) = &run.concurrency else {
        return lines;
    };
    for p in &c.points {
        let Some(v) = y(p) else { continue };
        let point = (p.threads as f64, v);
        match lines.iter_mut().find(|l| l.0 == p.design) {
            Some(l) => l.1.push(point),
            None => lines.push((p.design.clone(), vec![point])),
        }
    }
    lines
}

/// The thread axis: log scale, from the fewest to the most threads.
fn thread_range(lines: &[Line]) -> (f64, f64) {
    let xs = lines.iter().flat_map(|l| l.1.iter().map(|p| p.0));
    let (lo, hi) = xs.fold((f64::MAX, 0.0f64), |(a, b), x| (a.min(x), b.max(x)));
    (lo / 1.2, (hi * 1.2).max(lo * 1.5))
}

fn tick_threads(x: &f64) -> String {
    format!("{x:.0}")
}

/// Requests per second against threads, from zero.
pub fn throughput(run: &Run) -> Chart {
    let lines = lines(run, |p| Some(p.requests_per_s));
    if lines.is_empty() {
        return Ok(None);
    }
    let (x0, x1) = thread_range(&lines);
    let top = lines
        .iter()
        .flat_map(|l| l.1.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    let axes = Axes {
        x_desc: "threads (log scale)",
        y_desc: "requests per second",
        x_tick: &tick_threads,
        y_tick: &|y| tick_count(*y),
    };
    let svg = line_chart(420, (x0..x1).log_scale(), 0.0..top * 1.1, &axes, &lines)?;
    Ok(Some(Figure {
        caption: "requests per second against threads, by design".to_owned(),
        keys: lines.iter().map(|l| l.0.clone()).collect(),
        svg,
    }))
}

/// Median (or p99) request latency against threads, log scale.
pub fn latency(run: &Run, p99: bool) -> Chart {
    let lines = lines(run, |p| {
        let s = p.latency.as_ref()?;
        Some(if p99 { s.p99_ns } else { s.p50_ns }.max(1e-3))
    });
    if lines.is_empty() {
        return Ok(None);
    }
    let (x0, x1) = thread_range(&lines);
    let ys = || lines.iter().flat_map(|l| l.1.iter().map(|p| p.1));
    let (y0, y1) = (ys().fold(f64::MAX, f64::min), ys().fold(0.0f64, f64::max));
    let which = if p99 { "p99" } else { "median" };
    let y_desc = format!("{which} request latency (log scale)");
    let axes = Axes {
        x_desc: "threads (log scale)",
        y_desc: &y_desc,
        x_tick: &tick_threads,
        y_tick: &|y| tick_ns(*y),
    };
    let svg = line_chart(
        380,
        (x0..x1).log_scale(),
        (y0 * 0.8..y1 * 1.25).log_scale(),
        &axes,
        &lines,
    )?;
    Ok(Some(Figure {
        caption: format!("{which} request latency against threads, by design"),
        keys: lines.iter().map(|l| l.0.clone()).collect(),
        svg,
    }))
}
