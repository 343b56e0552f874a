//! Every operation of the spec as data, generated from it at build time: id, method,
//! path template, parameters and request-body fields with the limits their schemas state
//! (lengths, ranges, item counts, patterns, formats), success statuses, and whether a
//! retry is safe. Clients read their calls and pre-send checks from here and servers
//! their routes, so a fact of the spec is typed once, in the spec.
//!
//! ```
//! use semarize_api::operations::{self, Retry};
//! let create = operations::CREATE_RUN;
//! assert_eq!((create.method, create.path), ("POST", "/v1/runs"));
//! assert_eq!(create.retry, Retry::WithIdempotencyKey);
//! let key = operations::parameters::IDEMPOTENCY_KEY;
//! assert_eq!((key.limits.min_length, key.limits.max_length), (Some(1), Some(254)));
//! assert_eq!(operations::GET_RUN.endpoint(&["r1"]), "GET /v1/runs/r1");
//! assert!(operations::ALL.iter().any(|op| op.id == "delete_webhook"));
//! ```

/// One operation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Operation {
    /// The operationId.
    pub id: &'static str,
    /// The HTTP method, upper case.
    pub method: &'static str,
    /// The path template, in the spec's `{param}` syntax.
    pub path: &'static str,
    /// Its parameters, the path item's first.
    pub parameters: &'static [Parameter],
    /// The top-level fields of its JSON request body.
    pub fields: &'static [Field],
    /// The 2xx statuses it documents.
    pub success: &'static [u16],
    /// Whether sending it again is safe.
    pub retry: Retry,
}

/// Whether a request may be sent again after an answer that says nothing definite (a
/// time-out, a 5xx, a broken connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// An idempotent method (`GET`, `PUT`, `DELETE`, ...): always.
    Always,
    /// When the request carries an `Idempotency-Key`: the server answers a repeat with
    /// the first outcome.
    WithIdempotencyKey,
    /// Never: a repeat could do the work twice (a 408 or 429 says it was not done).
    Never,
}

/// A parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Parameter {
    /// Its name (`Idempotency-Key`, `limit`, `runId`).
    pub name: &'static str,
    /// `query`, `header`, `path` or `cookie`.
    pub location: &'static str,
    /// Whether it must be sent.
    pub required: bool,
    /// What its schema allows.
    pub limits: Limits,
}

/// A top-level field of a request body.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Field {
    /// Its name.
    pub name: &'static str,
    /// Whether it must be sent.
    pub required: bool,
    /// What its schema allows.
    pub limits: Limits,
}

/// The limits a schema states as keywords (`None` where it states none).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Limits {
    /// `minLength`.
    pub min_length: Option<u64>,
    /// `maxLength`.
    pub max_length: Option<u64>,
    /// `minimum`.
    pub minimum: Option<f64>,
    /// `maximum`.
    pub maximum: Option<f64>,
    /// `minItems`.
    pub min_items: Option<u64>,
    /// `maxItems` (for a comma-separated list in a string, its `x-list-max-items`).
    pub max_items: Option<u64>,
    /// `pattern`.
    pub pattern: Option<&'static str>,
    /// `format` (`uuid`, `uri`, ...).
    pub format: Option<&'static str>,
}

impl Operation {
    /// `METHOD path` with the path's parameters filled in order, for messages.
    pub fn endpoint(&self, arguments: &[&str]) -> String {
        let mut arguments = arguments.iter();
        let path: Vec<String> = self
            .path
            .split('/')
            .map(
                |segment| match segment.starts_with('{') && segment.ends_with('}') {
                    true => arguments.next().map_or(segment, |a| *a).to_owned(),
                    false => segment.to_owned(),
                },
            )
            .collect();
        format!("{} {}", self.method, path.join("/"))
    }

    /// The parameter named `name` (compared without case, as HTTP compares headers).
    pub fn parameter(&self, name: &str) -> Option<&'static Parameter> {
        self.parameters
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The request-body field named `name`.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

include!(concat!(env!("OUT_DIR"), "/operations.rs"));
