"""The e2e system on a kind cluster where ``make kind-up`` installed the chart (``make e2e-kind``).

The operator and proxy pods are the chart's, from the repository's images. This
module adds, in a fresh namespace, one mock upstream Deployment+Service per
example port (``switchboard-mock`` from the proxy image), applies the examples
with their upstreams pointing at those Services, and opens one ``kubectl
port-forward`` per proxy pod (so per-replica checks still see every replica)
and per mock (for the fault API). The pure parts live in ``kind_manifests``.

The chart's proxies serve every namespace, and a model name several namespaces'
profiles claim goes to the oldest profile (``switchboard.api.precedence``). So a
system is started only once its profiles are ``Accepted`` (they win their model
names), and ``delete_namespace`` returns only once the namespace and its rendered
ConfigMaps are gone: else the next system's requests reach a dying namespace's
profiles, whose mocks are already stopped.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hack.cluster.processes import free_port, port_is_open, spawn, stop_group, wait_until
from hack.system import examples
from hack.system.kind_manifests import (
    MOCK_PORT,
    KindTarget,
    component_selector,
    deployment_name,
    kubectl_flags,
    mock_manifests,
    mock_name,
    mock_service_url,
    port_forward_argv,
    rehome,
)
from hack.system.launcher import SystemStartError, serves
from switchboard.api.status import NAMESPACE_LABEL

READY_TIMEOUT = 180.0
PROXY_PORT = 8080  # the chart's proxy.port default: the container port port-forwards reach


class ContextKubectl:
    """``kubectl --context=...``, with the call shape of ``KubeCluster.kubectl``."""

    def __init__(self, context: str, binary: str | None = None, kubeconfig: str = "") -> None:
        found = binary or shutil.which("kubectl")
        if found is None:
            raise SystemStartError("kubectl is not on PATH (the kind backend uses your kubectl)")
        self.binary = found
        self.context = context
        self.kubeconfig = kubeconfig

    def kubectl(
        self, *args: str, as_: str = "admin", input: str | None = None, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        if as_ != "admin":
            raise ValueError(f"on kind, kubectl runs as the context's own user only, not as {as_!r}")
        command = [self.binary, *kubectl_flags(self.context, self.kubeconfig), *args]
        done = subprocess.run(command, input=input, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr)
        return done


class PortForward:
    """One ``kubectl port-forward`` process; ``url`` is its loopback end."""

    def __init__(self, kube: ContextKubectl, namespace: str, target: str, remote_port: int, log: Path) -> None:
        self.local_port = free_port()
        argv = port_forward_argv(
            kube.binary, kube.context, namespace, target, self.local_port, remote_port, kube.kubeconfig
        )
        self.child = spawn(argv, log, die_with_parent=True)
        wait_until(lambda: port_is_open(self.local_port) or self.child.poll() is not None, 30.0)
        if self.child.poll() is not None or not port_is_open(self.local_port):
            self.stop()
            raise SystemStartError(f"port-forward to {target} did not open:\n{log.read_text(errors='replace')}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    def stop(self) -> None:
        if self.child.poll() is None:
            stop_group(self.child.pid, grace_seconds=5.0)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.child.wait(timeout=5)


@dataclass(frozen=True)
class DirectAddress:
    """A pod's or a Service's own address, routed to by the test process itself (no port-forward)."""

    url: str

    def stop(self) -> None:
        """Nothing to close: no process stands between the test and the pod."""


Reach = PortForward | DirectAddress


class KindSystem:
    """The e2e interface (see ``tests/fixtures/system.py``) over a kind cluster."""

    kind = "kind"

    def __init__(self, target: KindTarget, namespace: str, run_dir: Path) -> None:
        self.target = target
        self.cluster = ContextKubectl(target.context, kubeconfig=target.kubeconfig)
        self.namespace = namespace
        self.release_namespace = target.release_namespace
        self.run_dir = run_dir
        self.mocks = examples.mock_upstreams(examples.load_examples())
        self.proxy_forwards: list[Reach] = []
        self.mock_forwards: dict[int, Reach] = {}  # example port -> its forward
        self.operator_replicas = 0  # what stop_operators found, for start_operators

    @property
    def proxy_urls(self) -> list[str]:
        return [forward.url for forward in self.proxy_forwards]

    @property
    def mock_urls(self) -> dict[str, str]:
        """Provider name -> the mock serving it, reachable from the test process."""
        return {p: self.mock_forwards[m.port].url for m in self.mocks for p in m.providers}

    @property
    def upstream_urls(self) -> dict[str, str]:
        """Provider name -> the mock serving it, reachable from the proxy pods (for ``baseUrl``)."""
        return {p: mock_service_url(m.port, self.namespace) for m in self.mocks for p in m.providers}

    def deployment(self, component: str) -> str:
        return f"deployment/{deployment_name(self.target.release_name, component)}"

    def pods(self, selector: str, namespace: str, *, terminating: bool = False) -> list[str]:
        """Names of the pods ``selector`` picks; those being deleted only with ``terminating``."""
        done = self.cluster.kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json")
        items = json.loads(done.stdout)["items"]
        return [i["metadata"]["name"] for i in items if terminating or not i["metadata"].get("deletionTimestamp")]

    def stop_operators(self) -> None:
        """The whole operator fleet down: scale to zero and wait until no operator pod is left.

        Terminating pods count: a pod marked for deletion still runs its operator (kopf stops
        gracefully), which would render a change made right after this returns.
        """
        ns = self.release_namespace
        self.operator_replicas = int(
            self.cluster.kubectl("get", self.deployment("operator"), "-n", ns, "-o", "jsonpath={.spec.replicas}").stdout
        )
        self.cluster.kubectl("scale", self.deployment("operator"), "-n", ns, "--replicas=0")
        selector = component_selector(self.target.release_name, "operator")
        if not wait_until(lambda: not self.pods(selector, ns, terminating=True), READY_TIMEOUT, interval=1.0):
            raise SystemStartError("operator pods did not terminate after scaling to zero")

    def start_operators(self) -> None:
        """Scale the operator back to its replicas and wait for the rollout."""
        ns, replicas = self.release_namespace, self.operator_replicas
        if replicas < 1:
            raise RuntimeError("start_operators needs a stop_operators first (it records the replicas)")
        self.cluster.kubectl("scale", self.deployment("operator"), "-n", ns, f"--replicas={replicas}")
        self.rollout(self.deployment("operator"), ns)

    def rollout(self, deployment: str, namespace: str) -> None:
        timeout = f"--timeout={int(READY_TIMEOUT)}s"
        self.cluster.kubectl("rollout", "status", deployment, "-n", namespace, timeout, timeout=READY_TIMEOUT + 10)

    def logs(self) -> dict[str, str]:
        """Current logs of every operator, proxy and mock pod, by pod name."""
        release = self.target.release_name
        sources = [
            (component_selector(release, "operator"), self.release_namespace),
            (component_selector(release, "proxy"), self.release_namespace),
            ("app.kubernetes.io/name=switchboard-mock", self.namespace),
        ]
        result: dict[str, str] = {}
        for selector, ns in sources:
            for pod in self.pods(selector, ns):
                done = self.cluster.kubectl("logs", f"pod/{pod}", "-n", ns, "--all-containers", check=False)
                result[pod] = done.stdout
        return result

    def forward(self, namespace: str, target: str, remote_port: int) -> Reach:
        """How the test process reaches ``target`` (``pod/NAME`` or ``svc/NAME``): its own address or a forward."""
        if self.target.direct:
            return DirectAddress(f"http://{self.address(namespace, target)}:{remote_port}")
        log = self.run_dir / "port-forwards" / f"{target.replace('/', '-')}.log"
        return PortForward(self.cluster, namespace, target, remote_port, log)

    def address(self, namespace: str, target: str) -> str:
        """A pod's IP or a Service's cluster IP."""
        field = "{.status.podIP}" if target.startswith("pod/") else "{.spec.clusterIP}"
        done = self.cluster.kubectl("get", target, "-n", namespace, "-o", f"jsonpath={field}")
        if not done.stdout.strip():
            raise SystemStartError(f"{target} in {namespace} has no address yet")
        return done.stdout.strip()

    def refresh_proxies(self) -> None:
        """Reach the proxy pods that run now (after a rollout or a deleted pod), each one ready."""
        for forward in self.proxy_forwards:
            forward.stop()
        selector = component_selector(self.target.release_name, "proxy")
        pods = self.pods(selector, self.release_namespace)
        self.proxy_forwards = [self.forward(self.release_namespace, f"pod/{pod}", PROXY_PORT) for pod in pods]

    def stop(self) -> None:
        """Close every port-forward; the namespace is the caller's to delete."""
        for forward in [*self.proxy_forwards, *self.mock_forwards.values()]:
            forward.stop()
        self.proxy_forwards, self.mock_forwards = [], {}


