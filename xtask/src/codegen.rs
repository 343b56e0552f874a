//! Runs the same generator as `crates/semarize-api/build.rs`, guarded against panics.

#[path = "../../crates/semarize-api/codegen.rs"]
#[allow(dead_code)]
mod shared;

use semarize_spec::Spec;
use shared::quietly;

/// Generates the client; a progenitor panic becomes an error naming the operation(s)
/// that cause it (found by generating each operation alone).
pub fn generate_guarded(spec: &Spec) -> Result<String, Vec<String>> {
    match quietly(|| shared::generate(spec.openapi())) {
        Ok(Ok(source)) => Ok(source),
        Ok(Err(message)) => Err(vec![message]),
        Err(panic) => {
            let culprits: Vec<String> = spec
                .operations()
                .into_iter()
                .filter_map(|op| {
                    let single = only_operation(spec, &op.path, &op.method.to_lowercase());
                    match quietly(|| shared::generate(&single)) {
                        Err(why) => Some(format!(
                            "the generator panics on operation {} ({} {}): {why}",
                            op.id, op.method, op.path
                        )),
                        Ok(_) => None,
                    }
                })
                .collect();
            if culprits.is_empty() {
                Err(vec![format!(
                    "the generator panics on the whole spec: {panic}"
                )])
            } else {
                Err(culprits)
            }
        }
    }
}

/// The spec reduced to one operation (components kept), to find which one panics.
fn only_operation(spec: &Spec, path: &str, method: &str) -> openapiv3::OpenAPI {
    let mut raw = spec.raw().clone();
    let operation = raw["paths"][path][method].take();
    raw["paths"] = serde_json::json!({ path: { method: operation } });
    serde_json::from_value(raw).unwrap_or_else(|_| spec.openapi().clone())
}
