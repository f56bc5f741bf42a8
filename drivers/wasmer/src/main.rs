//! A wprof host driver: Wasmer 7.4.2 running wprof-ABI plugins
//! (plugins/README.md), on its Cranelift backend (`--backend cranelift`,
//! Wasmer's default) or its single-pass one (`--backend singlepass`),
//! served over wprof's driver protocol v1 by wprof-driver-kit.
//!
//! A call has wprof's four phases (copy-in, execute, copy-out, free), each
//! stamped. Loading is split as Wasmer splits it: validation, then
//! compilation without validating again. wprof's limits are Wasmer's
//! tunables: a memory or table gets the limit as its maximum, so that a
//! grow past it fails inside the plugin, as on Wasmtime and wasmi.

use std::ptr::NonNull;
use std::time::Instant;

use base64::Engine as _;
use serde_json::{Value, json};
use wasmer::sys::vm::{
    MemoryError, MemoryStyle, TableStyle, VMMemory, VMMemoryDefinition, VMTable, VMTableDefinition,
};
use wasmer::sys::{BaseTunables, EngineBuilder, NativeEngineExt, Tunables};
use wasmer::{
    Imports, Instance, Memory, MemoryType, Module, Pages, Store, TableType, TypedFunction,
};
use wprof_driver_kit::{Session, enter, error, leave, now, reading, serve};

/// The Wasmer release this driver is built with (Cargo.toml pins it).
const VERSION: &str = "7.4.2";
/// The phases of a call, in order.
const PHASES: [&str; 4] = ["copy-in", "execute", "copy-out", "free"];

/// Which of Wasmer's compilers compiles the module.
#[derive(Clone, Copy)]
enum Backend {
    Cranelift,
    Singlepass,
}

/// wprof's limits, as the `open` request gives them.
#[derive(Clone, Copy, Default)]
struct Limits {
    memory_bytes: Option<u64>,
    table_elements: Option<u32>,
    output_bytes: Option<u64>,
}

/// Wasmer's base tunables, each memory's and table's maximum narrowed to
/// wprof's limits.
struct Limiting {
    base: BaseTunables,
    limits: Limits,
}

impl Limiting {
    fn memory(&self, ty: &MemoryType) -> Result<MemoryType, MemoryError> {
        let Some(bytes) = self.limits.memory_bytes else {
            return Ok(*ty);
        };
        let limit = Pages((bytes / 65536) as u32);
        if ty.minimum > limit {
            return Err(MemoryError::Generic(format!(
                "linear memory limit reached: the module starts with {} pages, over the limit of {} (--memory-limit)",
                ty.minimum.0, limit.0
            )));
        }
        let mut narrowed = *ty;
        narrowed.maximum = Some(ty.maximum.map_or(limit, |m| m.min(limit)));
        Ok(narrowed)
    }

    fn table(&self, ty: &TableType) -> Result<TableType, String> {
        let Some(limit) = self.limits.table_elements else {
            return Ok(*ty);
        };
        if ty.minimum > limit {
            return Err(format!(
                "table limit reached: the module starts with {} elements, over the limit of {limit} (--table-limit)",
                ty.minimum
            ));
        }
        let mut narrowed = *ty;
        narrowed.maximum = Some(ty.maximum.map_or(limit, |m| m.min(limit)));
        Ok(narrowed)
    }
}

impl Tunables for Limiting {
    fn memory_style(&self, memory: &MemoryType) -> MemoryStyle {
        self.base
            .memory_style(&self.memory(memory).unwrap_or(*memory))
    }

    fn table_style(&self, table: &TableType) -> TableStyle {
        self.base.table_style(table)
    }

    fn create_host_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
    ) -> Result<VMMemory, MemoryError> {
        self.base.create_host_memory(&self.memory(ty)?, style)
    }

    unsafe fn create_vm_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
        location: NonNull<VMMemoryDefinition>,
    ) -> Result<VMMemory, MemoryError> {
        let ty = self.memory(ty)?;
        // SAFETY: the caller's contract (a valid definition location) is
        // handed on unchanged; only the memory type is narrowed.
        unsafe { self.base.create_vm_memory(&ty, style, location) }
    }

    fn create_host_table(&self, ty: &TableType, style: &TableStyle) -> Result<VMTable, String> {
        self.base.create_host_table(&self.table(ty)?, style)
    }

    unsafe fn create_vm_table(
        &self,
        ty: &TableType,
        style: &TableStyle,
        location: NonNull<VMTableDefinition>,
    ) -> Result<VMTable, String> {
        let ty = self.table(ty)?;
        // SAFETY: as in `create_vm_memory`.
        unsafe { self.base.create_vm_table(&ty, style, location) }
    }
}

