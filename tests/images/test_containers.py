"""The locally built images, started with podman as the chart would run them.

Non-root, read-only root filesystem, no capabilities, only ``/tmp`` writable: the
proxy serves a standalone config through a mock upstream running from the same
image, and the operator's liveness endpoint answers against the real API server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import openai
import pytest
import yaml

from hack.cluster import KubeCluster
from hack.cluster.processes import free_port, wait_until
from hack.images.base import PYTHON_FULL_VERSION, PYTHON_VERSION
from hack.images.podman import podman, run_once
from tests.fixtures.helm import REPO
from tests.fixtures.images import StartContainer, container_logs

pytestmark = pytest.mark.timeout(900)

UPSTREAM_KEY = "sk-upstream-secret-4242"
CONFIG = "/etc/switchboard/config.yaml"


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


def wait_healthy(url: str, name: str) -> None:
    if not wait_until(lambda: http_status(url) == 200, 90, interval=0.5):
        pytest.fail(f"{url} never answered 200; {name} logs:\n{container_logs(name)[-3000:]}")


def standalone_config(mock_port: int) -> dict[str, object]:
    return {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "ProxyConfig",
        "providers": [
            {
                "name": "mock",
                "type": "openai-compatible",
                "baseUrl": f"http://127.0.0.1:{mock_port}/v1",
                "apiKey": {"env": "UPSTREAM_KEY"},
                "models": [{"name": "gpt-4o-mini"}],
            }
        ],
        "profiles": [{"name": "default", "models": ["gpt-4o-mini"], "providers": [{"name": "mock"}]}],
    }


def test_images_run_as_non_root_with_the_pinned_python(local_images: dict[str, str]) -> None:
    for component, reference in local_images.items():
        (config,) = json.loads(podman("image", "inspect", reference))
        assert config["Config"]["User"] == "10001:10001"
        assert config["Config"]["Cmd"][0] == f"switchboard-{component}"
        labels = config["Config"]["Labels"]
        assert labels["org.opencontainers.image.title"] == f"switchboard-{component}", "its own target's labels"
        assert labels["org.opencontainers.image.licenses"] == "Apache-2.0", "and the shared stage's"
        assert ("8080/tcp" in (config["Config"].get("ExposedPorts") or {})) == (component == "proxy")
        version = run_once(reference, "python3", "--version").split()[1]
        assert version == PYTHON_FULL_VERSION, "wheel markers are evaluated for this exact interpreter"
        pip = run_once(reference, "ls", "/opt/switchboard/bin")
        assert "pip" not in pip.split(), "pip is removed from the runtime virtualenv"


PACKAGE_DIGEST = """
import hashlib, os, sys
root = sys.argv[1]
digest = hashlib.sha256()
for folder, _, files in sorted(os.walk(root, followlinks=True)):
    for name in sorted(f for f in files if f.endswith(".py")):
        path = os.path.join(folder, name)
        digest.update(os.path.relpath(path, root).encode() + b"\\0" + open(path, "rb").read())
print(digest.hexdigest())
"""


def test_images_carry_the_code_of_this_checkout_not_a_cached_layer_of_older_code(
    local_images: dict[str, str],
) -> None:
    """Every ``.py`` of the installed package, paths and bytes, as in the checkout the images were built from
    (a build step cached on its text alone would keep an older wheel's code)."""
    here = subprocess.run(
        [sys.executable, "-c", PACKAGE_DIGEST, str(REPO / "switchboard")], capture_output=True, text=True, check=True
    ).stdout.strip()
    site = f"/opt/switchboard/lib/python{PYTHON_VERSION}/site-packages/switchboard"
    for reference in local_images.values():
        assert run_once(reference, "python3", "-c", PACKAGE_DIGEST, site).strip() == here, reference


def test_proxy_image_serves_standalone_config_through_mock_pod_image(
    local_images: dict[str, str], container: StartContainer, tmp_path: Path
) -> None:
    image = local_images["proxy"]
    mock_port, proxy_port = free_port(), free_port()
    mock = container(
        "mock", image, ["switchboard-mock", "--host", "127.0.0.1", "--port", str(mock_port)],
        env={"SWITCHBOARD_MOCK_API_KEY": UPSTREAM_KEY},
    )  # fmt: skip
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(standalone_config(mock_port)))
    config.chmod(0o644)
    proxy = container(
        "proxy", image,
        ["switchboard-proxy", "--config", CONFIG, "--host", "127.0.0.1", "--port", str(proxy_port)],
        volumes={str(config): CONFIG}, env={"UPSTREAM_KEY": UPSTREAM_KEY},
    )  # fmt: skip
    wait_healthy(f"http://127.0.0.1:{proxy_port}/healthz", proxy)
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{proxy_port}/v1", api_key="client", max_retries=0, timeout=30)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
    assert reply.choices[0].message.content
    logs = container_logs(proxy) + container_logs(mock)
    assert UPSTREAM_KEY not in logs
    assert "Read-only file system" not in logs


@pytest.mark.k8s
def test_operator_image_liveness_against_the_api_server(
    local_images: dict[str, str],
    container: StartContainer,
    kube_cluster: KubeCluster,
    kube_namespace: str,
    tmp_path: Path,
) -> None:
    port = free_port()
    kubeconfig = tmp_path / "kubeconfig"  # the operator's token, readable by the image's user only
    shutil.copyfile(kube_cluster.kubeconfig("operator"), kubeconfig)
    os.chown(kubeconfig, 10001, 10001)
    operator = container(
        "operator", local_images["operator"],
        [
            "switchboard-operator", "--kubeconfig", "/etc/switchboard/kubeconfig",
            "--release-namespace", kube_cluster.namespace, "--namespace", kube_namespace,
            "--identity", "image-test", "--liveness-endpoint", f"http://127.0.0.1:{port}/healthz",
        ],
        volumes={str(kubeconfig): "/etc/switchboard/kubeconfig", str(kube_cluster.ca_file): str(kube_cluster.ca_file)},
    )  # fmt: skip
    wait_healthy(f"http://127.0.0.1:{port}/healthz", operator)
    assert "Read-only file system" not in container_logs(operator)
