//! Forward-compatible ("open") enumerations.
//!
//! The Semarize documentation promises that /v1 changes only additively, so a run status,
//! run type, event type or error code that this version does not know must still decode.
//! Each enum here has one arm per documented value and a catch-all arm that keeps the raw
//! string (`Unknown`, and `Other` for [`ErrorCode`]), so nothing is lost and re-serializing
//! gives back exactly what was received. They replace the closed enums progenitor would
//! generate (see `semarize_codegen::OPEN_ENUMS`). With the `schemars` feature they implement `JsonSchema`,
//! which `cargo xtask spec check` compares with the spec's enumerations.

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

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map($name::from)
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
