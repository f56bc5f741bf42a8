//! The instrumented copy of a module: each allocator function behind a
//! wrapper that calls the host on entry and exit, and each `memory.grow`
//! behind one that reports the growth, so the host sees every block and
//! captures the wasm stack at each.
//!
//! Three host functions are imported (module [`HOOKS`]): `enter(site, a,
//! b)`, `exit(site, result)` and `grow(memory, delta, old_pages)`. Every
//! reference to a hooked function (calls, exports, tables, `ref.func`)
//! is pointed at its wrapper, which calls the original. The name section
//! and debug sections are dropped: their indices would be stale, and the
//! recorder names frames from the original module's names
//! ([`Layout::original`]).

use std::collections::HashMap;

use wasm_encoder::reencode::{Error as ReError, Reencode, utils};
use wasm_encoder::{
    CodeSection, Encode, EntityType, Function, FunctionSection, ImportSection, Instruction, Module,
    SectionId, TypeSection, ValType,
};
use wasmparser::{Operator, Parser, Payload, TypeRef};

use super::find::{Functions, Site};

/// The import module of the hooks.
pub const HOOKS: &str = "wprof:heap";
/// Function imports the rewrite adds (enter, exit, grow).
const ADDED_IMPORTS: u32 = 3;

/// Where functions went in the rewritten module.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Functions imported by the original module.
    pub imported: u32,
    /// Functions defined by the original module.
    pub defined: u32,
    /// Sites wrapped (wrapper `k` is site `k`'s).
    pub sites: u32,
}

impl Layout {
    /// The original index of function `i` of the rewritten module; `None`
    /// for the hooks and the wrappers, which are wprof's.
    pub fn original(&self, i: u32) -> Option<u32> {
        if i < self.imported {
            Some(i)
        } else if i < self.imported + ADDED_IMPORTS {
            None
        } else if i < self.imported + ADDED_IMPORTS + self.defined {
            Some(i - ADDED_IMPORTS)
        } else {
            None
        }
    }

    fn shift(&self, f: u32) -> u32 {
        if f < self.imported {
            f
        } else {
            f + ADDED_IMPORTS
        }
    }
}

/// The reencoder: moves function indices past the added imports, points
/// hooked functions at their wrappers, and turns `memory.grow` into a call.
struct Shift {
    layout: Layout,
    wrapper: HashMap<u32, u32>,
    grow: Vec<u32>,
}

impl Reencode for Shift {
    type Error = String;

    fn function_index(&mut self, func: u32) -> Result<u32, ReError<String>> {
        Ok(match self.wrapper.get(&func) {
            Some(&w) => w,
            None => self.layout.shift(func),
        })
    }

    fn instruction<'a>(&mut self, op: Operator<'a>) -> Result<Instruction<'a>, ReError<String>> {
        match op {
            Operator::MemoryGrow { mem } => match self.grow.get(mem as usize) {
                Some(&g) => Ok(Instruction::Call(g)),
                None => Err(ReError::UserError(format!(
                    "memory.grow of memory {mem}, which the module does not have"
                ))),
            },
            other => utils::instruction(self, other),
        }
    }
}

/// Section order in a module (custom sections aside).
fn rank(id: SectionId) -> u8 {
    match id {
        SectionId::Type => 1,
        SectionId::Import => 2,
        SectionId::Function => 3,
        SectionId::Table => 4,
        SectionId::Memory => 5,
        SectionId::Tag => 6,
        SectionId::Global => 7,
        SectionId::Export => 8,
        SectionId::Start => 9,
        SectionId::Element => 10,
        SectionId::DataCount => 11,
        SectionId::Code => 12,
        SectionId::Data => 13,
        _ => 0,
    }
}

/// What the first reading of the module gives: type count, each
/// function's type index, and each memory's index type.
struct Shape {
    types: u32,
    func_types: Vec<u32>,
    memory64: Vec<bool>,
}

fn shape(bytes: &[u8]) -> anyhow::Result<Shape> {
    let mut s = Shape {
        types: 0,
        func_types: Vec::new(),
        memory64: Vec::new(),
    };
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::TypeSection(r) => {
                for g in r {
                    s.types += g?.types().len() as u32;
                }
            }
            Payload::ImportSection(r) => {
                for imp in r.into_imports() {
                    match imp?.ty {
                        TypeRef::Func(t) => s.func_types.push(t),
                        TypeRef::Memory(m) => s.memory64.push(m.memory64),
                        _ => {}
                    }
                }
            }
            Payload::FunctionSection(r) => {
                for t in r {
                    s.func_types.push(t?);
                }
            }
            Payload::MemorySection(r) => {
                for m in r {
                    s.memory64.push(m?.memory64);
                }
            }
            _ => {}
        }
    }
    Ok(s)
}

