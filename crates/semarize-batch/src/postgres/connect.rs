//! Connecting to the shared ledger: the URL (libpq's names for what tokio-postgres does
//! not know), TLS through rustls, the pool, timeouts, and errors that keep their causes and
//! never a credential.

use std::task::Poll;
use std::time::Duration;

use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Row, Socket};

use super::tls::{self, TlsPolicy};
use super::url::{LedgerUrl, redact};
use crate::Wake;
use crate::ledger::sql;
use crate::ledger::{LedgerError, LedgerFuture};

/// The ledger's connections, pooled: one worker's creations, polls and webhook
/// completions run their statements side by side instead of queueing behind one
/// connection. The size is the URL's `pool_size` (default [`DEFAULT_POOL_SIZE`]). Beside
/// the pool, one connection of the same settings listens for wake-ups
/// ([`Connections::listen`]).
#[derive(Clone)]
pub(super) struct Connections {
    pub(super) pool: deadpool_postgres::Pool,
    listener: Listener,
}

/// Opens the listening connection and forwards its notifications until it fails.
type Listener = std::sync::Arc<
    dyn Fn(Wake) -> futures::future::BoxFuture<'static, (bool, LedgerError)> + Send + Sync,
>;

/// Connections per ledger unless the URL says `pool_size`.
const DEFAULT_POOL_SIZE: usize = 4;

