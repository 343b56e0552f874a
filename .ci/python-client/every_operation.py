"""Every documented operation, through a Python client generated from the spec.

`.ci/run` generates the client with openapi-python-client from openapi/semarize.yaml and
starts the emulator in additive mode (an unknown field in every response object, unknown
run statuses and run types); this script then calls each operation, every documented
error status, injected 429, 502, 503 and 504 answers and a sync fallback, and counts the
calls whose answer the generated client could not parse into the declared type.

Usage: every_operation.py BASE_URL API_KEY CLIENT_PARENT_DIR
Exit status: 0 when every call parsed, 1 otherwise (each failure is printed).
"""

import os
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import emulator_control  # noqa: E402

BASE_URL, API_KEY, CLIENT_PARENT = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, CLIENT_PARENT)

from semarize_client import AuthenticatedClient  # noqa: E402
from semarize_client.api.bricks import get_bricks  # noqa: E402
from semarize_client.api.kits import get_kit_schema, get_kit_schema_by_query  # noqa: E402
from semarize_client.api.runs import create_run, get_run, get_run_usage, list_runs  # noqa: E402
from semarize_client.api.webhooks import delete_webhook, list_webhooks, upsert_webhook  # noqa: E402
from semarize_client.models import (  # noqa: E402
    BrickMetadata,
    CreateRunRequest,
    CreateRunRequestInput,
    Error,
    KitSchema,
    RequestedRunType,
    Run,
    RunMode,
    RunUsage,
    UpsertWebhookRequest,
    Webhook,
    WebhookEndpoint,
)

CLIENT = AuthenticatedClient(base_url=BASE_URL, token=API_KEY, raise_on_unexpected_status=True)
BAD_KEY = AuthenticatedClient(
    base_url=BASE_URL, token="smz_test_not_a_key", raise_on_unexpected_status=True
)
RESULTS = {"calls": 0, "failed": []}


def control(method, path, body=None):
    """The emulator's control surface (it is not part of the API spec)."""
    emulator_control.control(BASE_URL, method, path, body)


def call(label, status, kind, operation, **kwargs):
    """One call: the status must be `status` and the parsed body a `kind` (None: no body)."""
    RESULTS["calls"] += 1
    try:
        response = operation.sync_detailed(**kwargs)
    except Exception as error:  # a generated client that cannot parse raises
        RESULTS["failed"].append(f"{label}: raised {type(error).__name__}: {error}")
        return None
    parsed = response.parsed
    problem = None
    if int(response.status_code) != status:
        problem = f"status {int(response.status_code)}, expected {status}"
    elif kind is list and not isinstance(parsed, list):
        problem = f"parsed {type(parsed).__name__}, expected a list"
    elif kind not in (None, list) and not isinstance(parsed, kind):
        problem = f"parsed {type(parsed).__name__}, expected {kind.__name__}"
    if problem:
        RESULTS["failed"].append(f"{label}: {problem}; body {response.content[:200]!r}")
        return None
    return parsed


def run_request(transcript="Prospect: we are losing 3 hours a week.", mode=None, kit="A1B2C3D4"):
    body = CreateRunRequest(
        kit_code=kit,
        input_=CreateRunRequestInput.from_dict({"transcript": transcript}),
        type_=RequestedRunType.API,
    )
    if mode is not None:
        body.mode = mode
    return body


def wait_for_terminal(run_id):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = call("get_run while waiting", 200, Run, get_run, client=CLIENT, run_id=run_id)
        if run is None:
            return None
        status = run.status if isinstance(run.status, str) else run.status.value
        if status in ("succeeded", "failed", "cancelled"):
            return run
        time.sleep(0.1)
    RESULTS["failed"].append(f"run {run_id} did not end within 30 s")
    return None


