//! Finding a plugin's allocator: its exports, its imports from Extism's
//! kernel, the names in its name section, or the names the user gives.
//!
//! Every function found is hooked, the plugin's own allocator and the
//! calling convention's alike; the recorder counts only the outermost
//! allocator call on the stack, so `wprof_alloc` calling `__rust_alloc`
//! calling dlmalloc's `malloc` is one block, at `wprof_alloc`'s size.

use std::collections::BTreeMap;

use wasmparser::{CompositeInnerType, ExternalKind, Name, Parser, Payload, TypeRef, ValType};

/// What an allocator function does, and which parameters say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Returns a new block of `size` bytes (times `count` where given,
    /// as C's `calloc`).
    Alloc {
        /// The size parameter.
        size: u32,
        /// A count parameter to multiply by.
        count: Option<u32>,
    },
    /// Frees the block at `ptr`.
    Free {
        /// The pointer parameter.
        ptr: u32,
    },
    /// Moves the block at `ptr` to a new one of `size` bytes.
    Realloc {
        /// The pointer parameter.
        ptr: u32,
        /// The new size parameter.
        size: u32,
    },
}

impl Role {
    /// The role's word, for the report.
    pub fn word(self) -> &'static str {
        match self {
            Role::Alloc { .. } => "alloc",
            Role::Free { .. } => "free",
            Role::Realloc { .. } => "realloc",
        }
    }

    /// The two parameters the entry hook is given (`a`, `b`).
    pub fn args(self) -> (Option<u32>, Option<u32>) {
        match self {
            Role::Alloc { size, count } => (Some(size), count),
            Role::Free { ptr } => (Some(ptr), None),
            Role::Realloc { ptr, size } => (Some(ptr), Some(size)),
        }
    }
}

/// Which address space a function's blocks live in: linear memory, or
/// Extism's kernel memory (offsets that may coincide with linear ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Space {
    /// The plugin's linear memory.
    Linear,
    /// Extism's kernel memory.
    Kernel,
}

/// An allocator function to hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Its index in the module's function index space.
    pub func: u32,
    /// Its name, demangled.
    pub name: String,
    /// What it does.
    pub role: Role,
    /// How it was found.
    pub found_by: &'static str,
    /// Whether it is the calling convention's allocator only.
    pub boundary: bool,
    /// Where its blocks live.
    pub space: Space,
}

/// A `--guest-alloc NAME,free=NAME,realloc=NAME` option: functions with
/// C's signatures (`malloc(size)`, `free(ptr)`, `realloc(ptr, size)`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Given {
    /// The allocation function.
    pub alloc: String,
    /// The free function, if any.
    pub free: Option<String>,
    /// The reallocation function, if any.
    pub realloc: Option<String>,
}

impl Given {
    /// Parses `NAME,free=NAME,realloc=NAME` (only the first is required).
    pub fn parse(s: &str) -> Result<Given, String> {
        let mut parts = s.split(',').map(str::trim);
        let alloc = parts.next().filter(|a| !a.is_empty() && !a.contains('='));
        let mut given = Given {
            alloc: alloc
                .ok_or("expected NAME,free=NAME,realloc=NAME (the allocation function first)")?
                .to_owned(),
            ..Given::default()
        };
        for p in parts {
            match p.split_once('=') {
                Some(("free", n)) if !n.is_empty() => given.free = Some(n.to_owned()),
                Some(("realloc", n)) if !n.is_empty() => given.realloc = Some(n.to_owned()),
                _ => {
                    return Err(format!(
                        "unknown part `{p}` (expected free=NAME or realloc=NAME)"
                    ));
                }
            }
        }
        Ok(given)
    }
}

/// A module's functions: each one's type, its names, and its exports.
#[derive(Debug, Default)]
pub struct Functions {
    /// Each function's (params, results), by index.
    pub types: Vec<(Vec<ValType>, Vec<ValType>)>,
    /// Functions imported (the first indices).
    pub imported: u32,
    /// Imported functions' (module, name), by index.
    pub imports: BTreeMap<u32, (String, String)>,
    /// Name-section names, demangled, by index.
    pub names: BTreeMap<u32, String>,
    /// Exported functions by export name.
    pub exports: BTreeMap<String, u32>,
}

