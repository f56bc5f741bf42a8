//! SVG flamegraph through inferno: frames `<scenario>;<variant>;<phase>`,
//! weighted by the total nanoseconds spent in each phase.

use std::io::Write;

use inferno::flamegraph::{self, Options};

use super::{Destination, Exporter};
use crate::phase::Phase;
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
                .filter(|p| p.phase != Phase::Call)
                .map(move |p| {
                    format!(
                        "{};{};{} {}",
                        run.scenario,
                        v.name,
                        p.phase,
                        p.stats.sum_ns.round() as u64
                    )
                })
        })
        .collect()
}

impl Exporter for Flamegraph {
    fn name(&self) -> &'static str {
        "flamegraph"
    }

    fn destination(&self) -> Destination {
        Destination::Flamegraphs
    }

    fn file_name(&self, run: &Run) -> String {
        format!("{}.svg", run.scenario)
    }

    fn write(&self, run: &Run, out: &mut dyn Write) -> anyhow::Result<()> {
        let mut opts = Options::default();
        let date = run.started_at.get(..10).unwrap_or(&run.started_at);
        opts.title = format!(
            "wprof {}: {}, {} iterations, {date}",
            run.scenario, run.plugin.name, run.iterations
        );
        opts.subtitle = Some(format!(
            "width = total time per phase over all measured calls; wasmtime {}, clock {}",
            run.host.wasmtime, run.clock.name
        ));
        opts.count_name = "ns".to_owned();
        opts.name_type = "Phase:".to_owned();
        let lines = folded(run);
        flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), out)?;
        Ok(())
    }
}
