//! Memory (the seed's Scenario 3): what the engine, a ready module, one
//! instance, 1000 calls and N instances cost in resident memory, per variant
//! (JIT or AOT module, default or pooling allocator, and the native build),
//! and what each extra instance costs, split into linear memory, host heap
//! and the rest.
//!
//! Each variant runs in a fresh child process (`wprof` re-executing itself),
//! so that what one variant allocated and freed cannot hide in another's
//! readings: freed heap is rarely returned to the kernel.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::json;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Module, PoolingAllocationConfig};

use crate::error::{Error, one_line};
use crate::export::fmt_bytes;
use crate::host::{self, Limits, Plugin};
use crate::measure::guest::GuestSampler;
use crate::measure::host_sampler::HostSampler;
use crate::measure::perf::PerfCounters;
use crate::measure::{CounterChoice, InsideConfig, Meter, Sampler, memory};
use crate::phase::Phase;
use crate::run::{
    ClockInfo, CounterInfo, CounterSample, MemoryPoint, MemoryProfile, PerInstance, PhaseCounts,
    Profile, Run, Variant,
};
use crate::source::{InputSpec, PluginSpec};

/// Scenario name, as in `wprof record memory`.
pub const NAME: &str = "memory";

/// The hidden subcommand a variant's child process runs.
pub const PROBE_COMMAND: &str = "__memory-probe";

/// One way of holding the plugin in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Compiled by Cranelift in the process, default (on-demand) allocator.
    Jit,
    /// Loaded from a precompiled .cwasm by mapping it, default allocator.
    Aot,
    /// Loaded as `Aot`, instantiated from the pooling allocator with
    /// copy-on-write memory images.
    Pooling,
    /// The native build of the same source, linked into wprof.
    Native,
}

impl Mode {
    /// Every mode, in report order.
    pub const ALL: [Mode; 4] = [Mode::Jit, Mode::Aot, Mode::Pooling, Mode::Native];

    fn name(self) -> &'static str {
        match self {
            Mode::Jit => "jit",
            Mode::Aot => "aot",
            Mode::Pooling => "pooling",
            Mode::Native => "native",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Mode::Jit => "module compiled in-process by Cranelift; default allocator",
            Mode::Aot => "module mapped from a precompiled .cwasm; default allocator",
            Mode::Pooling => {
                "module mapped from a precompiled .cwasm; pooling allocator with copy-on-write memory images"
            }
            Mode::Native => "the same Rust source linked into wprof",
        }
    }
}

/// Settings of `record memory`.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryConfig {
    /// Plugin to run. Default: the bundled drug-checker.
    pub plugin: PluginSpec,
    /// Export to call. Default: the bundled plugin's, else the module's only
    /// export with the wprof call signature.
    pub export: Option<String>,
    /// Input. Default: the bundled plugin's input.json.
    pub input: InputSpec,
    /// Instances to hold at once, each in its own Store. Default: 100.
    pub instances: u64,
    /// Calls on the first instance before the "1000 calls" reading. Default: 1000.
    pub calls: u64,
    /// What each instance may grow to and return, and the per-call
    /// deadline. Default: [`Limits::default`].
    pub limits: Limits,
    /// Counters read in each probe, and samplers. Default: all counters.
    pub inside: InsideConfig,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            plugin: PluginSpec::default(),
            export: None,
            input: InputSpec::Default,
            instances: 100,
            calls: 1000,
            limits: Limits::default(),
            inside: InsideConfig::default(),
        }
    }
}

/// What a child process is asked to do (passed as JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Probe {
    mode: Mode,
    /// The binary module.
    wasm: PathBuf,
    /// The precompiled module, for aot and pooling.
    cwasm: Option<PathBuf>,
    /// The bundled plugin, for native.
    bundled: Option<String>,
    export: String,
    /// The encoded input.
    input: PathBuf,
    instances: u64,
    calls: u64,
    limits: Limits,
    /// The plugin's name, for the watchdog's message.
    plugin: String,
    /// Perf counters to read at each reading (empty: all); `None`: none.
    #[serde(default)]
    counters: Option<Vec<String>>,
    /// A sampler to run over the whole probe (`guest` or `host`), at `hz`.
    #[serde(default)]
    sample: Option<(String, u32)>,
}

