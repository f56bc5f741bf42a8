//! JSON to WIT values and back, by a component function's own types:
//! records as objects, lists and tuples as arrays, options as null or a
//! value, results as `{"ok": v}` or `{"err": v}`, enums as strings,
//! variants as `{"case": v}` or `"case"`, flags as arrays of names.

use serde_json::{Value as Json, json};
use wasmtime::component::Val;
use wasmtime::component::types::{ComponentFunc, Type};

/// A JSON value as the WIT value of type `ty`; `path` names it in errors.
pub fn to_val(v: &Json, ty: &Type, path: &str) -> Result<Val, String> {
    let bad = || format!("{path}: expected {}, got {v}", describe(ty));
    let int = |lo: i128, hi: i128| -> Result<i128, String> {
        let n = v
            .as_i64()
            .map(i128::from)
            .or(v.as_u64().map(i128::from))
            .ok_or_else(bad)?;
        if (lo..=hi).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        }
    };
    Ok(match ty {
        Type::Bool => Val::Bool(v.as_bool().ok_or_else(bad)?),
        Type::S8 => Val::S8(int(i8::MIN.into(), i8::MAX.into())? as i8),
        Type::U8 => Val::U8(int(0, u8::MAX.into())? as u8),
        Type::S16 => Val::S16(int(i16::MIN.into(), i16::MAX.into())? as i16),
        Type::U16 => Val::U16(int(0, u16::MAX.into())? as u16),
        Type::S32 => Val::S32(int(i32::MIN.into(), i32::MAX.into())? as i32),
        Type::U32 => Val::U32(int(0, u32::MAX.into())? as u32),
        Type::S64 => Val::S64(int(i64::MIN.into(), i64::MAX.into())? as i64),
        Type::U64 => Val::U64(int(0, u64::MAX.into())? as u64),
        Type::Float32 => Val::Float32(v.as_f64().ok_or_else(bad)? as f32),
        Type::Float64 => Val::Float64(v.as_f64().ok_or_else(bad)?),
        Type::Char => {
            let s = v.as_str().ok_or_else(bad)?;
            let mut cs = s.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) => Val::Char(c),
                _ => return Err(bad()),
            }
        }
        Type::String => Val::String(v.as_str().ok_or_else(bad)?.to_owned()),
        Type::List(l) => Val::List(
            v.as_array()
                .ok_or_else(bad)?
                .iter()
                .enumerate()
                .map(|(i, x)| to_val(x, &l.ty(), &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Type::Record(r) => {
            let obj = v.as_object().ok_or_else(bad)?;
            if let Some(extra) = obj
                .keys()
                .find(|k| r.fields().all(|f| f.name != k.as_str()))
            {
                return Err(format!("{path}: no field `{extra}` in {}", describe(ty)));
            }
            Val::Record(
                r.fields()
                    .map(|f| {
                        let x = obj.get(f.name).ok_or_else(|| {
                            format!("{path}: missing field `{}` of {}", f.name, describe(ty))
                        })?;
                        Ok((
                            f.name.to_owned(),
                            to_val(x, &f.ty, &format!("{path}.{}", f.name))?,
                        ))
                    })
                    .collect::<Result<_, String>>()?,
            )
        }
        Type::Tuple(t) => {
            let a = v.as_array().ok_or_else(bad)?;
            let types: Vec<Type> = t.types().collect();
            if a.len() != types.len() {
                return Err(bad());
            }
            Val::Tuple(
                a.iter()
                    .zip(&types)
                    .enumerate()
                    .map(|(i, (x, t))| to_val(x, t, &format!("{path}.{i}")))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Option(o) => Val::Option(match v {
            Json::Null => None,
            x => Some(Box::new(to_val(x, &o.ty(), path)?)),
        }),
        Type::Result(r) => {
            let obj = v.as_object().filter(|o| o.len() == 1).ok_or_else(bad)?;
            let (k, x) = obj.iter().next().ok_or_else(bad)?;
            let inner = |t: Option<Type>| -> Result<Option<Box<Val>>, String> {
                match t {
                    Some(t) => Ok(Some(Box::new(to_val(x, &t, &format!("{path}.{k}"))?))),
                    None => Ok(None),
                }
            };
            match k.as_str() {
                "ok" => Val::Result(Ok(inner(r.ok())?)),
                "err" => Val::Result(Err(inner(r.err())?)),
                _ => return Err(bad()),
            }
        }
        Type::Enum(e) => {
            let s = v.as_str().ok_or_else(bad)?;
            if !e.names().any(|n| n == s) {
                return Err(bad());
            }
            Val::Enum(s.to_owned())
        }
        Type::Variant(var) => {
            let (name, payload) = match v {
                Json::String(s) => (s.clone(), None),
                Json::Object(o) if o.len() == 1 => {
                    let (k, x) = o.iter().next().ok_or_else(bad)?;
                    (k.clone(), Some(x))
                }
                _ => return Err(bad()),
            };
            let case = var.cases().find(|c| c.name == name).ok_or_else(bad)?;
            let payload = match (case.ty, payload) {
                (Some(t), Some(x)) => Some(Box::new(to_val(x, &t, &format!("{path}.{name}"))?)),
                (None, None) => None,
                _ => return Err(bad()),
            };
            Val::Variant(name, payload)
        }
        Type::Flags(f) => {
            let names: Vec<String> = v
                .as_array()
                .ok_or_else(bad)?
                .iter()
                .map(|x| x.as_str().map(str::to_owned).ok_or_else(bad))
                .collect::<Result<_, _>>()?;
            if let Some(n) = names.iter().find(|n| !f.names().any(|m| m == n.as_str())) {
                return Err(format!("{path}: no flag `{n}` in {}", describe(ty)));
            }
            Val::Flags(names)
        }
        _ => return Err(format!("{path}: {} cannot be given as JSON", describe(ty))),
    })
}

/// A WIT value as JSON, the inverse of [`to_val`].
pub fn to_json(v: &Val) -> Json {
    match v {
        Val::Bool(b) => json!(b),
        Val::S8(n) => json!(n),
        Val::U8(n) => json!(n),
        Val::S16(n) => json!(n),
        Val::U16(n) => json!(n),
        Val::S32(n) => json!(n),
        Val::U32(n) => json!(n),
        Val::S64(n) => json!(n),
        Val::U64(n) => json!(n),
        Val::Float32(n) => json!(n),
        Val::Float64(n) => json!(n),
        Val::Char(c) => json!(c.to_string()),
        Val::String(s) => json!(s),
        Val::List(xs) | Val::Tuple(xs) | Val::FixedLengthList(xs) => {
            Json::Array(xs.iter().map(to_json).collect())
        }
        Val::Record(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, x)| (k.clone(), to_json(x)))
                .collect(),
        ),
        Val::Option(o) => o.as_deref().map_or(Json::Null, to_json),
        Val::Result(r) => match r {
            Ok(x) => json!({"ok": x.as_deref().map_or(Json::Null, to_json)}),
            Err(x) => json!({"err": x.as_deref().map_or(Json::Null, to_json)}),
        },
        Val::Enum(s) => json!(s),
        Val::Variant(name, payload) => match payload {
            Some(x) => json!({ name.clone(): to_json(x) }),
            None => json!(name),
        },
        Val::Flags(names) => json!(names),
        other => json!(format!("{other:?}")),
    }
}

