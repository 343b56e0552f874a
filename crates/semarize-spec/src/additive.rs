//! Additive changes: what a valid document holds that its schema does not name.
//!
//! A JSON Schema validator accepts members a schema does not list (OpenAPI objects are
//! open unless `additionalProperties: false`) and, for the spec's open enumerations
//! (`anyOf: [{type: string, enum: [...]}, {type: string}]`), any string. Both are how an
//! API grows without breaking clients, and both are worth a warning: they are where the
//! API and the spec have parted ways. Cassette checks and `cargo xtask spec drift` report
//! them from here.

use serde_json::Value;

use crate::{Spec, Violation};

/// Every additive finding of `instance` against the OpenAPI `schema` of `spec`.
pub(crate) fn findings(spec: &Spec, schema: &Value, instance: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    walk(spec, schema, instance, &mut String::new(), &mut out, 0);
    out
}

/// Schemas nest a few levels; a recursive `$ref` could nest forever.
const MAX_DEPTH: usize = 64;

fn walk(
    spec: &Spec,
    schema: &Value,
    value: &Value,
    pointer: &mut String,
    out: &mut Vec<Violation>,
    depth: usize,
) {
    let schema = spec.resolve(schema);
    if value.is_null() || depth > MAX_DEPTH {
        return;
    }
    let parts = |key: &str| {
        schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    };
    for part in parts("allOf") {
        walk(spec, part, value, pointer, out, depth + 1);
    }
    let mut documented = Vec::new();
    documented_values(spec, schema, &mut documented, depth);
    if let Some(found) = value.as_str()
        && !documented.is_empty()
        && !documented.iter().any(|known| known == found)
    {
        out.push(Violation {
            pointer: pointer.clone(),
            message: format!("value {found:?} is not in the spec's enumeration (additive)"),
        });
    }
    // An `anyOf` branch that describes objects or arrays (a nullable reference such as
    // `output`) describes this value's members; its enumerations were read above.
    if value.is_object() || value.is_array() {
        for part in parts("anyOf") {
            let part = spec.resolve(part);
            if part.get("properties").is_some() || part.get("items").is_some() {
                walk(spec, part, value, pointer, out, depth + 1);
            }
        }
    }
    match value {
        Value::Object(members) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let extra = schema.get("additionalProperties").filter(|a| a.is_object());
            let composed = schema.get("allOf").is_some() || schema.get("anyOf").is_some();
            for (name, member) in members {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
                match (properties.and_then(|p| p.get(name)), extra) {
                    (Some(member_schema), _) => {
                        walk(spec, member_schema, member, pointer, out, depth + 1);
                    }
                    (None, Some(extra)) => walk(spec, extra, member, pointer, out, depth + 1),
                    (None, None) if !composed && properties.is_some() => out.push(Violation {
                        pointer: pointer.clone(),
                        message: format!("field {name:?} is not in the spec (additive)"),
                    }),
                    (None, None) => {}
                }
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (index, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&index.to_string());
                    walk(spec, item_schema, item, pointer, out, depth + 1);
                    pointer.truncate(len);
                }
            }
        }
        _ => {}
    }
}

/// The values a schema documents: its `enum`, or those of its `anyOf` branches (an open
/// enumeration, or a nullable reference to one).
fn documented_values(spec: &Spec, schema: &Value, out: &mut Vec<Value>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let schema = spec.resolve(schema);
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        out.extend(values.iter().cloned());
    }
    for part in schema
        .get("anyOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        documented_values(spec, part, out, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn unknown_fields_and_enumeration_values_are_found() {
        let spec = crate::Spec::bundled();
        let body = json!({
            "run_id": "r",
            "status": "paused",
            "surprise": 1,
            "error_code": "brand_new_code",
            "output": {"bricks": {"b": {"value": true, "tone": "warm"}}},
        });
        let found = spec.additive_findings("get_run", 200, &body).unwrap();
        let pointers: Vec<&str> = found.iter().map(|f| f.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/error_code",
                "/output/bricks/b/tone",
                "/status",
                "/surprise"
            ],
            "{found:?}"
        );
        assert!(found.iter().all(|f| f.message.ends_with("(additive)")));
        assert_eq!(
            found[3].message,
            "field \"surprise\" is not in the spec (additive)"
        );
        let known = json!({"run_id": "r", "status": "queued", "error_code": null});
        assert!(
            spec.additive_findings("get_run", 200, &known)
                .unwrap()
                .is_empty()
        );
    }
}
