//! Idempotency-Keys: one per logical run creation, reused on every retry of it.

use std::fmt::Debug;

use crate::error::Error;

/// The longest Idempotency-Key the API accepts (the spec's `maxLength`, 254).
pub const MAX_IDEMPOTENCY_KEY_LEN: usize =
    match semarize_api::operations::parameters::IDEMPOTENCY_KEY
        .limits
        .max_length
    {
        Some(max) => max as usize,
        None => usize::MAX,
    };

/// A validated Idempotency-Key: 1 to 254 visible ASCII characters.
///
/// ```
/// use semarize::IdempotencyKey;
/// assert!(IdempotencyKey::new("call-123-kit-A1B2C3D4").is_ok());
/// assert!(IdempotencyKey::new("x".repeat(255)).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Validates a key; an invalid one is an [`ErrorKind::InvalidRequest`](crate::ErrorKind)
    /// error and nothing is sent.
    pub fn new(key: impl Into<String>) -> Result<Self, Error> {
        let key = key.into();
        if key.is_empty() {
            return Err(Error::invalid_request("the Idempotency-Key is empty"));
        }
        if key.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(Error::invalid_request(format!(
                "the Idempotency-Key is {} characters; the API accepts at most {MAX_IDEMPOTENCY_KEY_LEN}",
                key.len()
            )));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid_request(
                "the Idempotency-Key must be visible ASCII without spaces",
            ));
        }
        Ok(IdempotencyKey(key))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for IdempotencyKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Makes the Idempotency-Key of a logical run creation when the caller gives none.
/// Inject your own for deterministic tests or keys derived from your records.
pub trait KeyGenerator: Send + Sync + Debug {
    /// A new key.
    fn generate(&self) -> IdempotencyKey;
}

/// Random UUID v4 keys, prefixed `smz-rs-`.
#[derive(Clone, Copy, Debug, Default)]
pub struct UuidKeys;

impl KeyGenerator for UuidKeys {
    fn generate(&self) -> IdempotencyKey {
        IdempotencyKey(format!("smz-rs-{}", uuid::Uuid::new_v4()))
    }
}

/// Sequential keys `<prefix>-1`, `<prefix>-2`, ...: deterministic, for tests.
#[derive(Debug)]
pub struct SequentialKeys {
    prefix: String,
    next: std::sync::atomic::AtomicU64,
}

impl SequentialKeys {
    /// Keys `<prefix>-1`, `<prefix>-2`, ...
    pub fn new(prefix: impl Into<String>) -> Self {
        SequentialKeys {
            prefix: prefix.into(),
            next: std::sync::atomic::AtomicU64::new(1),
        }
    }
}

impl KeyGenerator for SequentialKeys {
    fn generate(&self) -> IdempotencyKey {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        IdempotencyKey(format!("{}-{n}", self.prefix))
    }
}
