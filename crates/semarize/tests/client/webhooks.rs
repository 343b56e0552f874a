//! Webhook verification, end to end from real emulator deliveries, and against every
//! kind of bad delivery.

use semarize::runtime::SystemClock;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use proptest::prelude::*;
use reqwest::header::HeaderMap;
use semarize::runtime::{Clock, VirtualTime};
use semarize::webhooks::{
    DedupeBy, Deduper, VerifiedEvent, Verifier, Webhook, WebhookError, parse_signature_header, sign,
};
use semarize::{RunStatus, WebhookEventType};
use semarize_emulator::WebhookFaults;

use crate::harness::{Harness, harness, harness_with};

#[derive(Clone)]
struct Receiver {
    verifier: Arc<Verifier>,
    accepted: Arc<Mutex<Vec<VerifiedEvent>>>,
    duplicates: Arc<Mutex<u32>>,
    deduper: Deduper,
}

impl axum::extract::FromRef<Receiver> for Arc<Verifier> {
    fn from_ref(receiver: &Receiver) -> Self {
        receiver.verifier.clone()
    }
}

async fn receive(
    axum::extract::State(r): axum::extract::State<Receiver>,
    Webhook(event): Webhook,
) -> &'static str {
    if r.deduper.first_delivery(&event) {
        r.accepted.lock().unwrap().push(event);
    } else {
        *r.duplicates.lock().unwrap() += 1;
    }
    "ok"
}

/// Registers a receiver on loopback with the client; it verifies with the new secret, or
/// with `only_secrets` when given. Returns it and its URL.
async fn receiver(h: &Harness, only_secrets: &[&str]) -> (Receiver, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let hook = h
        .client
        .webhook_endpoints()
        .upsert(&url)
        .send()
        .await
        .unwrap();
    let secrets = if only_secrets.is_empty() {
        vec![hook.secret.expose_secret().to_owned()]
    } else {
        only_secrets.iter().map(|s| s.to_string()).collect()
    };
    let receiver = Receiver {
        verifier: Arc::new(Verifier::new(secrets).unwrap()),
        accepted: Arc::default(),
        duplicates: Arc::default(),
        deduper: Deduper::in_memory(DedupeBy::DeliveryId),
    };
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (receiver, url)
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..1000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn real_deliveries_verify_and_duplicates_are_dropped() {
    let h = harness().await;
    let (r, _) = receiver(&h, &[]).await;
    h.emulator.control().set_webhook_faults(WebhookFaults {
        duplicate: 1,
        ..Default::default()
    });
    let created = h.create().send().await.unwrap();
    eventually("a delivery and its duplicate", || {
        *r.duplicates.lock().unwrap() == 1
    })
    .await;
    let accepted = r.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 1);
    let event = &accepted[0];
    assert_eq!(event.event_type, WebhookEventType::RunSucceeded);
    assert_eq!(event.run_id(), created.run.run_id);
    assert!(!event.is_thin());
    assert_eq!(
        event.complete(&h.client).await.unwrap().status,
        RunStatus::Succeeded
    );
}

#[tokio::test]
async fn thin_events_are_recognised_and_completed_by_fetching_the_run() {
    let h = harness_with(|s| s.webhook_payload_limit_bytes = 100, |b| b).await;
    let (r, _) = receiver(&h, &[]).await;
    h.create().send().await.unwrap();
    eventually("a delivery", || r.accepted.lock().unwrap().len() == 1).await;
    let event = r.accepted.lock().unwrap()[0].clone();
    assert!(event.is_thin());
    assert!(event.event.data.output.is_none());
    let run = event.complete(&h.client).await.unwrap();
    assert!(run.output.is_some(), "the fetched run has the output");
}

#[tokio::test]
async fn rotation_accepts_the_old_and_the_new_secret() {
    let h = harness().await;
    let old = h
        .client
        .webhook_endpoints()
        .upsert("http://127.0.0.1:9/unused")
        .send()
        .await
        .unwrap()
        .secret;
    // The receiver still verifies with the old secret only, while the upsert inside
    // `receiver` rotated to a new one: deliveries carry both signatures during rotation.
    let (r, _) = receiver(&h, &[old.expose_secret()]).await;
    h.create().send().await.unwrap();
    eventually("a delivery", || r.accepted.lock().unwrap().len() == 1).await;
    // The emulator logs the attempt once it has read the receiver's answer.
    let control = h.emulator.control();
    eventually("the attempt logged", || !control.deliveries().is_empty()).await;
    assert_eq!(control.deliveries()[0].result, "delivered");
}

fn delivery(secret: &str, timestamp: i64, body: &[u8]) -> HeaderMap {
    let ts = timestamp.to_string();
    let mut headers = HeaderMap::new();
    headers.insert(
        "semarize-signature",
        sign(secret, &ts, body).parse().unwrap(),
    );
    headers.insert("semarize-timestamp", ts.parse().unwrap());
    headers.insert("semarize-event-id", "evt_1".parse().unwrap());
    headers.insert("semarize-delivery-id", "dlv_1".parse().unwrap());
    headers.insert("semarize-event-type", "run.failed".parse().unwrap());
    headers
}

