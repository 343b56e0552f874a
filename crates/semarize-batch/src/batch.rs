//! One batch from start to end, as one API: open (or create) its ledger, ingest, run with
//! progress and, optionally, a webhook receiver, write the results, reconcile credits,
//! replay. `semarize batch run`, `batch status` and `batch replay` are this API with flags.

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use semarize::Client;

use crate::engine::{BatchEngine, BatchOptions, RunEnd};
use crate::input::{IngestReport, ingest_jsonl};
use crate::ledger::{Kit, Ledger, LedgerCounts, ReplaySelection};
use crate::progress::Progress;
use crate::results::{ResultFormat, write_results};
use crate::{BatchError, open_existing_ledger, open_ledger};

/// A durable batch over one ledger.
///
/// ```no_run
/// # async fn demo(client: semarize::Client) -> Result<(), semarize_batch::BatchError> {
/// use semarize_batch::{Batch, BatchOptions, Kit, ResultFormat};
/// use std::path::Path;
///
/// // Only a run creates a ledger; status, replay and receivers open an existing one.
/// let batch = Batch::open_or_create("calls.ledger").await?;
/// let report = batch.ingest_file(Path::new("calls.jsonl"), &Kit::Code("A1B2C3D4".into())).await?;
/// println!("{} new records, {} rejected lines", report.added, report.rejected);
/// let run = batch.run(client).options(BatchOptions::default().concurrency(16)).start().await?;
/// let done = run.to_end().await?; // or run.until(a_shutdown_signal)
/// println!("{} of {} succeeded", done.counts.count(semarize_batch::RecordState::Succeeded), done.counts.total());
/// batch.write_results(Path::new("results.jsonl"), ResultFormat::JsonLines).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Batch {
    ledger: Arc<dyn Ledger>,
}

impl Batch {
    /// Opens the ledger at `location` (a SQLite file, or a `postgres://` URL), creating it
    /// when there is none: what a batch run does, and only a batch run.
    pub async fn open_or_create(location: &str) -> Result<Self, BatchError> {
        Ok(Batch::with_ledger(open_ledger(location).await?))
    }

    /// Opens the ledger at `location`, which must exist: for status, replay and anything
    /// else that must not create an empty ledger where a path or URL was mistyped.
    pub async fn open(location: &str) -> Result<Self, BatchError> {
        Ok(Batch::with_ledger(open_existing_ledger(location).await?))
    }

    /// A batch over a ledger opened elsewhere (or implemented outside this crate).
    pub fn with_ledger(ledger: Arc<dyn Ledger>) -> Self {
        Batch { ledger }
    }

    /// The ledger.
    pub fn ledger(&self) -> &Arc<dyn Ledger> {
        &self.ledger
    }

    /// Adds JSON Lines to the batch (see [`ingest_jsonl`]): records already there are left
    /// as they are, so ingesting a resumed batch's input again adds nothing.
    pub async fn ingest(&self, input: impl BufRead, kit: &Kit) -> Result<IngestReport, BatchError> {
        ingest_jsonl(self.ledger.as_ref(), input, kit).await
    }

    /// [`Batch::ingest`] from a file.
    pub async fn ingest_file(&self, path: &Path, kit: &Kit) -> Result<IngestReport, BatchError> {
        let file = std::fs::File::open(path).map_err(|source| BatchError::InputFile {
            path: path.to_path_buf(),
            source,
        })?;
        self.ingest(std::io::BufReader::new(file), kit).await
    }

    /// A run of the batch's open records with `client`: set it up, then
    /// [`start`](RunBuilder::start) it.
    pub fn run(&self, client: Client) -> RunBuilder {
        RunBuilder {
            ledger: self.ledger.clone(),
            client,
            options: BatchOptions::default(),
            progress: Arc::new(Progress::default()),
            #[cfg(feature = "webhooks")]
            receiver: None,
        }
    }

    /// Starts the selected records again with a new generation (a new Idempotency-Key,
    /// so a new run each, once the batch runs). Records in flight are left alone. Returns
    /// how many.
    pub async fn replay(&self, selection: ReplaySelection) -> Result<u64, BatchError> {
        Ok(self.ledger.replay(selection).await?)
    }

    /// Counts per state and error code, and the credits recorded.
    pub async fn counts(&self) -> Result<LedgerCounts, BatchError> {
        Ok(self.ledger.counts().await?)
    }

    /// Fetches the usage of every terminal run without a credit figure, once, and records
    /// it. Returns how many runs were reconciled.
    pub async fn reconcile_credits(&self, client: &Client) -> Result<u64, BatchError> {
        let mut reconciled = 0;
        loop {
            let missing = self.ledger.runs_without_credits(200).await?;
            if missing.is_empty() {
                return Ok(reconciled);
            }
            for run in missing {
                let usage = client.runs().usage(&run.run_id).send().await?;
                let credits = i64::try_from(usage.credits_consumed).unwrap_or(i64::MAX);
                self.ledger
                    .set_credits(&run.source_id, &run.kit, credits)
                    .await?;
                reconciled += 1;
            }
        }
    }

    /// Writes every record's result to `path` in input order (see [`write_results`]).
    pub async fn write_results(
        &self,
        path: &Path,
        format: ResultFormat,
    ) -> Result<u64, BatchError> {
        write_results(self.ledger.as_ref(), path, format).await
    }
}

