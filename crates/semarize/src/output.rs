//! Reading a run's output: one Brick at a time, or all of them into your own type.

use semarize_api::types::{BrickOutput, Run};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, ErrorKind};

/// One Brick's result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Brick<'a> {
    output: &'a BrickOutput,
}

impl<'a> Brick<'a> {
    /// The typed result (boolean, number, string or category), always present.
    pub fn value(&self) -> &'a Value {
        &self.output.value
    }

    /// The value as `T`.
    pub fn value_as<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_value(self.output.value.clone()).map_err(|e| {
            Error::new(ErrorKind::Decode, "the brick value has another type").with_source(e)
        })
    }

    /// The value as a boolean, when it is one.
    pub fn as_bool(&self) -> Option<bool> {
        self.output.value.as_bool()
    }

    /// The value as a number, when it is one.
    pub fn as_f64(&self) -> Option<f64> {
        self.output.value.as_f64()
    }

    /// The value as a string (free text or category), when it is one.
    pub fn as_str(&self) -> Option<&'a str> {
        self.output.value.as_str()
    }

    /// Confidence from 0 to 1, when the Brick returns it.
    pub fn confidence(&self) -> Option<f64> {
        self.output.confidence
    }

    /// Why this value, when the Brick returns it.
    pub fn reason(&self) -> Option<&'a str> {
        self.output.reason.as_deref()
    }

    /// Text spans from the conversation (empty when the Brick returns none).
    pub fn evidence(&self) -> &'a [String] {
        &self.output.evidence
    }
}

/// Output accessors for [`Run`].
///
/// ```
/// use semarize::RunOutputExt;
/// #[derive(serde::Deserialize)]
/// struct Discovery { pain_is_specific: u32 }
///
/// let run: semarize::types::Run = serde_json::from_value(serde_json::json!({
///     "run_id": "r", "status": "succeeded",
///     "output": {"bricks": {"pain_is_specific": {"value": 64, "confidence": 0.95,
///                "evidence": ["losing 3 hours a week"]}}}
/// })).unwrap();
/// let pain = run.brick("pain_is_specific").unwrap();
/// assert_eq!(pain.as_f64(), Some(64.0));
/// assert_eq!(pain.evidence(), ["losing 3 hours a week"]);
/// let typed: Discovery = run.values_as().unwrap();
/// assert_eq!(typed.pain_is_specific, 64);
/// ```
pub trait RunOutputExt {
    /// One Brick by key, when the run has output and the Brick.
    fn brick(&self, key: &str) -> Option<Brick<'_>>;

    /// Every Brick's `value`, as a struct whose fields are brick keys.
    fn values_as<T: DeserializeOwned>(&self) -> Result<T, Error>;

    /// Every Brick's full output (value, confidence, reason, evidence), as a struct whose
    /// fields are brick keys.
    fn bricks_as<T: DeserializeOwned>(&self) -> Result<T, Error>;
}

fn no_output(run: &Run) -> Error {
    Error::new(
        ErrorKind::Decode,
        format!("run {} has no output (status {})", run.run_id, run.status),
    )
    .with_run_id(Some(&run.run_id))
}

impl RunOutputExt for Run {
    fn brick(&self, key: &str) -> Option<Brick<'_>> {
        self.output
            .as_ref()?
            .bricks
            .get(key)
            .map(|output| Brick { output })
    }

    fn values_as<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let output = self.output.as_ref().ok_or_else(|| no_output(self))?;
        let values: serde_json::Map<String, Value> = output
            .bricks
            .iter()
            .map(|(key, brick)| (key.clone(), brick.value.clone()))
            .collect();
        serde_json::from_value(Value::Object(values)).map_err(|e| {
            Error::new(ErrorKind::Decode, "the brick values do not fit the type")
                .with_source(e)
                .with_run_id(Some(&self.run_id))
        })
    }

    fn bricks_as<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let output = self.output.as_ref().ok_or_else(|| no_output(self))?;
        let bricks = serde_json::to_value(&output.bricks).expect("brick outputs serialize");
        serde_json::from_value(bricks).map_err(|e| {
            Error::new(ErrorKind::Decode, "the bricks do not fit the type")
                .with_source(e)
                .with_run_id(Some(&self.run_id))
        })
    }
}
