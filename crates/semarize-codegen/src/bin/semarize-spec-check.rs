//! `semarize-spec-check SPEC...`: every check a spec gets before semarize-api is
//! generated from it (the structural check that its build runs too, and validation
//! against the OpenAPI 3.0 schema), one `PATH:LINE:COL: at #/pointer: ...` line per
//! problem; exit 1 on any, 2 when a file cannot be read.

use std::process::ExitCode;

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() || paths.iter().any(|p| p.starts_with('-')) {
        eprintln!("usage: semarize-spec-check SPEC.yaml...");
        return ExitCode::from(2);
    }
    let mut problems = 0usize;
    for path in &paths {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("{path}: cannot read: {e}");
                return ExitCode::from(2);
            }
        };
        if let Err(e) = semarize_codegen::parse_spec(&text) {
            println!("{path}:{e}");
            problems += 1;
            continue;
        }
        let mut found = semarize_codegen::check_structure(&text);
        found.extend(semarize_codegen::check_against_oas_schema(&text));
        for problem in &found {
            println!("{path}:{problem}");
        }
        problems += found.len();
    }
    if problems == 0 {
        eprintln!("{} specs: no problem", paths.len());
        ExitCode::SUCCESS
    } else {
        eprintln!("{problems} problems");
        ExitCode::FAILURE
    }
}
