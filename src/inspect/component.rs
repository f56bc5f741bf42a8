//! `wprof inspect` of a component: its WIT imports and exports, whether it
//! is a `wasi:cli/run` command, and the command that runs it.

use super::{Abi, Inspection, Item};
use crate::error::Error;
use crate::phase::Phase;

pub(super) fn component(name: &str, bytes: &[u8]) -> Result<Inspection, Error> {
    use wasmtime::component::types::ComponentItem;
    let engine = wasmtime::Engine::default();
    let c = wasmtime::component::Component::from_binary(&engine, bytes)
        .map_err(|e| Error::plugin(name, Phase::Compile, crate::error::one_line(&e.into())))?;
    let ty = c.component_type();
    let item = |n: &str, it: ComponentItem| -> Item {
        let (kind, signature) = match it {
            ComponentItem::ComponentFunc(f) => ("func", wit_func(&f)),
            ComponentItem::CoreFunc(_) => ("core func", String::new()),
            ComponentItem::Module(_) => ("module", String::new()),
            ComponentItem::Component(_) => ("component", String::new()),
            ComponentItem::ComponentInstance(i) => (
                "instance",
                i.exports(&engine)
                    .map(|(n, _)| n.to_owned())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            ComponentItem::Type(t) => ("type", wit_type(&t)),
            ComponentItem::Resource(_) => ("resource", String::new()),
        };
        Item {
            name: n.to_owned(),
            kind: kind.into(),
            signature,
        }
    };
    let imports: Vec<Item> = ty.imports(&engine).map(|(n, it)| item(n, it.ty)).collect();
    let exports: Vec<Item> = ty.exports(&engine).map(|(n, it)| item(n, it.ty)).collect();
    let funcs: Vec<String> = exports
        .iter()
        .filter(|e| e.kind == "func")
        .map(|e| e.name.clone())
        .collect();
    let wasi: Vec<&Item> = imports
        .iter()
        .filter(|i| i.name.starts_with("wasi:"))
        .collect();
    let command = crate::kind::of(bytes) == crate::kind::ModuleKind::ComponentCommand;
    let mut needs: Vec<String> = imports
        .iter()
        .filter(|i| !i.name.starts_with("wasi:"))
        .map(|i| format!("{} ({}) from a host function of your own", i.name, i.kind))
        .collect();
    if !wasi.is_empty() {
        let names = wasi
            .iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        needs.insert(
            0,
            if command {
                format!(
                    "WASI 0.2: {names} (`wprof record command` supplies them: --dir, --env, --arg, --stdin)"
                )
            } else {
                format!(
                    "WASI 0.2: {names} (`wprof record component` defines them as traps: fine while nothing calls them)"
                )
            },
        );
    }
    let mut abis = Vec::new();
    if command {
        abis.push(Abi {
            name: "wasi-cli-command".into(),
            evidence: "exports wasi:cli/run: a WASI 0.2 command".into(),
            supported: needs.len() <= 1,
        });
    }
    if !funcs.is_empty() || !command {
        abis.push(Abi {
            name: "component".into(),
            evidence: format!(
                "a component; exported functions (its WIT world's top-level exports): {}",
                if funcs.is_empty() {
                    "none".into()
                } else {
                    funcs.join(", ")
                }
            ),
            // Nothing to call: nothing wprof can run.
            supported: !funcs.is_empty(),
        });
    }
    let run_with = if command {
        Some(format!(
            "wprof record command --plugin {name} [--arg ARG]... [--env NAME=VALUE]... [--stdin FILE] [--dir HOST::GUEST]..."
        ))
    } else {
        funcs
            .first()
            .map(|f| format!("wprof record component --plugin {name} --export {f} --args '[...]'"))
    };
    Ok(Inspection {
        path: name.to_owned(),
        kind: "component".into(),
        size_bytes: bytes.len() as u64,
        abis,
        run_with,
        imports,
        exports,
        needs,
    })
}

/// A component function's type, WIT-style.
pub fn wit_func(f: &wasmtime::component::types::ComponentFunc) -> String {
    let params: Vec<String> = f
        .params()
        .map(|(n, t)| format!("{n}: {}", wit_type(&t)))
        .collect();
    let results: Vec<String> = f.results().map(|t| wit_type(&t)).collect();
    match results.as_slice() {
        [] => format!("func({})", params.join(", ")),
        [one] => format!("func({}) -> {one}", params.join(", ")),
        many => format!("func({}) -> tuple<{}>", params.join(", "), many.join(", ")),
    }
}

/// A component value type, WIT-style (records spelled out).
pub fn wit_type(t: &wasmtime::component::types::Type) -> String {
    use wasmtime::component::types::Type as T;
    match t {
        T::Bool => "bool".into(),
        T::S8 => "s8".into(),
        T::U8 => "u8".into(),
        T::S16 => "s16".into(),
        T::U16 => "u16".into(),
        T::S32 => "s32".into(),
        T::U32 => "u32".into(),
        T::S64 => "s64".into(),
        T::U64 => "u64".into(),
        T::Float32 => "f32".into(),
        T::Float64 => "f64".into(),
        T::Char => "char".into(),
        T::String => "string".into(),
        T::List(l) => format!("list<{}>", wit_type(&l.ty())),
        T::Record(r) => format!(
            "record {{ {} }}",
            r.fields()
                .map(|f| format!("{}: {}", f.name, wit_type(&f.ty)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        T::Tuple(t) => format!(
            "tuple<{}>",
            t.types()
                .map(|t| wit_type(&t))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        T::Option(o) => format!("option<{}>", wit_type(&o.ty())),
        T::Result(r) => format!(
            "result<{}, {}>",
            r.ok().map_or("_".into(), |t| wit_type(&t)),
            r.err().map_or("_".into(), |t| wit_type(&t))
        ),
        T::Enum(e) => format!("enum {{ {} }}", e.names().collect::<Vec<_>>().join(", ")),
        T::Flags(f) => format!("flags {{ {} }}", f.names().collect::<Vec<_>>().join(", ")),
        T::Variant(v) => format!(
            "variant {{ {} }}",
            v.cases()
                .map(|c| match c.ty {
                    Some(t) => format!("{}({})", c.name, wit_type(&t)),
                    None => c.name.to_owned(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        T::Own(_) => "own<resource>".into(),
        T::Borrow(_) => "borrow<resource>".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}
