//! The API's operations, grouped by resource: [`Runs`], [`Kits`], [`Bricks`],
//! [`WebhookEndpoints`]. Every request is a builder: set what is optional, then `send()`.

mod kits;
mod runs;
mod webhooks;

use std::time::Duration;

pub use kits::{Bricks, GetBricks, GetKitSchema, Kits};
pub use runs::{CreateRun, CreatedRun, GetRun, GetRunUsage, ListRuns, PolledRun, Runs};
pub use webhooks::{
    DeleteWebhook, ListWebhooks, RegisteredWebhook, UpsertWebhook, WebhookEndpoints,
};

use crate::call::Call;
use crate::client::Client;
use crate::retry::RetryPolicy;

/// Per-call overrides of the client's defaults.
#[derive(Clone, Debug, Default)]
pub(crate) struct CallOptions {
    pub policy: Option<RetryPolicy>,
    pub timeout: Option<Duration>,
}

impl CallOptions {
    pub(crate) fn policy<'a>(&'a self, client: &'a Client) -> &'a RetryPolicy {
        self.policy.as_ref().unwrap_or(&client.inner.retry_policy)
    }

    pub(crate) fn timeout(&self, client: &Client) -> Duration {
        self.timeout.unwrap_or(client.inner.request_timeout)
    }

    /// The call description for an operation of `client` with these options.
    pub(crate) fn call<'a>(
        &'a self,
        client: &'a Client,
        operation: &'static semarize_api::operations::Operation,
        path_arg: Option<&'a str>,
    ) -> Call<'a> {
        Call {
            operation,
            path_arg,
            run_id: None,
            idempotency_key: None,
            policy: self.policy(client),
            timeout: self.timeout(client),
        }
    }
}

/// Adds the per-call override methods to request builders.
macro_rules! call_options {
    ($($builder:ident),+ $(,)?) => {$(
        impl $builder<'_> {
            /// Retries this call with `policy` instead of the client's default.
            pub fn retry_policy(mut self, policy: $crate::RetryPolicy) -> Self {
                self.options.policy = Some(policy);
                self
            }

            /// Makes exactly one attempt.
            pub fn no_retries(self) -> Self {
                self.retry_policy($crate::RetryPolicy::none())
            }

            /// How long one attempt may take (default: the client's request timeout).
            pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
                self.options.timeout = Some(timeout);
                self
            }
        }
    )+};
}
pub(crate) use call_options;

/// Adds `send()`, the value alone, to request builders that have `send_with_response()`.
macro_rules! send_from_response {
    ($($builder:ident => $value:ty),+ $(,)?) => {$(
        impl $builder<'_> {
            /// Sends the request and returns the value alone;
            #[doc = concat!("[`send_with_response`](", stringify!($builder), "::send_with_response)")]
            /// keeps the status, headers, request id and attempts too.
            pub async fn send(self) -> Result<$value, $crate::Error> {
                self.send_with_response()
                    .await
                    .map($crate::Response::into_inner)
            }
        }
    )+};
}
pub(crate) use send_from_response;

impl Client {
    /// Runs: create, get, list, usage, wait and watch.
    pub fn runs(&self) -> Runs<'_> {
        Runs::new(self)
    }

    /// Kit output schemas.
    pub fn kits(&self) -> Kits<'_> {
        Kits::new(self)
    }

    /// Brick metadata.
    pub fn bricks(&self) -> Bricks<'_> {
        Bricks::new(self)
    }

    /// Managing the workspace's webhook endpoint (register, list, delete). Receiving
    /// deliveries is [`crate::webhooks`].
    pub fn webhook_endpoints(&self) -> WebhookEndpoints<'_> {
        WebhookEndpoints::new(self)
    }

    /// Renamed [`Client::webhook_endpoints`], apart from receiving ([`crate::webhooks`]).
    #[deprecated(since = "0.2.0", note = "renamed `webhook_endpoints()`")]
    pub fn webhooks(&self) -> WebhookEndpoints<'_> {
        self.webhook_endpoints()
    }
}
