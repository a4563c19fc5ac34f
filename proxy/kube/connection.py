"""Whether this replica still reaches the API server, and how old its config is.

A replica that lost the API server keeps serving its last good config (it stays
ready: restarting it would only lose that config), but says so: in ``/readyz``
(``source.kubernetes``) and as the metrics ``switchboard_kube_api_connected``
(0/1) and ``switchboard_config_age_seconds`` (since the config last changed or
was confirmed current by a successful list or watch).

Several informers share one ``ApiConnection``: the API server counts as lost
while any of them fails, and each change is logged once, not per retry.
"""

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)


@dataclass
class ApiConnection:
    clock: Callable[[], float] = time.time
    failing: dict[str, str] = field(default_factory=dict)  # informer -> its last error
    lost_since: float | None = None
    confirmed_at: float | None = None  # config known current (last list/watch event or apply)

    def ok(self, informer: str) -> None:
        """An informer listed or watched successfully: what it holds is current."""
        self.confirmed_at = self.clock()
        if self.failing.pop(informer, None) is not None and not self.failing:
            lost = self.clock() - (self.lost_since or self.clock())
            log.info("API server reachable again after %.1fs; config is current", lost)
            self.lost_since = None

    def failed(self, informer: str, error: str) -> None:
        if not self.failing:
            self.lost_since = self.clock()
            log.warning("lost the API server (%s: %s); serving the last good config until it is back", informer, error)
        self.failing[informer] = error

    @property
    def connected(self) -> bool:
        return not self.failing

    def config_age(self) -> float | None:
        return None if self.confirmed_at is None else max(0.0, self.clock() - self.confirmed_at)

    def detail(self) -> dict[str, Any]:
        """What ``/readyz`` shows under ``source.kubernetes``."""
        age = self.config_age()
        out: dict[str, Any] = {"apiServer": "connected" if self.connected else "lost"}
        if age is not None:
            out["configAgeSeconds"] = round(age, 1)
        if self.lost_since is not None:
            out["lostForSeconds"] = round(self.clock() - self.lost_since, 1)
            out["lastError"] = next(iter(self.failing.values()), "")[:256]
        return out

    def collector(self) -> Collector:
        return _ConnectionCollector(self)


class _ConnectionCollector(Collector):
    def __init__(self, connection: ApiConnection) -> None:
        self._connection = connection

    def collect(self) -> Iterable[GaugeMetricFamily]:
        connected = GaugeMetricFamily(
            "switchboard_kube_api_connected", "1 while this replica reaches the Kubernetes API server"
        )
        connected.add_metric([], 1.0 if self._connection.connected else 0.0)
        yield connected
        age = self._connection.config_age()
        if age is not None:
            family = GaugeMetricFamily(
                "switchboard_config_age_seconds", "Seconds since the served config was last known current"
            )
            family.add_metric([], age)
            yield family
