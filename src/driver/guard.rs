//! The guarded first call: one call of a plugin in a fresh instance, on an
//! engine with epoch interruption, stopped once the deadline has passed. It
//! runs before anything is timed, so that a plugin that never returns (in
//! its start function or its first call) is reported, not waited for. The
//! timing engines carry no epoch checks, which would slow every call (later
//! calls have [`crate::watchdog`]).

use anyhow::anyhow;
use wasmtime::{Engine, Module};

use super::wasmtime::{Abi, WasmtimeDriver, store};
use super::wprof::INIT_EXPORT;
use super::{Driver, Instance, Limits};
use crate::error::{CallError, Error, at, one_line};
use crate::phase::Phase;

/// What one guarded call returned.
#[derive(Debug)]
pub struct Called {
    /// The output.
    pub output: Vec<u8>,
    /// The plugin's log messages at the kept level, as `level: message`
    /// (Extism plugins; none for a wprof plugin).
    pub logs: Vec<String>,
}

/// One call of `export` on `input` in a fresh instance of `bytes`, through
/// calling convention `A`, stopped at `limits.deadline`.
pub fn guarded_call<A: Abi>(
    plugin: &str,
    bytes: &[u8],
    export: &str,
    input: &[u8],
    limits: &Limits,
) -> Result<Called, Error> {
    guarded(plugin, bytes, limits.deadline, |engine, module| {
        let driver = WasmtimeDriver::<A>::new(engine.clone(), "cranelift");
        let mut p = driver.instantiate(module, export, limits)?;
        p.call(input)?;
        Ok(Called {
            output: p.output().to_vec(),
            logs: p.logs(),
        })
    })
}

/// Runs the plugin's `wprof_init` once the same way, so that a start-up
/// that never returns is reported before Wizer runs it untimed-out.
pub fn guarded_init(plugin: &str, bytes: &[u8], limits: &Limits) -> Result<(), Error> {
    guarded(plugin, bytes, limits.deadline, |engine, module| {
        let mut store = store::<()>(engine, limits.clone());
        let instance =
            wasmtime::Instance::new(&mut store, module, &[]).map_err(at(Phase::Instantiate))?;
        let init = instance
            .get_typed_func::<(), ()>(&mut store, INIT_EXPORT)
            .map_err(|e| {
                at(Phase::PreInit)(anyhow!(
                    "`{INIT_EXPORT}` is not a `() -> ()` function: {}",
                    one_line(&e.into())
                ))
            })?;
        crate::watchdog::enter(Phase::PreInit);
        let done = init.call(&mut store, ());
        crate::watchdog::leave();
        done.map_err(|e| {
            let e: anyhow::Error = e.into();
            if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
                at(Phase::PreInit)(e)
            } else {
                at(Phase::PreInit)(anyhow!("`{INIT_EXPORT}` trapped: {}", one_line(&e)))
            }
        })
    })
}

/// Compiles `bytes` for an engine with epoch interruption and runs `f`,
/// moving the epoch on once `deadline` has passed; an interrupted call is
/// reported as not returning within the deadline.
fn guarded<T>(
    plugin: &str,
    bytes: &[u8],
    deadline: std::time::Duration,
    f: impl FnOnce(&Engine, &Module) -> Result<T, CallError>,
) -> Result<T, Error> {
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config)
        .map_err(|e| Error::plugin(plugin, Phase::Engine, one_line(&e.into())))?;
    let module = Module::from_binary(&engine, bytes)
        .map_err(|e| Error::plugin(plugin, Phase::Compile, one_line(&e.into())))?;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let watchdog = {
        let engine = engine.clone();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(deadline)
            {
                engine.increment_epoch();
            }
        })
    };
    let result = f(&engine, &module);
    drop(stop);
    let _ = watchdog.join();
    result.map_err(|e: CallError| {
        let interrupted = e
            .error
            .downcast_ref::<wasmtime::Trap>()
            .is_some_and(|t| *t == wasmtime::Trap::Interrupt);
        if interrupted {
            Error::plugin(
                plugin,
                e.phase,
                format!(
                    "did not return within the {} deadline (--deadline)",
                    humantime::format_duration(deadline)
                ),
            )
        } else {
            e.into_error(plugin)
        }
    })
}
