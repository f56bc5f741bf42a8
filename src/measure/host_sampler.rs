//! The host sampler: pprof-rs takes the whole process's stack on SIGPROF
//! (at most the kernel tick's rate, 250 Hz here). Wasm frames are JIT code
//! that no symbol table knows; the engine being sampled writes Wasmtime's
//! perf map (`/tmp/perf-<pid>.map`) and wprof names them from it.
//!
//! wprof resolves the raw frames itself (pprof-rs's unresolved report, then
//! the perf map, then `backtrace`) rather than with pprof-rs's `perfmaps`
//! feature: that reader parses addresses with `from_str_radix(_, 16)`, which
//! rejects the `0x` Wasmtime writes, so it names no wasm frame at all.
//!
//! Stacks are unwound by framehop (pprof-rs's `framehop-unwinder`), not by
//! pprof-rs's default, libgcc's `_Unwind_Backtrace`: a sample that lands in
//! the epilogue of a Cranelift function (after `pop rbp`, before `ret`) has
//! CFI that still says CFA = rbp + 16, and libgcc follows it into whatever
//! rbp now holds and segfaults (about one run in twelve of
//! `record hot-path --sample both` did). framehop checks every stack read
//! (pprof-rs's pipe probe) and walks frame pointers through code it has no
//! unwind tables for, which Cranelift's code keeps; a bad read ends the
//! stack instead of the process.
//!
//! Cheap (a signal and an unwind per sample, no change to the wasm code),
//! so it suits long runs; coarser than the guest sampler.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use pprof::{ProfilerGuard, ProfilerGuardBuilder};
use wasmtime::{Config, ProfilingStrategy};

use super::Sampler;
use super::folded::Folded;
use crate::run::Profile;

/// Makes an engine from `config` write the perf map the sampler reads.
pub fn configure(config: &mut Config) {
    config.profiler(ProfilingStrategy::PerfMap);
}

/// Where Wasmtime writes this process's perf map.
pub fn perf_map_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("perf-{}.map", std::process::id()))
}

/// Samples the whole process with SIGPROF.
pub struct HostSampler {
    hz: u32,
    prefix: String,
    guard: Option<ProfilerGuard<'static>>,
    folded: Folded,
    active: Duration,
    /// When the running segment began, on both clocks: pprof-rs stamps its
    /// samples with the wall clock, the run's timeline is monotonic.
    since: Option<(Instant, SystemTime)>,
    /// Names by instruction address, innermost inlined frame first.
    names: std::cell::RefCell<HashMap<usize, Vec<String>>>,
}

/// Wasmtime's perf map: JIT code ranges and their names.
struct PerfMap {
    /// `(start, end, name)`, sorted by start.
    ranges: Vec<(usize, usize, String)>,
}

impl PerfMap {
    /// Reads the map (none yet: empty).
    fn read(path: &std::path::Path) -> PerfMap {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let hex = |s: &str| usize::from_str_radix(s.trim_start_matches("0x"), 16).ok();
        let mut ranges: Vec<(usize, usize, String)> = text
            .lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, ' ');
                let start = hex(parts.next()?)?;
                let len = hex(parts.next()?)?;
                Some((start, start + len, parts.next()?.to_owned()))
            })
            .collect();
        ranges.sort();
        PerfMap { ranges }
    }

    fn find(&self, addr: usize) -> Option<&str> {
        let i = self.ranges.partition_point(|r| r.0 <= addr);
        let (start, end, name) = self.ranges.get(i.checked_sub(1)?)?;
        (*start <= addr && addr < *end).then_some(name.as_str())
    }
}

/// A wasm function's perf-map name (`wasm[0]::function[12]::name`) as the
/// guest sampler names it: the name section's name, demangled.
fn wasm_name(name: &str) -> String {
    let short = name.rsplit_once("]::").map_or(name, |(_, n)| n);
    super::frame_name(without_hash(short))
}

impl HostSampler {
    /// A paused sampler at `hz`, filing stacks under `prefix`; samples are
    /// timed from `since`, the run's first clock read, where given.
    pub fn new(hz: u32, prefix: &str, since: Option<Instant>) -> HostSampler {
        HostSampler {
            hz: hz.max(1),
            prefix: prefix.to_owned(),
            guard: None,
            folded: Folded::new(since),
            active: Duration::ZERO,
            since: None,
            names: Default::default(),
        }
    }

    /// The names at the instruction `ip`: a wasm function from the perf
    /// map, else the host's symbols (inlined ones too), innermost first.
    fn names_of(&self, ip: usize, map: &PerfMap) -> Vec<String> {
        if let Some(n) = self.names.borrow().get(&ip) {
            return n.clone();
        }
        let names = match map.find(ip) {
            Some(n) => vec![wasm_name(n)],
            None => {
                let mut names = Vec::new();
                // backtrace takes return addresses: it looks up one byte
                // before what it is given.
                backtrace::resolve((ip + 1) as *mut std::ffi::c_void, |sym| {
                    if let Some(n) = sym.name() {
                        // The raw symbol, so that frame_name's demangling
                        // drops v0 crate hashes (`std[e282…]::`) too.
                        let raw = n.as_str().map_or_else(|| n.to_string(), str::to_owned);
                        names.push(super::frame_name(without_hash(&raw)));
                    }
                });
                if names.is_empty() {
                    names.push(format!("{ip:#x}"));
                }
                names
            }
        };
        self.names.borrow_mut().insert(ip, names.clone());
        names
    }
}

