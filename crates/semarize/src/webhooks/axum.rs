//! An axum extractor that verifies deliveries (feature `axum`).

use std::sync::Arc;

use axum::body::Bytes;
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

impl<S> FromRequest<S> for Webhook
where
    S: Send + Sync,
    Arc<Verifier>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Arc::<Verifier>::from_ref(state);
        let (parts, body) = request.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        verifier
            .verify(&parts.headers, &bytes)
            .map(Webhook)
            .map_err(|error| WebhookRejection { error }.into_response())
    }
}
