//! `/v1/kits/...` and `/v1/bricks`: Kit schemas and Brick metadata from the catalogue.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use semarize_api::types::ErrorCode;

use super::{query_pairs, query_value, respond};
use crate::error::ApiError;
use crate::http::{App, json_response};

pub(super) async fn get_kit_schema(State(app): State<App>, Path(kit_id): Path<String>) -> Response {
    let result = app
        .core
        .catalog
        .by_kit_id(&kit_id)
        .map(|kit| json_response(StatusCode::OK, &kit.schema(), app.core.settings().additive))
        .ok_or_else(|| ApiError::not_found(ErrorCode::KitNotFound));
    respond(&app, result)
}

pub(super) async fn get_kit_schema_by_query(
    State(app): State<App>,
    RawQuery(raw): RawQuery,
) -> Response {
    let result = query_pairs(raw).and_then(|pairs| {
        // A parameter that is present but empty is a lookup that finds nothing (404);
        // only when none of the three is present is the request incomplete (400).
        let given = |name| query_value(&pairs, name);
        let catalog = &app.core.catalog;
        // Exactly one of the three, as the spec says: two could name different Kits, and
        // silently preferring one would hide the caller's mistake.
        let resolved = match (given("kit_version_id"), given("kit_id"), given("kit_code")) {
            (Some(version), None, None) => catalog.resolve(None, Some(version)),
            (None, Some(kit_id), None) => catalog.by_kit_id(kit_id),
            (None, None, Some(code)) => catalog.resolve(Some(code), None),
            (None, None, None) => {
                return Err(ApiError::bad_request(
                    ErrorCode::KitCodeOrKitVersionIdRequired,
                    "send one of kit_code, kit_id or kit_version_id",
                ));
            }
            _ => {
                return Err(ApiError::bad_request(
                    ErrorCode::InvalidRequest,
                    "send exactly one of kit_code, kit_id or kit_version_id",
                ));
            }
        };
        resolved
            .map(|kit| json_response(StatusCode::OK, &kit.schema(), app.core.settings().additive))
            .ok_or_else(|| ApiError::not_found(ErrorCode::KitNotFound))
    });
    respond(&app, result)
}

pub(super) async fn get_bricks(State(app): State<App>, RawQuery(raw): RawQuery) -> Response {
    let result = query_pairs(raw).and_then(|pairs| {
        let Some(raw_ids) = query_value(&pairs, "ids") else {
            return Err(ApiError::bad_request(
                ErrorCode::IdsRequired,
                "send ids as a comma-separated list",
            ));
        };
        // Entries as sent: the spec's pattern counts characters between commas, so an
        // entry of spaces is an (unknown) id, not an empty entry. Lookups trim it.
        let ids: Vec<&str> = raw_ids.split(',').collect();
        // `ids=` (or only commas) names no Brick: the spec's "none is 400".
        if ids.iter().all(|id| id.is_empty()) {
            return Err(ApiError::bad_request(
                ErrorCode::IdsRequired,
                "send at least one Brick id",
            ));
        }
        // The spec's pattern: no empty entry between commas (a list built wrongly).
        if ids.iter().any(|id| id.is_empty()) {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidRequest,
                "ids has an empty entry: separate the ids with single commas",
            ));
        }
        // The spec's item count (`x-list-max-items` of the `ids` parameter).
        let max = semarize_api::operations::GET_BRICKS
            .parameter("ids")
            .and_then(|p| p.limits.max_items);
        if let Some(max) = max
            && ids.len() as u64 > max
        {
            return Err(ApiError::bad_request(
                ErrorCode::TooManyIds,
                format!("at most {max} ids per request"),
            ));
        }
        let bricks: Vec<_> = ids
            .iter()
            .filter_map(|id| app.core.catalog.brick(id.trim()))
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
