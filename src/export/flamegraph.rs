//! SVG flamegraphs through inferno. [`Flamegraph`]: frames
//! `<scenario>;<variant>;<phase>`, weighted by each phase's mean nanoseconds
//! per iteration, so that variants that ran different numbers of iterations
//! compare by width. [`SampledFlamegraph`]: one sampler's stacks, weighted
//! by samples.

use std::io::Write;

use inferno::flamegraph::{self, Options};

use super::Exporter;
use crate::run::Run;

/// `flamegraphs/<scenario>.svg`.
pub struct Flamegraph;

/// The run's folded stacks: one line per variant and phase.
pub fn folded(run: &Run) -> Vec<String> {
    run.variants
        .iter()
        .flat_map(|v| {
            v.phases
                .iter()
                .filter(|p| !p.phase.is_whole())
                .map(move |p| {
                    format!(
                        "{};{};{} {}",
                        run.scenario,
                        v.name,
                        p.phase,
                        p.stats.mean_ns.round() as u64
                    )
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
        opts.title = format!(
            "wprof {}: {}, {} iterations, {date}",
            run.scenario, run.plugin.name, run.iterations
        );
        opts.subtitle = Some(format!(
            "width = mean time per iteration of each phase; wasmtime {}, clock {}",
            run.host.wasmtime, run.clock.name
        ));
        opts.count_name = "ns".to_owned();
        opts.name_type = "Phase:".to_owned();
        // Draw every frame, however narrow: a 10 µs rung beside a 60 ms one
        // must still be there to hover and search.
        opts.min_width = 0.0;
        render(
            &mut opts,
            &folded(run),
            "nothing was measured (see the run's failures)",
            out,
        )
    }
}
