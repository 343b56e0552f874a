//! Verifying a delivery: signature, timestamp tolerance, payload.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use semarize_api::types::{WebhookEvent, WebhookEventType};
use semarize_api::webhook_signature as sig;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::runtime::{Clock, SystemClock};

/// Why a delivery was rejected. Nothing here echoes a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// A required header is missing (or not visible ASCII).
    #[error("missing webhook header {0}")]
    MissingHeader(&'static str),
    /// `Semarize-Signature` has no well-formed `v1=<64 hex digits>` entry.
    #[error("malformed Semarize-Signature header: {0}")]
    MalformedSignature(String),
    /// `Semarize-Timestamp` is not an integer number of seconds.
    #[error("malformed Semarize-Timestamp header")]
    MalformedTimestamp,
    /// The timestamp is further from now than the tolerance (replay protection).
    #[error(
        "Semarize-Timestamp is {skew_seconds} s from now; the tolerance is {tolerance_seconds} s"
    )]
    TimestampOutOfTolerance {
        /// Signed distance: positive when the timestamp is in the past.
        skew_seconds: i64,
        /// The tolerance.
        tolerance_seconds: u64,
    },
    /// No signature matches any of the secrets: wrong secret or tampered body.
    #[error("no signature matches: wrong secret or a tampered body")]
    NoMatchingSignature,
    /// The signature is valid but the body is not a webhook event, or its ids disagree
    /// with the delivery headers.
    #[error("invalid webhook payload: {0}")]
    InvalidPayload(String),
}

/// A webhook signing secret (`whsec_...`). Never printed, and held in a
/// [`SecretString`] so its memory is wiped when the last copy is dropped.
///
/// ```
/// use semarize::webhooks::WebhookSecret;
/// let secret = WebhookSecret::new("whsec_abc").unwrap();
/// assert_eq!(format!("{secret:?}"), "WebhookSecret([redacted])");
/// assert_eq!(secret.expose_secret(), "whsec_abc");
/// assert!(WebhookSecret::new("abc").is_err());
/// ```
#[derive(Clone)]
pub struct WebhookSecret(SecretString);

impl WebhookSecret {
    /// Checks the `whsec_` prefix.
    pub fn new(secret: impl Into<String>) -> Result<Self, crate::Error> {
        let secret = Zeroizing::new(secret.into());
        if secret.starts_with("whsec_") && secret.len() > "whsec_".len() {
            Ok(WebhookSecret(SecretString::from(secret.as_str())))
        } else {
            Err(crate::Error::config("a webhook secret starts with whsec_"))
        }
    }

    /// The secret itself, to hand to a verifier elsewhere or store in a secret manager.
    /// Named so that every place that reveals it is easy to find.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

/// A verified delivery: the event, and the delivery headers that were checked against it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct VerifiedEvent {
    /// The event. Its `data` has the shape of `GET /v1/runs/{runId}`, or only `run_id`,
    /// `status`, `error_code` and `duration_ms` for a thin event.
    pub event: WebhookEvent,
    /// `Semarize-Delivery-Id` when the body has no `delivery_id` (else the two are equal,
    /// and the body's is used).
    header_delivery_id: Option<String>,
    /// The event type (`run.succeeded`, ... ; unknown types are kept).
    pub event_type: WebhookEventType,
    /// `Semarize-Timestamp`, Unix seconds.
    pub timestamp: i64,
}

impl VerifiedEvent {
    /// Whether this is a thin event (sent when the full payload exceeds the size limit):
    /// fetch the run before updating downstream systems ([`VerifiedEvent::complete`]).
    pub fn is_thin(&self) -> bool {
        let data = &self.event.data;
        data.run_type.is_none() && data.created_at.is_none() && data.output.is_none()
    }

    /// The full run: the event's own data when it is complete, or
    /// `GET /v1/runs/{runId}` through `client` for a thin event (the documented
    /// follow-up; retried like any read).
    ///
    /// ```no_run
    /// # async fn demo(client: semarize::Client, event: semarize::webhooks::VerifiedEvent) -> Result<(), semarize::Error> {
    /// let run = event.complete(&client).await?;
    /// println!("{} is {}", run.run_id, run.status);
    /// # Ok(()) }
    /// ```
    pub async fn complete(
        &self,
        client: &crate::Client,
    ) -> Result<crate::types::Run, crate::Error> {
        if self.is_thin() {
            client.runs().get(self.run_id()).send().await
        } else {
            Ok(self.event.data.clone())
        }
    }

