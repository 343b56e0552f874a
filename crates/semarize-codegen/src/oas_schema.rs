//! The spec validated against the OpenAPI Initiative's published JSON Schema for
//! OpenAPI 3.0 (`schemas/openapi-3.0.json`, id
//! `https://spec.openapis.org/oas/3.0/schema/2021-09-28`, Apache-2.0, vendored as data).
//!
//! It catches what the structural check does not look for (a response without a
//! `description`, an `info` without a `version`, a malformed server variable), and it is
//! behind the `oas-schema` feature because the validator is a large dependency: the
//! build of a crate that depends on `semarize-api` does not pay for it. `cargo xtask spec
//! check` runs it, and so does the `semarize-spec-check` binary:
//!
//! ```sh
//! cargo install semarize-codegen --features oas-schema
//! semarize-spec-check /abs/path/semarize.yaml
//! ```

/// The published schema, as data.
const SCHEMA: &str = include_str!("../schemas/openapi-3.0.json");

/// Every way the spec `text` breaks the OpenAPI 3.0 schema, as `LINE:COL: at #/pointer:
/// what was expected` (append it to the file name). Empty when the text is not YAML: the
/// parser reports that.
pub fn check_against_oas_schema(text: &str) -> Vec<String> {
    let Ok(document) = serde_norway::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    let schema: serde_json::Value =
        serde_json::from_str(SCHEMA).expect("the vendored schema is JSON");
    let validator = match jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .build(&schema)
    {
        Ok(validator) => validator,
        Err(e) => {
            return vec![format!(
                "1:1: at #: the OpenAPI 3.0 schema does not compile: {e}"
            )];
        }
    };
    let positions = crate::spec_check::yaml_positions(text);
    let mut problems: Vec<String> = validator
        .iter_errors(&document)
        .map(|error| {
            let pointer = error.instance_path().to_string();
            let (line, column) = crate::spec_check::locate(&positions, &pointer);
            format!("{line}:{column}: at #{pointer}: {error}")
        })
        .collect();
    problems.sort();
    problems.dedup();
    problems
}

#[cfg(test)]
mod tests {
    use super::check_against_oas_schema;
    use crate::committed_spec as committed;

    #[test]
    fn the_committed_spec_is_a_valid_openapi_3_0_document() {
        assert_eq!(check_against_oas_schema(&committed()), Vec::<String>::new());
    }

    #[test]
    fn what_the_published_schema_requires_is_reported_with_its_place() {
        let spec = committed();
        // An info without its version, and a response without its description.
        let from = "  version: \"1.0.0\"\n";
        assert_eq!(spec.matches(from).count(), 1);
        let mutated = spec.replacen(from, "", 1).replacen(
            "          description: The endpoint, with its signing secret.\n",
            "",
            1,
        );
        let problems = check_against_oas_schema(&mutated);
        assert!(
            problems.iter().any(|p| p.starts_with("2:1: at #/info: ")
                && p.contains("\"version\" is a required property")),
            "{problems:#?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("at #/paths/~1v1~1webhooks/post/responses/201")),
            "{problems:#?}"
        );
    }
}
