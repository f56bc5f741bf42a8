//! The component model on Wasmtime, split into phases: a store whose call
//! hook stamps every entry into and exit from wasm, so that a component
//! call's lowering, execution and lifting can be told apart.

use wasmtime::Engine;

use super::Limits;
use crate::timing::Clock;

/// A component instance's store data: its limits, and where the call hook
/// last saw wasm entered and left.
pub struct Hooked {
    limits: Limits,
    /// When wasm was entered, the last two times (oldest first). After a
    /// call of a function without a post-return, the last is the export's
    /// entry (those before it are `cabi_realloc`'s, while lowering); with
    /// one, the last is the post-return's and the one before the export's.
    pub entered: [u64; 2],
    /// When wasm was left, the last two times, likewise.
    pub left: [u64; 2],
}

/// A store for a component with no call hook (the passes that look
/// inside a call take it whole), bounded by `limits`.
pub fn plain_store(engine: &Engine, limits: Limits) -> wasmtime::Store<Hooked> {
    let mut store = wasmtime::Store::new(
        engine,
        Hooked {
            limits,
            entered: [0; 2],
            left: [0; 2],
        },
    );
    store.limiter(|h| &mut h.limits);
    store
}

/// A store for a component whose every entry into and exit from wasm a
/// call hook stamps with `clock`, bounded by `limits`.
pub fn hooked_store<C: Clock + Copy + Send + Sync + 'static>(
    engine: &Engine,
    limits: Limits,
    clock: C,
) -> wasmtime::Store<Hooked> {
    let mut store = plain_store(engine, limits);
    store.call_hook(move |mut ctx, kind| {
        let shift = |pair: &mut [u64; 2], t: u64| *pair = [pair[1], t];
        match kind {
            wasmtime::CallHook::CallingWasm => shift(&mut ctx.data_mut().entered, clock.now()),
            wasmtime::CallHook::ReturningFromWasm => shift(&mut ctx.data_mut().left, clock.now()),
            _ => {}
        }
        Ok(())
    });
    store
}
