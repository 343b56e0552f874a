//! OpenAPI 3.0 schema objects to JSON Schema 2020-12.

use serde_json::{Map, Value};

/// Keywords OpenAPI 3.0 adds to schema objects that JSON Schema does not know.
const OPENAPI_ONLY: [&str; 5] = [
    "nullable",
    "discriminator",
    "xml",
    "externalDocs",
    "example",
];

/// Converts an OpenAPI schema into a self-contained JSON Schema document, with the spec's
/// `components.schemas` (converted too) under `$defs`.
///
/// `nullable: true` adds `"null"` to the schema's own `type` (as OpenAPI 3.0.3 defines
/// it: nothing else in the schema is relaxed), and `#/components/schemas/X` references
/// become `#/$defs/X`.
pub fn to_json_schema(schema: &Value, components: Option<&Value>) -> Value {
    let mut document = match convert(schema) {
        Value::Object(map) => map,
        other => {
            let mut map = Map::new();
            map.insert("allOf".into(), Value::Array(vec![other]));
            map
        }
    };
    if let Some(Value::Object(components)) = components {
        let defs = components
            .iter()
            .map(|(name, s)| (name.clone(), convert(s)))
            .collect();
        document.insert("$defs".into(), Value::Object(defs));
    }
    Value::Object(document)
}

fn convert(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let nullable = map.get("nullable") == Some(&Value::Bool(true));
            let mut out = Map::new();
            for (key, child) in map {
                if OPENAPI_ONLY.contains(&key.as_str()) {
                    continue;
                }
                let converted = match key.as_str() {
                    "$ref" => Value::String(
                        child
                            .as_str()
                            .unwrap_or_default()
                            .replace("#/components/schemas/", "#/$defs/"),
                    ),
                    // `enum` and `default` hold data, not schemas: keep them verbatim.
                    "enum" | "default" => child.clone(),
                    "properties" | "patternProperties" | "$defs" | "definitions" => match child {
                        Value::Object(props) => Value::Object(
                            props.iter().map(|(k, v)| (k.clone(), convert(v))).collect(),
                        ),
                        other => other.clone(),
                    },
                    _ => convert(child),
                };
                out.insert(key.clone(), converted);
            }
            // OpenAPI 3.0.3: `nullable` adds null to the `type` of the same schema and to
            // nothing else. Its other keywords (an `enum`, an `allOf` of a non-null
            // schema) still apply to null, exactly as strict validators read it.
            if nullable && let Some(Value::String(single)) = out.get("type") {
                let both = Value::Array(vec![Value::String(single.clone()), "null".into()]);
                out.insert("type".into(), both);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(convert).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nullable_adds_null_to_the_type_only() {
        let converted = to_json_schema(&json!({"type": "string", "nullable": true}), None);
        assert_eq!(converted, json!({"type": ["string", "null"]}));
        let with_all_of = to_json_schema(
            &json!({"type": "string", "nullable": true, "allOf": [{"type": "string"}]}),
            None,
        );
        assert_eq!(
            with_all_of,
            json!({"type": ["string", "null"], "allOf": [{"type": "string"}]}),
            "the allOf still refuses null, as in strict OpenAPI 3.0.3 validators"
        );
    }

    #[test]
    fn component_refs_point_into_defs() {
        let converted = to_json_schema(
            &json!({"$ref": "#/components/schemas/Run"}),
            Some(&json!({"Run": {"type": "object", "example": {"x": 1}}})),
        );
        assert_eq!(
            converted,
            json!({"$ref": "#/$defs/Run", "$defs": {"Run": {"type": "object"}}})
        );
    }
}
