"""The launcher's pure parts: mock upstreams from the examples, retargeting, RBAC copies, commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from hack.system import SystemOptions
from hack.system.commands import MOCK_KEY_ENV, mock_command, operator_command, proxy_command
from hack.system.examples import load_examples, mock_upstreams, provider_ports, retarget
from hack.system.instructions import instructions
from hack.system.rbac import copy_roles


def test_one_mock_per_example_port_expecting_the_secret_key() -> None:
    mocks = {m.port: m for m in mock_upstreams(load_examples())}
    assert sorted(mocks) == [18081, 18082, 18083]
    assert mocks[18081].providers == ("openai-mock",) and mocks[18081].api_key == "sk-example-dummy-openai-key"
    assert mocks[18083].api_key is None  # local-vllm has no key


def test_conflicting_keys_on_one_port_are_refused() -> None:
    docs = load_examples()
    for doc in docs:
        if doc["kind"] == "LLMProvider" and doc["metadata"]["name"] == "anthropic-mock":
            doc["spec"]["baseUrl"] = "http://127.0.0.1:18081"
    with pytest.raises(ValueError, match="port 18081"):
        mock_upstreams(docs)


def test_retarget_moves_ports_and_leaves_the_input_alone() -> None:
    docs = load_examples()
    moved = retarget(docs, {18081: 40001, 18082: 40002})
    assert provider_ports(moved) == {"openai-mock": 40001, "anthropic-mock": 40002, "local-vllm": 18083}
    assert provider_ports(docs)["openai-mock"] == 18081
    openai = next(d for d in moved if d["metadata"]["name"] == "openai-mock")
    assert openai["spec"]["baseUrl"] == "http://127.0.0.1:40001/v1"


def test_copy_roles_rehomes_and_drops_server_fields() -> None:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "p", "namespace": "switchboard-system", "uid": "u", "resourceVersion": "9"},
        "subjects": [{"kind": "ServiceAccount", "name": "switchboard-proxy", "namespace": "switchboard-system"}],
        "roleRef": {"kind": "Role", "name": "p", "apiGroup": "rbac.authorization.k8s.io"},
    }
    (copy,) = copy_roles([role], "other")
    assert copy["metadata"] == {"name": "p", "namespace": "other"}
    assert copy["subjects"] == role["subjects"]


def test_commands_carry_identity_ports_and_keep_keys_off_the_command_line() -> None:
    options = SystemOptions(watch_namespaces=("a", "b"), proxy_ports=(1, 2, 3))
    proxy = proxy_command(options, Path("/k"), 1, 8081)
    assert list(proxy.argv[proxy.argv.index("--replica-name") :][:2]) == ["--replica-name", "proxy-1"]
    assert proxy.argv.count("--watch-namespace") == 2 and proxy.env["POD_NAMESPACE"] == "switchboard-system"
    operator = operator_command(options, Path("/k"), 0)
    assert "--fleet-replicas" in operator.argv and operator.argv[operator.argv.index("--fleet-replicas") + 1] == "3"
    mock = mock_command(18081, "sk-secret")
    assert "sk-secret" not in " ".join(mock.argv) and mock.env == {MOCK_KEY_ENV: "sk-secret"}
    with pytest.raises(ValueError):
        SystemOptions(proxy_ports=())


def test_instructions_name_every_next_step() -> None:
    text = instructions(
        ["http://127.0.0.1:8080", "http://127.0.0.1:8081"],
        {"openai-mock": "http://127.0.0.1:18081"},
        Path("/k.yaml"),
        "default",
        Path("/run"),
    )
    for hint in (
        "kubectl get llmproviders",
        "kubectl get rp",
        "curl -s http://127.0.0.1:8080/v1/chat/completions",
        'OpenAI(base_url="http://127.0.0.1:8080/v1"',
        "curl -s -X POST http://127.0.0.1:18081/_mock/faults",
        "curl -s -X DELETE http://127.0.0.1:18081/_mock/faults",
        "make down",
    ):
        assert hint in text
