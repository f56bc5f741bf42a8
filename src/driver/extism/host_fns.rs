//! Extism's host functions (`extism:host/env`), written from Extism's public
//! documentation and the PDK's import list, over [`Kernel`] memory.

use wasmtime::{Caller, Linker};

use super::LogLevel;
use super::kernel::{KEPT_LOGS, Kernel};
use crate::driver::wasmtime::HostState;
use crate::kind::EXTISM_MODULE as MODULE;

/// A host function's failure: traps the call with a message naming the
/// function, as Extism's kernel does on a bad offset.
fn fail(func: &str, e: anyhow::Error) -> wasmtime::Error {
    wasmtime::format_err!("Extism host function {func}: {e:#}")
}

type Ctx<'a> = Caller<'a, HostState<Kernel>>;

/// Counts one kernel call that moves bytes (a load or store of a u8 or a
/// u64) where `COUNT` (a counting linker's): the count that says why a
/// host-side kernel loses on large inputs. The timed instances' host
/// functions are built with `COUNT` false, and count nothing.
#[inline(always)]
fn moved<const COUNT: bool>(c: &Ctx) {
    if COUNT {
        let n = &c.data().abi.moves;
        n.set(n.get() + 1);
    }
}

/// Adds Extism's host functions to `linker`; with `COUNT`, the ones that
/// move bytes count their calls ([`Kernel::moves`]).
pub fn add_to_linker<const COUNT: bool>(
    linker: &mut Linker<HostState<Kernel>>,
) -> wasmtime::Result<()> {
    let m = MODULE;
    let limit = |c: &Ctx| c.data().limits.memory_bytes;
    linker.func_wrap(m, "alloc", move |mut c: Ctx, n: i64| {
        let limit = limit(&c);
        c.data_mut()
            .abi
            .arena
            .alloc(n as u64, limit)
            .map(|o| o as i64)
            .map_err(|e| fail("alloc", e))
    })?;
    linker.func_wrap(m, "free", |mut c: Ctx, offs: i64| {
        c.data_mut().abi.arena.free(offs as u64)
    })?;
    linker.func_wrap(m, "length", |c: Ctx, offs: i64| {
        c.data().abi.arena.length(offs as u64) as i64
    })?;
    linker.func_wrap(m, "length_unsafe", |c: Ctx, offs: i64| {
        c.data().abi.arena.length(offs as u64) as i64
    })?;
    linker.func_wrap(m, "load_u8", |c: Ctx, offs: i64| {
        moved::<COUNT>(&c);
        c.data()
            .abi
            .arena
            .bytes(offs as u64, 1)
            .map(|b| i32::from(b[0]))
            .map_err(|e| fail("load_u8", e))
    })?;
    linker.func_wrap(m, "load_u64", |c: Ctx, offs: i64| {
        moved::<COUNT>(&c);
        c.data()
            .abi
            .arena
            .bytes(offs as u64, 8)
            .map(le_u64)
            .map_err(|e| fail("load_u64", e))
    })?;
    linker.func_wrap(m, "store_u8", |mut c: Ctx, offs: i64, v: i32| {
        moved::<COUNT>(&c);
        c.data_mut()
            .abi
            .arena
            .bytes_mut(offs as u64, 1)
            .map(|b| b[0] = v as u8)
            .map_err(|e| fail("store_u8", e))
    })?;
    linker.func_wrap(m, "store_u64", |mut c: Ctx, offs: i64, v: i64| {
        moved::<COUNT>(&c);
        c.data_mut()
            .abi
            .arena
            .bytes_mut(offs as u64, 8)
            .map(|b| b.copy_from_slice(&v.to_le_bytes()))
            .map_err(|e| fail("store_u64", e))
    })?;
    linker.func_wrap(m, "input_length", |c: Ctx| c.data().abi.input.len as i64)?;
    linker.func_wrap(m, "input_offset", |c: Ctx| c.data().abi.input.start as i64)?;
    linker.func_wrap(m, "input_load_u8", |c: Ctx, offs: i64| {
        moved::<COUNT>(&c);
        c.data()
            .abi
            .input_bytes(offs as u64, 1)
            .map(|b| i32::from(b[0]))
            .map_err(|e| fail("input_load_u8", e))
    })?;
    linker.func_wrap(m, "input_load_u64", |c: Ctx, offs: i64| {
        moved::<COUNT>(&c);
        c.data()
            .abi
            .input_bytes(offs as u64, 8)
            .map(le_u64)
            .map_err(|e| fail("input_load_u64", e))
    })?;
    linker.func_wrap(m, "output_set", |mut c: Ctx, offs: i64, len: i64| {
        c.data_mut().abi.output = (offs as u64, len as u64);
    })?;
    linker.func_wrap(m, "error_set", |mut c: Ctx, offs: i64| {
        c.data_mut().abi.error = offs as u64;
    })?;
    linker.func_wrap(m, "config_get", |mut c: Ctx, key: i64| {
        let HostState {
            limits,
            abi: extism,
        } = c.data_mut();
        let value = extism
            .arena
            .block(key as u64)
            .and_then(|k| Ok(std::str::from_utf8(k)?))
            .map(|k| limits.extism.config.get(k))
            .map_err(|e| fail("config_get", e))?;
        match value {
            Some(v) => extism
                .arena
                .alloc_copy(v.as_bytes(), limits.memory_bytes)
                .map(|o| o as i64)
                .map_err(|e| fail("config_get", e)),
            None => Ok(0),
        }
    })?;
    linker.func_wrap(m, "var_get", |mut c: Ctx, key: i64| {
        let HostState {
            limits,
            abi: extism,
        } = c.data_mut();
        extism
            .var_get(key as u64, limits.memory_bytes)
            .map(|o| o as i64)
            .map_err(|e| fail("var_get", e))
    })?;
    linker.func_wrap(m, "var_set", |mut c: Ctx, key: i64, value: i64| {
        let HostState {
            limits,
            abi: extism,
        } = c.data_mut();
        extism
            .var_set(key as u64, value as u64, limits.memory_bytes)
            .map_err(|e| fail("var_set", e))
    })?;
    for (name, level) in [
        ("log_trace", LogLevel::Trace),
        ("log_debug", LogLevel::Debug),
        ("log_info", LogLevel::Info),
        ("log_warn", LogLevel::Warn),
        ("log_error", LogLevel::Error),
    ] {
        linker.func_wrap(m, name, move |mut c: Ctx, offs: i64| {
            let HostState {
                limits,
                abi: extism,
            } = c.data_mut();
            extism.log_calls += 1;
            if limits.extism.log_level.is_some_and(|l| level >= l) && extism.logs.len() < KEPT_LOGS
            {
                let msg = extism.arena.block(offs as u64).map_err(|e| fail(name, e))?;
                let msg = super::kernel::kept_text(msg);
                extism.logs.push((level, msg));
            }
            Ok(())
        })?;
    }
    linker.func_wrap(m, "get_log_level", |c: Ctx| {
        c.data()
            .limits
            .extism
            .log_level
            .map_or(i32::MAX, |l| l as i32)
    })?;
    linker.func_wrap(
        m,
        "http_request",
        |_: Ctx, _req: i64, _body: i64| -> wasmtime::Result<i64> {
            Err(wasmtime::format_err!(
                "Extism host function http_request: refused: wprof makes no HTTP requests for plugins (a profile must not depend on the network)"
            ))
        },
    )?;
    linker.func_wrap(m, "http_status_code", |_: Ctx| 0i32)?;
    linker.func_wrap(m, "http_headers", |_: Ctx| 0i64)?;
    Ok(())
}

fn le_u64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    i64::from_le_bytes(a)
}
