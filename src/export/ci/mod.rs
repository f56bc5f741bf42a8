//! The formats CI dashboards and pull requests read: Bencher's BMF,
//! github-action-benchmark's `customSmallerIsBetter`, a CSV row per
//! variant and phase, a markdown summary, Sightglass's result rows, and
//! the Firefox Profiler's processed profile of the sampled stacks.
//! Each reads the runs' typed fields, of one run (`record --formats`) or
//! several (`wprof export RUN.json...`), and refuses a run that lacks what
//! it needs, with why.

mod bmf;
mod csv;
mod firefox;
mod github;
mod markdown;
mod sightglass;

use std::io::Write;

use super::Exporter;
use crate::run::{PhaseStats, Run, Variant};

/// A format over one run or several.
pub trait Format {
    /// Writes `runs` in this format.
    fn write(&self, runs: &[&Run], out: &mut dyn Write) -> anyhow::Result<()>;
    /// Why `run` has nothing this format shows; `None` when it has.
    fn lacks(&self, run: &Run) -> Option<String> {
        rows(&[run])
            .is_empty()
            .then(|| "it has no timed phases".to_owned())
    }
}

/// Every format, by the name `--format` and `--formats` give it, with the
/// end of its file name.
pub fn formats() -> Vec<(&'static str, &'static str, Box<dyn Format>)> {
    vec![
        ("bmf", ".bmf.json", Box::new(bmf::Bmf)),
        (
            "github-action-benchmark",
            ".benchmark.json",
            Box::new(github::GithubActionBenchmark),
        ),
        ("csv", ".csv", Box::new(csv::Csv)),
        ("markdown", ".md", Box::new(markdown::Markdown)),
        (
            "sightglass",
            ".sightglass.csv",
            Box::new(sightglass::Sightglass),
        ),
        ("firefox", ".firefox.json", Box::new(firefox::Firefox)),
    ]
}

/// A format as the exporter of one run.
pub struct One(pub Box<dyn Format>);

impl Exporter for One {
    fn write(&self, run: &Run, out: &mut dyn Write) -> anyhow::Result<()> {
        self.0.write(&[run], out)
    }

    fn applies(&self, run: &Run) -> bool {
        self.0.lacks(run).is_none()
    }
}

/// One timed phase of one variant of one run.
pub struct Row<'a> {
    /// The run.
    pub run: &'a Run,
    /// The variant.
    pub variant: &'a Variant,
    /// The phase and its statistics.
    pub phase: &'a PhaseStats,
}

impl Row<'_> {
    /// `scenario/plugin/variant/phase`: the benchmark's name (a plugin
    /// given by its path is named by its file stem, so the name keeps its
    /// four parts).
    pub fn name(&self) -> String {
        let plugin = std::path::Path::new(&self.run.plugin.name)
            .file_stem()
            .map_or_else(
                || self.run.plugin.name.clone(),
                |s| s.to_string_lossy().into_owned(),
            );
        format!(
            "{}/{plugin}/{}/{}",
            self.run.scenario, self.variant.name, self.phase.phase
        )
    }

    /// The median's 95 % interval, where there is one.
    pub fn interval(&self) -> Option<(f64, f64)> {
        self.phase
            .stats
            .ci
            .as_ref()
            .map(|c| (c.median_lo_ns, c.median_hi_ns))
    }

    /// Calls a second without per-phase clock reads, for a whole call.
    pub fn throughput(&self) -> Option<f64> {
        self.phase
            .phase
            .is_whole()
            .then(|| self.variant.uninstrumented.as_ref().map(|u| u.per_sec))
            .flatten()
            .filter(|p| p.is_finite() && *p > 0.0)
    }
}

/// Every timed phase of every variant of `runs`, in order.
pub fn rows<'a>(runs: &[&'a Run]) -> Vec<Row<'a>> {
    runs.iter()
        .flat_map(|run| {
            run.variants.iter().flat_map(move |variant| {
                variant.phases.iter().map(move |phase| Row {
                    run,
                    variant,
                    phase,
                })
            })
        })
        .collect()
}

/// Why `run` cannot be written in one of the formats `asked` names, where
/// it cannot.
pub fn refusal(asked: &[String], run: &Run) -> Option<String> {
    formats()
        .into_iter()
        .filter(|(name, _, _)| asked.iter().any(|a| a == name))
        .find_map(|(name, _, f)| {
            f.lacks(run).map(|why| {
                format!(
                    "--formats {name}: the {} run of {} cannot be written as {name}: {why}",
                    run.scenario, run.plugin.name
                )
            })
        })
}

/// The runs in `format`, refused with the first run's reason where one
/// lacks what it needs.
pub fn export(name: &str, runs: &[&Run], out: &mut dyn Write) -> anyhow::Result<()> {
    let Some((_, _, format)) = formats().into_iter().find(|(n, _, _)| *n == name) else {
        let known: Vec<&str> = formats().iter().map(|(n, _, _)| *n).collect();
        anyhow::bail!(
            "unknown format `{name}` (expected one of: {})",
            known.join(", ")
        );
    };
    for run in runs {
        if let Some(why) = format.lacks(run) {
            anyhow::bail!(
                "{name} cannot show the {} run of {}: {why}",
                run.scenario,
                crate::text::Esc(&run.plugin.name)
            );
        }
    }
    format.write(runs, out)
}
