"""helm lint and helm template: what the chart creates with default and all-optional-on values."""

from typing import Any

import pytest

from switchboard.api.egress import EgressPolicy, parse_egress
from tests.fixtures.helm import ALL_ON_VALUES, CHART, Manifest, Render, find, run_helm

RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}


def kinds(manifests: list[Manifest]) -> set[tuple[str, str]]:
    return {(m["kind"], m["metadata"]["name"]) for m in manifests}


def container(deployment: Manifest) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def env(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


@pytest.mark.parametrize("extra", [[], ["-f", str(ALL_ON_VALUES)]], ids=["defaults", "all-on"])
def test_lint_strict(helm: str, extra: list[str]) -> None:
    result = run_helm(helm, "lint", "--strict", str(CHART), *extra)
    assert result.returncode == 0, result.stdout + result.stderr


def test_defaults_create_the_core_objects_only(helm_template: Render) -> None:
    objects = kinds(helm_template())
    assert objects == {
        ("CustomResourceDefinition", "llmproviders.switchboard.dev"),
        ("CustomResourceDefinition", "routingprofiles.switchboard.dev"),
        ("ServiceAccount", "switchboard-operator"),
        ("ServiceAccount", "switchboard-proxy"),
        ("ClusterRole", "sb-operator"),
        ("ClusterRole", "sb-proxy"),
        ("ClusterRoleBinding", "sb-operator"),
        ("ClusterRoleBinding", "sb-proxy"),
        ("Role", "sb-operator"),
        ("Role", "sb-proxy"),
        ("RoleBinding", "sb-operator"),
        ("RoleBinding", "sb-proxy"),
        ("Secret", "switchboard-credentials"),  # empty: the operator may update it, never create one
        ("Deployment", "sb-operator"),
        ("Deployment", "sb-proxy"),
        ("Service", "sb-proxy"),
        ("HorizontalPodAutoscaler", "sb-proxy"),
        ("PodDisruptionBudget", "sb-proxy"),
        ("PodDisruptionBudget", "sb-operator"),
    }


def test_all_on_adds_the_optional_objects(helm_template: Render) -> None:
    objects = kinds(helm_template("-f", str(ALL_ON_VALUES)))
    assert {
        ("ServiceMonitor", "sb-proxy"),
        ("ConfigMap", "sb-dashboard"),
        ("NetworkPolicy", "sb-proxy"),
        ("NetworkPolicy", "sb-operator"),
    } <= objects


def test_namespaced_objects_go_to_the_release_namespace(helm_template: Render) -> None:
    cluster_scoped = {"CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}
    for m in helm_template("-f", str(ALL_ON_VALUES), namespace="gw"):
        expected = None if m["kind"] in cluster_scoped else "gw"
        assert m["metadata"].get("namespace") == expected, m["kind"]


def test_operator_deployment(helm_template: Render) -> None:
    deployment = find(helm_template(namespace="gw"), "Deployment", "sb-operator")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "switchboard-operator"
    c = container(deployment)
    assert c["args"] == [
        "switchboard-operator",
        "--release-namespace",
        "gw",
        "--credentials-secret",
        "switchboard-credentials",
        "--fleet-replicas",
        "2",
        "--identity",
        "$(POD_NAME)",  # expanded by the kubelet from the Downward API env
        "--liveness-endpoint",
        "http://0.0.0.0:8080/healthz",
    ]
    assert c["ports"] == [{"name": "health", "containerPort": 8080, "protocol": "TCP"}]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "health"}, probe
    assert env(c)["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env(c)["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert c["securityContext"] == RESTRICTED_CONTAINER
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["resources"]["requests"] and c["resources"]["limits"]


def test_operator_health_port_follows_the_value(helm_template: Render) -> None:
    c = container(find(helm_template("--set", "operator.healthPort=9440"), "Deployment", "sb-operator"))
    assert "http://0.0.0.0:9440/healthz" in c["args"]
    assert c["ports"] == [{"name": "health", "containerPort": 9440, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"]["port"] == "health"


def test_proxy_stays_reachable_until_the_service_drops_it(helm_template: Render) -> None:
    c = container(find(helm_template(), "Deployment", "sb-proxy"))
    assert c["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    off = container(find(helm_template("--set", "proxy.preStopSleepSeconds=0"), "Deployment", "sb-proxy"))
    assert "lifecycle" not in off


def test_proxy_drains_for_the_pods_grace_period_after_its_prestop_sleep(helm_template: Render) -> None:
    def grace(*flags: str) -> str:
        args = container(find(helm_template(*flags), "Deployment", "sb-proxy"))["args"]
        return str(args[args.index("--shutdown-grace") + 1])

    assert grace() == "53"  # 60 s in all, 5 s of preStop sleep, 2 s spare
    assert grace("--set", "proxy.terminationGracePeriodSeconds=120", "--set", "proxy.preStopSleepSeconds=0") == "118"
    assert grace("--set", "proxy.terminationGracePeriodSeconds=3") == "1"


def test_proxy_deployment(helm_template: Render) -> None:
    manifests = helm_template()
    deployment = find(manifests, "Deployment", "sb-proxy")
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "switchboard-proxy"
    assert pod["securityContext"]["runAsNonRoot"] is True
    c = container(deployment)
    assert c["args"] == ["switchboard-proxy", "--kubernetes", "--port", "8080", "--shutdown-grace", "53"]
    assert c["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["securityContext"] == RESTRICTED_CONTAINER
    assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"]
    variables = env(c)
    assert variables["SWITCHBOARD_FLEET_SIZE"] == "2"
    assert variables["SWITCHBOARD_CREDENTIALS_SECRET"] == "switchboard-credentials"
    assert "SWITCHBOARD_API_KEYS_FILE" not in variables
    spread = pod["topologySpreadConstraints"]
    assert [s["topologyKey"] for s in spread] == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert all(s["labelSelector"]["matchLabels"] == selector for s in spread)
    service = find(manifests, "Service", "sb-proxy")
    assert service["spec"]["selector"] == selector
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    hpa = find(manifests, "HorizontalPodAutoscaler", "sb-proxy")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "sb-proxy"}
    assert find(manifests, "PodDisruptionBudget", "sb-proxy")["spec"]["selector"]["matchLabels"] == selector


def test_fixed_replicas_without_autoscaling(helm_template: Render) -> None:
    manifests = helm_template("--set", "proxy.autoscaling.enabled=false", "--set", "proxy.replicas=5")
    assert find(manifests, "Deployment", "sb-proxy")["spec"]["replicas"] == 5
    assert env(container(find(manifests, "Deployment", "sb-proxy")))["SWITCHBOARD_FLEET_SIZE"] == "5"
    assert not [m for m in manifests if m["kind"] == "HorizontalPodAutoscaler"]


def test_client_auth_mounts_the_secret(helm_template: Render) -> None:
    manifests = helm_template("-f", str(ALL_ON_VALUES))
    deployment = find(manifests, "Deployment", "sb-proxy")
    c = container(deployment)
    assert env(c)["SWITCHBOARD_API_KEYS_FILE"] == "/etc/switchboard/auth/keys.yaml"
    assert env(c)["SWITCHBOARD_FLEET_SIZE"] == "4"
    assert {"name": "api-keys", "mountPath": "/etc/switchboard/auth", "readOnly": True} in c["volumeMounts"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["api-keys"]["secret"]["secretName"] == "switchboard-client-keys"


def test_monitoring_and_network_policy(helm_template: Render) -> None:
    manifests = helm_template("-f", str(ALL_ON_VALUES))
    monitor = find(manifests, "ServiceMonitor", "sb-proxy")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    dashboard = find(manifests, "ConfigMap", "sb-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    proxy_policy = find(manifests, "NetworkPolicy", "sb-proxy")
    assert proxy_policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"]
    assert find(manifests, "NetworkPolicy", "sb-operator")["spec"].get("ingress") is None
    ours = [m for m in manifests if m["kind"] != "CustomResourceDefinition"]
    assert all(m["metadata"]["labels"]["team"] == "platform" for m in ours)


def test_notes_tell_what_to_run_next(helm: str) -> None:
    result = run_helm(helm, "install", "x", str(CHART), "--dry-run=client", "--namespace", "gw")
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "kubectl get llmproviders,routingprofiles -A" in notes
    assert "port-forward svc/x-proxy 8080:80" in notes
    assert "curl -s http://127.0.0.1:8080/v1/chat/completions" in notes


@pytest.mark.parametrize("extra", [[], ["-f", str(ALL_ON_VALUES)]], ids=["defaults", "all-on"])
def test_proxy_cli_accepts_the_chart_command_line(helm_template: Render, extra: list[str]) -> None:
    from switchboard.proxy.cli import build_parser

    args = container(find(helm_template(*extra), "Deployment", "sb-proxy"))["args"]
    assert args[0] == "switchboard-proxy"
    parsed = build_parser().parse_args(args[1:])
    assert parsed.kubernetes is True
    assert parsed.port == 8080


@pytest.mark.parametrize("extra", [[], ["-f", str(ALL_ON_VALUES)]], ids=["defaults", "all-on"])
def test_operator_cli_accepts_the_chart_command_line(helm_template: Render, extra: list[str]) -> None:
    from switchboard.operator.cli import parse_args

    args = container(find(helm_template(*extra, namespace="gw"), "Deployment", "sb-operator"))["args"]
    assert args[0] == "switchboard-operator"
    parsed = parse_args(args[1:])
    assert parsed.release_namespace == "gw"
    assert parsed.credentials_secret == "switchboard-credentials"
    assert parsed.fleet_replicas == (4 if extra else 2)


def test_egress_policy_reaches_both_components_strict_by_default(helm_template: Render) -> None:
    for name in ("sb-operator", "sb-proxy"):
        value = env(container(find(helm_template(), "Deployment", name)))["SWITCHBOARD_EGRESS_POLICY"]
        assert parse_egress(value) == EgressPolicy()
    allow = 'egress.allow=[{"namespace":"a","cidrs":["10.0.0.0/8"]}]'
    values = ["--set", "egress.allowLoopback=true", "--set-json", allow]
    value = env(container(find(helm_template(*values), "Deployment", "sb-proxy")))["SWITCHBOARD_EGRESS_POLICY"]
    policy = parse_egress(value)
    assert policy.allow_loopback and policy.allow[0].namespace == "a" and policy.allow[0].cidrs == ("10.0.0.0/8",)
