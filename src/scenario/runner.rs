//! The runner the boundary scenarios share (data-transfer, batching,
//! host-functions, codecs, compute, command, component): a reference way
//! (the native build, or the output the user expects) sets what every way
//! must hand back; each way is made, called once and checked against it
//! before anything is timed, timed within a budget, and checked again; its
//! stamps become a variant, or its failure is recorded and the others go
//! on. One loop, written once.
//!
//! The reference way is kept: each way is timed in rounds, the reference
//! timed between them, so that each way's ratio to the reference is paired
//! round by round (a machine whose speed changes moves both alike), and a
//! fixed workload timed there too says whether the machine's speed moved.

use std::fmt::Debug;
use std::time::Duration;

use super::Budget;
use crate::error::{CallError, Error, at};
use crate::phase::Phase;
use crate::run::{Failure, Pair, Run, Variant};
use crate::timing::budget::{Rounds, time_in_rounds, time_target};
use crate::timing::drift::Reference;
use crate::timing::pairing::paired_ratio;
use crate::timing::settle::{Recorded, fewest_calls, settle};
use crate::timing::target::{Stamps, Target};
use crate::timing::{Clock, ClockChoice, clock_info, with_clock};

/// How long each variant of a boundary scenario runs, and on what clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Runs {
    /// How long each variant goes on once it has `min` runs.
    pub time: Duration,
    /// Fewest measured runs per variant (a run is one call; for batching,
    /// one iteration of its items).
    pub min: u64,
    /// Most measured runs per variant.
    pub max: u64,
    /// Runs per variant drawn into the Chrome trace.
    pub trace: u64,
    /// The clock. Default: auto (the TSC where invariant).
    pub clock: ClockChoice,
}

impl Runs {
    /// `min` to `max` runs, going on for `time_ms` once there are `min`,
    /// `trace` of them traced, on the default clock.
    pub const fn new(time_ms: u64, min: u64, max: u64, trace: u64) -> Runs {
        Runs {
            time: Duration::from_millis(time_ms),
            min,
            max,
            trace,
            clock: ClockChoice::Auto,
        }
    }

    /// The budget of each variant.
    pub fn budget(&self) -> Budget {
        Budget::new(self.min, self.max, self.time)
    }

    /// Records them among a run's settings.
    pub fn record(&self, settings: &mut std::collections::BTreeMap<String, serde_json::Value>) {
        let time = humantime::format_duration(self.time).to_string();
        settings.insert("time_per_variant".into(), serde_json::json!(time));
        settings.insert("min_runs".into(), serde_json::json!(self.min));
        settings.insert("max_runs".into(), serde_json::json!(self.max));
    }
}

/// A scenario the runner times: its config says how long each variant runs.
pub(crate) trait Boundary {
    /// How long each variant runs, and the clock.
    fn runs(&self) -> &Runs;
    /// The scenario, timed by `clock`.
    fn run_on<C: Clock>(&self, clock: C) -> Result<Run, Error>;
}

/// Makes `$config` (whose `runs` field says how long its variants run) a
/// [`Boundary`] scenario timed by `$body` (`fn(clock, &config)`), run by the
/// `run` function this also defines.
macro_rules! boundary {
    ($config:ty, $body:ident) => {
        /// Runs the scenario.
        pub fn run(cfg: &$config) -> Result<Run, Error> {
            $crate::scenario::runner::run(cfg)
        }

        impl $crate::scenario::runner::Boundary for $config {
            fn runs(&self) -> &$crate::scenario::runner::Runs {
                &self.runs
            }

            fn run_on<C: $crate::timing::Clock>(&self, clock: C) -> Result<Run, Error> {
                $body(clock, self)
            }
        }
    };
}
pub(crate) use boundary;

/// Runs a boundary scenario on the clock its config chose, the run stamped
/// with when it started and how long it took.
pub(crate) fn run<S: Boundary>(s: &S) -> Result<Run, Error> {
    let kind = s.runs().clock.resolve().map_err(Error::Config)?;
    super::stamped(|| with_clock!(kind, |clock| s.run_on(clock)))
}

