//! What the generated type builders accept beyond progenitor's `TryInto` bounds.
//!
//! progenitor's setters take `T: TryInto<Field>`. For an optional string field that
//! means `Option<String>`, which a `&str` does not convert into, and for a JSON object
//! field a `serde_json::Map`, which the `json!` macro does not produce. The build script
//! rewrites exactly those setters to take [`IntoField`], so the natural spellings work:
//!
//! ```
//! use semarize_api::types;
//!
//! let request: types::CreateRunRequest = types::CreateRunRequest::builder()
//!     .kit_code("A1B2C3D4")
//!     .input(serde_json::json!({ "transcript": "Rep: Hello. Prospect: Hi." }))
//!     .try_into()
//!     .unwrap();
//! assert_eq!(request.kit_code.as_deref(), Some("A1B2C3D4"));
//!
//! // Request bodies also convert from a JSON value, checked against the type.
//! let same = types::CreateRunRequest::try_from(serde_json::json!({
//!     "kit_code": "A1B2C3D4",
//!     "input": { "transcript": "Rep: Hello. Prospect: Hi." },
//! }))
//! .unwrap();
//! assert_eq!(same, request);
//!
//! // A JSON value that is not an object is refused when the request is built.
//! let refused: Result<types::CreateRunRequest, _> = types::CreateRunRequest::builder()
//!     .kit_code("A1B2C3D4")
//!     .input(serde_json::json!(["not", "an", "object"]))
//!     .try_into();
//! assert!(refused.unwrap_err().to_string().contains("a JSON object"));
//! ```

use std::convert::Infallible;

use serde_json::{Map, Value};

/// A value a generated builder setter accepts for a field of type `T`.
pub trait IntoField<T> {
    /// Why the value is not a `T`.
    type Error: std::fmt::Display;

    /// The field's value.
    fn into_field(self) -> Result<T, Self::Error>;
}

macro_rules! optional_string {
    ($($source:ty => $convert:expr),* $(,)?) => {$(
        impl IntoField<Option<String>> for $source {
            type Error = Infallible;
            fn into_field(self) -> Result<Option<String>, Infallible> {
                #[allow(clippy::redundant_closure_call)]
                Ok(($convert)(self))
            }
        }
    )*};
}

optional_string! {
    String => Some,
    &str => |s: &str| Some(s.to_owned()),
    &String => |s: &String| Some(s.clone()),
    Option<String> => |s| s,
    Option<&str> => |s: Option<&str>| s.map(str::to_owned),
}

/// A JSON value where an object was required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAnObject {
    /// The kind of JSON value given (`array`, `string`, …).
    pub found: &'static str,
}

impl std::fmt::Display for NotAnObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "expected a JSON object, found {}", self.found)
    }
}

impl std::error::Error for NotAnObject {}

fn object(value: Value) -> Result<Map<String, Value>, NotAnObject> {
    let found = match value {
        Value::Object(map) => return Ok(map),
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
    };
    Err(NotAnObject { found })
}

impl IntoField<Map<String, Value>> for Map<String, Value> {
    type Error = Infallible;
    fn into_field(self) -> Result<Map<String, Value>, Infallible> {
        Ok(self)
    }
}

impl IntoField<Map<String, Value>> for Value {
    type Error = NotAnObject;
    fn into_field(self) -> Result<Map<String, Value>, NotAnObject> {
        object(self)
    }
}

impl IntoField<Option<Map<String, Value>>> for Map<String, Value> {
    type Error = Infallible;
    fn into_field(self) -> Result<Option<Map<String, Value>>, Infallible> {
        Ok(Some(self))
    }
}

impl IntoField<Option<Map<String, Value>>> for Option<Map<String, Value>> {
    type Error = Infallible;
    fn into_field(self) -> Result<Option<Map<String, Value>>, Infallible> {
        Ok(self)
    }
}

/// `null` is no value; any other JSON value must be an object.
impl IntoField<Option<Map<String, Value>>> for Value {
    type Error = NotAnObject;
    fn into_field(self) -> Result<Option<Map<String, Value>>, NotAnObject> {
        match self {
            Value::Null => Ok(None),
            other => object(other).map(Some),
        }
    }
}
