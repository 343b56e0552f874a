//! A workspace: what one set of API keys sees and shares. Its runs, its idempotency
//! records, its webhook endpoint and its rate buckets; nothing crosses workspaces.

use std::sync::Arc;
use std::time::Instant;

use crate::admission::Admission;
use crate::idempotency::IdempotencyStore;
use crate::runs::RunStore;
use crate::webhooks::WebhookEndpoint;

/// One workspace.
#[derive(Debug)]
pub(crate) struct Workspace {
    /// `ws_...`
    pub id: Arc<str>,
    /// Its runs.
    pub runs: RunStore,
    /// Its Idempotency-Keys.
    pub idempotency: IdempotencyStore,
    /// The webhook endpoint, if one is registered.
    pub webhook: Option<WebhookEndpoint>,
    /// Its create and read buckets.
    pub admission: Admission,
}

impl Workspace {
    /// An empty workspace.
    pub(crate) fn new(id: Arc<str>) -> Self {
        Workspace {
            id,
            runs: RunStore::default(),
            idempotency: IdempotencyStore::default(),
            webhook: None,
            admission: Admission::new(Instant::now()),
        }
    }
}
