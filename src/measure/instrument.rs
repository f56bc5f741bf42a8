//! Instruments: how an engine for a pass that looks inside calls differs
//! from the timing pass's (fuel metering, epoch interruption, the perf map,
//! compilation on one thread).

use wasmtime::Config;

/// How an instrumented engine differs from the timing pass's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instrument {
    /// Fuel metering.
    Fuel,
    /// Epoch interruption, for the guest sampler.
    Epoch,
    /// The perf map, for the host sampler.
    PerfMap,
    /// Compilation on the calling thread, for the counter pass: perf
    /// counters count the thread that opened them, and Wasmtime's parallel
    /// compilation would do most of the work on pool threads they miss.
    OneThread,
}

/// Default engine settings with one instrument turned on.
pub fn config(instrument: Instrument) -> Config {
    let mut config = Config::new();
    match instrument {
        Instrument::Fuel => super::fuel::configure(&mut config),
        Instrument::Epoch => super::guest::configure(&mut config),
        Instrument::PerfMap => super::host_sampler::configure(&mut config),
        Instrument::OneThread => {
            config.parallel_compilation(false);
        }
    }
    config
}
