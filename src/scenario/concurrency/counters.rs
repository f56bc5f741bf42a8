//! The counters read around each thread's requests: perf software
//! counters and syscall tracepoints per worker thread, /proc/interrupts
//! for the whole machine. Probed once; each thread opens its own.

use crate::measure::perf::PerfCounters;
use crate::measure::syscalls::{self, Ids, Syscalls};
use crate::measure::{Meter, interrupts};
use crate::run::Unavailable;

/// The perf software counters asked for, by perf's names.
const SOFTWARE: [&str; 2] = ["page-faults", "context-switches"];

/// What each thread can count, found out once.
pub struct Plan {
    /// The software counters the kernel grants.
    software: Vec<&'static str>,
    /// The syscall tracepoints' ids, where tracefs has them.
    syscalls: Option<Ids>,
    /// Whether /proc/interrupts has the TLB and CAL rows.
    pub interrupts: bool,
    /// What cannot be counted, and why.
    pub unavailable: Vec<Unavailable>,
}

impl Plan {
    /// Probes every counter on this thread.
    pub fn probe() -> Plan {
        let mut unavailable = Vec::new();
        let wanted: Vec<String> = SOFTWARE.iter().map(|s| s.to_string()).collect();
        let software = match PerfCounters::open(&wanted) {
            Ok(c) => {
                for r in c.refused() {
                    unavailable.push(Unavailable {
                        name: r.name.to_owned(),
                        reason: r.reason.clone(),
                    });
                }
                c.names().to_vec()
            }
            Err(why) => {
                unavailable.extend(SOFTWARE.iter().map(|n| Unavailable {
                    name: (*n).to_owned(),
                    reason: why.clone(),
                }));
                Vec::new()
            }
        };
        let syscalls = match syscalls::ids().and_then(|ids| Syscalls::open(ids).map(|_| ids)) {
            Ok(ids) => Some(ids),
            Err(why) => {
                unavailable.extend(syscalls::NAMES.iter().map(|n| Unavailable {
                    name: (*n).to_owned(),
                    reason: why.clone(),
                }));
                None
            }
        };
        let interrupts = match interrupts::read() {
            Ok(_) => true,
            Err(why) => {
                unavailable.extend(interrupts::NAMES.iter().map(|n| Unavailable {
                    name: (*n).to_owned(),
                    reason: why.clone(),
                }));
                false
            }
        };
        Plan {
            software,
            syscalls,
            interrupts,
            unavailable,
        }
    }

    /// What a thread's counters read, in order.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = self.software.clone();
        if self.syscalls.is_some() {
            names.extend(syscalls::NAMES);
        }
        names
    }

    /// Opens the counters on the calling thread.
    pub fn open(&self) -> Result<Counters, String> {
        let software = if self.software.is_empty() {
            None
        } else {
            let names: Vec<String> = self.software.iter().map(|s| s.to_string()).collect();
            Some(PerfCounters::open(&names)?)
        };
        let syscalls = self.syscalls.map(Syscalls::open).transpose()?;
        Ok(Counters {
            software,
            syscalls,
            width: self.software.len(),
        })
    }
}

/// One thread's counters.
pub struct Counters {
    software: Option<PerfCounters>,
    syscalls: Option<Syscalls>,
    width: usize,
}

impl Counters {
    /// Reads every count into `out`, in [`Plan::names`] order.
    pub fn read(&mut self, out: &mut [u64]) {
        let (soft, sys) = out.split_at_mut(self.width.min(out.len()));
        if let Some(c) = &mut self.software {
            c.read(soft);
        }
        if let Some(c) = &self.syscalls {
            c.read(sys);
        }
    }
}
