//! Precompiled modules (`.cwasm`): made for a rung's engine, checked and
//! loaded, and `wprof compile`, which makes one for `--precompiled`.

use std::fs;
use std::path::Path;

use anyhow::{Context as _, anyhow, bail};
use wasmtime::{Engine, Module};

use super::Rung;
use crate::error::{Error, one_line};
use crate::phase::Phase;
use crate::source::PluginSpec;

/// Precompiles `bytes` for `engine` into `path`; returns the artifact's size.
pub(super) fn precompile(engine: &Engine, bytes: &[u8], path: &Path) -> anyhow::Result<u64> {
    let cwasm = engine.precompile_module(bytes)?;
    fs::write(path, &cwasm).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(cwasm.len() as u64)
}

/// Loads a precompiled module, refusing anything that is not one made by
/// this Wasmtime with `engine`'s settings.
///
/// Wasmtime checks the artifact's header (its version and every setting that
/// affects compiled code) before using it; wprof never calls the unchecked
/// `deserialize_raw`. A `.cwasm` is still machine code: load only files you
/// trust.
pub fn load_precompiled(engine: &Engine, path: &Path) -> anyhow::Result<Module> {
    crate::files::check(path, crate::files::Kind::Artifact).map_err(|e| anyhow!(e))?;
    let not_one = |why: String| {
        anyhow!(
            "{} is not a module precompiled by Wasmtime ({why})",
            path.display()
        )
    };
    match Engine::detect_precompiled_file(path) {
        Ok(Some(wasmtime::Precompiled::Module)) => {}
        Ok(Some(wasmtime::Precompiled::Component)) => {
            bail!(
                "{} is a precompiled component, not a module",
                path.display()
            )
        }
        Ok(None) => return Err(not_one("no Wasmtime artifact header".into())),
        Err(e) => return Err(not_one(one_line(&e.into()))),
    }
    // SAFETY: the file is a Wasmtime artifact (checked above) and Wasmtime
    // checks its version and settings against `engine` before use.
    unsafe { Module::deserialize_file(engine, path) }.map_err(|e| {
        anyhow!(
            "{} was refused: {} (recompile it with `wprof compile`)",
            path.display(),
            one_line(&e.into())
        )
    })
}

/// `wprof compile`: precompiles `plugin` with `like`'s engine settings into
/// `output` (written whole or not at all); returns its size in bytes.
pub fn compile(plugin_spec: &PluginSpec, like: Rung, output: &Path) -> Result<u64, Error> {
    if !matches!(like, Rung::Cranelift | Rung::CraneliftOptNone | Rung::Winch) {
        return Err(Error::Config(format!(
            "--like {like}: only the compiling rungs (cranelift, cranelift-opt-none, winch) have settings to compile with"
        )));
    }
    let plugin = plugin_spec.resolve()?;
    let fail = |phase: Phase| {
        let name = plugin.name.clone();
        move |e: wasmtime::Error| Error::plugin(&name, phase, one_line(&e.into()))
    };
    let engine = Engine::new(&like.config()).map_err(fail(Phase::Engine))?;
    let cwasm = engine
        .precompile_module(&plugin.bytes)
        .map_err(fail(Phase::Compile))?;
    let inputs: Vec<std::path::PathBuf> = match plugin_spec {
        PluginSpec::File(p) => vec![p.clone()],
        PluginSpec::Bundled(_) => Vec::new(),
    };
    crate::export::write_one(output, &inputs, |w| Ok(w.write_all(&cwasm)?))?;
    Ok(cwasm.len() as u64)
}
