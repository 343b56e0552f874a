//! Connecting to the shared ledger: the URL (libpq's names for what tokio-postgres does
//! not know), TLS through rustls, the pool, timeouts, and errors that keep their causes and
//! never a credential.

use std::time::Duration;

use tokio_postgres::Row;

use crate::ledger::{LedgerError, LedgerFuture};

/// The ledger's connections, pooled: one worker's creations, polls and webhook
/// completions run their statements side by side instead of queueing behind one
/// connection. The size is the URL's `pool_size` (default [`DEFAULT_POOL_SIZE`]).
#[derive(Clone)]
pub(super) struct Connections(deadpool_postgres::Pool);

/// Connections per ledger unless the URL says `pool_size`.
const DEFAULT_POOL_SIZE: usize = 4;

/// A statement's parameters.
type Params<'a> = &'a [&'a (dyn tokio_postgres::types::ToSql + Sync)];

impl Connections {
    /// A connection of the pool, opened if none is free and the pool is not full.
    pub(super) async fn get(&self) -> Result<deadpool_postgres::Object, LedgerError> {
        self.0.get().await.map_err(|e| LedgerError::Database {
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

/// The URL without credentials (user info, and a `password` query parameter), for
/// messages.
pub(super) fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut redacted = match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://{}", &base[..scheme], &base[at + 1..])
        }
        _ => base.to_owned(),
    };
    if let Some(query) = query {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.to_ascii_lowercase().starts_with("password="))
            .collect();
        if !kept.is_empty() {
            redacted.push('?');
            redacted.push_str(&kept.join("&"));
        }
    }
    redacted
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

/// `url` with libpq's `sslmode=verify-full` or `verify-ca` (which managed databases tell
/// their users to write) as `require`, the strongest mode tokio-postgres knows: with
/// rustls, `require` already verifies the certificate chain and the host name.
pub(super) fn with_verifying_sslmode(url: &str) -> String {
    let (url, mode) = take_query_parameter(url, "sslmode");
    let mode = match mode.as_deref() {
        Some("verify-full" | "verify-ca") => Some("require".to_owned()),
        _ => mode,
    };
    match mode {
        None => url,
        Some(mode) => {
            let separator = if url.contains('?') { '&' } else { '?' };
            format!("{url}{separator}sslmode={mode}")
        }
    }
}

/// `url` without the query parameter `key`, and that parameter's value.
pub(super) fn take_query_parameter(url: &str, key: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut value = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some((k, v)) if k == key => {
                value = Some(v.to_owned());
                false
            }
            _ => true,
        })
        .collect();
    match kept.is_empty() {
        true => (base.to_owned(), value),
        false => (format!("{base}?{}", kept.join("&")), value),
    }
}

/// The TLS side of a connection (rustls). The server's certificate is verified against
/// the system's roots, or against the PEM file named by `sslrootcert` (libpq's name for
/// it) when the URL has one. Whether TLS is used is the URL's `sslmode`: `disable`,
/// `prefer` (the default: TLS when the server offers it) or `require`.
pub(super) fn tls(
    root_file: Option<&str>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    // A provider the application installed wins; else the one this build's TLS feature
    // chose for HTTPS, so one process has one rustls provider.
    #[cfg(any(feature = "rustls", feature = "rustls-ring"))]
    let provider = semarize_api::tls::rustls_provider();
    #[cfg(not(any(feature = "rustls", feature = "rustls-ring")))]
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .ok_or_else(|| {
            "TLS to PostgreSQL needs a rustls crypto provider: build with the `rustls` or \
             `rustls-ring` feature, install one with CryptoProvider::install_default, or \
             connect with sslmode=disable"
                .to_owned()
        })?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let config = match root_file {
        Some(path) => {
            let unreadable = |e: &dyn std::fmt::Display| format!("sslrootcert {path}: {e}");
            let mut roots = rustls::RootCertStore::empty();
            for certificate in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
                roots
                    .add(certificate.map_err(|e| unreadable(&e))?)
                    .map_err(|e| unreadable(&e))?;
            }
            if roots.is_empty() {
                return Err(unreadable(&"no certificate in the file"));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => {
            use rustls_platform_verifier::BuilderVerifierExt;
            builder
                .with_platform_verifier()
                .map_err(|e| format!("TLS: {e}"))?
                .with_no_client_auth()
        }
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
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
    // tokio-postgres knows neither `sslrootcert` nor `pool_size`: they are this
    // function's.
    let (url, root_file) = take_query_parameter(url, "sslrootcert");
    let (url, pool_size) = take_query_parameter(&url, "pool_size");
    let url = with_verifying_sslmode(&url);
    let pool_size = match pool_size {
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
    let tls = tls(root_file.as_deref()).map_err(open)?;
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| open(format!("not a PostgreSQL URL: {e}")))?;
    let connect_timeout = *config.get_connect_timeout().unwrap_or(&CONNECT_TIMEOUT);
    config.connect_timeout(connect_timeout);
    if config.get_options().is_none() {
        config.options(STATEMENT_TIMEOUT_OPTION);
    }
    let manager = deadpool_postgres::Manager::from_config(
        config,
        tls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
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
    Ok((Connections(pool), client, location))
}