const BODY: &[u8] = br#"{"id":"evt_1","delivery_id":"dlv_1","type":"run.failed","created_at":"2026-02-24T12:05:00Z","workspace_id":"ws_1","data":{"run_id":"r1","status":"failed","error_code":"run_request_failed","duration_ms":5}}"#;

#[test]
fn bad_deliveries_are_rejected_with_typed_errors() {
    let time = VirtualTime::new();
    let verifier = Verifier::new(["whsec_current", "whsec_previous"])
        .unwrap()
        .clock(time.clone());
    // "Now" comes from the injected clock alone, so the edges below are exact.
    let now = time.unix_seconds();

    let ok = verifier
        .verify(&delivery("whsec_previous", now, BODY), BODY)
        .unwrap();
    assert!(ok.is_thin());
    assert_eq!(
        ok.event.data.error_code,
        Some(semarize::ErrorCode::RunRequestFailed)
    );

    let mut tampered = BODY.to_vec();
    tampered[20] ^= 1;
    assert!(matches!(
        verifier.verify(&delivery("whsec_current", now, BODY), &tampered),
        Err(WebhookError::NoMatchingSignature)
    ));
    assert!(matches!(
        verifier.verify(&delivery("whsec_other", now, BODY), BODY),
        Err(WebhookError::NoMatchingSignature)
    ));

    let stale = verifier
        .verify(&delivery("whsec_current", now - 301, BODY), BODY)
        .unwrap_err();
    assert!(
        matches!(stale, WebhookError::TimestampOutOfTolerance { skew_seconds, .. } if skew_seconds >= 301)
    );
    let future = verifier
        .verify(&delivery("whsec_current", now + 301, BODY), BODY)
        .unwrap_err();
    assert!(
        matches!(future, WebhookError::TimestampOutOfTolerance { skew_seconds, .. } if skew_seconds <= -301)
    );
    assert!(
        verifier
            .verify(&delivery("whsec_current", now - 299, BODY), BODY)
            .is_ok()
    );
    let lenient = verifier.clone().tolerance(Duration::from_secs(600));
    assert!(
        lenient
            .verify(&delivery("whsec_current", now - 500, BODY), BODY)
            .is_ok()
    );

    // The tolerance (300 s) is inclusive in both directions, on the injected clock.
    for (offset, accepted) in [(-300, true), (300, true), (-301, false), (301, false)] {
        let result = verifier.verify(&delivery("whsec_current", now + offset, BODY), BODY);
        assert_eq!(
            result.is_ok(),
            accepted,
            "timestamp now{offset:+}: {result:?}"
        );
    }
    time.advance(Duration::from_secs(300));
    assert!(
        verifier
            .verify(&delivery("whsec_current", now, BODY), BODY)
            .is_ok()
    );
    time.advance(Duration::from_secs(1));
    assert!(matches!(
        verifier.verify(&delivery("whsec_current", now, BODY), BODY),
        Err(WebhookError::TimestampOutOfTolerance {
            skew_seconds: 301,
            tolerance_seconds: 300
        })
    ));
}

#[test]
fn malformed_and_missing_headers() {
    let verifier = Verifier::new(["whsec_current"]).unwrap();
    let now = SystemClock.now_utc().timestamp();
    for name in [
        "semarize-signature",
        "semarize-timestamp",
        "semarize-event-id",
        "semarize-delivery-id",
        "semarize-event-type",
    ] {
        let mut headers = delivery("whsec_current", now, BODY);
        headers.remove(name);
        assert!(
            matches!(
                verifier.verify(&headers, BODY),
                Err(WebhookError::MissingHeader(_))
            ),
            "{name}"
        );
    }
    for bad in ["v1", "v1=xyz", "sha256=abc", "", "v1=", ","] {
        let mut headers = delivery("whsec_current", now, BODY);
        headers.insert(
            "semarize-signature",
            bad.parse().unwrap_or_else(|_| "x".parse().unwrap()),
        );
        let err = verifier.verify(&headers, BODY).unwrap_err();
        assert!(
            matches!(
                err,
                WebhookError::MalformedSignature(_) | WebhookError::MissingHeader(_)
            ),
            "{bad:?}: {err}"
        );
    }
    let mut headers = delivery("whsec_current", now, BODY);
    headers.insert("semarize-timestamp", "yesterday".parse().unwrap());
    assert!(matches!(
        verifier.verify(&headers, BODY),
        Err(WebhookError::MalformedTimestamp)
    ));

    let mut replayed = delivery("whsec_current", now, BODY);
    replayed.insert("semarize-delivery-id", "dlv_2".parse().unwrap());
    assert!(
        matches!(
            verifier.verify(&replayed, BODY),
            Err(WebhookError::InvalidPayload(_))
        ),
        "header ids must match the signed body"
    );

    let not_json = b"not json";
    assert!(matches!(
        verifier.verify(&delivery("whsec_current", now, not_json), not_json),
        Err(WebhookError::InvalidPayload(_))
    ));
    assert!(Verifier::new(["not-a-secret"]).is_err());
    assert!(Verifier::new(Vec::<String>::new()).is_err());
    assert!(!format!("{verifier:?}").contains("whsec_current"));
}

