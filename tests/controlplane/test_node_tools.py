"""The node binaries' Go module: the same Kubernetes release as the control plane, its own stamp."""

from hack.install_tools import CONTROL_PLANE, NODE, go_sources_digest, kubernetes_version


def test_node_module_pins_the_control_plane_kubernetes_release() -> None:
    control_plane = kubernetes_version((CONTROL_PLANE.module_dir / "go.mod").read_text())
    assert kubernetes_version((NODE.module_dir / "go.mod").read_text()) == control_plane


def test_node_binaries_never_invalidate_the_control_plane_build() -> None:
    assert NODE.stamp_name != CONTROL_PLANE.stamp_name
    assert NODE.module_dir != CONTROL_PLANE.module_dir
    assert go_sources_digest(NODE.module_dir) != go_sources_digest(CONTROL_PLANE.module_dir)
    assert {path.name for path in (NODE.module_dir / "cmd").iterdir()} == set(NODE.binaries)
