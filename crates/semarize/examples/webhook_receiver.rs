//! A webhook receiver: verify, dedupe, complete thin events.
//!
//! ```sh
//! SEMARIZE_API_KEY=smz_test_... SEMARIZE_WEBHOOK_SECRETS=whsec_new,whsec_old \
//!     cargo run -p semarize --features axum --example webhook_receiver
//! ```

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::routing::post;
use axum::{Router, http::StatusCode};
use semarize::webhooks::{DedupeBy, Deduper, Verifier, Webhook};
use semarize::{Client, WebhookEventType};

#[derive(Clone)]
struct App {
    verifier: Arc<Verifier>,
    deduper: Deduper,
    client: Client,
}

impl FromRef<App> for Arc<Verifier> {
    fn from_ref(app: &App) -> Self {
        app.verifier.clone()
    }
}

async fn receive(State(app): State<App>, Webhook(event): Webhook) -> StatusCode {
    if !app.deduper.first_delivery(&event) {
        return StatusCode::OK; // already handled
    }
    // A thin event has no output: fetch the run before updating downstream systems.
    match event.complete(&app.client).await {
        Ok(run) => {
            match event.event_type {
                WebhookEventType::RunSucceeded => {
                    println!("run {} succeeded: {:?}", run.run_id, run.output)
                }
                WebhookEventType::RunFailed => {
                    println!("run {} failed: {:?}", run.run_id, run.error_code)
                }
                _ => println!("run {}: {}", run.run_id, event.event_type),
            }
            StatusCode::OK
        }
        // Answer 5xx so Semarize delivers again later.
        Err(e) => {
            eprintln!("{e}");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secrets =
        std::env::var("SEMARIZE_WEBHOOK_SECRETS").map_err(|_| "set SEMARIZE_WEBHOOK_SECRETS")?;
    let app = App {
        verifier: Arc::new(Verifier::new(secrets.split(',').map(str::trim))?),
        deduper: Deduper::in_memory(DedupeBy::DeliveryId),
        client: Client::from_env()?,
    };
    let router = Router::new()
        .route("/webhooks/semarize", post(receive))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!(
        "listening on http://{}/webhooks/semarize",
        listener.local_addr()?
    );
    axum::serve(listener, router).await?;
    Ok(())
}
