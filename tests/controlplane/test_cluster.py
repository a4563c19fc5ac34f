"""The session cluster is a real Kubernetes: RBAC, garbage collection, restarts."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from hack.cluster import KubeCluster

pytestmark = pytest.mark.k8s

GC_TIMEOUT = 90.0


def _configmap(name: str, namespace: str, owner: dict[str, str] | None = None) -> str:
    metadata: dict[str, object] = {"name": name, "namespace": namespace}
    if owner is not None:
        metadata["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", **owner}]
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"k": "v"}})


def _exists(cluster: KubeCluster, *args: str) -> bool:
    done = cluster.kubectl("get", *args, "--ignore-not-found", "-o", "name", check=False)
    assert done.returncode == 0, done.stderr
    return bool(done.stdout.strip())


def test_cluster_answers_with_its_namespaces(kube_cluster: KubeCluster) -> None:
    names = kube_cluster.kubectl("get", "namespaces", "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
    assert {"default", "kube-system", kube_cluster.namespace} <= set(names)
    assert kube_cluster.server.startswith("https://127.0.0.1:")


def test_operator_identity_manages_configmaps_only_in_the_release_namespace(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    release = kube_cluster.namespace
    kube_cluster.kubectl("apply", "-f", "-", input=_configmap("rendered-probe", release), as_="operator")
    data = kube_cluster.kubectl("get", "configmap", "rendered-probe", "-n", release, "-o", "json", as_="operator")
    assert json.loads(data.stdout)["data"] == {"k": "v"}
    kube_cluster.kubectl("delete", "configmap", "rendered-probe", "-n", release, as_="operator")
    denied = kube_cluster.kubectl(
        "apply", "-f", "-", input=_configmap("rendered", kube_namespace), as_="operator", check=False
    )
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()


@pytest.mark.parametrize(
    "verb_and_resource",
    [
        ("create", "deployments"),
        ("delete", "secrets"),
        ("create", "clusterroles"),
        ("delete", "namespaces"),
        ("create", "secrets"),  # only in its own namespace, checked below
    ],
)
def test_operator_identity_is_denied_outside_its_rbac(
    kube_cluster: KubeCluster, kube_namespace: str, verb_and_resource: tuple[str, str]
) -> None:
    verb, resource = verb_and_resource
    done = kube_cluster.kubectl("auth", "can-i", verb, resource, "-n", kube_namespace, as_="operator", check=False)
    assert done.stdout.strip() == "no"


def test_operator_identity_updates_only_the_credentials_secret(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    create = ("create", "secret", "generic", "copied", "--from-literal=k=v")
    for namespace in (kube_namespace, kube_cluster.namespace):  # creating any Secret is denied
        denied = kube_cluster.kubectl(*create, "-n", namespace, as_="operator", check=False)
        assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    patch = (
        "patch",
        "secret",
        "-n",
        kube_cluster.namespace,
        "--type=merge",
        "-p",
        '{"metadata": {"labels": {"probe": null}}}',
    )
    kube_cluster.kubectl(*patch[:2], "switchboard-credentials", *patch[2:], as_="operator")  # created by the chart
    kube_cluster.kubectl("create", "secret", "generic", "other", "-n", kube_cluster.namespace, "--from-literal=k=v")
    try:
        denied = kube_cluster.kubectl(*patch[:2], "other", *patch[2:], as_="operator", check=False)
        assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    finally:
        kube_cluster.kubectl("delete", "secret", "other", "-n", kube_cluster.namespace)


def test_proxy_identity_reads_only_the_credentials_secret(kube_cluster: KubeCluster) -> None:
    ns = kube_cluster.namespace
    for name in ("switchboard-credentials", "unrelated-secret"):
        create = ("create", "secret", "generic", name, "-n", ns, "--from-literal=key=sk-test")
        manifest = kube_cluster.kubectl(*create, "--dry-run=client", "-o", "json").stdout
        kube_cluster.kubectl("apply", "-f", "-", input=manifest)
    allowed = kube_cluster.kubectl("get", "secret", "switchboard-credentials", "-n", ns, "-o", "name", as_="proxy")
    assert allowed.stdout.strip() == "secret/switchboard-credentials"
    # List (and so watch) is allowed only when narrowed to that one name.
    by_name = ("secrets", "-n", ns, "--field-selector=metadata.name=switchboard-credentials", "-o", "name")
    assert kube_cluster.kubectl("get", *by_name, as_="proxy").stdout.strip() == "secret/switchboard-credentials"
    for forbidden in (("secret", "unrelated-secret", "-n", ns), ("secrets", "-n", ns), ("secrets", "-n", "default")):
        denied = kube_cluster.kubectl("get", *forbidden, as_="proxy", check=False)
        assert denied.returncode != 0, forbidden
        assert "forbidden" in denied.stderr.lower()
    can_write = kube_cluster.kubectl("auth", "can-i", "create", "configmaps", "-n", ns, as_="proxy", check=False)
    assert can_write.stdout.strip() == "no"


def test_garbage_collector_deletes_owner_referenced_objects(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    kube_cluster.kubectl("apply", "-f", "-", input=_configmap("owner", kube_namespace))
    uid = kube_cluster.kubectl("get", "configmap", "owner", "-n", kube_namespace, "-o", "jsonpath={.metadata.uid}")
    owned = _configmap("owned", kube_namespace, {"name": "owner", "uid": uid.stdout.strip()})
    kube_cluster.kubectl("apply", "-f", "-", input=owned)
    assert _exists(kube_cluster, "configmap", "owned", "-n", kube_namespace)
    kube_cluster.kubectl("delete", "configmap", "owner", "-n", kube_namespace, "--cascade=background")
    deadline = time.monotonic() + GC_TIMEOUT
    while _exists(kube_cluster, "configmap", "owned", "-n", kube_namespace):
        assert time.monotonic() < deadline, "garbage collector did not delete the owned ConfigMap"
        time.sleep(0.5)


def test_restart_apiserver_keeps_data_and_tokens(kube_cluster: KubeCluster) -> None:
    release = kube_cluster.namespace  # where the operator identity may read ConfigMaps
    kube_cluster.kubectl("apply", "-f", "-", input=_configmap("survivor", release))
    try:
        kube_cluster.restart_apiserver()
        got = kube_cluster.kubectl("get", "configmap", "survivor", "-n", release, "-o", "name", as_="operator")
        assert got.stdout.strip() == "configmap/survivor"
    finally:
        kube_cluster.kubectl("delete", "configmap", "survivor", "-n", release, check=False)


def test_apiserver_outage_refuses_clients_then_recovers(kube_cluster: KubeCluster) -> None:
    kube_cluster.stop_apiserver()
    try:
        down = kube_cluster.kubectl("get", "namespaces", "--request-timeout=5s", check=False)
        assert down.returncode != 0
        assert "refused" in down.stderr
    finally:
        kube_cluster.start_apiserver()
    assert kube_cluster.kubectl("get", "namespace", kube_cluster.namespace, "-o", "name").stdout.strip()


def test_kubectl_helper_raises_with_stderr(kube_cluster: KubeCluster) -> None:
    with pytest.raises(subprocess.CalledProcessError) as failure:
        kube_cluster.kubectl("get", "configmap", "does-not-exist", "-n", "default")
    assert "not found" in str(failure.value.stderr)


def test_env_points_subprocesses_at_the_chosen_identity(kube_cluster: KubeCluster) -> None:
    whoami = ("kubectl", "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    done = subprocess.run(whoami, env=kube_cluster.env(as_="proxy"), capture_output=True, text=True, timeout=60)
    assert done.stdout == f"system:serviceaccount:{kube_cluster.namespace}:switchboard-proxy", done.stderr
    helm = subprocess.run(("helm", "version", "--short"), env=kube_cluster.env(), capture_output=True, text=True)
    assert helm.stdout.startswith("v4."), helm.stderr
