//! Counts of one thread's memory-mapping system calls (mmap, munmap,
//! madvise, mprotect), from the kernel's `syscalls:sys_enter_*`
//! tracepoints opened as perf counters.
//!
//! perf-event has no tracepoint events, so these are opened through its
//! own bindings crate, perf-event-open-sys, with the tracepoint's id read
//! from tracefs. Where tracefs is not mounted or the kernel refuses, the
//! reason is returned for the report.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use perf_event_open_sys::bindings;

/// The calls counted, in the order [`Syscalls::read`] writes them.
pub const NAMES: [&str; 4] = ["mmap", "munmap", "madvise", "mprotect"];

/// Where tracefs is found, in the order tried.
const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The tracepoint ids of [`NAMES`], read once.
#[derive(Debug, Clone, Copy)]
pub struct Ids([u64; 4]);

/// Reads the tracepoint ids from tracefs, or says why it cannot.
pub fn ids() -> Result<Ids, String> {
    let mut ids = [0u64; 4];
    let root = TRACEFS
        .iter()
        .find(|r| std::path::Path::new(r).join("events/syscalls").is_dir())
        .ok_or_else(|| {
            "the syscalls tracepoints are not readable: tracefs is not mounted at /sys/kernel/tracing (as root: mount -t tracefs nodev /sys/kernel/tracing), or the kernel has no syscall tracepoints".to_owned()
        })?;
    for (id, name) in ids.iter_mut().zip(NAMES) {
        let path = format!("{root}/events/syscalls/sys_enter_{name}/id");
        *id = std::fs::read_to_string(&path)
            .map_err(|e| format!("{path}: {e}"))?
            .trim()
            .parse()
            .map_err(|_| format!("{path}: not a number"))?;
    }
    Ok(Ids(ids))
}

/// The four counters, counting the thread that opened them.
pub struct Syscalls {
    fds: Vec<OwnedFd>,
}

impl Syscalls {
    /// Opens the counters on this thread.
    pub fn open(ids: Ids) -> Result<Syscalls, String> {
        let mut fds = Vec::with_capacity(NAMES.len());
        for (id, name) in ids.0.into_iter().zip(NAMES) {
            let mut attr = bindings::perf_event_attr {
                type_: bindings::PERF_TYPE_TRACEPOINT,
                size: std::mem::size_of::<bindings::perf_event_attr>() as u32,
                config: id,
                ..Default::default()
            };
            // SAFETY: attr is a valid, sized perf_event_attr; pid 0 and cpu
            // -1 count this thread on any CPU; no group.
            let fd = unsafe {
                perf_event_open_sys::perf_event_open(
                    &mut attr,
                    0,
                    -1,
                    -1,
                    bindings::PERF_FLAG_FD_CLOEXEC as _,
                )
            };
            if fd < 0 {
                let e = std::io::Error::last_os_error();
                return Err(format!(
                    "the kernel refused the sys_enter_{name} tracepoint counter: {e}"
                ));
            }
            // SAFETY: a new descriptor this function owns.
            fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        Ok(Syscalls { fds })
    }

    /// Reads each count into `out` (as long as [`NAMES`]).
    pub fn read(&self, out: &mut [u64]) {
        for (o, fd) in out.iter_mut().zip(&self.fds) {
            let mut v = 0u64;
            // SAFETY: reads 8 bytes into a u64.
            let n = unsafe { libc::read(fd.as_raw_fd(), (&raw mut v).cast(), 8) };
            *o = if n == 8 { v } else { 0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_this_threads_mmaps_or_says_why_not() {
        let c = match ids().and_then(Syscalls::open) {
            Ok(c) => c,
            Err(why) => {
                assert!(!why.is_empty());
                return;
            }
        };
        let mut a = [0u64; 4];
        let mut b = [0u64; 4];
        c.read(&mut a);
        for _ in 0..3 {
            // SAFETY: an anonymous mapping, unmapped at once.
            unsafe {
                let p = libc::mmap(
                    std::ptr::null_mut(),
                    4096,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                assert_ne!(p, libc::MAP_FAILED);
                libc::munmap(p, 4096);
            }
        }
        c.read(&mut b);
        assert!(b[0] - a[0] >= 3, "mmap {a:?} -> {b:?}");
        assert!(b[1] - a[1] >= 3, "munmap {a:?} -> {b:?}");
    }
}
