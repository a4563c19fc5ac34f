"""The node's footprint on the host, made and removed explicitly: bridge, network
namespaces, leftover container processes, cgroups, mounts, iptables rules.

``sweep`` is the safety net after the graceful path (pods deleted through the
API, components stopped): whatever a crash left behind is found by what it
belongs to (our bridge, our containerd socket, the ``kubepods`` cgroups, mounts
under our state directory) and removed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

from hack.kubenode.config import BRIDGE, GATEWAY, POD_SUBNET, RUN_DIR
from hack.mounts import current_mounts_under, unmount_all_under

CGROUP_ROOT = Path("/sys/fs/cgroup")
KUBEPODS = "kubepods"
NETNS_DIR = Path("/run/netns")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def _mount(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=check, timeout=30)


def bridge_exists(name: str = BRIDGE) -> bool:
    return _ip("link", "show", "dev", name, check=False).returncode == 0


def create_bridge() -> None:
    """Our bridge with the gateway address, up before the API server binds to it."""
    if not bridge_exists():
        _ip("link", "add", BRIDGE, "type", "bridge")
    prefix = POD_SUBNET.split("/")[1]
    if GATEWAY not in _ip("-4", "addr", "show", "dev", BRIDGE).stdout:
        _ip("addr", "add", f"{GATEWAY}/{prefix}", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")


def delete_bridge() -> None:
    if bridge_exists():
        _ip("link", "delete", BRIDGE)


def cgroup_dirs() -> list[Path]:
    """Every ``kubepods`` cgroup directory in every hierarchy, deepest first."""
    found: list[Path] = []
    for hierarchy in CGROUP_ROOT.iterdir() if CGROUP_ROOT.is_dir() else []:
        top = hierarchy / KUBEPODS
        if top.is_dir():
            found.extend(Path(path) for path, _, _ in os.walk(top))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def cgroup_pids() -> set[int]:
    pids: set[int] = set()
    for directory in cgroup_dirs():
        try:
            pids.update(int(pid) for pid in (directory / "cgroup.procs").read_text().split())
        except OSError:
            continue
    return pids


def node_processes(state_dir: Path) -> list[int]:
    """Pids whose command line names our state or socket directory: components and containerd's shims."""
    return sorted({*processes_mentioning(str(state_dir)), *processes_mentioning(str(RUN_DIR))})


def processes_mentioning(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def kill_all(pids: set[int] | list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue


def network_namespaces() -> set[str]:
    return {entry.name for entry in NETNS_DIR.iterdir()} if NETNS_DIR.is_dir() else set()


def share_netns_dir() -> None:
    """Make ``/run/netns`` a shared mount point of its own, before any pod's namespace is mounted there.

    ``ip netns add`` (the endpoint tests' model servers, run beside the node) turns the directory
    into a recursive bind mount of itself when it is not a mount point yet. Done after containerd
    mounted a pod's namespace, that shadows the pod's mount: containerd can then neither unmount
    nor unlink it (EBUSY), and the pod never finishes terminating. Taking iproute2's step first
    puts every later namespace, containerd's and ``ip``'s, under the same mount.
    """
    NETNS_DIR.mkdir(parents=True, exist_ok=True)
    directory = str(NETNS_DIR)
    if _mount("--make-rshared", directory, check=False).returncode:  # not a mount point yet
        _mount("--rbind", directory, directory)
        _mount("--make-rshared", directory)


def remove_network_namespaces(names: set[str]) -> None:
    """Best effort: a namespace that stays (still mounted elsewhere) is reported by the suite's leftover check."""
    for name in names:
        path = NETNS_DIR / name
        subprocess.run(["umount", "--lazy", str(path)], capture_output=True, check=False)
        try:
            path.unlink(missing_ok=True)
        except OSError:
            continue


IPTABLES = ("iptables", "ip6tables")
OURS = ("KUBE-", "CNI-")  # kubelet's and kube-proxy's chains (the bridge plugin adds none: no ipMasq)


def iptables_rules(tool: str = "iptables") -> list[str]:
    """The rule set of every table without counters and comments: what a snapshot compares."""
    done = subprocess.run([f"{tool}-save"], capture_output=True, text=True, check=True, timeout=30)
    return [re.sub(r" \[\d+:\d+\]", "", line) for line in done.stdout.splitlines() if line and line[0] != "#"]


def our_rules() -> list[str]:
    return [f"{tool}: {rule}" for tool in IPTABLES for rule in iptables_rules(tool) if any(m in rule for m in OURS)]


def remove_our_chains() -> None:
    """Delete every rule jumping to a KUBE-/CNI- chain from the built-in chains, then those chains."""
    for tool in IPTABLES:
        table = ""
        chains: dict[str, list[str]] = {}
        for line in iptables_rules(tool):
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":") and line[1:].startswith(OURS):
                chains.setdefault(table, []).append(line[1:].split()[0])
            elif line.startswith("-A ") and not line.split()[1].startswith(OURS) and any(m in line for m in OURS):
                spec = shlex.split(line)[1:]
                subprocess.run([tool, "-t", table, "-D", *spec], capture_output=True, check=False, timeout=30)
        for table_name, names in chains.items():
            for flag in ("-F", "-X"):
                for name in names:
                    subprocess.run([tool, "-t", table_name, flag, name], capture_output=True, check=False, timeout=30)


def footprint(state_dir: Path) -> dict[str, list[str]]:
    """What of the node exists on the host right now (empty lists everywhere after ``down``)."""
    return {
        "processes": [str(pid) for pid in node_processes(state_dir)],
        "mounts": [str(point) for point in current_mounts_under(state_dir)],
        "cgroups": [str(path) for path in cgroup_dirs()],
        "bridge": [BRIDGE] if bridge_exists() else [],
        "iptables": our_rules(),
    }


def sweep(state_dir: Path, netns_before: set[str]) -> None:
    """Remove whatever the graceful stop left: container processes, shims, netns, mounts, cgroups, bridge."""
    for _ in range(3):
        leftovers = cgroup_pids() | set(node_processes(state_dir))
        if not leftovers:
            break
        kill_all(leftovers)
        time.sleep(0.5)
    remove_network_namespaces({name for name in network_namespaces() - netns_before if name.startswith("cni-")})
    unmount_all_under(state_dir)
    for directory in cgroup_dirs():
        try:
            directory.rmdir()
        except OSError:
            continue
    remove_our_chains()
    delete_bridge()
    shutil.rmtree(RUN_DIR, ignore_errors=True)
