//! `/v1/runs`: creation (validation in the documented order, idempotency, sync mode with
//! the 202 fallback), listing, detail and usage.

use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use semarize_api::types::{ErrorCode, RunType};
use serde_json::Value;

use super::{query_pairs, query_value, respond, with_retry_after};
use crate::error::ApiError;
use crate::http::{App, Ctx, DropAfterCommit, RunRef, header_str, json_response, read_json_object};
use crate::idempotency;
use crate::inspect::CreateAttempt;
use crate::runs::{self, CreateOutcome, CreateRun};

fn non_empty_string(
    body: &serde_json::Map<String, Value>,
    field: &str,
) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(
            ErrorCode::InvalidRequest,
            format!("{field} must be a string"),
        )),
    }
}

/// Validates a create body in the documented order of concerns: request shape (400), the
/// Kit (404), then what the Kit can process (422).
fn validate_create(app: &App, body: serde_json::Map<String, Value>) -> Result<CreateRun, ApiError> {
    let kit_code = non_empty_string(&body, "kit_code")?;
    let kit_version_id = non_empty_string(&body, "kit_version_id")?;
    if kit_code.is_none() && kit_version_id.is_none() {
        return Err(ApiError::bad_request(
            ErrorCode::KitCodeOrKitVersionIdRequired,
            "send kit_code or kit_version_id",
        ));
    }
    let input = match body.get("input") {
        Some(Value::Object(input)) => input,
        Some(_) => {
            return Err(ApiError::bad_request(
                ErrorCode::InputMustBeObject,
                "input must be a JSON object",
            ));
        }
        None => {
            return Err(ApiError::bad_request(
                ErrorCode::InputMustBeObject,
                "input is required",
            ));
        }
    };
    let run_type = match body.get("type") {
        None | Some(Value::Null) => RunType::Api,
        Some(Value::String(t)) => match RunType::from(t.as_str()) {
            RunType::Unknown(_) => {
                return Err(ApiError::bad_request(
                    ErrorCode::InvalidRunType,
                    "type must be api or sandbox",
                ));
            }
            known => known,
        },
        Some(_) => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidRunType,
                "type must be api or sandbox",
            ));
        }
    };
    let sync = match body.get("mode") {
        None | Some(Value::Null) => false,
        Some(Value::String(m)) if m == "async" => false,
        Some(Value::String(m)) if m == "sync" => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidRunMode,
                "mode must be async or sync",
            ));
        }
    };
    if app
        .core
        .catalog
        .resolve(kit_code.as_deref(), kit_version_id.as_deref())
        .is_none()
    {
        return Err(ApiError::not_found(ErrorCode::KitNotFound)
            .detail("no such kit_code or kit_version_id"));
    }
    let transcript = match input.get("transcript") {
        Some(Value::String(t)) if !t.trim().is_empty() => t.clone(),
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::RunRequestFailed,
            )
            .detail("input.transcript must be a non-empty string"));
        }
    };
    Ok(CreateRun {
        kit_code,
        kit_version_id,
        transcript,
        run_type,
        sync,
        body_hash: idempotency::canonical_hash(&Value::Object(body)),
    })
}

