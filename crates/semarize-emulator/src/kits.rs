//! Kits and the deterministic kit engine.
//!
//! A Kit is a set of Bricks; each Brick turns a transcript into a typed value plus the
//! optional fields (confidence, reason, evidence) its definition enables. The engine is a
//! pure function of the transcript and the Brick definition: same input, same output,
//! and every evidence span is a real substring of the transcript.

use std::collections::HashMap;
use std::path::Path;

use semarize_api::types;
use serde::{Deserialize, Serialize};
use sha2::Digest;

/// Which optional output fields a Brick returns (`value` is always returned).
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct OutputFields {
    /// Return `confidence`.
    #[serde(default)]
    pub confidence: bool,
    /// Return `reason`.
    #[serde(default)]
    pub reason: bool,
    /// Return `evidence`.
    #[serde(default)]
    pub evidence: bool,
}

/// The type of a Brick's value and how it is derived.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BrickKind {
    /// `true` when any keyword is mentioned.
    Boolean,
    /// A score from 0 to 100 that grows with the number of passages mentioning a keyword.
    Number,
    /// The first category named in the transcript, else the first category.
    Category {
        /// The allowed values.
        categories: Vec<String>,
    },
    /// The first passage mentioning a keyword, else the first passage.
    String,
}

/// One Brick of a Kit version.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct BrickDef {
    /// The Brick id (for `GET /v1/bricks`).
    pub brick_id: String,
    /// The key under which it appears in `output.bricks`.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Value type and derivation.
    #[serde(flatten)]
    pub kind: BrickKind,
    /// Words whose mention makes a passage relevant (case-insensitive).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Optional fields returned.
    #[serde(default)]
    pub fields: OutputFields,
}

/// One published version of a Kit.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct KitVersion {
    /// The version UUID.
    pub kit_version_id: String,
    /// The Bricks of this version.
    pub bricks: Vec<BrickDef>,
}

/// A Kit with its versions; the last version is the one `kit_code` runs.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Kit {
    /// The Kit UUID.
    pub kit_id: String,
    /// The 8-character Kit code.
    pub kit_code: String,
    /// Display name.
    pub name: String,
    /// Versions, oldest first; the last is the current one.
    pub versions: Vec<KitVersion>,
}

/// A problem in a kits file.
#[derive(Debug, thiserror::Error)]
pub enum KitsError {
    /// The file could not be read.
    #[error("cannot read kits file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a JSON array of kits.
    #[error("kits file {path} is not valid: {source}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        source: serde_json::Error,
    },
    /// The kits are inconsistent.
    #[error("invalid kit definition: {0}")]
    Invalid(String),
}

/// All Kits the emulator knows, indexed for lookup.
#[derive(Clone, Debug)]
pub struct Catalog {
    kits: Vec<Kit>,
    by_code: HashMap<String, usize>,
    by_id: HashMap<String, usize>,
    by_version: HashMap<String, (usize, usize)>,
    bricks: HashMap<String, (usize, usize, usize)>,
}

/// A resolved Kit version, ready to run.
#[derive(Clone, Copy, Debug)]
pub struct Resolved<'a> {
    /// The Kit.
    pub kit: &'a Kit,
    /// The version that runs.
    pub version: &'a KitVersion,
}

