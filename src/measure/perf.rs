//! Linux perf counters (`perf_event_open`) for the counter pass: each counter
//! probed on its own, the ones the kernel grants read together as one group.
//!
//! perf-event opens the counters. Its `Group::read` allocates a vector on
//! every read and asserts on what the kernel returns; inside a measured call
//! an allocation is work we would count, so [`PerfCounters::read`] reads the
//! group's file descriptor straight into a buffer made up front.

use std::io;
use std::os::fd::AsRawFd;

use perf_event::events::{Event, Hardware, Software};
use perf_event::{Builder, Counter, Group};

use super::Meter;

/// One counter wprof knows how to ask for.
struct Spec {
    name: &'static str,
    event: fn() -> Event,
    /// Counted in kernel mode too. Context switches happen in the kernel, so
    /// with user mode only they would always read 0.
    kernel: bool,
}

/// Every counter, hardware first. Names are perf's.
const SPECS: &[Spec] = &[
    Spec {
        name: "cycles",
        event: || Hardware::CPU_CYCLES.into(),
        kernel: false,
    },
    Spec {
        name: "instructions",
        event: || Hardware::INSTRUCTIONS.into(),
        kernel: false,
    },
    Spec {
        name: "cache-misses",
        event: || Hardware::CACHE_MISSES.into(),
        kernel: false,
    },
    Spec {
        name: "branch-misses",
        event: || Hardware::BRANCH_MISSES.into(),
        kernel: false,
    },
    Spec {
        name: "task-clock",
        event: || Software::TASK_CLOCK.into(),
        kernel: false,
    },
    Spec {
        name: "page-faults",
        event: || Software::PAGE_FAULTS.into(),
        kernel: false,
    },
    Spec {
        name: "context-switches",
        event: || Software::CONTEXT_SWITCHES.into(),
        kernel: true,
    },
];

/// Names of every counter, in report order.
pub fn all_names() -> Vec<&'static str> {
    SPECS.iter().map(|s| s.name).collect()
}

/// A counter that could not be opened, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The counter's name.
    pub name: &'static str,
    /// Why, in words, with the errno.
    pub reason: String,
}

/// The counters the kernel granted, as one group counting this thread.
pub struct PerfCounters {
    group: Group,
    // Kept open: closing a member's descriptor removes it from the group.
    _members: Vec<Counter>,
    names: Vec<&'static str>,
    /// `nr`, time enabled, time running, then `(value, id)` per member, the
    /// group's placeholder leader first.
    buf: Vec<u64>,
    refused: Vec<Refused>,
}

fn builder(spec: &Spec) -> Builder<'static> {
    let mut b = Builder::new().kind((spec.event)());
    if spec.kernel {
        b.include_kernel();
    }
    b
}

fn why(e: &io::Error) -> String {
    let paranoid = || {
        std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unreadable".to_owned())
    };
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) => format!(
            "not supported by this CPU or hypervisor ({})",
            errno_name(e)
        ),
        Some(libc::EACCES) | Some(libc::EPERM) => format!(
            "refused by the kernel: perf_event_paranoid is {} ({})",
            paranoid(),
            errno_name(e)
        ),
        Some(libc::ENOSYS) => "perf_event_open is not available (ENOSYS)".to_owned(),
        _ => e.to_string(),
    }
}

fn errno_name(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENOENT) => "ENOENT",
        Some(libc::EOPNOTSUPP) => "EOPNOTSUPP",
        Some(libc::EACCES) => "EACCES",
        Some(libc::EPERM) => "EPERM",
        _ => "error",
    }
}

impl PerfCounters {
    /// Opens the named counters (all when `wanted` is empty). Each is first
    /// opened alone, so that one the kernel refuses is named with its reason
    /// and leaves the others working; an unknown name is an error.
    pub fn open(wanted: &[String]) -> Result<PerfCounters, String> {
        for w in wanted {
            if !SPECS.iter().any(|s| s.name == w) {
                return Err(format!(
                    "unknown counter `{w}` (known: {})",
                    all_names().join(", ")
                ));
            }
        }
        let chosen = SPECS
            .iter()
            .filter(|s| wanted.is_empty() || wanted.iter().any(|w| w == s.name));
        let mut refused = Vec::new();
        let mut granted = Vec::new();
        for spec in chosen {
            match builder(spec).build() {
                Ok(_) => granted.push(spec),
                Err(e) => refused.push(Refused {
                    name: spec.name,
                    reason: why(&e),
                }),
            }
        }
        let mut group = match Group::new() {
            Ok(g) => g,
            Err(e) => return Err(format!("cannot open a perf counter group: {}", why(&e))),
        };
        let mut members = Vec::new();
        let mut names = Vec::new();
        for spec in granted {
            match builder(spec).group(&mut group).build() {
                Ok(c) => {
                    members.push(c);
                    names.push(spec.name);
                }
                Err(e) => refused.push(Refused {
                    name: spec.name,
                    reason: format!("cannot join the group: {}", why(&e)),
                }),
            }
        }
        let buf = vec![0; 3 + 2 * (members.len() + 1)];
        let mut counters = PerfCounters {
            group,
            _members: members,
            names,
            buf,
            refused,
        };
        counters
            .group
            .enable()
            .map_err(|e| format!("cannot enable the perf counters: {e}"))?;
        Ok(counters)
    }

    /// Counters that could not be opened, with why.
    pub fn refused(&self) -> &[Refused] {
        &self.refused
    }
}

impl Meter for PerfCounters {
    fn names(&self) -> &[&'static str] {
        &self.names
    }

    #[inline]
    fn read(&mut self, out: &mut [u64]) {
        let bytes = std::mem::size_of_val(&self.buf[..]);
        // SAFETY: reads at most `bytes` into the buffer, which holds `bytes`.
        let n = unsafe { libc::read(self.group.as_raw_fd(), self.buf.as_mut_ptr().cast(), bytes) };
        if n as usize != bytes {
            // A short read means the group changed under us; report nothing
            // rather than misattribute.
            out.fill(0);
            return;
        }
        // Skip nr, the two times and the placeholder leader's (value, id).
        for (o, pair) in out.iter_mut().zip(self.buf[5..].chunks_exact(2)) {
            *o = pair[0];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_counters_are_refused_by_name() {
        let err = PerfCounters::open(&["cycels".to_owned()])
            .err()
            .expect("an unknown name is an error");
        assert!(err.contains("unknown counter `cycels`"), "{err}");
    }

    #[test]
    fn every_counter_is_either_counted_or_refused_with_a_reason() {
        let Ok(mut c) = PerfCounters::open(&[]) else {
            // No perf_event_open at all (e.g. a container without it): the
            // report says so; nothing to check here.
            return;
        };
        assert_eq!(c.names().len() + c.refused().len(), SPECS.len());
        for r in c.refused() {
            assert!(!r.reason.is_empty(), "{}", r.name);
        }
        if let Some(k) = c.names().iter().position(|&n| n == "task-clock") {
            let mut a = vec![0; c.names().len()];
            let mut b = a.clone();
            c.read(&mut a);
            let mut x = 0u64;
            for i in 0..1_000_000u64 {
                x = std::hint::black_box(x.wrapping_add(i));
            }
            c.read(&mut b);
            assert!(b[k] > a[k], "task-clock did not advance over busy work");
        }
    }
}
