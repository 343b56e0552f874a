//! The one webhook receiver: verifies each delivery, drops repeated ones, completes the
//! ledger's record of the run, and answers 503 when the record could not be stored so that
//! Semarize delivers again. A batch run's own receiver ([`start_webhook_receiver`]) and a
//! standalone one in front of a shared ledger (`semarize webhooks listen --ledger`) are
//! both this [`Receiver`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::post;

use super::completion::{Completion, complete_from_webhook};
use super::ledger::Ledger;
use super::progress::Progress;
use crate::BatchError;
use semarize::Client;
use semarize::webhooks::{DedupeBy, Deduper, VerifiedEvent, Verifier, Webhook, WebhookSecret};

/// What the receiver did with one verified delivery (given to
/// [`Receiver::on_delivery`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// A delivery seen before (the same `Semarize-Delivery-Id`): acknowledged, nothing
    /// done.
    Duplicate,
    /// Verified and acknowledged; the receiver has no ledger to complete.
    Received,
    /// Verified, and the ledger's record was completed or left as it was.
    Completed(Completion),
    /// The record could not be stored (the message says why): answered 503, so Semarize
    /// delivers again.
    NotStored(String),
}

/// Called for each verified delivery with what was done.
type Observer = Arc<dyn Fn(&VerifiedEvent, &Delivery) + Send + Sync>;

/// A webhook receiver: verification, dedupe, completion of a ledger's records, 503 when a
/// record cannot be stored. Build it, then [`serve`](Receiver::serve) it or mount its
/// [`router`](Receiver::router) in your own axum application.
///
/// ```no_run
/// # async fn demo(client: semarize::Client) -> Result<(), semarize_batch::BatchError> {
/// use semarize::webhooks::Verifier;
/// use semarize_batch::{Receiver, open_existing_ledger};
///
/// let ledger = open_existing_ledger("postgres://ledger.internal/batches").await?;
/// let verifier = Verifier::new(["whsec_current", "whsec_previous"])?;
/// let receiver = Receiver::new(verifier)
///     .completing(ledger, client)
///     .serve("0.0.0.0:8788".parse().unwrap())
///     .await?;
/// receiver.wait().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Receiver {
    verifier: Arc<Verifier>,
    deduper: Deduper,
    completion: Option<(Arc<dyn Ledger>, Client)>,
    progress: Option<Arc<Progress>>,
    observer: Option<Observer>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("verifier", &self.verifier)
            .field(
                "ledger",
                &self.completion.as_ref().map(|(ledger, _)| ledger),
            )
            .finish_non_exhaustive()
    }
}

impl FromRef<Receiver> for Arc<Verifier> {
    fn from_ref(receiver: &Receiver) -> Self {
        receiver.verifier.clone()
    }
}

impl Receiver {
    /// A receiver that verifies with `verifier` and drops repeated deliveries (by
    /// `Semarize-Delivery-Id`, in memory).
    pub fn new(verifier: Verifier) -> Self {
        Receiver {
            verifier: Arc::new(verifier),
            deduper: Deduper::in_memory(DedupeBy::DeliveryId),
            completion: None,
            progress: None,
            observer: None,
        }
    }

    /// Completes `ledger`'s records from the deliveries; thin events are completed by
    /// reading the run with `client`. Open the ledger with
    /// [`open_existing_ledger`](crate::open_existing_ledger): a receiver in front of a
    /// ledger that does not exist would acknowledge every delivery and store nothing.
    pub fn completing(mut self, ledger: Arc<dyn Ledger>, client: Client) -> Self {
        self.completion = Some((ledger, client));
        self
    }

