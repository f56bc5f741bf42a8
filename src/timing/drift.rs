//! Is the machine as fast at the end of a run as at its start? A fixed
//! reference workload (integer arithmetic, branches and a walk over 32 KiB)
//! is timed between rounds, best of five; when its time moves by more than
//! noise, the machine's speed changed during the run (a neighbour, turbo, a
//! thermal limit), and the run says so. Its median also gives `compare` a
//! measure of each run's machine speed.

use super::Clock;
use crate::run::Drift;

/// Entries in the reference workload's table (32 KiB).
const TABLE: usize = 4096;

/// Steps of the reference workload (~12 µs here).
const STEPS: usize = 4096;

/// How far the reference workload's time may move between rounds before
/// the run calls it drift: on the shared 2-core VM wprof is developed on,
/// quiet or beside a busy neighbour, it moves by 5 to 20 %; a change of the
/// machine's speed (turbo, a throttled VM) moves it by more.
pub const DRIFT_PCT: f64 = 25.0;

/// The reference workload and its table, allocated once.
pub struct Reference {
    table: Vec<u64>,
    times: Vec<f64>,
}

impl Default for Reference {
    fn default() -> Self {
        Reference {
            table: (0..TABLE as u64).collect(),
            times: Vec::new(),
        }
    }
}

impl Reference {
    /// Times the workload, best of five (an interrupt lands in one, not
    /// five), in nanoseconds; kept for [`Reference::assess`].
    pub fn time<C: Clock>(&mut self, clock: &C) -> f64 {
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let start = clock.now();
            std::hint::black_box(work(&mut self.table));
            let ticks = clock.now().saturating_sub(start);
            best = best.min(ticks as f64 * clock.ns_per_tick());
        }
        self.times.push(best);
        best
    }

    /// What the times taken so far say about the machine's speed.
    pub fn assess(&self) -> Option<Drift> {
        assess(&self.times)
    }
}

/// The drift seen in `times`, one per round (`None` without two): the
/// spread between the fastest of consecutive blocks of rounds.
pub fn assess(times: &[f64]) -> Option<Drift> {
    if times.len() < 2 {
        return None;
    }
    let (lo, hi, spread_pct) = block_spread(times);
    let mut sorted = times.to_vec();
    let detected = spread_pct > DRIFT_PCT;
    Some(Drift {
        reference_ns: times.to_vec(),
        reference_p50_ns: crate::stats::median_of(&mut sorted),
        spread_pct,
        detected,
        why: detected.then(|| {
            format!(
                "the machine's speed changed during the run: a fixed reference workload took {} to {} (the fastest of successive blocks of rounds, {:+.0} %); figures paired by round hold, unpaired ones do not",
                crate::units::fmt_ns(lo),
                crate::units::fmt_ns(hi),
                spread_pct
            )
        }),
    })
}

/// The fastest and slowest of the blocks' fastest, and their spread in
/// percent. A change of speed lasts: the rounds are cut into up to five
/// blocks in time order and each block's fastest taken, so that one
/// disturbed round is noise, not drift. Non-finite figures (a round cut
/// short) are skipped.
fn block_spread(times: &[f64]) -> (f64, f64, f64) {
    let times: Vec<f64> = times.iter().copied().filter(|t| t.is_finite()).collect();
    if times.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let blocks = times.len().min(5);
    let per = times.len().div_ceil(blocks);
    let fastest: Vec<f64> = times
        .chunks(per)
        .map(|c| c.iter().copied().fold(f64::INFINITY, f64::min))
        .collect();
    let lo = fastest.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = fastest.iter().copied().fold(0.0, f64::max);
    let pct = if lo > 0.0 {
        100.0 * (hi - lo) / lo
    } else {
        0.0
    };
    (lo, hi, pct)
}

