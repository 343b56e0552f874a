//! The cassette file, as the [module documentation](super#the-file) shows it: one JSON
//! document, keys sorted, one entry per interaction.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::CassetteError;

/// The `format` member of every cassette.
pub(crate) const FORMAT: &str = "semarize-cassette";
/// The format version this crate writes and reads.
pub(crate) const VERSION: u64 = 1;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CassetteFile {
    pub format: String,
    pub version: u64,
    #[serde(default)]
    pub redactions: Redactions,
    pub interactions: Vec<Interaction>,
}

/// What was replaced by placeholders beyond the secrets (which always are).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Redactions {
    /// Conversation text: the strings under a creation's `input`, and evidence spans.
    #[serde(default)]
    pub transcripts: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Interaction {
    /// Milliseconds from the first recorded response to this one.
    pub elapsed_ms: u64,
    pub operation_id: String,
    pub request: RecordedRequest,
    pub response: RecordedResponse,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordedRequest {
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordedResponse {
    pub status: u16,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
}

impl RecordedResponse {
    /// The body as it goes on the wire.
    pub(crate) fn body_bytes(&self) -> Vec<u8> {
        match (&self.body, &self.body_text) {
            (Some(body), _) => serde_json::to_vec(body).unwrap_or_default(),
            (None, Some(text)) => text.clone().into_bytes(),
            (None, None) => Vec::new(),
        }
    }
}

/// A body as recorded: JSON when it parses, text otherwise, nothing when empty.
pub(crate) fn split_body(bytes: &[u8]) -> (Option<Value>, Option<String>) {
    if bytes.is_empty() {
        return (None, None);
    }
    match serde_json::from_slice(bytes) {
        Ok(value) => (Some(value), None),
        Err(_) => (None, Some(String::from_utf8_lossy(bytes).into_owned())),
    }
}

impl CassetteFile {
    pub(crate) fn new(redactions: Redactions) -> Self {
        CassetteFile {
            format: FORMAT.to_owned(),
            version: VERSION,
            redactions,
            interactions: Vec::new(),
        }
    }

    /// Parses a cassette, checking its format, version and statuses.
    pub(crate) fn parse(name: &Path, text: &str) -> Result<Self, CassetteError> {
        let invalid = |reason: String| CassetteError::Invalid {
            path: name.to_owned(),
            reason,
        };
        // The header first: a file of another format or version gets a message about
        // that, not about whichever field differs.
        let header: Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if header.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(invalid(format!(
                "not a cassette: \"format\" is not \"{FORMAT}\""
            )));
        }
        match header.get("version").and_then(Value::as_u64) {
            Some(VERSION) => {}
            other => {
                return Err(invalid(format!(
                    "format version {} is not supported (this build reads version {VERSION})",
                    other.map_or_else(|| "(missing)".to_owned(), |v| v.to_string())
                )));
            }
        }
        let file: CassetteFile =
            serde_json::from_value(header).map_err(|e| invalid(e.to_string()))?;
        for (index, interaction) in file.interactions.iter().enumerate() {
            if reqwest::StatusCode::from_u16(interaction.response.status).is_err() {
                return Err(invalid(format!(
                    "interaction {index}: {} is not an HTTP status",
                    interaction.response.status
                )));
            }
        }
        Ok(file)
    }

    /// The file's text: pretty JSON with every object's keys sorted (serde_json's map
    /// is ordered by key), so that two recordings diff line by line.
    pub(crate) fn to_text(&self) -> String {
        let value = serde_json::to_value(self).expect("a cassette is plain JSON data");
        let mut text = serde_json::to_string_pretty(&value).expect("a JSON value serializes");
        text.push('\n');
        text
    }
}
