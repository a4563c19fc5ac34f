"""The operator against a real kube-apiserver + controller manager, run as a
subprocess under the operator ServiceAccount (the chart's RBAC)."""

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from switchboard.api.config import load_config
from switchboard.api.status import CONFIG_DATA_KEY, CONFIG_HASH_ANNOTATION, CREDENTIALS_SECRET
from tests.fixtures.operator import condition, get_json, wait_for

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(240)]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "cluster"
ROTATED_KEY = "sk-example-rotated-openai-key"
DUMMY_KEYS = ("sk-example-dummy-openai-key", "sk-ant-example-dummy-key", ROTATED_KEY)
PROFILES = ("chat", "mini", "tiered")


def config_map(cluster: Any, namespace: str, profile: str) -> Any:
    """The profile's rendered ConfigMap: in the release namespace, where tenants cannot write."""
    return get_json(cluster, "configmap", f"switchboard-{namespace}.{profile}", "-n", cluster.namespace)


def config_hash(cluster: Any, namespace: str, profile: str) -> str | None:
    cm = config_map(cluster, namespace, profile)
    return cm["metadata"]["annotations"][CONFIG_HASH_ANNOTATION] if cm else None


def ready_profile(cluster: Any, namespace: str, name: str) -> Any:
    rp = get_json(cluster, "routingprofile", name, "-n", namespace)
    ready = condition(rp, "Ready")
    return rp if ready and ready["status"] == "True" else None


def apply_examples(cluster: Any, namespace: str) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", str(EXAMPLES))
    for name in PROFILES:
        wait_for(lambda n=name: ready_profile(cluster, namespace, n), 90, f"profile {name} Ready")


def events(cluster: Any, namespace: str) -> list[dict[str, Any]]:
    return list(get_json(cluster, "events", "-n", namespace)["items"])


def test_examples_render_with_status_columns_and_credentials(
    switchboard_crds: Any, start_operator: Any, kube_namespace: str
) -> None:
    cluster, ns = switchboard_crds, kube_namespace
    start_operator(ns)
    apply_examples(cluster, ns)
    for name in PROFILES:
        cm = config_map(cluster, ns, name)
        config = load_config(cm["data"][CONFIG_DATA_KEY])
        assert [p.name for p in config.profiles] == [name]
        assert cm["metadata"]["labels"]["switchboard.dev/rendered-config"] == "true"
        assert cm["metadata"]["labels"]["switchboard.dev/namespace"] == ns
        rp = get_json(cluster, "routingprofile", name, "-n", ns)
        assert cm["metadata"]["annotations"]["switchboard.dev/profile"] == f"{ns}/{name}"
        assert cm["metadata"]["annotations"]["switchboard.dev/profile-uid"] == rp["metadata"]["uid"]
        status = rp["status"]
        assert status["configHash"] == cm["metadata"]["annotations"][CONFIG_HASH_ANNOTATION]
        assert status["configMap"] == f"{cluster.namespace}/switchboard-{ns}.{name}"
        assert status["providerCount"] == len(config.providers)
        for kind in ("Ready", "ResolvedRefs", "Rendered"):
            assert condition({"status": status}, kind)["observedGeneration"] == 1  # type: ignore[index]
    for obj in get_json(cluster, "llmp,rp", "-n", ns)["items"]:  # kopf keeps no state on our objects
        assert not [a for a in obj["metadata"].get("annotations", {}) if "kopf" in a], obj["metadata"]
        assert not obj["metadata"].get("finalizers")
    mini = load_config(config_map(cluster, ns, "mini")["data"][CONFIG_DATA_KEY])
    assert [p.name for p in mini.providers] == ["local-vllm", "anthropic-mock", "openai-mock"]
    chat = load_config(config_map(cluster, ns, "chat")["data"][CONFIG_DATA_KEY])
    assert {p.name for p in chat.providers} == {"openai-mock", "anthropic-mock"}  # only what it uses

    wait_for(lambda: condition(get_json(cluster, "llmp", "openai-mock", "-n", ns), "Ready"), 30, "provider status")
    table = cluster.kubectl("get", "llmproviders", "-n", ns).stdout.split()
    assert table[:8] == ["NAME", "TYPE", "CIRCUIT", "ENDPOINTS", "P50", "ERROR-RATE", "READY", "AGE"]
    table = cluster.kubectl("get", "rp", "-n", ns).stdout.split()
    assert table[:8] == ["NAME", "STRATEGY", "PROVIDERS", "READY", "ACCEPTED", "IN-SYNC", "SPEND", "AGE"]
    assert "switchboard" in cluster.kubectl("api-resources", "--categories=switchboard").stdout

    creds = get_json(cluster, "secret", CREDENTIALS_SECRET, "-n", cluster.namespace)["data"]
    assert base64.b64decode(creds[f"{ns}.openai-mock"]).decode() == DUMMY_KEYS[0]
    assert base64.b64decode(creds[f"{ns}.anthropic-mock"]).decode() == DUMMY_KEYS[1]
    # The proxy may read exactly that Secret, and no other.
    assert (
        cluster.kubectl(
            "auth", "can-i", "get", f"secret/{CREDENTIALS_SECRET}", "-n", cluster.namespace, as_="proxy", check=False
        ).stdout.strip()
        == "yes"
    )
    assert (
        cluster.kubectl(
            "auth", "can-i", "get", "secret/upstream-keys", "-n", ns, as_="proxy", check=False
        ).stdout.strip()
        == "no"
    )
    # Service-backed providers: the proxy lists and watches EndpointSlices, and nothing more there.
    for verb, resource, expected in (
        ("watch", "endpointslices.discovery.k8s.io", "yes"),
        ("list", "endpointslices.discovery.k8s.io", "yes"),
        ("create", "endpointslices.discovery.k8s.io", "no"),
        ("get", "services", "no"),
    ):
        done = cluster.kubectl("auth", "can-i", verb, resource, "-n", ns, as_="proxy", check=False)
        assert done.stdout.strip() == expected, (verb, resource)


