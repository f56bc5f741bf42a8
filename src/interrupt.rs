//! Ctrl-C (SIGINT) and SIGTERM during a run. The handler only records the
//! signal; the scenarios look at it between rounds, batches, iterations and
//! calls (never inside a timed batch), stop, and the run is written marked
//! incomplete, exit 128 + the signal (130, 143).
//!
//! Where the run is inside one step that cannot be cut short (one compile,
//! one call, one child's pass), a watcher makes the signal take effect
//! within a second all the same: before anything is measured there is
//! nothing to lose, so it exits at once; after, it says what it is waiting
//! for. A second signal always exits at once, writing nothing.

use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// The first signal received (0: none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// Whether a set of files is being moved into place: a second signal
/// then waits for it to finish (see [`hold`]).
static HOLDING: AtomicBool = AtomicBool::new(false);

/// A second signal that came while [`HOLDING`].
static PENDING: AtomicI32 = AtomicI32::new(0);

/// Whether anything has been measured yet: until then a signal has nothing
/// to save.
static MEASURED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    // Async-signal-safe only: atomics, write(2) and _exit(2).
    if SIGNAL
        .compare_exchange(0, sig, Ordering::Relaxed, Ordering::Relaxed)
        .is_err()
    {
        if HOLDING.load(Ordering::Relaxed) {
            PENDING.store(sig, Ordering::Relaxed);
            return;
        }
        const MSG: &[u8] = b"\nwprof: interrupted again: stopped at once; nothing was written\n";
        // SAFETY: write(2) and _exit(2) are async-signal-safe; MSG is static.
        unsafe {
            libc::write(2, MSG.as_ptr().cast(), MSG.len());
            libc::_exit(128 + sig);
        }
    }
}

/// Installs the handlers for SIGINT and SIGTERM, and the watcher (once per
/// process is enough; again is harmless).
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler is async-signal-safe (above); sigaction is
        // given a zeroed, then filled, struct.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
    static WATCHER: std::sync::Once = std::sync::Once::new();
    WATCHER.call_once(|| {
        let _ = std::thread::Builder::new()
            .name("wprof-signals".into())
            .spawn(watch);
    });
}

/// Waits for a signal; a second later, exits if nothing was measured, or
/// says what the run is finishing.
fn watch() {
    while !requested() {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Within a second of the signal, whatever the run is doing.
    std::thread::sleep(Duration::from_millis(800));
    if !MEASURED.load(Ordering::Relaxed) {
        eprintln!(
            "wprof: interrupted ({}) before anything was measured; nothing was written",
            name()
        );
        std::process::exit(exit_code());
    }
    eprintln!(
        "wprof: interrupted ({}): finishing the step in progress, then writing what was measured (send it again to stop at once, writing nothing)",
        name()
    );
}

/// Whether a signal asked the run to stop.
#[inline]
pub fn requested() -> bool {
    SIGNAL.load(Ordering::Relaxed) != 0
}

/// Something was measured: from now on a signal writes it before exiting.
#[inline]
pub fn measured() {
    MEASURED.store(true, Ordering::Relaxed);
}

/// Whether anything was measured.
pub fn was_measured() -> bool {
    MEASURED.load(Ordering::Relaxed)
}

/// Holds off the exit of a second signal while it lives: the files of a
/// set are all moved into place, or none.
pub fn hold() -> Hold {
    HOLDING.store(true, Ordering::Relaxed);
    Hold
}

/// See [`hold`].
pub struct Hold;

impl Drop for Hold {
    fn drop(&mut self) {
        HOLDING.store(false, Ordering::Relaxed);
        let sig = PENDING.load(Ordering::Relaxed);
        if sig != 0 {
            eprintln!("wprof: interrupted again: stopped once the files were in place");
            std::process::exit(128 + sig);
        }
    }
}

/// The signal's name, for messages.
pub fn name() -> &'static str {
    match SIGNAL.load(Ordering::Relaxed) {
        libc::SIGTERM => "SIGTERM",
        _ => "SIGINT",
    }
}

/// The exit status for the signal: the shell's 128 + its number.
pub fn exit_code() -> i32 {
    128 + match SIGNAL.load(Ordering::Relaxed) {
        0 => libc::SIGINT,
        s => s,
    }
}

/// The note an interrupted run carries.
pub fn note(what: &str) -> String {
    format!(
        "incomplete: interrupted ({}) {what}; everything measured until then is kept",
        name()
    )
}

/// Runs `cmd` to completion as [`Command::output`] does, but kills it and
/// fails when a signal asks the run to stop (a child that was not sent the
/// signal would otherwise hold the run up).
pub fn output(cmd: &mut Command) -> std::io::Result<Output> {
    use std::io::Read;
    use std::process::Stdio;
    let mut child: Child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if requested() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                format!(
                    "interrupted ({}) after {:.1?}: the child process was stopped",
                    name(),
                    start.elapsed()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ok(Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}
