//! Arguments several commands share: which plugin, where files go, the
//! limits, the passes that look inside, and how long a boundary scenario's
//! variants run.

use std::path::PathBuf;

use clap::Args;

use crate::driver::Limits;
use crate::export::{self, OutputConfig};
use crate::inside::{CounterChoice, InsideConfig, Samplers};
use crate::scenario::runner::Runs;
use crate::source::{InputSpec, PluginSpec};
use crate::timing::ClockChoice;

/// Which plugin, export and input.
#[derive(Debug, Args)]
pub(super) struct PluginArgs {
    /// A bundled plugin's name, or a .wasm/.wat file.
    #[arg(short, long, default_value = "drug-checker")]
    pub(super) plugin: String,
    #[command(flatten)]
    pub(super) input: InputArgs,
}

/// Which export, and what it is called with.
#[derive(Debug, Args)]
pub(super) struct InputArgs {
    /// Export to call [default: the bundled plugin's, or the module's only
    /// (i32, i32) -> i64 export; for an Extism plugin its only () -> i32
    /// export].
    #[arg(short, long)]
    pub(super) export: Option<String>,
    /// JSON input file [default: the bundled plugin's input.json]. For an
    /// Extism plugin, the input text itself, as `extism call --input` takes
    /// it, or a file whose bytes are the input [default: empty]; `''` is
    /// an empty input.
    #[arg(short, long, conflicts_with = "input_json", value_parser = clap::builder::TypedValueParser::map(clap::builder::OsStringValueParser::new(), PathBuf::from))]
    pub(super) input: Option<PathBuf>,
    /// JSON input given inline.
    #[arg(long, value_name = "JSON")]
    pub(super) input_json: Option<String>,
    #[command(flatten)]
    pub(super) extism: ExtismArgs,
}

impl InputArgs {
    /// The input asked for.
    pub(super) fn spec(&self) -> InputSpec {
        match (&self.input, &self.input_json) {
            (Some(path), _) => InputSpec::File(path.clone()),
            (None, Some(text)) => InputSpec::Inline(text.clone()),
            (None, None) => InputSpec::Default,
        }
    }
}

/// What every record command of one plugin shares: the limits, the passes
/// that look inside, where files go.
#[derive(Debug, Args)]
pub(super) struct RecordArgs {
    #[command(flatten)]
    pub(super) limits: LimitArgs,
    #[command(flatten)]
    pub(super) inside: InsideArgs,
    #[command(flatten)]
    pub(super) output: OutputArgs,
}

impl RecordArgs {
    /// Refuses, before anything is measured, a format the run cannot fill:
    /// `firefox` without a sampler.
    pub(super) fn check_formats(&self) -> anyhow::Result<()> {
        if self.output.formats.iter().any(|f| f == "firefox")
            && self.inside.sample == crate::inside::Samplers::default()
        {
            anyhow::bail!(
                "--formats firefox needs sampled stacks: add --sample guest, host or both"
            );
        }
        Ok(())
    }
}

/// What every boundary scenario's record command shares: how long each
/// variant runs, the limits, where files go.
#[derive(Debug, Args)]
pub(super) struct BoundaryArgs {
    #[command(flatten)]
    pub(super) runs: RunsArgs,
    #[command(flatten)]
    pub(super) limits: LimitArgs,
    #[command(flatten)]
    pub(super) output: OutputArgs,
}

impl BoundaryArgs {
    /// The runs and limits asked for, the scenario's default runs where
    /// not given.
    pub(super) fn resolve(
        &self,
        scenario: &str,
        defaults: &Runs,
    ) -> anyhow::Result<(Runs, Limits)> {
        let runs = self.runs.resolve(scenario, &self.output, defaults)?;
        Ok((runs, self.limits.limits()))
    }
}

