//! The command line. clap lives here only: each subcommand's arguments become
//! a plain config struct before the core sees them.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::call::{self, CallConfig};
use crate::export::{self, Exporter, OutputConfig};
use crate::measure::ClockChoice;
use crate::scenario::hot_path::{self, HotPathConfig};
use crate::source::{InputSpec, PluginSpec};

/// What it costs to run a plugin as WebAssembly instead of native code, and
/// where that cost goes, phase by phase.
#[derive(Debug, Parser)]
#[command(name = "wprof", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure a scenario and write its run JSON, trace and flamegraph.
    #[command(subcommand)]
    Record(Record),
    /// Call a plugin's export once and print its output.
    Call(CallArgs),
}

#[derive(Debug, Subcommand)]
enum Record {
    /// Repeated calls into a loaded plugin, phase by phase, against native.
    HotPath(HotPathArgs),
}

/// Which plugin, export and input.
#[derive(Debug, Args)]
struct PluginArgs {
    /// A bundled plugin's name, or a .wasm/.wat file.
    #[arg(short, long, default_value = "drug-checker")]
    plugin: String,
    /// Export to call [default: the bundled plugin's, or the module's only
    /// (i32, i32) -> i64 export].
    #[arg(short, long)]
    export: Option<String>,
    /// JSON input file [default: the bundled plugin's input.json].
    #[arg(short, long, conflicts_with = "input_json")]
    input: Option<PathBuf>,
    /// JSON input given inline.
    #[arg(long, value_name = "JSON")]
    input_json: Option<String>,
}

impl PluginArgs {
    fn specs(&self) -> (PluginSpec, InputSpec) {
        let input = match (&self.input, &self.input_json) {
            (Some(path), _) => InputSpec::File(path.clone()),
            (None, Some(text)) => InputSpec::Inline(text.clone()),
            (None, None) => InputSpec::Default,
        };
        (PluginSpec::parse(&self.plugin), input)
    }
}

/// Where files go and what is printed.
#[derive(Debug, Args)]
struct OutputArgs {
    /// Write every file into DIR [default: profiles/ and flamegraphs/].
    #[arg(short, long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Artifacts to write, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = export::names().into_iter().map(String::from))]
    formats: Vec<String>,
    /// Print the run JSON to stdout instead of the table.
    #[arg(long, conflicts_with = "quiet")]
    json: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

impl OutputArgs {
    fn config(&self) -> anyhow::Result<OutputConfig> {
        let known = export::names();
        if let Some(bad) = self.formats.iter().find(|f| !known.contains(&f.as_str())) {
            anyhow::bail!(
                "unknown format `{bad}` (expected some of: {})",
                known.join(", ")
            );
        }
        let mut cfg = OutputConfig {
            exporters: self.formats.clone(),
            ..OutputConfig::default()
        };
        if let Some(dir) = &self.out_dir {
            cfg.profiles_dir = dir.clone();
            cfg.flamegraphs_dir = dir.clone();
        }
        Ok(cfg)
    }
}

#[derive(Debug, Args)]
struct HotPathArgs {
    #[command(flatten)]
    plugin: PluginArgs,
    /// Measured calls per variant.
    #[arg(short = 'n', long, default_value_t = HotPathConfig::default().iterations, value_parser = clap::value_parser!(u64).range(1..))]
    iterations: u64,
    /// Unmeasured calls per variant first.
    #[arg(short, long, default_value_t = HotPathConfig::default().warmup)]
    warmup: u64,
    /// Rounds the measured calls are split into (instrumented and
    /// uninstrumented batches alternate within each).
    #[arg(long, default_value_t = HotPathConfig::default().rounds, value_parser = clap::value_parser!(u64).range(1..))]
    rounds: u64,
    /// Clock: auto (TSC where invariant), tsc, monotonic.
    #[arg(long, default_value_t = HotPathConfig::default().clock)]
    clock: ClockChoice,
    /// Calls per variant drawn into the Chrome trace.
    #[arg(long, default_value_t = HotPathConfig::default().trace_calls)]
    trace_calls: u64,
    /// Skip the native baseline.
    #[arg(long)]
    no_native: bool,
    #[command(flatten)]
    output: OutputArgs,
}

impl HotPathArgs {
    fn config(&self) -> HotPathConfig {
        let (plugin, input) = self.plugin.specs();
        HotPathConfig {
            plugin,
            export: self.plugin.export.clone(),
            input,
            iterations: self.iterations,
            warmup: self.warmup,
            rounds: self.rounds,
            clock: self.clock,
            trace_calls: self.trace_calls,
            native: !self.no_native,
        }
    }
}

#[derive(Debug, Args)]
struct CallArgs {
    #[command(flatten)]
    plugin: PluginArgs,
    /// Call the native build instead of the wasm.
    #[arg(long)]
    native: bool,
}

/// Parses the command line and runs it.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Record(Record::HotPath(args)) => {
            let out = args.output.config()?;
            out.prepare()?;
            let run = hot_path::run(&args.config())?;
            let written = out.write_all(&run)?;
            let mut stdout = std::io::stdout().lock();
            if args.output.json {
                export::RunJson.write(&run, &mut stdout)?;
            } else if !args.output.quiet {
                export::Table.write(&run, &mut stdout)?;
                writeln!(stdout)?;
                for path in written {
                    writeln!(stdout, "wrote {}", path.display())?;
                }
            }
        }
        Command::Call(args) => {
            let (plugin, input) = args.plugin.specs();
            let cfg = CallConfig {
                plugin,
                export: args.plugin.export.clone(),
                input,
                native: args.native,
            };
            let output = call::call(&cfg)?;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&output)?;
            writeln!(stdout)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

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
        assert_eq!(args.output.config().unwrap(), OutputConfig::default());
    }
}
