// The one definition of how `semarize-api` is generated from the spec.
//
// `build.rs` includes this file to generate the client, and `xtask` includes it to check
// the spec and snapshot the generated surface, so the two can never disagree about the
// generator settings.

/// Spec enumerations that are replaced by hand-written open enums (see
/// `src/open_enums.rs`). progenitor generates closed enums, but /v1 promises additive
/// changes: a new status, type or code must decode into an `Unknown` arm, not fail.
pub const OPEN_ENUMS: &[(&str, &str)] = &[
    ("RunStatus", "crate::open_enums::RunStatus"),
    ("RunType", "crate::open_enums::RunType"),
    ("RunMode", "crate::open_enums::RunMode"),
    ("BrickValueType", "crate::open_enums::BrickValueType"),
    ("WebhookEventType", "crate::open_enums::WebhookEventType"),
    ("ErrorCode", "crate::open_enums::ErrorCode"),
];

/// Parses the spec text (YAML or JSON) into an OpenAPI document.
pub fn parse_spec(text: &str) -> Result<openapiv3::OpenAPI, String> {
    serde_yaml::from_str(text).map_err(|e| format!("openapi/semarize.yaml does not parse: {e}"))
}

/// The generator with this project's settings: builder interface, tags merged, the
/// open-enum replacements, and a per-client `RequestContext` applied to every request
/// (authorization travels with the client, whatever reqwest client the caller supplies).
pub fn generator() -> progenitor::Generator {
    let tokens = |path: &str| {
        path.parse::<proc_macro2::TokenStream>()
            .expect("a Rust path")
    };
    let mut settings = progenitor::GenerationSettings::default();
    settings
        .with_interface(progenitor::InterfaceStyle::Builder)
        .with_tag(progenitor::TagStyle::Merged)
        .with_derive("PartialEq")
        .with_inner_type(tokens("crate::RequestContext"))
        .with_pre_hook(tokens("crate::request_context::apply"));
    for (schema_name, rust_path) in OPEN_ENUMS {
        settings.with_replacement(*schema_name, *rust_path, std::iter::empty());
    }
    progenitor::Generator::new(&settings)
}

/// Generates the client source for `spec`, formatted for humans.
pub fn generate(spec: &openapiv3::OpenAPI) -> Result<String, String> {
    let tokens = generator()
        .generate_tokens(spec)
        .map_err(|e| format!("progenitor rejected the spec: {e}"))?;
    let file: syn::File =
        syn::parse2(tokens).map_err(|e| format!("generated code does not parse: {e}"))?;
    Ok(prettyplease::unparse(&file))
}
