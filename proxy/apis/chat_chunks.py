"""Reading back the chat chunk events an adapter's stream translator produced (pure).

Inbound encoders sit on top of the chat translators, so every upstream keeps a
single codec; they re-read the ``data: {...}`` events here, one JSON object each.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from switchboard.proxy.adapters.base import UpstreamProtocolError
from switchboard.proxy.adapters.wire import as_object


@dataclass(frozen=True, slots=True)
class ToolDelta:
    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclass(frozen=True, slots=True)
class ChunkView:
    """What an encoder needs of one chat chunk."""

    id: str | None
    created: int | None
    text: str
    tools: tuple[ToolDelta, ...]
    finish_reason: str | None


def _tools(delta: dict[str, Any]) -> tuple[ToolDelta, ...]:
    out: list[ToolDelta] = []
    for position, call in enumerate(delta.get("tool_calls") or []):
        if not isinstance(call, dict):
            continue
        function = as_object(call.get("function"))
        index = call.get("index")
        out.append(
            ToolDelta(
                index if isinstance(index, int) else position,
                call.get("id") if isinstance(call.get("id"), str) else None,
                function.get("name") if isinstance(function.get("name"), str) else None,
                str(function.get("arguments") or ""),
            )
        )
    return tuple(out)


def chunks(events: list[bytes]) -> Iterator[ChunkView]:
    """The chat chunks in ``events`` (``[DONE]`` and choice-less usage chunks carry no content)."""
    for event in events:
        data = event.removeprefix(b"data: ").strip()
        if data == b"[DONE]":
            continue
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError(f"chat stream event is not JSON: {data[:80]!r}") from None
        choices = payload.get("choices") if isinstance(payload, dict) else None
        choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
        delta = as_object(choice.get("delta"))
        text = delta.get("content")
        created = payload.get("created")
        yield ChunkView(
            str(payload["id"]) if payload.get("id") is not None else None,
            created if isinstance(created, int) else None,
            text if isinstance(text, str) else "",
            _tools(delta),
            choice.get("finish_reason") if isinstance(choice.get("finish_reason"), str) else None,
        )
