//! Wasmer as engines of `record engines`: `wasmer` (its Cranelift backend,
//! Wasmer's default) and `wasmer-singlepass`. Wasmer runs in a child
//! process with a build of its own (`drivers/wasmer`, over the driver
//! protocol), because Wasmer 7.4.2 pins its own Cranelift (=0.135.0),
//! which cannot share one build with Wasmtime 48's (0.135.8). Where that
//! driver is not built, both engines are named unavailable with the
//! command that builds it.

use anyhow::anyhow;

use super::child::Program;
use super::engine::{Engine, Job, Opened};
use crate::error::{CallError, at};
use crate::phase::Phase;

/// What builds the driver.
pub const BUILD: &str = "scripts/build-wasmer-driver";

/// Which of Wasmer's compilers compiles the module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Wasmer's Cranelift backend, its default.
    Cranelift,
    /// Wasmer's single-pass compiler (Winch's counterpart).
    Singlepass,
}

impl Backend {
    /// The engine's name in reports and `--engines`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Cranelift => "wasmer",
            Backend::Singlepass => "wasmer-singlepass",
        }
    }

    fn arg(self) -> &'static str {
        match self {
            Backend::Cranelift => "cranelift",
            Backend::Singlepass => "singlepass",
        }
    }
}

/// The driver for `backend`, where it is built: `$WPROF_WASMER_DRIVER`
/// when set (empty: none), else `wprof-wasmer` beside wprof's binary,
/// else `drivers/wasmer`'s release build in the checkout.
pub fn program(backend: Backend) -> Option<Program> {
    let mut p = Program::built("wprof-wasmer", "WPROF_WASMER_DRIVER", "wasmer")?;
    p.args = vec!["--backend".into(), backend.arg().into()];
    Some(p)
}

/// Wasmer on one backend.
pub struct Wasmer(pub Backend);

impl Engine for Wasmer {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn unavailable(&self) -> Option<String> {
        program(self.0).is_none().then(|| {
            format!(
                "the Wasmer driver is not built: Wasmer 7.4.2 brings its own Cranelift, so it has a build of its own (drivers/wasmer); build it with {BUILD}"
            )
        })
    }

    fn open<'a>(&'a self, job: &Job<'a>) -> Result<Box<dyn Opened + 'a>, CallError> {
        super::engine::wprof_abi_only(job.bytes, "the Wasmer driver")?;
        let program = program(self.0)
            .ok_or_else(|| at(Phase::Engine)(anyhow!(self.unavailable().unwrap_or_default())))?;
        super::engine::open_child(&program, job)
    }
}
