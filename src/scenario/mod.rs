//! Scenarios: each one file, each turning a plain config into a [`Run`].
//!
//! [`Run`]: crate::run::Run

pub mod batching;
pub mod codecs;
pub mod cold_start;
pub mod command;
pub mod component;
pub mod compute;
pub mod concurrency;
pub mod data_transfer;
pub mod engines;
pub mod host_functions;
pub mod hot_path;
pub mod memory;
pub(crate) mod overhead;
pub mod runner;
pub mod soak;

pub(crate) use crate::timing::budget::Budget;

use crate::driver::wasmtime::{Abi, WasmtimeDriver};
use crate::driver::{Driver, Instance, Limits};
use crate::error::Error;
use crate::phase::Phase;
use crate::run::{Host, PhaseTime, Run};
use crate::source::{InputSpec, PluginBytes, PluginSpec};

/// Wasmtime version wprof was built with.
pub const WASMTIME_VERSION: &str = crate::driver::wasmtime::VERSION;

/// The names of all scenarios, as given to `wprof record`.
pub const NAMES: &[&str] = &[
    hot_path::NAME,
    cold_start::NAME,
    memory::NAME,
    soak::NAME,
    data_transfer::NAME,
    batching::NAME,
    host_functions::NAME,
    compute::NAME,
    codecs::NAME,
    command::NAME,
    component::NAME,
    concurrency::NAME,
    engines::NAME,
];

/// Describes this machine for a run.
pub fn host_info() -> Host {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    });
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    // intel_pstate says no_turbo; acpi-cpufreq says boost.
    let turbo = read("/sys/devices/system/cpu/intel_pstate/no_turbo")
        .map(|v| v == "0")
        .or_else(|| read("/sys/devices/system/cpu/cpufreq/boost").map(|v| v == "1"));
    Host {
        os: std::env::consts::OS.to_owned(),
        arch: std::env::consts::ARCH.to_owned(),
        cpu,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        wasmtime: WASMTIME_VERSION.to_owned(),
        kernel: read("/proc/sys/kernel/osrelease"),
        governor: read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        turbo,
        load_average: load_average(),
    }
}

/// The one-minute load average, where readable.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Warnings a reader needs before trusting `run`'s figures: a busy machine
/// (load above the CPUs there are), a whole iteration whose coefficient of
/// variation is over 100 %, or whose median is known only within more than
/// +/-3 % (a disturbed or too short run).
pub fn noise_notes(run: &crate::run::Run) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(load) = load_average()
        && load > run.host.cpus as f64
    {
        notes.push(format!(
            "warning: the machine looks busy: load average {load:.2} on {} CPUs; timings may be inflated and noisy",
            run.host.cpus
        ));
    }
    // One line per kind, naming every variant it holds for: a run of 24
    // variants must not print 24 near-identical warnings.
    let (mut spread, mut wide) = (Vec::new(), Vec::new());
    for v in &run.variants {
        let Some(whole) = v.phases.last() else {
            continue;
        };
        let s = &whole.stats;
        if s.mean_ns > 0.0 && s.stddev_ns > s.mean_ns {
            spread.push(format!(
                "{} {} ({:.0} %)",
                v.name,
                whole.phase,
                100.0 * s.stddev_ns / s.mean_ns
            ));
        }
        if let Some(half) = s.median_half_pct()
            && half > 3.0
        {
            wide.push(format!("{} {} (±{half:.1} %)", v.name, whole.phase));
        }
    }
    if !spread.is_empty() {
        notes.push(format!(
            "warning: noisy ({}x): the spread exceeds the mean (coefficient of variation): {}: disturbed iterations or several modes; read the percentiles, not the mean",
            spread.len(),
            first_few(&spread)
        ));
    }
    if !wide.is_empty() {
        notes.push(format!(
            "warning: noisy ({}x): the median is known only within more than ±3 % (95 %): {}: the run was disturbed or too short; compare with care",
            wide.len(),
            first_few(&wide)
        ));
    }
    notes
}

