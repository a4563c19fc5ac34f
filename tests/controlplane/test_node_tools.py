"""The node binaries' Go module: the same Kubernetes release as the control plane, its own stamp."""

import re

from hack.install_tools import CONTROL_PLANE, COREDNS, NODE, go_sources_digest, kubernetes_version


def test_node_module_pins_the_control_plane_kubernetes_release() -> None:
    control_plane = kubernetes_version((CONTROL_PLANE.module_dir / "go.mod").read_text())
    assert kubernetes_version((NODE.module_dir / "go.mod").read_text()) == control_plane


def test_node_binaries_never_invalidate_the_control_plane_build() -> None:
    assert NODE.stamp_name != CONTROL_PLANE.stamp_name
    assert NODE.module_dir != CONTROL_PLANE.module_dir
    assert go_sources_digest(NODE.module_dir) != go_sources_digest(CONTROL_PLANE.module_dir)
    assert {path.name for path in (NODE.module_dir / "cmd").iterdir()} == set(NODE.binaries)


def test_coredns_builds_alone_against_the_control_planes_client_go() -> None:
    release = kubernetes_version((CONTROL_PLANE.module_dir / "go.mod").read_text())
    client_go = re.search(r"^\s*k8s\.io/client-go (v\S+)", (COREDNS.module_dir / "go.mod").read_text(), re.MULTILINE)
    assert client_go is not None and client_go.group(1) == "v0." + release.removeprefix("v1.")
    assert COREDNS.stamp_name not in (NODE.stamp_name, CONTROL_PLANE.stamp_name)
    assert {path.name for path in (COREDNS.module_dir / "cmd").iterdir()} == set(COREDNS.binaries)
