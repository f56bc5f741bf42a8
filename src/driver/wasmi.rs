//! wasmi, the Rust WebAssembly interpreter, behind the [`Driver`] trait:
//! the wprof ABI (plugins/README.md) on wasmi's store, with the same
//! limits and per-call watch as wprof's Wasmtime host. Loading is split as
//! wasmi splits it: validation, then translation to its own bytecode
//! (eager here, so that translation is in the load figure rather than
//! spread over the first calls).

use anyhow::anyhow;
use wasmi::{Config, Engine, Instance as WasmiInstance, Linker, Memory, Module, Store, TypedFunc};

use super::wprof::{ALLOC_EXPORT, FREE_EXPORT, INIT_EXPORT};
use super::{Buf, Driver, Instance, Limits, Packed};
use crate::error::{CallError, Error, at, one_line};
use crate::phase::Phase;
use crate::run::{DriverInfo, PhaseTime, Unseen};

/// The wasmi release wprof is built with (the newest that builds on this
/// toolchain; Cargo.toml pins it).
pub const VERSION: &str = "2.0.0";

/// What a wasmi store holds: the limits its memories and tables grow to.
pub struct State {
    limits: wasmi::StoreLimits,
    /// The memory limit, for the message when a plugin meets it.
    memory_bytes: Option<usize>,
    /// The output limit.
    output_bytes: Option<usize>,
}

/// wasmi running wprof-ABI plugins.
pub struct WasmiDriver {
    engine: Engine,
}

impl Default for WasmiDriver {
    fn default() -> Self {
        let mut config = Config::default();
        // Eager: the whole module is translated in `load`, as Cranelift
        // compiles it there; lazy translation would hide that cost in the
        // first calls of each function.
        config.compilation_mode(wasmi::CompilationMode::Eager);
        config.wasm_simd(true);
        WasmiDriver {
            engine: Engine::new(&config),
        }
    }
}

/// A wprof plugin's instance on wasmi.
pub struct WasmiPlugin {
    store: Store<State>,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    free: TypedFunc<(i32, i32), ()>,
    func: TypedFunc<(i32, i32), i64>,
    output: Vec<u8>,
}

/// A wasmi error as one line, naming the limit where a grow was refused.
fn why(e: wasmi::Error, memory_bytes: Option<usize>) -> anyhow::Error {
    let text = one_line(&anyhow!("{e}"));
    match memory_bytes {
        Some(limit) if text.contains("resource limiter") || text.contains("denied") => anyhow!(
            "linear memory or table limit reached: {text} (memory limit {} KiB, --memory-limit)",
            limit / 1024
        ),
        _ => anyhow!("{text}"),
    }
}

impl Driver for WasmiDriver {
    type Module = Module;
    type Instance = WasmiPlugin;

    fn info(&self) -> DriverInfo {
        DriverInfo {
            name: "wasmi (wprof)".to_owned(),
            engine: format!("wasmi {VERSION}"),
            compiler: "interpreter (eager translation to wasmi bytecode)".to_owned(),
            abi: "wprof ABI".to_owned(),
            process: "in-process".to_owned(),
            unseen: Vec::<Unseen>::new(),
        }
    }

    fn load(
        &self,
        plugin: &str,
        bytes: &[u8],
        setup: &mut Vec<PhaseTime>,
    ) -> Result<Module, Error> {
        if wasmparser::Parser::is_component(bytes) {
            return Err(Error::plugin(
                plugin,
                Phase::Validate,
                "a component: wasmi runs core modules only",
            ));
        }
        super::timed(setup, Phase::Validate, || {
            Module::validate(&self.engine, bytes)
        })
        .map_err(|e| Error::plugin(plugin, Phase::Validate, one_line(&anyhow!("{e}"))))?;
        // SAFETY: `bytes` passed `Module::validate` on this very engine (its
        // config's features) just above; `new_unchecked` only skips
        // validating them a second time, so that compile is translation alone.
        super::timed(setup, Phase::Compile, || unsafe {
            Module::new_unchecked(&self.engine, bytes)
        })
        .map_err(|e| Error::plugin(plugin, Phase::Compile, one_line(&anyhow!("{e}"))))
    }

    fn instantiate(
        &self,
        module: &Module,
        export: &str,
        limits: &Limits,
    ) -> Result<WasmiPlugin, CallError> {
        let fail = |m: String| at(Phase::Instantiate)(anyhow!(m));
        let imports: Vec<String> = module
            .imports()
            .map(|i| format!("{}.{}", i.module(), i.name()))
            .collect();
        if !imports.is_empty() {
            return Err(fail(format!(
                "the module imports {}, and the wprof ABI supplies no imports",
                imports.join(", ")
            )));
        }
        let mut built = wasmi::StoreLimitsBuilder::new().trap_on_grow_failure(true);
        if let Some(m) = limits.memory_bytes {
            built = built.memory_size(m);
        }
        if let Some(t) = limits.table_elements {
            built = built.table_elements(t);
        }
        let mut store = Store::new(
            &self.engine,
            State {
                limits: built.build(),
                memory_bytes: limits.memory_bytes,
                output_bytes: limits.output_bytes,
            },
        );
        store.limiter(|s| &mut s.limits);
        let linker = Linker::<State>::new(&self.engine);
        crate::watchdog::enter(Phase::Instantiate);
        let instance = linker.instantiate_and_start(&mut store, module);
        crate::watchdog::leave();
        let instance = instance.map_err(|e| at(Phase::Instantiate)(why(e, limits.memory_bytes)))?;
        bind(store, instance, export).map_err(at(Phase::Instantiate))
    }

