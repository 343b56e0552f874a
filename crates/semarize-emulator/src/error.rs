//! The flat error envelope every failure is answered with.

use axum::http::StatusCode;
use semarize_api::types::ErrorCode;

/// An API error: a status, the `error` code and optional context.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The `error` value.
    pub code: ErrorCode,
    /// The `detail` value, when there is more to say.
    pub detail: Option<String>,
    /// Seconds to wait (429 and injected faults): `Retry-After` and `retry_after_seconds`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error without detail.
    pub fn new(status: StatusCode, code: ErrorCode) -> Self {
        ApiError {
            status,
            code,
            detail: None,
            retry_after: None,
        }
    }

    /// Adds a detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// 400 with a code and detail.
    pub fn bad_request(code: ErrorCode, detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code).detail(detail)
    }

    /// 404 with a code.
    pub fn not_found(code: ErrorCode) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, code)
    }

    /// 429 with the advised delay.
    pub fn rate_limited(retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited)
        }
    }

    /// The JSON body.
    pub fn body(&self) -> semarize_api::types::ErrorEnvelope {
        crate::built(
            semarize_api::types::ErrorEnvelope::builder()
                .error(self.code.clone())
                .detail(self.detail.clone())
                .message(Some(
                    self.status.canonical_reason().unwrap_or("Error").to_owned(),
                ))
                .retry_after_seconds(self.retry_after),
        )
    }
}