/// An engine on `backend` whose stores keep to `limits`.
fn engine(backend: Backend, limits: Limits) -> wasmer::Engine {
    let mut engine: wasmer::Engine = match backend {
        Backend::Cranelift => EngineBuilder::new(wasmer::sys::Cranelift::default()).into(),
        Backend::Singlepass => EngineBuilder::new(wasmer::sys::Singlepass::default()).into(),
    };
    engine.set_tunables(Limiting {
        base: BaseTunables::new(),
        limits,
    });
    engine
}

/// Validates and compiles `bytes`, stamping `t[0..=2]`.
fn load(engine: &wasmer::Engine, bytes: &[u8], t: &mut [u64]) -> Result<Module, Value> {
    t[0] = now();
    Module::validate(engine, bytes).map_err(|e| error("validate", e.to_string()))?;
    t[1] = now();
    // SAFETY: `bytes` passed `Module::validate` on this very engine just
    // above; the unchecked path only skips validating them again, so that
    // compile is compilation alone.
    let module = unsafe { Module::from_binary_unchecked(engine, bytes) }
        .map_err(|e| error("compile", e.to_string()))?;
    t[2] = now();
    Ok(module)
}

/// A wprof-ABI instance, called phase by phase on one input.
struct Plugin {
    store: Store,
    memory: Memory,
    alloc: TypedFunction<i32, i32>,
    free: TypedFunction<(i32, i32), ()>,
    func: TypedFunction<(i32, i32), i64>,
    input: Vec<u8>,
    len: i32,
    limits: Limits,
    /// The host's copy of the last output.
    output: Vec<u8>,
    /// Where the last output lay, for free.
    out: (i32, i32),
    /// Kept alive with its functions.
    _instance: Instance,
}

/// Instantiates `module` (imports none: the wprof ABI supplies none) and
/// binds its entry points for calls of `export`.
fn instantiate(
    engine: &wasmer::Engine,
    module: &Module,
    export: &str,
    input: &[u8],
    limits: Limits,
) -> Result<Plugin, Value> {
    let imports: Vec<String> = module
        .imports()
        .take(10)
        .map(|i| format!("{}.{}", i.module(), i.name()))
        .collect();
    if !imports.is_empty() {
        return Err(error(
            "instantiate",
            format!(
                "the module imports {}, and the wprof ABI supplies no imports",
                imports.join(", ")
            ),
        ));
    }
    let fail = |m: String| error("instantiate", m);
    let mut store = Store::new(engine.clone());
    // A start function runs here: watched as a call is.
    enter();
    let instance = Instance::new(&mut store, module, &Imports::new());
    leave();
    let instance = instance.map_err(|e| fail(e.to_string()))?;
    let memory = instance
        .exports
        .get_memory("memory")
        .map_err(|_| fail("the module exports no memory named `memory`".into()))?
        .clone();
    fn typed<P: wasmer::WasmTypeList, R: wasmer::WasmTypeList>(
        instance: &Instance,
        store: &Store,
        name: &str,
        sig: &str,
    ) -> Result<TypedFunction<P, R>, Value> {
        let func = instance.exports.get_function(name).map_err(|_| {
            error(
                "instantiate",
                format!("the module has no exported function `{name}`"),
            )
        })?;
        func.typed::<P, R>(store).map_err(|_| {
            error(
                "instantiate",
                format!(
                    "export `{name}` has type {}, but the wprof ABI needs {sig}",
                    func.ty(store)
                ),
            )
        })
    }
    let alloc = typed(&instance, &store, "wprof_alloc", "(i32) -> i32")?;
    let free = typed(&instance, &store, "wprof_free", "(i32, i32) -> ()")?;
    let func = typed(&instance, &store, export, "(i32, i32) -> i64")?;
    let len = i32::try_from(input.len()).map_err(|_| {
        error(
            "copy-in",
            format!("input of {} bytes is over 2 GiB", input.len()),
        )
    })?;
    Ok(Plugin {
        store,
        memory,
        alloc,
        free,
        func,
        input: input.to_vec(),
        len,
        limits,
        output: Vec::new(),
        out: (0, 0),
        _instance: instance,
    })
}

impl Plugin {
    /// A trap as an `error` answer in `phase`. Where a memory limit is
    /// set, the answer says where linear memory stands against it: Wasmer
    /// refuses a memory.grow past the limit with -1, which a plugin's
    /// allocator usually turns into a trap of its own.
    fn trapped(&self, phase: &str, e: wasmer::RuntimeError) -> Value {
        match self.limits.memory_bytes {
            Some(limit) => {
                let size = self.memory.view(&self.store).data_size();
                error(
                    phase,
                    format!(
                        "{e} (linear memory {} KiB of its {} KiB limit, --memory-limit: a memory.grow past it is refused)",
                        size / 1024,
                        limit / 1024
                    ),
                )
            }
            None => error(phase, e.to_string()),
        }
    }

