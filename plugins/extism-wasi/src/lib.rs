//! An Extism plugin built for wasm32-wasip1, so that Rust's standard
//! library reaches the host through WASI preview 1, as Extism runs it with
//! `wasi: true`: `read_file` returns the file its input names (from a
//! preopened directory, Extism's `allowed_paths`), `env_var` the value of
//! the environment variable its input names.

use extism_pdk::*;

/// The bytes of the file whose path is the input.
#[plugin_fn]
pub fn read_file(path: String) -> FnResult<Vec<u8>> {
    std::fs::read(&path).map_err(|e| Error::msg(format!("cannot read {path}: {e}")).into())
}

/// The value of the environment variable whose name is the input.
#[plugin_fn]
pub fn env_var(name: String) -> FnResult<String> {
    std::env::var(&name).map_err(|e| Error::msg(format!("{name}: {e}")).into())
}
