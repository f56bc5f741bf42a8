//! What every Rust host driver that wprof runs in a child process with a
//! build of its own shares (drivers/extism-sdk, drivers/wasmer): wprof's
//! driver protocol v1 (wprof's `src/driver/child/protocol.rs`), one JSON
//! request a line on stdin and one answer a line on stdout, served by
//! [`serve`] around a driver's [`Session`].
//!
//! The round is the protocol's, as wprof's own driver times it
//! (`src/timing/rounds.rs`): the instrumented calls with a stamp at each
//! phase boundary, and as many plain calls in batches of [`BATCH`] with one
//! stamp around each. It is written here again, once for these drivers,
//! because they cannot link wprof (each brings an engine that wprof's
//! Wasmtime cannot share a build with): the protocol, not wprof's code, is
//! what drivers share. Stamps are `CLOCK_MONOTONIC` nanoseconds, the time
//! base every process of the machine shares.

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The protocol these drivers speak.
pub const PROTOCOL: u64 = 1;
/// Plain calls between two clock reads.
pub const BATCH: u64 = 1000;

/// `CLOCK_MONOTONIC`, in nanoseconds.
#[inline(always)]
pub fn now() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec and CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Any run of whitespace as one space: answers are one line.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An `error` answer: the phase it failed in, and why.
pub fn error(phase: &str, message: impl Into<String>) -> Value {
    json!({"op": "error", "phase": phase, "message": one_line(&message.into())})
}

/// A plugin open in a driver, answering the requests after `open`.
pub trait Session {
    /// One call with no clock reads.
    fn call(&mut self) -> Result<(), Value>;
    /// One call, its stamps pushed onto `stamps`: one before the first
    /// phase and one after each (the `opened` answer's phases, plus one).
    fn marked(&mut self, stamps: &mut Vec<u64>) -> Result<(), Value>;
    /// The stamps [`Session::marked`] pushes a call.
    fn stamps_per_call(&self) -> usize;
    /// One whole cold start made `way`: a `cold_start` answer.
    fn cold_start(&mut self, way: &str) -> Result<Value, Value>;
    /// Memory readings ([`reading`]): a `memory` answer.
    fn memory(&mut self, instances: u64, calls: u64) -> Result<Value, Value>;
}

/// Serves requests on stdin until `quit` or its end: `open` is handed to
/// `open`, which answers with the session and its `opened` answer (or an
/// `error` answer); the rest are the protocol's. `name` prefixes what is
/// said on stderr.
pub fn serve<S: Session>(name: &str, mut open: impl FnMut(&Value) -> Result<(S, Value), Value>) {
    // wprof stops the driver between rounds; a Ctrl-C is wprof's to handle.
    // SAFETY: ignoring a signal has no preconditions.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    // A soak runs for as long as asked: should wprof end without asking
    // this driver to quit (a second Ctrl-C), the driver ends with it.
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number, no pointer.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    let mut session: Option<S> = None;
    // The stamps of a round, room made at `open` for every planned call.
    let mut stamps: Vec<u64> = Vec::new();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let req: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("{name}: not a request: {e}");
                break;
            }
        };
        let count = |k: &str| req[k].as_u64().unwrap_or(0);
        let answer = match (req["op"].as_str(), session.as_mut()) {
            (Some("open"), Some(_)) => error("read", "a plugin is already open"),
            (Some("open"), None) => match check_protocol(&req).and_then(|()| open(&req)) {
                Ok((s, opened)) => {
                    watch(&req);
                    let planned = req["iterations"].as_u64().unwrap_or(0) as usize;
                    stamps = Vec::with_capacity(planned.min(1 << 24) * s.stamps_per_call());
                    session = Some(s);
                    opened
                }
                Err(e) => e,
            },
            (Some("clock"), _) => clock(),
            (Some("quit"), _) => break,
            (Some("warm_up"), Some(s)) => warm_up(s, count("calls")),
            (Some("round"), Some(s)) => round(
                s,
                count("calls"),
                req["instrumented_first"].as_bool().unwrap_or(true),
                &mut stamps,
            )
            .unwrap_or_else(|e| e),
            (Some("cold_start"), Some(s)) => s
                .cold_start(req["way"].as_str().unwrap_or_default())
                .unwrap_or_else(|e| e),
            (Some("memory"), Some(s)) => s
                .memory(count("instances"), count("calls"))
                .unwrap_or_else(|e| e),
            (Some("soak"), Some(s)) => soak(s, &req),
            (op, None) => error(
                "instantiate",
                format!("no plugin is open for {op:?}: the first request must be `open`"),
            ),
            (op, Some(_)) => error("instantiate", format!("unexpected request {op:?}")),
        };
        if writeln!(out, "{answer}").and_then(|_| out.flush()).is_err() {
            break;
        }
    }
}