/// What a way hands back, compared with the reference's.
pub(crate) trait Outcome {
    /// How `self` differs from `reference`, on one line; `None` when it
    /// does not.
    fn differs(&self, reference: &Self) -> Option<String>;
}

/// A way of doing a scenario's work, timed phase by phase, that hands back
/// what its last call computed.
pub(crate) trait Way: Target {
    /// What a call computes.
    type Output: Outcome;
    /// The phase a wrong output is reported in (where the host reads it).
    const CHECKED_IN: Phase;
    /// What the last call computed.
    fn output(&self) -> Self::Output;
}

/// Implements [`Way`] for a target: what its output is, the phase a wrong
/// one is reported in, and how to read it (`|w| ...`, `w` the target);
/// generic parameters go in `impl[...]`.
macro_rules! way {
    (impl[$($g:tt)*] $t:ty => $out:ty, $phase:ident, |$w:ident| $e:expr) => {
        impl<$($g)*> $crate::scenario::runner::Way for $t {
            type Output = $out;
            const CHECKED_IN: $crate::phase::Phase = $crate::phase::Phase::$phase;
            fn output(&self) -> $out {
                let $w = self;
                $e
            }
        }
    };
    ($t:ty => $out:ty, $phase:ident, |$w:ident| $e:expr) => {
        way!(impl[] $t => $out, $phase, |$w| $e);
    };
}
pub(crate) use way;

/// The reference way of most boundary scenarios: the plugin's own source,
/// linked into wprof, run on the host's values in place (one execute
/// phase). `f` makes a call; `output` turns what it returned into what the
/// ways are compared on, after the timed phase.
pub(crate) struct Native<F, R, O> {
    f: F,
    last: Option<R>,
    output: fn(&R) -> O,
}

impl<F, R, O> Native<F, R, O> {
    /// A native call `f`, its result read by `output`.
    pub(crate) fn new(f: F, output: fn(&R) -> O) -> Self {
        Native {
            f,
            last: None,
            output,
        }
    }
}

impl<F: FnMut() -> Result<R, CallError>, R, O> Target for Native<F, R, O> {
    fn phases(&self) -> &'static [Phase] {
        &[Phase::Execute]
    }

    #[inline(always)]
    fn call_marked<M: crate::timing::target::Marks + ?Sized>(
        &mut self,
        m: &mut M,
    ) -> Result<(), CallError> {
        m.mark(0);
        let out = (self.f)()?;
        m.mark(1);
        // The last result dropped after the phase, as a host would.
        self.last = Some(out);
        Ok(())
    }
}

way!(impl[F: FnMut() -> Result<R, CallError>, R, O: Outcome + Default] Native<F, R, O> => O, Execute, |w| w.last.as_ref().map_or_else(O::default, w.output));

/// Rounds each way is cut into, the reference timed between them (no more
/// than it has calls).
const ROUNDS: usize = 20;

/// The reference way, kept to be timed between a way's rounds.
struct Anchor<'c> {
    /// Its variant's name.
    name: String,
    /// Times a few of its calls: their median, in nanoseconds.
    batch: Box<dyn FnMut() -> Result<f64, CallError> + 'c>,
}

/// Calls of the reference between two rounds, after one unmeasured call
/// where it warms up (see [`Runner::anchor`]): at least this many, then until [`ANCHOR_TIME`] has passed, at most
/// [`ANCHOR_MAX`]. A way's round is many calls, so its median is of warm
/// calls; the reference's must be too. With one cold call and a 500 µs
/// budget, batching's native reference (~0.3 ms a call, allocation-bound)
/// timed 1.6-3x its own median, and the paired ratio said wasm was faster
/// than native where the medians said 2x slower.
const ANCHOR_MIN: usize = 1;
const ANCHOR_MAX: usize = 256;
const ANCHOR_TIME: Duration = Duration::from_millis(2);

