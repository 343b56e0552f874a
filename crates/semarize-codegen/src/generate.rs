//! The one definition of how `semarize-api` is generated from the spec: its build script
//! generates the client with it, and `xtask` checks the spec and snapshots the generated
//! surface with it, so the two can never disagree about the generator settings.

use crate::polish::polish;

/// Spec enumerations that are replaced by hand-written open enums (see
/// `src/open_enums.rs`). progenitor generates closed enums, but /v1 promises additive
/// changes: a new status, type or code must decode into an `Unknown` arm, not fail.
pub const OPEN_ENUMS: &[(&str, &str)] = &[
    ("RunStatus", "crate::open_enums::RunStatus"),
    ("RunType", "crate::open_enums::RunType"),
    // Closed in the spec (a request value), but one Rust type for a run type either way.
    ("RequestedRunType", "crate::open_enums::RunType"),
    ("RunMode", "crate::open_enums::RunMode"),
    ("BrickValueType", "crate::open_enums::BrickValueType"),
    ("WebhookEventType", "crate::open_enums::WebhookEventType"),
    ("ErrorCode", "crate::open_enums::ErrorCode"),
];

/// Schemas whose Rust name differs from the spec's: `Error` would sit beside progenitor's
/// own `Error<E>` (and `semarize::Error`) and read as the same thing.
pub const RENAMED_SCHEMAS: &[(&str, &str)] = &[("Error", "ErrorEnvelope")];

/// Parses the spec text (YAML or JSON) into an OpenAPI document. An error starts with
/// `LINE:COL: ` when the parser knows where, so that `{path}:{error}` reads like a
/// compiler's message.
pub fn parse_spec(text: &str) -> Result<openapiv3::OpenAPI, String> {
    serde_norway::from_str(text).map_err(|e| {
        let message = e.to_string();
        match e.location() {
            Some(at) => {
                let suffix = format!(" at line {} column {}", at.line(), at.column());
                let message = message.strip_suffix(&suffix).unwrap_or(&message);
                format!(
                    "{}:{}: the spec does not parse: {message}",
                    at.line(),
                    at.column()
                )
            }
            None => format!(" the spec does not parse: {message}"),
        }
    })
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

/// String keywords the spec states for every tool but the Rust types leave out: typify
/// would turn a length or pattern into a validating newtype (and a pattern into a regex
/// engine dependency), and `format: uuid` into `uuid::Uuid`. The Rust client keeps these
/// values plain strings and checks the limits itself, as the spec's description says.
const KEYWORDS_CHECKED_BY_HAND: [&str; 3] = ["maxLength", "minLength", "pattern"];

/// The spec as the Rust generator sees it: `maxLength`, `minLength`, `pattern` and
/// `format: uuid` removed from every string schema (the client checks those itself) and
/// [`RENAMED_SCHEMAS`] renamed, everything else untouched.
/// It is returned as JSON, the form the polish of the output reads its descriptions from.
pub fn for_rust(spec: &openapiv3::OpenAPI) -> Result<serde_json::Value, String> {
    fn rename_refs(value: &mut serde_json::Value, from: &str, to: &str) {
        match value {
            serde_json::Value::Object(map) => {
                if map.get("$ref").and_then(|r| r.as_str()) == Some(from) {
                    map.insert("$ref".to_owned(), to.into());
                }
                map.values_mut().for_each(|v| rename_refs(v, from, to));
            }
            serde_json::Value::Array(items) => {
                items.iter_mut().for_each(|v| rename_refs(v, from, to))
            }
            _ => {}
        }
    }
    fn relax(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                if map.get("type").and_then(|t| t.as_str()) == Some("string") {
                    for keyword in KEYWORDS_CHECKED_BY_HAND {
                        map.remove(keyword);
                    }
                    if map.get("format").and_then(|f| f.as_str()) == Some("uuid") {
                        map.remove("format");
                    }
                }
                for (key, child) in map.iter_mut() {
                    // Example values are data, not schemas.
                    if key != "example" && key != "examples" {
                        relax(child);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(relax),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(spec).map_err(|e| e.to_string())?;
    relax(&mut value);
    if let Some(schemas) = value
        .pointer_mut("/components/schemas")
        .and_then(|s| s.as_object_mut())
    {
        for (from, to) in RENAMED_SCHEMAS {
            if let Some(schema) = schemas.remove(*from) {
                schemas.insert((*to).to_owned(), schema);
            }
        }
    }
    for (from, to) in RENAMED_SCHEMAS {
        rename_refs(
            &mut value,
            &format!("#/components/schemas/{from}"),
            &format!("#/components/schemas/{to}"),
        );
    }
    Ok(value)
}

/// Generates the client source for `spec`, formatted for humans.
pub fn generate(spec: &openapiv3::OpenAPI) -> Result<String, String> {
    let rust_spec = for_rust(spec)?;
    let openapi = serde_json::from_value(rust_spec.clone()).map_err(|e| e.to_string())?;
    let tokens = generator()
        .generate_tokens(&openapi)
        .map_err(|e| format!("progenitor rejected the spec: {e}"))?;
    let mut file: syn::File =
        syn::parse2(tokens).map_err(|e| format!("generated code does not parse: {e}"))?;
    polish(&mut file, &rust_spec);
    Ok(prettyplease::unparse(&file))
}

/// Runs `f`, turning a panic into its message without printing the default panic report.
pub fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    // The panic hook is process-global: serialize its swaps so concurrent callers (tests)
    // always restore the hook they found.
    static HOOK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = HOOK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    result.map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "unknown panic".to_owned())
    })
}