#[test]
fn unknown_event_types_are_kept() {
    let body = br#"{"id":"evt_1","delivery_id":"dlv_1","type":"run.expired","created_at":"2026-02-24T12:05:00Z","data":{"run_id":"r1","status":"expired"}}"#;
    let now = SystemClock.now_utc().timestamp();
    let mut headers = delivery("whsec_current", now, body);
    headers.insert("semarize-event-type", "run.expired".parse().unwrap());
    let event = Verifier::new(["whsec_current"])
        .unwrap()
        .verify(&headers, body)
        .unwrap();
    assert_eq!(
        event.event_type,
        WebhookEventType::Unknown("run.expired".into())
    );
}

proptest! {
    #[test]
    fn signature_header_parsing_never_panics(header in ".{0,300}") {
        let _ = parse_signature_header(&header);
    }

    #[test]
    fn any_body_signed_with_any_listed_secret_verifies(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        secret in "[a-zA-Z0-9]{1,40}",
        other in "[a-zA-Z0-9]{1,40}",
        padding in " {0,2}",
    ) {
        let secret = format!("whsec_{secret}");
        let other = format!("whsec_{other}");
        let now = SystemClock.now_utc().timestamp().to_string();
        let header = format!("{}{padding},{padding}{}", sign(&other, &now, &body), sign(&secret, &now, &body));
        prop_assert_eq!(parse_signature_header(&header).unwrap().len(), 2);
        let verifier = Verifier::new([secret.clone()]).unwrap();
        prop_assert!(verifier.verify_signature(&now, &header, &body).is_ok());
        let mut flipped = body.clone();
        flipped.push(0);
        prop_assert!(verifier.verify_signature(&now, &header, &flipped).is_err());
    }
}

#[test]
fn an_event_is_thin_only_without_every_full_field() {
    let verifier = Verifier::new(["whsec_current"]).unwrap();
    let now = SystemClock.now_utc().timestamp();
    let with_data = |data: &str| {
        let body = format!(
            r#"{{"id":"evt_1","delivery_id":"dlv_1","type":"run.failed","created_at":"2026-02-24T12:05:00Z","data":{data}}}"#
        );
        verifier
            .verify(
                &delivery("whsec_current", now, body.as_bytes()),
                body.as_bytes(),
            )
            .unwrap()
    };
    let thin =
        r#"{"run_id":"r1","status":"failed","error_code":"run_request_failed","duration_ms":5}"#;
    assert!(with_data(thin).is_thin());
    // Any one field of the full shape makes it full.
    for extra in [
        r#""run_type":"api""#,
        r#""created_at":"2026-02-24T12:04:00Z""#,
        r#""output":{"bricks":{}}"#,
    ] {
        let full = thin.replace('}', &format!(",{extra}}}"));
        assert!(!with_data(&full).is_thin(), "{full}");
    }
}

#[test]
fn a_webhook_secret_debugs_as_redacted() {
    let secret = semarize::webhooks::WebhookSecret::new("whsec_abcdef").unwrap();
    assert_eq!(format!("{secret:?}"), "WebhookSecret([redacted])");
}

#[test]
fn a_signature_that_matches_twice_still_verifies() {
    // Two entries made with one secret (a sender listing the same key twice during a
    // rotation): matching more than once is still a match.
    let verifier = Verifier::new(["whsec_current"]).unwrap();
    let now = SystemClock.now_utc().timestamp();
    let mut headers = delivery("whsec_current", now, BODY);
    let once = headers["semarize-signature"].to_str().unwrap().to_owned();
    headers.insert(
        "semarize-signature",
        format!("{once},{once}").parse().unwrap(),
    );
    assert!(verifier.verify(&headers, BODY).is_ok());
}

#[test]
fn only_hex_digits_decode_in_a_signature() {
    let valid = "0123456789abcdefABCDEF".repeat(3);
    assert!(parse_signature_header(&format!("v1={}", &valid[..64])).is_ok());
    // The bytes just past each range of digits in ASCII: ':' after '9', 'g'/'G' after 'f'/'F',
    // '/' before '0', '`' before 'a', '@' before 'A'.
    for neighbour in [':', 'g', 'G', '/', '`', '@'] {
        let header = format!("v1={}{neighbour}", "0".repeat(63));
        assert!(parse_signature_header(&header).is_err(), "{header}");
    }
}