/// Times ways against a reference and keeps what they measured.
pub(crate) struct Runner<'c, C, O> {
    clock: &'c C,
    budget: Budget,
    /// What every way must hand back; `None` until a reference is set (the
    /// first way's first call then sets it).
    expected: Option<O>,
    recorded: Vec<Recorded>,
    failures: Vec<Failure>,
    compared: u64,
    mismatched: u64,
    /// The phase naming a whole iteration.
    whole: Phase,
    /// The reference way, once timed.
    anchor: Option<Anchor<'c>>,
    /// Each way against the reference, paired by round.
    pairs: Vec<Pair>,
    /// The machine's speed, timed between rounds.
    speed: Reference,
    /// Ways the scenario said it will time (0: not said), and ways begun:
    /// the progress line's count.
    planned: u64,
    begun: u64,
}

impl<'c, C: Clock, O: Outcome> Runner<'c, C, O> {
    /// A runner timing with `clock`, each way within `budget`.
    pub(crate) fn new(clock: &'c C, budget: Budget) -> Self {
        Runner {
            clock,
            budget,
            expected: None,
            recorded: Vec::new(),
            failures: Vec::new(),
            compared: 0,
            mismatched: 0,
            whole: Phase::Call,
            anchor: None,
            pairs: Vec::new(),
            speed: Reference::default(),
            planned: 0,
            begun: 0,
        }
    }

    /// Says how many ways (the reference and the floor included) will be
    /// timed, for the progress line's count and time left.
    pub(crate) fn plan(&mut self, ways: usize) {
        self.planned = ways as u64;
    }

    /// The stage of timing the way `name`, between timed stretches.
    fn stage(&mut self, name: &str) -> crate::stages::Guard {
        self.begun += 1;
        let of = if self.begun <= self.planned {
            self.planned
        } else {
            0
        };
        crate::stages::stage(&format!("variant {name}"), self.begun, of)
    }

    /// A runner whose iterations are wholes of another kind (a cold start).
    pub(crate) fn with_whole(self, whole: Phase) -> Self {
        Runner { whole, ..self }
    }

    /// Sets what the ways from now on must hand back, untimed (the output
    /// a user expects of a command).
    pub(crate) fn expect(&mut self, output: O) {
        self.expected = Some(output);
    }