/// Adds what the variants' own per-round times say: when every variant's
/// rounds moved beyond [`DRIFT_PCT`] (by the same block measure), the
/// machine's speed changed even if the reference workload, timed apart from
/// them, missed it. `per_variant`: each variant's per-round times.
pub fn with_variants(d: &mut Drift, per_variant: &[(&str, Vec<f64>)]) {
    if d.detected || per_variant.is_empty() {
        return;
    }
    let spreads: Vec<(&str, f64)> = per_variant
        .iter()
        .map(|(name, t)| (*name, block_spread(t).2))
        .collect();
    if spreads.iter().all(|(_, s)| *s > DRIFT_PCT) {
        d.detected = true;
        d.why = Some(format!(
            "the machine's speed changed during the run: every variant's per-round time moved together ({}; the fastest of successive blocks of rounds); figures paired by round hold, unpaired ones do not",
            spreads
                .iter()
                .map(|(n, s)| format!("{n} {s:+.0} %"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

/// Fixed work: xorshift steps, each adding into and reading from a table
/// entry it picks, with a data-dependent branch.
#[inline(never)]
fn work(table: &mut [u64]) -> u64 {
    let mask = table.len() - 1;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut acc = 0u64;
    for _ in 0..STEPS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = x as usize & mask;
        table[j] = table[j].wrapping_add(x);
        if x & 1 == 0 {
            acc = acc.wrapping_add(table[(j * 7) & mask]);
        }
    }
    acc
}

/// The overhead the clock reads cost a variant, said honestly: above 2 %
/// it inflates the phase times; below zero beyond noise (the instrumented
/// calls faster than the same calls without clock reads, in the same
/// rounds) it is impossible, and means the machine's speed changed.
pub fn overhead_notes(variants: &[crate::run::Variant]) -> Vec<String> {
    let mut notes = Vec::new();
    for v in variants {
        let Some(u) = &v.uninstrumented else { continue };
        if impossible_overhead(u) {
            notes.push(format!(
                "warning: drift: {} instrumentation overhead came out at {:.1} %, below zero beyond noise, which clock reads cannot cause: the machine's speed changed within rounds, and the figure is not reported",
                v.name, u.instrumentation_overhead_pct
            ));
        } else if u.instrumentation_overhead_pct > 2.0 {
            notes.push(format!(
                "warning: {} instrumentation overhead is {:.1} % (over 2 %): its phase times are inflated by the clock reads",
                v.name, u.instrumentation_overhead_pct
            ));
        }
    }
    notes
}

/// Whether an instrumentation overhead is negative beyond noise: its whole
/// interval under -1 %. Without an interval (too few rounds to pair) noise
/// is unknown, and the figure stands, as measured.
pub fn impossible_overhead(u: &crate::run::Uninstrumented) -> bool {
    u.instrumentation_overhead_ci_pct
        .is_some_and(|(_, hi)| hi < -1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_machine_shows_no_drift_and_a_slowed_one_does() {
        let steady = [
            100.0, 102.0, 99.0, 101.0, 180.0, 100.0, 99.0, 101.0, 100.0, 102.0,
        ];
        let d = assess(&steady).unwrap();
        assert!(!d.detected && d.why.is_none(), "one slow round: {d:?}");
        assert_eq!(d.reference_p50_ns, 100.5);
        let d = assess(&[100.0, 101.0, 100.0, 99.0, 150.0, 151.0, 149.0, 150.0]).unwrap();
        assert!(d.detected, "{d:?}");
        assert!((d.spread_pct - 51.5).abs() < 0.1, "{d:?}");
        assert!(d.why.unwrap().contains("99.0 ns to 150.0 ns"));
        assert!(assess(&[100.0]).is_none());
    }

    #[test]
    fn every_variant_slowing_together_is_drift_and_one_alone_is_not() {
        let mut d = assess(&[100.0; 10]).unwrap();
        let steady = vec![50.0; 10];
        let slowed: Vec<f64> = (0..10).map(|i| if i < 5 { 50.0 } else { 80.0 }).collect();
        with_variants(&mut d, &[("wasm", slowed.clone()), ("native", steady)]);
        assert!(!d.detected, "one variant alone is the variant: {d:?}");
        let mut slowed2 = slowed.clone();
        slowed2[7] = f64::NAN;
        with_variants(&mut d, &[("wasm", slowed), ("native", slowed2)]);
        assert!(d.detected, "{d:?}");
        assert!(d.why.unwrap().contains("wasm +60 %, native +60 %"));
    }

    #[test]
    fn the_reference_workload_takes_time_on_the_fake_clock_too() {
        let clock = crate::timing::Fake::new();
        let mut r = Reference::default();
        assert!(r.time(&clock) > 0.0);
        r.time(&clock);
        assert_eq!(r.assess().unwrap().reference_ns.len(), 2);
    }

    #[test]
    fn a_negative_overhead_is_impossible_only_beyond_noise() {
        let u = |pct: f64, ci: Option<(f64, f64)>| crate::run::Uninstrumented {
            calls: 1000,
            batches: 1,
            batch_calls: 1000,
            mean_ns: 1.0,
            median_ns: 1.0,
            batch_min_ns: 1.0,
            batch_max_ns: 1.0,
            per_sec: 1e9,
            instrumentation_overhead_pct: pct,
            instrumentation_overhead_ci_pct: ci,
        };
        assert!(impossible_overhead(&u(-30.5, Some((-35.0, -25.0)))));
        assert!(!impossible_overhead(&u(-0.5, Some((-2.0, 1.0)))));
        // Too few rounds for an interval: noise is unknown.
        assert!(!impossible_overhead(&u(-30.5, None)));
    }
}