/// What an Extism plugin is given besides its input.
#[derive(Debug, Args)]
pub(super) struct ExtismArgs {
    /// An Extism plugin's config value (`config_get`); repeat for more.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub(super) config: Vec<(String, String)>,
    /// An Extism plugin's log level: its messages at this level and above
    /// are reported [default: off, as in Extism without a logger].
    #[arg(long, value_name = "LEVEL")]
    pub(super) log_level: Option<crate::driver::extism::LogLevel>,
    #[command(flatten)]
    pub(super) wasi: WasiArgs,
}

/// What a WASI program is given: a command, or an Extism plugin that
/// imports WASI preview 1.
#[derive(Debug, Args)]
pub(super) struct WasiArgs {
    /// A WASI argument (repeat for more); argv[0] is the module's file name.
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    pub(super) args: Vec<String>,
    /// A WASI environment variable, NAME=VALUE (repeat for more).
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_env)]
    pub(super) env: Vec<(String, String)>,
    /// A file whose bytes are the WASI stdin [default: empty].
    #[arg(long, value_name = "FILE")]
    pub(super) stdin: Option<PathBuf>,
    /// A host directory to preopen for WASI, HOST or HOST::GUEST (repeat
    /// for more); without any, the module has no file access.
    #[arg(long, value_name = "HOST[::GUEST]", value_parser = parse_dir)]
    pub(super) dir: Vec<(PathBuf, String)>,
}

impl WasiArgs {
    pub(super) fn options(&self) -> crate::driver::wasi::WasiOptions {
        crate::driver::wasi::WasiOptions {
            args: self.args.clone(),
            env: self.env.clone(),
            stdin: self.stdin.clone(),
            dirs: self.dir.clone(),
        }
    }
}

