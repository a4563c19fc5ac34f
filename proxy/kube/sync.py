"""Rendered ConfigMaps + the credentials Secret -> ``ClusterRuntime.apply``.

Informers only mark the state dirty; one task rebuilds, after a tiny debounce
that folds a burst of events into one apply. The first apply waits until every
informer has listed once, so keys are present when providers first load.
"""

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from switchboard.api.config import ConfigError, ProxyConfig
from switchboard.proxy.kube.credentials import CredentialStore, decode_secret_data
from switchboard.proxy.kube.events import EventPoster
from switchboard.proxy.kube.informer import Informer
from switchboard.proxy.kube.rendered import (
    INVALID,
    UNTRUSTED,
    ObjectRef,
    RenderedState,
    Trust,
    merged_config,
    missing_credentials,
    new_errors,
    reconcile,
    served_hashes,
)
from switchboard.proxy.kube.runtime_view import ClusterRuntime
from switchboard.proxy.kube.team_keys import TeamKeys, split_delivered

log = logging.getLogger(__name__)


class ClusterSync:
    """Owns the rendered state and applies the merged config when it changes."""

    def __init__(
        self,
        runtime: ClusterRuntime,
        credentials: CredentialStore,
        trust: Trust,
        events: EventPoster | None = None,
        debounce_s: float = 0.01,
        team_keys: TeamKeys | None = None,
    ) -> None:
        self.runtime = runtime
        self.credentials = credentials
        self.team_keys = team_keys
        self.trust = trust
        self.config_informers: Sequence[Informer] = ()
        self.secret_informer: Informer | None = None
        self.applied: ProxyConfig | None = None
        self.applies = 0
        self.served: Mapping[ObjectRef, str] = {}
        self.first_apply = asyncio.Event()
        self._state = RenderedState()
        self._fingerprint = ""
        self._events = events
        self._debounce_s = debounce_s
        self._dirty = asyncio.Event()
        self._missing: dict[ObjectRef, str] = {}

    def wake(self) -> None:
        """Informer callback: something changed."""
        self._dirty.set()

    async def run(self) -> None:
        informers = [*self.config_informers, *([self.secret_informer] if self.secret_informer else [])]
        await asyncio.gather(*(i.synced.wait() for i in informers))
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self._debounce_s)
            self._dirty.clear()
            await self.rebuild()

    async def rebuild(self) -> None:
        objects: dict[ObjectRef, Mapping[str, Any]] = {}
        for informer in self.config_informers:
            objects.update(informer.objects)
        previous, self._state = self._state, reconcile(self._state, objects, self.trust)
        for error in new_errors(previous, self._state):
            verdict = {INVALID: "skipping", UNTRUSTED: "refused untrusted"}.get(error.reason, "refused")
            log.error(
                "%s %s (resourceVersion %s); still serving its last good version if any",
                verdict,
                error,
                error.resource_version,
            )
            if self._events is not None:
                await self._events.warn("ConfigMap", error.source, error.reason, error.message)
        if self.secret_informer is not None:
            secret = next(iter(self.secret_informer.objects.values()), None)
            provider_keys, client_keys = split_delivered(decode_secret_data(secret))
            self.credentials.replace(provider_keys)
            if self.team_keys is not None:
                self.team_keys.update(client_keys)
        await self._apply_if_changed()

    async def _report_missing(self, missing: Mapping[ObjectRef, str]) -> None:
        """One ERROR line and Warning Event per ConfigMap that starts lacking a key."""
        for ref, why in sorted(missing.items()):
            if self._missing.get(ref) != why:
                log.error("leaving out ConfigMap %s (its profiles are not served): %s", ref, why)
                if self._events is not None:
                    await self._events.warn("ConfigMap", ref, "CredentialMissing", why)
        self._missing = dict(missing)

    async def _apply_if_changed(self) -> None:
        missing = missing_credentials(self._state, self.credentials.keys(), self.credentials.secret_name)
        await self._report_missing(missing)
        try:
            config = merged_config(self._state, leave_out=missing)
        except (ConfigError, ValidationError) as e:
            log.error("rendered ConfigMaps do not merge, keeping the current config: %s", e)
            return
        fingerprint = self.credentials.fingerprint()
        if config == self.applied and fingerprint == self._fingerprint:
            return
        try:
            await self.runtime.apply(config)
        except ConfigError as e:
            log.error("merged config rejected, the previous config keeps serving: %s", e)
            return
        except Exception:
            log.exception("applying the merged config failed; the previous config keeps serving")
            return
        self.applied, self._fingerprint = config, fingerprint
        self.served = served_hashes(self._state, leave_out=missing)
        self.applies += 1
        self.first_apply.set()
        log.info("applied config: %d providers, %d profiles", len(config.providers), len(config.profiles))