/// Perf counters read in a child: the difference between consecutive
/// readings, each step measured from after one memory reading to before
/// the next.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildCounters {
    /// Counters read.
    pub names: Vec<String>,
    /// Counters that could not be opened, with why.
    pub unavailable: Vec<crate::run::Unavailable>,
    /// `(label of the reading that ends the step, counts in the step)`.
    pub steps: Vec<(String, Vec<u64>)>,
}

/// What a child process reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeAnswer {
    /// The readings.
    pub profile: MemoryProfile,
    /// Distinct linear memories (by base address) alive at the last reading.
    pub live_memories: u64,
    /// Instances the pooling allocator had live at the last reading
    /// (Wasmtime's own count), for the pooling variant.
    pub pool_live_instances: Option<u64>,
    /// Perf counters per step, where asked.
    #[serde(default)]
    pub counters: Option<ChildCounters>,
    /// The sampler's stacks, where one ran.
    #[serde(default)]
    pub profile_run: Option<crate::run::Profile>,
    /// Nanoseconds from the first reading to the last.
    #[serde(default)]
    pub wall_ns: f64,
}

/// Runs one variant in this process and returns its readings: what the
/// hidden `__memory-probe` subcommand does.
pub fn probe(p: &Probe) -> anyhow::Result<ProbeAnswer> {
    let _watch = crate::watchdog::watch_child(&p.plugin, p.limits.deadline);
    let input = std::fs::read(&p.input)?;
    let bytes = std::fs::read(&p.wasm)?;
    let mut meter = p.counters.as_ref().map(|names| PerfCounters::open(names));
    let mut child_counters = meter.as_ref().map(|m| match m {
        Ok(m) => ChildCounters {
            names: m.names().iter().map(|n| (*n).to_owned()).collect(),
            unavailable: m
                .refused()
                .iter()
                .map(|r| crate::run::Unavailable {
                    name: r.name.to_owned(),
                    reason: r.reason.clone(),
                })
                .collect(),
            steps: Vec::new(),
        },
        Err(reason) => ChildCounters {
            names: Vec::new(),
            unavailable: crate::measure::perf::all_names()
                .into_iter()
                .map(|n| crate::run::Unavailable {
                    name: n.to_owned(),
                    reason: reason.clone(),
                })
                .collect(),
            steps: Vec::new(),
        },
    });
    let mut last = vec![0u64; crate::measure::MAX_COUNTERS];
    let mut cur = last.clone();
    let (mut guest, mut host) = (None, None);
    match &p.sample {
        Some((which, hz)) if which == "guest" => {
            guest = Some(GuestSampler::new(
                *hz,
                &format!("{NAME};{}", p.mode.name()),
                &[Phase::Call],
            ))
        }
        Some((_, hz)) => host = Some(HostSampler::new(*hz, &format!("{NAME};{}", p.mode.name()))),
        None => {}
    }
    let handle = guest.as_ref().map(GuestSampler::handle);
    let sampler: Option<&mut dyn Sampler> = match (&mut guest, &mut host) {
        (Some(g), _) => Some(g),
        (_, Some(h)) => Some(h),
        _ => None,
    };
    if let Some(s) = sampler {
        s.resume()?;
    }
    let started = Instant::now();
    let mut points = Vec::new();
    let mut point = |label: &str, instances: u64, calls: u64| -> anyhow::Result<MemoryPoint> {
        if let (Some(Ok(m)), Some(c)) = (meter.as_mut(), child_counters.as_mut()) {
            let n = m.names().len();
            m.read(&mut cur[..n]);
            if !points.is_empty() {
                let d = cur[..n]
                    .iter()
                    .zip(&last)
                    .map(|(a, b)| a.wrapping_sub(*b))
                    .collect();
                c.steps.push((label.to_owned(), d));
            }
        }
        let mut m = memory::read(label)?;
        m.t_ns = started.elapsed().as_nanos() as f64;
        m.instances = instances;
        m.calls = calls;
        points.push(m.clone());
        if let Some(Ok(m)) = meter.as_mut() {
            let n = m.names().len();
            m.read(&mut last[..n]);
        }
        Ok(m)
    };
    point("start", 0, 0)?;
    if p.mode == Mode::Native {
        let b = p
            .bundled
            .as_deref()
            .and_then(crate::bundled::by_name)
            .ok_or_else(|| anyhow!("no native build"))?;
        let out = (b.native)(&input).map_err(|e| anyhow!("native build: {e}"))?;
        drop(std::hint::black_box(out));
        point("1 call", 0, 1)?;
        for _ in 1..p.calls {
            let out = (b.native)(&input).map_err(|e| anyhow!("native build: {e}"))?;
            drop(std::hint::black_box(out));
        }
        point(&format!("{} calls", p.calls), 0, p.calls)?;
        let wall_ns = started.elapsed().as_nanos() as f64;
        return Ok(ProbeAnswer {
            profile: MemoryProfile {
                points,
                ..MemoryProfile::default()
            },
            live_memories: 0,
            pool_live_instances: None,
            counters: child_counters,
            profile_run: finish(guest, host)?,
            wall_ns,
        });
    }

    let mut config = match (&handle, &host) {
        (Some(_), _) => super::inside::config(super::inside::Instrument::Epoch),
        (_, Some(_)) => super::inside::config(super::inside::Instrument::PerfMap),
        _ => Config::new(),
    };
    if p.mode == Mode::Pooling {
        let slots = u32::try_from(p.instances).context("too many instances for a pool")?;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(slots)
            .total_memories(slots)
            .total_tables(slots)
            .max_memory_size(p.limits.memory_bytes.unwrap_or(1 << 32));
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        config.memory_init_cow(true);
    }
    let engine = Engine::new(&config).map_err(|e| anyhow!("engine: {}", one_line(&e.into())))?;
    let load_phase = if p.cwasm.is_some() {
        Phase::Deserialize
    } else {
        Phase::Compile
    };
    point("engine", 0, 0)?;
    let module = match &p.cwasm {
        // SAFETY: the parent wrote this file with this wprof's own engine
        // settings, moments ago.
        Some(cwasm) => unsafe { Module::deserialize_file(&engine, cwasm) },
        None => Module::from_binary(&engine, &bytes),
    }
    .map_err(|e| anyhow!("{load_phase}: {}", one_line(&e.into())))?;
    drop(bytes);
    point("module ready", 0, 0)?;
    let limits = p.limits.clone();
    let pre = if p.mode == Mode::Pooling {
        Some(
            crate::host::linker(&engine, &module)
                .and_then(|l| Ok(l.instantiate_pre(&module)?))
                .map_err(|e| anyhow!("link: {}", one_line(&e)))?,
        )
    } else {
        None
    };
    let phase = |ph: Option<Phase>| {
        if let Some(h) = &handle {
            h.set(ph);
        }
    };
    let instantiate = || {
        phase(Some(Phase::Instantiate));
        let mut plugin = match &pre {
            Some(pre) => Plugin::from_pre(pre, &p.export, limits.clone()),
            None => Plugin::limited(&engine, &module, &p.export, limits.clone()),
        }
        .map_err(|e| anyhow!("instantiate: {}", one_line(&e)))?;
        if let Some(h) = &handle {
            h.attach(plugin.store_mut());
        }
        phase(None);
        Ok::<_, anyhow::Error>(plugin)
    };
    let call = |plugin: &mut Plugin| -> anyhow::Result<()> {
        let once = |plugin: &mut Plugin| -> Result<(), host::CallError> {
            let buf = plugin.copy_in(&input)?;
            let packed = plugin.execute(buf)?;
            let out = plugin.copy_out(packed)?;
            plugin.free(out)
        };
        phase(Some(Phase::Call));
        let r = once(plugin).map_err(|e| anyhow!("{}: {}", e.phase, one_line(&e.error)));
        phase(None);
        r
    };
    let mut first = instantiate()?;
    call(&mut first)?;
    point("1 instance", 1, 1)?;
    for _ in 1..p.calls {
        call(&mut first)?;
    }
    let before = point(&format!("{} calls", p.calls), 1, p.calls)?;
    let mut more = Vec::with_capacity(p.instances as usize);
    for _ in 1..p.instances {
        let mut plugin = instantiate()?;
        call(&mut plugin)?;
        more.push(plugin);
    }
    let after = point(
        &format!("{} instances", p.instances),
        p.instances,
        p.calls + p.instances - 1,
    )?;
    let per_instance = (!more.is_empty()).then(|| -> anyhow::Result<PerInstance> {
        let n = more.len() as f64;
        let mut resident = 0u64;
        let mut size = 0u64;
        for plugin in &more {
            let (ptr, len) = plugin.linear_memory();
            resident += memory::resident_bytes(ptr, len)?;
            size += len as u64;
        }
        let rss = (after.rss_bytes as f64 - before.rss_bytes as f64) / n;
        let linear = resident as f64 / n;
        let heap = match (after.heap_bytes, before.heap_bytes) {
            (Some(a), Some(b)) => Some((a as f64 - b as f64) / n),
            _ => None,
        };
        Ok(PerInstance {
            instances: more.len() as u64,
            rss_bytes: rss,
            linear_resident_bytes: linear,
            heap_bytes: heap,
            other_bytes: heap.map(|h| rss - linear - h),
            linear_size_bytes: size as f64 / n,
            virtual_bytes: (after.virtual_bytes as f64 - before.virtual_bytes as f64) / n,
        })
    });
    let per_instance = per_instance.transpose()?;
    let bases: std::collections::BTreeSet<usize> = std::iter::once(&first)
        .chain(&more)
        .map(|p| p.linear_memory().0 as usize)
        .collect();
    let pool_live_instances = engine
        .pooling_allocator_metrics()
        .map(|m| m.core_instances());
    drop(more);
    drop(first);
    let wall_ns = started.elapsed().as_nanos() as f64;
    if host.is_some() {
        let _ = std::fs::remove_file(crate::measure::host_sampler::perf_map_path());
    }
    Ok(ProbeAnswer {
        profile: MemoryProfile {
            points,
            per_instance,
            code_bytes: Some(module.text().len() as u64),
        },
        live_memories: bases.len() as u64,
        pool_live_instances,
        counters: child_counters,
        profile_run: finish(guest, host)?,
        wall_ns,
    })
}

