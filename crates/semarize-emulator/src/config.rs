//! Emulator configuration: what is fixed at start and what the control surface may change.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::kits::Catalog;

/// Behaviour that can change while the emulator runs (`PUT /_emulator/settings`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Settings {
    /// Time from queued to terminal, in milliseconds.
    pub run_latency_ms: u64,
    /// How long sync mode waits before the 202 fallback, in milliseconds.
    pub sync_wait_ms: u64,
    /// Run creations per second per workspace before 429 (`None`: unlimited).
    pub create_rate: Option<f64>,
    /// Reads per second per workspace before 429 (`None`: unlimited).
    pub read_rate: Option<f64>,
    /// The webhook retry schedule runs this many times faster than documented.
    pub time_scale: f64,
    /// Add unknown fields and enum values to responses (exercises additive /v1 changes).
    pub additive: bool,
    /// Permit `http://` and loopback webhook URLs.
    pub allow_http_webhooks: bool,
    /// A webhook payload larger than this is sent as a thin event.
    pub webhook_payload_limit_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            run_latency_ms: 1500,
            sync_wait_ms: 10_000,
            create_rate: None,
            read_rate: None,
            time_scale: 1.0,
            additive: false,
            allow_http_webhooks: false,
            webhook_payload_limit_bytes: 256 * 1024,
        }
    }
}

impl Settings {
    /// Run latency as a duration.
    pub fn run_latency(&self) -> Duration {
        Duration::from_millis(self.run_latency_ms)
    }

    /// Sync wait as a duration.
    pub fn sync_wait(&self) -> Duration {
        Duration::from_millis(self.sync_wait_ms)
    }

    /// A documented webhook delay, scaled.
    pub fn scaled(&self, documented: Duration) -> Duration {
        if self.time_scale > 0.0 {
            documented.div_f64(self.time_scale)
        } else {
            documented
        }
    }

    /// Checks the values are usable.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return Err(format!(
                "time_scale must be a positive number, not {}",
                self.time_scale
            ));
        }
        for (name, rate) in [
            ("create_rate", self.create_rate),
            ("read_rate", self.read_rate),
        ] {
            if rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
                return Err(format!("{name} must be a positive number"));
            }
        }
        Ok(())
    }
}

/// Everything the emulator starts with.
#[derive(Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Keys seeded into the default workspace; with none, one `smz_test_` key is made.
    pub api_keys: Vec<String>,
    /// Expired keys seeded into the default workspace.
    pub expired_api_keys: Vec<String>,
    /// The Kits.
    pub catalog: Catalog,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// How long the previous webhook secret keeps signing after a new one is issued.
    pub secret_rotation_grace: Duration,
    /// Runtime settings.
    pub settings: Settings,
    /// A replaying cassette to serve (feature `cassette`): a /v1 request it holds is
    /// answered with the recorded response (any order, each once), before authentication
    /// and after any armed fault; every other request is handled as usual.
    #[cfg(feature = "cassette")]
    pub cassette: Option<semarize_api::cassette::Cassette>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_keys: Vec::new(),
            expired_api_keys: Vec::new(),
            catalog: Catalog::default(),
            max_body_bytes: 5 * 1024 * 1024,
            secret_rotation_grace: Duration::from_secs(24 * 3600),
            settings: Settings::default(),
            #[cfg(feature = "cassette")]
            cassette: None,
        }
    }
}

impl std::fmt::Debug for Config {
    // API keys are secrets: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field(
                "api_keys",
                &format_args!("[{} redacted]", self.api_keys.len()),
            )
            .field(
                "expired_api_keys",
                &format_args!("[{} redacted]", self.expired_api_keys.len()),
            )
            .field("kits", &self.catalog.kits().len())
            .field("max_body_bytes", &self.max_body_bytes)
            .field("secret_rotation_grace", &self.secret_rotation_grace)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
