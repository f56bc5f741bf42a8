//! wprof: what it costs to run a plugin as WebAssembly instead of native
//! code, and where that cost goes, phase by phase.
//!
//! A scenario ([`scenario`]) drives a plugin through Wasmtime ([`host`]) and
//! through its native build ([`bundled`]), timing each [`phase::Phase`] with
//! a cheap clock ([`measure`]), and returns a plain-data [`run::Run`], which
//! exporters ([`export`]) turn into tables, JSON, traces and flamegraphs.

pub mod bundled;
pub mod call;
pub mod cli;
pub mod compare;
pub mod error;
pub mod export;
pub mod extism;
pub mod heap;
pub mod host;
pub mod inspect;
pub mod interrupt;
pub mod measure;
pub mod phase;
pub mod progress;
pub mod run;
pub mod scenario;
pub mod source;
pub mod stats;
pub mod watchdog;

pub use error::Error;
pub use phase::Phase;
pub use run::Run;
