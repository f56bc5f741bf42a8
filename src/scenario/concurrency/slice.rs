//! One slice: a design's requests from N threads at once for a set time.
//! Each thread makes its worker and checks one output before the start;
//! all start together; each stamps its requests into a ring made up
//! front (no allocation, syscall or lock of wprof's inside the window);
//! the main thread reads memory and the pool halfway, then says stop.

use std::collections::BTreeMap;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use anyhow::anyhow;

use super::counters::Plan;
use super::workers::Request;
use crate::error::{CallError, at};
use crate::measure::{interrupts, memory};
use crate::phase::Phase;
use crate::timing::Clock;
use crate::timing::target::Stamps;

/// How a slice runs.
pub struct Slice<'a, C> {
    /// The plugin, for the error when a request never returns.
    pub plugin: &'a str,
    /// The clock every thread stamps with.
    pub clock: C,
    /// Threads.
    pub threads: usize,
    /// How long requests are made for.
    pub duration: Duration,
    /// Requests whose stamps each thread keeps: its last ones.
    pub keep: usize,
    /// The counters each thread opens.
    pub counters: &'a Plan,
    /// The output every request must return.
    pub expected: &'a [u8],
    /// Whether each thread's first request (before the start) and last
    /// (after the stop) are checked against `expected`: a plugin that keeps
    /// state between calls answers a used instance differently.
    pub check: (bool, bool),
    /// How long a request may take once the slice is over.
    pub deadline: Duration,
}

/// What one thread did.
pub struct ThreadRun {
    /// The phases of its requests.
    pub phases: &'static [crate::phase::Phase],
    /// Requests completed.
    pub requests: u64,
    /// The clock when it started and when it stopped.
    pub span: (u64, u64),
    /// Its last requests' stamps, oldest first.
    pub rows: Vec<u64>,
    /// How much each counter moved, in [`Plan::names`] order.
    pub counts: Vec<u64>,
    /// Nanoseconds it ran on a CPU and waited, runnable, for one, over the
    /// window (the kernel's schedstat); absent where unreadable.
    pub sched: Option<(u64, u64)>,
}

/// What the slice measured.
pub struct SliceRun {
    /// Each thread's run.
    pub threads: Vec<ThreadRun>,
    /// TLB shootdowns and function-call IPIs, system-wide, over the window.
    pub interrupts: Option<[u64; 2]>,
    /// Virtual and resident memory halfway through, less before the
    /// threads started (their instances live), in bytes.
    pub grew: Option<(i64, i64)>,
    /// The pooling allocator's metrics halfway through.
    pub pool: BTreeMap<String, u64>,
}

/// A thread's request that failed: which thread, which request.
pub struct Failed {
    /// The thread, from 0.
    pub thread: usize,
    /// Requests it had completed.
    pub request: u64,
    /// What went wrong.
    pub error: CallError,
}

/// Runs a slice: `make` gives each thread its worker (on that thread);
/// `pool` reads the design's pooling metrics.
pub fn run<T, C, F>(
    s: &Slice<'_, C>,
    make: F,
    pool: &(dyn Fn() -> BTreeMap<String, u64> + Sync),
) -> Result<SliceRun, Failed>
where
    T: Request,
    C: Clock,
    F: Fn() -> Result<T, CallError> + Sync,
{
    let stop = AtomicBool::new(false);
    let finished = AtomicUsize::new(0);
    let barrier = Barrier::new(s.threads + 1);
    let main = std::thread::current();
    let names = s.counters.names();
    let before = memory::read("before").ok();
    let body = |i: usize| {
        let r = thread(s, &make, &barrier, &stop, names.len());
        if r.is_err() {
            stop.store(true, Relaxed);
        }
        finished.fetch_add(1, Relaxed);
        main.unpark();
        r.map_err(|(request, error)| Failed {
            thread: i,
            request,
            error,
        })
    };
    let body = &body;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..s.threads)
            .map(|i| scope.spawn(move || body(i)))
            .collect();
        barrier.wait();
        let irq0 = s.counters.interrupts.then(interrupts::read);
        let start = Instant::now();
        let half = s.duration / 2;
        wait_until(start + half, &stop);
        let mid = memory::read("mid").ok();
        let pool = pool();
        wait_until(start + s.duration, &stop);
        stop.store(true, Relaxed);
        let irq1 = s.counters.interrupts.then(interrupts::read);
        // A request that never returns holds its thread, and the scope
        // would wait for it forever: past the deadline, the run ends here.
        let limit = Instant::now() + s.deadline + Duration::from_millis(50);
        while finished.load(Relaxed) < s.threads {
            let now = Instant::now();
            if now >= limit {
                let stuck: Vec<String> = handles
                    .iter()
                    .enumerate()
                    .filter(|(_, h)| !h.is_finished())
                    .map(|(i, _)| i.to_string())
                    .collect();
                stuck_exit(&format!(
                    "{}: execute: a request did not return within the {} deadline (--deadline) on thread {} of {}",
                    s.plugin,
                    humantime::format_duration(s.deadline),
                    stuck.join(", "),
                    s.threads
                ));
            }
            std::thread::park_timeout(limit - now);
        }
        let mut threads = Vec::with_capacity(s.threads);
        for h in handles {
            match h.join() {
                Ok(r) => threads.push(r?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(SliceRun {
            threads,
            interrupts: match (irq0, irq1) {
                (Some(Ok(a)), Some(Ok(b))) => {
                    let (a, b) = (a.values(), b.values());
                    Some([b[0].saturating_sub(a[0]), b[1].saturating_sub(a[1])])
                }
                _ => None,
            },
            grew: before.zip(mid).map(|(b, m)| {
                (
                    m.virtual_bytes as i64 - b.virtual_bytes as i64,
                    m.rss_bytes as i64 - b.rss_bytes as i64,
                )
            }),
            pool,
        })
    })
}

