//! Shared helpers: an emulator per test, raw calls, and a webhook receiver.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use semarize_emulator::{Config, Emulator, Settings};
use serde_json::{Value, json};

pub const TRANSCRIPT: &str = "Rep: What drove the urgency? Prospect: We are losing 3 hours a week on manual reporting.\nRep: Is there budget? Prospect: Yes, we can spend $500 a month. Let's schedule a meeting next week.";

pub struct Env {
    pub emulator: Emulator,
    pub http: reqwest::Client,
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Option<Value>,
}

impl Reply {
    pub fn json(&self) -> &Value {
        self.body.as_ref().expect("a JSON body")
    }

    pub fn error(&self) -> &str {
        self.json()["error"].as_str().expect("an error envelope")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The committed spec, which the emulator implements (semarize-api may have been
/// generated from another: CI's additive run sets `SEMARIZE_API_SPEC`).
pub fn committed_spec() -> semarize_spec::Spec {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../openapi/semarize.yaml"
    ))
    .expect("the committed spec is readable");
    semarize_spec::Spec::parse(&text).expect("the committed spec parses")
}

/// Fast defaults for tests: short latency, short sync wait, http webhooks allowed.
pub async fn start(change: impl FnOnce(&mut Settings)) -> Env {
    let mut settings = Settings {
        run_latency_ms: 60,
        sync_wait_ms: 2_000,
        allow_http_webhooks: true,
        time_scale: 6_000.0,
        ..Settings::default()
    };
    change(&mut settings);
    let emulator = Emulator::start(Config {
        settings,
        ..Config::default()
    })
    .await
    .expect("emulator starts");
    Env {
        emulator,
        http: reqwest::Client::new(),
    }
}

pub fn create_body() -> Value {
    json!({"kit_code": "A1B2C3D4", "input": {"transcript": TRANSCRIPT}})
}

impl Env {
    pub fn key(&self) -> String {
        self.emulator.api_key().to_owned()
    }

    /// The generated client, authenticated with `key`.
    pub fn api(&self, key: &str) -> semarize_api::Client {
        let context = semarize_api::RequestContext::new()
            .with_bearer(key)
            .unwrap();
        semarize_api::Client::new(self.emulator.base_url(), context)
    }

    /// One request as it went: status, headers and the whole body, or the transport
    /// error (a dropped connection, a body cut short).
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>), reqwest::Error> {
        let mut request = self.http.request(
            method.parse().unwrap(),
            format!("{}{path}", self.emulator.base_url()),
        );
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await?;
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        Ok((status, headers, response.bytes().await?.to_vec()))
    }

    /// [`raw`](Env::raw), answered and with a JSON body (or none).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        key: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let (status, headers, bytes) = self
            .raw(method, path, body, key, headers)
            .await
            .expect("the emulator answers");
        let body = if bytes.is_empty() {
            None
        } else {
            Some(serde_json::from_slice(&bytes).expect("every body is JSON"))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Registers `url` as the workspace's webhook endpoint; its signing secret.
    pub async fn register(&self, url: &str) -> String {
        let reply = self
            .call(
                "POST",
                "/v1/webhooks",
                Some(&json!({"url": url})),
                Some(&self.key()),
                &[],
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        let secret = reply.json()["secret"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("whsec_"));
        secret
    }

    /// A control-surface call (no API key).
    pub async fn control(&self, method: &str, path: &str, body: Value) -> Reply {
        self.call(method, path, Some(&body), None, &[]).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None, Some(&self.key()), &[]).await
    }

    pub async fn create(&self, body: &Value, idempotency_key: Option<&str>) -> Reply {
        let headers: Vec<(&str, &str)> = idempotency_key
            .map(|k| ("idempotency-key", k))
            .into_iter()
            .collect();
        self.call("POST", "/v1/runs", Some(body), Some(&self.key()), &headers)
            .await
    }

    /// Polls until the run is terminal (bounded).
    pub async fn wait_terminal(&self, run_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let reply = self.get(&format!("/v1/runs/{run_id}")).await;
            assert_eq!(reply.status, 200);
            let status = reply.json()["status"].as_str().unwrap().to_owned();
            if ["succeeded", "failed", "cancelled"].contains(&status.as_str()) {
                return reply.body.unwrap();
            }
            assert!(Instant::now() < deadline, "run {run_id} never finished");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Runs `check` until it holds (bounded), for things that happen in the background.
    pub async fn eventually(&self, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// One delivery a receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A webhook receiver on loopback that records deliveries and answers the statuses
/// queued in `fail_first` (then 200).
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub fail_first: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let fail_first: Arc<Mutex<Vec<u16>>> = Arc::default();
        let (r, f) = (received.clone(), fail_first.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let (r, f) = (r.clone(), f.clone());
                async move {
                    r.lock().unwrap().push(Received {
                        headers,
                        body: body.to_vec(),
                    });
                    let status = {
                        let mut f = f.lock().unwrap();
                        if f.is_empty() { 200 } else { f.remove(0) }
                    };
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            url,
            received,
            fail_first,
        }
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}