fn check_protocol(req: &Value) -> Result<(), Value> {
    match req["protocol"].as_u64() {
        Some(PROTOCOL) => Ok(()),
        other => Err(error(
            "read",
            format!("this driver speaks protocol {PROTOCOL}, not {other:?}: rebuild it"),
        )),
    }
}

/// Unmeasured calls, every other one stamped, so that both paths are warm.
fn warm_up<S: Session>(s: &mut S, calls: u64) -> Value {
    let mut scratch = Vec::with_capacity(s.stamps_per_call());
    for i in 0..calls {
        scratch.clear();
        let done = if i % 2 == 0 {
            s.marked(&mut scratch)
        } else {
            s.call()
        };
        if let Err(e) = done {
            return e;
        }
    }
    json!({"op": "ok"})
}

/// One round: `calls` instrumented calls and as many plain ones in
/// batches, in the order asked.
fn round<S: Session>(
    s: &mut S,
    calls: u64,
    instrumented_first: bool,
    stamps: &mut Vec<u64>,
) -> Result<Value, Value> {
    stamps.clear();
    // Only when a round is larger than planned: never in the loops below.
    stamps.reserve(calls as usize * s.stamps_per_call());
    let mut timed = Vec::new();
    let mut batches = Vec::new();
    for instrumented in [instrumented_first, !instrumented_first] {
        let mut left = calls;
        while left > 0 {
            let n = left.min(BATCH);
            left -= n;
            if instrumented {
                for _ in 0..n {
                    s.marked(stamps)?;
                }
                timed.push(n);
            } else {
                let t0 = now();
                for _ in 0..n {
                    s.call()?;
                }
                batches.push(json!([n, now() - t0]));
            }
        }
    }
    Ok(json!({"op": "round", "stamps": stamps, "timed_batches": timed, "batches": batches}))
}

/// The clock, as wprof describes its own: the median cost of a read over
/// 15 runs of 1000 back-to-back reads, and the median non-zero step
/// between back-to-back reads.
fn clock() -> Value {
    let mut sink = vec![0u64; 1000];
    let fill = |a: &mut [u64]| a.iter_mut().for_each(|x| *x = now());
    for _ in 0..20 {
        fill(&mut sink);
    }
    let mut costs: Vec<f64> = (0..15)
        .map(|_| {
            let t0 = now();
            fill(&mut sink);
            (now() - t0) as f64 / 1000.0
        })
        .collect();
    costs.sort_by(f64::total_cmp);
    let mut reads = vec![0u64; 10_001];
    fill(&mut reads);
    let mut steps: Vec<u64> = reads
        .windows(2)
        .filter(|w| w[1] > w[0])
        .map(|w| w[1] - w[0])
        .collect();
    steps.sort_unstable();
    let resolution = steps.get(steps.len() / 2).copied().unwrap_or(0);
    json!({"op": "clock", "name": "monotonic", "ns_per_tick": 1.0,
           "read_cost_ns": costs[7], "resolution_ns": resolution as f64})
}