/// A thread stuck in a request cannot be joined: the process ends with the
/// one-line error, as the watchdog ends a stuck call.
fn stuck_exit(why: &str) -> ! {
    eprintln!("wprof: error: {why}; the run was stopped and nothing was written");
    std::process::exit(1);
}

/// Sleeps until `until`, or until a thread that failed says stop.
fn wait_until(until: Instant, stop: &AtomicBool) {
    loop {
        let now = Instant::now();
        if now >= until || stop.load(Relaxed) {
            return;
        }
        std::thread::park_timeout(until - now);
    }
}

/// One thread: its worker, a checked request, the ring; the start
/// together; requests until stop; another checked request.
fn thread<T: Request, C: Clock>(
    s: &Slice<'_, C>,
    make: &(impl Fn() -> Result<T, CallError> + Sync),
    barrier: &Barrier,
    stop: &AtomicBool,
    width: usize,
) -> Result<ThreadRun, (u64, CallError)> {
    let ready = (|| {
        let mut t = make()?;
        let out = t.checked()?;
        if s.check.0 {
            check(out, s.expected)?;
        }
        let w = t.phases().len() + 1;
        // Written, not only reserved: no page faults of wprof's own in
        // the window.
        let ring = vec![1u64; s.keep.max(1) * w];
        let counters = s
            .counters
            .open()
            .map_err(|e| at(Phase::Request)(anyhow!("cannot open the counters: {e}")))?;
        Ok((t, ring, counters, w))
    })();
    // Every thread reaches the start, ready or not, or the others would
    // wait for it forever.
    barrier.wait();
    let (mut t, mut ring, mut counters, w) = ready.map_err(|e| (0, e))?;
    let (mut c0, mut c1) = (vec![0u64; width], vec![0u64; width]);
    counters.read(&mut c0);
    let sched0 = schedstat();
    let first = s.clock.now();
    let mut n = 0u64;
    let mut slot = 0;
    while !stop.load(Relaxed) {
        let row = &mut ring[slot..slot + w];
        if let Err(e) = t.call_marked(&mut Stamps {
            clock: &s.clock,
            row,
        }) {
            return Err((n, e));
        }
        n += 1;
        slot += w;
        if slot == ring.len() {
            slot = 0;
        }
    }
    let last = s.clock.now();
    let sched1 = schedstat();
    counters.read(&mut c1);
    let out = t.checked().map_err(|e| (n, e))?;
    if s.check.1 {
        check(out, s.expected).map_err(|e| (n, e))?;
    }
    let kept = (n as usize).min(ring.len() / w);
    if n as usize > kept {
        ring.rotate_left(slot);
    }
    ring.truncate(kept * w);
    Ok(ThreadRun {
        phases: t.phases(),
        requests: n,
        span: (first, last),
        rows: ring,
        counts: c1
            .iter()
            .zip(&c0)
            .map(|(b, a)| b.saturating_sub(*a))
            .collect(),
        sched: sched0
            .zip(sched1)
            .map(|(a, b)| (b.0.saturating_sub(a.0), b.1.saturating_sub(a.1))),
    })
}

/// This thread's time on a CPU and waiting for one so far, in nanoseconds
/// (`/proc/thread-self/schedstat`).
fn schedstat() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut f = text.split_whitespace().map(|x| x.parse::<u64>().ok());
    Some((f.next()??, f.next()??))
}

/// The output against the reference.
fn check(out: Vec<u8>, expected: &[u8]) -> Result<(), CallError> {
    if out == expected {
        Ok(())
    } else {
        Err(at(Phase::CopyOut)(anyhow!(
            "the output ({} bytes) differs from the reference output ({} bytes)",
            out.len(),
            expected.len()
        )))
    }
}
