//! Exporters: each turns a [`Run`] into one artifact, knowing nothing of the
//! scenario that made it. One file each, behind [`Exporter`].

mod chrome;
pub mod flamegraph;
pub mod html;
mod json;
mod pprof;
mod table;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use chrome::ChromeTrace;
pub use flamegraph::{Flamegraph, SampledFlamegraph};
pub use html::Html;
pub use json::RunJson;
pub use pprof::Pprof;
pub use table::Table;

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
    /// Short name, as given to `--export`.
    fn name(&self) -> &'static str;
    /// Directory the file goes to by default.
    fn destination(&self) -> Destination;
    /// File name for a run whose files are named `stem` (see
    /// [`OutputConfig::write_all`]), e.g. `hot-path.trace.json`.
    fn file_name(&self, stem: &str) -> String;
    /// Writes the artifact.
    fn write(&self, run: &Run, out: &mut dyn Write) -> anyhow::Result<()>;
    /// Whether `run` has anything this artifact shows (a flamegraph needs
    /// timed phases). Artifacts with nothing to show are not written.
    fn applies(&self, _run: &Run) -> bool {
        true
    }
}

/// Every file exporter, in the order files are written.
pub fn all() -> Vec<Box<dyn Exporter>> {
    vec![
        Box::new(Table),
        Box::new(RunJson),
        Box::new(ChromeTrace),
        Box::new(Flamegraph),
        Box::new(SampledFlamegraph { sampler: "guest" }),
        Box::new(SampledFlamegraph { sampler: "host" }),
        Box::new(Pprof { sampler: "guest" }),
        Box::new(Pprof { sampler: "host" }),
        Box::new(Html),
    ]
}

/// Names of every file exporter.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|e| e.name()).collect()
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

    fn selected(&self) -> Vec<Box<dyn Exporter>> {
        all()
            .into_iter()
            .filter(|e| self.exporters.iter().any(|n| n == e.name()))
            .collect()
    }

    /// Creates the output directories and proves they are writable, so a run
    /// does not measure for a minute and then fail to save.
    pub fn prepare(&self) -> Result<(), Error> {
        for e in self.selected() {
            let dir = self.dir(e.destination());
            let fail = |cause: String| Error::Output {
                path: dir.to_owned(),
                cause,
            };
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
            tempfile::Builder::new()
                .prefix(".wprof-probe")
                .tempfile_in(dir)
                .map_err(|e| fail(format!("directory is not writable: {e}")))?;
        }
        Ok(())
    }

    /// Writes every selected artifact of `run`, each named `<stem>.<ext>`;
    /// returns the paths written.
    pub fn write_all(&self, run: &Run, stem: &str) -> Result<Vec<PathBuf>, Error> {
        self.selected()
            .iter()
            .filter(|e| e.applies(run))
            .map(|e| {
                let path = self.dir(e.destination()).join(e.file_name(stem));
                write_atomic(&path, |w| e.write(run, w))?;
                Ok(path)
            })
            .collect()
    }
}

/// Writes a file through a temporary file in the same directory and renames
/// it into place, so that no reader ever sees half of it.
pub fn write_atomic(
    path: &Path,
    f: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> Result<(), Error> {
    let fail = |cause: String| Error::Output {
        path: path.to_owned(),
        cause,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".wprof-")
        .tempfile_in(dir)
        .map_err(|e| fail(e.to_string()))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        f(&mut w).map_err(|e| fail(format!("{e:#}")))?;
        w.flush().map_err(|e| fail(e.to_string()))?;
    }
    tmp.persist(path).map_err(|e| fail(e.error.to_string()))?;
    Ok(())
}

/// A duration in the unit that suits it: `812.3 ns`, `1.874 µs`, `47.21 ms`.
pub fn fmt_ns(ns: f64) -> String {
    let a = ns.abs();
    if a < 1e3 {
        format!("{ns:.1} ns")
    } else if a < 1e6 {
        format!("{:.3} µs", ns / 1e3)
    } else if a < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.3} s", ns / 1e9)
    }
}

/// A size in the unit that suits it: `812 B`, `52.0 KiB`, `2.81 MiB`.
pub fn fmt_bytes(bytes: f64) -> String {
    let a = bytes.abs();
    if a < 1024.0 {
        format!("{bytes:.0} B")
    } else if a < 1024.0 * 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else if a < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} MiB", bytes / (1024.0 * 1024.0))
    } else if a < 1024f64.powi(4) {
        format!("{:.2} GiB", bytes / 1024f64.powi(3))
    } else {
        format!("{:.2} TiB", bytes / 1024f64.powi(4))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_their_unit() {
        assert_eq!(fmt_ns(812.34), "812.3 ns");
        assert_eq!(fmt_ns(1874.2), "1.874 µs");
        assert_eq!(fmt_ns(-380.0), "-380.0 ns");
        assert_eq!(fmt_ns(47_210_000.0), "47.21 ms");
        assert_eq!(fmt_ns(2.5e9), "2.500 s");
        assert_eq!(fmt_bytes(812.0), "812 B");
        assert_eq!(fmt_bytes(-53_248.0), "-52.0 KiB");
        assert_eq!(fmt_bytes(2.81 * 1048576.0), "2.81 MiB");
    }
}
