//! `wprof inspect`: what a module is and what it needs before wprof (or any
//! host) can run it. Kind (core module or component), size, imports and
//! exports with their signatures, which calling conventions wprof
//! recognises in it (the wprof ABI, Extism, a WASI command or reactor, the
//! Sightglass benchmark protocol, a component's WIT exports), and what a
//! host must supply. Core modules are read with wasmparser (no compiling);
//! components are compiled by Wasmtime, whose component types give the
//! WIT-level signatures.

mod component;

use std::path::Path;

use serde::Serialize;

pub use component::{wit_func, wit_type};
use wasmparser::{ExternalKind, Parser, Payload, TypeRef, ValType};

use crate::error::Error;
use crate::phase::Phase;

/// What `wprof inspect` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inspection {
    /// The file inspected.
    pub path: String,
    /// `core module` or `component`.
    pub kind: String,
    /// Size of the binary module in bytes (after converting text format).
    pub size_bytes: u64,
    /// Every import, in order.
    pub imports: Vec<Item>,
    /// Every export, in order.
    pub exports: Vec<Item>,
    /// Calling conventions recognised, each with the evidence.
    pub abis: Vec<Abi>,
    /// What a host must supply to instantiate and call it; empty when it
    /// needs nothing.
    pub needs: Vec<String>,
    /// How to run it with wprof, where wprof can.
    pub run_with: Option<String>,
}

/// One import or export.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// `module::name` for core imports, the name otherwise.
    pub name: String,
    /// `func`, `memory`, `table`, `global`, `tag`, `instance`, `type`...
    pub kind: String,
    /// The signature: `(i32, i32) -> i64`, `1 pages`, a WIT function type.
    pub signature: String,
}

/// A calling convention wprof recognises.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Abi {
    /// Its name: `wprof`, `extism`, `wasi-command`, `wasi-reactor`,
    /// `sightglass-bench`, `component`.
    pub name: String,
    /// Why: the imports or exports that show it.
    pub evidence: String,
    /// Whether wprof can run a module of this kind today.
    pub supported: bool,
}

/// Inspects the module at `path` (`.wasm`, `.wat`, or a component).
pub fn inspect(path: &Path) -> Result<Inspection, Error> {
    let name = path.display().to_string();
    let raw = crate::files::read(path, crate::files::Kind::Module)
        .map_err(|e| Error::plugin(&name, Phase::Read, e))?;
    let bytes = crate::source::to_binary(raw)
        .map_err(|e| Error::plugin(&name, Phase::Read, crate::error::one_line(&e)))?;
    if Parser::is_component(&bytes) {
        return component::component(&name, &bytes);
    }
    core(&name, &bytes)
}

fn val(t: &ValType) -> String {
    match t {
        ValType::I32 => "i32".into(),
        ValType::I64 => "i64".into(),
        ValType::F32 => "f32".into(),
        ValType::F64 => "f64".into(),
        ValType::V128 => "v128".into(),
        ValType::Ref(r) => format!("{r}"),
    }
}

fn func_sig(f: &wasmparser::FuncType) -> String {
    let list = |ts: &[ValType]| ts.iter().map(val).collect::<Vec<_>>().join(", ");
    match f.results() {
        [] => format!("({})", list(f.params())),
        [one] => format!("({}) -> {}", list(f.params()), val(one)),
        many => format!("({}) -> ({})", list(f.params()), list(many)),
    }
}