pub(super) fn describe(ty: &Type) -> String {
    crate::inspect::wit_type(ty)
}

/// Whether a function's results need a post-return (strings and lists
/// live in linear memory until it runs): then the last wasm entry of a
/// call is the post-return's, not the export's.
pub(super) fn has_post_return(f: &ComponentFunc) -> bool {
    fn heap(t: &Type) -> bool {
        match t {
            Type::String | Type::List(_) => true,
            Type::Record(r) => r.fields().any(|f| heap(&f.ty)),
            Type::Tuple(t) => t.types().any(|t| heap(&t)),
            Type::Option(o) => heap(&o.ty()),
            Type::Result(r) => {
                r.ok().is_some_and(|t| heap(&t)) || r.err().is_some_and(|t| heap(&t))
            }
            Type::Variant(v) => v.cases().any(|c| c.ty.is_some_and(|t| heap(&t))),
            _ => false,
        }
    }
    f.results().any(|t| heap(&t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_through_wit_values() {
        let v = Val::Record(vec![
            ("a".into(), Val::List(vec![Val::U8(1), Val::U8(2)])),
            ("b".into(), Val::Option(None)),
            (
                "c".into(),
                Val::Result(Ok(Some(Box::new(Val::String("x".into()))))),
            ),
            (
                "d".into(),
                Val::Variant("v".into(), Some(Box::new(Val::S32(-3)))),
            ),
        ]);
        assert_eq!(
            to_json(&v),
            json!({"a": [1, 2], "b": null, "c": {"ok": "x"}, "d": {"v": -3}})
        );
    }
}
