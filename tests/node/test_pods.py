"""Pods on the real node: images from this machine, the API server through the ``kubernetes`` Service."""

from __future__ import annotations

import json

import pytest

from hack.cluster.processes import wait_until
from hack.kubenode.config import NODE_NAME
from hack.kubenode.stack import NodeStack

pytestmark = [pytest.mark.k8s, pytest.mark.node, pytest.mark.timeout(900)]

# In-cluster credentials exactly as a client library uses them: service-account token and
# CA from the projected volume, the Service address from the environment kubelet injects.
PROBE = """
import json, os, ssl, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount/"
context = ssl.create_default_context(cafile=sa + "ca.crt")
host = os.environ["KUBERNETES_SERVICE_HOST"] + ":" + os.environ["KUBERNETES_SERVICE_PORT"]
token = open(sa + "token").read()
request = urllib.request.Request(f"https://{host}/version", headers={"Authorization": "Bearer " + token})
print(json.dumps({"version": json.load(urllib.request.urlopen(request, context=context))["gitVersion"]}), flush=True)
import time; time.sleep(3600)
"""


def pod(name: str, image: str, command: list[str]) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": command,
                    "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False},
                }
            ],
        },
    }


def test_node_is_ready_with_the_control_plane_release(kube_node: NodeStack) -> None:
    node = json.loads(kube_node.cluster.kubectl("get", "node", NODE_NAME, "-o", "json").stdout)
    server = json.loads(kube_node.cluster.kubectl("version", "-o", "json").stdout)["serverVersion"]["gitVersion"]
    assert node["status"]["nodeInfo"]["kubeletVersion"] == server
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")


def test_pod_from_local_image_reaches_api_server_through_kubernetes_service(
    kube_node: NodeStack, kube_node_namespace: str
) -> None:
    cluster = kube_node.cluster
    manifest = pod("probe", kube_node.images["proxy"], ["python3", "-c", PROBE])
    cluster.kubectl("apply", "-n", kube_node_namespace, "-f", "-", input=json.dumps(manifest))

    def logs() -> str:
        return cluster.kubectl("logs", "probe", "-n", kube_node_namespace, check=False).stdout

    assert wait_until(lambda: "version" in logs(), 180, interval=1), cluster.kubectl(
        "describe", "pod", "probe", "-n", kube_node_namespace, check=False
    ).stdout
    server = json.loads(cluster.kubectl("version", "-o", "json").stdout)["serverVersion"]["gitVersion"]
    assert json.loads(logs().strip().splitlines()[-1]) == {"version": server}


@pytest.fixture(scope="module")
def kube_node_namespace(kube_node: NodeStack) -> str:
    name = "node-test"
    kube_node.cluster.kubectl("create", "namespace", name)
    return name


def test_pods_resolve_services_through_the_nodes_cluster_dns(kube_node: NodeStack, kube_node_namespace: str) -> None:
    cluster = kube_node.cluster
    script = (
        "import json, socket\n"
        "names = ['kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'kubernetes']\n"
        "found = {}\n"
        "for name in names:\n"
        "    try:\n"
        "        found[name] = socket.gethostbyname(name)\n"
        "    except OSError as error:\n"
        "        found[name] = type(error).__name__\n"
        "try:\n"
        "    found['missing'] = socket.gethostbyname('no-such-service.default.svc')\n"
        "except socket.gaierror:\n"
        "    found['missing'] = 'NXDOMAIN'\n"
        "print(json.dumps(found), flush=True)\n"
        "import time; time.sleep(3600)\n"
    )
    cluster.kubectl(
        "apply", "-n", kube_node_namespace, "-f", "-",
        input=json.dumps(pod("resolver", kube_node.images["proxy"], ["python3", "-c", script])),
    )  # fmt: skip

    def logs() -> str:
        return cluster.kubectl("logs", "resolver", "-n", kube_node_namespace, check=False).stdout

    assert wait_until(lambda: "missing" in logs(), 180, interval=1), cluster.kubectl(
        "describe", "pod", "resolver", "-n", kube_node_namespace, check=False
    ).stdout
    service_ip = cluster.kubectl("get", "svc", "kubernetes", "-n", "default", "-o", "jsonpath={.spec.clusterIP}").stdout
    found = json.loads(logs().strip().splitlines()[-1])
    assert found == {
        "kubernetes.default.svc": service_ip,
        "kubernetes.default.svc.cluster.local": service_ip,
        "kubernetes": "gaierror",  # not in the pod's namespace
        "missing": "NXDOMAIN",
    }
