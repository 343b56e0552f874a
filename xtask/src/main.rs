//! Project automation. Run as `cargo xtask <command>`.
//!
//! - `spec check` lints `openapi/semarize.yaml`, validates its examples, runs the
//!   generator, and compares the generated public surface with the committed snapshot
//!   `openapi/generated-surface.txt`. With `--base PATH` it first prints the change
//!   report: each difference from that spec labelled additive or breaking, and the next
//!   version by semver.
//! - `spec bless` accepts a deliberate change of the generated surface.
//! - `spec additive --out PATH` writes a copy of the spec with every additive change /v1
//!   allows (CI builds and tests the workspace against it with `SEMARIZE_API_SPEC`).
//! - `spec drift --base-url URL [--api-key KEY] [--kit-code CODE]` calls the read
//!   endpoints of a live server (Semarize or the emulator) and reports response fields and
//!   enumeration values the spec does not know; exit status 1 when it finds any.
//! - `cassette check FILE... [--spec PATH]` checks recorded cassettes against the spec
//!   (the committed one by default): one located line per problem, exit status 1 on any;
//!   additive findings are printed and do not fail.

mod additive;
mod changes;
mod codegen;
mod drift;
mod lint;
mod open_enums;
mod surface;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask spec check [--spec PATH] [--surface PATH] [--base PATH]
       cargo xtask spec bless [--spec PATH] [--surface PATH]
       cargo xtask spec additive --out PATH [--spec PATH]
       cargo xtask spec drift --base-url URL [--api-key KEY (or SEMARIZE_API_KEY)] [--kit-code CODE]
       cargo xtask cassette check FILE... [--spec PATH]";

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
    // `cargo run` sets the variable at run time: prefer it to the compile-time value,
    // which names whichever checkout first built a binary kept in a shared target dir.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .expect("xtask lives in the repo root")
        .to_path_buf()
}

/// The spec people edit (`openapi/semarize.yaml`) must be the one semarize-api packages
/// and builds from: the top-level path is a symlink to the packaged file, and an editor
/// that replaced the link with a copy would split the truth in two.
fn one_spec(root: &Path) -> Result<(), Vec<String>> {
    let edited = root.join("openapi/semarize.yaml");
    let packaged = root.join("crates/semarize-api/openapi/semarize.yaml");
    if read(&edited)? == read(&packaged)? {
        Ok(())
    } else {
        Err(vec![format!(
            "{} differs from {}, the spec semarize-api packages and builds from; restore the \
             link: ln -sf ../crates/semarize-api/openapi/semarize.yaml openapi/semarize.yaml",
            edited.display(),
            packaged.display()
        )])
    }
}

/// Paths the spec commands work on; overridable so tests can check a mutated copy.
struct SpecPaths {
    spec: PathBuf,
    surface: PathBuf,
    /// The spec to compare with for the change report.
    base: Option<PathBuf>,
}

fn parse_spec_paths(args: &[String]) -> Result<SpecPaths, Vec<String>> {
    let root = repo_root();
    let mut paths = SpecPaths {
        spec: root.join("openapi/semarize.yaml"),
        surface: root.join("openapi/generated-surface.txt"),
        base: None,
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest
            .next()
            .ok_or_else(|| vec![format!("{flag} needs a value\n{USAGE}")]);
        match flag.as_str() {
            "--spec" => paths.spec = PathBuf::from(value?),
            "--surface" => paths.surface = PathBuf::from(value?),
            "--base" => paths.base = Some(PathBuf::from(value?)),
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
            one_spec(&repo_root())?;
            if let Some(base) = &paths.base {
                println!("{}", change_report(base, &paths.spec)?);
            }
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
        ["spec", "additive", "--out", out, ..] => {
            let paths = parse_spec_paths(&args[4..])?;
            let mutated = additive::mutate(&read(&paths.spec)?).map_err(|e| vec![e])?;
            std::fs::write(out, mutated).map_err(|e| vec![format!("cannot write {out}: {e}")])?;
            println!("spec additive: wrote {out}");
            Ok(())
        }
        ["spec", "drift", rest @ ..] => run_drift(rest),
        ["cassette", "check", rest @ ..] => cassette_check(rest),
        _ => Err(vec![USAGE.to_owned()]),
    }
}

/// The change report from the spec at `base` to the one at `spec`, with the version the
/// crates should take next.
fn change_report(base: &Path, spec: &Path) -> Result<String, Vec<String>> {
    let parse = |path: &Path| {
        semarize_spec::Spec::parse(&read(path)?)
            .map_err(|e| vec![format!("{}: {e}", path.display())])
    };
    let changes = changes::report(&parse(base)?, &parse(spec)?);
    Ok(format!(
        "changes from {}:\n{}",
        base.display(),
        changes::render(&changes, env!("CARGO_PKG_VERSION"))
    ))
}

/// `cassette check`: the same check as `semarize cassette check`, against the committed
/// spec unless `--spec` names another (a regenerated one, say).
fn cassette_check(args: &[&str]) -> Result<(), Vec<String>> {
    let mut spec_path = repo_root().join("openapi/semarize.yaml");
    let mut files = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match *arg {
            "--spec" => {
                let value = rest
                    .next()
                    .ok_or_else(|| vec![format!("--spec needs a value\n{USAGE}")])?;
                spec_path = PathBuf::from(value);
            }
            flag if flag.starts_with("--") => {
                return Err(vec![format!("unknown flag {flag}\n{USAGE}")]);
            }
            file => files.push(PathBuf::from(file)),
        }
    }
    if files.is_empty() {
        return Err(vec![format!("no cassette given\n{USAGE}")]);
    }
    let spec = semarize_spec::Spec::parse(&read(&spec_path)?)
        .map_err(|e| vec![format!("{}: {e}", spec_path.display())])?;
    let mut report = semarize_api::cassette::CheckReport::default();
    for file in &files {
        report.merge(semarize_api::cassette::check_file(file, &spec));
    }
    for line in &report.additive {
        println!("{line}");
    }
    println!("cassette check: {}", report.summary());
    if report.is_ok() {
        Ok(())
    } else {
        Err(report.problems)
    }
}

