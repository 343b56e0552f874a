//! The deterministic Kit engine. Each Brick turns a transcript into a typed value plus
//! the optional fields (confidence, reason, evidence) its definition enables. It is a pure
//! function of the transcript and the Brick definition: same input, same output, and
//! every evidence span is a real substring of the transcript.

use std::collections::HashMap;

use semarize_api::types;
use sha2::Digest;

use super::{BrickDef, BrickKind, Resolved};

/// Token and credit figures of one run, derived from the input size and the Kit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt: u64,
    /// Completion tokens.
    pub completion: u64,
    /// Credits charged.
    pub credits: u64,
}

/// Runs a Kit version over a transcript.
pub fn evaluate(resolved: Resolved<'_>, transcript: &str) -> (types::RunOutput, Usage) {
    let passages = passages(transcript);
    let lowered: Vec<String> = passages.iter().map(|p| p.to_lowercase()).collect();
    let mut bricks = HashMap::new();
    let mut evidence_count = 0u64;
    for brick in &resolved.version.bricks {
        let output = evaluate_brick(brick, transcript, &passages, &lowered);
        evidence_count += output.evidence.len() as u64;
        bricks.insert(brick.key.clone(), output);
    }
    let n = resolved.version.bricks.len() as u64;
    let prompt = (transcript.len() as u64).div_ceil(4) + 60 * n;
    let completion = 25 * n + 10 * evidence_count;
    let usage = Usage {
        prompt,
        completion,
        credits: 1 + (prompt + completion) / 250,
    };
    let output = crate::built(
        types::RunOutput::builder()
            .kit_code(Some(resolved.kit.kit_code.clone()))
            .kit_version_id(Some(resolved.version.kit_version_id.clone()))
            .bricks(bricks),
    );
    (output, usage)
}

/// Sentences and lines of the transcript, trimmed: every one a substring of it.
fn passages(transcript: &str) -> Vec<&str> {
    transcript
        .split_inclusive(['.', '!', '?', '\n'])
        .map(|p| p.trim().trim_end_matches('\n').trim())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Whether a lower-cased passage mentions `word` (case-insensitive).
fn mentions(lowered_passage: &str, word: &str) -> bool {
    !word.is_empty() && lowered_passage.contains(&word.to_lowercase())
}

/// A stable small number from the brick and transcript, for deterministic variety.
fn stable_hash(brick: &BrickDef, transcript: &str) -> u64 {
    let digest = sha2::Sha256::new()
        .chain_update(brick.key.as_bytes())
        .chain_update(transcript.as_bytes())
        .finalize();
    u64::from_le_bytes(
        digest[..8]
            .try_into()
            .expect("a SHA-256 digest has 32 bytes"),
    )
}

fn evaluate_brick(
    brick: &BrickDef,
    transcript: &str,
    passages: &[&str],
    lowered: &[String],
) -> types::BrickOutput {
    let relevant: Vec<&str> = passages
        .iter()
        .zip(lowered)
        .filter(|(_, low)| brick.keywords.iter().any(|k| mentions(low, k)))
        .map(|(p, _)| *p)
        .collect();
    let hash = stable_hash(brick, transcript);
    let value = match &brick.kind {
        BrickKind::Boolean => serde_json::Value::Bool(!relevant.is_empty()),
        BrickKind::Number => {
            let score = if relevant.is_empty() {
                hash % 20
            } else {
                (40 + 15 * relevant.len() as u64 + hash % 10).min(100)
            };
            serde_json::Value::from(score)
        }
        BrickKind::Category { categories } => {
            let named = categories
                .iter()
                .find(|c| lowered.iter().any(|p| mentions(p, c)));
            serde_json::Value::from(named.unwrap_or(&categories[0]).clone())
        }
        BrickKind::String => {
            let text = relevant
                .first()
                .or(passages.first())
                .copied()
                .unwrap_or_default();
            serde_json::Value::from(text.chars().take(200).collect::<String>())
        }
    };
    let matched = relevant.len();
    let confidence = brick.fields.confidence.then(|| {
        let raw =
            0.5 + 0.45 * (matched as f64 / (matched as f64 + 1.0)) + (hash % 5) as f64 / 100.0;
        (raw * 100.0).round() / 100.0
    });
    let reason = brick
        .fields
        .reason
        .then(|| match (matched, brick.keywords.first()) {
            (0, Some(word)) => format!("No passage mentions '{word}' or a related term"),
            (0, None) => "Derived from the opening of the conversation".to_owned(),
            (1, _) => "One passage addresses this directly".to_owned(),
            (n, _) => format!("{n} passages address this"),
        });
    let evidence: Vec<String> = if brick.fields.evidence {
        relevant.iter().take(3).map(|p| (*p).to_owned()).collect()
    } else {
        Vec::new()
    };
    crate::built(
        types::BrickOutput::builder()
            .value(value)
            .confidence(confidence)
            .reason(reason)
            .evidence(evidence),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kits::Catalog;

    const TRANSCRIPT: &str = "Rep: What drove the urgency? Prospect: We are losing 3 hours a week on manual work.\nRep: Is there budget? Prospect: Yes, we can spend $500. Let's schedule a meeting next week.";

    #[test]
    fn same_input_same_output_and_evidence_is_a_substring() {
        let catalog = Catalog::default();
        let kit = catalog.resolve(Some("A1B2C3D4"), None).unwrap();
        let (first, usage) = evaluate(kit, TRANSCRIPT);
        let (second, usage2) = evaluate(kit, TRANSCRIPT);
        assert_eq!(first, second);
        assert_eq!(usage, usage2);
        let pain = &first.bricks["pain_is_specific"];
        assert!(pain.value.as_u64().unwrap() >= 55);
        assert!(!pain.evidence.is_empty());
        for brick in first.bricks.values() {
            for span in &brick.evidence {
                assert!(TRANSCRIPT.contains(span.as_str()), "{span:?}");
            }
        }
        assert_eq!(
            first.bricks["budget_mentioned"].value,
            serde_json::json!(true)
        );
        assert_eq!(
            first.bricks["next_step"].value,
            serde_json::json!("meeting")
        );
        assert!(
            first.bricks["budget_mentioned"].confidence.is_none(),
            "fields follow the brick config"
        );
    }
}