/// A statement's parameters.
type Params<'a> = &'a [&'a (dyn tokio_postgres::types::ToSql + Sync)];

impl Connections {
    /// A connection of the pool, opened if none is free and the pool is not full.
    pub(super) async fn get(&self) -> Result<deadpool_postgres::Object, LedgerError> {
        self.pool.get().await.map_err(|e| LedgerError::Database {
            message: with_causes(&e),
            source: Some(Box::new(e)),
        })
    }

    /// Runs `sql` on a pooled connection as a statement prepared once per connection.
    /// A statement sent as text is parsed and planned on every call, one more round trip
    /// and, with four workers on two cores, most of the database's CPU: the engine runs
    /// the same few statements thousands of times.
    pub(super) async fn query(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, LedgerError> {
        let client = self.get().await?;
        let statement = client.prepare_cached(sql).await.map_err(db)?;
        client.query(&statement, params).await.map_err(db)
    }

    /// Opens a connection of its own, `LISTEN`s on the wake channel, and calls
    /// `wake.wake()` on every notification, until the connection fails. Returns whether
    /// it was listening before it failed, and why it failed.
    pub(super) async fn listen(&self, wake: &Wake) -> (bool, LedgerError) {
        (self.listener)(wake.clone()).await
    }

    /// [`Connections::query`] for a statement that returns no rows; the rows it changed.
    pub(super) async fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, LedgerError> {
        let client = self.get().await?;
        let statement = client.prepare_cached(sql).await.map_err(db)?;
        client.execute(&statement, params).await.map_err(db)
    }
}

/// An error and its causes, `outer: inner: ...`: tokio-postgres's own text alone says
/// "error performing TLS handshake" and leaves out why (an unknown certificate issuer).
pub(super) fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

pub(super) fn db(e: tokio_postgres::Error) -> LedgerError {
    LedgerError::Database {
        message: with_causes(&e),
        source: Some(Box::new(e)),
    }
}

/// How long connecting (TCP and the startup exchange) may take unless the URL says
/// `connect_timeout`: a server that accepts and never answers is an error, not a hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The server-side limit of one statement unless the URL sets `options`.
const STATEMENT_TIMEOUT_OPTION: &str = "-c statement_timeout=30000";

/// The client-side bound of one ledger operation, waiting for the shared connection
/// included: the server's statement timeout cannot fire when the server (or the network
/// path to it) stops answering, so this is what turns a stalled database into an error.
/// Four statement timeouts, so that a queue of slow but live statements does not trip it.
pub(super) const OPERATION_TIMEOUT: Duration = Duration::from_secs(120);

/// Boxes a ledger operation bounded by [`OPERATION_TIMEOUT`].
pub(super) fn bounded<T: Send + 'static>(
    operation: impl Future<Output = Result<T, LedgerError>> + Send + 'static,
) -> LedgerFuture<T> {
    Box::pin(bounded_by(OPERATION_TIMEOUT, operation))
}

pub(super) async fn bounded_by<T>(
    limit: Duration,
    operation: impl Future<Output = Result<T, LedgerError>>,
) -> Result<T, LedgerError> {
    tokio::time::timeout(limit, operation)
        .await
        .unwrap_or_else(|_| {
            Err(LedgerError::database_message(format!(
                "PostgreSQL did not answer within {} s",
                limit.as_secs_f64()
            )))
        })
}

/// The first connection failed: a database that does not exist is not found, refused
/// credentials are the URL's fault, anything else (refused, reset, a TLS handshake that
/// failed) is the database being unavailable.
fn connect_error(location: &str, error: deadpool_postgres::PoolError) -> LedgerError {
    use tokio_postgres::error::SqlState;
    let reason = with_causes(&error);
    let code = match &error {
        deadpool_postgres::PoolError::Backend(e) => e.code().cloned(),
        _ => None,
    };
    match code {
        Some(code) if code == SqlState::INVALID_CATALOG_NAME => LedgerError::NotFound {
            location: location.to_owned(),
            reason,
        },
        // Class 28: invalid authorization (a wrong user or password).
        Some(code) if code.code().starts_with("28") => LedgerError::Invalid {
            location: location.to_owned(),
            reason,
        },
        _ => LedgerError::Unavailable {
            location: location.to_owned(),
            reason,
            source: Some(Box::new(error)),
        },
    }
}

/// Builds the pool for `url` and opens its first connection: a wrong URL, password or
/// certificate is an error of connecting, not of the first operation. Returns the pool,
/// that connection, and the URL without credentials, for messages.
pub(super) async fn connect(
    url: &str,
) -> Result<(Connections, deadpool_postgres::Object, String), LedgerError> {
    let location = redact(url);
    let open = |reason: String| LedgerError::Invalid {
        location: location.clone(),
        reason,
    };
    let url = LedgerUrl::parse(url).map_err(open)?;
    let pool_size = match url.pool_size {
        None => DEFAULT_POOL_SIZE,
        Some(raw) => match raw.parse::<usize>() {
            Ok(size @ 1..=1024) => size,
            _ => {
                return Err(open(format!(
                    "pool_size={raw} is not a number from 1 to 1024"
                )));
            }
        },
    };
    let mut config: tokio_postgres::Config = url
        .driver_url
        .parse()
        .map_err(|e| open(format!("not a PostgreSQL URL: {e}")))?;
    let (policy, roots) = TlsPolicy::resolve(
        url.sslmode.as_deref(),
        url.sslrootcert.as_deref(),
        config.get_hosts(),
        config.get_hostaddrs(),
    )
    .map_err(open)?;
    config.ssl_mode(policy.ssl_mode());
    let connect_timeout = *config.get_connect_timeout().unwrap_or(&CONNECT_TIMEOUT);
    config.connect_timeout(connect_timeout);
    if config.get_options().is_none() {
        config.options(STATEMENT_TIMEOUT_OPTION);
    }
    let manager_config = deadpool_postgres::ManagerConfig {
        recycling_method: deadpool_postgres::RecyclingMethod::Fast,
    };
    let (manager, listener) = match policy {
        // No TLS is negotiated, so none is configured: a build without a rustls
        // provider can still reach a plaintext server it was told to.
        TlsPolicy::Off => (
            deadpool_postgres::Manager::from_config(
                config.clone(),
                tokio_postgres::NoTls,
                manager_config,
            ),
            listener(config, tokio_postgres::NoTls),
        ),
        TlsPolicy::Preferred | TlsPolicy::Required { .. } => {
            let check_host = !matches!(policy, TlsPolicy::Required { check_host: false });
            let tls = tls::connector(&roots, check_host).map_err(open)?;
            (
                deadpool_postgres::Manager::from_config(
                    config.clone(),
                    tls.clone(),
                    manager_config,
                ),
                listener(config, tls),
            )
        }
    };
    let pool = deadpool_postgres::Pool::builder(manager)
        .max_size(pool_size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .create_timeout(Some(connect_timeout))
        .wait_timeout(Some(OPERATION_TIMEOUT))
        .build()
        .map_err(|e| open(e.to_string()))?;
    // The first connection now: a wrong URL, password or certificate is an error of
    // `connect`, not of the first operation.
    let no_answer = || LedgerError::Unavailable {
        location: location.clone(),
        reason: format!(
            "no answer within {} s (set connect_timeout in the URL to wait longer)",
            connect_timeout.as_secs()
        ),
        source: None,
    };
    let client = match tokio::time::timeout(connect_timeout, pool.get()).await {
        Err(_) | Ok(Err(deadpool_postgres::PoolError::Timeout(_))) => return Err(no_answer()),
        Ok(Err(e)) => return Err(connect_error(&location, e)),
        Ok(Ok(client)) => client,
    };
    if policy == TlsPolicy::Preferred && !encrypted(&client).await {
        tracing::warn!(
            ledger = %location,
            "the ledger's connection to this loopback server is not encrypted (it offers no \
             TLS); write sslmode=disable to say that is intended, or sslmode=require to refuse it"
        );
    }
    Ok((Connections { pool, listener }, client, location))
}

/// The [`Listener`] of a ledger: connects as the pool does (same settings, same TLS).
fn listener<T>(config: tokio_postgres::Config, tls: T) -> Listener
where
    T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
    T::Stream: Send + Sync,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    std::sync::Arc::new(move |wake: Wake| {
        let (config, tls) = (config.clone(), tls.clone());
        Box::pin(async move {
            let connected = bounded_by(OPERATION_TIMEOUT, async {
                config.connect(tls).await.map_err(db)
            })
            .await;
            let (client, mut connection) = match connected {
                Ok(pair) => pair,
                Err(e) => return (false, e),
            };
            let listening = std::sync::atomic::AtomicBool::new(false);
            // The connection delivers notifications only while it is polled; the client
            // must live as long (dropping it closes the connection).
            let forward = std::future::poll_fn(|cx| {
                loop {
                    match connection.poll_message(cx) {
                        Poll::Ready(Some(Ok(AsyncMessage::Notification(_)))) => wake.wake(),
                        Poll::Ready(Some(Ok(_))) => {}
                        Poll::Ready(Some(Err(e))) => return Poll::Ready(db(e)),
                        Poll::Ready(None) => {
                            return Poll::Ready(LedgerError::database_message(
                                "the server closed the connection",
                            ));
                        }
                        Poll::Pending => return Poll::Pending,
                    }
                }
            });
            let listen = async {
                match client
                    .batch_execute(&format!("LISTEN {}", sql::WAKE_CHANNEL))
                    .await
                {
                    Ok(()) => {
                        listening.store(true, std::sync::atomic::Ordering::Relaxed);
                        std::future::pending().await
                    }
                    Err(e) => db(e),
                }
            };
            let error = tokio::select! {
                error = forward => error,
                error = listen => error,
            };
            (listening.load(std::sync::atomic::Ordering::Relaxed), error)
        })
    })
}

/// Whether `client`'s session is encrypted, as the server sees it. A server that cannot
/// say (a pooler in between) counts as encrypted: the warning this feeds is advice.
async fn encrypted(client: &tokio_postgres::Client) -> bool {
    match client
        .query_opt(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
    {
        Ok(Some(row)) => row.try_get::<_, bool>(0).unwrap_or(true),
        _ => true,
    }
}
