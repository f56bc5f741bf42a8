//! The record commands' own arguments, each turned into its scenario's
//! plain config.

use std::path::PathBuf;

use clap::Args;

use super::common::*;
use crate::scenario::batching::{self, BatchingConfig};
use crate::scenario::codecs::{self, CodecsConfig};
use crate::scenario::cold_start::{ColdStartConfig, Iterations, Rung};
use crate::scenario::command::{self, CommandConfig};
use crate::scenario::component::{self, ComponentConfig};
use crate::scenario::compute::{self, ComputeConfig};
use crate::scenario::concurrency::{self, ConcurrencyConfig, Design};
use crate::scenario::data_transfer::{self, DataTransferConfig, Way};
use crate::scenario::host_functions::{self, HostFunctionsConfig};
use crate::scenario::hot_path::HotPathConfig;
use crate::scenario::memory::MemoryConfig;
use crate::scenario::soak::SoakConfig;
use crate::source::PluginSpec;
use crate::timing::ClockChoice;

#[derive(Debug, Args)]
pub(super) struct HotPathArgs {
    #[command(flatten)]
    pub(super) plugin: PluginArgs,
    /// Measured calls per variant [default: 100000]; for a WASI command,
    /// its runs [default: up to 1000 in 1 s].
    #[arg(short = 'n', long, value_parser = super::bounds::hot_iterations)]
    pub(super) iterations: Option<u64>,
    /// Unmeasured calls per variant first.
    #[arg(short, long, default_value_t = HotPathConfig::default().warmup, value_parser = super::bounds::warmup)]
    pub(super) warmup: u64,
    /// Rounds the measured calls are split into (instrumented and
    /// uninstrumented batches alternate within each).
    #[arg(long, default_value_t = HotPathConfig::default().rounds, value_parser = super::bounds::rounds)]
    pub(super) rounds: u64,
    /// Clock: auto (TSC where invariant), tsc, monotonic.
    #[arg(long, default_value_t = HotPathConfig::default().clock)]
    pub(super) clock: ClockChoice,
    /// Calls per variant drawn into the Chrome trace.
    #[arg(long, default_value_t = HotPathConfig::default().trace_calls, value_parser = super::bounds::trace_calls)]
    pub(super) trace_calls: u64,
    /// Skip the native baseline.
    #[arg(long)]
    pub(super) no_native: bool,
    /// Also run the wasm variant through wprof's own Wasmtime driver in a
    /// child process (`wasm-child`), timed there by the same loop and sent
    /// back over the driver protocol, paired round by round with the
    /// in-process variant.
    #[arg(long)]
    pub(super) driver_process: bool,
    /// For an Extism plugin, do not also time it under Extism's own runtime
    /// (`extism-sdk` and `libextism`, where they are built).
    #[arg(long)]
    pub(super) no_extism_sdk: bool,
    /// Another build of the plugin (a .wasm/.wat file or a bundled name),
    /// timed in the same rounds as the variant `baseline`: the change
    /// between the builds as a paired ratio, which a machine's changing
    /// speed does not move. Judge it with `wprof compare RUN`.
    #[arg(long, value_name = "PLUGIN")]
    pub(super) baseline: Option<String>,
    /// Stop early, after any round from the second, once every variant's
    /// median call has a 95 % interval within +/- PCT % (-n is then the most).
    #[arg(long, value_name = "PCT", value_parser = super::bounds::target_ci)]
    pub(super) target_ci: Option<f64>,
    /// Stop after the round that passes this much measuring time, e.g. 30s.
    #[arg(long, value_parser = super::bounds::measuring_time)]
    pub(super) max_time: Option<std::time::Duration>,
    #[command(flatten)]
    pub(super) record: RecordArgs,
}

impl HotPathArgs {
    pub(super) fn config(&self) -> HotPathConfig {
        let (plugin, input) = self.plugin.specs();
        HotPathConfig {
            plugin,
            export: self.plugin.input.export.clone(),
            input,
            iterations: self
                .iterations
                .unwrap_or(HotPathConfig::default().iterations),
            warmup: self.warmup,
            rounds: self.rounds,
            clock: self.clock,
            trace_calls: self.trace_calls,
            native: !self.no_native,
            driver_process: self.driver_process,
            extism_sdk: !self.no_extism_sdk,
            baseline: self.baseline.as_deref().map(PluginSpec::parse),
            inside: self.record.inside.config(),
            target_ci_pct: self.target_ci,
            max_time: self.max_time,
            limits: self.plugin.input.extism.limits(&self.record.limits),
        }
    }
}

