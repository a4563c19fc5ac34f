"""The loop of the proxy's advisory background work (status writes, Events)."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def run_every(interval_s: float, tick: Callable[[], Awaitable[None]], what: str) -> None:
    """Await ``tick`` every ``interval_s`` seconds until cancelled.

    The work is advisory: a failed round is logged and the next one runs, so a
    bug or an API server hiccup there never stops config sync.
    """
    while True:
        try:
            await tick()
        except Exception:
            log.exception("%s round failed; retrying next interval", what)
        await asyncio.sleep(interval_s)
