//! What never reaches a cassette, and the conversation text that may be left out.
//!
//! Secrets are replaced on the way to the file by fixed placeholders: the
//! `Authorization` header (and any header marked sensitive), API keys wherever they
//! appear (`smz_live_...`, `smz_test_...`, and the client's own key), and webhook signing
//! secrets (the `secret` of a webhook upsert, and any `whsec_...` string). Transcripts
//! are replaced only when asked, by placeholders derived from their text: the same text
//! always gives the same placeholder, so a request is matched on its redacted form and a
//! redacted cassette still replays.

use serde_json::Value;
use sha2::Digest;

/// The placeholder of a secret header value.
pub(crate) const SECRET: &str = "[redacted]";
/// The placeholder of an API key.
const API_KEY: &str = "smz_[redacted]";
/// The placeholder of a webhook signing secret.
const WEBHOOK_SECRET: &str = "whsec_[redacted]";

/// Whether a header's value is a secret by its name.
pub(crate) fn secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "authorization",
        "cookie",
        "api-key",
        "apikey",
        "token",
        "secret",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// The redactions of one cassette.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    /// The API key the client sends, replaced wherever it appears.
    pub api_key: Option<zeroize::Zeroizing<String>>,
    pub transcripts: bool,
}

impl std::fmt::Debug for Redactor {
    // The key it hides is never shown itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("transcripts", &self.transcripts)
            .finish()
    }
}

impl Redactor {
    /// Redacts secrets in any string.
    pub(crate) fn text(&self, text: &str) -> String {
        let mut out = match &self.api_key {
            Some(key) if !key.is_empty() && text.contains(key.as_str()) => {
                text.replace(key.as_str(), API_KEY)
            }
            _ => text.to_owned(),
        };
        for (prefix, placeholder) in [
            ("smz_live_", API_KEY),
            ("smz_test_", API_KEY),
            ("whsec_", WEBHOOK_SECRET),
        ] {
            out = replace_tokens(&out, prefix, placeholder);
        }
        out
    }

    /// Redacts a request body of `operation_id`.
    pub(crate) fn request_body(&self, operation_id: &str, body: &mut Value) {
        self.strings(body);
        if operation_id == "upsert_webhook" {
            replace_member(body, "secret", WEBHOOK_SECRET);
        }
        if self.transcripts
            && operation_id == "create_run"
            && let Some(input) = body.get_mut("input")
        {
            conversation(input);
        }
    }

    /// Redacts a response body of `operation_id`.
    pub(crate) fn response_body(&self, operation_id: &str, body: &mut Value) {
        self.strings(body);
        if operation_id == "upsert_webhook" {
            replace_member(body, "secret", WEBHOOK_SECRET);
        }
        if self.transcripts {
            evidence(body);
        }
    }

    fn strings(&self, value: &mut Value) {
        match value {
            Value::String(text) => {
                let redacted = self.text(text);
                if redacted != *text {
                    *text = redacted;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.strings(v)),
            Value::Object(members) => members.values_mut().for_each(|v| self.strings(v)),
            _ => {}
        }
    }
}

/// Replaces `prefix` followed by token characters with `placeholder`.
fn replace_tokens(text: &str, prefix: &str, placeholder: &str) -> String {
    if !text.contains(prefix) {
        return text.to_owned();
    }
    let token = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '/' | '=');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        out.push_str(&rest[..at]);
        let after = &rest[at + prefix.len()..];
        let end = after.find(|c: char| !token(c)).unwrap_or(after.len());
        if end == 0 {
            // A bare prefix (or a placeholder already): nothing secret follows.
            out.push_str(prefix);
        } else {
            out.push_str(placeholder);
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn replace_member(body: &mut Value, name: &str, placeholder: &str) {
    if let Some(value) = body.get_mut(name)
        && value.is_string()
    {
        *value = Value::from(placeholder);
    }
}

/// A stable placeholder for conversation text: its length and a digest prefix, so that
/// equal texts stay equal and different texts stay different.
fn placeholder(text: &str) -> String {
    let digest = sha2::Sha256::digest(text.as_bytes());
    format!(
        "[redacted transcript {} chars sha256:{}]",
        text.chars().count(),
        hex::encode(&digest[..8])
    )
}

/// Every string under a creation's `input` (the conversation data).
fn conversation(value: &mut Value) {
    match value {
        Value::String(text) => *text = placeholder(text),
        Value::Array(items) => items.iter_mut().for_each(conversation),
        Value::Object(members) => members.values_mut().for_each(conversation),
        _ => {}
    }
}

/// Evidence spans (quotes from the conversation) anywhere in a response.
fn evidence(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(evidence),
        Value::Object(members) => {
            for (name, member) in members.iter_mut() {
                if name == "evidence"
                    && let Value::Array(spans) = member
                {
                    spans.iter_mut().for_each(conversation);
                } else {
                    evidence(member);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_become_placeholders() {
        let redactor = Redactor {
            api_key: Some(zeroize::Zeroizing::new("odd-key-123".to_owned())),
            transcripts: false,
        };
        assert_eq!(
            redactor.text("k=smz_live_AbC-1 s=whsec_a+b/c= x=odd-key-123 smz_live_"),
            "k=smz_[redacted] s=whsec_[redacted] x=smz_[redacted] smz_live_"
        );
        let mut body = json!({"id": "w", "secret": "not-prefixed", "url": "https://x"});
        redactor.response_body("upsert_webhook", &mut body);
        assert_eq!(body["secret"], "whsec_[redacted]");
        assert_eq!(body["url"], "https://x");
    }

    #[test]
    fn transcripts_get_stable_placeholders() {
        let redactor = Redactor {
            api_key: None,
            transcripts: true,
        };
        let mut a = json!({"kit_code": "A1B2C3D4", "input": {"transcript": "Rep: hi"}});
        let mut b = a.clone();
        redactor.request_body("create_run", &mut a);
        redactor.request_body("create_run", &mut b);
        assert_eq!(a, b);
        let text = a["input"]["transcript"].as_str().unwrap();
        assert!(
            text.starts_with("[redacted transcript 7 chars sha256:"),
            "{text}"
        );
        assert_eq!(a["kit_code"], "A1B2C3D4");
        let mut run =
            json!({"output": {"bricks": {"p": {"value": true, "evidence": ["Rep: hi"]}}}});
        redactor.response_body("get_run", &mut run);
        assert_eq!(
            run["output"]["bricks"]["p"]["evidence"][0],
            a["input"]["transcript"]
        );
    }
}
