//! Generates the raw client into `OUT_DIR` from the spec with `semarize-codegen`:
//! `$SEMARIZE_API_SPEC` (an absolute path) when set (regenerate from your own copy without
//! forking), else the spec packaged with this crate (`openapi/semarize.yaml`, which the repository's top-level
//! `openapi/semarize.yaml` links to). The spec used is copied next to the generated code
//! and is `semarize_api::SPEC_YAML`.
//!
//! Nothing generated is committed inside this crate; `cargo xtask spec check` compares
//! the generated public surface against `openapi/generated-surface.txt` instead.

use semarize_codegen::{SPEC_VARIABLE, check_structure, generate, parse_spec, quietly};

fn main() {
    println!("cargo:rerun-if-env-changed={SPEC_VARIABLE}");
    // Read at run time, not with env!(): a build-script binary reused from a shared
    // target directory must look in the checkout being built, not in the one it was
    // compiled in.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let packaged = std::path::Path::new(&manifest_dir).join("openapi/semarize.yaml");
    let variable = std::env::var_os(SPEC_VARIABLE);
    let spec_path = semarize_codegen::spec_path(variable.as_deref(), &packaged)
        .unwrap_or_else(|message| fail(&message));
    println!("cargo:rerun-if-changed={}", spec_path.display());

    let text = std::fs::read_to_string(&spec_path).unwrap_or_else(|e| {
        fail(&format!(
            "cannot read the spec {}: {e}",
            spec_path.display()
        ))
    });
    let spec = parse_spec(&text).unwrap_or_else(|e| fail(&format!("{}:{e}", spec_path.display())));
    // Structural mistakes (a misspelt keyword, an unknown type, a dangling $ref) are
    // reported like a compiler's errors, before progenitor ignores or panics on them.
    let problems: Vec<String> = check_structure(&text)
        .into_iter()
        .map(|problem| format!("{}:{problem}", spec_path.display()))
        .collect();
    if !problems.is_empty() {
        fail(&problems.join("\n"));
    }
    // progenitor panics on some specs it cannot generate (an unknown `type`, say): that is
    // a message about the spec, not a crash of the build.
    let source = quietly(|| generate(&spec))
        .unwrap_or_else(|panic| Err(format!("progenitor cannot generate this spec: {panic}")))
        .unwrap_or_else(|e| fail(&format!("{}: {e}", spec_path.display())));
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let out = std::path::Path::new(&out_dir);
    write(&out.join("semarize_api.rs"), &source);
    let table = semarize_codegen::operations_table(&text)
        .unwrap_or_else(|e| fail(&format!("{}: {e}", spec_path.display())));
    write(&out.join("operations.rs"), &table);
    write(&out.join("semarize.yaml"), &text);
}

fn write(path: &std::path::Path, text: &str) {
    std::fs::write(path, text)
        .unwrap_or_else(|e| fail(&format!("cannot write {}: {e}", path.display())));
}

/// Stops the build with `message` as cargo's error, not a panic's backtrace.
fn fail(message: &str) -> ! {
    for line in message.lines() {
        println!("cargo::error={line}");
    }
    std::process::exit(1);
}
