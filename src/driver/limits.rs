//! What a plugin may grow to and return, and how long a call may run: the
//! bounds every driver puts on a plugin's store, so that a hostile plugin
//! meets a one-line error naming the limit, never a host out of memory.

/// What a plugin's store is given: what it may grow to and return, and for
/// an Extism plugin its config and log level. A hostile plugin meets the
/// limits as a one-line error naming the limit and the value it reached,
/// never as a host out of memory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Largest linear memory in bytes; `None`: as large as the module
    /// allows. Default: 1 GiB.
    pub memory_bytes: Option<usize>,
    /// Fuel the store starts with, for engines with fuel metering; `None`:
    /// none set (no metering). Default: none.
    pub fuel: Option<u64>,
    /// Most elements a table may grow to. Default: 1 000 000.
    pub table_elements: Option<usize>,
    /// Largest output a call may return, in bytes. Default: 64 MiB.
    pub output_bytes: Option<usize>,
    /// How long one call may run: the guard call is stopped at it, and a
    /// later call that overruns it ends the run. Default: 10 s.
    pub deadline: std::time::Duration,
    /// An Extism plugin's config and log level. Default: none, logging off.
    pub extism: crate::driver::extism::ExtismOptions,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: Some(1 << 30),
            fuel: None,
            table_elements: Some(1_000_000),
            output_bytes: Some(64 << 20),
            deadline: std::time::Duration::from_secs(10),
            extism: crate::driver::extism::ExtismOptions::default(),
        }
    }
}

impl wasmtime::ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        match self.memory_bytes {
            // An error (not `Ok(false)`) traps at once with this message,
            // instead of handing the plugin a -1 it may not check.
            Some(limit) if desired > limit => Err(wasmtime::format_err!(
                "linear memory limit reached: the plugin asked to grow from {} to {} KiB, over the {} KiB limit (--memory-limit)",
                current / 1024,
                desired / 1024,
                limit / 1024
            )),
            _ => Ok(true),
        }
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        match self.table_elements {
            Some(limit) if desired > limit => Err(wasmtime::format_err!(
                "table limit reached: the plugin asked to grow a table from {current} to {desired} elements, over the {limit}-element limit"
            )),
            _ => Ok(true),
        }
    }
}
