//! The command line. clap lives here only: each subcommand's arguments become
//! a plain config struct before the core sees them.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::call::{self, CallConfig};
use crate::compare::{self, CompareConfig};
use crate::export::{self, Exporter, OutputConfig};
use crate::host::Limits;
use crate::measure::{ClockChoice, CounterChoice, InsideConfig, Samplers};
use crate::run::Run;
use crate::scenario::batching::{self, BatchingConfig};
use crate::scenario::codecs::{self, CodecsConfig};
use crate::scenario::cold_start::{self, ColdStartConfig, Iterations, Rung};
use crate::scenario::command::{self, CommandConfig};
use crate::scenario::component::{self, ComponentConfig};
use crate::scenario::compute::{self, ComputeConfig};
use crate::scenario::data_transfer::{self, DataTransferConfig, Way};
use crate::scenario::host_functions::{self, HostFunctionsConfig};
use crate::scenario::hot_path::{self, HotPathConfig};
use crate::scenario::memory::{self, MemoryConfig};
use crate::scenario::soak::{self, SoakConfig};
use crate::source::{InputSpec, PluginSpec};

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
    command: Command,
}

// Parsed once per process: boxing the big variant would save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
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
    /// Compare two runs phase by phase: change in median with its 95 %
    /// interval and a verdict; exits 1 on a regression beyond --threshold.
    #[command(
        after_help = "Examples:\n  wprof compare before/hot-path.json after/hot-path.json\n  wprof compare base.json new.json --threshold 5 --format markdown >> \"$GITHUB_STEP_SUMMARY\"\n  wprof compare base.json new.json --diff-flamegraph diff.svg"
    )]
    Compare(CompareArgs),
    /// Write one self-contained HTML report (charts, tables, links to the
    /// other artifacts) of one or more runs.
    #[command(
        after_help = "Examples:\n  wprof report profiles/hot-path.json\n  wprof report profiles/*.json -o report.html"
    )]
    Report(ReportArgs),
    /// What a module is and what it needs: kind, imports and exports with
    /// signatures, the calling conventions wprof recognises in it.
    #[command(
        after_help = "Examples:\n  wprof inspect plugins/drug-checker/drug-checker.wasm\n  wprof inspect my-component.wasm --json"
    )]
    Inspect(InspectArgs),
    /// Internal: one `record memory` variant, measured in a fresh process.
    #[command(name = "__memory-probe", hide = true)]
    MemoryProbe {
        /// The request, as JSON.
        request: String,
    },
}

#[derive(Debug, Subcommand)]
enum Record {
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
    /// The seed's patient record: analysed natively, passed into wasm as
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
    /// (WIT), against the check on host values: the seed's -40 % and -60 %.
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
}

/// Which plugin, export and input.
#[derive(Debug, Args)]
struct PluginArgs {
    /// A bundled plugin's name, or a .wasm/.wat file.
    #[arg(short, long, default_value = "drug-checker")]
    plugin: String,
    /// Export to call [default: the bundled plugin's, or the module's only
    /// (i32, i32) -> i64 export; for an Extism plugin its only () -> i32
    /// export].
    #[arg(short, long)]
    export: Option<String>,
    /// JSON input file [default: the bundled plugin's input.json]. For an
    /// Extism plugin, the input text itself, as `extism call --input` takes
    /// it, or a file whose bytes are the input [default: empty].
    #[arg(short, long, conflicts_with = "input_json")]
    input: Option<PathBuf>,
    /// JSON input given inline.
    #[arg(long, value_name = "JSON")]
    input_json: Option<String>,
    #[command(flatten)]
    extism: ExtismArgs,
}

/// What an Extism plugin is given besides its input.
#[derive(Debug, Args)]
struct ExtismArgs {
    /// An Extism plugin's config value (`config_get`); repeat for more.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    config: Vec<(String, String)>,
    /// An Extism plugin's log level: its messages at this level and above
    /// are reported [default: off, as in Extism without a logger].
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<crate::extism::LogLevel>,
}

impl ExtismArgs {
    /// `limits` with these options.
    fn limits(&self, limits: &LimitArgs) -> Limits {
        Limits {
            extism: crate::extism::ExtismOptions {
                config: self.config.iter().cloned().collect(),
                log_level: self.log_level,
            },
            ..limits.limits()
        }
    }
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
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
    /// Also run the plugin's calls under dhat's heap profiler, in a separate
    /// untimed pass, and write <name>.dhat.json (for valgrind's dh_view.html).
    #[arg(long)]
    heap: bool,
    /// Calls per side (wasm, native) in the heap pass.
    #[arg(long, default_value_t = crate::heap::DEFAULT_CALLS, value_parser = clap::value_parser!(u64).range(1..))]
    heap_calls: u64,
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
    /// Stop early, after any round from the second, once every variant's
    /// median call has a 95 % interval within +/- PCT % (-n is then the most).
    #[arg(long, value_name = "PCT")]
    target_ci: Option<f64>,
    /// Stop after the round that passes this much measuring time, e.g. 30s.
    #[arg(long, value_parser = humantime::parse_duration)]
    max_time: Option<std::time::Duration>,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    inside: InsideArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// What a plugin may do before wprof stops it.
#[derive(Debug, Args)]
struct LimitArgs {
    /// How long one call may run: the first call is stopped at it and
    /// reported; a later call that overruns it ends the run (nothing written).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    deadline: std::time::Duration,
    /// Largest linear memory the plugin may grow to, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().memory_bytes.unwrap_or(0) >> 20)]
    memory_limit: usize,
    /// Most elements a table may grow to.
    #[arg(long, value_name = "N", default_value_t = Limits::default().table_elements.unwrap_or(0))]
    table_limit: usize,
    /// Largest output a call may return, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = Limits::default().output_bytes.unwrap_or(0) >> 10)]
    output_limit: usize,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            memory_bytes: Some(self.memory_limit << 20),
            table_elements: Some(self.table_limit),
            output_bytes: Some(self.output_limit << 10),
            deadline: self.deadline,
            ..Limits::default()
        }
    }
}