fn core(name: &str, bytes: &[u8]) -> Result<Inspection, Error> {
    let bad =
        |e: wasmparser::BinaryReaderError| Error::plugin(name, Phase::Validate, e.to_string());
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(bytes)
        .map_err(bad)?;
    let mut types: Vec<Option<wasmparser::FuncType>> = Vec::new();
    // The signature of each function index: imports first, then defined.
    let mut funcs: Vec<Option<usize>> = Vec::new();
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    let mut export_refs: Vec<(String, ExternalKind, u32)> = Vec::new();
    let mut memories: Vec<String> = Vec::new();
    let mut globals: Vec<String> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(bad)? {
            Payload::TypeSection(r) => {
                for group in r {
                    for sub in group.map_err(bad)?.into_types() {
                        types.push(match &sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => Some(f.clone()),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(r) => {
                for imp in r.into_imports() {
                    let imp = imp.map_err(bad)?;
                    let (kind, signature) = match imp.ty {
                        TypeRef::Func(t) => {
                            funcs.push(Some(t as usize));
                            ("func", sig_of(&types, t as usize))
                        }
                        TypeRef::Memory(m) => {
                            let s = pages(&m);
                            memories.push(s.clone());
                            ("memory", s)
                        }
                        TypeRef::Table(t) => ("table", format!("{} {}", t.initial, t.element_type)),
                        TypeRef::Global(g) => {
                            let s = global(&g);
                            globals.push(s.clone());
                            ("global", s)
                        }
                        TypeRef::Tag(_) => ("tag", String::new()),
                        _ => ("other", String::new()),
                    };
                    imports.push(Item {
                        name: format!("{}::{}", imp.module, imp.name),
                        kind: kind.into(),
                        signature,
                    });
                }
            }
            Payload::FunctionSection(r) => {
                for t in r {
                    funcs.push(Some(t.map_err(bad)? as usize));
                }
            }
            Payload::MemorySection(r) => {
                for m in r {
                    memories.push(pages(&m.map_err(bad)?));
                }
            }
            Payload::GlobalSection(r) => {
                for g in r {
                    globals.push(global(&g.map_err(bad)?.ty));
                }
            }
            Payload::ExportSection(r) => {
                for e in r {
                    let e = e.map_err(bad)?;
                    export_refs.push((e.name.to_owned(), e.kind, e.index));
                }
            }
            _ => {}
        }
    }
    for (n, kind, index) in export_refs {
        let (k, signature) = match kind {
            ExternalKind::Func => (
                "func",
                funcs
                    .get(index as usize)
                    .copied()
                    .flatten()
                    .map_or(String::new(), |t| sig_of(&types, t)),
            ),
            ExternalKind::Memory => (
                "memory",
                memories.get(index as usize).cloned().unwrap_or_default(),
            ),
            ExternalKind::Table => ("table", String::new()),
            ExternalKind::Global => (
                "global",
                globals.get(index as usize).cloned().unwrap_or_default(),
            ),
            ExternalKind::Tag => ("tag", String::new()),
            _ => ("other", String::new()),
        };
        exports.push(Item {
            name: n,
            kind: k.into(),
            signature,
        });
    }
    let mut out = Inspection {
        path: name.to_owned(),
        kind: "core module".into(),
        size_bytes: bytes.len() as u64,
        imports,
        exports,
        abis: Vec::new(),
        needs: Vec::new(),
        run_with: None,
    };
    recognise_core(&mut out);
    Ok(out)
}

fn sig_of(types: &[Option<wasmparser::FuncType>], t: usize) -> String {
    types
        .get(t)
        .and_then(|f| f.as_ref())
        .map_or_else(|| format!("type {t}"), func_sig)
}

fn global(g: &wasmparser::GlobalType) -> String {
    format!(
        "{}{}",
        if g.mutable { "mut " } else { "" },
        val(&g.content_type)
    )
}

fn pages(m: &wasmparser::MemoryType) -> String {
    let unit = |n: u64| if n == 1 { "page" } else { "pages" };
    match m.maximum {
        Some(max) => format!("{} to {max} {}", m.initial, unit(max)),
        None => format!("{} {}", m.initial, unit(m.initial)),
    }
}

/// The calling conventions a core module shows, and what it needs.
fn recognise_core(out: &mut Inspection) {
    let export = |n: &str| out.exports.iter().find(|e| e.name == n);
    let has_import_module = |m: &str| {
        out.imports
            .iter()
            .filter(|i| {
                i.name
                    .split_once("::")
                    .is_some_and(|(module, _)| module == m)
            })
            .map(|i| i.name.clone())
            .collect::<Vec<_>>()
    };
    let mut abis = Vec::new();
    // wprof: memory, the two helpers, and (i32, i32) -> i64 functions.
    let abi_fns: Vec<String> = out
        .exports
        .iter()
        .filter(|e| e.kind == "func" && e.signature == "(i32, i32) -> i64")
        .filter(|e| !e.name.starts_with("wprof_"))
        .map(|e| e.name.clone())
        .collect();
    let wprof = export("memory").is_some_and(|m| m.kind == "memory")
        && export("wprof_alloc").is_some_and(|e| e.signature == "(i32) -> i32")
        && export("wprof_free").is_some_and(|e| e.signature == "(i32, i32)")
        && !abi_fns.is_empty();
    if wprof {
        abis.push(Abi {
            name: "wprof".into(),
            evidence: format!(
                "exports memory, wprof_alloc, wprof_free and {}",
                abi_fns.join(", ")
            ),
            supported: true,
        });
    }
    let user_fns = has_import_module("extism:host/user");
    let extism = [has_import_module("extism:host/env"), user_fns.clone()].concat();
    let calls: Vec<String> = out
        .exports
        .iter()
        .filter(|e| e.kind == "func" && e.signature == "() -> i32")
        .filter(|e| !crate::kind::START_UP_EXPORTS.contains(&e.name.as_str()))
        .map(|e| e.name.clone())
        .collect();
    let wasi = has_import_module("wasi_snapshot_preview1");
    if !extism.is_empty() {
        abis.push(Abi {
            name: "extism".into(),
            evidence: format!(
                "imports {} of Extism's host ABI{}; plugin functions (() -> i32): {}",
                extism.len(),
                if wasi.is_empty() {
                    String::new()
                } else {
                    format!(
                        " and {} WASI preview 1 functions (linked as Extism's `wasi: true` does)",
                        wasi.len()
                    )
                },
                if calls.is_empty() {
                    "none".into()
                } else {
                    calls.join(", ")
                }
            ),
            // wprof supplies extism:host/env; host functions of the
            // Extism application itself (extism:host/user) it cannot.
            supported: user_fns.is_empty(),
        });
    }
    if export("_start").is_some() {
        abis.push(Abi {
            name: "wasi-command".into(),
            evidence: format!(
                "exports _start{}",
                if wasi.is_empty() {
                    String::new()
                } else {
                    format!(", imports {} WASI preview 1 functions", wasi.len())
                }
            ),
            supported: true,
        });
    } else if export("_initialize").is_some() && !wasi.is_empty() {
        // An Extism plugin gets WASI from wprof's Extism host, as from
        // Extism's `wasi: true`; a bare reactor has no calling convention.
        let extism = !extism.is_empty();
        abis.push(Abi {
            name: "wasi-reactor".into(),
            evidence: format!(
                "exports _initialize, imports {} WASI preview 1 functions{}",
                wasi.len(),
                if extism {
                    ": linked for it as Extism's `wasi: true` does (--dir, --env, --arg, --stdin)"
                } else {
                    ""
                }
            ),
            supported: extism,
        });
    }
    let bench = has_import_module("bench");
    if bench.iter().any(|i| i == "bench::start") && bench.iter().any(|i| i == "bench::end") {
        abis.push(Abi {
            name: "sightglass-bench".into(),
            evidence: "imports bench::start and bench::end: the measured span lies between them"
                .into(),
            supported: true,
        });
    }
    // What a host must supply: every import, grouped by who would.
    let mut needs = Vec::new();
    for i in &out.imports {
        let module = i.name.split_once("::").map_or("", |(m, _)| m);
        let who = match module {
            "wasi_snapshot_preview1" => "WASI preview 1",
            "extism:host/env" => "the Extism host (wprof supplies it)",
            "extism:host/user" => "the Extism application (its own host functions)",
            "bench" => "the Sightglass bench protocol",
            "wprof_host" => "wprof's boundary scenarios",
            _ => "a host function of your own",
        };
        needs.push(format!("{} ({}) from {who}", i.name, i.signature));
    }
    if out.imports.iter().any(|i| i.name.ends_with("::path_open")) {
        needs.push("preopened directories: it opens files (path_open)".into());
    }
    // Only a module with nothing to supply runs as it is; a command gets
    // WASI and the bench protocol from `record command`.
    let command = abis.iter().any(|a| a.name == "wasi-command");
    let others = out
        .imports
        .iter()
        .any(|i| !i.name.starts_with("wasi_snapshot_preview1::") && !i.name.starts_with("bench::"));
    let extism_only = out
        .imports
        .iter()
        .any(|i| i.name.starts_with("extism:host/env::"))
        && out.imports.iter().all(|i| {
            i.name.starts_with("extism:host/env::")
                || i.name.starts_with("wasi_snapshot_preview1::")
        });
    out.run_with = if wprof && out.imports.is_empty() {
        Some(format!(
            "wprof record hot-path --plugin {} --export {} --input <input.json>",
            out.path, abi_fns[0]
        ))
    } else if extism_only && !calls.is_empty() {
        Some(format!(
            "wprof record hot-path --plugin {} --export {} --input <text> [--config KEY=VALUE]...{}",
            out.path,
            calls[0],
            if wasi.is_empty() {
                ""
            } else {
                " [--dir HOST::GUEST]... [--env NAME=VALUE]..."
            }
        ))
    } else if command && !others {
        Some(format!(
            "wprof record command --plugin {} [--arg ARG]... [--env NAME=VALUE]... [--stdin FILE] [--dir HOST::GUEST]...",
            out.path
        ))
    } else {
        None
    };
    out.abis = abis;
    out.needs = needs;
}

/// The inspection as text, for people.
pub fn render(i: &Inspection, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use crate::text::{Esc, esc};
    writeln!(out, "{}: {}, {} bytes", Esc(&i.path), i.kind, i.size_bytes)?;
    for (title, items) in [("imports", &i.imports), ("exports", &i.exports)] {
        writeln!(out, "{title} ({}):", items.len())?;
        let w = items
            .iter()
            .map(|x| esc(&x.name).chars().count())
            .max()
            .unwrap_or(0);
        for x in items.iter() {
            let line = format!(
                "  {:<w$}  {:<8}  {}",
                Esc(&x.name),
                x.kind,
                Esc(&x.signature)
            );
            writeln!(out, "{}", line.trim_end())?;
        }
    }
    writeln!(out, "recognised:")?;
    if i.abis.is_empty() {
        writeln!(out, "  none of wprof's known calling conventions")?;
    }
    for a in &i.abis {
        writeln!(
            out,
            "  {}{}: {}",
            a.name,
            if a.supported {
                ""
            } else {
                " (wprof cannot run this one)"
            },
            Esc(&a.evidence)
        )?;
    }
    writeln!(out, "needs:")?;
    if i.needs.is_empty() {
        writeln!(out, "  nothing: no imports")?;
    }
    for n in &i.needs {
        writeln!(out, "  {}", Esc(n))?;
    }
    if let Some(r) = &i.run_with {
        writeln!(out, "run it with:\n  {}", Esc(r))?;
    }
    Ok(())
}
