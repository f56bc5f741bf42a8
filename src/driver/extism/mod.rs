//! Extism's plugin ABI on wprof's Wasmtime host, so that an unmodified
//! Extism plugin (built with extism-pdk) runs on wprof's own host and is
//! timed in Extism's phases: copy-in (the input into kernel memory),
//! execute (the plugin function, host calls included), copy-out (the
//! output block read) and free (the call's kernel memory released).
//!
//! Extism keeps the data it exchanges with a plugin in "kernel memory",
//! outside the plugin's linear memory: the input, the output, config and var
//! values, error and log messages are blocks there, named by offset (0 is
//! none), and the plugin moves bytes in and out a u64 or a byte per host
//! call ([`kernel`], [`host_fns`]).

mod host_fns;
mod kernel;

use std::collections::BTreeMap;

use anyhow::anyhow;
use wasmtime::{Linker, Module, Store, TypedFunc};

pub use kernel::Kernel;

use super::wasmtime::{Abi, Bound, HostState, check_output, typed};
use super::{Buf, Instance, Packed};
use crate::driver::wasi::{PREVIEW1, WasiOptions};
use crate::error::{CallError, at};
use crate::kind::{EXTISM_MODULE, START_UP_EXPORTS};
use crate::phase::Phase;

/// What an Extism host hands a plugin besides its input.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExtismOptions {
    /// Config values the plugin reads with `config_get` (Extism's manifest
    /// `config`). Default: none.
    pub config: BTreeMap<String, String>,
    /// Log messages at this level and above are kept and reported; `None`:
    /// logging off, as in Extism without a logger. Default: off.
    pub log_level: Option<LogLevel>,
    /// What a plugin that imports WASI preview 1 is given (Extism's
    /// manifest `wasi: true` with its `allowed_paths`). Default: nothing:
    /// no arguments, environment or file access, an empty stdin.
    #[serde(default)]
    pub wasi: crate::driver::wasi::WasiOptions,
}

/// Extism's log levels, in the PDK's order (its `get_log_level` numbers).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// 0.
    Trace,
    /// 1.
    Debug,
    /// 2.
    Info,
    /// 3.
    Warn,
    /// 4.
    Error,
}

impl LogLevel {
    const ALL: [LogLevel; 5] = [
        LogLevel::Trace,
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warn,
        LogLevel::Error,
    ];
}

impl std::fmt::Display for LogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        })
    }
}

impl std::str::FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        LogLevel::ALL
            .into_iter()
            .find(|l| l.to_string() == s)
            .ok_or_else(|| format!("unknown log level `{s}` (trace, debug, info, warn, error)"))
    }
}

/// Extism's ABI.
pub struct Extism;

/// Whether `module` imports WASI preview 1.
fn imports_wasi(module: &Module) -> bool {
    module.imports().any(|i| i.module() == PREVIEW1)
}

/// A WASI plugin's context from what it is given. Its stdout and stderr
/// are discarded: a plugin's output is its output block, and text it
/// prints would fill a terminal or a pipe at every call.
fn wasi_ctx(opts: &WasiOptions) -> anyhow::Result<wasmtime_wasi::p1::WasiP1Ctx> {
    use wasmtime_wasi::p2::pipe::{MemoryInputPipe, SinkOutputStream};
    let stdin = match &opts.stdin {
        Some(path) => crate::files::read(path, crate::files::Kind::Input)
            .map_err(|e| anyhow!("--stdin: {e}"))?,
        None => Vec::new(),
    };
    let mut b = opts.builder("plugin.wasm").map_err(|e| anyhow!(e))?;
    b.stdin(MemoryInputPipe::new(stdin))
        .stdout(SinkOutputStream)
        .stderr(SinkOutputStream);
    Ok(b.build_p1())
}

/// An Extism plugin's instance and the plugin function it calls.
pub struct ExtismInstance {
    bound: Bound<Kernel>,
    func: TypedFunc<(), i32>,
}

impl AsMut<Bound<Kernel>> for ExtismInstance {
    fn as_mut(&mut self) -> &mut Bound<Kernel> {
        &mut self.bound
    }
}

/// Links Extism's kernel (its byte-moving host functions counting their
/// calls where `COUNT`) and, for a plugin that imports it, WASI preview 1.
fn link<const COUNT: bool>(
    linker: &mut Linker<HostState<Kernel>>,
    module: &Module,
) -> wasmtime::Result<()> {
    host_fns::add_to_linker::<COUNT>(linker)?;
    if imports_wasi(module) {
        wasmtime_wasi::p1::add_to_linker_sync(linker, |h: &mut HostState<Kernel>| {
            h.abi.wasi.ctx()
        })?;
    }
    Ok(())
}

/// Kernel calls that moved bytes (a load or store of a u8 or a u64 each)
/// in one call of `export` on `input`, made on an instance of its own
/// whose host functions count them; the timed instances' count nothing.
/// The figure says why a host-side kernel loses on large inputs.
pub fn kernel_moves(
    module: &Module,
    export: &str,
    limits: &crate::driver::Limits,
    input: &[u8],
) -> Result<u64, CallError> {
    let mut linker = Linker::new(module.engine());
    link::<true>(&mut linker, module)
        .map_err(|e| at(Phase::Instantiate)(anyhow::Error::from(e)))?;
    let instance = super::wasmtime::WasmtimeDriver::<Extism>::instantiate_linked(
        &linker, module, export, limits,
    )?;
    let mut call = super::call::PluginCall::new(instance, super::call::Raw(input));
    crate::timing::target::Target::call(&mut call)?;
    Ok(call.instance.bound.store.data().abi.moves.get())
}

