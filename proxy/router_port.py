"""What the HTTP shell needs from the routing engine (``switchboard.proxy.routing``).

Kept as a Protocol so the shell depends on behaviour, not on the engine's
module layout, and so the runtime can be built with any router factory.
"""

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from switchboard.api.config import ProxyConfig
from switchboard.api.status import ProviderHealth
from switchboard.proxy.routing.types import Attempt, Outcome, Plan, RouteRequest


class RetryStepLike(Protocol):
    @property
    def index(self) -> int: ...

    @property
    def delay_s(self) -> float: ...


class RouterPort(Protocol):
    def plan(self, request: RouteRequest) -> Plan: ...

    def started(self, attempt: Attempt) -> None: ...

    def finished(self, attempt: Attempt, outcome: Outcome) -> None: ...

    def next_step(
        self, plan: Plan, index: int, outcome: Outcome, retries_done: int, elapsed_s: float = 0.0
    ) -> RetryStepLike | None:
        """Which plan attempt to try next and after what delay, or None to stop."""
        ...

    # Reports are dataclasses, pydantic models or plain containers; the HTTP layer serialises them.
    def explain(self, request: RouteRequest) -> Any: ...

    def latency_report(self) -> Any: ...

    def estimate_cost(self, request: RouteRequest) -> Any: ...

    def provider_health(self) -> Mapping[str, ProviderHealth]: ...

    def update_config(self, config: ProxyConfig) -> None: ...

    def share_limits(self) -> None:
        """From now on RPM/TPM limits are the fleet limiter's (a state store is configured)."""
        ...


RouterFactory = Callable[[ProxyConfig], RouterPort]
