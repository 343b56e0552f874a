//! Hooks: once per attempt, inside the retry loop and on raw calls; headers added by
//! hooks reach the wire, the API key never reaches a hook; responses with their headers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use semarize::hooks::{Hook, RequestParts, ResponseInfo};
use semarize::{Client, RetryPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::harness_with;

/// What a hook saw, one line per call of it.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Seen>>,
}

#[derive(Clone, Debug, PartialEq)]
enum Seen {
    Request {
        operation: &'static str,
        attempt: u32,
        key: Option<String>,
        elapsed: Duration,
        authorization_visible: bool,
    },
    Response {
        operation: &'static str,
        attempt: u32,
        status: Option<u16>,
        request_id: Option<String>,
        will_retry: bool,
    },
}

impl Hook for Recorder {
    fn on_request(&self, request: &mut RequestParts<'_>) {
        self.seen.lock().unwrap().push(Seen::Request {
            operation: request.operation_id(),
            attempt: request.attempt(),
            key: request.idempotency_key().map(str::to_owned),
            elapsed: request.elapsed(),
            authorization_visible: request.headers().contains_key("authorization"),
        });
    }

    fn on_response(&self, response: &ResponseInfo<'_>) {
        self.seen.lock().unwrap().push(Seen::Response {
            operation: response.operation_id(),
            attempt: response.attempt(),
            status: response.status().map(|s| s.as_u16()),
            request_id: response.request_id().map(str::to_owned),
            will_retry: response.will_retry(),
        });
    }
}

impl Recorder {
    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut self.seen.lock().unwrap())
    }
}

/// Tries to take over the headers a hook must not change.
struct Meddler;

impl Hook for Meddler {
    fn on_request(&self, request: &mut RequestParts<'_>) {
        let headers = request.headers_mut();
        headers.insert("authorization", "Bearer smz_test_stolen".parse().unwrap());
        headers.insert("idempotency-key", "hijacked".parse().unwrap());
        headers.insert("x-tenant-id", "acme".parse().unwrap());
    }
}

#[tokio::test]
async fn a_hook_sees_every_attempt_of_a_retried_creation_with_one_key() {
    let recorder = Arc::new(Recorder::default());
    let hook = recorder.clone();
    let h = harness_with(|_| {}, move |b| b.hook(Meddler).hook(hook)).await;
    h.emulator
        .control()
        .fail_next("create_run", 2, 503, Some(2));
    let created = h
        .create()
        .idempotency_key("hooked-creation-1")
        .send()
        .await
        .unwrap();
    assert_eq!(created.attempts, 3);

    let seen = recorder.take();
    assert_eq!(seen.len(), 6, "{seen:#?}");
    for (i, pair) in seen.chunks(2).enumerate() {
        let attempt = i as u32 + 1;
        let Seen::Request {
            operation,
            attempt: sent,
            key,
            elapsed,
            authorization_visible,
        } = &pair[0]
        else {
            panic!("a request before each response: {seen:#?}");
        };
        assert_eq!((*operation, *sent), ("create_run", attempt));
        // The Meddler ran first: its Idempotency-Key did not stick, nor did its
        // Authorization (the creation was accepted with the real key).
        assert_eq!(key.as_deref(), Some("hooked-creation-1"));
        assert!(!authorization_visible, "hooks never see Authorization");
        // Each retry waited at least the advised 2 s on the injected clock.
        assert!(*elapsed >= Duration::from_secs(2 * (u64::from(attempt) - 1)));
        let Seen::Response {
            operation,
            attempt: answered,
            status,
            request_id,
            will_retry,
        } = &pair[1]
        else {
            panic!("a response after each request: {seen:#?}");
        };
        assert_eq!((*operation, *answered), ("create_run", attempt));
        assert_eq!(*status, Some(if attempt < 3 { 503 } else { 202 }));
        assert_eq!(*will_retry, attempt < 3);
        assert!(request_id.is_some());
    }
    let attempts = h.emulator.control().create_attempts();
    assert_eq!(attempts.len(), 3);
    assert!(
        attempts
            .iter()
            .all(|a| a.idempotency_key.as_deref() == Some("hooked-creation-1"))
    );
    assert_eq!(h.emulator.control().runs().len(), 1);
}

#[tokio::test]
async fn raw_calls_run_the_hooks_as_attempt_one() {
    let recorder = Arc::new(Recorder::default());
    let hook = recorder.clone();
    let h = harness_with(|_| {}, move |b| b.hook(hook)).await;
    let response = h
        .client
        .raw()
        .create_run()
        .idempotency_key("raw-key-1")
        .body(semarize::serde_json::json!({
            "kit_code": "A1B2C3D4",
            "input": { "transcript": crate::harness::TRANSCRIPT },
        }))
        .send()
        .await
        .unwrap();
    let seen = recorder.take();
    assert_eq!(
        seen,
        vec![
            Seen::Request {
                operation: "create_run",
                attempt: 1,
                key: Some("raw-key-1".into()),
                elapsed: Duration::ZERO,
                authorization_visible: false,
            },
            Seen::Response {
                operation: "create_run",
                attempt: 1,
                status: Some(response.status().as_u16()),
                request_id: response
                    .headers()
                    .get("x-request-id")
                    .map(|v| v.to_str().unwrap().to_owned()),
                will_retry: false,
            },
        ]
    );
}

