//! What the crash tests share.

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
