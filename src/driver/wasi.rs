//! What a WASI program is given (arguments, environment, stdin, preopened
//! directories), as one plain struct that every scenario and driver takes:
//! `record command` for a command, wprof's Extism host for an Extism
//! plugin that imports WASI preview 1 (as Extism's `wasi: true` does), the
//! Extism SDK driver for the same plugin.

use std::path::PathBuf;

use wasmtime_wasi::WasiCtxBuilder;

/// The import module of WASI preview 1.
pub const PREVIEW1: &str = "wasi_snapshot_preview1";

/// What a WASI program is given besides its own bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WasiOptions {
    /// Its arguments after argv[0] (the module's file name). Default: none.
    pub args: Vec<String>,
    /// Its environment. Default: empty.
    pub env: Vec<(String, String)>,
    /// A file whose bytes are its stdin. Default: empty stdin.
    pub stdin: Option<PathBuf>,
    /// Host directories preopened for it, each with the path the guest
    /// sees. Default: none (no file access).
    pub dirs: Vec<(PathBuf, String)>,
}

impl WasiOptions {
    /// Whether anything is given.
    pub fn is_empty(&self) -> bool {
        *self == WasiOptions::default()
    }

    /// Checks what can be checked before a run: every `--dir` is a
    /// directory. The error names the flag.
    pub fn check(&self) -> Result<(), String> {
        for (host, _) in &self.dirs {
            if !host.is_dir() {
                return Err(format!("--dir {}: not a directory", host.display()));
            }
        }
        Ok(())
    }

    /// A context builder with the arguments (after `argv0`), environment
    /// and preopened directories; stdin, stdout and stderr are the
    /// caller's to set. Fails naming the `--dir` that cannot be opened.
    pub fn builder(&self, argv0: &str) -> Result<WasiCtxBuilder, String> {
        let mut b = WasiCtxBuilder::new();
        b.arg(argv0).args(&self.args).envs(&self.env);
        // wprof calls wasm synchronously: file I/O then runs on the calling
        // thread, as `wasmtime run` does, not through a thread pool. Without
        // it an Extism plugin's file read cost 100 µs and 5.7 context
        // switches a call, against 36 µs under the Extism SDK (measured).
        b.allow_blocking_current_thread(true);
        for (host, guest) in &self.dirs {
            b.preopened_dir(host, guest, wasmtime_wasi::FsPerms::ReadWrite)
                .map_err(|e| format!("--dir {}: {e}", host.display()))?;
        }
        Ok(b)
    }

    /// The settings a run records: each value as given.
    pub fn settings(&self) -> [(&'static str, serde_json::Value); 4] {
        use serde_json::json;
        [
            ("args", json!(self.args)),
            (
                "env",
                json!(
                    self.env
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                ),
            ),
            (
                "stdin",
                json!(self.stdin.as_ref().map(|p| p.display().to_string())),
            ),
            (
                "dirs",
                json!(
                    self.dirs
                        .iter()
                        .map(|(h, g)| format!("{}::{g}", h.display()))
                        .collect::<Vec<_>>()
                ),
            ),
        ]
    }
}
