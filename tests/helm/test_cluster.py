"""The chart against the real kube-apiserver: server-side dry run, helm install, RBAC as the ServiceAccounts.

There is no kubelet, so pods never run: these tests check what the API server
accepts and creates, and what the created RBAC lets each ServiceAccount do.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
import yaml

from hack.cluster import KubeCluster
from tests.fixtures.helm import ALL_ON_VALUES, CHART

pytestmark = pytest.mark.k8s

# Kinds whose CRDs a bare cluster lacks (the Prometheus Operator's).
THIRD_PARTY_KINDS = {"ServiceMonitor"}


def helm_as_admin(cluster: KubeCluster, helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=120, env=cluster.env(), check=False)


def test_server_side_dry_run_accepts_everything(kube_cluster: KubeCluster, kube_namespace: str, helm: str) -> None:
    rendered = helm_as_admin(
        kube_cluster,
        helm,
        "template",
        "dry",
        str(CHART),
        "-n",
        kube_namespace,
        "--include-crds",
        "-f",
        str(ALL_ON_VALUES),
    )
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    skipped = {d["kind"] for d in docs if d["kind"] in THIRD_PARTY_KINDS}
    assert skipped == THIRD_PARTY_KINDS, "the all-on values should render every optional kind"
    applicable = yaml.safe_dump_all([d for d in docs if d["kind"] not in THIRD_PARTY_KINDS])
    done = kube_cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=applicable, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("(server dry run)") == len(docs) - len(skipped)


@pytest.fixture
def release(kube_cluster: KubeCluster, kube_namespace: str, helm: str) -> Iterator[tuple[str, str]]:
    """The chart installed with defaults into a fresh namespace, uninstalled afterwards."""
    name = f"sb{kube_namespace.removeprefix('test-')}"
    done = helm_as_admin(kube_cluster, helm, "install", name, str(CHART), "-n", kube_namespace)
    assert done.returncode == 0, done.stderr
    try:
        yield name, kube_namespace
    finally:
        helm_as_admin(kube_cluster, helm, "uninstall", name, "-n", kube_namespace, "--wait=false")


def test_install_creates_every_object(kube_cluster: KubeCluster, release: tuple[str, str], helm: str) -> None:
    name, namespace = release
    status = helm_as_admin(kube_cluster, helm, "status", name, "-n", namespace, "-o", "json")
    assert '"status":"deployed"' in status.stdout.replace(" ", "")
    for kind, obj in [
        ("deployment", f"{name}-operator"),
        ("deployment", f"{name}-proxy"),
        ("service", f"{name}-proxy"),
        ("horizontalpodautoscaler", f"{name}-proxy"),
        ("poddisruptionbudget", f"{name}-proxy"),
        ("poddisruptionbudget", f"{name}-operator"),
        ("serviceaccount", "switchboard-operator"),
        ("serviceaccount", "switchboard-proxy"),
        ("role", f"{name}-operator"),
        ("rolebinding", f"{name}-proxy"),
    ]:
        kube_cluster.kubectl("get", kind, obj, "-n", namespace)
    for kind, obj in [
        ("clusterrole", f"{name}-operator"),
        ("clusterrolebinding", f"{name}-proxy"),
        ("crd", "llmproviders.switchboard.dev"),
        ("crd", "routingprofiles.switchboard.dev"),
    ]:
        kube_cluster.kubectl("get", kind, obj)
    replicas = kube_cluster.kubectl(
        "get", "deployment", f"{name}-operator", "-n", namespace, "-o", "jsonpath={.spec.replicas}"
    )
    assert replicas.stdout == "2"
    kube_cluster.kubectl("get", "llmproviders,routingprofiles", "-A")  # the CRDs are served


def can_i(cluster: KubeCluster, namespace: str, account: str, *args: str) -> bool:
    who = f"--as=system:serviceaccount:{namespace}:{account}"
    done = cluster.kubectl("auth", "can-i", who, *args, check=False)
    assert done.stdout.strip() in ("yes", "no"), done.stderr
    return done.stdout.strip() == "yes"


OPERATOR_RIGHTS = [
    (["watch", "llmproviders.switchboard.dev", "--all-namespaces"], True),
    (["patch", "routingprofiles.switchboard.dev", "--subresource=status", "-n", "apps"], True),
    (["get", "secrets", "-n", "apps"], True),
    (["create", "configmaps", "-n", "{ns}"], True),
    (["delete", "configmaps", "-n", "{ns}"], True),
    (["patch", "secrets/switchboard-credentials", "-n", "{ns}"], True),
    (["create", "leases.coordination.k8s.io", "-n", "{ns}"], True),
    (["update", "leases.coordination.k8s.io/switchboard-operator", "-n", "{ns}"], True),
    (["create", "events", "-n", "apps"], True),
    # Denied: specs, ConfigMaps outside the release namespace, other Secrets, other Leases.
    (["patch", "routingprofiles.switchboard.dev", "-n", "apps"], False),
    (["patch", "llmproviders.switchboard.dev", "-n", "apps"], False),
    (["delete", "llmproviders.switchboard.dev", "-n", "apps"], False),
    (["create", "configmaps", "-n", "apps"], False),
    (["delete", "configmaps", "-n", "kube-system"], False),
    (["create", "secrets", "-n", "{ns}"], False),
    (["patch", "secrets/other", "-n", "{ns}"], False),
    (["create", "secrets", "-n", "apps"], False),
    (["update", "leases.coordination.k8s.io/other", "-n", "{ns}"], False),
    (["create", "leases.coordination.k8s.io", "-n", "apps"], False),
    (["create", "pods", "-n", "{ns}"], False),
]
PROXY_RIGHTS = [
    (["watch", "configmaps", "-n", "{ns}"], True),
    (["get", "llmproviders.switchboard.dev", "-n", "apps"], True),
    (["patch", "llmproviders.switchboard.dev", "--subresource=status", "-n", "apps"], True),
    (["get", "secrets/switchboard-credentials", "-n", "{ns}"], True),
    (["create", "events", "-n", "apps"], True),
    # Denied: tenants' ConfigMaps, any other Secret, specs, listing tenants' resources.
    (["watch", "configmaps", "--all-namespaces"], False),
    (["get", "configmaps", "-n", "apps"], False),
    (["list", "llmproviders.switchboard.dev", "--all-namespaces"], False),
    (["get", "secrets/other", "-n", "{ns}"], False),
    (["get", "secrets/switchboard-credentials", "-n", "apps"], False),
    (["patch", "llmproviders.switchboard.dev", "-n", "apps"], False),
    (["create", "configmaps", "-n", "apps"], False),
    (["create", "configmaps", "-n", "{ns}"], False),
]


@pytest.mark.parametrize(
    ("account", "rights"), [("switchboard-operator", OPERATOR_RIGHTS), ("switchboard-proxy", PROXY_RIGHTS)]
)
def test_rbac_is_least_privilege(
    kube_cluster: KubeCluster, release: tuple[str, str], account: str, rights: list[tuple[list[str], bool]]
) -> None:
    _, namespace = release
    got = {
        " ".join(args): can_i(kube_cluster, namespace, account, *[a.format(ns=namespace) for a in args])
        for args, _ in rights
    }
    assert got == {" ".join(args): allowed for args, allowed in rights}


def test_bad_values_create_nothing(kube_cluster: KubeCluster, kube_namespace: str, helm: str) -> None:
    done = helm_as_admin(
        kube_cluster, helm, "install", "bad", str(CHART), "-n", kube_namespace, "--set", "proxy.port=80"
    )
    assert done.returncode != 0
    assert "/proxy/port" in done.stderr
    listed = kube_cluster.kubectl("get", "deployments,services,serviceaccounts", "-n", kube_namespace, "-o", "name")
    assert "switchboard" not in listed.stdout