pub(super) async fn create_run(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    dropping: Option<Extension<DropAfterCommit>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let key = idempotency::key_from_headers(&headers);
    let attempt = |status: u16, outcome: &str, run_id: Option<uuid::Uuid>| CreateAttempt {
        at: chrono::Utc::now(),
        workspace_id: Some(crate::lock(&ctx.workspace).id.clone()),
        idempotency_key: header_str(&headers, "idempotency-key").map(Arc::from),
        status,
        outcome: outcome.to_owned(),
        run_id,
    };
    let accepted = async {
        let key = key?;
        let body = read_json_object(&headers, body, app.core.max_body_bytes()).await?;
        let request = validate_create(&app, body)?;
        let sync = request.sync;
        let (summary, outcome, finishes) = app.core.create_run(&ctx.workspace, request, key)?;
        Ok::<_, ApiError>((summary, outcome, finishes, sync))
    }
    .await;
    let (summary, outcome, finishes, sync) = match accepted {
        Ok(ok) => ok,
        Err(err) => {
            app.core
                .record_create(attempt(err.status.as_u16(), err.code.as_str(), None));
            return respond(&app, Err(err));
        }
    };
    let label = match (dropping.is_some(), outcome) {
        (true, _) => "dropped_after_commit",
        (false, CreateOutcome::Created) => "created",
        (false, CreateOutcome::Replayed) => "replayed",
    };
    let settings = app.core.settings();
    // What the inspection log records: the status the client is sent (0 when the
    // connection is dropped instead), known for a sync request only after its wait.
    let record = |status: u16| {
        app.core.record_create(attempt(
            if dropping.is_some() { 0 } else { status },
            label,
            uuid::Uuid::parse_str(&summary.run_id).ok(),
        ));
    };

    // The request log lists the new run with its creation.
    let with_run = |mut response: Response| {
        response
            .extensions_mut()
            .insert(RunRef(summary.run_id.clone()));
        response
    };
    if sync {
        let started = Instant::now();
        let deadline = started + settings.sync_wait();
        // Wait until the run is terminal or the sync wait is over. A run forced to end
        // early (control surface) wakes the wait through `run_changes`.
        loop {
            // Registered before the check, so a change in between is not missed.
            let changed = app.core.run_changes.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let Some(finishes) = app.core.pending_until(&ctx.workspace, &summary.run_id) else {
                break;
            };
            if Instant::now() >= deadline {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(finishes.min(deadline))) => {}
                _ = changed => {}
            }
        }
        let detail = app.core.get_run(&ctx.workspace, &summary.run_id);
        record(match &detail {
            Ok(run) if run.status.is_terminal() => 200,
            Ok(_) => 202,
            Err(error) => error.status.as_u16(),
        });
        return with_run(respond(
            &app,
            detail.map(|run| {
                if run.status.is_terminal() {
                    json_response(StatusCode::OK, &run, settings.additive)
                } else {
                    let mut fallback = summary.clone();
                    fallback.status = run.status;
                    fallback.sync_fallback = Some(true);
                    fallback.waited_ms = Some(started.elapsed().as_millis() as u64);
                    let delay = runs::advised_delay(finishes);
                    with_retry_after(
                        json_response(StatusCode::ACCEPTED, &fallback, settings.additive),
                        delay,
                    )
                }
            }),
        ));
    }
    record(202);
    let delay = runs::advised_delay(finishes);
    with_run(with_retry_after(
        json_response(StatusCode::ACCEPTED, &summary, settings.additive),
        delay,
    ))
}

pub(super) async fn list_runs(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = query_pairs(raw).and_then(|pairs| {
        // The range the spec's `limit` parameter states (1 to 100).
        let range = semarize_api::operations::LIST_RUNS
            .parameter("limit")
            .map(|p| p.limits)
            .unwrap_or_default();
        let (min, max) = (
            range.minimum.unwrap_or(1.0),
            range.maximum.unwrap_or(f64::MAX),
        );
        let limit = match query_value(&pairs, "limit") {
            None => 50,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (min..=max).contains(&(*n as f64)))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        ErrorCode::InvalidLimit,
                        format!("limit must be an integer from {min} to {max}"),
                    )
                })?,
        };
        let runs = app.core.list_runs(&ctx.workspace, limit);
        Ok(json_response(
            StatusCode::OK,
            &runs,
            app.core.settings().additive,
        ))
    });
    respond(&app, result)
}

pub(super) async fn get_run(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    Path(run_id): Path<String>,
) -> Response {
    let result = app.core.get_run(&ctx.workspace, &run_id).map(|run| {
        let response = json_response(StatusCode::OK, &run, app.core.settings().additive);
        match app.core.pending_until(&ctx.workspace, &run_id) {
            Some(finishes) => with_retry_after(response, runs::advised_delay(finishes)),
            None => response,
        }
    });
    respond(&app, result)
}

pub(super) async fn get_run_usage(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    Path(run_id): Path<String>,
) -> Response {
    let result = app
        .core
        .usage(&ctx.workspace, &run_id)
        .map(|usage| json_response(StatusCode::OK, &usage, app.core.settings().additive));
    respond(&app, result)
}