/// The passes that look inside calls, each after the timings.
#[derive(Debug, Args)]
struct InsideArgs {
    /// Perf counters for the counter pass: all (every one the kernel
    /// grants), none, or a comma-separated list of cycles, instructions,
    /// cache-misses, branch-misses, task-clock, page-faults, context-switches.
    #[arg(long, default_value = "all", value_name = "LIST")]
    counters: CounterChoice,
    /// Also run a fuel pass: wasm fuel per call and phase, the same on every
    /// run (a figure for CI regression checks), and what metering costs.
    #[arg(long)]
    fuel: bool,
    /// Sample stacks: guest (wasm functions at epoch ticks, exact, costly),
    /// host (whole process by SIGPROF, JIT frames named from the perf map,
    /// cheap), both, or none.
    #[arg(long, value_name = "WHICH", default_value = "none")]
    sample: Samplers,
    /// Guest sampling rate in Hz.
    #[arg(long, default_value_t = InsideConfig::default().guest_hz, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    guest_hz: u32,
    /// Host sampling rate in Hz (the kernel tick caps what is delivered: the
    /// report says the rate achieved).
    #[arg(long, default_value_t = InsideConfig::default().host_hz, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    host_hz: u32,
    /// Seconds each sampling or fuel pass runs (half sampled, half not).
    #[arg(long, default_value_t = InsideConfig::default().sample_secs)]
    sample_secs: f64,
}

impl InsideArgs {
    fn config(&self) -> InsideConfig {
        InsideConfig {
            counters: self.counters.clone(),
            fuel: self.fuel,
            sample: self.sample,
            guest_hz: self.guest_hz,
            host_hz: self.host_hz,
            sample_secs: self.sample_secs.clamp(0.2, 600.0),
        }
    }
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
            inside: self.inside.config(),
            target_ci_pct: self.target_ci,
            max_time: self.max_time,
            limits: self.plugin.extism.limits(&self.limits),
        }
    }
}

#[derive(Debug, Args)]
struct ColdStartArgs {
    /// Bundled plugin names or .wasm/.wat files, comma-separated or repeated
    /// [default: every bundled plugin].
    #[arg(short, long, value_delimiter = ',')]
    plugin: Vec<String>,
    /// Stop at the first plugin that fails, instead of reporting it and
    /// going on with the others.
    #[arg(long)]
    fail_fast: bool,
    /// Export to call first [default: the bundled plugin's, or the module's
    /// only (i32, i32) -> i64 export].
    #[arg(short, long)]
    export: Option<String>,
    /// JSON input file of the first call [default: the bundled plugin's
    /// input.json]; for an Extism plugin, the input text or a file's bytes.
    #[arg(short, long, conflicts_with = "input_json")]
    input: Option<PathBuf>,
    /// JSON input given inline.
    #[arg(long, value_name = "JSON")]
    input_json: Option<String>,
    #[command(flatten)]
    extism: ExtismArgs,
    /// Rungs to measure, comma-separated; the first is the baseline.
    #[arg(long, value_delimiter = ',', default_values_t = ColdStartConfig::default().rungs)]
    rungs: Vec<Rung>,
    /// Exactly N measured iterations per rung [default: time-bounded, see
    /// --min-iterations, --max-iterations, --time-per-rung].
    #[arg(short = 'n', long, value_parser = clap::value_parser!(u64).range(1..))]
    iterations: Option<u64>,
    /// Fewest measured iterations per rung.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    min_iterations: u64,
    /// Most measured iterations per rung.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    max_iterations: u64,
    /// Time each rung goes on for once it has its fewest iterations, e.g. 1s, 500ms.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    time_per_rung: std::time::Duration,
    /// Unmeasured iterations per rung first.
    #[arg(short, long, default_value_t = ColdStartConfig::default().warmup)]
    warmup: u64,
    /// A .cwasm made by `wprof compile` for the aot rungs to load (one plugin only).
    #[arg(long, value_name = "FILE")]
    precompiled: Option<PathBuf>,
    /// Iterations per rung drawn into the Chrome trace.
    #[arg(long, default_value_t = ColdStartConfig::default().trace_iterations)]
    trace_iterations: u64,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    inside: InsideArgs,
    #[command(flatten)]
    output: OutputArgs,
}

impl ColdStartArgs {
    fn configs(&self) -> anyhow::Result<Vec<ColdStartConfig>> {
        let input = match (&self.input, &self.input_json) {
            (Some(path), _) => InputSpec::File(path.clone()),
            (None, Some(text)) => InputSpec::Inline(text.clone()),
            (None, None) => InputSpec::Default,
        };
        let plugins: Vec<PluginSpec> = if self.plugin.is_empty() {
            crate::bundled::BUNDLED
                .iter()
                .map(|b| PluginSpec::Bundled(b.name))
                .collect()
        } else {
            self.plugin.iter().map(|p| PluginSpec::parse(p)).collect()
        };
        if plugins.len() > 1 && self.precompiled.is_some() {
            anyhow::bail!("--precompiled is for one plugin: pass a single --plugin");
        }
        if self.min_iterations > self.max_iterations {
            anyhow::bail!(
                "--min-iterations {} is over --max-iterations {}",
                self.min_iterations,
                self.max_iterations
            );
        }
        let iterations = match self.iterations {
            Some(n) => Iterations::Exactly(n),
            None => Iterations::Timed {
                min: self.min_iterations,
                max: self.max_iterations,
                time: self.time_per_rung,
            },
        };
        Ok(plugins
            .into_iter()
            .map(|plugin| ColdStartConfig {
                plugin,
                export: self.export.clone(),
                input: input.clone(),
                rungs: self.rungs.clone(),
                iterations,
                warmup: self.warmup,
                precompiled: self.precompiled.clone(),
                trace_iterations: self.trace_iterations,
                inside: self.inside.config(),
                limits: self.extism.limits(&self.limits),
            })
            .collect())
    }
}

