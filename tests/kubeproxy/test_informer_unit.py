"""Informer protocol handling against a scripted in-memory API (fast extra; the real
API server tests are in test_config_k8s.py): bookmarks, 410 relists, reconnects."""

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp

from switchboard.proxy.kube.connection import ApiConnection
from switchboard.proxy.kube.informer import Backoff, Collection, Informer
from switchboard.proxy.kube.rendered import ObjectRef


class _Content:
    def __init__(self, lines: list[bytes]) -> None:
        self._lines = lines

    async def readuntil(self, separator: bytes, max_size: int) -> bytes:
        return self._lines.pop(0) if self._lines else b""


class _Response:
    def __init__(self, status: int, body: Any = None, events: list[Mapping[str, Any]] | None = None) -> None:
        self.status = status
        self._body = body
        self.content = _Content([json.dumps(e).encode() + b"\n" for e in events or []])

    async def text(self) -> str:
        return json.dumps(self._body)

    def release(self) -> None:
        pass


def _cm(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "resourceVersion": rv}}


class ScriptedApi:
    """Answers each call with the next scripted response (or exception); records the calls."""

    def __init__(self, script: list[Any]) -> None:
        self.script = script
        self.calls: list[dict[str, Any]] = []
        self.done = asyncio.Event()

    async def list_fn(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if not self.script:
            self.done.set()
            await asyncio.Event().wait()  # the watch just stays open
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


async def _run(script: list[Any]) -> tuple[Informer, ScriptedApi, int]:
    api = ScriptedApi(script)
    changes = 0

    def changed() -> None:
        nonlocal changes
        changes += 1

    informer = Informer(Collection("test", api.list_fn), changed, Backoff(initial_s=0.001, max_s=0.002))
    task = asyncio.create_task(informer.run())
    await asyncio.wait_for(api.done.wait(), 5)
    task.cancel()
    return informer, api, changes


async def test_list_then_watch_applies_events_and_follows_bookmarks() -> None:
    informer, api, changes = await _run(
        [
            _Response(200, {"metadata": {"resourceVersion": "10"}, "items": [_cm("a", "5")]}),
            _Response(
                200,
                events=[
                    {"type": "ADDED", "object": _cm("b", "11")},
                    {"type": "MODIFIED", "object": _cm("a", "12")},
                    {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "20"}}},
                    {"type": "DELETED", "object": _cm("b", "21")},
                ],
            ),
        ]
    )
    assert list(informer.objects) == [ObjectRef("ns", "a")]
    assert informer.objects[ObjectRef("ns", "a")]["metadata"]["resourceVersion"] == "12"
    assert changes == 4  # list + 3 object events, not the bookmark
    assert api.calls[1]["resource_version"] == "10" and api.calls[1]["allow_watch_bookmarks"] is True
    assert api.calls[2]["resource_version"] == "21"  # stream ended: resume after the last event


async def test_gone_relists_and_replaces_the_cache() -> None:
    informer, api, _ = await _run(
        [
            _Response(200, {"metadata": {"resourceVersion": "10"}, "items": [_cm("a", "5"), _cm("b", "6")]}),
            _Response(200, events=[{"type": "ERROR", "object": {"code": 410, "message": "too old"}}]),
            _Response(200, {"metadata": {"resourceVersion": "50"}, "items": [_cm("b", "40")]}),
        ]
    )
    assert list(informer.objects) == [ObjectRef("ns", "b")]  # a was deleted while we were away
    assert "watch" not in api.calls[2] and api.calls[3]["resource_version"] == "50"


async def test_connection_errors_back_off_keep_the_cache_and_resume() -> None:
    informer, api, _ = await _run(
        [
            _Response(200, {"metadata": {"resourceVersion": "10"}, "items": [_cm("a", "5")]}),
            aiohttp.ClientConnectionError("connection refused"),
            _Response(503, {"message": "apiserver is shutting down"}),
            _Response(200, events=[{"type": "ADDED", "object": _cm("c", "30")}]),
        ]
    )
    assert set(informer.objects) == {ObjectRef("ns", "a"), ObjectRef("ns", "c")}
    assert [c.get("resource_version") for c in api.calls[1:4]] == ["10", "10", "10"]


async def test_list_failure_before_first_sync_is_retried() -> None:
    informer, _, _ = await _run(
        [
            _Response(403, {"message": "forbidden"}),
            _Response(200, {"metadata": {"resourceVersion": "3"}, "items": [_cm("a", "1")]}),
        ]
    )
    assert informer.synced.is_set() and list(informer.objects) == [ObjectRef("ns", "a")]


async def test_losing_the_api_server_is_told_once_and_measured(caplog: Any) -> None:
    caplog.set_level(logging.DEBUG, logger="switchboard.proxy.kube")
    now = [1000.0]
    connection = ApiConnection(clock=lambda: now[0])
    api = ScriptedApi(
        [
            _Response(200, {"metadata": {"resourceVersion": "10"}, "items": [_cm("a", "5")]}),
            *[aiohttp.ClientConnectionError("connection refused") for _ in range(6)],
            _Response(200, events=[{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "11"}}}]),
        ]
    )
    seen: list[dict[str, Any]] = []

    def changed() -> None:
        pass

    informer = Informer(Collection("cms", api.list_fn), changed, Backoff(initial_s=0.001, max_s=0.002), connection)
    original = api.list_fn

    async def list_fn(**kwargs: Any) -> Any:  # the clock moves a second per call; note the state each time
        now[0] += 1.0
        seen.append(connection.detail())
        return await original(**kwargs)

    informer.collection = Collection("cms", list_fn)
    task = asyncio.create_task(informer.run())
    await asyncio.wait_for(api.done.wait(), 5)
    task.cancel()
    assert seen[0] == {"apiServer": "connected"}  # before the first list: no config yet
    lost = [d for d in seen if d["apiServer"] == "lost"]
    assert len(lost) == 6 and lost[-1]["lostForSeconds"] == 6.0 and "connection refused" in lost[-1]["lastError"]
    assert lost[-1]["configAgeSeconds"] == 7.0  # the config is as old as the last good list
    assert seen[-1] == {"apiServer": "connected", "configAgeSeconds": 1.0}  # the bookmark confirmed it
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "lost the API server" in warnings[0].message
    assert sum("reachable again" in r.message for r in caplog.records) == 1
    metrics = {m.name: m.samples[0].value for m in connection.collector().collect()}
    assert metrics == {"switchboard_kube_api_connected": 1.0, "switchboard_config_age_seconds": 1.0}
