//! The raw Semarize API client, generated at build time by [progenitor] from
//! `openapi/semarize.yaml`.
//!
//! This crate is deliberately thin: it is exactly what the spec says, with no retries,
//! idempotency or waiting. Most users want the `semarize` crate, which layers those on
//! top. Use this crate directly when you need the wire types or full control.
//!
//! Every operation is a method on [`Client`] returning a builder; responses are
//! [`ResponseValue`]s, whose `headers()` carry `Retry-After` and `X-Request-Id`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), semarize_api::Error<semarize_api::types::ErrorEnvelope>> {
//! let context = semarize_api::RequestContext::new().with_bearer("smz_live_...").unwrap();
//! let client = semarize_api::Client::new("https://api.semarize.com", context);
//! let run = client.get_run().run_id("run-id").send().await?;
//! println!("{} is {}", run.run_id, run.status);
//! # Ok(()) }
//! ```
//!
//! The generated builders accept what you would write by hand: `&str` for string fields,
//! a `serde_json::json!` value for an object field or a whole request body (see
//! [`convert`]). Every setter carries the spec's description of its parameter or field.
//!
//! Errors: [`Error`] is progenitor's error of one call; an error *response* (4xx/5xx)
//! carries its decoded body, [`types::ErrorEnvelope`] (the spec's `Error` schema, renamed
//! so it cannot be mistaken for either `Error` type).
//!
//! The status, type and error-code enumerations are open: values added to /v1 later
//! decode into an `Unknown` arm (see [`open_enums`]).
//!
//! [progenitor]: https://github.com/oxidecomputer/progenitor

// Feature badges on gated items in the docs.rs build.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs, unreachable_pub)]

#[cfg(feature = "cassette")]
#[cfg_attr(docsrs, doc(cfg(feature = "cassette")))]
pub mod cassette;
mod clock;
pub mod convert;
pub mod hooks;
pub mod open_enums;
pub mod operations;
pub mod request_context;
pub mod tls;
pub mod transport;
pub mod webhook_signature;

pub use request_context::RequestContext;

// Generated code follows progenitor's conventions, not this crate's lints; what it
// exports is re-exported below.
#[allow(
    missing_docs,
    unreachable_pub,
    missing_debug_implementations,
    rust_2018_idioms,
    unused_imports,
    clippy::all,
    clippy::pedantic
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/semarize_api.rs"));
}

pub use generated::{ByteStream, Client, ClientInfo, Error, ResponseValue, builder, prelude};

/// Every request goes through the [`transport`] layer: same-origin `GET` redirects only, the
/// response head kept for [`transport::capture_head`], and the body size limited.
///
/// The context's [`hooks`] run around every request: `on_request` before it is sent,
/// `on_response` when it is over.
///
/// Each request is a `semarize.http` span (operation id, method, path, status) at debug
/// level, so raw calls are traced like the `semarize` crate's own. Headers, query values
/// and bodies are never recorded.
impl progenitor_client::ClientHooks<RequestContext> for Client {
    async fn exec(
        &self,
        mut request: reqwest::Request,
        info: &progenitor_client::OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        use tracing::Instrument;
        let span = tracing::debug_span!(
            "semarize.http",
            operation = info.operation_id,
            method = %request.method(),
            path = request.url().path(),
            status = tracing::field::Empty,
        );
        let max = self.inner().max_response_bytes();
        async move {
            let report = hooks::before_send(self.inner().hooks(), info.operation_id, &mut request);
            #[cfg(feature = "cassette")]
            let result = match self.inner().cassette() {
                Some(cassette) => {
                    cassette
                        .execute(self.client(), request, info.operation_id, max)
                        .await
                }
                None => transport::execute(self.client(), request, max).await,
            };
            #[cfg(not(feature = "cassette"))]
            let result = transport::execute(self.client(), request, max).await;
            match &result {
                Ok(response) => {
                    tracing::Span::current().record("status", response.status().as_u16());
                }
                Err(error) => tracing::debug!(%error, "no response"),
            }
            if let Some(report) = report {
                report.report(result.as_ref().ok());
            }
            result
        }
        .instrument(span)
        .await
    }
}

/// The spec's component schemas as Rust types, including the open enumerations.
pub mod types {
    pub use crate::generated::types::*;
    pub use crate::open_enums::{
        BrickValueType, ErrorCode, RunMode, RunStatus, RunType, WebhookEventType,
    };
}

/// The spec this crate was generated from, for tools that validate against it: the
/// packaged `openapi/semarize.yaml`, or the file `$SEMARIZE_API_SPEC` named at build time.
pub const SPEC_YAML: &str = include_str!(concat!(env!("OUT_DIR"), "/semarize.yaml"));
