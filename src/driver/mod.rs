//! Host drivers: each runs plugins on one engine through one calling
//! convention, behind one trait, so that scenarios time drivers without
//! knowing which one.
//!
//! - [`Driver`] loads a module (timing the load phases it can see) and
//!   makes [`Instance`]s of it; an instance is called phase by phase:
//!   copy-in, execute, copy-out, free. Scenarios wrap instances in
//!   [`crate::timing::target::Target`]s and time them in this process.
//! - [`wasmtime`] is wprof's own Wasmtime host; [`wprof`] and [`extism`]
//!   are the two calling conventions it speaks ([`wasmtime::Abi`]).
//! - [`engine`] puts every engine `record engines` compares behind one
//!   object-safe trait: Wasmtime's three compilers
//!   ([`wasmtime::compiler`]), wasmi (the `wasmi` feature), V8 through
//!   [`node`], and [`wasmer`] in a build of its own.
//! - [`child`] is a driver in a child process: it runs the timing loop
//!   there, with the same clock discipline, and sends the raw stamps back
//!   over a versioned protocol; statistics are computed here, once, for
//!   every driver.

pub mod call;
pub mod child;
pub mod component;
pub mod engine;
pub mod extism;
pub mod guard;
mod limits;
pub mod node;
pub mod wasi;
pub mod wasmer;
#[cfg(feature = "wasmi")]
pub mod wasmi;
pub mod wasmtime;
pub mod wprof;
pub mod wprof_host;

pub use limits::Limits;

use crate::error::{CallError, Error};
use crate::phase::Phase;
use crate::run::{DriverInfo, PhaseTime};

/// Evaluates `$body` with the type `$A` bound to the Wasmtime calling
/// convention `$abi` names: the one place an [`crate::kind::Abi`] value becomes a type,
/// so that no call path matches on it.
macro_rules! with_abi {
    ($abi:expr, $A:ident => $body:expr) => {
        match $abi {
            $crate::kind::Abi::Wprof => {
                type $A = $crate::driver::wprof::Wprof;
                $body
            }
            $crate::kind::Abi::Extism => {
                type $A = $crate::driver::extism::Extism;
                $body
            }
        }
    };
}
pub(crate) use with_abi;

/// Where copy-in put the input (or where copy-out found the output): an
/// offset and a length in the plugin's memory.
pub type Buf = (i32, i32);

/// An input's length as a 32-bit guest's copy-in takes it.
#[inline(always)]
pub(crate) fn input_len(input: &[u8]) -> Result<i32, CallError> {
    i32::try_from(input.len()).map_err(|_| {
        crate::error::at(Phase::CopyIn)(anyhow::anyhow!(
            "input of {} bytes is over 2 GiB",
            input.len()
        ))
    })
}

/// What execute returned: where its result lies, in the calling
/// convention's own encoding.
#[derive(Debug, Clone, Copy)]
pub struct Packed(pub i64);

/// A live plugin instance, called phase by phase. A driver's phases that
/// it cannot split (a runtime that copies the input inside its call) are
/// empty here and named in its [`DriverInfo`].
pub trait Instance {
    /// copy-in: puts `input` where the plugin reads it.
    fn copy_in(&mut self, input: &[u8]) -> Result<Buf, CallError>;
    /// execute: calls the plugin's export on the input.
    fn execute(&mut self, buf: Buf) -> Result<Packed, CallError>;
    /// copy-out: copies the result into [`Instance::output`].
    fn copy_out(&mut self, packed: Packed) -> Result<Buf, CallError>;
    /// free: releases the call's buffers in the plugin.
    fn free(&mut self, out: Buf) -> Result<(), CallError>;
    /// The output of the last call.
    fn output(&self) -> &[u8];

    /// The four phases in turn: one whole call, its output in
    /// [`Instance::output`].
    #[inline(always)]
    fn call(&mut self, input: &[u8]) -> Result<(), CallError> {
        let buf = self.copy_in(input)?;
        let packed = self.execute(buf)?;
        let out = self.copy_out(packed)?;
        self.free(out)
    }

    /// What the plugin logged so far, as `level: message` lines (Extism).
    fn logs(&self) -> Vec<String> {
        Vec::new()
    }

    /// The instance's linear memory, where the driver can see it: where it
    /// starts and its size.
    fn linear_memory(&self) -> Option<(*const u8, usize)> {
        None
    }

    /// Fuel left, where the engine meters fuel.
    fn fuel_left(&self) -> Option<u64> {
        None
    }

