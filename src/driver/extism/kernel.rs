//! Extism's kernel memory on wprof's host: a host `Vec` with a bump
//! allocator. The input is copied in before the call (copy-in), the
//! plugin's output block read after it (copy-out), and the whole arena
//! released after that (free), keeping its capacity, so a steady call
//! allocates nothing on the host. Blocks are named by offset; 0 is none.

use std::collections::HashMap;

use anyhow::{anyhow, bail};

use super::LogLevel;

/// Log messages kept per instance: enough to show what a plugin says,
/// bounded so that a plugin logging on every call cannot fill the host.
pub(super) const KEPT_LOGS: usize = 20;

/// The most of one log or error message kept: the rest is counted, not
/// stored (a plugin may set a 100 MB error).
pub(super) const KEPT_TEXT: usize = 4096;

/// What the host holds for each block besides its bytes (its entry in the
/// block list), counted against `--memory-limit` with them: a plugin that
/// allocates a million 1-byte blocks holds the host's memory too.
const BLOCK_OVERHEAD: u64 = std::mem::size_of::<Block>() as u64;

/// What the host holds for each var besides its key and value: two
/// vectors, the hash table's slot and the allocator's headers (measured:
/// ~130 B a var on glibc; rounded up).
const VAR_OVERHEAD: usize = 160;

/// `bytes` as text, cut at [`KEPT_TEXT`] with the length of the rest.
pub(super) fn kept_text(bytes: &[u8]) -> String {
    if bytes.len() <= KEPT_TEXT {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    format!(
        "{}... ({} more bytes)",
        String::from_utf8_lossy(&bytes[..KEPT_TEXT]),
        bytes.len() - KEPT_TEXT
    )
}

/// A block of kernel memory.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Block {
    pub(super) start: u64,
    pub(super) len: u64,
    live: bool,
}

/// Kernel memory and its blocks.
#[derive(Debug, Default)]
pub(super) struct Arena {
    /// Offset `k` is `mem[k]`; offsets below [`BASE`] are never handed out,
    /// so 0 means none.
    mem: Vec<u8>,
    /// Blocks handed out since the last release, in offset order.
    blocks: Vec<Block>,
}

/// One instance's kernel memory and Extism state.
#[derive(Debug, Default)]
pub struct Kernel {
    pub(super) arena: Arena,
    /// The call's input block.
    pub(super) input: Block,
    /// The block the plugin set as its output.
    pub(super) output: (u64, u64),
    /// The block the plugin set as its error message; 0: none.
    pub(super) error: u64,
    /// The plugin's vars: they live as long as the instance, as in Extism.
    pub(super) vars: HashMap<Vec<u8>, Vec<u8>>,
    pub(super) var_bytes: usize,
    /// Log messages at the kept level: the first [`KEPT_LOGS`].
    pub logs: Vec<(LogLevel, String)>,
    /// Every log call, kept or not.
    pub log_calls: u64,
    /// The WASI preview 1 context of a plugin that imports WASI.
    pub(super) wasi: Wasi,
    /// Kernel calls that moved bytes (loads and stores), since the
    /// instance was made.
    pub(super) moves: std::cell::Cell<u64>,
}

/// A WASI plugin's context: made when the instance is bound, from the
/// store's [`crate::driver::wasi::WasiOptions`].
#[derive(Default)]
pub(super) struct Wasi(pub(super) Option<wasmtime_wasi::p1::WasiP1Ctx>);

impl Wasi {
    /// The context. A start function that calls WASI before the instance
    /// is bound gets an empty one (no arguments, environment or files).
    pub(super) fn ctx(&mut self) -> &mut wasmtime_wasi::p1::WasiP1Ctx {
        self.0
            .get_or_insert_with(|| wasmtime_wasi::WasiCtxBuilder::new().build_p1())
    }
}

impl std::fmt::Debug for Wasi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Wasi(ctx)"
        } else {
            "Wasi(none)"
        })
    }
}

/// Where the first block goes: 0 must never be an offset.
const BASE: u64 = 8;

impl Arena {
    pub(super) fn top(&self) -> u64 {
        self.blocks.last().map_or(BASE, |b| b.start + b.len)
    }