/// A reading of this process's memory, as wprof's `MemoryPoint`: resident
/// and proportional set from /proc/self/smaps_rollup, virtual size from
/// /proc/self/status; the heap is not read here.
pub fn reading(label: &str, t0: Instant, instances: u64, calls: u64) -> Value {
    let field = |file: &str, key: &str| -> Option<u64> {
        let text = std::fs::read_to_string(file).ok()?;
        let line = text.lines().find(|l| l.starts_with(key))?;
        let kb: u64 = line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    json!({
        "label": label,
        "t_ns": t0.elapsed().as_nanos() as f64,
        "rss_bytes": field("/proc/self/smaps_rollup", "Rss:").unwrap_or(0),
        "pss_bytes": field("/proc/self/smaps_rollup", "Pss:"),
        "virtual_bytes": field("/proc/self/status", "VmSize:").unwrap_or(0),
        "heap_bytes": null,
        "instances": instances,
        "calls": calls,
    })
}

/// A soak: the open plugin called `rate` times a second for
/// `duration_ns`, this process's memory read every `sample_every_ns` and at
/// the end, the first `timed` calls stamped; as wprof's own soak paces and
/// reads, so that the two trends compare. A failed call ends it, the
/// readings so far kept.
fn soak<S: Session>(s: &mut S, req: &Value) -> Value {
    let ns = |k: &str| Duration::from_nanos(req[k].as_u64().unwrap_or(0));
    let (duration, every) = (ns("duration_ns"), ns("sample_every_ns"));
    let rate = req["rate"].as_f64().unwrap_or(1.0).max(1e-3);
    let timed = req["timed"].as_u64().unwrap_or(0) as usize;
    let every = every.max(Duration::from_millis(1));
    let mut stamps: Vec<u64> = Vec::with_capacity(2 * timed);
    let mut points = Vec::new();
    let period = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let mut next_sample = Duration::ZERO;
    let mut calls: u64 = 0;
    let mut failure = Value::Null;
    loop {
        let elapsed = start.elapsed();
        if elapsed >= duration {
            break;
        }
        if elapsed >= next_sample {
            points.push(reading("sample", start, 1, calls));
            next_sample += every;
        }
        let due = period.mul_f64(calls as f64);
        if due > elapsed {
            std::thread::sleep((due - elapsed).min(next_sample.saturating_sub(elapsed)));
            continue;
        }
        let t0 = now();
        if let Err(e) = s.call() {
            failure = json!(format!(
                "{} (after {calls} calls, {:.1} s)",
                e["message"].as_str().unwrap_or("the call failed"),
                start.elapsed().as_secs_f64()
            ));
            break;
        }
        if stamps.len() < 2 * timed {
            stamps.push(t0);
            stamps.push(now());
        }
        calls += 1;
    }
    points.push(reading("end", start, 1, calls));
    json!({"op": "soak", "points": points, "calls": calls, "stamps": stamps, "failure": failure})
}

/// Odd while a call is in the plugin: two plain stores a call ([`enter`],
/// [`leave`]), watched by a thread that ends the process when one value
/// stays odd past the deadline, as wprof's own watchdog does.
static BEAT: AtomicU64 = AtomicU64::new(0);

/// A call into the plugin begins.
#[inline(always)]
pub fn enter() {
    BEAT.store(BEAT.load(Relaxed) + 1, Relaxed);
}

/// It returned.
#[inline(always)]
pub fn leave() {
    BEAT.store(BEAT.load(Relaxed) + 1, Relaxed);
}

/// Watches calls against `open`'s deadline (`limits.deadline`, 10 s where
/// none is given): a call past it is said on stderr, which wprof shows,
/// and the process ends.
fn watch(req: &Value) {
    let d = &req["limits"]["deadline"];
    let deadline = match (d["secs"].as_u64(), d["nanos"].as_u64()) {
        (None, None) => Duration::from_secs(10),
        (s, n) => Duration::from_secs(s.unwrap_or(0)) + Duration::from_nanos(n.unwrap_or(0)),
    };
    let plugin = req["plugin"].as_str().unwrap_or("the plugin").to_owned();
    let tick = (deadline / 20).clamp(Duration::from_millis(1), Duration::from_millis(20));
    std::thread::spawn(move || {
        let mut seen = (BEAT.load(Relaxed), Instant::now());
        loop {
            std::thread::sleep(tick);
            let word = BEAT.load(Relaxed);
            if word != seen.0 {
                seen = (word, Instant::now());
            } else if word % 2 == 1 && seen.1.elapsed() >= deadline {
                eprintln!(
                    "{plugin}: a call into wasm ran past the {} s deadline (--deadline)",
                    deadline.as_secs_f64()
                );
                std::process::exit(1);
            }
        }
    });
}
