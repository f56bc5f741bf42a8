//! wprof's library errors.

use std::path::PathBuf;

use crate::phase::Phase;
use crate::text::Esc;

/// Everything that can go wrong in wprof's core, each a one-line message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A plugin failed in one of its phases: it could not be read, was not
    /// valid wasm, lacked an export, trapped...
    #[error("{}: {phase}: {}{}", Esc(.plugin), Esc(.cause), frames(.backtrace))]
    Plugin {
        /// The plugin's name or path.
        plugin: String,
        /// The phase it failed in.
        phase: Phase,
        /// What went wrong, on one line.
        cause: String,
        /// For a trap, the wasm functions it happened in, innermost first:
        /// printed one per line after the error's line.
        backtrace: Vec<String>,
    },
    /// An output could not be written.
    #[error("cannot write {}: {}", Esc(&.path.display().to_string()), Esc(.cause))]
    Output {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        cause: String,
    },
    /// The settings asked for something impossible.
    #[error("{}", Esc(.0))]
    Config(String),
    /// A run file could not be read or used (e.g. by `wprof compare`).
    #[error("{}", Esc(.0))]
    Input(String),
    /// Ctrl-C or SIGTERM stopped the run; what was measured was written.
    #[error(
        "interrupted: the run was stopped by {} and written marked incomplete",
        crate::interrupt::name()
    )]
    Interrupted,
    /// Ctrl-C or SIGTERM came before anything was measured: nothing written.
    #[error(
        "interrupted: the run was stopped by {} before anything was measured; nothing was written",
        crate::interrupt::name()
    )]
    InterruptedEarly,
}

impl Error {
    /// A plugin error.
    pub fn plugin(plugin: impl Into<String>, phase: Phase, cause: impl Into<String>) -> Self {
        Error::Plugin {
            plugin: plugin.into(),
            phase,
            cause: cause.into(),
            backtrace: Vec::new(),
        }
    }

    /// A plugin error whose cause is `err`: a trap keeps its wasm backtrace
    /// for the lines after the error's.
    pub fn trapped(plugin: impl Into<String>, phase: Phase, err: &anyhow::Error) -> Self {
        let backtrace: Vec<String> = err
            .downcast_ref::<wasmtime::WasmBacktrace>()
            .map(|bt| bt.frames().iter().map(frame_name).collect())
            .unwrap_or_default();
        let cause = if backtrace.is_empty() {
            one_line(err)
        } else {
            trap_cause(err)
        };
        Error::Plugin {
            plugin: plugin.into(),
            phase,
            cause,
            backtrace,
        }
    }
}

/// A trap's cause: the trap, then what was said around it (a command's
/// stderr), without the backtrace.
fn trap_cause(err: &anyhow::Error) -> String {
    let root = err.root_cause().to_string();
    let around = err
        .chain()
        .map(ToString::to_string)
        // The backtrace context (no std Error to test the type of) is
        // given as frames apart.
        .filter(|t| !t.is_empty() && *t != root && !t.contains("wasm backtrace:"))
        .collect::<Vec<_>>();
    std::iter::once(root)
        .chain(around)
        .collect::<Vec<_>>()
        .join("; ")
}

fn frame_name(f: &wasmtime::FrameInfo) -> String {
    f.func_name().map_or_else(
        || format!("wasm function {}", f.func_index()),
        |n| format!("{:#}", rustc_demangle::demangle(n)),
    )
}

/// The backtrace lines of a plugin error: `\n    at <function>` each.
fn frames(backtrace: &[String]) -> String {
    backtrace
        .iter()
        .map(|f| format!("\n    at {}", Esc(f)))
        .collect()
}

/// A failure inside a call, with the phase it happened in.
#[derive(Debug)]
pub struct CallError {
    /// The phase that failed.
    pub phase: Phase,
    /// Why.
    pub error: anyhow::Error,
}

/// Tags an error with the phase it happened in.
pub fn at<E: Into<anyhow::Error>>(phase: Phase) -> impl FnOnce(E) -> CallError {
    move |e| CallError {
        phase,
        error: e.into(),
    }
}

impl CallError {
    /// Names the plugin: the one-line error wprof reports.
    pub fn into_error(self, plugin: &str) -> Error {
        Error::trapped(plugin, self.phase, &self.error)
    }

    /// The failure of a variant that the run records and goes on past.
    pub fn failure(&self, variant: &str) -> crate::run::Failure {
        crate::run::Failure {
            variant: variant.to_owned(),
            phase: self.phase,
            cause: one_line(&self.error),
        }
    }
}

/// Formats an error chain on one line (`a: b: c`). A trap's wasm backtrace
/// comes after the cause, its frames joined by ` <- `.
pub fn one_line(err: &anyhow::Error) -> String {
    if let Some(bt) = err.downcast_ref::<wasmtime::WasmBacktrace>() {
        let frames: Vec<String> = bt.frames().iter().map(frame_name).collect();
        return format!(
            "{} (wasm backtrace: {})",
            trap_cause(err),
            frames.join(" <- ")
        );
    }
    let text = format!("{err:#}");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}
