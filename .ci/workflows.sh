#!/usr/bin/env bash
# The workflow tests that run cargo themselves (tests/tests/consumer.rs and
# spec_change.rs, #[ignore]d in the ordinary test run). Their binaries are built first and
# run directly, outside cargo, so the builds they start share the build cache instead of
# waiting on the outer cargo's lock. Called by .ci/run; runnable locally.
set -euo pipefail
cd "$(dirname "$0")/.."
binaries=$(cargo test --quiet -p semarize-workflows --tests --no-run --message-format=json \
  | python3 -c '
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable") \
            and message["target"]["name"] in ("consumer", "spec_change"):
        print(message["executable"])
')
[ "$(echo "$binaries" | wc -l)" -eq 2 ] || { echo "error: expected 2 workflow test binaries, got: $binaries" >&2; exit 1; }
for binary in $binaries; do
  "$binary" --ignored --test-threads 1
done
