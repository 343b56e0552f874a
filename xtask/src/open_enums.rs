//! The hand-written open enums of `semarize-api` mirror the spec's enumeration components;
//! their `JsonSchema` must list exactly the values the spec lists.

use semarize_api::types;
use semarize_spec::Spec;
use serde_json::Value;

fn known_values<T: schemars::JsonSchema>() -> Vec<Value> {
    let schema = serde_json::to_value(schemars::schema_for!(T)).expect("schemas serialize");
    schema["enum"].as_array().cloned().unwrap_or_default()
}

/// The values a component lists and whether it is open: an open enumeration is
/// `anyOf: [{type: string, enum: [...]}, {type: string}]`, a closed one a plain `enum`.
fn documented(spec: &Spec, component: &str) -> Option<(Vec<Value>, bool)> {
    let schema = spec
        .raw()
        .pointer(&format!("/components/schemas/{component}"))?;
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some((values.clone(), false));
    }
    match schema
        .get("anyOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        Some([known, any]) if any == &serde_json::json!({"type": "string"}) => {
            Some((known.get("enum")?.as_array()?.clone(), true))
        }
        _ => None,
    }
}

/// One line per component whose values differ from its Rust mirror, or that is closed
/// where responses need it open (or open where a request needs it closed).
pub fn check(spec: &Spec) -> Vec<String> {
    // (component, the Rust mirror's values, whether responses carry it: then it is open)
    let mirrors: [(&str, Vec<Value>, bool); 7] = [
        ("RunStatus", known_values::<types::RunStatus>(), true),
        ("RunType", known_values::<types::RunType>(), true),
        ("RequestedRunType", known_values::<types::RunType>(), false),
        ("RunMode", known_values::<types::RunMode>(), false),
        (
            "BrickValueType",
            known_values::<types::BrickValueType>(),
            true,
        ),
        (
            "WebhookEventType",
            known_values::<types::WebhookEventType>(),
            true,
        ),
        ("ErrorCode", known_values::<types::ErrorCode>(), true),
    ];
    let mut problems = Vec::new();
    for (component, rust, in_responses) in mirrors {
        let Some((documented, open)) = documented(spec, component) else {
            problems.push(format!(
                "{component}: not an enumeration the checks understand (a closed `enum`, or `anyOf: [{{type: string, enum: [...]}}, {{type: string}}]`)"
            ));
            continue;
        };
        if open != in_responses {
            problems.push(match in_responses {
                true => format!(
                    "{component} appears in responses but is closed: other generators would reject a value added later (use anyOf with a plain string)"
                ),
                false => format!(
                    "{component} is only sent by clients but is open: keep request values closed"
                ),
            });
        }
        let missing: Vec<&Value> = documented.iter().filter(|v| !rust.contains(v)).collect();
        let extra: Vec<&Value> = rust.iter().filter(|v| !documented.contains(v)).collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{component}: the spec lists {missing:?}, which the semarize_api::types mirror does not know (add the arm in src/open_enums.rs)"
            ));
        }
        if !extra.is_empty() {
            problems.push(format!(
                "{component}: the semarize_api::types mirror knows {extra:?}, which the spec does not list"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_added_to_the_spec_only_is_reported() {
        let mutated = crate::committed_spec_text().replace(
            "enum: [queued, running, succeeded, failed, cancelled]",
            "enum: [queued, running, succeeded, failed, cancelled, paused]",
        );
        let spec = Spec::parse(&mutated).unwrap();
        let problems = check(&spec);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("RunStatus") && problems[0].contains("paused"));
        assert!(check(&Spec::parse(crate::committed_spec_text()).unwrap()).is_empty());
    }

    #[test]
    fn a_closed_response_enum_and_an_open_request_enum_are_reported() {
        let mutated = crate::committed_spec_text().replace(
            "      anyOf:\n        - type: string\n          enum: [boolean, number, string, category]\n        - type: string\n",
            "      type: string\n      enum: [boolean, number, string, category]\n",
        );
        let mutated = mutated.replace(
            "      type: string\n      description: |\n        Execution mode, default `async`. `sync` blocks until the run completes or falls\n        back to 202. Any other value is 400 `invalid_run_mode`.\n      enum: [async, sync]\n",
            "      description: |\n        Execution mode.\n      anyOf:\n        - type: string\n          enum: [async, sync]\n        - type: string\n",
        );
        let problems = check(&Spec::parse(&mutated).unwrap());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("RunMode") && problems[0].contains("keep request values closed")
        );
        assert!(problems[1].contains("BrickValueType") && problems[1].contains("closed"));
    }
}