    /// The run the event is about.
    pub fn run_id(&self) -> &str {
        &self.event.data.run_id
    }

    /// `Semarize-Event-Id`, stable across retries of one event (equal to the body's `id`:
    /// verification checks it).
    pub fn event_id(&self) -> &str {
        &self.event.id
    }

    /// `Semarize-Delivery-Id`, new per delivery attempt (equal to the body's
    /// `delivery_id` when it has one: verification checks it).
    pub fn delivery_id(&self) -> &str {
        self.event
            .delivery_id
            .as_deref()
            .or(self.header_delivery_id.as_deref())
            .unwrap_or_default()
    }
}

/// Verifies webhook deliveries against one or more secrets.
///
/// Several secrets support rotation: keep the old secret until every delivery signed with
/// it has arrived. Timestamps more than the tolerance (default 300 s) from now, in either
/// direction, are rejected; signatures are compared in constant time.
///
/// ```
/// use semarize::runtime::{Clock, SystemClock};
/// use semarize::webhooks::{Verifier, sign};
/// let verifier = Verifier::new(["whsec_new", "whsec_old"]).unwrap();
/// let body = br#"{"id":"evt_1","delivery_id":"dlv_1","type":"run.succeeded","created_at":"2026-02-24T12:05:00Z","data":{"run_id":"r1","status":"succeeded"}}"#;
/// let timestamp = SystemClock.unix_seconds().to_string();
/// let mut headers = reqwest::header::HeaderMap::new();
/// headers.insert("semarize-signature", sign("whsec_old", &timestamp, body).parse().unwrap());
/// headers.insert("semarize-timestamp", timestamp.parse().unwrap());
/// headers.insert("semarize-event-id", "evt_1".parse().unwrap());
/// headers.insert("semarize-delivery-id", "dlv_1".parse().unwrap());
/// headers.insert("semarize-event-type", "run.succeeded".parse().unwrap());
/// let event = verifier.verify(&headers, body).unwrap();
/// assert_eq!(event.run_id(), "r1");
/// ```
#[derive(Clone, Debug)]
pub struct Verifier {
    /// One precomputed HMAC key schedule per secret.
    keys: Vec<sig::SigningKey>,
    tolerance: Duration,
    max_body_bytes: usize,
    clock: Arc<dyn Clock>,
}

/// The delivery headers: the name as [`HeaderMap`] stores it (lower case), and as
/// errors show it.
const DELIVERY_HEADERS: [(&str, &str); 5] = [
    ("semarize-signature", sig::HEADER_SIGNATURE),
    ("semarize-timestamp", sig::HEADER_TIMESTAMP),
    ("semarize-event-id", sig::HEADER_EVENT_ID),
    ("semarize-delivery-id", sig::HEADER_DELIVERY_ID),
    ("semarize-event-type", sig::HEADER_EVENT_TYPE),
];

/// The delivery headers' values, in the order of [`DELIVERY_HEADERS`], trimmed, found in
/// one pass over the map: on every delivery this is cheaper than one hashed lookup per
/// header. They stay bytes: each is parsed as ASCII or compared with the signed body,
/// which is where text comes from.
fn delivery_headers(headers: &HeaderMap) -> Result<[&[u8]; 5], WebhookError> {
    let mut found: [Option<&[u8]>; 5] = [None; 5];
    for (name, value) in headers {
        let Some(suffix) = name.as_str().strip_prefix("semarize-") else {
            continue;
        };
        // DELIVERY_HEADERS' order.
        let slot = match suffix {
            "signature" => 0,
            "timestamp" => 1,
            "event-id" => 2,
            "delivery-id" => 3,
            "event-type" => 4,
            _ => continue,
        };
        // The first value of a repeated header, as HeaderMap::get gives.
        if found[slot].is_none() {
            found[slot] = Some(value.as_bytes().trim_ascii());
        }
    }
    let mut values: [&[u8]; 5] = [&[]; 5];
    for (slot, value) in found.into_iter().enumerate() {
        values[slot] = value
            .filter(|v| !v.is_empty())
            .ok_or(WebhookError::MissingHeader(DELIVERY_HEADERS[slot].1))?;
    }
    Ok(values)
}