fn run_drift(args: &[&str]) -> Result<(), Vec<String>> {
    let (mut base_url, mut api_key, mut kit_code) =
        (None, std::env::var("SEMARIZE_API_KEY").ok(), None);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest
            .next()
            .map(|v| (*v).to_owned())
            .ok_or_else(|| vec![format!("{flag} needs a value\n{USAGE}")])?;
        match *flag {
            "--base-url" => base_url = Some(value),
            "--api-key" => api_key = Some(value),
            "--kit-code" => kit_code = Some(value),
            other => return Err(vec![format!("unknown flag {other}\n{USAGE}")]),
        }
    }
    let base_url = base_url.ok_or_else(|| vec![format!("--base-url is required\n{USAGE}")])?;
    let api_key = api_key
        .ok_or_else(|| vec!["an API key is required: --api-key or SEMARIZE_API_KEY".to_owned()])?;
    let spec = semarize_spec::Spec::parse(&committed_spec()?).map_err(|e| vec![e.to_string()])?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| vec![format!("cannot start a runtime: {e}")])?;
    let findings = runtime
        .block_on(drift::drift(
            &spec,
            &base_url,
            &api_key,
            kit_code.as_deref(),
        ))
        .map_err(|e| vec![e])?;
    if findings.is_empty() {
        println!("spec drift: none (every observed field and value is in the spec)");
        Ok(())
    } else {
        Err(findings)
    }
}

/// The emulator's /v1 route table and the spec's operations must be the same set.
fn check_routes(spec: &semarize_spec::Spec) -> Vec<String> {
    use std::collections::BTreeSet;
    let documented: BTreeSet<(String, String, String)> = spec
        .operations()
        .into_iter()
        .map(|o| (o.method, o.path, o.id))
        .collect();
    let served: BTreeSet<(String, String, String)> = semarize_emulator::routes::served()
        .map(|r| (r.method.to_owned(), r.path.to_owned(), r.id.to_owned()))
        .collect();
    let missing = documented
        .difference(&served)
        .map(|(m, p, id)| format!("the emulator does not serve {id} ({m} {p})"));
    let invented = served.difference(&documented).map(|(m, p, id)| {
        format!("the emulator serves {id} ({m} {p}), which the spec does not document")
    });
    missing.chain(invented).collect()
}

/// The committed spec (`openapi/semarize.yaml`), whichever spec semarize-api was
/// generated from (`SEMARIZE_API_SPEC` may name another, as CI's additive run does).
fn committed_spec() -> Result<String, Vec<String>> {
    read(&repo_root().join("openapi/semarize.yaml"))
}

/// [`committed_spec`] for tests, read once.
#[cfg(test)]
pub(crate) fn committed_spec_text() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| committed_spec().expect("the committed spec is readable"))
}

fn read(path: &Path) -> Result<String, Vec<String>> {
    std::fs::read_to_string(path).map_err(|e| vec![format!("cannot read {}: {e}", path.display())])
}

