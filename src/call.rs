//! `wprof call`: one call of a plugin's export, printing what it returned.
//! For checking a plugin (and its native build) before profiling it.

use crate::error::Error;
use crate::host;
use crate::phase::Phase;
use crate::source::{InputSpec, PluginSpec};

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
    /// run. Default: [`host::Limits::default`].
    pub limits: host::Limits,
}

/// Calls the export once (or its native build): the output bytes, and an
/// Extism plugin's log messages.
pub fn call(cfg: &CallConfig) -> Result<host::Called, Error> {
    let plugin = cfg.plugin.resolve()?;
    let name = plugin.name.clone();
    let engine = wasmtime::Engine::default();
    let loaded = host::load(&name, &engine, &plugin.bytes, Vec::new())?;
    if cfg.native && plugin.bundled.is_none() {
        return Err(Error::Config(format!(
            "{name}: no native build (only bundled plugins have one)"
        )));
    }
    if crate::extism::is_extism(&loaded.module) {
        let input = cfg.input.raw(&plugin)?;
        let export =
            host::choose_export(&name, cfg.export.as_deref(), plugin.bundled, &loaded.module)?;
        return host::guarded_call(&name, &plugin.bytes, &export, &input, cfg.limits.clone());
    }
    let input = serde_json::to_vec(&cfg.input.load(&plugin)?)
        .map_err(|e| Error::plugin(&name, Phase::Encode, e.to_string()))?;
    if cfg.native {
        let b = plugin.bundled.ok_or_else(|| {
            Error::Config(format!(
                "{name}: no native build (only bundled plugins have one)"
            ))
        })?;
        return (b.native)(&input)
            .map(|output| host::Called {
                output,
                logs: Vec::new(),
            })
            .map_err(|e| Error::plugin(&name, Phase::Execute, e));
    }
    let export = host::choose_export(&name, cfg.export.as_deref(), plugin.bundled, &loaded.module)?;
    // On an engine with epoch interruption: one call is no timing, and a
    // plugin that never returns is stopped at the deadline.
    host::guarded_call(&name, &plugin.bytes, &export, &input, cfg.limits.clone())
}
