//! Just enough of JSON Schema (draft-07) to check a document against a
//! published schema kept under tests/schemas: `type`, `properties`,
//! `patternProperties` (`.+`, the one pattern those schemas use),
//! `required` and `additionalProperties: false`. A keyword outside that
//! set fails the check rather than passing unread.

use serde_json::Value;

const KNOWN: [&str; 8] = [
    "$id",
    "$schema",
    "type",
    "properties",
    "patternProperties",
    "required",
    "additionalProperties",
    "description",
];

/// The first place `doc` breaks `schema`, as `path: why`.
pub fn validate(schema: &Value, doc: &Value) -> Result<(), String> {
    check(schema, doc, "$")
}

fn check(schema: &Value, doc: &Value, at: &str) -> Result<(), String> {
    let schema = schema
        .as_object()
        .ok_or_else(|| format!("{at}: the schema is no object"))?;
    if let Some(k) = schema.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(format!("{at}: schema keyword `{k}` is not supported here"));
    }
    if let Some(ty) = schema.get("type").and_then(Value::as_str) {
        let ok = match ty {
            "object" => doc.is_object(),
            "array" => doc.is_array(),
            "string" => doc.is_string(),
            "number" => doc.is_number(),
            "integer" => doc.is_i64() || doc.is_u64(),
            "boolean" => doc.is_boolean(),
            "null" => doc.is_null(),
            other => return Err(format!("{at}: type `{other}` is not supported here")),
        };
        if !ok {
            return Err(format!("{at}: {doc} is not of type {ty}"));
        }
    }
    let Some(obj) = doc.as_object() else {
        return Ok(());
    };
    for r in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let r = r.as_str().unwrap_or_default();
        if !obj.contains_key(r) {
            return Err(format!("{at}: `{r}` is required"));
        }
    }
    let props = schema.get("properties").and_then(Value::as_object);
    let patterns = schema.get("patternProperties").and_then(Value::as_object);
    for (key, value) in obj {
        let here = format!("{at}.{key}");
        let mut matched = false;
        if let Some(s) = props.and_then(|p| p.get(key)) {
            check(s, value, &here)?;
            matched = true;
        }
        for (pattern, s) in patterns.into_iter().flatten() {
            let hit = match pattern.as_str() {
                ".+" => !key.is_empty(),
                ".*" => true,
                other => return Err(format!("{at}: pattern `{other}` is not supported here")),
            };
            if hit {
                check(s, value, &here)?;
                matched = true;
            }
        }
        if !matched && schema.get("additionalProperties") == Some(&Value::Bool(false)) {
            return Err(format!("{here}: not allowed"));
        }
    }
    Ok(())
}
