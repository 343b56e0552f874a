//! "Additive mode": responses gain fields and enum values this version of the spec does
//! not know, the way a later /v1 may add them, so clients prove they tolerate it.

use serde_json::{Value, json};

/// The unknown field added to every JSON object.
pub const ADDED_FIELD: &str = "x_added_in_future";
/// What `queued` is reported as (an unknown, non-terminal status).
pub const ADDED_STATUS: &str = "waiting_for_capacity";
/// What every `run_type` is reported as.
pub const ADDED_RUN_TYPE: &str = "scheduled";

/// Adds an unknown field to every object and swaps in unknown status and run-type values.
pub fn decorate(value: &mut Value) {
    decorate_as(value, true);
}

/// `record` is false for maps keyed by data (`output.bricks`), whose members are decorated
/// but which gain no member themselves.
fn decorate_as(value: &mut Value, record: bool) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                decorate_as(child, key != "bricks");
            }
            if !record {
                return;
            }
            if map.get("status").and_then(Value::as_str) == Some("queued") {
                map.insert("status".into(), Value::from(ADDED_STATUS));
            }
            if map.get("run_type").is_some_and(Value::is_string) {
                map.insert("run_type".into(), Value::from(ADDED_RUN_TYPE));
            }
            map.insert(
                ADDED_FIELD.into(),
                json!({"note": "a field a later /v1 may add"}),
            );
        }
        Value::Array(items) => items.iter_mut().for_each(|item| decorate_as(item, true)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brick_maps_gain_no_fake_brick() {
        let mut run = json!({"run_id": "r", "status": "queued", "run_type": "api",
            "output": {"bricks": {"b": {"value": 1}}}});
        decorate(&mut run);
        assert_eq!(run["status"], ADDED_STATUS);
        assert_eq!(run["run_type"], ADDED_RUN_TYPE);
        assert!(run[ADDED_FIELD].is_object());
        assert!(run["output"]["bricks"].get(ADDED_FIELD).is_none());
        assert!(run["output"]["bricks"]["b"][ADDED_FIELD].is_object());
    }
}
