"""The chart's pods on the real node: what only pods have (Services, DNS, deleted pods, ``helm upgrade``).

The examples and their mock upstreams run in pods of a fresh namespace (``pod_system``);
the test process reaches pods and Service IPs directly (the node's bridge is on this host),
and ``kubectl port-forward`` where a user would use it.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from hack.cluster.processes import wait_until
from hack.kubenode.release import RELEASE_NAME, RELEASE_NAMESPACE, install_release, wait_for_proxies
from hack.kubenode.stack import NodeStack
from hack.system.kind import KindSystem, PortForward
from hack.system.kind_manifests import component_selector
from tests.fixtures.operator import wait_for
from tests.fixtures.system import MESSAGES, sdk

pytestmark = [pytest.mark.k8s, pytest.mark.node, pytest.mark.timeout(900)]

SERVICE = f"{RELEASE_NAME}-proxy"
LEASE = "switchboard-operator"


def proxy_service_url(system: KindSystem) -> str:
    """The proxy Service's cluster IP and port, which kube-proxy programs on this host too."""
    port = system.cluster.kubectl(
        "get", "svc", SERVICE, "-n", RELEASE_NAMESPACE, "-o", "jsonpath={.spec.ports[0].port}"
    ).stdout.strip()
    return f"http://{system.address(RELEASE_NAMESPACE, f'svc/{SERVICE}')}:{port}"


