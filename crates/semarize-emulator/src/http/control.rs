//! `/_emulator`: the control surface over HTTP (documented in the README).

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use semarize_api::types::ErrorCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{App, inspector, read_json_object};
use crate::config::Settings;
use crate::control::Control;
use crate::error::ApiError;
use crate::faults::{FaultSpec, ForcedOutcome, WebhookFaults};

pub(super) fn router() -> Router<App> {
    Router::new()
        .route(
            "/health",
            get(|| async { Json(serde_json::json!({"ok": true})) }),
        )
        .route("/faults", post(inject).delete(clear))
        .route("/latency", put(latency))
        .route("/outcomes", post(outcomes))
        .route("/runs/{id}/fail", post(fail_run))
        .route("/runs/{id}/cancel", post(cancel_run))
        .route("/webhook-faults", put(webhook_faults))
        .route("/settings", get(get_settings).put(put_settings))
        .route("/workspaces", post(add_workspace))
        .route(
            "/inspect/creates",
            get(|State(app): State<App>| async move { Json(control(&app).create_attempts()) }),
        )
        .route(
            "/inspect/keys",
            get(|State(app): State<App>| async move { Json(control(&app).runs_per_key()) }),
        )
        .route(
            "/inspect/deliveries",
            get(|State(app): State<App>| async move { Json(control(&app).deliveries()) }),
        )
        .route(
            "/inspect/calls",
            get(|State(app): State<App>| async move { Json(control(&app).calls()) }),
        )
        .route(
            "/inspect/runs",
            get(|State(app): State<App>| async move { Json(control(&app).runs()) }),
        )
        .route("/inspect/runs/{id}", get(run_detail))
        .route(
            "/inspect/requests",
            get(|State(app): State<App>| async move { Json(control(&app).requests()) }),
        )
        .route(
            "/inspect/faults",
            get(|State(app): State<App>| async move { Json(control(&app).armed_faults()) }),
        )
        .route(
            "/inspect/webhooks",
            get(|State(app): State<App>| async move { Json(control(&app).webhook_endpoints()) }),
        )
        .route("/inspect/webhook-secret", post(reveal_secret))
        .route("/", get(page))
}

/// `GET /_emulator/`: the inspector page.
pub(super) async fn page(State(app): State<App>, RawQuery(raw): RawQuery) -> Response {
    inspector::page(&control(&app), &inspector::query(raw.as_deref()))
}

async fn run_detail(State(app): State<App>, Path(id): Path<String>) -> Response {
    match control(&app).run_detail(&id) {
        Some(run) => Json(run).into_response(),
        None => ApiError::not_found(ErrorCode::RunNotFound).into_response(),
    }
}

#[derive(Deserialize)]
struct RevealBody {
    workspace_id: String,
}

/// The reveal control of the inspector page: a JSON request, so only the page itself
/// (same origin, checked by the guard) can read a secret through a browser.
async fn reveal_secret(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let body = match parse::<RevealBody>(&app, &headers, body).await {
        Ok(body) => body,
        Err(err) => return err.into_response(),
    };
    match control(&app).webhook_secret(&body.workspace_id) {
        Some(secret) => Json(serde_json::json!({ "secret": secret })).into_response(),
        None => ApiError::not_found(ErrorCode::NotFound)
            .detail("that workspace has no webhook endpoint")
            .into_response(),
    }
}

fn control(app: &App) -> Control {
    Control {
        core: app.core.clone(),
    }
}

/// Parses a control body into `T`; errors are the flat envelope.
async fn parse<T: DeserializeOwned>(
    app: &App,
    headers: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    let map = read_json_object(headers, body, app.core.max_body_bytes()).await?;
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidRequest, e.to_string()))
}

fn done(result: Result<(), ApiError>) -> Response {
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) => err.into_response(),
    }
}

async fn inject(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    done(
        parse::<FaultSpec>(&app, &headers, body)
            .await
            .map(|spec| control(&app).inject(spec)),
    )
}

async fn clear(State(app): State<App>) -> Response {
    control(&app).clear_faults();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct LatencyBody {
    #[serde(default = "all")]
    operation: String,
    ms: u64,
    /// One call in this many waits (default 1: each call).
    #[serde(default = "every_call")]
    every: u32,
}

fn every_call() -> u32 {
    1
}

fn all() -> String {
    "*".to_owned()
}

async fn latency(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    done(
        parse::<LatencyBody>(&app, &headers, body)
            .await
            .map(|b| control(&app).set_latency_every(&b.operation, b.ms, b.every)),
    )
}

#[derive(Deserialize)]
struct OutcomesBody {
    #[serde(default = "one")]
    count: u32,
    #[serde(flatten)]
    outcome: ForcedOutcome,
}

fn one() -> u32 {
    1
}

async fn outcomes(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    done(
        parse::<OutcomesBody>(&app, &headers, body)
            .await
            .map(|b| control(&app).force_next_runs(b.outcome, b.count)),
    )
}

#[derive(Deserialize, Default)]
struct FailBody {
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default)]
    error_user_message: Option<String>,
}

fn force(app: &App, run_id: &str, outcome: ForcedOutcome) -> Response {
    done(
        control(app).force_run(run_id, outcome).map_err(|why| {
            ApiError::new(StatusCode::CONFLICT, ErrorCode::InvalidRequest).detail(why)
        }),
    )
}

async fn fail_run(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = if headers.contains_key("content-type") {
        match parse::<FailBody>(&app, &headers, body).await {
            Ok(b) => b,
            Err(err) => return err.into_response(),
        }
    } else {
        FailBody::default()
    };
    let outcome = ForcedOutcome::Fail {
        error_code: body
            .error_code
            .unwrap_or_else(|| "run_request_failed".to_owned()),
        error_message: body.error_message,
        error_user_message: body.error_user_message,
    };
    force(&app, &id, outcome)
}

async fn cancel_run(State(app): State<App>, Path(id): Path<String>) -> Response {
    force(&app, &id, ForcedOutcome::Cancel)
}

async fn webhook_faults(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    done(
        parse::<WebhookFaults>(&app, &headers, body)
            .await
            .map(|f| control(&app).set_webhook_faults(f)),
    )
}

async fn get_settings(State(app): State<App>) -> Json<Settings> {
    Json(control(&app).settings())
}

async fn put_settings(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let map = read_json_object(&headers, body, app.core.max_body_bytes()).await?;
        // A partial body changes only the fields it names; a name that is not a setting
        // is a mistake to report, not to ignore.
        let mut current = serde_json::to_value(app.core.settings()).expect("settings serialize");
        for (k, v) in map {
            if current.get(&k).is_none() {
                return Err(ApiError::bad_request(
                    ErrorCode::InvalidRequest,
                    format!("unknown setting {k:?}"),
                ));
            }
            current[k] = v;
        }
        let settings: Settings = serde_json::from_value(current)
            .map_err(|e| ApiError::bad_request(ErrorCode::InvalidRequest, e.to_string()))?;
        app.core
            .set_settings(settings.clone())
            .map_err(|why| ApiError::bad_request(ErrorCode::InvalidRequest, why))?;
        Ok::<_, ApiError>(Json(settings).into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn add_workspace(State(app): State<App>) -> Response {
    (StatusCode::CREATED, Json(control(&app).add_workspace())).into_response()
}