#[derive(Debug, Args)]
struct MemoryArgs {
    #[command(flatten)]
    plugin: PluginArgs,
    /// Instances held at once, each in its own Store.
    #[arg(long, default_value_t = MemoryConfig::default().instances)]
    instances: u64,
    /// Calls on the first instance before the "calls" reading.
    #[arg(long, default_value_t = MemoryConfig::default().calls, value_parser = clap::value_parser!(u64).range(1..))]
    calls: u64,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    inside: InsideArgs,
    #[command(flatten)]
    output: OutputArgs,
}

impl MemoryArgs {
    fn config(&self) -> MemoryConfig {
        let (plugin, input) = self.plugin.specs();
        MemoryConfig {
            plugin,
            export: self.plugin.export.clone(),
            input,
            instances: self.instances,
            calls: self.calls,
            limits: self.plugin.extism.limits(&self.limits),
            inside: self.inside.config(),
        }
    }
}

#[derive(Debug, Args)]
struct SoakArgs {
    #[command(flatten)]
    plugin: PluginArgs,
    /// How long to run, e.g. 60s, 10m, 24h.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    duration: std::time::Duration,
    /// Calls per second.
    #[arg(long, default_value_t = SoakConfig::default().rate)]
    rate: f64,
    /// Time between memory readings, e.g. 1s, 200ms.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    sample_every: std::time::Duration,
    /// Growth above which memory is called leaking, in KB per hour.
    #[arg(long, value_name = "KB_PER_HOUR", default_value_t = SoakConfig::default().threshold_kb_per_hour)]
    threshold: f64,
    #[command(flatten)]
    limits: LimitArgs,
    /// Calls drawn into the Chrome trace.
    #[arg(long, default_value_t = SoakConfig::default().trace_calls)]
    trace_calls: u64,
    #[command(flatten)]
    inside: InsideArgs,
    #[command(flatten)]
    output: OutputArgs,
}

impl SoakArgs {
    fn config(&self) -> SoakConfig {
        let (plugin, input) = self.plugin.specs();
        SoakConfig {
            plugin,
            export: self.plugin.export.clone(),
            input,
            duration: self.duration,
            rate: self.rate,
            sample_every: self.sample_every,
            threshold_kb_per_hour: self.threshold,
            limits: self.plugin.extism.limits(&self.limits),
            trace_calls: self.trace_calls,
            inside: self.inside.config(),
        }
    }
}

#[derive(Debug, Args)]
struct DataTransferArgs {
    /// Payload sizes, comma-separated: bytes, or with a unit (KB, MB, KiB, MiB).
    #[arg(long, value_delimiter = ',', default_value = "100,10KB,1MB,10MB", value_parser = data_transfer::parse_size)]
    sizes: Vec<u64>,
    /// Ways of crossing, comma-separated: raw, json, msgpack, host-fn, component.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "raw,json,msgpack,host-fn,component"
    )]
    ways: Vec<Way>,
    #[command(flatten)]
    runs: RunsArgs,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    output: OutputArgs,
}

impl DataTransferArgs {
    fn config(&self) -> anyhow::Result<DataTransferConfig> {
        let d = DataTransferConfig::default();
        let r = self.runs.resolve(
            data_transfer::NAME,
            &self.output,
            (d.time_per_variant, d.min_calls, d.max_calls, d.trace_calls),
        )?;
        Ok(DataTransferConfig {
            sizes: self.sizes.clone(),
            ways: self.ways.clone(),
            time_per_variant: r.time,
            min_calls: r.min,
            max_calls: r.max,
            clock: self.runs.clock,
            trace_calls: r.trace,
            limits: self.limits.limits(),
        })
    }
}

/// How long each variant of a boundary scenario (data-transfer, batching,
/// host-functions, codecs, compute) is measured. A run is one measured
/// call (batching: one iteration of --items calls).
#[derive(Debug, Args)]
struct RunsArgs {
    /// How long each variant is measured once it has --min-runs, e.g.
    /// 300ms, 2s [default: the scenario's: data-transfer 300ms, compute and
    /// command 1s, the others 500ms].
    #[arg(long, value_parser = humantime::parse_duration)]
    time_per_variant: Option<std::time::Duration>,
    /// Fewest measured runs per variant [default: the scenario's: 10;
    /// codecs 100, compute and command 5].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    min_runs: Option<u64>,
    /// Most measured runs per variant [default: the scenario's: 100 000;
    /// codecs 200 000, compute and command 1000].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_runs: Option<u64>,
    /// Runs per variant drawn into the Chrome trace [default: the
    /// scenario's: 5; codecs 20].
    #[arg(long)]
    trace_runs: Option<u64>,
    /// Clock: auto (TSC where invariant), tsc, monotonic.
    #[arg(long, default_value_t = ClockChoice::Auto)]
    clock: ClockChoice,
}

/// What [`RunsArgs`] resolves to.
struct Runs {
    time: std::time::Duration,
    min: u64,
    max: u64,
    trace: u64,
}

impl RunsArgs {
    /// The runs asked for, the scenario's `defaults` (time, min, max,
    /// trace) where not given; refuses --heap, which profiles a plugin's
    /// calls and belongs to `record hot-path`.
    fn resolve(
        &self,
        scenario: &str,
        output: &OutputArgs,
        defaults: (std::time::Duration, u64, u64, u64),
    ) -> anyhow::Result<Runs> {
        if output.heap {
            anyhow::bail!(
                "--heap does not apply to {scenario} (record hot-path --heap profiles a plugin's calls)"
            );
        }
        let runs = Runs {
            time: self.time_per_variant.unwrap_or(defaults.0),
            min: self.min_runs.unwrap_or(defaults.1),
            max: self.max_runs.unwrap_or(defaults.2),
            trace: self.trace_runs.unwrap_or(defaults.3),
        };
        if runs.min > runs.max {
            anyhow::bail!("--min-runs {} is over --max-runs {}", runs.min, runs.max);
        }
        Ok(runs)
    }
}

