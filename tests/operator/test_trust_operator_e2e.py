"""Issue 18, high: creating an LLMProvider is not a way to read a Secret. The tenant is a
restricted ServiceAccount (may write LLMProviders and RoutingProfiles, may not read Secrets);
the operator runs as a subprocess under the chart's RBAC."""

import base64
import json
from typing import Any

import pytest

from switchboard.api.status import CREDENTIALS_SECRET
from tests.fixtures.operator import condition, get_json, wait_for
from tests.fixtures.tenants import Tenant

pytestmark = [pytest.mark.k8s, pytest.mark.timeout(240)]

PASSWORD = "hunter2-db-password"


def _provider(name: str, secret: str, key: str) -> dict[str, Any]:
    return {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "LLMProvider",
        "metadata": {"name": name},
        "spec": {
            "type": "openai-compatible",
            "baseUrl": "http://127.0.0.1:9/v1",  # the attacker's listener
            "models": [{"name": "m"}],
            "apiKeySecretRef": {"name": secret, "key": key},
        },
    }


def _profile(provider: str) -> dict[str, Any]:
    return {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "RoutingProfile",
        "metadata": {"name": "steal"},
        "spec": {"models": ["m"], "providers": [{"name": provider}]},
    }


def _secret(name: str, data: dict[str, str], annotations: dict[str, str] | None = None) -> str:
    meta: dict[str, Any] = {"name": name, **({"annotations": annotations} if annotations else {})}
    return json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": meta, "stringData": data})


def test_an_llmprovider_cannot_exfiltrate_a_secret_that_did_not_opt_in(
    switchboard_crds: Any, start_operator: Any, kube_namespace: str, make_tenant: Any
) -> None:
    cluster, ns = switchboard_crds, kube_namespace
    tenant: Tenant = make_tenant(ns)
    operator = start_operator(ns)
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=_secret("db-password", {"password": PASSWORD}))

    # Not at admission: a Secret name that is a path, not an object name.
    escape = json.dumps(_provider("escape", "../../kube-system/x", "k"))
    done = tenant.kubectl("apply", "-n", ns, "-f", "-", input=escape, check=False)
    assert done.returncode != 0 and "apiKeySecretRef.name" in done.stderr, done.stderr

    # The audit's attack: point a provider at an unrelated Secret, and a profile at the provider.
    tenant.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(_provider("evil", "db-password", "password")))
    tenant.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(_profile("evil")))

    def refused(kind: str, name: str) -> dict[str, Any] | None:
        refs = condition(get_json(cluster, kind, name, "-n", ns), "ResolvedRefs")
        return refs if refs and refs["status"] == "False" else None

    refs = wait_for(lambda: refused("llmp", "evil"), 60, "provider ResolvedRefs=False")
    assert refs["reason"] == "SecretNotAllowed"
    assert "switchboard.dev/allowed-providers" in refs["message"] and "db-password" in refs["message"]
    assert wait_for(lambda: refused("rp", "steal"), 60, "profile ResolvedRefs=False")["reason"] == "SecretNotAllowed"
    events = tenant.kubectl("get", "events", "-n", ns, "-o", "json").stdout
    warned = [
        e
        for e in json.loads(events)["items"]
        if e["reason"] == "SecretNotAllowed" and e["involvedObject"]["name"] == "evil" and e["type"] == "Warning"
    ]
    assert warned, "a Warning Event on the provider"
    wait_for(lambda: "LLMProvider " + f"{ns}/evil: SecretNotAllowed" in operator.log(), 30, "log line")

    def copied() -> dict[str, str]:
        data = (get_json(cluster, "secret", CREDENTIALS_SECRET, "-n", cluster.namespace) or {}).get("data") or {}
        return {k: base64.b64decode(v).decode() for k, v in data.items() if k.startswith(f"{ns}.")}

    rendered = f"switchboard-{ns}.steal"
    assert get_json(cluster, "configmap", rendered, "-n", cluster.namespace) is None  # nothing to serve
    assert f"{ns}.evil" not in copied()

    # The Secret's owner opts in for another provider only: still refused.
    cluster.kubectl("annotate", "secret", "db-password", "-n", ns, "switchboard.dev/allowed-providers=billing")
    cluster.kubectl("annotate", "secret", "db-password", "-n", ns, "unrelated=touch")  # one more event
    assert refused("llmp", "evil") is not None
    assert f"{ns}.evil" not in copied()

    # Opted in by name: the key is used (the owner of the Secret decided so).
    cluster.kubectl(
        "annotate", "--overwrite", "secret", "db-password", "-n", ns, "switchboard.dev/allowed-providers=billing,evil"
    )
    wait_for(lambda: copied().get(f"{ns}.evil") == PASSWORD, 60, "key copied after the opt-in")
    wait_for(lambda: get_json(cluster, "configmap", rendered, "-n", cluster.namespace), 60, "profile rendered")

    # Withdrawn: the copy goes away and the provider says why.
    cluster.kubectl("annotate", "secret", "db-password", "-n", ns, "switchboard.dev/allowed-providers-")
    wait_for(lambda: f"{ns}.evil" not in copied(), 60, "copy removed on withdrawal")
    assert wait_for(lambda: refused("llmp", "evil"), 60, "refused again")["reason"] == "SecretNotAllowed"
    assert PASSWORD not in operator.log()
