"""List+watch of one Kubernetes collection into an in-memory cache.

The client-go informer loop, kept small: list (remember the resourceVersion),
watch from it with bookmarks, relist on 410 Gone, and when the API server goes
away keep the cache (so the proxy keeps serving) and reconnect with capped,
jittered exponential backoff. After every change the ``on_change`` callback
gets the whole cache; it must be cheap (it normally just wakes a task).
"""

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from switchboard.proxy.kube.connection import ApiConnection
from switchboard.proxy.kube.rendered import ObjectRef

log = logging.getLogger(__name__)

ListFunction = Callable[..., Awaitable[Any]]
_MAX_EVENT_BYTES = 8 * 1024 * 1024  # ConfigMaps are at most 1 MiB; events wrap them in JSON


class Gone(Exception):
    """The resourceVersion is too old (HTTP 410): only a relist helps."""


class ApiStatusError(Exception):
    """The API server answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass(frozen=True, slots=True)
class Backoff:
    initial_s: float = 0.1
    max_s: float = 2.0

    def delay(self, attempt: int) -> float:
        """Full jitter on a capped exponential: spreads a fleet's reconnects."""
        ceiling = min(self.max_s, self.initial_s * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True, slots=True)
class Collection:
    """What to list and watch: a generated ``list_*`` API function and its arguments."""

    describe: str
    list_fn: ListFunction
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    watch_timeout_s: int = 300  # server closes the watch after this; we resume


class Informer:
    """Keeps ``objects`` in sync with one collection until cancelled."""

    def __init__(
        self,
        collection: Collection,
        on_change: Callable[[], None],
        backoff: Backoff | None = None,
        connection: ApiConnection | None = None,
    ) -> None:
        self.collection = collection
        self.objects: dict[ObjectRef, Mapping[str, Any]] = {}
        self.synced = asyncio.Event()
        self._on_change = on_change
        self._backoff = backoff or Backoff()
        self._connection = connection or ApiConnection()

    async def run(self) -> None:
        failures = 0
        version: str | None = None
        while True:
            try:
                if version is None:
                    version = await self._relist()
                    failures = 0
                version = await self._watch(version)
                failures = 0
            except Gone:
                log.info("%s: resourceVersion expired, relisting", self.collection.describe)
                version = None
            except (aiohttp.ClientError, ApiStatusError, TimeoutError, OSError, ValueError) as e:
                delay = self._backoff.delay(failures)
                failures += 1
                self._connection.failed(self.collection.describe, str(e) or repr(e))
                log.debug("%s: %s; retrying in %.2fs", self.collection.describe, e, delay)
                await asyncio.sleep(delay)

    async def _call(self, **extra: Any) -> Any:
        c = self.collection
        return await c.list_fn(*c.args, **c.kwargs, **extra, _preload_content=False)

    async def _relist(self) -> str:
        response = await self._call()
        try:
            body = await _json_body(response)
        finally:
            response.release()
        self.objects = {ObjectRef.of(item): item for item in body.get("items") or []}
        self._connection.ok(self.collection.describe)
        self.synced.set()
        self._on_change()
        return str((body.get("metadata") or {}).get("resourceVersion") or "")

    async def _watch(self, version: str) -> str:
        """Apply events until the stream ends; returns the last resourceVersion seen."""
        response = await self._call(
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=self.collection.watch_timeout_s,
            _request_timeout=aiohttp.ClientTimeout(sock_connect=5, sock_read=self.collection.watch_timeout_s + 30),
        )
        try:
            if response.status != 200:
                await _json_body(response)  # raises with the server's message
            self._connection.ok(self.collection.describe)
            while line := await response.content.readuntil(b"\n", max_size=_MAX_EVENT_BYTES):
                if line.strip():
                    version = self._apply(json.loads(line), version)
        finally:
            response.release()
        return version

    def _apply(self, event: Mapping[str, Any], version: str) -> str:
        kind = event.get("type")
        obj = event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone()
            raise ApiStatusError(int(obj.get("code") or 0), str(obj.get("message")))
        new_version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
        self._connection.ok(self.collection.describe)
        if kind == "BOOKMARK":
            return new_version
        ref = ObjectRef.of(obj)
        if kind == "DELETED":
            self.objects.pop(ref, None)
        elif kind in ("ADDED", "MODIFIED"):
            self.objects[ref] = obj
        else:
            return version
        self._on_change()
        return new_version


async def _json_body(response: Any) -> dict[str, Any]:
    """The decoded body of a 2xx response; ``Gone``/``ApiStatusError`` otherwise."""
    text = await response.text()
    if response.status == 410:
        raise Gone()
    if not 200 <= response.status < 300:
        try:
            message = json.loads(text).get("message", text)
        except ValueError:
            message = text
        raise ApiStatusError(response.status, str(message)[:300])
    body = json.loads(text)
    if not isinstance(body, dict):
        raise ValueError("API server returned a non-object body")
    return body
