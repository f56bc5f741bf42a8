//! The wprof plugin ABI (plugins/README.md) on wprof's Wasmtime host: the
//! host copies the input into a buffer from `wprof_alloc`, calls the
//! export on it, reads the packed result out of linear memory and hands
//! the buffer back to `wprof_free`.

use anyhow::anyhow;
use wasmtime::{Linker, Module, Store, TypedFunc};
use wprof_guest::unpack;

use super::wasmtime::{Abi, Bound, HostState, check_output, typed};
use super::{Buf, Instance, Packed};
use crate::error::{CallError, at};
use crate::phase::Phase;

/// Export names every wprof plugin has.
pub const ALLOC_EXPORT: &str = "wprof_alloc";
/// See [`ALLOC_EXPORT`].
pub const FREE_EXPORT: &str = "wprof_free";
/// The optional export `() -> ()` that does a plugin's start-up work.
pub const INIT_EXPORT: &str = "wprof_init";

/// The wprof ABI.
pub struct Wprof;

/// A wprof plugin's instance and its ABI entry points.
pub struct WprofInstance {
    bound: Bound<()>,
    alloc: TypedFunc<i32, i32>,
    free: TypedFunc<(i32, i32), ()>,
    func: TypedFunc<(i32, i32), i64>,
}

impl AsMut<Bound<()>> for WprofInstance {
    fn as_mut(&mut self) -> &mut Bound<()> {
        &mut self.bound
    }
}

impl Abi for Wprof {
    const KIND: crate::kind::Abi = crate::kind::Abi::Wprof;
    const NAME: &'static str = "wprof";
    const DESCRIPTION: &'static str = "wprof ABI, JSON";
    const JSON: bool = true;
    const HOST_FUNCTIONS: bool = false;
    const NOUN: &'static str = "export";
    const NONE: &'static str = "no export has the wprof signature (i32, i32) -> i64: pass --export";
    type State = ();
    type Instance = WprofInstance;

    fn supplies(_module: &str) -> bool {
        false
    }

    fn add_to_linker(
        _linker: &mut Linker<HostState<()>>,
        _module: &Module,
    ) -> wasmtime::Result<()> {
        Ok(())
    }

    fn candidates(module: &Module) -> Vec<String> {
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

    fn bind(
        mut store: Store<HostState<()>>,
        instance: wasmtime::Instance,
        export: &str,
    ) -> anyhow::Result<WprofInstance> {
        let alloc = typed(&instance, &mut store, ALLOC_EXPORT, "(i32) -> i32", "wprof")?;
        let free = typed(
            &instance,
            &mut store,
            FREE_EXPORT,
            "(i32, i32) -> ()",
            "wprof",
        )?;
        let func = typed(&instance, &mut store, export, "(i32, i32) -> i64", "wprof")?;
        Ok(WprofInstance {
            bound: Bound::new(store, &instance)?,
            alloc,
            free,
            func,
        })
    }
}

impl WprofInstance {
    /// The instance's exported `memory` (for host functions that write
    /// into it).
    pub fn memory(&self) -> wasmtime::Memory {
        self.bound.memory
    }

    /// Calls `wprof_alloc(len)` alone: a buffer for [`WprofInstance::write_at`].
    #[inline(always)]
    pub fn alloc(&mut self, len: i32) -> Result<i32, CallError> {
        crate::watchdog::enter(Phase::CopyIn);
        let ptr = self.alloc.call(&mut self.bound.store, len);
        crate::watchdog::leave();
        ptr.map_err(at(Phase::CopyIn))
    }

    /// Writes `bytes` at `ptr` in linear memory (a buffer the host keeps
    /// between calls).
    #[inline(always)]
    pub fn write_at(&mut self, ptr: i32, bytes: &[u8]) -> Result<(), CallError> {
        self.bound
            .memory
            .write(&mut self.bound.store, ptr as u32 as usize, bytes)
            .map_err(|_| {
                at(Phase::CopyIn)(anyhow!(
                    "{} bytes at {ptr:#x} do not fit in linear memory",
                    bytes.len()
                ))
            })
    }
}

impl Instance for WprofInstance {
    #[inline(always)]
    fn copy_in(&mut self, input: &[u8]) -> Result<Buf, CallError> {
        let len = super::input_len(input)?;
        let ptr = self.alloc(len)?;
        match self
            .bound
            .memory
            .write(&mut self.bound.store, ptr as u32 as usize, input)
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
        let packed = self.func.call(&mut self.bound.store, (ptr, len));
        crate::watchdog::leave();
        packed.map(Packed).map_err(at(Phase::Execute))
    }

    /// A result the plugin flagged as an error is reported as a failed
    /// execute.
    #[inline(always)]
    fn copy_out(&mut self, packed: Packed) -> Result<Buf, CallError> {
        let b = &mut self.bound;
        let data = b.memory.data(&b.store);
        let (bytes, buf) = packed_output(data, packed, b.store.data().limits.output_bytes)?;
        b.output.clear();
        b.output.extend_from_slice(bytes);
        Ok(buf)
    }

    #[inline(always)]
    fn free(&mut self, (ptr, len): Buf) -> Result<(), CallError> {
        crate::watchdog::enter(Phase::Free);
        let freed = self.free.call(&mut self.bound.store, (ptr, len));
        crate::watchdog::leave();
        freed.map_err(at(Phase::Free))
    }

    fn output(&self) -> &[u8] {
        &self.bound.output
    }

    crate::driver::wasmtime::bound_instance_methods!();
}

/// The output a packed result points at in linear memory `data`, and its
/// buffer: an error naming the phase where it lies outside memory, is over
/// the output limit, or is the plugin's own error message.
#[inline(always)]
pub fn packed_output(
    data: &[u8],
    packed: Packed,
    limit: Option<usize>,
) -> Result<(&[u8], Buf), CallError> {
    let (ptr, len, is_error) = unpack(packed.0);
    let Some(bytes) = data.get(ptr as usize..ptr as usize + len as usize) else {
        return Err(at(Phase::CopyOut)(anyhow!(
            "result at {ptr:#x}..+{len} lies outside linear memory ({} bytes)",
            data.len()
        )));
    };
    check_output(bytes.len(), limit)?;
    if is_error {
        let msg = String::from_utf8_lossy(bytes);
        return Err(at(Phase::Execute)(anyhow!(
            "the plugin returned an error: {msg}"
        )));
    }
    Ok((bytes, (ptr as i32, len as i32)))
}