#[derive(Debug, Args)]
pub(super) struct ColdStartArgs {
    /// Bundled plugin names or .wasm/.wat files, comma-separated or repeated
    /// [default: every bundled plugin].
    #[arg(short, long, value_delimiter = ',')]
    pub(super) plugin: Vec<String>,
    /// Stop at the first plugin that fails, instead of reporting it and
    /// going on with the others.
    #[arg(long)]
    pub(super) fail_fast: bool,
    #[command(flatten)]
    pub(super) input: InputArgs,
    /// Rungs to measure, comma-separated; the first is the baseline.
    #[arg(long, value_delimiter = ',', default_values_t = ColdStartConfig::default().rungs)]
    pub(super) rungs: Vec<Rung>,
    /// Exactly N measured iterations per rung [default: time-bounded, see
    /// --min-iterations, --max-iterations, --time-per-rung].
    #[arg(short = 'n', long, value_parser = super::bounds::cold_iterations)]
    pub(super) iterations: Option<u64>,
    /// Fewest measured iterations per rung.
    #[arg(long, default_value_t = 10, value_parser = super::bounds::cold_iterations)]
    pub(super) min_iterations: u64,
    /// Most measured iterations per rung.
    #[arg(long, default_value_t = 1000, value_parser = super::bounds::cold_iterations)]
    pub(super) max_iterations: u64,
    /// Time each rung goes on for once it has its fewest iterations, e.g. 1s, 500ms.
    #[arg(long, default_value = "1s", value_parser = super::bounds::measuring_time)]
    pub(super) time_per_rung: std::time::Duration,
    /// Unmeasured iterations per rung first.
    #[arg(short, long, default_value_t = ColdStartConfig::default().warmup, value_parser = super::bounds::warmup)]
    pub(super) warmup: u64,
    /// A .cwasm made by `wprof compile` for the aot rungs to load (one plugin only).
    #[arg(long, value_name = "FILE")]
    pub(super) precompiled: Option<PathBuf>,
    /// Iterations per rung drawn into the Chrome trace.
    #[arg(long, default_value_t = ColdStartConfig::default().trace_iterations, value_parser = super::bounds::trace_calls)]
    pub(super) trace_iterations: u64,
    /// For an Extism plugin, do not also time Extism's own runtime's cold
    /// starts (`extism-sdk` and `libextism`, where they are built).
    #[arg(long)]
    pub(super) no_extism_sdk: bool,
    #[command(flatten)]
    pub(super) record: RecordArgs,
}

impl ColdStartArgs {
    pub(super) fn configs(&self) -> anyhow::Result<Vec<ColdStartConfig>> {
        let input = self.input.spec();
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
                export: self.input.export.clone(),
                input: input.clone(),
                rungs: self.rungs.clone(),
                iterations,
                warmup: self.warmup,
                precompiled: self.precompiled.clone(),
                trace_iterations: self.trace_iterations,
                inside: self.record.inside.config(),
                limits: self.input.extism.limits(&self.record.limits),
                extism_sdk: !self.no_extism_sdk,
            })
            .collect())
    }
}

#[derive(Debug, Args)]
pub(super) struct MemoryArgs {
    #[command(flatten)]
    pub(super) plugin: PluginArgs,
    /// Instances held at once, each in its own Store.
    #[arg(long, default_value_t = MemoryConfig::default().instances, value_parser = super::bounds::instances)]
    pub(super) instances: u64,
    /// Calls on the first instance before the "calls" reading.
    #[arg(long, default_value_t = MemoryConfig::default().calls, value_parser = super::bounds::calls)]
    pub(super) calls: u64,
    /// For an Extism plugin, do not also read Extism's own runtime's
    /// memory (`extism-sdk` and `libextism`, where they are built).
    #[arg(long)]
    pub(super) no_extism_sdk: bool,
    #[command(flatten)]
    pub(super) record: RecordArgs,
}

