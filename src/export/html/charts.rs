//! The run's charts, drawn by plotters as inline SVG. Each chart comes from
//! the shape of the data (phases, a ranking, memory readings, counters over
//! time, scaling points), never from knowing the scenario, and is left out
//! where the run has nothing for it. Captions and legends are HTML beside
//! the SVG (see [`Figure`]), so no legend can cover a line; each variant is
//! drawn in its own colour ([`super::colour`]).

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::colour;
use super::esc;
use crate::run::Run;

/// One chart: its caption and legend (HTML, outside the plot) and its SVG.
pub struct Figure {
    pub caption: String,
    /// The variants (or series) drawn, each in [`colour::of`] its name.
    pub keys: Vec<String>,
    pub svg: String,
}

impl Figure {
    /// The chart as HTML: caption, legend row, then the plot.
    pub fn html(&self) -> String {
        let keys: String = self
            .keys
            .iter()
            .map(|k| {
                format!(
                    r#"<span class="key" data-variant="{0}"><i style="background:{1}"></i>{0}</span>"#,
                    esc(k),
                    colour::hex(colour::of(k))
                )
            })
            .collect();
        let legend = if keys.is_empty() {
            String::new()
        } else {
            format!(r#"<div class="legend">{keys}</div>"#)
        };
        format!(
            r#"<figure class="chart"><figcaption>{}</figcaption>{legend}{}</figure>"#,
            esc(&self.caption),
            self.svg
        )
    }
}

pub(super) type Chart = anyhow::Result<Option<Figure>>;

fn svg(
    width: u32,
    height: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    Ok(out)
}

fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("cannot draw a chart: {e:?}")
}

/// The unit a time axis reading up to `ns` is labelled in: its size in
/// nanoseconds and its name.
fn time_unit(ns: f64) -> (f64, &'static str) {
    match ns.abs() {
        a if a < 1e3 => (1.0, "ns"),
        a if a < 1e6 => (1e3, "µs"),
        a if a < 1e9 => (1e6, "ms"),
        _ => (1e9, "s"),
    }
}

/// At most three significant digits, no trailing zeros: `1`, `2.5`, `150`.
fn short(x: f64) -> String {
    let s = match x.abs() {
        a if a >= 100.0 => format!("{x:.0}"),
        a if a >= 10.0 => format!("{x:.1}"),
        _ => format!("{x:.2}"),
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// A tick on a log time axis, in its own unit: `1 µs`, `10 µs`, `2.5 ms`.
pub fn tick_ns(ns: f64) -> String {
    let (div, unit) = time_unit(ns);
    format!("{} {unit}", short(ns / div))
}

/// A tick on a counter's axis, large values shortened: `450 k`, `30 M`.
pub(super) fn tick_count(v: f64) -> String {
    match v.abs() {
        a if a >= 1e9 => format!("{} G", short(v / 1e9)),
        a if a >= 1e6 => format!("{} M", short(v / 1e6)),
        a if a >= 1e4 => format!("{} k", short(v / 1e3)),
        _ => short(v),
    }
}

/// A tick on an axis spanning `span`, with the decimals that tell ticks a
/// fifth of it apart (a run's seconds 11.10, 11.15, not 11.1 twice).
fn tick_fixed(span: f64) -> impl Fn(&f64) -> String {
    let decimals = (-(span / 5.0).log10()).ceil().clamp(0.0, 6.0) as usize;
    move |x| format!("{x:.decimals$}")
}

/// A tick on a payload-size axis, in decimal units as sizes are given.
fn tick_bytes(b: f64) -> String {
    let (div, unit) = match b.abs() {
        a if a < 1e3 => (1.0, "B"),
        a if a < 1e6 => (1e3, "KB"),
        a if a < 1e9 => (1e6, "MB"),
        _ => (1e9, "GB"),
    };
    format!("{} {unit}", short(b / div))
}

/// One named line of points.
pub(super) type Line = (String, Vec<(f64, f64)>);

/// Axis descriptions and tick formats of a line chart.
pub(super) struct Axes<'a> {
    pub(super) x_desc: &'a str,
    pub(super) y_desc: &'a str,
    pub(super) x_tick: &'a dyn Fn(&f64) -> String,
    pub(super) y_tick: &'a dyn Fn(&f64) -> String,
}

/// `lines`, each in its name's colour, 900 wide.
pub(super) fn line_chart<X, Y>(
    height: u32,
    x: X,
    y: Y,
    axes: &Axes<'_>,
    lines: &[Line],
) -> anyhow::Result<String>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    svg(900, height, |root| {
        let mut c = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(90)
            .build_cartesian_2d(x, y)
            .map_err(plot_err)?;
        c.configure_mesh()
            .x_desc(axes.x_desc)
            .y_desc(axes.y_desc)
            .x_label_formatter(axes.x_tick)
            .y_label_formatter(axes.y_tick)
            // Enough that a log axis over one decade still has a few.
            .y_labels(12)
            .draw()
            .map_err(plot_err)?;
        for (name, pts) in lines {
            let col = colour::of(name);
            c.draw_series(LineSeries::new(pts.iter().copied(), col.stroke_width(2)))
                .map_err(plot_err)?;
        }
        Ok(())
    })
}