/// The first four of `items`, and how many more: a warning line stays
/// readable with 24 variants (each one's interval is in its table).
fn first_few(items: &[String]) -> String {
    const FEW: usize = 4;
    let mut text = items[..items.len().min(FEW)].join(", ");
    if items.len() > FEW {
        text.push_str(&format!(" and {} more", items.len() - FEW));
    }
    text
}

/// A run of `scenario` on this machine, started now, with nothing measured
/// yet: scenarios fill in the rest.
pub(crate) fn new_run(scenario: &str) -> crate::run::Run {
    crate::run::Run {
        schema: crate::run::SCHEMA_VERSION,
        scenario: scenario.to_owned(),
        wprof_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: now_rfc3339(),
        host: host_info(),
        ..crate::run::Run::default()
    }
}

/// Runs a scenario's `body`, its run stamped with when it started and how
/// long it took, setup and warm-up included.
pub(crate) fn stamped(body: impl FnOnce() -> Result<Run, Error>) -> Result<Run, Error> {
    let started_at = now_rfc3339();
    let wall = std::time::Instant::now();
    let mut run = body()?;
    run.started_at = started_at;
    run.wall_s = wall.elapsed().as_secs_f64();
    Ok(run)
}

/// A run's settings map from `(name, value)` pairs.
pub(crate) fn settings<const N: usize>(
    pairs: [(&str, serde_json::Value); N],
) -> std::collections::BTreeMap<String, serde_json::Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// Now, as RFC 3339 UTC to the second.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// The run's description of the plugin `name`: its `bytes`, read from
/// `source`, called through `export`.
pub(crate) fn plugin_info(
    name: &str,
    source: &str,
    bytes: &[u8],
    export: &str,
    input_bytes: u64,
    output_bytes: u64,
) -> crate::run::PluginInfo {
    crate::run::PluginInfo {
        name: name.to_owned(),
        source: source.to_owned(),
        size_bytes: bytes.len() as u64,
        sha256: sha256(bytes),
        export: export.to_owned(),
        input_bytes,
        output_bytes,
        outputs_identical: None,
        output_checked: None,
    }
}

/// [`plugin_info`] for a plugin read from its spec.
pub(crate) fn info_of(
    plugin: &crate::source::PluginBytes,
    export: &str,
    input_bytes: u64,
    output_bytes: u64,
) -> crate::run::PluginInfo {
    plugin_info(
        &plugin.name,
        &plugin.source,
        &plugin.bytes,
        export,
        input_bytes,
        output_bytes,
    )
}

/// SHA-256 of `bytes`, hex.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A temporary directory for a scenario's scratch files (removed on drop).
pub(crate) fn scratch_dir(prefix: &str) -> Result<tempfile::TempDir, crate::Error> {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| crate::Error::Config(format!("cannot create a scratch directory: {e}")))
}

/// What a scenario of one plugin was asked to run.
pub(crate) struct Asked<'a> {
    /// The plugin.
    pub(crate) plugin: &'a PluginSpec,
    /// The export to call, if given.
    pub(crate) export: Option<&'a str>,
    /// The input.
    pub(crate) input: &'a InputSpec,
    /// The limits of its stores, and the per-call deadline.
    pub(crate) limits: &'a Limits,
}

/// A scenario of one plugin (hot path, cold start, memory, soak): told
/// the plugin it was asked to run, handed it prepared, through the driver
/// for its calling convention.
pub(crate) trait OnePlugin {
    /// What it was asked to run.
    fn asked(&self) -> Asked<'_>;
    /// Refuses settings it cannot run, before the plugin is read.
    fn check(&self) -> Result<(), Error> {
        Ok(())
    }
    /// The scenario, on the plugin prepared for calling convention `A`.
    fn run_prepared<A: Abi>(&self, p: Prepared<A>) -> Result<Run, Error>;
}

/// `asked()` for a config with `plugin`, `export`, `input` and `limits`
/// fields, as the scenarios of one plugin have.
macro_rules! asked_from_fields {
    () => {
        fn asked(&self) -> $crate::scenario::Asked<'_> {
            $crate::scenario::Asked {
                plugin: &self.plugin,
                export: self.export.as_deref(),
                input: &self.input,
                limits: &self.limits,
            }
        }
    };
}
pub(crate) use asked_from_fields;

