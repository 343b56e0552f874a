//! The additive changes /v1 promises may happen any day, applied to a copy of the spec:
//! a new optional field on every object schema, a new value in every enumeration (new
//! statuses, run types, error codes and webhook event types among them), a new optional
//! query parameter on every `GET`, and a new operation. CI builds and tests the whole
//! workspace against the result (`SEMARIZE_API_SPEC`), which must stay green.

use serde_norway::Value;

/// The name every mutation uses, easy to find in a diff.
pub const ADDED: &str = "added_later";

/// The spec text with every additive mutation applied.
pub fn mutate(text: &str) -> Result<String, String> {
    let mut spec: Value =
        serde_norway::from_str(text).map_err(|e| format!("the spec does not parse: {e}"))?;
    let schemas = spec
        .get_mut("components")
        .and_then(|c| c.get_mut("schemas"))
        .and_then(Value::as_mapping_mut)
        .ok_or("the spec has no components.schemas")?;
    for (_, schema) in schemas.iter_mut() {
        add_to_schema(schema);
    }
    let paths = spec
        .get_mut("paths")
        .and_then(Value::as_mapping_mut)
        .ok_or("the spec has no paths")?;
    for (_, item) in paths.iter_mut() {
        if let Some(get) = item.get_mut("get").and_then(Value::as_mapping_mut) {
            let parameters = get
                .entry(Value::from("parameters"))
                .or_insert_with(|| Value::Sequence(Vec::new()));
            if let Some(list) = parameters.as_sequence_mut() {
                list.push(yaml(&format!(
                    "{{name: {ADDED}, in: query, required: false, schema: {{type: string}}, \
                     description: A query parameter a later /v1 adds.}}"
                )));
            }
        }
    }
    paths.insert(
        Value::from(format!("/v1/{ADDED}")),
        yaml(&format!(
            "get: {{operationId: get_{ADDED}, tags: [Runs], summary: An operation a later /v1 adds, \
             responses: {{'200': {{description: OK, content: {{application/json: {{schema: \
             {{type: object, properties: {{id: {{type: string}}}}}}}}}}}}}}}}"
        )),
    );
    serde_norway::to_string(&spec).map_err(|e| format!("the mutated spec does not print: {e}"))
}

/// A new optional property on an object schema, a new value on an enumeration.
fn add_to_schema(schema: &mut Value) {
    let Some(map) = schema.as_mapping_mut() else {
        return;
    };
    if let Some(Value::Mapping(properties)) = map.get_mut("properties") {
        properties.insert(
            Value::from(ADDED),
            yaml("{type: string, description: A field a later /v1 adds.}"),
        );
    }
    if let Some(Value::Sequence(values)) = map.get_mut("enum")
        && values.iter().all(Value::is_string)
    {
        values.push(Value::from(ADDED));
    }
}

fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).expect("the mutations are valid YAML")
}