/// The default timestamp tolerance.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The default limit of a delivery's body that a receiver reads: 8 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 << 20;

impl Verifier {
    /// A verifier accepting signatures by any of `secrets` (at least one).
    pub fn new<I, S>(secrets: I) -> Result<Self, crate::Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let secrets = secrets
            .into_iter()
            .map(WebhookSecret::new)
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_secrets(secrets)
    }

    /// A verifier accepting signatures by any of `secrets` (at least one), for secrets
    /// already held as [`WebhookSecret`] (such as the one
    /// [`upsert`](crate::resources::WebhookEndpoints::upsert) returns).
    pub fn from_secrets(
        secrets: impl IntoIterator<Item = WebhookSecret>,
    ) -> Result<Self, crate::Error> {
        // Only the HMAC key schedules are kept; they are wiped when dropped.
        let keys: Vec<_> = secrets
            .into_iter()
            .map(|secret| sig::SigningKey::new(secret.expose_secret()))
            .collect();
        if keys.is_empty() {
            return Err(crate::Error::config(
                "a webhook verifier needs at least one secret",
            ));
        }
        Ok(Verifier {
            keys,
            tolerance: DEFAULT_TOLERANCE,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            clock: Arc::new(SystemClock),
        })
    }

    /// The largest delivery body a receiver built on this verifier reads (default
    /// [`DEFAULT_MAX_BODY_BYTES`]); a larger one is answered 413 with the limit named.
    /// Semarize sends a thin event when a payload exceeds its own limit, so a receiver
    /// rarely needs more.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// The body limit (see [`Verifier::max_body_bytes`]).
    pub fn body_limit(&self) -> usize {
        self.max_body_bytes
    }

    /// Accepts timestamps within `tolerance` of now, both directions.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The clock that says what "now" is (for tests).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Verifies a delivery from its headers and raw body bytes (verify before parsing:
    /// re-serialized JSON does not verify).
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<VerifiedEvent, WebhookError> {
        let [signature, timestamp, event_id, delivery_id, event_type] = delivery_headers(headers)?;
        let seconds = self.check_signature(timestamp, signature, body)?;
        let event: WebhookEvent = match serde_json::from_slice(body) {
            Ok(event) => event,
            Err(e) => return Err(WebhookError::InvalidPayload(e.to_string())),
        };
        // The ids in the body are signed and the headers are not: they must agree, so a
        // replayed body cannot pass as a new delivery by changing a header.
        if event.id.as_bytes() != event_id {
            return Err(WebhookError::InvalidPayload(
                "Semarize-Event-Id does not match the body's id".into(),
            ));
        }
        // The ids are read from the body afterwards; only a delivery id the body lacks
        // is kept from the header.
        let header_delivery_id = match event.delivery_id.as_deref() {
            Some(signed) if signed.as_bytes() != delivery_id => {
                return Err(WebhookError::InvalidPayload(
                    "Semarize-Delivery-Id does not match the body's delivery_id".into(),
                ));
            }
            Some(_) => None,
            None => Some(String::from_utf8(delivery_id.to_vec()).map_err(|_| {
                WebhookError::InvalidPayload("Semarize-Delivery-Id is not UTF-8".into())
            })?),
        };
        if event.type_.as_str().as_bytes() != event_type {
            return Err(WebhookError::InvalidPayload(
                "Semarize-Event-Type does not match the body's type".into(),
            ));
        }
        Ok(VerifiedEvent {
            event_type: event.type_.clone(),
            header_delivery_id,
            event,
            timestamp: seconds,
        })
    }

    /// Checks a signature header and timestamp against a raw body, for frameworks where
    /// headers are not a [`HeaderMap`]. Returns the timestamp.
    pub fn verify_signature(
        &self,
        timestamp: &str,
        signature_header: &str,
        body: &[u8],
    ) -> Result<i64, WebhookError> {
        self.check_signature(timestamp.as_bytes(), signature_header.as_bytes(), body)
    }

    /// [`Verifier::verify_signature`] on the headers' bytes.
    fn check_signature(
        &self,
        timestamp: &[u8],
        signature_header: &[u8],
        body: &[u8],
    ) -> Result<i64, WebhookError> {
        let timestamp = std::str::from_utf8(timestamp.trim_ascii())
            .map_err(|_| WebhookError::MalformedTimestamp)?;
        let seconds: i64 = timestamp
            .parse()
            .map_err(|_| WebhookError::MalformedTimestamp)?;
        // One MAC per secret (the expensive part), compared in constant time with every
        // offered `v1` signature, decoded as the header is walked: nothing is allocated
        // or copied. A header that is malformed fails whatever the MACs.
        let mut matched = subtle::Choice::from(0);
        for key in &self.keys {
            let expected = words(&key.mac(timestamp, body));
            for_each_v1_signature(signature_header, |offered| {
                matched |= expected.ct_eq(&words(offered));
            })?;
        }
        let matched: bool = matched.into();
        if !matched {
            return Err(WebhookError::NoMatchingSignature);
        }
        // Saturating: the timestamp is the sender's, and may be i64::MIN.
        let skew = self.clock.unix_seconds().saturating_sub(seconds);
        if skew.unsigned_abs() > self.tolerance.as_secs() {
            return Err(WebhookError::TimestampOutOfTolerance {
                skew_seconds: skew,
                tolerance_seconds: self.tolerance.as_secs(),
            });
        }
        Ok(seconds)
    }
}

