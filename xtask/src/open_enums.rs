//! The hand-written open enums of `semarize-api` mirror the spec's enumeration components;
//! their `JsonSchema` must list exactly the values the spec lists.

use semarize_api::types;
use semarize_spec::Spec;
use serde_json::Value;

fn known_values<T: schemars::JsonSchema>() -> Vec<Value> {
    let schema = serde_json::to_value(schemars::schema_for!(T)).expect("schemas serialize");
    schema["enum"].as_array().cloned().unwrap_or_default()
}

/// One line per component whose values differ from its Rust mirror.
pub fn check(spec: &Spec) -> Vec<String> {
    let mirrors: [(&str, Vec<Value>); 6] = [
        ("RunStatus", known_values::<types::RunStatus>()),
        ("RunType", known_values::<types::RunType>()),
        ("RunMode", known_values::<types::RunMode>()),
        ("BrickValueType", known_values::<types::BrickValueType>()),
        (
            "WebhookEventType",
            known_values::<types::WebhookEventType>(),
        ),
        ("ErrorCode", known_values::<types::ErrorCode>()),
    ];
    let mut problems = Vec::new();
    for (component, rust) in mirrors {
        let pointer = format!("/components/schemas/{component}/enum");
        let documented = spec
            .raw()
            .pointer(&pointer)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let missing: Vec<&Value> = documented.iter().filter(|v| !rust.contains(v)).collect();
        let extra: Vec<&Value> = rust.iter().filter(|v| !documented.contains(v)).collect();
        if !missing.is_empty() {
            problems.push(format!(
                "{component}: the spec lists {missing:?}, which semarize_api::types::{component} does not know (add the arm in src/open_enums.rs)"
            ));
        }
        if !extra.is_empty() {
            problems.push(format!("{component}: semarize_api::types::{component} knows {extra:?}, which the spec does not list"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_added_to_the_spec_only_is_reported() {
        let mutated = semarize_spec::SPEC_YAML.replace(
            "enum: [queued, running, succeeded, failed, cancelled]",
            "enum: [queued, running, succeeded, failed, cancelled, paused]",
        );
        let spec = Spec::parse(&mutated).unwrap();
        let problems = check(&spec);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("RunStatus") && problems[0].contains("paused"));
        assert!(check(&Spec::bundled()).is_empty());
    }
}
