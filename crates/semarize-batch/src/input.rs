//! Streaming JSON Lines input: one record per line, memory flat whatever the file size.

use std::collections::HashSet;
use std::io::BufRead;

use serde_json::{Map, Value};

use super::BatchError;
use super::ledger::{Kit, Ledger, NewRecord, derive_idempotency_key};

/// Lines stored per transaction.
const CHUNK: usize = 1000;
/// Rejected lines kept in the report (all are recorded in the ledger).
const REPORTED: usize = 100;

/// What ingestion did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IngestReport {
    /// Non-blank lines read.
    pub lines: u64,
    /// Records added to the ledger (others were already there: a resumed batch).
    pub added: u64,
    /// Malformed lines, recorded as rejected.
    pub rejected: u64,
    /// The first rejected lines: (line number, why).
    pub rejected_lines: Vec<(u64, String)>,
}

/// The first character of the ids the engine gives rejected lines (`#line-N`); input ids
/// may not start with it, so the two can never collide.
pub const RESERVED_ID_PREFIX: char = '#';

/// Parses one line: `{"id": ..., "transcript": "..."}` or `{"id": ..., "input": {...}}`.
/// Returns the source id and the run input.
pub fn parse_line(line: &str) -> Result<(String, Map<String, Value>), String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(mut object) = value else {
        return Err("not a JSON object".into());
    };
    let id = match object.remove("id") {
        Some(Value::String(id)) if id.starts_with(RESERVED_ID_PREFIX) => {
            return Err(format!(
                "\"id\" may not start with {RESERVED_ID_PREFIX:?}: such ids name rejected lines"
            ));
        }
        Some(Value::String(id)) if !id.trim().is_empty() => id,
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err("\"id\" must be a non-empty string or a number".into()),
        None => return Err("no \"id\"".into()),
    };
    let input = match (object.remove("transcript"), object.remove("input")) {
        (Some(Value::String(t)), None) if !t.trim().is_empty() => {
            let mut input = Map::new();
            input.insert("transcript".into(), Value::String(t));
            input
        }
        (None, Some(Value::Object(input))) => input,
        (Some(_), Some(_)) => return Err("give \"transcript\" or \"input\", not both".into()),
        (Some(_), None) => return Err("\"transcript\" must be a non-empty string".into()),
        (None, Some(_)) => return Err("\"input\" must be a JSON object".into()),
        (None, None) => return Err("no \"transcript\" or \"input\"".into()),
    };
    Ok((id, input))
}

/// Reads JSON Lines into the ledger for `kit`, in chunks. Malformed lines (not UTF-8, not
/// JSON, missing fields, a reserved id) and repeated ids are recorded as rejected records
/// (id `#line-N`, with the reason and line number), never dropped and never fatal.
///
/// Repeated ids are found with one 64-bit hash per line (8 bytes a record in memory);
/// ingesting the same file again, as a resumed batch does, adds nothing.
pub async fn ingest_jsonl(
    ledger: &dyn Ledger,
    mut reader: impl BufRead,
    kit: &Kit,
) -> Result<IngestReport, BatchError> {
    let mut report = IngestReport::default();
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut seen: HashSet<u64> = HashSet::new();
    let mut bytes = Vec::new();
    let mut number = 0u64;
    loop {
        bytes.clear();
        let read = reader
            .read_until(b'\n', &mut bytes)
            .map_err(|source| BatchError::Input {
                line: number + 1,
                source,
            })?;
        if read == 0 {
            break;
        }
        number += 1;
        let parsed = match std::str::from_utf8(&bytes) {
            Ok(line) if line.trim().is_empty() => continue,
            Ok(line) => parse_line(line),
            Err(e) => Err(format!(
                "not UTF-8 (invalid byte at column {})",
                e.valid_up_to() + 1
            )),
        };
        report.lines += 1;
        let parsed = parsed.and_then(|(id, input)| {
            if seen.insert(id_hash(&id)) {
                Ok((id, input))
            } else {
                Err(format!("the id {id:?} appeared on an earlier line"))
            }
        });
        let record = match parsed {
            Ok((id, input)) => {
                let input = Value::Object(input).to_string();
                NewRecord {
                    idempotency_key: derive_idempotency_key(&id, kit, &input, 0),
                    source_id: id,
                    kit: kit.clone(),
                    input,
                    line: number,
                    rejected: None,
                }
            }
            Err(why) => {
                let why = format!("line {number}: {why}");
                report.rejected += 1;
                if report.rejected_lines.len() < REPORTED {
                    report.rejected_lines.push((number, why.clone()));
                }
                let source_id = format!("{RESERVED_ID_PREFIX}line-{number}");
                NewRecord {
                    idempotency_key: derive_idempotency_key(&source_id, kit, "{}", 0),
                    source_id,
                    kit: kit.clone(),
                    input: "{}".into(),
                    line: number,
                    rejected: Some(why),
                }
            }
        };
        chunk.push(record);
        if chunk.len() == CHUNK {
            report.added += ledger.ingest(std::mem::take(&mut chunk)).await?;
        }
    }
    if !chunk.is_empty() {
        report.added += ledger.ingest(chunk).await?;
    }
    Ok(report)
}

/// A source id's hash, for spotting repeated ids without keeping every id in memory.
fn id_hash(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_or_say_why() {
        let (id, input) = parse_line(r#"{"id": "c1", "transcript": "hello"}"#).unwrap();
        assert_eq!(
            (id.as_str(), input["transcript"].as_str()),
            ("c1", Some("hello"))
        );
        let (id, input) =
            parse_line(r#"{"id": 7, "input": {"transcript": "x", "lang": "en"}}"#).unwrap();
        assert_eq!((id.as_str(), input.len()), ("7", 2));
        for (line, why) in [
            ("{", "not JSON"),
            ("[1]", "not a JSON object"),
            (r#"{"transcript": "x"}"#, "no \"id\""),
            (r#"{"id": "", "transcript": "x"}"#, "non-empty string"),
            (r#"{"id": "a"}"#, "no \"transcript\""),
            (r#"{"id": "a", "transcript": ""}"#, "non-empty"),
            (r#"{"id": "a", "input": "x"}"#, "must be a JSON object"),
            (r#"{"id": "a", "transcript": "x", "input": {}}"#, "not both"),
            (
                r##"{"id": "#line-7", "transcript": "x"}"##,
                "may not start with '#'",
            ),
        ] {
            let err = parse_line(line).unwrap_err();
            assert!(err.contains(why), "{line}: {err}");
        }
    }
}
