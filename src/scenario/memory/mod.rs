//! Memory (the reference study's Scenario 3): what the engine, a ready module, one
//! instance, 1000 calls and N instances cost in resident memory, per variant
//! (JIT or AOT module, default or pooling allocator, and the native build),
//! and what each extra instance costs, split into linear memory, host heap
//! and the rest.
//!
//! Each variant runs in a fresh child process (`wprof` re-executing itself),
//! so that what one variant allocated and freed cannot hide in another's
//! readings: freed heap is rarely returned to the kernel.

mod extism_sdk;
mod probe;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::json;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Module, PoolingAllocationConfig};

use self::probe::{ChildCounters, ProbeAnswer, run_child};
pub use self::probe::{PROBE_COMMAND, Probe, probe, probe_from_json};
use crate::driver::Limits;
use crate::driver::wasmtime::Abi;
use crate::error::{Error, one_line};
use crate::inside::{CounterChoice, InsideConfig};
use crate::phase::Phase;
use crate::run::{
    ClockInfo, CounterInfo, CounterSample, MemoryPoint, PhaseCounts, Profile, Run, Variant,
};
use crate::source::{InputSpec, PluginSpec};
use crate::units::fmt_bytes;

/// Scenario name, as in `wprof record memory`.
pub const NAME: &str = "memory";

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

    pub(crate) fn name(self) -> &'static str {
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
    /// For an Extism plugin, also read Extism's own runtime's memory (the
    /// Rust SDK driver, where it is built). Default: true.
    pub extism_sdk: bool,
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
            extism_sdk: true,
        }
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

/// Runs the memory scenario.
pub fn run(cfg: &MemoryConfig) -> Result<Run, Error> {
    super::run_plugin(cfg)
}

impl super::OnePlugin for MemoryConfig {
    super::asked_from_fields!();

    fn check(&self) -> Result<(), Error> {
        if self.instances < 2 {
            return Err(Error::Config(
                "--instances must be at least 2 (the increment is measured from the second)".into(),
            ));
        }
        Ok(())
    }

    fn run_prepared<A: Abi>(&self, p: super::Prepared<A>) -> Result<Run, Error> {
        run_with::<A>(self, p)
    }
}

fn run_with<A: Abi>(cfg: &MemoryConfig, p: super::Prepared<A>) -> Result<Run, Error> {
    // The same errors as every scenario before anything is spawned.
    let mut reference = p.instance;
    let (plugin, module, export, input) = (p.plugin, p.module, p.export, p.input);
    let name = plugin.name.clone();
    let output_bytes = super::reference_output(&mut reference, &input, &name)?.len() as u64;
    let extism = A::KIND == crate::kind::Abi::Extism;
    drop(reference);

    let estimate = estimate_per_instance(&module) * cfg.instances;
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
    let cwasm = module
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
    drop(module);

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
        if !variants.is_empty() {
            crate::interrupt::measured();
        }
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
            // A child stopped by a signal failed nothing: the note says so.
            Err(_) if crate::interrupt::requested() => {
                notes.push(crate::interrupt::note(&format!(
                    "during the {} variant",
                    mode.name()
                )));
                break;
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
    if extism && cfg.extism_sdk && !crate::interrupt::requested() {
        let sizes = (cfg.instances, cfg.calls);
        let (v, n) = extism_sdk::variants(&wasm, (&export, &input), &cfg.limits, sizes);
        variants.extend(v);
        notes.extend(n);
    }
    let verdicts = verdicts(&variants, &plugin.name);
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
        plugin: super::info_of(&plugin, &export, input.len() as u64, output_bytes),
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
        ..super::new_run(NAME)
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
fn verdicts(variants: &[Variant], plugin: &str) -> Vec<String> {
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
        // The study measured its drug checker: quoted for that plugin only.
        out.push(format!(
            "each extra instance after its first call costs (resident): {}{}",
            per.join(", "),
            if plugin == crate::study::PLUGIN {
                format!(
                    "; {} measured {} MB under Extism",
                    crate::study::NAME,
                    crate::study::INSTANCE_BYTES / 1e6
                )
            } else {
                String::new()
            }
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
