//! An OpenAPI 3.0 document (the Semarize spec) as data, for the tools that check things
//! against it.
//!
//! OpenAPI 3.0 schemas are not quite JSON Schema (`nullable`, `#/components/schemas`
//! references), so [`Spec`] converts them once and validates documents with a real JSON
//! Schema validator. `semarize-api`'s cassettes validate every recorded response with it,
//! `xtask` validates the spec's own examples, the emulator's conformance tests validate
//! every response the emulator sends, and the documentation-example tests validate the
//! docs' examples.
//!
//! The spec text comes from the caller: the one the raw client was generated from is
//! `semarize_api::SPEC_YAML`.
//!
//! ```
//! let spec = semarize_spec::Spec::parse(r#"
//! openapi: 3.0.3
//! info: {title: t, version: "1"}
//! paths:
//!   /v1/things/{id}:
//!     get:
//!       operationId: get_thing
//!       responses:
//!         "200":
//!           description: ok
//!           content:
//!             application/json:
//!               schema: {type: object, required: [id], properties: {id: {type: string}}}
//! "#).unwrap();
//! let body = serde_json::json!({"id": 7});
//! let problems = spec.response_violations("get_thing", 200, Some(&body)).unwrap();
//! assert_eq!(problems[0].pointer, "/id");
//! ```

#![warn(missing_docs, unreachable_pub)]

mod additive;
mod convert;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

pub use convert::to_json_schema;

/// Something is wrong with the spec itself or with a lookup in it.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The text is not YAML or not an OpenAPI document.
    #[error("the spec does not parse: {0}")]
    Parse(String),
    /// A schema could not be compiled into a JSON Schema validator.
    #[error("schema {name} does not compile: {reason}")]
    Schema {
        /// Where the schema is.
        name: String,
        /// Why it does not compile.
        reason: String,
    },
    /// The operation or status asked for is not in the spec.
    #[error("{0} is not in the spec")]
    Missing(String),
}

/// One operation of the spec.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Operation {
    /// The operationId.
    pub id: String,
    /// The HTTP method, upper case.
    pub method: String,
    /// The path template, for example `/v1/runs/{runId}`.
    pub path: String,
}

/// One example value in the spec, with the schema it must satisfy.
#[derive(Clone, Debug)]
pub struct Example {
    /// Where it is, as a readable path (`create_run 202 accepted`).
    pub location: String,
    /// The OpenAPI schema of the media type it belongs to.
    pub schema: Value,
    /// The example value.
    pub value: Value,
}

/// A parsed spec: the raw document and its typed OpenAPI form.
#[derive(Debug, Clone)]
pub struct Spec {
    raw: Value,
    doc: openapiv3::OpenAPI,
    responses: ValidatorCache,
}

/// Compiled response validators by operation and status: compiling one costs far more
/// than validating a body with it.
#[derive(Clone, Default)]
struct ValidatorCache(Arc<Mutex<HashMap<ResponseKey, Arc<jsonschema::Validator>>>>);

/// An operation id and a status.
type ResponseKey = (String, u16);

impl std::fmt::Debug for ValidatorCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ValidatorCache")
    }
}

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

