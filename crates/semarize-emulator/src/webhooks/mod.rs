//! Webhooks: the workspace's one endpoint (a public HTTPS URL; each upsert issues a new
//! `whsec_` secret while the previous one keeps signing for the rotation grace), and the
//! delivery of one signed event per terminal run ([`delivery`]).

mod delivery;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use semarize_api::types::{self, ErrorCode};

use crate::error::ApiError;
use crate::ids;

pub(crate) use delivery::run;

/// Messages for the delivery task.
#[derive(Debug)]
pub(crate) enum Job {
    /// Emit the terminal event of a run when it finishes.
    Emit {
        /// The workspace.
        workspace_id: Arc<str>,
        /// The run.
        run_id: String,
        /// When it finishes.
        at: Instant,
    },
}

/// The workspace webhook endpoint.
#[derive(Debug, Clone)]
pub(crate) struct WebhookEndpoint {
    /// `wh_...`
    pub id: String,
    /// Where events go.
    pub url: String,
    /// The current secret.
    secret: String,
    /// The previous secret and until when it still signs.
    previous_secret: Option<(String, Instant)>,
    created_at: DateTime<Utc>,
}

impl WebhookEndpoint {
    /// The secrets that sign a delivery at `now`, newest first.
    pub(crate) fn signing_secrets(&self, now: Instant) -> Vec<String> {
        let mut secrets = vec![self.secret.clone()];
        if let Some((previous, until)) = &self.previous_secret
            && now < *until
        {
            secrets.push(previous.clone());
        }
        secrets
    }

    /// The endpoint as its creation answers it: with the new secret.
    fn created(&self) -> types::Webhook {
        crate::built(
            types::Webhook::builder()
                .id(self.id.clone())
                .url(self.url.clone())
                .secret(self.secret.clone())
                .created_at(self.created_at),
        )
    }

    /// The current signing secret (the inspector's reveal control; never logged).
    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }

    /// The endpoint as the list shows it: never with its secret.
    fn listed(&self) -> types::WebhookEndpoint {
        crate::built(
            types::WebhookEndpoint::builder()
                .id(self.id.clone())
                .url(self.url.clone())
                .created_at(self.created_at),
        )
    }
}

/// Registers (or replaces) the endpoint in `slot` with a new secret; the previous secret
/// keeps signing for `rotation_grace`. Returns the endpoint with its secret.
pub(crate) fn upsert(
    slot: &mut Option<WebhookEndpoint>,
    url: String,
    rotation_grace: Duration,
) -> types::Webhook {
    let previous = slot.take();
    let endpoint = WebhookEndpoint {
        id: previous
            .as_ref()
            .map(|p| p.id.clone())
            .unwrap_or_else(|| ids::prefixed("wh")),
        url,
        secret: format!("whsec_{}", uuid::Uuid::new_v4().simple()),
        previous_secret: previous.map(|p| (p.secret, Instant::now() + rotation_grace)),
        created_at: ids::now_millis(),
    };
    let view = endpoint.created();
    *slot = Some(endpoint);
    view
}

/// The endpoints (at most one), without secrets.
pub(crate) fn list(slot: &Option<WebhookEndpoint>) -> Vec<types::WebhookEndpoint> {
    slot.iter().map(WebhookEndpoint::listed).collect()
}

/// Deletes the endpoint with this id, or 404 `webhook_not_found`.
pub(crate) fn delete(slot: &mut Option<WebhookEndpoint>, id: &str) -> Result<(), ApiError> {
    match slot {
        Some(w) if w.id == id => {
            *slot = None;
            Ok(())
        }
        _ => Err(ApiError::not_found(ErrorCode::WebhookNotFound)),
    }
}

/// Checks a webhook URL: HTTPS and publicly routable, unless local use is allowed
/// (`allow_http_webhooks`), or 422 `invalid_webhook_url`.
pub(crate) fn check_url(raw: &str, allow_http: bool) -> Result<(), ApiError> {
    let invalid = |why: &str| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::InvalidWebhookUrl,
        )
        .detail(why.to_owned())
    };
    let url = reqwest::Url::parse(raw).map_err(|_| invalid("url is not an absolute URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        _ => return Err(invalid("url must use https")),
    }
    let host = url.host().ok_or_else(|| invalid("url has no host"))?;
    if !allow_http {
        let private = match host {
            url::Host::Domain(d) => {
                d == "localhost" || d.ends_with(".localhost") || d.ends_with(".local")
            }
            url::Host::Ipv4(ip) => {
                ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
            }
            url::Host::Ipv6(ip) => {
                ip.is_loopback() || ip.is_unspecified() || (ip.segments()[0] & 0xfe00) == 0xfc00
            }
        };
        if private {
            return Err(invalid("url must be publicly routable"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_must_be_public_https_unless_allowed() {
        assert!(check_url("https://example.com/hook", false).is_ok());
        assert!(check_url("http://example.com/hook", false).is_err());
        assert!(check_url("https://127.0.0.1/hook", false).is_err());
        assert!(check_url("https://10.1.2.3/hook", false).is_err());
        assert!(check_url("https://localhost/hook", false).is_err());
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url("not a url", true).is_err());
        assert!(check_url("ftp://example.com", true).is_err());
    }

    #[test]
    fn an_upsert_rotates_the_secret_and_keeps_the_old_one_for_the_grace() {
        let mut slot = None;
        let first = upsert(
            &mut slot,
            "https://a.example/h".into(),
            Duration::from_secs(60),
        );
        let second = upsert(
            &mut slot,
            "https://b.example/h".into(),
            Duration::from_secs(60),
        );
        assert_eq!(first.id, second.id, "one endpoint per workspace");
        let secrets = slot.as_ref().unwrap().signing_secrets(Instant::now());
        assert_eq!(secrets, vec![second.secret.clone(), first.secret]);
        let later = Instant::now() + Duration::from_secs(61);
        assert_eq!(slot.as_ref().unwrap().signing_secrets(later).len(), 1);
        assert_eq!(
            list(&slot)[0].id,
            second.id,
            "listed, without a secret field"
        );
        assert!(delete(&mut slot, "wh_other").is_err());
        delete(&mut slot, &second.id).unwrap();
        assert!(slot.is_none());
    }
}