impl Catalog {
    /// Indexes `kits`, checking that codes, ids and versions are unique and non-empty.
    pub fn new(kits: Vec<Kit>) -> Result<Self, KitsError> {
        let mut catalog = Catalog {
            kits: Vec::new(),
            by_code: HashMap::new(),
            by_id: HashMap::new(),
            by_version: HashMap::new(),
            bricks: HashMap::new(),
        };
        for (k, kit) in kits.iter().enumerate() {
            if kit.versions.is_empty() {
                return Err(KitsError::Invalid(format!(
                    "kit {} has no versions",
                    kit.kit_code
                )));
            }
            if catalog.by_code.insert(kit.kit_code.clone(), k).is_some() {
                return Err(KitsError::Invalid(format!(
                    "kit code {} is used twice",
                    kit.kit_code
                )));
            }
            if catalog.by_id.insert(kit.kit_id.clone(), k).is_some() {
                return Err(KitsError::Invalid(format!(
                    "kit id {} is used twice",
                    kit.kit_id
                )));
            }
            for (v, version) in kit.versions.iter().enumerate() {
                if catalog
                    .by_version
                    .insert(version.kit_version_id.clone(), (k, v))
                    .is_some()
                {
                    return Err(KitsError::Invalid(format!(
                        "kit version {} is used twice",
                        version.kit_version_id
                    )));
                }
                for (b, brick) in version.bricks.iter().enumerate() {
                    if let BrickKind::Category { categories } = &brick.kind
                        && categories.is_empty()
                    {
                        return Err(KitsError::Invalid(format!(
                            "brick {} has no categories",
                            brick.key
                        )));
                    }
                    // A brick shared by several versions keeps its first definition.
                    catalog
                        .bricks
                        .entry(brick.brick_id.clone())
                        .or_insert((k, v, b));
                }
            }
        }
        catalog.kits = kits;
        Ok(catalog)
    }

    /// The built-in Kits plus those in `path` (a JSON array of [`Kit`]).
    pub fn with_file(path: &Path) -> Result<Self, KitsError> {
        let text = std::fs::read_to_string(path).map_err(|source| KitsError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let extra: Vec<Kit> = serde_json::from_str(&text).map_err(|source| KitsError::Parse {
            path: path.display().to_string(),
            source,
        })?;
        let mut kits = builtin_kits();
        kits.extend(extra);
        Catalog::new(kits)
    }

    /// The Kit version a run request names: `kit_version_id` wins over `kit_code`.
    pub fn resolve(
        &self,
        kit_code: Option<&str>,
        kit_version_id: Option<&str>,
    ) -> Option<Resolved<'_>> {
        if let Some(version_id) = kit_version_id {
            let (k, v) = *self.by_version.get(version_id)?;
            return Some(Resolved {
                kit: &self.kits[k],
                version: &self.kits[k].versions[v],
            });
        }
        let kit = &self.kits[*self.by_code.get(kit_code?)?];
        Some(Resolved {
            kit,
            version: kit.versions.last()?,
        })
    }

    /// The current version of the Kit with this id.
    pub fn by_kit_id(&self, kit_id: &str) -> Option<Resolved<'_>> {
        let kit = &self.kits[*self.by_id.get(kit_id)?];
        Some(Resolved {
            kit,
            version: kit.versions.last()?,
        })
    }

    /// A Brick by id.
    pub fn brick(&self, brick_id: &str) -> Option<&BrickDef> {
        let (k, v, b) = *self.bricks.get(brick_id)?;
        Some(&self.kits[k].versions[v].bricks[b])
    }

    /// Every Kit.
    pub fn kits(&self) -> &[Kit] {
        &self.kits
    }
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog::new(builtin_kits()).expect("the built-in kits are consistent")
    }
}

impl Resolved<'_> {
    /// The Kit schema of this version.
    pub fn schema(&self) -> types::KitSchema {
        types::KitSchema {
            kit_id: self.kit.kit_id.clone(),
            kit_code: self.kit.kit_code.clone(),
            kit_version_id: Some(self.version.kit_version_id.clone()),
            bricks: self
                .version
                .bricks
                .iter()
                .map(|b| types::KitSchemaBrick {
                    brick_key: b.key.clone(),
                    brick_id: Some(b.brick_id.clone()),
                    fields: types::BrickFields {
                        value: true,
                        confidence: Some(b.fields.confidence),
                        reason: Some(b.fields.reason),
                        evidence: Some(b.fields.evidence),
                    },
                })
                .collect(),
        }
    }
}

