//! Idempotent run creation: an `Idempotency-Key` (as long as the spec allows) replays the
//! original run when the same request body comes again, and is a 409 conflict with a
//! different body. Bodies are compared by a canonical hash, so key order and whitespace
//! do not matter.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use semarize_api::types::ErrorCode;
use serde_json::Value;
use sha2::Digest;
use uuid::Uuid;

use crate::error::ApiError;

/// The request's `Idempotency-Key`, if any: visible ASCII within the lengths the spec's
/// `IdempotencyKey` parameter states (1 to 254 characters), or a 400.
pub(crate) fn key_from_headers(headers: &HeaderMap) -> Result<Option<Arc<str>>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = raw.to_str().map_err(|_| {
        ApiError::bad_request(
            ErrorCode::InvalidRequest,
            "Idempotency-Key must be visible ASCII",
        )
    })?;
    let limits = semarize_api::operations::parameters::IDEMPOTENCY_KEY.limits;
    let (min, max) = (
        limits.min_length.unwrap_or(0),
        limits.max_length.unwrap_or(u64::MAX),
    );
    let length = key.chars().count() as u64;
    if length < min {
        // The spec's minLength 1: an empty key is a client bug, not "no key".
        return Err(ApiError::bad_request(
            ErrorCode::InvalidRequest,
            format!("Idempotency-Key is empty: send {min} to {max} characters, or no header"),
        ));
    }
    if length > max {
        return Err(ApiError::bad_request(
            ErrorCode::IdempotencyKeyTooLong,
            format!("Idempotency-Key is longer than {max} characters"),
        ));
    }
    Ok(Some(Arc::from(key)))
}

/// A hash of a JSON value that ignores object key order and formatting.
pub(crate) fn canonical_hash(value: &Value) -> [u8; 32] {
    fn write(value: &Value, out: &mut sha2::Sha256) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.update(b"{");
                for key in keys {
                    out.update(
                        serde_json::to_string(key)
                            .expect("strings serialize")
                            .as_bytes(),
                    );
                    out.update(b":");
                    write(&map[key], out);
                    out.update(b",");
                }
                out.update(b"}");
            }
            Value::Array(items) => {
                out.update(b"[");
                for item in items {
                    write(item, out);
                    out.update(b",");
                }
                out.update(b"]");
            }
            other => out.update(other.to_string().as_bytes()),
        }
    }
    let mut hasher = sha2::Sha256::new();
    write(value, &mut hasher);
    hasher.finalize().into()
}

/// One workspace's keys: the body hash each was first used with and the run it made.
#[derive(Debug, Default)]
pub(crate) struct IdempotencyStore {
    keys: HashMap<Arc<str>, ([u8; 32], Uuid)>,
}

impl IdempotencyStore {
    /// The run an earlier request with `key` created, if the body is the same; a 409
    /// `idempotency_key_conflict` if it is not; `None` for a new key.
    pub(crate) fn replay(&self, key: &str, body_hash: &[u8; 32]) -> Result<Option<Uuid>, ApiError> {
        match self.keys.get(key) {
            None => Ok(None),
            Some((hash, run_id)) if hash == body_hash => Ok(Some(*run_id)),
            Some(_) => Err(
                ApiError::new(StatusCode::CONFLICT, ErrorCode::IdempotencyKeyConflict)
                    .detail("this Idempotency-Key was used with a different request body"),
            ),
        }
    }

    /// Remembers the run a new key created.
    pub(crate) fn remember(&mut self, key: Arc<str>, body_hash: [u8; 32], run_id: Uuid) {
        self.keys.insert(key, (body_hash, run_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_hash_ignores_key_order() {
        let a: Value = serde_json::from_str(r#"{"a":1,"b":{"c":[1,2],"d":"x"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"b":{"d":"x","c":[1,2]},"a":1}"#).unwrap();
        let c: Value = serde_json::from_str(r#"{"b":{"d":"x","c":[2,1]},"a":1}"#).unwrap();
        assert_eq!(canonical_hash(&a), canonical_hash(&b));
        assert_ne!(canonical_hash(&a), canonical_hash(&c));
    }

    #[test]
    fn a_key_replays_its_run_for_the_same_body_only() {
        let mut store = IdempotencyStore::default();
        let run = Uuid::new_v4();
        assert_eq!(store.replay("k", &[1; 32]).unwrap(), None);
        store.remember(Arc::from("k"), [1; 32], run);
        assert_eq!(store.replay("k", &[1; 32]).unwrap(), Some(run));
        assert_eq!(
            store.replay("k", &[2; 32]).unwrap_err().code,
            ErrorCode::IdempotencyKeyConflict
        );
    }
}
