"""``make run`` / ``make down`` themselves: start, one request through the SDK, down, nothing left.

Runs its own cluster (what ``make run`` does) with free ports, so it never
meets a developer's ``make run`` on the default ports.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from hack.checkout import REPO_ROOT
from hack.cluster.processes import port_is_open
from hack.system.launcher import stop_recorded
from tests.fixtures.system import MESSAGES, sdk, skip_on_kind

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(300)]


def make(*args: str) -> subprocess.CompletedProcess[str]:
    command = ["make", "--no-print-directory", "-o", ".venv/.installed", *args]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240, env=os.environ)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@skip_on_kind("make run/make down start and stop their own local control plane; they are not about a kind cluster")
def test_make_run_then_make_down_leaves_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "system"
    flags = "RUN_FLAGS=--free-ports --proxy-ports 0,0 --namespace demo"
    try:
        up = make("run", f"SYSTEM_DIR={run_dir}", flags)
        assert up.returncode == 0, up.stdout + up.stderr
        state = json.loads((run_dir / "state.json").read_text())
        cluster = json.loads((run_dir / "cluster" / "state.json").read_text())
        for hint in ("kubectl get llmproviders -n demo", "kubectl get rp -n demo", "/_mock/faults", "from openai"):
            assert hint in up.stdout
        proxy = re.search(r"base_url=\"(http://127\.0\.0\.1:\d+)/v1\"", up.stdout)
        assert proxy is not None and proxy.group(1) in state["proxies"]
        reply = sdk(proxy.group(1)).chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert reply.choices[0].message.content

        down = make("down", f"SYSTEM_DIR={run_dir}")
        assert down.returncode == 0, down.stdout + down.stderr
    finally:
        stop_recorded(run_dir)  # only if the test failed half-way
    pids = [*state["pids"].values(), *cluster["pgids"].values()]
    assert len(pids) == 8 + 3  # 3 mocks, 2 operators, a state store, 2 proxies; etcd, apiserver, controller manager
    assert [pid for pid in pids if alive(pid)] == []
    ports = [int(url.rsplit(":", 1)[1]) for url in [*state["proxies"], *state["mocks"].values()]]
    ports += list(cluster["ports"].values())
    assert [port for port in ports if port_is_open(port)] == []
    assert not (run_dir / "state.json").exists()
