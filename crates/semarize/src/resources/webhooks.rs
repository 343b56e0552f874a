//! Managing the workspace's webhook endpoint: register, list, delete. Receiving
//! deliveries is [`crate::webhooks`].

use std::sync::atomic::{AtomicBool, Ordering};

use semarize_api::operations;
use semarize_api::types::{self, Run, WebhookEndpoint};

use super::{CallOptions, call_options, send_from_response};
use crate::call::execute;
use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::response::Response;
use crate::webhooks::{VerifiedEvent, WebhookSecret};
use zeroize::Zeroizing;

/// The workspace's webhook endpoint (one per workspace in v1).
#[derive(Clone, Copy, Debug)]
pub struct WebhookEndpoints<'c> {
    client: &'c Client,
}

impl<'c> WebhookEndpoints<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        WebhookEndpoints { client }
    }

    /// Registers the endpoint, replacing any existing one; the answer carries the new
    /// `whsec_` secret (keep the old one in your verifier until rotation completes).
    pub fn upsert(&self, url: impl Into<String>) -> UpsertWebhook<'c> {
        UpsertWebhook {
            client: self.client,
            url: url.into(),
            options: CallOptions::default(),
        }
    }

    /// Lists the endpoints (without secrets).
    pub fn list(&self) -> ListWebhooks<'c> {
        ListWebhooks {
            client: self.client,
            options: CallOptions::default(),
        }
    }

    /// Deletes the endpoint with this id.
    pub fn delete(&self, id: impl Into<String>) -> DeleteWebhook<'c> {
        DeleteWebhook {
            client: self.client,
            id: id.into(),
            options: CallOptions::default(),
        }
    }

    /// Renamed: completing an event is receiving work, [`VerifiedEvent::complete`].
    #[deprecated(
        since = "0.2.0",
        note = "use `event.complete(&client)` (VerifiedEvent::complete)"
    )]
    pub async fn complete(&self, event: &VerifiedEvent) -> Result<Run, Error> {
        event.complete(self.client).await
    }
}

/// `POST /v1/webhooks`.
#[derive(Debug)]
#[must_use = "a request does nothing until sent"]
pub struct UpsertWebhook<'c> {
    client: &'c Client,
    url: String,
    options: CallOptions,
}

/// `GET /v1/webhooks`.
#[derive(Debug)]
#[must_use = "a request does nothing until sent"]
pub struct ListWebhooks<'c> {
    client: &'c Client,
    options: CallOptions,
}

/// `DELETE /v1/webhooks/{id}`.
#[derive(Debug)]
#[must_use = "a request does nothing until sent"]
pub struct DeleteWebhook<'c> {
    client: &'c Client,
    id: String,
    options: CallOptions,
}

call_options!(UpsertWebhook, ListWebhooks, DeleteWebhook);
send_from_response!(
    UpsertWebhook => RegisteredWebhook,
    ListWebhooks => Vec<WebhookEndpoint>,
    DeleteWebhook => (),
);

/// The answer to an upsert: the endpoint and its new signing secret, which is shown
/// this once. `Debug` never prints the secret.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RegisteredWebhook {
    /// The endpoint.
    pub endpoint: WebhookEndpoint,
    /// The new `whsec_` secret; pass it to
    /// [`Verifier::from_secrets`](crate::webhooks::Verifier::from_secrets).
    pub secret: WebhookSecret,
}

impl UpsertWebhook<'_> {
    /// Sends the request. Retrying is safe: the last answer's secret is the current one.
    /// An answer without a `whsec_` secret is an [`ErrorKind::Decode`] error (the
    /// endpoint was replaced, so its old secret no longer signs deliveries).
    ///
    /// [`send`](UpsertWebhook::send) returns the value alone.
    pub async fn send_with_response(self) -> Result<Response<RegisteredWebhook>, Error> {
        let client = self.client;
        let body: types::UpsertWebhookRequest = types::UpsertWebhookRequest::builder()
            .url(self.url)
            .try_into()
            .map_err(|e| {
                Error::invalid_request(format!("the request does not fit the spec: {e}"))
            })?;
        let call = self.options.call(client, &operations::UPSERT_WEBHOOK, None);
        let raw = &client.inner.raw;
        let reply = execute(&client.inner, call, |rid| {
            raw.upsert_webhook()
                .x_request_id(rid)
                .body(body.clone())
                .send()
        })
        .await?;
        let (created, response) = reply.into_response().take();
        let decode = |what: String| {
            Error::new(ErrorKind::Decode, what).with_call(&operations::UPSERT_WEBHOOK, &[])
        };
        let secret = WebhookSecret::new(Zeroizing::new(created.secret).as_str()).map_err(|_| {
            decode("the webhook was registered but its secret is not a whsec_ secret".into())
        })?;
        let endpoint = WebhookEndpoint::builder()
            .id(created.id)
            .url(created.url)
            .created_at(created.created_at)
            .try_into()
            .map_err(|e| {
                decode(format!(
                    "the registered endpoint does not fit the spec: {e}"
                ))
            })?;
        Ok(response.map(|()| RegisteredWebhook { endpoint, secret }))
    }
}

impl ListWebhooks<'_> {
    /// Sends the request and returns the value with its response (status, headers,
    /// request id, attempts).
    pub async fn send_with_response(self) -> Result<Response<Vec<WebhookEndpoint>>, Error> {
        let client = self.client;
        let call = self.options.call(client, &operations::LIST_WEBHOOKS, None);
        let raw = &client.inner.raw;
        Ok(execute(&client.inner, call, |rid| {
            raw.list_webhooks().x_request_id(rid).send()
        })
        .await?
        .into_response())
    }
}

impl DeleteWebhook<'_> {
    /// Sends the request. When an earlier attempt got no answer and a retry finds the
    /// endpoint gone, the delete is taken to have succeeded (then the response is that
    /// 404's). [`send`](DeleteWebhook::send) returns nothing but success.
    pub async fn send_with_response(self) -> Result<Response<()>, Error> {
        let client = self.client;
        let call = self
            .options
            .call(client, &operations::DELETE_WEBHOOK, Some(&self.id));
        let raw = &client.inner.raw;
        let unanswered = AtomicBool::new(false);
        let clock = &client.inner.runtime.clock;
        let started = clock.now();
        let result = execute(&client.inner, call, |rid| {
            let request = raw.delete_webhook().id(&self.id).x_request_id(rid);
            let unanswered = &unanswered;
            async move {
                let result = request.send().await;
                if matches!(result, Err(semarize_api::Error::CommunicationError(_))) {
                    unanswered.store(true, Ordering::Relaxed);
                }
                result
            }
        })
        .await;
        match result {
            Ok(reply) => Ok(reply.into_response().map(|_| ())),
            Err(e)
                if unanswered.load(Ordering::Relaxed)
                    && e.kind() == ErrorKind::Api
                    && e.status() == Some(reqwest::StatusCode::NOT_FOUND) =>
            {
                let mut headers = reqwest::header::HeaderMap::new();
                if let Some(id) = e.request_id().and_then(|id| id.parse().ok()) {
                    headers.insert("x-request-id", id);
                }
                Ok(Response::new(
                    (),
                    reqwest::StatusCode::NOT_FOUND,
                    headers,
                    e.attempts(),
                    clock.now().saturating_duration_since(started),
                ))
            }
            Err(e) => Err(e),
        }
    }
}
