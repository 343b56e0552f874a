//! An axum extractor that verifies deliveries (feature `axum`).

use std::sync::Arc;

use axum::extract::{FromRef, FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{VerifiedEvent, Verifier, WebhookError};

/// A verified delivery, extracted in a handler. The state must provide an
/// `Arc<Verifier>` (via [`FromRef`]).
///
/// ```
/// use std::sync::Arc;
/// use axum::{Router, routing::post};
/// use semarize::webhooks::{Verifier, Webhook};
///
/// async fn receive(Webhook(event): Webhook) -> &'static str {
///     println!("{} for run {}", event.event_type, event.run_id());
///     "ok"
/// }
/// let verifier = Arc::new(Verifier::new(["whsec_example"]).unwrap());
/// let app: Router = Router::new().route("/webhooks/semarize", post(receive)).with_state(verifier);
/// ```
#[derive(Clone, Debug)]
pub struct Webhook(pub VerifiedEvent);

/// Why the extractor rejected a delivery: 400 for malformed requests, 401 for signatures
/// and timestamps, with a JSON body naming the problem.
#[derive(Debug)]
pub struct WebhookRejection {
    /// What was wrong.
    pub error: WebhookError,
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        let status = match self.error {
            WebhookError::NoMatchingSignature | WebhookError::TimestampOutOfTolerance { .. } => {
                StatusCode::UNAUTHORIZED
            }
            _ => StatusCode::BAD_REQUEST,
        };
        let body = serde_json::json!({ "error": self.error.to_string() }).to_string();
        (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

/// 413, naming the limit and how to raise it.
fn too_large(limit: usize) -> Response {
    let message = format!(
        "the delivery body is larger than this receiver's limit of {limit} bytes \
         (raise it with Verifier::max_body_bytes, or --max-body-bytes for `semarize webhooks listen`)"
    );
    tracing::warn!(limit, "webhook delivery over the body limit refused");
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "error": "payload_too_large", "detail": message }).to_string(),
    )
        .into_response()
}

impl<S> FromRequest<S> for Webhook
where
    S: Send + Sync,
    Arc<Verifier>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Arc::<Verifier>::from_ref(state);
        let (parts, body) = request.into_parts();
        let limit = verifier.body_limit();
        let bytes = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| too_large(limit))?;
        verifier
            .verify(&parts.headers, &bytes)
            .map(Webhook)
            .map_err(|error| WebhookRejection { error }.into_response())
    }
}
