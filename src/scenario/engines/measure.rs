//! The timed part of `record engines`: each engine (and native) sized to
//! the same time per round, then timed round by round in a rotating order;
//! then the no-op plugin's call on each, memory per instance, and the cold
//! starts, interleaved across engines so that each sample of one engine
//! has a neighbour of every other.

use std::time::{Duration, Instant};

use super::subject::Plugin;
use super::{EnginesConfig, Open};
use crate::bundled::NativeFn;
use crate::driver::engine::{Opened, PerInstance};
use crate::error::{CallError, Error, at};
use crate::phase::Phase;
use crate::run::{ClockInfo, Failure, PhaseTime};
use crate::timing::Clock;
use crate::timing::rounds::{InProcess, Recording, RoundPlan, Rounds};
use crate::timing::target::{Marks, Target};

/// How long the warm-up that sizes a round runs, at least.
const SIZING: Duration = Duration::from_millis(20);

/// Most calls of one kind (instrumented or not) in one round.
const MOST_CALLS: u64 = 50_000;

/// Time each engine spends on the no-op plugin, over its rounds.
const NOOP_TIME: Duration = Duration::from_millis(60);

/// One timed variant: its recording and clock.
pub(super) struct Timed {
    /// Its stamps, round by round.
    pub(super) rec: Recording,
    /// The clock they are in.
    pub(super) clock: ClockInfo,
    /// Calls of each kind per round.
    pub(super) calls: u64,
}

/// What was measured, engine by engine in the order opened.
pub(super) struct Measured {
    /// Native's recording, where the plugin has a native build.
    pub(super) native: Option<Timed>,
    /// Each open engine's, in order; `None` where it failed mid-way.
    pub(super) engines: Vec<Option<Timed>>,
    /// Each engine's cold starts, each split into its phases.
    pub(super) cold: Vec<Vec<Vec<PhaseTime>>>,
    /// Each engine's no-op call, uninstrumented median, in nanoseconds, or
    /// why not.
    pub(super) noop: Vec<Result<f64, String>>,
    /// Each engine's memory per instance, or why not.
    pub(super) memory: Vec<Result<PerInstance, String>>,
    /// Engines that failed while timed.
    pub(super) failures: Vec<Failure>,
    /// Why measuring stopped early, when it did.
    pub(super) stopped: Option<String>,
}

/// The native build on the input, as a call: execute (the function) and
/// free (dropping its output); it has no linear memory to copy through.
struct NativeCall<'a> {
    func: NativeFn,
    input: &'a [u8],
}

/// A native call's phases.
pub(super) const NATIVE_PHASES: [Phase; 2] = [Phase::Execute, Phase::Free];

impl Target for NativeCall<'_> {
    fn phases(&self) -> &'static [Phase] {
        &NATIVE_PHASES
    }

    #[inline(always)]
    fn call_marked<M: Marks + ?Sized>(&mut self, m: &mut M) -> Result<(), CallError> {
        m.mark(0);
        let out = (self.func)(std::hint::black_box(self.input))
            .map_err(|e| at(Phase::Execute)(anyhow::anyhow!("native: {e}")))?;
        m.mark(1);
        drop(std::hint::black_box(out));
        m.mark(2);
        Ok(())
    }
}

