"""Static checks of the Dockerfiles (no Docker engine here): pinned, multi-stage, non-root, right command."""

import re
import tomllib

import pytest

from tests.fixtures.helm import REPO


@pytest.mark.parametrize("component", ["proxy", "operator"])
def test_dockerfile(component: str) -> None:
    text = (REPO / component / "Dockerfile").read_text()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M)
    assert base is not None
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base.group(1))
    assert len(re.findall(r"^FROM ", text, re.M)) == 2, "multi-stage: build and runtime"
    assert re.search(r"^USER 10001:10001$", text, re.M), "runs as the UID the chart's securityContext expects"
    assert "pip install /wheels/switchboard-" in text, "installs the project wheel"
    command = re.search(r"^CMD \[\"([^\"]+)\"", text, re.M)
    assert command is not None
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert command.group(1) == f"switchboard-{component}" and command.group(1) in scripts
    assert "ENTRYPOINT" not in text.replace("No ENTRYPOINT", "")


def test_dockerignore_keeps_secrets_and_venv_out() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("**")] == "**", "deny by default"
    assert {"!pyproject.toml", "!switchboard", "!proxy", "!operator"} <= set(lines)
