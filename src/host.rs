//! The host side of the wprof plugin ABI (plugins/README.md) on Wasmtime:
//! loading a module phase by phase, and one call split into its phases.

use std::time::Instant;

use anyhow::{Context as _, anyhow, bail};
use wasmtime::{Engine, Instance, InstancePre, Memory, Module, Store, TypedFunc};
use wprof_guest::unpack;

use crate::error::{Error, one_line};
use crate::phase::Phase;
use crate::run::PhaseTime;

/// Export names every wprof plugin has.
pub const ALLOC_EXPORT: &str = "wprof_alloc";
/// See [`ALLOC_EXPORT`].
pub const FREE_EXPORT: &str = "wprof_free";
/// The optional export `() -> ()` that does a plugin's start-up work.
pub const INIT_EXPORT: &str = "wprof_init";

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

/// Runs `f`, appending its duration to `setup` as `phase`.
pub fn timed<T>(setup: &mut Vec<PhaseTime>, phase: Phase, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    setup.push(PhaseTime {
        phase,
        ns: start.elapsed().as_nanos() as f64,
    });
    out
}

/// Turns module bytes (binary, or text format) into binary.
pub fn to_binary(bytes: Vec<u8>) -> anyhow::Result<Vec<u8>> {
    if bytes.starts_with(b"\0asm") {
        return Ok(bytes);
    }
    let looks_like_text = std::str::from_utf8(&bytes)
        .ok()
        .map(str::trim_start)
        .filter(|t| t.starts_with('(') || t.starts_with(";;"));
    let Some(text) = looks_like_text else {
        let head: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
        bail!(
            "not a wasm module: no \\0asm magic (starts with {})",
            if head.is_empty() {
                "nothing: the file is empty".to_owned()
            } else {
                head.join(" ")
            }
        );
    };
    wat::parse_str(text).map_err(|e| {
        let first = e.to_string().lines().next().unwrap_or_default().to_owned();
        anyhow!("not valid wasm text format: {first}")
    })
}

/// Reads `path`: the read phase.
pub fn read(plugin: &str, path: &std::path::Path) -> Result<(Vec<u8>, PhaseTime), Error> {
    let start = Instant::now();
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read {}", path.display()))
        .and_then(to_binary)
        .map_err(|e| Error::plugin(plugin, Phase::Read, one_line(&e)))?;
    Ok((
        bytes,
        PhaseTime {
            phase: Phase::Read,
            ns: start.elapsed().as_nanos() as f64,
        },
    ))
}

/// Validates and compiles `bytes` for `engine`, timing each.
pub fn load(
    plugin: &str,
    engine: &Engine,
    bytes: &[u8],
    mut setup: Vec<PhaseTime>,
) -> Result<Loaded, Error> {
    if wasmparser::Parser::is_component(bytes) {
        return Err(Error::plugin(
            plugin,
            Phase::Validate,
            "a component, not a core-module plugin: `wprof record component` (or `record hot-path`, which hands it over) runs it; this scenario's phases are a core module's and do not apply",
        ));
    }
    timed(&mut setup, Phase::Validate, || {
        Module::validate(engine, bytes)
    })
    .map_err(|e| Error::plugin(plugin, Phase::Validate, one_line(&e.into())))?;
    // Module::from_binary validates again; the validate phase above is the
    // figure for validation, and compile's includes that second pass.
    let module = timed(&mut setup, Phase::Compile, || {
        Module::from_binary(engine, bytes)
    })
    .map_err(|e| Error::plugin(plugin, Phase::Compile, one_line(&e.into())))?;
    Ok(Loaded {
        engine: engine.clone(),
        module,
        size_bytes: bytes.len() as u64,
        setup,
    })
}

/// The plugin's functions that take `(ptr, len)` and return a packed result:
/// candidates for `--export`.
pub fn abi_exports(module: &Module) -> Vec<String> {
    use wasmtime::{ExternType, ValType};
    module
        .exports()
        .filter(|e| ![ALLOC_EXPORT, FREE_EXPORT, INIT_EXPORT].contains(&e.name()))
        .filter(|e| match e.ty() {
            ExternType::Func(f) => {
                let params: Vec<_> = f.params().collect();
                let results: Vec<_> = f.results().collect();
                matches!(params[..], [ValType::I32, ValType::I32])
                    && matches!(results[..], [ValType::I64])
            }
            _ => false,
        })
        .map(|e| e.name().to_owned())
        .collect()
}

