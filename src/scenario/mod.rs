//! Scenarios: each one file, each turning a plain config into a [`Run`].
//!
//! [`Run`]: crate::run::Run

pub mod batching;
pub mod codecs;
pub mod cold_start;
pub mod command;
pub mod component;
pub mod compute;
pub mod data_transfer;
pub mod host_functions;
pub mod hot_path;
pub(crate) mod inside;
pub mod memory;
pub mod soak;
pub(crate) mod timed;

use crate::host::{CallError, Plugin};
use crate::measure::{Clock, Monotonic};
use crate::phase::Phase;
use crate::run::{Host, PhaseStats, Span};
use crate::stats::Stats;

/// Wasmtime version wprof was built with (read from Cargo.lock by build.rs).
pub const WASMTIME_VERSION: &str = env!("WPROF_WASMTIME_VERSION");

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
    for v in &run.variants {
        let Some(whole) = v.phases.last() else {
            continue;
        };
        let s = &whole.stats;
        if s.mean_ns > 0.0 && s.stddev_ns > s.mean_ns {
            notes.push(format!(
                "warning: noisy: {} {}: the spread exceeds the mean (coefficient of variation {:.0} %): disturbed iterations or several modes; read the percentiles, not the mean",
                v.name,
                whole.phase,
                100.0 * s.stddev_ns / s.mean_ns
            ));
        }
        if let Some(ci) = s.ci.as_ref().filter(|_| s.p50_ns > 0.0) {
            let half = 50.0 * (ci.median_hi_ns - ci.median_lo_ns) / s.p50_ns;
            if half > 3.0 {
                notes.push(format!(
                    "warning: noisy: {} {}: the median is known only within ±{half:.1} % (95 %): the run was disturbed or too short; compare with care",
                    v.name, whole.phase
                ));
            }
        }
    }
    notes
}

/// A run of `scenario` started at `started_at` on this machine, with
/// nothing measured yet: scenarios fill in the rest.
pub(crate) fn new_run(scenario: &str, started_at: String) -> crate::run::Run {
    crate::run::Run {
        schema: crate::run::SCHEMA_VERSION,
        scenario: scenario.to_owned(),
        wprof_version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at,
        host: host_info(),
        ..crate::run::Run::default()
    }
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

/// Per-phase statistics from clock stamps: `rows` holds one row per
/// iteration of `phases.len() + 1` stamps (one before the first phase and
/// one after each). The row for `whole`, first stamp to last, comes last.
pub(crate) fn phase_stats(
    rows: &[u64],
    phases: &[Phase],
    whole: Phase,
    ns_per_tick: f64,
) -> Vec<PhaseStats> {
    let w = phases.len() + 1;
    let n = rows.len() / w;
    let mut samples = vec![0.0f64; n];
    let mut stats_of = |k0: usize, k1: usize| {
        for (s, row) in samples.iter_mut().zip(rows.chunks_exact(w)) {
            *s = (row[k1] - row[k0]) as f64 * ns_per_tick;
        }
        Stats::from_samples(&mut samples)
    };
    let Some(total) = stats_of(0, w - 1) else {
        return Vec::new();
    };
    let share = |s: &Stats| {
        if total.mean_ns > 0.0 {
            100.0 * s.mean_ns / total.mean_ns
        } else {
            0.0
        }
    };
    let mut out: Vec<PhaseStats> = Vec::with_capacity(w);
    for (k, &phase) in phases.iter().enumerate() {
        if let Some(stats) = stats_of(k, k + 1) {
            out.push(PhaseStats {
                phase,
                share_pct: share(&stats),
                stats,
            });
        }
    }
    out.push(PhaseStats {
        phase: whole,
        share_pct: 100.0,
        stats: total,
    });
    out
}

/// Timeline spans of `count` iterations spread evenly over `rows` (laid out
/// as for [`phase_stats`]): each iteration's `whole`, then its phases.
/// `bytes` (in, out) label the spans that move the input or the output.
#[allow(clippy::too_many_arguments)]
pub(crate) fn spans(
    rows: &[u64],
    phases: &[Phase],
    whole: Phase,
    track: &str,
    count: u64,
    origin: u64,
    ns_per_tick: f64,
    bytes: (u64, u64),
) -> Vec<Span> {
    let w = phases.len() + 1;
    let n = rows.len() / w;
    let count = (count as usize).min(n);
    let mut out = Vec::with_capacity(count * w);
    let ns = |t: u64| t.saturating_sub(origin) as f64 * ns_per_tick;
    for j in 0..count {
        let i = j * n / count;
        let row = &rows[i * w..(i + 1) * w];
        let span = |phase: Phase, a: u64, b: u64| Span {
            track: track.to_owned(),
            phase,
            start_ns: ns(a),
            dur_ns: (b - a) as f64 * ns_per_tick,
            iteration: i as u64,
            bytes_in: (phase.is_whole() || matches!(phase, Phase::Encode | Phase::CopyIn))
                .then_some(bytes.0),
            bytes_out: (phase.is_whole() || matches!(phase, Phase::CopyOut | Phase::Decode))
                .then_some(bytes.1),
        };
        out.push(span(whole, row[0], row[w - 1]));
        for (k, &phase) in phases.iter().enumerate() {
            out.push(span(phase, row[k], row[k + 1]));
        }
    }
    out
}

/// A plugin made ready to call: what every scenario does first, so that bad
/// input fails the same way, with the same one-line errors, everywhere.
pub(crate) struct Prepared {
    /// The plugin's bytes and where they came from.
    pub(crate) plugin: crate::source::PluginBytes,
    /// Compiled with a default engine (read, validate and compile timed).
    pub(crate) loaded: crate::host::Loaded,
    /// The export to call.
    pub(crate) export: String,
    /// The input, encoded as the plugin receives it.
    pub(crate) input: Vec<u8>,
    /// An instance, its store bounded by the given limits.
    pub(crate) instance: Plugin,
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
    }
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

/// Resolves, loads and instantiates a plugin and encodes its input, after
/// one guarded call (stopped at the deadline) proves the plugin returns.
pub(crate) fn prepare(
    plugin: &crate::source::PluginSpec,
    export: Option<&str>,
    input: &crate::source::InputSpec,
    limits: crate::host::Limits,
) -> Result<Prepared, crate::Error> {
    let plugin = plugin.resolve()?;
    let name = plugin.name.clone();
    let engine = wasmtime::Engine::default();
    let loaded = crate::host::load(
        &name,
        &engine,
        &plugin.bytes,
        plugin.read.clone().into_iter().collect(),
    )?;
    let export = crate::host::choose_export(&name, export, plugin.bundled, &loaded.module)?;
    let input = if crate::extism::is_extism(&loaded.module) {
        input.raw(&plugin)?
    } else {
        serde_json::to_vec(&input.load(&plugin)?)
            .map_err(|e| crate::Error::plugin(&name, Phase::Encode, e.to_string()))?
    };
    crate::host::guarded_call(&name, &plugin.bytes, &export, &input, limits.clone())?;
    let instance = Plugin::limited(&engine, &loaded.module, &export, limits)
        .map_err(|e| crate::host::at(Phase::Instantiate)(e).into_error(&name))?;
    Ok(Prepared {
        plugin,
        loaded,
        export,
        input,
        instance,
    })
}

/// Clock stamps at phase boundaries, back to back, and in a counter or
/// sampling pass whatever else each boundary does.
pub(crate) struct Recorder<'c> {
    pub(crate) clock: &'c Monotonic,
    pub(crate) stamps: Vec<u64>,
    pub(crate) probe: Probe<'c>,
}

