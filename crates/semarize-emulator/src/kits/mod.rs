//! The Kit catalogue: Kit definitions, their versions and Bricks, and lookup by code,
//! id, version and Brick id. The built-in Kits are data, `kits/builtin.json`, in the
//! same format `--kits FILE` accepts; the engine that runs a Kit is [`evaluate`].

mod engine;

pub use engine::{Usage, evaluate};

use std::collections::HashMap;
use std::path::Path;

use semarize_api::types;
use serde::{Deserialize, Serialize};

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
    /// The category whose words the most passages mention (the earlier category on a
    /// tie), else the first category: the default. Its evidence is those passages, so
    /// value and evidence always agree.
    Category {
        /// The allowed values, the default first.
        categories: Vec<CategoryDef>,
    },
    /// The first passage mentioning a keyword, else the first passage.
    String,
}

/// One allowed value of a category Brick and the words that select it.
///
/// In a `--kits` file a category is either a plain string (selected only when a passage
/// names it) or `{"value": "positive", "keywords": ["great", "love"]}`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CategoryDef {
    /// The value reported when this category is chosen.
    pub value: String,
    /// Words whose mention selects this category (case-insensitive); the value itself
    /// always counts as one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
}

impl CategoryDef {
    /// The value followed by its keywords: every word that selects this category.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.value.as_str()).chain(self.keywords.iter().map(String::as_str))
    }
}

impl<'de> Deserialize<'de> for CategoryDef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            Plain(String),
            Full {
                value: String,
                #[serde(default)]
                keywords: Vec<String>,
            },
        }
        Ok(match Shape::deserialize(deserializer)? {
            Shape::Plain(value) => CategoryDef {
                value,
                keywords: Vec::new(),
            },
            Shape::Full { value, keywords } => CategoryDef { value, keywords },
        })
    }
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
        let bricks: Vec<types::KitSchemaBrick> = self
            .version
            .bricks
            .iter()
            .map(|b| {
                let fields: types::BrickFields = crate::built(
                    types::BrickFields::builder()
                        .value(true)
                        .confidence(Some(b.fields.confidence))
                        .reason(Some(b.fields.reason))
                        .evidence(Some(b.fields.evidence)),
                );
                crate::built(
                    types::KitSchemaBrick::builder()
                        .brick_key(b.key.clone())
                        .brick_id(Some(b.brick_id.clone()))
                        .fields(fields),
                )
            })
            .collect();
        crate::built(
            types::KitSchema::builder()
                .kit_id(self.kit.kit_id.clone())
                .kit_code(self.kit.kit_code.clone())
                .kit_version_id(Some(self.version.kit_version_id.clone()))
                .bricks(bricks),
        )
    }
}

impl BrickDef {
    /// What the engine measures with this Brick, in one line a newcomer understands.
    ///
    /// ```
    /// let catalog = semarize_emulator::kits::Catalog::default();
    /// let kit = catalog.resolve(Some("A1B2C3D4"), None).unwrap();
    /// let budget = kit.version.bricks.iter().find(|b| b.key == "budget_mentioned").unwrap();
    /// assert_eq!(budget.explain(), "true when the call mentions budget, price, spend or $");
    /// ```
    pub fn explain(&self) -> String {
        let words = |items: &[String]| match items {
            [] => "nothing".to_owned(),
            [one] => one.clone(),
            [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
        };
        match &self.kind {
            BrickKind::Boolean => format!("true when the call mentions {}", words(&self.keywords)),
            BrickKind::Number => format!(
                "0 to 100, higher the more passages mention {}",
                words(&self.keywords)
            ),
            BrickKind::Category { categories } => match categories.first() {
                Some(first) => {
                    let values: Vec<String> = categories.iter().map(|c| c.value.clone()).collect();
                    format!(
                        "{}: the one whose words the most passages mention, else {}",
                        words(&values),
                        first.value
                    )
                }
                None => "a category, but none is defined".to_owned(),
            },
            BrickKind::String => {
                format!("the first passage that mentions {}", words(&self.keywords))
            }
        }
    }

    /// Brick metadata for `GET /v1/bricks`.
    pub fn metadata(&self) -> types::BrickMetadata {
        let (type_, categories) = match &self.kind {
            BrickKind::Boolean => (types::BrickValueType::Boolean, Vec::new()),
            BrickKind::Number => (types::BrickValueType::Number, Vec::new()),
            BrickKind::Category { categories } => (
                types::BrickValueType::Category,
                categories.iter().map(|c| c.value.clone()).collect(),
            ),
            BrickKind::String => (types::BrickValueType::String, Vec::new()),
        };
        crate::built(
            types::BrickMetadata::builder()
                .brick_id(self.brick_id.clone())
                .brick_key(self.key.clone())
                .name(self.name.clone())
                .description(self.description.clone())
                .type_(type_)
                .categories(categories),
        )
    }
}

/// The built-in Kits as the crate ships them: a JSON array of [`Kit`], the format
/// `--kits FILE` accepts.
pub const BUILTIN_KITS_JSON: &str = include_str!("builtin.json");

/// The built-in Kits (`kits/builtin.json`):
///
/// - `A1B2C3D4` "Discovery call" (the documentation's example): `pain_is_specific`
///   (number, all fields), `budget_mentioned` (boolean, evidence), `next_step`
///   (category), `call_summary` (string, reason).
/// - `SENTIMNT` "Sentiment", two versions: v1 has `sentiment` (category); v2 adds
///   `sentiment_score` (number). `kit_code` runs v2; pin v1 with its `kit_version_id`.
/// - `QUALIFY1` "Qualification": `has_decision_maker` (boolean, confidence only),
///   `competitor_named` (string, value only).
pub fn builtin_kits() -> Vec<Kit> {
    serde_json::from_str(BUILTIN_KITS_JSON)
        .expect("kits/builtin.json is a valid kits file (a test checks it)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_kits_file_is_a_valid_kits_file() {
        let kits: Vec<Kit> = serde_json::from_str(BUILTIN_KITS_JSON).unwrap();
        let catalog = Catalog::new(kits).unwrap();
        let codes: Vec<&str> = catalog.kits().iter().map(|k| k.kit_code.as_str()).collect();
        assert_eq!(codes, ["A1B2C3D4", "SENTIMNT", "QUALIFY1"]);
        assert!(
            catalog
                .brick("b1c0ffee-0000-4000-8000-000000000003")
                .is_some()
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
