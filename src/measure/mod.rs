//! Measurement mechanisms, one file each: event counters behind [`Meter`]
//! (perf counters, `--counters`) and their per-phase [`tally::Tally`],
//! stack samplers behind [`Sampler`] (`--sample`), fuel and memory
//! readings. The passes that use them live in [`crate::inside`]; clocks in
//! [`crate::timing`].

pub mod folded;
pub mod fuel;
pub mod guest;
pub mod host_sampler;
pub mod instrument;
pub mod interrupts;
pub mod memory;
pub mod perf;
pub mod syscalls;
pub mod tally;

/// Something that counts events (perf counters): totals read at phase
/// boundaries, whose differences are what each phase cost.
pub trait Meter {
    /// What it counts, in the order [`Meter::read`] writes them.
    fn names(&self) -> &[&'static str];

    /// Reads every total into `out` (as long as [`Meter::names`]).
    fn read(&mut self, out: &mut [u64]);
}

/// A stack sampler, paused and resumed around the calls it samples so that
/// its cost falls only on them.
pub trait Sampler {
    /// Files stacks sampled from now on under `prefix` (folded frames,
    /// e.g. `cold-start;winch`).
    fn set_prefix(&mut self, prefix: &str);
    /// Starts (or restarts) sampling.
    fn resume(&mut self) -> anyhow::Result<()>;
    /// Stops sampling, keeping what was collected.
    fn pause(&mut self) -> anyhow::Result<()>;
    /// Everything collected, as a profile (overhead left for the caller).
    fn finish(self: Box<Self>) -> anyhow::Result<crate::run::Profile>;
}

/// A frame name as flamegraph tools take it: demangled without the hash,
/// with no `;` (the folded format's separator).
pub fn frame_name(raw: &str) -> String {
    let name = format!("{:#}", rustc_demangle::demangle(raw));
    name.replace(';', ":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_names_are_demangled_and_fit_the_folded_format() {
        assert_eq!(
            frame_name("_ZN12drug_checker10check_json17h0123456789abcdefE"),
            "drug_checker::check_json"
        );
        assert_eq!(frame_name("a;b"), "a:b");
    }
}
