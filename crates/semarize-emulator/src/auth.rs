//! API keys: stored only as hashes, scoped to a workspace, and possibly expired. The
//! bearer token of a request resolves to its workspace or to the documented 401.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::http::StatusCode;
use semarize_api::types::ErrorCode;
use sha2::Digest;

use crate::error::ApiError;

/// Makes a new `smz_test_` key.
pub(crate) fn generate_api_key() -> String {
    format!("smz_test_{}", uuid::Uuid::new_v4().simple())
}

fn hash_key(key: &str) -> [u8; 32] {
    sha2::Sha256::digest(key.as_bytes()).into()
}

/// What is stored of a key: its workspace and whether it has expired.
#[derive(Debug, Clone)]
struct KeyRecord {
    workspace_id: Arc<str>,
    expired: bool,
}

/// Every key of every workspace, by hash.
#[derive(Debug, Default)]
pub(crate) struct KeyTable {
    keys: RwLock<HashMap<[u8; 32], KeyRecord>>,
}

impl KeyTable {
    /// Adds `key` (live or expired) to a workspace, replacing any earlier entry.
    pub(crate) fn insert(&self, key: &str, workspace_id: Arc<str>, expired: bool) {
        self.keys.write().expect("key table lock").insert(
            hash_key(key),
            KeyRecord {
                workspace_id,
                expired,
            },
        );
    }

    /// The workspace of an `Authorization` header, or the documented 401:
    /// `missing_bearer_token`, `invalid_api_key` or `api_key_expired`.
    pub(crate) fn workspace_of(&self, authorization: Option<&str>) -> Result<Arc<str>, ApiError> {
        let unauthorized = |code| ApiError::new(StatusCode::UNAUTHORIZED, code);
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized(ErrorCode::MissingBearerToken))?;
        let record = self
            .keys
            .read()
            .expect("key table lock")
            .get(&hash_key(token))
            .cloned()
            .ok_or_else(|| unauthorized(ErrorCode::InvalidApiKey))?;
        if record.expired {
            return Err(unauthorized(ErrorCode::ApiKeyExpired));
        }
        Ok(record.workspace_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_resolve_to_their_workspace_or_the_documented_401() {
        let table = KeyTable::default();
        table.insert("smz_test_live", Arc::from("ws_1"), false);
        table.insert("smz_test_old", Arc::from("ws_1"), true);
        assert_eq!(
            &*table.workspace_of(Some("Bearer smz_test_live")).unwrap(),
            "ws_1"
        );
        let code = |header| table.workspace_of(header).unwrap_err().code;
        assert_eq!(code(None), ErrorCode::MissingBearerToken);
        assert_eq!(code(Some("Bearer ")), ErrorCode::MissingBearerToken);
        assert_eq!(
            code(Some("Bearer smz_test_other")),
            ErrorCode::InvalidApiKey
        );
        assert_eq!(code(Some("Bearer smz_test_old")), ErrorCode::ApiKeyExpired);
    }
}
