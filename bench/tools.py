"""What ``make bench`` needs beyond the project's virtualenv, installed on first use.

nginx and wrk come from Debian (``apt-get``, as root); vegeta, the open-loop
load generator, is built from the Go module proxy; LiteLLM gets a virtualenv of
its own under the cache so its many dependencies never meet the project's.
Everything lands under ``$SWITCHBOARD_CACHE/bench`` and is reused afterwards.
"""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

VEGETA_MODULE = "github.com/tsenart/vegeta/v12@v12.13.0"
LITELLM_VERSION = "1.106.12"
"""Pinned: 1.110's ``[proxy]`` extra needs a ``litellm-proxy`` package pip cannot find; 1.107.0 was a bad release."""
LITELLM_EXTRAS = ("httptools==0.9.0", "opentelemetry-sdk==1.45.2")
"""LiteLLM at its best, as its production image runs it: uvicorn's fast HTTP parser (what ``uvicorn[standard]``
brings; ``litellm[proxy]`` does not), and the OpenTelemetry SDK at the version of LiteLLM's own ``proxy-runtime``
extra (without it, LiteLLM's key check imports ``litellm.integrations.otel.logger`` on every request and fails)."""
DEBIAN_PACKAGES = {"nginx": "nginx-light", "wrk": "wrk"}


@dataclass(frozen=True)
class Tools:
    nginx: Path
    wrk: Path
    vegeta: Path
    litellm: Path | None
    """None when ``--no-litellm`` (bench-quick): the path is left out, not faked."""


def cache_dir() -> Path:
    root = os.environ.get("SWITCHBOARD_CACHE") or str(Path.home() / ".cache" / "switchboard")
    return Path(root) / "bench"


def _which(name: str, *extra: Path) -> Path | None:
    for directory in extra:
        if (directory / name).is_file():
            return directory / name
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    return Path(found) if found else None


def _apt_install(packages: list[str]) -> None:
    if os.geteuid() != 0:
        sys.exit(f"bench: please install {' '.join(packages)} (apt-get install needs root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env)


def vegeta() -> Path:
    """vegeta, built from the Go module proxy on first use."""
    return _vegeta(cache_dir() / "bin")


def _vegeta(bin_dir: Path) -> Path:
    found = _which("vegeta", bin_dir)
    if found:
        return found
    go = _which("go", Path("/usr/local/go/bin"))
    if go is None:
        sys.exit("bench: vegeta needs Go to build (install golang)")
    bin_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(go), "install", VEGETA_MODULE], check=True, env={**os.environ, "GOBIN": str(bin_dir)})
    return bin_dir / "vegeta"


def _litellm(root: Path) -> Path:
    venv = root / f"litellm-{LITELLM_VERSION}"
    binary, ready = venv / "bin" / "litellm", venv / ".bench-ready"
    wanted = "\n".join((LITELLM_VERSION, *LITELLM_EXTRAS))
    if binary.is_file() and ready.is_file() and ready.read_text() == wanted:
        return binary
    if not binary.is_file():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, f"litellm[proxy]=={LITELLM_VERSION}", *LITELLM_EXTRAS], check=True)
    ready.write_text(wanted)
    return binary


def debian_tool(name: str) -> Path:
    """``nginx`` or ``wrk``, installed from Debian when missing."""
    if _which(name) is None:
        _apt_install([DEBIAN_PACKAGES[name]])
    found = _which(name)
    assert found is not None, f"apt-get install did not provide {name}"
    return found


def ensure_tools(*, litellm: bool) -> Tools:
    root = cache_dir()
    missing = [pkg for name, pkg in DEBIAN_PACKAGES.items() if _which(name) is None]
    if missing:
        _apt_install(missing)
    return Tools(
        nginx=debian_tool("nginx"),
        wrk=debian_tool("wrk"),
        vegeta=vegeta(),
        litellm=_litellm(root) if litellm else None,
    )


def versions(tools: Tools) -> dict[str, str]:
    """Versions of the tools and servers compared, for the report."""

    def first_line(*argv: str) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        return (done.stdout + done.stderr).strip().splitlines()[0] if (done.stdout + done.stderr).strip() else "?"

    out = {
        "nginx": first_line(str(tools.nginx), "-v"),
        "wrk": first_line(str(tools.wrk), "-v"),
        "vegeta": VEGETA_MODULE.rpartition("@")[2],
        "python": sys.version.split()[0],
    }
    if tools.litellm is not None:
        out["litellm"] = " + ".join((LITELLM_VERSION, *LITELLM_EXTRAS))
    return out
