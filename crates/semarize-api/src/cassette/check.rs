//! A cassette checked against a spec: every recorded response against the schema of its
//! operation and status, with each problem located in the file.

use std::path::Path;

use semarize_spec::Spec;

use super::format::{CassetteFile, Interaction};

/// What [`check_file`] found: problems (the cassette and the spec disagree) and additive
/// findings (members and enumeration values the spec does not name, which clients
/// tolerate). Each is one line: `FILE#/interactions/N/response/body/POINTER: what was
/// expected`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Interactions checked.
    pub interactions: usize,
    /// Disagreements with the spec.
    pub problems: Vec<String>,
    /// Additive changes: warnings, not problems.
    pub additive: Vec<String>,
}

impl CheckReport {
    /// Whether no problem was found (additive findings do not count).
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// `N interactions: P problems, A additive changes`.
    pub fn summary(&self) -> String {
        format!(
            "{} interactions: {} problems, {} additive changes",
            self.interactions,
            self.problems.len(),
            self.additive.len()
        )
    }

    /// Adds another file's report to this one.
    pub fn merge(&mut self, other: CheckReport) {
        self.interactions += other.interactions;
        self.problems.extend(other.problems);
        self.additive.extend(other.additive);
    }
}

/// Checks the cassette at `path` against `spec`. A file that cannot be read or is not a
/// cassette is one problem at the file's root.
///
/// ```no_run
/// use semarize_api::cassette::{check_file, generated_spec};
/// let spec = generated_spec().expect("the generated spec parses");
/// let report = check_file("tests/cassettes/create.json".as_ref(), spec);
/// for line in report.problems.iter().chain(&report.additive) {
///     println!("{line}");
/// }
/// assert!(report.is_ok());
/// ```
pub fn check_file(path: &Path, spec: &Spec) -> CheckReport {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => check_text(&name, &text, spec),
        Err(e) => CheckReport {
            problems: vec![format!("{name}#: cannot read the file: {e}")],
            ..CheckReport::default()
        },
    }
}

/// Checks cassette text; `name` starts every line of the report.
pub fn check_text(name: &str, text: &str, spec: &Spec) -> CheckReport {
    let file = match CassetteFile::parse(Path::new(name), text) {
        Ok(file) => file,
        Err(e) => {
            return CheckReport {
                problems: vec![format!("{name}#: {e}")],
                ..CheckReport::default()
            };
        }
    };
    let mut report = CheckReport {
        interactions: file.interactions.len(),
        ..CheckReport::default()
    };
    for (index, interaction) in file.interactions.iter().enumerate() {
        check_interaction(name, index, interaction, spec, &mut report);
    }
    report
}

fn check_interaction(
    name: &str,
    index: usize,
    interaction: &Interaction,
    spec: &Spec,
    report: &mut CheckReport,
) {
    let at = |suffix: &str| format!("{name}#/interactions/{index}{suffix}");
    let operation = &interaction.operation_id;
    let request = &interaction.request;
    match spec.operation_for(&request.method, &request.path) {
        Some(found) if found.id == *operation => {}
        Some(found) => report.problems.push(format!(
            "{}: {} {} is {} in the spec, not {operation}",
            at("/operation_id"),
            request.method,
            request.path,
            found.id
        )),
        None => report.problems.push(format!(
            "{}: no operation of the spec is {} {}",
            at("/request/path"),
            request.method,
            request.path
        )),
    }
    let response = &interaction.response;
    match spec.documents_status(operation, response.status) {
        Ok(true) => {}
        Ok(false) => {
            report.problems.push(format!(
                "{}: {operation} does not document status {}",
                at("/response/status"),
                response.status
            ));
            return;
        }
        Err(e) => {
            report
                .problems
                .push(format!("{}: {e}", at("/operation_id")));
            return;
        }
    }
    match spec.response_violations(operation, response.status, response.body.as_ref()) {
        Ok(violations) => report
            .problems
            .extend(violations.into_iter().map(|violation| {
                format!(
                    "{}: {}",
                    at(&format!("/response/body{}", violation.pointer)),
                    violation.message
                )
            })),
        Err(e) => report
            .problems
            .push(format!("{}: {e}", at("/operation_id"))),
    }
    if let Some(body) = &response.body
        && let Ok(findings) = spec.additive_findings(operation, response.status, body)
    {
        for finding in findings {
            report.additive.push(format!(
                "{}: {}",
                at(&format!("/response/body{}", finding.pointer)),
                finding.message
            ));
        }
    }
}