    #[inline(always)]
    fn copy_in(&mut self) -> Result<i32, Value> {
        enter();
        let ptr = self.alloc.call(&mut self.store, self.len);
        leave();
        let ptr = ptr.map_err(|e| self.trapped("copy-in", e))?;
        self.memory
            .view(&self.store)
            .write(ptr as u32 as u64, &self.input)
            .map_err(|_| {
                error(
                    "copy-in",
                    format!(
                        "wprof_alloc({}) returned {ptr:#x}, outside linear memory",
                        self.len
                    ),
                )
            })?;
        Ok(ptr)
    }

    #[inline(always)]
    fn execute(&mut self, ptr: i32) -> Result<i64, Value> {
        enter();
        let packed = self.func.call(&mut self.store, ptr, self.len);
        leave();
        packed.map_err(|e| self.trapped("execute", e))
    }

    /// Copies the result out, as wprof's host does: the high word is where
    /// it lies, the low 31 bits its length, the top bit an error.
    #[inline(always)]
    fn copy_out(&mut self, packed: i64) -> Result<(), Value> {
        let (ptr, lo) = ((packed >> 32) as u32, packed as u32);
        let len = lo & 0x7fff_ffff;
        let view = self.memory.view(&self.store);
        let size = view.data_size();
        if ptr as u64 + len as u64 > size {
            return Err(error(
                "copy-out",
                format!("result at {ptr:#x}..+{len} lies outside linear memory ({size} bytes)"),
            ));
        }
        if let Some(limit) = self.limits.output_bytes
            && len as u64 > limit
        {
            return Err(error(
                "copy-out",
                format!(
                    "output of {len} bytes is over the {} KiB output limit",
                    limit / 1024
                ),
            ));
        }
        self.output.resize(len as usize, 0);
        view.read(ptr as u64, &mut self.output)
            .map_err(|e| error("copy-out", e.to_string()))?;
        if lo > 0x7fff_ffff {
            return Err(error(
                "execute",
                format!(
                    "the plugin returned an error: {}",
                    String::from_utf8_lossy(&self.output)
                ),
            ));
        }
        self.out = (ptr as i32, len as i32);
        Ok(())
    }

    #[inline(always)]
    fn release(&mut self) -> Result<(), Value> {
        enter();
        let freed = self.free.call(&mut self.store, self.out.0, self.out.1);
        leave();
        freed.map_err(|e| self.trapped("free", e))
    }
}

/// The open plugin and how to make it again.
struct Open {
    backend: Backend,
    engine: wasmer::Engine,
    bytes: Vec<u8>,
    export: String,
    plugin: Plugin,
    /// The first call's output, which every cold start's must equal.
    first: Vec<u8>,
    calls: u64,
}

impl Session for Open {
    #[inline(always)]
    fn call(&mut self) -> Result<(), Value> {
        let p = &mut self.plugin;
        let ptr = p.copy_in()?;
        let packed = p.execute(ptr)?;
        p.copy_out(packed)?;
        p.release()
    }

    #[inline(always)]
    fn marked(&mut self, stamps: &mut Vec<u64>) -> Result<(), Value> {
        let p = &mut self.plugin;
        stamps.push(now());
        let ptr = p.copy_in()?;
        stamps.push(now());
        let packed = p.execute(ptr)?;
        stamps.push(now());
        p.copy_out(packed)?;
        stamps.push(now());
        p.release()?;
        stamps.push(now());
        Ok(())
    }

    fn stamps_per_call(&self) -> usize {
        PHASES.len() + 1
    }

    /// `split`: the module made again from its bytes on a new engine (so
    /// no compiled code is reused), each phase timed, to the first call's
    /// output.
    fn cold_start(&mut self, way: &str) -> Result<Value, Value> {
        if way != "split" {
            return Err(error(
                "instantiate",
                "the Wasmer driver's cold starts are `split`",
            ));
        }
        let engine = engine(self.backend, self.plugin.limits);
        let mut t = [0u64; 5];
        let module = load(&engine, &self.bytes, &mut t)?;
        let mut p = instantiate(
            &engine,
            &module,
            &self.export,
            &self.plugin.input,
            self.plugin.limits,
        )?;
        t[3] = now();
        let ptr = p.copy_in()?;
        let packed = p.execute(ptr)?;
        p.copy_out(packed)?;
        p.release()?;
        t[4] = now();
        if p.output != self.first {
            return Err(error(
                "copy-out",
                "a cold start's first output differs from the open plugin's",
            ));
        }
        Ok(
            json!({"op": "cold_start", "ns": t[4] - t[0], "phases": phases(&["validate", "compile", "instantiate", "call"], &t)}),
        )
    }