impl MemoryArgs {
    pub(super) fn config(&self) -> MemoryConfig {
        let (plugin, input) = self.plugin.specs();
        MemoryConfig {
            plugin,
            export: self.plugin.input.export.clone(),
            input,
            instances: self.instances,
            calls: self.calls,
            limits: self.plugin.input.extism.limits(&self.record.limits),
            inside: self.record.inside.config(),
            extism_sdk: !self.no_extism_sdk,
        }
    }
}

#[derive(Debug, Args)]
pub(super) struct SoakArgs {
    #[command(flatten)]
    pub(super) plugin: PluginArgs,
    /// For an Extism plugin, do not also soak it under Extism's own
    /// runtime (`extism-sdk` and `libextism`, where they are built).
    #[arg(long)]
    pub(super) no_extism_sdk: bool,
    /// How long to run, e.g. 60s, 10m, 24h.
    #[arg(long, default_value = "60s", value_parser = super::bounds::soak_duration)]
    pub(super) duration: std::time::Duration,
    /// Calls per second.
    #[arg(long, default_value_t = SoakConfig::default().rate, value_parser = super::bounds::rate)]
    pub(super) rate: f64,
    /// Time between memory readings, e.g. 1s, 200ms.
    #[arg(long, default_value = "1s", value_parser = super::bounds::sample_every)]
    pub(super) sample_every: std::time::Duration,
    /// Growth above which memory is called leaking, in KB per hour.
    #[arg(long, value_name = "KB_PER_HOUR", default_value_t = SoakConfig::default().threshold_kb_per_hour, value_parser = super::bounds::kb_per_hour)]
    pub(super) threshold: f64,
    /// Calls drawn into the Chrome trace.
    #[arg(long, default_value_t = SoakConfig::default().trace_calls, value_parser = super::bounds::trace_calls)]
    pub(super) trace_calls: u64,
    #[command(flatten)]
    pub(super) record: RecordArgs,
}

impl SoakArgs {
    pub(super) fn config(&self) -> SoakConfig {
        let (plugin, input) = self.plugin.specs();
        SoakConfig {
            plugin,
            export: self.plugin.input.export.clone(),
            input,
            duration: self.duration,
            rate: self.rate,
            sample_every: self.sample_every,
            threshold_kb_per_hour: self.threshold,
            limits: self.plugin.input.extism.limits(&self.record.limits),
            trace_calls: self.trace_calls,
            inside: self.record.inside.config(),
            extism_sdk: !self.no_extism_sdk,
        }
    }
}

#[derive(Debug, Args)]
pub(super) struct DataTransferArgs {
    /// Payload sizes, comma-separated: bytes, or with a unit (KB, MB, KiB, MiB).
    #[arg(long, value_delimiter = ',', default_value = "100,10KB,1MB,10MB", value_parser = super::bounds::payload)]
    pub(super) sizes: Vec<u64>,
    /// Ways of crossing, comma-separated: raw, json, msgpack, host-fn, component.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "raw,json,msgpack,host-fn,component"
    )]
    pub(super) ways: Vec<Way>,
    #[command(flatten)]
    pub(super) common: BoundaryArgs,
}

impl DataTransferArgs {
    pub(super) fn config(&self) -> anyhow::Result<DataTransferConfig> {
        let d = DataTransferConfig::default();
        let (runs, limits) = self.common.resolve(data_transfer::NAME, &d.runs)?;
        Ok(DataTransferConfig {
            sizes: self.sizes.clone(),
            ways: self.ways.clone(),
            runs,
            limits,
        })
    }
}

#[derive(Debug, Args)]
pub(super) struct BatchingArgs {
    /// A module to call instead of the bundled drug-checker-ways: it must
    /// export the drug checker's `check_interactions` and `check_batch`
    /// (the wprof ABI); every answer is compared with the native build's.
    #[arg(short, long, value_name = "FILE")]
    pub(super) plugin: Option<PathBuf>,
    /// Items per iteration: separate calls, or the length of one batch.
    #[arg(long, default_value_t = BatchingConfig::default().items, value_parser = super::bounds::items)]
    pub(super) items: u64,
    #[command(flatten)]
    pub(super) common: BoundaryArgs,
}

impl BatchingArgs {
    pub(super) fn config(&self) -> anyhow::Result<BatchingConfig> {
        let d = BatchingConfig::default();
        let (runs, limits) = self.common.resolve(batching::NAME, &d.runs)?;
        Ok(BatchingConfig {
            plugin: self.plugin.clone(),
            items: self.items,
            runs,
            limits,
        })
    }
}

