//! A self-contained HTML report of one or more runs: charts drawn by
//! plotters as inline SVG (nothing fetched at view time, no script), the
//! run's table, and links to its other artifacts. Charts come from the
//! shape of the data (phases, a ranking, memory readings, counters over
//! time), not from knowing the scenario.

use std::fmt::Write as _;
use std::io::Write;

use plotters::coord::CoordTranslate;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::Exporter;
use crate::run::Run;
use crate::units::{fmt_bytes, fmt_ns};

/// `profiles/<stem>.html`.
pub struct Html;

impl Exporter for Html {
    fn write(&self, run: &Run, out: &mut dyn Write) -> anyhow::Result<()> {
        out.write_all(report(std::slice::from_ref(run), &[Vec::new()])?.as_bytes())?;
        Ok(())
    }
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

type Chart = anyhow::Result<Option<String>>;

fn svg(
    width: u32,
    height: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        draw(&root)?;
        root.present().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    Ok(out)
}

fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("cannot draw a chart: {e:?}")
}

/// An x axis: its description, and its label format (plotters' own where
/// none).
type XAxis<'a> = (&'a str, Option<&'a dyn Fn(&f64) -> String>);

/// A chart of `lines` against time in nanoseconds (y), 900 wide: the
/// x axis's description and label format given.
fn line_chart<X, Y>(
    height: u32,
    caption: &str,
    x: X,
    y: Y,
    (x_desc, x_label): XAxis<'_>,
    lines: &[(String, Vec<(f64, f64)>)],
) -> Chart
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let chart = svg(900, height, |root| {
        let mut c = ChartBuilder::on(root)
            .caption(caption, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(80)
            .build_cartesian_2d(x, y)
            .map_err(plot_err)?;
        let mut mesh = c.configure_mesh();
        mesh.x_desc(x_desc).y_label_formatter(&|y| fmt_ns(*y));
        if let Some(f) = x_label {
            mesh.x_label_formatter(f);
        }
        mesh.draw().map_err(plot_err)?;
        labelled_lines(&mut c, lines)
    })?;
    Ok(Some(chart))
}

/// One line per `(name, points)`, coloured in turn, with a legend.
fn labelled_lines<'a, X, Y>(
    c: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    lines: &[(String, Vec<(f64, f64)>)],
) -> anyhow::Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (k, (name, pts)) in lines.iter().enumerate() {
        c.draw_series(LineSeries::new(
            pts.iter().copied(),
            colour(k).stroke_width(2),
        ))
        .map_err(plot_err)?
        .label(name.clone())
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], colour(k)));
    }
    legend(c)
}

/// The chart's legend, boxed in the top right corner.
fn legend<'a, CT: CoordTranslate>(
    c: &mut ChartContext<'a, SVGBackend<'a>, CT>,
) -> anyhow::Result<()> {
    c.configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()
        .map_err(plot_err)?;
    Ok(())
}

/// A horizontal bar from `from` to `to`, `height` high below `top`.
struct Bar {
    from: f64,
    to: f64,
    top: f64,
    height: f64,
    /// Written at the bar's end: the y axis is hidden, so it says what
    /// the bar is.
    label: String,
}

/// Draws `bars` in the `k`-th colour, each named at its end; returns the
/// series, for a legend entry.
fn labelled_bars<'c, 'a, X, Y>(
    c: &'c mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    bars: &[Bar],
    k: usize,
    font: u32,
) -> anyhow::Result<&'c mut plotters::chart::SeriesAnno<'a, SVGBackend<'a>>>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let style = ("sans-serif", font)
        .into_font()
        .into_text_style(c.plotting_area())
        .pos(Pos::new(HPos::Left, VPos::Center));
    c.draw_series(bars.iter().map(|b| {
        Text::new(
            b.label.clone(),
            (b.to, b.top - b.height / 2.0),
            style.clone(),
        )
    }))
    .map_err(plot_err)?;
    c.draw_series(bars.iter().map(|b| {
        Rectangle::new(
            [(b.from, b.top - b.height), (b.to, b.top)],
            colour(k).filled(),
        )
    }))
    .map_err(plot_err)
}

/// The x axis of a bar chart in time units; no y axis (bars are named).
fn bar_axis<'a, X, Y>(
    c: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
) -> anyhow::Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    c.configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_label_formatter(&|x| fmt_ns(*x))
        .draw()
        .map_err(plot_err)?;
    Ok(())
}

