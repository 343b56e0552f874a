//! Writing results: JSON Lines or CSV, in input order, streamed from the ledger.

use std::io::Write;
use std::path::Path;

use super::BatchError;
use super::ledger::{Ledger, ResultRow};

/// Rows read per query.
const PAGE: usize = 1000;

/// The results file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResultFormat {
    /// One JSON object per line.
    JsonLines,
    /// CSV with a header row; `output` is a JSON string column.
    Csv,
}

fn json_line(row: &ResultRow) -> serde_json::Value {
    let output = row
        .output
        .as_deref()
        .and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok());
    serde_json::json!({
        "id": row.id,
        "kit": row.kit,
        "state": row.state,
        "run_id": row.run_id,
        "idempotency_key": row.idempotency_key,
        "error_code": row.error_code,
        "error_message": row.error_message,
        "output": output,
    })
}

/// Writes every record's result to `path` (through a temporary file and a rename, so a
/// crash never leaves a half-written file in its place). Returns the rows written.
pub async fn write_results(
    ledger: &dyn Ledger,
    path: &Path,
    format: ResultFormat,
) -> Result<u64, BatchError> {
    let output = |source: Box<dyn std::error::Error + Send + Sync>| BatchError::Output {
        path: path.to_path_buf(),
        source,
    };
    let io = |e: std::io::Error| output(Box::new(e));
    let csv_error = |e: csv::Error| output(Box::new(e));
    let temporary = path.with_extension("partial");
    let file = std::io::BufWriter::new(std::fs::File::create(&temporary).map_err(io)?);
    let mut sink = match format {
        ResultFormat::JsonLines => Sink::Json(file),
        ResultFormat::Csv => {
            let mut csv = csv::Writer::from_writer(file);
            csv.write_record([
                "id",
                "kit",
                "state",
                "run_id",
                "idempotency_key",
                "error_code",
                "error_message",
                "output",
            ])
            .map_err(csv_error)?;
            Sink::Csv(Box::new(csv))
        }
    };
    let (mut after, mut written) = (0u64, 0u64);
    loop {
        let rows = ledger.results(after, PAGE).await?;
        let Some(last) = rows.last() else { break };
        after = last.line;
        for row in &rows {
            match &mut sink {
                Sink::Csv(csv) => csv
                    .write_record([
                        row.id.as_str(),
                        row.kit.to_text().as_str(),
                        row.state.as_str(),
                        row.run_id.as_deref().unwrap_or_default(),
                        row.idempotency_key.as_str(),
                        row.error_code.as_deref().unwrap_or_default(),
                        row.error_message.as_deref().unwrap_or_default(),
                        row.output.as_deref().unwrap_or_default(),
                    ])
                    .map_err(csv_error)?,
                Sink::Json(file) => {
                    serde_json::to_writer(&mut *file, &json_line(row))
                        .map_err(|e| output(Box::new(e)))?;
                    file.write_all(b"\n").map_err(io)?;
                }
            }
            written += 1;
        }
    }
    let mut file = match sink {
        Sink::Json(file) => file,
        Sink::Csv(csv) => (*csv).into_inner().map_err(|e| io(e.into_error()))?,
    };
    file.flush().map_err(io)?;
    file.into_inner()
        .map_err(|e| io(e.into_error()))?
        .sync_all()
        .map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)?;
    Ok(written)
}

enum Sink {
    Json(std::io::BufWriter<std::fs::File>),
    Csv(Box<csv::Writer<std::io::BufWriter<std::fs::File>>>),
}
