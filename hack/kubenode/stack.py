"""A control plane whose API server pods can reach, plus one node: what ``make node-up`` runs.

Order matters: the bridge exists before the API server binds its gateway address;
teardown runs in reverse and ends with a sweep, so a failed start leaves nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hack.cluster import Binaries, KubeCluster, attach_cluster, start_cluster
from hack.cluster.binaries import cache_dir
from hack.images.base import ensure_base, spec_from_env
from hack.images.build import COMPONENTS, ImageNames, build_images
from hack.kubenode import host
from hack.kubenode.config import GATEWAY
from hack.kubenode.node import KubeNode

IMAGES_FILE = "images.json"  # component -> image reference the node holds, for attach_stack
# A running stack the pod suite attaches to instead of starting its own (``make test``: hack/suite.py).
NODE_DIR_ENV = "SWITCHBOARD_NODE_DIR"
LOCK = Path("/run/lock/switchboard-node.lock")  # one node per host: fixed bridge and gateway address


@dataclass(frozen=True)
class NodeStack:
    cluster: KubeCluster
    node: KubeNode
    images: dict[str, str]  # component -> image reference, present in the node's containerd

    def stop(self) -> None:
        try:
            self.node.stop()
        finally:
            self.cluster.stop()
            host.sweep(self.node.layout.root, set())


def start_stack(
    state_dir: Path, *, work_dir: Path, names: ImageNames, die_with_parent: bool = False, build: bool = True
) -> NodeStack:
    """``build=False``: the images ``names`` were built already (by this run), only imported into the node."""
    state_dir.mkdir(parents=True, exist_ok=True)
    base = ensure_base(spec_from_env(), work_dir=work_dir)
    if build:
        images = build_images(base=base, names=names, work_dir=work_dir, cache=cache_dir())
    else:
        images = {component: names.reference(component) for component in COMPONENTS}
    (state_dir / IMAGES_FILE).write_text(json.dumps(images) + "\n")
    host.create_bridge()
    try:
        cluster = start_cluster(
            state_dir / "cluster", Binaries.locate(), die_with_parent=die_with_parent, address=GATEWAY
        )
    except BaseException:
        host.delete_bridge()
        raise
    node = KubeNode(state_dir / "node", cluster, die_with_parent=die_with_parent)
    try:
        node.start(base_image=base, images=list(images.values()), work_dir=work_dir)
    except BaseException:
        cluster.stop()
        host.delete_bridge()
        raise
    return NodeStack(cluster, node, images)


def attach_stack(state_dir: Path) -> NodeStack:
    """Handle on a stack ``start_stack`` started in another process (``make node-up``, ``make test``)."""
    cluster = attach_cluster(state_dir / "cluster", Binaries.locate())
    images = json.loads((state_dir / IMAGES_FILE).read_text())
    return NodeStack(cluster, KubeNode.attach(state_dir / "node", cluster), images)


def stop_stack(state_dir: Path) -> None:
    """Stop what ``start_stack`` started in another process; safe to repeat, and after a crash."""
    cluster_dir, node_dir = state_dir / "cluster", state_dir / "node"
    cluster: KubeCluster | None = None
    with contextlib.suppress(FileNotFoundError):
        cluster = attach_cluster(cluster_dir, Binaries.locate())
    if cluster is not None:
        with contextlib.suppress(Exception):
            KubeNode.attach(node_dir, cluster).stop()
        cluster.stop()
    host.sweep(node_dir.resolve(), set())


@contextlib.contextmanager
def node_lock() -> Iterator[None]:
    """Held for a node's whole life; a second run on the same host waits for the first."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def running_stack(state_dir: Path, *, work_dir: Path, names: ImageNames) -> Iterator[NodeStack]:
    stack = start_stack(state_dir, work_dir=work_dir, names=names, die_with_parent=True)
    try:
        yield stack
    finally:
        stack.stop()