/// `bytes` with `sites` wrapped and `memory.grow` reported, and where its
/// functions went.
pub fn rewrite(bytes: &[u8], f: &Functions, sites: &[Site]) -> anyhow::Result<(Vec<u8>, Layout)> {
    let shape = shape(bytes)?;
    let layout = Layout {
        imported: f.imported,
        defined: shape.func_types.len() as u32 - f.imported,
        sites: sites.len() as u32,
    };
    let first_wrapper = layout.imported + ADDED_IMPORTS + layout.defined;
    let wrapper: HashMap<u32, u32> = sites
        .iter()
        .enumerate()
        .map(|(k, s)| (s.func, first_wrapper + k as u32))
        .collect();
    let grow: Vec<u32> = (0..shape.memory64.len() as u32)
        .map(|m| first_wrapper + layout.sites + m)
        .collect();
    // The hooks' types and the grow wrappers', after the module's own.
    let t = shape.types;
    let (enter_ty, exit_ty, grow32_ty, grow64_ty) = (t, t + 1, t + 2, t + 3);
    let (enter, exit, grow_hook) = (layout.imported, layout.imported + 1, layout.imported + 2);
    let mut re = Shift {
        layout: layout.clone(),
        wrapper,
        grow,
    };
    let err = |e: ReError<String>| anyhow::anyhow!("cannot rewrite the module: {e:?}");

    // Sections by their place in the module, each encoded with its size;
    // the four the rewrite adds to are kept open until the end.
    let mut sections: Vec<(u8, u8, Vec<u8>)> = Vec::new();
    let mut put = |id: SectionId, s: &dyn Encode| {
        let mut v = Vec::new();
        s.encode(&mut v);
        sections.push((rank(id), id as u8, v));
    };
    // A section the rewrite re-encodes as it is (its indices moved).
    macro_rules! kept {
        ($r:expr, $section:ident, $parse:ident, $id:ident) => {{
            let mut s = wasm_encoder::$section::new();
            re.$parse(&mut s, $r).map_err(err)?;
            put(SectionId::$id, &s);
        }};
    }
    let mut types = TypeSection::new();
    let mut imports = ImportSection::new();
    let mut funcs = FunctionSection::new();
    let mut code = CodeSection::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::TypeSection(r) => re.parse_type_section(&mut types, r).map_err(err)?,
            Payload::ImportSection(r) => re.parse_import_section(&mut imports, r).map_err(err)?,
            Payload::FunctionSection(r) => re.parse_function_section(&mut funcs, r).map_err(err)?,
            Payload::TableSection(r) => kept!(r, TableSection, parse_table_section, Table),
            Payload::MemorySection(r) => kept!(r, MemorySection, parse_memory_section, Memory),
            Payload::TagSection(r) => kept!(r, TagSection, parse_tag_section, Tag),
            Payload::GlobalSection(r) => kept!(r, GlobalSection, parse_global_section, Global),
            Payload::ExportSection(r) => kept!(r, ExportSection, parse_export_section, Export),
            Payload::StartSection { func, .. } => {
                let function_index = re.start_section(func).map_err(err)?;
                put(
                    SectionId::Start,
                    &wasm_encoder::StartSection { function_index },
                );
            }
            Payload::ElementSection(r) => kept!(r, ElementSection, parse_element_section, Element),
            Payload::DataCountSection { count, .. } => {
                put(
                    SectionId::DataCount,
                    &wasm_encoder::DataCountSection { count },
                );
            }
            Payload::CodeSectionEntry(body) => {
                re.parse_function_body(&mut code, body).map_err(err)?
            }
            Payload::DataSection(r) => kept!(r, DataSection, parse_data_section, Data),
            // Names and debug info would point at moved indices and
            // offsets; the recorder names frames from the original.
            Payload::CustomSection(_)
            | Payload::CodeSectionStart { .. }
            | Payload::Version { .. }
            | Payload::End(_) => {}
            other => {
                if let Some((id, _)) = other.as_section() {
                    anyhow::bail!("cannot rewrite the module: section {id} is not one wprof knows");
                }
            }
        }
    }
    types
        .ty()
        .function([ValType::I32, ValType::I64, ValType::I64], []);
    types.ty().function([ValType::I32, ValType::I64], []);
    types.ty().function([ValType::I32], [ValType::I32]);
    types.ty().function([ValType::I64], [ValType::I64]);
    imports.import(HOOKS, "enter", EntityType::Function(enter_ty));
    imports.import(HOOKS, "exit", EntityType::Function(exit_ty));
    imports.import(HOOKS, "grow", EntityType::Function(enter_ty));
    for (k, s) in sites.iter().enumerate() {
        funcs.function(shape.func_types[s.func as usize]);
        let (params, results) = &f.types[s.func as usize];
        let original = layout.shift(s.func);
        code.function(&wrapper_body(
            k as u32,
            s,
            params,
            results,
            (enter, exit),
            original,
        ));
    }
    for (m, &m64) in shape.memory64.iter().enumerate() {
        funcs.function(if m64 { grow64_ty } else { grow32_ty });
        code.function(&grow_body(m as u32, m64, grow_hook));
    }
    put(SectionId::Type, &types);
    put(SectionId::Import, &imports);
    put(SectionId::Function, &funcs);
    put(SectionId::Code, &code);
    // Stable: sections of one kind (none repeat in a core module) keep order.
    sections.sort_by_key(|(r, _, _)| *r);
    let mut out = Module::new().finish();
    for (_, id, data) in sections {
        out.push(id);
        out.extend_from_slice(&data);
    }
    Ok((out, layout))
}