def chat(url: str, model: str = "gpt-4o", timeout: float = 30) -> tuple[int, str]:
    """One chat completion on a fresh connection (as a Service spreads connections): status and provider."""
    body = json.dumps({"model": model, "messages": MESSAGES}).encode()
    request = urllib.request.Request(
        url + "/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            json.load(response)
            return response.status, response.headers.get("x-switchboard-provider", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")[:300]


@dataclass
class Load:
    """Requests in a loop from a few threads until stopped; every outcome kept with its time."""

    url: str
    outcomes: list[tuple[float, float, str]] = field(default_factory=list)  # start, end, "ok" or the error
    stopping: threading.Event = field(default_factory=threading.Event)

    def worker(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                status, detail = chat(self.url)
                outcome = "ok" if status == 200 else f"{status} {detail}"
            except OSError as error:  # refused, reset, timed out: a failed request all the same
                outcome = f"{type(error).__name__}: {error}"
            self.outcomes.append((started, time.monotonic(), outcome))

    def failures(self) -> list[tuple[float, float, str]]:
        return [o for o in self.outcomes if o[2] != "ok"]


@contextmanager
def load(url: str, workers: int = 4) -> Iterator[Load]:
    running = Load(url)
    threads = [threading.Thread(target=running.worker, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    try:
        yield running
    finally:
        running.stopping.set()
        for thread in threads:
            thread.join(timeout=60)


def lease_holder(system: KindSystem) -> str:
    done = system.cluster.kubectl(
        "get", "lease", LEASE, "-n", RELEASE_NAMESPACE, "-o", "jsonpath={.spec.holderIdentity}", check=False
    )
    return done.stdout.strip()


def set_strategy(system: KindSystem, strategy: str) -> None:
    patch = json.dumps({"spec": {"strategy": strategy}})
    system.cluster.kubectl("patch", "rp", "chat", "-n", system.namespace, "--type=merge", "-p", patch)


def serves_strategy(system: KindSystem, strategy: str) -> bool:
    replies = [
        sdk(url).chat.completions.with_raw_response.create(model="gpt-4o", messages=MESSAGES)
        for url in system.proxy_urls
    ]
    return all(r.headers.get("x-switchboard-strategy") == strategy for r in replies)


def test_release_runs_two_operators_with_one_leader_and_two_ready_proxies(pod_system: KindSystem) -> None:
    kube = pod_system.cluster
    for component in ("operator", "proxy"):
        deployment = json.loads(
            kube.kubectl("get", pod_system.deployment(component), "-n", RELEASE_NAMESPACE, "-o", "json").stdout
        )
        assert deployment["status"].get("readyReplicas") == 2, (component, deployment["status"])
    operators = pod_system.pods(component_selector(RELEASE_NAME, "operator"), RELEASE_NAMESPACE)
    assert wait_until(lambda: lease_holder(pod_system) in operators, 60, interval=1), (
        lease_holder(pod_system),
        operators,
    )
    assert len(pod_system.proxy_urls) == 2


def test_proxy_service_routes_from_the_host_and_from_a_client_pod_by_dns_name(pod_system: KindSystem) -> None:
    kube = pod_system.cluster
    forward = PortForward(kube, RELEASE_NAMESPACE, f"svc/{SERVICE}", 80, pod_system.run_dir / "service-forward.log")
    try:
        reply = sdk(forward.url).chat.completions.create(model="gpt-4o", messages=MESSAGES)
        assert reply.choices[0].message.content
    finally:
        forward.stop()
    assert chat(proxy_service_url(pod_system))[0] == 200
    # From a pod: the Service's DNS name through the node's CoreDNS, then kube-proxy's rules.
    script = (
        "import json, urllib.request\n"
        f"body = json.dumps({{'model': 'gpt-4o', 'messages': {MESSAGES!r}}}).encode()\n"
        f"url = 'http://{SERVICE}.{RELEASE_NAMESPACE}.svc/v1/chat/completions'\n"
        "request = urllib.request.Request(url, data=body, headers={'Content-Type': 'application/json'})\n"
        "response = urllib.request.urlopen(request, timeout=30)\n"
        "print(json.dumps({'status': response.status, 'provider': response.headers['x-switchboard-provider']}))\n"
    )
    image = kube.kubectl(
        "get", pod_system.deployment("proxy"), "-n", RELEASE_NAMESPACE,
        "-o", "jsonpath={.spec.template.spec.containers[0].image}",
    ).stdout.strip()  # fmt: skip
    name = f"client-{uuid.uuid4().hex[:6]}"
    kube.kubectl(
        "run", name, "-n", pod_system.namespace, f"--image={image}", "--image-pull-policy=Never", "--restart=Never",
        "--command", "--", "python3", "-c", script,
    )  # fmt: skip

    def phase() -> str:
        return kube.kubectl("get", "pod", name, "-n", pod_system.namespace, "-o", "jsonpath={.status.phase}").stdout

    assert wait_until(lambda: phase() in ("Succeeded", "Failed"), 120, interval=1), phase()
    logs = kube.kubectl("logs", name, "-n", pod_system.namespace).stdout
    assert phase() == "Succeeded", logs
    answer = json.loads(logs.strip().splitlines()[-1])
    assert answer["status"] == 200 and answer["provider"], answer


def test_deleting_the_leader_pod_hands_leadership_over_and_edits_still_render(pod_system: KindSystem) -> None:
    kube = pod_system.cluster
    operators = pod_system.pods(component_selector(RELEASE_NAME, "operator"), RELEASE_NAMESPACE)
    wait_for(lambda: lease_holder(pod_system) in operators, 60, "a leader among the operator pods")
    leader = lease_holder(pod_system)
    deleted = time.monotonic()
    kube.kubectl("delete", "pod", leader, "-n", RELEASE_NAMESPACE, "--wait=false")
    wait_for(lambda: lease_holder(pod_system) not in ("", leader), 120, "another operator pod takes the lease")
    print(f"\nnode: leader pod deleted -> new leader {lease_holder(pod_system)} in {time.monotonic() - deleted:.1f}s")
    try:
        set_strategy(pod_system, "round-robin")
        wait_for(lambda: serves_strategy(pod_system, "round-robin"), 90, "edit rendered by the new leader")
    finally:
        set_strategy(pod_system, "failover")
    wait_for(lambda: serves_strategy(pod_system, "failover"), 90, "back to the example's strategy")
    pod_system.rollout(pod_system.deployment("operator"), RELEASE_NAMESPACE)


def test_a_proxy_pod_deleted_under_load_fails_at_most_its_in_flight_requests(
    pod_system: KindSystem, kube_node: NodeStack
) -> None:
    kube = pod_system.cluster
    victim = pod_system.pods(component_selector(RELEASE_NAME, "proxy"), RELEASE_NAMESPACE)[0]
    workers = 4
    with load(proxy_service_url(pod_system), workers=workers) as running:
        wait_for(lambda: len(running.outcomes) >= 20, 60, "load flowing")
        kube.kubectl("delete", "pod", victim, "-n", RELEASE_NAMESPACE, "--wait=true", timeout=120)
        deleted = time.monotonic()
        wait_for(lambda: any(start > deleted for start, _, _ in running.outcomes), 30, "requests after the delete")
        time.sleep(3)  # a few more rounds through the surviving proxy
    failures = running.failures()
    print(f"\nnode: proxy pod deleted under load: {len(running.outcomes)} requests, {len(failures)} failed")
    assert len(failures) <= workers, failures  # at most one in flight per worker when the pod went
    assert [o for o in running.outcomes if o[0] > deleted and o[2] != "ok"] == []
    wait_for_proxies(kube_node.cluster)
    pod_system.refresh_proxies()


def test_helm_upgrade_with_changed_values_rolls_the_proxies_without_a_failed_request(
    pod_system: KindSystem, kube_node: NodeStack
) -> None:
    kube = pod_system.cluster
    before = set(pod_system.pods(component_selector(RELEASE_NAME, "proxy"), RELEASE_NAMESPACE))
    revision = uuid.uuid4().hex[:6]
    with load(proxy_service_url(pod_system)) as running:
        wait_for(lambda: len(running.outcomes) >= 20, 60, "load flowing")
        install_release(
            kube_node.cluster, kube_node.images, ["--set-string", f"proxy.podAnnotations.revision={revision}"]
        )
        time.sleep(2)
    after = set(pod_system.pods(component_selector(RELEASE_NAME, "proxy"), RELEASE_NAMESPACE))
    assert before.isdisjoint(after), (before, after)  # every proxy pod was replaced
    selector = component_selector(RELEASE_NAME, "proxy")
    pods = json.loads(kube.kubectl("get", "pods", "-n", RELEASE_NAMESPACE, "-l", selector, "-o", "json").stdout)
    current = [item for item in pods["items"] if not item["metadata"].get("deletionTimestamp")]
    assert {item["metadata"].get("annotations", {}).get("revision") for item in current} == {revision}
    print(f"\nnode: helm upgrade under load: {len(running.outcomes)} requests, {len(running.failures())} failed")
    assert running.failures() == []
    pod_system.refresh_proxies()
    assert all(
        sdk(url).chat.completions.create(model="gpt-4o", messages=MESSAGES).choices for url in pod_system.proxy_urls
    )