/// Mean time of each phase, one bar per variant: where the time goes.
fn phase_bars(run: &Run) -> Chart {
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
    let nv = run.variants.len();
    let rows = phases.len();
    let chart = svg(900, 60 + 28 * rows as u32 * nv as u32, |root| {
        let mut c = ChartBuilder::on(root)
            .caption("mean time per phase", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(10)
            .build_cartesian_2d(0.0..max * 1.35, 0.0..rows as f64)
            .map_err(plot_err)?;
        bar_axis(&mut c)?;
        for (k, v) in run.variants.iter().enumerate() {
            let top = |i: usize| (rows - i) as f64 - 0.1 - k as f64 * 0.8 / nv as f64;
            // Each bar named at its end: phase, variant, mean.
            let bars: Vec<Bar> = phases
                .iter()
                .enumerate()
                .filter_map(|(i, ph)| {
                    let p = v.phase(*ph)?;
                    Some(Bar {
                        from: 0.0,
                        to: p.stats.mean_ns,
                        top: top(i),
                        height: 0.8 / nv as f64,
                        label: format!(" {ph} ({}) {}", v.name, fmt_ns(p.stats.mean_ns)),
                    })
                })
                .collect();
            labelled_bars(&mut c, &bars, k, 11)?
                .label(v.name.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour(k).filled())
                });
        }
        legend(&mut c)
    })?;
    Ok(Some(chart))
}

/// Median call against payload size, one line per way (variants that
/// are points of a scaling series), log-log: how each way scales.
fn scaling(run: &Run) -> Chart {
    let mut lines: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
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
    line_chart(
        420,
        "median call against payload size, by way (log-log)",
        (x0 * 0.8..x1 * 1.25).log_scale(),
        (y0 * 0.8..y1 * 1.25).log_scale(),
        ("payload (bytes)", Some(&|x| fmt_bytes(*x))),
        &lines,
    )
}

/// Each variant's whole-iteration percentiles from its kept samples.
fn distribution(run: &Run) -> Chart {
    // Past a handful of curves the chart is a tangle: the table has them.
    if run.variants.len() > 8 {
        return Ok(None);
    }
    let curves: Vec<(String, Vec<(f64, f64)>)> = run
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
    line_chart(
        380,
        "percentiles of the whole iteration, to the 99th (kept samples)",
        0.0..99.0,
        (lo * 0.9..hi * 1.1).log_scale(),
        ("percentile", None),
        &curves,
    )
}

