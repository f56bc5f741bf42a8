//! What a module is, decided once, from its bytes, by one set of rules:
//! which scenario takes it and which calling convention its plugin calls
//! use. Every part of wprof that needs to know asks here.

use wasmparser::{ExternalKind, Parser, Payload};

/// The import module of Extism's host functions.
pub const EXTISM_MODULE: &str = "extism:host/env";

/// Exports a runtime calls at start-up, never plugin functions.
pub const START_UP_EXPORTS: [&str; 3] = ["_start", "_initialize", "__wasm_call_ctors"];

/// A plugin's calling convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Abi {
    /// wprof's own (plugins/README.md): `(ptr, len) -> packed` exports,
    /// `wprof_alloc` and `wprof_free`; the host encodes JSON.
    Wprof,
    /// Extism's: `() -> i32` exports over the `extism:host/env` kernel.
    Extism,
}

/// What kind of module it is, as far as choosing a scenario goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
    /// A core module called as a plugin.
    Plugin(Abi),
    /// A core module exporting `_start` (and no Extism imports): a WASI
    /// command.
    Command,
    /// A component exporting `wasi:cli/run`: a WASI 0.2 command.
    ComponentCommand,
    /// A component.
    Component,
}

/// The kind of a binary module. The rules, in order: a component; a module
/// that imports anything from `extism:host/env` is an Extism plugin (it may
/// also export WASI start-up functions); one that exports a `_start`
/// function is a WASI command; anything else is a wprof plugin (and
/// whatever it lacks is reported when it is loaded). Bytes that do not parse
/// are left to the plugin path, which reports them.
pub fn of(bytes: &[u8]) -> ModuleKind {
    if Parser::is_component(bytes) {
        return if exports_cli_run(bytes) {
            ModuleKind::ComponentCommand
        } else {
            ModuleKind::Component
        };
    }
    let (mut extism, mut start) = (false, false);
    for payload in Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(Payload::ImportSection(imports)) => {
                extism |= imports
                    .into_imports()
                    .flatten()
                    .any(|i| i.module == EXTISM_MODULE);
            }
            Ok(Payload::ExportSection(exports)) => {
                start |= exports
                    .into_iter()
                    .flatten()
                    .any(|e| e.name == "_start" && e.kind == ExternalKind::Func);
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    match (extism, start) {
        (true, _) => ModuleKind::Plugin(Abi::Extism),
        (false, true) => ModuleKind::Command,
        (false, false) => ModuleKind::Plugin(Abi::Wprof),
    }
}

/// Whether a core module needs the GC proposals (GC types, typed
/// function references): it validates with them and not without. Winch
/// compiles none of them.
pub fn uses_gc(bytes: &[u8]) -> bool {
    use wasmparser::{Validator, WasmFeatures};
    let all = WasmFeatures::default();
    let without =
        all - WasmFeatures::GC - WasmFeatures::GC_TYPES - WasmFeatures::FUNCTION_REFERENCES;
    Validator::new_with_features(all)
        .validate_all(bytes)
        .is_ok()
        && Validator::new_with_features(without)
            .validate_all(bytes)
            .is_err()
}

/// Whether a component exports the `wasi:cli/run` interface (any 0.2
/// version) at its top level, not from a component nested in it.
fn exports_cli_run(bytes: &[u8]) -> bool {
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(Payload::ModuleSection { .. } | Payload::ComponentSection { .. }) => depth += 1,
            Ok(Payload::End(_)) => depth = depth.saturating_sub(1),
            Ok(Payload::ComponentExportSection(exports)) if depth == 0 => {
                if exports.into_iter().flatten().any(|e| {
                    e.name.name == "wasi:cli/run" || e.name.name.starts_with("wasi:cli/run@")
                }) {
                    return true;
                }
            }
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

/// The calling convention of a module run as a plugin: Extism's if it
/// imports Extism's host functions, else wprof's.
pub fn abi(bytes: &[u8]) -> Abi {
    match of(bytes) {
        ModuleKind::Plugin(abi) => abi,
        ModuleKind::Command | ModuleKind::ComponentCommand | ModuleKind::Component => Abi::Wprof,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wat(text: &str) -> Vec<u8> {
        wat::parse_str(text).unwrap()
    }

    #[test]
    fn one_set_of_rules_decides_the_kind() {
        let plugin = wat(r#"(module (memory (export "memory") 1)
            (func (export "wprof_alloc") (param i32) (result i32) i32.const 0))"#);
        assert_eq!(of(&plugin), ModuleKind::Plugin(Abi::Wprof));
        let extism = wat(
            r#"(module (import "extism:host/env" "input_length" (func (result i64)))
            (memory (export "memory") 1) (func (export "_start")))"#,
        );
        assert_eq!(
            of(&extism),
            ModuleKind::Plugin(Abi::Extism),
            "Extism imports win over a _start export"
        );
        let command = wat(r#"(module (memory (export "memory") 1) (func (export "_start")))"#);
        assert_eq!(of(&command), ModuleKind::Command);
        assert_eq!(of(b"not wasm"), ModuleKind::Plugin(Abi::Wprof));
    }
}
