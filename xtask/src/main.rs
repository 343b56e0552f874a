//! Project automation. Run as `cargo xtask <command>`.
//!
//! - `spec check` lints `openapi/semarize.yaml`, validates its examples, runs the
//!   generator, and compares the generated public surface with the committed snapshot
//!   `openapi/generated-surface.txt`.
//! - `spec bless` accepts a deliberate change of the generated surface.

mod codegen;
mod lint;
mod surface;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask spec check [--spec PATH] [--surface PATH]
       cargo xtask spec bless [--spec PATH] [--surface PATH]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(problems) => {
            for problem in problems {
                eprintln!("error: {problem}");
            }
            ExitCode::FAILURE
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repo root")
        .to_path_buf()
}

/// Paths the spec commands work on; overridable so tests can check a mutated copy.
struct SpecPaths {
    spec: PathBuf,
    surface: PathBuf,
}

fn parse_spec_paths(args: &[String]) -> Result<SpecPaths, Vec<String>> {
    let root = repo_root();
    let mut paths = SpecPaths {
        spec: root.join("openapi/semarize.yaml"),
        surface: root.join("openapi/generated-surface.txt"),
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest
            .next()
            .ok_or_else(|| vec![format!("{flag} needs a value\n{USAGE}")]);
        match flag.as_str() {
            "--spec" => paths.spec = PathBuf::from(value?),
            "--surface" => paths.surface = PathBuf::from(value?),
            other => return Err(vec![format!("unknown flag {other}\n{USAGE}")]),
        }
    }
    Ok(paths)
}

fn run(args: &[String]) -> Result<(), Vec<String>> {
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["spec", "check", ..] => {
            let paths = parse_spec_paths(&args[2..])?;
            let report = check(&paths)?;
            println!("spec check: ok ({report})");
            Ok(())
        }
        ["spec", "bless", ..] => {
            let paths = parse_spec_paths(&args[2..])?;
            let text = read(&paths.spec)?;
            let spec = semarize_spec::Spec::parse(&text).map_err(|e| vec![e.to_string()])?;
            let generated = codegen::generate_guarded(&spec)?;
            let surface = surface::extract(&generated).map_err(|e| vec![e])?;
            std::fs::write(&paths.surface, surface)
                .map_err(|e| vec![format!("cannot write {}: {e}", paths.surface.display())])?;
            println!("spec bless: wrote {}", paths.surface.display());
            Ok(())
        }
        _ => Err(vec![USAGE.to_owned()]),
    }
}

fn read(path: &Path) -> Result<String, Vec<String>> {
    std::fs::read_to_string(path).map_err(|e| vec![format!("cannot read {}: {e}", path.display())])
}

/// Every check of `spec check`; all problems are collected so one run reports them all.
fn check(paths: &SpecPaths) -> Result<String, Vec<String>> {
    let text = read(&paths.spec)?;
    let spec = semarize_spec::Spec::parse(&text).map_err(|e| vec![e.to_string()])?;
    let mut problems = lint::lint(&spec);
    let examples = spec.examples();
    for example in &examples {
        if let Err(errors) = spec.validate(
            &example.schema,
            &format!("example {}", example.location),
            &example.value,
        ) {
            problems.extend(errors);
        }
    }
    match codegen::generate_guarded(&spec) {
        Ok(generated) => {
            let actual = surface::extract(&generated).map_err(|e| vec![e])?;
            let committed = std::fs::read_to_string(&paths.surface).unwrap_or_default();
            if let Some(diff) = surface::diff(&committed, &actual) {
                problems.push(format!(
                    "the generated client's public surface differs from {} \
                     (review the diff, then run `cargo xtask spec bless` if it is deliberate):\n{diff}",
                    paths.surface.display()
                ));
            }
        }
        Err(errors) => problems.extend(errors),
    }
    if problems.is_empty() {
        Ok(format!(
            "{} operations, {} examples",
            spec.operations().len(),
            examples.len()
        ))
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_text(spec_text: &str) -> Result<String, Vec<String>> {
        let dir = std::env::temp_dir().join(format!(
            "xtask-test-{}-{}",
            std::process::id(),
            spec_text.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = dir.join("semarize.yaml");
        std::fs::write(&spec, spec_text).unwrap();
        let result = check(&SpecPaths {
            spec,
            surface: repo_root().join("openapi/generated-surface.txt"),
        });
        std::fs::remove_dir_all(&dir).ok();
        result
    }

    #[test]
    fn committed_spec_passes() {
        check_text(semarize_spec::SPEC_YAML).unwrap();
    }

    #[test]
    fn new_required_field_on_run_fails_with_a_diff() {
        let mutated = semarize_spec::SPEC_YAML.replace(
            "      required: [run_id, status]\n      properties:\n        run_id:",
            "      required: [run_id, status, workspace_id]\n      properties:\n        workspace_id:\n          type: string\n        run_id:",
        );
        assert_ne!(mutated, semarize_spec::SPEC_YAML, "the mutation must apply");
        let problems = check_text(&mutated).unwrap_err();
        let all = problems.join("\n");
        assert!(all.contains("public surface differs"), "{all}");
        assert!(all.contains("+") && all.contains("workspace_id"), "{all}");
    }

    #[test]
    fn additional_properties_false_on_a_response_fails() {
        let mutated = semarize_spec::SPEC_YAML.replace(
            "    RunUsage:\n      type: object\n",
            "    RunUsage:\n      type: object\n      additionalProperties: false\n",
        );
        assert_ne!(mutated, semarize_spec::SPEC_YAML);
        let all = check_text(&mutated).unwrap_err().join("\n");
        assert!(all.contains("additionalProperties: false"), "{all}");
    }

    #[test]
    fn an_example_that_breaks_its_schema_fails() {
        let mutated =
            semarize_spec::SPEC_YAML.replace("credits_consumed: 8", "credits_consumed: eight");
        assert_ne!(mutated, semarize_spec::SPEC_YAML);
        let all = check_text(&mutated).unwrap_err().join("\n");
        assert!(all.contains("example get_run_usage 200 usage"), "{all}");
    }

    #[test]
    fn duplicate_operation_id_fails() {
        let mutated = semarize_spec::SPEC_YAML
            .replace("operationId: list_webhooks", "operationId: list_runs");
        let all = check_text(&mutated).unwrap_err().join("\n");
        assert!(all.contains("duplicate operationId list_runs"), "{all}");
    }

    #[test]
    fn openapi_31_is_rejected() {
        let mutated = semarize_spec::SPEC_YAML.replacen("openapi: 3.0.3", "openapi: 3.1.0", 1);
        let all = check_text(&mutated).unwrap_err().join("\n");
        assert!(all.contains("3.0.x"), "{all}");
    }
}
