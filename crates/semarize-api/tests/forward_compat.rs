//! /v1 promises additive changes only. Responses carrying fields, run statuses, run types,
//! event types, error codes and brick value types that this version does not know must
//! still decode, keep the unknown values verbatim, and re-encode them unchanged.

use semarize_api::types;
use serde_json::json;

#[test]
fn run_with_unknown_fields_status_type_and_error_code_decodes() {
    let payload = json!({
        "run_id": "r1",
        "status": "paused_for_review",
        "run_type": "batch",
        "created_at": "2026-02-24T12:00:00Z",
        "error_code": "quota_exhausted",
        "priority": 3,
        "labels": {"team": "sales"},
        "output": {
            "bricks": {"b": {"value": "x", "new_field": [1, 2], "evidence": []}},
            "model": "future"
        }
    });
    let run: types::Run = serde_json::from_value(payload).unwrap();
    assert_eq!(
        run.status,
        types::RunStatus::Unknown("paused_for_review".into())
    );
    assert!(
        !run.status.is_terminal(),
        "an unknown status is not terminal: keep polling"
    );
    assert_eq!(run.run_type, Some(types::RunType::Unknown("batch".into())));
    assert_eq!(
        run.error_code,
        Some(types::ErrorCode::Other("quota_exhausted".into()))
    );

    let encoded = serde_json::to_value(&run).unwrap();
    assert_eq!(encoded["status"], "paused_for_review");
    assert_eq!(encoded["run_type"], "batch");
    assert_eq!(encoded["error_code"], "quota_exhausted");
}

#[test]
fn webhook_event_with_unknown_type_decodes() {
    let payload = json!({
        "id": "evt_1",
        "delivery_id": "dlv_1",
        "type": "run.expired",
        "created_at": "2026-02-24T12:05:00Z",
        "workspace_id": "ws_1",
        "schema_version": 2,
        "data": {"run_id": "r1", "status": "expired", "extra": true}
    });
    let event: types::WebhookEvent = serde_json::from_value(payload).unwrap();
    assert_eq!(
        event.type_,
        types::WebhookEventType::Unknown("run.expired".into())
    );
    assert_eq!(event.type_.to_string(), "run.expired");
    assert_eq!(event.data.status.as_str(), "expired");
}

#[test]
fn error_with_unknown_code_and_fields_decodes() {
    let payload = json!({"error": "plan_limit_reached", "detail": "d", "hint": "upgrade", "retry_after_seconds": 5});
    let error: types::ErrorEnvelope = serde_json::from_value(payload).unwrap();
    assert!(error.error.is_unknown());
    assert_eq!(error.error.as_str(), "plan_limit_reached");
    assert_eq!(error.retry_after_seconds, Some(5));
}

#[test]
fn other_responses_with_unknown_fields_and_values_decode() {
    let usage: types::RunUsage = serde_json::from_value(json!({
        "run_id": "r", "token_usage": {"prompt": 1, "completion": 2, "cached": 9},
        "credits_consumed": 3, "currency": "credits"
    }))
    .unwrap();
    assert_eq!(usage.token_usage.prompt, 1);

    let bricks: Vec<types::BrickMetadata> = serde_json::from_value(json!([{
        "brick_id": "b", "brick_key": "k", "name": "n", "type": "date", "owner": "x"
    }]))
    .unwrap();
    assert_eq!(
        bricks[0].type_,
        types::BrickValueType::Unknown("date".into())
    );

    let schema: types::KitSchema = serde_json::from_value(json!({
        "kit_id": "k", "kit_code": "A1B2C3D4", "published": true,
        "bricks": [{"brick_key": "b", "fields": {"value": true, "citations": true}}]
    }))
    .unwrap();
    assert_eq!(schema.bricks.len(), 1);

    let hooks: Vec<types::WebhookEndpoint> = serde_json::from_value(json!([{
        "id": "wh", "url": "https://x", "created_at": "2026-02-24T12:00:00Z", "events": ["run.succeeded"]
    }]))
    .unwrap();
    assert_eq!(hooks[0].id, "wh");
}

#[test]
fn known_values_parse_to_their_arms_and_back() {
    for status in types::RunStatus::KNOWN {
        assert_eq!(&types::RunStatus::from(status.as_str()), status);
    }
    for code in types::ErrorCode::KNOWN {
        let encoded = serde_json::to_value(code).unwrap();
        assert_eq!(
            &serde_json::from_value::<types::ErrorCode>(encoded).unwrap(),
            code
        );
    }
}