#[derive(Debug, Args)]
pub(super) struct HostFunctionsArgs {
    /// Size of the record's lab values (8 bytes each), e.g. 1MB, 64KB.
    #[arg(long, default_value = "1MB", value_parser = super::bounds::record)]
    pub(super) record_size: u64,
    #[command(flatten)]
    pub(super) common: BoundaryArgs,
}

impl HostFunctionsArgs {
    pub(super) fn config(&self) -> anyhow::Result<HostFunctionsConfig> {
        let d = HostFunctionsConfig::default();
        let (runs, limits) = self.common.resolve(host_functions::NAME, &d.runs)?;
        Ok(HostFunctionsConfig {
            record_bytes: self.record_size,
            runs,
            limits,
        })
    }
}

#[derive(Debug, Args)]
pub(super) struct ComputeArgs {
    /// Image size, WIDTHxHEIGHT.
    #[arg(long, default_value = "1920x1080", value_parser = compute::parse_dimensions)]
    pub(super) image: (u32, u32),
    #[command(flatten)]
    pub(super) common: BoundaryArgs,
}

impl ComputeArgs {
    pub(super) fn config(&self) -> anyhow::Result<ComputeConfig> {
        let d = ComputeConfig::default();
        let (runs, limits) = self.common.resolve(compute::NAME, &d.runs)?;
        Ok(ComputeConfig {
            width: self.image.0,
            height: self.image.1,
            runs,
            limits,
        })
    }
}

#[derive(Debug, Args)]
pub(super) struct CodecsArgs {
    #[command(flatten)]
    pub(super) common: BoundaryArgs,
}

impl CodecsArgs {
    pub(super) fn config(&self) -> anyhow::Result<CodecsConfig> {
        let d = CodecsConfig::default();
        let (runs, limits) = self.common.resolve(codecs::NAME, &d.runs)?;
        Ok(CodecsConfig { runs, limits })
    }
}

#[derive(Debug, Args)]
pub(super) struct CommandArgs {
    /// The command module (.wasm or .wat) [default: the bundled bench-command].
    #[arg(short, long, value_name = "FILE")]
    pub(super) plugin: Option<PathBuf>,
    #[command(flatten)]
    pub(super) wasi: super::common::WasiArgs,
    /// A file the command's stdout must equal, checked on the first and
    /// the last run.
    #[arg(long, value_name = "FILE")]
    pub(super) expect_stdout: Option<PathBuf>,
    /// A file the command's stderr must equal, likewise.
    #[arg(long, value_name = "FILE")]
    pub(super) expect_stderr: Option<PathBuf>,
    /// Also measure N whole cold starts after the runs, each from the
    /// module's bytes: validate, compile, link, instantiate, run.
    #[arg(long, value_name = "N", default_value_t = CommandConfig::default().cold_runs, value_parser = super::bounds::cold_runs)]
    pub(super) cold_runs: u64,
    /// Also keep N instances alive after their runs and read what each
    /// costs in memory (resident, linear memory, heap).
    #[arg(long, value_name = "N", default_value_t = CommandConfig::default().instances, value_parser = super::bounds::command_instances)]
    pub(super) instances: u64,
    #[command(flatten)]
    pub(super) inside: super::common::InsideArgs,
    #[command(flatten)]
    pub(super) common: BoundaryArgs,
}

impl CommandArgs {
    pub(super) fn config(&self) -> anyhow::Result<CommandConfig> {
        let d = CommandConfig::default();
        let (runs, limits) = self.common.resolve(command::NAME, &d.runs)?;
        Ok(CommandConfig {
            plugin: self.plugin.clone(),
            wasi: self.wasi.options(),
            expect_stdout: self.expect_stdout.clone(),
            expect_stderr: self.expect_stderr.clone(),
            cold_runs: self.cold_runs,
            instances: self.instances,
            runs,
            limits,
            inside: self.inside.config(),
        })
    }
}