impl Functions {
    /// Reads them from `bytes`.
    pub fn read(bytes: &[u8]) -> anyhow::Result<Functions> {
        let mut f = Functions::default();
        let mut sigs: Vec<Option<(Vec<ValType>, Vec<ValType>)>> = Vec::new();
        for payload in Parser::new(0).parse_all(bytes) {
            match payload? {
                Payload::TypeSection(r) => {
                    for group in r {
                        for sub in group?.into_types() {
                            sigs.push(match &sub.composite_type.inner {
                                CompositeInnerType::Func(t) => {
                                    Some((t.params().to_vec(), t.results().to_vec()))
                                }
                                _ => None,
                            });
                        }
                    }
                }
                Payload::ImportSection(r) => {
                    for imp in r.into_imports() {
                        let imp = imp?;
                        if let TypeRef::Func(t) = imp.ty {
                            let sig = sigs.get(t as usize).cloned().flatten();
                            f.imports
                                .insert(f.imported, (imp.module.to_owned(), imp.name.to_owned()));
                            f.types.push(sig.unwrap_or_default());
                            f.imported += 1;
                        }
                    }
                }
                Payload::FunctionSection(r) => {
                    for t in r {
                        let sig = sigs.get(t? as usize).cloned().flatten();
                        f.types.push(sig.unwrap_or_default());
                    }
                }
                Payload::ExportSection(r) => {
                    for e in r {
                        let e = e?;
                        if e.kind == ExternalKind::Func {
                            f.exports.insert(e.name.to_owned(), e.index);
                        }
                    }
                }
                Payload::CustomSection(c) if c.name() == "name" => {
                    let reader = wasmparser::NameSectionReader::new(wasmparser::BinaryReader::new(
                        c.data(),
                        c.data_offset(),
                    ));
                    for name in reader.into_iter().flatten() {
                        if let Name::Function(map) = name {
                            for n in map.into_iter().flatten() {
                                let shown = format!("{:#}", rustc_demangle::demangle(n.name));
                                f.names.insert(n.index, shown);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(f)
    }

    /// Function `i`'s name for a stack: its name-section name, else its
    /// export or import name, else `wasm-function[i]`.
    pub fn name(&self, i: u32) -> String {
        if let Some(n) = self.names.get(&i) {
            return n.clone();
        }
        if let Some((e, _)) = self.exports.iter().find(|(_, x)| **x == i) {
            return e.clone();
        }
        if let Some((m, n)) = self.imports.get(&i) {
            return format!("{m}::{n}");
        }
        format!("wasm-function[{i}]")
    }

    fn params(&self, i: u32) -> usize {
        self.types.get(i as usize).map_or(0, |t| t.0.len())
    }

    fn results(&self, i: u32) -> usize {
        self.types.get(i as usize).map_or(0, |t| t.1.len())
    }

    /// The function called `name`: an export first, else a name-section
    /// name (demangled, or its last path segment).
    fn by_name(&self, name: &str) -> Option<(u32, &'static str)> {
        if let Some(&i) = self.exports.get(name) {
            return Some((i, "export"));
        }
        self.names
            .iter()
            .find(|(_, n)| *n == name || last_segment(n) == name)
            .map(|(&i, _)| (i, "name section"))
    }
}

/// `a::b::c` → `c`; `<X as Y>::c` → `c`.
fn last_segment(name: &str) -> &str {
    name.rsplit("::").next().unwrap_or(name)
}

/// The role a C-style function of this name plays, with `params`
/// parameters (its last ones are the size or pointer).
fn c_role(name: &str, params: usize, results: usize) -> Option<Role> {
    let last = params.checked_sub(1)? as u32;
    let role = match name {
        "malloc" | "dlmalloc" | "__libc_malloc" => Role::Alloc {
            size: last,
            count: None,
        },
        "calloc" | "dlcalloc" if params == 2 => Role::Alloc {
            size: 1,
            count: Some(0),
        },
        "free" | "dlfree" | "__libc_free" => Role::Free { ptr: last },
        "realloc" | "dlrealloc" if params >= 2 => Role::Realloc {
            ptr: last - 1,
            size: last,
        },
        _ => return None,
    };
    let returns = matches!(role, Role::Alloc { .. } | Role::Realloc { .. });
    (results == usize::from(returns) || !returns && results == 0).then_some(role)
}

/// The role of a Rust allocator shim or dlmalloc method, by its demangled
/// name, checked against its parameter count (LLVM may drop an unused
/// `self`, so dlmalloc's methods count from their last parameters).
fn rust_role(name: &str, params: usize, results: usize) -> Option<Role> {
    let last = last_segment(name);
    let dl = name.contains("dlmalloc::Dlmalloc") || name.contains("dlmalloc::dlmalloc");
    let role = match last {
        "__rust_alloc" | "__rust_alloc_zeroed" if params == 2 => Role::Alloc {
            size: 0,
            count: None,
        },
        "__rust_dealloc" if params >= 1 => Role::Free { ptr: 0 },
        "__rust_realloc" if params == 4 => Role::Realloc { ptr: 0, size: 3 },
        "malloc" | "memalign" | "calloc" if dl && params >= 1 => Role::Alloc {
            size: params as u32 - 1,
            count: None,
        },
        "free" if dl && params >= 1 => Role::Free {
            ptr: params as u32 - 1,
        },
        "realloc" if dl && params >= 2 => Role::Realloc {
            ptr: params as u32 - 2,
            size: params as u32 - 1,
        },
        _ => return None,
    };
    let returns = !matches!(role, Role::Free { .. });
    (results == usize::from(returns)).then_some(role)
}

/// Every allocator function in `f`, or those `given` names. An error names
/// a given function that is missing or has the wrong shape.
pub fn find(f: &Functions, given: Option<&Given>) -> Result<Vec<Site>, String> {
    if let Some(g) = given {
        return find_given(f, g);
    }
    let mut sites: Vec<Site> = Vec::new();
    let mut add = |func: u32, role: Role, found_by: &'static str, boundary: bool, space| {
        if !sites.iter().any(|s| s.func == func) {
            sites.push(Site {
                func,
                name: f.name(func),
                role,
                found_by,
                boundary,
                space,
            });
        }
    };
    // The calling conventions' allocators.
    let abi = crate::driver::wprof::ALLOC_EXPORT;
    if let Some(&i) = f
        .exports
        .get(abi)
        .filter(|&&i| f.params(i) == 1 && f.results(i) == 1)
    {
        let role = Role::Alloc {
            size: 0,
            count: None,
        };
        add(i, role, "export", true, Space::Linear);
    }
    let free = crate::driver::wprof::FREE_EXPORT;
    if let Some(&i) = f.exports.get(free).filter(|&&i| f.params(i) >= 1) {
        add(i, Role::Free { ptr: 0 }, "export", true, Space::Linear);
    }
    for (&i, (m, n)) in &f.imports {
        if m != "extism:host/env" {
            continue;
        }
        match n.as_str() {
            "alloc" if f.params(i) == 1 && f.results(i) == 1 => {
                let role = Role::Alloc {
                    size: 0,
                    count: None,
                };
                add(i, role, "import", true, Space::Kernel);
            }
            "free" if f.params(i) == 1 => {
                add(i, Role::Free { ptr: 0 }, "import", true, Space::Kernel)
            }
            _ => {}
        }
    }
    // The plugin's own: exported C functions, then the name section.
    for (e, &i) in &f.exports {
        if let Some(role) = c_role(e, f.params(i), f.results(i)) {
            add(i, role, "export", false, Space::Linear);
        }
        // Extism's kernel exports its allocator as `alloc`/`free` (i64).
        match e.as_str() {
            "alloc" if f.params(i) == 1 && f.results(i) == 1 => {
                let role = Role::Alloc {
                    size: 0,
                    count: None,
                };
                add(i, role, "export", false, Space::Linear);
            }
            "free" if f.params(i) == 1 => {
                add(i, Role::Free { ptr: 0 }, "export", false, Space::Linear)
            }
            _ => {}
        }
    }
    for (&i, n) in &f.names {
        let (p, r) = (f.params(i), f.results(i));
        if let Some(role) = rust_role(n, p, r).or_else(|| c_role(n, p, r)) {
            add(i, role, "name section", false, Space::Linear);
        }
    }
    Ok(sites)
}

fn find_given(f: &Functions, g: &Given) -> Result<Vec<Site>, String> {
    let mut sites = Vec::new();
    let wanted = [
        (Some(&g.alloc), "malloc"),
        (g.free.as_ref(), "free"),
        (g.realloc.as_ref(), "realloc"),
    ];
    for (name, as_c) in wanted {
        let Some(name) = name else { continue };
        let (i, _) = f
            .by_name(name)
            .ok_or_else(|| format!("--guest-alloc: no function `{name}` among the module's exports or name-section names"))?;
        let role = c_role(as_c, f.params(i), f.results(i)).ok_or_else(|| {
            format!(
                "--guest-alloc: `{name}` takes {} parameters and returns {} values, not {as_c}'s signature",
                f.params(i),
                f.results(i)
            )
        })?;
        sites.push(Site {
            func: i,
            name: f.name(i),
            role,
            found_by: "--guest-alloc",
            boundary: false,
            space: Space::Linear,
        });
    }
    Ok(sites)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_parses_and_refuses_what_it_does_not_know() {
        let g = Given::parse("my_alloc,free=my_free,realloc=my_realloc").unwrap();
        assert_eq!(g.alloc, "my_alloc");
        assert_eq!(g.free.as_deref(), Some("my_free"));
        assert_eq!(g.realloc.as_deref(), Some("my_realloc"));
        assert!(Given::parse("free=x").is_err());
        assert!(Given::parse("a,size=3").is_err());
    }

    #[test]
    fn rust_shims_and_dlmalloc_count_from_their_last_parameters() {
        let r = rust_role("__rustc::__rust_realloc", 4, 1);
        assert_eq!(r, Some(Role::Realloc { ptr: 0, size: 3 }));
        let dl = "<dlmalloc::dlmalloc::Dlmalloc<dlmalloc::sys::System>>::malloc";
        assert_eq!(
            rust_role(dl, 2, 1),
            Some(Role::Alloc {
                size: 1,
                count: None
            })
        );
        assert_eq!(
            rust_role(dl, 1, 1),
            Some(Role::Alloc {
                size: 0,
                count: None
            })
        );
        assert_eq!(rust_role("my::malloc", 1, 1), None, "not dlmalloc's");
        assert_eq!(c_role("free", 1, 0), Some(Role::Free { ptr: 0 }));
        assert_eq!(c_role("malloc", 1, 0), None, "malloc returns a pointer");
    }
}
