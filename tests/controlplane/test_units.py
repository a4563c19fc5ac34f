"""Pure parts of the control plane: kubeconfig rendering, flags, tool lookup."""

from __future__ import annotations

from pathlib import Path

import pytest

from hack.cluster.binaries import Binaries, ToolsMissingError
from hack.cluster.components import Layout, Ports, apiserver_command, etcd_command
from hack.cluster.kubeconfig import render_kubeconfig, write_kubeconfig
from hack.cluster.pki import create_pki


def test_kubeconfig_has_one_consistent_context(tmp_path: Path) -> None:
    config = render_kubeconfig("https://127.0.0.1:1", tmp_path / "ca.crt", "proxy", {"token": "t"})
    assert config["current-context"] == "proxy"
    (context,) = config["contexts"]
    assert context["context"] == {"cluster": config["clusters"][0]["name"], "user": "proxy"}
    assert config["users"] == [{"name": "proxy", "user": {"token": "t"}}]


def test_kubeconfig_file_is_owner_only(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "k.yaml", render_kubeconfig("https://x", tmp_path, "u", {"token": "t"}))
    assert path.stat().st_mode & 0o777 == 0o600


def test_missing_tools_error_says_to_run_make_tools(tmp_path: Path) -> None:
    with pytest.raises(ToolsMissingError, match="make tools"):
        Binaries.locate({"SWITCHBOARD_CACHE": str(tmp_path)})


def test_commands_bind_loopback_ports_only(tmp_path: Path) -> None:
    binaries = Binaries(*(tmp_path / name for name in ("etcd", "api", "kcm", "kubectl", "helm")))
    ports = Ports(etcd_client=1001, etcd_peer=1002, apiserver=1003, controller_manager=1004)
    layout = Layout(tmp_path)
    etcd = etcd_command(binaries, layout, ports)
    assert "--listen-peer-urls=http://127.0.0.1:1002" in etcd
    apiserver = apiserver_command(binaries, layout, create_pki(layout.pki), ports)
    assert "--secure-port=1003" in apiserver
    assert "--bind-address=127.0.0.1" in apiserver
    assert "--authorization-mode=Node,RBAC" in apiserver
