//! Every JSON example in the Semarize API reference and guides, transcribed as printed,
//! decodes into the generated types, validates against the spec's component, and
//! round-trips. Where the docs elide with `...` inside JSON, the elision is filled with the
//! smallest concrete value (noted beside the example).

use semarize_api::types;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The same document for a JSON reader: `null` members dropped (the generated types skip
/// `None` when serializing) and timestamps in one RFC 3339 spelling (`.000Z` and `Z` are
/// the same instant).
fn canonical(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, canonical(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        Value::String(s) => match chrono::DateTime::parse_from_rfc3339(&s) {
            Ok(instant) => Value::String(instant.to_utc().to_rfc3339()),
            Err(_) => Value::String(s),
        },
        other => other,
    }
}

/// Decodes `json` as `T`, checks it against the spec component `component`, and checks
/// that encoding gives back the same document.
fn decode<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(
    component: &str,
    json: &str,
) -> T {
    let value: Value = serde_json::from_str(json).expect("the example is JSON");
    let spec = semarize_spec::Spec::parse(semarize_api::SPEC_YAML).unwrap();
    let schema = if component.starts_with('[') {
        serde_json::json!({"type": "array", "items": {"$ref": format!("#/components/schemas/{}", component.trim_matches(|c| c == '[' || c == ']'))}})
    } else {
        serde_json::json!({"$ref": format!("#/components/schemas/{component}")})
    };
    spec.validate(&schema, component, &value)
        .unwrap_or_else(|errors| panic!("{errors:#?}"));
    let decoded: T = serde_json::from_value(value.clone()).expect("the example decodes");
    let encoded = serde_json::to_value(&decoded).expect("it encodes");
    assert_eq!(
        canonical(encoded.clone()),
        canonical(value),
        "round trip of {component}"
    );
    let again: T = serde_json::from_value(encoded).expect("the encoding decodes");
    assert_eq!(again, decoded, "decode(encode(x)) == x for {component}");
    decoded
}

#[test]
fn create_run_request_api_reference() {
    let r: types::CreateRunRequest = decode(
        "CreateRunRequest",
        r#"{ "kit_code": "A1B2C3D4", "input": { "transcript": "..." } }"#,
    );
    insta::assert_json_snapshot!(r);
}

#[test]
fn create_run_request_async_guide() {
    let r: types::CreateRunRequest = decode(
        "CreateRunRequest",
        r#"{
    "kit_code": "A1B2C3D4",
    "mode": "async",
    "input": {
      "transcript": "Rep: What drove the urgency? Prospect: ..."
    }
  }"#,
    );
    insta::assert_json_snapshot!(r);
}

#[test]
fn create_run_request_sync() {
    let r: types::CreateRunRequest = decode(
        "CreateRunRequest",
        r#"{ "kit_code": "A1B2C3D4", "mode": "sync", "input": { "transcript": "..." } }"#,
    );
    assert_eq!(r.mode, Some(types::RunMode::Sync));
    insta::assert_json_snapshot!(r);
}

#[test]
fn create_run_response_202() {
    let r: types::Run = decode(
        "Run",
        r#"{
"run_id": "uuid",
"status": "queued",
"run_type": "api",
"created_at": "2026-02-24T12:00:00.000Z"
}"#,
    );
    assert_eq!(r.status, types::RunStatus::Queued);
    insta::assert_json_snapshot!(r);
}

#[test]
fn list_runs_response() {
    // The docs end the array with `, ...`; the listed element is kept.
    let r: Vec<types::Run> = decode(
        "[Run]",
        r#"[
{
"run_id": "uuid",
"status": "succeeded",
"run_type": "api",
"created_at": "2026-02-24T12:00:00.000Z"
}
]"#,
    );
    insta::assert_json_snapshot!(r);
}

#[test]
fn get_run_succeeded() {
    let r: types::Run = decode(
        "Run",
        r#"{
"run_id": "uuid",
"status": "succeeded",
"run_type": "api",
"duration_ms": 1200,
"error_code": null,
"error_message": null,
"output": {
"kit_code": "A1B2C3D4",
"kit_version_id": "uuid",
"bricks": {
"pain_is_specific": {
"value": 64,
"confidence": 0.95,
"reason": "Pain identified but not quantified",
"evidence": ["losing 3 hours a week"]
}
}
}
}"#,
    );
    let brick = &r.output.as_ref().unwrap().bricks["pain_is_specific"];
    assert_eq!(brick.value, serde_json::json!(64));
    insta::assert_json_snapshot!(r);
}

