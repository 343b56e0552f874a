//! Identifiers and timestamps in the shapes the API uses.

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};

/// A fresh id with a prefix, as the webhook and event ids are (`evt_<uuid>`).
pub(crate) fn prefixed(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// RFC 3339 with milliseconds and `Z`, as in the documentation's examples.
pub(crate) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Now, to the millisecond (the precision the API's timestamps show).
pub(crate) fn now_millis() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}