pub(super) fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{s}`: expected NAME=VALUE"))
}

pub(super) fn parse_dir(s: &str) -> Result<(PathBuf, String), String> {
    match s.split_once("::") {
        Some((host, guest)) if !host.is_empty() && !guest.is_empty() => {
            Ok((PathBuf::from(host), guest.to_owned()))
        }
        Some(_) => Err(format!("`{s}`: expected HOST or HOST::GUEST")),
        None => Ok((PathBuf::from(s), s.to_owned())),
    }
}

impl ExtismArgs {
    /// `limits` with these options.
    pub(super) fn limits(&self, limits: &LimitArgs) -> Limits {
        Limits {
            extism: crate::driver::extism::ExtismOptions {
                config: self.config.iter().cloned().collect(),
                log_level: self.log_level,
                wasi: self.wasi.options(),
            },
            ..limits.limits()
        }
    }
}

pub(super) fn parse_key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
}

impl PluginArgs {
    pub(super) fn specs(&self) -> (PluginSpec, InputSpec) {
        (PluginSpec::parse(&self.plugin), self.input.spec())
    }
}

/// Where files go and what is printed.
#[derive(Debug, Args)]
pub(super) struct OutputArgs {
    /// Write every file into DIR [default: profiles/ and flamegraphs/].
    #[arg(short, long, value_name = "DIR")]
    pub(super) out_dir: Option<PathBuf>,
    /// Artifacts to write, comma-separated [also: bmf,
    /// github-action-benchmark, csv, markdown, sightglass, firefox (with
    /// --sample)].
    #[arg(long, value_delimiter = ',', default_values_t = export::names().into_iter().map(String::from))]
    pub(super) formats: Vec<String>,
    /// Print the run JSON to stdout instead of the table.
    #[arg(long, conflicts_with = "quiet")]
    pub(super) json: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub(super) quiet: bool,
    /// Also run the plugin's calls under dhat's heap profiler, in a separate
    /// untimed pass, and write <name>.dhat.json (for valgrind's dh_view.html).
    #[arg(long)]
    pub(super) heap: bool,
    /// Open the HTML page in the default browser once it is written
    /// (`$BROWSER` where set, else xdg-open or open).
    #[arg(long)]
    pub(super) open: bool,
    /// Calls per side (wasm, native) in the heap pass; for a WASI
    /// command, its runs [default: 1000 calls; a command 20 runs].
    #[arg(long, value_name = "N", value_parser = super::bounds::calls)]
    pub(super) heap_calls: Option<u64>,
    /// Also profile the plugin's own heap inside linear memory: its
    /// allocator hooked in a rewritten copy of the module, its calls made
    /// again untimed; writes <name>.guest.dhat.json and the bytes and
    /// blocks per call. Runs the --heap pass too, for native's figures.
    #[arg(long)]
    pub(super) guest_heap: bool,
    /// The guest's allocator, where wprof cannot find it: functions with
    /// C's signatures, by export or name-section name
    /// (NAME,free=NAME,realloc=NAME). Implies --guest-heap.
    #[arg(long, value_name = "NAME,free=NAME,realloc=NAME", value_parser = guest_alloc)]
    pub(super) guest_alloc: Option<crate::guest_heap::Given>,
}

fn guest_alloc(s: &str) -> Result<crate::guest_heap::Given, String> {
    crate::guest_heap::Given::parse(s)
}

impl OutputArgs {
    /// Whether the guest heap pass runs (`--guest-heap`, or `--guest-alloc`).
    pub(super) fn guest_heap(&self) -> bool {
        self.guest_heap || self.guest_alloc.is_some()
    }

    /// The guest heap pass's config.
    pub(super) fn guest_heap_config(&self) -> crate::guest_heap::GuestHeapConfig {
        crate::guest_heap::GuestHeapConfig {
            calls: self.heap_calls.unwrap_or(crate::guest_heap::DEFAULT_CALLS),
            given: self.guest_alloc.clone(),
        }
    }

    pub(super) fn config(&self) -> anyhow::Result<OutputConfig> {
        // Checked before anything is measured, not after.
        if self.heap || self.guest_heap() {
            crate::heap::binary().map_err(|e| anyhow::anyhow!("--heap: {e}"))?;
        }
        let known = export::known();
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

/// What a plugin may do before wprof stops it.
#[derive(Debug, Args)]
pub(super) struct LimitArgs {
    /// How long one call may run: the first call is stopped at it and
    /// reported; a later call that overruns it ends the run (nothing written).
    #[arg(long, default_value = "10s", value_parser = super::bounds::deadline)]
    pub(super) deadline: std::time::Duration,
    /// Largest linear memory the plugin may grow to, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = (Limits::default().memory_bytes.unwrap_or(0) >> 20) as u64, value_parser = super::bounds::memory_mib)]
    pub(super) memory_limit: u64,
    /// Most elements a table may grow to.
    #[arg(long, value_name = "N", default_value_t = Limits::default().table_elements.unwrap_or(0) as u64, value_parser = super::bounds::table_elements)]
    pub(super) table_limit: u64,
    /// Largest output a call may return, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = (Limits::default().output_bytes.unwrap_or(0) >> 10) as u64, value_parser = super::bounds::output_kib)]
    pub(super) output_limit: u64,
}

impl LimitArgs {
    pub(super) fn limits(&self) -> Limits {
        Limits {
            memory_bytes: Some((self.memory_limit << 20) as usize),
            table_elements: Some(self.table_limit as usize),
            output_bytes: Some((self.output_limit << 10) as usize),
            deadline: self.deadline,
            ..Limits::default()
        }
    }
}

/// The passes that look inside calls, each after the timings.
#[derive(Debug, Args)]
pub(super) struct InsideArgs {
    /// Perf counters for the counter pass: all (every one the kernel
    /// grants), none, or a comma-separated list of cycles, instructions,
    /// cache-misses, branch-misses, task-clock, page-faults, context-switches.
    #[arg(long, default_value = "all", value_name = "LIST")]
    pub(super) counters: CounterChoice,
    /// Also run a fuel pass: wasm fuel per call and phase, the same on every
    /// run (a figure for CI regression checks), and what metering costs.
    #[arg(long)]
    pub(super) fuel: bool,
    /// Sample stacks: guest (wasm functions at epoch ticks, exact, costly),
    /// host (whole process by SIGPROF, JIT frames named from the perf map,
    /// cheap), both, or none.
    #[arg(long, value_name = "WHICH", default_value = "none")]
    pub(super) sample: Samplers,
    /// Guest sampling rate in Hz.
    #[arg(long, default_value_t = InsideConfig::default().guest_hz, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(super) guest_hz: u32,
    /// Host sampling rate in Hz (the kernel tick caps what is delivered: the
    /// report says the rate achieved).
    #[arg(long, default_value_t = InsideConfig::default().host_hz, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(super) host_hz: u32,
    /// CPU seconds each sampling or fuel pass runs (half sampled, half
    /// not): a busy machine stretches the wall time (up to 10x), not the
    /// samples.
    #[arg(long, default_value_t = InsideConfig::default().sample_secs, value_parser = super::bounds::sample_secs)]
    pub(super) sample_secs: f64,
}

impl InsideArgs {
    pub(super) fn config(&self) -> InsideConfig {
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

/// How long each variant of a boundary scenario (data-transfer, batching,
/// host-functions, codecs, compute) is measured. A run is one measured
/// call (batching: one iteration of --items calls).
#[derive(Debug, Args)]
pub(super) struct RunsArgs {
    /// How long each variant is measured once it has --min-runs, e.g.
    /// 300ms, 2s [default: the scenario's: data-transfer 300ms, compute and
    /// command 1s, the others 500ms].
    #[arg(long, value_parser = super::bounds::measuring_time)]
    pub(super) time_per_variant: Option<std::time::Duration>,
    /// Fewest measured runs per variant [default: the scenario's: 10;
    /// codecs 100, compute and command 5].
    #[arg(long, value_parser = super::bounds::runs)]
    pub(super) min_runs: Option<u64>,
    /// Most measured runs per variant [default: the scenario's: 100 000;
    /// codecs 200 000, compute and command 1000].
    #[arg(long, value_parser = super::bounds::runs)]
    pub(super) max_runs: Option<u64>,
    /// Runs per variant drawn into the Chrome trace [default: the
    /// scenario's: 5; codecs 20].
    #[arg(long, value_parser = super::bounds::trace_calls)]
    pub(super) trace_runs: Option<u64>,
    /// Clock: auto (TSC where invariant), tsc, monotonic.
    #[arg(long, default_value_t = ClockChoice::Auto)]
    pub(super) clock: ClockChoice,
}

impl RunsArgs {
    /// The runs asked for, the scenario's `defaults` where not given;
    /// refuses --heap, which profiles a plugin's calls or a command's runs
    /// and belongs to the scenarios of one plugin and to `record command`.
    pub(super) fn resolve(
        &self,
        scenario: &str,
        output: &OutputArgs,
        defaults: &Runs,
    ) -> anyhow::Result<Runs> {
        if output.guest_heap() {
            anyhow::bail!(
                "--guest-heap does not apply to {scenario} (it profiles a plugin's calls: record hot-path --guest-heap)"
            );
        }
        if output.formats.iter().any(|f| f == "firefox") {
            anyhow::bail!(
                "--formats firefox does not apply to {scenario}, which samples no stacks (record hot-path --sample both --formats firefox)"
            );
        }
        if output.heap
            && scenario != crate::scenario::command::NAME
            && scenario != crate::scenario::component::NAME
        {
            anyhow::bail!(
                "--heap does not apply to {scenario} (record hot-path --heap profiles a plugin's calls, record command --heap a command's runs, record component --heap a component's calls)"
            );
        }
        let runs = Runs {
            time: self.time_per_variant.unwrap_or(defaults.time),
            min: self.min_runs.unwrap_or(defaults.min),
            max: self.max_runs.unwrap_or(defaults.max),
            trace: self.trace_runs.unwrap_or(defaults.trace),
            clock: self.clock,
        };
        if runs.min > runs.max {
            anyhow::bail!("--min-runs {} is over --max-runs {}", runs.min, runs.max);
        }
        Ok(runs)
    }
}
