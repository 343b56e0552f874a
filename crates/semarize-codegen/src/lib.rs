//! How `semarize-api` is generated from `openapi/semarize.yaml`: the progenitor settings
//! (builder interface, open enumerations, renamed schemas, the per-client request
//! context), the polish applied to progenitor's output, and the structural check of the
//! spec that reports mistakes like a compiler (`LINE:COL: at #/pointer: what was
//! expected`).
//!
//! `semarize-api`'s build script uses it as a build-dependency, and `cargo xtask spec
//! check` uses the same functions, so the build and the checks cannot disagree.
//!
//! ```no_run
//! let text = std::fs::read_to_string("openapi/semarize.yaml").unwrap();
//! let problems = semarize_codegen::check_structure(&text);
//! assert!(problems.is_empty(), "{problems:#?}");
//! let spec = semarize_codegen::parse_spec(&text).unwrap();
//! let source = semarize_codegen::generate(&spec).unwrap();
//! assert!(source.contains("pub struct Client"));
//! ```

// Feature badges on gated items in the docs.rs build.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs, unreachable_pub)]

mod document;
mod generate;
#[cfg(feature = "oas-schema")]
mod oas_schema;
mod operations;
mod polish;
mod spec_check;

#[cfg(feature = "oas-schema")]
pub use oas_schema::check_against_oas_schema;

pub use generate::{
    OPEN_ENUMS, RENAMED_SCHEMAS, for_rust, generate, generator, parse_spec, quietly,
};
pub use operations::operations_table;
pub use spec_check::check_structure;

use std::path::{Path, PathBuf};

/// The environment variable that names a spec other than the packaged one.
pub const SPEC_VARIABLE: &str = "SEMARIZE_API_SPEC";

/// Which spec a build generates from: the value of [`SPEC_VARIABLE`] when set and not
/// empty, which must be an absolute path, else `packaged`.
///
/// A relative path is refused rather than resolved: cargo runs a dependency's build
/// script in the package's own directory, inside the registry cache, where a relative
/// path would name no file of the user's.
///
/// ```
/// use std::path::Path;
/// let packaged = Path::new("/registry/semarize-api/openapi/semarize.yaml");
/// assert_eq!(semarize_codegen::spec_path(None, packaged).unwrap(), packaged);
/// let error = semarize_codegen::spec_path(Some("my.yaml".as_ref()), packaged).unwrap_err();
/// assert!(error.contains("relative"), "{error}");
/// ```
pub fn spec_path(variable: Option<&std::ffi::OsStr>, packaged: &Path) -> Result<PathBuf, String> {
    match variable.filter(|value| !value.is_empty()) {
        None => Ok(packaged.to_path_buf()),
        Some(value) if Path::new(value).is_absolute() => Ok(PathBuf::from(value)),
        Some(value) => {
            let shown = Path::new(value).display();
            Err(format!(
                "{SPEC_VARIABLE}={shown} is a relative path; give an absolute one (for \
                 example {SPEC_VARIABLE}=\"$PWD/{shown}\")"
            ))
        }
    }
}

/// The repository's spec, for tests (the published crate checks the text it is given).
#[cfg(test)]
pub(crate) fn committed_spec() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../openapi/semarize.yaml"
    ))
    .expect("the repository's spec is readable")
}
