//! What every instance on wprof's Wasmtime host holds, whatever its calling
//! convention: its store, its exported memory and the host's output buffer.

use wasmtime::{Memory, Store};

use super::HostState;
use crate::measure::guest::GuestHandle;

/// A live instance's store, memory and output buffer.
pub struct Bound<S: 'static> {
    /// The instance's store.
    pub store: Store<HostState<S>>,
    /// Its exported `memory`.
    pub memory: Memory,
    /// The output of the last call, copied out.
    pub output: Vec<u8>,
}

impl<S: 'static> Bound<S> {
    /// Binds `instance`'s exported `memory`.
    pub fn new(
        mut store: Store<HostState<S>>,
        instance: &wasmtime::Instance,
    ) -> anyhow::Result<Self> {
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| anyhow::anyhow!("the module exports no memory named `memory`"))?;
        Ok(Bound {
            store,
            memory,
            output: Vec::new(),
        })
    }

    /// Where linear memory starts, and its size now.
    pub fn linear_memory(&self) -> (*const u8, usize) {
        (
            self.memory.data_ptr(&self.store) as *const u8,
            self.memory.data_size(&self.store),
        )
    }

    /// Fuel left, where the engine meters it.
    pub fn fuel_left(&self) -> Option<u64> {
        self.store.get_fuel().ok()
    }

    /// Joins the guest sampler (the engine must have epoch interruption).
    pub fn join_guest_sampler(&mut self, sampler: &GuestHandle) {
        sampler.attach(&mut self.store);
    }
}

/// The [`crate::driver::Instance`] methods every instance holding a
/// `bound: Bound<_>` field answers the same way, written once.
macro_rules! bound_instance_methods {
    () => {
        fn linear_memory(&self) -> Option<(*const u8, usize)> {
            Some(self.bound.linear_memory())
        }

        fn fuel_left(&self) -> Option<u64> {
            self.bound.fuel_left()
        }

        fn join_guest_sampler(
            &mut self,
            sampler: &$crate::measure::guest::GuestHandle,
        ) -> Result<(), String> {
            self.bound.join_guest_sampler(sampler);
            Ok(())
        }
    };
}
pub(crate) use bound_instance_methods;
