//! Scenarios: each one file, each turning a plain config into a [`Run`].
//!
//! [`Run`]: crate::run::Run

pub mod hot_path;

use crate::run::Host;

/// Wasmtime version wprof was built with (read from Cargo.lock by build.rs).
pub const WASMTIME_VERSION: &str = env!("WPROF_WASMTIME_VERSION");

/// The names of all scenarios, as given to `wprof record`.
pub const NAMES: &[&str] = &[hot_path::NAME];

/// Describes this machine for a run.
pub fn host_info() -> Host {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    });
    Host {
        os: std::env::consts::OS.to_owned(),
        arch: std::env::consts::ARCH.to_owned(),
        cpu,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        wasmtime: WASMTIME_VERSION.to_owned(),
    }
}

/// Now, as RFC 3339 UTC to the second.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
