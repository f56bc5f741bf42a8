//! Extism's own runtime in the cold-start ladder: the Extism SDK driver
//! (a child process) makes the plugin and calls it once, timed there, in
//! three ways: `Plugin::new` from the manifest as Extism does by default
//! (Wasmtime's compilation cache on), the same with the cache off, and from
//! a plugin compiled once; and through libextism, the C API, the default
//! and the compiled way. Each is a variant beside the rungs, timed in their
//! rounds, so its ratio to the first rung is paired as theirs are.

use crate::driver::child::{ChildDriver, Program};
use crate::error::CallError;
use crate::phase::Phase;
use crate::scenario::runner::way;
use crate::timing::target::{Marks, Target};
use crate::timing::{Clock, Monotonic};

/// The variants: each's name, whether it goes through libextism (the C
/// API) rather than the SDK, the driver's name for the way, and what it
/// times.
pub(super) const WAYS: [(&str, bool, &str, &str); 5] = [
    (
        "extism-sdk",
        false,
        "new",
        "Extism's own runtime (the Rust SDK, in a child process): Plugin::new from the manifest, as Extism does by default: compiled code from Wasmtime's on-disk cache (EXTISM_CACHE_CONFIG; filled by the warm-up), instantiate (its kernel module included), first call",
    ),
    (
        "extism-sdk-uncached",
        false,
        "uncached",
        "Extism's own runtime (the Rust SDK, in a child process): Plugin::new with the compilation cache off: read, validate, compile, instantiate, first call, as the cranelift rung",
    ),
    (
        "extism-sdk-compiled",
        false,
        "compiled",
        "Extism's own runtime (the Rust SDK, in a child process): Plugin::new_from_compiled from a CompiledPlugin made once before (instantiate only), first call",
    ),
    (
        "libextism",
        true,
        "new",
        "Extism's runtime through libextism, its C API (its newest release, in a child process): extism_plugin_new from a JSON manifest, as a C host makes one by default (compiled code from Wasmtime's on-disk cache, filled by the warm-up), first call",
    ),
    (
        "libextism-compiled",
        true,
        "compiled",
        "Extism's runtime through libextism, its C API (in a child process): extism_plugin_new_from_compiled from an extism_compiled_plugin_new made once before (instantiate only), first call",
    ),
];

/// One way of the SDK's cold starts.
pub(super) struct SdkCold {
    driver: ChildDriver,
    way: &'static str,
    /// The SDK's first call's output, which opening it checked against
    /// wprof's: each cold start is timed in the driver, and its output is
    /// not sent back.
    output: Vec<u8>,
}

impl SdkCold {
    /// The SDK driver, opened on the plugin at `path` with `input`.
    pub(super) fn open(
        program: &Program,
        path: &std::path::Path,
        (export, input): (&str, &[u8]),
        limits: &crate::driver::Limits,
        way: &'static str,
    ) -> anyhow::Result<SdkCold> {
        let driver = ChildDriver::open_once(program, path, export, input, limits)?;
        let output = driver.opened().output.clone();
        Ok(SdkCold {
            driver,
            way,
            output,
        })
    }
}

impl Target for SdkCold {
    fn phases(&self) -> &'static [Phase] {
        &[Phase::ColdStart]
    }

    /// The driver times the cold start on CLOCK_MONOTONIC, the clock of
    /// this ladder: it lands on the timeline where the request was sent.
    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError> {
        let t0 = Monotonic::new().now();
        let ns = self.driver.cold_start(self.way)?;
        m.set(0, t0);
        m.set(1, t0 + ns);
        Ok(())
    }
}

way!(SdkCold => Vec<u8>, Execute, |w| w.output.clone());

/// Times Extism's own runtime's cold starts as variants of `runner`, or
/// notes why not: its driver not built, or failing on this plugin.
pub(super) fn ways(
    runner: &mut crate::scenario::runner::Runner<'_, Monotonic, Vec<u8>>,
    ctx: &super::ladder::Ctx,
    notes: &mut Vec<String>,
) {
    let Some(sdk) = Program::extism_sdk() else {
        notes.push(crate::driver::child::sdk_not_built("the cold starts are"));
        return;
    };
    let lib = Program::libextism();
    if lib.is_none() {
        notes.push(crate::driver::child::lib_not_there());
    }
    for (name, through_lib, way, what) in WAYS {
        let Some(program) = (if through_lib {
            lib.as_ref()
        } else {
            Some(&sdk)
        }) else {
            continue;
        };
        let mut opened = None;
        match SdkCold::open(program, ctx.path, (ctx.export, ctx.input), ctx.limits, way) {
            Ok(t) => opened = Some(t),
            Err(e) => notes.push(format!(
                "{name}: not measured: Extism's own runtime failed to open the plugin: {}",
                crate::error::one_line(&e)
            )),
        }
        if let Some(t) = opened {
            runner.way(
                crate::timing::settle::named(name, what),
                || Ok(t),
                |_, _| {},
            );
        }
    }
}
