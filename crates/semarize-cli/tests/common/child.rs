//! Child processes of a test: killed when dropped, their output read with a deadline, and
//! never waited for without one.

// Each test target includes this file (`#[path]`) and uses part of it.
#![allow(dead_code)]

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use semarize::runtime::{Clock, SystemClock};

/// How long one command of a test may run before it is killed and the test fails.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(120);

/// [`Command::output`] with a deadline.
pub trait RunToEnd {
    /// Runs the command to its end and returns its status and output. Past
    /// [`COMMAND_DEADLINE`] the process is killed and the test fails with what it printed.
    /// The wait happens off the async runtime's worker (`block_in_place`), so an emulator
    /// served by the same runtime keeps answering.
    fn run_to_end(&mut self) -> Output;
}

impl RunToEnd for Command {
    fn run_to_end(&mut self) -> Output {
        // The program and its arguments: never the environment, which holds API keys.
        let description = format!(
            "{} {:?}",
            self.get_program().to_string_lossy(),
            self.get_args().collect::<Vec<_>>()
        );
        let child = self
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{description} did not start: {e}"));
        output_within(child, &description, COMMAND_DEADLINE)
    }
}

/// Waits for `child` (its stdout and stderr piped) for at most `limit` and returns its
/// status and output; past `limit` it is killed and the test fails with what it printed.
/// The wait happens off the async runtime's worker, as in [`RunToEnd::run_to_end`].
pub fn output_within(mut child: std::process::Child, description: &str, limit: Duration) -> Output {
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            use std::io::Read as _;
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    let wait = || {
        let deadline = SystemClock.now() + limit;
        loop {
            if let Some(status) = child.try_wait().expect("the child can be waited for") {
                return Some(status);
            }
            if SystemClock.now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    // Outside a runtime (plain `#[test]`s) this simply waits here.
    let status = tokio::task::block_in_place(wait);
    let stdout = stdout.join().expect("the stdout reader");
    let stderr = stderr.join().expect("the stderr reader");
    match status {
        Some(status) => Output {
            status,
            stdout,
            stderr,
        },
        None => panic!(
            "{description} ran past its {limit:?} deadline and was killed; it printed:\n{}\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ),
    }
}

/// Kills the child when dropped, so a failing assertion never leaves a process behind.
pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A child's stdout, read on a thread: a child that stays silent fails the test at a
/// deadline instead of blocking it forever.
pub struct ChildLines(std::sync::mpsc::Receiver<String>);

impl ChildLines {
    pub fn new(stdout: impl std::io::Read + Send + 'static) -> Self {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        ChildLines(receiver)
    }

    /// The first line satisfying `pred` within 20 s; the panic names `what` and shows
    /// every line seen.
    pub fn until(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.through(what, pred).pop().expect("the matching line")
    }

    /// Every line up to and including the first that satisfies `pred` (within 20 s).
    pub fn through(&self, what: &str, pred: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = SystemClock.now() + std::time::Duration::from_secs(20);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(SystemClock.now());
            match self.0.recv_timeout(left) {
                Ok(line) => {
                    let done = pred(&line);
                    seen.push(line);
                    if done {
                        return seen;
                    }
                }
                Err(e) => panic!("never printed {what} ({e}); printed:\n{}", seen.join("\n")),
            }
        }
    }
}