/// A failure inside a call, with the phase it happened in.
#[derive(Debug)]
pub struct CallError {
    /// The phase that failed.
    pub phase: Phase,
    /// Why.
    pub error: anyhow::Error,
}

/// Tags an error with the phase it happened in.
pub fn at<E: Into<anyhow::Error>>(phase: Phase) -> impl FnOnce(E) -> CallError {
    move |e| CallError {
        phase,
        error: e.into(),
    }
}

impl CallError {
    /// Names the plugin: the one-line error wprof reports.
    pub fn into_error(self, plugin: &str) -> Error {
        Error::trapped(plugin, self.phase, &self.error)
    }
}

/// The export to call: the one given, else the bundled plugin's, else the
/// module's only export with the wprof call signature (for an Extism
/// plugin, its only plugin function).
pub fn choose_export(
    plugin: &str,
    given: Option<&str>,
    bundled: Option<&crate::bundled::Bundled>,
    module: &Module,
) -> Result<String, Error> {
    if let Some(name) = given.or(bundled.map(|b| b.export)) {
        return Ok(name.to_owned());
    }
    // Each ABI's candidates, what none of them is called, and what one is.
    let (candidates, none, noun) = if crate::extism::is_extism(module) {
        (
            crate::extism::plugin_functions(module),
            "this Extism plugin exports no plugin function (() -> i32)",
            "Extism plugin function",
        )
    } else {
        let exports = abi_exports(module);
        if exports.is_empty() && module.get_export("_start").is_some() {
            return Err(Error::plugin(
                plugin,
                Phase::Instantiate,
                "a WASI command (it exports _start), not a plugin: `wprof record command` (or `record hot-path`, which hands it over) runs it; this scenario's phases are a plugin's and do not apply",
            ));
        }
        (
            exports,
            "no export has the wprof signature (i32, i32) -> i64: pass --export",
            "export",
        )
    };
    match &candidates[..] {
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

/// What a plugin's store is given: what it may grow to and return, and for
/// an Extism plugin its config and log level. A hostile plugin meets the
/// limits as a one-line error naming the limit and the value it reached,
/// never as a host out of memory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Largest linear memory in bytes; `None`: as large as the module
    /// allows. Default: 1 GiB.
    pub memory_bytes: Option<usize>,
    /// Fuel the store starts with, for engines with fuel metering; `None`:
    /// none set (no metering). Default: none.
    pub fuel: Option<u64>,
    /// Most elements a table may grow to. Default: 1 000 000.
    pub table_elements: Option<usize>,
    /// Largest output a call may return, in bytes. Default: 64 MiB.
    pub output_bytes: Option<usize>,
    /// How long one call may run: the guard call is stopped at it, and a
    /// later call that overruns it ends the run. Default: 10 s.
    pub deadline: std::time::Duration,
    /// An Extism plugin's config and log level. Default: none, logging off.
    pub extism: crate::extism::ExtismOptions,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: Some(1 << 30),
            fuel: None,
            table_elements: Some(1_000_000),
            output_bytes: Some(64 << 20),
            deadline: std::time::Duration::from_secs(10),
            extism: crate::extism::ExtismOptions::default(),
        }
    }
}

impl wasmtime::ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        match self.memory_bytes {
            // An error (not `Ok(false)`) traps at once with this message,
            // instead of handing the plugin a -1 it may not check.
            Some(limit) if desired > limit => Err(wasmtime::format_err!(
                "linear memory limit reached: the plugin asked to grow from {} to {} KiB, over the {} KiB limit (--memory-limit)",
                current / 1024,
                desired / 1024,
                limit / 1024
            )),
            _ => Ok(true),
        }
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        match self.table_elements {
            Some(limit) if desired > limit => Err(wasmtime::format_err!(
                "table limit reached: the plugin asked to grow a table from {current} to {desired} elements, over the {limit}-element limit"
            )),
            _ => Ok(true),
        }
    }
}

