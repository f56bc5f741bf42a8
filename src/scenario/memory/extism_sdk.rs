//! Extism's own runtime in `record memory`: the Extism SDK driver, in its
//! own fresh process as every variant is, reads that process's memory with
//! the plugin open, after the calls, with a CompiledPlugin, and with the
//! instances made from it alive. The SDK shows no linear memory, so the
//! per-instance figure is resident memory only.

use crate::driver::child::{ChildDriver, Program};
use crate::run::{MemoryProfile, Variant};
use crate::units::fmt_bytes;

/// The variant.
pub(super) const NAME: &str = "extism-sdk";

/// The SDK's variant and a note with its resident memory per instance, or
/// a note on why it was not measured.
pub(super) fn variant(
    wasm: &std::path::Path,
    (export, input): (&str, &[u8]),
    limits: &crate::driver::Limits,
    (instances, calls): (u64, u64),
) -> Result<(Variant, String), String> {
    let Some(program) = Program::extism_sdk() else {
        return Err(crate::driver::child::sdk_not_built("the figures are"));
    };
    let failed = |e: String| format!("{NAME}: not measured: Extism's own runtime failed: {e}");
    let mut d = ChildDriver::open_once(&program, wasm, export, input, limits)
        .map_err(|e| failed(crate::error::one_line(&e)))?;
    let points = d
        .memory(instances, calls)
        .map_err(|e| failed(crate::error::one_line(&e.error)))?;
    let at = |label: &str| {
        points
            .iter()
            .find(|p| p.label == label)
            .map(|p| p.rss_bytes)
    };
    let note = match (at("module"), at("instances")) {
        (Some(m), Some(i)) if instances > 0 => format!(
            "{NAME}: {instances} instances from one CompiledPlugin, each called once: {} resident each (the SDK shows no linear memory, so it is not split)",
            fmt_bytes((i as f64 - m as f64) / instances as f64)
        ),
        _ => format!("{NAME}: no per-instance figure: the driver's readings lack one"),
    };
    Ok((
        Variant {
            name: NAME.to_owned(),
            description: "Extism's own runtime (the Rust SDK) in its own process: the plugin open (Plugin::new, one call), after the calls, a CompiledPlugin, then the instances made from it, each called once and kept alive; resident and virtual memory of that process".to_owned(),
            memory: Some(MemoryProfile {
                points,
                per_instance: None,
                code_bytes: None,
            }),
            ..Variant::default()
        },
        note,
    ))
}
