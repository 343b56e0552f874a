"""The `semarize` CLI through a validating proxy: 0 contract violations.

`.ci/run` starts the emulator and, in front of it, Prism in proxy mode with `--errors`
(a request or response that breaks openapi/semarize.yaml becomes an error answer and a
logged violation). This script runs a representative set of CLI commands through Prism,
with injected 429 and 503 answers that the CLI must retry, checks each exit code, and
then counts the violations in Prism's log.

Usage: cli_through_prism.py SEMARIZE_BIN PRISM_URL EMULATOR_URL API_KEY PRISM_LOG
Exit status: 0 when every command exited as expected and Prism logged no violation.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import emulator_control  # noqa: E402

SEMARIZE, PRISM_URL, EMULATOR_URL, API_KEY, PRISM_LOG = sys.argv[1:6]
FAILURES = []


def control(method, path, body=None):
    """The emulator's control surface (it is not part of the API spec)."""
    emulator_control.control(EMULATOR_URL, method, path, body)


def cli(*args, expect=0):
    """Runs `semarize --base-url PRISM ...`; returns its stdout parsed as JSON, if any."""
    command = [SEMARIZE, "--base-url", PRISM_URL, "--api-key", API_KEY, "--output", "json", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        FAILURES.append(f"semarize {' '.join(args)}: no exit within 120 s")
        return None
    if done.returncode != expect:
        FAILURES.append(
            f"semarize {' '.join(args)}: exit {done.returncode}, expected {expect}; "
            f"stderr: {done.stderr.strip()[:300]}"
        )
        return None
    try:
        return json.loads(done.stdout) if done.stdout.strip() else None
    except json.JSONDecodeError:
        return None


def main():
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as transcript:
        transcript.write("Prospect: we are losing 3 hours a week. Our budget is $500.")
    commands = 0

    def run(*args, expect=0):
        nonlocal commands
        commands += 1
        return cli(*args, expect=expect)

    created = run("runs", "create", "--kit", "A1B2C3D4", "--transcript", transcript.name, "--wait")
    run("runs", "create", "--kit", "A1B2C3D4", "--input", '{"transcript": "We love it."}',
        "--mode", "sync")
    if isinstance(created, dict) and "run_id" in created:
        run_id = created["run_id"]
        run("runs", "get", run_id)
        run("runs", "usage", run_id)
        run("runs", "wait", run_id)
    run("runs", "list", "--limit", "10")
    schema = run("kits", "schema", "--kit-code", "A1B2C3D4")
    if isinstance(schema, dict):
        run("kits", "schema", "--kit-id", schema["kit_id"])
        ids = ",".join(b["brick_id"] for b in schema.get("bricks", []) if "brick_id" in b)
        run("bricks", ids)
    hook = run("webhooks", "set", "https://hooks.example.com/semarize")
    run("webhooks", "list")
    if isinstance(hook, dict) and "id" in hook:
        run("webhooks", "delete", hook["id"])
    run("runs", "get", "00000000-0000-4000-8000-000000000000", expect=3)

    # Injected faults, answered by the emulator behind Prism: the CLI retries through them.
    control("POST", "/_emulator/faults",
            {"operation": "create_run", "count": 1, "kind": "status", "status": 429,
             "retry_after": 1})
    run("runs", "create", "--kit", "A1B2C3D4", "--transcript", transcript.name)
    control("POST", "/_emulator/faults",
            {"operation": "get_run", "count": 2, "kind": "status", "status": 503,
             "retry_after": 1})
    if isinstance(created, dict) and "run_id" in created:
        run("runs", "get", created["run_id"])
    control("POST", "/_emulator/faults",
            {"operation": "list_runs", "count": 1, "kind": "status", "status": 503})
    run("runs", "list")

    with open(PRISM_LOG, encoding="utf-8", errors="replace") as log:
        text = re.sub(r"\x1b\[[0-9;]*m", "", log.read())
    violations = [line for line in text.splitlines() if re.search(r"violation", line, re.I)]
    print(f"semarize CLI through Prism: {commands} commands, "
          f"{len(FAILURES)} unexpected exits, {len(violations)} contract violations")
    for failure in FAILURES:
        print(f"  FAILED {failure}")
    for violation in violations[:50]:
        print(f"  VIOLATION {violation.strip()[:300]}")
    return 1 if FAILURES or violations else 0


if __name__ == "__main__":
    sys.exit(main())