/// A store's data: its limits, and the Extism kernel's state (empty and
/// unused for any other plugin).
#[derive(Debug, Default)]
pub struct HostState {
    /// What the plugin may grow to and return.
    pub limits: Limits,
    /// Kernel memory, vars and logs of an Extism plugin.
    pub extism: crate::extism::Kernel,
}

/// A new store for `engine` whose memory growth `limits` bounds, with the
/// fuel `limits` gives (set before instantiation, so that even a start
/// function runs on a metered engine).
pub fn store(engine: &Engine, limits: Limits) -> Store<HostState> {
    let mut store = Store::new(
        engine,
        HostState {
            limits,
            extism: Default::default(),
        },
    );
    store.limiter(|h| &mut h.limits);
    // On an engine with epoch interruption, run until the epoch moves on
    // (the deadline guard or a sampler moves it); elsewhere, no effect.
    store.set_epoch_deadline(1);
    if let Some(fuel) = store.data().limits.fuel {
        // Fails only where metering is off, and then there is nothing to fill.
        let _ = store.set_fuel(fuel);
    }
    store
}

/// A live instance and its ABI entry points, with reusable host buffers.
pub struct Plugin {
    store: Store<HostState>,
    memory: Memory,
    abi: Abi,
    /// The output of the last call, copied out of linear memory (or, for
    /// an Extism plugin, out of kernel memory).
    pub output: Vec<u8>,
}

/// The calling convention of a plugin's functions.
enum Abi {
    /// wprof's own (plugins/README.md).
    Wprof {
        alloc: TypedFunc<i32, i32>,
        free: TypedFunc<(i32, i32), ()>,
        func: TypedFunc<(i32, i32), i64>,
    },
    /// Extism's: `() -> i32`, input and output in kernel memory
    /// ([`crate::extism`]).
    Extism { func: TypedFunc<(), i32> },
}

/// Result location returned by [`Plugin::execute`].
#[derive(Debug, Clone, Copy)]
pub struct Packed(i64);

impl Plugin {
    /// Instantiates `loaded` and looks up the ABI exports and `export`.
    pub fn instantiate(loaded: &Loaded, export: &str) -> anyhow::Result<Plugin> {
        Plugin::new(&loaded.engine, &loaded.module, export)
    }

    /// Instantiates `module` in a new store of `engine`.
    pub fn new(engine: &Engine, module: &Module, export: &str) -> anyhow::Result<Plugin> {
        Plugin::limited(engine, module, export, Limits::default())
    }

    /// As [`Plugin::new`], with `limits` on the store.
    pub fn limited(
        engine: &Engine,
        module: &Module,
        export: &str,
        limits: Limits,
    ) -> anyhow::Result<Plugin> {
        let mut store = store(engine, limits);
        let instance = if crate::extism::is_extism(module) {
            linker(engine, module)?.instantiate(&mut store, module)?
        } else {
            if let Some(why) = unsupplied_imports(module) {
                bail!("{why}");
            }
            Instance::new(&mut store, module, &[])?
        };
        Plugin::with_instance(store, instance, export)
    }

    /// As [`Plugin::limited`], with the imports `linker` supplies.
    pub fn linked(
        linker: &wasmtime::Linker<HostState>,
        module: &Module,
        export: &str,
        limits: Limits,
    ) -> anyhow::Result<Plugin> {
        let mut store = store(linker.engine(), limits);
        let instance = linker.instantiate(&mut store, module)?;
        Plugin::with_instance(store, instance, export)
    }

    /// Instantiates a pre-linked module in a new store.
    pub fn from_pre(
        pre: &InstancePre<HostState>,
        export: &str,
        limits: Limits,
    ) -> anyhow::Result<Plugin> {
        let mut store = store(pre.module().engine(), limits);
        let instance = pre.instantiate(&mut store)?;
        Plugin::with_instance(store, instance, export)
    }

    /// The instance's store, e.g. to attach a sampler or read its fuel.
    pub fn store_mut(&mut self) -> &mut Store<HostState> {
        &mut self.store
    }

    /// See [`Plugin::store_mut`].
    pub fn store(&self) -> &Store<HostState> {
        &self.store
    }

