//! The /v1 handlers, one module per resource, each validating its input with the
//! documented codes beside the rules it enforces, then calling the core.

mod kits;
mod runs;
mod webhooks;

use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, on};
use semarize_api::types::ErrorCode;

use super::{App, error_response};
use crate::error::ApiError;

/// The handler of `operation_id` for `filter`, or `None` when the emulator has none.
pub(super) fn route(filter: MethodFilter, operation_id: &str) -> Option<MethodRouter<App>> {
    Some(match operation_id {
        "create_run" => on(filter, runs::create_run),
        "list_runs" => on(filter, runs::list_runs),
        "get_run" => on(filter, runs::get_run),
        "get_run_usage" => on(filter, runs::get_run_usage),
        "get_kit_schema" => on(filter, kits::get_kit_schema),
        "get_kit_schema_by_query" => on(filter, kits::get_kit_schema_by_query),
        "get_bricks" => on(filter, kits::get_bricks),
        "upsert_webhook" => on(filter, webhooks::upsert_webhook),
        "list_webhooks" => on(filter, webhooks::list_webhooks),
        "delete_webhook" => on(filter, webhooks::delete_webhook),
        _ => return None,
    })
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
