"""Where configs come from, and the standalone one: a config file, hot reloaded.

Standalone mode uses ``FileSource`` (the ``--config`` file). Cluster mode
(``--kubernetes``) uses the source ``switchboard.proxy.kube.create_source``
returns: it watches the rendered ConfigMaps, merges them and calls
``runtime.apply``; its ``secrets`` resolves ``apiKey.secret`` references.

A source's ``run`` is started when the app starts and cancelled when it stops;
it applies the first config as soon as it can (readiness waits for it) and
keeps applying changes. ``apply`` raising ``ConfigError`` means "keep the last
good config": log it and carry on.

The file is polled (mtime, size, then a content hash): cheap at a 0.5 s
period, no extra dependency, and it works on every filesystem, including the
symlink swaps Kubernetes uses for mounted ConfigMaps.
"""

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from switchboard.api.config import ConfigError, load_config
from switchboard.api.egress import EgressPolicy
from switchboard.proxy.auth import KeyStore
from switchboard.proxy.credentials import SecretResolver
from switchboard.proxy.runtime import Runtime

log = logging.getLogger("switchboard.proxy.config")


class ConfigSource(Protocol):
    @property
    def secrets(self) -> SecretResolver | None: ...

    @property
    def egress(self) -> EgressPolicy | None:
        """Where providers may connect (checked after DNS); None: anywhere (a trusted config file)."""
        ...

    @property
    def client_keys(self) -> Callable[[], KeyStore] | None:
        """Client keys the source delivers besides the keys file (cluster mode: the teams'); None: none."""
        ...

    async def run(self, runtime: Runtime) -> None: ...

    def status(self) -> Mapping[str, object]:
        """Where the config comes from and how current it is, for ``/readyz``."""
        ...


@dataclass(frozen=True)
class FileSource:
    """The ``--config`` file, applied at start and whenever its content changes."""

    path: Path
    interval_s: float = 0.5
    secrets: SecretResolver | None = None
    egress: EgressPolicy | None = None
    client_keys: Callable[[], KeyStore] | None = None

    def status(self) -> Mapping[str, object]:
        return {"kind": "file", "path": str(self.path)}

    async def run(self, runtime: Runtime) -> None:
        watcher = ConfigFileWatcher(runtime, self.path, self.interval_s)
        await watcher.load_once()
        await watcher.run()


class ConfigFileWatcher:
    def __init__(self, runtime: Runtime, path: Path, interval_s: float = 0.5) -> None:
        self._runtime = runtime
        self._path = path
        self._interval_s = interval_s
        self._stamp: tuple[int, int] | None = None
        self._digest: str | None = None

    async def load_once(self) -> bool:
        """Apply the file if its content changed; False (and a log line) when it is unusable."""
        try:
            stat = self._path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp == self._stamp:
                return True
            text = self._path.read_bytes()
        except OSError as e:
            return self._reject(f"cannot read {self._path}: {e.strerror}")
        self._stamp = stamp
        digest = hashlib.sha256(text).hexdigest()
        if digest == self._digest:
            return True
        self._digest = digest
        try:
            config = load_config(text)
        except ConfigError as e:
            self._runtime.metrics.reloads.labels("failure").inc()
            return self._reject(f"invalid config in {self._path}: {e}")
        try:
            snapshot = await self._runtime.apply(config)
        except ConfigError as e:
            return self._reject(f"invalid config in {self._path}: {e}")
        log.info("config loaded from %s (version %d, sha256 %s)", self._path, snapshot.version, digest[:12])
        return True

    def _reject(self, message: str) -> bool:
        if self._runtime.ready:
            log.error("%s; still serving the last good config", message)
        else:
            self._runtime.not_ready_reason = message
            log.error("%s", message)
        return False

    async def run(self) -> None:
        """Poll forever; cancel the task to stop. One bad reload never ends hot reload."""
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.load_once()
            except Exception:
                log.exception("reloading %s failed; still serving the last good config", self._path)
