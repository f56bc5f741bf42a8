//! SVG flamegraphs through inferno. [`Flamegraph`]: frames
//! `<scenario>;<variant>;<phase>`, weighted by each phase's mean nanoseconds
//! per iteration, so that variants that ran different numbers of iterations
//! compare by width; where one variant would be a sliver beside another
//! (a 10 µs rung beside a 60 ms one), each variant is drawn at the same
//! width instead and the title says so. [`SampledFlamegraph`]: one
//! sampler's stacks, weighted by samples.

use std::io::Write;

use inferno::flamegraph::{self, Options};

use super::Exporter;
use crate::run::{Run, Variant};
use crate::units::fmt_ns;

/// `flamegraphs/<scenario>.svg`.
pub struct Flamegraph;

/// The run's folded stacks: one line per variant and phase, weighted by
/// mean nanoseconds per iteration.
pub fn folded(run: &Run) -> Vec<String> {
    run.variants
        .iter()
        .flat_map(|v| {
            parts(v).map(move |(phase, ns)| {
                format!("{};{};{phase} {}", run.scenario, v.name, ns.round() as u64)
            })
        })
        .collect()
}

/// A variant's phases (the whole left out: they add up to it) and their
/// mean nanoseconds per iteration.
fn parts(v: &Variant) -> impl Iterator<Item = (crate::phase::Phase, f64)> + '_ {
    v.phases
        .iter()
        .filter(|p| !p.phase.is_whole())
        .map(|p| (p.phase, p.stats.mean_ns))
}

/// Width a variant is drawn at when each has its own scale.
const VARIANT_WIDTH: f64 = 1_000_000.0;

/// Whether a variant drawn to scale would be a sliver: its mean iteration
/// under a tenth of the longest's.
fn one_scale_per_variant(run: &Run) -> bool {
    let totals: Vec<f64> = run
        .variants
        .iter()
        .map(|v| parts(v).map(|p| p.1).sum::<f64>())
        .filter(|t| *t > 0.0)
        .collect();
    let max = totals.iter().copied().fold(0.0, f64::max);
    totals.iter().any(|t| *t * 10.0 < max)
}

/// The run's folded stacks with every variant drawn [`VARIANT_WIDTH`] wide,
/// its mean iteration in its frame's name (the widths no longer say it).
pub fn folded_per_variant(run: &Run) -> Vec<String> {
    run.variants
        .iter()
        .flat_map(|v| {
            let total: f64 = parts(v).map(|p| p.1).sum();
            let name = format!("{} (mean {})", v.name, fmt_ns(total));
            parts(v)
                .filter(move |_| total > 0.0)
                .map(move |(phase, ns)| {
                    let w = (ns / total * VARIANT_WIDTH).round() as u64;
                    format!("{};{name};{phase} {w}", run.scenario)
                })
        })
        .collect()
}

/// Draws folded `lines`; with none, a picture that says `why_empty`
/// (inferno refuses an empty profile).
fn render(
    opts: &mut Options,
    lines: &[String],
    why_empty: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    if lines.is_empty() {
        writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="60"><text x="10" y="30" font-family="Verdana" font-size="14">{}: {why_empty}</text></svg>"#,
            opts.title.replace('&', "&amp;").replace('<', "&lt;")
        )?;
        return Ok(());
    }
    flamegraph::from_lines(opts, lines.iter().map(String::as_str), out)?;
    Ok(())
}

/// `flamegraphs/<stem>.<sampler>.svg`: a sampler's stacks.
pub struct SampledFlamegraph {
    /// `guest` or `host`.
    pub sampler: &'static str,
}

impl Exporter for SampledFlamegraph {
    fn applies(&self, run: &Run) -> bool {
        run.profiles.iter().any(|p| p.sampler == self.sampler)
    }

    fn write(&self, run: &Run, out: &mut dyn Write) -> anyhow::Result<()> {
        let p = run
            .profiles
            .iter()
            .find(|p| p.sampler == self.sampler)
            .ok_or_else(|| anyhow::anyhow!("the run has no {} profile", self.sampler))?;
        let mut opts = Options::default();
        opts.title = format!(
            "wprof {}: {}, {} sampler",
            run.scenario, run.plugin.name, p.sampler
        );
        opts.subtitle = Some(format!(
            "{} samples in {:.2} s at {:.0} Hz (asked {:.0} Hz); width = samples",
            p.samples, p.seconds, p.achieved_hz, p.requested_hz
        ));
        opts.count_name = "samples".to_owned();
        let lines: Vec<String> = p
            .stacks
            .iter()
            .map(|s| format!("{} {}", s.frames, s.count))
            .collect();
        render(&mut opts, &lines, "no samples were taken", out)
    }
}

impl Exporter for Flamegraph {
    fn applies(&self, run: &Run) -> bool {
        run.variants.iter().any(|v| !v.phases.is_empty()) || !run.failures.is_empty()
    }

    fn write(&self, run: &Run, out: &mut dyn Write) -> anyhow::Result<()> {
        let mut opts = Options::default();
        let date = run.started_at.get(..10).unwrap_or(&run.started_at);
        let per_variant = one_scale_per_variant(run);
        let (scale, lines) = if per_variant {
            opts.count_name = "millionths of the variant's iteration".to_owned();
            (
                ", each variant scaled to the same width",
                folded_per_variant(run),
            )
        } else {
            opts.count_name = "ns".to_owned();
            ("", folded(run))
        };
        opts.title = format!(
            "wprof {}: {}, mean time per iteration by phase{scale}, {date}",
            run.scenario, run.plugin.name
        );
        let width = if per_variant {
            "width = a phase's share of its variant's mean iteration (the variants' means are in their names; they are not to scale with each other)"
        } else {
            "width = mean time per iteration of each phase"
        };
        opts.subtitle = Some(format!(
            "{width}; wasmtime {}, clock {}",
            run.host.wasmtime, run.clock.name
        ));
        opts.name_type = "Phase:".to_owned();
        if per_variant {
            // Equal widths for many variants (a concurrency run has one per
            // design and thread count): wide enough that each is named.
            opts.image_width = Some(run.variants.len().saturating_mul(200).max(1200));
        }
        // Draw every frame, however narrow: a 10 µs rung beside a 60 ms one
        // must still be there to hover and search.
        opts.min_width = 0.0;
        render(
            &mut opts,
            &lines,
            "nothing was measured (see the run's failures)",
            out,
        )
    }
}
