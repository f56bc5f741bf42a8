//! The rungs' twins for the passes that look inside: the same rung set up
//! again on an instrumented engine; its fuel is the first call's, on the
//! module the rung loads (the snapshot, for wizer).

use std::marker::PhantomData;

use super::Rung;
use super::ladder::{Ctx, RungTarget};
use crate::driver::Driver;
use crate::driver::wasmtime::{Abi, WasmtimeDriver};
use crate::inside::fuel::{self, FuelCounts};
use crate::inside::{Instrument, PassError, Twins};
use crate::measure::guest::GuestHandle;
use crate::timing::target::DynTarget;

/// Calls of the fuel count: the first call, and enough after it to see
/// whether the steady call is constant.
const FUEL_CALLS: u64 = 10;

/// Twins of one rung.
pub(super) struct RungTwins<'a, A> {
    pub(super) rung: Rung,
    pub(super) ctx: &'a Ctx<'a>,
    /// The module whose first call the rung makes (the wizer snapshot, or
    /// the plugin's own bytes), for the fuel count.
    pub(super) fuel_bytes: &'a [u8],
    pub(super) abi: PhantomData<A>,
}

impl<'a, A: Abi> Twins<'a> for RungTwins<'a, A> {
    fn twin(
        &self,
        instrument: Instrument,
        sampler: Option<&GuestHandle>,
    ) -> anyhow::Result<Box<dyn DynTarget + 'a>> {
        RungTarget::<A>::new(self.rung, self.ctx, Some(instrument), sampler.cloned())
            .map(|t| Box::new(t) as Box<dyn DynTarget + 'a>)
            .map_err(|e| anyhow::anyhow!("{}: {}", e.phase, crate::error::one_line(&e.error)))
    }

    fn fuel_twin(&self) -> Result<(Box<dyn DynTarget + 'a>, FuelCounts), PassError> {
        let counts = counts::<A>(self.fuel_bytes, self.ctx)?;
        let twin = RungTarget::<A>::new(self.rung, self.ctx, Some(Instrument::Fuel), None)
            .map_err(PassError::Call)?;
        Ok((Box::new(twin), counts))
    }
}

/// Fuel of the first and the steady calls into a fresh instance of `bytes`.
fn counts<A: Abi>(bytes: &[u8], ctx: &Ctx) -> Result<FuelCounts, PassError> {
    let driver = WasmtimeDriver::<A>::instrumented(Instrument::Fuel)?;
    let module =
        wasmtime::Module::from_binary(driver.engine(), bytes).map_err(anyhow::Error::from)?;
    let limits = crate::driver::Limits {
        fuel: Some(crate::measure::fuel::TANK),
        ..ctx.limits.clone()
    };
    let mut p = driver.instantiate(&module, ctx.export, &limits)?;
    Ok(fuel::counts(&mut p, ctx.input, FUEL_CALLS)?)
}