/// The profile of whichever sampler ran.
fn finish(
    guest: Option<GuestSampler>,
    host: Option<HostSampler>,
) -> anyhow::Result<Option<crate::run::Profile>> {
    match (guest, host) {
        (Some(g), _) => Box::new(g).finish().map(Some),
        (_, Some(h)) => Box::new(h).finish().map(Some),
        _ => Ok(None),
    }
}

/// A rough upper bound of what one instance takes, for the refusal check:
/// its initial linear memory, touched, plus runtime structures.
fn estimate_per_instance(module: &Module) -> u64 {
    let initial: u64 = module
        .exports()
        .filter_map(|e| e.ty().memory().map(|m| m.minimum() * 65536))
        .sum();
    initial + (64 << 10)
}

/// Memory the kernel says is available, in bytes.
fn available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs a variant in a child process of this same binary.
fn run_child(p: &Probe) -> anyhow::Result<ProbeAnswer> {
    let exe = std::env::current_exe().context("cannot find wprof's own binary")?;
    let out = std::process::Command::new(exe)
        .arg(PROBE_COMMAND)
        .arg(serde_json::to_string(p)?)
        .output()
        .context("cannot start a child wprof")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err.lines().last().unwrap_or("no message");
        bail!(
            "{}",
            line.strip_prefix("wprof: error: ").unwrap_or(line).trim()
        );
    }
    serde_json::from_slice(&out.stdout).context("the child's readings")
}

