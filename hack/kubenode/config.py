"""Configuration files and command lines of the node's components (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

NODE_NAME = "switchboard-node"
BRIDGE = "sbnode0"
POD_SUBNET = "10.213.0.0/24"
GATEWAY = "10.213.0.1"
# Cluster DNS: CoreDNS as a host process bound to the bridge address (kubelet's clusterDNS),
# so pods reach it directly, with no Service and no image of its own.
CLUSTER_DNS = GATEWAY
CLUSTER_DOMAIN = "cluster.local"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"  # what containerd 1.6 asks for the sandbox; built locally
RUNC = "/usr/sbin/runc"
CNI_BIN_DIR = "/usr/lib/cni"
# containerd's sockets: a short fixed path (unix socket paths stop at 108 bytes; one node per host).
RUN_DIR = Path("/run/switchboard-node")


@dataclass(frozen=True)
class NodeLayout:
    """Every path of one node under its state directory."""

    root: Path

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    @property
    def containerd_socket(self) -> Path:
        return RUN_DIR / "containerd.sock"


@dataclass(frozen=True)
class NodePorts:
    kubelet: int
    kubelet_healthz: int
    proxy_healthz: int
    proxy_metrics: int
    scheduler: int
    dns_health: int
    dns_ready: int


def containerd_config(layout: NodeLayout) -> str:
    """containerd 1.6 (version 2 config): its own root, state and socket; runc; our CNI config."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    lines = [
        "version = 2",
        f'root = "{layout.path("containerd", "root")}"',
        f'state = "{layout.path("containerd", "state")}"',
        "[grpc]",
        f'  address = "{layout.containerd_socket}"',
        "[ttrpc]",
        f'  address = "{RUN_DIR / "containerd.sock.ttrpc"}"',
        "[debug]",
        f'  address = "{RUN_DIR / "debug.sock"}"',
        "[metrics]",
        '  address = ""',
        f"[{cri}]",
        f'  sandbox_image = "{PAUSE_IMAGE}"',
        "  restrict_oom_score_adj = true",  # required when containerd itself may not lower oom_score_adj
        "  enable_selinux = false",
        f"[{cri}.containerd]",
        '  snapshotter = "overlayfs"',
        '  default_runtime_name = "runc"',
        f"[{cri}.containerd.runtimes.runc]",
        '  runtime_type = "io.containerd.runc.v2"',
        f"[{cri}.containerd.runtimes.runc.options]",
        "  SystemdCgroup = false",
        f'  BinaryName = "{RUNC}"',
        f"[{cri}.cni]",
        f'  bin_dir = "{CNI_BIN_DIR}"',
        f'  conf_dir = "{layout.path("cni")}"',
        "  max_conf_num = 1",
    ]
    return "\n".join(lines) + "\n"


def cni_conflist() -> str:
    """A bridge of our own with host-local addresses; no masquerade (pods only talk on the node)."""
    config = {
        "cniVersion": "0.4.0",
        "name": "switchboard-node",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "isDefaultGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_SUBNET, "gateway": GATEWAY}]]},
            },
            {"type": "loopback"},
        ],
    }
    return json.dumps(config, indent=2) + "\n"


def kubelet_config(layout: NodeLayout, ports: NodePorts, ca_file: Path, serving: tuple[Path, Path]) -> str:
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": GATEWAY,
        "port": ports.kubelet,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": ports.kubelet_healthz,
        "tlsCertFile": str(serving[0]),
        "tlsPrivateKeyFile": str(serving[1]),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(ca_file)},
        },
        "authorization": {"mode": "AlwaysAllow"},  # only clients with a certificate from our CA get here
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,  # this kernel mounts cgroup v1 hierarchies
        "failSwapOn": False,
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [CLUSTER_DNS],
        "resolvConf": str(layout.path("resolv.conf")),
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "podLogsDir": str(layout.path("pod-logs")),
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "serializeImagePulls": False,
        "protectKernelDefaults": False,
        "rotateCertificates": False,
        "maxPods": 60,
        "syncFrequency": "5s",
        "fileCheckFrequency": "5s",
    }
    return yaml.safe_dump(config)


def kube_proxy_config(ports: NodePorts, kubeconfig: Path) -> str:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "clusterCIDR": POD_SUBNET,
        "bindAddress": "127.0.0.1",
        "healthzBindAddress": f"127.0.0.1:{ports.proxy_healthz}",
        "metricsBindAddress": f"127.0.0.1:{ports.proxy_metrics}",
        "nodePortAddresses": [f"{GATEWAY}/32"],  # NodePorts only on our bridge address, never on eth0
        "conntrack": {"maxPerCore": 0},  # leave the host's conntrack sysctls alone
        "iptables": {"syncPeriod": "5s", "minSyncPeriod": "0s"},
    }
    return yaml.safe_dump(config)


def corefile(ports: NodePorts, kubeconfig: Path) -> str:
    """Service and pod records of the cluster, answered on the bridge address only.

    Names outside the cluster domain get REFUSED: pods on this node talk to nothing
    beyond it. No cache, so a Service created a moment ago resolves at once.
    """
    return f"""{CLUSTER_DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {CLUSTER_DNS}
    errors
    health 127.0.0.1:{ports.dns_health}
    ready 127.0.0.1:{ports.dns_ready}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} coredns
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
}}
"""


def coredns_rbac() -> list[dict[str, Any]]:
    """What CoreDNS's kubernetes plugin reads (the upstream ``system:coredns`` role), for user ``system:coredns``."""
    name = "system:coredns"
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["endpoints", "services", "pods", "namespaces"],
                "verbs": ["list", "watch"],
            },
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}],
    }
    return [role, binding]


def coredns_command(coredns: Path, layout: NodeLayout) -> list[str]:
    return [str(coredns), "-conf", str(layout.path("Corefile"))]


def containerd_command(layout: NodeLayout) -> list[str]:
    return ["containerd", "--config", str(layout.path("containerd.toml"))]


def kubelet_command(kubelet: Path, layout: NodeLayout) -> list[str]:
    return [
        str(kubelet), f"--config={layout.path('kubelet.yaml')}", f"--kubeconfig={layout.path('kubelet.kubeconfig')}",
        f"--root-dir={layout.path('kubelet')}", f"--hostname-override={NODE_NAME}", f"--node-ip={GATEWAY}", "--v=1",
    ]  # fmt: skip


def kube_proxy_command(kube_proxy: Path, layout: NodeLayout) -> list[str]:
    return [str(kube_proxy), f"--config={layout.path('kube-proxy.yaml')}", "--v=1"]


def scheduler_command(scheduler: Path, layout: NodeLayout, ports: NodePorts) -> list[str]:
    kubeconfig = layout.path("scheduler.kubeconfig")
    return [
        str(scheduler), f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}", "--bind-address=127.0.0.1", f"--secure-port={ports.scheduler}",
        "--leader-elect=false", "--v=1",
    ]  # fmt: skip
