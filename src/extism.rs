//! The host side of Extism's plugin ABI: the `extism:host/env` imports an
//! Extism plugin (built with extism-pdk) calls, written from Extism's public
//! documentation and the PDK's import list, so that an unmodified Extism
//! plugin runs on wprof's own host and is timed in Extism's phases.
//!
//! Extism keeps the data it exchanges with a plugin in "kernel memory",
//! outside the plugin's linear memory: the input, the output, config and var
//! values, error and log messages are blocks there, named by offset (0 is
//! none), and the plugin moves bytes in and out a u64 or a byte per host
//! call. wprof's kernel memory is a host `Vec` with a bump allocator: the
//! input is copied in before the call (copy-in), the plugin's output block
//! read after it (copy-out), and the whole arena released after that (free),
//! keeping its capacity, so a steady call allocates nothing on the host.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, bail};
use wasmtime::{Caller, Linker};

use crate::host::HostState;

/// The import module of Extism's host functions.
pub const MODULE: &str = "extism:host/env";

/// What an Extism host hands a plugin besides its input.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExtismOptions {
    /// Config values the plugin reads with `config_get` (Extism's manifest
    /// `config`). Default: none.
    pub config: BTreeMap<String, String>,
    /// Log messages at this level and above are kept and reported; `None`:
    /// logging off, as in Extism without a logger. Default: off.
    pub log_level: Option<LogLevel>,
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

/// Log messages kept per instance: enough to show what a plugin says,
/// bounded so that a plugin logging on every call cannot fill the host.
const KEPT_LOGS: usize = 20;

/// A block of kernel memory.
#[derive(Debug, Clone, Copy, Default)]
struct Block {
    start: u64,
    len: u64,
    live: bool,
}

/// Kernel memory and its blocks.
#[derive(Debug, Default)]
struct Arena {
    /// Offset `k` is `mem[k]`; offsets below [`BASE`] are never handed out,
    /// so 0 means none.
    mem: Vec<u8>,
    /// Blocks handed out since the last release, in offset order.
    blocks: Vec<Block>,
}

/// One instance's kernel memory and Extism state.
#[derive(Debug, Default)]
pub struct Kernel {
    arena: Arena,
    /// The call's input block.
    input: Block,
    /// The block the plugin set as its output.
    output: (u64, u64),
    /// The block the plugin set as its error message; 0: none.
    error: u64,
    /// The plugin's vars: they live as long as the instance, as in Extism.
    vars: HashMap<Vec<u8>, Vec<u8>>,
    var_bytes: usize,
    /// Log messages at the kept level: the first [`KEPT_LOGS`].
    pub logs: Vec<(LogLevel, String)>,
    /// Every log call, kept or not.
    pub log_calls: u64,
}

/// Where the first block goes: 0 must never be an offset.
const BASE: u64 = 8;

impl Arena {
    fn top(&self) -> u64 {
        self.blocks.last().map_or(BASE, |b| b.start + b.len)
    }

    /// Allocates `len` bytes (8-aligned), within `limit` bytes in all.
    fn alloc(&mut self, len: u64, limit: Option<usize>) -> anyhow::Result<u64> {
        if len == 0 {
            return Ok(0);
        }
        let start = self.top().next_multiple_of(8);
        let end = start
            .checked_add(len)
            .ok_or_else(|| anyhow!("alloc({len}): no such size"))?;
        if let Some(limit) = limit
            && end > limit as u64
        {
            bail!(
                "alloc({len}): Extism kernel memory would reach {} KiB, over the {} KiB limit (--memory-limit)",
                end / 1024,
                limit / 1024
            );
        }
        if (self.mem.len() as u64) < end {
            let end = usize::try_from(end).map_err(|_| anyhow!("alloc({len}): no such size"))?;
            // Grows by doubling (Vec's reserve), so after the first calls
            // a steady call allocates nothing; a failed reservation is an
            // error for the plugin, not an abort of the host.
            self.mem
                .try_reserve(end - self.mem.len())
                .map_err(|e| anyhow!("alloc({len}): {e}"))?;
            self.mem.resize(end, 0);
        }
        self.blocks.push(Block {
            start,
            len,
            live: true,
        });
        Ok(start)
    }