    /// Times the reference way (the native build): its output is what the
    /// ways after it must hand back. It failing fails the run.
    /// It is kept, and timed between the rounds of each way after it.
    pub(crate) fn reference<W: Way<Output = O> + 'c>(
        &mut self,
        plugin: &str,
        variant: Variant,
        mut w: W,
    ) -> Result<(), Error> {
        let _stage = self.stage(&variant.name);
        let t = time_target(self.clock, &mut w, self.budget).map_err(|e| e.into_error(plugin))?;
        self.expected = Some(w.output());
        let name = variant.name.clone();
        self.recorded.push(Recorded::new(variant, t, w.phases()));
        self.anchor(name, w, true);
        Ok(())
    }

    /// Keeps `w` (the variant `name`, already timed) to time between the
    /// rounds of each way after it, each way's ratio to it paired by round
    /// ([`Runner::reference`] does this for the reference way; cold start
    /// for its first rung, set up again). `warm`: one unmeasured call first
    /// each time, for a target whose calls warm caches and allocators as a
    /// way's many calls in a round do; not for one whose every call starts
    /// cold by design (a cold-start rung).
    pub(crate) fn anchor<T: Target + 'c>(&mut self, name: String, mut w: T, warm: bool) {
        let clock = self.clock;
        let mut times = Vec::with_capacity(ANCHOR_MAX);
        let mut row = vec![0u64; w.phases().len() + 1];
        self.anchor = Some(Anchor {
            name,
            batch: Box::new(move || {
                times.clear();
                if warm {
                    w.call()?;
                }
                // On the run's clock (a fake clock stays reproducible).
                let limit = ANCHOR_TIME.as_nanos() as f64 / clock.ns_per_tick().max(1e-3);
                let start = clock.now();
                while times.len() < ANCHOR_MIN
                    || (times.len() < ANCHOR_MAX
                        && (clock.now().saturating_sub(start) as f64) < limit)
                {
                    // Marked as when it was timed: what the reference does
                    // after its last mark (dropping its last result) stays
                    // out, as it did then.
                    w.call_marked(&mut Stamps {
                        clock,
                        row: &mut row,
                    })?;
                    let ticks = row[row.len() - 1].saturating_sub(row[0]);
                    times.push(ticks as f64 * clock.ns_per_tick());
                }
                Ok(crate::stats::median_of(&mut times))
            }),
        });
    }

    /// Makes a way, checks its first call's output against the reference
    /// (or, with none, makes it the reference), times it, checks again,
    /// and records it; `after` adds what only the way knows. A way that
    /// fails, or hands back another output, is recorded as failed.
    pub(crate) fn way<W: Way<Output = O>>(
        &mut self,
        variant: Variant,
        make: impl FnOnce() -> Result<W, CallError>,
        after: impl FnOnce(&W, &mut Recorded),
    ) {
        let name = variant.name.clone();
        if let Err(e) = self.run(variant, make, after) {
            self.failures.push(e.failure(&name));
        }
    }

    /// As [`Runner::way`] for a scenario whose one way is the scenario
    /// itself: a failure is the run's error, naming `plugin`.
    pub(crate) fn only<W: Way<Output = O>>(
        &mut self,
        plugin: &str,
        variant: Variant,
        make: impl FnOnce() -> Result<W, CallError>,
        after: impl FnOnce(&W, &mut Recorded),
    ) -> Result<(), Error> {
        self.run(variant, make, after)
            .map_err(|e| e.into_error(plugin))
    }

    /// Times a target that hands back nothing to check (the physical floor
    /// of a copy), recording its failure.
    pub(crate) fn unchecked<T: Target>(
        &mut self,
        variant: Variant,
        make: impl FnOnce() -> Result<T, CallError>,
    ) {
        let name = variant.name.clone();
        let _stage = self.stage(&name);
        let timed = make().and_then(|mut t| {
            let timed = time_target(self.clock, &mut t, self.budget)?;
            Ok((timed, t.phases()))
        });
        match timed {
            Ok((t, phases)) => self.recorded.push(Recorded::new(variant, t, phases)),
            Err(e) => self.failures.push(e.failure(&name)),
        }
    }

    fn run<W: Way<Output = O>>(
        &mut self,
        variant: Variant,
        make: impl FnOnce() -> Result<W, CallError>,
        after: impl FnOnce(&W, &mut Recorded),
    ) -> Result<(), CallError> {
        let _stage = self.stage(&variant.name);
        let mut w = make()?;
        w.call()?;
        self.check(&w, "")?;
        let t = self.time_paired(&variant.name, &mut w)?;
        self.check(&w, " after timing")?;
        let mut r = Recorded::new(variant, t, w.phases());
        after(&w, &mut r);
        self.recorded.push(r);
        Ok(())
    }

    /// Times `w`: in rounds with the reference between them where there is
    /// one, its ratio to the reference then paired by round.
    fn time_paired<W: Target>(
        &mut self,
        name: &str,
        w: &mut W,
    ) -> Result<crate::timing::budget::Timed, CallError> {
        let Some(anchor) = self.anchor.as_mut() else {
            return time_target(self.clock, w, self.budget);
        };
        let (clock, speed) = (self.clock, &mut self.speed);
        let batch = &mut anchor.batch;
        let mut reference = Vec::with_capacity(ROUNDS);
        let mut between = || {
            reference.push(batch()?);
            speed.time(clock);
            Ok(())
        };
        let rounds = Rounds {
            count: ROUNDS,
            between: &mut between,
        };
        let t = time_in_rounds(clock, w, self.budget, Some(rounds))?;
        // The last round has no reference after it yet.
        reference.push(batch()?);
        let ns = clock.ns_per_tick();
        let mine: Vec<f64> = t
            .round_medians(w.phases().len() + 1)
            .iter()
            .map(|r| r * ns)
            .collect();
        if let Some(ratio) = paired_ratio(&mine, &reference) {
            self.pairs.push(Pair {
                subject: name.to_owned(),
                baseline: anchor.name.clone(),
                ratio,
            });
        }
        Ok(t)
    }

    /// Checks `w`'s last output against the reference (or sets it).
    fn check<W: Way<Output = O>>(&mut self, w: &W, when: &str) -> Result<(), CallError> {
        let got = w.output();
        let Some(want) = &self.expected else {
            self.expected = Some(got);
            return Ok(());
        };
        self.compared += 1;
        match got.differs(want) {
            None => Ok(()),
            Some(why) => {
                self.mismatched += 1;
                Err(at(W::CHECKED_IN)(anyhow::anyhow!("{why}{when}")))
            }
        }
    }

    /// The reference output, once set.
    pub(crate) fn expected(&self) -> Option<&O> {
        self.expected.as_ref()
    }

    /// The variants recorded so far (their phases not yet settled).
    pub(crate) fn recorded(&mut self) -> &mut Vec<Recorded> {
        &mut self.recorded
    }

    /// What it recorded, unsettled (to join another runner's).
    pub(crate) fn into_recorded(self) -> Vec<Recorded> {
        self.recorded
    }

    /// Whether every output compared matched the reference; `None` when
    /// none was compared. A way that failed otherwise counts for nothing.
    pub(crate) fn outputs_identical(&self) -> Option<bool> {
        (self.compared > 0).then_some(self.mismatched == 0)
    }

    /// Settles every variant and puts them, their timeline, the failures,
    /// the fewest calls and the clock into `run` (whether outputs matched
    /// is the scenario's to say: [`Runner::outputs_identical`]). `bytes` says what each
    /// variant moves (in, out).
    /// [`Runner::finish`] for a boundary scenario timed as `runs` says:
    /// also records those settings, the one-off `setup`, and whether every
    /// output matched.
    pub(crate) fn finish_runs(
        self,
        run: &mut Run,
        runs: &Runs,
        setup: Vec<crate::run::PhaseTime>,
        bytes: impl Fn(&Variant) -> (u64, u64),
    ) {
        runs.record(&mut run.settings);
        run.setup = setup;
        run.plugin.outputs_identical = self.outputs_identical();
        self.finish(run, runs.trace, bytes);
    }

    pub(crate) fn finish(
        self,
        run: &mut Run,
        trace_calls: u64,
        bytes: impl Fn(&Variant) -> (u64, u64),
    ) {
        let (variants, timeline) = settle(
            self.recorded,
            self.whole,
            self.clock.ns_per_tick(),
            trace_calls,
            bytes,
        );
        run.iterations = fewest_calls(&variants);
        run.clock = clock_info(self.clock);
        run.variants = variants;
        run.timeline = timeline;
        run.failures.extend(self.failures);
        run.pairs.extend(self.pairs);
        if let Some(d) = self.speed.assess() {
            if let Some(why) = &d.why {
                run.notes.push(format!("warning: drift: {why}"));
            }
            run.drift = Some(d);
        }
    }
}