/// A horizontal bar from `from` to `to`, `height` high below `top`, in
/// `key`'s colour.
struct Bar {
    from: f64,
    to: f64,
    top: f64,
    height: f64,
    key: String,
    /// Written at the bar's end: the y axis is hidden, so it says what
    /// the bar is.
    label: String,
}

/// A bar chart: `bars` on an x axis described by `x_desc` with ticks by
/// `x_tick`, rows `0..rows` (no y axis: each bar is named at its end).
fn bar_chart<X>(
    x: X,
    rows: usize,
    x_desc: &str,
    x_tick: &dyn Fn(&f64) -> String,
    bars: &[Bar],
) -> anyhow::Result<String>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    svg(900, 60 + 24 * bars.len().max(rows) as u32, |root| {
        let mut c = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(10)
            .build_cartesian_2d(x, 0.0..rows as f64)
            .map_err(plot_err)?;
        c.configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .x_desc(x_desc)
            .x_label_formatter(x_tick)
            .draw()
            .map_err(plot_err)?;
        let style = ("sans-serif", 11)
            .into_font()
            .into_text_style(c.plotting_area())
            .pos(Pos::new(HPos::Left, VPos::Center));
        c.draw_series(bars.iter().map(|b| {
            Rectangle::new(
                [(b.from, b.top - b.height), (b.to, b.top)],
                colour::of(&b.key).filled(),
            )
        }))
        .map_err(plot_err)?;
        c.draw_series(bars.iter().map(|b| {
            Text::new(
                b.label.clone(),
                (b.to, b.top - b.height / 2.0),
                style.clone(),
            )
        }))
        .map_err(plot_err)?;
        Ok(())
    })
}

/// The names of `keys`, each once, in first-seen order.
fn distinct<'a>(keys: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in keys {
        if !out.iter().any(|o| o == k) {
            out.push(k.to_owned());
        }
    }
    out
}

/// Mean time of each phase, one bar per variant: where the time goes.
pub fn phase_bars(run: &Run) -> Chart {
    let mut phases: Vec<crate::phase::Phase> = run
        .variants
        .iter()
        .flat_map(|v| v.phases.iter().map(|p| p.phase))
        .filter(|p| !p.is_whole())
        .collect();
    phases.sort();
    phases.dedup();
    if phases.is_empty() || run.variants.len() > 3 {
        return Ok(None);
    }
    let max = run
        .variants
        .iter()
        .flat_map(|v| v.phases.iter())
        .filter(|p| !p.phase.is_whole())
        .map(|p| p.stats.mean_ns)
        .fold(0.0, f64::max);
    let (div, unit) = time_unit(max);
    let nv = run.variants.len();
    let rows = phases.len() * nv;
    let mut bars = Vec::new();
    for (k, v) in run.variants.iter().enumerate() {
        for (i, ph) in phases.iter().enumerate() {
            let Some(p) = v.phase(*ph) else { continue };
            bars.push(Bar {
                from: 0.0,
                to: p.stats.mean_ns / div,
                top: (rows - i * nv - k) as f64 - 0.1,
                height: 0.8,
                key: v.name.clone(),
                label: format!(" {ph} ({}) {}", v.name, tick_ns(p.stats.mean_ns)),
            });
        }
    }
    let x_desc = format!("mean time per iteration ({unit})");
    let svg = bar_chart(
        0.0..(max / div).max(1e-9) * 1.4,
        rows,
        &x_desc,
        &|x| short(*x),
        &bars,
    )?;
    Ok(Some(Figure {
        caption: "mean time per phase".to_owned(),
        // Only what is drawn: a driver that sees no phase has no bars.
        keys: distinct(bars.iter().map(|b| b.key.as_str())),
        svg,
    }))
}

