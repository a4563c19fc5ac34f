"""A local Kubernetes control plane without containers (envtest-style).

``start_cluster`` / ``attach_cluster`` return a ``KubeCluster`` handle;
``python -m hack.cluster up|down|restart-apiserver|status`` drives it from make.
"""

from hack.cluster.binaries import Binaries, ToolsMissingError
from hack.cluster.controlplane import ControlPlane, ControlPlaneError
from hack.cluster.session import IdentityName, KubeCluster, attach_cluster, start_cluster

__all__ = [
    "Binaries",
    "ControlPlane",
    "ControlPlaneError",
    "IdentityName",
    "KubeCluster",
    "ToolsMissingError",
    "attach_cluster",
    "start_cluster",
]
