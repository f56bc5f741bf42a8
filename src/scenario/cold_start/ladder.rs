//! One rung's iteration as a [`Target`]: from the module file (or the
//! rung's artifact) to the first call's result, phase by phase, through
//! calling convention `A`; and what the rung sets up once before it.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;
use wasmtime::{Engine, InstancePre, Module};

use super::artifact::{load_precompiled, precompile};
use super::rung::{POOL_SLOTS, Rung};
use super::wizer::pre_initialise;
use crate::driver::wasmtime::{Abi, HostState, WasmtimeDriver};
use crate::driver::{Driver, Instance, Limits};
use crate::error::{CallError, at};
use crate::measure::guest::GuestHandle;
use crate::measure::instrument::Instrument;
use crate::phase::Phase;
use crate::run::PhaseTime;
use crate::scenario::runner::way;
use crate::timing::settle::Recorded;
use crate::timing::target::{Marks, Target};

/// What every rung of one plugin shares.
pub(super) struct Ctx<'a> {
    /// The module file each JIT iteration reads.
    pub(super) path: &'a Path,
    /// The binary module.
    pub(super) bytes: &'a [u8],
    pub(super) export: &'a str,
    /// The encoded input of the first call.
    pub(super) input: &'a [u8],
    /// Where precompiled artifacts go.
    pub(super) scratch: &'a Path,
    /// A `.cwasm` given for the aot rungs.
    pub(super) precompiled: Option<&'a Path>,
    /// The limits every store starts from.
    pub(super) limits: &'a Limits,
}

/// One rung, ready to iterate: its engine and what it made once.
pub(super) struct RungTarget<'a, A: Abi> {
    rung: Rung,
    ctx: &'a Ctx<'a>,
    driver: WasmtimeDriver<A>,
    /// The `.cwasm` an aot rung loads.
    artifact: Option<PathBuf>,
    /// The pooling rung's linked module.
    pre: Option<InstancePre<HostState<A::State>>>,
    limits: Limits,
    /// In the guest sampler's pass: the sampler every instance joins.
    guest: Option<GuestHandle>,
    /// The last first call's output.
    output: Vec<u8>,
    /// The last module a JIT rung compiled (its size is reported).
    last: Option<Module>,
    /// Instances and memories the pool had live during a call, at most.
    pool_live: (u64, usize),
    /// What the rung did once, before its iterations.
    pub(super) setup: Vec<PhaseTime>,
    /// Size of the module compiled by this rung's engine, serialised.
    compiled_bytes: Option<u64>,
    /// Size of the module a wizer rung loads (the snapshot).
    module_bytes: Option<u64>,
}

impl<'a, A: Abi> RungTarget<'a, A> {
    /// Sets `rung` up (its engine, artifact, snapshot or pool) on an engine
    /// with `instrument` where given; its instances join `guest`.
    pub(super) fn new(
        rung: Rung,
        ctx: &'a Ctx<'a>,
        instrument: Option<Instrument>,
        guest: Option<GuestHandle>,
    ) -> Result<Self, CallError> {
        let mut setup = Vec::new();
        let engine = crate::driver::timed(&mut setup, Phase::Engine, || {
            Engine::new(&rung.config_with(instrument))
        })
        .map_err(at(Phase::Engine))?;
        let compiler = if rung == Rung::Winch {
            "winch"
        } else {
            "cranelift"
        };
        let mut t = RungTarget {
            rung,
            ctx,
            driver: WasmtimeDriver::new(engine.clone(), compiler),
            artifact: None,
            pre: None,
            limits: Limits {
                fuel: (instrument == Some(Instrument::Fuel)).then_some(crate::measure::fuel::TANK),
                ..ctx.limits.clone()
            },
            guest,
            output: Vec::new(),
            last: None,
            pool_live: (0, 0),
            setup,
            compiled_bytes: None,
            module_bytes: None,
        };
        let suffix = instrument.map_or(String::new(), |i| format!("-{i:?}").to_lowercase());
        let cwasm = ctx.scratch.join(format!("{rung}{suffix}.cwasm"));
        let precompiled = |t: &mut Self, bytes: &[u8]| -> Result<PathBuf, CallError> {
            let len = crate::driver::timed(&mut t.setup, Phase::Compile, || {
                precompile(&engine, bytes, &cwasm)
            })
            .map_err(at(Phase::Compile))?;
            t.compiled_bytes = Some(len);
            Ok(cwasm.clone())
        };
        // Wizer runs `wprof_init` once and snapshots the instance: the
        // module the snapshot rungs load.
        let snapshot = |t: &mut Self| -> Result<Vec<u8>, CallError> {
            let snapshot =
                crate::driver::timed(&mut t.setup, Phase::PreInit, || pre_initialise(ctx.bytes))
                    .map_err(at(Phase::PreInit))?;
            t.module_bytes = Some(snapshot.len() as u64);
            Ok(snapshot)
        };
        match rung {
            Rung::Cranelift | Rung::CraneliftOptNone | Rung::Winch => {}
            Rung::Aot | Rung::AotMmap => {
                let path = match (ctx.precompiled, instrument) {
                    // A given artifact is for the plain engine only.
                    (Some(given), None) => {
                        t.compiled_bytes = Some(fs::metadata(given).map_or(0, |m| m.len()));
                        given.to_owned()
                    }
                    _ => precompiled(&mut t, ctx.bytes)?,
                };
                load_precompiled(&engine, &path).map_err(at(Phase::Deserialize))?;
                t.artifact = Some(path);
            }
            Rung::Wizer => {
                let snapshot = snapshot(&mut t)?;
                let path = precompiled(&mut t, &snapshot)?;
                load_precompiled(&engine, &path).map_err(at(Phase::Deserialize))?;
                t.artifact = Some(path);
            }
            Rung::Pooling | Rung::PoolingWizer => {
                let bytes = if rung == Rung::PoolingWizer {
                    std::borrow::Cow::Owned(snapshot(&mut t)?)
                } else {
                    std::borrow::Cow::Borrowed(ctx.bytes)
                };
                let path = precompiled(&mut t, &bytes)?;
                let module = crate::driver::timed(&mut t.setup, Phase::Deserialize, || {
                    load_precompiled(&engine, &path)
                })
                .map_err(at(Phase::Deserialize))?;
                let driver = &t.driver;
                let pre = crate::driver::timed(&mut t.setup, Phase::Link, || driver.pre(&module))
                    .map_err(at(Phase::Link))?;
                t.pre = Some(pre);
            }
        }
        Ok(t)
    }

