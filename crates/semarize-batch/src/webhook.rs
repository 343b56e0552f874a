//! Webhook completion for batches: a local receiver that verifies, dedupes and finishes
//! records by run id, so polls are only the fallback for late webhooks.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::post;

use super::completion::{Completion, complete_from_webhook};
use super::engine::Progress;
use super::ledger::Ledger;
use crate::BatchError;
use semarize::Client;
use semarize::webhooks::{DedupeBy, Deduper, Verifier, Webhook};

#[derive(Clone)]
struct ReceiverState {
    verifier: Arc<Verifier>,
    deduper: Deduper,
    ledger: Arc<dyn Ledger>,
    client: Client,
    progress: Arc<Progress>,
}

impl FromRef<ReceiverState> for Arc<Verifier> {
    fn from_ref(state: &ReceiverState) -> Self {
        state.verifier.clone()
    }
}

/// A running receiver.
#[derive(Debug)]
pub struct WebhookReceiver {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The URL registered with the API.
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(state): State<ReceiverState>, Webhook(event): Webhook) -> StatusCode {
    if !state.deduper.first_delivery(&event) {
        return StatusCode::OK;
    }
    match complete_from_webhook(state.ledger.as_ref(), &state.client, &event).await {
        Ok(Completion::Finished(finished)) => {
            state
                .progress
                .by_webhook
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            state.progress.record_done(Some(finished));
            StatusCode::OK
        }
        Ok(_) => StatusCode::OK,
        // Not stored: answer 5xx so Semarize delivers again.
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// How a batch's webhook receiver registers itself.
///
/// v1 has one webhook endpoint per workspace, and registering one replaces the endpoint
/// the workspace had (production deliveries would come here, and the new secret breaks
/// the old receiver). So an existing endpoint at another URL is an error unless
/// [`replace_existing`](ReceiverOptions::replace_existing) says otherwise.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ReceiverOptions {
    /// The URL Semarize delivers to: a public HTTPS address that forwards to the
    /// listener's `/webhooks/semarize` (a tunnel or a reverse proxy). Default:
    /// `http://<listen>/webhooks/semarize`, which only a local emulator accepts.
    pub public_url: Option<String>,
    /// Replace an endpoint the workspace already has at another URL.
    pub replace_existing: bool,
}

impl ReceiverOptions {
    /// Register `url` instead of the listener's local address.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// Replace the workspace's existing endpoint, if it has one.
    pub fn replace_existing(mut self, replace: bool) -> Self {
        self.replace_existing = replace;
        self
    }
}

/// Binds `listen`, registers the receiver as the workspace's endpoint (see
/// [`ReceiverOptions`]: an existing endpoint elsewhere is kept unless replacing is asked),
/// and serves it.
pub async fn start_webhook_receiver(
    listen: SocketAddr,
    client: Client,
    ledger: Arc<dyn Ledger>,
    progress: Arc<Progress>,
    options: ReceiverOptions,
) -> Result<WebhookReceiver, BatchError> {
    let listen_error = |source| BatchError::Listen {
        addr: listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(listen_error)?;
    let addr = listener.local_addr().map_err(listen_error)?;
    let url = options
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}/webhooks/semarize"));
    if !options.replace_existing
        && let Some(existing) = client
            .webhooks()
            .list()
            .send()
            .await?
            .into_iter()
            .find(|hook| hook.url != url)
    {
        return Err(BatchError::WebhookEndpointInUse {
            existing_url: semarize::text::printable(&existing.url, 200).into_owned(),
        });
    }
    let registered = client.webhooks().upsert(&url).send().await?;
    let state = ReceiverState {
        verifier: Arc::new(Verifier::from_secrets([registered.secret])?),
        deduper: Deduper::in_memory(DedupeBy::DeliveryId),
        ledger,
        client,
        progress,
    };
    let app = Router::new()
        .route("/webhooks/semarize", post(receive))
        .with_state(state);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the webhook receiver stopped");
        }
    });
    Ok(WebhookReceiver { addr, url, task })
}