/// A MAC as four words: `subtle` compares each element behind an optimization barrier,
/// so four words cost an eighth of 32 bytes, still in constant time.
fn words(mac: &[u8; 32]) -> [u64; 4] {
    let mut words = [0u64; 4];
    for (word, chunk) in words.iter_mut().zip(mac.chunks_exact(8)) {
        *word = u64::from_ne_bytes(chunk.try_into().expect("chunks of 8 bytes"));
    }
    words
}

/// Most `v1` signatures one header may carry (rotation needs two).
const MAX_SIGNATURES: usize = 8;

/// Calls `f` with each decoded `v1` signature of a `Semarize-Signature` header. Entries
/// of other (future) schemes are skipped; a header with no `v1` entry, more than
/// [`MAX_SIGNATURES`], or a malformed entry is an error, which fails the verification
/// whatever `f` saw before it.
fn for_each_v1_signature(header: &[u8], mut f: impl FnMut(&[u8; 32])) -> Result<(), WebhookError> {
    // The common header, one `v1=<64 hex digits>` entry, without the general walk.
    if let Some(hex) = header
        .trim_ascii()
        .strip_prefix(sig::SCHEME.as_bytes())
        .and_then(|rest| rest.strip_prefix(b"="))
        && let Some(signature) = decode_hex32(hex)
    {
        f(&signature);
        return Ok(());
    }
    let mut count = 0usize;
    // Bytes, not chars: every byte that matters is ASCII, and this runs per delivery.
    for raw in header.split(|&b| b == b',') {
        let entry = raw.trim_ascii();
        let Some(equals) = entry.iter().position(|&b| b == b'=') else {
            return Err(WebhookError::MalformedSignature(format!(
                "an entry has no '=' ({} characters)",
                entry.len()
            )));
        };
        if entry[..equals].trim_ascii() != sig::SCHEME.as_bytes() {
            continue;
        }
        if count == MAX_SIGNATURES {
            return Err(WebhookError::MalformedSignature(format!(
                "more than {MAX_SIGNATURES} v1 signatures"
            )));
        }
        let signature = decode_hex32(entry[equals + 1..].trim_ascii()).ok_or_else(|| {
            WebhookError::MalformedSignature("a v1 signature is 64 hex digits".into())
        })?;
        f(&signature);
        count += 1;
    }
    if count == 0 {
        return Err(WebhookError::MalformedSignature("no v1 signature".into()));
    }
    Ok(())
}

