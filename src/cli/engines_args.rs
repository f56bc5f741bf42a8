//! `wprof record engines`' arguments, turned into an [`EnginesConfig`].

use clap::Args;

use super::common::*;
use crate::scenario::engines::{EnginesConfig, Subject};
use crate::timing::ClockChoice;

#[derive(Debug, Args)]
pub(super) struct EnginesArgs {
    /// Bundled plugin name (drug-checker, redactor), `blur` (the compute
    /// plugin on a generated image, --image), or a path to a .wasm/.wat
    /// module.
    #[arg(short, long, default_value = "drug-checker")]
    pub(super) plugin: String,
    #[command(flatten)]
    pub(super) input: InputArgs,
    /// Engines to run, comma-separated: cranelift, winch, pulley, wasmi
    /// (built in by the `wasmi` feature), v8, wasmer, wasmer-singlepass
    /// (their own build) [default: all].
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub(super) engines: Vec<String>,
    /// How long each engine is called for, over all rounds, e.g. 1s, 300ms.
    #[arg(long, default_value = "1s", value_parser = super::bounds::engine_duration)]
    pub(super) duration_per_engine: std::time::Duration,
    /// Rounds the time is split into (every engine once a round, in a
    /// rotating order).
    #[arg(long, default_value_t = EnginesConfig::default().rounds, value_parser = super::bounds::rounds)]
    pub(super) rounds: u64,
    /// Cold starts per engine (each a module compiled again).
    #[arg(long, default_value_t = EnginesConfig::default().cold_starts, value_parser = super::bounds::engine_cold_starts)]
    pub(super) cold_starts: u64,
    /// Instances each engine makes and keeps for its memory per instance.
    #[arg(long, default_value_t = EnginesConfig::default().instances, value_parser = super::bounds::engine_instances)]
    pub(super) instances: u64,
    /// The blur's image size, WIDTHxHEIGHT (with --plugin blur).
    #[arg(long, default_value = "64x64", value_parser = crate::scenario::compute::parse_dimensions)]
    pub(super) image: (u32, u32),
    /// Clock: auto (TSC where invariant), tsc, monotonic.
    #[arg(long, default_value_t = EnginesConfig::default().clock)]
    pub(super) clock: ClockChoice,
    #[command(flatten)]
    pub(super) limits: LimitArgs,
    #[command(flatten)]
    pub(super) output: OutputArgs,
}

impl EnginesArgs {
    pub(super) fn config(&self) -> anyhow::Result<EnginesConfig> {
        let d = EnginesConfig::default();
        Ok(EnginesConfig {
            subject: Subject::parse(&self.plugin, self.image),
            export: self.input.export.clone(),
            input: self.input.spec(),
            engines: if self.engines.is_empty() {
                d.engines
            } else {
                self.engines.clone()
            },
            duration_per_engine: self.duration_per_engine,
            rounds: self.rounds,
            cold_starts: self.cold_starts,
            instances: self.instances,
            clock: self.clock,
            limits: self.input.extism.limits(&self.limits),
        })
    }
}
