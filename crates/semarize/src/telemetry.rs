//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`):
//! the application installs a recorder (a Prometheus exporter, say) and every client
//! reports to it. Without the feature, or without a recorder, nothing is recorded. The
//! names and labels are listed in the README's metrics table.
//!
//! Every label value comes from this crate (an operation id from the spec, a status), never
//! from the server, except `semarize_unknown_values_total`'s `value`, which
//! `semarize-api` caps.

use std::time::Duration;

use reqwest::StatusCode;

/// One attempt ended: `semarize_requests_total` and `semarize_request_duration_seconds`.
pub(crate) fn attempt(operation: &'static str, status: Option<StatusCode>, latency: Duration) {
    #[cfg(feature = "metrics")]
    {
        match labels::with_status(operation, status) {
            Some(labels) => counter("semarize_requests_total", labels).increment(1),
            // A rare status: its label is made for this one count.
            None => metrics::counter!(
                "semarize_requests_total",
                "operation" => operation,
                "status" => status.map_or_else(|| "none".to_owned(), |s| s.as_u16().to_string())
            )
            .increment(1),
        }
        histogram("semarize_request_duration_seconds", operation).record(latency.as_secs_f64());
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (operation, status, latency);
}

/// One logical call ended, after all its attempts: `semarize_call_duration_seconds`.
pub(crate) fn call(operation: &'static str, elapsed: Duration) {
    #[cfg(feature = "metrics")]
    histogram("semarize_call_duration_seconds", operation).record(elapsed.as_secs_f64());
    #[cfg(not(feature = "metrics"))]
    let _ = (operation, elapsed);
}

/// A retry is about to be made: `semarize_retries_total`.
pub(crate) fn retry(operation: &'static str) {
    count("semarize_retries_total", operation);
}

/// A retry was refused by the retry budget: `semarize_retry_budget_exhausted_total`.
pub(crate) fn budget_exhausted(operation: &'static str) {
    count("semarize_retry_budget_exhausted_total", operation);
}

/// An attempt was answered 429: `semarize_rate_limited_total`.
pub(crate) fn rate_limited(operation: &'static str) {
    count("semarize_rate_limited_total", operation);
}

/// Adds one to the counter `name{operation}`.
fn count(name: &'static str, operation: &'static str) {
    #[cfg(feature = "metrics")]
    match labels::operation(operation) {
        Some(labels) => counter(name, labels).increment(1),
        None => metrics::counter!(name, "operation" => operation).increment(1),
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (name, operation);
}

#[cfg(feature = "metrics")]
static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

#[cfg(feature = "metrics")]
fn counter(name: &'static str, labels: &'static [metrics::Label]) -> metrics::Counter {
    let key = metrics::Key::from_static_parts(name, labels);
    metrics::with_recorder(|recorder| recorder.register_counter(&key, &METADATA))
}

#[cfg(feature = "metrics")]
fn histogram(name: &'static str, operation: &'static str) -> metrics::Histogram {
    match labels::operation(operation) {
        Some(labels) => {
            let key = metrics::Key::from_static_parts(name, labels);
            metrics::with_recorder(|recorder| recorder.register_histogram(&key, &METADATA))
        }
        None => metrics::histogram!(name, "operation" => operation),
    }
}

/// Every label set this crate records, built once: the operations are the spec's and the
/// common statuses a fixed list, so recording a metric allocates nothing (the `metrics`
/// macros build a vector of labels on every call).
#[cfg(feature = "metrics")]
mod labels {
    use std::sync::OnceLock;

    use metrics::Label;
    use reqwest::StatusCode;
    use semarize_api::operations;

    /// The statuses with a prepared label set, and their label; `None`: no response.
    const STATUSES: [(Option<u16>, &str); 18] = [
        (None, "none"),
        (Some(200), "200"),
        (Some(201), "201"),
        (Some(202), "202"),
        (Some(204), "204"),
        (Some(400), "400"),
        (Some(401), "401"),
        (Some(403), "403"),
        (Some(404), "404"),
        (Some(408), "408"),
        (Some(409), "409"),
        (Some(413), "413"),
        (Some(422), "422"),
        (Some(429), "429"),
        (Some(500), "500"),
        (Some(502), "502"),
        (Some(503), "503"),
        (Some(504), "504"),
    ];

    struct Table {
        /// `[operation]` per operation of the spec, in `operations::ALL`'s order.
        operation: Vec<[Label; 1]>,
        /// `[operation, status]`, `STATUSES.len()` per operation.
        with_status: Vec<[Label; 2]>,
    }

    fn table() -> &'static Table {
        static TABLE: OnceLock<Table> = OnceLock::new();
        TABLE.get_or_init(|| Table {
            operation: operations::ALL
                .iter()
                .map(|op| [Label::from_static_parts("operation", op.id)])
                .collect(),
            with_status: operations::ALL
                .iter()
                .flat_map(|op| {
                    STATUSES.iter().map(|(_, status)| {
                        [
                            Label::from_static_parts("operation", op.id),
                            Label::from_static_parts("status", status),
                        ]
                    })
                })
                .collect(),
        })
    }

    fn index(operation: &str) -> Option<usize> {
        operations::ALL.iter().position(|op| op.id == operation)
    }

    /// `[operation]`.
    pub(super) fn operation(operation: &str) -> Option<&'static [Label]> {
        Some(&table().operation[index(operation)?])
    }

    /// `[operation, status]`, for the statuses of `STATUSES`.
    pub(super) fn with_status(
        operation: &str,
        status: Option<StatusCode>,
    ) -> Option<&'static [Label]> {
        let code = status.map(|s| s.as_u16());
        let column = STATUSES.iter().position(|(known, _)| *known == code)?;
        Some(&table().with_status[index(operation)? * STATUSES.len() + column])
    }
}
