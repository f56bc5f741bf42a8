//! Exporters: each turns a [`Run`] into one artifact, knowing nothing of the
//! scenario that made it. One file each, behind [`Exporter`].

mod chrome;
pub mod ci;
pub mod flamegraph;
pub mod html;
mod json;
mod pprof;
mod set;
pub mod table;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use chrome::ChromeTrace;
pub use flamegraph::{Flamegraph, SampledFlamegraph};
pub use html::Html;
pub use json::RunJson;
pub use pprof::Pprof;
pub use set::{OutputSet, check_dir, parent};
pub use table::{Detail, Table};

use crate::error::Error;
use crate::run::Run;

/// Where an artifact goes by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// `profiles/`: run JSON, traces, heap and CPU profiles.
    Profiles,
    /// `flamegraphs/`: SVG flamegraphs.
    Flamegraphs,
}

/// Turns a run into one artifact.
pub trait Exporter {
    /// Writes the artifact.
    fn write(&self, run: &Run, out: &mut dyn Write) -> anyhow::Result<()>;
    /// Whether `run` has anything this artifact shows (a flamegraph needs
    /// timed phases). Artifacts with nothing to show are not written.
    fn applies(&self, _run: &Run) -> bool {
        true
    }
}

/// One artifact wprof writes: what `--formats` calls it, where it goes,
/// how its file is named, and the exporter that writes it.
pub struct Artifact {
    /// Its name, as given to `--formats`.
    pub name: &'static str,
    /// The directory its file goes to by default.
    pub destination: Destination,
    /// The end of its file name: a run whose files are named `stem` (see
    /// [`OutputConfig::write_all`]) gets `<stem><suffix>`.
    pub suffix: &'static str,
    /// What writes it.
    pub exporter: Box<dyn Exporter>,
    /// Whether a record writes it unless `--formats` says otherwise (the
    /// CI formats are written only when asked for).
    pub default: bool,
}

impl Artifact {
    /// Its file name for a run whose files are named `stem`.
    pub fn file_name(&self, stem: &str) -> String {
        format!("{stem}{}", self.suffix)
    }
}

/// Every artifact, in the order files are written.
pub fn all() -> Vec<Artifact> {
    use Destination::{Flamegraphs, Profiles};
    fn a(
        name: &'static str,
        destination: Destination,
        suffix: &'static str,
        exporter: impl Exporter + 'static,
    ) -> Artifact {
        Artifact {
            name,
            destination,
            suffix,
            exporter: Box::new(exporter),
            default: true,
        }
    }
    let mut all = vec![
        a("table", Profiles, ".txt", Table),
        a("json", Profiles, ".json", RunJson),
        a("chrome", Profiles, ".trace.json", ChromeTrace),
        a("flamegraph", Flamegraphs, ".svg", Flamegraph),
        a(
            "guest-flamegraph",
            Flamegraphs,
            ".guest.svg",
            SampledFlamegraph { sampler: "guest" },
        ),
        a(
            "host-flamegraph",
            Flamegraphs,
            ".host.svg",
            SampledFlamegraph { sampler: "host" },
        ),
        a(
            "guest-pprof",
            Profiles,
            ".guest.pb",
            Pprof { sampler: "guest" },
        ),
        a(
            "host-pprof",
            Profiles,
            ".host.pb",
            Pprof { sampler: "host" },
        ),
        a("html", Profiles, ".html", Html),
    ];
    all.extend(ci::formats().into_iter().map(|(name, suffix, f)| Artifact {
        name,
        destination: Profiles,
        suffix,
        exporter: Box::new(ci::One(f)),
        default: false,
    }));
    all
}

/// Names of the artifacts a record writes by default.
pub fn names() -> Vec<&'static str> {
    all().iter().filter(|e| e.default).map(|e| e.name).collect()
}

/// Names of every artifact `--formats` accepts.
pub fn known() -> Vec<&'static str> {
    all().iter().map(|e| e.name).collect()
}

/// Where output files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputConfig {
    /// Directory for run JSON and traces. Default: `profiles`.
    pub profiles_dir: PathBuf,
    /// Directory for flamegraphs. Default: `flamegraphs`.
    pub flamegraphs_dir: PathBuf,
    /// Exporters to run, by name. Default: all.
    pub exporters: Vec<String>,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            profiles_dir: PathBuf::from("profiles"),
            flamegraphs_dir: PathBuf::from("flamegraphs"),
            exporters: names().into_iter().map(str::to_owned).collect(),
        }
    }
}

impl OutputConfig {
    fn dir(&self, d: Destination) -> &Path {
        match d {
            Destination::Profiles => &self.profiles_dir,
            Destination::Flamegraphs => &self.flamegraphs_dir,
        }
    }

    fn selected(&self) -> Vec<Artifact> {
        all()
            .into_iter()
            .filter(|e| self.exporters.iter().any(|n| n == e.name))
            .collect()
    }

    /// Proves before a run that its output directories can be made and
    /// written, so that a run does not measure for a minute and then fail
    /// to save; creates nothing (a failed run leaves no directory behind).
    pub fn prepare(&self) -> Result<(), Error> {
        for e in self.selected() {
            check_dir(self.dir(e.destination))?;
        }
        Ok(())
    }

    /// Where the heap pass's dhat file of a run named `stem` goes.
    pub fn heap_file(&self, stem: &str) -> PathBuf {
        self.profiles_dir.join(format!("{stem}{HEAP_SUFFIX}"))
    }

    /// Where the guest heap pass's dhat file of a run named `stem` goes.
    pub fn guest_heap_file(&self, stem: &str) -> PathBuf {
        self.profiles_dir.join(format!("{stem}{GUEST_HEAP_SUFFIX}"))
    }

    /// Stages every selected artifact of `run`, each named `<stem><suffix>`,
    /// and marks the previous run's files of that name (every artifact's,
    /// the heap profile's) to go unless the new set replaces them.
    pub fn stage_all(&self, run: &Run, stem: &str, set: &mut OutputSet) -> Result<(), Error> {
        for e in all() {
            set.replaces(self.dir(e.destination).join(e.file_name(stem)));
        }
        set.replaces(self.heap_file(stem));
        set.replaces(self.guest_heap_file(stem));
        let chosen: Vec<Artifact> = self
            .selected()
            .into_iter()
            .filter(|e| e.exporter.applies(run))
            .collect();
        for (i, e) in chosen.iter().enumerate() {
            let path = self.dir(e.destination).join(e.file_name(stem));
            let _stage = crate::stages::stage(
                &format!("write {}", e.file_name(stem)),
                i as u64 + 1,
                chosen.len() as u64,
            );
            set.stage(&path, |w| e.exporter.write(run, w))?;
        }
        Ok(())
    }
}

/// The end of a heap profile's file name.
pub const HEAP_SUFFIX: &str = ".dhat.json";

/// The end of a guest heap profile's file name.
pub const GUEST_HEAP_SUFFIX: &str = ".guest.dhat.json";

/// Writes one file whole or not at all, never over one of `inputs`.
pub fn write_one(
    path: &Path,
    inputs: &[PathBuf],
    f: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> Result<(), Error> {
    let mut set = OutputSet::new(inputs.to_vec());
    set.stage(path, f)?;
    set.commit().map(drop)
}
