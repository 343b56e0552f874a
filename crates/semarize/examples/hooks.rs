//! Hooks: a header added to every request, and every attempt observed.
//!
//! ```sh
//! # offline, against an emulator started inside the example (its first creation answers
//! # 503, so a retry shows):
//! cargo run -p semarize --example hooks
//! # against Semarize (or any emulator):
//! SEMARIZE_API_KEY=smz_live_... cargo run -p semarize --example hooks
//! ```

use std::time::Duration;

use semarize::hooks::{Hook, RequestParts, ResponseInfo};
use semarize::{Client, ClientBuilder};

/// Adds `X-Tenant-Id` to every request.
struct Tenant(&'static str);

impl Hook for Tenant {
    fn on_request(&self, request: &mut RequestParts<'_>) {
        let value = self.0.parse().expect("a valid header value");
        request.headers_mut().insert("x-tenant-id", value);
    }
}

/// Prints one line per attempt.
struct PrintAttempts;

impl Hook for PrintAttempts {
    fn on_request(&self, request: &mut RequestParts<'_>) {
        println!(
            "-> {} attempt {} (x-tenant-id: {:?}, idempotency-key: {:?}, {:?} into the call)",
            request.operation_id(),
            request.attempt(),
            request.headers().get("x-tenant-id"),
            request.idempotency_key(),
            request.elapsed(),
        );
    }

    fn on_response(&self, response: &ResponseInfo<'_>) {
        println!(
            "<- {} attempt {}: {:?} in {:?}, request id {:?}, retry follows: {}",
            response.operation_id(),
            response.attempt(),
            response.status().map(|s| s.as_u16()),
            response.latency(),
            response.request_id(),
            response.will_retry(),
        );
    }
}

fn with_hooks(builder: ClientBuilder) -> ClientBuilder {
    builder.hook(Tenant("acme")).hook(PrintAttempts)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // With SEMARIZE_API_KEY set, the real service (or SEMARIZE_BASE_URL); else a local
    // emulator in this process, so the example runs without a key or a network.
    let (client, emulator) = match std::env::var("SEMARIZE_API_KEY") {
        Ok(key) => {
            let mut builder = with_hooks(Client::builder().api_key(key));
            if let Ok(url) = std::env::var("SEMARIZE_BASE_URL") {
                builder = builder.base_url(url);
            }
            (builder.build()?, None)
        }
        Err(_) => {
            let emulator = semarize_emulator::Emulator::start(Default::default()).await?;
            emulator.control().fail_next("create_run", 1, 503, Some(1));
            let builder = Client::builder()
                .api_key(emulator.api_key())
                .base_url(emulator.base_url());
            (with_hooks(builder).build()?, Some(emulator))
        }
    };
    let created = client
        .runs()
        .create_with_kit_code("A1B2C3D4")
        .transcript("Rep: What drove the urgency? Prospect: We lose 3 hours a week.")
        .send_with_response()
        .await?;
    println!(
        "created {} (HTTP {}, request id {:?}, {} attempts)",
        created.run.run_id,
        created.status(),
        created.request_id(),
        created.attempts()
    );
    let outcome = created
        .into_inner()
        .wait(&client, Duration::from_secs(60))
        .await?;
    println!("finished: {:?}", outcome.run().status);
    if let Some(emulator) = emulator {
        emulator.shutdown().await;
    }
    Ok(())
}
