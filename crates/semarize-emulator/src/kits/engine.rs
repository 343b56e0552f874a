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
    let mentioning = |words: &mut dyn Iterator<Item = &str>| -> Vec<&str> {
        let words: Vec<&str> = words.collect();
        passages
            .iter()
            .zip(lowered)
            .filter(|(_, low)| words.iter().any(|w| mentions(low, w)))
            .map(|(p, _)| *p)
            .collect()
    };
    let hash = stable_hash(brick, transcript);
    let (value, relevant) = match &brick.kind {
        BrickKind::Category { categories } => {
            // The category most passages speak for; its passages are the evidence, so the
            // value and the spans that support it always agree.
            let mut best: Option<(&str, Vec<&str>)> = None;
            for category in categories {
                let found = mentioning(&mut category.words());
                if !found.is_empty() && best.as_ref().is_none_or(|(_, b)| found.len() > b.len()) {
                    best = Some((&category.value, found));
                }
            }
            let (value, relevant) = best.unwrap_or_else(|| (&categories[0].value, Vec::new()));
            (serde_json::Value::from(value), relevant)
        }
        kind => {
            let relevant = mentioning(&mut brick.keywords.iter().map(String::as_str));
            let value = match kind {
                BrickKind::Boolean => serde_json::Value::Bool(!relevant.is_empty()),
                BrickKind::Number => {
                    let score = if relevant.is_empty() {
                        hash % 20
                    } else {
                        (40 + 15 * relevant.len() as u64 + hash % 10).min(100)
                    };
                    serde_json::Value::from(score)
                }
                // BrickKind::String (categories are handled above).
                _ => {
                    let text = relevant
                        .first()
                        .or(passages.first())
                        .copied()
                        .unwrap_or_default();
                    serde_json::Value::from(text.chars().take(200).collect::<String>())
                }
            };
            (value, relevant)
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
            (0, _) if matches!(brick.kind, BrickKind::Category { .. }) => {
                format!("No passage speaks for a category; {value} is the default")
            }
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
    use crate::kits::{Catalog, CategoryDef};

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

    #[test]
    fn a_category_is_chosen_by_its_words_and_its_evidence_speaks_for_it() {
        let catalog = Catalog::default();
        let kit = catalog.resolve(Some("SENTIMNT"), None).unwrap();
        let cases = [
            ("I love it, great work", "positive"),
            (
                "I am frustrated. The export broke again! Thanks for the call.\nI am angry about the delay.",
                "negative",
            ),
            ("The weather is mild today.", "neutral"),
        ];
        for (transcript, expected) in cases {
            let (output, _) = evaluate(kit, transcript);
            let sentiment = &output.bricks["sentiment"];
            assert_eq!(sentiment.value, serde_json::json!(expected), "{transcript}");
            let BrickKind::Category { categories } = &kit.version.bricks[0].kind else {
                panic!("sentiment is a category brick");
            };
            let chosen = categories.iter().find(|c| c.value == expected).unwrap();
            if expected == "neutral" {
                assert!(sentiment.evidence.is_empty(), "the default has no evidence");
            } else {
                assert!(
                    !sentiment.evidence.is_empty(),
                    "a chosen category has evidence: {transcript}"
                );
            }
            for span in &sentiment.evidence {
                let low = span.to_lowercase();
                assert!(
                    chosen.words().any(|w| low.contains(w)),
                    "{span:?} does not speak for {expected}"
                );
            }
        }
    }

    #[test]
    fn a_category_may_be_a_plain_string_in_a_kits_file() {
        let plain: CategoryDef = serde_json::from_str(r#""urgent""#).unwrap();
        assert_eq!(plain.value, "urgent");
        assert!(plain.keywords.is_empty());
        let full: CategoryDef =
            serde_json::from_str(r#"{"value": "urgent", "keywords": ["asap"]}"#).unwrap();
        assert_eq!(full.words().collect::<Vec<_>>(), ["urgent", "asap"]);
        assert!(serde_json::from_str::<CategoryDef>("7").is_err());
    }
}
