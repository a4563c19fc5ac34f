"""``make node-up`` / ``make node-down`` themselves: a Ready node, then nothing left on the host."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hack.checkout import REPO_ROOT
from hack.cluster.processes import wait_until
from hack.kubenode.host import footprint, network_namespaces
from tests.fixtures.kubenode import LOCK

pytestmark = [pytest.mark.k8s, pytest.mark.node, pytest.mark.timeout(900)]


def make(*args: str) -> subprocess.CompletedProcess[str]:
    command = ["make", "--no-print-directory", "-o", ".venv/.installed", *args]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=800, env=os.environ)


def test_node_up_then_down_leaves_nothing(tmp_path: Path) -> None:
    state_dir = tmp_path / "node"
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        netns_before = network_namespaces()
        try:
            up = make("node-up", f"NODE_DIR={state_dir}")
            assert up.returncode == 0, up.stderr[-3000:]
            kubeconfig = up.stdout.strip().splitlines()[-1].removeprefix("export KUBECONFIG=")
            running = footprint(state_dir)
            assert running["bridge"] and running["processes"] and running["iptables"], running
            env = {**os.environ, "KUBECONFIG": kubeconfig}
            kubectl = str(Path(sys.executable).parent / "kubectl")
            run = [kubectl, "run", "sleeper", "--image=ghcr.io/switchboard-dev/switchboard-proxy:dev"]
            run += ["--image-pull-policy=Never", "--command", "--", "sleep", "3600"]
            subprocess.run(run, check=True, capture_output=True, env=env)
            phase = [kubectl, "get", "pod", "sleeper", "-o", "jsonpath={.status.phase}"]
            assert wait_until(
                lambda: subprocess.run(phase, capture_output=True, text=True, env=env).stdout == "Running", 120
            )
            assert {name for name in network_namespaces() - netns_before if name.startswith("cni-")}, "pod netns"
        finally:
            down = make("node-down", f"NODE_DIR={state_dir}")
        assert down.returncode == 0, down.stderr[-3000:]
        assert footprint(state_dir) == {"processes": [], "mounts": [], "cgroups": [], "bridge": [], "iptables": []}
        assert {name for name in network_namespaces() - netns_before if name.startswith("cni-")} == set()
