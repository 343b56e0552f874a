//! `--record FILE` and `--replay FILE` for every API command, and `semarize cassette
//! check`.

use std::path::PathBuf;

use clap::Subcommand;
use semarize::cassette::{Cassette, CheckReport, Order, Spec, check_file, generated_spec};

use crate::output::Failure;

/// Cassettes: recordings of API calls.
#[derive(Subcommand, Debug)]
pub enum CassetteCommand {
    /// Check cassettes against the spec: one line per problem
    /// (`FILE#/interactions/N/response/body/POINTER: what was expected`), exit 1 on any.
    /// Members and enumeration values the spec does not name are additive changes:
    /// reported, exit 0.
    Check {
        /// Cassette files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Check against this spec instead of the one this build was generated from.
        #[arg(long, value_name = "PATH")]
        spec: Option<PathBuf>,
    },
}

impl CassetteCommand {
    pub fn run(&self) -> Result<(), Failure> {
        match self {
            CassetteCommand::Check { files, spec } => check(files, spec.as_ref()),
        }
    }
}

fn check(files: &[PathBuf], spec: Option<&PathBuf>) -> Result<(), Failure> {
    let given;
    let spec: &Spec = match spec {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::usage(format!("cannot read the spec {}: {e}", path.display()))
            })?;
            given = Spec::parse(&text)
                .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
            &given
        }
        None => generated_spec()
            .ok_or_else(|| Failure::usage("the spec of this build does not parse"))?,
    };
    let mut report = CheckReport::default();
    for file in files {
        report.merge(check_file(file, spec));
    }
    for line in report.problems.iter().chain(&report.additive) {
        println!("{line}");
    }
    eprintln!(
        "cassette check: {} files, {}",
        files.len(),
        report.summary()
    );
    if report.is_ok() {
        Ok(())
    } else {
        Err(Failure {
            exit_code: 1,
            message: format!(
                "{} problems: the cassettes and the spec disagree",
                report.problems.len()
            ),
        })
    }
}

/// Where the global `--record`/`--replay` options lead.
#[derive(Debug, Default)]
pub struct CassetteOptions {
    pub record: Option<PathBuf>,
    pub replay: Option<PathBuf>,
    pub redact_transcripts: bool,
}

impl CassetteOptions {
    /// The cassette the command's clients share, if any. `concurrent` commands (batches)
    /// replay in any order.
    pub fn open(&self, concurrent: bool) -> Result<Option<Cassette>, Failure> {
        let order = if concurrent {
            Order::AnyOrder
        } else {
            Order::InOrder
        };
        match (&self.record, &self.replay) {
            (Some(path), None) => Ok(Some(
                Cassette::record(path).redact_transcripts(self.redact_transcripts),
            )),
            (None, Some(path)) => Cassette::replay(path)
                .map(|cassette| Some(cassette.order(order)))
                .map_err(|e| Failure::usage(e.to_string())),
            (None, None) => Ok(None),
            (Some(_), Some(_)) => Err(Failure::usage("--record and --replay exclude each other")),
        }
    }

    pub fn is_set(&self) -> bool {
        self.record.is_some() || self.replay.is_some()
    }
}

/// At the end of a command: a recording is written, and responses that did not fit the
/// spec are summed up (each was logged as it came). A recording that cannot be written
/// fails the command (exit 2) even if the calls succeeded.
pub fn finish(cassette: &Cassette) -> Result<(), Failure> {
    cassette.save().map_err(|e| Failure::usage(e.to_string()))?;
    let problems = cassette.problems();
    if !problems.is_empty() {
        eprintln!(
            "cassette {}: {} responses do not fit the spec:",
            cassette.path().display(),
            problems.len()
        );
        for problem in problems {
            eprintln!("  {problem}");
        }
    }
    Ok(())
}
