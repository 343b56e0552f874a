//! Forward-compatible ("open") enumerations.
//!
//! The Semarize documentation promises that /v1 changes only additively, so a run status,
//! run type, event type or error code that this version does not know must still decode.
//! Each enum here has one arm per documented value and a catch-all arm that keeps the raw
//! string (`Unknown`, and `Other` for [`ErrorCode`]), so nothing is lost and re-serializing
//! gives back exactly what was received. They replace the closed enums progenitor would
//! generate (see `semarize_codegen::OPEN_ENUMS`). With the `schemars` feature they implement `JsonSchema`,
//! which `cargo xtask spec check` compares with the spec's enumerations.
//!
//! Decoding an unknown value is no error, but someone should learn that the API has grown:
//! the first time a type shows a value, a `tracing` warning names both (later ones are at
//! debug level), and with the `metrics` feature every one counts in
//! `semarize_unknown_values_total{type, value}`. The server chooses these values, so at most
//! [`MAX_REMEMBERED_UNKNOWN_VALUES`] are remembered per type (beyond that the label is
//! `other`), each shown printable and cut at 64 characters.

use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;
use std::sync::{Mutex, OnceLock};

/// Distinct unknown values remembered per type. The server chooses them, so memory and
/// the metric's label values are bounded: past this many, a value is reported as `other`.
pub const MAX_REMEMBERED_UNKNOWN_VALUES: usize = 100;

/// The longest unknown value kept verbatim in a log line or metric label.
const MAX_UNKNOWN_VALUE_CHARS: usize = 64;

/// Reports a decoded value that this version does not know (see the module's docs).
pub(crate) fn observe_unknown(type_name: &'static str, value: &str) {
    // Printable and short: the value came from the network.
    let shown: String = value
        .chars()
        .take(MAX_UNKNOWN_VALUE_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    let (first, label) = remember(type_name, shown);
    if first {
        tracing::warn!(
            r#type = type_name,
            value = %label,
            "the API sent a {type_name} value this version does not know; it is kept as \
             unknown (update semarize to handle it)"
        );
    } else {
        tracing::debug!(r#type = type_name, value = %label, "unknown {type_name} value");
    }
    #[cfg(feature = "metrics")]
    metrics::counter!("semarize_unknown_values_total", "type" => type_name, "value" => label)
        .increment(1);
}

/// Whether `value` is new for `type_name`, and its label: the value itself, or `other`
/// once [`MAX_REMEMBERED_UNKNOWN_VALUES`] others are remembered.
fn remember(type_name: &'static str, value: String) -> (bool, String) {
    static SEEN: OnceLock<Mutex<HashMap<&'static str, HashSet<String>>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let values = seen.entry(type_name).or_default();
    if values.contains(&value) {
        (false, value)
    } else if values.len() < MAX_REMEMBERED_UNKNOWN_VALUES {
        values.insert(value.clone());
        (true, value)
    } else {
        (false, "other".to_owned())
    }
}

/// Decodes an open enum from a borrowed string when the format allows (no allocation for
/// a known value).
struct OpenEnumVisitor<T>(PhantomData<T>);

impl<T> OpenEnumVisitor<T> {
    fn new() -> Self {
        OpenEnumVisitor(PhantomData)
    }
}

impl<T: for<'a> From<&'a str> + From<String>> serde::de::Visitor<'_> for OpenEnumVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<T, E> {
        Ok(T::from(value))
    }

    fn visit_string<E: serde::de::Error>(self, value: String) -> Result<T, E> {
        Ok(T::from(value))
    }
}

macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident ($other:ident) {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version of the crate does not know, kept verbatim.
            $other(String),
        }

        impl $name {
            /// Every value this version knows, in documentation order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// The value as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::$other(raw) => raw,
                }
            }

            /// Whether this is a value the crate does not know.
            pub fn is_unknown(&self) -> bool {
                matches!(self, $name::$other(_))
            }
        }

        impl From<&str> for $name {
            fn from(raw: &str) -> Self {
                match raw {
                    $( $wire => $name::$variant, )+
                    other => $name::$other(other.to_owned()),
                }
            }
        }

        impl From<String> for $name {
            fn from(raw: String) -> Self {
                match $name::from(raw.as_str()) {
                    $name::$other(_) => $name::$other(raw),
                    known => known,
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                Ok($name::from(raw))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        /// Decoding an unknown value reports it (see the module docs).
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = deserializer.deserialize_str(OpenEnumVisitor::<$name>::new())?;
                if let $name::$other(raw) = &value {
                    observe_unknown(stringify!($name), raw);
                }
                Ok(value)
            }
        }

        #[cfg(feature = "schemars")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).to_owned()
            }

            fn json_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
                schemars::schema::SchemaObject {
                    instance_type: Some(schemars::schema::InstanceType::String.into()),
                    enum_values: Some(vec![$(serde_json::Value::from($wire)),+]),
                    ..Default::default()
                }
                .into()
            }
        }
    };
}

open_enum! {
    /// A run's lifecycle state: `queued` -> `running` -> `succeeded` | `failed` | `cancelled`.
    RunStatus (Unknown) {
        /// Accepted and waiting for execution.
        Queued => "queued",
        /// Execution has started.
        Running => "running",
        /// Output is ready under `output.bricks`.
        Succeeded => "succeeded",
        /// Execution ended with an error; see `error_code`.
        Failed => "failed",
        /// Execution did not continue.
        Cancelled => "cancelled",
    }
}