/// How a batch runs: options, the progress counters, a webhook receiver.
#[derive(Debug)]
#[must_use = "a run does nothing until it is started"]
pub struct RunBuilder {
    ledger: Arc<dyn Ledger>,
    client: Client,
    options: BatchOptions,
    progress: Arc<Progress>,
    #[cfg(feature = "webhooks")]
    receiver: Option<(std::net::SocketAddr, crate::ReceiverOptions)>,
}

impl RunBuilder {
    /// How the engine works (concurrency, leases, delays).
    pub fn options(mut self, options: BatchOptions) -> Self {
        self.options = options;
        self
    }

    /// Counters shared with whoever displays them (a new set otherwise; see
    /// [`StartedRun::progress`]).
    pub fn progress(mut self, progress: Arc<Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// Receives webhooks on `listen` (registered as the workspace's endpoint, see
    /// [`ReceiverOptions`](crate::ReceiverOptions)), so that polls are only the fallback
    /// for late webhooks: a run's first poll waits
    /// [`webhook_grace`](BatchOptions::webhook_grace), [`DEFAULT_WEBHOOK_GRACE`](crate::DEFAULT_WEBHOOK_GRACE)
    /// unless set.
    #[cfg(feature = "webhooks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "webhooks")))]
    pub fn webhooks(
        mut self,
        listen: std::net::SocketAddr,
        options: crate::ReceiverOptions,
    ) -> Self {
        self.receiver = Some((listen, options));
        self
    }

    /// Starts what runs beside the engine (the webhook receiver, registered) and returns
    /// the run, ready to go.
    pub async fn start(self) -> Result<StartedRun, BatchError> {
        #[allow(unused_mut)]
        let mut options = self.options;
        #[cfg(feature = "webhooks")]
        let receiver = match self.receiver {
            Some((listen, receiver_options)) => {
                if options.webhook_grace.is_none() {
                    options = options.webhook_grace(crate::DEFAULT_WEBHOOK_GRACE);
                }
                Some(
                    crate::start_webhook_receiver(
                        listen,
                        self.client.clone(),
                        self.ledger.clone(),
                        self.progress.clone(),
                        receiver_options,
                    )
                    .await?,
                )
            }
            None => None,
        };
        let engine = BatchEngine::new(
            self.ledger.clone(),
            self.client,
            options,
            self.progress.clone(),
        );
        Ok(StartedRun {
            engine,
            ledger: self.ledger,
            progress: self.progress,
            #[cfg(feature = "webhooks")]
            receiver,
        })
    }
}

/// A run ready to go: its receiver (if any) is listening.
#[derive(Debug)]
#[must_use = "a run does nothing until it is driven to its end"]
pub struct StartedRun {
    engine: BatchEngine,
    ledger: Arc<dyn Ledger>,
    progress: Arc<Progress>,
    #[cfg(feature = "webhooks")]
    receiver: Option<crate::WebhookReceiver>,
}

/// How a run ended, and the ledger's counts then.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RunReport {
    /// Whether every record is terminal or a shutdown came first.
    pub end: RunEnd,
    /// The ledger's counts at the end.
    pub counts: LedgerCounts,
}

impl StartedRun {
    /// The live counters.
    pub fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }

    /// The URL the webhook receiver registered, when there is one.
    pub fn webhook_url(&self) -> Option<&str> {
        #[cfg(feature = "webhooks")]
        if let Some(receiver) = &self.receiver {
            return Some(&receiver.url);
        }
        None
    }

    /// Runs until every record is terminal.
    pub async fn to_end(self) -> Result<RunReport, BatchError> {
        self.until(std::future::pending()).await
    }

    /// Runs until every record is terminal or `shutdown` completes (then nothing more is
    /// claimed and the requests in flight drain; see [`BatchEngine::run_until`]); the
    /// receiver stops with it.
    pub async fn until(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<RunReport, BatchError> {
        let end = self.engine.run_until(shutdown).await?;
        let counts = self.ledger.counts().await?;
        Ok(RunReport { end, counts })
    }
}

#[cfg(all(test, feature = "webhooks", feature = "sqlite"))]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A run with a webhook receiver waits the default grace before its first polls,
    /// unless a grace was given: that one is kept.
    #[tokio::test]
    async fn a_grace_given_is_kept_beside_a_receiver() {
        let emulator = semarize_emulator::Emulator::start(semarize_emulator::Config {
            settings: semarize_emulator::Settings {
                allow_http_webhooks: true,
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .unwrap();
        let client = Client::builder()
            .api_key(emulator.api_key())
            .base_url(emulator.base_url())
            .build()
            .unwrap();
        let dir = std::env::temp_dir().join(format!("semarize-grace-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let batch = Batch::open_or_create(dir.join("l.sqlite").to_str().unwrap())
            .await
            .unwrap();
        let listen = "127.0.0.1:0".parse().unwrap();
        let grace_of = |options: BatchOptions| {
            let run = batch.run(client.clone()).options(options).webhooks(
                listen,
                crate::ReceiverOptions::default().replace_existing(true),
            );
            async move { run.start().await.unwrap().engine.options().webhook_grace }
        };
        let given = Duration::from_secs(7);
        assert_eq!(
            grace_of(BatchOptions::default().webhook_grace(given)).await,
            Some(given)
        );
        assert_eq!(
            grace_of(BatchOptions::default()).await,
            Some(crate::DEFAULT_WEBHOOK_GRACE)
        );
        let without_receiver = batch.run(client.clone()).start().await.unwrap();
        assert_eq!(without_receiver.engine.options().webhook_grace, None);
        std::fs::remove_dir_all(&dir).ok();
    }
}