#[derive(Debug, Args)]
struct BatchingArgs {
    /// Items per iteration: separate calls, or the length of one batch.
    #[arg(long, default_value_t = BatchingConfig::default().items, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    items: u64,
    #[command(flatten)]
    runs: RunsArgs,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    output: OutputArgs,
}

impl BatchingArgs {
    fn config(&self) -> anyhow::Result<BatchingConfig> {
        let d = BatchingConfig::default();
        let r = self.runs.resolve(
            batching::NAME,
            &self.output,
            (
                d.time_per_variant,
                d.min_iterations,
                d.max_iterations,
                d.trace_iterations,
            ),
        )?;
        Ok(BatchingConfig {
            items: self.items,
            time_per_variant: r.time,
            min_iterations: r.min,
            max_iterations: r.max,
            clock: self.runs.clock,
            trace_iterations: r.trace,
            limits: self.limits.limits(),
        })
    }
}

#[derive(Debug, Args)]
struct HostFunctionsArgs {
    /// Size of the record's lab values (8 bytes each), e.g. 1MB, 64KB.
    #[arg(long, default_value = "1MB", value_parser = data_transfer::parse_size)]
    record_size: u64,
    #[command(flatten)]
    runs: RunsArgs,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    output: OutputArgs,
}

impl HostFunctionsArgs {
    fn config(&self) -> anyhow::Result<HostFunctionsConfig> {
        let d = HostFunctionsConfig::default();
        let r = self.runs.resolve(
            host_functions::NAME,
            &self.output,
            (d.time_per_variant, d.min_calls, d.max_calls, d.trace_calls),
        )?;
        Ok(HostFunctionsConfig {
            record_bytes: self.record_size,
            time_per_variant: r.time,
            min_calls: r.min,
            max_calls: r.max,
            clock: self.runs.clock,
            trace_calls: r.trace,
            limits: self.limits.limits(),
        })
    }
}

#[derive(Debug, Args)]
struct ComputeArgs {
    /// Image size, WIDTHxHEIGHT.
    #[arg(long, default_value = "1920x1080", value_parser = compute::parse_dimensions)]
    image: (u32, u32),
    #[command(flatten)]
    runs: RunsArgs,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    output: OutputArgs,
}

impl ComputeArgs {
    fn config(&self) -> anyhow::Result<ComputeConfig> {
        let d = ComputeConfig::default();
        let r = self.runs.resolve(
            compute::NAME,
            &self.output,
            (d.time_per_variant, d.min_calls, d.max_calls, d.trace_calls),
        )?;
        Ok(ComputeConfig {
            width: self.image.0,
            height: self.image.1,
            time_per_variant: r.time,
            min_calls: r.min,
            max_calls: r.max,
            clock: self.runs.clock,
            trace_calls: r.trace,
            limits: self.limits.limits(),
        })
    }
}

#[derive(Debug, Args)]
struct CodecsArgs {
    #[command(flatten)]
    runs: RunsArgs,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    output: OutputArgs,
}

impl CodecsArgs {
    fn config(&self) -> anyhow::Result<CodecsConfig> {
        let d = CodecsConfig::default();
        let r = self.runs.resolve(
            codecs::NAME,
            &self.output,
            (d.time_per_variant, d.min_calls, d.max_calls, d.trace_calls),
        )?;
        Ok(CodecsConfig {
            time_per_variant: r.time,
            min_calls: r.min,
            max_calls: r.max,
            clock: self.runs.clock,
            trace_calls: r.trace,
            limits: self.limits.limits(),
        })
    }
}

