//! The three ways wprof's Wasmtime host turns wasm into something to run:
//! Cranelift (the optimising compiler), Winch (the single-pass baseline
//! compiler) and Pulley (Wasmtime's portable interpreter: Cranelift
//! compiles to Pulley bytecode, which an interpreter loop runs). One
//! driver, [`super::WasmtimeDriver`], on three engine configs.

use wasmtime::{Config, Engine, Strategy};

/// How Wasmtime compiles and runs a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compiler {
    /// Cranelift, to native code: Wasmtime's default.
    Cranelift,
    /// Winch, to native code in one pass.
    Winch,
    /// Cranelift, to Pulley bytecode, interpreted.
    Pulley,
}

impl Compiler {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Compiler::Cranelift => "cranelift",
            Compiler::Winch => "winch",
            Compiler::Pulley => "pulley",
        }
    }

    /// How the report describes it.
    pub fn description(self) -> &'static str {
        match self {
            Compiler::Cranelift => "Cranelift, Wasmtime's optimising compiler, to native code",
            Compiler::Winch => "Winch, Wasmtime's single-pass baseline compiler, to native code",
            Compiler::Pulley => {
                "Pulley, Wasmtime's portable interpreter: Cranelift compiles to Pulley bytecode, an interpreter loop runs it"
            }
        }
    }

    /// A default engine config for it.
    pub fn config(self) -> wasmtime::Result<Config> {
        let mut config = Config::new();
        match self {
            Compiler::Cranelift => {}
            Compiler::Winch => {
                config.strategy(Strategy::Winch);
            }
            Compiler::Pulley => {
                // The interpreter of this machine's pointer width; Wasmtime
                // runs pulley32 only on 32-bit hosts.
                let target = if cfg!(target_pointer_width = "64") {
                    "pulley64"
                } else {
                    "pulley32"
                };
                config.target(target)?;
            }
        }
        Ok(config)
    }

    /// An engine for it.
    pub fn engine(self) -> wasmtime::Result<Engine> {
        Engine::new(&self.config()?)
    }
}