    /// Instantiates `module`, marks `k`, then the first call's phases.
    #[inline(always)]
    fn instantiate_and_call<M: Marks + ?Sized>(
        &mut self,
        module: &Module,
        m: &mut M,
        k: usize,
    ) -> Result<(), CallError> {
        let instance = self
            .driver
            .instantiate(module, self.ctx.export, &self.limits)?;
        self.first_call(instance, m, k)
    }

    /// Marks `k` (the instance is made), then the first call's phases.
    #[inline(always)]
    fn first_call<M: Marks + ?Sized>(
        &mut self,
        mut p: A::Instance,
        m: &mut M,
        k: usize,
    ) -> Result<(), CallError> {
        if let Some(g) = &self.guest {
            p.join_guest_sampler(g)
                .map_err(|e| at(Phase::Instantiate)(anyhow::anyhow!(e)))?;
        }
        m.mark(k);
        let buf = p.copy_in(self.ctx.input)?;
        m.mark(k + 1);
        let packed = p.execute(buf)?;
        m.mark(k + 2);
        let out = p.copy_out(packed)?;
        m.mark(k + 3);
        p.free(out)?;
        m.mark(k + 4);
        // After the last mark, the instance still alive: the output kept
        // for the check, and the pool read (proof the instance came from it).
        self.output.clear();
        self.output.extend_from_slice(p.output());
        if let Some(metrics) = self.driver.engine().pooling_allocator_metrics() {
            self.pool_live.0 = self.pool_live.0.max(metrics.core_instances());
            self.pool_live.1 = self.pool_live.1.max(metrics.memories());
        }
        Ok(())
    }

    /// The rung's one-off work and what it made, into its variant.
    pub(super) fn describe(&self, r: &mut Recorded) {
        let v = &mut r.variant;
        v.setup = self.setup.clone();
        v.module_bytes = self.module_bytes;
        v.compiled_bytes = self.compiled_bytes.or_else(|| {
            let m = self.last.as_ref()?.serialize().ok()?;
            Some(m.len() as u64)
        });
        if self.rung.pools() {
            v.facts.insert(
                "pool_instances_live_during_call".into(),
                json!(self.pool_live.0),
            );
            v.facts.insert(
                "pool_memories_live_during_call".into(),
                json!(self.pool_live.1),
            );
            v.facts.insert("pool_slots".into(), json!(POOL_SLOTS));
        }
    }
}

impl<A: Abi> Target for RungTarget<'_, A> {
    fn phases(&self) -> &'static [Phase] {
        self.rung.phases()
    }

    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        match self.rung {
            Rung::Cranelift | Rung::CraneliftOptNone | Rung::Winch => {
                let bytes = fs::read(self.ctx.path)
                    .map_err(anyhow::Error::from)
                    .and_then(crate::source::to_binary)
                    .map_err(at(Phase::Read))?;
                m.mark(1);
                let engine = self.driver.engine();
                Module::validate(engine, &bytes).map_err(at(Phase::Validate))?;
                m.mark(2);
                let module = Module::from_binary(engine, &bytes).map_err(at(Phase::Compile))?;
                m.mark(3);
                self.instantiate_and_call(&module, m, 4)?;
                self.last = Some(module);
            }
            Rung::Aot => {
                let path = self.artifact.as_deref().expect("set up with an artifact");
                let bytes = fs::read(path).map_err(at(Phase::Read))?;
                m.mark(1);
                // SAFETY: checked once by load_precompiled when the rung was
                // set up; the file is wprof's own artifact or the one the
                // user vouched for.
                let module = unsafe { Module::deserialize(self.driver.engine(), &bytes) }
                    .map_err(at(Phase::Deserialize))?;
                m.mark(2);
                self.instantiate_and_call(&module, m, 3)?;
            }
            Rung::AotMmap | Rung::Wizer => {
                let path = self.artifact.as_deref().expect("set up with an artifact");
                // SAFETY: as in the aot rung.
                let module = unsafe { Module::deserialize_file(self.driver.engine(), path) }
                    .map_err(at(Phase::Deserialize))?;
                m.mark(1);
                self.instantiate_and_call(&module, m, 2)?;
            }
            Rung::Pooling | Rung::PoolingWizer => {
                let pre = self.pre.as_ref().expect("set up with a linked module");
                let p = WasmtimeDriver::<A>::instantiate_pre(pre, self.ctx.export, &self.limits)?;
                self.first_call(p, m, 1)?;
            }
        }
        Ok(())
    }
}

way!(impl[A: Abi] RungTarget<'_, A> => Vec<u8>, Execute, |w| w.output.clone());
