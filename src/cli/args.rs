//! The command line's arguments: clap derives live here only, and each
//! command's arguments turn into plain config structs ([`super::scenario_args`]
//! for the record commands).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use super::common::*;
use super::scenario_args::*;
use crate::compare::CompareConfig;
use crate::scenario::cold_start::Rung;

/// What it costs to run a plugin as WebAssembly instead of native code, and
/// where that cost goes, phase by phase.
#[derive(Debug, Parser)]
#[command(
    name = "wprof",
    version,
    about,
    after_help = "Examples:\n  wprof record hot-path\n  wprof record cold-start --plugin my.wasm --export run --input in.json\n  wprof compare before/hot-path.json after/hot-path.json\n  wprof report profiles/*.json"
)]
pub struct Cli {
    #[command(subcommand)]
    pub(super) command: Command,
    /// Print every table (what the .txt holds), and wprof's own stages on
    /// standard error; -vv says more. RUST_LOG (e.g. `wprof=debug`)
    /// chooses what is logged instead.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(super) verbose: u8,
    /// Write wprof's own stages (setup, compile, each variant, pass and
    /// write) as a Chrome trace to FILE: where a long run spent its time.
    #[arg(long, global = true, value_name = "FILE")]
    pub(super) self_trace: Option<std::path::PathBuf>,
}