#[test]
fn run_usage() {
    let r: types::RunUsage = decode(
        "RunUsage",
        r#"{
"run_id": "uuid",
"token_usage": { "prompt": 1200, "completion": 340 },
"credits_consumed": 8
}"#,
    );
    insta::assert_json_snapshot!(r);
}

#[test]
fn sync_completed_200() {
    let r: types::Run = decode(
        "Run",
        r#"{
"run_id": "uuid",
"status": "succeeded",
"duration_ms": 1200,
"output": {
"bricks": {
"pain_is_specific": {
"value": 64,
"confidence": 0.95,
"reason": "...",
"evidence": ["..."]
}
}
}
}"#,
    );
    insta::assert_json_snapshot!(r);
}

#[test]
fn sync_fallback_202() {
    let r: types::Run = decode(
        "Run",
        r#"{
"run_id": "uuid",
"status": "running",
"sync_fallback": true,
"waited_ms": 60000,
"created_at": "2026-02-24T12:00:00.000Z"
}"#,
    );
    assert_eq!((r.sync_fallback, r.waited_ms), (Some(true), Some(60000)));
    insta::assert_json_snapshot!(r);
}

#[test]
fn kit_schema() {
    // The docs end the bricks array with `, ...`; the listed element is kept.
    let r: types::KitSchema = decode(
        "KitSchema",
        r#"{
"kit_id": "uuid",
"kit_code": "A1B2C3D4",
"bricks": [
{
"brick_key": "pain_is_specific",
"fields": {
"value": true,
"confidence": true,
"reason": true,
"evidence": true
}
}
]
}"#,
    );
    insta::assert_json_snapshot!(r);
}

#[test]
fn webhook_upsert_request() {
    let r: types::UpsertWebhookRequest = decode(
        "UpsertWebhookRequest",
        r#"{"url": "https://yourapp.com/webhooks/semarize"}"#,
    );
    insta::assert_json_snapshot!(r);
}

#[test]
fn webhook_created_201() {
    let r: types::Webhook = decode(
        "Webhook",
        r#"{
"id": "wh_uuid",
"url": "https://yourapp.com/webhooks/semarize",
"secret": "whsec_...",
"created_at": "2026-02-24T12:00:00.000Z"
}"#,
    );
    insta::assert_json_snapshot!(r);
}

#[test]
fn webhook_payload() {
    // The docs print `"output": { ... }`; filled with the smallest valid output.
    let r: types::WebhookEvent = decode(
        "WebhookEvent",
        r#"{
"id": "evt_uuid",
"delivery_id": "dlv_uuid",
"type": "run.succeeded",
"created_at": "2026-02-24T12:05:00.000Z",
"workspace_id": "ws_uuid",
"data": {
"run_id": "uuid",
"status": "succeeded",
"run_type": "api",
"duration_ms": 1200,
"output": { "bricks": {} }
}
}"#,
    );
    assert_eq!(r.type_, types::WebhookEventType::RunSucceeded);
    insta::assert_json_snapshot!(r);
}

#[test]
fn thin_webhook_payload_decodes_as_both_shapes() {
    // Not printed in the docs, which list the thin event's four fields.
    let json = r#"{"id": "evt_1", "type": "run.failed", "created_at": "2026-02-24T12:05:00Z",
        "data": {"run_id": "r1", "status": "failed", "error_code": "run_request_failed", "duration_ms": 10}}"#;
    let thin: types::ThinWebhookEvent = decode("ThinWebhookEvent", json);
    let full: types::WebhookEvent = decode("WebhookEvent", json);
    assert_eq!(thin.data.run_id, full.data.run_id);
    assert!(full.data.output.is_none());
}

#[test]
fn error_envelope() {
    let r: types::ErrorEnvelope = decode("Error", r#"{ "error": "invalid_run_mode" }"#);
    assert_eq!(r.error, types::ErrorCode::InvalidRunMode);
    insta::assert_json_snapshot!(r);
}

#[test]
fn rate_limited_429_body() {
    let r: types::ErrorEnvelope = decode(
        "Error",
        r#"{
"error": "rate_limited",
"retry_after_seconds": 10
}"#,
    );
    assert_eq!(r.retry_after_seconds, Some(10));
    insta::assert_json_snapshot!(r);
}

#[test]
fn failed_run_detail() {
    let r: types::Run = decode(
        "Run",
        r#"{
  "run_id": "run_uuid",
  "status": "failed",
  "error_code": "run_request_failed",
  "error_message": "Internal diagnostic message when available",
  "error_user_message": "Safe user-facing message when available"
}"#,
    );
    assert_eq!(r.error_code, Some(types::ErrorCode::RunRequestFailed));
    insta::assert_json_snapshot!(r);
}