def delete_namespace(kube: ContextKubectl, namespace: str, release_namespace: str) -> None:
    """Delete a system's namespace and wait until it and its rendered ConfigMaps (the proxies' source) are gone."""
    timeout = f"--timeout={int(READY_TIMEOUT)}s"
    kube.kubectl("delete", "namespace", namespace, "--ignore-not-found", timeout, timeout=READY_TIMEOUT + 10)
    selector = f"{NAMESPACE_LABEL}={namespace}"

    def unrendered() -> bool:
        done = kube.kubectl("get", "configmaps", "-n", release_namespace, "-l", selector, "-o", "name", check=False)
        return done.returncode == 0 and not done.stdout.strip()

    if not wait_until(unrendered, READY_TIMEOUT, interval=0.5):
        raise SystemStartError(f"the operator did not remove the rendered ConfigMaps of deleted namespace {namespace}")


def proxy_image(system: KindSystem) -> str:
    """The image the installed chart runs the proxies from (it holds ``switchboard-mock`` too)."""
    done = system.cluster.kubectl(
        "get", system.deployment("proxy"), "-n", system.release_namespace,
        "-o", "jsonpath={.spec.template.spec.containers[0].image}",
    )  # fmt: skip
    return done.stdout.strip()


def start_kind_system(target: KindTarget, namespace: str, run_dir: Path) -> KindSystem:
    """Mocks, examples and port-forwards in ``namespace`` of the kind cluster, all serving.

    On any failure the port-forwards opened so far are closed again.
    """
    system = KindSystem(target, namespace, run_dir)
    try:
        _start_all(system)
    except BaseException:
        system.stop()
        raise
    return system


