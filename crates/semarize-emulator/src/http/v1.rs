//! The /v1 handlers: validation with the documented codes, then the core.

use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, on};
use semarize_api::types::{ErrorCode, RunType};
use serde_json::Value;

use super::{
    App, Ctx, DropAfterCommit, error_response, header_str, json_response, read_json_object,
};
use crate::error::ApiError;
use crate::idempotency;
use crate::inspect::CreateAttempt;
use crate::runs::{self, CreateOutcome, CreateRun};
use crate::webhooks;

/// Adds the handler of `operation_id` to `methods`.
pub(super) fn handler(
    methods: MethodRouter<App>,
    filter: MethodFilter,
    operation_id: &str,
) -> MethodRouter<App> {
    let one = match operation_id {
        "create_run" => on(filter, create_run),
        "list_runs" => on(filter, list_runs),
        "get_run" => on(filter, get_run),
        "get_run_usage" => on(filter, get_run_usage),
        "get_kit_schema" => on(filter, get_kit_schema),
        "get_kit_schema_by_query" => on(filter, get_kit_schema_by_query),
        "get_bricks" => on(filter, get_bricks),
        "upsert_webhook" => on(filter, upsert_webhook),
        "list_webhooks" => on(filter, list_webhooks),
        "delete_webhook" => on(filter, delete_webhook),
        other => panic!("the route table names {other}, which has no handler"),
    };
    methods.merge(one)
}

/// The response or the error envelope, in the workspace's additive mode.
fn respond(app: &App, result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(|err| error_response(&err, app.core.settings().additive))
}

fn with_retry_after(mut response: Response, seconds: u64) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// Canonical (sorted-key) SHA-256 of a JSON value, so that key order never makes two
/// identical requests differ.
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

async fn create_run(
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
    let status = if sync { 200 } else { 202 };
    app.core.record_create(attempt(
        if dropping.is_some() { 0 } else { status },
        label,
        uuid::Uuid::parse_str(&summary.run_id).ok(),
    ));

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
        return respond(
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
        );
    }
    let delay = runs::advised_delay(finishes);
    with_retry_after(
        json_response(StatusCode::ACCEPTED, &summary, settings.additive),
        delay,
    )
}

/// The query string as pairs; a malformed one is 400.
fn query_pairs(raw: Option<String>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(raw.as_deref().unwrap_or_default()).map_err(|e| {
        ApiError::bad_request(
            ErrorCode::InvalidRequest,
            format!("the query string is malformed: {e}"),
        )
    })
}

fn query_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

async fn list_runs(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = query_pairs(raw).and_then(|pairs| {
        let limit = match query_value(&pairs, "limit") {
            None => 50,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        ErrorCode::InvalidLimit,
                        "limit must be an integer from 1 to 100",
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

async fn get_run(
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

async fn get_run_usage(
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

async fn get_kit_schema(State(app): State<App>, Path(kit_id): Path<String>) -> Response {
    let result = app
        .core
        .catalog
        .by_kit_id(&kit_id)
        .map(|kit| json_response(StatusCode::OK, &kit.schema(), app.core.settings().additive))
        .ok_or_else(|| ApiError::not_found(ErrorCode::KitNotFound));
    respond(&app, result)
}

async fn get_kit_schema_by_query(State(app): State<App>, RawQuery(raw): RawQuery) -> Response {
    let result = query_pairs(raw).and_then(|pairs| {
        // A parameter that is present but empty is a lookup that finds nothing (404);
        // only when none of the three is present is the request incomplete (400).
        let given = |name| query_value(&pairs, name);
        let catalog = &app.core.catalog;
        // kit_version_id overrides, as it does for run creation; then kit_id, then kit_code.
        let resolved = match (given("kit_version_id"), given("kit_id"), given("kit_code")) {
            (Some(version), _, _) => catalog.resolve(None, Some(version)),
            (None, Some(kit_id), _) => catalog.by_kit_id(kit_id),
            (None, None, Some(code)) => catalog.resolve(Some(code), None),
            (None, None, None) => {
                return Err(ApiError::bad_request(
                    ErrorCode::KitCodeOrKitVersionIdRequired,
                    "send one of kit_code, kit_id or kit_version_id",
                ));
            }
        };
        resolved
            .map(|kit| json_response(StatusCode::OK, &kit.schema(), app.core.settings().additive))
            .ok_or_else(|| ApiError::not_found(ErrorCode::KitNotFound))
    });
    respond(&app, result)
}

async fn get_bricks(State(app): State<App>, RawQuery(raw): RawQuery) -> Response {
    let result = query_pairs(raw).and_then(|pairs| {
        let Some(raw_ids) = query_value(&pairs, "ids") else {
            return Err(ApiError::bad_request(
                ErrorCode::IdsRequired,
                "send ids as a comma-separated list",
            ));
        };
        // An empty list asks for nothing and gets nothing, like a list of unknown ids.
        let ids: Vec<&str> = raw_ids
            .split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .collect();
        if ids.len() > 100 {
            return Err(ApiError::bad_request(
                ErrorCode::TooManyIds,
                "at most 100 ids per request",
            ));
        }
        let bricks: Vec<_> = ids
            .iter()
            .filter_map(|id| app.core.catalog.brick(id))
            .map(|b| b.metadata())
            .collect();
        Ok(json_response(
            StatusCode::OK,
            &bricks,
            app.core.settings().additive,
        ))
    });
    respond(&app, result)
}

async fn upsert_webhook(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let body = read_json_object(&headers, body, app.core.max_body_bytes()).await?;
        let url = match body.get("url") {
            Some(Value::String(url)) => url.trim().to_owned(),
            Some(_) => {
                return Err(ApiError::bad_request(
                    ErrorCode::InvalidRequest,
                    "url must be a string",
                ));
            }
            None => {
                return Err(ApiError::bad_request(
                    ErrorCode::InvalidRequest,
                    "url is required",
                ));
            }
        };
        let settings = app.core.settings();
        webhooks::check_url(&url, settings.allow_http_webhooks)?;
        let webhook = app.core.upsert_webhook(&ctx.workspace, url);
        Ok(json_response(
            StatusCode::CREATED,
            &webhook,
            settings.additive,
        ))
    }
    .await;
    respond(&app, result)
}

async fn list_webhooks(State(app): State<App>, Extension(ctx): Extension<Ctx>) -> Response {
    let hooks = app.core.list_webhooks(&ctx.workspace);
    json_response(StatusCode::OK, &hooks, app.core.settings().additive)
}

async fn delete_webhook(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
    Path(id): Path<String>,
) -> Response {
    let result = app
        .core
        .delete_webhook(&ctx.workspace, &id)
        .map(|()| axum::response::IntoResponse::into_response(StatusCode::NO_CONTENT));
    respond(&app, result)
}