    /// Copies `bytes` into a new block: its offset (0 for no bytes).
    fn alloc_copy(&mut self, bytes: &[u8], limit: Option<usize>) -> anyhow::Result<u64> {
        let at = self.alloc(bytes.len() as u64, limit)?;
        if at != 0 {
            self.mem[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
        }
        Ok(at)
    }

    fn find(&self, offs: u64) -> Option<usize> {
        self.blocks
            .binary_search_by_key(&offs, |b| b.start)
            .ok()
            .filter(|&i| self.blocks[i].live)
    }

    /// The length of the live block at `offs`; 0 where none starts there.
    fn length(&self, offs: u64) -> u64 {
        self.find(offs).map_or(0, |i| self.blocks[i].len)
    }

    fn free(&mut self, offs: u64) {
        if let Some(i) = self.find(offs) {
            self.blocks[i].live = false;
        }
        while self.blocks.last().is_some_and(|b| !b.live) {
            self.blocks.pop();
        }
    }

    /// The bytes of the live block at `offs`.
    fn block(&self, offs: u64) -> anyhow::Result<&[u8]> {
        let i = self
            .find(offs)
            .ok_or_else(|| anyhow!("no kernel memory block starts at offset {offs}"))?;
        let b = self.blocks[i];
        Ok(&self.mem[b.start as usize..(b.start + b.len) as usize])
    }

    /// `n` bytes at `offs`, inside the blocks handed out.
    fn bytes(&self, offs: u64, n: u64) -> anyhow::Result<&[u8]> {
        let end = offs
            .checked_add(n)
            .filter(|&e| offs >= BASE && e <= self.top());
        match end {
            Some(end) => Ok(&self.mem[offs as usize..end as usize]),
            None => bail!(
                "{n} bytes at offset {offs} lie outside the kernel memory in use ({BASE}..{})",
                self.top()
            ),
        }
    }

    fn bytes_mut(&mut self, offs: u64, n: u64) -> anyhow::Result<&mut [u8]> {
        self.bytes(offs, n)?;
        Ok(&mut self.mem[offs as usize..(offs + n) as usize])
    }
}

impl Kernel {
    fn input_bytes(&self, offs: u64, n: u64) -> anyhow::Result<&[u8]> {
        let b = self.input;
        match offs.checked_add(n).filter(|&e| e <= b.len) {
            Some(_) => {
                Ok(&self.arena.mem[(b.start + offs) as usize..(b.start + offs + n) as usize])
            }
            None => bail!(
                "{n} bytes at input offset {offs}: the input is {} bytes",
                b.len
            ),
        }
    }

    /// copy-in: the call's input into a fresh block.
    pub fn set_input(&mut self, input: &[u8], limit: Option<usize>) -> anyhow::Result<()> {
        if !self.arena.blocks.is_empty() {
            // A call that failed before its release: start from an empty
            // arena all the same.
            self.release();
        }
        let start = self.arena.alloc_copy(input, limit)?;
        self.input = Block {
            start,
            len: input.len() as u64,
            live: true,
        };
        Ok(())
    }

    /// The plugin's error message, when it set one.
    pub fn error(&self) -> Option<String> {
        (self.error != 0).then(|| match self.arena.block(self.error) {
            Ok(msg) => String::from_utf8_lossy(msg).into_owned(),
            Err(e) => format!("(an error at a bad offset: {e})"),
        })
    }

    /// copy-out: the output block the plugin set.
    pub fn output(&self) -> anyhow::Result<&[u8]> {
        match self.output {
            (_, 0) => Ok(&[]),
            (offs, len) => self
                .arena
                .bytes(offs, len)
                .map_err(|e| anyhow!("output_set: {e}")),
        }
    }

