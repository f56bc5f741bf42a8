//! The recorder behind the hooks: live blocks, totals, the peak, each
//! program point (a wasm stack) with dhat's figures, and the growth of
//! linear memory; and the dhat file it all becomes.
//!
//! Time is counted in allocator calls, not seconds: the hooks and stack
//! captures would dominate wall time, and a logical clock makes lifetimes
//! the same on every run (dh_view shows the unit as given).

use std::collections::HashMap;

use serde::Serialize;

use super::find::{Role, Site, Space};
use crate::run::Grow;

/// A live block.
#[derive(Debug, Clone, Copy)]
struct Block {
    size: u64,
    pp: usize,
    born: u64,
}

/// A program point: one wasm stack's allocations.
#[derive(Debug, Clone, Default)]
struct Pp {
    frames: Vec<usize>,
    total_bytes: u64,
    total_blocks: u64,
    total_lifetimes: u64,
    curr_bytes: u64,
    curr_blocks: u64,
    max_bytes: u64,
    max_blocks: u64,
    at_gmax_bytes: u64,
    at_gmax_blocks: u64,
}

/// Totals at one moment, to take differences of.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// Bytes allocated so far.
    pub bytes: u64,
    /// Blocks allocated so far.
    pub blocks: u64,
    /// Blocks freed so far.
    pub frees: u64,
    /// Bytes live now.
    pub live_bytes: u64,
    /// Blocks live now.
    pub live_blocks: u64,
}

/// An allocator call in progress (the outermost one).
#[derive(Debug, Clone, Copy)]
struct Open {
    site: usize,
    a: u64,
    b: u64,
    pp: usize,
}

/// Everything the hooks saw.
#[derive(Debug, Default)]
pub struct Recorder {
    sites: Vec<(Role, Space)>,
    depth: u32,
    open: Option<Open>,
    live: HashMap<(Space, u64), Block>,
    pps: Vec<Pp>,
    pp_of: HashMap<Vec<usize>, usize>,
    ftbl: Vec<String>,
    frame_of: HashMap<String, usize>,
    clock: u64,
    totals: Totals,
    peak_bytes: u64,
    peak_blocks: u64,
    t_gmax: u64,
    /// `memory.grow`s, in order.
    pub grows: Vec<Grow>,
    /// Whether the calls now running are measured ones.
    pub measured: bool,
    /// Frees of blocks the recorder never saw allocated.
    pub unknown_frees: u64,
    /// Totals before and after the measured calls.
    pub span: Option<(Totals, Totals)>,
}

impl Recorder {
    /// A recorder for these sites (hook site `k` is `sites[k]`).
    pub fn new(sites: &[Site]) -> Recorder {
        Recorder {
            sites: sites.iter().map(|s| (s.role, s.space)).collect(),
            ftbl: vec!["[root]".to_owned()],
            ..Recorder::default()
        }
    }

    /// Whether entering `site` now starts an outermost allocation, whose
    /// stack the hook must capture (a free needs none: its block keeps
    /// the stack it was allocated at).
    pub fn wants_stack(&self, site: usize) -> bool {
        self.depth == 0 && !matches!(self.sites.get(site), Some((Role::Free { .. }, _)))
    }

    /// Site `site` entered with arguments `a`, `b`; `stack` (innermost
    /// first) is given for an outermost call only.
    pub fn enter(&mut self, site: usize, a: u64, b: u64, stack: Option<Vec<String>>) {
        if self.depth == 0 {
            // A free's block has its program point already.
            let pp = stack.map_or(usize::MAX, |s| self.pp(s));
            self.open = Some(Open { site, a, b, pp });
        }
        self.depth += 1;
    }

    /// Site `site` returned `ret` (0 for a free).
    pub fn exit(&mut self, site: usize, ret: u64) {
        self.depth = self.depth.saturating_sub(1);
        if self.depth > 0 {
            return;
        }
        let Some(open) = self.open.take() else { return };
        debug_assert_eq!(open.site, site);
        let (role, space) = self.sites[open.site];
        let mut open = open;
        if open.pp == usize::MAX && !matches!(role, Role::Free { .. }) {
            open.pp = self.pp(Vec::new());
        }
        match role {
            Role::Alloc { count, .. } => {
                let size = if count.is_some() {
                    open.a.saturating_mul(open.b)
                } else {
                    open.a
                };
                if ret != 0 {
                    self.born(space, ret, size, open.pp);
                }
            }
            Role::Free { .. } => {
                if open.a != 0 {
                    self.died(space, open.a);
                }
            }
            Role::Realloc { .. } => {
                if ret != 0 {
                    if open.a != 0 {
                        self.died(space, open.a);
                    }
                    self.born(space, ret, open.b, open.pp);
                } else if open.b == 0 && open.a != 0 {
                    self.died(space, open.a);
                }
            }
        }
    }

    /// Memory `memory` grew by `delta` pages from `old` (-1: it failed).
    pub fn grew(&mut self, delta: u64, old: i64, stack: Vec<String>) {
        self.grows.push(Grow {
            pages: delta,
            from_pages: u64::try_from(old).ok(),
            in_measured_call: self.measured,
            stack,
        });
    }

    /// Totals now.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// The most bytes live at once, and the blocks then.
    pub fn peak(&self) -> (u64, u64) {
        (self.peak_bytes, self.peak_blocks)
    }

    fn frame(&mut self, name: String) -> usize {
        if let Some(&i) = self.frame_of.get(&name) {
            return i;
        }
        self.ftbl.push(name.clone());
        let i = self.ftbl.len() - 1;
        self.frame_of.insert(name, i);
        i
    }