/// `local.get i` widened to i64 (an i32 pointer or size zero-extended).
fn widened(f: &mut Function, params: &[wasmparser::ValType], i: Option<u32>) {
    match i.and_then(|i| Some((i, params.get(i as usize)?))) {
        Some((i, wasmparser::ValType::I32)) => {
            f.instruction(&Instruction::LocalGet(i));
            f.instruction(&Instruction::I64ExtendI32U);
        }
        Some((i, wasmparser::ValType::I64)) => {
            f.instruction(&Instruction::LocalGet(i));
        }
        _ => {
            f.instruction(&Instruction::I64Const(0));
        }
    }
}

/// Site `k`'s wrapper: `enter(k, a, b)`, the original call, `exit(k,
/// result)`, the result returned.
fn wrapper_body(
    k: u32,
    site: &Site,
    params: &[wasmparser::ValType],
    results: &[wasmparser::ValType],
    (enter, exit): (u32, u32),
    original: u32,
) -> Function {
    let result = results.first().map(|&t| match t {
        wasmparser::ValType::I64 => ValType::I64,
        wasmparser::ValType::F32 => ValType::F32,
        wasmparser::ValType::F64 => ValType::F64,
        _ => ValType::I32,
    });
    let mut f = Function::new(result.map(|t| (1, t)));
    let (a, b) = site.role.args();
    f.instruction(&Instruction::I32Const(k as i32));
    widened(&mut f, params, a);
    widened(&mut f, params, b);
    f.instruction(&Instruction::Call(enter));
    for i in 0..params.len() as u32 {
        f.instruction(&Instruction::LocalGet(i));
    }
    f.instruction(&Instruction::Call(original));
    let r = params.len() as u32;
    if result.is_some() {
        f.instruction(&Instruction::LocalSet(r));
    }
    f.instruction(&Instruction::I32Const(k as i32));
    match result {
        Some(ValType::I32) => {
            f.instruction(&Instruction::LocalGet(r));
            f.instruction(&Instruction::I64ExtendI32U);
        }
        Some(ValType::I64) => {
            f.instruction(&Instruction::LocalGet(r));
        }
        _ => {
            f.instruction(&Instruction::I64Const(0));
        }
    }
    f.instruction(&Instruction::Call(exit));
    if result.is_some() {
        f.instruction(&Instruction::LocalGet(r));
    }
    f.instruction(&Instruction::End);
    f
}

/// Memory `m`'s grow wrapper: the grow, then `grow(m, delta, old)` (old is
/// -1 where the grow failed), the old size returned.
fn grow_body(m: u32, memory64: bool, hook: u32) -> Function {
    let ty = if memory64 { ValType::I64 } else { ValType::I32 };
    let mut f = Function::new([(1, ty)]);
    f.instruction(&Instruction::LocalGet(0));
    f.instruction(&Instruction::MemoryGrow(m));
    f.instruction(&Instruction::LocalSet(1));
    f.instruction(&Instruction::I32Const(m as i32));
    f.instruction(&Instruction::LocalGet(0));
    if !memory64 {
        f.instruction(&Instruction::I64ExtendI32U);
    }
    f.instruction(&Instruction::LocalGet(1));
    if !memory64 {
        f.instruction(&Instruction::I64ExtendI32S);
    }
    f.instruction(&Instruction::Call(hook));
    f.instruction(&Instruction::LocalGet(1));
    f.instruction(&Instruction::End);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest_heap::find::{Functions, find};

    /// Every bundled core module, WasmGC and Extism plugins included,
    /// rewritten with every allocator function found, still validates.
    #[test]
    fn every_bundled_module_rewritten_still_validates() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let folder = entry.unwrap().path();
            if !folder.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&folder).unwrap() {
                let path = file.unwrap().path();
                let bytes = match path.extension().and_then(|e| e.to_str()) {
                    Some("wasm") => std::fs::read(&path).unwrap(),
                    Some("wat") => wat::parse_file(&path).unwrap(),
                    _ => continue,
                };
                if Parser::is_component(&bytes) {
                    continue;
                }
                let f = Functions::read(&bytes).unwrap();
                let sites = find(&f, None).unwrap();
                let (out, layout) = rewrite(&bytes, &f, &sites).unwrap();
                wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
                    .validate_all(&out)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert_eq!(layout.sites as usize, sites.len());
                checked += 1;
            }
        }
        assert!(checked >= 10, "only {checked} modules");
    }
}
