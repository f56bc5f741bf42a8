//! Each design set up once (its engine, module, linker or pre-linked
//! module, its shared pool), its footprint measured as it is; and a slice
//! of requests run on it, with the worker that design gives each thread.

use std::collections::BTreeMap;

use wasmtime::{Engine, InstancePre, Linker, Module};

use super::ConcurrencyConfig;
use super::design::Design;
use super::slice::{self, Failed, Slice, SliceRun};
use super::workers::{Call, Make, PerRequest, Pool, Reuse, Shared};
use crate::bundled::NativeFn;
use crate::driver::call::Payload;
use crate::driver::wasmtime::{Abi, HostState, WasmtimeDriver};
use crate::driver::{Driver, timed};
use crate::error::{Error, at};
use crate::measure::memory;
use crate::phase::Phase;
use crate::run::{PhaseTime, Profile};
use crate::scenario::Prepared;
use crate::scenario::hot_path::native::NativeTarget;
use crate::timing::Clock;

/// One design, set up.
pub struct Host<A: Abi> {
    /// The design.
    pub design: Design,
    /// Its engine (none for native).
    pub engine: Option<Engine>,
    module: Option<Module>,
    linker: Option<Linker<HostState<A::State>>>,
    pre: Option<InstancePre<HostState<A::State>>>,
    pool: Option<Pool<A::Instance>>,
    native: Option<NativeFn>,
    /// The output its requests must return, where not the wasm build's.
    pub expected: Option<Vec<u8>>,
    /// Its one-off work, timed.
    pub setup: Vec<PhaseTime>,
    /// Virtual and resident memory its setup took, in bytes.
    pub footprint: (i64, i64),
    /// The module it runs, where not the plugin's (a Wizer snapshot), in bytes.
    pub module_bytes: Option<u64>,
}

impl<A: Abi> Host<A> {
    /// `base` with this design's reference output and checks: with a
    /// plugin that keeps state between calls (`stateful`), an instance
    /// that served earlier requests answers differently, so reuse checks
    /// each thread's first request only and the shared pool none.
    pub fn checked<'a, C: Clock>(&'a self, base: Slice<'a, C>, stateful: bool) -> Slice<'a, C> {
        let check = match self.design {
            Design::Reuse => (true, !stateful),
            Design::SharedPool => (!stateful, !stateful),
            _ => (true, true),
        };
        Slice {
            expected: self.expected.as_deref().unwrap_or(base.expected),
            check,
            ..base
        }
    }
}

/// Whether the plugin keeps state between calls: a second call on one
/// instance answers differently from the first.
pub fn stateful<A: Abi, P: Payload>(
    p: &Prepared<A>,
    input: P,
    cfg: &ConcurrencyConfig,
) -> Result<bool, Error> {
    use super::workers::Request as _;
    let driver = WasmtimeDriver::<A>::new(p.module.engine().clone(), "cranelift");
    let name = &p.plugin.name;
    let instance = driver
        .instantiate(&p.module, &p.export, &cfg.limits)
        .map_err(|e| e.into_error(name))?;
    let mut t = Reuse {
        instance,
        call: Call::new(input),
    };
    let first = t.checked().map_err(|e| e.into_error(name))?;
    let second = t.checked().map_err(|e| e.into_error(name))?;
    Ok(first != second)
}

