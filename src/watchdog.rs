//! The per-call deadline behind every wasm call after the first.
//!
//! A plugin's first call runs under [`crate::driver::guard::guarded_call`], which
//! stops it cleanly by epoch interruption. The timing engines carry no epoch
//! checks (they cost ~20 % on the JSON hot path), so a later call that never
//! returns (a plugin whose state changes from call to call) is caught here:
//! each wasm entry and exit stores one word (two plain moves, no syscall, no
//! locked instruction), and a thread that sees the same in-call word for
//! longer than the deadline prints the plugin, the phase and the deadline on
//! one line and ends the process. Nothing is half-written: outputs are only
//! written after a run, through a temporary file and a rename.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::phase::Phase;

/// Low byte: the phase in wasm (its index in [`Phase::ALL`] plus one), 0
/// between calls; the rest: a count of entries, so that two calls in the
/// same phase never look like one long one.
static BEAT: AtomicU64 = AtomicU64::new(0);

/// How long past the deadline the watch waits: the guard call, which stops
/// at the deadline itself, always answers first.
const GRACE: Duration = Duration::from_millis(50);

/// A call into wasm in `phase` begins.
#[inline(always)]
pub fn enter(phase: Phase) {
    // One writer (the scenario's thread), so load-then-store is no race.
    BEAT.store(entered(BEAT.load(Relaxed), phase), Relaxed);
}

/// The call into wasm returned (or trapped).
#[inline(always)]
pub fn leave() {
    BEAT.store(left(BEAT.load(Relaxed)), Relaxed);
}

fn entered(word: u64, phase: Phase) -> u64 {
    ((word >> 8) + 1) << 8 | (phase as u64 + 1)
}

fn left(word: u64) -> u64 {
    word & !0xff
}

fn phase_of(word: u64) -> Option<Phase> {
    let c = word & 0xff;
    Phase::ALL.into_iter().find(|p| *p as u64 + 1 == c)
}

/// Watches wasm calls while it lives; dropping it stops the thread.
pub struct Watch {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts watching the calls made for `plugin`: one that stays in wasm
/// longer than `deadline` ends the process with exit status 1 (or 130 if
/// Ctrl-C was pressed and the call has not returned a second later).
pub fn watch(plugin: &str, deadline: Duration) -> Watch {
    start(
        format!("{plugin}: "),
        plugin.to_owned(),
        deadline,
        "the run was stopped and nothing was written",
    )
}

/// As [`watch`], in a child process that measures one variant: its parent
/// reads the last line, `<phase>: <cause>`, and marks the variant failed.
pub fn watch_child(plugin: &str, deadline: Duration) -> Watch {
    start(
        String::new(),
        plugin.to_owned(),
        deadline,
        "its process was stopped",
    )
}

fn start(prefix: String, plugin: String, deadline: Duration, consequence: &'static str) -> Watch {
    let (stop, stopped) = mpsc::channel::<()>();
    // Fine enough to stop within the deadline plus ~100 ms.
    let tick = (deadline / 20).clamp(Duration::from_millis(1), Duration::from_millis(20));
    let thread = std::thread::Builder::new()
        .name("wprof-watchdog".into())
        .spawn(move || {
            let mut seen = (BEAT.load(Relaxed), Instant::now());
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                let (word, now) = (BEAT.load(Relaxed), Instant::now());
                if word != seen.0 {
                    seen = (word, now);
                    continue;
                }
                let Some(phase) = phase_of(word) else {
                    continue;
                };
                let stuck = now - seen.1;
                if stuck >= deadline + GRACE {
                    eprintln!(
                        "wprof: error: {prefix}{phase}: a call did not return within the {} \
                         deadline (--deadline); {consequence}",
                        humantime::format_duration(deadline)
                    );
                    std::process::exit(1);
                }
                if crate::interrupt::requested() && stuck >= Duration::from_secs(1) {
                    eprintln!(
                        "wprof: interrupted ({}) inside a call of {plugin} that has not \
                         returned for {stuck:.1?}; nothing was written",
                        crate::interrupt::name()
                    );
                    std::process::exit(crate::interrupt::exit_code());
                }
            }
        })
        .ok();
    Watch {
        stop: Some(stop),
        thread,
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_name_the_phase_and_change_on_every_entry() {
        let first = entered(0, Phase::Execute);
        assert_eq!(phase_of(first), Some(Phase::Execute));
        let out = left(first);
        assert_eq!(phase_of(out), None);
        assert_ne!(entered(out, Phase::Execute), first);
        for p in Phase::ALL {
            assert_eq!(phase_of(entered(out, p)), Some(p));
        }
    }
}
