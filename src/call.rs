//! `wprof call`: one call of a plugin's export, printing what it returned.
//! For checking a plugin (and its native build) before profiling it.

use crate::driver::guard::{Called, guarded_call};
use crate::driver::wasmtime::{Abi, WasmtimeDriver};
use crate::driver::{Driver, Limits};
use crate::error::Error;
use crate::phase::Phase;
use crate::source::{InputSpec, PluginBytes, PluginSpec};

/// Settings of `wprof call`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallConfig {
    /// Plugin to call. Default: the bundled drug-checker.
    pub plugin: PluginSpec,
    /// Export to call. Default: the bundled plugin's export.
    pub export: Option<String>,
    /// Input. Default: the bundled plugin's input.json.
    pub input: InputSpec,
    /// Call the native build instead of the wasm. Default: false.
    pub native: bool,
    /// What the plugin may grow to and return, and how long the call may
    /// run. Default: [`Limits::default`].
    pub limits: Limits,
}

/// Calls the export once (or its native build): the output bytes, and an
/// Extism plugin's log messages.
pub fn call(cfg: &CallConfig) -> Result<Called, Error> {
    let plugin = cfg.plugin.resolve()?;
    if cfg.native && plugin.bundled.is_none() {
        return Err(Error::Config(format!(
            "{}: no native build (only bundled plugins have one)",
            plugin.name
        )));
    }
    crate::driver::with_abi!(crate::kind::abi(&plugin.bytes), A => call_with::<A>(cfg, &plugin))
}

fn call_with<A: Abi>(cfg: &CallConfig, plugin: &PluginBytes) -> Result<Called, Error> {
    let name = &plugin.name;
    let driver = WasmtimeDriver::<A>::default();
    let module = driver.load(name, &plugin.bytes, &mut Vec::new())?;
    let input = if A::JSON {
        serde_json::to_vec(&cfg.input.load(plugin)?)
            .map_err(|e| Error::plugin(name, Phase::Encode, e.to_string()))?
    } else {
        cfg.input.raw(plugin)?
    };
    if let (true, Some(b)) = (cfg.native, plugin.bundled) {
        return (b.native)(&input)
            .map(|output| Called {
                output,
                logs: Vec::new(),
            })
            .map_err(|e| Error::plugin(name, Phase::Execute, e));
    }
    let given = cfg.export.as_deref().or(plugin.bundled.map(|b| b.export));
    let export = driver.choose_export(name, given, &module)?;
    // On an engine with epoch interruption: one call is no timing, and a
    // plugin that never returns is stopped at the deadline.
    guarded_call::<A>(name, &plugin.bytes, &export, &input, &cfg.limits)
}
