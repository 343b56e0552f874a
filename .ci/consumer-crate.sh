#!/usr/bin/env bash
# The "regenerate from your own spec" workflow as a user outside this repository runs it
# (called by .ci/run): a new crate in a temporary directory depends on semarize-api by
# path, keeps its own copy of the spec with a field Semarize has not documented yet, and
# builds with SEMARIZE_API_SPEC pointing at that copy. Its code reads the new field, so it
# compiles only if semarize-api was generated from the consumer's spec, and its test
# checks that semarize_api::SPEC_YAML is that spec.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
consumer=$(mktemp -d)
trap 'rm -rf "$consumer"' EXIT

mkdir -p "$consumer/src" "$consumer/openapi"
python3 - "$repo/openapi/semarize.yaml" "$consumer/openapi/semarize.yaml" <<'PY'
import sys
spec = open(sys.argv[1]).read()
anchor = "        run_type:\n          $ref: \"#/components/schemas/RunType\"\n"
assert spec.count(anchor) == 1, "the Run schema's run_type property moved"
addition = anchor + "        priority:\n          type: integer\n          description: A field only this consumer's spec knows.\n"
open(sys.argv[2], "w").write(spec.replace(anchor, addition))
PY

cat >"$consumer/Cargo.toml" <<EOF
[package]
name = "semarize-consumer"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
semarize-api = { path = "$repo/crates/semarize-api" }
serde_json = "1"

[workspace]
EOF
cat >"$consumer/src/lib.rs" <<'EOF'
/// The consumer's own field, generated from its own spec.
pub fn priority(run: &semarize_api::types::Run) -> Option<i64> {
    run.priority
}

#[test]
fn the_generated_client_is_the_consumers_spec() {
    assert!(semarize_api::SPEC_YAML.contains("A field only this consumer's spec knows."));
    let run: semarize_api::types::Run =
        serde_json::from_value(serde_json::json!({"run_id": "r1", "status": "queued", "priority": 3}))
            .unwrap();
    assert_eq!(priority(&run), Some(3));
}
EOF

cd "$consumer"
SEMARIZE_API_SPEC="$consumer/openapi/semarize.yaml" cargo test --quiet
echo "a crate outside the workspace regenerated semarize-api from its own spec and used its new field"
