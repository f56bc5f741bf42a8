//! A deterministic clock for tests (`--clock fake`), as hyperfine's
//! MockExecutor is for its statistics: every read moves the clock on by a
//! step drawn from a fixed sequence, whatever the machine is doing, so a run
//! on it gives the same stamps, statistics, verdicts and exported files
//! every time. It measures nothing, and the run says so (clock `fake`).

use std::sync::Mutex;

use super::Clock;

/// Each read advances by `BASE_NS` plus up to `BASE_NS` more, drawn from a
/// fixed sequence.
const BASE_NS: u64 = 10;

/// A clock that ticks a fixed sequence of steps, one per read.
#[derive(Debug, Clone, Copy)]
pub struct Fake {
    /// Reads so far and the time they reached.
    state: &'static Mutex<(u64, u64)>,
}

impl Fake {
    /// A fake clock at tick 0 with its own sequence. (It lives as long as
    /// the process: a few bytes per run, for a clock only tests use.)
    pub fn new() -> Self {
        Fake {
            state: Box::leak(Box::new(Mutex::new((0, 0)))),
        }
    }
}

impl Default for Fake {
    fn default() -> Self {
        Self::new()
    }
}

/// The step of read `i`: `BASE_NS` plus a hash of `i` below `BASE_NS`, and
/// every 100th a 10x step (an "interrupt"), so that statistics have spread
/// and outliers to find.
fn step(i: u64) -> u64 {
    if i % 100 == 99 {
        return 10 * BASE_NS;
    }
    let mut x = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    BASE_NS + (x ^ (x >> 31)) % BASE_NS
}

impl Clock for Fake {
    const NAME: &'static str = "fake";

    #[inline(always)]
    fn now(&self) -> u64 {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.1 += step(s.0);
        s.0 += 1;
        s.1
    }

    fn ns_per_tick(&self) -> f64 {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_fake_clocks_read_the_same_sequence() {
        let (a, b) = (Fake::new(), Fake::new());
        let xs: Vec<u64> = (0..300).map(|_| a.now()).collect();
        let ys: Vec<u64> = (0..300).map(|_| b.now()).collect();
        assert_eq!(xs, ys);
        assert!(xs.windows(2).all(|w| w[1] - w[0] >= BASE_NS));
        assert_eq!(xs[99] - xs[98], 10 * BASE_NS, "every 100th step is long");
    }
}