impl RunStatus {
    /// Whether the run will not change any more (`succeeded`, `failed` or `cancelled`).
    ///
    /// An unknown status is not terminal: a client keeps polling it (with backoff) rather
    /// than treating a future intermediate state as final.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

open_enum! {
    /// Run type. Defaults to `api` on the server.
    RunType (Unknown) {
        /// A production API run.
        Api => "api",
        /// A sandbox run.
        Sandbox => "sandbox",
    }
}

open_enum! {
    /// Execution mode of a run creation. Defaults to `async` on the server.
    RunMode (Unknown) {
        /// Answer 202 at once; poll or wait for the webhook.
        Async => "async",
        /// Wait for the run within the request, or fall back to 202.
        Sync => "sync",
    }
}

open_enum! {
    /// The type of a Brick's `value`.
    BrickValueType (Unknown) {
        /// `true` or `false`.
        Boolean => "boolean",
        /// A number.
        Number => "number",
        /// Free text.
        String => "string",
        /// One of the Brick's `categories`.
        Category => "category",
    }
}

open_enum! {
    /// The type of a webhook event.
    WebhookEventType (Unknown) {
        /// The run completed successfully; output is available.
        RunSucceeded => "run.succeeded",
        /// The run failed; check `error_code` and `error_message`.
        RunFailed => "run.failed",
        /// The run was cancelled before completion.
        RunCancelled => "run.cancelled",
    }
}

open_enum! {
    /// The machine-readable `error` value of the flat error envelope.
    ///
    /// The first ten are documented by Semarize; the rest are the spec's contract choices
    /// for cases the documentation does not name. Any other value is kept as `Unknown`.
    ErrorCode (Other) {
        /// The Authorization header was omitted or malformed.
        MissingBearerToken => "missing_bearer_token",
        /// The API key is not valid for the requested workspace context.
        InvalidApiKey => "invalid_api_key",
        /// The API key has an expiration date in the past.
        ApiKeyExpired => "api_key_expired",
        /// The request did not identify a Kit.
        KitCodeOrKitVersionIdRequired => "kit_code_or_kit_version_id_required",
        /// The `input` field was not a JSON object.
        InputMustBeObject => "input_must_be_object",
        /// The `type` field is not an accepted run type.
        InvalidRunType => "invalid_run_type",
        /// The `mode` field is not `async` or `sync`.
        InvalidRunMode => "invalid_run_mode",
        /// The Kit is missing or not visible to the workspace.
        KitNotFound => "kit_not_found",
        /// The Idempotency-Key was reused for a conflicting request.
        IdempotencyKeyConflict => "idempotency_key_conflict",
        /// The run request could not be accepted or processed.
        RunRequestFailed => "run_request_failed",
        /// Rate limit exceeded; wait for Retry-After or `retry_after_seconds`.
        RateLimited => "rate_limited",
        /// The Idempotency-Key is longer than 254 characters.
        IdempotencyKeyTooLong => "idempotency_key_too_long",
        /// The body is not valid JSON.
        InvalidJson => "invalid_json",
        /// The request is malformed in a way no more specific code describes.
        InvalidRequest => "invalid_request",
        /// The body is not `application/json`.
        UnsupportedMediaType => "unsupported_media_type",
        /// The body is larger than the server accepts.
        PayloadTooLarge => "payload_too_large",
        /// `limit` is not an integer from 1 to 100.
        InvalidLimit => "invalid_limit",
        /// `GET /v1/bricks` was called without ids.
        IdsRequired => "ids_required",
        /// `GET /v1/bricks` was called with more than 100 ids.
        TooManyIds => "too_many_ids",
        /// The webhook URL is not an acceptable HTTPS URL.
        InvalidWebhookUrl => "invalid_webhook_url",
        /// No such run in this workspace.
        RunNotFound => "run_not_found",
        /// No such webhook in this workspace.
        WebhookNotFound => "webhook_not_found",
        /// No such route or resource.
        NotFound => "not_found",
        /// The route exists but not with this method.
        MethodNotAllowed => "method_not_allowed",
        /// The key lacks permission for this resource.
        Forbidden => "forbidden",
        /// Unexpected server-side error.
        InternalError => "internal_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_decode_from_borrowed_and_owned_strings() {
        let status: RunStatus = serde_json::from_str(r#""running""#).unwrap();
        assert_eq!(status, RunStatus::Running);
        let status: RunStatus =
            serde_json::from_value(serde_json::Value::String("queued".into())).unwrap();
        assert_eq!(status, RunStatus::Queued);
        let escaped: RunStatus = serde_json::from_str(r#""paus\u0065d""#).unwrap();
        assert_eq!(escaped, RunStatus::Unknown("paused".into()));
        assert!(serde_json::from_str::<RunStatus>("7").is_err());
    }

    #[test]
    fn unknown_values_are_remembered_up_to_the_cap() {
        let name = "CapTestType";
        assert_eq!(remember(name, "v0".into()), (true, "v0".into()));
        assert_eq!(remember(name, "v0".into()), (false, "v0".into()));
        for i in 1..MAX_REMEMBERED_UNKNOWN_VALUES {
            assert!(remember(name, format!("v{i}")).0);
        }
        assert_eq!(remember(name, "one-more".into()), (false, "other".into()));
        assert_eq!(remember(name, "v7".into()), (false, "v7".into()));
        assert_eq!(
            remember("AnotherType", "one-more".into()),
            (true, "one-more".into())
        );
    }
}