/// Runs the memory scenario.
pub fn run(cfg: &MemoryConfig) -> Result<Run, Error> {
    let wall = Instant::now();
    let started_at = super::now_rfc3339();
    if cfg.instances < 2 {
        return Err(Error::Config(
            "--instances must be at least 2 (the increment is measured from the second)".into(),
        ));
    }
    // The same errors as every scenario before anything is spawned.
    let super::Prepared {
        plugin,
        loaded,
        export,
        input,
        instance: mut reference,
    } = super::prepare(
        &cfg.plugin,
        cfg.export.as_deref(),
        &cfg.input,
        cfg.limits.clone(),
    )?;
    let _watch = crate::watchdog::watch(&plugin.name, cfg.limits.deadline);
    let name = plugin.name.clone();
    let buf = reference.copy_in(&input).map_err(|e| e.into_error(&name))?;
    let packed = reference.execute(buf).map_err(|e| e.into_error(&name))?;
    let out = reference
        .copy_out(packed)
        .map_err(|e| e.into_error(&name))?;
    reference.free(out).map_err(|e| e.into_error(&name))?;
    let output_bytes = reference.output.len() as u64;
    let extism = reference.is_extism();
    drop(reference);

    let estimate = estimate_per_instance(&loaded.module) * cfg.instances;
    if let Some(avail) = available_bytes()
        && estimate > avail / 2
    {
        return Err(Error::Config(format!(
            "{} instances would need about {} (initial linear memory plus runtime, per instance), over half the {} this machine has available: ask for fewer",
            cfg.instances,
            fmt_bytes(estimate as f64),
            fmt_bytes(avail as f64)
        )));
    }
    // The pool reserves a slot per instance up front: 4 GiB of address
    // space plus guards each, by Wasmtime's defaults.
    let pool_reservation = cfg.instances.saturating_mul(6 << 30);
    if pool_reservation > 64 << 40 {
        return Err(Error::Config(format!(
            "{} pooled instances would reserve about {} of address space (~6 GiB per slot), over the 64 TiB wprof allows: ask for fewer",
            cfg.instances,
            fmt_bytes(pool_reservation as f64)
        )));
    }

    let scratch = super::scratch_dir("wprof-memory-")?;
    let file = |n: &str, data: &[u8]| -> Result<PathBuf, Error> {
        let path = scratch.path().join(n);
        std::fs::write(&path, data)
            .map_err(|e| Error::Config(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    };
    let wasm = file("plugin.wasm", &plugin.bytes)?;
    let input_path = file("input", &input)?;
    let cwasm = loaded
        .module
        .serialize()
        .map_err(|e| Error::plugin(&name, Phase::Compile, one_line(&e.into())))?;
    let cwasm = file("plugin.cwasm", &cwasm)?;
    let pooled_cwasm = {
        let engine = Engine::new(Config::new().allocation_strategy(
            InstanceAllocationStrategy::Pooling(PoolingAllocationConfig::new()),
        ))
        .map_err(|e| Error::plugin(&name, Phase::Engine, one_line(&e.into())))?;
        let bytes = engine
            .precompile_module(&plugin.bytes)
            .map_err(|e| Error::plugin(&name, Phase::Compile, one_line(&e.into())))?;
        file("pooled.cwasm", &bytes)?
    };
    drop(loaded);

    let mut notes = vec![
        "each variant ran in its own fresh process; readings are of that whole process (wprof included)".to_owned(),
        "linear memory resident counts every resident page of each instance's memory, including pages still shared with the module's copy-on-write image (counted once in rss), so `other` can come out negative".to_owned(),
    ];
    if extism {
        notes.push("an Extism plugin: its kernel memory (input, output, vars) is a host buffer, counted in rss and not in linear memory".to_owned());
    }
    let mut variants = Vec::new();
    let mut failures = Vec::new();
    let mut perf: Option<CounterInfo> = None;
    let mut counter_samples = Vec::new();
    // (profile, sampled probe's ns, plain probe's ns) per mode and sampler.
    let mut sampled_runs: Vec<(Profile, f64, f64)> = Vec::new();
    for mode in Mode::ALL {
        if crate::interrupt::requested() {
            notes.push(crate::interrupt::note(&format!(
                "before the {} variant",
                mode.name()
            )));
            break;
        }
        if mode == Mode::Native && plugin.bundled.is_none() {
            notes.push("native: not measured: this module is not a bundled plugin, so wprof has no native build of it".into());
            continue;
        }
        let probe = Probe {
            mode,
            wasm: wasm.clone(),
            cwasm: match mode {
                Mode::Aot => Some(cwasm.clone()),
                Mode::Pooling => Some(pooled_cwasm.clone()),
                _ => None,
            },
            bundled: plugin.bundled.map(|b| b.name.to_owned()),
            export: export.clone(),
            input: input_path.clone(),
            instances: cfg.instances,
            calls: cfg.calls,
            limits: cfg.limits.clone(),
            plugin: plugin.name.clone(),
            counters: match &cfg.inside.counters {
                CounterChoice::None => None,
                CounterChoice::All => Some(Vec::new()),
                CounterChoice::Only(names) => Some(names.clone()),
            },
            sample: None,
        };
        match run_child(&probe) {
            Ok(answer) => {
                for (which, on, hz) in [
                    ("guest", cfg.inside.sample.guest, cfg.inside.guest_hz),
                    ("host", cfg.inside.sample.host, cfg.inside.host_hz),
                ] {
                    if !on {
                        continue;
                    }
                    let sampled = Probe {
                        counters: None,
                        sample: Some((which.to_owned(), hz)),
                        ..probe.clone()
                    };
                    match run_child(&sampled) {
                        Ok(ProbeAnswer {
                            profile_run: Some(p),
                            wall_ns,
                            ..
                        }) => sampled_runs.push((p, wall_ns, answer.wall_ns)),
                        Ok(_) => {
                            notes.push(format!("{which} sampler: {}: no profile", mode.name()))
                        }
                        Err(e) => notes.push(format!("{which} sampler: {}: {e:#}", mode.name())),
                    }
                }
                if let Some(c) = &answer.counters {
                    // Each step's counts as a timeline track, at the
                    // reading that ends it (times are the child's own).
                    for (label, counts) in &c.steps {
                        let Some(t) = answer.profile.points.iter().find(|p| &p.label == label)
                        else {
                            continue;
                        };
                        for (name, &v) in c.names.iter().zip(counts) {
                            counter_samples.push(CounterSample {
                                name: format!("{name} ({})", mode.name()),
                                t_ns: t.t_ns,
                                value: v as f64,
                            });
                        }
                    }
                    perf.get_or_insert_with(|| CounterInfo {
                        counters: c.names.clone(),
                        unavailable: c.unavailable.clone(),
                        iterations: 1,
                        read_cost: Default::default(),
                        method: "read in each variant's own process between its memory readings (no read cost subtracted: the steps are coarse), counting that process's main thread only (work on Wasmtime's parallel compilation threads is not counted): engine and compile/deserialize once; instantiate per extra instance, each with its first call; call per call on the first instance".into(),
                    });
                }
                let mut facts = std::collections::BTreeMap::new();
                if mode != Mode::Native {
                    facts.insert(
                        "live_memories_at_last_reading".into(),
                        json!(answer.live_memories),
                    );
                }
                if let Some(n) = answer.pool_live_instances {
                    facts.insert("pool_live_instances_at_last_reading".into(), json!(n));
                }
                variants.push(Variant {
                    name: mode.name().to_owned(),
                    description: mode.description().to_owned(),
                    counters: answer
                        .counters
                        .as_ref()
                        .map(|c| step_counts(c, mode, cfg))
                        .unwrap_or_default(),
                    memory: Some(answer.profile),
                    facts,
                    ..Variant::default()
                })
            }
            Err(e) => {
                // The child reports `<phase>: <cause>`.
                let text = format!("{e:#}");
                let (phase, cause) = text
                    .split_once(": ")
                    .and_then(|(p, c)| Some((p.parse::<Phase>().ok()?, c.to_owned())))
                    .unwrap_or((Phase::Execute, text.clone()));
                failures.push(crate::run::Failure {
                    variant: mode.name().to_owned(),
                    phase,
                    cause,
                })
            }
        }
    }
    let verdicts = verdicts(&variants);
    let profiles = merge_profiles(sampled_runs);
    if cfg.inside.fuel {
        notes.push("fuel: not measured: the memory scenario measures memory, not calls; `wprof record hot-path --fuel` (or soak, cold-start) gives fuel per call".into());
    }
    let settings = super::settings([
        ("instances", json!(cfg.instances)),
        ("calls", json!(cfg.calls)),
        ("memory_limit_bytes", json!(cfg.limits.memory_bytes)),
    ]);
    Ok(Run {
        wall_s: wall.elapsed().as_secs_f64(),
        plugin: super::plugin_info(
            &plugin.name,
            &plugin.source,
            &plugin.bytes,
            &export,
            input.len() as u64,
            output_bytes,
        ),
        iterations: cfg.instances,
        settings,
        clock: ClockInfo {
            name: "none".into(),
            ns_per_tick: 1.0,
            read_cost_ns: 0.0,
            resolution_ns: 0.0,
        },
        variants,
        verdicts,
        failures,
        notes,
        perf,
        profiles,
        counters: counter_samples,
        incomplete: crate::interrupt::requested(),
        ..super::new_run(NAME, started_at)
    })
}

/// A variant's counters by phase from its child's steps: engine,
/// compile (or deserialize), instantiate per extra instance (with its first
/// call), call per call.
fn step_counts(c: &ChildCounters, mode: Mode, cfg: &MemoryConfig) -> Vec<PhaseCounts> {
    let load = if matches!(mode, Mode::Aot | Mode::Pooling) {
        Phase::Deserialize
    } else {
        Phase::Compile
    };
    let calls = format!("{} calls", cfg.calls);
    let instances = format!("{} instances", cfg.instances);
    let per = |n: u64| n.saturating_sub(1).max(1) as f64;
    c.steps
        .iter()
        .filter_map(|(label, counts)| {
            let (phase, n) = match label.as_str() {
                "engine" => (Phase::Engine, 1.0),
                "module ready" => (load, 1.0),
                l if l == calls => (Phase::Call, per(cfg.calls)),
                l if l == instances => (Phase::Instantiate, per(cfg.instances)),
                _ => return None,
            };
            Some(PhaseCounts {
                phase,
                values: c
                    .names
                    .iter()
                    .zip(counts)
                    .map(|(name, &v)| (name.clone(), v as f64 / n))
                    .collect(),
            })
        })
        .collect()
}

/// One profile per sampler from the runs of every mode, its cost the
/// sampled probes' total time against the plain ones'.
fn merge_profiles(runs: Vec<(Profile, f64, f64)>) -> Vec<Profile> {
    let mut out: Vec<(Profile, f64, f64)> = Vec::new();
    for (p, sampled_ns, plain_ns) in runs {
        match out.iter_mut().find(|(o, _, _)| o.sampler == p.sampler) {
            Some((o, s, q)) => {
                // Rates add up weighted by the time each ran.
                o.achieved_hz = (o.achieved_hz * o.seconds + p.achieved_hz * p.seconds)
                    / (o.seconds + p.seconds).max(f64::MIN_POSITIVE);
                o.samples += p.samples;
                o.seconds += p.seconds;
                o.stacks.extend(p.stacks);
                *s += sampled_ns;
                *q += plain_ns;
            }
            None => out.push((p, sampled_ns, plain_ns)),
        }
    }
    out.into_iter()
        .map(|(mut p, s, q)| {
            p.stacks.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.frames.cmp(&b.frames)));
            p.overhead_pct = (q > 0.0).then(|| 100.0 * (s - q) / q);
            p.method.push_str("; one sampled process per variant; cost: their total time from first to last reading against the unsampled processes'");
            p
        })
        .collect()
}

