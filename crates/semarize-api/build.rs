//! Generates the raw client from `openapi/semarize.yaml` into `OUT_DIR`.
//!
//! Nothing generated is committed inside this crate; `cargo xtask spec check` compares
//! the generated public surface against `openapi/generated-surface.txt` instead.

include!("codegen.rs");

fn main() {
    // Read at run time, not with env!(): a build-script binary reused from a shared
    // target directory must look in the checkout being built, not in the one it was
    // compiled in.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let spec_path = std::path::Path::new(&manifest_dir).join("../../openapi/semarize.yaml");
    println!("cargo:rerun-if-changed={}", spec_path.display());
    println!("cargo:rerun-if-changed=codegen.rs");

    let text = std::fs::read_to_string(&spec_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", spec_path.display()));
    let source = parse_spec(&text)
        .and_then(|spec| generate(&spec))
        .unwrap_or_else(|e| panic!("{e}"));
    let out = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("semarize_api.rs");
    std::fs::write(&out, source).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