def test_provider_change_rerenders_exactly_its_profiles(
    switchboard_crds: Any, start_operator: Any, kube_namespace: str
) -> None:
    cluster, ns = switchboard_crds, kube_namespace
    start_operator(ns)
    apply_examples(cluster, ns)
    before = {name: config_hash(cluster, ns, name) for name in PROFILES}
    cluster.kubectl("patch", "llmp", "local-vllm", "-n", ns, "--type=merge", "-p", '{"spec": {"weight": 9}}')
    wait_for(lambda: config_hash(cluster, ns, "mini") != before["mini"], 60, "mini re-rendered")
    assert "weight: 9" in config_map(cluster, ns, "mini")["data"][CONFIG_DATA_KEY]
    assert config_hash(cluster, ns, "chat") == before["chat"]
    assert config_hash(cluster, ns, "tiered") == before["tiered"]
    # Drift: a ConfigMap deleted by hand comes back with the periodic resync.
    cluster.kubectl("delete", "configmap", f"switchboard-{ns}.tiered", "-n", cluster.namespace)
    wait_for(lambda: config_hash(cluster, ns, "tiered") == before["tiered"], 60, "ConfigMap restored")
    # A label change moves a provider in or out of a selector-based profile.
    cluster.kubectl("label", "llmp", "anthropic-mock", "-n", ns, "pool-")
    wait_for(
        lambda: "anthropic-mock" not in config_map(cluster, ns, "mini")["data"][CONFIG_DATA_KEY], 60, "selector update"
    )


def test_deleting_a_profile_garbage_collects_its_config_map(
    switchboard_crds: Any, start_operator: Any, kube_namespace: str
) -> None:
    cluster, ns = switchboard_crds, kube_namespace
    start_operator(ns)
    apply_examples(cluster, ns)
    cluster.kubectl("delete", "rp", "chat", "-n", ns)
    wait_for(lambda: config_map(cluster, ns, "chat") is None, 90, "ConfigMap removed by the operator")
    assert config_map(cluster, ns, "mini") is not None

    def credential_keys() -> set[str]:
        return set(get_json(cluster, "secret", CREDENTIALS_SECRET, "-n", cluster.namespace)["data"] or {})

    assert f"{ns}.anthropic-mock" in credential_keys()
    cluster.kubectl("delete", "llmp", "anthropic-mock", "-n", ns)
    wait_for(lambda: f"{ns}.anthropic-mock" not in credential_keys(), 60, "credential removed with its provider")