/// Measures native (where there is one) and every open engine.
pub(super) fn measure<C: Clock>(
    clock: C,
    cfg: &EnginesConfig,
    plugin: &Plugin,
    open: &mut [Open<'_>],
    noops: &mut [Option<Box<dyn Opened + '_>>],
) -> Result<Measured, Error> {
    let mut native_call = plugin.native.map(|func| NativeCall {
        func,
        input: &plugin.input,
    });
    let mut native_rounds = native_call
        .as_mut()
        .map(|target| InProcess { target, clock });
    let mut variants: Vec<(&'static str, &mut dyn Rounds)> = Vec::new();
    if let Some(n) = native_rounds.as_mut() {
        variants.push(("native", n));
    }
    for o in open.iter_mut() {
        variants.push((o.name, &mut *o.opened));
    }
    let mut failures = Vec::new();
    let (timed, stopped) = rounds(cfg, &mut variants, &mut failures)?;
    drop(variants);
    let mut timed = timed.into_iter();
    let native = if native_call.is_some() {
        timed.next().flatten()
    } else {
        None
    };
    let engines: Vec<Option<Timed>> = timed.collect();
    let mut m = Measured {
        native,
        engines,
        cold: vec![Vec::new(); open.len()],
        noop: vec![
            Err("not measured: the run was interrupted, or the engine failed".into());
            open.len()
        ],
        memory: vec![
            Err("not measured: the run was interrupted, or the engine failed".into());
            open.len()
        ],
        failures,
        stopped,
    };
    if m.stopped.is_some() {
        return Ok(m);
    }
    {
        let _stage = crate::stages::stage("no-op calls", 0, 0);
        for (i, n) in noops.iter_mut().enumerate() {
            if m.engines[i].is_none() {
                continue;
            }
            m.noop[i] = match n {
                Some(n) => noop_call(&mut **n).map_err(|e| crate::error::one_line(&e.error)),
                None => Err("the no-op plugin did not open on it".into()),
            };
        }
    }
    {
        let _stage = crate::stages::stage("memory per instance", 0, 0);
        for (i, o) in open.iter_mut().enumerate() {
            if m.engines[i].is_none() {
                continue;
            }
            m.memory[i] = o
                .opened
                .per_instance(cfg.instances)
                .map_err(|e| format!("{}: {}", e.phase, crate::error::one_line(&e.error)));
        }
    }
    let _stage = crate::stages::stage("cold starts", 0, 0);
    // An engine that failed while timed is not asked again.
    let mut broken: Vec<bool> = m.engines.iter().map(Option::is_none).collect();
    for k in 0..cfg.cold_starts as usize {
        if crate::interrupt::requested() {
            m.stopped = Some(crate::interrupt::note(&format!(
                "during the cold starts ({k} of {} an engine)",
                cfg.cold_starts
            )));
            break;
        }
        for j in 0..open.len() {
            // A rotating order: no engine always follows the same one.
            let i = (j + k) % open.len();
            if broken[i] {
                continue;
            }
            match open[i].opened.cold_start() {
                Ok(phases) => m.cold[i].push(phases),
                Err(e) => {
                    broken[i] = true;
                    m.failures.push(e.failure(open[i].name));
                }
            }
        }
    }
    Ok(m)
}

/// Every variant sized, warmed and timed in rounds. A variant that fails
/// is recorded and left out of later rounds; the others go on.
fn rounds(
    cfg: &EnginesConfig,
    variants: &mut [(&'static str, &mut dyn Rounds)],
    failures: &mut Vec<Failure>,
) -> Result<(Vec<Option<Timed>>, Option<String>), Error> {
    let rounds = cfg.rounds.max(1);
    let per_round = cfg.duration_per_engine / rounds as u32 / 2;
    let mut timed: Vec<Option<Timed>> = Vec::with_capacity(variants.len());
    {
        let _stage = crate::stages::stage("warm-up and sizing", 0, 0);
        for (name, v) in variants.iter_mut() {
            if crate::interrupt::requested() {
                return Err(Error::InterruptedEarly);
            }
            timed.push(match per_call(&mut **v) {
                Ok(ns) => {
                    let calls = (per_round.as_nanos() as f64 / ns.max(1.0)) as u64;
                    let calls = calls.clamp(1, MOST_CALLS);
                    Some(Timed {
                        rec: Recording::new(
                            v.phases().len() + 1,
                            (calls * rounds) as usize,
                            rounds as usize,
                        ),
                        clock: ClockInfo::default(),
                        calls,
                    })
                }
                Err(e) => {
                    failures.push(e.failure(name));
                    None
                }
            });
        }
    }
    let mut stopped = None;
    for r in 0..rounds as usize {
        let _stage = crate::stages::step("round", r as u64 + 1, rounds);
        let n = variants.len();
        for j in 0..n {
            let i = (j + r) % n;
            let Some(t) = timed[i].as_mut() else {
                continue;
            };
            let plan = RoundPlan {
                calls: t.calls,
                instrumented_first: (r + i).is_multiple_of(2),
            };
            if let Err(e) = variants[i].1.round(&mut t.rec, plan) {
                failures.push(e.failure(variants[i].0));
                timed[i] = None;
            }
        }
        if r + 1 < rounds as usize && crate::interrupt::requested() {
            stopped = Some(crate::interrupt::note(&format!(
                "after round {} of {rounds}",
                r + 1
            )));
            break;
        }
    }
    for (t, (name, v)) in timed.iter_mut().zip(variants.iter_mut()) {
        if let Some(tv) = t.as_mut() {
            match v.clock() {
                Ok(c) => tv.clock = c,
                Err(e) => {
                    failures.push(e.failure(name));
                    *t = None;
                }
            }
        }
    }
    Ok((timed, stopped))
}

/// Warms `v` up in growing batches until one takes [`SIZING`]: its time
/// per call then, in nanoseconds (a child's includes one message each way,
/// nothing beside that many calls).
fn per_call(v: &mut dyn Rounds) -> Result<f64, CallError> {
    let mut calls = 1u64;
    loop {
        let start = Instant::now();
        v.warm_up(calls)?;
        let took = start.elapsed();
        if took >= SIZING || calls >= 1 << 22 {
            return Ok(took.as_nanos() as f64 / calls as f64);
        }
        calls *= 4;
    }
}

/// The no-op plugin's uninstrumented call on an engine: sized, then three
/// short rounds; the median of their per-call figures.
fn noop_call(n: &mut dyn Opened) -> Result<f64, CallError> {
    const ROUNDS: u64 = 3;
    let ns = per_call(n)?;
    let calls = ((NOOP_TIME.as_nanos() as f64 / ROUNDS as f64 / 2.0 / ns.max(1.0)) as u64)
        .clamp(1, MOST_CALLS);
    let mut rec = Recording::new(
        n.phases().len() + 1,
        (calls * ROUNDS) as usize,
        ROUNDS as usize,
    );
    for r in 0..ROUNDS {
        n.round(
            &mut rec,
            RoundPlan {
                calls,
                instrumented_first: r.is_multiple_of(2),
            },
        )?;
    }
    let clock = n.clock()?;
    let mut figures = crate::timing::pairing::round_figures(&rec, clock.ns_per_tick);
    figures.sort_by(f64::total_cmp);
    figures
        .get(figures.len() / 2)
        .copied()
        .ok_or_else(|| at(Phase::Call)(anyhow::anyhow!("no no-op call was timed")))
}