    /// Counts completions in `progress` (a batch run's live counters).
    pub fn progress(mut self, progress: Arc<Progress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Calls `observer` with each verified delivery and what was done with it (to print
    /// or log it).
    pub fn on_delivery(
        mut self,
        observer: impl Fn(&VerifiedEvent, &Delivery) + Send + Sync + 'static,
    ) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// What to do with one verified delivery, and the status to answer it with.
    async fn handle(&self, event: &VerifiedEvent) -> (StatusCode, Delivery) {
        if !self.deduper.first_delivery(event) {
            return (StatusCode::OK, Delivery::Duplicate);
        }
        let Some((ledger, client)) = &self.completion else {
            return (StatusCode::OK, Delivery::Received);
        };
        match complete_from_webhook(ledger.as_ref(), client, event).await {
            Ok(completion) => {
                if let (Completion::Finished(state), Some(progress)) = (completion, &self.progress)
                {
                    progress.record_webhook_completion(state);
                }
                (StatusCode::OK, Delivery::Completed(completion))
            }
            // Nothing stored: a 5xx makes Semarize deliver again (a new delivery id, so
            // the dedupe lets it through).
            Err(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Delivery::NotStored(e.to_string()),
            ),
        }
    }

    /// The receiver as an axum router: it answers POST on any path.
    pub fn router(self) -> Router {
        async fn receive(State(receiver): State<Receiver>, Webhook(event): Webhook) -> StatusCode {
            let (status, delivery) = receiver.handle(&event).await;
            if let Some(observer) = &receiver.observer {
                observer(&event, &delivery);
            }
            status
        }
        Router::new().fallback(post(receive)).with_state(self)
    }

    /// Listens on `listen` and serves until the returned handle is dropped.
    pub async fn serve(self, listen: SocketAddr) -> Result<WebhookReceiver, BatchError> {
        let listener = bind(listen).await?;
        let addr = local_addr(&listener, listen)?;
        Ok(self.serve_on(listener, addr, format!("http://{addr}/webhooks/semarize")))
    }

    fn serve_on(
        self,
        listener: tokio::net::TcpListener,
        addr: SocketAddr,
        url: String,
    ) -> WebhookReceiver {
        let app = self.router();
        let task = tokio::spawn(async move { axum::serve(listener, app).await });
        WebhookReceiver { addr, url, task }
    }
}

async fn bind(listen: SocketAddr) -> Result<tokio::net::TcpListener, BatchError> {
    tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| BatchError::Listen {
            addr: listen,
            source,
        })
}

fn local_addr(
    listener: &tokio::net::TcpListener,
    listen: SocketAddr,
) -> Result<SocketAddr, BatchError> {
    listener.local_addr().map_err(|source| BatchError::Listen {
        addr: listen,
        source,
    })
}

/// A running receiver; dropping it stops it.
#[derive(Debug)]
pub struct WebhookReceiver {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The URL registered with the API (or, for a receiver that registered nothing, its
    /// local address).
    pub url: String,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl WebhookReceiver {
    /// Serves until the server fails (it does not end by itself otherwise).
    pub async fn wait(mut self) -> Result<(), BatchError> {
        let addr = self.addr;
        let ended = (&mut self.task).await;
        let source = match ended {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e,
            Err(e) => std::io::Error::other(e),
        };
        Err(BatchError::Listen { addr, source })
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How a batch's webhook receiver registers itself.
///
/// v1 has one webhook endpoint per workspace, and registering (an upsert) always mints a
/// new secret, which breaks every receiver still verifying with the old one once the
/// rotation grace ends. So registration changes nothing it does not have to:
///
/// - an endpoint that already has the receiver's URL is reused, never registered again:
///   give its secret ([`secrets`](ReceiverOptions::secrets); the CLI reads
///   `SEMARIZE_WEBHOOK_SECRET`), or ask for a new one with
///   [`rotate_secret`](ReceiverOptions::rotate_secret), which keeps the given ones
///   verifying beside it;
/// - an endpoint at another URL is an error unless
///   [`replace_existing`](ReceiverOptions::replace_existing) says otherwise;
/// - after registering, the endpoint is listed again, so that a worker registering at the
///   same moment is noticed instead of silently changing the secret.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ReceiverOptions {
    /// The URL Semarize delivers to: a public HTTPS address that forwards to the
    /// listener's `/webhooks/semarize` (a tunnel or a reverse proxy). Default:
    /// `http://<listen>/webhooks/semarize`, which only a local emulator accepts.
    pub public_url: Option<String>,
    /// Replace an endpoint the workspace already has at another URL.
    pub replace_existing: bool,
    /// The secrets of an endpoint that already has this URL (several during a rotation).
    pub secrets: Vec<WebhookSecret>,
    /// Mint a new secret even for an endpoint that already has this URL.
    pub rotate_secret: bool,
}

impl ReceiverOptions {
    /// Register `url` instead of the listener's local address.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// Replace the workspace's existing endpoint, if it has one at another URL.
    pub fn replace_existing(mut self, replace: bool) -> Self {
        self.replace_existing = replace;
        self
    }

    /// The secrets of the endpoint when it already has the receiver's URL: it is reused
    /// with them instead of being registered again.
    pub fn secrets(mut self, secrets: impl IntoIterator<Item = WebhookSecret>) -> Self {
        self.secrets = secrets.into_iter().collect();
        self
    }

    /// Mint a new secret for an endpoint that already has the receiver's URL (the secrets
    /// given keep verifying beside it, as the service keeps signing with the old one for
    /// its rotation grace). Every other receiver of that URL needs the new secret.
    pub fn rotate_secret(mut self, rotate: bool) -> Self {
        self.rotate_secret = rotate;
        self
    }
}

/// Makes `url` the workspace's endpoint as [`ReceiverOptions`] allows; the secrets to
/// verify deliveries with.
async fn register(
    client: &Client,
    url: &str,
    options: &ReceiverOptions,
) -> Result<Vec<WebhookSecret>, BatchError> {
    let existing = client
        .webhook_endpoints()
        .list()
        .send()
        .await?
        .into_iter()
        .next();
    match &existing {
        Some(endpoint) if endpoint.url == url && !options.rotate_secret => {
            if options.secrets.is_empty() {
                return Err(BatchError::WebhookSecretNeeded {
                    url: printable(url),
                });
            }
            tracing::info!(url = %printable(url), "reusing the workspace's webhook endpoint");
            return Ok(options.secrets.clone());
        }
        Some(endpoint) if endpoint.url != url && !options.replace_existing => {
            return Err(BatchError::WebhookEndpointInUse {
                existing_url: printable(&endpoint.url),
            });
        }
        _ => {}
    }
    let registered = client.webhook_endpoints().upsert(url).send().await?;
    if let Some(replaced) = existing.filter(|endpoint| endpoint.url != url) {
        tracing::warn!(
            replaced = %printable(&replaced.url),
            "replaced the workspace's webhook endpoint; putting that URL back registers it \
             again and mints a new secret for it"
        );
    }
    // One endpoint per workspace: another worker registering at the same moment would
    // have replaced ours, and its secret would be the live one.
    let now = client
        .webhook_endpoints()
        .list()
        .send()
        .await?
        .into_iter()
        .next();
    let ours = now.as_ref().is_some_and(|endpoint| {
        endpoint.url == url && endpoint.created_at == registered.endpoint.created_at
    });
    if !ours {
        return Err(BatchError::WebhookRegistrationRaced {
            url: printable(url),
        });
    }
    let mut secrets = vec![registered.secret];
    secrets.extend(options.secrets.iter().cloned());
    Ok(secrets)
}

fn printable(text: &str) -> String {
    semarize::text::printable(text, 200).into_owned()
}

/// Binds `listen`, registers the receiver as the workspace's endpoint (see
/// [`ReceiverOptions`]: nothing is registered that does not have to be), and serves a
/// [`Receiver`] completing `ledger`'s records.
pub async fn start_webhook_receiver(
    listen: SocketAddr,
    client: Client,
    ledger: Arc<dyn Ledger>,
    progress: Arc<Progress>,
    options: ReceiverOptions,
) -> Result<WebhookReceiver, BatchError> {
    let listener = bind(listen).await?;
    let addr = local_addr(&listener, listen)?;
    let url = options
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}/webhooks/semarize"));
    let secrets = register(&client, &url, &options).await?;
    let receiver = Receiver::new(Verifier::from_secrets(secrets)?)
        .completing(ledger, client)
        .progress(progress);
    Ok(receiver.serve_on(listener, addr, url))
}
