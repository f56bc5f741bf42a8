//! wprof: what it costs to run a plugin as WebAssembly instead of native
//! code, and where that cost goes, phase by phase.
//!
//! Data flows one way: a plugin ([`source`], [`kind`]) runs on a host
//! driver ([`driver`]); a scenario ([`scenario`]) times the driver's calls
//! with the timing core ([`timing`]), and looks inside them with the passes
//! of [`inside`] (over the mechanisms of [`measure`]); it returns a
//! plain-data [`run::Run`], which exporters ([`export`]) turn into tables,
//! JSON, traces and flamegraphs. Each [`phase::Phase`] is named once.

pub mod bundled;
pub mod call;
pub mod cli;
pub mod compare;
pub mod driver;
pub mod error;
pub mod export;
pub mod files;
pub mod guest_heap;
pub mod heap;
pub mod inside;
pub mod inspect;
pub mod interrupt;
pub mod kind;
pub mod measure;
pub mod phase;
pub mod progress;
pub mod run;
pub mod runfile;
pub mod scenario;
pub mod source;
pub mod stages;
pub mod stats;
pub mod study;
pub mod text;
pub mod timing;
pub mod units;
pub mod watchdog;

pub use error::Error;
pub use phase::Phase;
pub use run::Run;
