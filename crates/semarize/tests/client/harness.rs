//! An emulator and a client with injected time for each test.

use std::sync::Arc;

use semarize::runtime::{FixedJitter, Runtime, VirtualTime};
use semarize::{Client, ClientBuilder, RetryBudget};
use semarize_emulator::{Config, Emulator, Settings};

pub const TRANSCRIPT: &str = "Rep: What drove the urgency? Prospect: We are losing 3 hours a week on manual reporting.\nRep: Budget? Prospect: We can spend $500 a month. Let's schedule a meeting next week.";

pub struct Harness {
    pub emulator: Emulator,
    /// Sleeps are recorded on this clock; each also waits 1/100 of its length in real
    /// time so the emulator's runs progress.
    pub time: VirtualTime,
    pub client: Client,
}

pub async fn harness() -> Harness {
    harness_with(|_| {}, |b| b).await
}

pub async fn harness_with(
    settings: impl FnOnce(&mut Settings),
    builder: impl FnOnce(ClientBuilder) -> ClientBuilder,
) -> Harness {
    harness_with_jitter(0.0, settings, builder).await
}

/// A harness whose every jitter draw is `fraction` (0: no random share of the backoff,
/// only floors and advice; 1: the whole backoff ceiling).
pub async fn harness_with_jitter(
    fraction: f64,
    settings: impl FnOnce(&mut Settings),
    builder: impl FnOnce(ClientBuilder) -> ClientBuilder,
) -> Harness {
    let mut s = Settings {
        run_latency_ms: 60,
        sync_wait_ms: 2_000,
        allow_http_webhooks: true,
        time_scale: 600.0,
        ..Settings::default()
    };
    settings(&mut s);
    let emulator = Emulator::start(Config {
        settings: s,
        ..Config::default()
    })
    .await
    .unwrap();
    let time = VirtualTime::scaled(100.0);
    let client = builder(
        Client::builder()
            .api_key(emulator.api_key())
            .base_url(emulator.base_url())
            // Fixed jitter: delays are exact, so tests can assert them.
            .runtime(Runtime::virtual_time(time.clone(), FixedJitter(fraction)))
            .retry_budget(Arc::new(RetryBudget::unlimited())),
    )
    .build()
    .unwrap();
    Harness {
        emulator,
        time,
        client,
    }
}

impl Harness {
    pub fn create(&self) -> semarize::resources::CreateRun<'_> {
        self.client
            .runs()
            .create_with_kit_code("A1B2C3D4")
            .transcript(TRANSCRIPT)
    }
}
