//! The command line. clap lives here only: each subcommand's arguments become
//! a plain config struct before the core sees them ([`args`],
//! [`scenario_args`]); [`dispatch`] runs them, [`handover`] sends a module
//! to the scenario for its kind, [`output`] writes and prints the runs.

mod args;
mod bounds;
mod common;
mod dispatch;
mod engines_args;
mod handover;
mod output;
mod scenario_args;

use std::io::Write;

use clap::Parser;

pub use args::Cli;

/// How many times `-v` was given, for what the terminal shows.
static VERBOSE: std::sync::OnceLock<u8> = std::sync::OnceLock::new();

/// Parses the command line and runs it.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _ = VERBOSE.set(cli.verbose);
    let trace = cli
        .self_trace
        .as_deref()
        .map(SelfTrace::create)
        .transpose()?;
    let guard = crate::stages::init(
        cli.verbose,
        trace.map(|t| Box::new(t) as Box<dyn Write + Send>),
    );
    let result = dispatch::run(cli);
    // Dropping the guard ends the trace and puts its file in place.
    drop(guard);
    result
}

/// `--self-trace FILE`, written beside FILE and renamed onto it once
/// whole, so that FILE is never half-written.
struct SelfTrace {
    file: Option<tempfile::NamedTempFile>,
    path: std::path::PathBuf,
}

impl SelfTrace {
    fn create(path: &std::path::Path) -> anyhow::Result<SelfTrace> {
        let dir = crate::export::parent(path);
        let file = tempfile::Builder::new()
            .prefix(".wprof-self-trace")
            .tempfile_in(dir)
            .map_err(|e| anyhow::anyhow!("--self-trace {}: {e}", path.display()))?;
        Ok(SelfTrace {
            file: Some(file),
            path: path.to_owned(),
        })
    }
}

impl Write for SelfTrace {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.file {
            Some(f) => f.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

impl Drop for SelfTrace {
    fn drop(&mut self) {
        if let Some(mut f) = self.file.take() {
            let done = f
                .flush()
                .and_then(|()| f.persist(&self.path).map(drop).map_err(|e| e.error));
            if let Err(e) = done {
                eprintln!("wprof: --self-trace {}: {e}", self.path.display());
            }
        }
    }
}

/// `-v` given: the full tables, not the compact view.
pub(super) fn verbose() -> bool {
    VERBOSE.get().is_some_and(|&v| v > 0)
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::args::*;

    use crate::export::OutputConfig;
    use crate::scenario::batching::BatchingConfig;
    use crate::scenario::codecs::CodecsConfig;
    use crate::scenario::cold_start::ColdStartConfig;
    use crate::scenario::command::CommandConfig;
    use crate::scenario::component::ComponentConfig;
    use crate::scenario::compute::ComputeConfig;
    use crate::scenario::concurrency::ConcurrencyConfig;
    use crate::scenario::data_transfer::DataTransferConfig;
    use crate::scenario::host_functions::HostFunctionsConfig;
    use crate::scenario::hot_path::HotPathConfig;
    use crate::scenario::memory::MemoryConfig;
    use crate::scenario::soak::SoakConfig;

    #[test]
    fn every_command_has_an_example() {
        fn walk(cmd: &clap::Command, path: &str) {
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                let path = format!("{path} {}", sub.get_name());
                let help = sub
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                assert!(help.contains("wprof "), "`{path} --help` has no example");
                walk(sub, &path);
            }
        }
        let cli = Cli::command();
        assert!(cli.get_after_help().is_some());
        walk(&cli, "wprof");
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_come_from_the_config_structs() {
        let cli = Cli::try_parse_from(["wprof", "record", "hot-path"]).unwrap();
        let Command::Record(Record::HotPath(args)) = cli.command else {
            panic!("not hot-path")
        };
        assert_eq!(args.config(), HotPathConfig::default());
        assert_eq!(
            args.record.output.config().unwrap(),
            OutputConfig::default()
        );

        let cli =
            Cli::try_parse_from(["wprof", "record", "cold-start", "-p", "drug-checker"]).unwrap();
        let Command::Record(Record::ColdStart(args)) = cli.command else {
            panic!("not cold-start")
        };
        assert_eq!(args.configs().unwrap(), vec![ColdStartConfig::default()]);

        let cli = Cli::try_parse_from(["wprof", "record", "memory"]).unwrap();
        let Command::Record(Record::Memory(args)) = cli.command else {
            panic!("not memory")
        };
        assert_eq!(args.config(), MemoryConfig::default());

        let cli = Cli::try_parse_from(["wprof", "record", "soak"]).unwrap();
        let Command::Record(Record::Soak(args)) = cli.command else {
            panic!("not soak")
        };
        assert_eq!(args.config(), SoakConfig::default());

        // The commands whose config() can refuse (--heap, --min-runs over
        // --max-runs), each parsed bare.
        macro_rules! bare_is_default {
            ($name:literal, $variant:ident, $config:ty) => {
                let cli = Cli::try_parse_from(["wprof", "record", $name]).unwrap();
                let Command::Record(Record::$variant(args)) = cli.command else {
                    panic!(concat!("not ", $name))
                };
                assert_eq!(args.config().unwrap(), <$config>::default());
            };
        }
        bare_is_default!("data-transfer", DataTransfer, DataTransferConfig);
        bare_is_default!("batching", Batching, BatchingConfig);
        bare_is_default!("host-functions", HostFunctions, HostFunctionsConfig);
        bare_is_default!("compute", Compute, ComputeConfig);
        bare_is_default!("codecs", Codecs, CodecsConfig);
        bare_is_default!("command", Command, CommandConfig);
        bare_is_default!("component", Component, ComponentConfig);
        bare_is_default!("concurrency", Concurrency, ConcurrencyConfig);
        bare_is_default!("engines", Engines, crate::scenario::engines::EnginesConfig);
    }
}
