//! A `record memory` variant in a fresh child process (`wprof
//! __memory-probe`): the readings it takes, and how the parent runs it.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, anyhow, bail};
use serde::{Deserialize, Serialize};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Module, PoolingAllocationConfig};

use super::{Mode, NAME};
use crate::driver::wasmtime::{Abi, WasmtimeDriver};
use crate::driver::{Driver, Instance, Limits};
use crate::error::one_line;
use crate::measure::guest::GuestSampler;
use crate::measure::host_sampler::HostSampler;
use crate::measure::instrument::{self, Instrument};
use crate::measure::perf::PerfCounters;
use crate::measure::{Meter, Sampler, memory};
use crate::phase::Phase;
use crate::run::{MemoryPoint, MemoryProfile, PerInstance};

/// The hidden subcommand a variant's child process runs.
pub const PROBE_COMMAND: &str = "__memory-probe";

/// What a child process is asked to do (passed as JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Probe {
    pub(super) mode: Mode,
    /// The binary module.
    pub(super) wasm: PathBuf,
    /// The precompiled module, for aot and pooling.
    pub(super) cwasm: Option<PathBuf>,
    /// The bundled plugin, for native.
    pub(super) bundled: Option<String>,
    pub(super) export: String,
    /// The encoded input.
    pub(super) input: PathBuf,
    pub(super) instances: u64,
    pub(super) calls: u64,
    pub(super) limits: Limits,
    /// The plugin's name, for the watchdog's message.
    pub(super) plugin: String,
    /// Perf counters to read at each reading (empty: all); `None`: none.
    #[serde(default)]
    pub(super) counters: Option<Vec<String>>,
    /// A sampler to run over the whole probe (`guest` or `host`), at `hz`.
    #[serde(default)]
    pub(super) sample: Option<(String, u32)>,
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
    let bytes = std::fs::read(&p.wasm)?;
    crate::driver::with_abi!(crate::kind::abi(&bytes), A => probe_with::<A>(p, bytes))
}

fn probe_with<A: Abi>(p: &Probe, bytes: Vec<u8>) -> anyhow::Result<ProbeAnswer> {
    let _watch = crate::watchdog::watch_child(&p.plugin, p.limits.deadline);
    let input = std::fs::read(&p.input)?;
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
    let mut last = vec![0u64; crate::measure::tally::MAX_COUNTERS];
    let mut cur = last.clone();
    let (mut guest, mut host) = (None, None);
    match &p.sample {
        Some((which, hz)) if which == "guest" => {
            guest = Some(GuestSampler::new(
                *hz,
                &format!("{NAME};{}", p.mode.name()),
                &[Phase::Call],
                // A child process: its clock is not the run's timeline.
                None,
            ))
        }
        Some((_, hz)) => {
            host = Some(HostSampler::new(
                *hz,
                &format!("{NAME};{}", p.mode.name()),
                None,
            ))
        }
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
        (Some(_), _) => instrument::config(Instrument::Epoch),
        (_, Some(_)) => instrument::config(Instrument::PerfMap),
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
    let driver = WasmtimeDriver::<A>::new(engine.clone(), "cranelift");
    let pre = if p.mode == Mode::Pooling {
        Some(
            driver
                .pre(&module)
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
            Some(pre) => WasmtimeDriver::<A>::instantiate_pre(pre, &p.export, &limits),
            None => driver.instantiate(&module, &p.export, &limits),
        }
        .map_err(|e| anyhow!("instantiate: {}", one_line(&e.error)))?;
        if let Some(h) = &handle {
            plugin.join_guest_sampler(h).map_err(anyhow::Error::msg)?;
        }
        phase(None);
        Ok::<_, anyhow::Error>(plugin)
    };
    let call = |plugin: &mut A::Instance| -> anyhow::Result<()> {
        phase(Some(Phase::Call));
        let r = plugin
            .call(&input)
            .map_err(|e| anyhow!("{}: {}", e.phase, one_line(&e.error)));
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
            let (ptr, len) = plugin.linear_memory().unwrap_or((std::ptr::null(), 0));
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
        .filter_map(|p| p.linear_memory().map(|m| m.0 as usize))
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

/// Runs a variant in a child process of this same binary.
pub(super) fn run_child(p: &Probe) -> anyhow::Result<ProbeAnswer> {
    let exe = std::env::current_exe().context("cannot find wprof's own binary")?;
    let out = crate::interrupt::output(
        std::process::Command::new(exe)
            .arg(PROBE_COMMAND)
            .arg(serde_json::to_string(p)?),
    )
    .context("a child wprof")?;
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

/// Parses a probe request (the hidden subcommand's argument).
pub fn probe_from_json(json: &str) -> anyhow::Result<Probe> {
    serde_json::from_str(json).context("bad probe request")
}