#[derive(Debug, Args)]
pub(super) struct ComponentArgs {
    /// The component (.wasm or .wat) [default: the bundled transfer-component].
    #[arg(short, long, value_name = "FILE")]
    pub(super) plugin: Option<PathBuf>,
    /// The exported function to call.
    #[arg(short, long, default_value_t = ComponentConfig::default().export)]
    pub(super) export: String,
    /// Its arguments: a JSON array, one value per parameter [default: the
    /// drug checker's request, for the bundled component's check-interactions].
    #[arg(long, value_name = "JSON")]
    pub(super) args: Option<String>,
    /// Also measure N whole cold starts after the calls, each from the
    /// component's bytes: compile, link, instantiate, the first call.
    #[arg(long, value_name = "N", default_value_t = ComponentConfig::default().cold_runs, value_parser = super::bounds::cold_runs)]
    pub(super) cold_runs: u64,
    #[command(flatten)]
    pub(super) inside: super::common::InsideArgs,
    #[command(flatten)]
    pub(super) common: BoundaryArgs,
}

impl ComponentArgs {
    pub(super) fn config(&self) -> anyhow::Result<ComponentConfig> {
        let d = ComponentConfig::default();
        let (runs, limits) = self.common.resolve(component::NAME, &d.runs)?;
        let args = match &self.args {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| anyhow::anyhow!("--args is not JSON: {e}"))?,
            None => d.args,
        };
        Ok(ComponentConfig {
            plugin: self.plugin.clone(),
            export: self.export.clone(),
            args,
            cold_runs: self.cold_runs,
            runs,
            limits,
            inside: self.inside.config(),
        })
    }
}

#[derive(Debug, Args)]
pub(super) struct ConcurrencyArgs {
    #[command(flatten)]
    pub(super) plugin: PluginArgs,
    /// Thread counts, comma-separated, each from 1 to 1024 [default: 1, 2,
    /// 4, ... up to twice the CPUs].
    #[arg(long, value_name = "LIST")]
    pub(super) threads: Option<String>,
    /// How long each design runs at each thread count, over all rounds,
    /// e.g. 1s, 300ms.
    #[arg(long, default_value = "1s", value_parser = super::bounds::point_duration)]
    pub(super) duration_per_point: std::time::Duration,
    /// Rounds the time is split into (every design and thread count once a
    /// round, in a rotating order).
    #[arg(long, default_value_t = ConcurrencyConfig::default().rounds, value_parser = super::bounds::rounds)]
    pub(super) rounds: u64,
    /// Host designs to compare, comma-separated: native, fresh, pooled,
    /// pooled-no-cow, pooled-resident, pooled-wizer, reuse, shared-pool
    /// [default: all].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub(super) designs: Vec<Design>,
    /// Instances in the shared-pool design.
    #[arg(long, default_value_t = ConcurrencyConfig::default().pool_size as u64, value_parser = super::bounds::pool_size)]
    pub(super) pool_size: u64,
    /// Clock: auto (TSC where invariant), tsc, monotonic.
    #[arg(long, default_value_t = ConcurrencyConfig::default().clock)]
    pub(super) clock: ClockChoice,
    /// Requests per thread drawn into the Chrome trace, from each point's
    /// last round.
    #[arg(long, default_value_t = ConcurrencyConfig::default().trace_calls, value_parser = super::bounds::trace_calls)]
    pub(super) trace_calls: u64,
    #[command(flatten)]
    pub(super) record: RecordArgs,
}

impl ConcurrencyArgs {
    pub(super) fn config(&self) -> anyhow::Result<ConcurrencyConfig> {
        let d = ConcurrencyConfig::default();
        let (plugin, input) = self.plugin.specs();
        let threads = match &self.threads {
            Some(t) => {
                concurrency::parse_threads(t).map_err(|e| anyhow::anyhow!("--threads: {e}"))?
            }
            None => d.threads,
        };
        let inside = self.record.inside.config();
        if inside.fuel {
            anyhow::bail!("--fuel: record concurrency has no fuel pass");
        }
        Ok(ConcurrencyConfig {
            plugin,
            export: self.plugin.input.export.clone(),
            input,
            threads,
            duration_per_point: self.duration_per_point,
            rounds: self.rounds,
            designs: if self.designs.is_empty() {
                d.designs
            } else {
                self.designs.clone()
            },
            pool_size: self.pool_size as usize,
            clock: self.clock,
            trace_calls: self.trace_calls,
            limits: self.plugin.input.extism.limits(&self.record.limits),
            // Its own counters (page faults, context switches, syscalls,
            // interrupts) are read around every slice; no counter pass.
            inside: crate::inside::InsideConfig {
                counters: crate::inside::CounterChoice::None,
                ..inside
            },
        })
    }
}