impl BrickDef {
    /// Brick metadata for `GET /v1/bricks`.
    pub fn metadata(&self) -> types::BrickMetadata {
        let (type_, categories) = match &self.kind {
            BrickKind::Boolean => (types::BrickValueType::Boolean, Vec::new()),
            BrickKind::Number => (types::BrickValueType::Number, Vec::new()),
            BrickKind::Category { categories } => {
                (types::BrickValueType::Category, categories.clone())
            }
            BrickKind::String => (types::BrickValueType::String, Vec::new()),
        };
        types::BrickMetadata {
            brick_id: self.brick_id.clone(),
            brick_key: self.key.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            type_,
            categories,
        }
    }
}

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
    let output = types::RunOutput {
        kit_code: Some(resolved.kit.kit_code.clone()),
        kit_version_id: Some(resolved.version.kit_version_id.clone()),
        bricks,
    };
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
    types::BrickOutput {
        value,
        confidence: brick.fields.confidence.then(|| {
            let raw =
                0.5 + 0.45 * (matched as f64 / (matched as f64 + 1.0)) + (hash % 5) as f64 / 100.0;
            (raw * 100.0).round() / 100.0
        }),
        reason: brick
            .fields
            .reason
            .then(|| match (matched, brick.keywords.first()) {
                (0, Some(word)) => format!("No passage mentions '{word}' or a related term"),
                (0, None) => "Derived from the opening of the conversation".to_owned(),
                (1, _) => "One passage addresses this directly".to_owned(),
                (n, _) => format!("{n} passages address this"),
            }),
        evidence: if brick.fields.evidence {
            relevant.iter().take(3).map(|p| (*p).to_owned()).collect()
        } else {
            Vec::new()
        },
    }
}

fn brick(
    id: &str,
    key: &str,
    name: &str,
    kind: BrickKind,
    keywords: &[&str],
    fields: OutputFields,
) -> BrickDef {
    BrickDef {
        brick_id: id.to_owned(),
        key: key.to_owned(),
        name: name.to_owned(),
        description: Some(format!("{name} (emulator built-in)")),
        kind,
        keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
        fields,
    }
}

const ALL_FIELDS: OutputFields = OutputFields {
    confidence: true,
    reason: true,
    evidence: true,
};
const VALUE_ONLY: OutputFields = OutputFields {
    confidence: false,
    reason: false,
    evidence: false,
};