// Parsed once per process: boxing the big variant would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub(super) enum Command {
    /// Measure a scenario and write its run JSON, trace and flamegraph.
    #[command(
        subcommand,
        after_help = "Examples:\n  wprof record hot-path\n  wprof record cold-start --fuel --sample both\n  wprof record memory\n  wprof record soak --duration 10m"
    )]
    Record(Record),
    /// Call a plugin's export once and print its output.
    #[command(
        after_help = "Examples:\n  wprof call\n  wprof call --plugin my.wasm --export run --input-json '{\"drugs\": [\"warfarin\"]}'\n  wprof call --native"
    )]
    Call(CallArgs),
    /// Precompile a plugin into a .cwasm for `record cold-start --precompiled`.
    #[command(after_help = "Example:\n  wprof compile --plugin drug-checker -o drug-checker.cwasm")]
    Compile(CompileArgs),
    /// Compare two runs phase by phase (or one run's plugin against the
    /// baseline build it was recorded with): change in median with its 95 %
    /// interval and a verdict; exits 1 on a regression beyond --threshold.
    #[command(
        after_help = "Examples:\n  wprof compare before/hot-path.json after/hot-path.json\n  wprof record hot-path --plugin new.wasm --baseline old.wasm -o run && wprof compare run/hot-path.json\n  wprof compare base.json new.json --threshold 5 --format markdown >> \"$GITHUB_STEP_SUMMARY\"\n  wprof compare base.json new.json --diff-flamegraph diff.svg"
    )]
    Compare(CompareArgs),
    /// Write one self-contained HTML report (charts, tables, links to the
    /// other artifacts) of one or more runs.
    #[command(
        after_help = "Examples:\n  wprof report profiles/hot-path.json\n  wprof report profiles/*.json -o report.html"
    )]
    Report(ReportArgs),
    /// Write runs in a format CI dashboards read: Bencher's BMF,
    /// github-action-benchmark, CSV, markdown, Sightglass's result rows.
    #[command(
        after_help = "Examples:\n  wprof export --format bmf profiles/hot-path.json -o bmf.json\n  wprof export --format markdown profiles/*.json >> \"$GITHUB_STEP_SUMMARY\"\n  wprof export --format github-action-benchmark profiles/hot-path.json -o benchmark.json"
    )]
    Export(ExportArgs),
    /// What a module is and what it needs: kind, imports and exports with
    /// signatures, the calling conventions wprof recognises in it.
    #[command(
        after_help = "Examples:\n  wprof inspect plugins/drug-checker/drug-checker.wasm\n  wprof inspect my-component.wasm --json"
    )]
    Inspect(InspectArgs),
    /// Print a shell completion script for wprof.
    #[command(
        after_help = "Examples:\n  wprof completions bash > ~/.local/share/bash-completion/completions/wprof\n  wprof completions zsh > ~/.zfunc/_wprof\n  wprof completions fish > ~/.config/fish/completions/wprof.fish"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Internal: wprof's own Wasmtime driver in a child process, driven
    /// over the driver protocol on stdin and stdout.
    #[command(name = "__driver", hide = true)]
    Driver,
    /// Internal: one `record memory` variant, measured in a fresh process.
    #[command(name = "__memory-probe", hide = true)]
    MemoryProbe {
        /// The request, as JSON.
        request: String,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum Record {
    /// Repeated calls into a loaded plugin, phase by phase, against native.
    #[command(
        after_help = "Examples:\n  wprof record hot-path\n  wprof record hot-path --plugin my.wasm --export run --input in.json -n 20000\n  wprof record hot-path --fuel --sample both --heap"
    )]
    HotPath(HotPathArgs),
    /// From a module file to a first call's result, phase by phase, on every
    /// rung of the ladder of remedies (JIT, Winch, AOT, Wizer, pooling).
    #[command(
        after_help = "Examples:\n  wprof record cold-start\n  wprof record cold-start --plugin my.wasm --export run --input in.json --rungs cranelift,aot-mmap,pooling"
    )]
    ColdStart(ColdStartArgs),
    /// Resident memory of a JIT and an AOT module, default and pooling
    /// allocators, at 1 and N instances, against native.
    #[command(after_help = "Example:\n  wprof record memory --instances 100")]
    Memory(MemoryArgs),
    /// Calls at a steady rate for a set time, reading resident memory: the
    /// growth trend, its confidence interval and a leak verdict.
    #[command(
        after_help = "Examples:\n  wprof record soak\n  wprof record soak --duration 8h --rate 200 --sample-every 10s"
    )]
    Soak(SoakArgs),
    /// The same checksum natively and in wasm behind each way of crossing
    /// the boundary (raw, JSON+base64, MessagePack, host function), payload
    /// size by size, against the floor of one copy into linear memory.
    #[command(
        after_help = "Examples:\n  wprof record data-transfer\n  wprof record data-transfer --sizes 100,64KB,4MB --ways raw,host-fn --time-per-variant 1s"
    )]
    DataTransfer(DataTransferArgs),
    /// N separate calls against one call carrying N items, in wasm and
    /// natively: per-item cost and the share of overhead batching removes.
    #[command(
        after_help = "Examples:\n  wprof record batching\n  wprof record batching --items 1000 --time-per-variant 2s"
    )]
    Batching(BatchingArgs),
    /// The reference study's patient record: analysed natively, passed into wasm as
    /// JSON, or fetched by the guest through host functions (no codec).
    #[command(
        after_help = "Examples:\n  wprof record host-functions\n  wprof record host-functions --record-size 10MB"
    )]
    HostFunctions(HostFunctionsArgs),
    /// A Gaussian blur of a 1920x1080 image: native, wasm with SIMD128 and
    /// wasm without, from one Rust source, outputs checked equal.
    #[command(
        after_help = "Examples:\n  wprof record compute\n  wprof record compute --image 3840x2160 --time-per-variant 3s"
    )]
    Compute(ComputeArgs),
    /// The drug check through JSON, MessagePack and the component model
    /// (WIT), against the check on host values: the reference study's -40 % and
    /// -60 % guesses.
    #[command(
        after_help = "Examples:\n  wprof record codecs\n  wprof record codecs --time-per-variant 2s"
    )]
    Codecs(CodecsArgs),
    /// A WASI command (wasm32-wasip1, _start) run in fresh instances with
    /// the arguments, environment, stdin and directories given; with the
    /// Sightglass bench protocol, the span between bench.start and bench.end.
    #[command(
        after_help = "Examples:\n  wprof record command\n  wprof record command --plugin bench.wasm --arg 500000 --env MODE=fast --stdin in.txt --dir ./data::/data --expect-stdout want.txt"
    )]
    Command(CommandArgs),
    /// One export of a component called with JSON arguments (converted to
    /// WIT values by its types), split into lower, execute, lift and free.
    #[command(
        after_help = "Examples:\n  wprof record component\n  wprof record component --plugin my.wasm --export greet --args '[\"world\"]'"
    )]
    Component(ComponentArgs),
    /// A plugin's requests from N threads at once under several host
    /// designs (fresh instances, pooling, Wizer, one instance per thread,
    /// a shared pool) against native: throughput, latency, efficiency, and
    /// the per-request counters that explain where each stops scaling.
    #[command(
        after_help = "Examples:\n  wprof record concurrency\n  wprof record concurrency --threads 1,2,4,8 --designs fresh,pooled,reuse --duration-per-point 2s\n  wprof record concurrency --sample host"
    )]
    Concurrency(ConcurrencyArgs),
    /// One plugin under every engine on one harness: Wasmtime's Cranelift,
    /// Winch and Pulley, wasmi (the `wasmi` feature), V8 through Node and
    /// Wasmer (a build of its own): each one's cold start
    /// split, call, memory per instance and no-op call, paired against
    /// native and Cranelift, and the break-even between starting fast and
    /// running fast.
    #[command(
        after_help = "Examples:\n  wprof record engines\n  wprof record engines --plugin blur --image 128x128\n  wprof record engines --plugin my.wasm --export run --input in.json --engines cranelift,wasmi"
    )]
    Engines(super::engines_args::EnginesArgs),
}

