//! The host side of the wprof plugin ABI (plugins/README.md) on Wasmtime:
//! loading a module phase by phase, and one call split into its phases.

use std::time::Instant;

use anyhow::{Context as _, anyhow, bail};
use wasmtime::{Engine, Instance, Memory, Module, Store, TypedFunc};
use wprof_guest::unpack;

use crate::error::{Error, one_line};
use crate::phase::Phase;
use crate::run::PhaseTime;

/// Export names every wprof plugin has.
pub const ALLOC_EXPORT: &str = "wprof_alloc";
/// See [`ALLOC_EXPORT`].
pub const FREE_EXPORT: &str = "wprof_free";

/// A compiled module plus what its setup phases cost.
pub struct Loaded {
    /// The engine it was compiled for.
    pub engine: Engine,
    /// The compiled module.
    pub module: Module,
    /// Size of the binary module in bytes.
    pub size_bytes: u64,
    /// Read (when measured), validate and compile timings.
    pub setup: Vec<PhaseTime>,
}

fn timed<T>(setup: &mut Vec<PhaseTime>, phase: Phase, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    setup.push(PhaseTime { phase, ns: start.elapsed().as_nanos() as f64 });
    out
}

/// Turns module bytes (binary, or text format) into binary.
pub fn to_binary(bytes: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| anyhow!("not a wasm module (no \\0asm magic, and not UTF-8 text format)"))?;
    wat::parse_str(text).map_err(|e| anyhow!("not a wasm module (no \\0asm magic), nor valid text format: {e}"))
}

/// Reads `path`: the read phase.
pub fn read(plugin: &str, path: &std::path::Path) -> Result<(Vec<u8>, PhaseTime), Error> {
    let start = Instant::now();
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read {}", path.display()))
        .and_then(to_binary)
        .map_err(|e| Error::plugin(plugin, Phase::Read, one_line(&e)))?;
    Ok((bytes, PhaseTime { phase: Phase::Read, ns: start.elapsed().as_nanos() as f64 }))
}

/// Validates and compiles `bytes` for `engine`, timing each.
pub fn load(plugin: &str, engine: &Engine, bytes: &[u8], mut setup: Vec<PhaseTime>) -> Result<Loaded, Error> {
    timed(&mut setup, Phase::Validate, || Module::validate(engine, bytes))
        .map_err(|e| Error::plugin(plugin, Phase::Validate, one_line(&e.into())))?;
    // Module::from_binary validates again; the validate phase above is the
    // figure for validation, and compile's includes that second pass.
    let module = timed(&mut setup, Phase::Compile, || Module::from_binary(engine, bytes))
        .map_err(|e| Error::plugin(plugin, Phase::Compile, one_line(&e.into())))?;
    Ok(Loaded { engine: engine.clone(), module, size_bytes: bytes.len() as u64, setup })
}

/// The plugin's functions that take `(ptr, len)` and return a packed result:
/// candidates for `--export`.
pub fn abi_exports(module: &Module) -> Vec<String> {
    use wasmtime::{ExternType, ValType};
    module
        .exports()
        .filter(|e| e.name() != ALLOC_EXPORT && e.name() != FREE_EXPORT)
        .filter(|e| match e.ty() {
            ExternType::Func(f) => {
                let params: Vec<_> = f.params().collect();
                let results: Vec<_> = f.results().collect();
                matches!(params[..], [ValType::I32, ValType::I32]) && matches!(results[..], [ValType::I64])
            }
            _ => false,
        })
        .map(|e| e.name().to_owned())
        .collect()
}

/// A live instance and its ABI entry points, with reusable host buffers.
pub struct Plugin {
    store: Store<()>,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    free: TypedFunc<(i32, i32), ()>,
    func: TypedFunc<(i32, i32), i64>,
    /// The output of the last call, copied out of linear memory.
    pub output: Vec<u8>,
}

/// Result location returned by [`Plugin::execute`].
#[derive(Debug, Clone, Copy)]
pub struct Packed(i64);

impl Plugin {
    /// Instantiates `loaded` and looks up the ABI exports and `export`.
    pub fn instantiate(loaded: &Loaded, export: &str) -> anyhow::Result<Plugin> {
        let mut store = Store::new(&loaded.engine, ());
        let instance = Instance::new(&mut store, &loaded.module, &[])?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| anyhow!("the module exports no memory named `memory`"))?;
        let alloc = typed(&instance, &mut store, ALLOC_EXPORT, "(i32) -> i32")?;
        let free = typed(&instance, &mut store, FREE_EXPORT, "(i32, i32) -> ()")?;
        let func = typed(&instance, &mut store, export, "(i32, i32) -> i64")?;
        Ok(Plugin { store, memory, alloc, free, func, output: Vec::new() })
    }

    /// copy-in: allocates a guest buffer and writes `input` into it.
    #[inline(always)]
    pub fn copy_in(&mut self, input: &[u8]) -> anyhow::Result<(i32, i32)> {
        let len = i32::try_from(input.len()).map_err(|_| anyhow!("input of {} bytes is over 2 GiB", input.len()))?;
        let ptr = self.alloc.call(&mut self.store, len)?;
        self.memory
            .write(&mut self.store, ptr as u32 as usize, input)
            .map_err(|_| anyhow!("wprof_alloc({len}) returned {ptr:#x}, outside linear memory"))?;
        Ok((ptr, len))
    }

    /// execute: calls the export on the input buffer (which it takes over).
    #[inline(always)]
    pub fn execute(&mut self, (ptr, len): (i32, i32)) -> anyhow::Result<Packed> {
        Ok(Packed(self.func.call(&mut self.store, (ptr, len))?))
    }

    /// copy-out: copies the result into [`Plugin::output`]; a result flagged
    /// as an error becomes `Err` with the plugin's message.
    #[inline(always)]
    pub fn copy_out(&mut self, packed: Packed) -> anyhow::Result<(i32, i32)> {
        let (ptr, len, is_error) = unpack(packed.0);
        let data = self.memory.data(&self.store);
        let bytes = data.get(ptr as usize..ptr as usize + len as usize).ok_or_else(|| {
            anyhow!(
                "result at {ptr:#x}..+{len} lies outside linear memory ({} bytes)",
                data.len()
            )
        })?;
        if is_error {
            bail!("the plugin returned an error: {}", String::from_utf8_lossy(bytes));
        }
        self.output.clear();
        self.output.extend_from_slice(bytes);
        Ok((ptr as i32, len as i32))
    }

    /// free: releases the guest's result buffer.
    #[inline(always)]
    pub fn free(&mut self, (ptr, len): (i32, i32)) -> anyhow::Result<()> {
        Ok(self.free.call(&mut self.store, (ptr, len))?)
    }
}

fn typed<P, R>(instance: &Instance, store: &mut Store<()>, name: &str, sig: &str) -> anyhow::Result<TypedFunc<P, R>>
where
    P: wasmtime::WasmParams,
    R: wasmtime::WasmResults,
{
    let func = instance
        .get_func(&mut *store, name)
        .ok_or_else(|| anyhow!("the module has no exported function `{name}`"))?;
    func.typed::<P, R>(&*store).map_err(|_| {
        anyhow!(
            "export `{name}` has type {}, but the wprof ABI needs {sig}",
            func.ty(&*store)
        )
    })
}
