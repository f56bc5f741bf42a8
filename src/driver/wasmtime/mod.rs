//! wprof's own Wasmtime host: the engine, stores bounded by [`Limits`],
//! loading a module phase by phase, and the two calling conventions it
//! speaks behind [`Abi`] ([`super::wprof`], [`super::extism`]). One
//! [`WasmtimeDriver`] per convention; no call path matches on which.

mod bound;
pub mod compiler;

use std::marker::PhantomData;

use anyhow::{anyhow, bail};
use wasmtime::{Engine, InstancePre, Linker, Module, Store};

pub use bound::Bound;
pub(crate) use bound::bound_instance_methods;

use super::{Driver, Instance, Limits};
use crate::error::{CallError, Error, at, one_line};
use crate::phase::Phase;
use crate::run::{DriverInfo, PhaseTime, Unseen};

/// Wasmtime version wprof was built with (read from Cargo.lock by build.rs).
pub const VERSION: &str = env!("WPROF_WASMTIME_VERSION");

/// A store's data: its limits, and the calling convention's own state
/// (Extism's kernel memory; nothing for the wprof ABI).
#[derive(Debug, Default)]
pub struct HostState<S> {
    /// What the plugin may grow to and return.
    pub limits: Limits,
    /// The calling convention's state.
    pub abi: S,
}