    /// free: releases every block of the call (vars stay); the memory is
    /// kept for the next call.
    pub fn release(&mut self) {
        self.arena.blocks.clear();
        self.input = Block::default();
        self.output = (0, 0);
        self.error = 0;
    }
}

/// A host function's failure: traps the call with a message naming the
/// function, as Extism's kernel does on a bad offset.
fn fail(func: &str, e: anyhow::Error) -> wasmtime::Error {
    wasmtime::format_err!("Extism host function {func}: {e:#}")
}

type Ctx<'a> = Caller<'a, HostState>;

/// Adds Extism's host functions to `linker`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let m = MODULE;
    let limit = |c: &Ctx| c.data().limits.memory_bytes;
    linker.func_wrap(m, "alloc", move |mut c: Ctx, n: i64| {
        let limit = limit(&c);
        c.data_mut()
            .extism
            .arena
            .alloc(n as u64, limit)
            .map(|o| o as i64)
            .map_err(|e| fail("alloc", e))
    })?;
    linker.func_wrap(m, "free", |mut c: Ctx, offs: i64| {
        c.data_mut().extism.arena.free(offs as u64)
    })?;
    linker.func_wrap(m, "length", |c: Ctx, offs: i64| {
        c.data().extism.arena.length(offs as u64) as i64
    })?;
    linker.func_wrap(m, "length_unsafe", |c: Ctx, offs: i64| {
        c.data().extism.arena.length(offs as u64) as i64
    })?;
    linker.func_wrap(m, "load_u8", |c: Ctx, offs: i64| {
        c.data()
            .extism
            .arena
            .bytes(offs as u64, 1)
            .map(|b| i32::from(b[0]))
            .map_err(|e| fail("load_u8", e))
    })?;
    linker.func_wrap(m, "load_u64", |c: Ctx, offs: i64| {
        c.data()
            .extism
            .arena
            .bytes(offs as u64, 8)
            .map(le_u64)
            .map_err(|e| fail("load_u64", e))
    })?;
    linker.func_wrap(m, "store_u8", |mut c: Ctx, offs: i64, v: i32| {
        c.data_mut()
            .extism
            .arena
            .bytes_mut(offs as u64, 1)
            .map(|b| b[0] = v as u8)
            .map_err(|e| fail("store_u8", e))
    })?;
    linker.func_wrap(m, "store_u64", |mut c: Ctx, offs: i64, v: i64| {
        c.data_mut()
            .extism
            .arena
            .bytes_mut(offs as u64, 8)
            .map(|b| b.copy_from_slice(&v.to_le_bytes()))
            .map_err(|e| fail("store_u64", e))
    })?;
    linker.func_wrap(m, "input_length", |c: Ctx| c.data().extism.input.len as i64)?;
    linker.func_wrap(m, "input_offset", |c: Ctx| {
        c.data().extism.input.start as i64
    })?;
    linker.func_wrap(m, "input_load_u8", |c: Ctx, offs: i64| {
        c.data()
            .extism
            .input_bytes(offs as u64, 1)
            .map(|b| i32::from(b[0]))
            .map_err(|e| fail("input_load_u8", e))
    })?;
    linker.func_wrap(m, "input_load_u64", |c: Ctx, offs: i64| {
        c.data()
            .extism
            .input_bytes(offs as u64, 8)
            .map(le_u64)
            .map_err(|e| fail("input_load_u64", e))
    })?;
    linker.func_wrap(m, "output_set", |mut c: Ctx, offs: i64, len: i64| {
        c.data_mut().extism.output = (offs as u64, len as u64);
    })?;
    linker.func_wrap(m, "error_set", |mut c: Ctx, offs: i64| {
        c.data_mut().extism.error = offs as u64;
    })?;
    linker.func_wrap(m, "config_get", |mut c: Ctx, key: i64| {
        let HostState { limits, extism } = c.data_mut();
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
        let HostState { limits, extism } = c.data_mut();
        extism
            .var_get(key as u64, limits.memory_bytes)
            .map(|o| o as i64)
            .map_err(|e| fail("var_get", e))
    })?;
    linker.func_wrap(m, "var_set", |mut c: Ctx, key: i64, value: i64| {
        let HostState { limits, extism } = c.data_mut();
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
            let HostState { limits, extism } = c.data_mut();
            extism.log_calls += 1;
            if limits.extism.log_level.is_some_and(|l| level >= l) && extism.logs.len() < KEPT_LOGS
            {
                let msg = extism.arena.block(offs as u64).map_err(|e| fail(name, e))?;
                let msg = String::from_utf8_lossy(msg).into_owned();
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

impl Kernel {
    fn var_get(&mut self, key: u64, limit: Option<usize>) -> anyhow::Result<u64> {
        let k = self.arena.block(key)?;
        match self.vars.get(k) {
            Some(v) => self.arena.alloc_copy(v, limit),
            None => Ok(0),
        }
    }

    fn var_set(&mut self, key: u64, value: u64, limit: Option<usize>) -> anyhow::Result<()> {
        let Kernel {
            arena,
            vars,
            var_bytes,
            ..
        } = self;
        let k = arena.block(key)?;
        if value == 0 {
            if let Some(old) = vars.remove(k) {
                *var_bytes -= k.len() + old.len();
            }
            return Ok(());
        }
        let v = arena.block(value)?;
        let old = vars.get(k).map_or(0, |old| k.len() + old.len());
        let new = *var_bytes - old + k.len() + v.len();
        if let Some(limit) = limit
            && new > limit
        {
            bail!(
                "vars would hold {} KiB, over the {} KiB limit (--memory-limit)",
                new / 1024,
                limit / 1024
            );
        }
        *var_bytes = new;
        match vars.get_mut(k) {
            // Reuses the value's buffer: a steady var_set allocates nothing.
            Some(old) => {
                old.clear();
                old.extend_from_slice(v);
            }
            None => {
                vars.insert(k.to_vec(), v.to_vec());
            }
        }
        Ok(())
    }
}

fn le_u64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    i64::from_le_bytes(a)
}

/// Whether `module` is an Extism plugin: it imports Extism's host functions.
pub fn is_extism(module: &wasmtime::Module) -> bool {
    module.imports().any(|i| i.module() == MODULE)
}

/// Whether the module in `bytes` imports Extism's host functions, read
/// without compiling it (false for anything that does not parse).
pub fn imports_extism(bytes: &[u8]) -> bool {
    use wasmparser::{Parser, Payload};
    Parser::new(0).parse_all(bytes).any(|p| match p {
        Ok(Payload::ImportSection(imports)) => {
            imports.into_imports().flatten().any(|i| i.module == MODULE)
        }
        _ => false,
    })
}

/// Exports a runtime calls at start-up, never plugin functions.
pub const START_UP_EXPORTS: [&str; 3] = ["_start", "_initialize", "__wasm_call_ctors"];

/// An Extism plugin's callable functions: `() -> i32` exports, less the
/// start-up ones.
pub fn plugin_functions(module: &wasmtime::Module) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_found_by_their_start_and_freed_from_the_top() {
        let mut a = Arena::default();
        let x = a.alloc(3, None).unwrap();
        let y = a.alloc(10, None).unwrap();
        assert_eq!((x, y), (BASE, BASE + 8));
        assert_eq!(a.length(x), 3);
        assert_eq!(a.length(x + 1), 0, "not the start of a block");
        assert_eq!(a.alloc(0, None).unwrap(), 0, "no bytes: no block");
        a.free(x);
        assert_eq!(a.length(x), 0);
        assert_eq!(a.top(), y + 10, "a freed block below the top stays");
        a.free(y);
        assert_eq!(a.top(), BASE, "freeing the top releases both");
    }

    #[test]
    fn hostile_offsets_and_sizes_are_errors_not_panics() {
        let mut a = Arena::default();
        let x = a.alloc(16, Some(1 << 20)).unwrap();
        for (offs, n) in [
            (0, 1),
            (x + 12, 8),
            (u64::MAX - 3, 8),
            (u64::MAX, 1),
            (x, u64::MAX),
        ] {
            assert!(a.bytes(offs, n).is_err(), "{offs} +{n}");
        }
        assert!(a.bytes(x + 8, 8).is_ok());
        let e = a.alloc(2 << 20, Some(1 << 20)).unwrap_err().to_string();
        assert!(e.contains("over the 1024 KiB limit"), "{e}");
        assert!(a.alloc(u64::MAX, None).is_err());
        assert!(a.alloc(u64::MAX / 2, None).is_err());
        let k = Kernel::default();
        assert!(k.input_bytes(0, 1).is_err(), "no input yet");
    }
}
