//! The run JSON file: the [`Run`] itself, pretty-printed.

use std::io::Write;

use super::Exporter;
use crate::run::Run;

/// `profiles/<scenario>.json`.
pub struct RunJson;

impl Exporter for RunJson {
    fn write(&self, run: &Run, out: &mut dyn Write) -> anyhow::Result<()> {
        serde_json::to_writer_pretty(&mut *out, run)?;
        out.write_all(b"\n")?;
        Ok(())
    }
}
