//! Receiving webhooks: verify the signature, dedupe, and complete thin events.
//!
//! Semarize POSTs an event when a run reaches a terminal state, at least once, signed
//! with HMAC-SHA256 (`Semarize-Signature: v1=<hex>`; several entries while a secret
//! rotates). A receiver should:
//!
//! 1. verify the raw body with a [`Verifier`] (all the workspace's current secrets);
//! 2. drop duplicates with a [`Deduper`] (on `Semarize-Delivery-Id`, or `Semarize-Event-Id`);
//! 3. when the event is thin, fetch the run
//!    ([`VerifiedEvent::complete`]).
//!
//! Registering the endpoint (management, not receiving) is
//! [`Client::webhook_endpoints`](crate::Client::webhook_endpoints).
//!
//! With the `axum` feature, the `Webhook` extractor does step 1 inside a handler.

mod dedupe;
mod verify;

#[cfg(feature = "axum")]
mod axum;

#[cfg(feature = "axum")]
pub use self::axum::{Webhook, WebhookRejection};
pub use dedupe::{DedupeBy, DedupeStore, Deduper, MemoryDedupeStore};
pub use verify::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE, VerifiedEvent, Verifier, WebhookError,
    WebhookSecret, parse_signature_header, sign,
};