    /// The instance's exported `memory`.
    pub fn memory(&self) -> Memory {
        self.memory
    }

    /// The instance's linear memory: where it starts and its current size.
    pub fn linear_memory(&self) -> (*const u8, usize) {
        (
            self.memory.data_ptr(&self.store) as *const u8,
            self.memory.data_size(&self.store),
        )
    }

    fn with_instance(
        mut store: Store<HostState>,
        instance: Instance,
        export: &str,
    ) -> anyhow::Result<Plugin> {
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| anyhow!("the module exports no memory named `memory`"))?;
        let extism = instance.get_export(&mut store, ALLOC_EXPORT).is_none()
            && instance
                .module(&store)
                .imports()
                .any(|i| i.module() == crate::extism::MODULE);
        let abi = if extism {
            // Extism runs a WASI reactor's start-up export before any call.
            if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
                init.call(&mut store, ())?;
            }
            Abi::Extism {
                func: typed(&instance, &mut store, export, "() -> i32", "Extism")?,
            }
        } else {
            Abi::Wprof {
                alloc: typed(&instance, &mut store, ALLOC_EXPORT, "(i32) -> i32", "wprof")?,
                free: typed(
                    &instance,
                    &mut store,
                    FREE_EXPORT,
                    "(i32, i32) -> ()",
                    "wprof",
                )?,
                func: typed(&instance, &mut store, export, "(i32, i32) -> i64", "wprof")?,
            }
        };
        Ok(Plugin {
            store,
            memory,
            abi,
            output: Vec::new(),
        })
    }

    /// An Extism plugin's log messages so far, at the kept level, as
    /// `level: message`, with a last line counting those not kept.
    pub fn logs(&self) -> Vec<String> {
        let k = &self.store.data().extism;
        let mut lines: Vec<String> = k.logs.iter().map(|(l, m)| format!("{l}: {m}")).collect();
        if k.log_calls > k.logs.len() as u64 && self.store.data().limits.extism.log_level.is_some()
        {
            lines.push(format!(
                "({} log calls in all; the first {} at the kept level are shown)",
                k.log_calls,
                k.logs.len()
            ));
        }
        lines
    }

    /// Whether this is an Extism plugin.
    pub fn is_extism(&self) -> bool {
        matches!(self.abi, Abi::Extism { .. })
    }

    /// copy-in: allocates a guest buffer and writes `input` into it.
    #[inline(always)]
    pub fn copy_in(&mut self, input: &[u8]) -> Result<(i32, i32), CallError> {
        let fail = at(Phase::CopyIn);
        let Ok(len) = i32::try_from(input.len()) else {
            return Err(fail(anyhow!(
                "input of {} bytes is over 2 GiB",
                input.len()
            )));
        };
        let alloc = match &self.abi {
            Abi::Wprof { alloc, .. } => alloc,
            Abi::Extism { .. } => {
                let HostState { limits, extism } = self.store.data_mut();
                extism.set_input(input, limits.memory_bytes).map_err(fail)?;
                return Ok((0, len));
            }
        };
        crate::watchdog::enter(Phase::CopyIn);
        let ptr = alloc.call(&mut self.store, len);
        crate::watchdog::leave();
        let ptr = ptr.map_err(at(Phase::CopyIn))?;
        match self
            .memory
            .write(&mut self.store, ptr as u32 as usize, input)
        {
            Ok(()) => Ok((ptr, len)),
            Err(_) => Err(fail(anyhow!(
                "wprof_alloc({len}) returned {ptr:#x}, outside linear memory"
            ))),
        }
    }

    /// Writes `bytes` at `ptr` in linear memory (a buffer the host keeps
    /// between calls).
    #[inline(always)]
    pub fn write_at(&mut self, ptr: i32, bytes: &[u8]) -> Result<(), CallError> {
        self.memory
            .write(&mut self.store, ptr as u32 as usize, bytes)
            .map_err(|_| {
                at(Phase::CopyIn)(anyhow!(
                    "{} bytes at {ptr:#x} do not fit in linear memory",
                    bytes.len()
                ))
            })
    }

    /// Calls `wprof_alloc(len)` alone: a buffer for [`Plugin::write_at`].
    pub fn alloc(&mut self, len: i32) -> Result<i32, CallError> {
        let Abi::Wprof { alloc, .. } = &self.abi else {
            return Err(at(Phase::CopyIn)(anyhow!(
                "an Extism plugin has no buffers in linear memory for the host"
            )));
        };
        crate::watchdog::enter(Phase::CopyIn);
        let ptr = alloc.call(&mut self.store, len);
        crate::watchdog::leave();
        ptr.map_err(at(Phase::CopyIn))
    }

    /// execute: calls the export on the input buffer (which it takes over).
    /// An Extism plugin that returns non-zero or sets an error fails here,
    /// with its message.
    #[inline(always)]
    pub fn execute(&mut self, (ptr, len): (i32, i32)) -> Result<Packed, CallError> {
        let func = match &self.abi {
            Abi::Wprof { func, .. } => func,
            Abi::Extism { func } => {
                crate::watchdog::enter(Phase::Execute);
                let rc = func.call(&mut self.store, ());
                crate::watchdog::leave();
                let rc = rc.map_err(at(Phase::Execute))?;
                let error = self.store.data().extism.error();
                return match (rc, error) {
                    (0, None) => Ok(Packed(0)),
                    (rc, Some(msg)) => Err(at(Phase::Execute)(anyhow!(
                        "the plugin returned an error (code {rc}): {msg}"
                    ))),
                    (rc, None) => Err(at(Phase::Execute)(anyhow!(
                        "the plugin returned code {rc} without setting an error"
                    ))),
                };
            }
        };
        crate::watchdog::enter(Phase::Execute);
        let packed = func.call(&mut self.store, (ptr, len));
        crate::watchdog::leave();
        packed.map(Packed).map_err(at(Phase::Execute))
    }

    /// copy-out: copies the result into [`Plugin::output`]. A result the
    /// plugin flagged as an error is reported as a failed execute.
    #[inline(always)]
    pub fn copy_out(&mut self, packed: Packed) -> Result<(i32, i32), CallError> {
        if let Abi::Extism { .. } = self.abi {
            let out = self
                .store
                .data()
                .extism
                .output()
                .map_err(at(Phase::CopyOut))?;
            check_output(out.len(), self.store.data().limits.output_bytes)?;
            self.output.clear();
            self.output.extend_from_slice(out);
            return Ok((0, out.len() as i32));
        }
        let (ptr, len, is_error) = unpack(packed.0);
        let data = self.memory.data(&self.store);
        let Some(bytes) = data.get(ptr as usize..ptr as usize + len as usize) else {
            return Err(at(Phase::CopyOut)(anyhow!(
                "result at {ptr:#x}..+{len} lies outside linear memory ({} bytes)",
                data.len()
            )));
        };
        check_output(bytes.len(), self.store.data().limits.output_bytes)?;
        if is_error {
            let msg = String::from_utf8_lossy(bytes);
            return Err(at(Phase::Execute)(anyhow!(
                "the plugin returned an error: {msg}"
            )));
        }
        self.output.clear();
        self.output.extend_from_slice(bytes);
        Ok((ptr as i32, len as i32))
    }

    /// free: releases the guest's result buffer (for an Extism plugin,
    /// every kernel memory block of the call).
    #[inline(always)]
    pub fn free(&mut self, (ptr, len): (i32, i32)) -> Result<(), CallError> {
        let free = match &self.abi {
            Abi::Wprof { free, .. } => free,
            Abi::Extism { .. } => {
                self.store.data_mut().extism.release();
                return Ok(());
            }
        };
        crate::watchdog::enter(Phase::Free);
        let freed = free.call(&mut self.store, (ptr, len));
        crate::watchdog::leave();
        freed.map_err(at(Phase::Free))
    }
}