/// Median call against payload size, one line per way (variants that
/// are points of a scaling series), log-log: how each way scales.
pub fn scaling(run: &Run) -> Chart {
    let mut lines: Vec<Line> = Vec::new();
    for v in &run.variants {
        let (Some(s), Some(whole)) = (&v.scaling, v.phases.last()) else {
            continue;
        };
        let way = s.series.as_str();
        let point = (s.size_bytes as f64, whole.stats.p50_ns.max(1e-3));
        match lines.iter_mut().find(|l| l.0 == way) {
            Some(l) => l.1.push(point),
            None => lines.push((way.to_owned(), vec![point])),
        }
    }
    if lines.is_empty() {
        return Ok(None);
    }
    let all = || lines.iter().flat_map(|l| l.1.iter());
    let (x0, x1) = all().fold((f64::MAX, 0.0f64), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (y0, y1) = all().fold((f64::MAX, 0.0f64), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let axes = Axes {
        x_desc: "payload size (log scale)",
        y_desc: "median call (log scale)",
        x_tick: &|x| tick_bytes(*x),
        y_tick: &|y| tick_ns(*y),
    };
    let svg = line_chart(
        420,
        (x0 * 0.8..x1 * 1.25).log_scale(),
        (y0 * 0.8..y1 * 1.25).log_scale(),
        &axes,
        &lines,
    )?;
    Ok(Some(Figure {
        caption: "median call against payload size, by way (log-log)".to_owned(),
        keys: lines.iter().map(|l| l.0.clone()).collect(),
        svg,
    }))
}

/// Each variant's whole-iteration percentiles from its kept samples.
pub fn distribution(run: &Run) -> Chart {
    // Past a handful of curves the chart is a tangle: the table has them.
    if run.variants.len() > 8 {
        return Ok(None);
    }
    let curves: Vec<Line> = run
        .variants
        .iter()
        .filter_map(|v| {
            let whole = v.phases.last()?;
            let mut s = whole.stats.kept.clone();
            if s.len() < 2 {
                return None;
            }
            s.sort_by(f64::total_cmp);
            // Up to the 99th percentile: the rare tail would flatten the rest
            // (the table gives p99 and max).
            let n = s.len() as f64;
            let pts = s
                .iter()
                .enumerate()
                .map(|(i, &x)| (100.0 * i as f64 / (n - 1.0), x.max(1e-3)))
                .filter(|p| p.0 <= 99.0)
                .collect();
            Some((v.name.clone(), pts))
        })
        .collect();
    if curves.is_empty() {
        return Ok(None);
    }
    let (lo, hi) = curves
        .iter()
        .flat_map(|c| c.1.iter().map(|p| p.1))
        .fold((f64::MAX, 0.0f64), |(a, b), y| (a.min(y), b.max(y)));
    let axes = Axes {
        x_desc: "percentile (%)",
        y_desc: "whole iteration (log scale)",
        x_tick: &|x| short(*x),
        y_tick: &|y| tick_ns(*y),
    };
    let svg = line_chart(
        380,
        0.0..99.0,
        (lo * 0.9..hi * 1.1).log_scale(),
        &axes,
        &curves,
    )?;
    Ok(Some(Figure {
        caption: "percentiles of the whole iteration, to the 99th (kept samples)".to_owned(),
        keys: curves.iter().map(|c| c.0.clone()).collect(),
        svg,
    }))
}

/// A ranking's medians, fastest first, on a log scale (the cold-start ladder).
pub fn ranking(run: &Run) -> Chart {
    let Some(r) = &run.ranking else {
        return Ok(None);
    };
    if r.rows.is_empty() {
        return Ok(None);
    }
    let n = r.rows.len();
    let (lo, hi) = r.rows.iter().fold((f64::MAX, 0.0f64), |(a, b), x| {
        (a.min(x.p50_ns), b.max(x.p50_ns))
    });
    let lo = lo.max(1e-3);
    // Each bar named at its end: variant, median, speed-up.
    let bars: Vec<Bar> = r
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let speedup = if row.speedup < 10.0 {
                format!("{:.1}", row.speedup)
            } else {
                format!("{:.0}", row.speedup)
            };
            Bar {
                from: lo * 0.5,
                to: row.p50_ns.max(lo),
                top: (n - i) as f64 - 0.15,
                height: 0.7,
                key: row.variant.clone(),
                label: format!(" {} {} ({speedup}x)", row.variant, tick_ns(row.p50_ns)),
            }
        })
        .collect();
    let x_desc = format!("median {} (log scale)", r.phase);
    let svg = bar_chart(
        (lo * 0.5..hi.max(lo) * 20.0).log_scale(),
        n,
        &x_desc,
        &|x| tick_ns(*x),
        &bars,
    )?;
    Ok(Some(Figure {
        caption: format!("median {} by variant, fastest first", r.phase),
        keys: distinct(r.rows.iter().map(|row| row.variant.as_str())),
        svg,
    }))
}

