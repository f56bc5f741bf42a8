//! Extism's own runtime in `record memory`: the Extism SDK driver, in its
//! own fresh process as every variant is, reads that process's memory with
//! the plugin open, after the calls, with a CompiledPlugin, and with the
//! instances made from it alive; the same through libextism, the C API,
//! where it is there. Neither shows linear memory, so the per-instance
//! figure is resident memory only.

use crate::driver::child::{ChildDriver, Program};
use crate::run::{MemoryProfile, Variant};
use crate::units::fmt_bytes;

/// The SDK's variant, then libextism's, each with a note on its resident
/// memory per instance; or notes on why they were not measured.
pub(super) fn variants(
    wasm: &std::path::Path,
    (export, input): (&str, &[u8]),
    limits: &crate::driver::Limits,
    sizes: (u64, u64),
) -> (Vec<Variant>, Vec<String>) {
    let Some(sdk) = Program::extism_sdk() else {
        return (
            Vec::new(),
            vec![crate::driver::child::sdk_not_built("the figures are")],
        );
    };
    let (mut variants, mut notes) = (Vec::new(), Vec::new());
    let lib = Program::libextism();
    if lib.is_none() {
        notes.push(crate::driver::child::lib_not_there());
    }
    let which = [
        ("extism-sdk", "the Rust SDK", Some(sdk)),
        ("libextism", "libextism, its C API,", lib),
    ];
    for (name, who, program) in which {
        let Some(program) = program else { continue };
        match variant(&program, (name, who), wasm, (export, input), limits, sizes) {
            Ok((v, note)) => {
                variants.push(v);
                notes.push(note);
            }
            Err(note) => notes.push(note),
        }
    }
    (variants, notes)
}

/// One driver's variant (`name`, Extism's runtime through `who`) and a
/// note with its resident memory per instance, or a note on why it was
/// not measured.
fn variant(
    program: &Program,
    (name, who): (&str, &str),
    wasm: &std::path::Path,
    (export, input): (&str, &[u8]),
    limits: &crate::driver::Limits,
    (instances, calls): (u64, u64),
) -> Result<(Variant, String), String> {
    let failed = |e: String| format!("{name}: not measured: Extism's own runtime failed: {e}");
    let mut d = ChildDriver::open_once(program, wasm, export, input, limits)
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
            "{name}: {instances} instances from one compiled plugin, each called once: {} resident each (Extism shows no linear memory, so it is not split)",
            fmt_bytes((i as f64 - m as f64) / instances as f64)
        ),
        _ => format!("{name}: no per-instance figure: the driver's readings lack one"),
    };
    Ok((
        Variant {
            name: name.to_owned(),
            description: format!(
                "Extism's own runtime ({who} in its own process): the plugin open (one call), after the calls, a compiled plugin, then the instances made from it, each called once and kept alive; resident and virtual memory of that process"
            ),
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