/// A ranking's medians, fastest first, on a log scale (the cold-start ladder).
fn ranking(run: &Run) -> Chart {
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
    let chart = svg(900, 60 + 34 * n as u32, |root| {
        let mut c = ChartBuilder::on(root)
            .caption(
                format!("median {} by {} (log scale)", r.phase, "variant"),
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(10)
            .build_cartesian_2d((lo * 0.5..hi * 20.0).log_scale(), 0.0..n as f64)
            .map_err(plot_err)?;
        bar_axis(&mut c)?;
        let top = |i: usize| (n - i) as f64 - 0.15;
        // Each bar named at its end: variant, median, speed-up; each in
        // its own colour.
        for (i, row) in r.rows.iter().enumerate() {
            let speedup = if row.speedup < 10.0 {
                format!("{:.1}", row.speedup)
            } else {
                format!("{:.0}", row.speedup)
            };
            let bar = Bar {
                from: lo * 0.5,
                to: row.p50_ns,
                top: top(i),
                height: 0.7,
                label: format!(" {} {} ({speedup}x)", row.variant, fmt_ns(row.p50_ns)),
            };
            labelled_bars(&mut c, &[bar], i, 12)?;
        }
        Ok(())
    })?;
    Ok(Some(chart))
}

/// Resident memory against live instances, per variant.
fn memory(run: &Run) -> Chart {
    let lines: Vec<(String, Vec<(f64, f64)>)> = run
        .variants
        .iter()
        .filter_map(|v| {
            let pts: Vec<(f64, f64)> = v
                .memory
                .as_ref()?
                .points
                .iter()
                .filter(|p| p.instances > 0)
                .map(|p| (p.instances as f64, p.rss_bytes as f64 / 1048576.0))
                .collect();
            (pts.len() >= 2).then(|| (v.name.clone(), pts))
        })
        .collect();
    if lines.is_empty() {
        return Ok(None);
    }
    let xmax = lines
        .iter()
        .flat_map(|l| l.1.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let ymax = lines
        .iter()
        .flat_map(|l| l.1.iter().map(|p| p.1))
        .fold(1.0, f64::max);
    let chart = svg(900, 380, |root| {
        let mut c = ChartBuilder::on(root)
            .caption("resident memory against live instances", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..xmax * 1.05, 0.0..ymax * 1.1)
            .map_err(plot_err)?;
        c.configure_mesh()
            .x_desc("instances")
            .y_desc("MiB")
            .draw()
            .map_err(plot_err)?;
        labelled_lines(&mut c, &lines)
    })?;
    Ok(Some(chart))
}

/// Counters read over time (resident memory over a soak, perf counters
/// per batch), one chart each, at most `MAX` of them.
fn over_time(run: &Run) -> anyhow::Result<Vec<String>> {
    const MAX: usize = 6;
    let mut names: Vec<&str> = run.counters.iter().map(|c| c.name.as_str()).collect();
    names.dedup();
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|n| seen.insert(*n));
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
            let (x0, x1) = pts
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
            let (y0, y1) = pts
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
            let pad = ((y1 - y0) * 0.1).max(y1.abs() * 0.01).max(1e-9);
            svg(900, 260, |root| {
                let mut c = ChartBuilder::on(root)
                    .caption(format!("{name} over time"), ("sans-serif", 16))
                    .margin(10)
                    .x_label_area_size(30)
                    .y_label_area_size(70)
                    .build_cartesian_2d(x0..x1.max(x0 + 1e-6), (y0 - pad)..(y1 + pad))
                    .map_err(plot_err)?;
                c.configure_mesh().x_desc("s").draw().map_err(plot_err)?;
                c.draw_series(LineSeries::new(
                    pts.iter().copied(),
                    colour(0).stroke_width(2),
                ))
                .map_err(plot_err)?;
                Ok(())
            })
        })
        .collect()
}

/// The HTML report of `runs`, each with links to its other artifacts
/// (`links[i]`: hrefs relative to the report).
pub fn report(runs: &[Run], links: &[Vec<String>]) -> anyhow::Result<String> {
    let mut h = String::new();
    let title = runs
        .iter()
        .map(|r| format!("{} {}", r.scenario, r.plugin.name))
        .collect::<Vec<_>>()
        .join(", ");
    write!(
        h,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>wprof: {}</title><style>
body{{font-family:sans-serif;margin:2em;max-width:1000px;color:#222}}
pre{{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px}}
h2{{border-bottom:1px solid #ccc}} .na{{color:#777}} svg{{display:block;margin:1em 0}}
</style></head><body><h1>wprof report</h1>"#,
        esc(&title)
    )?;
    for (i, run) in runs.iter().enumerate() {
        writeln!(
            h,
            "<h2>{} — {}</h2><p>{} on {} ({} CPUs), wasmtime {}, started {}</p>",
            esc(&run.scenario),
            esc(&run.plugin.name),
            esc(&run.wprof_version),
            esc(run.host.cpu.as_deref().unwrap_or("unknown CPU")),
            run.host.cpus,
            esc(&run.host.wasmtime),
            esc(&run.started_at)
        )?;
        let charts = [
            phase_bars(run)?,
            distribution(run)?,
            ranking(run)?,
            memory(run)?,
        ];
        for c in charts.into_iter().flatten() {
            h.push_str(&c);
        }
        for c in over_time(run)? {
            h.push_str(&c);
        }
        match scaling(run)? {
            Some(c) => h.push_str(&c),
            None => h.push_str("<p class=\"na\">payload scaling: not applicable to this run (it comes from a data-transfer run)</p>"),
        }
        if let Some(l) = links.get(i).filter(|l| !l.is_empty()) {
            h.push_str("<p>artifacts: ");
            let items: Vec<String> = l
                .iter()
                .map(|href| format!("<a href=\"{0}\">{0}</a>", esc(href)))
                .collect();
            h.push_str(&items.join(" · "));
            h.push_str("</p>");
        }
        let mut table = Vec::new();
        super::Table.write(run, &mut table)?;
        write!(h, "<pre>{}</pre>", esc(&String::from_utf8_lossy(&table)))?;
    }
    h.push_str("</body></html>\n");
    Ok(h)
}
