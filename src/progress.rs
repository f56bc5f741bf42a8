//! A progress line for long runs, on standard error, only on a terminal,
//! only after the run has taken ~2 s, never with `--quiet` or `--json`:
//! the stage wprof is in (rung, size, way, variant, round, pass; the same
//! stages `--self-trace` writes), how far along it is, and the time left at
//! the pace so far. It lives on its own thread, which sleeps between
//! redraws and reads the stages the measuring thread left between its
//! timed stretches, so the measuring thread is never touched.

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
                    bar.set_message(line(&label, &crate::stages::open(), start.elapsed()));
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

/// `recording cold-start · rung winch 3/7 · 9s, ~12s left`.
fn line(label: &str, open: &[(crate::stages::Stage, f64)], elapsed: Duration) -> String {
    let mut text = label.to_owned();
    // The innermost few stages: the outer ones are in the label.
    for (s, _) in open.iter().rev().take(2).rev() {
        text.push_str(" · ");
        text.push_str(&crate::text::esc(&s.what));
        if s.of > 0 {
            text.push_str(&format!(" {}/{}", s.i, s.of));
        }
    }
    let secs = elapsed.as_secs();
    text.push_str(&format!(" · {secs}s"));
    if let Some((_, left)) = crate::stages::estimate(open, elapsed.as_secs_f64()) {
        text.push_str(&format!(", ~{}s left", left.round() as u64));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::Stage;

    #[test]
    fn the_line_names_the_stage_its_count_and_the_time_left() {
        let open = [
            (
                Stage {
                    what: "rung winch".into(),
                    i: 3,
                    of: 5,
                },
                1.0,
            ),
            (
                Stage {
                    what: "compile".into(),
                    i: 0,
                    of: 0,
                },
                0.5,
            ),
        ];
        assert_eq!(
            line("recording cold-start", &open, Duration::from_secs(8)),
            "recording cold-start · rung winch 3/5 · compile · 8s, ~12s left"
        );
        assert_eq!(
            line("recording soak", &[], Duration::from_secs(3)),
            "recording soak · 3s"
        );
    }
}
