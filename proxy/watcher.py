"""Standalone hot reload: poll the config file and apply it when it changes.

Polling (mtime, size, then a content hash) is cheap at a 0.5 s period, needs
no extra dependency and works on every filesystem, including the symlink swaps
Kubernetes uses for mounted ConfigMaps.
"""

import asyncio
import hashlib
import logging
from pathlib import Path

from switchboard.api.config import ConfigError, load_config
from switchboard.proxy.runtime import Runtime

log = logging.getLogger("switchboard.proxy.watcher")


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