/// A new store for `engine` whose memory growth `limits` bounds, with the
/// fuel `limits` gives (set before instantiation, so that even a start
/// function runs on a metered engine).
pub fn store<S: Default + 'static>(engine: &Engine, limits: Limits) -> Store<HostState<S>> {
    let mut store = Store::new(
        engine,
        HostState {
            limits,
            abi: S::default(),
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

/// A calling convention on wprof's Wasmtime host: what a plugin imports
/// from the host, which exports it calls, and how a call goes.
pub trait Abi: 'static + Sized {
    /// The convention, as [`crate::kind`] names it.
    const KIND: crate::kind::Abi;
    /// Its short name (`wprof`, `extism`).
    const NAME: &'static str;
    /// How the report describes it.
    const DESCRIPTION: &'static str;
    /// Whether the host encodes the input as JSON and decodes the output
    /// (the wprof ABI), or hands the plugin bytes as they are (Extism).
    const JSON: bool;
    /// Whether it supplies host functions (linked for every instance).
    const HOST_FUNCTIONS: bool;
    /// What a callable export is called in messages.
    const NOUN: &'static str;
    /// The message when no export can be called.
    const NONE: &'static str;
    /// Per-store state.
    type State: Default + Send + 'static;
    /// An instance, bound to its entry points.
    type Instance: Instance + AsMut<Bound<Self::State>> + Send;

    /// Whether the convention supplies imports from `module`.
    fn supplies(module: &str) -> bool;
    /// Adds the host functions `module` needs to `linker`.
    fn add_to_linker(
        linker: &mut Linker<HostState<Self::State>>,
        module: &Module,
    ) -> wasmtime::Result<()>;
    /// The exports a plugin may be called through.
    fn candidates(module: &Module) -> Vec<String>;
    /// Binds a new instance's entry points for calls of `export`.
    fn bind(
        store: Store<HostState<Self::State>>,
        instance: wasmtime::Instance,
        export: &str,
    ) -> anyhow::Result<Self::Instance>;
}

/// wprof's Wasmtime host speaking calling convention `A`.
pub struct WasmtimeDriver<A> {
    engine: Engine,
    /// The compiler, for the report (`cranelift`, `winch`).
    compiler: &'static str,
    abi: PhantomData<A>,
}

impl<A: Abi> Default for WasmtimeDriver<A> {
    fn default() -> Self {
        Self::new(Engine::default(), "cranelift")
    }
}

impl<A: Abi> WasmtimeDriver<A> {
    /// A driver on `engine`, whose code `compiler` compiles.
    pub fn new(engine: Engine, compiler: &'static str) -> Self {
        WasmtimeDriver {
            engine,
            compiler,
            abi: PhantomData,
        }
    }

    /// A driver on a default engine with one instrument turned on.
    pub fn instrumented(
        instrument: crate::measure::instrument::Instrument,
    ) -> anyhow::Result<Self> {
        Ok(Self::new(
            Engine::new(&crate::measure::instrument::config(instrument))?,
            "cranelift",
        ))
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A linker with what `module` imports from the host; fails naming
    /// the imports this convention does not supply.
    pub fn linker(&self, module: &Module) -> anyhow::Result<Linker<HostState<A::State>>> {
        if let Some(why) = unsupplied::<A>(module) {
            bail!("{why}");
        }
        let mut linker = Linker::new(&self.engine);
        A::add_to_linker(&mut linker, module)?;
        Ok(linker)
    }

    /// A new instance of `module` with the imports `linker` supplies.
    pub fn instantiate_linked(
        linker: &Linker<HostState<A::State>>,
        module: &Module,
        export: &str,
        limits: &Limits,
    ) -> Result<A::Instance, CallError> {
        let mut store = store(linker.engine(), limits.clone());
        let instance = guarded_instantiate(|| linker.instantiate(&mut store, module))?;
        A::bind(store, instance, export).map_err(at(Phase::Instantiate))
    }

    /// A new instance from a pre-linked module.
    pub fn instantiate_pre(
        pre: &InstancePre<HostState<A::State>>,
        export: &str,
        limits: &Limits,
    ) -> Result<A::Instance, CallError> {
        let mut store = store(pre.module().engine(), limits.clone());
        let instance = guarded_instantiate(|| pre.instantiate(&mut store))?;
        A::bind(store, instance, export).map_err(at(Phase::Instantiate))
    }

    /// A pre-linked `module`: its imports resolved once.
    pub fn pre(&self, module: &Module) -> anyhow::Result<InstancePre<HostState<A::State>>> {
        Ok(self.linker(module)?.instantiate_pre(module)?)
    }
}

/// Instantiation, watched: a start function runs in it.
fn guarded_instantiate(
    f: impl FnOnce() -> wasmtime::Result<wasmtime::Instance>,
) -> Result<wasmtime::Instance, CallError> {
    crate::watchdog::enter(Phase::Instantiate);
    let instance = f();
    crate::watchdog::leave();
    instance.map_err(at(Phase::Instantiate))
}

impl<A: Abi> Driver for WasmtimeDriver<A> {
    type Module = Module;
    type Instance = A::Instance;

    fn info(&self) -> DriverInfo {
        DriverInfo {
            name: format!("wasmtime ({})", A::NAME),
            engine: format!("wasmtime {VERSION}"),
            compiler: self.compiler.to_owned(),
            abi: A::DESCRIPTION.to_owned(),
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
        load(plugin, &self.engine, bytes, setup)
    }

    fn instantiate(
        &self,
        module: &Module,
        export: &str,
        limits: &Limits,
    ) -> Result<A::Instance, CallError> {
        if A::HOST_FUNCTIONS {
            let linker = self.linker(module).map_err(at(Phase::Instantiate))?;
            return Self::instantiate_linked(&linker, module, export, limits);
        }
        if let Some(why) = unsupplied::<A>(module) {
            return Err(at(Phase::Instantiate)(anyhow!("{why}")));
        }
        let mut store = store(&self.engine, limits.clone());
        let instance = guarded_instantiate(|| wasmtime::Instance::new(&mut store, module, &[]))?;
        A::bind(store, instance, export).map_err(at(Phase::Instantiate))
    }

    fn choose_export(
        &self,
        plugin: &str,
        given: Option<&str>,
        module: &Module,
    ) -> Result<String, Error> {
        if let Some(name) = given {
            return Ok(name.to_owned());
        }
        let candidates = A::candidates(module);
        if candidates.is_empty() && module.get_export("_start").is_some() {
            return Err(Error::plugin(
                plugin,
                Phase::Instantiate,
                "a WASI command (it exports _start), not a plugin: `wprof record command` (or `record hot-path`, which hands it over) runs it; this scenario's phases are a plugin's and do not apply",
            ));
        }
        super::pick_export(plugin, None, &candidates, A::NOUN, A::NONE)
    }
}

/// Validates and compiles `bytes` for `engine`, timing each.
pub fn load(
    plugin: &str,
    engine: &Engine,
    bytes: &[u8],
    setup: &mut Vec<PhaseTime>,
) -> Result<Module, Error> {
    if wasmparser::Parser::is_component(bytes) {
        return Err(Error::plugin(
            plugin,
            Phase::Validate,
            "a component, not a core-module plugin: `wprof record component` (or `record hot-path`, which hands it over) runs it; this scenario's phases are a core module's and do not apply",
        ));
    }
    super::timed(setup, Phase::Validate, || Module::validate(engine, bytes))
        .map_err(|e| Error::plugin(plugin, Phase::Validate, one_line(&e.into())))?;
    // Module::from_binary validates again; the validate phase above is the
    // figure for validation, and compile's includes that second pass.
    super::timed(setup, Phase::Compile, || Module::from_binary(engine, bytes))
        .map_err(|e| Error::plugin(plugin, Phase::Compile, one_line(&e.into())))
}

/// The imports of `module` that convention `A` does not supply, once
/// each, grouped by the module they come from, each group with what would
/// supply it where wprof knows it: `wasi_snapshot_preview1 (fd_write,
/// fd_read; WASI: ...)`.
pub fn unsupplied<A: Abi>(module: &Module) -> Option<String> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for i in module.imports().filter(|i| !A::supplies(i.module())) {
        let names = match groups.iter_mut().find(|(m, _)| m == i.module()) {
            Some((_, names)) => names,
            None => {
                groups.push((i.module().to_owned(), Vec::new()));
                &mut groups.last_mut().expect("just pushed").1
            }
        };
        if !names.iter().any(|n| n == i.name()) {
            names.push(i.name().to_owned());
        }
    }
    let imports: Vec<String> = groups
        .iter()
        .map(|(module, names)| {
            let why = match module.as_str() {
                m if m.starts_with("wasi") => {
                    "; WASI: a WASI command runs under `wprof record command`; the plugin ABI grants no file access"
                }
                "extism:host/user" => {
                    "; host functions the Extism application defines: wprof cannot supply them"
                }
                "bench" => "; the Sightglass bench protocol: `wprof record command` supplies it",
                _ => "",
            };
            // A long list is cut: the count says how many there are.
            const SHOWN: usize = 8;
            let more = names.len().saturating_sub(SHOWN);
            let shown = names[..names.len().min(SHOWN)].join(", ");
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            format!("{module} ({shown}{more}{why})")
        })
        .collect();
    (!imports.is_empty()).then(|| match A::KIND {
        crate::kind::Abi::Extism => format!(
            "the module imports {}, which wprof's Extism host does not supply (it supplies extism:host/env)",
            imports.join("; ")
        ),
        crate::kind::Abi::Wprof => format!(
            "the module imports {}, and the wprof ABI supplies no imports",
            imports.join("; ")
        ),
    })
}

/// Looks up export `name` as a function of type `P -> R`, with a message
/// naming the convention's signature when it is not one.
pub fn typed<S, P, R>(
    instance: &wasmtime::Instance,
    store: &mut Store<HostState<S>>,
    name: &str,
    sig: &str,
    abi: &str,
) -> anyhow::Result<wasmtime::TypedFunc<P, R>>
where
    S: 'static,
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

/// An output of `len` bytes against the output limit.
#[inline(always)]
pub fn check_output(len: usize, limit: Option<usize>) -> Result<(), CallError> {
    match limit {
        Some(limit) if len > limit => Err(at(Phase::CopyOut)(anyhow!(
            "output of {len} bytes is over the {} KiB output limit",
            limit / 1024
        ))),
        _ => Ok(()),
    }
}