def test_missing_secret_reports_and_keeps_last_good_config(
    switchboard_crds: Any, start_operator: Any, kube_namespace: str
) -> None:
    cluster, ns = switchboard_crds, kube_namespace
    operator = start_operator(ns)
    apply_examples(cluster, ns)
    kept = config_map(cluster, ns, "chat")
    cluster.kubectl("delete", "secret", "upstream-keys", "-n", ns)

    def refs_broken() -> Any:
        refs = condition(get_json(cluster, "rp", "chat", "-n", ns), "ResolvedRefs")
        return refs if refs and refs["status"] == "False" else None

    refs = wait_for(refs_broken, 60, "ResolvedRefs=False")
    assert refs["reason"] == "SecretNotFound" and "upstream-keys" in refs["message"]
    assert condition(get_json(cluster, "rp", "chat", "-n", ns), "Ready")["status"] == "False"  # type: ignore[index]

    def provider_reason() -> str | None:
        ready = condition(get_json(cluster, "llmp", "openai-mock", "-n", ns), "Ready")
        return ready["reason"] if ready and ready["status"] == "False" else None

    assert wait_for(provider_reason, 30, "provider Ready=False") == "SecretNotFound"
    wait_for(
        lambda: [
            e for e in events(cluster, ns) if e["reason"] == "SecretNotFound" and e["involvedObject"]["name"] == "chat"
        ],
        30,
        "SecretNotFound event",
    )
    current = config_map(cluster, ns, "chat")
    assert current["data"] == kept["data"]  # the last good ConfigMap stays
    described = cluster.kubectl("describe", "rp", "chat", "-n", ns).stdout
    assert "SecretNotFound" in described

    # Put it back: everything heals.
    cluster.kubectl("apply", "-n", ns, "-f", str(EXAMPLES / "00-secret.yaml"))
    wait_for(lambda: ready_profile(cluster, ns, "chat"), 60, "profile Ready again")

    # A rotated key reaches the credentials Secret promptly (not only at the next resync).
    rotated = json.dumps({"stringData": {"openai": ROTATED_KEY}})
    cluster.kubectl("patch", "secret", "upstream-keys", "-n", ns, "--type=merge", "-p", rotated)

    def credential() -> str:
        data = get_json(cluster, "secret", CREDENTIALS_SECRET, "-n", cluster.namespace)["data"]
        return base64.b64decode(data[f"{ns}.openai-mock"]).decode()

    wait_for(lambda: credential() == ROTATED_KEY, 60, "rotated key copied")
    assert_no_key_leaks(cluster, ns, operator.log())


def assert_no_key_leaks(cluster: Any, ns: str, log: str) -> None:
    haystacks = {
        "configmaps": json.dumps(get_json(cluster, "configmaps", "-n", ns)),
        "status": json.dumps(get_json(cluster, "llmp,rp", "-n", ns)),
        "events": json.dumps(get_json(cluster, "events", "-n", ns)),
        "operator log": log,
    }
    for key in DUMMY_KEYS:
        for form in (key, base64.b64encode(key.encode()).decode()):
            leaks = [where for where, text in haystacks.items() if form in text]
            assert not leaks, f"API key found in {leaks}"
    assert "Rendered" in haystacks["events"]  # the search did look at real events


def test_invalid_resource_is_refused_with_a_readable_message(switchboard_crds: Any, kube_namespace: str) -> None:
    bad = (
        "apiVersion: switchboard.dev/v1alpha1\nkind: LLMProvider\nmetadata: {name: azure}\n"
        "spec: {type: azure-openai, models: [{name: m}]}\n"
    )
    done = switchboard_crds.kubectl("apply", "-n", kube_namespace, "-f", "-", input=bad, check=False)
    assert done.returncode != 0
    assert "baseUrl is required for type azure-openai" in done.stderr


def test_two_replicas_one_active_and_takeover(switchboard_crds: Any, start_operator: Any, kube_namespace: str) -> None:
    cluster, ns = switchboard_crds, kube_namespace
    first = start_operator(ns, "op-first")
    wait_for(lambda: "took leadership" in first.log(), 60, "first replica leads")
    second = start_operator(ns, "op-second")
    apply_examples(cluster, ns)
    lease = get_json(cluster, "lease", "switchboard-operator", "-n", cluster.namespace)
    assert lease["spec"]["holderIdentity"] == "op-first"
    assert "took leadership" not in second.log()

    first.kill()  # no graceful release: the standby must wait out the Lease
    wait_for(lambda: "took leadership" in second.log(), 60, "standby takes over")
    before = config_hash(cluster, ns, "chat")
    cluster.kubectl("patch", "llmp", "openai-mock", "-n", ns, "--type=merge", "-p", '{"spec": {"weight": 5}}')
    wait_for(lambda: config_hash(cluster, ns, "chat") != before, 60, "re-rendered by the new leader")
    assert (
        get_json(cluster, "lease", "switchboard-operator", "-n", cluster.namespace)["spec"]["holderIdentity"]
        == "op-second"
    )
