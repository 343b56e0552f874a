#!/usr/bin/env python3
"""Runs the test binaries `cargo test --no-run --message-format=json` built, except the
targets named, each from its package's directory (as cargo test would) and with a deadline.

Usage: run_test_binaries.py BUILD_JSON [PACKAGE:TARGET | PACKAGE ...]

The additive-spec step of .ci/run uses it to run again only the tests an additive spec
can change, without a second `cargo test` whose narrower package selection would unify
features differently and rebuild the dependencies.
"""

import json
import os
import subprocess
import sys

DEADLINE_SECONDS = 600


def package_name(package_id: str) -> str:
    """The name in a package id: `path+file:///w/crates/semarize#0.1.0` (the directory
    names it) or `path+file:///w/tests#semarize-workflows@0.1.0`."""
    url, _, fragment = package_id.rpartition("#")
    if "@" in fragment:
        return fragment.split("@")[0]
    return url.rstrip("/").rsplit("/", 1)[-1]


def main() -> int:
    build_json, excluded = sys.argv[1], set(sys.argv[2:])
    binaries = []
    with open(build_json, encoding="utf-8") as lines:
        for line in lines:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            if message.get("reason") != "compiler-artifact":
                continue
            if not message["profile"]["test"] or not message.get("executable"):
                continue
            package = package_name(message["package_id"])
            target = message["target"]["name"]
            if package in excluded or f"{package}:{target}" in excluded:
                print(f"not run: {package}:{target}")
                continue
            binaries.append((package, target, message))
    if not binaries:
        print("error: no test binary in the build output", file=sys.stderr)
        return 1
    failed = []
    for package, target, message in binaries:
        directory = os.path.dirname(message["manifest_path"])
        print(f"==> {package}:{target}", flush=True)
        try:
            result = subprocess.run(
                [message["executable"], "--quiet"],
                cwd=directory,
                timeout=DEADLINE_SECONDS,
                check=False,
            )
            if result.returncode != 0:
                failed.append(f"{package}:{target} (exit {result.returncode})")
        except subprocess.TimeoutExpired:
            failed.append(f"{package}:{target} (past {DEADLINE_SECONDS} s, killed)")
    if failed:
        print("error: failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    print(f"{len(binaries)} test binaries passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
