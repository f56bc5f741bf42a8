//! Guest side of the wprof plugin ABI (see `plugins/README.md`).
//!
//! A plugin is a core wasm module that exports `memory`, `wprof_alloc`,
//! `wprof_free` and one or more functions `fn(ptr: i32, len: i32) -> i64`.
//! This crate provides the first three and the [`export!`] macro that turns a
//! plain `fn(&[u8]) -> Result<Vec<u8>, String>` into the fourth, so that the
//! same function can also be linked natively as wprof's baseline.
//!
//! It has no dependencies and does nothing on native targets except compile,
//! so a plugin crate can depend on it unconditionally.

#![cfg_attr(not(test), no_std)]

extern crate alloc;

use alloc::vec::Vec;

/// Bit of the low (length) word of a packed result that marks an error: the
/// bytes are then a UTF-8 error message instead of the output.
pub const ERROR_FLAG: u32 = 1 << 31;

/// Largest output (or error message) a plugin may return: lengths must leave
/// [`ERROR_FLAG`] clear.
pub const MAX_LEN: usize = (ERROR_FLAG - 1) as usize;

/// Packs a guest pointer and a length into the `i64` an export returns:
/// pointer in the high 32 bits, length (and [`ERROR_FLAG`]) in the low 32.
pub fn pack(ptr: u32, len: u32) -> i64 {
    (((ptr as u64) << 32) | len as u64) as i64
}

/// Splits a packed result into `(ptr, len, is_error)`.
pub fn unpack(packed: i64) -> (u32, u32, bool) {
    let packed = packed as u64;
    let low = packed as u32;
    (
        (packed >> 32) as u32,
        low & !ERROR_FLAG,
        low & ERROR_FLAG != 0,
    )
}

/// Hands `bytes` to the host: leaks the buffer and returns its packed
/// location. The host frees it with `wprof_free(ptr, len)`.
pub fn leak_result(mut bytes: Vec<u8>, error: bool) -> i64 {
    if bytes.len() > MAX_LEN {
        bytes = alloc::vec::Vec::from(&b"output larger than the wprof ABI allows (2 GiB)"[..]);
        return leak_result(bytes, true);
    }
    // A boxed slice has capacity == len, so the host can free it knowing only
    // the length.
    let bytes = bytes.into_boxed_slice();
    let len = bytes.len() as u32;
    let ptr = alloc::boxed::Box::into_raw(bytes) as *mut u8 as usize as u32;
    pack(ptr, if error { len | ERROR_FLAG } else { len })
}

/// Takes back ownership of an input buffer the host allocated with
/// `wprof_alloc` and filled.
///
/// # Safety
/// `ptr`/`len` must come from one `wprof_alloc(len)` call, not yet freed.
pub unsafe fn take_input(ptr: u32, len: u32) -> Vec<u8> {
    if len == 0 {
        return Vec::new();
    }
    // SAFETY: the caller promises the buffer came from `alloc_bytes(len)`,
    // which allocates exactly `len` bytes with capacity `len`.
    unsafe { Vec::from_raw_parts(ptr as usize as *mut u8, len as usize, len as usize) }
}

/// Allocates `len` bytes for the host to write an input into.
pub fn alloc_bytes(len: u32) -> u32 {
    if len == 0 {
        // Never dereferenced: take_input treats len 0 as empty.
        return 1;
    }
    let buf: Vec<u8> = Vec::with_capacity(len as usize);
    let mut buf = core::mem::ManuallyDrop::new(buf);
    buf.as_mut_ptr() as usize as u32
}

/// Frees a buffer returned by an export (or allocated and never passed in).
///
/// # Safety
/// `ptr`/`len` must describe a live buffer from [`leak_result`] or
/// [`alloc_bytes`].
pub unsafe fn free_bytes(ptr: u32, len: u32) {
    let len = len & !ERROR_FLAG;
    if len == 0 {
        return;
    }
    // SAFETY: as promised by the caller; capacity equals len for both sources.
    drop(unsafe { Vec::from_raw_parts(ptr as usize as *mut u8, len as usize, len as usize) });
}

/// Runs `f` on an input buffer owned by the host call and packs its result.
///
/// # Safety
/// As [`take_input`].
pub unsafe fn call(
    ptr: u32,
    len: u32,
    f: fn(&[u8]) -> Result<Vec<u8>, alloc::string::String>,
) -> i64 {
    // SAFETY: forwarded from the caller.
    let input = unsafe { take_input(ptr, len) };
    match f(&input) {
        Ok(out) => leak_result(out, false),
        Err(msg) => leak_result(msg.into_bytes(), true),
    }
}

/// Defines the `wprof_alloc`/`wprof_free` exports. Use once per plugin.
#[macro_export]
macro_rules! abi {
    () => {
        #[cfg(target_family = "wasm")]
        #[unsafe(no_mangle)]
        pub extern "C" fn wprof_alloc(len: i32) -> i32 {
            $crate::alloc_bytes(len as u32) as i32
        }

        #[cfg(target_family = "wasm")]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn wprof_free(ptr: i32, len: i32) {
            // SAFETY: the ABI contract: the host frees only what it was given.
            unsafe { $crate::free_bytes(ptr as u32, len as u32) }
        }
    };
}

/// Exports `fn(&[u8]) -> Result<Vec<u8>, String>` under `name` with the wprof
/// calling convention `(ptr: i32, len: i32) -> i64`. The export takes
/// ownership of the input buffer and frees it before returning.
#[macro_export]
macro_rules! export {
    ($name:ident => $f:path) => {
        #[cfg(target_family = "wasm")]
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(ptr: i32, len: i32) -> i64 {
            // SAFETY: the host passes a buffer it got from wprof_alloc(len).
            unsafe { $crate::call(ptr as u32, len as u32, $f) }
        }
    };
}

/// Exports `wprof_init: () -> ()`, which runs `$f`: the plugin's start-up
/// work (building tables, compiling patterns). A plugin should also run it
/// lazily on its first call, so that the export is optional for hosts; Wizer
/// (wprof's `wizer` cold-start rung) calls it once and snapshots the result.
#[macro_export]
macro_rules! init {
    ($f:path) => {
        #[cfg(target_family = "wasm")]
        #[unsafe(no_mangle)]
        pub extern "C" fn wprof_init() {
            $f();
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips() {
        assert_eq!(unpack(pack(0x1234_5678, 42)), (0x1234_5678, 42, false));
        assert_eq!(unpack(pack(8, 5 | ERROR_FLAG)), (8, 5, true));
        assert_eq!(
            unpack(pack(u32::MAX, MAX_LEN as u32)),
            (u32::MAX, MAX_LEN as u32, false)
        );
    }
}