/// The built-in Kits:
///
/// - `A1B2C3D4` "Discovery call" (the documentation's example): `pain_is_specific`
///   (number, all fields), `budget_mentioned` (boolean, evidence), `next_step`
///   (category), `call_summary` (string, reason).
/// - `SENTIMNT` "Sentiment", two versions: v1 has `sentiment` (category); v2 adds
///   `sentiment_score` (number). `kit_code` runs v2; pin v1 with its `kit_version_id`.
/// - `QUALIFY1` "Qualification": `has_decision_maker` (boolean, confidence only),
///   `competitor_named` (string, value only).
pub fn builtin_kits() -> Vec<Kit> {
    let sentiment = brick(
        "b1c0ffee-0000-4000-8000-000000000003",
        "sentiment",
        "Sentiment",
        BrickKind::Category {
            categories: vec!["neutral".into(), "positive".into(), "negative".into()],
        },
        &[
            "great",
            "love",
            "happy",
            "frustrated",
            "angry",
            "disappointed",
        ],
        OutputFields {
            confidence: true,
            reason: false,
            evidence: true,
        },
    );
    vec![
        Kit {
            kit_id: "0f8e5a52-7c1d-4e8a-9b1a-a1b2c3d40001".into(),
            kit_code: "A1B2C3D4".into(),
            name: "Discovery call".into(),
            versions: vec![KitVersion {
                kit_version_id: "0f8e5a52-7c1d-4e8a-9b1a-a1b2c3d40101".into(),
                bricks: vec![
                    brick(
                        "b1c0ffee-0000-4000-8000-000000000001",
                        "pain_is_specific",
                        "Pain is specific",
                        BrickKind::Number,
                        &[
                            "losing", "hours", "cost", "pain", "problem", "slow", "manual",
                        ],
                        ALL_FIELDS,
                    ),
                    brick(
                        "b1c0ffee-0000-4000-8000-000000000002",
                        "budget_mentioned",
                        "Budget mentioned",
                        BrickKind::Boolean,
                        &["budget", "price", "spend", "$"],
                        OutputFields {
                            confidence: false,
                            reason: false,
                            evidence: true,
                        },
                    ),
                    brick(
                        "b1c0ffee-0000-4000-8000-000000000005",
                        "next_step",
                        "Next step",
                        BrickKind::Category {
                            categories: vec![
                                "none".into(),
                                "meeting".into(),
                                "proposal".into(),
                                "trial".into(),
                            ],
                        },
                        &["next", "follow up", "schedule"],
                        OutputFields {
                            confidence: true,
                            reason: false,
                            evidence: false,
                        },
                    ),
                    brick(
                        "b1c0ffee-0000-4000-8000-000000000006",
                        "call_summary",
                        "Call summary",
                        BrickKind::String,
                        &["urgency", "need", "goal"],
                        OutputFields {
                            confidence: false,
                            reason: true,
                            evidence: false,
                        },
                    ),
                ],
            }],
        },
        Kit {
            kit_id: "3c9d6b1e-2f4a-4b7c-8d5e-5e4717000001".into(),
            kit_code: "SENTIMNT".into(),
            name: "Sentiment".into(),
            versions: vec![
                KitVersion {
                    kit_version_id: "3c9d6b1e-2f4a-4b7c-8d5e-5e4717000101".into(),
                    bricks: vec![sentiment.clone()],
                },
                KitVersion {
                    kit_version_id: "3c9d6b1e-2f4a-4b7c-8d5e-5e4717000102".into(),
                    bricks: vec![
                        sentiment,
                        brick(
                            "b1c0ffee-0000-4000-8000-000000000004",
                            "sentiment_score",
                            "Sentiment score",
                            BrickKind::Number,
                            &["great", "love", "happy", "thanks"],
                            ALL_FIELDS,
                        ),
                    ],
                },
            ],
        },
        Kit {
            kit_id: "7a2b4c6d-8e9f-4a1b-9c2d-0a11f1000001".into(),
            kit_code: "QUALIFY1".into(),
            name: "Qualification".into(),
            versions: vec![KitVersion {
                kit_version_id: "7a2b4c6d-8e9f-4a1b-9c2d-0a11f1000101".into(),
                bricks: vec![
                    brick(
                        "b1c0ffee-0000-4000-8000-000000000007",
                        "has_decision_maker",
                        "Decision maker present",
                        BrickKind::Boolean,
                        &["ceo", "vp", "director", "head of", "decide", "sign off"],
                        OutputFields {
                            confidence: true,
                            reason: false,
                            evidence: false,
                        },
                    ),
                    brick(
                        "b1c0ffee-0000-4000-8000-000000000008",
                        "competitor_named",
                        "Competitor named",
                        BrickKind::String,
                        &["competitor", "alternative", "instead of", "versus"],
                        VALUE_ONLY,
                    ),
                ],
            }],
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn version_pinning_changes_the_bricks() {
        let catalog = Catalog::default();
        let latest = catalog.resolve(Some("SENTIMNT"), None).unwrap();
        let pinned = catalog
            .resolve(
                Some("SENTIMNT"),
                Some("3c9d6b1e-2f4a-4b7c-8d5e-5e4717000101"),
            )
            .unwrap();
        assert_eq!(latest.version.bricks.len(), 2);
        assert_eq!(pinned.version.bricks.len(), 1);
        assert!(catalog.resolve(Some("NOPE0000"), None).is_none());
    }

    #[test]
    fn duplicate_codes_are_rejected() {
        let mut kits = builtin_kits();
        kits.push(kits[0].clone());
        assert!(matches!(Catalog::new(kits), Err(KitsError::Invalid(_))));
    }
}
