//! Runs the same generator as `crates/semarize-api/build.rs`, guarded against panics.

use semarize_codegen::quietly;
use semarize_spec::Spec;

/// Generates the client; a progenitor panic becomes an error naming the operation(s)
/// that cause it (found by generating each operation alone).
pub fn generate_guarded(spec: &Spec) -> Result<String, Vec<String>> {
    match quietly(|| semarize_codegen::generate(spec.openapi())) {
        Ok(Ok(source)) => Ok(source),
        Ok(Err(message)) => Err(vec![message]),
        Err(panic) => {
            let culprits: Vec<String> = spec
                .operations()
                .into_iter()
                .filter_map(|op| {
                    let single = only_operation(spec, &op.path, &op.method.to_lowercase());
                    match quietly(|| semarize_codegen::generate(&single)) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every setter of every generated builder (operation and type builders) carries
    /// documentation taken from the spec.
    #[test]
    fn every_builder_setter_is_documented() {
        let source = generate_guarded(&Spec::parse(crate::committed_spec_text()).unwrap())
            .expect("the bundled spec generates");
        let file = syn::parse_file(&source).expect("the generated code parses");
        let mut undocumented = Vec::new();
        let mut documented = 0;
        let mut visit = |module: &str, items: &[syn::Item]| {
            for item in items {
                let syn::Item::Impl(block) = item else {
                    continue;
                };
                if block.trait_.is_some() {
                    continue;
                }
                let syn::Type::Path(ty) = block.self_ty.as_ref() else {
                    continue;
                };
                let name = ty.path.segments.last().unwrap().ident.to_string();
                for member in &block.items {
                    let syn::ImplItem::Fn(f) = member else {
                        continue;
                    };
                    if f.sig.ident == "new" {
                        continue;
                    }
                    if f.attrs.iter().any(|a| a.path().is_ident("doc")) {
                        documented += 1;
                    } else {
                        undocumented.push(format!("{module}::{name}::{}", f.sig.ident));
                    }
                }
            }
        };
        let module = |items: &[syn::Item], name: &str| -> Vec<syn::Item> {
            items
                .iter()
                .find_map(|i| match i {
                    syn::Item::Mod(m) if m.ident == name => m.content.as_ref().map(|c| c.1.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("no module {name}"))
        };
        let operation_builders = module(&file.items, "builder");
        let type_builders = module(&module(&file.items, "types"), "builder");
        visit("builder", &operation_builders);
        visit("types::builder", &type_builders);
        assert!(
            undocumented.is_empty(),
            "undocumented setters: {undocumented:#?}"
        );
        assert!(documented > 50, "only {documented} setters found");
    }
}
