"""``python -m hack.cluster up/down`` (what make cluster-up/down run) leaves nothing behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hack.cluster import Binaries
from hack.cluster.processes import group_alive, port_is_open

REPO_ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "hack.cluster", *args, "--state-dir", str(state_dir)]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=400)


@pytest.mark.k8s
@pytest.mark.timeout(600)
def test_cli_up_then_down_leaves_no_process_or_port(tmp_path: Path) -> None:
    Binaries.locate()
    state_dir = tmp_path / "cluster"
    up = _cli("up", state_dir=state_dir)
    try:
        assert up.returncode == 0, up.stderr
        assert f"export KUBECONFIG={state_dir / 'kubeconfig' / 'admin.yaml'}" in up.stdout
        state = json.loads((state_dir / "state.json").read_text())
        pgids: dict[str, int] = state["pgids"]
        assert set(pgids) == {"etcd", "kube-apiserver", "kube-controller-manager"}
        assert all(group_alive(pgid) for pgid in pgids.values())
        status = _cli("status", state_dir=state_dir)
        assert "running: etcd, kube-apiserver, kube-controller-manager" in status.stdout
    finally:
        down = _cli("down", state_dir=state_dir)
    assert down.returncode == 0, down.stderr
    assert not (state_dir / "state.json").exists()
    assert [name for name, pgid in pgids.items() if group_alive(pgid)] == []
    assert [port for port in state["ports"].values() if port_is_open(port)] == []


def test_down_without_a_cluster_is_a_no_op(tmp_path: Path) -> None:
    done = _cli("down", state_dir=tmp_path)
    assert done.returncode == 0
    assert "no cluster recorded" in done.stdout