    fn pp(&mut self, stack: Vec<String>) -> usize {
        let frames: Vec<usize> = stack.into_iter().map(|n| self.frame(n)).collect();
        if let Some(&i) = self.pp_of.get(&frames) {
            return i;
        }
        self.pps.push(Pp {
            frames: frames.clone(),
            ..Pp::default()
        });
        let i = self.pps.len() - 1;
        self.pp_of.insert(frames, i);
        i
    }

    fn born(&mut self, space: Space, addr: u64, size: u64, pp: usize) {
        self.clock += 1;
        // A block at an address still live was freed unseen (e.g. by a
        // function not hooked): retire it first.
        if self.live.contains_key(&(space, addr)) {
            self.died(space, addr);
        }
        self.live.insert(
            (space, addr),
            Block {
                size,
                pp,
                born: self.clock,
            },
        );
        let t = &mut self.totals;
        t.bytes += size;
        t.blocks += 1;
        t.live_bytes += size;
        t.live_blocks += 1;
        let p = &mut self.pps[pp];
        p.total_bytes += size;
        p.total_blocks += 1;
        p.curr_bytes += size;
        p.curr_blocks += 1;
        if p.curr_bytes > p.max_bytes {
            p.max_bytes = p.curr_bytes;
            p.max_blocks = p.curr_blocks;
        }
        if t.live_bytes > self.peak_bytes {
            self.peak_bytes = t.live_bytes;
            self.peak_blocks = t.live_blocks;
            self.t_gmax = self.clock;
            for p in &mut self.pps {
                p.at_gmax_bytes = p.curr_bytes;
                p.at_gmax_blocks = p.curr_blocks;
            }
        }
    }

    fn died(&mut self, space: Space, addr: u64) {
        self.clock += 1;
        let Some(b) = self.live.remove(&(space, addr)) else {
            self.unknown_frees += 1;
            return;
        };
        let t = &mut self.totals;
        t.frees += 1;
        t.live_bytes -= b.size;
        t.live_blocks -= 1;
        let p = &mut self.pps[b.pp];
        p.curr_bytes -= b.size;
        p.curr_blocks -= 1;
        p.total_lifetimes += self.clock - b.born;
    }

    /// The dhat file (format version 2, as dh_view.html loads it), with
    /// `cmd` as its command line.
    pub fn dhat(&self, cmd: &str) -> serde_json::Value {
        // Blocks still live count their lifetime to the end, as dhat's do.
        let mut lifetimes: Vec<u64> = self.pps.iter().map(|p| p.total_lifetimes).collect();
        for b in self.live.values() {
            lifetimes[b.pp] += self.clock - b.born;
        }
        let pps: Vec<PpJson> = self
            .pps
            .iter()
            .zip(lifetimes)
            .map(|(p, tl)| PpJson {
                tb: p.total_bytes,
                tbk: p.total_blocks,
                tl,
                mb: p.max_bytes,
                mbk: p.max_blocks,
                gb: p.at_gmax_bytes,
                gbk: p.at_gmax_blocks,
                eb: p.curr_bytes,
                ebk: p.curr_blocks,
                fs: p.frames.clone(),
            })
            .collect();
        serde_json::json!({
            "dhatFileVersion": 2,
            "mode": "rust-heap",
            "verb": "Allocated",
            "bklt": true,
            "bkacc": false,
            "tu": "allocator calls",
            "Mtu": "M allocator calls",
            "tuth": 10,
            "cmd": cmd,
            "pid": std::process::id(),
            "tg": self.t_gmax,
            "te": self.clock,
            "pps": pps,
            "ftbl": self.ftbl,
        })
    }
}

/// One program point in dhat's file.
#[derive(Serialize)]
struct PpJson {
    tb: u64,
    tbk: u64,
    tl: u64,
    mb: u64,
    mbk: u64,
    gb: u64,
    gbk: u64,
    eb: u64,
    ebk: u64,
    fs: Vec<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(role: Role) -> Site {
        Site {
            func: 0,
            name: "f".into(),
            role,
            found_by: "export",
            boundary: false,
            space: Space::Linear,
        }
    }

    #[test]
    fn only_the_outermost_call_counts_and_realloc_moves_a_block() {
        let alloc = site(Role::Alloc {
            size: 0,
            count: None,
        });
        let realloc = site(Role::Realloc { ptr: 0, size: 1 });
        let free = site(Role::Free { ptr: 0 });
        let mut r = Recorder::new(&[alloc.clone(), alloc, realloc, free]);
        let stack = || Some(vec!["work".to_owned()]);
        // wprof_alloc(16) calling malloc(16): one block.
        assert!(r.wants_stack(0));
        r.enter(0, 16, 0, stack());
        assert!(!r.wants_stack(1));
        r.enter(1, 16, 0, None);
        r.exit(1, 100);
        r.exit(0, 100);
        // realloc(100, 40) → 200: the 16 freed, 40 born.
        r.enter(2, 100, 40, stack());
        r.exit(2, 200);
        let t = r.totals();
        assert_eq!((t.bytes, t.blocks, t.frees), (56, 2, 1));
        assert_eq!((t.live_bytes, t.live_blocks), (40, 1));
        assert_eq!(r.peak(), (40, 1));
        assert!(!r.wants_stack(3), "a free needs no stack");
        r.enter(3, 200, 0, None);
        r.exit(3, 0);
        assert_eq!(r.totals().live_bytes, 0);
        let d = r.dhat("test");
        assert_eq!(d["pps"][0]["tb"], 56);
        assert_eq!(d["pps"][0]["tbk"], 2);
        assert_eq!(d["ftbl"][1], "work");
    }
}
