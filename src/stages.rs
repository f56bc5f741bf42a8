//! wprof's own stages (setup, compile, each variant, rung, way or round,
//! each pass, the writes) as tracing spans: what `-v` and `RUST_LOG` print
//! through tracing-subscriber, what `--self-trace FILE` writes as a Chrome
//! trace through tracing-chrome, and what the progress line reads.
//!
//! Coarse only. A span through the registry costs ~1 µs, half a hot-path
//! call, so no span is ever opened inside a timed loop: only around stages
//! of milliseconds, between them. wprof's own call spans (the Chrome trace
//! of a run) are written by `export::chrome` from the timings instead.

use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// One stage: what it is and, where known, how far along its kind it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stage {
    /// What, in words: `rung winch`, `round`, `way json 1 MB`.
    pub what: String,
    /// Its place among its kind, from 1; 0 when not counted.
    pub i: u64,
    /// How many of its kind there are; 0 when not counted.
    pub of: u64,
}

/// Enters a stage until the returned guard drops. `i` of `of` (from 1)
/// places it among its kind for the progress line; 0 of 0 when uncounted.
pub fn stage(what: &str, i: u64, of: u64) -> Guard {
    Guard::new(tracing::info_span!("stage", what, i, of), false)
}

/// As [`stage`], for a stage there are many of (a hot-path round): logged
/// at `-vv` only.
pub fn step(what: &str, i: u64, of: u64) -> Guard {
    Guard::new(tracing::debug_span!("stage", what, i, of), true)
}

/// A stage open until dropped; its end is logged with how long it took.
#[must_use = "the stage lasts while the guard lives"]
pub struct Guard {
    span: Option<tracing::span::EnteredSpan>,
    start: Instant,
    many: bool,
}

impl Guard {
    fn new(span: tracing::Span, many: bool) -> Guard {
        Guard {
            span: Some(span.entered()),
            start: Instant::now(),
            many,
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let took = crate::units::fmt_ns(self.start.elapsed().as_nanos() as f64);
        // Inside the span, so the log line names the stage.
        if self.many {
            tracing::debug!(%took, "done");
        } else {
            tracing::info!(%took, "done");
        }
        drop(self.span.take());
    }
}

/// The stages open now, outermost first, with when each began.
static OPEN: Mutex<Vec<(Stage, Instant)>> = Mutex::new(Vec::new());

/// The stages open now, outermost first, each with the seconds it has
/// run: what the progress line shows.
pub fn open() -> Vec<(Stage, f64)> {
    OPEN.lock()
        .map(|o| {
            o.iter()
                .map(|(s, t)| (s.clone(), t.elapsed().as_secs_f64()))
                .collect()
        })
        .unwrap_or_default()
}

/// Where stages go: a terminal log at `-v` (info) or `-vv` (debug), or as
/// `RUST_LOG` says; a Chrome trace of them into `self_trace`. Keep the guard
/// until wprof ends: dropping it writes the trace.
pub fn init(
    verbose: u8,
    self_trace: Option<Box<dyn Write + Send>>,
) -> Option<tracing_chrome::FlushGuard> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(f) if !f.trim().is_empty() => EnvFilter::new(f),
        _ => EnvFilter::new(match verbose {
            0 => "off",
            1 => "wprof=info",
            _ => "wprof=debug",
        }),
    };
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .with_filter(filter);
    let (chrome, guard) = match self_trace {
        Some(writer) => {
            let (layer, guard) = tracing_chrome::ChromeLayerBuilder::new()
                .writer(writer)
                .include_args(true)
                // The stage's own words name it ("rung winch"), so a viewer
                // groups the same stage of several runs.
                .name_fn(Box::new(|e| match e {
                    tracing_chrome::EventOrSpan::Span(s) => s
                        .extensions()
                        .get::<Stage>()
                        .map_or_else(|| s.name().to_owned(), |st| st.what.clone()),
                    tracing_chrome::EventOrSpan::Event(ev) => ev.metadata().name().to_owned(),
                }))
                .build();
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    // Only wprof's own stages: every other crate's spans and events stay
    // disabled at their call sites (Wasmtime and Cranelift compile with
    // trace-level logging in their loops: let through, it slowed a
    // compile tenfold).
    let own = || filter_fn(|m| m.is_span() && m.target().starts_with("wprof"));
    let subscriber = tracing_subscriber::registry()
        .with(Progress.with_filter(own()))
        .with(log)
        .with(chrome.map(|c| c.with_filter(own())));
    // Not `try_init`: that would also route the `log` crate's records
    // (Wasmtime's) into tracing. A second init (tests in one process)
    // keeps the first.
    let _ = tracing::subscriber::set_global_default(subscriber);
    guard
}

/// Keeps [`OPEN`] as the spans open and close, and each span's [`Stage`]
/// in its extensions for the Chrome trace's names.
struct Progress;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Progress {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "stage" {
            return;
        }
        let mut stage = Stage::default();
        attrs.record(&mut stage);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(stage);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let Some(stage) = span.extensions().get::<Stage>().cloned() else {
            return;
        };
        if let Ok(mut open) = OPEN.lock() {
            open.push((stage, Instant::now()));
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let Some(stage) = span.extensions().get::<Stage>().cloned() else {
            return;
        };
        if let Ok(mut open) = OPEN.lock()
            && let Some(at) = open.iter().rposition(|(s, _)| *s == stage)
        {
            open.remove(at);
        }
    }
}

impl Visit for Stage {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "what" {
            self.what = value.to_owned();
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "i" => self.i = value,
            "of" => self.of = value,
            _ => {}
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_u64(field, value.max(0) as u64);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "what" {
            self.what = format!("{value:?}");
        }
    }
}

/// How far along the stages are, from the outermost counted one down
/// (a round 3 of 10 with its way 2 of 4: 2.25 / 10), and the time left
/// at that pace; `None` until something counted has begun.
pub fn estimate(open: &[(Stage, f64)], elapsed_s: f64) -> Option<(f64, f64)> {
    let counted: Vec<&Stage> = open.iter().map(|(s, _)| s).filter(|s| s.of > 0).collect();
    let mut done = 0.0;
    let mut scale = 1.0;
    for s in &counted {
        scale /= s.of as f64;
        done += scale * (s.i.saturating_sub(1)) as f64;
    }
    if counted.is_empty() || done <= 0.0 || elapsed_s <= 0.0 {
        return None;
    }
    let fraction = done.min(1.0);
    Some((fraction, elapsed_s * (1.0 - fraction) / fraction))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(i: u64, of: u64) -> (Stage, f64) {
        (
            Stage {
                what: "x".into(),
                i,
                of,
            },
            0.0,
        )
    }

    #[test]
    fn nested_counts_make_one_fraction_and_the_pace_the_time_left() {
        // Round 3 of 10, its way 2 of 4: 2 rounds and a quarter done.
        let (f, left) = estimate(&[st(3, 10), st(2, 4)], 9.0).unwrap();
        assert!((f - 0.225).abs() < 1e-9, "{f}");
        assert!((left - 9.0 * 0.775 / 0.225).abs() < 1e-9, "{left}");
        // Uncounted stages are skipped; nothing done yet says nothing.
        assert!(estimate(&[st(0, 0), st(1, 7)], 5.0).is_none());
        assert!(estimate(&[], 5.0).is_none());
    }
}
