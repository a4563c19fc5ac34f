"""values.schema.json: wrong values fail helm with a message naming the value."""

import pytest

from tests.fixtures.helm import CHART, run_helm

BAD_VALUES = [
    (["--set", "proxy.replicas=0"], "/proxy/replicas", "minimum"),
    (["--set", "proxy.port=80"], "/proxy/port", "minimum"),
    (["--set", "operator.replicas=two"], "/operator/replicas", "want integer"),
    (["--set", "operator.healthPort=80"], "/operator/healthPort", "minimum"),
    (["--set", "operator.healthPort=null"], "/operator", "missing property 'healthPort'"),
    (["--set", "proxy.bogus=1"], "/proxy", "additional properties 'bogus' not allowed"),
    (["--set", "typo=1"], "", "additional properties 'typo' not allowed"),
    (["--set", "proxy.service.type=Ingress"], "/proxy/service/type", "value must be one of"),
    (["--set", "proxy.image.pullPolicy=Sometimes"], "/proxy/image/pullPolicy", "value must be one of"),
    (["--set", "proxy.autoscaling.targetCPUUtilizationPercentage=150"], "/proxy/autoscaling", "maximum"),
    (["--set", "proxy.podDisruptionBudget.maxUnavailable=half"], "/proxy/podDisruptionBudget/maxUnavailable", ""),
    (["--set", "proxy.serviceAccountName=Not_A_Name"], "/proxy/serviceAccountName", "does not match pattern"),
    (["--set", "metrics.serviceMonitor.interval=often"], "/metrics/serviceMonitor/interval", "does not match"),
    (["--set", "proxy.topologySpread.whenUnsatisfiable=Never"], "/proxy/topologySpread/whenUnsatisfiable", ""),
    (["--set-json", 'commonLabels={"a": 1}'], "/commonLabels/a", "want string"),
    (["--set", "proxy.auth.secretKey=../etc/passwd"], "/proxy/auth/secretKey", "does not match pattern"),
]


@pytest.mark.parametrize(("args", "where", "message"), BAD_VALUES, ids=[a[1] for a, _, _ in BAD_VALUES])
def test_bad_values_are_refused(helm: str, args: list[str], where: str, message: str) -> None:
    result = run_helm(helm, "template", "sb", str(CHART), *args)
    assert result.returncode != 0, f"{args} was accepted"
    assert "values don't meet the specifications of the schema" in result.stderr
    assert f"at '{where}" in result.stderr
    assert message in result.stderr


def test_install_refuses_bad_values_too(helm: str) -> None:
    result = run_helm(helm, "install", "sb", str(CHART), "--dry-run=client", "--set", "proxy.replicas=-1")
    assert result.returncode != 0
    assert "/proxy/replicas" in result.stderr


def test_autoscaling_bounds_are_checked(helm: str) -> None:
    result = run_helm(helm, "template", "sb", str(CHART), "--set", "proxy.autoscaling.minReplicas=20")
    assert result.returncode != 0
    assert "proxy.autoscaling.minReplicas (20) must not exceed proxy.autoscaling.maxReplicas (10)" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--set", "proxy.podDisruptionBudget.maxUnavailable=25%"],
        ["--set", "proxy.resources.limits.cpu=1500m"],
        ["--set", "proxy.auth.enabled=true", "--set", "proxy.auth.existingSecret=keys"],
        ["--set", "proxy.auth.enabled=true"],  # team keys only
        ["--set", "proxy.autoscaling.enabled=false", "--set", "proxy.autoscaling.minReplicas=20"],
    ],
)
def test_good_values_are_accepted(helm: str, args: list[str]) -> None:
    result = run_helm(helm, "template", "sb", str(CHART), *args)
    assert result.returncode == 0, result.stderr
