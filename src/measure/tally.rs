//! Per-phase sums of a [`Meter`]'s differences over many iterations: the
//! counter pass's accumulator. Marks come at each phase boundary, as for
//! the clock; nothing is allocated after [`Tally::new`].

use super::Meter;
use crate::timing::target::Marks;

/// Most counters a [`Tally`] keeps per phase.
pub const MAX_COUNTERS: usize = 8;

/// See the module's doc.
pub struct Tally<'m> {
    meter: &'m mut dyn Meter,
    /// Marks per iteration: phases + 1.
    width: usize,
    pos: usize,
    prev: [u64; MAX_COUNTERS],
    cur: [u64; MAX_COUNTERS],
    /// `sums[phase * n + counter]`.
    sums: Vec<u64>,
    /// Every phase's differences, summed per counter.
    totals: [u64; MAX_COUNTERS],
    iterations: u64,
}

impl<'m> Tally<'m> {
    /// A tally for iterations of `phases` phases.
    pub fn new(meter: &'m mut dyn Meter, phases: usize) -> Tally<'m> {
        let n = meter.names().len().min(MAX_COUNTERS);
        Tally {
            meter,
            width: phases + 1,
            pos: 0,
            prev: [0; MAX_COUNTERS],
            cur: [0; MAX_COUNTERS],
            sums: vec![0; phases * n],
            totals: [0; MAX_COUNTERS],
            iterations: 0,
        }
    }

    fn n(&self) -> usize {
        self.meter.names().len().min(MAX_COUNTERS)
    }

    /// Marks the next phase boundary: the first mark of an iteration starts
    /// it, each later one ends a phase.
    #[inline]
    pub fn mark(&mut self) {
        let n = self.n();
        self.meter.read(&mut self.cur[..n]);
        if self.pos > 0 {
            let base = (self.pos - 1) * n;
            for c in 0..n {
                let d = self.cur[c].wrapping_sub(self.prev[c]);
                self.sums[base + c] += d;
                self.totals[c] += d;
            }
        }
        self.prev = self.cur;
        self.pos += 1;
        if self.pos == self.width {
            self.pos = 0;
            self.iterations += 1;
        }
    }

    /// Forgets everything tallied so far (e.g. after warm-up iterations).
    pub fn reset(&mut self) {
        self.sums.fill(0);
        self.totals = [0; MAX_COUNTERS];
        self.iterations = 0;
        self.pos = 0;
    }

    /// Phases per iteration.
    pub fn phases(&self) -> usize {
        self.width - 1
    }

    /// Complete iterations tallied.
    pub fn iterations(&self) -> u64 {
        self.iterations
    }

    /// Each counter's differences over every phase so far, in
    /// [`Tally::names`] order.
    pub fn totals(&self) -> &[u64] {
        &self.totals[..self.n()]
    }

    /// Mean per iteration of each counter in phase `k`.
    pub fn means(&self, k: usize) -> Vec<f64> {
        let n = self.n();
        let it = self.iterations.max(1) as f64;
        self.sums[k * n..(k + 1) * n]
            .iter()
            .map(|&s| s as f64 / it)
            .collect()
    }

    /// The counters' names.
    pub fn names(&self) -> &[&'static str] {
        &self.meter.names()[..self.n()]
    }

    /// Mean counts of an empty window (two marks back to back), over
    /// `reps` tries: what one boundary's read itself adds to a phase.
    pub fn empty_window(&mut self, reps: u64) -> Vec<f64> {
        let n = self.n();
        let mut sums = [0u64; MAX_COUNTERS];
        for _ in 0..reps {
            self.meter.read(&mut self.prev[..n]);
            self.meter.read(&mut self.cur[..n]);
            for ((s, c), p) in sums.iter_mut().zip(&self.cur[..n]).zip(&self.prev[..n]) {
                *s += c.wrapping_sub(*p);
            }
        }
        self.pos = 0;
        sums[..n]
            .iter()
            .map(|&s| s as f64 / reps.max(1) as f64)
            .collect()
    }
}

/// The counter pass's marks.
impl Marks for Tally<'_> {
    #[inline(always)]
    fn mark(&mut self, _k: usize) {
        Tally::mark(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A meter that counts its own reads: each read advances by 10.
    struct Steps(u64);

    impl Meter for Steps {
        fn names(&self) -> &[&'static str] {
            &["steps"]
        }

        fn read(&mut self, out: &mut [u64]) {
            self.0 += 10;
            out[0] = self.0;
        }
    }

    #[test]
    fn a_tally_splits_differences_by_phase_and_counts_iterations() {
        let mut m = Steps(0);
        let mut t = Tally::new(&mut m, 2);
        for _ in 0..3 {
            t.mark();
            t.mark();
            t.mark();
        }
        assert_eq!(t.iterations(), 3);
        assert_eq!(t.means(0), vec![10.0]);
        assert_eq!(t.means(1), vec![10.0]);
        assert_eq!(t.totals(), [60]);
        assert_eq!(t.empty_window(5), vec![10.0]);
        t.reset();
        assert_eq!((t.iterations(), t.totals()), (0, &[0u64][..]));
    }
}