/// An output of `len` bytes against the output limit.
#[inline(always)]
fn check_output(len: usize, limit: Option<usize>) -> Result<(), CallError> {
    match limit {
        Some(limit) if len > limit => Err(at(Phase::CopyOut)(anyhow!(
            "output of {len} bytes is over the {} KiB output limit",
            limit / 1024
        ))),
        _ => Ok(()),
    }
}

/// The imports of `module` that neither the wprof ABI (none) nor Extism's
/// host functions supply, named with the ABI that would supply each, where
/// wprof knows it.
pub fn unsupplied_imports(module: &Module) -> Option<String> {
    let extism = crate::extism::is_extism(module);
    let imports: Vec<String> = module
        .imports()
        .filter(|i| !(extism && i.module() == crate::extism::MODULE))
        .map(|i| {
            let abi = match i.module() {
                m if m.starts_with("wasi") => {
                    " (WASI: a WASI command runs under `wprof record command`; the plugin ABI grants no file access)"
                }
                "extism:host/user" => {
                    " (a host function the Extism application defines: wprof cannot supply it)"
                }
                "bench" => " (the Sightglass bench protocol: `wprof record command` supplies it)",
                _ => "",
            };
            format!("{}::{}{abi}", i.module(), i.name())
        })
        .collect();
    (!imports.is_empty()).then(|| {
        if extism {
            format!(
                "the module imports {}, which wprof's Extism host does not supply (it supplies extism:host/env)",
                imports.join(", ")
            )
        } else {
            format!(
                "the module imports {}, and the wprof ABI supplies no imports",
                imports.join(", ")
            )
        }
    })
}

