//! System-wide interrupt counts from `/proc/interrupts`: the TLB
//! shootdowns and function-call IPIs that unmapping memory (munmap,
//! madvise) sends to the other CPUs. The kernel counts them per CPU for
//! the whole machine, so a delta includes every process's.

/// Interrupts counted so far, summed over every CPU.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Interrupts {
    /// TLB shootdowns (the `TLB` row).
    pub tlb_shootdowns: u64,
    /// Function-call interrupts (the `CAL` row).
    pub call_ipis: u64,
}

/// The names of what [`Interrupts`] holds, as reports write them.
pub const NAMES: [&str; 2] = ["tlb-shootdowns", "function-call-ipis"];

impl Interrupts {
    /// The counts in [`NAMES`] order.
    pub fn values(&self) -> [u64; 2] {
        [self.tlb_shootdowns, self.call_ipis]
    }
}

/// Reads `/proc/interrupts` now.
pub fn read() -> Result<Interrupts, String> {
    let text = std::fs::read_to_string("/proc/interrupts")
        .map_err(|e| format!("/proc/interrupts is not readable: {e}"))?;
    parse(&text)
}

/// The `TLB` and `CAL` rows of `/proc/interrupts`, each summed over its
/// per-CPU columns.
pub fn parse(text: &str) -> Result<Interrupts, String> {
    let row = |name: &str| -> Option<u64> {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name}:")))?;
        let (_, counts) = line.split_once(':')?;
        Some(
            counts
                .split_whitespace()
                .map_while(|c| c.parse::<u64>().ok())
                .sum(),
        )
    };
    match (row("TLB"), row("CAL")) {
        (Some(tlb_shootdowns), Some(call_ipis)) => Ok(Interrupts {
            tlb_shootdowns,
            call_ipis,
        }),
        _ => Err("/proc/interrupts has no TLB or CAL row (x86 Linux names them so)".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_summed_over_cpus() {
        let text = "           CPU0       CPU1\n  0:         36          0   IO-APIC    2-edge      timer\nCAL:      12345       6789   Function call interrupts\nTLB:        100        250   TLB shootdowns\n";
        assert_eq!(
            parse(text).unwrap(),
            Interrupts {
                tlb_shootdowns: 350,
                call_ipis: 19134
            }
        );
        assert!(parse("  0: 1 2 timer\n").is_err());
    }
}
