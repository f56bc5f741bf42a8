//! Wizer pre-initialisation: a plugin's `wprof_init` run once and the
//! initialised instance snapshotted into a new module (the wizer rung).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use anyhow::{Context as _, anyhow, bail};
use wasmtime::{Engine, Module, Store};

use crate::driver::wprof::INIT_EXPORT;
use crate::error::one_line;
use crate::phase::Phase;

/// Runs Wizer on `bytes`: `wprof_init` runs once in an instrumented
/// instance, whose state becomes the new module's initial state.
///
/// Uses wasmtime-wizer's two halves (`instrument`, `snapshot`) around a
/// plain synchronous instance rather than `Wizer::run`: that needs the
/// crate's `wasmtime` feature, which turns on Wasmtime's async, GC, threads
/// and cache support, minutes of build time wprof has no other use for.
pub fn pre_initialise(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut wizer = wasmtime_wizer::Wizer::new();
    wizer.init_func(INIT_EXPORT);
    let (cx, instrumented) = wizer.instrument(bytes)?;
    let engine = Engine::default();
    let module = Module::new(&engine, &instrumented)?;
    let mut store = Store::new(&engine, ());
    let instance = wasmtime::Instance::new(&mut store, &module, &[])?;
    let init = instance
        .get_typed_func::<(), ()>(&mut store, INIT_EXPORT)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("`{INIT_EXPORT}` is not a `() -> ()` function"))?;
    crate::watchdog::enter(Phase::PreInit);
    let done = init.call(&mut store, ());
    crate::watchdog::leave();
    done.map_err(|e| anyhow!("`{INIT_EXPORT}` trapped: {}", one_line(&e.into())))?;
    let mut state = Snapshotted {
        store: &mut store,
        instance,
    };
    Ok(now_or_never(wizer.snapshot(&cx, &mut state))??)
}

/// The instance state Wizer reads back.
struct Snapshotted<'a> {
    store: &'a mut Store<()>,
    instance: wasmtime::Instance,
}

impl wasmtime_wizer::InstanceState for Snapshotted<'_> {
    async fn global_get(
        &mut self,
        name: &str,
        _: wasmtime_wizer::ValType,
    ) -> wasmtime_wizer::SnapshotVal {
        use wasmtime::Val;
        use wasmtime_wizer::SnapshotVal;
        let global = self
            .instance
            .get_global(&mut *self.store, name)
            .expect("Wizer asks only for the globals its instrumentation exported");
        match global.get(&mut *self.store) {
            Val::I32(x) => SnapshotVal::I32(x),
            Val::I64(x) => SnapshotVal::I64(x),
            Val::F32(x) => SnapshotVal::F32(x),
            Val::F64(x) => SnapshotVal::F64(x),
            Val::V128(x) => SnapshotVal::V128(x.as_u128()),
            // Wizer's validation rejects modules with mutable reference globals.
            other => unreachable!("Wizer snapshots no reference globals ({other:?})"),
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        let memory = self
            .instance
            .get_memory(&mut *self.store, name)
            .expect("Wizer asks only for the memories its instrumentation exported");
        contents(memory.data(&*self.store))
    }
}

/// Polls a future that never waits (Wizer's snapshot over a synchronous
/// instance) to completion.
fn now_or_never<F: Future>(f: F) -> anyhow::Result<F::Output> {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Ok(out),
        Poll::Pending => bail!("Wizer's snapshot waited on something; wprof cannot drive it"),
    }
}