fn point<'a>(v: &'a Variant, label: &str) -> Option<&'a MemoryPoint> {
    v.memory.as_ref()?.points.iter().find(|p| p.label == label)
}

/// The findings, from the readings.
fn verdicts(variants: &[Variant]) -> Vec<String> {
    let mut out = Vec::new();
    let growth = |v: &Variant, from: &str, to: &str| -> Option<f64> {
        Some(point(v, to)?.rss_bytes as f64 - point(v, from)?.rss_bytes as f64)
    };
    let ready: Vec<String> = variants
        .iter()
        .filter_map(|v| {
            Some(format!(
                "{} {}",
                v.name,
                fmt_bytes(growth(v, "engine", "module ready")?)
            ))
        })
        .collect();
    if !ready.is_empty() {
        out.push(format!(
            "a ready module costs (resident, over the bare engine): {}",
            ready.join(", ")
        ));
    }
    let per: Vec<String> = variants
        .iter()
        .filter_map(|v| {
            let p = v.memory.as_ref()?.per_instance.as_ref()?;
            Some(format!(
                "{} {} ({} of it linear memory)",
                v.name,
                fmt_bytes(p.rss_bytes),
                fmt_bytes(p.linear_resident_bytes)
            ))
        })
        .collect();
    if !per.is_empty() {
        out.push(format!(
            "each extra instance after its first call costs (resident): {}; the seed measured 2.44 MB",
            per.join(", ")
        ));
    }
    if let Some(native) = variants.iter().find(|v| v.name == "native")
        && let Some(n) = native.memory.as_ref().and_then(|m| m.points.last())
        && let Some(g) = growth(native, "start", &n.label)
    {
        out.push(format!(
            "native: {} calls grew the process by {} resident; a wasm plugin's first instance costs what the lines above say on top of that",
            n.calls,
            fmt_bytes(g)
        ));
    }
    out
}

/// Parses a probe request (the hidden subcommand's argument).
pub fn probe_from_json(json: &str) -> anyhow::Result<Probe> {
    serde_json::from_str(json).context("bad probe request")
}
