//! What the crash tests share.

use std::path::PathBuf;

/// A fresh directory `name-<pid>` under the temporary directory holding `input.jsonl`:
/// `line(i)` (a JSON object) for each record `i` in `1..=records`.
pub fn batch_dir(name: &str, records: usize, line: impl Fn(usize) -> String) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let input: String = (1..=records).map(|i| line(i) + "\n").collect();
    std::fs::write(dir.join("input.jsonl"), input).unwrap();
    dir
}

/// A small deterministic generator for kill times and victims (a seed makes a failure
/// reproducible).
pub struct Xorshift(pub u64);

impl Xorshift {
    /// Seeded from `CRASH_SEED` when set, else from `default`.
    pub fn from_env(default: u64) -> Xorshift {
        Xorshift(
            std::env::var("CRASH_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(default),
        )
    }

    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