/// What a [`Recorder`] does at each mark besides reading the clock.
// One per pass, on the stack: its size costs nothing, a box would cost a
// pointer chase at every mark of the counter pass.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Probe<'c> {
    /// Nothing: the timing pass.
    None,
    /// Reads perf counters into per-phase sums: the counter pass.
    Counters(crate::measure::Tally<'c>),
    /// Says which phase runs, for the guest sampler: `phases[pos]` starts
    /// at the mark, and after the last phase none runs.
    Phases {
        cell: &'c crate::measure::guest::GuestHandle,
        phases: &'static [Phase],
        pos: usize,
    },
}

impl<'c> Recorder<'c> {
    /// A recorder for the timing pass.
    pub(crate) fn new(clock: &'c Monotonic, stamps: Vec<u64>) -> Recorder<'c> {
        Recorder {
            clock,
            stamps,
            probe: Probe::None,
        }
    }

    /// Marks a phase boundary. Callers reserve the vector's capacity up
    /// front, so this never allocates.
    #[inline(always)]
    pub(crate) fn mark(&mut self) {
        self.stamps.push(self.clock.now());
        match &mut self.probe {
            Probe::None => {}
            Probe::Counters(t) => t.mark(),
            Probe::Phases { cell, phases, pos } => {
                cell.set(phases.get(*pos).copied());
                *pos = (*pos + 1) % (phases.len() + 1);
            }
        }
    }
}

/// The phases of [`marked_call`].
pub(crate) const CALL_PHASES: [Phase; 4] =
    [Phase::CopyIn, Phase::Execute, Phase::CopyOut, Phase::Free];

/// One call on an encoded input: copy-in, execute, copy-out, free, each
/// followed by a mark (the caller marks the start).
#[inline(always)]
pub(crate) fn marked_call(
    p: &mut Plugin,
    input: &[u8],
    rec: &mut Recorder,
) -> Result<(), CallError> {
    let buf = p.copy_in(input)?;
    rec.mark();
    let packed = p.execute(buf)?;
    rec.mark();
    let out = p.copy_out(packed)?;
    rec.mark();
    p.free(out)?;
    rec.mark();
    Ok(())
}