impl Abi for Extism {
    const KIND: crate::kind::Abi = crate::kind::Abi::Extism;
    const NAME: &'static str = "extism";
    const DESCRIPTION: &'static str =
        "Extism's ABI (extism:host/env) on wprof's host, bytes in and out";
    const JSON: bool = false;
    const HOST_FUNCTIONS: bool = true;
    const NOUN: &'static str = "Extism plugin function";
    const NONE: &'static str = "this Extism plugin exports no plugin function (() -> i32)";
    type State = Kernel;
    type Instance = ExtismInstance;

    /// Extism's kernel, and WASI preview 1 as Extism's `wasi: true` does.
    fn supplies(module: &str) -> bool {
        module == EXTISM_MODULE || module == PREVIEW1
    }

    /// WASI only for a plugin that imports it: linking it costs every
    /// instantiation, which cold start times.
    fn add_to_linker(
        linker: &mut Linker<HostState<Kernel>>,
        module: &Module,
    ) -> wasmtime::Result<()> {
        link::<false>(linker, module)
    }

    /// `() -> i32` exports, less the start-up ones.
    fn candidates(module: &Module) -> Vec<String> {
        use wasmtime::{ExternType, ValType};
        module
            .exports()
            .filter(|e| !START_UP_EXPORTS.contains(&e.name()))
            .filter(|e| match e.ty() {
                ExternType::Func(f) => {
                    f.params().len() == 0
                        && matches!(f.results().collect::<Vec<_>>()[..], [ValType::I32])
                }
                _ => false,
            })
            .map(|e| e.name().to_owned())
            .collect()
    }

    fn bind(
        mut store: Store<HostState<Kernel>>,
        instance: wasmtime::Instance,
        export: &str,
    ) -> anyhow::Result<ExtismInstance> {
        if imports_wasi(instance.module(&store)) {
            let opts = &store.data().limits.extism.wasi;
            let ctx = wasi_ctx(opts)?;
            store.data_mut().abi.wasi.0 = Some(ctx);
        }
        // Extism runs a WASI reactor's start-up export before any call.
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
            init.call(&mut store, ())?;
        }
        let func = typed(&instance, &mut store, export, "() -> i32", "Extism")?;
        Ok(ExtismInstance {
            bound: Bound::new(store, &instance)?,
            func,
        })
    }
}

impl Instance for ExtismInstance {
    #[inline(always)]
    fn copy_in(&mut self, input: &[u8]) -> Result<Buf, CallError> {
        let len = super::input_len(input)?;
        let HostState { limits, abi } = self.bound.store.data_mut();
        abi.set_input(input, limits.memory_bytes)
            .map_err(at(Phase::CopyIn))?;
        Ok((0, len))
    }

    /// A plugin that returns non-zero or sets an error fails here, with
    /// its message.
    #[inline(always)]
    fn execute(&mut self, _buf: Buf) -> Result<Packed, CallError> {
        crate::watchdog::enter(Phase::Execute);
        let rc = self.func.call(&mut self.bound.store, ());
        crate::watchdog::leave();
        let rc = rc.map_err(at(Phase::Execute))?;
        match (rc, self.bound.store.data().abi.error()) {
            (0, None) => Ok(Packed(0)),
            (rc, Some(msg)) => Err(at(Phase::Execute)(anyhow!(
                "the plugin returned an error (code {rc}): {msg}"
            ))),
            (rc, None) => Err(at(Phase::Execute)(anyhow!(
                "the plugin returned code {rc} without setting an error"
            ))),
        }
    }

    #[inline(always)]
    fn copy_out(&mut self, _packed: Packed) -> Result<Buf, CallError> {
        let b = &mut self.bound;
        let out = b.store.data().abi.output().map_err(at(Phase::CopyOut))?;
        check_output(out.len(), b.store.data().limits.output_bytes)?;
        b.output.clear();
        b.output.extend_from_slice(out);
        Ok((0, out.len() as i32))
    }

    /// Releases every kernel memory block of the call.
    #[inline(always)]
    fn free(&mut self, _out: Buf) -> Result<(), CallError> {
        self.bound.store.data_mut().abi.release();
        Ok(())
    }

    fn output(&self) -> &[u8] {
        &self.bound.output
    }

    /// The log messages so far, at the kept level, as `level: message`,
    /// with a last line counting those not kept.
    fn logs(&self) -> Vec<String> {
        let data = self.bound.store.data();
        let k = &data.abi;
        let mut lines: Vec<String> = k.logs.iter().map(|(l, m)| format!("{l}: {m}")).collect();
        if k.log_calls > k.logs.len() as u64 && data.limits.extism.log_level.is_some() {
            lines.push(format!(
                "({} log calls in all; the first {} at the kept level are shown)",
                k.log_calls,
                k.logs.len()
            ));
        }
        lines
    }

    crate::driver::wasmtime::bound_instance_methods!();
}
