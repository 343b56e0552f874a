//! Child processes of a test: killed when dropped, their output read with a deadline.

use semarize::runtime::{Clock, SystemClock};

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