    fn choose_export(
        &self,
        plugin: &str,
        given: Option<&str>,
        module: &Module,
    ) -> Result<String, Error> {
        use wasmi::{ExternType, ValType};
        let candidates: Vec<String> = module
            .exports()
            .filter(|e| ![ALLOC_EXPORT, FREE_EXPORT, INIT_EXPORT].contains(&e.name()))
            .filter(|e| match e.ty() {
                ExternType::Func(f) => {
                    matches!(f.params(), [ValType::I32, ValType::I32])
                        && matches!(f.results(), [ValType::I64])
                }
                _ => false,
            })
            .map(|e| e.name().to_owned())
            .collect();
        super::pick_export(
            plugin,
            given,
            &candidates,
            "export",
            "no export has the wprof signature (i32, i32) -> i64: pass --export",
        )
    }
}

/// Binds a new instance's wprof ABI entry points for calls of `export`.
fn bind(
    mut store: Store<State>,
    instance: WasmiInstance,
    export: &str,
) -> anyhow::Result<WasmiPlugin> {
    let memory = instance
        .get_memory(&store, "memory")
        .ok_or_else(|| anyhow!("the module exports no memory named `memory`"))?;
    fn typed<P: wasmi::WasmParams, R: wasmi::WasmResults>(
        instance: &WasmiInstance,
        store: &mut Store<State>,
        name: &str,
        sig: &str,
    ) -> anyhow::Result<TypedFunc<P, R>> {
        let func = instance
            .get_func(&*store, name)
            .ok_or_else(|| anyhow!("the module has no exported function `{name}`"))?;
        func.typed::<P, R>(&*store).map_err(|_| {
            anyhow!(
                "export `{name}` has type {:?}, but the wprof ABI needs {sig}",
                func.ty(&*store)
            )
        })
    }
    let alloc = typed(&instance, &mut store, ALLOC_EXPORT, "(i32) -> i32")?;
    let free = typed(&instance, &mut store, FREE_EXPORT, "(i32, i32) -> ()")?;
    let func = typed(&instance, &mut store, export, "(i32, i32) -> i64")?;
    Ok(WasmiPlugin {
        store,
        memory,
        alloc,
        free,
        func,
        output: Vec::new(),
    })
}

impl WasmiPlugin {
    fn failed(&self, phase: Phase) -> impl Fn(wasmi::Error) -> CallError + '_ {
        move |e| at(phase)(why(e, self.store.data().memory_bytes))
    }
}

impl Instance for WasmiPlugin {
    #[inline(always)]
    fn copy_in(&mut self, input: &[u8]) -> Result<Buf, CallError> {
        let len = super::input_len(input)?;
        crate::watchdog::enter(Phase::CopyIn);
        let ptr = self.alloc.call(&mut self.store, len);
        crate::watchdog::leave();
        let ptr = ptr.map_err(self.failed(Phase::CopyIn))?;
        match self
            .memory
            .write(&mut self.store, ptr as u32 as usize, input)
        {
            Ok(()) => Ok((ptr, len)),
            Err(_) => Err(at(Phase::CopyIn)(anyhow!(
                "wprof_alloc({len}) returned {ptr:#x}, outside linear memory"
            ))),
        }
    }

    #[inline(always)]
    fn execute(&mut self, (ptr, len): Buf) -> Result<Packed, CallError> {
        crate::watchdog::enter(Phase::Execute);
        let packed = self.func.call(&mut self.store, (ptr, len));
        crate::watchdog::leave();
        packed.map(Packed).map_err(self.failed(Phase::Execute))
    }

    #[inline(always)]
    fn copy_out(&mut self, packed: Packed) -> Result<Buf, CallError> {
        let data = self.memory.data(&self.store);
        let (bytes, buf) =
            super::wprof::packed_output(data, packed, self.store.data().output_bytes)?;
        self.output.clear();
        self.output.extend_from_slice(bytes);
        Ok(buf)
    }

    #[inline(always)]
    fn free(&mut self, (ptr, len): Buf) -> Result<(), CallError> {
        crate::watchdog::enter(Phase::Free);
        let freed = self.free.call(&mut self.store, (ptr, len));
        crate::watchdog::leave();
        freed.map_err(self.failed(Phase::Free))
    }

    fn output(&self) -> &[u8] {
        &self.output
    }

    fn linear_memory(&self) -> Option<(*const u8, usize)> {
        Some((
            self.memory.data_ptr(&self.store) as *const u8,
            self.memory.data_size(&self.store),
        ))
    }
}

/// wasmi as [`super::engine::Engine`] `wasmi`.
pub struct Wasmi;

impl super::engine::Engine for Wasmi {
    fn name(&self) -> &'static str {
        "wasmi"
    }

    fn open<'a>(
        &'a self,
        job: &super::engine::Job<'a>,
    ) -> Result<Box<dyn super::engine::Opened + 'a>, CallError> {
        super::engine::wprof_abi_only(job.bytes, "wasmi")?;
        super::engine::open_in_process(WasmiDriver::default(), job)
    }
}
