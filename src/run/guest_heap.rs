//! What the guest heap pass found: the plugin's own allocations inside its
//! linear memory, per call, with the wasm stacks that made them.

use serde::{Deserialize, Serialize};

/// The guest heap pass (`--guest-heap`): the plugin's allocator functions
/// hooked in a rewritten copy of the module, its calls made again untimed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestHeap {
    /// The guest's dhat profile (`<scenario>.guest.dhat.json`, for
    /// dh_view.html); empty when no allocator was found and nothing ran.
    pub file: String,
    /// The allocator functions hooked; empty when none was found.
    pub allocator: Vec<AllocFn>,
    /// Whether the allocator is the plugin's own (`malloc`, `__rust_alloc`,
    /// dlmalloc, `--guest-alloc`) or only the calling convention's
    /// (`wprof_alloc`, Extism's `alloc`), which sees the input's buffer but
    /// none of the plugin's own work.
    pub own: bool,
    /// Calls measured (after one unmeasured call).
    pub calls: u64,
    /// Allocations per call inside linear memory (and Extism's kernel
    /// memory, where the plugin asks it for blocks).
    pub per_call: GuestPerCall,
    /// The most bytes live at once in the guest heap, over the whole pass
    /// (the instance's start-up work included).
    pub peak_bytes: u64,
    /// Blocks live at that moment.
    pub peak_blocks: u64,
    /// Bytes live after the unmeasured first call.
    pub live_before_bytes: u64,
    /// Bytes live after the last call.
    pub live_after_bytes: u64,
    /// Blocks left live per call, averaged over the measured calls: more
    /// than zero is a heap that grows with every call.
    pub leaked_blocks_per_call: f64,
    /// Bytes left live per call, likewise.
    pub leaked_bytes_per_call: f64,
    /// Linear memory growth (`memory.grow`), in the order it happened.
    pub grows: Vec<Grow>,
    /// Wall time per call of the instrumented pass, in nanoseconds: what
    /// the hooks and stack captures cost (the timed pass ran without them).
    pub ns_per_call: f64,
}

/// Allocations per call.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuestPerCall {
    /// Bytes allocated per call (freed or not).
    pub bytes: f64,
    /// Blocks allocated per call.
    pub blocks: f64,
    /// Blocks freed per call.
    pub frees: f64,
}

/// One allocator function the pass hooked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllocFn {
    /// Its name (demangled), or the export or import it is known by.
    pub name: String,
    /// What it does: `alloc`, `free` or `realloc`.
    pub role: String,
    /// How it was found: `export`, `import`, `name section` or `--guest-alloc`.
    pub found_by: String,
}

/// One `memory.grow` the guest ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grow {
    /// Pages asked for (64 KiB each).
    pub pages: u64,
    /// The memory's size before, in pages; absent when the grow failed.
    pub from_pages: Option<u64>,
    /// Whether it happened during a measured call (else at start-up or in
    /// the first call).
    pub in_measured_call: bool,
    /// The wasm stack that grew it, innermost first.
    pub stack: Vec<String>,
}

/// The lines to quote from a guest heap pass: the guest's bytes and blocks
/// a call; with the host pass's figures, wasm's whole against native's
/// (and the reference study's, for its plugin); the leak; the pass's cost.
pub fn guest_heap_lines(
    g: &GuestHeap,
    host: Option<&super::HeapProfile>,
    plugin: &str,
) -> Vec<String> {
    use crate::units::{fmt_bytes, fmt_ns};
    let mut lines = vec![format!(
        "guest heap: {} in {:.1} blocks a call inside linear memory ({:.1} freed), {}",
        fmt_bytes(g.per_call.bytes),
        g.per_call.blocks,
        g.per_call.frees,
        if g.own {
            "the plugin's own allocator hooked"
        } else {
            "only the calling convention's allocator seen"
        }
    )];
    if let Some((h, n)) = host.and_then(|h| Some((h, h.native.as_ref()?))) {
        let wasm = g.per_call.bytes + h.wasm.bytes;
        let blocks = g.per_call.blocks + h.wasm.blocks;
        let ratio = if n.bytes > 0.0 {
            format!(": {:.2}x the bytes", wasm / n.bytes)
        } else {
            String::new()
        };
        let (sw, sn) = crate::study::ALLOCATED_PER_CALL_BYTES;
        let study = if plugin == crate::study::PLUGIN {
            format!(
                "; {}: {:.2} KB against {:.2} KB ({:.2}x)",
                crate::study::NAME,
                sw / 1000.0,
                sn / 1000.0,
                sw / sn
            )
        } else {
            String::new()
        };
        lines.push(format!(
            "allocated a call, wasm (guest {} + host {}) {} in {:.1} blocks against native {} in {:.1} blocks{ratio}{study}",
            fmt_bytes(g.per_call.bytes),
            fmt_bytes(h.wasm.bytes),
            fmt_bytes(wasm),
            blocks,
            fmt_bytes(n.bytes),
            n.blocks
        ));
    }
    if g.leaked_blocks_per_call > 0.0 {
        lines.push(format!(
            "LEAK: {:.2} blocks ({}) a call stay live: the guest heap grows with every call",
            g.leaked_blocks_per_call,
            fmt_bytes(g.leaked_bytes_per_call)
        ));
    }
    lines.push(format!(
        "the instrumented pass: {} a call with the hooks, over {} calls",
        fmt_ns(g.ns_per_call),
        g.calls
    ));
    lines
}
