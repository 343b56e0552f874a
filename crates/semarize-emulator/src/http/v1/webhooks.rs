//! `/v1/webhooks`: the workspace endpoint (rules in [`crate::webhooks`]).

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use semarize_api::types::ErrorCode;
use serde_json::Value;

use super::respond;
use crate::error::ApiError;
use crate::http::{App, Ctx, json_response, read_json_object};
use crate::webhooks;

pub(super) async fn upsert_webhook(
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

pub(super) async fn list_webhooks(
    State(app): State<App>,
    Extension(ctx): Extension<Ctx>,
) -> Response {
    let hooks = app.core.list_webhooks(&ctx.workspace);
    json_response(StatusCode::OK, &hooks, app.core.settings().additive)
}

pub(super) async fn delete_webhook(
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
