//! A progress line for long runs: a spinner with the elapsed time on
//! standard error, only on a terminal, only after the run has taken ~2 s,
//! never with `--quiet` or `--json`. It lives on its own thread, which
//! sleeps between redraws, so the measuring thread is never touched.
//! It shows no percentage: how long a run will take is often unknown
//! (time-bounded rungs, samplers), and wprof does not guess.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How long a run goes before the spinner shows.
const AFTER: Duration = Duration::from_secs(2);

/// The spinner of one run; dropping it clears the line.
pub struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts the spinner for `label` (e.g. `recording hot-path`), unless
    /// `quiet` or standard error is not a terminal.
    pub fn start(label: &str, quiet: bool) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        let thread = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let done = Arc::clone(&done);
            let label = label.to_owned();
            std::thread::spawn(move || {
                let start = Instant::now();
                while start.elapsed() < AFTER {
                    if done.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                let bar = ProgressBar::new_spinner();
                bar.set_style(
                    ProgressStyle::with_template("{spinner} wprof: {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                while !done.load(Ordering::Relaxed) {
                    // Elapsed since the run began, not since the spinner did.
                    bar.set_message(format!("{label} ({}s)", start.elapsed().as_secs()));
                    bar.tick();
                    std::thread::sleep(Duration::from_millis(200));
                }
                bar.finish_and_clear();
            })
        });
        Progress { done, thread }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
