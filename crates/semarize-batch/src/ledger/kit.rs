//! The Kit a record runs, and its one stored text form.

use serde::Serialize;

/// The Kit a record runs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Kit {
    /// An 8-character Kit code: its current version runs.
    Code(String),
    /// A Kit version id: exactly that version runs.
    Version(String),
}

impl Kit {
    /// How a pinned version is written in the ledger's `kit` column and in results files.
    const VERSION_PREFIX: &'static str = "version:";

    /// The ledger's text form: the code, or `version:<id>`. It is part of each record's
    /// key and of its Idempotency-Key derivation, so it never changes.
    pub(crate) fn to_text(&self) -> String {
        match self {
            Kit::Code(code) => code.clone(),
            Kit::Version(id) => format!("{}{id}", Self::VERSION_PREFIX),
        }
    }

    /// Reads the ledger's text form.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn from_text(text: &str) -> Kit {
        match text.strip_prefix(Self::VERSION_PREFIX) {
            Some(id) => Kit::Version(id.to_owned()),
            None => Kit::Code(text.to_owned()),
        }
    }
}

/// The ledger's text form (the `kit` column of results files): the code, or
/// `version:<id>`.
impl std::fmt::Display for Kit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl Serialize for Kit {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_text())
    }
}

#[cfg(feature = "sqlite")]
impl rusqlite::ToSql for Kit {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.to_text()))
    }
}

#[cfg(feature = "sqlite")]
impl rusqlite::types::FromSql for Kit {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        value.as_str().map(Kit::from_text)
    }
}

#[cfg(feature = "postgres")]
impl tokio_postgres::types::ToSql for Kit {
    fn to_sql(
        &self,
        ty: &tokio_postgres::types::Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.to_text().to_sql(ty, out)
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        <String as tokio_postgres::types::ToSql>::accepts(ty)
    }

    tokio_postgres::types::to_sql_checked!();
}

#[cfg(feature = "postgres")]
impl<'a> tokio_postgres::types::FromSql<'a> for Kit {
    fn from_sql(
        ty: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        <&str as tokio_postgres::types::FromSql>::from_sql(ty, raw).map(Kit::from_text)
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        <&str as tokio_postgres::types::FromSql>::accepts(ty)
    }
}
