"""The kind backend's pure parts and thin shells, without a kind cluster (``make e2e-kind`` needs Docker).

Selection from the environment, the in-cluster mock manifests, the examples
rewritten to those mocks, the chart names and labels the backend relies on,
and the kubectl command lines (run against a stand-in kubectl script).
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from hack.checkout import REPO_ROOT
from hack.system.commands import MOCK_KEY_ENV
from hack.system.examples import MockUpstream, load_examples, mock_upstreams
from hack.system.kind import PROXY_PORT, ContextKubectl, KindSystem, PortForward, start_kind_system
from hack.system.kind_manifests import (
    MOCK_PORT,
    KindTarget,
    component_selector,
    deployment_name,
    kind_target,
    mock_manifests,
    mock_service_url,
    port_forward_argv,
    rehome,
)
from hack.system.launcher import SystemStartError
from tests.fixtures.helm import Render, find
from tests.fixtures.system import skip_on_kind


def test_backend_is_local_unless_a_context_is_given() -> None:
    assert kind_target({}) is None
    assert kind_target({"SWITCHBOARD_KUBE_CONTEXT": "  "}) is None
    assert kind_target({"SWITCHBOARD_KUBE_CONTEXT": "kind-switchboard"}) == KindTarget(
        "kind-switchboard", "switchboard-system", "switchboard"
    )
    environ = {
        "SWITCHBOARD_KUBE_CONTEXT": "kind-sb2",
        "SWITCHBOARD_RELEASE_NAMESPACE": "sb",
        "SWITCHBOARD_RELEASE_NAME": "gw",
    }
    assert kind_target(environ) == KindTarget("kind-sb2", "sb", "gw")


def test_skip_on_kind_skips_only_when_a_context_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWITCHBOARD_KUBE_CONTEXT", raising=False)
    monkeypatch.delenv("SWITCHBOARD_E2E_BACKEND", raising=False)
    assert skip_on_kind("why").args == (False,)
    monkeypatch.setenv("SWITCHBOARD_KUBE_CONTEXT", "kind-switchboard")
    mark = skip_on_kind("the API server is in a container")
    assert mark.args == (True,)
    assert mark.kwargs["reason"] == "not on kind or the node's pods: the API server is in a container"
    monkeypatch.delenv("SWITCHBOARD_KUBE_CONTEXT")
    monkeypatch.setenv("SWITCHBOARD_E2E_BACKEND", "node")
    assert skip_on_kind("why").args == (True,)


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in docs}


def test_mock_with_a_key_gets_it_from_a_secret_never_from_its_spec() -> None:
    docs = by_kind(mock_manifests(MockUpstream(18081, ("openai-mock",), "sk-secret"), "e2e-1", "img:dev"))
    assert sorted(docs) == ["Deployment", "Secret", "Service"]
    assert docs["Secret"]["stringData"] == {"api-key": "sk-secret"}
    assert "sk-secret" not in json.dumps(docs["Deployment"]) + json.dumps(docs["Service"])
    (container,) = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "img:dev"
    assert container["args"] == ["switchboard-mock", "--host", "0.0.0.0", "--port", str(MOCK_PORT)]
    assert container["env"] == [
        {"name": MOCK_KEY_ENV, "valueFrom": {"secretKeyRef": {"name": "switchboard-mock-18081", "key": "api-key"}}}
    ]
    for doc in docs.values():
        assert doc["metadata"]["name"] == "switchboard-mock-18081" and doc["metadata"]["namespace"] == "e2e-1"
    labels = docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert docs["Deployment"]["spec"]["selector"]["matchLabels"] == labels == docs["Service"]["spec"]["selector"]
    assert docs["Service"]["spec"]["ports"][0]["port"] == MOCK_PORT


def test_mock_without_a_key_has_no_secret() -> None:
    docs = by_kind(mock_manifests(MockUpstream(18083, ("local-vllm",), None), "e2e-1", "img:dev"))
    assert sorted(docs) == ["Deployment", "Service"]
    assert docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"] == []


def test_the_mock_command_is_a_console_script_of_the_package_in_the_proxy_image() -> None:
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    (deployment,) = [d for d in mock_manifests(MockUpstream(1, (), None), "n", "i") if d["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"][0] in scripts


def test_rehome_points_every_example_provider_at_its_in_cluster_mock() -> None:
    docs = load_examples()
    upstreams = {m.port: mock_service_url(m.port, "e2e-1") for m in mock_upstreams(docs)}
    moved = rehome(docs, upstreams)
    urls = {d["metadata"]["name"]: d["spec"]["baseUrl"] for d in moved if d["kind"] == "LLMProvider"}
    assert urls == {
        "openai-mock": "http://switchboard-mock-18081.e2e-1.svc:8080/v1",
        "anthropic-mock": "http://switchboard-mock-18082.e2e-1.svc:8080",
        "local-vllm": "http://switchboard-mock-18083.e2e-1.svc:8080/v1",
    }
    assert [d for d in moved if d["kind"] != "LLMProvider"] == [d for d in docs if d["kind"] != "LLMProvider"]
    assert "127.0.0.1" in json.dumps(docs)  # the input is left alone


def test_rehome_refuses_a_loopback_provider_without_a_mock_and_keeps_real_hosts() -> None:
    docs = load_examples()
    with pytest.raises(ValueError, match="local-vllm: no in-cluster mock for port 18083"):
        rehome(docs, {18081: "http://a.svc:8080", 18082: "http://b.svc:8080"})
    remote = {"kind": "LLMProvider", "metadata": {"name": "r"}, "spec": {"baseUrl": "https://api.openai.com/v1"}}
    assert rehome([remote], {}) == [remote]


def test_port_forward_command_line() -> None:
    argv = port_forward_argv("/usr/bin/kubectl", "kind-sb", "switchboard-system", "pod/p-1", 40001, 8080)
    assert argv == (
        "/usr/bin/kubectl",
        "--context=kind-sb",
        "--namespace=switchboard-system",
        "port-forward",
        "--address=127.0.0.1",
        "pod/p-1",
        "40001:8080",
    )
    with pytest.raises(ValueError, match="pod/NAME or svc/NAME"):
        port_forward_argv("kubectl", "c", "n", "deployment/x", 1, 2)


def test_chart_names_labels_and_port_the_backend_relies_on(helm_template: Render) -> None:
    rendered = helm_template(release="switchboard")
    for component in ("operator", "proxy"):
        deployment = find(rendered, "Deployment", deployment_name("switchboard", component))
        labels = dict(part.split("=") for part in component_selector("switchboard", component).split(","))
        assert deployment["spec"]["selector"]["matchLabels"] == labels
    proxy = find(rendered, "Deployment", "switchboard-proxy")["spec"]["template"]["spec"]["containers"][0]
    assert proxy["ports"][0]["containerPort"] == PROXY_PORT


STAND_IN_KUBECTL = """\
import json, socket, sys, time
with open(sys.argv[0] + ".calls", "a") as calls:
    calls.write(json.dumps(sys.argv[1:]) + "\\n")
