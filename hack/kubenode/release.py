"""The chart, installed on the local node with the images built here: what the pod suite runs against.

Values stay the chart's defaults except where the images come from (repository,
tag, ``pullPolicy: Never``: no registry exists); callers add their own ``--set``s
(``helm upgrade`` with changed values reuses this).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from hack.cluster import KubeCluster
from hack.cluster.binaries import bin_dir
from hack.system.kind_manifests import KindTarget

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "switchboard"
# Not the names the local control plane already gave the chart's RBAC (hack/cluster/identities:
# release "switchboard" in "switchboard-system"), which Helm would refuse to adopt.
RELEASE_NAME = "sb"
RELEASE_NAMESPACE = "switchboard"
INSTALL_TIMEOUT = 300
PROXY_REPLICAS = 2  # the chart's proxy.autoscaling.minReplicas


def image_values(images: dict[str, str]) -> list[str]:
    """``--set`` arguments pointing both workloads at local images, never pulled (pure)."""
    values: list[str] = []
    for component in ("operator", "proxy"):
        repository, _, tag = images[component].rpartition(":")
        values += [f"{component}.image.repository={repository}", f"{component}.image.tag={tag}"]
        values.append(f"{component}.image.pullPolicy=Never")
    return [argument for value in values for argument in ("--set", value)]


def helm_argv(
    cluster_kubeconfig: Path, images: dict[str, str], extra: Sequence[str] = (), *, wait: bool = True
) -> list[str]:
    """``helm upgrade --install`` of the release (pure)."""
    return [
        str(bin_dir() / "helm"), "upgrade", "--install", RELEASE_NAME, str(CHART),
        f"--kubeconfig={cluster_kubeconfig}", "--namespace", RELEASE_NAMESPACE, "--create-namespace",
        *(["--wait", f"--timeout={INSTALL_TIMEOUT}s"] if wait else []), *image_values(images), *extra,
    ]  # fmt: skip


def install_release(cluster: KubeCluster, images: dict[str, str], extra: Sequence[str] = ()) -> KindTarget:
    """Install (or upgrade) the release and wait for its Deployments; the target the e2e backend uses."""
    argv = helm_argv(cluster.admin_kubeconfig, images, extra)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=INSTALL_TIMEOUT + 60)
    if done.returncode != 0:
        pods = cluster.kubectl("describe", "pods", "-n", RELEASE_NAMESPACE, check=False).stdout
        raise RuntimeError(f"helm {' '.join(argv[1:3])} failed: {done.stderr.strip()}\n{pods[-6000:]}")
    wait_for_proxies(cluster)
    return release_target(cluster)


def wait_for_proxies(cluster: KubeCluster, replicas: int = PROXY_REPLICAS) -> None:
    """The proxy Deployment holds no replica count of its own (its HPA sets it): wait until ``replicas`` are Ready."""
    deployment = f"deployment/{RELEASE_NAME}-proxy"
    cluster.kubectl(
        "wait", deployment, "-n", RELEASE_NAMESPACE, f"--for=jsonpath={{.status.readyReplicas}}={replicas}",
        f"--timeout={INSTALL_TIMEOUT}s", timeout=INSTALL_TIMEOUT + 10,
    )  # fmt: skip
    cluster.kubectl(
        "rollout", "status", deployment, "-n", RELEASE_NAMESPACE, f"--timeout={INSTALL_TIMEOUT}s",
        timeout=INSTALL_TIMEOUT + 10,
    )  # fmt: skip


def release_target(cluster: KubeCluster) -> KindTarget:
    return KindTarget(
        context="admin",
        release_namespace=RELEASE_NAMESPACE,
        release_name=RELEASE_NAME,
        kubeconfig=str(cluster.admin_kubeconfig),
        direct=True,
    )
