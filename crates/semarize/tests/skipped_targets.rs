//! Cargo skips a test target whose `required-features` are off without a word, so a plain
//! `cargo test -p semarize` would look complete while four targets never ran. This target
//! has no required features: its one test shows as ignored, with the reason, whenever a
//! gated target was skipped, and checks that the list below matches `Cargo.toml`.

/// Every feature-gated test target and the features it needs, as `Cargo.toml` declares.
const GATED: &[(&str, &[&str])] = &[
    ("client", &["axum"]),
    ("tracing", &["testing"]),
    ("cassette", &["testing"]),
    ("metrics", &["metrics"]),
];

#[test]
#[cfg_attr(
    not(all(feature = "axum", feature = "testing", feature = "metrics")),
    ignore = "the client, tracing, cassette and metrics targets were skipped: they need the \
              axum, testing and metrics features (cargo test -p semarize --all-features)"
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