/// A linker with what `module` imports from wprof: nothing for a wprof
/// plugin, Extism's host functions for an Extism plugin. Fails naming the
/// imports neither supplies.
pub fn linker(engine: &Engine, module: &Module) -> anyhow::Result<wasmtime::Linker<HostState>> {
    if let Some(why) = unsupplied_imports(module) {
        bail!("{why}");
    }
    let mut linker = wasmtime::Linker::new(engine);
    if crate::extism::is_extism(module) {
        crate::extism::add_to_linker(&mut linker)?;
    }
    Ok(linker)
}

/// One call of `export` on `input` in a fresh instance of `bytes`, on an
/// engine with epoch interruption, stopped once `limits.deadline` has
/// passed: run before anything is timed, so that a plugin that never returns
/// (in its start function or its first call) is reported, not waited for.
/// The timing engines carry no epoch checks, which would slow every call
/// (later calls have [`crate::watchdog`]).
pub fn guarded_call(
    plugin: &str,
    bytes: &[u8],
    export: &str,
    input: &[u8],
    limits: Limits,
) -> Result<Called, Error> {
    guarded(plugin, bytes, limits.deadline, |engine, module| {
        let mut p =
            Plugin::limited(engine, module, export, limits).map_err(at(Phase::Instantiate))?;
        let buf = p.copy_in(input)?;
        let packed = p.execute(buf)?;
        let out = p.copy_out(packed)?;
        p.free(out)?;
        Ok(Called {
            output: std::mem::take(&mut p.output),
            logs: p.logs(),
        })
    })
}

/// What one guarded call returned.
#[derive(Debug)]
pub struct Called {
    /// The output.
    pub output: Vec<u8>,
    /// An Extism plugin's log messages at the kept level, as `level:
    /// message` (none for a wprof plugin).
    pub logs: Vec<String>,
}

/// Runs the plugin's `wprof_init` once the same way, so that a start-up
/// that never returns is reported before Wizer runs it untimed-out.
pub fn guarded_init(plugin: &str, bytes: &[u8], limits: Limits) -> Result<(), Error> {
    guarded(plugin, bytes, limits.deadline, |engine, module| {
        let mut store = store(engine, limits);
        let instance = Instance::new(&mut store, module, &[]).map_err(at(Phase::Instantiate))?;
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

fn typed<P, R>(
    instance: &Instance,
    store: &mut Store<HostState>,
    name: &str,
    sig: &str,
    abi: &str,
) -> anyhow::Result<TypedFunc<P, R>>
where
    P: wasmtime::WasmParams,
    R: wasmtime::WasmResults,
{
    let func = instance
        .get_func(&mut *store, name)
        .ok_or_else(|| anyhow!("the module has no exported function `{name}`"))?;
    func.typed::<P, R>(&*store).map_err(|_| {
        anyhow!(
            "export `{name}` has type {}, but the {abi} ABI needs {sig}",
            func.ty(&*store)
        )
    })
}