if "port-forward" in sys.argv and "pod/listens" in sys.argv:
    server = socket.create_server(("127.0.0.1", int(sys.argv[-1].split(":")[0])))
    time.sleep(60)
print("ok")
"""


@pytest.fixture
def stand_in_kubectl(tmp_path: Path) -> Path:
    """An executable recording its arguments; as ``port-forward pod/listens`` it listens on the local port."""
    script = tmp_path / "kubectl"
    script.write_text(f"#!{sys.executable}\n{STAND_IN_KUBECTL}")
    script.chmod(0o755)
    return script


def calls(script: Path) -> list[list[str]]:
    return [json.loads(line) for line in Path(f"{script}.calls").read_text().splitlines()]


def test_context_kubectl_passes_the_context_and_refuses_other_identities(stand_in_kubectl: Path) -> None:
    kube = ContextKubectl("kind-sb", binary=str(stand_in_kubectl))
    assert kube.kubectl("get", "pods", "-n", "x").stdout == "ok\n"
    assert calls(stand_in_kubectl) == [["--context=kind-sb", "get", "pods", "-n", "x"]]
    with pytest.raises(ValueError, match="'operator'"):
        kube.kubectl("get", "pods", as_="operator")


def test_port_forward_waits_for_the_local_port_and_stops(stand_in_kubectl: Path, tmp_path: Path) -> None:
    kube = ContextKubectl("kind-sb", binary=str(stand_in_kubectl))
    forward = PortForward(kube, "ns", "pod/listens", 8080, tmp_path / "pf.log")
    try:
        assert forward.url == f"http://127.0.0.1:{forward.local_port}"
        assert calls(stand_in_kubectl)[0][-2:] == ["pod/listens", f"{forward.local_port}:8080"]
    finally:
        forward.stop()
    assert forward.child.poll() is not None


def test_port_forward_that_exits_reports_its_output(stand_in_kubectl: Path, tmp_path: Path) -> None:
    kube = ContextKubectl("kind-sb", binary=str(stand_in_kubectl))
    with pytest.raises(SystemStartError, match="port-forward to svc/gone did not open:\nok"):
        PortForward(kube, "ns", "svc/gone", 8080, tmp_path / "pf.log")


def test_a_missing_release_fails_before_anything_is_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "bin" / "kubectl"
    script.parent.mkdir()
    script.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        "open(sys.argv[0] + '.calls', 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "sys.exit('error: context \"kind-gone\" does not exist')\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(script.parent))
    with pytest.raises(SystemStartError, match=r"run make kind-up first\): error: context \"kind-gone\" does not"):
        start_kind_system(KindTarget("kind-gone"), "e2e-x", tmp_path / "run")
    assert calls(script) == [
        ["--context=kind-gone", "get", "deployment/switchboard-operator", "-n", "switchboard-system"]
    ]


def test_upstream_urls_name_the_services_the_examples_are_rehomed_to(
    stand_in_kubectl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(stand_in_kubectl.parent))
    system = KindSystem(KindTarget("kind-sb"), "e2e-1", tmp_path)
    docs = load_examples()
    moved = rehome(docs, {m.port: mock_service_url(m.port, "e2e-1") for m in mock_upstreams(docs)})
    for doc in moved:
        if doc["kind"] == "LLMProvider":
            assert doc["spec"]["baseUrl"].startswith(system.upstream_urls[doc["metadata"]["name"]])
    assert set(system.upstream_urls) == {"openai-mock", "anthropic-mock", "local-vllm"}