impl Outcome for u64 {
    fn differs(&self, reference: &u64) -> Option<String> {
        (self != reference).then(|| format!("{self:#x}, but the reference says {reference:#x}"))
    }
}

impl Outcome for Vec<u8> {
    fn differs(&self, reference: &Vec<u8>) -> Option<String> {
        (self != reference).then(|| {
            format!(
                "{} of {} bytes differ from the reference's",
                self.iter().zip(reference).filter(|(a, b)| a != b).count()
                    + self.len().abs_diff(reference.len()),
                reference.len()
            )
        })
    }
}

/// Any comparable value, its difference shown in short.
pub(crate) fn differs_debug<T: PartialEq + Debug>(got: &T, reference: &T) -> Option<String> {
    (got != reference).then(|| {
        let show = |t: &T| {
            let s = format!("{t:?}");
            if s.chars().count() > 120 {
                format!("{}...", s.chars().take(120).collect::<String>())
            } else {
                s
            }
        };
        format!("{} where the reference has {}", show(got), show(reference))
    })
}

// A plugin call hands back its output bytes, as copied out.
way!(impl[I: crate::driver::Instance, P: crate::driver::call::Payload] crate::driver::call::PluginCall<I, P> => Vec<u8>, CopyOut, |w| w.instance.output().to_vec());