impl Spec {
    /// Parses spec text (YAML or JSON).
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        let raw: Value =
            serde_norway::from_str(text).map_err(|e| SpecError::Parse(e.to_string()))?;
        let doc: openapiv3::OpenAPI =
            serde_json::from_value(raw.clone()).map_err(|e| SpecError::Parse(e.to_string()))?;
        Ok(Self {
            raw,
            doc,
            responses: ValidatorCache::default(),
        })
    }

    /// The raw document.
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// The typed OpenAPI document.
    pub fn openapi(&self) -> &openapiv3::OpenAPI {
        &self.doc
    }

    /// Every operation, in path order.
    pub fn operations(&self) -> Vec<Operation> {
        let mut ops = Vec::new();
        for (path, item) in self.raw["paths"].as_object().into_iter().flatten() {
            for method in HTTP_METHODS {
                if let Some(op) = item.get(method) {
                    ops.push(Operation {
                        id: op["operationId"].as_str().unwrap_or_default().to_owned(),
                        method: method.to_uppercase(),
                        path: path.clone(),
                    });
                }
            }
        }
        ops
    }

    fn operation_raw(&self, operation_id: &str) -> Result<&Value, SpecError> {
        self.raw["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(_, item)| HTTP_METHODS.iter().filter_map(move |m| item.get(*m)))
            .find(|op| op["operationId"] == operation_id)
            .ok_or_else(|| SpecError::Missing(format!("operation {operation_id}")))
    }

    /// Follows a local `$ref` (`#/components/...`) once; other values are returned as is.
    pub fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => reference
                .strip_prefix('#')
                .and_then(|pointer| self.raw.pointer(pointer))
                .unwrap_or(value),
            None => value,
        }
    }

    /// The operation whose method and path template match a request's method and path
    /// (`GET` and `/v1/runs/abc` give `get_run`). A literal segment wins over a parameter,
    /// so `/v1/kits/schema` is not read as `/v1/kits/{kitId}`.
    pub fn operation_for(&self, method: &str, path: &str) -> Option<Operation> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        self.operations()
            .into_iter()
            .filter(|op| op.method.eq_ignore_ascii_case(method))
            .filter_map(|op| {
                let template: Vec<&str> = op.path.split('/').collect();
                if template.len() != segments.len() {
                    return None;
                }
                let mut literals = 0usize;
                for (t, s) in template.iter().zip(&segments) {
                    if t.starts_with('{') && t.ends_with('}') {
                        if s.is_empty() {
                            return None;
                        }
                    } else if t == s {
                        literals += 1;
                    } else {
                        return None;
                    }
                }
                Some((literals, op))
            })
            .max_by_key(|(literals, _)| *literals)
            .map(|(_, op)| op)
    }

    /// The statuses an operation documents, with the response object of each.
    pub fn responses(&self, operation_id: &str) -> Result<BTreeMap<String, &Value>, SpecError> {
        let op = self.operation_raw(operation_id)?;
        Ok(op["responses"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(status, response)| (status.clone(), self.resolve(response)))
            .collect())
    }

    /// Whether `operation_id` documents `status`, exactly or by its range (`5XX`). An
    /// operation the spec lacks is an error.
    pub fn documents_status(&self, operation_id: &str, status: u16) -> Result<bool, SpecError> {
        let responses = self.responses(operation_id)?;
        Ok(responses.contains_key(&status.to_string())
            || responses.contains_key(&format!("{}XX", status / 100)))
    }

    /// The JSON body schema (OpenAPI form) of one response of an operation, if it has one.
    pub fn response_schema(
        &self,
        operation_id: &str,
        status: u16,
    ) -> Result<Option<Value>, SpecError> {
        let responses = self.responses(operation_id)?;
        // The exact status first, then its range (`5XX`), as OpenAPI 3.0 defines.
        let range = format!("{}XX", status / 100);
        let response = responses
            .get(&status.to_string())
            .or_else(|| responses.get(&range))
            .ok_or_else(|| SpecError::Missing(format!("status {status} of {operation_id}")))?;
        Ok(response
            .pointer("/content/application~1json/schema")
            .cloned())
    }

    /// The JSON body schema (OpenAPI form) of an operation's request, if it has one.
    pub fn request_schema(&self, operation_id: &str) -> Result<Option<Value>, SpecError> {
        let op = self.operation_raw(operation_id)?;
        Ok(self
            .resolve(&op["requestBody"])
            .pointer("/content/application~1json/schema")
            .cloned())
    }

    /// Compiles an OpenAPI schema of this spec into a JSON Schema validator.
    pub fn validator(
        &self,
        schema: &Value,
        name: &str,
    ) -> Result<jsonschema::Validator, SpecError> {
        let document = to_json_schema(schema, self.raw.pointer("/components/schemas"));
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&document)
            .map_err(|e| SpecError::Schema {
                name: name.to_owned(),
                reason: e.to_string(),
            })
    }

    /// Validates `instance` against an OpenAPI schema of this spec; the errors are one
    /// readable line each.
    pub fn validate(
        &self,
        schema: &Value,
        name: &str,
        instance: &Value,
    ) -> Result<(), Vec<String>> {
        let validator = self
            .validator(schema, name)
            .map_err(|e| vec![e.to_string()])?;
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{name}: at '{}': {e}", e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Validates `instance` against the component schema `name` (for example `Run`).
    pub fn validate_component(&self, name: &str, instance: &Value) -> Result<(), Vec<String>> {
        let schema = serde_json::json!({ "$ref": format!("#/components/schemas/{name}") });
        self.validate(&schema, name, instance)
    }

    /// Validates a response body against what the spec says `operation_id` answers with
    /// `status`. A status the operation does not document is an error, and so is a body
    /// where none is documented.
    pub fn validate_response(
        &self,
        operation_id: &str,
        status: u16,
        body: Option<&Value>,
    ) -> Result<(), Vec<String>> {
        let schema = self
            .response_schema(operation_id, status)
            .map_err(|e| vec![e.to_string()])?;
        let name = format!("{operation_id} {status}");
        match (schema, body) {
            (Some(schema), Some(body)) => self.validate(&schema, &name, body),
            (Some(_), None) => Err(vec![format!(
                "{name}: a JSON body is documented but none came"
            )]),
            (None, Some(_)) => Err(vec![format!("{name}: no body is documented but one came")]),
            (None, None) => Ok(()),
        }
    }

    /// Where and how a response body breaks what the spec says `operation_id` answers
    /// with `status`: one [`Violation`] per problem, located by a JSON pointer into the
    /// body (empty when the whole body is wrong or missing). A status the operation does
    /// not document is one violation at the root.
    ///
    /// Errors are for a spec that cannot be read this way (an operation it lacks, a schema
    /// that does not compile).
    pub fn response_violations(
        &self,
        operation_id: &str,
        status: u16,
        body: Option<&Value>,
    ) -> Result<Vec<Violation>, SpecError> {
        // The operation must exist; a status it does not list is the response's fault.
        if !self.documents_status(operation_id, status)? {
            return Ok(vec![Violation::root(format!(
                "{operation_id} does not document status {status}"
            ))]);
        }
        match (self.response_schema(operation_id, status)?, body) {
            (Some(schema), Some(body)) => {
                let key = (operation_id.to_owned(), status);
                let cached = self
                    .responses
                    .0
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&key)
                    .cloned();
                let validator = match cached {
                    Some(validator) => validator,
                    None => {
                        let name = format!("{operation_id} {status}");
                        let validator = Arc::new(self.validator(&schema, &name)?);
                        self.responses
                            .0
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .insert(key, validator.clone());
                        validator
                    }
                };
                Ok(violations(&validator, body))
            }
            (Some(_), None) => Ok(vec![Violation::root(
                "a JSON body is documented but the body is empty or not JSON",
            )]),
            (None, Some(_)) => Ok(vec![Violation::root("no body is documented but one came")]),
            (None, None) => Ok(Vec::new()),
        }
    }

    /// What a valid response body holds that the spec does not name: object members the
    /// schema does not list, and values of an open enumeration (`anyOf` of an `enum` and a
    /// plain `string`) outside its known values. These are the additive changes an API
    /// may make without breaking a client; each is reported with its location.
    pub fn additive_findings(
        &self,
        operation_id: &str,
        status: u16,
        body: &Value,
    ) -> Result<Vec<Violation>, SpecError> {
        match self.response_schema(operation_id, status) {
            Ok(Some(schema)) => Ok(additive::findings(self, &schema, body)),
            Ok(None) | Err(SpecError::Missing(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Every example in the spec: request bodies, responses (inline and shared) and the
    /// operations of callbacks (the webhook deliveries), with the schema each must
    /// satisfy.
    pub fn examples(&self) -> Vec<Example> {
        let mut out = Vec::new();
        for op in self.operations() {
            if let Ok(raw) = self.operation_raw(&op.id) {
                self.collect_operation_examples(raw, &op.id, &mut out);
            }
        }
        out
    }

    fn collect_operation_examples(&self, operation: &Value, label: &str, out: &mut Vec<Example>) {
        let body = self.resolve(&operation["requestBody"]);
        collect_media_examples(body, &format!("{label} request"), out);
        for (status, response) in operation["responses"].as_object().into_iter().flatten() {
            let response = self.resolve(response);
            collect_media_examples(response, &format!("{label} {status}"), out);
        }
        // callbacks: {name: {expression: {method: operation}}}
        for (name, callback) in operation["callbacks"].as_object().into_iter().flatten() {
            for path_item in callback.as_object().into_iter().flatten().map(|(_, p)| p) {
                for (method, inner) in path_item.as_object().into_iter().flatten() {
                    let inner_label = format!("{label} callback {name} {method}");
                    self.collect_operation_examples(inner, &inner_label, out);
                }
            }
        }
    }
}

/// One way a document breaks (or extends) a schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// A JSON pointer into the document (`/output/bricks/pain/confidence`); empty for the
    /// whole document.
    pub pointer: String,
    /// What the schema expected, in words.
    pub message: String,
}

impl Violation {
    fn root(message: impl Into<String>) -> Self {
        Violation {
            pointer: String::new(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.pointer, self.message)
    }
}

/// The violations of `instance` against a compiled validator, located.
pub fn violations(validator: &jsonschema::Validator, instance: &Value) -> Vec<Violation> {
    validator
        .iter_errors(instance)
        .map(|e| Violation {
            pointer: e.instance_path().to_string(),
            message: e.to_string(),
        })
        .collect()
}

fn collect_media_examples(holder: &Value, location: &str, out: &mut Vec<Example>) {
    let Some(media) = holder.pointer("/content/application~1json") else {
        return;
    };
    let schema = media.get("schema").cloned().unwrap_or(Value::Null);
    if let Some(value) = media.get("example") {
        out.push(Example {
            location: location.to_owned(),
            schema: schema.clone(),
            value: value.clone(),
        });
    }
    for (name, example) in media
        .get("examples")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if let Some(value) = example.get("value") {
            out.push(Example {
                location: format!("{location} {name}"),
                schema: schema.clone(),
                value: value.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    impl Spec {
        /// The repository's spec (tests only: the published crate takes the text from
        /// its caller).
        pub(crate) fn bundled() -> Self {
            let text = std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../openapi/semarize.yaml"
            ))
            .expect("the repository's spec is readable");
            Self::parse(&text).expect("the repository's spec parses")
        }
    }

    #[test]
    fn operations_are_found_by_method_and_path() {
        let spec = Spec::bundled();
        let id = |m, p| spec.operation_for(m, p).map(|op| op.id);
        assert_eq!(id("GET", "/v1/runs/abc").as_deref(), Some("get_run"));
        assert_eq!(
            id("GET", "/v1/runs/abc/usage").as_deref(),
            Some("get_run_usage")
        );
        assert_eq!(
            id("GET", "/v1/kits/schema").as_deref(),
            Some("get_kit_schema_by_query")
        );
        assert_eq!(
            id("GET", "/v1/kits/K/schema").as_deref(),
            Some("get_kit_schema")
        );
        assert_eq!(id("POST", "/v1/runs").as_deref(), Some("create_run"));
        assert_eq!(id("PUT", "/v1/runs"), None);
        assert_eq!(id("GET", "/v1/runs//usage"), None);
    }

    #[test]
    fn violations_are_located() {
        let spec = Spec::bundled();
        let body = json!({"run_id": "r", "status": "queued", "duration_ms": "slow"});
        let found = spec
            .response_violations("get_run", 200, Some(&body))
            .unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].pointer, "/duration_ms");
        let found = spec
            .response_violations("get_run", 418, Some(&body))
            .unwrap();
        assert!(found[0].message.contains("418"), "{found:?}");
        assert!(spec.response_violations("nope", 200, None).is_err());
    }

    #[test]
    fn bundled_spec_lists_ten_operations() {
        let spec = Spec::bundled();
        assert_eq!(spec.operations().len(), 10);
    }

    #[test]
    fn nullable_and_refs_validate_like_openapi() {
        let spec = Spec::bundled();
        let run = json!({"run_id": "r", "status": "failed", "error_code": null, "output": null});
        spec.validate_component("Run", &run).unwrap();
        let bad = json!({"run_id": 7, "status": "queued"});
        let errors = spec.validate_component("Run", &bad).unwrap_err();
        assert!(errors[0].contains("/run_id"), "{errors:?}");
    }

    #[test]
    fn undocumented_status_is_an_error() {
        let spec = Spec::bundled();
        let errors = spec.validate_response("get_run", 418, None).unwrap_err();
        assert!(errors[0].contains("418"), "{errors:?}");
    }
}