/// Resident memory at each reading, per variant: one bar a reading, since
/// readings are steps (engine, module, instances), not a continuous series.
/// A variant whose readings repeat a label is sampled over time instead
/// (a soak): its counters' charts over time show it.
pub fn memory(run: &Run) -> Chart {
    let steps = |m: &&crate::run::MemoryProfile| {
        let mut labels: Vec<&str> = m.points.iter().map(|p| p.label.as_str()).collect();
        labels.sort_unstable();
        labels.windows(2).all(|w| w[0] != w[1])
    };
    let readings: Vec<(&str, &crate::run::MemoryPoint)> = run
        .variants
        .iter()
        .filter_map(|v| Some((v.name.as_str(), v.memory.as_ref().filter(steps)?)))
        .flat_map(|(name, m)| m.points.iter().map(move |p| (name, p)))
        .collect();
    if readings.is_empty() {
        return Ok(None);
    }
    const MIB: f64 = 1048576.0;
    let max = readings
        .iter()
        .map(|(_, p)| p.rss_bytes as f64 / MIB)
        .fold(1.0, f64::max);
    let n = readings.len();
    let bars: Vec<Bar> = readings
        .iter()
        .enumerate()
        .map(|(i, (name, p))| Bar {
            from: 0.0,
            to: p.rss_bytes as f64 / MIB,
            top: (n - i) as f64 - 0.1,
            height: 0.8,
            key: (*name).to_owned(),
            label: format!(" {name}: {} {:.1} MiB", p.label, p.rss_bytes as f64 / MIB),
        })
        .collect();
    let svg = bar_chart(
        0.0..max * 1.45,
        n,
        "resident memory (MiB)",
        &|x| short(*x),
        &bars,
    )?;
    Ok(Some(Figure {
        caption: "resident memory at each reading, by variant".to_owned(),
        keys: distinct(readings.iter().map(|(name, _)| *name)),
        svg,
    }))
}

/// Counters read over time (resident memory over a soak, perf counters
/// per batch), one chart each, at most `MAX` of them. A counter named
/// `<what> (<variant>)` is drawn in that variant's colour.
pub fn over_time(run: &Run) -> anyhow::Result<Vec<Figure>> {
    const MAX: usize = 6;
    let mut names: Vec<&str> = Vec::new();
    for c in &run.counters {
        if !names.contains(&c.name.as_str()) {
            names.push(&c.name);
        }
    }
    let series: Vec<(&str, Vec<(f64, f64)>)> = names
        .into_iter()
        .map(|name| {
            let pts = run
                .counters
                .iter()
                .filter(|c| c.name == name)
                .map(|c| (c.t_ns / 1e9, c.value))
                .collect();
            (name, pts)
        })
        // A flat line, or a handful of points, says nothing a table would
        // not: only series that varied over enough readings.
        .filter(|(_, pts): &(&str, Vec<(f64, f64)>)| {
            pts.len() >= 6 && pts.iter().any(|p| p.1 != pts[0].1)
        })
        .take(MAX)
        .collect();
    series
        .into_iter()
        .map(|(name, pts)| {
            let variant = run
                .variants
                .iter()
                .map(|v| v.name.as_str())
                .find(|v| name.ends_with(&format!("({v})")));
            let key = variant.unwrap_or(name).to_owned();
            let (x0, x1) = pts
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
            // From zero: a counter's rise reads true only against its whole.
            let (y0, y1) = pts
                .iter()
                .fold((0.0f64, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
            let pad = ((y1 - y0) * 0.1).max(1e-9);
            let axes = Axes {
                x_desc: "time since start (s)",
                y_desc: name,
                x_tick: &tick_fixed(x1 - x0),
                y_tick: &|y| tick_count(*y),
            };
            let svg = line_chart(
                260,
                x0..x1.max(x0 + 1e-6),
                y0..(y1 + pad),
                &axes,
                &[(key.clone(), pts)],
            )?;
            Ok(Figure {
                caption: format!("{name} over time"),
                keys: variant.map(|v| vec![v.to_owned()]).unwrap_or_default(),
                svg,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ticks_read_as_round_times_with_units() {
        assert_eq!(tick_ns(1e3), "1 µs");
        assert_eq!(tick_ns(1e4), "10 µs");
        assert_eq!(tick_ns(1e5), "100 µs");
        assert_eq!(tick_ns(2.5e6), "2.5 ms");
        assert_eq!(tick_ns(40.0), "40 ns");
        assert_eq!(tick_bytes(1e6), "1 MB");
        assert_eq!(tick_bytes(100.0), "100 B");
        assert_eq!(tick_count(3e7), "30 M");
        assert_eq!(tick_count(450_000.0), "450 k");
        assert_eq!(tick_fixed(0.3)(&11.15), "11.15");
        assert_eq!(tick_fixed(20.0)(&12.0), "12");
    }
}
