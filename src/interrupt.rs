//! Ctrl-C (SIGINT) during a run: the handler only sets a flag; the
//! scenarios look at it between rounds, iterations or calls (never inside a
//! timed batch), stop, and the run is written marked incomplete, exit 130.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    // Async-signal-safe: one atomic store.
    REQUESTED.store(true, Ordering::Relaxed);
}

/// Installs the handler (once per process is enough; again is harmless).
pub fn install() {
    // SAFETY: the handler only stores to an atomic, which is
    // async-signal-safe; sigaction is given a zeroed, then filled, struct.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigint as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
}

/// Whether Ctrl-C was pressed since the run began.
#[inline]
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// The note an interrupted run carries.
pub fn note(what: &str) -> String {
    format!("incomplete: interrupted (SIGINT) {what}; everything measured until then is kept")
}
