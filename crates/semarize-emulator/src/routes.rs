//! The /v1 route table: one row per documented operation.
//!
//! The router is built from this table and `cargo xtask spec check` checks that it is the
//! same set as the spec's operations, so the emulator cannot silently miss or invent one.

/// One /v1 route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// HTTP method, upper case.
    pub method: &'static str,
    /// Path template, in the spec's `{param}` syntax (which axum shares).
    pub path: &'static str,
    /// The spec's operationId.
    pub operation_id: &'static str,
}

const fn route(method: &'static str, path: &'static str, operation_id: &'static str) -> Route {
    Route {
        method,
        path,
        operation_id,
    }
}

/// Every /v1 route the emulator serves.
pub const ROUTES: &[Route] = &[
    route("POST", "/v1/runs", "create_run"),
    route("GET", "/v1/runs", "list_runs"),
    route("GET", "/v1/runs/{runId}", "get_run"),
    route("GET", "/v1/runs/{runId}/usage", "get_run_usage"),
    route("GET", "/v1/kits/{kitId}/schema", "get_kit_schema"),
    route("GET", "/v1/kits/schema", "get_kit_schema_by_query"),
    route("GET", "/v1/bricks", "get_bricks"),
    route("POST", "/v1/webhooks", "upsert_webhook"),
    route("GET", "/v1/webhooks", "list_webhooks"),
    route("DELETE", "/v1/webhooks/{id}", "delete_webhook"),
];

/// The operationId of a matched route.
pub fn operation_id(method: &str, path: &str) -> Option<&'static str> {
    ROUTES
        .iter()
        .find(|r| r.method == method && r.path == path)
        .map(|r| r.operation_id)
}
