"""``switchboard-operator --log-format json``: kopf's JSON lines (one object per line, naming the object)."""

import json
import subprocess

from hack.checkout import checkout_env, python_module


def test_json_log_lines() -> None:
    result = subprocess.run(
        python_module("switchboard.operator.cli", "--log-format", "json", "--kubeconfig", "/nonexistent/kubeconfig"),
        capture_output=True,
        text=True,
        env=checkout_env(),
        timeout=60,
    )
    first = json.loads(result.stderr.splitlines()[0])
    assert first["message"].startswith("starting as ") and first["severity"] == "info"