#[tokio::test]
async fn attempts_without_a_response_are_reported_without_a_status() {
    // A port nothing listens on: every attempt fails to connect.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let recorder = Arc::new(Recorder::default());
    let client = Client::builder()
        .api_key("smz_test_hooks")
        .base_url(format!("http://{address}"))
        .runtime(semarize::runtime::Runtime::virtual_time(
            semarize::runtime::VirtualTime::new(),
            semarize::runtime::FixedJitter(0.0),
        ))
        .retry_policy(RetryPolicy::default().max_attempts(2))
        .hook(recorder.clone())
        .build()
        .unwrap();
    client.runs().list().send().await.unwrap_err();
    let responses: Vec<(u32, Option<u16>, bool, bool)> = recorder
        .take()
        .into_iter()
        .filter_map(|seen| match seen {
            Seen::Response {
                attempt,
                status,
                request_id,
                will_retry,
                ..
            } => Some((attempt, status, request_id.is_some(), will_retry)),
            Seen::Request { .. } => None,
        })
        .collect();
    // The request id is the one sent, since no answer carried one.
    assert_eq!(
        responses,
        vec![(1, None, true, true), (2, None, true, false)]
    );
}

/// A hook that adds a tenant header.
struct Tenant;

impl Hook for Tenant {
    fn on_request(&self, request: &mut RequestParts<'_>) {
        request
            .headers_mut()
            .insert("x-tenant-id", "acme".parse().unwrap());
    }
}

#[tokio::test]
async fn headers_added_by_hooks_reach_the_wire_and_authorization_is_the_clients() {
    // A listener that reads one request head and answers 404, to see the bytes sent.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "the request head ended early");
            head.extend_from_slice(&buf[..n]);
        }
        let body = r#"{"error":"run_not_found","message":"no such run"}"#;
        let answer = format!(
            "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(answer.as_bytes()).await.unwrap();
        String::from_utf8(head).unwrap().to_ascii_lowercase()
    });
    let client = Client::builder()
        .api_key("smz_test_wirecheck")
        .base_url(format!("http://{address}"))
        .hook(Tenant)
        .hook(Meddler)
        .build()
        .unwrap();
    let error = client
        .runs()
        .get("00000000-0000-4000-8000-000000000000")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(404));
    let head = tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("the listener saw the request")
        .unwrap();
    assert!(head.contains("\r\nx-tenant-id: acme\r\n"), "{head}");
    assert!(
        head.contains("\r\nauthorization: bearer smz_test_wirecheck\r\n"),
        "{head}"
    );
    assert!(!head.contains("stolen"), "{head}");
    assert!(
        !head.contains("idempotency-key"),
        "a GET gains no key: {head}"
    );
}

#[tokio::test]
async fn send_with_response_gives_the_request_id_headers_and_attempts() {
    let h = harness_with(|_| {}, |b| b).await;
    h.emulator.control().fail_next("list_runs", 1, 503, None);
    let response = h.client.runs().list().send_with_response().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.attempts(), 2);
    let request_id = response
        .request_id()
        .expect("the emulator sends X-Request-Id");
    assert_eq!(
        response
            .headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap(),
        request_id
    );
    assert!(
        response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("application/json"))
    );
    let created = h.create().send_with_response().await.unwrap();
    assert_eq!(created.status().as_u16(), 202);
    assert_eq!(
        created.request_id(),
        created.get_ref().request_id.as_deref()
    );
    let run = h
        .client
        .runs()
        .get(&created.run.run_id)
        .send_with_response()
        .await
        .unwrap();
    assert_eq!(run.attempts(), 1);
    assert_eq!(run.run_id, created.run.run_id, "Deref to the value");
    assert!(run.request_id().is_some());
    assert_eq!(run.into_inner().run_id, created.into_inner().run.run_id);
}

#[tokio::test]
async fn a_raw_call_dropped_before_its_answer_is_reported_without_a_status() {
    // A listener that accepts and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(socket);
    });
    let recorder = Arc::new(Recorder::default());
    let client = Client::builder()
        .api_key("smz_test_hooks")
        .base_url(format!("http://{address}"))
        .hook(recorder.clone())
        .build()
        .unwrap();
    let call = client.raw().list_runs().send();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), call)
            .await
            .is_err(),
        "the listener never answers"
    );
    held.abort();
    let responses: Vec<(u32, Option<u16>, bool)> = recorder
        .take()
        .into_iter()
        .filter_map(|seen| match seen {
            Seen::Response {
                attempt,
                status,
                will_retry,
                ..
            } => Some((attempt, status, will_retry)),
            Seen::Request { .. } => None,
        })
        .collect();
    assert_eq!(responses, vec![(1, None, false)]);
}