/// Runs a scenario of one plugin: its settings checked, the plugin read,
/// prepared through its calling convention's driver, its later calls
/// watched against the deadline, the run stamped.
pub(crate) fn run_plugin<S: OnePlugin>(s: &S) -> Result<Run, Error> {
    s.check()?;
    let a = s.asked();
    stamped(|| {
        let plugin = a.plugin.resolve()?;
        crate::driver::with_abi!(crate::kind::abi(&plugin.bytes), A => {
            let p = {
                let _stage = crate::stages::stage("setup: read, validate, compile, instantiate", 0, 0);
                prepare::<A>(plugin, a.export, a.input, a.limits)?
            };
            let _watch = crate::watchdog::watch(&p.plugin.name, a.limits.deadline);
            s.run_prepared(p)
        })
    })
}

/// A plugin made ready to call: what every scenario of one plugin does
/// first, so that bad input fails the same way, with the same one-line
/// errors, everywhere.
pub(crate) struct Prepared<A: Abi> {
    /// The plugin's bytes and where they came from.
    pub(crate) plugin: PluginBytes,
    /// The compiled module.
    pub(crate) module: wasmtime::Module,
    /// Read (for a file), validate, compile and instantiate, timed once.
    pub(crate) setup: Vec<PhaseTime>,
    /// The export to call.
    pub(crate) export: String,
    /// The input as the plugin receives it (encoded, for the wprof ABI).
    pub(crate) input: Vec<u8>,
    /// The input as a host value, for a plugin that takes JSON.
    pub(crate) value: Option<serde_json::Value>,
    /// What one guarded call (in a fresh instance) returned.
    pub(crate) first: crate::driver::guard::Called,
    /// An instance, its store bounded by the given limits.
    pub(crate) instance: A::Instance,
}

/// Loads `plugin` on a default engine, chooses its export, encodes its
/// input, proves with one guarded call (stopped at the deadline) that it
/// returns, and instantiates it.
pub(crate) fn prepare<A: Abi>(
    plugin: PluginBytes,
    export: Option<&str>,
    input: &InputSpec,
    limits: &Limits,
) -> Result<Prepared<A>, Error> {
    let given = export.or(plugin.bundled.map(|b| b.export));
    prepare_with::<A>(plugin, given, limits, |plugin| {
        if A::JSON {
            let value = input.load(plugin)?;
            let bytes = serde_json::to_vec(&value)
                .map_err(|e| Error::plugin(&plugin.name, Phase::Encode, e.to_string()))?;
            Ok((bytes, Some(value)))
        } else {
            Ok((input.raw(plugin)?, None))
        }
    })
}

/// [`prepare`], the input (encoded, and as a host value for JSON) given by
/// `input`: also how a second build of a plugin is made ready to take the
/// first one's input.
pub(crate) fn prepare_with<A: Abi>(
    plugin: PluginBytes,
    export: Option<&str>,
    limits: &Limits,
    input: impl FnOnce(&PluginBytes) -> Result<(Vec<u8>, Option<serde_json::Value>), Error>,
) -> Result<Prepared<A>, Error> {
    let name = plugin.name.clone();
    let driver = WasmtimeDriver::<A>::default();
    let mut setup: Vec<PhaseTime> = plugin.read.clone().into_iter().collect();
    let module = driver.load(&name, &plugin.bytes, &mut setup)?;
    let export = driver.choose_export(&name, export, &module)?;
    let (input, value) = input(&plugin)?;
    let first =
        crate::driver::guard::guarded_call::<A>(&name, &plugin.bytes, &export, &input, limits)?;
    let instance = crate::driver::timed(&mut setup, Phase::Instantiate, || {
        driver.instantiate(&module, &export, limits)
    })
    .map_err(|e| e.into_error(&name))?;
    Ok(Prepared {
        plugin,
        module,
        setup,
        export,
        input,
        value,
        first,
        instance,
    })
}

/// The reference output: one call of the prepared instance.
pub(crate) fn reference_output<I: Instance>(
    instance: &mut I,
    input: &[u8],
    plugin: &str,
) -> Result<Vec<u8>, Error> {
    instance.call(input).map_err(|e| e.into_error(plugin))?;
    Ok(instance.output().to_vec())
}