#[derive(Debug, Args)]
pub(super) struct InspectArgs {
    /// A .wasm or .wat file: a core module or a component.
    pub(super) module: PathBuf,
    /// Print the inspection as JSON.
    #[arg(long)]
    pub(super) json: bool,
}

#[derive(Debug, Args)]
pub(super) struct ReportArgs {
    /// Run files written by `wprof record` (JSON).
    #[arg(required = true)]
    pub(super) runs: Vec<PathBuf>,
    /// Where to write the report.
    #[arg(
        short,
        long,
        value_name = "FILE",
        default_value = "profiles/report.html"
    )]
    pub(super) output: PathBuf,
}

#[derive(Debug, Args)]
pub(super) struct ExportArgs {
    /// The format.
    #[arg(short, long, value_parser = clap::builder::PossibleValuesParser::new(["bmf", "github-action-benchmark", "csv", "markdown", "sightglass", "firefox"]))]
    pub(super) format: String,
    /// Run files written by `wprof record` (JSON).
    #[arg(required = true)]
    pub(super) runs: Vec<PathBuf>,
    /// Where to write it [default: stdout].
    #[arg(short, long, value_name = "FILE")]
    pub(super) output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct CompareArgs {
    /// The run compared against (a run JSON written by `wprof record`); alone,
    /// a hot-path run recorded with --baseline, judged against its baseline.
    pub(super) base: PathBuf,
    /// The run under judgement.
    pub(super) new: Option<PathBuf>,
    /// Fail (exit 1) when a phase regresses, significantly, by more than
    /// this many percent (or its fuel grows by more).
    #[arg(long, value_name = "PCT", default_value_t = CompareConfig::default().threshold_pct, value_parser = super::bounds::percent)]
    pub(super) threshold: f64,
    /// Changes within +/- this many percent are no change: two runs on a
    /// shared machine differ by a few percent with nothing changed.
    #[arg(long, value_name = "PCT", default_value_t = CompareConfig::default().noise_pct, value_parser = super::bounds::percent)]
    pub(super) noise: f64,
    /// Changes within +/- this many nanoseconds are no change [default:
    /// twice the coarser clock resolution of the runs, at least 10 ns].
    #[arg(long, value_name = "NS", value_parser = super::bounds::nanoseconds)]
    pub(super) noise_ns: Option<f64>,
    /// Pass the gate even when a variant or phase of the base run is not
    /// in the new one (or has too few samples to compare): by default what
    /// was not compared fails.
    #[arg(long)]
    pub(super) allow_missing: bool,
    /// Output: table, markdown (for a pull-request comment) or json.
    #[arg(long, default_value = "table", value_parser = ["table", "markdown", "json"])]
    pub(super) format: String,
    /// Also write a differential flamegraph (red: grew, blue: shrank); needs
    /// two runs.
    #[arg(long, value_name = "FILE", requires = "new")]
    pub(super) diff_flamegraph: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct CompileArgs {
    /// A bundled plugin's name, or a .wasm/.wat file.
    #[arg(short, long, default_value = "drug-checker")]
    pub(super) plugin: String,
    /// Where to write the precompiled module.
    #[arg(short, long, value_name = "FILE")]
    pub(super) output: PathBuf,
    /// Compile with the settings of this cold-start rung (cranelift,
    /// cranelift-opt-none, winch): the aot rungs load only cranelift's.
    #[arg(long, default_value_t = Rung::Cranelift)]
    pub(super) like: Rung,
}

#[derive(Debug, Args)]
pub(super) struct CallArgs {
    #[command(flatten)]
    pub(super) plugin: PluginArgs,
    /// Call the native build instead of the wasm.
    #[arg(long)]
    pub(super) native: bool,
    #[command(flatten)]
    pub(super) limits: LimitArgs,
}