def check_release(system: KindSystem) -> None:
    """Fail early, with kubectl's words, when the context or the chart's release is not there."""
    for component in ("operator", "proxy"):
        deployment = system.deployment(component)
        done = system.cluster.kubectl("get", deployment, "-n", system.release_namespace, check=False)
        if done.returncode != 0:
            raise SystemStartError(
                f"{deployment} not found in namespace {system.release_namespace} of kubectl context "
                f"{system.target.context} (run make kind-up first): {done.stderr.strip()}"
            )


def _start_all(system: KindSystem) -> None:
    kube, ns = system.cluster, system.namespace
    check_release(system)
    kube.kubectl("create", "namespace", ns)
    image = proxy_image(system)
    mock_docs = [doc for mock in system.mocks for doc in mock_manifests(mock, ns, image)]
    kube.kubectl("apply", "-f", "-", input=examples.dump(mock_docs))
    for mock in system.mocks:
        system.rollout(f"deployment/{mock_name(mock.port)}", ns)
        system.mock_forwards[mock.port] = system.forward(ns, f"svc/{mock_name(mock.port)}", MOCK_PORT)
    upstreams = {mock.port: mock_service_url(mock.port, ns) for mock in system.mocks}
    docs = rehome(examples.load_examples(), upstreams)
    kube.kubectl("apply", "-n", ns, "-f", "-", input=examples.dump(docs))
    proxies = system.pods(component_selector(system.target.release_name, "proxy"), system.release_namespace)
    if not proxies:
        raise SystemStartError(f"no proxy pods of release {system.target.release_name}; run make kind-up first")
    for pod in proxies:
        system.proxy_forwards.append(system.forward(system.release_namespace, f"pod/{pod}", PROXY_PORT))
    timeout = f"--timeout={int(READY_TIMEOUT)}s"
    kube.kubectl(
        "wait", "--for=condition=Ready", "routingprofiles", "--all", "-n", ns, timeout, timeout=READY_TIMEOUT + 10
    )  # fmt: skip
    accepted = kube.kubectl(
        "wait", "--for=condition=Accepted", "routingprofiles", "--all", "-n", ns, timeout,
        timeout=READY_TIMEOUT + 10, check=False,
    )  # fmt: skip
    if accepted.returncode != 0:
        claims = kube.kubectl("get", "routingprofiles", "--all-namespaces", check=False).stdout
        raise SystemStartError(
            f"profiles in {ns} not Accepted: another namespace's profile claims their model names:\n{claims}"
        )
    models = {m for d in docs if d["kind"] == "RoutingProfile" for m in d["spec"]["models"]}
    if not wait_until(lambda: all(serves(url, models) for url in system.proxy_urls), READY_TIMEOUT, interval=0.5):
        raise SystemStartError(f"proxy pods {proxies} do not serve {sorted(models)}")