#[derive(Debug, Args)]
struct InspectArgs {
    /// A .wasm or .wat file: a core module or a component.
    module: PathBuf,
    /// Print the inspection as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct CommandArgs {
    /// The command module (.wasm or .wat) [default: the bundled bench-command].
    #[arg(short, long, value_name = "FILE")]
    plugin: Option<PathBuf>,
    /// An argument for the command (repeat for more); argv[0] is its file name.
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    args: Vec<String>,
    /// An environment variable, NAME=VALUE (repeat for more).
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// A file whose bytes are the command's stdin [default: empty].
    #[arg(long, value_name = "FILE")]
    stdin: Option<PathBuf>,
    /// A host directory to preopen, HOST or HOST::GUEST (repeat for more);
    /// without any, the command has no file access.
    #[arg(long, value_name = "HOST[::GUEST]", value_parser = parse_dir)]
    dir: Vec<(PathBuf, String)>,
    /// A file the command's stdout must equal, checked on the first and
    /// the last run.
    #[arg(long, value_name = "FILE")]
    expect_stdout: Option<PathBuf>,
    /// A file the command's stderr must equal, likewise.
    #[arg(long, value_name = "FILE")]
    expect_stderr: Option<PathBuf>,
    /// Also measure N whole cold starts after the runs, each from the
    /// module's bytes: validate, compile, link, instantiate, run.
    #[arg(long, value_name = "N", default_value_t = CommandConfig::default().cold_runs)]
    cold_runs: u64,
    /// Also keep N instances alive after their runs and read what each
    /// costs in memory (resident, linear memory, heap).
    #[arg(long, value_name = "N", default_value_t = CommandConfig::default().instances)]
    instances: u64,
    #[command(flatten)]
    runs: RunsArgs,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    output: OutputArgs,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{s}`: expected NAME=VALUE"))
}

fn parse_dir(s: &str) -> Result<(PathBuf, String), String> {
    match s.split_once("::") {
        Some((host, guest)) if !host.is_empty() && !guest.is_empty() => {
            Ok((PathBuf::from(host), guest.to_owned()))
        }
        Some(_) => Err(format!("`{s}`: expected HOST or HOST::GUEST")),
        None => Ok((PathBuf::from(s), s.to_owned())),
    }
}

impl CommandArgs {
    fn config(&self) -> anyhow::Result<CommandConfig> {
        let d = CommandConfig::default();
        let r = self.runs.resolve(
            command::NAME,
            &self.output,
            (d.time, d.min_runs, d.max_runs, d.trace_runs),
        )?;
        Ok(CommandConfig {
            plugin: self.plugin.clone(),
            args: self.args.clone(),
            env: self.env.clone(),
            stdin: self.stdin.clone(),
            dirs: self.dir.clone(),
            expect_stdout: self.expect_stdout.clone(),
            expect_stderr: self.expect_stderr.clone(),
            time: r.time,
            min_runs: r.min,
            max_runs: r.max,
            trace_runs: r.trace,
            clock: self.runs.clock,
            cold_runs: self.cold_runs,
            instances: self.instances,
            limits: self.limits.limits(),
        })
    }
}

#[derive(Debug, Args)]
struct ComponentArgs {
    /// The component (.wasm or .wat) [default: the bundled transfer-component].
    #[arg(short, long, value_name = "FILE")]
    plugin: Option<PathBuf>,
    /// The exported function to call.
    #[arg(short, long, default_value_t = ComponentConfig::default().export)]
    export: String,
    /// Its arguments: a JSON array, one value per parameter [default: the
    /// drug checker's request, for the bundled component's check-interactions].
    #[arg(long, value_name = "JSON")]
    args: Option<String>,
    /// Also measure N whole cold starts after the calls, each from the
    /// component's bytes: compile, link, instantiate, the first call.
    #[arg(long, value_name = "N", default_value_t = ComponentConfig::default().cold_runs)]
    cold_runs: u64,
    #[command(flatten)]
    runs: RunsArgs,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    output: OutputArgs,
}

impl ComponentArgs {
    fn config(&self) -> anyhow::Result<ComponentConfig> {
        let d = ComponentConfig::default();
        let r = self.runs.resolve(
            component::NAME,
            &self.output,
            (d.time, d.min_calls, d.max_calls, d.trace_calls),
        )?;
        let args = match &self.args {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| anyhow::anyhow!("--args is not JSON: {e}"))?,
            None => d.args,
        };
        Ok(ComponentConfig {
            plugin: self.plugin.clone(),
            export: self.export.clone(),
            args,
            time: r.time,
            min_calls: r.min,
            max_calls: r.max,
            trace_calls: r.trace,
            clock: self.runs.clock,
            cold_runs: self.cold_runs,
            limits: self.limits.limits(),
        })
    }
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// Run files written by `wprof record` (JSON).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Where to write the report.
    #[arg(
        short,
        long,
        value_name = "FILE",
        default_value = "profiles/report.html"
    )]
    output: PathBuf,
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// The run compared against (a run JSON written by `wprof record`).
    base: PathBuf,
    /// The run under judgement.
    new: PathBuf,
    /// Fail (exit 1) when a phase regresses, significantly, by more than
    /// this many percent (or its fuel grows by more).
    #[arg(long, value_name = "PCT", default_value_t = CompareConfig::default().threshold_pct)]
    threshold: f64,
    /// Changes within +/- this many percent are no change: two runs on a
    /// shared machine differ by a few percent with nothing changed.
    #[arg(long, value_name = "PCT", default_value_t = CompareConfig::default().noise_pct)]
    noise: f64,
    /// Changes within +/- this many nanoseconds are no change [default:
    /// twice the coarser clock resolution of the runs, at least 10 ns].
    #[arg(long, value_name = "NS")]
    noise_ns: Option<f64>,
    /// Output: table, markdown (for a pull-request comment) or json.
    #[arg(long, default_value = "table", value_parser = ["table", "markdown", "json"])]
    format: String,
    /// Also write a differential flamegraph (red: grew, blue: shrank).
    #[arg(long, value_name = "FILE")]
    diff_flamegraph: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct CompileArgs {
    /// A bundled plugin's name, or a .wasm/.wat file.
    #[arg(short, long, default_value = "drug-checker")]
    plugin: String,
    /// Where to write the precompiled module.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Compile with the settings of this cold-start rung (cranelift,
    /// cranelift-opt-none, winch): the aot rungs load only cranelift's.
    #[arg(long, default_value_t = Rung::Cranelift)]
    like: Rung,
}

#[derive(Debug, Args)]
struct CallArgs {
    #[command(flatten)]
    plugin: PluginArgs,
    /// Call the native build instead of the wasm.
    #[arg(long)]
    native: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

/// The spinner of a record command, off with `--quiet` and `--json`.
fn progress(args: &OutputArgs, label: &str) -> crate::progress::Progress {
    crate::progress::Progress::start(label, args.quiet || args.json)
}

/// A record command of one plugin: checks the output directory, runs the
/// scenario under a spinner, writes what it measured.
fn record_one(
    args: &OutputArgs,
    scenario: &str,
    plugins: &[(&PluginSpec, Option<&str>, &InputSpec)],
    run: impl FnOnce() -> Result<Run, crate::Error>,
) -> anyhow::Result<()> {
    let out = args.config()?;
    out.prepare()?;
    let spinner = progress(args, &format!("recording {scenario}"));
    let runs = vec![run()?];
    drop(spinner);
    finish(runs, plugins, &out, args)
}

/// A module `record hot-path` or `record cold-start` hands to the scenario
/// for its kind, with notes saying so and naming what does not apply.
enum Handed {
    Component(ComponentConfig, Vec<String>),
    Command(CommandConfig, Vec<String>),
}

impl Handed {
    /// Records it as its own scenario.
    fn record(self, output: &OutputArgs) -> anyhow::Result<()> {
        match self {
            Handed::Component(c, notes) => record_one(output, component::NAME, &[], || {
                component::run(&c).map(|r| noted(r, notes))
            }),
            Handed::Command(c, notes) => record_one(output, command::NAME, &[], || {
                command::run(&c).map(|r| noted(r, notes))
            }),
        }
    }
}

/// What `wprof` was asked to run, for a handover.
struct Asked<'a> {
    /// `hot-path` or `cold-start`.
    scenario: &'static str,
    plugin: &'a PluginSpec,
    export: Option<&'a str>,
    input: &'a InputSpec,
    limits: &'a Limits,
    /// Options of `scenario` that the other kinds' scenarios do not have.
    not_applicable: Vec<&'static str>,
    /// Whole cold starts to measure.
    cold_runs: u64,
    /// Instances to keep alive for memory readings.
    instances: u64,
}

/// The fuel and sampling options given: a plugin's passes, which the
/// component and command scenarios do not have.
fn inside_options(inside: &InsideConfig) -> Vec<&'static str> {
    let mut given = Vec::new();
    if inside.fuel {
        given.push("--fuel");
    }
    if inside.sample.guest || inside.sample.host {
        given.push("--sample");
    }
    given
}

/// Where `asked`'s module goes when it is not a core-module plugin: a
/// component to `record component`, a WASI command to `record command`;
/// `None` for a plugin (and for a file the plugin path reports itself).
fn handed_over(asked: Asked) -> anyhow::Result<Option<Handed>> {
    use crate::inspect::ModuleKind;
    let PluginSpec::File(path) = asked.plugin else {
        return Ok(None);
    };
    let Ok(bytes) = std::fs::read(path) else {
        return Ok(None);
    };
    let kind = crate::inspect::module_kind(&bytes);
    let (what, to) = match kind {
        ModuleKind::Plugin => return Ok(None),
        ModuleKind::Component => ("component", component::NAME),
        ModuleKind::Command => ("WASI command", command::NAME),
    };
    let shown = path.display();
    let mut notes = vec![format!(
        "record {}: {shown} is a {what}, so `record {to}` ran it (the same flags there give more control){}",
        asked.scenario,
        if asked.cold_runs > 0 {
            format!(
                "; its cold-start variant times {} from the bytes each time, {} times",
                if kind == ModuleKind::Component {
                    "compile, link, instantiate and the first call"
                } else {
                    "validate, compile, link, instantiate and the run"
                },
                asked.cold_runs
            )
        } else if asked.instances > 0 {
            format!(
                "; {} instances are kept alive after their runs for the memory readings, in this one process",
                asked.instances
            )
        } else {
            String::new()
        }
    )];
    if !asked.not_applicable.is_empty() {
        notes.push(format!(
            "{}: not applicable to a {what} run",
            asked.not_applicable.join(", ")
        ));
    }
    let limits = asked.limits.clone();
    Ok(Some(match kind {
        ModuleKind::Plugin => unreachable!("returned above"),
        ModuleKind::Component if asked.instances > 0 => {
            return Err(crate::Error::plugin(
                shown.to_string(),
                crate::phase::Phase::Instantiate,
                "a component: record memory does not apply: its linear memory is not visible through Wasmtime's component API, so its figures could not be split; `wprof record component` times its calls",
            )
            .into());
        }
        ModuleKind::Component => {
            let export = asked.export.map(str::to_owned).ok_or_else(|| {
                crate::Error::Config(format!(
                    "{shown} is a component: pass --export NAME (`wprof inspect {shown}` lists them) and its arguments as a JSON array (--input-json or --input FILE)"
                ))
            })?;
            let text = match asked.input {
                InputSpec::Inline(text) => text.clone(),
                InputSpec::File(file) => std::fs::read_to_string(file)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?,
                InputSpec::Default => "[]".to_owned(),
            };
            let args = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("the component's arguments are not JSON: {e}"))?;
            Handed::Component(
                ComponentConfig {
                    plugin: Some(path.clone()),
                    export,
                    args,
                    cold_runs: asked.cold_runs,
                    limits,
                    ..ComponentConfig::default()
                },
                notes,
            )
        }
        ModuleKind::Command => {
            let stdin = match asked.input {
                InputSpec::File(file) => Some(file.clone()),
                _ => None,
            };
            Handed::Command(
                CommandConfig {
                    plugin: Some(path.clone()),
                    stdin,
                    cold_runs: asked.cold_runs,
                    instances: asked.instances,
                    limits,
                    ..CommandConfig::default()
                },
                notes,
            )
        }
    }))
}

/// `run` with `notes` first among its notes.
fn noted(mut run: Run, mut notes: Vec<String>) -> Run {
    notes.append(&mut run.notes);
    run.notes = notes;
    run
}

/// Parses the command line and runs it.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if matches!(cli.command, Command::Record(_)) {
        crate::interrupt::install();
    }
    match cli.command {
        Command::Record(Record::HotPath(args)) => {
            let cfg = args.config();
            let asked = Asked {
                scenario: "hot-path",
                plugin: &cfg.plugin,
                export: cfg.export.as_deref(),
                input: &cfg.input,
                limits: &cfg.limits,
                not_applicable: inside_options(&cfg.inside),
                cold_runs: 0,
                instances: 0,
            };
            match handed_over(asked)? {
                Some(handed) => handed.record(&args.output)?,
                None => {
                    let plugin = (&cfg.plugin, cfg.export.as_deref(), &cfg.input);
                    record_one(&args.output, "hot-path", &[plugin], || hot_path::run(&cfg))?;
                }
            }
        }
        Command::Record(Record::ColdStart(args)) => {
            let configs = args.configs()?;
            if let [cfg] = &configs[..] {
                let mut not_applicable = vec!["the rungs (winch, aot, pooling, wizer)"];
                not_applicable.extend(inside_options(&cfg.inside));
                let asked = Asked {
                    scenario: "cold-start",
                    plugin: &cfg.plugin,
                    export: cfg.export.as_deref(),
                    input: &cfg.input,
                    limits: &cfg.limits,
                    not_applicable,
                    cold_runs: match cfg.iterations {
                        Iterations::Exactly(n) => n,
                        Iterations::Timed { min, .. } => min.max(10),
                    },
                    instances: 0,
                };
                if let Some(handed) = handed_over(asked)? {
                    return handed.record(&args.output);
                }
            }
            let out = args.output.config()?;
            out.prepare()?;
            let spinner = progress(&args.output, "recording cold-start");
            // Keep going: a plugin that fails is reported on its own line
            // and the others are still measured and written.
            let mut runs = Vec::new();
            let mut kept = Vec::new();
            let mut failed = Vec::new();
            for c in &configs {
                match cold_start::run(c) {
                    Ok(run) => {
                        runs.push(run);
                        kept.push(c);
                    }
                    Err(e) if configs.len() > 1 && !args.fail_fast => {
                        eprintln!("wprof: error: {e:#}");
                        failed.push(e.to_string());
                    }
                    Err(e) => return Err(e.into()),
                }
                if crate::interrupt::requested() {
                    break;
                }
            }
            drop(spinner);
            let plugins: Vec<_> = kept
                .iter()
                .map(|c| (&c.plugin, c.export.as_deref(), &c.input))
                .collect();
            if !runs.is_empty() {
                finish(runs, &plugins, &out, &args.output)?;
            }
            if !failed.is_empty() {
                anyhow::bail!(
                    "{} of {} plugins failed (each named above); the others were written",
                    failed.len(),
                    configs.len()
                );
            }
        }
        Command::Record(Record::Memory(args)) => {
            let cfg = args.config();
            let mut not_applicable = vec!["the modes (jit, aot, pooling, each in its own process)"];
            not_applicable.extend(inside_options(&cfg.inside));
            let asked = Asked {
                scenario: "memory",
                plugin: &cfg.plugin,
                export: cfg.export.as_deref(),
                input: &cfg.input,
                limits: &cfg.limits,
                not_applicable,
                cold_runs: 0,
                instances: cfg.instances.max(1),
            };
            if let Some(handed) = handed_over(asked)? {
                return handed.record(&args.output);
            }
            let plugin = (&cfg.plugin, cfg.export.as_deref(), &cfg.input);
            record_one(&args.output, "memory", &[plugin], || memory::run(&cfg))?;
        }
        Command::Record(Record::Soak(args)) => {
            let cfg = args.config();
            let plugin = (&cfg.plugin, cfg.export.as_deref(), &cfg.input);
            record_one(&args.output, "soak", &[plugin], || soak::run(&cfg))?;
        }
        Command::Record(Record::Batching(args)) => {
            let cfg = args.config()?;
            record_one(&args.output, "batching", &[], || batching::run(&cfg))?;
        }
        Command::Record(Record::HostFunctions(args)) => {
            let cfg = args.config()?;
            record_one(&args.output, "host-functions", &[], || {
                host_functions::run(&cfg)
            })?;
        }
        Command::Record(Record::Compute(args)) => {
            let cfg = args.config()?;
            record_one(&args.output, "compute", &[], || compute::run(&cfg))?;
        }
        Command::Record(Record::Codecs(args)) => {
            let cfg = args.config()?;
            record_one(&args.output, "codecs", &[], || codecs::run(&cfg))?;
        }
        Command::Record(Record::Component(args)) => {
            let cfg = args.config()?;
            record_one(&args.output, "component", &[], || component::run(&cfg))?;
        }
        Command::Record(Record::Command(args)) => {
            let cfg = args.config()?;
            record_one(&args.output, "command", &[], || command::run(&cfg))?;
        }
        Command::Record(Record::DataTransfer(args)) => {
            let cfg = args.config()?;
            record_one(&args.output, "data-transfer", &[], || {
                data_transfer::run(&cfg)
            })?;
        }
        Command::MemoryProbe { request } => {
            let profile = memory::probe(&memory::probe_from_json(&request)?)?;
            serde_json::to_writer(std::io::stdout().lock(), &profile)?;
        }
        Command::Report(args) => {
            let runs = args
                .runs
                .iter()
                .map(|p| compare::load(p))
                .collect::<Result<Vec<_>, _>>()?;
            let links: Vec<Vec<String>> = args
                .runs
                .iter()
                .map(|p| artifacts(p, &args.output))
                .collect();
            let html = export::html::report(&runs, &links)?;
            if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| crate::Error::Output {
                    path: dir.to_owned(),
                    cause: e.to_string(),
                })?;
            }
            export::write_atomic(&args.output, |w| Ok(w.write_all(html.as_bytes())?))?;
            println!("wrote {}", args.output.display());
        }
        Command::Compare(args) => {
            let cfg = CompareConfig {
                base: args.base.clone(),
                new: args.new.clone(),
                noise_pct: args.noise,
                noise_ns: args.noise_ns,
                threshold_pct: args.threshold,
            };
            let report = compare::compare(&cfg)?;
            let mut out = std::io::stdout().lock();
            match args.format.as_str() {
                "json" => {
                    serde_json::to_writer_pretty(&mut out, &report)?;
                    writeln!(out)?;
                }
                f => compare::render(&report, f == "markdown", &mut out)?,
            }
            if let Some(path) = &args.diff_flamegraph {
                let (base, new) = (compare::load(&cfg.base)?, compare::load(&cfg.new)?);
                export::write_atomic(path, |w| compare::diff_flamegraph(&base, &new, w))?;
                writeln!(out, "wrote {}", path.display())?;
            }
            let failures = report.failures();
            if !failures.is_empty() {
                anyhow::bail!(
                    "regression beyond {} %: {}",
                    cfg.threshold_pct,
                    failures.join(", ")
                );
            }
        }
        Command::Inspect(args) => {
            let found = crate::inspect::inspect(&args.module)?;
            let mut out = std::io::stdout().lock();
            if args.json {
                serde_json::to_writer_pretty(&mut out, &found)?;
                writeln!(out)?;
            } else {
                crate::inspect::render(&found, &mut out)?;
            }
        }
        Command::Compile(args) => {
            let size =
                cold_start::compile(&PluginSpec::parse(&args.plugin), args.like, &args.output)?;
            println!("wrote {} ({size} B)", args.output.display());
        }
        Command::Call(args) => {
            let (plugin, input) = args.plugin.specs();
            let cfg = CallConfig {
                plugin,
                export: args.plugin.export.clone(),
                input,
                native: args.native,
                limits: args.plugin.extism.limits(&args.limits),
            };
            let called = call::call(&cfg)?;
            for line in &called.logs {
                eprintln!("plugin log: {line}");
            }
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&called.output)?;
            writeln!(stdout)?;
        }
    }
    Ok(())
}

/// Each run's file stem: its scenario, and also its plugin when there are
/// several runs.
/// The other artifacts of the run in `run_file` (same directory and stem,
/// and the sibling `flamegraphs/`), as hrefs relative to `report`'s
/// directory where they lie under it, else absolute.
fn artifacts(run_file: &std::path::Path, report: &std::path::Path) -> Vec<String> {
    let Some(stem) = run_file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
    else {
        return Vec::new();
    };
    let dir = run_file.parent().unwrap_or(std::path::Path::new(""));
    let dir = if dir.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        dir
    };
    let mut dirs = vec![dir.to_owned()];
    if let Some(up) = dir.parent() {
        dirs.push(up.join("flamegraphs"));
    }
    let base = std::fs::canonicalize(
        report
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new(".")),
    )
    .ok();
    let mut out = Vec::new();
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut names: Vec<std::path::PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p
                    .file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned());
                // The run's own JSON is the report's source, not an artifact.
                name.starts_with(&format!("{stem}.")) && name != format!("{stem}.json")
            })
            .collect();
        names.sort();
        for p in names {
            let abs = std::fs::canonicalize(&p).unwrap_or(p);
            let href = match base.as_ref().and_then(|b| abs.strip_prefix(b).ok()) {
                Some(rel) => rel.display().to_string(),
                None => abs.display().to_string(),
            };
            out.push(href);
        }
    }
    out
}

fn stems(runs: &[Run]) -> Vec<String> {
    runs.iter()
        .map(|run| {
            if runs.len() > 1 {
                let plugin = std::path::Path::new(&run.plugin.name)
                    .file_stem()
                    .map_or_else(
                        || run.plugin.name.clone(),
                        |s| s.to_string_lossy().into_owned(),
                    );
                format!("{}.{plugin}", run.scenario)
            } else {
                run.scenario.clone()
            }
        })
        .collect()
}

/// The end of every `record`: the heap passes if asked, the files and the
/// printout, then an error if a variant failed.
fn finish(
    mut runs: Vec<Run>,
    plugins: &[(&PluginSpec, Option<&str>, &InputSpec)],
    out: &OutputConfig,
    args: &OutputArgs,
) -> anyhow::Result<()> {
    if !runs.iter().any(|r| r.incomplete) {
        heap_passes(&mut runs, plugins, out, args)?;
    }
    for run in &mut runs {
        let notes = crate::scenario::noise_notes(run);
        run.notes.extend(notes);
        run.host.load_average = crate::scenario::load_average();
    }
    report(&runs, out, args)?;
    if runs.iter().any(|r| r.incomplete) {
        return Err(crate::Error::Interrupted.into());
    }
    failed(&runs)
}

/// With `--heap`: each run's heap pass, recorded in the run.
fn heap_passes(
    runs: &mut [Run],
    plugins: &[(&PluginSpec, Option<&str>, &InputSpec)],
    out: &OutputConfig,
    args: &OutputArgs,
) -> anyhow::Result<()> {
    if !args.heap {
        return Ok(());
    }
    let stems = stems(runs);
    for ((run, (plugin, export, input)), stem) in runs.iter_mut().zip(plugins).zip(stems) {
        let dest = out.profiles_dir.join(format!("{stem}.dhat.json"));
        run.heap = Some(crate::heap::pass(
            plugin,
            *export,
            input,
            args.heap_calls,
            &dest,
        )?);
        run.notes.push(
            "heap: a separate pass under dhat, which slows allocation several times over; no timing above comes from it. dhat sees host allocations only: a native call's count includes the plugin's own work, which in wasm allocates inside linear memory, unseen".into(),
        );
    }
    Ok(())
}

/// Writes every run's files and prints them as asked. A run's files are
/// named after its scenario, and also its plugin when there are several.
fn report(runs: &[Run], out: &OutputConfig, args: &OutputArgs) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let mut written = Vec::new();
    for (run, stem) in runs.iter().zip(stems(runs)) {
        written.extend(out.write_all(run, &stem)?);
        if let Some(h) = &run.heap {
            written.push(std::path::PathBuf::from(&h.file));
        }
    }
    if args.json {
        if let [run] = runs {
            export::RunJson.write(run, &mut stdout)?;
        } else {
            serde_json::to_writer_pretty(&mut stdout, runs)?;
            writeln!(stdout)?;
        }
    } else if !args.quiet {
        for run in runs {
            export::Table.write(run, &mut stdout)?;
            writeln!(stdout)?;
        }
        for path in written {
            writeln!(stdout, "wrote {}", path.display())?;
        }
    }
    Ok(())
}

/// Fails when a run recorded a failed variant (after its files are written):
/// the first failure is the error, the others go to stderr first.
fn failed(runs: &[Run]) -> anyhow::Result<()> {
    let mut all = runs.iter().flat_map(|r| {
        r.failures.iter().map(move |f| {
            crate::Error::plugin(
                &r.plugin.name,
                f.phase,
                format!("{}: {}", f.variant, f.cause),
            )
        })
    });
    let Some(first) = all.next() else {
        return Ok(());
    };
    for other in all {
        eprintln!("wprof: error: {other}");
    }
    Err(first.into())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

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
        assert_eq!(args.output.config().unwrap(), OutputConfig::default());

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
    }
}