    /// The open instance after `calls` more calls, with the module compiled
    /// again, then with `instances` more instances of it, each called once
    /// and kept alive.
    fn memory(&mut self, instances: u64, calls: u64) -> Result<Value, Value> {
        let t0 = Instant::now();
        let mut points = vec![reading("1 instance", t0, 1, self.calls)];
        for _ in 0..calls {
            self.call()?;
        }
        self.calls += calls;
        points.push(reading("calls", t0, 1, self.calls));
        let mut t = [0u64; 3];
        let module = load(&self.engine, &self.bytes, &mut t)?;
        points.push(reading("module", t0, 1, self.calls));
        let mut kept = Vec::with_capacity(instances as usize);
        for _ in 0..instances {
            let mut p = instantiate(
                &self.engine,
                &module,
                &self.export,
                &self.plugin.input,
                self.plugin.limits,
            )?;
            let ptr = p.copy_in()?;
            let packed = p.execute(ptr)?;
            p.copy_out(packed)?;
            p.release()?;
            kept.push(p);
        }
        points.push(reading(
            "instances",
            t0,
            1 + instances,
            self.calls + instances,
        ));
        drop(kept);
        Ok(json!({"op": "memory", "points": points}))
    }
}

/// Phase times from stamps: `t[k]` before phase k, `t[k + 1]` after it.
fn phases(names: &[&str], t: &[u64]) -> Value {
    names
        .iter()
        .enumerate()
        .map(|(k, p)| json!({"phase": p, "ns": (t[k + 1] - t[k]) as f64}))
        .collect()
}

fn open(backend: Backend, req: &Value) -> Result<(Open, Value), Value> {
    let path = req["plugin"].as_str().unwrap_or_default().to_owned();
    let export = req["export"].as_str().unwrap_or_default().to_owned();
    let input = match req["input"]["bytes"].as_str() {
        Some(b) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|e| error("copy-in", format!("the input is not base64: {e}")))?,
        None => {
            return Err(error(
                "encode",
                "the Wasmer driver takes its input as bytes (base64), not JSON",
            ));
        }
    };
    let bytes =
        std::fs::read(&path).map_err(|e| error("read", format!("cannot read {path}: {e}")))?;
    let l = &req["limits"];
    let limits = Limits {
        memory_bytes: l["memory_bytes"].as_u64(),
        table_elements: l["table_elements"]
            .as_u64()
            .map(|t| t.min(u32::MAX as u64) as u32),
        output_bytes: l["output_bytes"].as_u64(),
    };
    let engine = engine(backend, limits);
    let mut t = [0u64; 4];
    let module = load(&engine, &bytes, &mut t)?;
    let mut plugin = instantiate(&engine, &module, &export, &input, limits)?;
    t[3] = now();
    let ptr = plugin.copy_in()?;
    let packed = plugin.execute(ptr)?;
    plugin.copy_out(packed)?;
    plugin.release()?;
    let first = plugin.output.clone();
    let opened = json!({
        "op": "opened",
        "protocol": wprof_driver_kit::PROTOCOL,
        "driver": {
            "name": "wasmer (wprof)",
            "engine": format!("Wasmer {VERSION}"),
            "compiler": match backend {
                Backend::Cranelift => "Cranelift (Wasmer's own build of it, 0.135.0)",
                Backend::Singlepass => "single-pass",
            },
            "abi": "wprof ABI, bytes",
            "process": format!("child process (pid {})", std::process::id()),
            "unseen": [],
        },
        "phases": PHASES,
        "setup": phases(&["validate", "compile", "instantiate"], &t),
        "output": base64::engine::general_purpose::STANDARD.encode(&first),
        "clock": "monotonic",
    });
    Ok((
        Open {
            backend,
            engine,
            bytes,
            export,
            plugin,
            first,
            calls: 1,
        },
        opened,
    ))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let backend = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] | ["--backend", "cranelift"] => Backend::Cranelift,
        ["--backend", "singlepass"] => Backend::Singlepass,
        _ => {
            eprintln!(
                "wprof-wasmer: unexpected arguments {args:?} (expected none, or --backend cranelift|singlepass)"
            );
            std::process::exit(2);
        }
    };
    serve("wprof-wasmer", |req| open(backend, req));
}