/// Every check of `spec check`; all problems are collected so one run reports them all.
fn check(paths: &SpecPaths) -> Result<String, Vec<String>> {
    let text = read(&paths.spec)?;
    let spec = semarize_spec::Spec::parse(&text).map_err(|e| vec![e.to_string()])?;
    // The same report as build.rs: `PATH:LINE:COL: at #/pointer: ...`.
    let mut found = semarize_codegen::check_structure(&text);
    // And against the OpenAPI Initiative's schema for 3.0 (too large a validator for the
    // build script, so only here and in `semarize-spec-check`).
    found.extend(semarize_codegen::check_against_oas_schema(&text));
    let structural: Vec<String> = found
        .into_iter()
        .map(|problem| format!("{}:{problem}", paths.spec.display()))
        .collect();
    // A structurally broken spec is reported alone, as build.rs does: what follows
    // (examples against a broken schema, the generator) would only repeat it noisily.
    if !structural.is_empty() {
        return Err(structural);
    }
    let mut problems = lint::lint(&spec);
    problems.extend(check_routes(&spec));
    problems.extend(open_enums::check(&spec));
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
            "{} operations, {} examples, emulator routes and open enums match, generated surface unchanged",
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
        // One folder per call: tests run in parallel, and specs of equal length are common.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "xtask-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let spec = dir.join("semarize.yaml");
        std::fs::write(&spec, spec_text).unwrap();
        let result = check(&SpecPaths {
            base: None,
            spec,
            surface: repo_root().join("openapi/generated-surface.txt"),
        });
        std::fs::remove_dir_all(&dir).ok();
        result
    }

    #[test]
    fn committed_spec_passes() {
        check_text(crate::committed_spec_text()).unwrap();
    }

    #[test]
    fn new_required_field_on_run_fails_with_a_diff() {
        let mutated = crate::committed_spec_text().replace(
            "      required: [run_id, status]\n      properties:\n        run_id:",
            "      required: [run_id, status, workspace_id]\n      properties:\n        workspace_id:\n          type: string\n        run_id:",
        );
        assert_ne!(
            mutated,
            crate::committed_spec_text(),
            "the mutation must apply"
        );
        let problems = check_text(&mutated).unwrap_err();
        let all = problems.join("\n");
        assert!(all.contains("public surface differs"), "{all}");
        assert!(all.contains("+") && all.contains("workspace_id"), "{all}");
    }

    #[test]
    fn additional_properties_false_on_a_response_fails() {
        let mutated = crate::committed_spec_text().replace(
            "    RunUsage:\n      type: object\n",
            "    RunUsage:\n      type: object\n      additionalProperties: false\n",
        );
        assert_ne!(mutated, crate::committed_spec_text());
        let all = check_text(&mutated).unwrap_err().join("\n");
        assert!(all.contains("additionalProperties: false"), "{all}");
    }

    #[test]
    fn an_example_that_breaks_its_schema_fails() {
        let mutated =
            crate::committed_spec_text().replace("credits_consumed: 8", "credits_consumed: eight");
        assert_ne!(mutated, crate::committed_spec_text());
        let all = check_text(&mutated).unwrap_err().join("\n");
        assert!(all.contains("example get_run_usage 200 usage"), "{all}");
    }

    #[test]
    fn duplicate_operation_id_fails() {
        let mutated = crate::committed_spec_text()
            .replace("operationId: list_webhooks", "operationId: list_runs");
        let all = check_text(&mutated).unwrap_err().join("\n");
        assert!(all.contains("duplicate operationId `list_runs`"), "{all}");
    }

    #[test]
    fn an_operation_the_emulator_does_not_serve_fails() {
        let mutated =
            crate::committed_spec_text().replace("  /v1/bricks:\n", "  /v1/brick-metadata:\n");
        assert_ne!(mutated, crate::committed_spec_text());
        let all = check_text(&mutated).unwrap_err().join("\n");
        assert!(
            all.contains("the emulator does not serve get_bricks (GET /v1/brick-metadata)"),
            "{all}"
        );
        assert!(
            all.contains("the emulator serves get_bricks (GET /v1/bricks)"),
            "{all}"
        );
    }

    #[test]
    fn additive_changes_show_as_a_readable_diff_that_bless_accepts() {
        let mutated = additive::mutate(crate::committed_spec_text()).unwrap();
        let dir = std::env::temp_dir().join(format!("xtask-additive-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let paths = SpecPaths {
            base: None,
            spec: dir.join("semarize.yaml"),
            surface: dir.join("generated-surface.txt"),
        };
        std::fs::write(&paths.spec, &mutated).unwrap();
        std::fs::copy(
            repo_root().join("openapi/generated-surface.txt"),
            &paths.surface,
        )
        .unwrap();

        let all = check(&paths).unwrap_err().join("\n");
        assert!(all.contains("public surface differs"), "{all}");
        assert!(
            all.lines()
                .any(|l| l.starts_with('+') && l.contains(additive::ADDED)),
            "the new field is a + line of the diff: {all}"
        );
        // The procedure: the new operation needs an emulator handler, the new values
        // belong in the open enums; check says so.
        assert!(all.contains("get_added_later"), "{all}");

        run(&[
            "spec".into(),
            "bless".into(),
            "--spec".into(),
            paths.spec.display().to_string(),
            "--surface".into(),
            paths.surface.display().to_string(),
        ])
        .unwrap();
        let after = check(&paths).unwrap_err().join("\n");
        assert!(!after.contains("public surface differs"), "{after}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn openapi_31_is_rejected() {
        let mutated = crate::committed_spec_text().replacen("openapi: 3.0.3", "openapi: 3.1.0", 1);
        let all = check_text(&mutated).unwrap_err().join("\n");
        // The OpenAPI 3.0 schema refuses it first, with the place.
        assert!(
            all.contains("1:1: at #/openapi: \"3.1.0\" does not match"),
            "{all}"
        );
    }
}
