//! Fuel: Wasmtime's fuel metering charges about one unit per wasm
//! instruction, so fuel per call is deterministic: the same on every run of
//! the same plugin, input and Wasmtime version, which makes it the figure for
//! CI regression checks. Metering slows wasm down, so it runs on its own
//! engine in its own pass, never in the timing pass.

use wasmtime::{Config, Store};

/// Fuel a metered store starts with (`host::Limits::fuel`): more than any
/// call wprof makes can spend.
pub const TANK: u64 = u64::MAX / 2;

/// Turns fuel metering on: stores of an engine made from `config` count fuel.
pub fn configure(config: &mut Config) {
    config.consume_fuel(true);
}

/// Fuel left in `store` (0 where metering is off).
#[inline]
pub fn left<T>(store: &Store<T>) -> u64 {
    store.get_fuel().unwrap_or(0)
}
