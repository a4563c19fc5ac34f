"""``python -m hack.cluster up/down`` (what make cluster-up/down run) leaves nothing behind."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hack.checkout import checkout_env, python_module
from hack.cluster import Binaries, ControlPlane, processes
from hack.cluster.processes import group_alive, port_is_open, wait_until


def _cli(*args: str, state_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI of this checkout as make does (``python -m hack.cluster``)."""
    command = python_module("hack.cluster", *args, "--state-dir", str(state_dir))
    return subprocess.run(command, capture_output=True, text=True, env=checkout_env(), timeout=400)


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


CRASHING_OWNER = """
import json, sys, time
from pathlib import Path
from hack.checkout import checkout_env, python_module
from hack.cluster import Binaries, start_cluster
cluster = start_cluster(Path(sys.argv[1]), Binaries.locate(), die_with_parent=True)
print(json.dumps(json.loads((Path(sys.argv[1]) / "state.json").read_text())), flush=True)
time.sleep(600)
"""


@pytest.mark.k8s
@pytest.mark.timeout(600)
def test_components_die_when_the_process_that_started_them_is_killed(tmp_path: Path) -> None:
    Binaries.locate()
    owner = subprocess.Popen(
        [sys.executable, "-c", CRASHING_OWNER, str(tmp_path / "cluster")],
        env=checkout_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        state = json.loads(owner.stdout.readline())
    finally:
        owner.kill()
        owner.wait(timeout=30)
    pgids: dict[str, int] = state["pgids"]
    assert wait_until(lambda: not any(group_alive(pgid) for pgid in pgids.values()), timeout=60)
    assert wait_until(lambda: not any(port_is_open(port) for port in state["ports"].values()), timeout=30)


@pytest.mark.k8s
@pytest.mark.timeout(600)
def test_start_picks_new_ports_when_one_is_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        picks = iter([taken])
        handed_out: list[int] = []
        real_free_port = processes.free_port

        def first_taken_then_free() -> int:
            handed_out.append(next(picks, None) or real_free_port())
            return handed_out[-1]

        monkeypatch.setattr(processes, "free_port", first_taken_then_free)
        plane = ControlPlane(tmp_path / "cluster", Binaries.locate(), die_with_parent=True)
        plane.start()
        try:
            assert handed_out[0] == taken
            assert len(handed_out) == 8  # the first set of four was abandoned
            assert taken not in plane.ports.as_dict().values()
            assert port_is_open(plane.ports.apiserver)
        finally:
            plane.stop()