/// Starts pprof-rs's profiler at `hz`.
fn start(hz: u32) -> anyhow::Result<ProfilerGuard<'static>> {
    ProfilerGuardBuilder::default()
        .frequency(hz as i32)
        // Samples whose interrupted instruction lies in these are dropped.
        // pprof-rs keys each sample by its frames' function starts, found by
        // libgcc's `_Unwind_FindEnclosingFunction` inside the handler, which
        // takes libgcc's lock and may malloc: interrupted inside malloc or
        // libgcc, the handler would deadlock (a cold start with `--sample
        // host` did, in malloc on a compiler thread). The vDSO has no file for
        // framehop to read unwind tables from.
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()
        .context("cannot start the host sampler")
}

/// Builds framehop's unwinder before the first real sample. pprof-rs builds
/// it lazily, in the signal handler, the first time a sample is taken: that
/// reads and copies every loaded object's unwind tables, which allocates and
/// would deadlock if the signal had interrupted malloc. Here the signal is
/// raised on this thread at a known point, under a throwaway profiler whose
/// one sample is discarded with it.
fn prime_unwinder() -> anyhow::Result<()> {
    static PRIMED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    PRIMED
        .get_or_init(|| {
            let guard = start(1).map_err(|e| format!("{e:#}"))?;
            // SAFETY: raise only delivers SIGPROF to this thread, whose
            // handler pprof-rs installed just now; it runs before raise returns.
            let rc = unsafe { libc::raise(libc::SIGPROF) };
            drop(guard);
            if rc == 0 {
                Ok(())
            } else {
                Err(format!(
                    "cannot start the host sampler: raise(SIGPROF): {}",
                    std::io::Error::last_os_error()
                ))
            }
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Drops the `::h0123456789abcdef` hash a symbol name may still carry.
fn without_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => name,
    }
}

impl Sampler for HostSampler {
    fn set_prefix(&mut self, prefix: &str) {
        // Stacks are folded at each pause, so this applies from the next.
        prefix.clone_into(&mut self.prefix);
    }

    fn resume(&mut self) -> anyhow::Result<()> {
        prime_unwinder()?;
        let guard = start(self.hz)?;
        self.guard = Some(guard);
        self.since = Some((Instant::now(), SystemTime::now()));
        Ok(())
    }

    fn pause(&mut self) -> anyhow::Result<()> {
        let Some(guard) = self.guard.take() else {
            return Ok(());
        };
        let end = Instant::now();
        let Some((start, start_wall)) = self.since.take() else {
            return Ok(());
        };
        self.active += end - start;
        self.folded.segment(&self.prefix, start, end);
        let report = guard
            .report()
            .build_unresolved()
            .context("cannot read the host sampler's stacks")?;
        drop(guard);
        let map = PerfMap::read(&perf_map_path());
        for (frames, count) in report.data {
            // Innermost first, from the interrupted instruction: framehop
            // starts at the signal's context, so no handler frames precede it.
            // The first address is the interrupted instruction itself; the
            // others are return addresses, one past their calls: look up the
            // calls (a return address can be the next function's first byte).
            let names: Vec<String> = frames
                .frames
                .iter()
                .enumerate()
                .flat_map(|(i, f)| {
                    self.names_of(if i == 0 { f.ip } else { f.ip.saturating_sub(1) }, &map)
                })
                .collect();
            let mut key = self.prefix.clone();
            for n in names.iter().rev() {
                key.push(';');
                key.push_str(n);
            }
            // pprof-rs merges a segment's samples of one stack and keeps the
            // first one's wall-clock time: placed on the run's clock, within
            // the segment.
            let first = frames
                .sample_timestamp
                .duration_since(start_wall)
                .map_or(start, |d| (start + d).min(end));
            self.folded.add(key, count.max(0) as u64, Some(first));
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<Profile> {
        self.pause()?;
        let folded = std::mem::replace(&mut self.folded, Folded::new(None));
        let samples = folded.samples();
        let (stacks, timed, segments) = folded.finish();
        let seconds = self.active.as_secs_f64();
        Ok(Profile {
            sampler: "host".to_owned(),
            method: "pprof-rs: SIGPROF on the process's CPU time, stacks unwound in the handler by framehop; wasm JIT frames named from Wasmtime's perf map, host frames from the symbol table (inlined functions are part of their caller's frame)".to_owned(),
            requested_hz: f64::from(self.hz),
            achieved_hz: if seconds > 0.0 { samples as f64 / seconds } else { 0.0 },
            samples,
            seconds,
            overhead_pct: None,
            stacks,
            timed,
            segments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::without_hash;

    #[test]
    fn hashes_are_dropped_and_other_names_kept() {
        assert_eq!(without_hash("wprof::run::h0123456789abcdef"), "wprof::run");
        assert_eq!(without_hash("wprof::run"), "wprof::run");
        assert_eq!(without_hash("a::hello"), "a::hello");
    }
}
