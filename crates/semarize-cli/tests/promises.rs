//! The promise → test table in CONTRIBUTING.md is complete and true: every command of the
//! README's command list and every exit code the README names has a row, and every test
//! a row names exists.

use std::collections::BTreeSet;
use std::path::Path;

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// `runs create`, `webhooks list`, `bricks`, ... from the README's command-line block.
fn readme_commands(readme: &str) -> BTreeSet<String> {
    let start = readme
        .find("### The command line")
        .expect("the README has a command-line section");
    let block = &readme[start..];
    let block = &block[block.find("```sh").expect("a sh block") + 5..];
    let block = &block[..block.find("```").expect("the block ends")];
    let mut commands = BTreeSet::new();
    for line in block.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("semarize ") else {
            continue;
        };
        for segment in rest.split(" | ") {
            let words: Vec<&str> = segment
                .split_whitespace()
                .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase()))
                .take(2)
                .collect();
            if !words.is_empty() {
                commands.insert(words.join(" "));
            }
        }
    }
    commands
}

/// The exit codes of the README's "Exit codes:" sentence.
fn readme_exit_codes(readme: &str) -> BTreeSet<u8> {
    let start = readme
        .find("Exit codes:")
        .expect("the README lists exit codes");
    let text = &readme[start..];
    let text = &text[..text.find("\n\n").unwrap_or(text.len())];
    text.split([';', ':'])
        .filter_map(|part| part.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn every_readme_command_and_exit_code_has_a_tested_row() {
    let readme = repo_file("README.md");
    let contributing = repo_file("CONTRIBUTING.md");
    let rows: Vec<(&str, &str)> = contributing
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() == 4 && cells[2].contains(".rs::")).then(|| (cells[1], cells[2]))
        })
        .collect();
    assert!(rows.len() > 20, "the table parsed: {} rows", rows.len());

    let commands = readme_commands(&readme);
    assert!(
        commands.len() >= 15,
        "the command list parsed: {commands:?}"
    );
    for command in &commands {
        let wanted = format!("`semarize {command}");
        assert!(
            rows.iter().any(|(promise, _)| promise.contains(&wanted)),
            "CONTRIBUTING.md has no test row for the README's `semarize {command}`"
        );
    }
    let codes = readme_exit_codes(&readme);
    assert_eq!(
        codes,
        (0..=6).chain([130, 143]).collect(),
        "the exit codes parsed"
    );
    for code in codes {
        let wanted = format!("exit {code}:");
        assert!(
            rows.iter().any(|(promise, _)| promise.starts_with(&wanted)),
            "CONTRIBUTING.md has no test row for exit code {code}"
        );
    }

    for (promise, tests) in rows {
        for reference in tests.split('`').filter(|t| t.contains(".rs::")) {
            let (file, function) = reference.split_once("::").unwrap();
            let source = repo_file(file);
            assert!(
                is_test(&source, function),
                "the row for {promise} names {reference}, which is not a test function there"
            );
        }
    }
}

/// Whether `source` defines `function` as a test: a `fn` (or `async fn`) line of that name
/// whose attributes (the lines just above it, up to a blank line or the end of the item
/// before) include `#[test]` or `#[tokio::test`. A helper, a comment or a string naming
/// the function does not count.
fn is_test(source: &str, function: &str) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    let definition = format!("fn {function}(");
    lines.iter().enumerate().any(|(i, line)| {
        let line = line.trim_start();
        if !line
            .strip_prefix("async ")
            .unwrap_or(line)
            .starts_with(&definition)
        {
            return false;
        }
        lines[..i]
            .iter()
            .rev()
            .map(|l| l.trim())
            .take_while(|l| !l.is_empty() && *l != "}" && !l.ends_with(';'))
            .any(|l| l == "#[test]" || l.starts_with("#[tokio::test"))
    })
}

#[test]
fn only_test_functions_count_as_tests() {
    let source = "fn helper() {}\n\n/// Docs.\n#[tokio::test(flavor = \"multi_thread\")]\n\
                  #[cfg_attr(not(x), ignore = \"y\")]\nasync fn real() {}\n\n\
                  // fn commented() {}\n#[test]\nfn plain() {}\n";
    assert!(is_test(source, "real"));
    assert!(is_test(source, "plain"));
    assert!(!is_test(source, "helper"));
    assert!(!is_test(source, "commented"));
    assert!(!is_test(source, "missing"));
}

/// The code of a Rust snippet without comments or blank lines, for comparing two copies.
fn code_lines(snippet: &str) -> Vec<String> {
    snippet
        .lines()
        .map(|line| {
            line.split("//")
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .filter(|line| !line.is_empty())
        .collect()
}

#[test]
fn the_readme_snapshot_example_is_the_snapshot_test() {
    let readme = repo_file("README.md");
    let section = readme
        .split("### Snapshot tests of your integration")
        .nth(1)
        .expect("the README has a snapshot-testing section");
    let example = section
        .split("```rust,no_run\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section opens with a rust example");
    let test = repo_file("tests/tests/snapshot.rs");
    let function = test
        .split("#[tokio::test]")
        .find(|f| f.contains("fn snapshot_a_runs_output("))
        .expect("snapshot.rs has snapshot_a_runs_output");
    let mut in_readme = code_lines(example);
    in_readme.retain(|line| !line.starts_with("use "));
    assert_eq!(in_readme.remove(0), "#[tokio::test]");
    assert_eq!(
        in_readme,
        code_lines(function),
        "the README says its example is tests/tests/snapshot.rs; make them equal"
    );
}
