//! The twins most scenarios hand the passes: a plugin call on wprof's
//! Wasmtime host, set up again on an instrumented engine.

use std::marker::PhantomData;

use super::fuel::{self, FuelCounts};
use super::{Instrument, PassError, Twins};
use crate::driver::call::{Payload, PluginCall};
use crate::driver::wasmtime::{Abi, WasmtimeDriver};
use crate::driver::{Driver, Instance, Limits};
use crate::measure::guest::GuestHandle;
use crate::timing::target::DynTarget;

/// Twins of a plugin call through calling convention `A`.
pub struct PluginTwins<'a, A, P> {
    /// The module's bytes, compiled again for each twin.
    pub bytes: &'a [u8],
    /// The export called.
    pub export: &'a str,
    /// The store's limits.
    pub limits: &'a Limits,
    /// What each call sends.
    pub input: P,
    /// The calling convention.
    pub abi: PhantomData<A>,
}

impl<'a, A: Abi, P: Payload + 'a> PluginTwins<'a, A, P> {
    /// The same call on an engine with `instrument`, its instance joining
    /// `sampler` where given.
    fn call(
        &self,
        instrument: Instrument,
        sampler: Option<&GuestHandle>,
    ) -> anyhow::Result<PluginCall<A::Instance, P>> {
        let driver = WasmtimeDriver::<A>::instrumented(instrument)?;
        let module = wasmtime::Module::from_binary(driver.engine(), self.bytes)?;
        let limits = Limits {
            fuel: (instrument == Instrument::Fuel).then_some(crate::measure::fuel::TANK),
            ..self.limits.clone()
        };
        let mut instance = driver
            .instantiate(&module, self.export, &limits)
            .map_err(|e| e.error)?;
        if let Some(s) = sampler {
            instance.join_guest_sampler(s).map_err(anyhow::Error::msg)?;
        }
        Ok(PluginCall::new(instance, self.input))
    }
}

impl<'a, A: Abi, P: Payload + 'a> Twins<'a> for PluginTwins<'a, A, P> {
    fn twin(
        &self,
        instrument: Instrument,
        sampler: Option<&GuestHandle>,
    ) -> anyhow::Result<Box<dyn DynTarget + 'a>> {
        Ok(Box::new(self.call(instrument, sampler)?))
    }

    fn fuel_twin(&self) -> Result<(Box<dyn DynTarget + 'a>, FuelCounts), PassError> {
        let mut t = self.call(Instrument::Fuel, None)?;
        t.input
            .encode(&mut t.encoded)
            .map_err(|e| PassError::Call(crate::error::at(crate::phase::Phase::Encode)(e)))?;
        let bytes = t.input.bytes(&t.encoded);
        let counts = fuel::counts(&mut t.instance, bytes, fuel::CALLS)?;
        Ok((Box::new(t), counts))
    }
}
