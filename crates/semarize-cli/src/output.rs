//! Printing results (table or JSON) and turning errors into one clear line and an exit
//! code.

use semarize::{ErrorKind, types::Run};
use serde::Serialize;

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people.
    Table,
    /// JSON for programs.
    Json,
}

/// A command failed: what to print and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub exit_code: u8,
    pub message: String,
}

impl Failure {
    /// Bad usage, configuration or file (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            exit_code: 2,
            message: message.into(),
        }
    }

    /// A service the command depends on, other than the API, is unavailable: the ledger's
    /// database cannot be reached or failed (exit 4, as for the API).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Failure {
            exit_code: 4,
            message: message.into(),
        }
    }

    /// A failed or cancelled run, or failed batch records (exit 1).
    pub fn run(message: impl Into<String>) -> Self {
        Failure {
            exit_code: 1,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error: {}", self.message)
    }
}

/// What to do about an error, by kind and code.
fn advice(e: &semarize::Error) -> &'static str {
    use semarize::ErrorCode as C;
    match (e.kind(), e.code()) {
        (_, Some(C::MissingBearerToken | C::InvalidApiKey)) => "check --api-key / SEMARIZE_API_KEY",
        (_, Some(C::ApiKeyExpired)) => "the key has expired: create a new one",
        (_, Some(C::KitNotFound)) => "check the Kit code or version id",
        (_, Some(C::IdempotencyKeyConflict)) => {
            "this key was used for a different request: use a new key"
        }
        (_, Some(C::RunNotFound)) => {
            "check the run id and that the key belongs to the run's workspace"
        }
        (ErrorKind::RateLimited, _) => "rate limited: try again after the advised delay",
        (ErrorKind::Transport | ErrorKind::Timeout, _) => {
            "the API did not answer: check --base-url and the network, then retry \
             (a run creation is safe to retry with the same --idempotency-key)"
        }
        (ErrorKind::Decode, _) if e.is_retryable() => {
            "the answer could not be read, so the outcome is unknown: retry \
             (a run creation is safe to retry with the same --idempotency-key)"
        }
        (ErrorKind::Redirected, _) => "check --base-url: the API does not redirect",
        (ErrorKind::Api, _) if e.status().is_some_and(|s| s.is_client_error()) => {
            match e.status().map(|s| s.as_u16()) {
                Some(401) => "check --api-key / SEMARIZE_API_KEY",
                Some(403) => "the key may not do this: check its workspace and role",
                _ => "fix the request",
            }
        }
        (ErrorKind::Api | ErrorKind::Decode, _) => {
            "Semarize is failing: retry later, and escalate with the support details if it persists"
        }
        (ErrorKind::InvalidRequest, _) => "fix the request",
        (ErrorKind::Config, _) => "fix the configuration",
        (ErrorKind::Cassette, _) => {
            "the cassette does not hold this request: replay the command it was recorded \
             with, or record it again"
        }
        (ErrorKind::WaitTimeout, _) => {
            "the run goes on: wait again with `semarize runs wait RUN_ID`"
        }
        _ => "retry later, and escalate with the support details if it persists",
    }
}

/// The exit code of an error: by kind, then by HTTP status whatever the body said.
fn exit_code(e: &semarize::Error) -> u8 {
    match e.kind() {
        // A cassette that does not hold the request does not fit the command: usage.
        ErrorKind::Config
        | ErrorKind::InvalidRequest
        | ErrorKind::Redirected
        | ErrorKind::Cassette => 2,
        ErrorKind::RunFailed | ErrorKind::RunCancelled => 1,
        ErrorKind::WaitTimeout => 5,
        _ => match e.status().map(|s| s.as_u16()) {
            // 408 and 429 are "not now", like a 5xx: the API was unavailable.
            Some(408 | 429) => 4,
            Some(400..=499) => 3,
            _ => 4,
        },
    }
}

impl From<semarize::Error> for Failure {
    fn from(e: semarize::Error) -> Self {
        let mut message = e.to_string();
        if let Some(code) = e.code() {
            message.push_str(&format!(
                " [code: {}]",
                semarize::text::printable(code.as_str(), 80)
            ));
        }
        message.push_str(&format!(" ({})", advice(&e)));
        // Whatever is known of the call (status, request id, run id, Idempotency-Key):
        // what support needs, and what a retry with the same key needs.
        let summary = e.support_summary();
        if summary.http_status.is_some()
            || summary.run_id.is_some()
            || summary.idempotency_key.is_some()
            || summary.request_id.is_some()
        {
            let summary = summary.to_string().replace('\n', ", ");
            message.push_str(&format!(
                "; support details: {}",
                semarize::text::printable(&summary, 2000)
            ));
        }
        Failure {
            exit_code: exit_code(&e),
            message,
        }
    }
}

/// Prints a value as pretty JSON.
pub fn json<T: Serialize>(value: &T) {
    // Through a JSON value, whose maps are ordered by key: the bricks of an output are a
    // hash map, and the same answer must print the same way every time.
    let value = serde_json::to_value(value).expect("API types serialize");
    println!(
        "{}",
        serde_json::to_string_pretty(&value).expect("a JSON value serializes")
    );
}

/// The widest a table cell gets; longer values are cut (`--output json` has them whole).
const MAX_CELL_CHARS: usize = 120;

/// Prints rows under a header, columns aligned. Cells come from the server: each is cut
/// to [`MAX_CELL_CHARS`] and shown without control characters.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| semarize::text::printable(cell, MAX_CELL_CHARS).into_owned())
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = widths[i]))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| h.to_uppercase()).collect());
    for row in rows {
        line(row);
    }
}

/// A short, one-cell summary of a JSON value.
pub fn cell(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => semarize::text::printable(s, 48).into_owned(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Prints a run: as JSON, or as a key/value table with one row per brick.
pub fn run(run: &Run, format: OutputFormat) {
    if format == OutputFormat::Json {
        return json(run);
    }
    let mut rows = vec![
        vec!["run_id".into(), run.run_id.clone()],
        vec!["status".into(), run.status.to_string()],
    ];
    let optional = [
        ("run_type", run.run_type.as_ref().map(|t| t.to_string())),
        ("created_at", run.created_at.map(|t| t.to_rfc3339())),
        ("duration_ms", run.duration_ms.map(|d| d.to_string())),
        ("error_code", run.error_code.as_ref().map(|c| c.to_string())),
        ("error_message", run.error_message.clone()),
        ("error_user_message", run.error_user_message.clone()),
        ("sync_fallback", run.sync_fallback.map(|b| b.to_string())),
        ("waited_ms", run.waited_ms.map(|w| w.to_string())),
    ];
    rows.extend(
        optional
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| vec![k.to_owned(), v])),
    );
    if let Some(output) = &run.output {
        let mut bricks: Vec<_> = output.bricks.iter().collect();
        bricks.sort_by(|a, b| a.0.cmp(b.0));
        for (key, brick) in bricks {
            let mut value = cell(&brick.value);
            if let Some(confidence) = brick.confidence {
                value.push_str(&format!(" (confidence {confidence})"));
            }
            rows.push(vec![format!("brick {key}"), value]);
        }
    }
    table(&["field", "value"], &rows);
}
