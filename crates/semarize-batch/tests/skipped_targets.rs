//! Cargo skips a test target whose `required-features` are off without a word, and tests
//! behind `#[cfg(feature = ...)]` vanish the same way, so a plain `cargo test -p
//! semarize-batch --no-default-features` would look complete while whole suites never
//! ran. This target has no required features: its one test shows as ignored, with the
//! reason, whenever something gated was left out, and checks that the list below matches
//! `Cargo.toml`. (The parser is the one in `semarize`'s `tests/skipped_targets.rs`: each
//! crate's tests build from its own directory.)

/// Every feature-gated test target and the features it needs, as `Cargo.toml` declares.
const GATED: &[(&str, &[&str])] = &[("conformance", &["sqlite"]), ("batch", &["sqlite"])];

#[test]
#[cfg_attr(
    not(all(feature = "sqlite", feature = "webhooks", feature = "postgres")),
    ignore = "feature-gated tests were skipped: the conformance and batch targets need \
              `sqlite`, batch's four webhook tests `webhooks`, the PostgreSQL store and \
              its tests `postgres` (cargo test -p semarize-batch --all-features)"
)]
fn every_feature_gated_target_is_listed() {
    assert_eq!(
        gated_targets(include_str!("../Cargo.toml")),
        GATED
            .iter()
            .map(|(name, features)| (*name, features.to_vec()))
            .collect::<Vec<_>>(),
        "Cargo.toml's gated test targets changed: update GATED and the ignore reason here"
    );
}

/// `(name, required-features)` of each `[[test]]` table that has required features. The
/// manifest is ours and written one key per line, which is all this reads.
fn gated_targets(manifest: &'static str) -> Vec<(&'static str, Vec<&'static str>)> {
    let quoted = |value: &'static str| value.trim().trim_matches('"');
    let mut targets = Vec::new();
    for table in manifest.split("\n[").filter(|t| t.starts_with("[test]]")) {
        let value = |key: &str| {
            table
                .lines()
                .find_map(|line| line.strip_prefix(key)?.trim_start().strip_prefix('='))
        };
        if let (Some(name), Some(features)) = (value("name"), value("required-features")) {
            let features = features
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']');
            targets.push((
                quoted(name),
                features
                    .split(',')
                    .map(quoted)
                    .filter(|f| !f.is_empty())
                    .collect(),
            ));
        }
    }
    targets
}