/// Sets up every design asked for; one that cannot run this plugin is
/// left out with a note saying why.
pub fn set_up<A: Abi>(
    cfg: &ConcurrencyConfig,
    p: &Prepared<A>,
    top: u32,
    notes: &mut Vec<String>,
) -> Result<Vec<Host<A>>, Error> {
    let name = &p.plugin.name;
    let profile = cfg.inside.sample.host;
    let mut hosts = Vec::new();
    for &design in &cfg.designs {
        let before = memory::read("before").ok();
        let mut h = Host {
            design,
            engine: None,
            module: None,
            linker: None,
            pre: None,
            pool: None,
            native: None,
            expected: None,
            setup: Vec::new(),
            footprint: (0, 0),
            module_bytes: None,
        };
        if design == Design::Native {
            let Some((func, value)) = p.plugin.bundled.map(|b| b.native).zip(p.value.as_ref())
            else {
                notes.push(format!(
                    "native: not measured: {}",
                    if p.value.is_none() {
                        "wprof has no native build of an Extism plugin"
                    } else {
                        "this module is not a bundled plugin, so wprof has no native build of it"
                    }
                ));
                continue;
            };
            let mut t = NativeTarget {
                func,
                input: value,
                encoded: Vec::new(),
            };
            let out = t.output().map_err(|e| e.into_error(name))?;
            if out != p.first.output {
                notes.push("warning: the wasm and native builds returned different outputs for this input; each design is checked against its own build's".into());
            }
            h.native = Some(func);
            h.expected = Some(out);
        } else {
            let bytes = if design == Design::PooledWizer {
                if p.module
                    .get_export(crate::driver::wprof::INIT_EXPORT)
                    .is_none()
                {
                    notes.push(format!(
                        "pooled-wizer: not measured: the plugin exports no `{}` for Wizer to run",
                        crate::driver::wprof::INIT_EXPORT
                    ));
                    continue;
                }
                let snapshot = timed(&mut h.setup, Phase::PreInit, || {
                    crate::scenario::cold_start::wizer::pre_initialise(&p.plugin.bytes)
                })
                .map_err(|e| Error::plugin(name, Phase::PreInit, crate::error::one_line(&e)))?;
                h.module_bytes = Some(snapshot.len() as u64);
                snapshot
            } else {
                p.plugin.bytes.clone()
            };
            // Slots for every thread's instance, and the checks'.
            let slots = top + 2;
            let engine = timed(&mut h.setup, Phase::Engine, || {
                Engine::new(&design.config(slots, profile))
            })
            .map_err(|e| Error::plugin(name, Phase::Engine, crate::error::one_line(&e.into())))?;
            let driver = WasmtimeDriver::<A>::new(engine.clone(), "cranelift");
            let module = driver.load(name, &bytes, &mut h.setup)?;
            let link_err =
                |e: anyhow::Error| Error::plugin(name, Phase::Link, crate::error::one_line(&e));
            if design.pooling() {
                let pre =
                    timed(&mut h.setup, Phase::Link, || driver.pre(&module)).map_err(link_err)?;
                h.pre = Some(pre);
            } else {
                let linker = timed(&mut h.setup, Phase::Link, || driver.linker(&module))
                    .map_err(link_err)?;
                if design == Design::SharedPool {
                    let instances = (0..cfg.pool_size)
                        .map(|_| {
                            WasmtimeDriver::<A>::instantiate_linked(
                                &linker,
                                &module,
                                &p.export,
                                &cfg.limits,
                            )
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| e.into_error(name))?;
                    h.pool = Some(Pool::new(instances));
                }
                h.linker = Some(linker);
            }
            h.engine = Some(engine);
            h.module = Some(module);
        }
        if let (Some(b), Ok(a)) = (before, memory::read("after")) {
            h.footprint = (
                a.virtual_bytes as i64 - b.virtual_bytes as i64,
                a.rss_bytes as i64 - b.rss_bytes as i64,
            );
        }
        hosts.push(h);
    }
    Ok(hosts)
}

/// The pooling allocator's metrics of `engine`, by Wasmtime's names.
fn pool_metrics(engine: Option<&Engine>) -> BTreeMap<String, u64> {
    let Some(m) = engine.and_then(Engine::pooling_allocator_metrics) else {
        return BTreeMap::new();
    };
    [
        ("core_instances", m.core_instances()),
        ("memories", m.memories() as u64),
        ("tables", m.tables() as u64),
        ("unused_warm_memories", m.unused_warm_memories() as u64),
        (
            "unused_memory_bytes_resident",
            m.unused_memory_bytes_resident() as u64,
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// One slice of `h`'s requests, each thread with the worker its design
/// gives it.
pub fn slice<A: Abi, P: Payload + Sync, C: Clock>(
    h: &Host<A>,
    s: &Slice<'_, C>,
    input: P,
    p: &Prepared<A>,
    cfg: &ConcurrencyConfig,
) -> Result<SliceRun, Failed> {
    let pool = || pool_metrics(h.engine.as_ref());
    let (export, limits) = (p.export.as_str(), &cfg.limits);
    let missing = || -> Failed {
        Failed {
            thread: 0,
            request: 0,
            error: at(Phase::Instantiate)(anyhow::anyhow!("the design was not set up")),
        }
    };
    match h.design {
        Design::Native => {
            let (func, value) = h.native.zip(p.value.as_ref()).ok_or_else(missing)?;
            slice::run(
                s,
                || {
                    Ok(NativeTarget {
                        func,
                        input: value,
                        encoded: Vec::new(),
                    })
                },
                &pool,
            )
        }
        Design::Reuse => {
            let (linker, module) = h
                .linker
                .as_ref()
                .zip(h.module.as_ref())
                .ok_or_else(missing)?;
            slice::run(
                s,
                || {
                    Ok(Reuse {
                        instance: WasmtimeDriver::<A>::instantiate_linked(
                            linker, module, export, limits,
                        )?,
                        call: Call::new(input),
                    })
                },
                &pool,
            )
        }
        Design::SharedPool => {
            let shared = h.pool.as_ref().ok_or_else(missing)?;
            slice::run(
                s,
                || {
                    Ok(Shared {
                        pool: shared,
                        call: Call::new(input),
                    })
                },
                &pool,
            )
        }
        _ => {
            let make = || match (&h.pre, &h.linker, &h.module) {
                (Some(pre), _, _) => Ok(Make::<A>::Pre(pre)),
                (None, Some(l), Some(m)) => Ok(Make::Linked(l, m)),
                _ => Err(at(Phase::Instantiate)(anyhow::anyhow!(
                    "the design was not set up"
                ))),
            };
            slice::run(
                s,
                || {
                    Ok(PerRequest {
                        make: make()?,
                        export,
                        limits,
                        call: Call::new(input),
                    })
                },
                &pool,
            )
        }
    }
}

/// `--sample host`: one more slice of every design at the most threads,
/// under the host sampler, each design's stacks filed under its name.
pub fn sample<A: Abi, P: Payload + Sync, C: Clock>(
    hosts: &[Host<A>],
    cfg: &ConcurrencyConfig,
    p: &Prepared<A>,
    input: P,
    base: Slice<'_, C>,
    stateful: bool,
    since: std::time::Instant,
) -> Result<Profile, Error> {
    let top = base.threads as u64;
    use crate::measure::Sampler as _;
    let _stage = crate::stages::stage("host sampler", 0, 0);
    let name = &p.plugin.name;
    let sampler_err = |e: anyhow::Error| {
        Error::plugin(
            name,
            Phase::Request,
            format!("host sampler: {}", crate::error::one_line(&e)),
        )
    };
    let mut sampler = Box::new(crate::measure::host_sampler::HostSampler::new(
        cfg.inside.host_hz,
        super::NAME,
        Some(since),
    ));
    for h in hosts {
        sampler.set_prefix(&format!("{};{} x{top}", super::NAME, h.design));
        let s = h.checked(
            Slice {
                duration: std::time::Duration::from_secs_f64(
                    cfg.inside.sample_secs / hosts.len() as f64,
                ),
                keep: 64,
                ..base
            },
            stateful,
        );
        sampler.resume().map_err(sampler_err)?;
        let ran = slice(h, &s, input, p, cfg);
        sampler.pause().map_err(sampler_err)?;
        ran.map_err(|f| f.error.into_error(name))?;
    }
    let mut profile = sampler.finish().map_err(sampler_err)?;
    profile.method.push_str(&format!(
        "; every design at {top} threads for {:.2} s each, after the timed rounds; overhead not measured",
        cfg.inside.sample_secs / hosts.len() as f64
    ));
    let _ = std::fs::remove_file(crate::measure::host_sampler::perf_map_path());
    Ok(profile)
}
