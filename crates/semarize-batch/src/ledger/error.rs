//! What can go wrong with a ledger, by whose move it is.

/// A ledger operation failed.
///
/// The variants say whose move it is: [`NotFound`](LedgerError::NotFound),
/// [`Invalid`](LedgerError::Invalid) and [`Corrupt`](LedgerError::Corrupt) need a person
/// (a path, a URL, a ledger to repair), while [`Unavailable`](LedgerError::Unavailable)
/// and [`Database`](LedgerError::Database) may pass by themselves
/// ([`LedgerError::is_unavailable`]): the `semarize` command exits 2 for the first kind
/// and 4 for the second.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// No ledger is there: a SQLite file that does not exist or holds no ledger, a
    /// PostgreSQL database without the ledger's tables. Only a batch run creates one.
    #[error("no ledger at {location}: {reason}")]
    NotFound {
        /// The file or URL (without credentials).
        location: String,
        /// Why.
        reason: String,
    },
    /// The location or its options are wrong (a malformed URL, an option out of range, a
    /// certificate file that cannot be read, a SQLite ledger another process holds).
    #[error("cannot open the ledger {location}: {reason}")]
    Invalid {
        /// The file or URL (without credentials).
        location: String,
        /// Why.
        reason: String,
    },
    /// The database could not be reached (refused, no answer, a failed TLS handshake).
    #[error("cannot reach the ledger {location}: {reason}")]
    Unavailable {
        /// The file or URL (without credentials).
        location: String,
        /// Why, with the causes underneath.
        reason: String,
        /// The driver's error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A statement failed.
    #[error("ledger error: {message}")]
    Database {
        /// What failed, with the database's own message.
        message: String,
        /// The database driver's error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The ledger holds something this version does not understand (a corrupted row or a
    /// newer schema).
    #[error("the ledger is not usable: {0}")]
    Corrupt(String),
}

impl LedgerError {
    /// Whether the database failed rather than the request: it could not be reached, or
    /// a statement failed (an outage in the middle of a run). Trying again later may
    /// succeed; a missing ledger, a wrong location or a corrupted ledger will not.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            LedgerError::Unavailable { .. } | LedgerError::Database { .. }
        )
    }

    /// A driver error, its text kept as the message.
    #[cfg(feature = "sqlite")]
    pub(crate) fn database(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        LedgerError::Database {
            message: error.to_string(),
            source: Some(Box::new(error)),
        }
    }

    /// A failure described by this crate, with no error underneath.
    #[cfg(feature = "postgres")]
    pub(crate) fn database_message(message: impl Into<String>) -> Self {
        LedgerError::Database {
            message: message.into(),
            source: None,
        }
    }
}
