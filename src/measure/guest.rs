//! The guest sampler: a ticker thread advances Wasmtime's epoch at the
//! requested rate; at each tick the running wasm reaches an epoch check and
//! a callback captures its stack (`WasmBacktrace`, function names from the
//! module's name section), filed under the host phase that was running at
//! the tick. A tick that the wasm only reaches in a later phase (it came
//! while the phase ran host code) is filed as `<phase>;[host]`.
//!
//! Exact about which wasm function runs, at a price: epoch checks slow all
//! wasm code on the sampling engine, which is why it runs on its own engine
//! in its own pass, and why that pass's cost is measured and reported.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wasmtime::{Config, Engine, Store, UpdateDeadline, WasmBacktrace};

use super::Sampler;
use super::folded::Folded;
use crate::phase::Phase;
use crate::run::Profile;

const NO_PHASE: u8 = u8::MAX;

struct Shared {
    /// The host phase now running ([`Phase`] as u8), or [`NO_PHASE`].
    phase: AtomicU8,
    /// The phase that was running at the last tick that raised the epoch.
    ticked: AtomicU8,
    running: AtomicBool,
    stop: AtomicBool,
    ticks: AtomicU64,
    /// Phases that call into wasm, as a bit set: their ticks are taken by
    /// the epoch callback, with the wasm stack.
    wasm_phases: u32,
    /// The stacks, and when each sample was taken.
    folded: Mutex<Folded>,
    /// What stacks are filed under (e.g. `hot-path;wasm`).
    prefix: Mutex<String>,
    /// The engine whose epoch the ticker advances: the last one attached.
    engine: Mutex<Option<Engine>>,
}

/// Samples wasm stacks by epoch interruption.
pub struct GuestSampler {
    shared: Arc<Shared>,
    hz: u32,
    ticker: Option<JoinHandle<()>>,
    active: Duration,
    since: Option<Instant>,
}

/// Turns epoch interruption on: an engine made from `config` can be sampled.
pub fn configure(config: &mut Config) {
    config.epoch_interruption(true);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere cannot leave these half-updated: each update is one
    // increment or one assignment.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl GuestSampler {
    /// A paused sampler ticking at `hz`, for stores of engines configured
    /// with [`configure`]. Stacks are filed under `prefix` (e.g.
    /// `hot-path;wasm`) and the phase; `wasm_phases` are the phases in which
    /// wasm runs. Samples are timed from `since`, the run's first clock
    /// read, where given.
    pub fn new(
        hz: u32,
        prefix: &str,
        wasm_phases: &[Phase],
        since: Option<Instant>,
    ) -> GuestSampler {
        let shared = Arc::new(Shared {
            phase: AtomicU8::new(NO_PHASE),
            ticked: AtomicU8::new(NO_PHASE),
            running: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            ticks: AtomicU64::new(0),
            wasm_phases: wasm_phases.iter().fold(0, |m, &p| m | 1 << p as u32),
            folded: Mutex::new(Folded::new(since)),
            prefix: Mutex::new(prefix.to_owned()),
            engine: Mutex::new(None),
        });
        let hz = hz.max(1);
        let ticker = {
            let shared = Arc::clone(&shared);
            let period = Duration::from_secs_f64(1.0 / f64::from(hz));
            std::thread::spawn(move || {
                let mut next = Instant::now();
                while !shared.stop.load(Ordering::Relaxed) {
                    next += period;
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    } else {
                        // Fell behind (a descheduled ticker): do not burst.
                        next = now;
                    }
                    if !shared.running.load(Ordering::Acquire) {
                        continue;
                    }
                    shared.ticks.fetch_add(1, Ordering::Relaxed);
                    let p = shared.phase.load(Ordering::Relaxed);
                    if p == NO_PHASE {
                        continue;
                    }
                    if shared.wasm_phases & (1 << p) != 0 {
                        // The wasm takes the sample at its next epoch check.
                        shared.ticked.store(p, Ordering::Relaxed);
                        if let Some(e) = lock(&shared.engine).as_ref() {
                            e.increment_epoch();
                        }
                    } else {
                        // Not raising the epoch here keeps this tick from
                        // also being taken by the next wasm to run.
                        let key = format!("{};{}", lock(&shared.prefix), Phase::ALL[p as usize]);
                        lock(&shared.folded).add(key, 1, Some(Instant::now()));
                    }
                }
            })
        };
        GuestSampler {
            shared,
            hz,
            ticker: Some(ticker),
            active: Duration::ZERO,
            since: None,
        }
    }

    /// A handle through which the code being sampled says which host phase
    /// runs, and attaches its stores.
    pub fn handle(&self) -> GuestHandle {
        GuestHandle(Arc::clone(&self.shared))
    }
}

