"""The pure half of the kind end-to-end backend: which cluster, which manifests, which command lines.

``make e2e-kind`` runs ``tests/e2e`` against a kind cluster on which ``make
kind-up`` installed the chart. The suite then needs, in a fresh namespace, the
same mock upstreams ``make run`` starts locally, but as in-cluster
Deployments+Services (so the proxy pods can reach them), and the examples with
their loopback ``baseUrl`` rewritten to those Services. The test process reaches
proxies and mocks through ``kubectl port-forward``. Everything here is data in,
data out, so it is unit-tested without a cluster (``tests/e2e/test_kind_units.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from hack.system.commands import MOCK_KEY_ENV
from hack.system.examples import MockUpstream

Document = dict[str, Any]

CONTEXT_ENV = "SWITCHBOARD_KUBE_CONTEXT"  # set: run the e2e suite on this kubectl context
RELEASE_NAMESPACE_ENV = "SWITCHBOARD_RELEASE_NAMESPACE"
RELEASE_NAME_ENV = "SWITCHBOARD_RELEASE_NAME"
DEFAULT_RELEASE_NAMESPACE = "switchboard-system"
DEFAULT_RELEASE_NAME = "switchboard"  # the release name `make kind-up` installs
MOCK_PORT = 8080  # container and Service port of every in-cluster mock
MOCK_KEY = "api-key"  # key inside a mock's Secret


@dataclass(frozen=True)
class KindTarget:
    """A cluster with the chart installed: the kubectl context, the release's namespace and name."""

    context: str
    release_namespace: str = DEFAULT_RELEASE_NAMESPACE
    release_name: str = DEFAULT_RELEASE_NAME
    kubeconfig: str = ""  # empty: kubectl's own default (KUBECONFIG, ~/.kube/config)
    # The test process routes to pod and Service addresses itself (the local node, whose
    # bridge is on this host), so no port-forward stands between it and the pods.
    direct: bool = False


def kind_target(environ: Mapping[str, str]) -> KindTarget | None:
    """The kind backend when ``SWITCHBOARD_KUBE_CONTEXT`` is set (and not blank); None means local."""
    context = environ.get(CONTEXT_ENV, "").strip()
    if not context:
        return None
    return KindTarget(
        context=context,
        release_namespace=environ.get(RELEASE_NAMESPACE_ENV, "").strip() or DEFAULT_RELEASE_NAMESPACE,
        release_name=environ.get(RELEASE_NAME_ENV, "").strip() or DEFAULT_RELEASE_NAME,
    )


def mock_name(example_port: int) -> str:
    """Name of the Deployment, Service and Secret of the mock standing in for one example port."""
    return f"switchboard-mock-{example_port}"


def mock_service_url(example_port: int, namespace: str) -> str:
    """Where the proxy pods reach that mock (scheme, host and port; no path)."""
    return f"http://{mock_name(example_port)}.{namespace}.svc:{MOCK_PORT}"


def component_selector(release_name: str, component: str) -> str:
    """Label selector of one chart component's pods (the chart's immutable selector labels)."""
    return (
        f"app.kubernetes.io/name=switchboard,app.kubernetes.io/instance={release_name},"
        f"app.kubernetes.io/component={component}"
    )


def deployment_name(release_name: str, component: str) -> str:
    """The chart's Deployment of one component (``operator`` or ``proxy``)."""
    return f"{release_name}-{component}"


def mock_manifests(mock: MockUpstream, namespace: str, image: str) -> list[Document]:
    """Secret (if the mock expects a key), Deployment and Service running ``switchboard-mock`` from ``image``.

    The key reaches the mock through an env var from the Secret, never through
    its command line or the Deployment's spec.
    """
    name = mock_name(mock.port)
    labels = {"app.kubernetes.io/name": "switchboard-mock", "app.kubernetes.io/instance": name}
    docs: list[Document] = []
    env: list[Document] = []
    if mock.api_key is not None:
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "type": "Opaque",
                "stringData": {MOCK_KEY: mock.api_key},
            }
        )
        env.append({"name": MOCK_KEY_ENV, "valueFrom": {"secretKeyRef": {"name": name, "key": MOCK_KEY}}})
    container = {
        "name": "mock",
        "image": image,
        "imagePullPolicy": "IfNotPresent",  # `kind load` put it on the node; never pull a dev tag
        "args": ["switchboard-mock", "--host", "0.0.0.0", "--port", str(MOCK_PORT)],
        "env": env,
        "ports": [{"name": "http", "containerPort": MOCK_PORT, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/_mock/stats", "port": "http"}, "periodSeconds": 2},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    docs.append(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": 1,  # one pod: its fault table is the one the test edits
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            },
        }
    )
    docs.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "selector": labels,
                "ports": [{"name": "http", "port": MOCK_PORT, "targetPort": "http", "protocol": "TCP"}],
            },
        }
    )
    return docs


def rehome(docs: Sequence[Document], upstreams: Mapping[int, str]) -> list[Document]:
    """Copies of ``docs`` with each provider's loopback upstream replaced by ``upstreams[port]``.

    ``upstreams`` maps an example's loopback port to ``scheme://host:port``; the
    URL's path (``/v1`` or none) is kept. A loopback port without a mapping is
    an error: a provider left on 127.0.0.1 would point into the proxy pod itself.
    """
    moved = copy.deepcopy(list(docs))
    for doc in moved:
        if doc.get("kind") != "LLMProvider":
            continue
        spec = doc["spec"]
        url = urlsplit(str(spec.get("baseUrl", "")))
        if url.hostname != "127.0.0.1":
            continue
        port = url.port
        if port is None or port not in upstreams:
            raise ValueError(f"provider {doc['metadata']['name']}: no in-cluster mock for port {port}")
        target = urlsplit(upstreams[port])
        spec["baseUrl"] = urlunsplit(url._replace(scheme=target.scheme, netloc=target.netloc))
    return moved


def kubectl_flags(context: str, kubeconfig: str = "") -> tuple[str, ...]:
    """The flags that point kubectl at one cluster: a kubeconfig file (if given) and a context in it."""
    return (*((f"--kubeconfig={kubeconfig}",) if kubeconfig else ()), f"--context={context}")


def port_forward_argv(
    kubectl: str, context: str, namespace: str, target: str, local_port: int, remote_port: int, kubeconfig: str = ""
) -> tuple[str, ...]:
    """``kubectl port-forward`` from 127.0.0.1:``local_port`` to ``target`` (``pod/NAME`` or ``svc/NAME``)."""
    if not (target.startswith("pod/") or target.startswith("svc/")):
        raise ValueError(f"port-forward target must be pod/NAME or svc/NAME, not {target!r}")
    return (
        kubectl,
        *kubectl_flags(context, kubeconfig),
        f"--namespace={namespace}",
        "port-forward",
        "--address=127.0.0.1",
        target,
        f"{local_port}:{remote_port}",
    )
