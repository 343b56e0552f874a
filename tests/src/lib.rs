//! Helpers for the workflow tests in `tests/tests/`: a copy of this workspace, a crate
//! outside it, and `cargo` run in either with a deadline.
//!
//! The tests that build crates are `#[ignore]`d: they run `cargo` themselves, and inside
//! `cargo test` the target directory is locked by the outer cargo. `.ci/workflows.sh`
//! (called by `.ci/run`) builds them with `cargo test --no-run` and runs the test binaries
//! directly with `--ignored`, so the inner builds share the build cache. Under
//! `cargo test -- --ignored` they still work, building in a target directory of their own.

#![warn(missing_docs, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}

/// A directory removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new empty directory under the system's temporary directory.
    pub fn new(label: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let path =
            std::env::temp_dir().join(format!("semarize-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("a temporary directory");
        TempDir(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies the files git knows (tracked, and new ones not ignored) into `to`, keeping
/// symbolic links as links: the top-level spec is a link to the packaged one.
pub fn copy_workspace(to: &Path) {
    let root = repo_root();
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(&root)
        .output()
        .expect("git runs");
    assert!(listed.status.success(), "git ls-files failed");
    for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).expect("UTF-8 file names");
        let from = root.join(name);
        let Ok(meta) = std::fs::symlink_metadata(&from) else {
            continue; // deleted in the working tree
        };
        let dest = to.join(name);
        std::fs::create_dir_all(dest.parent().expect("a file has a parent")).unwrap();
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from).unwrap(), &dest).unwrap();
        } else {
            std::fs::copy(&from, &dest).unwrap();
        }
    }
}

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct Finished {
    /// Whether it exited with 0.
    pub success: bool,
    /// Standard output and standard error, in that order.
    pub output: String,
}

/// Runs `cargo args` in `dir` with `env` added, for at most `deadline` (then it is killed
/// and the test fails naming the command).
pub fn cargo(dir: &Path, args: &[&str], env: &[(&str, &str)], deadline: Duration) -> Finished {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    // Under `cargo test` the outer cargo holds the target directory's lock for as long as
    // the tests run: the inner builds then use a directory of their own.
    if std::env::var_os("CARGO_PKG_NAME").is_some() {
        let outer = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target"));
        command.env("CARGO_TARGET_DIR", outer.join("workflows"));
    }
    command
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        // The copy is not CI's checkout: insta may not write there either way.
        .env("CARGO_TERM_COLOR", "never")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("cargo starts");
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let (out, err) = (read(Box::new(stdout)), read(Box::new(stderr)));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("cargo can be waited on") {
            break status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`cargo {}` in {} did not finish within {} s",
                args.join(" "),
                dir.display(),
                deadline.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = format!(
        "{}{}",
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default()
    );
    Finished {
        success: status.success(),
        output,
    }
}

/// Like [`cargo`], and the command must succeed.
pub fn cargo_ok(dir: &Path, args: &[&str], env: &[(&str, &str)], deadline: Duration) -> String {
    let finished = cargo(dir, args, env, deadline);
    assert!(
        finished.success,
        "`cargo {}` failed in {}:\n{}",
        args.join(" "),
        dir.display(),
        finished.output
    );
    finished.output
}

/// Replaces the one occurrence of `anchor` in the file at `path` with `replacement`,
/// failing the test when the anchor moved (the walk must notice, not skip).
pub fn edit(path: &Path, anchor: &str, replacement: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        text.matches(anchor).count(),
        1,
        "{} no longer has exactly one {anchor:?}",
        path.display()
    );
    std::fs::write(path, text.replace(anchor, replacement)).unwrap();
}