/// Hex digit values by byte (`0xFF`: not a hex digit).
const HEX: [u8; 256] = {
    let mut table = [0xFF; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// Decodes exactly 64 hex digits (either case) by table lookup: this runs on every
/// delivery, so it avoids the per-digit branching of a general decoder.
fn decode_hex32(bytes: &[u8]) -> Option<[u8; 32]> {
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut invalid = 0u8;
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let (high, low) = (HEX[pair[0] as usize], HEX[pair[1] as usize]);
        invalid |= (high | low) & 0xF0;
        out[i] = (high << 4) | (low & 0x0F);
    }
    (invalid == 0).then_some(out)
}

/// The `v1` signatures of a `Semarize-Signature` header, decoded. Entries of other
/// (future) schemes are skipped; a header with no `v1` entry, or a malformed one, is an
/// error.
///
/// ```
/// use semarize::webhooks::parse_signature_header;
/// let hex = "ab".repeat(32);
/// assert_eq!(parse_signature_header(&format!("v1={hex}, v2=zz")).unwrap().len(), 1);
/// assert!(parse_signature_header("v1=nothex").is_err());
/// assert!(parse_signature_header("").is_err());
/// ```
pub fn parse_signature_header(header: &str) -> Result<Vec<[u8; 32]>, WebhookError> {
    let mut signatures = Vec::new();
    for_each_v1_signature(header.as_bytes(), |signature| signatures.push(*signature))?;
    Ok(signatures)
}

/// Signs a body as Semarize does: the `Semarize-Signature` value for one secret. For tests
/// of receivers.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    sig::signature_header(&[secret], timestamp, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_headers_are_found_in_one_pass_like_header_map_get() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("semarize-unrelated", "x".parse().unwrap());
        for (lower, _) in DELIVERY_HEADERS {
            headers.append(lower, format!(" {lower} ").parse().unwrap());
        }
        // A repeated header: the first value counts, as HeaderMap::get gives.
        headers.append("semarize-event-id", "second".parse().unwrap());
        let values = delivery_headers(&headers).unwrap();
        assert_eq!(values[2], b"semarize-event-id", "trimmed, first value");
        assert_eq!(values[0], b"semarize-signature");

        headers.remove("semarize-delivery-id");
        assert!(matches!(
            delivery_headers(&headers),
            Err(WebhookError::MissingHeader(sig::HEADER_DELIVERY_ID))
        ));
        headers.insert("semarize-delivery-id", "  ".parse().unwrap());
        assert!(matches!(
            delivery_headers(&headers),
            Err(WebhookError::MissingHeader(sig::HEADER_DELIVERY_ID))
        ));
    }

    #[test]
    fn the_ids_come_from_the_signed_body_and_a_missing_delivery_id_from_its_header() {
        let verifier = Verifier::new(["whsec_ids"]).unwrap();
        let timestamp = SystemClock.unix_seconds().to_string();
        let deliver = |body: &str, delivery: &str| {
            let mut headers = HeaderMap::new();
            let signature = sign("whsec_ids", &timestamp, body.as_bytes());
            headers.insert("semarize-signature", signature.parse().unwrap());
            headers.insert("semarize-timestamp", timestamp.parse().unwrap());
            headers.insert("semarize-event-id", "evt_9".parse().unwrap());
            headers.insert("semarize-delivery-id", delivery.parse().unwrap());
            headers.insert("semarize-event-type", "run.failed".parse().unwrap());
            verifier.verify(&headers, body.as_bytes())
        };
        let data = r#""data":{"run_id":"r9","status":"failed"}"#;
        let with_id = format!(
            r#"{{"id":"evt_9","delivery_id":"dlv_2","type":"run.failed","created_at":"2026-02-24T12:05:00Z",{data}}}"#
        );
        let event = deliver(&with_id, "dlv_2").unwrap();
        assert_eq!((event.event_id(), event.delivery_id()), ("evt_9", "dlv_2"));
        assert!(matches!(
            deliver(&with_id, "dlv_3"),
            Err(WebhookError::InvalidPayload(_))
        ));
        let without_id = format!(
            r#"{{"id":"evt_9","type":"run.failed","created_at":"2026-02-24T12:05:00Z",{data}}}"#
        );
        let event = deliver(&without_id, "dlv_4").unwrap();
        assert_eq!((event.event_id(), event.delivery_id()), ("evt_9", "dlv_4"));
    }

    #[test]
    fn hex_decoding_accepts_exactly_64_digits_of_either_case() {
        let lower = "00ff10ab".repeat(8);
        let decoded = decode_hex32(lower.as_bytes()).unwrap();
        assert_eq!(&decoded[..4], &[0x00, 0xff, 0x10, 0xab]);
        assert_eq!(decode_hex32(lower.to_uppercase().as_bytes()), Some(decoded));
        assert_eq!(decode_hex32(&lower.as_bytes()[..62]), None);
        assert_eq!(decode_hex32(format!("{}zz", &lower[..62]).as_bytes()), None);
        assert_eq!(decode_hex32(format!("{} ", &lower[..63]).as_bytes()), None);
    }
}
