//! Workflow 2 inside the repository: the README's "After a spec change" procedure, walked
//! step by step on a temporary copy of this workspace. The change is the kind /v1 makes:
//! a new optional field on `Run` and a new operation. Each step must say what the README
//! says it says; a step the README forgets makes this test fail.

use std::time::Duration;

use semarize_workflows::{TempDir, cargo, cargo_ok, copy_workspace, edit};

const STEP_DEADLINE: Duration = Duration::from_secs(900);

#[test]
#[ignore = "runs cargo on a copy of the workspace; .ci/workflows.sh runs it"]
fn the_readme_procedure_after_a_spec_change_works_as_written() {
    let copy = TempDir::new("spec-change");
    let ws = copy.path();
    copy_workspace(ws);
    let env = [("CI", "true")];

    // 1. Edit openapi/semarize.yaml: a new optional field, and a new operation (a copy
    //    of get_run at a new path). The spec before the edit is kept for the report.
    let spec_path = ws.join("openapi/semarize.yaml");
    let before = copy.path().join("before.yaml");
    std::fs::copy(&spec_path, &before).unwrap();
    let run_type = "        run_type:\n          $ref: \"#/components/schemas/RunType\"\n";
    edit(
        &spec_path,
        run_type,
        &format!(
            "{run_type}        priority:\n          type: integer\n          description: Scheduling priority (added by the walk).\n"
        ),
    );
    let spec = std::fs::read_to_string(&spec_path).unwrap();
    let start = spec.find("  /v1/runs/{runId}:\n").expect("get_run's path");
    let end = start
        + 2
        + spec[start + 2..]
            .find("\n  /")
            .expect("a path follows get_run's")
        + 1;
    let operation = spec[start..end]
        .replacen("  /v1/runs/{runId}:", "  /v1/runs/{runId}/status:", 1)
        .replacen("operationId: get_run\n", "operationId: get_run_status\n", 1);
    assert!(operation.contains("get_run_status"), "{operation}");
    std::fs::write(
        &spec_path,
        format!("{}{operation}{}", &spec[..end], &spec[end..]),
    )
    .unwrap();

    // 2. `cargo xtask spec check --base BEFORE` reports each change as additive or
    //    breaking with the next version, fails with a readable diff of the generated
    //    surface, and names what else the change needs.
    let base = before.to_str().unwrap();
    let checked = cargo(
        ws,
        &["xtask", "spec", "check", "--base", base],
        &env,
        STEP_DEADLINE,
    );
    assert!(!checked.success, "check must fail:\n{}", checked.output);
    for line in [
        "additive: operation get_run_status (GET /v1/runs/{runId}/status) added",
        "additive: schema Run: field priority added",
        "2 changes (0 breaking, 2 additive): next version 0.1.1 (from 0.1.0)",
    ] {
        assert!(
            checked.output.contains(line),
            "{line:?} in:\n{}",
            checked.output
        );
    }
    assert!(
        checked.output.contains("public surface differs"),
        "{}",
        checked.output
    );
    assert!(
        checked
            .output
            .lines()
            .any(|l| l.starts_with('+') && l.contains("priority")),
        "the new field is a + line:\n{}",
        checked.output
    );
    assert!(
        checked
            .output
            .lines()
            .any(|l| l.contains("get_run_status") && l.contains("emulator")),
        "check names the operation the emulator does not serve:\n{}",
        checked.output
    );

    // 3. Reviewed: bless. Check then no longer reports the surface.
    cargo_ok(ws, &["xtask", "spec", "bless"], &env, STEP_DEADLINE);
    let after_bless = cargo(ws, &["xtask", "spec", "check"], &env, STEP_DEADLINE);
    assert!(!after_bless.success, "the handler is still missing");
    assert!(
        !after_bless.output.contains("public surface differs"),
        "{}",
        after_bless.output
    );

    // 4. A new operation (its route comes from the generated operations table): its
    //    handler, and in the conformance test its call and the generated type its answer
    //    decodes into.
    edit(
        &ws.join("crates/semarize-emulator/src/http/v1/mod.rs"),
        "        \"get_run\" => on(filter, runs::get_run),\n",
        "        \"get_run\" => on(filter, runs::get_run),\n        \"get_run_status\" => on(filter, runs::get_run),\n",
    );
    let walk_anchor = "    let run_id = created.json()[\"run_id\"].as_str().unwrap().to_owned();\n";
    edit(
        &ws.join("crates/semarize-emulator/tests/emulator/conformance.rs"),
        walk_anchor,
        &format!(
            "{walk_anchor}    conformance.check(\n        \"get_run_status\",\n        &env.call(\"GET\", &format!(\"/v1/runs/{{run_id}}/status\"), None, k, &[]).await,\n    );\n"
        ),
    );
    edit(
        &ws.join("crates/semarize-emulator/tests/emulator/conformance.rs"),
        "        (\"create_run\" | \"get_run\", _) => check::<types::Run>(body),\n",
        "        (\"create_run\" | \"get_run\" | \"get_run_status\", _) => check::<types::Run>(body),\n",
    );
    cargo_ok(ws, &["xtask", "spec", "check"], &env, STEP_DEADLINE);

    // 5. The tests: the generated client and the emulator's conformance to the new spec
    //    (CI's additive step runs the whole suite against such changes).
    cargo_ok(
        ws,
        &[
            "test",
            "--quiet",
            "-p",
            "semarize-api",
            "-p",
            "semarize-emulator",
        ],
        &env,
        STEP_DEADLINE,
    );
}