/// Where the code being sampled says which host phase runs now, and
/// attaches the stores it makes: a handle on a [`GuestSampler`] that can be
/// passed around while the sampler itself is paused and resumed.
#[derive(Clone)]
pub struct GuestHandle(Arc<Shared>);

impl GuestHandle {
    /// Makes `store`'s wasm stop at the next tick to have its stack taken;
    /// the ticker advances the epoch of the store's engine from now on.
    pub fn attach<T: 'static>(&self, store: &mut Store<T>) {
        attach(&self.0, store);
    }

    /// The phase now running (`None`: between calls). One relaxed store.
    #[inline(always)]
    pub fn set(&self, phase: Option<Phase>) {
        self.0
            .phase
            .store(phase.map_or(NO_PHASE, |p| p as u8), Ordering::Relaxed);
    }
}

/// See [`GuestHandle::attach`].
fn attach<T: 'static>(shared: &Arc<Shared>, store: &mut Store<T>) {
    {
        let mut engine = lock(&shared.engine);
        if !engine
            .as_ref()
            .is_some_and(|e| Engine::same(e, store.engine()))
        {
            *engine = Some(store.engine().clone());
        }
    }
    store.set_epoch_deadline(1);
    let shared = Arc::clone(shared);
    store.epoch_deadline_callback(move |ctx| {
        let at = Instant::now();
        let ticked = shared.ticked.load(Ordering::Relaxed);
        let now = shared.phase.load(Ordering::Relaxed);
        let name = |p: u8| {
            Phase::ALL
                .get(p as usize)
                .map_or("between-phases", |p| p.as_str())
        };
        let mut key = format!("{};{}", lock(&shared.prefix), name(ticked));
        if now == ticked {
            let trace = WasmBacktrace::capture(&ctx);
            for f in trace.frames().iter().rev() {
                key.push(';');
                match f.func_name() {
                    Some(n) => key.push_str(&super::frame_name(n)),
                    None => key.push_str(&format!("wasm-function[{}]", f.func_index())),
                }
            }
        } else {
            // The tick came while the phase ran host code (the call's way
            // in or out) and the wasm reached a check only in a later
            // phase: the time was the ticked phase's, spent in the host.
            key.push_str(";[host]");
        }
        lock(&shared.folded).add(key, 1, Some(at));
        Ok(UpdateDeadline::Continue(1))
    });
}

impl Sampler for GuestSampler {
    fn set_prefix(&mut self, prefix: &str) {
        *lock(&self.shared.prefix) = prefix.to_owned();
    }

    fn resume(&mut self) -> anyhow::Result<()> {
        self.since = Some(Instant::now());
        self.shared.running.store(true, Ordering::Release);
        Ok(())
    }

    fn pause(&mut self) -> anyhow::Result<()> {
        self.shared.running.store(false, Ordering::Release);
        self.shared.phase.store(NO_PHASE, Ordering::Relaxed);
        if let Some(s) = self.since.take() {
            let now = Instant::now();
            self.active += now - s;
            let prefix = lock(&self.shared.prefix).clone();
            lock(&self.shared.folded).segment(&prefix, s, now);
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> anyhow::Result<Profile> {
        self.pause()?;
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            t.join()
                .map_err(|_| anyhow::anyhow!("the guest sampler's ticker panicked"))?;
        }
        let folded = std::mem::replace(&mut *lock(&self.shared.folded), Folded::new(None));
        let samples = folded.samples();
        let (stacks, timed, segments) = folded.finish();
        let seconds = self.active.as_secs_f64();
        let ticks = self.shared.ticks.load(Ordering::Relaxed);
        Ok(Profile {
            sampler: "guest".to_owned(),
            method: "epoch interruption: a ticker thread advances Wasmtime's epoch; at each tick the running wasm stops at its next epoch check and its stack (WasmBacktrace, names from the name section) is filed under the host phase; ticks in host-only phases count for that phase".to_owned(),
            requested_hz: f64::from(self.hz),
            achieved_hz: if seconds > 0.0 { ticks as f64 / seconds } else { 0.0 },
            samples,
            seconds,
            overhead_pct: None,
            stacks,
            timed,
            segments,
        })
    }
}

impl Drop for GuestSampler {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}