def main():
    control("PUT", "/_emulator/settings", {"additive": True})

    key = str(uuid.uuid4())
    created = call("create_run async 202", 202, Run, create_run, client=CLIENT,
                   body=run_request(), idempotency_key=key)
    call("create_run replayed with its key 202", 202, Run, create_run, client=CLIENT,
         body=run_request(), idempotency_key=key)
    call("create_run same key, other body 409", 409, Error, create_run, client=CLIENT,
         body=run_request("another transcript"), idempotency_key=key)
    call("create_run sync 200", 200, Run, create_run, client=CLIENT,
         body=run_request(mode=RunMode.SYNC))
    call("create_run without a Kit 400", 400, Error, create_run, client=CLIENT,
         body=CreateRunRequest(input_=CreateRunRequestInput.from_dict({"transcript": "x"})))
    call("create_run unknown Kit 404", 404, Error, create_run, client=CLIENT,
         body=run_request(kit="ZZZZZZZZ"))
    call("create_run empty transcript 422", 422, Error, create_run, client=CLIENT,
         body=run_request(transcript=""))
    call("create_run bad key 401", 401, Error, create_run, client=BAD_KEY, body=run_request())

    control("PUT", "/_emulator/settings", {"sync_wait_ms": 1, "run_latency_ms": 400})
    call("create_run sync fallback 202", 202, Run, create_run, client=CLIENT,
         body=run_request(mode=RunMode.SYNC))
    control("PUT", "/_emulator/settings", {"sync_wait_ms": 2000, "run_latency_ms": 50})

    if created is not None:
        call("get_run 200", 200, Run, get_run, client=CLIENT, run_id=created.run_id)
        call("get_run_usage 200", 200, RunUsage, get_run_usage, client=CLIENT,
             run_id=created.run_id)
        wait_for_terminal(created.run_id)
    call("get_run unknown 404", 404, Error, get_run, client=CLIENT, run_id=str(uuid.uuid4()))
    call("list_runs 200", 200, list, list_runs, client=CLIENT, limit=10)

    control("POST", "/_emulator/outcomes", {"outcome": "fail", "error_code": "run_request_failed"})
    failed = call("create_run to fail 202", 202, Run, create_run, client=CLIENT, body=run_request())
    if failed is not None:
        wait_for_terminal(failed.run_id)

    schema = call("get_kit_schema_by_query 200", 200, KitSchema, get_kit_schema_by_query,
                  client=CLIENT, kit_code="A1B2C3D4")
    if schema is not None:
        call("get_kit_schema 200", 200, KitSchema, get_kit_schema, client=CLIENT,
             kit_id=schema.kit_id)
        ids = ",".join(b.brick_id for b in schema.bricks if isinstance(b.brick_id, str))
        bricks = call("get_bricks 200", 200, list, get_bricks, client=CLIENT, ids=ids)
        if bricks is not None and not all(isinstance(b, BrickMetadata) for b in bricks):
            RESULTS["failed"].append("get_bricks: items are not BrickMetadata")
    call("get_kit_schema_by_query none 400", 400, Error, get_kit_schema_by_query, client=CLIENT)
    call("get_bricks 101 ids 400", 400, Error, get_bricks, client=CLIENT,
         ids=",".join(str(uuid.uuid4()) for _ in range(101)))

    hook = call("upsert_webhook 201", 201, Webhook, upsert_webhook, client=CLIENT,
                body=UpsertWebhookRequest(url="https://hooks.example.com/semarize"))
    call("upsert_webhook private address 422", 422, Error, upsert_webhook, client=CLIENT,
         body=UpsertWebhookRequest(url="https://127.0.0.1/hook"))
    endpoints = call("list_webhooks 200", 200, list, list_webhooks, client=CLIENT)
    if endpoints is not None and not all(isinstance(e, WebhookEndpoint) for e in endpoints):
        RESULTS["failed"].append("list_webhooks: items are not WebhookEndpoint")
    if hook is not None:
        call("delete_webhook 204", 204, None, delete_webhook, client=CLIENT, id=hook.id)
        call("delete_webhook again 404", 404, Error, delete_webhook, client=CLIENT, id=hook.id)

    # Injected answers: each parses as the Error envelope of its declared status range.
    for operation, status, invoke in [
        ("create_run", 429, lambda: call("create_run injected 429", 429, Error, create_run,
                                         client=CLIENT, body=run_request())),
        ("get_run", 502, lambda: call("get_run injected 502", 502, Error, get_run,
                                      client=CLIENT, run_id=str(uuid.uuid4()))),
        ("list_runs", 503, lambda: call("list_runs injected 503", 503, Error, list_runs,
                                        client=CLIENT)),
        ("get_kit_schema_by_query", 504, lambda: call(
            "get_kit_schema_by_query injected 504", 504, Error, get_kit_schema_by_query,
            client=CLIENT, kit_code="A1B2C3D4")),
        ("create_run", 503, lambda: call("create_run injected 503", 503, Error, create_run,
                                         client=CLIENT, body=run_request())),
        ("list_webhooks", 502, lambda: call("list_webhooks injected 502", 502, Error,
                                            list_webhooks, client=CLIENT)),
    ]:
        control("POST", "/_emulator/faults", {"operation": operation, "count": 1,
                                             "kind": "status", "status": status,
                                             "retry_after": 1})
        invoke()

    print(f"generated Python client: {RESULTS['calls']} calls, "
          f"{len(RESULTS['failed'])} it could not parse")
    for failure in RESULTS["failed"]:
        print(f"  FAILED {failure}")
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
