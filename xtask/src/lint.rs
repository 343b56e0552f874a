//! The rules that keep the spec safe for progenitor and for users. One problem, one line.

use std::collections::BTreeSet;

use semarize_spec::Spec;
use serde_json::Value;

const ERROR_SCHEMA: &str = "#/components/schemas/Error";

/// Every rule, over the whole spec.
pub fn lint(spec: &Spec) -> Vec<String> {
    let mut problems = Vec::new();
    let raw = spec.raw();

    let version = raw["openapi"].as_str().unwrap_or_default();
    if !version.starts_with("3.0.") {
        problems.push(format!(
            "openapi is {version:?}: progenitor supports 3.0.x only"
        ));
    }

    for op in spec.operations() {
        let at = format!("{} {}", op.method, op.path);
        if op.id.is_empty() {
            problems.push(format!("{at}: no operationId"));
            continue;
        }
        // Duplicates are reported by the structural check (semarize_codegen::check_structure), with a line.
        if !is_snake_case(&op.id) {
            problems.push(format!("{at}: operationId {} is not snake_case", op.id));
        }
        lint_responses(spec, &op.id, &mut problems);
        // Path parameters are checked by the structural check, with a line.
    }

    walk_schemas(
        raw.pointer("/components/schemas").unwrap_or(&Value::Null),
        "components.schemas",
        &mut |at, schema| {
            if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
                problems.push(format!(
                "{at}: additionalProperties: false becomes deny_unknown_fields and breaks additive /v1 changes"
            ));
            }
        },
    );

    match raw.pointer("/components/parameters/IdempotencyKey/schema") {
        Some(schema)
            if schema.get("minLength") == Some(&Value::from(1))
                && schema.get("maxLength") == Some(&Value::from(254)) => {}
        Some(_) => problems.push(
            "Idempotency-Key: the schema must state the documented limit (minLength 1, maxLength 254)"
                .to_owned(),
        ),
        None => problems.push("components.parameters.IdempotencyKey is missing".to_owned()),
    }
    if raw.pointer("/components/securitySchemes/bearerAuth/scheme") != Some(&Value::from("bearer"))
    {
        problems
            .push("components.securitySchemes.bearerAuth must be an HTTP bearer scheme".to_owned());
    }
    problems
}

fn is_snake_case(id: &str) -> bool {
    id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn lint_responses(spec: &Spec, operation_id: &str, problems: &mut Vec<String>) {
    let Ok(responses) = spec.responses(operation_id) else {
        return;
    };
    let mut success_schemas = BTreeSet::new();
    let (mut has_4xx, mut has_5xx) = (false, false);
    for (status, response) in &responses {
        let schema = response.pointer("/content/application~1json/schema");
        let class = status.chars().next().unwrap_or('?');
        if status.ends_with("XX")
            && responses
                .keys()
                .any(|s| s != status && s.starts_with(class))
        {
            problems.push(format!(
                "{operation_id}: {status} is mixed with specific {class}xx codes"
            ));
        }
        match class {
            '2' => {
                success_schemas.insert(schema.map(Value::to_string).unwrap_or_default());
            }
            '4' | '5' => {
                has_4xx |= class == '4';
                has_5xx |= class == '5';
                if schema.and_then(|s| s.get("$ref")).and_then(Value::as_str) != Some(ERROR_SCHEMA)
                {
                    problems.push(format!(
                        "{operation_id} {status}: error responses must use the shared Error schema"
                    ));
                }
            }
            _ => problems.push(format!("{operation_id}: unexpected status {status}")),
        }
        if let Some(schema) = schema {
            walk_schemas(schema, &format!("{operation_id} {status}"), &mut |at, s| {
                if s.get("additionalProperties") == Some(&Value::Bool(false)) {
                    problems.push(format!("{at}: additionalProperties: false on a response"));
                }
            });
        }
    }
    if success_schemas.len() > 1 {
        problems.push(format!(
            "{operation_id}: its success responses have different bodies; progenitor allows one success type"
        ));
    }
    if !has_4xx || !has_5xx {
        problems.push(format!(
            "{operation_id}: must document 4xx and 5xx responses with the shared Error schema"
        ));
    }
}

/// Calls `visit` on every schema object below `schema` (properties, items, compositions).
fn walk_schemas(schema: &Value, at: &str, visit: &mut dyn FnMut(&str, &Value)) {
    let Value::Object(map) = schema else { return };
    if at == "components.schemas" {
        for (name, child) in map {
            walk_schemas(child, &format!("components.schemas.{name}"), visit);
        }
        return;
    }
    visit(at, schema);
    for (key, child) in map {
        match key.as_str() {
            "properties" => {
                for (name, prop) in child.as_object().into_iter().flatten() {
                    walk_schemas(prop, &format!("{at}.{name}"), visit);
                }
            }
            "items" | "additionalProperties" | "not" => {
                walk_schemas(child, &format!("{at}.{key}"), visit)
            }
            "allOf" | "anyOf" | "oneOf" => {
                for (i, part) in child.as_array().into_iter().flatten().enumerate() {
                    walk_schemas(part, &format!("{at}.{key}[{i}]"), visit);
                }
            }
            _ => {}
        }
    }
}
