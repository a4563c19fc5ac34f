"""Where configs come from: the seam between the proxy and its config origin.

Standalone mode uses ``FileSource`` (the ``--config`` file, hot reloaded).
Cluster mode (``--kubernetes``) uses the source that
``switchboard.proxy.kube.create_source(options)`` returns: it watches the
rendered ConfigMaps, merges them (``merge_configs``) and calls
``runtime.apply``; its ``secrets`` resolves ``apiKey.secret`` references.

A source's ``run`` is started when the app starts and cancelled when it stops;
it should apply the first config as soon as it can (readiness waits for it)
and keep applying changes. ``apply`` raising ``ConfigError`` means "keep the
last good config": log it and carry on.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from switchboard.proxy.credentials import SecretResolver
from switchboard.proxy.runtime import Runtime
from switchboard.proxy.watcher import ConfigFileWatcher


class ConfigSource(Protocol):
    @property
    def secrets(self) -> SecretResolver | None: ...

    async def run(self, runtime: Runtime) -> None: ...

    def status(self) -> Mapping[str, object]:
        """Where the config comes from and how current it is, for ``/readyz``."""
        ...


@dataclass(frozen=True)
class FileSource:
    path: Path
    interval_s: float = 0.5
    secrets: SecretResolver | None = None

    def status(self) -> Mapping[str, object]:
        return {"kind": "file", "path": str(self.path)}

    async def run(self, runtime: Runtime) -> None:
        watcher = ConfigFileWatcher(runtime, self.path, self.interval_s)
        await watcher.load_once()
        await watcher.run()
