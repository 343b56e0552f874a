//! What this project adds to progenitor's output before it is written: the spec's
//! descriptions on the builder setters, setters that accept `&str` and `json!` values,
//! and JSON conversions for every generated struct.
//!
//! It works on the parsed file, not on text, and leaves anything it does not recognise as
//! progenitor wrote it: a progenitor upgrade that changes a shape loses a doc line or a
//! convenience, never the build.

use crate::document::resolve;

/// Setter docs, keyed by builder (normalized struct name) and setter (normalized name).
type SetterDocs = std::collections::HashMap<String, std::collections::HashMap<String, String>>;

/// `CreateRun`, `create_run` and `createRun` all become `createrun`; so do setter and
/// parameter names (`Idempotency-Key` and `idempotency_key`).
fn normalized(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A schema's own description, or that of the first schema it refers to (a `$ref`
/// property, or the `anyOf: [$ref, null]` form of a nullable reference).
fn description_of(spec: &serde_json::Value, schema: &serde_json::Value) -> Option<String> {
    let schema = resolve(spec, schema);
    if let Some(text) = schema.get("description").and_then(|d| d.as_str()) {
        return Some(text.trim().to_owned());
    }
    ["anyOf", "allOf", "oneOf"]
        .iter()
        .filter_map(|k| schema.get(*k).and_then(|v| v.as_array()))
        .flatten()
        .find_map(|branch| {
            let target = resolve(spec, branch);
            (!std::ptr::eq(target, branch))
                .then(|| description_of(spec, target))
                .flatten()
        })
}

/// Docs for the setters of the operation builders (`builder::CreateRun::idempotency_key`).
fn operation_setter_docs(spec: &serde_json::Value) -> SetterDocs {
    let mut docs = SetterDocs::new();
    let Some(paths) = spec.get("paths").and_then(|p| p.as_object()) else {
        return docs;
    };
    for item in paths.values() {
        let Some(item) = item.as_object() else {
            continue;
        };
        let shared: Vec<&serde_json::Value> = item
            .get("parameters")
            .and_then(|p| p.as_array())
            .map(|p| p.iter().collect())
            .unwrap_or_default();
        for operation in item.values().filter(|o| o.get("operationId").is_some()) {
            let Some(id) = operation.get("operationId").and_then(|i| i.as_str()) else {
                continue;
            };
            let setters = docs.entry(normalized(id)).or_default();
            let own = operation.get("parameters").and_then(|p| p.as_array());
            for parameter in shared.iter().copied().chain(own.into_iter().flatten()) {
                let parameter = resolve(spec, parameter);
                let (Some(name), Some(location)) = (
                    parameter.get("name").and_then(|n| n.as_str()),
                    parameter.get("in").and_then(|n| n.as_str()),
                ) else {
                    continue;
                };
                let required = parameter.get("required").and_then(|r| r.as_bool()) == Some(true);
                let mut text = format!(
                    "The `{name}` {location} parameter ({}).",
                    if required { "required" } else { "optional" }
                );
                if let Some(description) = parameter
                    .get("description")
                    .and_then(|d| d.as_str())
                    .map(str::trim)
                    .or_else(|| {
                        parameter
                            .get("schema")
                            .and_then(|s| resolve(spec, s).get("description"))
                            .and_then(|d| d.as_str())
                            .map(str::trim)
                    })
                {
                    text = format!("{text}\n\n{description}");
                }
                setters.insert(normalized(name), text);
            }
            if let Some(body) = operation.get("requestBody").map(|b| resolve(spec, b)) {
                let schema = body.pointer("/content/application~1json/schema");
                let type_name = schema
                    .and_then(|s| s.get("$ref"))
                    .and_then(|r| r.as_str())
                    .and_then(|r| r.rsplit('/').next());
                let mut text = match type_name {
                    Some(name) => format!(
                        "The request body: a [`types::{name}`](super::types::{name}), its \
                         builder, or a `serde_json::Value` of that shape."
                    ),
                    None => "The request body.".to_owned(),
                };
                if let Some(description) = body.get("description").and_then(|d| d.as_str()) {
                    text = format!("{text}\n\n{}", description.trim());
                }
                setters.insert("body".to_owned(), text);
                setters.insert(
                    "bodymap".to_owned(),
                    "Changes the request body through its builder (the fields set so far \
                     are kept)."
                        .to_owned(),
                );
            }
        }
    }
    docs
}

/// Docs for the setters of the type builders (`types::builder::Run::status`).
fn type_setter_docs(spec: &serde_json::Value) -> SetterDocs {
    let mut docs = SetterDocs::new();
    let Some(schemas) = spec
        .pointer("/components/schemas")
        .and_then(|s| s.as_object())
    else {
        return docs;
    };
    for (name, schema) in schemas {
        let Some(properties) = schema.get("properties").and_then(|p| p.as_object()) else {
            continue;
        };
        let required: Vec<&str> = schema
            .get("required")
            .and_then(|r| r.as_array())
            .map(|r| r.iter().filter_map(|n| n.as_str()).collect())
            .unwrap_or_default();
        let setters = docs.entry(normalized(name)).or_default();
        for (property, definition) in properties {
            let mut text = format!(
                "`{property}` ({}).",
                if required.contains(&property.as_str()) {
                    "required"
                } else {
                    "optional"
                }
            );
            if let Some(description) = description_of(spec, definition) {
                text = format!("{text}\n\n{description}");
            }
            setters.insert(normalized(property), text);
        }
    }
    docs
}

/// Field types whose setters take `semarize_api::convert::IntoField` instead of
/// `TryInto` (written as `quote` prints them, spaces removed).
const FIELDS_WITH_CONVENIENT_SETTERS: [&str; 3] = [
    "::std::option::Option<::std::string::String>",
    "::serde_json::Map<::std::string::String,::serde_json::Value>",
    "::std::option::Option<::serde_json::Map<::std::string::String,::serde_json::Value>>",
];

fn compact(tokens: &impl quote::ToTokens) -> String {
    tokens
        .to_token_stream()
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

struct Polish {
    operation_docs: SetterDocs,
    type_docs: SetterDocs,
    /// Where the visitor is: `["types", "builder"]` inside the type builders.
    modules: Vec<String>,
    /// The struct names of the `types` module, for their JSON conversions.
    type_structs: Vec<syn::Ident>,
}

impl Polish {
    fn docs_for(&self, builder: &str) -> Option<&std::collections::HashMap<String, String>> {
        let path: Vec<&str> = self.modules.iter().map(String::as_str).collect();
        match path.as_slice() {
            ["builder"] => self.operation_docs.get(&normalized(builder)),
            ["types", "builder"] => self.type_docs.get(&normalized(builder)),
            _ => None,
        }
    }

    /// `T: TryInto<Field>` becomes `T: IntoField<Field>` for the fields listed in
    /// [`FIELDS_WITH_CONVENIENT_SETTERS`] (whose `Error` is `Display` already, so the
    /// separate `T::Error: Display` bound goes), and the call in the body follows.
    fn convenient_setter(setter: &mut syn::ImplItemFn) {
        fn converted_field(predicate: &syn::WherePredicate) -> Option<syn::Type> {
            let syn::WherePredicate::Type(bound) = predicate else {
                return None;
            };
            bound.bounds.iter().find_map(|b| {
                let syn::TypeParamBound::Trait(t) = b else {
                    return None;
                };
                let last = t.path.segments.last()?;
                let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
                    return None;
                };
                let Some(syn::GenericArgument::Type(ty)) = args.args.first() else {
                    return None;
                };
                (last.ident == "TryInto"
                    && FIELDS_WITH_CONVENIENT_SETTERS.contains(&compact(ty).as_str()))
                .then(|| ty.clone())
            })
        }
        let Some(where_clause) = setter.sig.generics.where_clause.as_mut() else {
            return;
        };
        let Some(field) = where_clause.predicates.iter().find_map(converted_field) else {
            return;
        };
        where_clause.predicates = std::mem::take(&mut where_clause.predicates)
            .into_iter()
            .filter_map(|predicate| {
                let syn::WherePredicate::Type(bound) = &predicate else {
                    return Some(predicate);
                };
                if converted_field(&predicate).is_some() {
                    let param = &bound.bounded_ty;
                    Some(syn::parse_quote!(#param: crate::convert::IntoField<#field>))
                } else if compact(&bound.bounded_ty).ends_with("::Error") {
                    None
                } else {
                    Some(predicate)
                }
            })
            .collect();
        let mut calls = IntoFieldCall { field };
        syn::visit_mut::VisitMut::visit_block_mut(&mut calls, &mut setter.block);
    }
}

/// Rewrites `value.try_into()` as `IntoField::<Field>::into_field(value)`.
struct IntoFieldCall {
    field: syn::Type,
}

impl syn::visit_mut::VisitMut for IntoFieldCall {
    fn visit_expr_mut(&mut self, expr: &mut syn::Expr) {
        if let syn::Expr::MethodCall(call) = expr
            && call.method == "try_into"
            && call.args.is_empty()
        {
            let receiver = &call.receiver;
            let field = &self.field;
            *expr = syn::parse_quote!(
                <_ as crate::convert::IntoField<#field>>::into_field(#receiver)
            );
            return;
        }
        syn::visit_mut::visit_expr_mut(self, expr);
    }
}

impl syn::visit_mut::VisitMut for Polish {
    fn visit_item_mod_mut(&mut self, module: &mut syn::ItemMod) {
        self.modules.push(module.ident.to_string());
        syn::visit_mut::visit_item_mod_mut(self, module);
        self.modules.pop();
    }

    fn visit_item_struct_mut(&mut self, item: &mut syn::ItemStruct) {
        if self.modules == ["types"] {
            self.type_structs.push(item.ident.clone());
        }
    }

    fn visit_item_impl_mut(&mut self, item: &mut syn::ItemImpl) {
        if item.trait_.is_some() {
            return;
        }
        let syn::Type::Path(self_ty) = item.self_ty.as_ref() else {
            return;
        };
        let Some(builder) = self_ty.path.segments.last().map(|s| s.ident.to_string()) else {
            return;
        };
        let in_type_builders = self.modules == ["types", "builder"];
        let docs = self.docs_for(&builder).cloned().unwrap_or_default();
        for member in &mut item.items {
            let syn::ImplItem::Fn(setter) = member else {
                continue;
            };
            if in_type_builders {
                Self::convenient_setter(setter);
            }
            let has_doc = setter.attrs.iter().any(|a| a.path().is_ident("doc"));
            if let (false, Some(text)) = (
                has_doc,
                docs.get(&normalized(&setter.sig.ident.to_string())),
            ) {
                for line in text.lines() {
                    let line = format!(" {line}");
                    setter.attrs.push(syn::parse_quote!(#[doc = #line]));
                }
            }
        }
    }
}

/// Applies this project's additions to progenitor's output.
pub(crate) fn polish(file: &mut syn::File, spec: &serde_json::Value) {
    let mut polish = Polish {
        operation_docs: operation_setter_docs(spec),
        type_docs: type_setter_docs(spec),
        modules: Vec::new(),
        type_structs: Vec::new(),
    };
    syn::visit_mut::VisitMut::visit_file_mut(&mut polish, file);
    for name in polish.type_structs {
        let doc =
            format!(" Decodes a JSON value of the `{name}` shape (`serde_json::from_value`).");
        file.items.push(syn::parse_quote! {
            #[doc = #doc]
            impl ::std::convert::TryFrom<::serde_json::Value> for types::#name {
                type Error = ::serde_json::Error;
                fn try_from(value: ::serde_json::Value) -> ::std::result::Result<Self, Self::Error> {
                    ::serde_json::from_value(value)
                }
            }
        });
    }
}