    /// Joins the guest sampler: its ticks interrupt this instance's wasm.
    fn join_guest_sampler(
        &mut self,
        _sampler: &crate::measure::guest::GuestHandle,
    ) -> Result<(), String> {
        Err("this driver's engine has no epoch interruption to sample by".into())
    }
}

/// An instance borrowed for one call: what a caller that keeps the
/// instance itself (a pool, a per-request instance) hands to a
/// [`call::PluginCall`].
impl<I: Instance + ?Sized> Instance for &mut I {
    #[inline(always)]
    fn copy_in(&mut self, input: &[u8]) -> Result<Buf, CallError> {
        (**self).copy_in(input)
    }
    #[inline(always)]
    fn execute(&mut self, buf: Buf) -> Result<Packed, CallError> {
        (**self).execute(buf)
    }
    #[inline(always)]
    fn copy_out(&mut self, packed: Packed) -> Result<Buf, CallError> {
        (**self).copy_out(packed)
    }
    #[inline(always)]
    fn free(&mut self, out: Buf) -> Result<(), CallError> {
        (**self).free(out)
    }
    fn output(&self) -> &[u8] {
        (**self).output()
    }
}

/// A host that runs plugins: loads a module, makes instances of it.
pub trait Driver {
    /// A loaded (validated, compiled) module.
    type Module;
    /// An instance of one.
    type Instance: Instance;

    /// What the driver is: engine, version, settings, calling convention,
    /// and the phases it cannot see.
    fn info(&self) -> DriverInfo;

    /// Validates and compiles `bytes`, appending the time of each phase it
    /// can see to `setup`. `plugin` names the plugin in errors.
    fn load(
        &self,
        plugin: &str,
        bytes: &[u8],
        setup: &mut Vec<PhaseTime>,
    ) -> Result<Self::Module, Error>;

    /// A new instance of `module`, ready to call `export`, its store
    /// bounded by `limits`.
    fn instantiate(
        &self,
        module: &Self::Module,
        export: &str,
        limits: &Limits,
    ) -> Result<Self::Instance, CallError>;

    /// The export to call: the one given, else the only candidate the
    /// calling convention allows; an error naming them otherwise.
    fn choose_export(
        &self,
        plugin: &str,
        given: Option<&str>,
        module: &Self::Module,
    ) -> Result<String, Error>;
}

/// Every engine `record engines` compares, in the order reports list them.
pub fn engines() -> Vec<Box<dyn engine::Engine>> {
    use wasmtime::compiler::Compiler;
    #[cfg(feature = "wasmi")]
    let wasmi: Box<dyn engine::Engine> = Box::new(wasmi::Wasmi);
    #[cfg(not(feature = "wasmi"))]
    let wasmi: Box<dyn engine::Engine> = Box::new(engine::NotBuilt {
        name: "wasmi",
        feature: "wasmi",
    });
    vec![
        Box::new(engine::Wasmtime(Compiler::Cranelift)),
        Box::new(engine::Wasmtime(Compiler::Winch)),
        Box::new(engine::Wasmtime(Compiler::Pulley)),
        wasmi,
        Box::new(node::Node),
        Box::new(wasmer::Wasmer(wasmer::Backend::Cranelift)),
        Box::new(wasmer::Wasmer(wasmer::Backend::Singlepass)),
    ]
}

/// The names of [`engines`], for `--engines`.
pub fn engine_names() -> Vec<&'static str> {
    engines().iter().map(|e| e.name()).collect()
}

/// The export to call: `given`, else the only one of `candidates`; an
/// error naming them where there are several (`noun`: what they are) or
/// none (`none`: the message).
pub fn pick_export(
    plugin: &str,
    given: Option<&str>,
    candidates: &[String],
    noun: &str,
    none: &str,
) -> Result<String, Error> {
    if let Some(name) = given {
        return Ok(name.to_owned());
    }
    match candidates {
        [only] => Ok(only.clone()),
        [] => Err(Error::plugin(plugin, Phase::Instantiate, none)),
        many => Err(Error::plugin(
            plugin,
            Phase::Instantiate,
            format!(
                "cannot tell which {noun} to call ({}): pass --export",
                many.join(", ")
            ),
        )),
    }
}

/// Runs `f`, appending its wall-clock duration to `setup` as `phase`: the
/// one-off phases measured once (load, compile, engine creation).
pub fn timed<T>(setup: &mut Vec<PhaseTime>, phase: Phase, f: impl FnOnce() -> T) -> T {
    let start = std::time::Instant::now();
    let out = f();
    setup.push(PhaseTime {
        phase,
        ns: start.elapsed().as_nanos() as f64,
    });
    out
}
