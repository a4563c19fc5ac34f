"""Command lines of etcd, kube-apiserver and kube-controller-manager (pure).

The flags follow envtest's choices: loopback only, one throwaway CA, RBAC on,
ServiceAccount tokens signed by our key. Kept pure so a restart reuses exactly
the same ports, certificates and etcd data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from hack.cluster.binaries import Binaries
from hack.cluster.pki import Pki

SERVICE_CIDR = "10.0.0.0/24"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
# Garbage collection, namespace deletion, default ServiceAccounts and the
# workload controllers a Helm install exercises. No scheduler or kubelet exist,
# so Pods never run; the e2e tests run the operator and proxies as local processes.
CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "root-ca-certificate-publisher-controller",
    "deployment-controller",
    "replicaset-controller",
    "clusterrole-aggregation-controller",
)


# What a real node needs on top: Service endpoints, node heartbeats and eviction, pod
# garbage collection, PodDisruptionBudgets, the workload controllers a chart may use.
NODE_CONTROLLERS = (
    "endpoints-controller",
    "endpointslice-controller",
    "endpointslice-mirroring-controller",
    "node-lifecycle-controller",
    "taint-eviction-controller",
    "pod-garbage-collector-controller",
    "disruption-controller",
    "ttl-controller",
    "daemonset-controller",
    "statefulset-controller",
    "job-controller",
    "service-cidr-controller",
    "horizontal-pod-autoscaler-controller",  # the chart's proxy HPA holds the fleet at minReplicas
)
LOOPBACK = "127.0.0.1"
KUBERNETES_SERVICE_IP = "10.0.0.1"


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Layout:
    """Every path of one cluster under its state directory."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def etcd_data(self) -> Path:
        return self.root / "etcd"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def kubeconfigs(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    def kubeconfig(self, identity: str) -> Path:
        return self.kubeconfigs / f"{identity}.yaml"


def etcd_command(binaries: Binaries, layout: Layout, ports: Ports) -> list[str]:
    client = f"http://127.0.0.1:{ports.etcd_client}"
    peer = f"http://127.0.0.1:{ports.etcd_peer}"
    return [
        str(binaries.etcd),
        "--name=switchboard",
        f"--data-dir={layout.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=switchboard={peer}",
        "--unsafe-no-fsync=true",
        "--log-level=warn",
    ]


def apiserver_command(binaries: Binaries, layout: Layout, pki: Pki, ports: Ports, address: str = LOOPBACK) -> list[str]:
    """Loopback only by default; with a node, ``address`` is its bridge gateway, advertised to pods.

    Then the ``kubernetes`` Service gets a real endpoint (lease reconciler) and the
    API server authenticates to kubelets (logs, exec) with the admin client certificate.
    """
    if address == LOOPBACK:
        node_flags = ["--endpoint-reconciler-type=none"]  # the kubernetes Service cannot point at loopback
    else:
        node_flags = [
            f"--kubelet-client-certificate={pki.admin.cert}",
            f"--kubelet-client-key={pki.admin.key}",
            "--kubelet-preferred-address-types=InternalIP",  # the node's name is in no DNS
        ]
    return [
        str(binaries.kube_apiserver),
        f"--etcd-servers=http://127.0.0.1:{ports.etcd_client}",
        f"--bind-address={address}",
        f"--advertise-address={address}",
        f"--secure-port={ports.apiserver}",
        f"--cert-dir={layout.pki}",
        f"--tls-cert-file={pki.serving.cert}",
        f"--tls-private-key-file={pki.serving.key}",
        f"--client-ca-file={pki.ca_cert}",
        f"--service-account-issuer={SA_ISSUER}",
        f"--service-account-key-file={pki.sa_public}",
        f"--service-account-signing-key-file={pki.sa_private}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--authorization-mode=Node,RBAC",
        "--allow-privileged=true",
        *node_flags,
        "--shutdown-watch-termination-grace-period=2s",  # end watches on SIGTERM, so restarts are quick
        "--v=1",
    ]


def controller_manager_command(
    binaries: Binaries, layout: Layout, pki: Pki, ports: Ports, *, with_node: bool = False
) -> list[str]:
    kubeconfig = layout.kubeconfig("controller-manager")
    controllers = (*CONTROLLERS, *NODE_CONTROLLERS) if with_node else CONTROLLERS
    return [
        str(binaries.kube_controller_manager),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={ports.controller_manager}",
        f"--cert-dir={layout.root / 'controller-manager-serving'}",
        f"--controllers={','.join(controllers)}",
        f"--root-ca-file={pki.ca_cert}",
        f"--service-account-private-key-file={pki.sa_private}",
        "--leader-elect=false",
        "--v=1",
    ]
