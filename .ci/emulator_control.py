"""The emulator's control surface (outside /v1, no API key), for the CI scripts."""

import json
import urllib.request


def control(base_url, method, path, body=None):
    """Sends one control request, e.g. control(url, "POST", "/_emulator/faults", {...})."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        base_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()