    /// Allocates `len` bytes (8-aligned), within `limit` bytes in all,
    /// the blocks' bookkeeping included.
    pub(super) fn alloc(&mut self, len: u64, limit: Option<usize>) -> anyhow::Result<u64> {
        if len == 0 {
            return Ok(0);
        }
        let start = self.top().next_multiple_of(8);
        let end = start
            .checked_add(len)
            .ok_or_else(|| anyhow!("alloc({len}): no such size"))?;
        let held = end + (self.blocks.len() as u64 + 1) * BLOCK_OVERHEAD;
        if let Some(limit) = limit
            && held > limit as u64
        {
            bail!(
                "alloc({len}): Extism kernel memory would reach {} KiB with its {} blocks' bookkeeping, over the {} KiB limit (--memory-limit)",
                held / 1024,
                self.blocks.len() + 1,
                limit / 1024
            );
        }
        if self.blocks.len() == self.blocks.capacity() {
            self.blocks
                .try_reserve(self.blocks.len().max(16))
                .map_err(|e| anyhow!("alloc({len}): {e}"))?;
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
    pub(super) fn alloc_copy(&mut self, bytes: &[u8], limit: Option<usize>) -> anyhow::Result<u64> {
        let at = self.alloc(bytes.len() as u64, limit)?;
        if at != 0 {
            self.mem[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
        }
        Ok(at)
    }

    pub(super) fn find(&self, offs: u64) -> Option<usize> {
        self.blocks
            .binary_search_by_key(&offs, |b| b.start)
            .ok()
            .filter(|&i| self.blocks[i].live)
    }

    /// The length of the live block at `offs`; 0 where none starts there.
    pub(super) fn length(&self, offs: u64) -> u64 {
        self.find(offs).map_or(0, |i| self.blocks[i].len)
    }

    pub(super) fn free(&mut self, offs: u64) {
        if let Some(i) = self.find(offs) {
            self.blocks[i].live = false;
        }
        while self.blocks.last().is_some_and(|b| !b.live) {
            self.blocks.pop();
        }
    }

    /// The bytes of the live block at `offs`. Offset 0 is the empty block
    /// an `alloc(0)` hands out (an empty log message, an empty output).
    pub(super) fn block(&self, offs: u64) -> anyhow::Result<&[u8]> {
        if offs == 0 {
            return Ok(&[]);
        }
        let i = self
            .find(offs)
            .ok_or_else(|| anyhow!("no kernel memory block starts at offset {offs}"))?;
        let b = self.blocks[i];
        Ok(&self.mem[b.start as usize..(b.start + b.len) as usize])
    }

    /// `n` bytes at `offs`, inside the blocks handed out.
    pub(super) fn bytes(&self, offs: u64, n: u64) -> anyhow::Result<&[u8]> {
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

    pub(super) fn bytes_mut(&mut self, offs: u64, n: u64) -> anyhow::Result<&mut [u8]> {
        self.bytes(offs, n)?;
        Ok(&mut self.mem[offs as usize..(offs + n) as usize])
    }
}

impl Kernel {
    pub(super) fn input_bytes(&self, offs: u64, n: u64) -> anyhow::Result<&[u8]> {
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
            Ok(msg) => kept_text(msg),
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

    pub(super) fn var_get(&mut self, key: u64, limit: Option<usize>) -> anyhow::Result<u64> {
        let k = self.arena.block(key)?;
        match self.vars.get(k) {
            Some(v) => self.arena.alloc_copy(v, limit),
            None => Ok(0),
        }
    }

    pub(super) fn var_set(
        &mut self,
        key: u64,
        value: u64,
        limit: Option<usize>,
    ) -> anyhow::Result<()> {
        let Kernel {
            arena,
            vars,
            var_bytes,
            ..
        } = self;
        let k = arena.block(key)?;
        if value == 0 {
            if let Some(old) = vars.remove(k) {
                *var_bytes -= k.len() + old.len() + VAR_OVERHEAD;
            }
            return Ok(());
        }
        let v = arena.block(value)?;
        let old = vars
            .get(k)
            .map_or(0, |old| k.len() + old.len() + VAR_OVERHEAD);
        let new = *var_bytes - old + k.len() + v.len() + VAR_OVERHEAD;
        if let Some(limit) = limit
            && new > limit
        {
            bail!(
                "{} vars would hold {} KiB with their bookkeeping, over the {} KiB limit (--memory-limit)",
                vars.len() + usize::from(old == 0),
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
        assert_eq!(a.block(0).unwrap(), b"", "offset 0 is the empty block");
        assert!(a.block(x + 1).is_err(), "not the start of a block");
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
