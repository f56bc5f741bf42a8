//! Sightglass's result rows (`arch,engine,wasm,process,iteration,phase,
//! event,count`, the CSV `sightglass-cli benchmark --output-format csv`
//! writes), so that wprof's figures sit beside a Sightglass run of the
//! same module in Sightglass's own analysis. The mapping:
//! - `arch`: the machine's architecture (`Run.host.arch`);
//! - `engine`: the variant's engine and compiler (`wasmtime 48.0.8
//!   (cranelift)`); where the run records no driver, wprof's Wasmtime
//!   with the variant's name, and `native` for the native build;
//! - `wasm`: the plugin's source (its path, or `bundled:<name>`);
//! - `process`: the variant's position in the run, from 1 (each variant's
//!   samples are one series, as one Sightglass process's are);
//! - `iteration`: the sample's index among the samples kept;
//! - `phase`: `Compilation` from wprof's compile phase, `Instantiation`
//!   from instantiate, `Execution` from execute (the plugin's own code, a
//!   Sightglass `run` of a command) or, where a variant has no execute
//!   phase, its whole call (a cold start's first call);
//! - `event`: `nanoseconds` (Sightglass's default measure counts
//!   `cycles`: compare with a time-based measure, or convert);
//! - `count`: the sample, rounded to whole nanoseconds.

use std::io::Write;

use super::csv::field;
use super::{Format, Row, rows};
use crate::phase::Phase;
use crate::run::Run;

/// `sightglass`.
pub struct Sightglass;

/// Sightglass's phase for wprof's, where one maps.
fn phase(row: &Row<'_>) -> Option<&'static str> {
    let has_execute = row.variant.phases.iter().any(|p| p.phase == Phase::Execute);
    match row.phase.phase {
        Phase::Compile => Some("Compilation"),
        Phase::Instantiate => Some("Instantiation"),
        Phase::Execute => Some("Execution"),
        Phase::Call if !has_execute => Some("Execution"),
        _ => None,
    }
}

impl Format for Sightglass {
    fn write(&self, runs: &[&Run], out: &mut dyn Write) -> anyhow::Result<()> {
        writeln!(out, "arch,engine,wasm,process,iteration,phase,event,count")?;
        for row in rows(runs) {
            let Some(ph) = phase(&row) else { continue };
            let engine = match &row.variant.driver {
                Some(d) => format!("{} ({})", d.engine, d.compiler),
                None if row.variant.name == "native" => "native".to_owned(),
                None => format!("wasmtime {} ({})", row.run.host.wasmtime, row.variant.name),
            };
            let process = row
                .run
                .variants
                .iter()
                .position(|v| std::ptr::eq(v, row.variant))
                .map_or(0, |i| i + 1);
            for (i, ns) in row.phase.stats.kept.iter().enumerate() {
                writeln!(
                    out,
                    "{},{},{},{process},{i},{ph},nanoseconds,{}",
                    field(&row.run.host.arch),
                    field(&engine),
                    field(&row.run.plugin.source),
                    ns.round().max(0.0) as u64
                )?;
            }
        }
        Ok(())
    }

    fn lacks(&self, run: &Run) -> Option<String> {
        let any = rows(&[run])
            .iter()
            .any(|r| phase(r).is_some() && !r.phase.stats.kept.is_empty());
        (!any).then(|| {
            "it has no compile, instantiate, execute or whole-call samples (Sightglass's phases)"
                .to_owned()
        })
    }
}
