"""Cluster mode: wires the informers, the config sync and the status reporter.

``switchboard-proxy --kubernetes`` runs :class:`ClusterMode` through
``KubernetesSource.run``; tests use it directly to wait for the first applied config.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from types import TracebackType
from typing import Any

from kubernetes_asyncio import client

from switchboard.api.aggregation import Timing
from switchboard.api.events import InvolvedObject
from switchboard.api.kube_client import new_api_client
from switchboard.api.status import NAMESPACE_LABEL, RENDERED_LABEL
from switchboard.proxy.endpoints.follower import SliceFollower
from switchboard.proxy.kube.connection import ApiConnection
from switchboard.proxy.kube.credentials import CredentialStore
from switchboard.proxy.kube.event_rules import EventThrottle, StormDetector
from switchboard.proxy.kube.events import EventPoster
from switchboard.proxy.kube.fleet_events import FleetEvents
from switchboard.proxy.kube.health_events import HealthEvents
from switchboard.proxy.kube.informer import Backoff, Collection, Informer
from switchboard.proxy.kube.rendered import Trust
from switchboard.proxy.kube.reporter import StatusReporter
from switchboard.proxy.kube.runtime_view import ClusterRuntime
from switchboard.proxy.kube.settings import ClusterSettings
from switchboard.proxy.kube.sync import ClusterSync
from switchboard.proxy.kube.team_keys import TeamKeys

log = logging.getLogger(__name__)

RENDERED_SELECTOR = f"{RENDERED_LABEL}=true"


class ClusterMode:
    """Runs every cluster-mode task for one replica until closed."""

    def __init__(
        self,
        runtime: ClusterRuntime,
        settings: ClusterSettings,
        credentials: CredentialStore | None = None,
        api_client_factory: Callable[[str | None], Any] = new_api_client,
        connection: ApiConnection | None = None,
        follow_endpoint_slices: bool = False,
        team_keys: TeamKeys | None = None,
    ) -> None:
        self.settings = settings
        self.connection = connection or ApiConnection()
        self.credentials = credentials or CredentialStore(settings.credentials_secret)
        self._team_keys = team_keys
        self._runtime = runtime
        self._factory = api_client_factory
        self._api: client.ApiClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._slices = SliceFollower(runtime.follow_slices) if follow_endpoint_slices else None
        self.sync: ClusterSync | None = None
        self.reporter: StatusReporter | None = None
        self.health_events: HealthEvents | None = None
        self.fleet_events: FleetEvents | None = None

    async def __aenter__(self) -> "ClusterMode":
        s = self.settings
        self._api = await self._factory(s.kubeconfig)
        core = client.CoreV1Api(self._api)
        recorder = EventPoster(core, s.replica)
        trust = Trust(s.own_namespace, s.credentials_secret, s.egress)
        sync = ClusterSync(self._runtime, self.credentials, trust, recorder, s.debounce_s, self._team_keys)
        backoff = Backoff()
        sync.config_informers = [Informer(_config_collection(core, s), sync.wake, backoff, self.connection)]
        sync.secret_informer = Informer(
            Collection(
                f"Secret {s.own_namespace}/{s.credentials_secret}",
                core.list_namespaced_secret,
                (s.own_namespace,),
                {"field_selector": f"metadata.name={s.credentials_secret}"},
            ),
            sync.wake,
            backoff,
            self.connection,
        )
        timing = Timing(ttl=timedelta(seconds=s.replica_ttl_s), heartbeat=timedelta(seconds=s.heartbeat_s))
        self.reporter = StatusReporter(
            client.CustomObjectsApi(self._api),
            s.replica,
            self._runtime,
            lambda: sync.served,
            timing,
            s.status_interval_s,
        )
        self.health_events = HealthEvents(
            recorder,
            client.CustomObjectsApi(self._api),
            s.replica,
            self._runtime,
            StormDetector(s.storm_threshold, s.storm_window_s),
            EventThrottle(s.event_interval_s),
        )
        fleet = self._runtime.fleet
        if fleet is not None:
            self.fleet_events = FleetEvents(
                fleet,
                poster=recorder,
                profiles=self.health_events,
                throttle=EventThrottle(s.event_interval_s),
                pod=InvolvedObject("v1", "Pod", s.own_namespace, s.replica, s.pod_uid),
            )
        self.sync = sync
        runners = [*(i.run() for i in sync.config_informers), sync.secret_informer.run(), sync.run()]
        if self._slices is not None:
            runners += [i.run() for i in self._slices.start(self._api, s.namespaces or (), backoff)]
        self._tasks = [asyncio.create_task(r) for r in runners]
        self._tasks.append(asyncio.create_task(self._report_after_first_apply()))
        return self

    async def _report_after_first_apply(self) -> None:
        assert self.sync is not None and self.reporter is not None and self.health_events is not None
        await self.sync.first_apply.wait()
        interval = self.settings.status_interval_s
        loops = [self.reporter.run(), self.health_events.run(interval)]
        if self.fleet_events is not None:
            loops.append(self.fleet_events.run(interval))
        await asyncio.gather(*loops)

    async def wait_synced(self) -> None:
        """Until the first config is applied; a crashed task raises here instead of hanging."""
        assert self.sync is not None
        waiter = asyncio.create_task(self.sync.first_apply.wait())
        done, _ = await asyncio.wait([waiter, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            for task in done:
                task.result()  # re-raises the crash

    async def wait(self) -> None:
        """Until a task fails (they run forever otherwise)."""
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._api is not None:
            await self._api.close()


def _config_collection(core: client.CoreV1Api, s: ClusterSettings) -> Collection:
    """Rendered ConfigMaps of the release namespace only (tenants cannot write there),
    narrowed to the profiles of ``s.namespaces`` when set."""
    selector = RENDERED_SELECTOR
    if s.namespaces:
        selector += f",{NAMESPACE_LABEL} in ({','.join(s.namespaces)})"
    describe = f"rendered ConfigMaps in {s.own_namespace}"
    return Collection(describe, core.list_namespaced_config_map, (s.own_namespace,), {"label_selector": selector})
