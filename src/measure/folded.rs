//! What a sampler collects: folded stacks with their counts, and, where the
//! run's time base is at hand, when each was seen and when the sampler ran,
//! so that a timeline viewer can place them beside the run's phases.

use std::collections::HashMap;
use std::time::Instant;

use crate::run::{Segment, Stack, TimedSample};

/// Folded stacks, their counts and their times, as a sampler gathers them.
#[derive(Debug)]
pub struct Folded {
    /// The run's first clock read; `None`: times are not kept (a sampler in
    /// another process than the run's timeline).
    since: Option<Instant>,
    ids: HashMap<String, usize>,
    stacks: Vec<(String, u64)>,
    timed: Vec<(f64, usize, u64)>,
    segments: Vec<Segment>,
}

impl Folded {
    /// Nothing yet; times are kept relative to `since` where given.
    pub fn new(since: Option<Instant>) -> Folded {
        Folded {
            since,
            ids: HashMap::new(),
            stacks: Vec::new(),
            timed: Vec::new(),
            segments: Vec::new(),
        }
    }

    /// Nanoseconds from the run's first clock read to `t` (`None` where
    /// times are not kept).
    pub fn at(&self, t: Instant) -> Option<f64> {
        self.since
            .map(|s| t.saturating_duration_since(s).as_nanos() as f64)
    }

    /// `count` samples of `key`, the first of them taken at `t`.
    pub fn add(&mut self, key: String, count: u64, t: Option<Instant>) {
        if count == 0 {
            return;
        }
        let id = match self.ids.get(&key) {
            Some(&id) => id,
            None => {
                self.ids.insert(key.clone(), self.stacks.len());
                self.stacks.push((key, 0));
                self.stacks.len() - 1
            }
        };
        self.stacks[id].1 += count;
        if let Some(t_ns) = t.and_then(|t| self.at(t)) {
            self.timed.push((t_ns, id, count));
        }
    }

    /// The sampler ran from `start` to `end` on stacks filed under `label`.
    pub fn segment(&mut self, label: &str, start: Instant, end: Instant) {
        if let (Some(start_ns), Some(end_ns)) = (self.at(start), self.at(end)) {
            self.segments.push(Segment {
                label: label.to_owned(),
                start_ns,
                end_ns,
            });
        }
    }

    /// Samples so far.
    pub fn samples(&self) -> u64 {
        self.stacks.iter().map(|s| s.1).sum()
    }

    /// The stacks, most frequent first (then by name, so that output is
    /// stable), the timed samples in time order pointing into them, and the
    /// segments.
    pub fn finish(self) -> (Vec<Stack>, Vec<TimedSample>, Vec<Segment>) {
        let mut order: Vec<usize> = (0..self.stacks.len()).collect();
        order.sort_by(|&a, &b| {
            let (a, b) = (&self.stacks[a], &self.stacks[b]);
            b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0))
        });
        let mut index = vec![0; self.stacks.len()];
        for (to, &from) in order.iter().enumerate() {
            index[from] = to;
        }
        let mut timed: Vec<TimedSample> = self
            .timed
            .into_iter()
            .map(|(t_ns, id, weight)| TimedSample {
                t_ns,
                stack: index[id],
                weight,
            })
            .collect();
        timed.sort_by(|a, b| a.t_ns.total_cmp(&b.t_ns));
        let mut stacks: Vec<Option<(String, u64)>> = self.stacks.into_iter().map(Some).collect();
        let stacks = order
            .iter()
            .filter_map(|&i| stacks[i].take())
            .map(|(frames, count)| Stack { frames, count })
            .collect();
        (stacks, timed, self.segments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stacks_sort_by_count_and_times_follow_them() {
        let t0 = Instant::now();
        let mut f = Folded::new(Some(t0));
        f.add("a;b".into(), 1, Some(t0 + Duration::from_micros(5)));
        f.add("a;c".into(), 3, Some(t0 + Duration::from_micros(2)));
        f.add("a;b".into(), 1, Some(t0 + Duration::from_micros(9)));
        f.add("a;d".into(), 0, Some(t0));
        f.segment("a", t0, t0 + Duration::from_micros(10));
        assert_eq!(f.samples(), 5);
        let (stacks, timed, segments) = f.finish();
        assert_eq!(
            stacks,
            vec![
                Stack {
                    frames: "a;c".into(),
                    count: 3
                },
                Stack {
                    frames: "a;b".into(),
                    count: 2
                }
            ]
        );
        let got: Vec<(f64, usize, u64)> =
            timed.iter().map(|t| (t.t_ns, t.stack, t.weight)).collect();
        assert_eq!(got, vec![(2000.0, 0, 3), (5000.0, 1, 1), (9000.0, 1, 1)]);
        assert_eq!(segments[0].end_ns, 10_000.0);
    }

    #[test]
    fn without_a_time_base_only_counts_are_kept() {
        let mut f = Folded::new(None);
        f.add("a".into(), 2, Some(Instant::now()));
        f.segment("a", Instant::now(), Instant::now());
        let (stacks, timed, segments) = f.finish();
        assert_eq!(stacks.len(), 1);
        assert!(timed.is_empty() && segments.is_empty());
    }
}
