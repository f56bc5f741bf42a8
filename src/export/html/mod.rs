//! A self-contained HTML report of one or more runs: charts drawn by
//! plotters as inline SVG (nothing fetched at view time, no script), the
//! run's figures as tables, and links to its other artifacts. A report of
//! several runs opens with a summary across them and a table of contents.

use std::fmt::Write as _;
use std::io::Write;

mod charts;
mod colour;
mod tables;
mod threads;

use super::Exporter;
use crate::run::Run;

/// `profiles/<stem>.html`.
pub struct Html;

impl Exporter for Html {
    fn write(&self, run: &Run, out: &mut dyn Write) -> anyhow::Result<()> {
        out.write_all(report(std::slice::from_ref(run), &[Vec::new()])?.as_bytes())?;
        Ok(())
    }
}

/// `s` escaped for HTML text and attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;max-width:1000px;color:#222}
h2{border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
caption{text-align:left;font-weight:bold;padding:.3em 0}
th,td{border:1px solid #ddd;padding:.2em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
figure{margin:1.5em 0}
figcaption{font-weight:bold;margin-bottom:.3em}
.legend{display:flex;flex-wrap:wrap;gap:.3em 1.2em;font-size:13px;margin:.3em 0}
.key i{display:inline-block;width:1.4em;height:.8em;margin-right:.4em;vertical-align:middle}
svg{display:block;max-width:100%;height:auto}
nav li{margin:.2em 0}
.headline{font-size:17px;background:#f5f8ff;border-left:4px solid #3367d6;padding:.4em 1em;margin:1em 0}
.headline ul{margin:0;padding-left:1.2em}
.headline li{margin:.25em 0}";

/// The one figure that sums a run up, for the summary across runs: its
/// headline's first line.
fn headline(run: &Run) -> String {
    crate::run::headline::of(run)
        .into_iter()
        .next()
        .unwrap_or_else(|| "—".to_owned())
}

/// The headline, above everything else of the run.
fn headline_html(run: &Run) -> String {
    let items: String = crate::run::headline::of(run)
        .iter()
        .map(|l| format!("<li>{}</li>", esc(l)))
        .collect();
    format!("<div class=\"headline\"><ul>{items}</ul></div>")
}

/// A link per artifact, by file name.
fn links_html(links: &[String]) -> String {
    if links.is_empty() {
        return String::new();
    }
    let items: Vec<String> = links
        .iter()
        .map(|href| format!("<a href=\"{0}\">{0}</a>", esc(href)))
        .collect();
    format!("<p>artifacts: {}</p>", items.join(" · "))
}

/// The summary across runs and the table of contents.
fn contents(runs: &[Run]) -> String {
    let mut h = String::from(
        "<table id=\"summary\"><caption>runs</caption><thead><tr><th>scenario</th><th>plugin</th><th>headline</th><th></th></tr></thead><tbody>",
    );
    for (i, run) in runs.iter().enumerate() {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><a href=\"#run-{i}\">details</a></td></tr>",
            esc(&run.scenario),
            esc(&run.plugin.name),
            esc(&headline(run))
        );
    }
    h.push_str("</tbody></table><nav><h2>contents</h2><ol>");
    for (i, run) in runs.iter().enumerate() {
        let _ = write!(
            h,
            "<li><a href=\"#run-{i}\">{} — {}</a></li>",
            esc(&run.scenario),
            esc(&run.plugin.name)
        );
    }
    h.push_str("</ol></nav>");
    h
}

/// One run's section: what ran where, its links, its verdicts, its charts
/// and its tables.
fn section(h: &mut String, i: usize, run: &Run, links: &[String]) -> anyhow::Result<()> {
    writeln!(
        h,
        "<section id=\"run-{i}\"><h2>{} — {}</h2><p>{} on {} ({} CPUs), wasmtime {}, started {}</p>",
        esc(&run.scenario),
        esc(&run.plugin.name),
        esc(&run.wprof_version),
        esc(run.host.cpu.as_deref().unwrap_or("unknown CPU")),
        run.host.cpus,
        esc(&run.host.wasmtime),
        esc(&run.started_at)
    )?;
    h.push_str(&headline_html(run));
    h.push_str(&links_html(links));
    h.push_str(&tables::verdicts(run));
    let figures = [
        charts::phase_bars(run)?,
        charts::distribution(run)?,
        charts::ranking(run)?,
        charts::memory(run)?,
        charts::scaling(run)?,
        threads::throughput(run)?,
        threads::latency(run, false)?,
        threads::latency(run, true)?,
    ];
    for f in figures.iter().flatten().chain(&charts::over_time(run)?) {
        h.push_str(&f.html());
    }
    h.push_str(&tables::figures(run));
    h.push_str("</section>\n");
    Ok(())
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
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>wprof: {}</title><style>{STYLE}</style></head><body><h1>wprof report</h1>"#,
        esc(&title)
    )?;
    if runs.len() > 1 {
        h.push_str(&contents(runs));
    }
    for (i, run) in runs.iter().enumerate() {
        section(&mut h, i, run, links.get(i).map_or(&[], Vec::as_slice))?;
    }
    h.push_str("</body></html>\n");
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{Summary, Variant};

    #[test]
    fn a_plugin_s_text_is_escaped_everywhere() {
        let evil = "<script>alert(1)</script>";
        let run = Run {
            scenario: "hot-path".to_owned(),
            verdicts: vec![evil.to_owned()],
            notes: vec![evil.to_owned()],
            summary: Some(Summary {
                title: evil.to_owned(),
                columns: vec![evil.to_owned()],
                rows: vec![vec![evil.to_owned()]],
            }),
            variants: vec![Variant {
                name: evil.to_owned(),
                ..Variant::default()
            }],
            ..Run::default()
        };
        let html = report(&[run.clone(), run], &[vec![evil.to_owned()], Vec::new()]).unwrap();
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }
}
